/* Bench rows: the subspace family.
 *
 *   subspace_decode   theta = theta0 + D z for D [N, r]. Minimum bytes = read
 *                     D + theta0, write theta (N (r + 2) floats); 2 N r flops.
 *                     Memory bound: the headline is GB/s against the copy
 *                     bandwidth measured in the same run.
 *   subspace_project  dz = D^T dtheta. Minimum bytes = read D + dtheta
 *                     (N (r + 1) floats); 2 N r flops.
 *   N = 1,105,920 (the paper's shared dimension: T5-base adapters, LoRA and
 *   prefix sized alike) at r = 4 (single task) and r = 64; quick 65,536.
 *
 *   subspace step     one training step's layer work (forward + backward with
 *                     dX) of the SUBSPACE adapter over a member, relative to
 *                     the member's own full-space step timed right before it
 *                     (median of 3 back-to-back pairs): the decode and the
 *                     projection are what the subspace adds (plus zeroing the
 *                     member's gradients); the optimizer then steps r values
 *                     instead of |theta|. LoRA r=8 and ETHER+ (one block per
 *                     side) on a 1024 x 1024 layer, T = 256 (quick 256 x 256,
 *                     T = 64), subspace ranks 4 and 64, a random decoder.
 *   decode+project    the added work alone (per member tensor: decode, zero
 *                     its gradient, project), timed on its own and divided by
 *                     the member's step: on a loaded CPU device the step
 *                     ratio above moves by more than this whole share. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench.h"
#include "prism/subspace.h"

/* ------------------------------------------------------------------ ops */

typedef struct op_bench {
    prism_tensor *d, *t0, *z, *th, *dz, *work;
    int64_t n, r;
} op_bench;

static void ob_destroy(op_bench *b) {
    prism_tensor *all[] = {b->d, b->t0, b->z, b->th, b->dz, b->work};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) prism_tensor_destroy(all[i]);
    memset(b, 0, sizeof *b);
}

static prism_status ob_make(pb_env *env, int64_t n, int64_t r, op_bench *b) {
    memset(b, 0, sizeof *b);
    b->n = n, b->r = r;
    int64_t sd[2] = {n, r}, nw = prism_subspace_project_workspace(env->ctx, n, r);
    prism_stream *s = NULL;
    prism_status st = prism_tensor_create(env->ctx, 2, sd, &b->d);
    if (!st) st = prism_tensor_create(env->ctx, 1, &n, &b->t0);
    if (!st) st = prism_tensor_create(env->ctx, 1, &n, &b->th);
    if (!st) st = prism_tensor_create(env->ctx, 1, &r, &b->z);
    if (!st) st = prism_tensor_create(env->ctx, 1, &r, &b->dz);
    if (!st && nw > 0) st = prism_tensor_create(env->ctx, 1, &nw, &b->work);
    if (!st) st = prism_stream_create(env->ctx, &s);
    /* every tensor written once (untouched memory reads the zero page on CPU devices) */
    if (!st) st = prism_rng_uniform(s, 1, 0, -1.0f, 1.0f, b->d);
    if (!st) st = prism_rng_uniform(s, 2, 0, -1.0f, 1.0f, b->t0);
    if (!st) st = prism_rng_uniform(s, 3, 0, -1.0f, 1.0f, b->z);
    if (!st) st = prism_fill(s, b->th, 0.0f);
    if (!st) st = prism_fill(s, b->dz, 0.0f);
    if (!st && b->work) st = prism_fill(s, b->work, 0.0f);
    if (!st) st = prism_stream_run(s);
    prism_stream_destroy(s);
    return st;
}

static prism_status rec_decode(prism_stream *s, void *arg) {
    op_bench *b = arg;
    return prism_subspace_decode(s, b->d, b->t0, b->z, b->th);
}

static prism_status rec_project(prism_stream *s, void *arg) {
    op_bench *b = arg;
    return prism_subspace_project(s, b->d, b->t0, 0.0f, b->dz, b->work);
}

