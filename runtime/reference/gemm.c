/* float64 reference: gemm as a plain triple loop, obviously correct. */
#include "gemm.h"

void prism_ref_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
                    const double *b, double beta, double *c) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double sum = 0;
            for (int64_t p = 0; p < k; p++) {
                double x = trans_a ? a[p * m + i] : a[i * k + p];
                double y = trans_b ? b[j * k + p] : b[p * n + j];
                sum += x * y;
            }
            /* beta == 0 must not read c: it may hold NaN garbage */
            c[i * n + j] = beta == 0 ? alpha * sum : alpha * sum + beta * c[i * n + j];
        }
}
