/* Adapter bench rows: one training step's layer work, forward + backward
 * (input gradient and parameter gradients) recorded as one unit, for every
 * adapter method that is built, relative to the frozen layer's forward +
 * backward measured in the same run on the same device.
 *
 *   frozen layer   Y = X W0^T, dX = dY W0 (two GEMMs, no adapter code): the
 *                  denominator of every ratio. GFLOP/s = 4 T m n / time.
 *   none           the same through the adapter interface (NONE method).
 *   lora r=8, ether / ether+ with 1 and 32 blocks, hut r=8, sdctft 700,
 *   fourierft 1000: forward + backward(dX) of the adapter.
 *
 * Shapes (out m x in n, tokens T): 4096x4096 T=512 and 1024x1024 T=256;
 * --quick: 256x256 T=64 and 128x128 T=32. No bias (its cost is the same
 * add on both sides of the ratio). The note holds the extra device bytes of
 * the adapter (prism_adapter_extra_bytes after its forward + backward at
 * that T: parameters, gradients, scratch) and the goal of issue 3 where
 * there is one (<= 1.10 ETHER, ETHER+, LoRA; <= 1.40 HUT).
 *
 * Each adapter row's ratio is to the frozen layer timed again right before
 * it (its time is in the note; the median of 3 such pairs when they are
 * cheap): back-to-back pairs cancel drift in the device's speed, which on a
 * shared CPU device is larger than the overheads being measured. The
 * frozen-layer row is a timing of its own, before the others.
 *
 * Large shapes on slow devices: the frozen layer is timed once first and the
 * instances per stream (and runs) are cut so one row takes a few seconds;
 * every timing of a shape uses the same counts. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "bench.h"
#include "prism/adapter.h"

typedef struct ad_case {
    const char *name;
    prism_method method;
    int r, blocks, n_coef, n_frequency;
    double goal; /* 0: none */
} ad_case;

static const ad_case CASES[] = {
    {"none", PRISM_METHOD_NONE, 0, 0, 0, 0, 0},
    {"lora r=8", PRISM_METHOD_LORA, 8, 0, 0, 0, 1.10},
    {"ether n=1", PRISM_METHOD_ETHER, 0, 1, 0, 0, 1.10},
    {"ether n=32", PRISM_METHOD_ETHER, 0, 32, 0, 0, 1.10},
    {"ether+ n=1", PRISM_METHOD_ETHER_PLUS, 0, 1, 0, 0, 1.10},
    {"ether+ n=32", PRISM_METHOD_ETHER_PLUS, 0, 32, 0, 0, 1.10},
    {"hut r=8", PRISM_METHOD_HUT, 8, 0, 0, 0, 1.40},
    {"sdctft 700", PRISM_METHOD_SDCTFT, 0, 0, 700, 0, 0},
    {"fourierft 1000", PRISM_METHOD_FOURIERFT, 0, 0, 0, 1000, 0},
};
#define NCASES ((int)(sizeof CASES / sizeof CASES[0]))

enum { MAX_PAIRS = 3 };

