/* float64 reference of the batched transpose (shaders/transpose.comp). */
#ifndef PRISM_REF_TRANSPOSE_H
#define PRISM_REF_TRANSPOSE_H
#include <stdint.h>

/* y[b, j, i] = x[b, i, j] for x [batch, r, c], y [batch, c, r]. */
void prism_ref_transpose(double *y, const double *x, int64_t batch, int64_t r, int64_t c);

#endif