static int bench_ops(pb_env *env, pb_row *rows, int cap) {
    const int64_t n = env->quick ? 65536 : 1105920, ranks[2] = {4, 64};
    int added = 0;
    for (int i = 0; i < 2 && added < cap; i++) {
        op_bench b;
        if (ob_make(env, n, ranks[i], &b) != PRISM_OK) {
            ob_destroy(&b);
            return added ? added : -1;
        }
        for (int proj = 0; proj < 2 && added < cap; proj++) {
            pb_row *r = &rows[added++];
            memset(r, 0, sizeof *r);
            snprintf(r->name, sizeof r->name, "%s r=%lld", proj ? "subspace_project" : "subspace_decode",
                     (long long)b.r);
            snprintf(r->shape, sizeof r->shape, "D [%lld, %lld]", (long long)b.n, (long long)b.r);
            double ms = pb_time(env, proj ? rec_project : rec_decode, &b);
            if (ms < 0) {
                snprintf(r->note, sizeof r->note, "failed: %s", prism_error_message(env->ctx));
                prism_clear_error(env->ctx);
                continue;
            }
            r->ms = ms;
            r->gflops = 2.0 * (double)(b.n * b.r) / (ms * 1e6);
            pb_set_bw(env, r, 4.0 * (double)(b.n * (b.r + (proj ? 1 : 2))));
            snprintf(r->note, sizeof r->note, "%s", proj ? "floor = read D + dtheta; partials + ordered sum"
                                                         : "floor = read D + theta0, write theta");
        }
        ob_destroy(&b);
    }
    return added;
}

/* ------------------------------------------------------------------ adapter step */

typedef struct step_arg {
    prism_adapter *ad;
    prism_tensor *X, *dY, *Y, *dX;
} step_arg;

static prism_status rec_step(prism_stream *s, void *p) {
    step_arg *a = p;
    prism_status st = prism_adapter_forward(s, a->ad, a->X, a->Y);
    if (!st) st = prism_adapter_backward(s, a->ad, a->X, a->dY, a->dX);
    return st;
}

/* What the subspace adds to a member's step, alone: per trainable tensor of
 * the member, decode into it, zero its gradient, project the gradient. */
typedef struct ovh_arg {
    int nt;
    prism_tensor *d[16], *t0[16], *th[16], *g[16];
    prism_tensor *z, *dz, *work;
} ovh_arg;

static prism_status rec_overhead(prism_stream *s, void *p) {
    ovh_arg *o = p;
    prism_status st = PRISM_OK;
    for (int i = 0; i < o->nt && !st; i++) st = prism_subspace_decode(s, o->d[i], o->t0[i], o->z, o->th[i]);
    for (int i = 0; i < o->nt && !st; i++) st = prism_fill(s, o->g[i], 0.0f);
    for (int i = 0; i < o->nt && !st; i++) st = prism_subspace_project(s, o->d[i], o->g[i], 1.0f, o->dz, o->work);
    return st;
}

static void ovh_free(ovh_arg *o) {
    for (int i = 0; i < 16; i++) {
        prism_tensor_destroy(o->d[i]);
        prism_tensor_destroy(o->t0[i]);
        prism_tensor_destroy(o->th[i]);
        prism_tensor_destroy(o->g[i]);
    }
    prism_tensor_destroy(o->z);
    prism_tensor_destroy(o->dz);
    prism_tensor_destroy(o->work);
    memset(o, 0, sizeof *o);
}

/* Tensors shaped like the member's trainable ones, a decoder per tensor. */
static prism_status ovh_make(prism_context *ctx, prism_adapter *member, int64_t rank, ovh_arg *o) {
    memset(o, 0, sizeof *o);
    const prism_param *p;
    int np = prism_adapter_params(member, &p);
    int64_t wmax = 1;
    prism_stream *s = NULL;
    prism_status st = prism_tensor_create(ctx, 1, &rank, &o->z);
    if (!st) st = prism_tensor_create(ctx, 1, &rank, &o->dz);
    if (!st) st = prism_stream_create(ctx, &s);
    for (int i = 0; i < np && !st && o->nt < 16; i++) {
        if (!p[i].trainable) continue;
        int64_t n = prism_tensor_numel(p[i].value), sd[2] = {n, rank};
        int k = o->nt++;
        st = prism_tensor_create(ctx, 2, sd, &o->d[k]);
        if (!st) st = prism_tensor_create(ctx, 1, &n, &o->t0[k]);
        if (!st) st = prism_tensor_create(ctx, 1, &n, &o->th[k]);
        if (!st) st = prism_tensor_create(ctx, 1, &n, &o->g[k]);
        if (!st) st = prism_rng_uniform(s, 20 + (uint64_t)k, 0, -0.01f, 0.01f, o->d[k]);
        if (!st) st = prism_rng_uniform(s, 40 + (uint64_t)k, 0, -1.0f, 1.0f, o->t0[k]);
        int64_t w = prism_subspace_project_workspace(ctx, n, rank);
        if (w > wmax) wmax = w;
    }
    if (!st) st = prism_tensor_create(ctx, 1, &wmax, &o->work);
    if (!st) st = prism_rng_uniform(s, 60, 0, -1.0f, 1.0f, o->z);
    if (!st) st = prism_fill(s, o->dz, 0.0f);
    if (!st) st = prism_stream_run(s);
    prism_stream_destroy(s);
    return st;
}

