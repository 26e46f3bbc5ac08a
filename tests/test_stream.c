/* Streams: replay, states, stale tensors, hazard barriers, descriptor-pool
 * overflow, profiling, the per-submit work bound (a recording split into
 * several command buffers) and debug mode (PRISM_DEBUG_SYNC: op-by-op
 * submission that names the failing op). Every failure asserts the exact
 * status and that the message names the op.
 *
 * Tests over both backends are parameterised: 0 = the device under test
 * (PRISM_DEVICE, default choice), 1 = the float64 reference. The debug and
 * bound switches are read when a stream is created, so a test sets them with
 * setenv just before (Criterion runs every test in its own process). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime_fixture.h"
#include "internal.h" /* prism_stream_segment_count, PRISM_SUBMIT_MAX_OPS */

TestSuite(stream, .timeout = 300);

/* ------------------------------------------------------------------ helpers */

/* The device under test or the reference; profiling (device only) on request. */
static prism_context *open_ctx(int reference, int profile) {
    if (profile) return mk(NULL, NULL, 1, NULL);
    return reference ? t_reference() : t_device();
}

/* [n] tensor, uploaded from data when not NULL. */
static prism_tensor *vec_new(prism_context *ctx, int64_t n, const float *data) {
    return data ? tensor_from(ctx, n, data) : tensor1(ctx, n);
}

/* A dependent chain of `ops` ops (fill, then axpys that read and write acc),
 * in `want_segments` command buffers: when split, barriers order the chain
 * across the batches. Results and replays are exact; a profiling context
 * still has one entry per op. */
static void chain(prism_context *ctx, int ops, int want_segments) {
    enum { N = 1000 };
    float x[N], y[N];
    for (int i = 0; i < N; i++) x[i] = (float)(i % 11) - 5.5f;
    prism_tensor *tx = vec_new(ctx, N, x), *acc = vec_new(ctx, N, NULL);
    prism_stream *s = stream(ctx);
    ok(ctx, prism_fill(s, acc, 0.5f), "fill");
    for (int k = 1; k < ops; k++) ok(ctx, prism_axpy(s, 1.0f, tx, acc), "axpy");
    cr_assert_eq(prism_stream_op_count(s), ops, "one dispatch per op (1000 = vec4 only)");
    cr_assert_eq(prism_stream_segment_count(s), want_segments, "%d ops", ops);
    for (int replay = 0; replay < 2; replay++) {
        ok(ctx, prism_stream_run(s), "run");
        download(acc, y);
        for (int i = 0; i < N; i++) cr_assert_eq(y[i], 0.5f + (float)(ops - 1) * x[i], "replay %d at %d", replay, i);
        const prism_profile_entry *e = NULL;
        int n = 0;
        prism_status pst = prism_stream_profile(s, &e, &n); /* PRISM_ERR_STATE: profiling off */
        if (pst != PRISM_ERR_STATE && prism_context_caps(ctx)->timestamps) {
            ok(ctx, pst, "profile");
            cr_assert_eq(n, ops, "one profile entry per op");
            for (int i = 0; i < n; i++) cr_assert(isfinite(e[i].ms) && e[i].ms >= 0, "%s %g", e[i].op, e[i].ms);
        }
    }
    prism_stream_destroy(s);
    prism_tensor_destroy(tx);
    prism_tensor_destroy(acc);
}

/* Parameters of a test run on both backends (0 = device, 1 = reference). */
#define BOTH_BACKENDS(test)                           \
    ParameterizedTestParameters(stream, test) {       \
        static int which[] = {0, 1};                  \
        return cr_make_param_array(int, which, 2);    \
    }

/* A stream created with PRISM_DEBUG_SYNC = level ("" = unset). */
static prism_stream *stream_with_debug(prism_context *ctx, const char *level) {
    if (*level) setenv("PRISM_DEBUG_SYNC", level, 1);
    else unsetenv("PRISM_DEBUG_SYNC");
    prism_stream *s = stream(ctx);
    unsetenv("PRISM_DEBUG_SYNC");
    return s;
}

