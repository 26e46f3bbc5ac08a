/* Bench rows: the reflect kernels alone (block-diagonal ETHER / ETHER+ on
 * rows). Memory bound, so each row reports GB/s of the minimum traffic and
 * its ratio to the vkCmdCopyBuffer bandwidth of the same run:
 *   reflect            read x + write y           (+ u, v: d floats each)
 *   reflect_backward   read x + read dy + write dx (+ u, v, du, dv and the
 *                      per-chunk partial rows written once and read once)
 * Shapes: T = 512, d = 4096 with 1 and 32 blocks (one reflection per
 * 128-wide head, the paper's Llama setting), and T = 256, d = 1024.
 * Quick mode: T = 64, same d. */
#include <stdio.h>
#include <string.h>
#include "bench.h"
#include "prism/reflect.h"

typedef struct rf {
    prism_tensor *x, *y, *dy, *dx, *u, *v, *du, *dv, *work;
    int64_t t, d, nb;
    int plus;
} rf;

static void destroy(rf *r) {
    prism_tensor *all[9] = {r->x, r->y, r->dy, r->dx, r->u, r->v, r->du, r->dv, r->work};
    for (int i = 0; i < 9; i++) prism_tensor_destroy(all[i]);
}

/* Every tensor is written once (an untouched source would read the zero page
 * on CPU devices); u and v get distinct non-zero values. */
static prism_status make(pb_env *env, int64_t t, int64_t d, int64_t nb, int plus, bool bwd, rf *r) {
    memset(r, 0, sizeof *r);
    r->t = env->quick ? 64 : t;
    r->d = d;
    r->nb = nb;
    r->plus = plus;
    int64_t xs[2] = {r->t, d}, us[2] = {nb, d / nb};
    int64_t w = prism_reflect_work_elems(env->ctx, r->t, d, plus);
    prism_context *c = env->ctx;
    prism_stream *s = NULL;
    prism_status st = prism_tensor_create(c, 2, xs, &r->x);
    if (!st) st = prism_tensor_create(c, 2, xs, &r->y);
    if (!st) st = prism_tensor_create(c, 2, us, &r->u);
    if (!st) st = prism_tensor_create(c, 2, us, &r->v);
    if (!st && bwd) st = prism_tensor_create(c, 2, xs, &r->dy);
    if (!st && bwd) st = prism_tensor_create(c, 2, us, &r->du);
    if (!st && bwd) st = prism_tensor_create(c, 2, us, &r->dv);
    if (!st && bwd) st = prism_tensor_create(c, 1, &w, &r->work);
    if (!st) st = prism_stream_create(c, &s);
    if (!st) st = prism_rng_uniform(s, 1, 0, -1, 1, r->x);
    if (!st) st = prism_rng_uniform(s, 2, 0, 0.5f, 1, r->u);
    if (!st) st = prism_rng_uniform(s, 3, 0, -1, -0.5f, r->v);
    if (!st) st = prism_fill(s, r->y, 0.0f);
    if (!st && bwd) st = prism_rng_uniform(s, 4, 0, -1, 1, r->dy);
    if (!st && bwd) st = prism_fill(s, r->du, 0.0f);
    if (!st && bwd) st = prism_fill(s, r->dv, 0.0f);
    if (!st && bwd) st = prism_fill(s, r->work, 0.0f);
    if (!st) st = prism_stream_run(s);
    prism_stream_destroy(s);
    return st;
}

static prism_status rec_fwd(prism_stream *s, void *arg) {
    rf *r = arg;
    return prism_reflect(s, r->x, r->u, r->plus ? r->v : NULL, NULL, r->y);
}

/* dx goes to y (written, never read back) */
static prism_status rec_bwd(prism_stream *s, void *arg) {
    rf *r = arg;
    return prism_reflect_backward(s, r->x, r->u, r->plus ? r->v : NULL, r->dy, r->y, r->du, r->plus ? r->dv : NULL,
                                  r->work);
}

static int one_row(pb_env *env, pb_row *row, int64_t t, int64_t d, int64_t nb, int plus, bool bwd) {
    rf r;
    int added = -1;
    if (make(env, t, d, nb, plus, bwd, &r) == PRISM_OK) {
        memset(row, 0, sizeof *row);
        snprintf(row->name, sizeof row->name, "%s %s nb %lld", bwd ? "reflect_backward" : "reflect",
                 plus ? "ETHER+" : "ETHER", (long long)nb);
        snprintf(row->shape, sizeof row->shape, "[%lld, %lld]", (long long)r.t, (long long)d);
        row->ms = pb_time(env, bwd ? rec_bwd : rec_fwd, &r);
        if (row->ms > 0) {
            double n = (double)(r.t * d), k = plus ? 2 : 1;
            double bytes = bwd ? 4.0 * (3 * n + 3 * k * d) + 8.0 * k * (double)prism_tensor_numel(r.work)
                               : 4.0 * (2 * n + k * d);
            pb_set_bw(env, row, bytes);
            snprintf(row->note, sizeof row->note, "%s",
                     bwd ? "bytes = x + dy + dx + partials (w+r) + vectors" : "bytes = read x + write y + vectors");
            added = 1;
        }
    }
    destroy(&r);
    return added;
}

static int rows_of(pb_env *env, pb_row *rows, int cap, bool bwd) {
    static const struct { int64_t t, d, nb; int plus; } shapes[] = {
        {512, 4096, 1, 0}, {512, 4096, 32, 0}, {512, 4096, 32, 1}, {256, 1024, 1, 0}, {256, 1024, 1, 1},
    };
    int n = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0] && n < cap; i++) {
        int a = one_row(env, &rows[n], shapes[i].t, shapes[i].d, shapes[i].nb, shapes[i].plus, bwd);
        if (a < 0) return -1;
        n += a;
    }
    return n;
}

static int bench_fwd(pb_env *env, pb_row *rows, int cap) { return rows_of(env, rows, cap, false); }
static int bench_bwd(pb_env *env, pb_row *rows, int cap) { return rows_of(env, rows, cap, true); }

const pb_bench pb_benches_reflect[] = {
    {"reflect", "reflect", bench_fwd},
    {"reflect", "reflect_backward", bench_bwd},
};
const int pb_nbenches_reflect = (int)(sizeof pb_benches_reflect / sizeof pb_benches_reflect[0]);
