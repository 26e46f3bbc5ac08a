/* float64 reference of the DCT op (shaders/fft.comp, shaders/dct.comp): plain
 * O(n^2) sums, the definitions of include/prism/dct.h written out. */
#ifndef PRISM_REF_DCT_H
#define PRISM_REF_DCT_H
#include <stdint.h>

/* nseq sequences of length n; element i of sequence s at x[s*xss + i*xse]
 * (y likewise). type 2 (DCT-II) or 3 (DCT-III, the inverse); ortho 0 (torch_dct
 * norm=None scaling) or 1 (orthonormal). x and y may be the same array. */
void prism_ref_dct(int type, int ortho, int64_t n, int64_t nseq, const double *x, int64_t xss, int64_t xse, double *y,
                   int64_t yss, int64_t yse);

#endif