/* ------------------------------------------------------------------ streams */

BOTH_BACKENDS(replay)

/* Recorded once, submitted many times: acc += x; snap = acc; sum = snap + x.
 * A host upload into x between replays is seen by the next replay. */
ParameterizedTest(int *which, stream, replay) {
    prism_context *ctx = open_ctx(*which, 0);
    enum { N = 1000 };
    float x[N], acc0[N], out[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)(i % 17) - 8.0f;
        acc0[i] = (float)i;
    }
    prism_tensor *tx = vec_new(ctx, N, x), *acc = vec_new(ctx, N, acc0), *snap = vec_new(ctx, N, NULL),
                 *sum = vec_new(ctx, N, NULL);
    prism_stream *s = stream(ctx);
    cr_assert_eq(prism_stream_context(s), ctx);
    ok(ctx, prism_axpy(s, 1.0f, tx, acc), "axpy");
    ok(ctx, prism_copy(s, acc, snap), "copy");
    ok(ctx, prism_add(s, snap, tx, sum), "add");
    int recorded = prism_stream_op_count(s);
    cr_assert_geq(recorded, 3);
    float xs = 1.0f; /* x scale of the current batch */
    float accx = 0.0f;
    for (int k = 1; k <= 3; k++) {
        ok(ctx, prism_stream_submit(s), "submit");
        ok(ctx, prism_stream_wait(s), "wait");
        accx += xs;
        download(sum, out);
        for (int i = 0; i < N; i++)
            cr_assert_eq(out[i], acc0[i] + (accx + xs) * x[i], "replay %d at %d: %g", k, i, out[i]);
        download(acc, out);
        for (int i = 0; i < N; i++) cr_assert_eq(out[i], acc0[i] + accx * x[i], "replay %d acc at %d", k, i);
        if (k == 2) { /* new batch in the same input tensor */
            xs = 2.0f;
            float x2[N];
            for (int i = 0; i < N; i++) x2[i] = 2.0f * x[i];
            ok(ctx, prism_tensor_upload(tx, x2, N), "upload between replays");
        }
    }
    cr_assert_eq(prism_stream_op_count(s), recorded, "replay records nothing new");
    prism_stream_destroy(s);
    prism_tensor_destroy(tx);
    prism_tensor_destroy(acc);
    prism_tensor_destroy(snap);
    prism_tensor_destroy(sum);
    finish(ctx);
}

BOTH_BACKENDS(states)

