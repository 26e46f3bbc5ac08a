/* Check cases: hadamard_merge and hadamard_grad (the HUT / HiRA ops), device
 * vs float64 reference with guard regions after every output (and after the
 * dA workspace), plus finite differences of the reference gradient against
 * the reference merge.
 *
 * Tolerances (NMSE): merge 1e-10 (an r-term dot product per element, then
 * one multiply: error ~ r eps). grad max(1e-10, 2e-12 K) with K = max(m, n),
 * the longest fp32 sum (as gemm: the squared error grows about linearly in
 * the number of terms). FD: relative error 1e-7 (the loss is bilinear in
 * (A, B), so central differences are exact up to rounding). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "prism/hadamard.h"

enum { F_INPLACE = 1, F_NAN = 2, F_ONLY_A = 4, F_ONLY_B = 8 };

typedef struct hd_case {
    int64_t m, n, r;
    float s, beta;          /* beta: grad only */
    int flags;
    const char *env;        /* "NAME=value ..." set for the device run: PRISM_HADAMARD_MAX_BINDING
                               (split paths), PRISM_HD_CW / _TR / _RPL (the other devices' tilings) */
    int64_t view_off;       /* W0, G and A are views this many floats into larger tensors */
} hd_case;

typedef struct hd_inputs { float *w0, *g, *b, *a, *da0, *db0; } hd_inputs;

static void inputs_free(hd_inputs *in) {
    free(in->w0);
    free(in->g);
    free(in->b);
    free(in->a);
    free(in->da0);
    free(in->db0);
}

static bool inputs_make(const pc_env *env, const hd_case *c, hd_inputs *in) {
    int64_t mn = c->m * c->n, mr = c->m * c->r, rn = c->r * c->n;
    in->w0 = malloc(4 * (size_t)mn);
    in->g = malloc(4 * (size_t)mn);
    in->b = malloc(4 * (size_t)mr);
    in->a = malloc(4 * (size_t)rn);
    in->da0 = malloc(4 * (size_t)rn);
    in->db0 = malloc(4 * (size_t)mr);
    if (!in->w0 || !in->g || !in->b || !in->a || !in->da0 || !in->db0) return false;
    pc_random(env->seed + 21, in->w0, mn, -1.0f, 1.0f);
    pc_random(env->seed + 22, in->g, mn, -1.0f, 1.0f);
    pc_random(env->seed + 23, in->b, mr, -0.5f, 0.5f);
    pc_random(env->seed + 24, in->a, rn, -0.5f, 0.5f);
    pc_random(env->seed + 25, in->da0, rn, -1.0f, 1.0f);
    pc_random(env->seed + 26, in->db0, mr, -1.0f, 1.0f);
    if (c->flags & F_NAN) {
        for (int64_t i = 0; i < rn; i++) in->da0[i] = i % 2 ? NAN : INFINITY;
        for (int64_t i = 0; i < mr; i++) in->db0[i] = i % 2 ? NAN : -INFINITY;
    }
    return true;
}

/* ---------------------------------------------------------------- merge */

static double *merge_on(pc_result *r, prism_context *ctx, const hd_case *c, const hd_inputs *in, bool guard) {
    int64_t sw[2] = {c->m, c->n}, sb[2] = {c->m, c->r}, sa[2] = {c->r, c->n};
    prism_tensor *w0base = NULL, *abase = NULL, *wbase = NULL, *w = NULL;
    prism_tensor *w0 = pc_view_at(r, ctx, 2, sw, in->w0, c->view_off, &w0base);
    prism_tensor *b = pc_tensor(r, ctx, 2, sb, in->b), *a = pc_view_at(r, ctx, 2, sa, in->a, c->view_off, &abase);
    if (c->flags & F_INPLACE) w = w0;
    else w = guard ? pc_guarded(r, ctx, 2, sw, NULL, &wbase) : pc_tensor(r, ctx, 2, sw, NULL);
    prism_stream *s = NULL;
    double *out = NULL;
    if (w0 && b && a && w && prism_stream_create(ctx, &s) == PRISM_OK) {
        if (prism_hadamard_merge(s, w0, b, a, c->s, w) != PRISM_OK) pc_fail(r, "record: %s", prism_error_message(ctx));
        else if (pc_run(r, s)) out = pc_download(r, w);
        if (guard && wbase) pc_guard_ok(r, wbase, "W");
    }
    prism_stream_destroy(s);
    if (w != w0) prism_tensor_destroy(w);
    prism_tensor_destroy(wbase);
    prism_tensor_destroy(w0);
    prism_tensor_destroy(w0base);
    prism_tensor_destroy(b);
    prism_tensor_destroy(a);
    prism_tensor_destroy(abase);
    return out;
}

