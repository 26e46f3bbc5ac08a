/* float64 reference of the FFT op (shaders/fft.comp, shaders/dct.comp): plain
 * O(n^2) DFT sums, the definitions of include/prism/dct.h written out. */
#ifndef PRISM_REF_FFT_H
#define PRISM_REF_FFT_H
#include <stdint.h>

/* Sequences are strided as in prism_ref_dct; a complex element has its real
 * part at the element's offset and its imaginary part at +1. Every function
 * allows y == x. */

/* y_k = sum_{i<n} x_i e^{-+2 pi i ik/n} (inverse: + sign and 1/n), k < n.
 * x_cplx = 0: x is real. y_cplx = 0: only the real part of y is written. */
void prism_ref_dft(int inverse, int64_t n, int64_t nseq, const double *x, int64_t xss, int64_t xse, int x_cplx,
                   double *y, int64_t yss, int64_t yse, int y_cplx);
/* Real -> complex, k < n/2 + 1 (torch.fft.rfft). */
void prism_ref_rfft(int64_t n, int64_t nseq, const double *x, int64_t xss, int64_t xse, double *y, int64_t yss,
                    int64_t yse);
/* Complex [n/2 + 1] -> real [n] (torch.fft.irfft): the Hermitian extension
 * with the imaginary parts of X_0 and (n even) X_{n/2} dropped, then the
 * inverse DFT with 1/n. */
void prism_ref_irfft(int64_t n, int64_t nseq, const double *x, int64_t xss, int64_t xse, double *y, int64_t yss,
                     int64_t yse);

#endif
