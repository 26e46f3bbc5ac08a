/* Bench rows of the xpeft family and of multi-profile serving.
 *
 *   xpeft_bank_sum / xpeft_bank_grad  N = 64 members of r = 8 x 1024 (quick
 *       256): memory bound, GB/s of the minimum traffic (the bank read once)
 *       and the ratio to vkCmdCopyBuffer bandwidth.
 *   xpeft step  one training step's layer work (forward + backward with dX)
 *       of a hard-mask X-PEFT adapter, N = 64, r = 8, 1024 x 1024, T = 256
 *       (quick 256 x 256, T = 64), ratio to the frozen layer's forward +
 *       backward timed right before it (per-op timestamps, pb_time).
 *   serve <method>  (pb_xpeft_serve_rows, shared with `prism serve-bench`):
 *       a batch of T = 512 rows spread evenly (row t -> profile t mod P) over
 *       P = 1, 8, 64, 512 profiles through prism_adapter_forward_multi, the
 *       same batch through one adapter's own forward, and the same rows as 64
 *       separate per-profile forwards of 8 rows each (rows grouped by profile,
 *       the best case for the separate path). Layer 1024 x 1024 (quick 256),
 *       LoRA r = 8, X-PEFT N = 64 r = 8 hard k = 16.
 *       Times are HOST WALL CLOCK per batch on a context without profiling
 *       (median over runs of a stream holding `reps` batches): serving pays
 *       the gaps between dispatches, which per-op timestamps leave out, and
 *       those gaps are what separate forwards multiply. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench.h"
#include "internal.h"
#include "prism/profiles.h"
#include "prism/xpeft.h"

/* ------------------------------------------------------------------ helpers */

static prism_tensor *filled(prism_context *ctx, int nd, int64_t a, int64_t b, float lo, float hi, uint64_t seed) {
    int64_t s[2] = {a, b};
    prism_tensor *t = NULL;
    prism_stream *st = NULL;
    if (prism_tensor_create(ctx, nd, s, &t)) return NULL;
    if (prism_stream_create(ctx, &st) || prism_rng_uniform(st, seed, 0, lo, hi, t) || prism_stream_run(st)) {
        prism_stream_destroy(st);
        prism_tensor_destroy(t);
        return NULL;
    }
    prism_stream_destroy(st);
    return t;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* A context on env's device without profiling (serving is timed by wall
 * clock; profiling would add a barrier and two timestamps per op). */
static prism_context *plain_ctx(pb_env *env) {
    const prism_caps *want = prism_context_caps(env->ctx);
    prism_caps caps[16];
    int n = 0;
    char err[256];
    if (prism_enumerate_devices(caps, 16, &n, err, sizeof err)) return NULL;
    for (int i = 0; i < n && i < 16; i++) {
        if (memcmp(caps[i].device_uuid, want->device_uuid, 16)) continue;
        char idx[16];
        snprintf(idx, sizeof idx, "%d", i);
        prism_context_options o = prism_context_options_default();
        o.device = idx;
        o.profile = 0;
        prism_context *c = NULL;
        return prism_context_create(&o, &c, err, sizeof err) ? NULL : c;
    }
    return NULL;
}

static void row_init(pb_row *r, const char *name, const char *shape) {
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->shape, sizeof r->shape, "%s", shape);
}

/* ------------------------------------------------------------------ ops */

typedef struct bk { prism_tensor *w, *bank, *eff, *dw; } bk;
static prism_status rec_sum(prism_stream *s, void *a) { bk *b = a; return prism_xpeft_bank_sum(s, b->w, b->bank, b->eff); }
static prism_status rec_grad(prism_stream *s, void *a) { bk *b = a; return prism_xpeft_bank_grad(s, b->bank, b->eff, 0, b->dw); }

