/* prism spectral transforms: batched DCT-II / DCT-III and real / complex FFTs
 * along one axis of a 2-D fp32 tensor (docs/spectral-transforms.md).
 *
 * Every transform goes through a plan for one length n. The plan owns the
 * device tables (FFT roots, DCT twiddles, cosines, all computed in float64 on
 * the host) and, when a length needs it, a scratch buffer; it picks the
 * algorithm:
 *   - FFT path: lengths whose prime factors are all <= 64 (2^a 3^b 5^c 7^d and
 *     e.g. 11008 = 2^8 * 43). DCT by Makhoul's reordering + a real FFT; a
 *     real FFT of even n runs one complex FFT of n/2 per sequence (odd n: one
 *     of n), so sequences never mix (a NaN stays in its own row). The complex
 *     FFT runs in shared memory in one dispatch when it fits
 *     maxComputeSharedMemorySize, else as global-memory Stockham passes.
 *   - matrix path: any other length (a prime > 64 such as 97), O(n^2) per
 *     transform with a cosine/root table of O(n) entries.
 * A plan may be used by many streams and ops; it must outlive every stream
 * that recorded it (destroying it makes those streams stale). The scratch
 * buffer (global-memory path, in-place matrix path) is allocated on the first call that needs
 * it, sized for that call's batch (at least ~4 Mi floats); a later call with
 * a larger batch is processed in chunks (correct, serialised by barriers).
 *
 * Layout: x is 2-D [R, C] (a 1-D [C] tensor counts as [1, C]).
 *   PRISM_ALONG_ROWS: transform every row, n = C, batch = R.
 *   PRISM_ALONG_COLS: transform every column, n = R, batch = C.
 * Complex tensors store (re, im) interleaved in the last dim:
 *   along rows a complex [R, K] array is a [R, 2K] tensor;
 *   along columns a complex [K, C] array is a [K, 2C] tensor, element (k, c)
 *   at [k, 2c] (re) and [k, 2c + 1] (im) - torch's view_as_real layout.
 *
 * In-place: y may be the same tensor (or exactly the same range) as x where
 * the shapes agree (DCT, c2c FFT); any other overlap is refused. */
#ifndef PRISM_DCT_H
#define PRISM_DCT_H

#include "prism/prism.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum prism_transform_axis {
    PRISM_ALONG_ROWS = 0, /* each row is one sequence (last dim) */
    PRISM_ALONG_COLS = 1  /* each column is one sequence (first dim) */
} prism_transform_axis;

typedef enum prism_transform_algo {
    PRISM_TRANSFORM_AUTO = 0,   /* FFT path when n's prime factors are <= 64, else matrix */
    PRISM_TRANSFORM_FFT = 1,    /* force the FFT path (PRISM_ERR_UNSUPPORTED if n has a larger prime) */
    PRISM_TRANSFORM_MATRIX = 2  /* force the O(n^2) matrix path (tests, small n) */
} prism_transform_algo;

typedef struct prism_fft_plan prism_fft_plan;

/* Plan for transforms of length n >= 1 (DCT and FFT alike). */
prism_status prism_fft_plan_create(prism_context *ctx, int64_t n, prism_transform_algo algo,
                                   prism_fft_plan **out);
void prism_fft_plan_destroy(prism_fft_plan *plan); /* NULL is fine */
int64_t prism_fft_plan_length(const prism_fft_plan *plan);
/* The algorithm the plan runs: PRISM_TRANSFORM_FFT or PRISM_TRANSFORM_MATRIX. */
prism_transform_algo prism_fft_plan_algo(const prism_fft_plan *plan);