ParameterizedTest(int *which, stream, states) {
    prism_context *ctx = open_ctx(*which, 0);
    float x[7] = {1, 2, 3, 4, 5, 6, 7}, y[7];
    prism_tensor *t = vec_new(ctx, 7, x);
    prism_stream *s = stream(ctx);
    cr_assert_eq(prism_stream_create(ctx, NULL), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_stream_create(NULL, &s), PRISM_ERR_INVALID_ARGUMENT);
    ok(ctx, prism_scale(s, t, 3.0f, t), "scale");
    /* op_count counts recorded commands: an op may record more than one
     * dispatch (e.g. a vec4 bulk and a scalar tail) */
    int recorded = prism_stream_op_count(s);
    cr_assert_geq(recorded, 1);
    ok(ctx, prism_stream_submit(s), "submit");
    if (!is_reference(ctx)) {
        /* pending until waited for, however fast the device is */
        cr_assert_eq(prism_stream_submit(s), PRISM_ERR_STATE);
        msg_has(ctx, "stream_submit", "wait");
    }
    /* recording into a submitted stream */
    cr_assert_eq(prism_fill(s, t, 1.0f), PRISM_ERR_STATE);
    msg_has(ctx, "fill", "reset");
    ok(ctx, prism_stream_wait(s), "wait");
    ok(ctx, prism_stream_wait(s), "second wait is a no-op");
    cr_assert_eq(prism_axpy(s, 1.0f, t, t), PRISM_ERR_STATE, "still refused after wait");
    msg_has(ctx, "axpy", NULL);
    cr_assert_eq(prism_stream_op_count(s), recorded, "refused calls record nothing");
    download(t, y);
    for (int i = 0; i < 7; i++) cr_assert_eq(y[i], 3 * x[i]);

    /* reset drops the recording (also while pending) and records anew */
    ok(ctx, prism_stream_submit(s), "replay");
    ok(ctx, prism_stream_reset(s), "reset while pending waits first");
    cr_assert_eq(prism_stream_op_count(s), 0);
    cr_assert_eq(prism_stream_barrier_count(s), 0);
    download(t, y);
    for (int i = 0; i < 7; i++) cr_assert_eq(y[i], 9 * x[i], "the replay before reset completed");
    ok(ctx, prism_fill(s, t, 0.5f), "fill after reset");
    ok(ctx, prism_stream_run(s), "run");
    download(t, y);
    for (int i = 0; i < 7; i++) cr_assert_eq(y[i], 0.5f);

    /* destroying a pending stream waits for it */
    ok(ctx, prism_stream_submit(s), "submit");
    prism_stream_destroy(s);
    prism_stream_destroy(NULL);
    cr_assert_eq(prism_stream_submit(NULL), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_stream_wait(NULL), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_stream_reset(NULL), PRISM_ERR_INVALID_ARGUMENT);
    prism_tensor_destroy(t);
    finish(ctx);
}

BOTH_BACKENDS(stale)

/* Replaying a stream whose input was destroyed is refused and runs nothing. */
ParameterizedTest(int *which, stream, stale) {
    prism_context *ctx = open_ctx(*which, 0);
    enum { N = 300 };
    float x[N], y[N], marker[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)i;
        marker[i] = -1.0f;
    }
    prism_tensor *tx = vec_new(ctx, N, x), *out = vec_new(ctx, N, NULL), *other = vec_new(ctx, N, NULL);
    prism_stream *s = stream(ctx);
    ok(ctx, prism_fill(s, out, 7.0f), "fill");
    ok(ctx, prism_fill(s, other, 3.0f), "fill other");
    ok(ctx, prism_axpy(s, 1.0f, tx, out), "axpy");
    ok(ctx, prism_stream_run(s), "first run");
    download(out, y);
    for (int i = 0; i < N; i++) cr_assert_eq(y[i], 7.0f + x[i]);

    ok(ctx, prism_tensor_upload(out, marker, N), "marker");
    ok(ctx, prism_tensor_upload(other, marker, N), "marker");
    prism_tensor_destroy(tx);
    cr_assert_eq(prism_stream_submit(s), PRISM_ERR_STALE);
    msg_has(ctx, "stream_submit", "destroyed");
    cr_assert_eq(prism_stream_run(s), PRISM_ERR_STALE, "still stale");
    cr_assert_eq(prism_stream_wait(s), PRISM_OK, "nothing pending");
    download(out, y);
    for (int i = 0; i < N; i++) cr_assert_eq(y[i], -1.0f, "nothing ran (out at %d)", i);
    download(other, y);
    for (int i = 0; i < N; i++) cr_assert_eq(y[i], -1.0f, "nothing ran, not even the ops before (other at %d)", i);

    /* stale on the first submit too (destroyed while recording) */
    prism_tensor *tmp = vec_new(ctx, N, NULL);
    ok(ctx, prism_stream_reset(s), "reset");
    ok(ctx, prism_fill(s, out, 2.0f), "fill");
    ok(ctx, prism_copy(s, tmp, other), "copy");
    prism_tensor_destroy(tmp);
    cr_assert_eq(prism_stream_run(s), PRISM_ERR_STALE);
    download(out, y);
    for (int i = 0; i < N; i++) cr_assert_eq(y[i], -1.0f, "nothing ran at %d", i);

    /* reset and re-record without the dead tensor works */
    ok(ctx, prism_stream_reset(s), "reset");
    ok(ctx, prism_fill(s, out, 2.0f), "fill");
    ok(ctx, prism_stream_run(s), "run after reset");
    download(out, y);
    for (int i = 0; i < N; i++) cr_assert_eq(y[i], 2.0f);
    prism_stream_destroy(s);
    prism_tensor_destroy(out);
    prism_tensor_destroy(other);
    finish(ctx);
}

