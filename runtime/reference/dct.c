/* float64 reference: DCT-II / DCT-III as direct sums. The angle
 * pi k (2i+1) / (2n) is reduced exactly in integers (mod 4n) before cos(), so
 * long sequences lose no accuracy to huge arguments. */
#include <math.h>
#include <stdlib.h>
#include "dct.h"

static double dct_cos(int64_t i, int64_t k, int64_t n) {
    int64_t j = ((2 * i + 1) % (4 * n)) * (k % (4 * n)) % (4 * n);
    return cos(M_PI * (double)j / (double)(2 * n));
}

void prism_ref_dct(int type, int ortho, int64_t n, int64_t nseq, const double *x, int64_t xss, int64_t xse, double *y,
                   int64_t yss, int64_t yse) {
    double *in = malloc((size_t)n * sizeof *in), *out = malloc((size_t)n * sizeof *out);
    if (!in || !out) {
        /* the reference cannot report a status from a closure; NaN marks it */
        for (int64_t s = 0; s < nseq; s++)
            for (int64_t i = 0; i < n; i++) y[s * yss + i * yse] = NAN;
        free(in);
        free(out);
        return;
    }
    double c0 = sqrt(1.0 / (double)n), ck = sqrt(2.0 / (double)n);
    for (int64_t s = 0; s < nseq; s++) {
        for (int64_t i = 0; i < n; i++) in[i] = x[s * xss + i * xse]; /* copy first: y may be x */
        for (int64_t k = 0; k < n; k++) {
            double acc = 0;
            if (type == 2) {
                /* X_k = 2 sum x_i cos(..) (none) or c_k sum x_i cos(..) (ortho) */
                for (int64_t i = 0; i < n; i++) acc += in[i] * dct_cos(i, k, n);
                out[k] = ortho ? (k == 0 ? c0 : ck) * acc : 2.0 * acc;
            } else {
                /* output index k plays i: x_k = sum_j a_j X_j cos(pi j (2k+1)/(2n)) */
                for (int64_t j = 0; j < n; j++) {
                    double w = ortho ? (j == 0 ? c0 : ck) : (j == 0 ? 0.5 : 1.0) / (double)n;
                    acc += w * in[j] * dct_cos(k, j, n);
                }
                out[k] = acc;
            }
        }
        for (int64_t k = 0; k < n; k++) y[s * yss + k * yse] = out[k];
    }
    free(in);
    free(out);
}
