/* Optimizer and RNG bench rows.
 *   adamw   one pass over p, g, m, v: the minimum traffic is read p, g, m, v
 *           and write p, m, v = 28 B/param; ratio to the copy bandwidth
 *           (goal: >= 0.5)
 *   rng     Philox4x32-10 normal fill (10 rounds of 32x32->64 multiplies per
 *           4 numbers): compute-bound, reported as write GB/s */
#include <stdio.h>
#include <string.h>
#include "bench.h"

typedef struct adamw_arg {
    prism_tensor *state, *p, *g, *m, *v;
    prism_adamw_params hp;
    int64_t n;
} adamw_arg;

static prism_status rec_adamw(prism_stream *s, void *arg) {
    adamw_arg *a = arg;
    return prism_adamw(s, &a->hp, a->state, a->p, a->g, a->m, a->v);
}

static prism_status rec_rng(prism_stream *s, void *arg) {
    adamw_arg *a = arg;
    return prism_rng_normal(s, 7, 0, 0.0f, 1.0f, a->p);
}

/* Tensors written once (an untouched source reads the zero page on CPU
 * devices) and one tick so the bias corrections are non-zero. */
static prism_status setup(pb_env *env, adamw_arg *a) {
    memset(a, 0, sizeof *a);
    a->n = env->quick ? (int64_t)1 << 20 : (int64_t)16 << 20;
    a->hp = prism_adamw_params_default();
    prism_stream *s = NULL;
    prism_status st = prism_optim_state_create(env->ctx, 1e-4f, &a->state);
    prism_tensor **ts[4] = {&a->p, &a->g, &a->m, &a->v};
    const float init[4] = {0.5f, 0.01f, 0.0f, 0.0f};
    for (int i = 0; i < 4 && !st; i++) st = prism_tensor_create(env->ctx, 1, &a->n, ts[i]);
    if (!st) st = prism_stream_create(env->ctx, &s);
    for (int i = 0; i < 4 && !st; i++) st = prism_fill(s, *ts[i], init[i]);
    if (!st) st = prism_optim_tick(s, &a->hp, a->state);
    if (!st) st = prism_stream_run(s);
    prism_stream_destroy(s);
    return st;
}

static void teardown(adamw_arg *a) {
    prism_tensor_destroy(a->state);
    prism_tensor_destroy(a->p);
    prism_tensor_destroy(a->g);
    prism_tensor_destroy(a->m);
    prism_tensor_destroy(a->v);
}

static int bench_adamw(pb_env *env, pb_row *rows, int cap) {
    if (cap < 2) return 0;
    adamw_arg a;
    int added = -1;
    if (setup(env, &a) == PRISM_OK) {
        memset(rows, 0, 2 * sizeof *rows);
        pb_row *r = &rows[0];
        snprintf(r->name, sizeof r->name, "adamw");
        snprintf(r->shape, sizeof r->shape, "%lldM params", (long long)(a.n >> 20));
        r->ms = pb_time(env, rec_adamw, &a);
        snprintf(r->note, sizeof r->note, "28 B/param (read p,g,m,v; write p,m,v); goal >= 0.5 of copy bw");
        if (r->ms > 0) {
            pb_set_bw(env, r, 28.0 * (double)a.n);
            r->gflops = 0;
            added = 1;
            r = &rows[1];
            snprintf(r->name, sizeof r->name, "rng_normal");
            snprintf(r->shape, sizeof r->shape, "%lldM floats", (long long)(a.n >> 20));
            r->ms = pb_time(env, rec_rng, &a);
            snprintf(r->note, sizeof r->note, "Philox4x32-10 + Box-Muller; bytes = write only");
            if (r->ms > 0) {
                pb_set_bw(env, r, 4.0 * (double)a.n);
                added = 2;
            }
        }
    }
    teardown(&a);
    return added;
}

const pb_bench pb_benches_optim[] = {
    {"optim", "adamw", bench_adamw},
};
const int pb_nbenches_optim = (int)(sizeof pb_benches_optim / sizeof pb_benches_optim[0]);