BOTH_BACKENDS(many_ops)

/* More dispatches than one descriptor pool holds (256 sets). */
ParameterizedTest(int *which, stream, many_ops) {
    prism_context *ctx = open_ctx(*which, 0);
    chain(ctx, 600, is_reference(ctx) ? 0 : 1);
    finish(ctx);
}

BOTH_BACKENDS(empty)

ParameterizedTest(int *which, stream, empty) {
    prism_context *ctx = open_ctx(*which, 0);
    prism_stream *s = stream(ctx);
    ok(ctx, prism_stream_run(s), "empty run");
    ok(ctx, prism_stream_run(s), "empty replay");
    cr_assert_eq(prism_stream_op_count(s), 0);
    ok(ctx, prism_stream_reset(s), "reset");
    ok(ctx, prism_stream_run(s), "empty run after reset");
    prism_stream_destroy(s);
    /* a stream never submitted */
    s = stream(ctx);
    prism_stream_destroy(s);
    finish(ctx);
}

/* Barriers only on hazards. The first barrier of a command buffer (host
 * writes -> device) is always recorded, so counts are relative to it. */
Test(stream, hazard_barriers) {
    prism_context *ctx = open_ctx(0, 0);
    enum { N = 64 };
    prism_tensor *a = vec_new(ctx, N, NULL), *b = vec_new(ctx, N, NULL), *c = vec_new(ctx, N, NULL), *e = vec_new(ctx, N, NULL),
                 *big = vec_new(ctx, 2 * N, NULL), *lo, *hi, *d = vec_new(ctx, N, NULL);
    int64_t n = N;
    ok(ctx, prism_tensor_view(big, 0, 1, &n, &lo), "view lo");
    ok(ctx, prism_tensor_view(big, N, 1, &n, &hi), "view hi");
    prism_stream *s = stream(ctx);
    cr_assert_eq(prism_stream_barrier_count(s), 0);
    ok(ctx, prism_fill(s, a, 1.0f), "fill a");
    int b0 = prism_stream_barrier_count(s);
    cr_assert_eq(b0, 1, "only the command buffer's first barrier");
    ok(ctx, prism_fill(s, b, 2.0f), "fill b");
    cr_assert_eq(prism_stream_barrier_count(s), b0, "independent write: no barrier");
    ok(ctx, prism_add(s, a, b, c), "c = a + b");
    cr_assert_eq(prism_stream_barrier_count(s), b0 + 1, "read after write: one barrier");
    ok(ctx, prism_fill(s, e, 3.0f), "fill e");
    cr_assert_eq(prism_stream_barrier_count(s), b0 + 1, "independent write: no barrier");
    ok(ctx, prism_scale(s, b, 2.0f, d), "d = 2b");
    cr_assert_eq(prism_stream_barrier_count(s), b0 + 1, "read after read: no barrier");
    ok(ctx, prism_fill(s, a, 5.0f), "fill a again");
    cr_assert_eq(prism_stream_barrier_count(s), b0 + 2, "write after read: one barrier");
    /* ranges, not buffers: disjoint halves of one tensor are independent */
    ok(ctx, prism_fill(s, lo, 6.0f), "fill lo");
    cr_assert_eq(prism_stream_barrier_count(s), b0 + 2);
    ok(ctx, prism_fill(s, hi, 7.0f), "fill hi");
    cr_assert_eq(prism_stream_barrier_count(s), b0 + 2, "disjoint ranges of one tensor: no barrier");
    ok(ctx, prism_copy(s, lo, c), "c = lo");
    cr_assert_eq(prism_stream_barrier_count(s), b0 + 3, "read of a pending write (and c written earlier)");
    ok(ctx, prism_add(s, c, e, c), "c += e in place");
    cr_assert_eq(prism_stream_barrier_count(s), b0 + 4, "in-place read of a pending write: one barrier");
    int before_submit = prism_stream_barrier_count(s);
    ok(ctx, prism_stream_run(s), "run");
    cr_assert_geq(prism_stream_barrier_count(s), before_submit);

    float y[2 * N];
    download(c, y);
    for (int i = 0; i < N; i++) cr_assert_eq(y[i], 9.0f, "c at %d", i);
    download(d, y);
    for (int i = 0; i < N; i++) cr_assert_eq(y[i], 4.0f, "d at %d", i);
    download(a, y);
    for (int i = 0; i < N; i++) cr_assert_eq(y[i], 5.0f, "a at %d", i);
    download(big, y);
    for (int i = 0; i < 2 * N; i++) cr_assert_eq(y[i], i < N ? 6.0f : 7.0f, "big at %d", i);

    /* replay keeps the same barrier count: nothing is recorded again */
    int after = prism_stream_barrier_count(s);
    ok(ctx, prism_stream_run(s), "replay");
    cr_assert_eq(prism_stream_barrier_count(s), after);
    prism_stream_destroy(s);
    prism_tensor *all[] = {a, b, c, d, e, lo, hi, big};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) prism_tensor_destroy(all[i]);
    t_destroy(ctx);
}

