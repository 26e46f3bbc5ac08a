/* float64 reference: softmax cross-entropy and accuracy. Plain loops. */
#include <math.h>
#include "loss.h"

int64_t prism_ref_label_index(double label, int64_t cols) {
    int64_t k = label >= 1.0 ? (int64_t)fmin(label, 4e9) : 0;
    return k < cols - 1 ? k : cols - 1;
}

static double row_lse(const double *x, int64_t cols, double *max_out) {
    double m = -INFINITY, s = 0;
    for (int64_t j = 0; j < cols; j++) m = fmax(m, x[j]);
    for (int64_t j = 0; j < cols; j++) s += exp(x[j] - m);
    *max_out = m;
    return m + log(s);
}

double prism_ref_softmax_xent(const double *logits, const double *labels, int64_t rows, int64_t cols) {
    double total = 0, m;
    for (int64_t r = 0; r < rows; r++) {
        const double *x = logits + r * cols;
        total += row_lse(x, cols, &m) - x[prism_ref_label_index(labels[r], cols)];
    }
    return total / (double)rows;
}

void prism_ref_softmax_xent_backward(const double *logits, const double *labels, int64_t rows, int64_t cols,
                                     double scale, double *dlogits) {
    for (int64_t r = 0; r < rows; r++) {
        const double *x = logits + r * cols;
        double m, lse = row_lse(x, cols, &m);
        int64_t k = prism_ref_label_index(labels[r], cols);
        for (int64_t j = 0; j < cols; j++)
            dlogits[r * cols + j] = (exp(x[j] - lse) - (j == k ? 1.0 : 0.0)) * scale / (double)rows;
    }
}

double prism_ref_accuracy_count(const double *logits, const double *labels, int64_t rows, int64_t cols) {
    double count = 0;
    for (int64_t r = 0; r < rows; r++) {
        const double *x = logits + r * cols;
        int64_t best = 0;
        for (int64_t j = 1; j < cols; j++)
            if (x[j] > x[best]) best = j; /* strict: the lowest index wins ties */
        if ((double)best == labels[r]) count += 1;
    }
    return count;
}
