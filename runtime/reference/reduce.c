/* float64 reference: row reductions. Plain loops, obviously correct; the
 * norm is unscaled because double has range to spare for fp32 inputs
 * (the largest fp32 squared is ~1e77, far below DBL_MAX). */
#include <math.h>
#include "reduce.h"

void prism_ref_row_reduce(prism_reduce_mode mode, double *y, const double *a, const double *b, int64_t rows,
                          int64_t cols) {
    for (int64_t i = 0; i < rows; i++) {
        const double *x = a + i * cols;
        double s = 0;
        for (int64_t j = 0; j < cols; j++) {
            if (mode == PRISM_REDUCE_SUM) s += x[j];
            else if (mode == PRISM_REDUCE_DOT) s += x[j] * b[i * cols + j];
            else s += x[j] * x[j];
        }
        y[i] = mode == PRISM_REDUCE_NORM ? sqrt(s) : s;
    }
}
