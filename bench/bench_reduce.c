/* Bench rows: row reductions and transpose on a square matrix (4096 x 4096,
 * quick mode 512 x 512). All are memory bound, so each row reports GB/s of
 * the minimum traffic and its ratio to the vkCmdCopyBuffer bandwidth:
 *   row_sum / row_norm  read n floats + write rows floats (row_norm reads its
 *                       row twice, max then scaled squares; the second read
 *                       should come from cache, so it is counted once)
 *   transpose           read n + write n floats */
#include <stdio.h>
#include <string.h>
#include "bench.h"

typedef struct mat { prism_tensor *x, *y; int64_t r, c; } mat;

/* x [n, n] filled once (an untouched source would read the zero page on CPU
 * devices), y [n] or [n, n] */
static prism_status make(pb_env *env, bool square_out, mat *m) {
    memset(m, 0, sizeof *m);
    m->r = m->c = env->quick ? 512 : 4096;
    int64_t xs[2] = {m->r, m->c}, ys[2] = {m->c, m->r};
    prism_stream *s = NULL;
    prism_status st = prism_tensor_create(env->ctx, 2, xs, &m->x);
    if (!st) st = square_out ? prism_tensor_create(env->ctx, 2, ys, &m->y) : prism_tensor_create(env->ctx, 1, xs, &m->y);
    if (!st) st = prism_stream_create(env->ctx, &s);
    if (!st) st = prism_fill(s, m->x, 0.75f);
    if (!st) st = prism_fill(s, m->y, 0.0f);
    if (!st) st = prism_stream_run(s);
    prism_stream_destroy(s);
    return st;
}

static void destroy(mat *m) {
    prism_tensor_destroy(m->x);
    prism_tensor_destroy(m->y);
}

static prism_status rec_sum(prism_stream *s, void *arg) { mat *m = arg; return prism_row_sum(s, m->x, m->y); }
static prism_status rec_norm(prism_stream *s, void *arg) { mat *m = arg; return prism_row_norm(s, m->x, m->y); }
static prism_status rec_transpose(prism_stream *s, void *arg) { mat *m = arg; return prism_transpose(s, m->x, m->y); }

static int one_row(pb_env *env, pb_row *rows, int cap, const char *name, pb_record_fn rec, bool square_out,
                   const char *note) {
    if (cap < 1) return 0;
    mat m;
    int added = -1;
    if (make(env, square_out, &m) == PRISM_OK) {
        pb_row *r = &rows[0];
        memset(r, 0, sizeof *r);
        snprintf(r->name, sizeof r->name, "%s", name);
        snprintf(r->shape, sizeof r->shape, "[%lld, %lld]", (long long)m.r, (long long)m.c);
        r->ms = pb_time(env, rec, &m);
        if (r->ms > 0) {
            double n = (double)(m.r * m.c);
            pb_set_bw(env, r, square_out ? 8.0 * n : 4.0 * (n + (double)m.r));
            snprintf(r->note, sizeof r->note, "%s", note);
            added = 1;
        }
    }
    destroy(&m);
    return added;
}

static int bench_row_sum(pb_env *env, pb_row *rows, int cap) {
    return one_row(env, rows, cap, "row_sum", rec_sum, false, "bytes = read x + write y");
}
static int bench_row_norm(pb_env *env, pb_row *rows, int cap) {
    return one_row(env, rows, cap, "row_norm", rec_norm, false, "two passes (max, scaled squares); bytes counted once");
}
static int bench_transpose(pb_env *env, pb_row *rows, int cap) {
    return one_row(env, rows, cap, "transpose", rec_transpose, true, "32x32 shared tiles; bytes = read + write");
}

const pb_bench pb_benches_reduce[] = {
    {"reduce", "row_sum", bench_row_sum},
    {"reduce", "row_norm", bench_row_norm},
    {"reduce", "transpose", bench_transpose},
};
const int pb_nbenches_reduce = (int)(sizeof pb_benches_reduce / sizeof pb_benches_reduce[0]);
