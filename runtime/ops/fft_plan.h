/* Private to runtime/ops/fft.c and runtime/ops/dct.c: the transform plan and
 * the engine that records one batched transform (docs/spectral-transforms.md). */
#ifndef PRISM_OPS_FFT_PLAN_H
#define PRISM_OPS_FFT_PLAN_H

#include "../internal.h"
#include "prism/dct.h"

/* Modes, as spec constant MODE of shaders/fft_common.glsl. */
typedef enum fft_mode {
    FFT_MODE_DCT2 = 0,
    FFT_MODE_DCT3 = 1,
    FFT_MODE_RFFT = 2,
    FFT_MODE_IRFFT = 3,
    FFT_MODE_C2C = 4,
    FFT_MODE_IC2C = 5
} fft_mode;

#define FFT_MAX_PASSES 32

struct prism_fft_plan {
    prism_context *ctx;
    int64_t n;
    prism_transform_algo algo;       /* FFT or MATRIX (never AUTO) */
    int npass, npass_half;
    uint32_t radix[FFT_MAX_PASSES];  /* Stockham passes of a length-n FFT, first first */
    uint32_t radix_half[FFT_MAX_PASSES]; /* of length n/2 (real transforms of even n) */
    prism_tensor *tables;            /* device: roots [2n] | DCT twiddles [2n] | cos(pi j/2n) [4n] | (root, twiddle) [4n] */
    prism_tensor *scratch;           /* global path / in-place matrix path, lazily created */
    int64_t scratch_elems;
    int force_path;                  /* PRISM_FFT_PATH at creation: 0 auto, 1 smem, 2 global */
};

/* Where one batch of sequences lives inside a tensor: sequence s, element i at
 * float offset s*ss + i*se (complex: real part there, imaginary at +1). */
typedef struct fft_view {
    const prism_tensor *t;
    int64_t ss, se;
    int cplx;                        /* 1: interleaved complex elements */
} fft_view;

/* One batched transform of `nseq` sequences: x -> y through `mode`. Scales:
 * s0 / s1 = DCT factors for k = 0 / k > 0 (1 for none). real_in / real_out:
 * complex modes with a real input (imaginary 0) or only the real part written.
 * Records into s (device) or enqueues the reference closure. Arguments must
 * already be validated by the caller. */
typedef struct fft_job {
    const char *op;
    fft_mode mode;
    int64_t nseq;
    fft_view x, y;
    int cols;                        /* sequences are columns (coalescing hint) */
    int real_in, real_out;
    int ortho;                       /* DCT norm, for the reference */
    double s0, s1;
} fft_job;
prism_status prism_fft_record(prism_stream *s, prism_fft_plan *plan, const fft_job *job);

/* Common checks: plan non-NULL, from the stream's context. */
prism_status prism_fft_check_plan(prism_stream *s, const char *op, const prism_fft_plan *plan);
/* Ranges of x and y overlap without being identical. */
bool prism_fft_bad_overlap(const prism_tensor *a, const prism_tensor *b);
/* 2-D view of a 1-D or 2-D tensor: rows, cols; false for other ranks. */
bool prism_fft_dims2(const prism_tensor *t, int64_t *r, int64_t *c);

#endif
