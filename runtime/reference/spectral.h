/* float64 reference of the sparse-coefficient ops (shaders/spectral.comp).
 * Entries are (r[l], c[l]) with weights w[l]; layouts as in
 * include/prism/spectral.h. Plain loops over coefficients and tokens. */
#ifndef PRISM_REF_SPECTRAL_H
#define PRISM_REF_SPECTRAL_H
#include <stdint.h>

/* F [rows, cols] = 0; F[r_l, c_l] = alpha w_l f_l. */
void prism_ref_spectral_scatter(int64_t rows, int64_t cols, int64_t n, const double *rc, const double *w,
                                const double *f, double alpha, double *F);

/* DCT gather: Z [T, lz] = beta Z + alpha sum_l w_l f_l Xh[t, b_l] into column a_l,
 * (a, b) = (r, c) (transpose 0: lz = rows, Xh [T, cols]) or (c, r) (transpose 1). */
void prism_ref_spectral_gather_dct(int64_t rows, int64_t cols, int64_t n, const double *rc, const double *w,
                                   const double *f, double alpha, int transpose, int64_t T, const double *Xh,
                                   double beta, double *Z);

/* Fourier gather on half spectra [T, L/2+1, 2] (see prism_spectral_gather). */
void prism_ref_spectral_gather_fourier(int64_t rows, int64_t cols, int64_t n, const double *rc, const double *w,
                                       const double *f, double alpha, int transpose, int64_t T, const double *Xh,
                                       double beta, double *Z);

/* Coefficient gradients (dom 0 DCT, 1 Fourier half spectra). */
void prism_ref_spectral_coef_grad(int dom, int64_t rows, int64_t cols, int64_t n, const double *rc, const double *w,
                                  double alpha, int64_t T, const double *Gh, const double *Xh, double beta,
                                  double *grad);

#endif