/* ------------------------------------------------------------------ profiling */

Test(stream, profile_entries_per_op) {
    prism_context *ctx = open_ctx(0, 1);
    if (!prism_context_caps(ctx)->timestamps) {
        t_destroy(ctx);
        cr_skip_test("device has no compute timestamps");
    }
    enum { N = 4096 };
    prism_tensor *a = vec_new(ctx, N, NULL), *b = vec_new(ctx, N, NULL);
    prism_stream *s = stream(ctx);
    ok(ctx, prism_fill(s, a, 1.0f), "fill");
    ok(ctx, prism_copy(s, a, b), "copy");
    ok(ctx, prism_add(s, a, b, b), "add");
    ok(ctx, prism_gelu(s, b, a), "gelu");
    const prism_profile_entry *e = NULL;
    int n = -1;
    cr_assert_eq(prism_stream_profile(s, &e, &n), PRISM_ERR_STATE, "no completed run yet");
    msg_has(ctx, "stream_profile", NULL);
    cr_assert_eq(prism_stream_profile(s, NULL, &n), PRISM_ERR_INVALID_ARGUMENT);
    for (int run = 0; run < 2; run++) {
        ok(ctx, prism_stream_run(s), "run");
        ok(ctx, prism_stream_profile(s, &e, &n), "profile");
        cr_assert_eq(n, 4, "one entry per op");
        const char *names[4] = {"fill", "copy", "add", "gelu"};
        for (int i = 0; i < 4; i++) {
            cr_assert_str_eq(e[i].op, names[i]);
            cr_assert(e[i].ms >= 0.0 && isfinite(e[i].ms) && e[i].ms < 60e3, "%s: %g ms", e[i].op, e[i].ms);
        }
    }
    float y[N];
    download(a, y);
    float g2 = 0.5f * 2.0f * (1.0f + tanhf(0.7978845608f * (2.0f + 0.044715f * 8.0f)));
    cr_assert_float_eq(y[0], g2, 1e-5f);
    cr_assert_float_eq(y[N - 1], g2, 1e-5f);
    prism_stream_destroy(s);
    prism_tensor_destroy(a);
    prism_tensor_destroy(b);
    t_destroy(ctx);
}