static int bench_bank(pb_env *env, pb_row *rows, int cap) {
    if (cap < 2) return 0;
    int64_t N = 64, D = 8 * (env->quick ? 256 : 1024);
    bk b = {filled(env->ctx, 2, 1, N, 0, 1, 1), filled(env->ctx, 2, N, D, -1, 1, 2), filled(env->ctx, 2, 1, D, -1, 1, 3),
            filled(env->ctx, 2, 1, N, 0, 1, 4)};
    int added = -1;
    char shape[64];
    snprintf(shape, sizeof shape, "N=%lld D=%lld", (long long)N, (long long)D);
    if (b.w && b.bank && b.eff && b.dw) {
        row_init(&rows[0], "xpeft_bank_sum", shape);
        row_init(&rows[1], "xpeft_bank_grad", shape);
        rows[0].ms = pb_time(env, rec_sum, &b);
        rows[1].ms = pb_time(env, rec_grad, &b);
        if (rows[0].ms > 0 && rows[1].ms > 0) {
            pb_set_bw(env, &rows[0], 4.0 * (double)(N * D + D + N));
            pb_set_bw(env, &rows[1], 4.0 * (double)(N * D + D + N));
            snprintf(rows[0].note, sizeof rows[0].note, "A_eff = sum_i w_i A_i; bytes = bank once + out");
            snprintf(rows[1].note, sizeof rows[1].note, "dw_i = <dA_eff, A_i>, fixed-order tree");
            added = 2;
        }
    }
    prism_tensor_destroy(b.w);
    prism_tensor_destroy(b.bank);
    prism_tensor_destroy(b.eff);
    prism_tensor_destroy(b.dw);
    return added;
}

typedef struct stp { prism_adapter *ad; prism_tensor *W0, *X, *Y, *dY, *dX; } stp;
static prism_status rec_frozen(prism_stream *s, void *a) {
    stp *p = a;
    prism_status st = prism_gemm(s, 0, 1, 1.0f, p->X, p->W0, 0.0f, p->Y);
    return st ? st : prism_gemm(s, 0, 0, 1.0f, p->dY, p->W0, 0.0f, p->dX);
}
static prism_status rec_step(prism_stream *s, void *a) {
    stp *p = a;
    prism_status st = prism_adapter_forward(s, p->ad, p->X, p->Y);
    return st ? st : prism_adapter_backward(s, p->ad, p->X, p->dY, p->dX);
}

static int bench_step(pb_env *env, pb_row *rows, int cap) {
    if (cap < 1) return 0;
    int64_t m = env->quick ? 256 : 1024, T = env->quick ? 64 : 256;
    stp p = {NULL, filled(env->ctx, 2, m, m, -0.05f, 0.05f, 1), filled(env->ctx, 2, T, m, -1, 1, 2),
             filled(env->ctx, 2, T, m, 0, 0, 3), filled(env->ctx, 2, T, m, -1, 1, 4), filled(env->ctx, 2, T, m, 0, 0, 5)};
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_XPEFT);
    int added = -1;
    if (p.W0 && p.X && p.Y && p.dY && p.dX && !prism_adapter_create(env->ctx, &c, p.W0, NULL, &p.ad)) {
        double fz = pb_time(env, rec_frozen, &p), ms = pb_time(env, rec_step, &p);
        if (fz > 0 && ms > 0) {
            char shape[64];
            snprintf(shape, sizeof shape, "%lldx%lld T=%lld", (long long)m, (long long)m, (long long)T);
            row_init(&rows[0], "xpeft step N=64 r=8 hard", shape);
            rows[0].ms = ms;
            rows[0].gflops = 4.0 * (double)(T * m * m) / (ms * 1e6);
            rows[0].ratio = ms / fz;
            snprintf(rows[0].ratio_to, sizeof rows[0].ratio_to, "frozen layer");
            snprintf(rows[0].note, sizeof rows[0].note, "fwd+bwd(dX); frozen %.3g ms; extra %.2f MB", fz,
                     (double)prism_adapter_extra_bytes(p.ad) / 1e6);
            added = 1;
        }
    }
    prism_adapter_destroy(p.ad);
    prism_tensor *t[] = {p.W0, p.X, p.Y, p.dY, p.dX};
    for (int i = 0; i < 5; i++) prism_tensor_destroy(t[i]);
    return added;
}

/* ------------------------------------------------------------------ serving */

enum { MAXV = 12, MAXRUNS = 64 };