static void merge_device(const pc_env *env, const void *arg, pc_result *r) {
    const hd_case *c = arg;
    hd_inputs in = {0};
    double *dev = NULL, *ref = NULL;
    if (!inputs_make(env, c, &in)) {
        pc_fail(r, "out of host memory");
        goto done;
    }
    pc_saved_env saved;
    pc_env_push(c->env, &saved);
    dev = merge_on(r, env->dev, c, &in, c->m * c->n < ((int64_t)1 << 24));
    pc_env_pop(&saved);
    ref = merge_on(r, env->ref, c, &in, false);
    if (dev && ref) pc_compare(r, "W", dev, ref, c->m * c->n, 1e-10);
done:
    free(dev);
    free(ref);
    inputs_free(&in);
}

/* ---------------------------------------------------------------- grad */

typedef struct grad_out { double *da, *db; } grad_out;

static grad_out grad_on(pc_result *r, prism_context *ctx, const hd_case *c, const hd_inputs *in, bool guard) {
    grad_out res = {NULL, NULL};
    int64_t sw[2] = {c->m, c->n}, sb[2] = {c->m, c->r}, sa[2] = {c->r, c->n};
    bool want_a = !(c->flags & F_ONLY_B), want_b = !(c->flags & F_ONLY_A);
    prism_tensor *w0base = NULL, *gbase = NULL, *abase = NULL, *dabase = NULL, *dbbase = NULL, *wkbase = NULL;
    prism_tensor *w0 = pc_view_at(r, ctx, 2, sw, in->w0, c->view_off, &w0base);
    prism_tensor *g = pc_view_at(r, ctx, 2, sw, in->g, c->view_off, &gbase);
    prism_tensor *b = pc_tensor(r, ctx, 2, sb, in->b), *a = pc_view_at(r, ctx, 2, sa, in->a, c->view_off, &abase);
    prism_tensor *da = NULL, *db = NULL, *work = NULL;
    if (want_a) da = guard ? pc_guarded(r, ctx, 2, sa, in->da0, &dabase) : pc_tensor(r, ctx, 2, sa, in->da0);
    if (want_b) db = guard ? pc_guarded(r, ctx, 2, sb, in->db0, &dbbase) : pc_tensor(r, ctx, 2, sb, in->db0);
    int64_t nwork = want_a ? prism_hadamard_grad_workspace(ctx, c->m, c->n, c->r) : 0;
    if (nwork > 0) {
        int64_t ws[2] = {1, nwork};
        work = guard ? pc_guarded(r, ctx, 2, ws, NULL, &wkbase) : pc_tensor(r, ctx, 2, ws, NULL);
    }
    prism_stream *s = NULL;
    if (w0 && g && b && a && (da || !want_a) && (db || !want_b) && (work || nwork == 0) &&
        prism_stream_create(ctx, &s) == PRISM_OK) {
        if (prism_hadamard_grad(s, w0, g, b, a, c->s, c->beta, da, db, work) != PRISM_OK) {
            pc_fail(r, "record: %s", prism_error_message(ctx));
        } else if (pc_run(r, s)) {
            if (da) res.da = pc_download(r, da);
            if (db) res.db = pc_download(r, db);
        }
        if (guard) {
            if (dabase) pc_guard_ok(r, dabase, "dA");
            if (dbbase) pc_guard_ok(r, dbbase, "dB");
            if (wkbase) pc_guard_ok(r, wkbase, "workspace");
        }
    }
    prism_stream_destroy(s);
    PC_DESTROY(w0, w0base, g, gbase, b, a, abase, da, dabase, db, dbbase, work, wkbase);
    return res;
}

