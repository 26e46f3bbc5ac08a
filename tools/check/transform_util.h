/* Helpers shared by the transform check families (tools/check/dct.c,
 * tools/check/fft.c): plans with a forced path, the tensors and stream of
 * one run, and the device-vs-reference driver with round trips and NaN
 * isolation. Not a family (no pc_cases_ here). */
#ifndef PRISM_CHECK_TRANSFORM_UTIL_H
#define PRISM_CHECK_TRANSFORM_UTIL_H

#include "check.h"
#include "prism/dct.h"

/* AUTO: the plan's choice. SMEM / GLOBAL: PRISM_FFT_PATH=smem|global at plan
 * creation. MATRIX: PRISM_TRANSFORM_MATRIX. HOLD: the one-buffer
 * shared-memory kernel (fft_smem, what GPUs run), PRISM_FFT_SMEM=1 at record
 * time, so lavapipe runs every path. */
typedef enum { PC_PATH_AUTO, PC_PATH_SMEM, PC_PATH_GLOBAL, PC_PATH_MATRIX, PC_PATH_HOLD } pc_fft_path;

/* One run on one context: plans for n (and n2 > 0), x [xs] holding data, y
 * [ys] (x itself in place; guarded on the device), an optional extra tensor
 * k the caller creates, and the stream. */
typedef struct pc_xf {
    prism_fft_plan *p, *p2;
    prism_tensor *x, *y, *k, *base;
    prism_stream *s;
    pc_fft_path path;
    bool guard, in_place;
} pc_xf;

/* Opens t; false when something failed (recorded in res; pc_xf_finish still
 * frees what was made). */
bool pc_xf_open(pc_xf *t, pc_result *res, prism_context *ctx, pc_fft_path path, int64_t n, int64_t n2,
                const int64_t xs[2], const float *x, const int64_t ys[2], bool in_place, bool device);
/* Runs what was recorded (st: its record status), downloads `out` (malloc'd
 * doubles, NULL on failure), checks y's guard, frees everything in t. */
double *pc_xf_finish(pc_xf *t, pc_result *res, prism_context *ctx, prism_status st, prism_tensor *out);

/* Runs case c on ctx with input x; the output as doubles (malloc'd) or NULL. */
typedef double *(*pc_xf_run)(pc_result *res, prism_context *ctx, const void *c, const float *x, bool device);

/* The outputs of sequence 0 after a NaN in its input: `count` values at
 * (i / group) * stride + i % group, all NaN on the device; count 0: none. */
typedef struct pc_xf_nan { int64_t count, group, stride; } pc_xf_nan;

/* Device vs reference of case c: nx random inputs (seed; x[nan_at] = NaN when
 * nan->count > 0), ny outputs, NMSE <= 1e-10; a round trip compares the
 * device with x itself (ny == nx). NaN rows: every value of sequence 0 must
 * be NaN on the device; they are then left out of the comparison. */
void pc_xf_compare(const pc_env *env, pc_result *r, const void *c, pc_xf_run run, int64_t nx, int64_t ny,
                   uint64_t seed, bool roundtrip, int64_t nan_at, const pc_xf_nan *nan);

#endif
