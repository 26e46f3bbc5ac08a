/* float64 reference of the hadamard family (shaders/hadamard.comp):
 * W_eff = W0 (.) (J + s B A) and its parameter gradients. All matrices are
 * row-major: W0, W, G [m, n], B [m, r], A [r, n]. */
#ifndef PRISM_REF_HADAMARD_H
#define PRISM_REF_HADAMARD_H
#include <stdint.h>

/* w[i,j] = w0[i,j] (1 + s sum_k b[i,k] a[k,j]). w may equal w0 (in place). */
void prism_ref_hadamard_merge(int64_t m, int64_t n, int64_t r, double s, const double *w0, const double *b,
                              const double *a, double *w);

/* With M = s (w0 (.) g):
 *   da [r, n] = B^T M + beta da   (skipped when da is NULL)
 *   db [m, r] = M A^T + beta db   (skipped when db is NULL)
 * beta == 0 ignores the old contents (NaN-safe). */
void prism_ref_hadamard_grad(int64_t m, int64_t n, int64_t r, double s, double beta, const double *w0,
                             const double *g, const double *b, const double *a, double *da, double *db);

#endif
