/* Check cases: batched transpose, device vs float64 reference. A transpose
 * only moves values, so the device must match exactly (NMSE bound 1e-10 is
 * met with 0). */
#include <stdlib.h>
#include "check.h"

typedef struct tp_case {
    int ndim;
    int64_t shape[3]; /* x */
} tp_case;

static double *run_on(pc_result *r, prism_context *ctx, const tp_case *c, const float *x, bool guard) {
    int64_t ys[3];
    for (int i = 0; i < c->ndim; i++) ys[i] = c->shape[i];
    ys[c->ndim - 2] = c->shape[c->ndim - 1];
    ys[c->ndim - 1] = c->shape[c->ndim - 2];
    prism_tensor *tx = pc_tensor(r, ctx, c->ndim, c->shape, x), *base = NULL;
    prism_tensor *ty = guard ? pc_guarded(r, ctx, c->ndim, ys, NULL, &base) : pc_tensor(r, ctx, c->ndim, ys, NULL);
    prism_stream *s = NULL;
    double *out = NULL;
    if (tx && ty && prism_stream_create(ctx, &s) == PRISM_OK) {
        if (prism_transpose(s, tx, ty) != PRISM_OK) pc_fail(r, "record: %s", prism_error_message(ctx));
        else if (pc_run(r, s)) out = pc_download(r, ty);
        if (guard) pc_guard_ok(r, base, "y");
    }
    prism_stream_destroy(s);
    prism_tensor_destroy(tx);
    prism_tensor_destroy(ty);
    prism_tensor_destroy(base);
    return out;
}

static void tp_device(const pc_env *env, const void *arg, pc_result *r) {
    const tp_case *c = arg;
    int64_t n = 1;
    for (int i = 0; i < c->ndim; i++) n *= c->shape[i];
    float *x = malloc((size_t)n * 4);
    double *dev = NULL, *ref = NULL;
    if (!x) {
        pc_fail(r, "out of host memory");
        return;
    }
    pc_random(env->seed + 20, x, n, -4.0f, 4.0f);
    bool guard = n < ((int64_t)1 << 24); /* the huge cases only check values */
    dev = run_on(r, env->dev, c, x, guard);
    ref = run_on(r, env->ref, c, x, false);
    if (dev && ref) pc_compare(r, "y", dev, ref, n, 1e-10);
    free(dev);
    free(ref);
    free(x);
}

static const tp_case tp_1x1 = {2, {1, 1}}, tp_7x3 = {2, {7, 3}}, tp_784x10 = {2, {784, 10}},
                     tp_1000x257 = {2, {1000, 257}}, tp_3x33x65 = {3, {3, 33, 65}}, tp_1x300 = {2, {1, 300}};
/* Over lavapipe's 128 MiB binding: 3 matrices of 11.6M floats go in batch
 * chunks; one 4099 x 8193 matrix (33.6M floats) is cut into blocks. */
/* 70000 one-tile matrices: a grid over 65535 groups that the runtime folds */
static const tp_case tp_fold = {3, {70000, 3, 2}};
static const tp_case tp_batch_huge = {3, {3, 2900, 4000}}, tp_block_huge = {2, {4099, 8193}};

const pc_case pc_cases_transpose[] = {
    {"transpose", "[1, 1]", "device", tp_device, &tp_1x1},
    {"transpose", "[7, 3]", "device", tp_device, &tp_7x3},
    {"transpose", "[1, 300]", "device", tp_device, &tp_1x300},
    {"transpose", "[784, 10]", "device", tp_device, &tp_784x10},
    {"transpose", "[1000, 257]", "device", tp_device, &tp_1000x257},
    {"transpose", "[3, 33, 65]", "device", tp_device, &tp_3x33x65},
    {"transpose", "[70000, 3, 2] (folded grid)", "device", tp_device, &tp_fold},
    {"transpose", "[3, 2900, 4000] (> 128 MiB, batch chunks)", "device", tp_device, &tp_batch_huge},
    {"transpose", "[4099, 8193] (> 128 MiB, blocks)", "device", tp_device, &tp_block_huge},
};
const int pc_ncases_transpose = (int)(sizeof pc_cases_transpose / sizeof pc_cases_transpose[0]);