Test(stream, profile_off_is_a_state_error) {
    for (int which = 0; which < 2; which++) {
        prism_context *ctx = open_ctx(which, 0);
        prism_tensor *a = vec_new(ctx, 8, NULL);
        prism_stream *s = stream(ctx);
        ok(ctx, prism_fill(s, a, 1.0f), "fill");
        ok(ctx, prism_stream_run(s), "run");
        const prism_profile_entry *e = NULL;
        int n = -1;
        cr_assert_eq(prism_stream_profile(s, &e, &n), PRISM_ERR_STATE);
        msg_has(ctx, "stream_profile", "PRISM_PROFILE");
        prism_stream_destroy(s);
        prism_tensor_destroy(a);
        finish(ctx);
    }
}

/* ------------------------------------------------------------------ debug mode */

/* A small training-like step over several op families, with a vec4 bulk and
 * a scalar tail (1003 elements) and replay-dependent optimizer scalars. */
enum { WN = 1003, WM = 7, WK = 5, WC = 6, WOUT = 7 * WN + WM * WC + PRISM_OPT_STATE_SIZE };
typedef struct workload {
    prism_tensor *x, *acc, *snap, *sum, *act, *p, *m, *v, *a, *b, *c, *state;
} workload;

static prism_tensor *mat_new(prism_context *ctx, int64_t r, int64_t c, float scale) {
    int64_t shape[2] = {r, c};
    float d[WM * WC];
    for (int i = 0; i < r * c; i++) d[i] = scale * (float)((i * 37) % 23 - 11) + 0.0625f;
    prism_tensor *t = NULL;
    ok(ctx, prism_tensor_create(ctx, 2, shape, &t), "matrix");
    ok(ctx, prism_tensor_upload(t, d, r * c), "matrix upload");
    return t;
}

static void workload_init(prism_context *ctx, workload *w) {
    static float x[WN], acc[WN], p[WN], m[WN], v[WN];
    for (int i = 0; i < WN; i++) {
        x[i] = (float)((i * 37) % 101 - 50) / 25.0f + 0.013f;
        acc[i] = (float)(i % 13) - 6.5f;
        p[i] = 0.5f - (float)(i % 7) / 8.0f + 0.01f;
        m[i] = 0.01f * (float)(i % 5 - 2) + 0.001f;
        v[i] = 1e-4f * (float)(i % 9 + 1);
    }
    *w = (workload){.x = vec_new(ctx, WN, x), .acc = vec_new(ctx, WN, acc), .snap = vec_new(ctx, WN, NULL),
                    .sum = vec_new(ctx, WN, NULL), .act = vec_new(ctx, WN, NULL), .p = vec_new(ctx, WN, p),
                    .m = vec_new(ctx, WN, m), .v = vec_new(ctx, WN, v), .a = mat_new(ctx, WM, WK, 0.25f),
                    .b = mat_new(ctx, WK, WC, -0.125f), .c = mat_new(ctx, WM, WC, 0.5f)};
    ok(ctx, prism_optim_state_create(ctx, 1e-2f, &w->state), "optim state");
}

static void workload_record(prism_stream *s, workload *w) {
    prism_context *ctx = prism_stream_context(s);
    prism_adamw_params hp = prism_adamw_params_default();
    ok(ctx, prism_axpy(s, 1.0f, w->x, w->acc), "axpy");
    ok(ctx, prism_copy(s, w->acc, w->snap), "copy");
    ok(ctx, prism_add(s, w->snap, w->x, w->sum), "add");
    ok(ctx, prism_gelu(s, w->sum, w->act), "gelu");
    ok(ctx, prism_optim_tick(s, &hp, w->state), "tick");
    ok(ctx, prism_adamw(s, &hp, w->state, w->p, w->act, w->m, w->v), "adamw");
    ok(ctx, prism_gemm(s, 0, 0, 1.5f, w->a, w->b, 0.5f, w->c), "gemm");
}