static double median(double *v, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* A one-layer subspace file for the member's trainable tensors (canonical
 * order) with theta0 = the member's init and a random decoder. */
static prism_status write_file(prism_adapter *member, int rank, const char *path, char *err, size_t len) {
    const prism_param *p;
    int np = prism_adapter_params(member, &p), idx[16], nt = 0;
    for (int i = 0; i < np && nt < 16; i++) {
        if (!p[i].trainable) continue;
        int k = nt++;
        while (k > 0 && strcmp(p[idx[k - 1]].name, p[i].name) > 0) idx[k] = idx[k - 1], k--;
        idx[k] = i;
    }
    prism_subspace_entry ent[16];
    int64_t n = 0;
    for (int k = 0; k < nt; k++) {
        const prism_tensor *v = p[idx[k]].value;
        ent[k] = (prism_subspace_entry){.module = "layer", .name = p[idx[k]].name, .ndim = prism_tensor_ndim(v),
                                        .numel = prism_tensor_numel(v), .offset = n};
        for (int d = 0; d < ent[k].ndim; d++) ent[k].shape[d] = prism_tensor_dim(v, d);
        n += ent[k].numel;
    }
    float *t0 = malloc(sizeof(float) * (size_t)n), *dec = malloc(sizeof(float) * (size_t)(n * rank));
    cJSON *cfg = cJSON_CreateObject();
    prism_status st = t0 && dec && cfg ? PRISM_OK : PRISM_ERR_OUT_OF_HOST_MEMORY;
    for (int k = 0; k < nt && !st; k++) st = prism_tensor_download(p[idx[k]].value, t0 + ent[k].offset, ent[k].numel);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int64_t i = 0; i < n * rank; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        dec[i] = ((float)(x >> 40) / (float)(1 << 24) - 0.5f) * 0.01f;
    }
    if (!st) st = prism_adapter_config_to_json(prism_adapter_get_config(member), cfg, err, len);
    prism_subspace_method_data md = {.method = prism_adapter_method(member), .config = cfg, .nentries = nt,
                                     .entries = ent, .theta0 = t0, .decoder = dec, .scale = 1.0};
    prism_subspace_desc d = {.rank = rank, .nmethods = 1, .methods = &md, .init = "bench", .normalize = "none"};
    if (!st) st = prism_subspace_write(path, &d, err, len);
    free(t0);
    free(dec);
    cJSON_Delete(cfg);
    return st;
}

typedef struct sub_case { const char *name; prism_method method; int r_member, blocks; } sub_case;