typedef struct srv {
    prism_method meth;
    int64_t m, n, T;
    prism_tensor *W0, *b, *X, *Y, *lg;
    prism_adapter **ads;           /* LoRA / ETHER: one per profile; X-PEFT: ads[0] = the bank */
    int nads;
    /* variants: multi for each count (+ the separate count), single, separate */
    int nv, vsep, vsingle, vmulti_sep;
    int P[MAXV];
    prism_profile_set *set[MAXV];
    prism_tensor *ids[MAXV];
    prism_stream *st[MAXV];
    int reps[MAXV];
    int nsep;                      /* separate: profiles, their row views and logits views */
    prism_tensor **xv, **yv, **lv;
    int cur;                       /* variant being recorded */
} srv;

static prism_status rec_multi(prism_stream *s, void *a) {
    srv *v = a;
    return prism_adapter_forward_multi(s, v->set[v->cur], v->X, v->ids[v->cur], v->Y);
}

static prism_status rec_single(prism_stream *s, void *a) {
    srv *v = a;
    return prism_adapter_forward(s, v->ads[0], v->X, v->Y);
}

/* One forward per profile on its own rows; X-PEFT switches the profile by
 * copying its logits into the one adapter (what a per-request server does). */
static prism_status rec_separate(prism_stream *s, void *a) {
    srv *v = a;
    prism_status st = PRISM_OK;
    for (int p = 0; !st && p < v->nsep; p++) {
        prism_adapter *ad = v->meth == PRISM_METHOD_XPEFT ? v->ads[0] : v->ads[p];
        if (v->meth == PRISM_METHOD_XPEFT) {
            const prism_param *pp;
            prism_adapter_params(ad, &pp);
            st = prism_copy(s, v->lv[2 * p], pp[0].value);
            if (!st) st = prism_copy(s, v->lv[2 * p + 1], pp[1].value);
        }
        if (!st) st = prism_adapter_forward(s, ad, v->xv[p], v->yv[p]);
    }
    return st;
}

static void srv_free(srv *v) {
    for (int i = 0; v->xv && i < v->nsep; i++) {
        prism_tensor_destroy(v->xv[i]);
        prism_tensor_destroy(v->yv[i]);
        prism_tensor_destroy(v->lv[2 * i]);
        prism_tensor_destroy(v->lv[2 * i + 1]);
    }
    free(v->xv);
    free(v->yv);
    free(v->lv);
    for (int i = 0; i < MAXV; i++) {
        prism_stream_destroy(v->st[i]);
        prism_profile_set_destroy(v->set[i]);
        prism_tensor_destroy(v->ids[i]);
    }
    for (int i = 0; v->ads && i < v->nads; i++) prism_adapter_destroy(v->ads[i]);
    free(v->ads);
    prism_tensor *t[] = {v->W0, v->b, v->X, v->Y, v->lg};
    for (int i = 0; i < 5; i++) prism_tensor_destroy(t[i]);
}

/* Variant i: ids t mod P, the set of P profiles, its recorded stream. */
static prism_status srv_multi(srv *v, int i, prism_context *ctx, int reps) {
    int P = v->P[i];
    float *h = malloc(sizeof(float) * (size_t)v->T);
    prism_status st = h ? PRISM_OK : PRISM_ERR_OUT_OF_HOST_MEMORY;
    for (int64_t t = 0; h && t < v->T; t++) h[t] = (float)(t % P);
    if (!st) st = prism_tensor_create(ctx, 1, &v->T, &v->ids[i]);
    if (!st) st = prism_tensor_upload(v->ids[i], h, v->T);
    free(h);
    if (!st && v->meth != PRISM_METHOD_XPEFT) st = prism_profile_set_create(ctx, v->ads, P, &v->set[i]);
    if (!st && v->meth == PRISM_METHOD_XPEFT) {
        int64_t nl = prism_tensor_numel(v->lg); /* every profile's logits; the first P are used */
        float *lg = malloc(sizeof(float) * (size_t)nl);
        st = lg ? prism_tensor_download(v->lg, lg, nl) : PRISM_ERR_OUT_OF_HOST_MEMORY;
        if (!st) st = prism_profile_set_create_xpeft(v->ads[0], lg, P, &v->set[i]);
        free(lg);
    }
    v->cur = i;
    v->reps[i] = reps;
    if (!st) st = prism_stream_create(ctx, &v->st[i]);
    for (int r = 0; !st && r < reps; r++) st = rec_multi(v->st[i], v);
    return st;
}

