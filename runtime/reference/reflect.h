/* float64 reference of the reflect ops (shaders/reflect.comp). */
#ifndef PRISM_REF_REFLECT_H
#define PRISM_REF_REFLECT_H
#include <stdint.h>

/* y [rows, d] = x H (+ bias) with H = blockdiag over nb blocks of
 * I - 2 ûûᵀ (v NULL) or I - ûûᵀ + v̂v̂ᵀ; u, v are [nb, d/nb], unnormalised.
 * bias may be NULL. y may alias x exactly. */
void prism_ref_reflect(double *y, const double *x, const double *u, const double *v, const double *bias,
                       int64_t rows, int64_t d, int64_t nb);

/* dx = dy H (dx may be NULL), du += dL/du and dv += dL/dv (each may be NULL;
 * dv needs v). */
void prism_ref_reflect_backward(double *dx, double *du, double *dv, const double *x, const double *dy,
                                const double *u, const double *v, int64_t rows, int64_t d, int64_t nb);

#endif