/* Median of n <= 3 values (sorts v). */
static double median3(double *v, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct layer {
    int64_t m, n, T;
    prism_tensor *W0, *X, *Y, *dY, *dX;
} layer;

typedef struct ad_arg {
    prism_adapter *ad;
    layer *L;
} ad_arg;

static prism_status rec_frozen(prism_stream *s, void *p) {
    layer *L = p;
    prism_status st = prism_gemm(s, 0, 1, 1.0f, L->X, L->W0, 0.0f, L->Y);
    if (!st) st = prism_gemm(s, 0, 0, 1.0f, L->dY, L->W0, 0.0f, L->dX);
    return st;
}

static prism_status rec_adapter(prism_stream *s, void *p) {
    ad_arg *a = p;
    prism_status st = prism_adapter_forward(s, a->ad, a->L->X, a->L->Y);
    if (!st) st = prism_adapter_backward(s, a->ad, a->L->X, a->L->dY, a->L->dX);
    return st;
}

static void free_layer(layer *L) {
    prism_tensor_destroy(L->W0);
    prism_tensor_destroy(L->X);
    prism_tensor_destroy(L->Y);
    prism_tensor_destroy(L->dY);
    prism_tensor_destroy(L->dX);
}

/* W0 ~ U(-1/sqrt n, 1/sqrt n) (a layer's scale), X and dY ~ U(-1, 1). */
static prism_status make_layer(prism_context *ctx, int64_t m, int64_t n, int64_t T, layer *L) {
    memset(L, 0, sizeof *L);
    L->m = m, L->n = n, L->T = T;
    int64_t sw[2] = {m, n}, sx[2] = {T, n}, sy[2] = {T, m};
    prism_stream *s = NULL;
    prism_status st = prism_tensor_create(ctx, 2, sw, &L->W0);
    if (!st) st = prism_tensor_create(ctx, 2, sx, &L->X);
    if (!st) st = prism_tensor_create(ctx, 2, sy, &L->Y);
    if (!st) st = prism_tensor_create(ctx, 2, sy, &L->dY);
    if (!st) st = prism_tensor_create(ctx, 2, sx, &L->dX);
    if (!st) st = prism_stream_create(ctx, &s);
    float a = 1.0f / sqrtf((float)n);
    if (!st) st = prism_rng_uniform(s, 11, 0, -a, a, L->W0);
    if (!st) st = prism_rng_uniform(s, 12, 0, -1.0f, 1.0f, L->X);
    if (!st) st = prism_rng_uniform(s, 13, 0, -1.0f, 1.0f, L->dY);
    if (!st) st = prism_stream_run(s);
    prism_stream_destroy(s);
    return st;
}

static prism_adapter_config case_config(const ad_case *c) {
    prism_adapter_config cfg = prism_adapter_config_default(c->method);
    cfg.seed = 1;
    if (c->r) cfg.r = c->r;
    if (c->blocks) cfg.blocks = c->blocks;
    if (c->n_coef) cfg.n_coef = c->n_coef;
    if (c->n_frequency) cfg.n_frequency = c->n_frequency;
    return cfg;
}

static void row_init(pb_row *r, const char *name, const layer *L) {
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s fwd+bwd", name);
    snprintf(r->shape, sizeof r->shape, "%lldx%lld T=%lld", (long long)L->m, (long long)L->n, (long long)L->T);
}

/* Rows of one shape; returns the number added, < 0 when the frozen layer
 * itself fails (message in the context). */
static int bench_shape(pb_env *env, int64_t m, int64_t n, int64_t T, bool report_missing, pb_row *rows,
                       int cap) {
    layer L;
    int k = 0;
    if (make_layer(env->ctx, m, n, T, &L) != PRISM_OK || cap < 1) {
        free_layer(&L);
        return -1;
    }
    /* one instance first, to size the repetitions */
    pb_env e = *env;
    e.reps = 1;
    e.runs = 2;
    double once = pb_time(&e, rec_frozen, &L);
    if (once <= 0) {
        free_layer(&L);
        return -1;
    }
    double budget = env->quick ? 250.0 : 2000.0, reps = budget / once;
    e.reps = reps < 1 ? 1 : reps > env->reps ? env->reps : (int)reps;
    e.runs = once > 500.0 && env->runs > 3 ? 3 : env->runs;
    /* pairs of (frozen, adapter) timings per row: 3 when they are cheap */
    int pairs = once * 2 * e.reps * e.runs * MAX_PAIRS < (env->quick ? 2000.0 : 10000.0) ? MAX_PAIRS : 1;
    char counts[40] = "";
    if (e.reps != env->reps || e.runs != env->runs)
        snprintf(counts, sizeof counts, "; reps %d, runs %d", e.reps, e.runs);

    double frozen = pb_time(&e, rec_frozen, &L);
    pb_row *r = &rows[k++];
    row_init(r, "frozen layer", &L);
    if (frozen <= 0) {
        free_layer(&L);
        return -1;
    }
    r->ms = frozen;
    r->gflops = 4.0 * (double)T * (double)m * (double)n / (frozen * 1e6);
    r->ratio = 1.0;
    snprintf(r->ratio_to, sizeof r->ratio_to, "frozen layer");
    snprintf(r->note, sizeof r->note, "2 GEMMs%s", counts);

    for (int i = 0; i < NCASES && k < cap; i++) {
        const ad_case *c = &CASES[i];
        prism_adapter_config cfg = case_config(c);
        ad_arg a = {NULL, &L};
        prism_status st = prism_adapter_create(env->ctx, &cfg, L.W0, NULL, &a.ad);
        if (st == PRISM_ERR_UNSUPPORTED && !report_missing) {
            prism_clear_error(env->ctx);
            continue;
        }
        r = &rows[k++];
        row_init(r, c->name, &L);
        if (st != PRISM_OK) {
            snprintf(r->note, sizeof r->note, "%s: %s", st == PRISM_ERR_UNSUPPORTED ? "not built" : "failed",
                     prism_error_message(env->ctx));
            prism_clear_error(env->ctx);
            continue;
        }
        /* the frozen layer again, right before: the ratio compares two
         * measurements taken back to back, so drift in the device's speed
         * (other load, clocks, thermal) cancels; with time to spare, the
         * median of several such pairs */
        double fz[MAX_PAIRS], ad[MAX_PAIRS], ratio[MAX_PAIRS], paired = -1, ms = -1;
        int np = 0;
        for (; np < pairs; np++) {
            fz[np] = pb_time(&e, rec_frozen, &L);
            ad[np] = fz[np] > 0 ? pb_time(&e, rec_adapter, &a) : -1;
            if (ad[np] <= 0) break;
            ratio[np] = ad[np] / fz[np];
        }
        if (np == pairs) {
            paired = median3(fz, np);
            ms = median3(ad, np);
        }
        if (ms <= 0) {
            snprintf(r->note, sizeof r->note, "failed: %s", prism_error_message(env->ctx));
            prism_clear_error(env->ctx);
        } else {
            r->ms = ms;
            r->ratio = median3(ratio, np);
            snprintf(r->ratio_to, sizeof r->ratio_to, "frozen layer");
            double mib = (double)prism_adapter_extra_bytes(a.ad) / (1024.0 * 1024.0);
            char goal[32] = "";
            if (c->goal > 0)
                snprintf(goal, sizeof goal, "; goal <= %.2f %s", c->goal, r->ratio <= c->goal ? "met" : "MISSED");
            snprintf(r->note, sizeof r->note, "extra %.3f MiB%s; frozen %.4g ms%s", mib, goal, paired, counts);
        }
        prism_adapter_destroy(a.ad);
    }
    free_layer(&L);
    return k;
}

static int bench_adapter(pb_env *env, pb_row *rows, int cap) {
    static const int64_t full[2][3] = {{4096, 4096, 512}, {1024, 1024, 256}};
    static const int64_t quick[2][3] = {{256, 256, 64}, {128, 128, 32}};
    const int64_t(*sh)[3] = env->quick ? quick : full;
    int n = 0;
    for (int i = 0; i < 2; i++) {
        int k = bench_shape(env, sh[i][0], sh[i][1], sh[i][2], i == 0, rows + n, cap - n);
        if (k < 0) return -1;
        n += k;
    }
    return n;
}

const pb_bench pb_benches_adapter[] = {{"adapter", "adapter fwd+bwd vs frozen", bench_adapter}};
const int pb_nbenches_adapter = 1;
