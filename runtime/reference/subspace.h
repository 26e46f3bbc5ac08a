/* float64 reference of the subspace ops (shaders/subspace.comp). */
#ifndef PRISM_REF_SUBSPACE_H
#define PRISM_REF_SUBSPACE_H
#include <stdint.h>

/* theta[i] = (theta0 ? theta0[i] : 0) + sum_j D[i, j] z[j] for a row-major
 * D [n, r]. theta may be theta0 (in place). */
void prism_ref_subspace_decode(int64_t n, int64_t r, const double *D, const double *theta0, const double *z,
                               double *theta);
/* dz[j] = beta dz[j] + sum_i D[i, j] g[i]; beta = 0 never reads dz. */
void prism_ref_subspace_project(int64_t n, int64_t r, double beta, const double *D, const double *g, double *dz);

#endif
