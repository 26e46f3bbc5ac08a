/* float64 reference: the hadamard family. Plain loops straight from the
 * definitions in runtime/reference/hadamard.h; no tiling, no reordering. */
#include "hadamard.h"

void prism_ref_hadamard_merge(int64_t m, int64_t n, int64_t r, double s, const double *w0, const double *b,
                              const double *a, double *w) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double ba = 0;
            for (int64_t k = 0; k < r; k++) ba += b[i * r + k] * a[k * n + j];
            w[i * n + j] = w0[i * n + j] * (1.0 + s * ba);
        }
}

void prism_ref_hadamard_grad(int64_t m, int64_t n, int64_t r, double s, double beta, const double *w0,
                             const double *g, const double *b, const double *a, double *da, double *db) {
    if (da)
        for (int64_t k = 0; k < r; k++)
            for (int64_t j = 0; j < n; j++) {
                double acc = 0;
                for (int64_t i = 0; i < m; i++) acc += b[i * r + k] * s * w0[i * n + j] * g[i * n + j];
                double *o = &da[k * n + j];
                *o = beta == 0 ? acc : acc + beta * *o;
            }
    if (db)
        for (int64_t i = 0; i < m; i++)
            for (int64_t k = 0; k < r; k++) {
                double acc = 0;
                for (int64_t j = 0; j < n; j++) acc += s * w0[i * n + j] * g[i * n + j] * a[k * n + j];
                double *o = &db[i * r + k];
                *o = beta == 0 ? acc : acc + beta * *o;
            }
}
