/* Core bench rows: the device's own ceilings and overheads, measured before
 * any op family so every other row can be read against them.
 *   copy_bw    vkCmdCopyBuffer bandwidth (read + write bytes): env->copy_gbs
 *   copy_fill  the `copy` and `fill` shaders, GB/s and ratio to copy_bw
 *   dispatch   cost of one more tiny dispatch inside one recorded stream
 *   submit     cost of one submit+wait (empty stream, one tiny dispatch) */
#include <stdio.h>
#include <string.h>
#include "bench.h"
#include "internal.h"

#define MIB ((int64_t)1 << 20)

static int64_t copy_bytes(pb_env *env) {
    /* 256 MiB each way on GPUs: far beyond any cache. CPU devices (lavapipe)
     * and quick mode: 64 MiB, still well past the last-level cache. */
    const prism_caps *c = prism_context_caps(env->ctx);
    int64_t bytes = env->quick || c->type == PRISM_DEVICE_CPU ? 64 * MIB : 256 * MIB;
    /* two buffers must fit comfortably in device memory */
    while (c->device_local_bytes && (uint64_t)bytes * 4 > c->device_local_bytes && bytes > MIB) bytes /= 2;
    return bytes;
}

static void size_str(char *buf, size_t len, int64_t bytes) {
    snprintf(buf, len, "%lld MiB", (long long)(bytes / MIB));
}

/* pb_time with the instances per stream cut so one run takes about a
 * second (a quarter in quick mode): slow shaders on CPU devices stay bounded. */
static double time_budgeted(pb_env *env, pb_record_fn rec, void *arg) {
    pb_env e = *env;
    e.reps = 1;
    e.runs = 2;
    double t = pb_time(&e, rec, arg);
    if (t <= 0) return t;
    double reps = (env->quick ? 250.0 : 1000.0) / t;
    e.reps = reps < 2 ? 2 : reps > env->reps ? env->reps : (int)reps;
    e.runs = env->runs;
    return pb_time(&e, rec, arg);
}

typedef struct pair { prism_tensor *src, *dst; int64_t n; } pair;

/* Two n-element tensors, both written once so no page is untouched (an
 * untouched source would read the zero page on CPU devices). */
static prism_status make_pair(pb_env *env, int64_t bytes, pair *p) {
    memset(p, 0, sizeof *p);
    p->n = bytes / 4;
    prism_stream *s = NULL;
    prism_status st = prism_tensor_create(env->ctx, 1, &p->n, &p->src);
    if (!st) st = prism_tensor_create(env->ctx, 1, &p->n, &p->dst);
    if (!st) st = prism_stream_create(env->ctx, &s);
    if (!st) st = prism_fill(s, p->src, 1.25f);
    if (!st) st = prism_fill(s, p->dst, 0.5f);
    if (!st) st = prism_stream_run(s);
    prism_stream_destroy(s);
    return st;
}

static void free_pair(pair *p) {
    prism_tensor_destroy(p->src);
    prism_tensor_destroy(p->dst);
}

static prism_status rec_copy_buffer(prism_stream *s, void *arg) {
    pair *p = arg;
    return prism_record_copy(s, "copy_buffer", p->src, 0, p->dst, 0, p->n);
}
static prism_status rec_copy_op(prism_stream *s, void *arg) {
    pair *p = arg;
    return prism_copy(s, p->src, p->dst);
}
static prism_status rec_fill_op(prism_stream *s, void *arg) {
    pair *p = arg;
    return prism_fill(s, p->dst, 2.5f);
}

static int bench_copy_bw(pb_env *env, pb_row *rows, int cap) {
    if (cap < 1) return 0;
    int64_t bytes = copy_bytes(env);
    pair p;
    int added = -1;
    if (make_pair(env, bytes, &p) == PRISM_OK) {
        pb_row *r = &rows[0];
        memset(r, 0, sizeof *r);
        snprintf(r->name, sizeof r->name, "copy_buffer (vkCmdCopyBuffer)");
        size_str(r->shape, sizeof r->shape, bytes);
        r->ms = time_budgeted(env, rec_copy_buffer, &p);
        if (r->ms > 0) {
            r->gbs = 2.0 * (double)bytes / (r->ms * 1e-3) / 1e9;
            env->copy_gbs = r->gbs;
            r->ratio = 1.0;
            snprintf(r->ratio_to, sizeof r->ratio_to, "copy bw (this row)");
            snprintf(r->note, sizeof r->note, "bytes = read + write; the bandwidth ceiling of this run");
            added = 1;
        }
    }
    free_pair(&p);
    return added;
}