static void grad_device(const pc_env *env, const void *arg, pc_result *r) {
    const hd_case *c = arg;
    hd_inputs in = {0};
    grad_out dev = {NULL, NULL}, ref = {NULL, NULL};
    if (!inputs_make(env, c, &in)) {
        pc_fail(r, "out of host memory");
        goto done;
    }
    pc_saved_env saved;
    pc_env_push(c->env, &saved);
    dev = grad_on(r, env->dev, c, &in, true);
    pc_env_pop(&saved);
    ref = grad_on(r, env->ref, c, &in, false);
    double tol = fmax(1e-10, 2e-12 * (double)(c->m > c->n ? c->m : c->n));
    if (!(c->flags & F_ONLY_B) && (dev.da || ref.da)) pc_compare(r, "dA", dev.da, ref.da, c->r * c->n, tol);
    if (!(c->flags & F_ONLY_A) && (dev.db || ref.db)) pc_compare(r, "dB", dev.db, ref.db, c->m * c->r, tol);
done:
    free(dev.da);
    free(dev.db);
    free(ref.da);
    free(ref.db);
    inputs_free(&in);
}

/* ---------------------------------------------------------------- finite differences
 * L(A, B) = sum(R (.) merge(W0, B, A)) on the reference; its gradients are
 * hadamard_grad with G = R. Every entry of A and B is perturbed. */
static bool loss_at(pc_result *r, prism_stream *fwd, prism_tensor *w, const double *rr, int64_t mn, double *out) {
    double *wv = NULL;
    if (!pc_run(r, fwd) || !(wv = pc_download(r, w))) return false;
    double l = 0;
    for (int64_t i = 0; i < mn; i++) l += rr[i] * wv[i];
    free(wv);
    *out = l;
    return true;
}

static void grad_fd(const pc_env *env, const void *arg, pc_result *r) {
    const hd_case *c = arg;
    prism_context *ctx = env->ref;
    int64_t m = c->m, n = c->n, k = c->r, mn = m * n, sw[2] = {m, n}, sb[2] = {m, k}, sa[2] = {k, n};
    hd_inputs in = {0};
    prism_tensor *w0 = NULL, *g = NULL, *b = NULL, *a = NULL, *w = NULL, *da = NULL, *db = NULL;
    prism_stream *fwd = NULL, *bwd = NULL;
    double *rr = NULL, *ad = NULL, *bd = NULL, *na = NULL, *nb = NULL, *ga = NULL, *gb = NULL;
    if (!inputs_make(env, c, &in)) goto oom;
    rr = malloc(8 * (size_t)mn), ad = malloc(8 * (size_t)(k * n)), bd = malloc(8 * (size_t)(m * k));
    na = malloc(8 * (size_t)(k * n)), nb = malloc(8 * (size_t)(m * k));
    if (!rr || !ad || !bd || !na || !nb) goto oom;
    for (int64_t i = 0; i < mn; i++) rr[i] = in.g[i];
    for (int64_t i = 0; i < k * n; i++) ad[i] = in.a[i];
    for (int64_t i = 0; i < m * k; i++) bd[i] = in.b[i];
    w0 = pc_tensor(r, ctx, 2, sw, in.w0), g = pc_tensor(r, ctx, 2, sw, in.g), b = pc_tensor(r, ctx, 2, sb, in.b);
    a = pc_tensor(r, ctx, 2, sa, in.a), w = pc_tensor(r, ctx, 2, sw, NULL);
    da = pc_tensor(r, ctx, 2, sa, NULL), db = pc_tensor(r, ctx, 2, sb, NULL);
    if (!w0 || !g || !b || !a || !w || !da || !db) goto done;
    if (prism_stream_create(ctx, &fwd) || prism_stream_create(ctx, &bwd) ||
        prism_hadamard_merge(fwd, w0, b, a, c->s, w) ||
        prism_hadamard_grad(bwd, w0, g, b, a, c->s, 0.0f, da, db, NULL)) {
        pc_fail(r, "record: %s", prism_error_message(ctx));
        goto done;
    }
    if (!pc_run(r, bwd) || !(ga = pc_download(r, da)) || !(gb = pc_download(r, db))) goto done;
    const double h = 1e-5;
    for (int which = 0; which < 2; which++) {
        double *x = which ? bd : ad, *num = which ? nb : na;
        prism_tensor *t = which ? b : a;
        int64_t cnt = which ? m * k : k * n;
        for (int64_t i = 0; i < cnt; i++) {
            double f[2], x0 = x[i];
            for (int sgn = 0; sgn < 2; sgn++) {
                x[i] = x0 + (sgn ? -h : h);
                if (prism_tensor_upload_f64(t, x, cnt) || !loss_at(r, fwd, w, rr, mn, &f[sgn])) {
                    pc_fail(r, "fd run: %s", prism_error_message(ctx));
                    goto done;
                }
            }
            x[i] = x0;
            num[i] = (f[0] - f[1]) / (2 * h);
        }
        if (prism_tensor_upload_f64(t, x, cnt)) goto done;
    }
    pc_compare_fd(r, "dA", ga, na, k * n, 1e-7);
    pc_compare_fd(r, "dB", gb, nb, m * k, 1e-7);
    goto done;
oom:
    pc_fail(r, "out of host memory");
done:
    prism_stream_destroy(fwd);
    prism_stream_destroy(bwd);
    PC_DESTROY(w0, g, b, a, w, da, db);
    free(rr), free(ad), free(bd), free(na), free(nb), free(ga), free(gb);
    inputs_free(&in);
}

