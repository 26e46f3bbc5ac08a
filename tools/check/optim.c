/* Check cases: optimizer steps, device vs float64 reference. Each case
 * records one training-step tail (optionally clip_global_norm, then tick,
 * then the update) once and replays the same stream several times, so the
 * device-resident step scalars must advance on every replay. */
#include <math.h>
#include <stdlib.h>
#include "check.h"

typedef enum { ADAMW, SGD, SGD_MOMENTUM, CLIP } kind;
typedef struct optim_case { kind k; int64_t n; int ngrads; bool clip; int steps; } optim_case;

static const float LR = 0.01f;

typedef struct run_out { double *p, *m, *v, *state; } run_out;

static void run_on(pc_result *r, prism_context *ctx, const optim_case *c, float *const *data, run_out *o) {
    enum { MAXG = 4 };
    const prism_adamw_params hp = prism_adamw_params_default();
    int64_t n = c->n;
    prism_tensor *state = NULL, *p = NULL, *m = NULL, *v = NULL, *g[MAXG] = {0};
    prism_stream *s = NULL;
    prism_status st = prism_optim_state_create(ctx, LR, &state);
    if (st) {
        pc_fail(r, "state: %s", prism_error_message(ctx));
        return;
    }
    p = pc_tensor(r, ctx, 1, &n, data[0]);
    m = pc_tensor(r, ctx, 1, &n, data[2]);
    v = pc_tensor(r, ctx, 1, &n, data[3]);
    for (int i = 0; i < c->ngrads; i++) {
        /* extra gradients for the global norm: sizes n, 7, 1000, ... */
        int64_t gn = i == 0 ? n : (i % 2 ? 7 : 1000);
        g[i] = pc_tensor(r, ctx, 1, &gn, data[1] + (i == 0 ? 0 : n));
    }
    if (!p || !m || !v || !g[c->ngrads - 1] || prism_stream_create(ctx, &s)) goto done;
    /* max_norm below the typical norm so that clipping is active */
    if (c->clip) st = prism_clip_global_norm(s, g, c->ngrads, 0.25f * sqrtf((float)n), state);
    if (!st && c->k != CLIP) st = prism_optim_tick(s, &hp, state);
    if (!st && c->k == ADAMW) st = prism_adamw(s, &hp, state, p, g[0], m, v);
    if (!st && c->k == SGD) st = prism_sgd(s, 0.0f, 0.01f, state, p, g[0], NULL);
    if (!st && c->k == SGD_MOMENTUM) st = prism_sgd(s, 0.9f, 0.01f, state, p, g[0], m);
    if (st) {
        pc_fail(r, "record: %s", prism_error_message(ctx));
        goto done;
    }
    for (int i = 0; i < c->steps; i++)
        if (!pc_run(r, s)) goto done;
    o->p = pc_download(r, p);
    o->m = pc_download(r, m);
    o->v = pc_download(r, v);
    o->state = pc_download(r, state);
done:
    prism_stream_destroy(s);
    prism_tensor_destroy(state);
    prism_tensor_destroy(p);
    prism_tensor_destroy(m);
    prism_tensor_destroy(v);
    for (int i = 0; i < MAXG; i++) prism_tensor_destroy(g[i]);
}

static void optim_device(const pc_env *env, const void *arg, pc_result *r) {
    const optim_case *c = arg;
    size_t n = (size_t)c->n, extra = 2000;
    float *d[4] = {malloc(n * 4), malloc((n + extra) * 4), malloc(n * 4), malloc(n * 4)};
    run_out dev = {0}, ref = {0};
    if (!d[0] || !d[1] || !d[2] || !d[3]) {
        pc_fail(r, "out of host memory");
        goto done;
    }
    pc_random(env->seed, d[0], c->n, -1.0f, 1.0f);
    pc_random(env->seed + 1, d[1], c->n + (int64_t)extra, -2.0f, 2.0f);
    pc_random(env->seed + 2, d[2], c->n, -0.1f, 0.1f);
    pc_random(env->seed + 3, d[3], c->n, 0.0f, 0.05f); /* second moments are >= 0 */
    run_on(r, env->dev, c, d, &dev);
    run_on(r, env->ref, c, d, &ref);
    if (!dev.state || !ref.state) goto done;
    pc_compare(r, "state", dev.state, ref.state, 8, 1e-10);
    if (c->k != CLIP) pc_compare(r, "param", dev.p, ref.p, c->n, 1e-10);
    if (c->k == ADAMW || c->k == SGD_MOMENTUM) pc_compare(r, "m", dev.m, ref.m, c->n, 1e-10);
    if (c->k == ADAMW) pc_compare(r, "v", dev.v, ref.v, c->n, 1e-10);
    if (dev.state[0] != (c->k == CLIP ? 0 : c->steps)) pc_fail(r, "step count %g after %d replays", dev.state[0], c->steps);
done:
    for (int i = 0; i < 4; i++) free(d[i]);
    free(dev.p); free(dev.m); free(dev.v); free(dev.state);
    free(ref.p); free(ref.m); free(ref.v); free(ref.state);
}

static const optim_case adamw_1 = {ADAMW, 1, 1, false, 3}, adamw_7 = {ADAMW, 7, 1, false, 3},
                        adamw_784 = {ADAMW, 784, 1, false, 3}, adamw_1000 = {ADAMW, 1000, 1, true, 4},
                        adamw_big = {ADAMW, 100003, 1, false, 3}, adamw_clip = {ADAMW, 784, 3, true, 3};
static const optim_case sgd_7 = {SGD, 7, 1, false, 2}, sgd_1000 = {SGD, 1000, 1, true, 2},
                        sgdm_784 = {SGD_MOMENTUM, 784, 1, false, 3}, sgdm_big = {SGD_MOMENTUM, 100003, 2, true, 2};
static const optim_case clip_1 = {CLIP, 1, 1, true, 1}, clip_7 = {CLIP, 7, 2, true, 2},
                        clip_big = {CLIP, 100003, 4, true, 1};

const pc_case pc_cases_optim[] = {
    {"adamw", "[1] x3 replays", "device", optim_device, &adamw_1},
    {"adamw", "[7] x3 replays", "device", optim_device, &adamw_7},
    {"adamw", "[784] x3 replays", "device", optim_device, &adamw_784},
    {"adamw", "[1000] clipped x4 replays", "device", optim_device, &adamw_1000},
    {"adamw", "[100003] x3 replays", "device", optim_device, &adamw_big},
    {"adamw", "[784] + [7] + [1000] clipped x3", "device", optim_device, &adamw_clip},
    {"sgd", "[7] x2 replays", "device", optim_device, &sgd_7},
    {"sgd", "[1000] clipped x2", "device", optim_device, &sgd_1000},
    {"sgd", "[784] momentum x3", "device", optim_device, &sgdm_784},
    {"sgd", "[100003] + [7] momentum clipped x2", "device", optim_device, &sgdm_big},
    {"clip_global_norm", "[1]", "device", optim_device, &clip_1},
    {"clip_global_norm", "[7] + [7]", "device", optim_device, &clip_7},
    {"clip_global_norm", "[100003] + [7] + [1000] + [7]", "device", optim_device, &clip_big},
};
const int pc_ncases_optim = (int)(sizeof pc_cases_optim / sizeof pc_cases_optim[0]);