static int bench_step(pb_env *env, pb_row *rows, int cap) {
    static const sub_case CASES[] = {{"lora r=8", PRISM_METHOD_LORA, 8, 1}, {"ether+ n=1", PRISM_METHOD_ETHER_PLUS, 8, 1}};
    static const int RANKS[2] = {4, 64};
    const int64_t m = env->quick ? 256 : 1024, n = m, T = env->quick ? 64 : 256;
    prism_context *ctx = env->ctx;
    int64_t sw[2] = {m, n}, sx[2] = {T, n}, sy[2] = {T, m};
    prism_tensor *W0 = NULL, *X = NULL, *Y = NULL, *dY = NULL, *dX = NULL;
    prism_stream *s = NULL;
    int added = 0;
    char path[128], err[512];
    snprintf(path, sizeof path, "/tmp/prism_bench_subspace_%d.safetensors", (int)getpid());
    prism_status st = prism_tensor_create(ctx, 2, sw, &W0);
    if (!st) st = prism_tensor_create(ctx, 2, sx, &X);
    if (!st) st = prism_tensor_create(ctx, 2, sy, &Y);
    if (!st) st = prism_tensor_create(ctx, 2, sy, &dY);
    if (!st) st = prism_tensor_create(ctx, 2, sx, &dX);
    if (!st) st = prism_stream_create(ctx, &s);
    if (!st) st = prism_rng_uniform(s, 11, 0, -0.03f, 0.03f, W0);
    if (!st) st = prism_rng_uniform(s, 12, 0, -1.0f, 1.0f, X);
    if (!st) st = prism_rng_uniform(s, 13, 0, -1.0f, 1.0f, dY);
    if (!st) st = prism_stream_run(s);
    prism_stream_destroy(s);
    for (size_t c = 0; !st && c < sizeof CASES / sizeof CASES[0]; c++) {
        prism_adapter_config mc = prism_adapter_config_default(CASES[c].method);
        mc.r = CASES[c].r_member;
        mc.blocks = CASES[c].blocks;
        mc.seed = 1;
        step_arg full = {NULL, X, dY, Y, dX};
        if (prism_adapter_create(ctx, &mc, W0, NULL, &full.ad) != PRISM_OK) {
            prism_clear_error(ctx);
            continue;
        }
        for (int ri = 0; ri < 2 && added < cap; ri++) {
            pb_row *r = &rows[added++];
            memset(r, 0, sizeof *r);
            snprintf(r->name, sizeof r->name, "subspace r=%d via %s", RANKS[ri], CASES[c].name);
            snprintf(r->shape, sizeof r->shape, "%lldx%lld T=%lld", (long long)m, (long long)n, (long long)T);
            prism_subspace *sp = NULL;
            prism_subspace_model *mdl = NULL;
            step_arg sub = {NULL, X, dY, Y, dX};
            prism_subspace_ext ext;
            prism_adapter_config c2 = prism_adapter_config_default(PRISM_METHOD_SUBSPACE);
            c2.ext = &ext;
            if (write_file(full.ad, RANKS[ri], path, err, sizeof err) || prism_subspace_open(path, &sp, err, sizeof err) ||
                prism_subspace_model_create(ctx, sp, CASES[c].method, NULL, 1, &mdl) ||
                prism_subspace_model_ext(mdl, "layer", &ext) || prism_adapter_create(ctx, &c2, W0, NULL, &sub.ad)) {
                snprintf(r->note, sizeof r->note, "failed: %.80s", err[0] ? err : prism_error_message(ctx));
            } else {
                double fz[3], sb[3], ratio[3];
                int np = 0;
                for (; np < 3; np++) {
                    fz[np] = pb_time(env, rec_step, &full);
                    sb[np] = fz[np] > 0 ? pb_time(env, rec_step, &sub) : -1;
                    if (sb[np] <= 0) break;
                    ratio[np] = sb[np] / fz[np];
                }
                if (np == 3) {
                    double member = median(fz, 3);
                    r->ms = median(sb, 3);
                    r->ratio = median(ratio, 3);
                    snprintf(r->ratio_to, sizeof r->ratio_to, "%s full space", CASES[c].name);
                    snprintf(r->note, sizeof r->note, "member step %.4g ms; |theta| %lld, trains %d values", member,
                             (long long)prism_subspace_size(sp, CASES[c].method), RANKS[ri]);
                    /* the added work alone: robust where the step ratio drowns in noise */
                    ovh_arg ov;
                    memset(&ov, 0, sizeof ov);
                    if (added < cap && ovh_make(ctx, full.ad, RANKS[ri], &ov) == PRISM_OK) {
                        double ms = pb_time(env, rec_overhead, &ov);
                        pb_row *q = &rows[added++];
                        memset(q, 0, sizeof *q);
                        snprintf(q->name, sizeof q->name, "  decode+project r=%d (%s)", RANKS[ri], CASES[c].name);
                        snprintf(q->shape, sizeof q->shape, "%d tensors, %lld values", ov.nt,
                                 (long long)prism_subspace_size(sp, CASES[c].method));
                        if (ms > 0) {
                            q->ms = ms;
                            /* bytes: D read twice, theta0 and theta, the gradient zeroed and read */
                            pb_set_bw(env, q, 4.0 * (double)prism_subspace_size(sp, CASES[c].method) * (2.0 * RANKS[ri] + 4));
                            q->ratio = ms / member; /* the headline: share of the member's step */
                            snprintf(q->ratio_to, sizeof q->ratio_to, "%s step", CASES[c].name);
                            snprintf(q->note, sizeof q->note, "what the subspace adds per step (decode, zero, project)");
                        }
                    }
                    ovh_free(&ov);
                } else {
                    snprintf(r->note, sizeof r->note, "failed: %.80s", prism_error_message(ctx));
                }
            }
            prism_clear_error(ctx);
            err[0] = 0;
            prism_adapter_destroy(sub.ad);
            prism_subspace_model_destroy(mdl);
            prism_subspace_close(sp);
            unlink(path);
        }
        prism_adapter_destroy(full.ad);
    }
    prism_tensor *all[] = {W0, X, Y, dY, dX};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) prism_tensor_destroy(all[i]);
    return st && !added ? -1 : added;
}

const pb_bench pb_benches_subspace[] = {
    {"subspace", "subspace_decode / subspace_project", bench_ops},
    {"subspace", "subspace step vs member full space", bench_step},
};
const int pb_nbenches_subspace = (int)(sizeof pb_benches_subspace / sizeof pb_benches_subspace[0]);