static void workload_read(workload *w, float *out) {
    prism_tensor *ts[] = {w->acc, w->snap, w->sum, w->act, w->p, w->m, w->v, w->c, w->state};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        download(ts[i], out);
        out += prism_tensor_numel(ts[i]);
    }
}

static void workload_free(workload *w) {
    prism_tensor *ts[] = {w->x, w->acc, w->snap, w->sum, w->act, w->p, w->m, w->v, w->a, w->b, w->c, w->state};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) prism_tensor_destroy(ts[i]);
}

BOTH_BACKENDS(debug_sync_same_results)

/* The same step recorded normally and in both debug levels gives bit-identical
 * results on every replay; debug mode gives each op a command buffer. */
ParameterizedTest(int *which, stream, debug_sync_same_results) {
    prism_context *ctx = open_ctx(*which, 0);
    static const char *levels[3] = {"", "1", "2"};
    workload w[3];
    prism_stream *s[3];
    static float out[3][WOUT];
    for (int k = 0; k < 3; k++) {
        workload_init(ctx, &w[k]);
        s[k] = stream_with_debug(ctx, levels[k]);
        workload_record(s[k], &w[k]);
    }
    int ops = prism_stream_op_count(s[0]);
    for (int k = 1; k < 3; k++) cr_assert_eq(prism_stream_op_count(s[k]), ops, "debug mode records the same ops");
    if (!is_reference(ctx)) {
        cr_assert_eq(prism_stream_segment_count(s[0]), 1, "a small stream is one command buffer");
        for (int k = 1; k < 3; k++) cr_assert_eq(prism_stream_segment_count(s[k]), ops, "debug: one per op");
    }
    for (int replay = 0; replay < 3; replay++) {
        for (int k = 0; k < 3; k++) {
            ok(ctx, prism_stream_submit(s[k]), "submit");
            ok(ctx, prism_stream_wait(s[k]), "wait");
            workload_read(&w[k], out[k]);
        }
        for (int k = 1; k < 3; k++)
            for (int i = 0; i < WOUT; i++)
                cr_assert(memcmp(&out[0][i], &out[k][i], sizeof(float)) == 0, "replay %d, level %s, value %d: %a vs %a",
                          replay, levels[k], i, (double)out[0][i], (double)out[k][i]);
    }
    cr_assert_eq(out[0][7 * WN + WM * WC + PRISM_OPT_STEP], 3.0f, "three optimizer steps ran");
    for (int k = 0; k < 3; k++) {
        prism_stream_destroy(s[k]);
        workload_free(&w[k]);
    }
    finish(ctx);
}

/* Level 2 checks every op's outputs and stops at the first op that wrote a
 * non-finite value, naming it; the ops after it do not run. Level 1 and
 * normal mode do not check (inf is a legal value). */
Test(stream, debug_sync_names_nonfinite_op) {
    prism_context *ctx = open_ctx(0, 0);
    enum { N = 7 };
    float x[N] = {2, 3, 4, 5, 6, 7, 8}, marker[N] = {-1, -1, -1, -1, -1, -1, -1}, y[N];
    prism_tensor *tx = vec_new(ctx, N, x), *ty = vec_new(ctx, N, NULL), *tz = vec_new(ctx, N, NULL);
    static const char *levels[3] = {"", "1", "2"};
    for (int k = 0; k < 3; k++) {
        ok(ctx, prism_tensor_upload(tz, marker, N), "marker");
        prism_stream *s = stream_with_debug(ctx, levels[k]);
        ok(ctx, prism_fill(s, ty, 1.0f), "fill");
        ok(ctx, prism_scale(s, tx, 3e38f, ty), "scale"); /* overflows to inf (x >= 2) */
        ok(ctx, prism_add(s, ty, tx, tz), "add");
        for (int replay = 0; replay < 2; replay++) {
            prism_status st = prism_stream_run(s);
            if (k < 2) {
                ok(ctx, st, "run without the finite check");
                download(tz, y);
                cr_assert(isinf(y[N - 1]), "the add ran: %g", y[N - 1]);
                continue;
            }
            cr_assert_eq(st, PRISM_ERR_NOT_FINITE, "replay %d: %s", replay, prism_error_message(ctx));
            msg_has(ctx, "'scale'", "PRISM_DEBUG_SYNC=2");
            msg_has(ctx, "inf at element 0", "[7]");
            download(ty, y);
            cr_assert(isinf(y[0]), "the scale ran");
            download(tz, y);
            for (int i = 0; i < N; i++) cr_assert_eq(y[i], -1.0f, "the add after the failing op did not run");
        }
        prism_stream_destroy(s);
    }
    prism_tensor_destroy(tx);
    prism_tensor_destroy(ty);
    prism_tensor_destroy(tz);
    t_destroy(ctx);
}