static int bench_copy_fill(pb_env *env, pb_row *rows, int cap) {
    if (cap < 2) return 0;
    int64_t bytes = copy_bytes(env);
    pair p;
    int added = -1;
    if (make_pair(env, bytes, &p) == PRISM_OK) {
        pb_row *r = &rows[0];
        memset(r, 0, 2 * sizeof *r);
        snprintf(r[0].name, sizeof r[0].name, "copy (shader)");
        size_str(r[0].shape, sizeof r[0].shape, bytes);
        r[0].ms = time_budgeted(env, rec_copy_op, &p);
        snprintf(r[0].note, sizeof r[0].note, "bytes = read + write");
        snprintf(r[1].name, sizeof r[1].name, "fill (shader)");
        size_str(r[1].shape, sizeof r[1].shape, bytes);
        r[1].ms = r[0].ms > 0 ? time_budgeted(env, rec_fill_op, &p) : -1;
        snprintf(r[1].note, sizeof r[1].note, "bytes = write only; ratio vs read+write copy bw");
        if (r[0].ms > 0 && r[1].ms > 0) {
            pb_set_bw(env, &r[0], 2.0 * (double)bytes);
            pb_set_bw(env, &r[1], (double)bytes);
            added = 2;
        }
    }
    free_pair(&p);
    return added;
}

/* N one-element tensors, each filled by its own dispatch: no hazards between them. */
#define MANY 1000
typedef struct tiny { prism_tensor *t[MANY]; int n; } tiny;

static prism_status rec_tiny(prism_stream *s, void *arg) {
    tiny *d = arg;
    for (int i = 0; i < d->n; i++) {
        prism_status st = prism_fill(s, d->t[i], (float)i);
        if (st) return st;
    }
    return PRISM_OK;
}

static int bench_dispatch(pb_env *env, pb_row *rows, int cap) {
    if (cap < 2) return 0;
    static tiny d; /* 8 KB of pointers: keep it off the stack */
    memset(&d, 0, sizeof d);
    int64_t one = 1;
    int added = -1;
    for (int i = 0; i < MANY; i++)
        if (prism_tensor_create(env->ctx, 1, &one, &d.t[i]) != PRISM_OK) goto done;
    pb_env e = *env;
    d.n = 1;
    double t1 = pb_time(&e, rec_tiny, &d);
    d.n = MANY;
    e.reps = 2; /* 2 x 1000 dispatches stay within the profiler's per-stream entries */
    double tn = t1 > 0 ? pb_time(&e, rec_tiny, &d) : -1;
    if (tn < 0) goto done;
    memset(rows, 0, 2 * sizeof *rows);
    snprintf(rows[0].name, sizeof rows[0].name, "dispatch overhead (timestamps)");
    snprintf(rows[0].shape, sizeof rows[0].shape, "%d vs 1 x fill [1]", MANY);
    rows[0].ms = (tn - t1) / (MANY - 1);
    snprintf(rows[0].note, sizeof rows[0].note, "device time per extra dispatch: %.2f us (profiled: serialised)", rows[0].ms * 1e3);

    double w1 = pb_wall_submit(env, 1), wn = w1 > 0 ? pb_wall_submit(env, MANY) : -1;
    if (wn < 0) goto done;
    snprintf(rows[1].name, sizeof rows[1].name, "dispatch overhead (host wall)");
    snprintf(rows[1].shape, sizeof rows[1].shape, "%d vs 1 x fill [1]", MANY);
    rows[1].ms = (wn - w1) / (MANY - 1);
    snprintf(rows[1].note, sizeof rows[1].note, "submit+wait time per extra dispatch: %.2f us (no profiling)",
             rows[1].ms * 1e3);
    added = 2;
done:
    for (int i = 0; i < MANY; i++) prism_tensor_destroy(d.t[i]);
    return added;
}

static int bench_submit(pb_env *env, pb_row *rows, int cap) {
    if (cap < 2) return 0;
    double w0 = pb_wall_submit(env, 0), w1 = w0 > 0 ? pb_wall_submit(env, 1) : -1;
    if (w1 < 0) return -1;
    memset(rows, 0, 2 * sizeof *rows);
    snprintf(rows[0].name, sizeof rows[0].name, "submit+wait (empty stream)");
    snprintf(rows[0].shape, sizeof rows[0].shape, "0 dispatches");
    rows[0].ms = w0;
    snprintf(rows[0].note, sizeof rows[0].note, "host wall: %.1f us per submission", w0 * 1e3);
    snprintf(rows[1].name, sizeof rows[1].name, "submit+wait (1 dispatch)");
    snprintf(rows[1].shape, sizeof rows[1].shape, "fill [1]");
    rows[1].ms = w1;
    rows[1].ratio = w0 > 0 ? w1 / w0 : 0;
    snprintf(rows[1].ratio_to, sizeof rows[1].ratio_to, "empty submit");
    snprintf(rows[1].note, sizeof rows[1].note, "host wall: %.1f us per submission", w1 * 1e3);
    return 2;
}

const pb_bench pb_benches_core[] = {
    {"core", "copy_bw", bench_copy_bw},
    {"core", "copy_fill", bench_copy_fill},
    {"core", "dispatch", bench_dispatch},
    {"core", "submit", bench_submit},
};
const int pb_nbenches_core = (int)(sizeof pb_benches_core / sizeof pb_benches_core[0]);