/* ------------------------------------------------------------------ DCT
 * norm NONE (torch_dct norm=None, scipy dct(norm=None) convention):
 *   DCT-II   X_k = 2 sum_{i<n} x_i cos(pi k (2i+1) / (2n))
 *   DCT-III  x_i = (1/n) [ X_0 / 2 + sum_{1<=k<n} X_k cos(pi k (2i+1) / (2n)) ]
 * norm ORTHO (orthonormal; DCT-III is the transpose):
 *   DCT-II   X_k = c_k sum_i x_i cos(pi k (2i+1) / (2n)),  c_0 = sqrt(1/n), c_k = sqrt(2/n)
 *   DCT-III  x_i = sum_k c_k X_k cos(pi k (2i+1) / (2n))
 * For each norm DCT-III(DCT-II(x)) == x. Conversion: X_ortho[k] = g_k X_none[k]
 * with g_0 = 1/(2 sqrt(n)), g_k = 1/sqrt(2n). Non-finite input values
 * propagate to the outputs they touch (no status). */
typedef enum prism_dct_type { PRISM_DCT_II = 2, PRISM_DCT_III = 3 } prism_dct_type;
/* Also declared by prism/adapter.h (the sDCTFT config); whichever header comes first. */
#ifndef PRISM_DCT_NORM_DEFINED
#define PRISM_DCT_NORM_DEFINED
typedef enum prism_dct_norm { PRISM_DCT_NORM_NONE = 0, PRISM_DCT_NORM_ORTHO = 1 } prism_dct_norm;
#endif

/* y [R, C] = DCT of x [R, C] along `axis` (plan length = C for rows, R for columns). */
prism_status prism_dct(prism_stream *s, prism_fft_plan *plan, prism_dct_type type, prism_dct_norm norm,
                       prism_transform_axis axis, const prism_tensor *x, prism_tensor *y);
/* 2-D DCT: along rows (row_plan, length C), then along columns (col_plan,
 * length R; may be row_plan when R == C). y may be x. */
prism_status prism_dct2d(prism_stream *s, prism_fft_plan *row_plan, prism_fft_plan *col_plan, prism_dct_type type,
                         prism_dct_norm norm, const prism_tensor *x, prism_tensor *y);

/* ------------------------------------------------------------------ FFT
 * Forward X_k = sum_i x_i e^{-2 pi i k i / n} (no scale); inverse
 * x_i = (1/n) sum_k X_k e^{+2 pi i k i / n} (torch norm="backward"). */

/* Real -> complex, K = n/2 + 1 coefficients (torch.fft.rfft):
 * rows: x [R, n] -> y [R, 2K];  columns: x [n, C] -> y [K, 2C]. */
prism_status prism_rfft(prism_stream *s, prism_fft_plan *plan, prism_transform_axis axis, const prism_tensor *x,
                        prism_tensor *y);
/* Complex -> real, exact inverse of prism_rfft (torch.fft.irfft with n given):
 * rows: x [R, 2K] -> y [R, n];  columns: x [K, 2C] -> y [n, C]. The imaginary
 * parts of X_0 and (n even) X_{n/2} are ignored, as torch does. */
prism_status prism_irfft(prism_stream *s, prism_fft_plan *plan, prism_transform_axis axis, const prism_tensor *x,
                         prism_tensor *y);
/* Complex -> complex along an axis: rows x [R, 2n] -> y [R, 2n]; columns
 * x [n, 2C] -> y [n, 2C]. inverse = 0: forward; 1: inverse with 1/n. */
prism_status prism_fft_c2c(prism_stream *s, prism_fft_plan *plan, prism_transform_axis axis, int inverse,
                           const prism_tensor *x, prism_tensor *y);
/* y [R, C] = Re(ifft2(x)) for a real x [R, C], including the 1/(R C)
 * (FourierFT's dW = scaling * Re(ifft2(F))). row_plan has length C, col_plan
 * length R. `work` is a caller tensor of at least 2 R C elements (the
 * complex intermediate); y may be x. */
prism_status prism_ifft2_real(prism_stream *s, prism_fft_plan *row_plan, prism_fft_plan *col_plan,
                              const prism_tensor *x, prism_tensor *work, prism_tensor *y);

#ifdef __cplusplus
}
#endif
#endif /* PRISM_DCT_H */
