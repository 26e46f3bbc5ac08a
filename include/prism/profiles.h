/* prism multi-profile serving: one batch whose rows belong to different
 * profiles (users), each row through its own profile's adapter on a shared
 * frozen layer W0 (+ bias), in one dispatch per op however many profiles the
 * batch mixes (DESIGN.md §4). Methods: LoRA, X-PEFT (parallel and serial),
 * ETHER and ETHER+ (any side, any block count).
 *
 * A profile set stacks the per-profile parameters on the device once:
 *   LoRA    Aᵀ [P, n, r] and (s·B)ᵀ [P, r, m] (each profile's scale folded
 *           in; lower ranks zero-padded to the largest)
 *   X-PEFT  the effective adapters of every profile, A_effᵀ [P, n_in, r] and
 *           B_effᵀ [P, r, m], computed on the device from the shared bank and
 *           the profiles' masks (one batched mask op, one bank-sum op and one
 *           transpose each)
 *   ETHER   unit vectors û (and v̂ for ETHER+) [P, d] per reflected side
 * and prism_adapter_forward_multi then gathers them by row:
 *   LoRA / X-PEFT parallel  Y = X W0ᵀ;  h_t = A[p_t] x_t;  y_t += B[p_t] h_t + b
 *   X-PEFT serial           Z = X W0ᵀ + b;  h_t = φ(A[p_t] z_t);  y_t = z_t + B[p_t] h_t
 *   ETHER side in           Y = (H_in[p_t] x_t) W0ᵀ + b
 *   ETHER side out          Y = H_out[p_t] (X W0ᵀ) + b
 *   ETHER+ both             both of the above
 * The stacks cost P·r·(n + m) floats (LoRA, X-PEFT) or P·d per side (ETHER);
 * each must fit one storage binding (PRISM_ERR_UNSUPPORTED otherwise).
 *
 * Profile ids: a [T] tensor of exact floats (0 .. P-1) on the device, so a
 * recorded forward can be replayed with new ids uploaded in place. A row whose
 * id is not an integer in [0, P) comes out NaN (never another profile's
 * output). */
#ifndef PRISM_PROFILES_H
#define PRISM_PROFILES_H

#include "prism/adapter.h"
#include "prism/prism.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct prism_profile_set prism_profile_set;

/* Stacks `count` adapters of one method (LoRA, X-PEFT, ETHER, ETHER+) on the
 * same W0 and bias (the same tensors, or equal shapes: the first adapter's W0
 * and bias are used) and the same method shape (X-PEFT: one bank, the same
 * placement, activation, mask kind and k; ETHER: the same side and blocks).
 * Profile i is adapters[i]. Reads their current parameters (runs a stream);
 * later training of the adapters is not seen (create the set again). The
 * adapters may be destroyed afterwards; W0 and bias are borrowed and must
 * outlive the set. */
prism_status prism_profile_set_create(prism_context *ctx, prism_adapter *const *adapters, int count,
                                      prism_profile_set **out);

/* X-PEFT profiles without one adapter each: `bank` is any X-PEFT adapter (its
 * bank, W0, bias, placement, mask and k are used), logits holds count
 * profiles as [count][2][N] floats (s^A then s^B, as
 * prism_profile_store_read gives them for one layer). */
prism_status prism_profile_set_create_xpeft(prism_adapter *bank, const float *logits, int count,
                                            prism_profile_set **out);

void prism_profile_set_destroy(prism_profile_set *set);  /* NULL is fine */
int prism_profile_set_count(const prism_profile_set *set);
prism_method prism_profile_set_method(const prism_profile_set *set);
/* Device bytes of the stacked parameters. */
int64_t prism_profile_set_bytes(const prism_profile_set *set);

/* Y [T, m] = each row of X [T, n] through the adapter of profile ids[t]
 * (ids: T elements). Shapes, NULLs and contexts are checked like
 * prism_adapter_forward. Scratch [T, ...] is kept in the set (a larger T
 * re-allocates it and makes older recorded streams stale). */
prism_status prism_adapter_forward_multi(prism_stream *s, prism_profile_set *set, const prism_tensor *X,
                                         const prism_tensor *profile_ids, prism_tensor *Y);

/* ------------------------------------------------------------------ ops
 * The gathers behind it (shaders/multi.comp), usable on their own. */

/* y[t, :] = (accumulate ? y[t, :] : 0) + x[t, :] M[p_t] (+ bias), i.e.
 * y[t, i] += Σ_j x[t, j] M[p_t, j, i], with M [P, C, R] (each profile's
 * matrix stored input-major, so a LoRA A [r, n] is stacked as Aᵀ [n, r]),
 * x [T, C], ids [T], y [T, R], bias [R] or NULL. */
prism_status prism_multi_matvec(prism_stream *s, const prism_tensor *M, const prism_tensor *x,
                                const prism_tensor *ids, const prism_tensor *bias, int accumulate, prism_tensor *y);

/* Block reflections per row with the profile's unit vectors: u (and v for
 * ETHER+, else NULL) are [P, nb, d/nb]; x, y [T, d]; bias [d] or NULL.
 *   ETHER   y = x − 2 û(ûᵀx) per block,   ETHER+  y = x − û(ûᵀx) + v̂(v̂ᵀx)
 * The vectors are used as given (normalise them first). */
prism_status prism_multi_reflect(prism_stream *s, const prism_tensor *x, const prism_tensor *ids,
                                 const prism_tensor *u, const prism_tensor *v, const prism_tensor *bias,
                                 prism_tensor *y);

#ifdef __cplusplus
}
#endif
#endif /* PRISM_PROFILES_H */