/* {m, n, r, s, beta, flags, env, view_off} */
static const hd_case m_1 = {1, 1, 1, 1.0f, 0, 0, NULL, 0}, m_7 = {7, 5, 3, 1.0f, 0, 0, NULL, 0},
                     m_784 = {784, 256, 8, 1.0f, 0, 0, NULL, 0}, m_33 = {33, 1000, 4, 0.5f, 0, 0, NULL, 0},
                     m_r17 = {40, 36, 17, -1.5f, 0, 0, NULL, 0}, m_r32 = {65, 64, 32, 1.0f, 0, 0, NULL, 0},
                     m_inplace = {37, 44, 5, 2.0f, 0, F_INPLACE, NULL, 0},
                     m_view = {31, 48, 6, 1.0f, 0, 0, NULL, 1}, /* n % 4 == 0 but misaligned: scalar path */
                     m_split = {300, 40, 8, 1.0f, 0, 0, "PRISM_HADAMARD_MAX_BINDING=1000", 0},
                     m_split_odd = {201, 33, 3, 0.75f, 0, 0, "PRISM_HADAMARD_MAX_BINDING=400", 0},
                     m_huge = {8200, 4100, 2, 1.0f, 0, 0, NULL, 0};
static const hd_case g_1 = {1, 1, 1, 1.0f, 0.0f, 0, NULL, 0}, g_7 = {7, 5, 3, 1.0f, 1.0f, 0, NULL, 0},
                     g_784 = {784, 256, 8, 1.0f, 1.0f, 0, NULL, 0}, g_33 = {33, 1000, 4, 0.5f, 0.0f, F_NAN, NULL, 0},
                     g_r17 = {100, 36, 17, -1.5f, 0.5f, 0, NULL, 0}, g_r32 = {65, 64, 32, 1.0f, 0.0f, F_NAN, NULL, 0},
                     g_only_a = {70, 12, 8, 1.0f, 1.0f, F_ONLY_A, NULL, 0},
                     g_only_b = {70, 12, 8, 1.0f, 1.0f, F_ONLY_B, NULL, 0},
                     g_view = {129, 48, 6, 1.0f, 0.0f, F_NAN, NULL, 1},
                     g_split = {300, 40, 8, 1.0f, 1.0f, 0, "PRISM_HADAMARD_MAX_BINDING=4000", 0},      /* partials, several dispatches */
                     g_split_direct = {300, 40, 8, 2.0f, 0.0f, F_NAN, "PRISM_HADAMARD_MAX_BINDING=1000", 0}, /* partials do not fit: direct */
                     g_tall = {3000, 7, 2, 1.0f, 1.0f, 0, NULL, 0};
