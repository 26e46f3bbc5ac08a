/* Optional VkFFT peer for `prism bench` (bench/vkfft/vkfft_peer.c), built only
 * when Debian's libvkfft-dev is found (CMakeLists.txt, last block). bench_dct.c
 * and bench_fft.c reference it weakly: without VkFFT the symbol is NULL and
 * the peer rows are skipped. */
#ifndef PRISM_BENCH_VKFFT_PEER_H
#define PRISM_BENCH_VKFFT_PEER_H
#include <stddef.h>
#include <stdint.h>
#include "prism/prism.h"

typedef enum { PRISM_VKFFT_DCT2_ROWS, PRISM_VKFFT_DCT2_2D, PRISM_VKFFT_R2C_ROWS } prism_vkfft_kind;

/* Median device ms of one VkFFT transform of a [rows, cols] fp32 array on
 * ctx's device (timestamps around each VkFFTAppend, a barrier before each, an
 * untimed refill of the input before each so values stay finite), over `reps`
 * transforms per run and `runs` runs (the first dropped). Negative on failure
 * with the reason in err. */
double prism_vkfft_time(prism_context *ctx, prism_vkfft_kind kind, int64_t rows, int64_t cols, int reps, int runs,
                        char *err, size_t err_len) __attribute__((weak));
/* VkFFT's version as X.XX.XX (10226 for 1.2.26). */
int prism_vkfft_version(void) __attribute__((weak));

#endif
