/* prism reflect ops: block-diagonal Householder (ETHER) and relaxed (ETHER+)
 * transforms applied to the rows of an activation matrix (METHODS.md §1).
 *
 * Rows: x [..., d] (leading dims flattened into T rows). The vectors are
 * stored UNNORMALISED as u [nb, d/nb] (and v [nb, d/nb] for ETHER+); block i
 * acts on the columns [i*b, (i+1)*b), b = d/nb:
 *     ETHER   H_i = I - 2 û_i û_iᵀ                 (v == NULL)
 *     ETHER+  H_i = I - û_i û_iᵀ + v̂_i v̂_iᵀ        (v != NULL)
 * with û = u / ||u||. H is symmetric, so the row form Y = X H is also H x per
 * row. Normalisation is overflow- and underflow-safe on the device: each block
 * is scaled by a power of two near max|u| first, so any finite non-zero vector
 * gives the float64 reference's answer to fp32 accuracy. A zero vector makes
 * H undefined: the output of that block is NaN (loud, never a silent
 * identity); adapters reject zero or non-finite vectors when they are loaded.
 *
 * Outputs must not overlap any input (PRISM_ERR_INVALID_ARGUMENT). */
#ifndef PRISM_REFLECT_H
#define PRISM_REFLECT_H

#include "prism/prism.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y = x H (+ 1 biasᵀ when bias is non-NULL). y has x's shape (same element
 * count and last dim d); u, v are [nb, d/nb]; bias has d elements. */
prism_status prism_reflect(prism_stream *s, const prism_tensor *x, const prism_tensor *u,
                           const prism_tensor *v, const prism_tensor *bias, prism_tensor *y);

/* Backward of y = x H for upstream gradient dy (x's shape):
 *   dx  = dy H                        (written when dx is non-NULL)
 *   du += dL/du, dv += dL/dv          (accumulated when non-NULL; dv needs v)
 * through the normalisation: dL/du = (I - ûûᵀ) dL/dû / ||u||, with
 *   dL/dû = k Σ_t [(ûᵀx_t) dy_t + (ûᵀdy_t) x_t] per block, k = -2 (ETHER),
 *   -1 (ETHER+ u), +1 (ETHER+ v), summed over all T rows.
 * The sum over rows is deterministic: per-row-chunk partial sums go to `work`
 * (fp32 scratch the caller owns, at least K*d elements, K = 2 with v else 1),
 * then a second pass adds them in a fixed order. A larger work tensor lets
 * more row chunks run in parallel; prism_reflect_work_elems gives the size the
 * op would use at most. work may be NULL when du and dv are both NULL. */
prism_status prism_reflect_backward(prism_stream *s, const prism_tensor *x, const prism_tensor *u,
                                    const prism_tensor *v, const prism_tensor *dy, prism_tensor *dx,
                                    prism_tensor *du, prism_tensor *dv, prism_tensor *work);

/* Work elements prism_reflect_backward would use for `rows` rows of length d
 * (plus: ETHER+ vectors present). Always >= K*d; 0 for bad arguments. */
int64_t prism_reflect_work_elems(const prism_context *ctx, int64_t rows, int64_t d, int plus);

#ifdef __cplusplus
}
#endif
#endif /* PRISM_REFLECT_H */