/* PRISM_FAULT=lost:<op> makes the submission fail as a device loss would:
 * normal mode cannot say which op it was and points to debug mode, which
 * names it. The context is lost afterwards. */
Test(stream, debug_sync_names_lost_op) {
    setenv("PRISM_FAULT", "lost:add", 1);
    for (int debug = 0; debug < 2; debug++) {
        prism_context *ctx = open_ctx(0, 0);
        prism_tensor *a = vec_new(ctx, 8, NULL), *b = vec_new(ctx, 8, NULL);
        prism_stream *s = stream_with_debug(ctx, debug ? "1" : "");
        ok(ctx, prism_fill(s, a, 1.0f), "fill");
        ok(ctx, prism_scale(s, a, 2.0f, b), "scale");
        ok(ctx, prism_add(s, a, b, b), "add");
        ok(ctx, prism_gelu(s, b, a), "gelu");
        cr_assert_eq(prism_stream_submit(s), PRISM_ERR_DEVICE_LOST);
        if (debug) {
            msg_has(ctx, "op 2 'add'", "VK_ERROR_DEVICE_LOST");
        } else {
            msg_has(ctx, "PRISM_DEBUG_SYNC=1", "VK_ERROR_DEVICE_LOST");
            cr_assert(!strstr(prism_error_message(ctx), "'add'"), "%s", prism_error_message(ctx));
        }
        cr_assert_eq(prism_stream_wait(s), PRISM_OK, "nothing pending");
        cr_assert_eq(prism_stream_submit(s), PRISM_ERR_DEVICE_LOST, "the context stays lost");
        msg_has(ctx, "lost earlier", NULL);
        prism_stream_destroy(s);
        prism_tensor_destroy(a);
        prism_tensor_destroy(b);
        t_destroy(ctx);
    }
}

/* ------------------------------------------------------------------ submit bound */

Test(stream, submit_bound_by_op_count) {
    setenv("PRISM_SUBMIT_MAX_OPS", "7", 1);
    prism_context *ctx = open_ctx(0, 1);
    chain(ctx, 41, 6);
    chain(ctx, 7, 1);
    chain(ctx, 8, 2);
    t_destroy(ctx);
}

Test(stream, submit_bound_by_cost) {
    setenv("PRISM_SUBMIT_MAX_COST", "2500", 1); /* two ops of 1000 elements */
    prism_context *ctx = open_ctx(0, 0);
    chain(ctx, 41, 21);
    t_destroy(ctx);
}

Test(stream, submit_bound_default) {
    prism_context *ctx = open_ctx(0, 0);
    chain(ctx, PRISM_SUBMIT_MAX_OPS, 1);
    chain(ctx, PRISM_SUBMIT_MAX_OPS + 3, 2);
    t_destroy(ctx);
}

/* Debug mode on a split recording, with profiling: one segment per op. */
Test(stream, submit_bound_debug_profiled) {
    setenv("PRISM_DEBUG_SYNC", "2", 1);
    prism_context *ctx = open_ctx(0, 1);
    chain(ctx, 9, 9);
    t_destroy(ctx);
}
