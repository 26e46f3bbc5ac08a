/* prism: the hadamard op family (HUT / HF PEFT HiRA, METHODS.md §3).
 *
 *     W_eff = W0 (.) (J + s B A)        W0, W_eff [m, n], B [m, r], A [r, n]
 *
 * and the parameter gradients for a weight gradient G = dL/dW_eff [m, n]
 * (G = dY^T X for Y = X W_eff^T, computed with prism_gemm):
 *
 *     M  = s (W0 (.) G)      never stored: formed on the fly
 *     dA = B^T M   [r, n]    dB = M A^T   [m, r]
 *
 * All tensors are 2-D fp32 row-major on one context. Sums have a fixed order
 * (no float atomics), so results are bit-identical from run to run. Matrices
 * larger than one storage binding are processed in row ranges; a single row
 * (n elements) or A (r n elements) larger than one binding is refused with
 * PRISM_ERR_UNSUPPORTED. See docs/hut.md. */
#ifndef PRISM_HADAMARD_H
#define PRISM_HADAMARD_H

#include "prism/prism.h"

#ifdef __cplusplus
extern "C" {
#endif

/* W [m, n] = W0 (.) (1 + scale B A), one pass over W0. W may be W0 itself
 * (in place); any other overlap with an input is PRISM_ERR_INVALID_ARGUMENT.
 * Status: NULL -> INVALID_ARGUMENT, other context -> WRONG_CONTEXT, shapes
 * not [m,n] / [m,r] / [r,n] / [m,n] -> SHAPE, non-finite scale -> NOT_FINITE. */
prism_status prism_hadamard_merge(prism_stream *s, const prism_tensor *W0, const prism_tensor *B,
                                  const prism_tensor *A, float scale, prism_tensor *W);

/* Elements of the workspace prism_hadamard_grad needs on ctx for dA of an
 * [m, n] matrix at rank r (0: none; NULL may then be passed). It holds the
 * per-row-chunk partial sums of dA that a second pass adds in order; it
 * depends on the device's binding limit. The reference backend needs none. */
int64_t prism_hadamard_grad_workspace(const prism_context *ctx, int64_t m, int64_t n, int64_t r);

/* dA = scale B^T (W0 (.) G) + beta dA and dB = scale (W0 (.) G) A^T + beta dB.
 * Either output may be NULL (not both). beta = 0 ignores the old contents
 * (NaN-safe), beta = 1 accumulates. `work` must hold at least
 * prism_hadamard_grad_workspace(ctx, m, n, r) elements when dA is given.
 * Outputs must not overlap inputs, each other or work
 * (INVALID_ARGUMENT); a missing or short work is INVALID_ARGUMENT / SHAPE;
 * non-finite scale or beta is NOT_FINITE. */
prism_status prism_hadamard_grad(prism_stream *s, const prism_tensor *W0, const prism_tensor *G,
                                 const prism_tensor *B, const prism_tensor *A, float scale, float beta,
                                 prism_tensor *dA, prism_tensor *dB, prism_tensor *work);

#ifdef __cplusplus
}
#endif
#endif /* PRISM_HADAMARD_H */
