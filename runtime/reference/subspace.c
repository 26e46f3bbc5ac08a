/* float64 reference of the subspace ops: plain loops (include/prism/subspace.h). */
#include <stdlib.h>
#include "subspace.h"

void prism_ref_subspace_decode(int64_t n, int64_t r, const double *D, const double *theta0, const double *z,
                               double *theta) {
    for (int64_t i = 0; i < n; i++) {
        double acc = 0.0;
        for (int64_t j = 0; j < r; j++) acc += D[i * r + j] * z[j];
        theta[i] = (theta0 ? theta0[i] : 0.0) + acc;
    }
}

void prism_ref_subspace_project(int64_t n, int64_t r, double beta, const double *D, const double *g, double *dz) {
    double *acc = calloc((size_t)r, sizeof *acc);
    if (!acc) { /* the reference cannot report; fall back to one column at a time */
        for (int64_t j = 0; j < r; j++) {
            double s = 0.0;
            for (int64_t i = 0; i < n; i++) s += D[i * r + j] * g[i];
            dz[j] = (beta != 0.0 ? beta * dz[j] : 0.0) + s;
        }
        return;
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < r; j++) acc[j] += D[i * r + j] * g[i];
    for (int64_t j = 0; j < r; j++) dz[j] = (beta != 0.0 ? beta * dz[j] : 0.0) + acc[j];
    free(acc);
}
