/* float64 reference of gemm. */
#ifndef PRISM_REF_GEMM_H
#define PRISM_REF_GEMM_H
#include <stdint.h>

/* One 2-D product: c[m,n] = alpha sum_k op(a)[m,k] op(b)[k,n] + beta c[m,n].
 * a is stored [k, m] when trans_a, else [m, k]; b is [n, k] when trans_b,
 * else [k, n]; c is [m, n]. beta == 0 ignores the old c (NaN-safe). */
void prism_ref_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
                    const double *b, double beta, double *c);

#endif