/* the tilings other devices get by default (GPUs: CW 1, RPL 1) and odd ones */
static const hd_case m_cw1 = {45, 52, 8, 1.0f, 0, 0, "PRISM_HD_CW=1 PRISM_HD_TR=8", 0},
                     m_cw4 = {45, 52, 6, 1.0f, 0, 0, "PRISM_HD_CW=4 PRISM_HD_TR=3", 0},
                     m_cw3_r20 = {29, 50, 20, 0.5f, 0, 0, "PRISM_HD_CW=3 PRISM_HD_TR=2", 0},
                     g_gpu = {150, 52, 8, 1.0f, 1.0f, 0, "PRISM_HD_CW=1 PRISM_HD_RPL=1", 0},
                     g_odd = {151, 50, 20, 0.5f, 0.0f, F_NAN, "PRISM_HD_CW=3 PRISM_HD_RPL=2", 0};
static const hd_case fd_small = {5, 7, 3, 0.7f, 0, 0, NULL, 0}, fd_r1 = {4, 3, 1, 1.0f, 0, 0, NULL, 0};

const pc_case pc_cases_hadamard[] = {
    {"hadamard_merge", "[1, 1] r 1", "device", merge_device, &m_1},
    {"hadamard_merge", "[7, 5] r 3", "device", merge_device, &m_7},
    {"hadamard_merge", "[784, 256] r 8", "device", merge_device, &m_784},
    {"hadamard_merge", "[33, 1000] r 4 s 0.5", "device", merge_device, &m_33},
    {"hadamard_merge", "[40, 36] r 17 s -1.5 (two rank blocks)", "device", merge_device, &m_r17},
    {"hadamard_merge", "[65, 64] r 32 (HiRA default rank)", "device", merge_device, &m_r32},
    {"hadamard_merge", "[37, 44] r 5 in place (W = W0)", "device", merge_device, &m_inplace},
    {"hadamard_merge", "[31, 48] r 6 misaligned views", "device", merge_device, &m_view},
    {"hadamard_merge", "[300, 40] r 8 split (binding 1000)", "device", merge_device, &m_split},
    {"hadamard_merge", "[201, 33] r 3 split (binding 400)", "device", merge_device, &m_split_odd},
    {"hadamard_merge", "[8200, 4100] r 2 (> 128 MiB binding)", "device", merge_device, &m_huge},
    {"hadamard_merge", "[45, 52] r 8, 1 column group x 8 rows", "device", merge_device, &m_cw1},
    {"hadamard_merge", "[45, 52] r 6, 4 column groups x 3 rows", "device", merge_device, &m_cw4},
    {"hadamard_merge", "[29, 50] r 20, 3 column groups x 2 rows", "device", merge_device, &m_cw3_r20},
    {"hadamard_grad", "[1, 1] r 1", "device", grad_device, &g_1},
    {"hadamard_grad", "[7, 5] r 3 beta 1", "device", grad_device, &g_7},
    {"hadamard_grad", "[784, 256] r 8 beta 1", "device", grad_device, &g_784},
    {"hadamard_grad", "[33, 1000] r 4 beta 0 over NaN", "device", grad_device, &g_33},
    {"hadamard_grad", "[100, 36] r 17 beta 0.5", "device", grad_device, &g_r17},
    {"hadamard_grad", "[65, 64] r 32 beta 0 over NaN", "device", grad_device, &g_r32},
    {"hadamard_grad", "[70, 12] r 8 dA only", "device", grad_device, &g_only_a},
    {"hadamard_grad", "[70, 12] r 8 dB only", "device", grad_device, &g_only_b},
    {"hadamard_grad", "[129, 48] r 6 misaligned views", "device", grad_device, &g_view},
    {"hadamard_grad", "[300, 40] r 8 split (binding 4000)", "device", grad_device, &g_split},
    {"hadamard_grad", "[300, 40] r 8 split, direct dA (binding 1000)", "device", grad_device, &g_split_direct},
    {"hadamard_grad", "[3000, 7] r 2 beta 1", "device", grad_device, &g_tall},
    {"hadamard_grad", "[150, 52] r 8, GPU tiling (1 column group, 1 row per segment)", "device", grad_device, &g_gpu},
    {"hadamard_grad", "[151, 50] r 20, 3 column groups, 2 rows per segment", "device", grad_device, &g_odd},
    {"hadamard_grad", "[5, 7] r 3 s 0.7", "fd", grad_fd, &fd_small},
    {"hadamard_grad", "[4, 3] r 1", "fd", grad_fd, &fd_r1},
};
const int pc_ncases_hadamard = (int)(sizeof pc_cases_hadamard / sizeof pc_cases_hadamard[0]);
