/* Helpers shared by the transform check families (transform_util.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "transform_util.h"

/* PRISM_FFT_PATH is read at plan creation only. */
static prism_fft_plan *make_plan(pc_result *res, prism_context *ctx, int64_t n, pc_fft_path path) {
    prism_fft_plan *p = NULL;
    const char *env = path == PC_PATH_SMEM ? "smem" : path == PC_PATH_GLOBAL ? "global" : NULL;
    if (env) setenv("PRISM_FFT_PATH", env, 1);
    prism_status st =
        prism_fft_plan_create(ctx, n, path == PC_PATH_MATRIX ? PRISM_TRANSFORM_MATRIX : PRISM_TRANSFORM_AUTO, &p);
    if (env) unsetenv("PRISM_FFT_PATH");
    if (st != PRISM_OK) pc_fail(res, "plan (n = %lld): %s", (long long)n, prism_error_message(ctx));
    return p;
}

bool pc_xf_open(pc_xf *t, pc_result *res, prism_context *ctx, pc_fft_path path, int64_t n, int64_t n2,
                const int64_t xs[2], const float *x, const int64_t ys[2], bool in_place, bool device) {
    *t = (pc_xf){.path = path, .guard = device && !in_place, .in_place = in_place};
    if (path == PC_PATH_HOLD) setenv("PRISM_FFT_SMEM", "1", 1); /* read at record time: until finish */
    t->p = make_plan(res, ctx, n, path);
    if (n2 > 0) t->p2 = make_plan(res, ctx, n2, path);
    t->x = pc_tensor(res, ctx, 2, xs, x);
    if (in_place) t->y = t->x;
    else t->y = t->guard ? pc_guarded(res, ctx, 2, ys, NULL, &t->base) : pc_tensor(res, ctx, 2, ys, NULL);
    if (!t->p || (!t->p2 && n2 > 0) || !t->x || !t->y) return false;
    if (prism_stream_create(ctx, &t->s) == PRISM_OK) return true;
    pc_fail(res, "stream: %s", prism_error_message(ctx));
    return false;
}

double *pc_xf_finish(pc_xf *t, pc_result *res, prism_context *ctx, prism_status st, prism_tensor *out) {
    double *h = NULL;
    if (t->s) {
        if (st != PRISM_OK) pc_fail(res, "record: %s", prism_error_message(ctx));
        else if (pc_run(res, t->s)) h = pc_download(res, out);
        if (t->guard && t->base) pc_guard_ok(res, t->base, "y");
    }
    prism_stream_destroy(t->s);
    if (!t->in_place) prism_tensor_destroy(t->y);
    prism_tensor_destroy(t->x);
    prism_tensor_destroy(t->k);
    prism_tensor_destroy(t->base);
    prism_fft_plan_destroy(t->p);
    prism_fft_plan_destroy(t->p2);
    if (t->path == PC_PATH_HOLD) unsetenv("PRISM_FFT_SMEM");
    *t = (pc_xf){0};
    return h;
}

void pc_xf_compare(const pc_env *env, pc_result *r, const void *c, pc_xf_run run, int64_t nx, int64_t ny,
                   uint64_t seed, bool roundtrip, int64_t nan_at, const pc_xf_nan *nan) {
    float *x = malloc((size_t)nx * sizeof *x);
    double *dev = NULL, *ref = NULL;
    if (!x) {
        pc_fail(r, "out of host memory");
        return;
    }
    pc_random(seed, x, nx, -1.0f, 1.0f);
    if (nan->count) x[nan_at] = NAN; /* sequence 0 */
    dev = run(r, env->dev, c, x, true);
    if (roundtrip) {
        if (!(ref = malloc((size_t)ny * sizeof *ref))) pc_fail(r, "out of host memory");
        for (int64_t i = 0; ref && i < ny; i++) ref[i] = x[i];
    } else {
        ref = run(r, env->ref, c, x, false);
    }
    if (dev && ref && nan->count) {
        /* sequence 0 is NaN everywhere on both; the others must stay finite
         * and exact: sequences never mix */
        int64_t nan0 = 0;
        for (int64_t i = 0; i < nan->count; i++) {
            int64_t at = (i / nan->group) * nan->stride + i % nan->group;
            nan0 += isnan(dev[at]) ? 1 : 0;
            dev[at] = ref[at] = 0;
        }
        if (nan0 != nan->count)
            pc_fail(r, "NaN input: %lld of %lld values of its sequence are NaN", (long long)nan0, (long long)nan->count);
    }
    if (dev && ref) pc_compare(r, "y", dev, ref, ny, 1e-10);
    free(dev);
    free(ref);
    free(x);
}