/* Row views of each separate profile (rows grouped: T / nsep per profile). */
static prism_status srv_separate(srv *v, int i, prism_context *ctx, int reps) {
    int P = v->nsep;
    v->xv = calloc((size_t)P, sizeof *v->xv);
    v->yv = calloc((size_t)P, sizeof *v->yv);
    v->lv = calloc((size_t)P * 2, sizeof *v->lv);
    if (!v->xv || !v->yv || !v->lv) return PRISM_ERR_OUT_OF_HOST_MEMORY;
    int64_t rows = v->T / P, N = v->meth == PRISM_METHOD_XPEFT ? prism_adapter_get_config(v->ads[0])->n_bank : 0;
    prism_status st = PRISM_OK;
    for (int p = 0; !st && p < P; p++) {
        int64_t xs[2] = {rows, v->n}, ys[2] = {rows, v->m};
        st = prism_tensor_view(v->X, p * rows * v->n, 2, xs, &v->xv[p]);
        if (!st) st = prism_tensor_view(v->Y, p * rows * v->m, 2, ys, &v->yv[p]);
        for (int side = 0; !st && N && side < 2; side++)
            st = prism_tensor_view(v->lg, ((int64_t)p * 2 + side) * N, 1, &N, &v->lv[2 * p + side]);
    }
    v->reps[i] = reps;
    if (!st) st = prism_stream_create(ctx, &v->st[i]);
    for (int r = 0; !st && r < reps; r++) st = rec_separate(v->st[i], v);
    return st;
}

