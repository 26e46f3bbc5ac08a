/* float64 reference of the xpeft ops (shaders/xpeft.comp) and of the
 * multi-profile ops (shaders/multi.comp). Plain loops. */
#ifndef PRISM_REF_XPEFT_H
#define PRISM_REF_XPEFT_H
#include <stdint.h>

/* w = softmax(s) (hard = 0) or 1/k on the top k, ties -> lower index
 * (hard = 1), per row of n; a row with a non-finite logit becomes NaN. */
void prism_ref_xpeft_mask(double *w, const double *s, int64_t rows, int64_t n, int hard, int64_t k);
/* ds (+)= w ⊙ (dw − ⟨w, dw⟩) (soft) or dw (hard), per row of n. */
void prism_ref_xpeft_mask_backward(double *ds, const double *w, const double *dw, int64_t rows, int64_t n, int hard,
                                   int accumulate);
/* out[p, j] = Σ_i w[p, i] bank[i, j] */
void prism_ref_xpeft_bank_sum(double *out, const double *w, const double *bank, int64_t P, int64_t N, int64_t D);
/* dw[p, i] (+)= Σ_j d_eff[p, j] bank[i, j] */
void prism_ref_xpeft_bank_grad(double *dw, const double *d_eff, const double *bank, int64_t P, int64_t N, int64_t D,
                               int accumulate);

/* The profile of row t: ids[t] when it is an integer in [0, P), else -1. */
int64_t prism_ref_profile_id(double id, int64_t P);
/* y[t, i] = (acc ? y[t, i] : 0) + Σ_j x[t, j] M[p_t, j, i] (+ bias[i]);
 * an invalid id gives a NaN row. M [P, C, R], x [T, C], y [T, R]. */
void prism_ref_multi_matvec(double *y, const double *M, const double *x, const double *ids, const double *bias,
                            int64_t T, int64_t R, int64_t C, int64_t P, int accumulate);
/* Per row t and block b (width bw = d / nb) with û = u[p_t, b], v̂ = v[p_t, b]
 * (unit vectors, not normalised here):
 *   y = x − 2 û (ûᵀx)                   (v == NULL, ETHER)
 *   y = x − û (ûᵀx) + v̂ (v̂ᵀx)           (ETHER+)
 * plus bias[d] when non-NULL; an invalid id gives a NaN row. */
void prism_ref_multi_reflect(double *y, const double *x, const double *ids, const double *u, const double *v,
                             const double *bias, int64_t T, int64_t d, int64_t nb, int64_t P);

#endif