static double median(double *x, int n) {
    qsort(x, (size_t)n, sizeof *x, cmp_d);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

int pb_xpeft_serve_rows(pb_env *env, prism_method meth, int64_t m, int64_t n, int64_t T, const int *counts,
                        int ncounts, int separate, pb_row *rows, int cap);

/* Rows: forward_multi for each count, one adapter's forward, `separate`
 * per-profile forwards. Every variant is recorded once; then each run times
 * every variant back to back, and ratios are medians of the per-run ratios,
 * so drift in the device's speed (a shared CPU device) cancels. Returns the
 * rows added, < 0 on failure (message in env->ctx). */
int pb_xpeft_serve_rows(pb_env *env, prism_method meth, int64_t m, int64_t n, int64_t T, const int *counts,
                        int ncounts, int separate, pb_row *rows, int cap) {
    prism_context *ctx = plain_ctx(env);
    srv v;
    memset(&v, 0, sizeof v);
    v.meth = meth, v.m = m, v.n = n, v.T = T, v.nsep = separate, v.vmulti_sep = -1;
    int pmax = separate, reps = env->reps > 0 ? env->reps : 5, runs = env->runs > 1 ? env->runs : 3, added = 0;
    if (runs > MAXRUNS) runs = MAXRUNS;
    for (int i = 0; i < ncounts; i++) pmax = counts[i] > pmax ? counts[i] : pmax;
    prism_status st = ctx ? PRISM_OK : PRISM_ERR_NO_DEVICE;
    const char *mn = prism_method_name(meth);
    if (!st && (cap < ncounts + 2 || ncounts < 1 || ncounts > MAXV - 3 || separate < 1 || T % separate || pmax > T))
        st = PRISM_ERR_INVALID_ARGUMENT;
    if (!st) {
        v.W0 = filled(ctx, 2, m, n, -0.05f, 0.05f, 11);
        v.b = filled(ctx, 1, m, 0, -0.1f, 0.1f, 12);
        v.X = filled(ctx, 2, T, n, -1, 1, 13);
        v.Y = filled(ctx, 2, T, m, 0, 0, 14);
        if (!v.W0 || !v.b || !v.X || !v.Y) st = PRISM_ERR_OUT_OF_DEVICE_MEMORY;
    }
    v.nads = meth == PRISM_METHOD_XPEFT ? 1 : pmax;
    if (!st && !(v.ads = calloc((size_t)v.nads, sizeof *v.ads))) st = PRISM_ERR_OUT_OF_HOST_MEMORY;
    for (int p = 0; !st && p < v.nads; p++) {
        prism_adapter_config c = prism_adapter_config_default(meth);
        c.seed = 100 + (uint64_t)p;
        if (meth == PRISM_METHOD_ETHER || meth == PRISM_METHOD_ETHER_PLUS) c.blocks = 32;
        st = prism_adapter_create(ctx, &c, v.W0, v.b, &v.ads[p]);
        if (!st && meth == PRISM_METHOD_LORA) { /* B starts at 0: give every profile a real B */
            const prism_param *pp;
            prism_adapter_params(v.ads[p], &pp);
            prism_stream *s = NULL;
            st = prism_stream_create(ctx, &s);
            if (!st) st = prism_rng_uniform(s, 500 + (uint64_t)p, 0, -0.01f, 0.01f, pp[1].value);
            if (!st) st = prism_stream_run(s);
            prism_stream_destroy(s);
        }
    }
    if (!st && meth == PRISM_METHOD_XPEFT) { /* random logits: random top-k masks per profile */
        int N = prism_adapter_get_config(v.ads[0])->n_bank;
        if (!(v.lg = filled(ctx, 1, (int64_t)pmax * 2 * N, 0, -1, 1, 16))) st = PRISM_ERR_OUT_OF_DEVICE_MEMORY;
    }
    for (int i = 0; !st && i < ncounts; i++) {
        v.P[v.nv] = counts[i];
        if (counts[i] == separate) v.vmulti_sep = v.nv;
        st = srv_multi(&v, v.nv++, ctx, reps);
    }
    if (!st && v.vmulti_sep < 0) {
        v.P[v.nv] = separate;
        v.vmulti_sep = v.nv;
        st = srv_multi(&v, v.nv++, ctx, reps);
    }
    if (!st) {
        v.vsingle = v.nv++;
        v.reps[v.vsingle] = reps;
        st = prism_stream_create(ctx, &v.st[v.vsingle]);
        for (int r = 0; !st && r < reps; r++) st = rec_single(v.st[v.vsingle], &v);
    }
    if (!st) st = srv_separate(&v, v.vsep = v.nv++, ctx, reps > 2 ? 2 : reps);
    for (int i = 0; !st && i < v.nv; i++) st = prism_stream_run(v.st[i]); /* warm-up: pipelines, first touch */
    static double t[MAXV][MAXRUNS];
    for (int k = 0; !st && k < runs; k++)
        for (int i = 0; !st && i < v.nv; i++) {
            double t0 = now_ms();
            st = prism_stream_run(v.st[i]);
            t[i][k] = (now_ms() - t0) / v.reps[i];
        }
    double tmp[MAXRUNS];
    for (int j = 0; !st && j < ncounts + 2; j++) {
        int i = j < ncounts ? j : j == ncounts ? v.vsingle : v.vsep, base = i == v.vsep ? v.vmulti_sep : 0;
        pb_row *r = &rows[added++];
        char name[48], shape[64];
        if (j < ncounts) snprintf(name, sizeof name, "serve %s P=%d", mn, v.P[i]);
        else snprintf(name, sizeof name, i == v.vsep ? "serve %s %d separate" : "serve %s single adapter", mn, separate);
        if (i == v.vsep) snprintf(shape, sizeof shape, "%d x T=%lld %lldx%lld", separate, (long long)(T / separate),
                                  (long long)m, (long long)n);
        else snprintf(shape, sizeof shape, "T=%lld %lldx%lld", (long long)T, (long long)m, (long long)n);
        row_init(r, name, shape);
        for (int k = 0; k < runs; k++) tmp[k] = t[i][k];
        r->ms = median(tmp, runs);
        for (int k = 0; k < runs; k++) tmp[k] = t[i][k] / t[base][k];
        r->ratio = median(tmp, runs);
        for (int k = 0; k < runs; k++) tmp[k] = t[base][k];
        double bms = median(tmp, runs);
        if (i == v.vsep) {
            snprintf(r->ratio_to, sizeof r->ratio_to, "multi P=%d (speedup)", separate);
            snprintf(r->note, sizeof r->note, "per-profile forwards; multi P=%d %.3g ms; goal >= 10", separate, bms);
        } else {
            snprintf(r->ratio_to, sizeof r->ratio_to, "P=%d batch", counts[0]);
            snprintf(r->note, sizeof r->note, "%s%s", i == v.vsingle ? "prism_adapter_forward" : "forward_multi",
                     v.P[i] == 64 && i != v.vsingle ? "; goal <= 1.5" : "");
            if (i != v.vsingle) {
                size_t l = strlen(r->note);
                snprintf(r->note + l, sizeof r->note - l, "; stacks %.2f MB", (double)prism_profile_set_bytes(v.set[i]) / 1e6);
            }
        }
    }
    if (st) { /* the message goes where the caller looks: env->ctx */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", ctx ? prism_error_message(ctx) : "no context without profiling");
        prism_set_error(env->ctx, st, "serve %s: %s (%s)", mn, prism_status_string(st), msg);
    }
    srv_free(&v);
    prism_context_destroy(ctx);
    return st ? -1 : added;
}

/* Saved bytes of one profile of the main job's MLP (784-256-256-10, every
 * layer adapted): X-PEFT hard masks (N = 64: 2 N bits per layer; k once per
 * store) against LoRA r = 8 (A and B in fp32, as prism saves them). The
 * LoRA figure is counted from a real adapter's parameter list. */
static int bench_bytes(pb_env *env, pb_row *rows, int cap) {
    static const int64_t W[4] = {784, 256, 256, 10};
    if (cap < 2) return 0;
    int64_t lora = 0, lora_l1 = 0;
    for (int l = 0; l < 3; l++) {
        prism_tensor *W0 = filled(env->ctx, 2, W[l + 1], W[l], 0, 0, 1);
        prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_LORA);
        prism_adapter *ad = NULL;
        if (!W0 || prism_adapter_create(env->ctx, &c, W0, NULL, &ad)) {
            prism_tensor_destroy(W0);
            return -1;
        }
        const prism_param *pp;
        int np = prism_adapter_params(ad, &pp);
        int64_t b = 0;
        for (int i = 0; i < np; i++) b += prism_tensor_numel(pp[i].value) * 4;
        lora += b;
        if (l == 1) lora_l1 = b;
        prism_adapter_destroy(ad);
        prism_tensor_destroy(W0);
    }
    int64_t xp = prism_xpeft_profile_bytes(PRISM_MASK_HARD, 3, 64), xp1 = prism_xpeft_profile_bytes(PRISM_MASK_HARD, 1, 64);
    row_init(&rows[0], "profile bytes: model", "784-256-256-10 N=64");
    rows[0].ratio = (double)lora / (double)xp;
    snprintf(rows[0].ratio_to, sizeof rows[0].ratio_to, "LoRA r=8 bytes / X-PEFT");
    snprintf(rows[0].note, sizeof rows[0].note, "LoRA r=8 %lld B; X-PEFT hard %lld B (+4 B checksum/record); goal >= 1000",
             (long long)lora, (long long)xp);
    row_init(&rows[1], "profile bytes: one layer", "256x256 N=64");
    rows[1].ratio = (double)lora_l1 / (double)xp1;
    snprintf(rows[1].ratio_to, sizeof rows[1].ratio_to, "LoRA r=8 bytes / X-PEFT");
    snprintf(rows[1].note, sizeof rows[1].note, "LoRA r=8 %lld B; X-PEFT hard %lld B (2 N bits)", (long long)lora_l1,
             (long long)xp1);
    return 2;
}

static int bench_serve(pb_env *env, pb_row *rows, int cap, prism_method meth) {
    static const int counts[] = {1, 8, 64, 512};
    int64_t d = env->quick ? 256 : 1024;
    return pb_xpeft_serve_rows(env, meth, d, d, 512, counts, 4, 64, rows, cap);
}
static int bench_serve_lora(pb_env *env, pb_row *rows, int cap) { return bench_serve(env, rows, cap, PRISM_METHOD_LORA); }
static int bench_serve_xpeft(pb_env *env, pb_row *rows, int cap) { return bench_serve(env, rows, cap, PRISM_METHOD_XPEFT); }

const pb_bench pb_benches_xpeft[] = {
    {"xpeft", "bank", bench_bank},
    {"xpeft", "step", bench_step},
    {"xpeft", "bytes", bench_bytes},
    {"xpeft", "serve_lora", bench_serve_lora},
    {"xpeft", "serve_xpeft", bench_serve_xpeft},
};
const int pb_nbenches_xpeft = (int)(sizeof pb_benches_xpeft / sizeof pb_benches_xpeft[0]);
