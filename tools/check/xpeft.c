/* Check cases of the xpeft family (include/prism/xpeft.h) and of the
 * multi-profile ops and forward (include/prism/profiles.h).
 *
 *   xpeft_mask, xpeft_mask_backward, xpeft_bank_sum, xpeft_bank_grad,
 *   multi_matvec, multi_reflect      device vs float64 reference, random
 *       non-zero inputs (ties on purpose for hard masks, accumulate modes,
 *       invalid profile ids), guard regions after outputs. NMSE <= 1e-10:
 *       sums of at most ~1000 fp32 products, ~1e-13 expected; hard masks and
 *       STE gradients are exact.
 *   fd rows (reference, float64, h = 1e-6, relative error <= 1e-6):
 *       L(s) = <softmax(s), R> through xpeft_mask_backward, and
 *       L(s) = <Σ_i softmax(s)_i bank_i, R> through xpeft_bank_grad then
 *       xpeft_mask_backward (the chain the adapter uses).
 *   adapter_xpeft variants and forward_multi_<method>: tools/check/xpeft_util.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "xpeft_util.h"

/* ------------------------------------------------------------------ op cases */

typedef enum { K_MASK, K_MBWD, K_SUM, K_GRAD, K_MV, K_RF } opk;
enum { F_HARD = 1, F_ACC = 2, F_TIES = 4, F_BIAS = 8, F_PLUS = 16, F_BADID = 32 };
typedef struct xc {
    opk op;
    int64_t a, b, c, d; /* mask: rows, N; bank: P, N, D; mv: P, R, C, T; rf: P, nb, bw, T */
    int flags, k;
} xc;

/* Inputs and output of one op, as shapes and host data. */
typedef struct opio {
    int nin;
    int nd[6];
    int64_t sh[6][3];
    float *in[6];
    int ond;
    int64_t osh[3];
    float *out0; /* initial output (accumulate), or NULL */
} opio;

static int64_t numel(int nd, const int64_t *s) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= s[i];
    return n;
}

static void add_in(opio *o, int nd, int64_t s0, int64_t s1, int64_t s2) {
    o->nd[o->nin] = nd;
    o->sh[o->nin][0] = s0, o->sh[o->nin][1] = s1, o->sh[o->nin][2] = s2;
    o->in[o->nin] = malloc(sizeof(float) * (size_t)numel(nd, o->sh[o->nin]));
    o->nin++;
}

static void io_free(opio *o) {
    for (int i = 0; i < o->nin; i++) free(o->in[i]);
    free(o->out0);
}


/* Host inputs of case c. false: out of memory. */
static bool make_io(const xc *c, uint64_t seed, opio *o) {
    memset(o, 0, sizeof *o);
    int64_t a = c->a, b = c->b, cc = c->c, d = c->d;
    switch (c->op) {
    case K_MASK:
        add_in(o, 2, a, b, 0);
        o->ond = 2, o->osh[0] = a, o->osh[1] = b;
        break;
    case K_MBWD: /* w (a softmax or hard mask), dw */
        add_in(o, 2, a, b, 0);
        add_in(o, 2, a, b, 0);
        o->ond = 2, o->osh[0] = a, o->osh[1] = b;
        break;
    case K_SUM: /* w [P, N], bank [N, D] -> out [P, D] */
        add_in(o, 2, a, b, 0);
        add_in(o, 2, b, cc, 0);
        o->ond = 2, o->osh[0] = a, o->osh[1] = cc;
        break;
    case K_GRAD: /* bank [N, D], d_eff [P, D] -> dw [P, N] */
        add_in(o, 2, b, cc, 0);
        add_in(o, 2, a, cc, 0);
        o->ond = 2, o->osh[0] = a, o->osh[1] = b;
        break;
    case K_MV: /* M [P, C, R], x [T, C], ids [T], bias [R] -> y [T, R] */
        add_in(o, 3, a, cc, b);
        add_in(o, 2, d, cc, 0);
        add_in(o, 1, d, 0, 0);
        if (c->flags & F_BIAS) add_in(o, 1, b, 0, 0);
        o->ond = 2, o->osh[0] = d, o->osh[1] = b;
        break;
    case K_RF: /* x [T, d], ids, u [P, nb, bw], v, bias -> y [T, d] */
        add_in(o, 2, d, b * cc, 0);
        add_in(o, 1, d, 0, 0);
        add_in(o, 3, a, b, cc);
        if (c->flags & F_PLUS) add_in(o, 3, a, b, cc);
        if (c->flags & F_BIAS) add_in(o, 1, b * cc, 0, 0);
        o->ond = 2, o->osh[0] = d, o->osh[1] = b * cc;
        break;
    }
    for (int i = 0; i < o->nin; i++)
        if (!o->in[i]) return false;
    for (int i = 0; i < o->nin; i++) pc_random(seed + 31 * (uint64_t)i, o->in[i], numel(o->nd[i], o->sh[i]), -1, 1);
    if (c->op == K_MASK && (c->flags & F_TIES)) /* few distinct values: many ties */
        for (int64_t i = 0; i < a * b; i++) o->in[0][i] = roundf(o->in[0][i] * 2.0f) * 0.5f;
    if (c->op == K_MV) pcx_random_ids(seed + 5, o->in[2], d, a, c->flags & F_BADID);
    if (c->op == K_RF) {
        pcx_random_ids(seed + 5, o->in[1], d, a, c->flags & F_BADID);
        for (int v = 2; v < ((c->flags & F_PLUS) ? 4 : 3); v++) /* unit vectors per block */
            for (int64_t blk = 0; blk < a * b; blk++) {
                float *u = o->in[v] + blk * cc;
                double s = 0;
                for (int64_t j = 0; j < cc; j++) s += (double)u[j] * u[j];
                for (int64_t j = 0; j < cc; j++) u[j] = (float)(u[j] / sqrt(s));
            }
    }
    if (c->flags & F_ACC) {
        int64_t n = numel(o->ond, o->osh);
        if (!(o->out0 = malloc(sizeof(float) * (size_t)n))) return false;
        pc_random(seed + 77, o->out0, n, -1, 1);
    }
    return true;
}

static prism_status apply(prism_stream *s, const xc *c, prism_tensor **t, prism_tensor *y) {
    prism_mask_kind kind = (c->flags & F_HARD) ? PRISM_MASK_HARD : PRISM_MASK_SOFT;
    int acc = (c->flags & F_ACC) != 0;
    switch (c->op) {
    case K_MASK: return prism_xpeft_mask(s, kind, c->k, t[0], y);
    case K_MBWD: return prism_xpeft_mask_backward(s, kind, t[0], t[1], acc, y);
    case K_SUM: return prism_xpeft_bank_sum(s, t[0], t[1], y);
    case K_GRAD: return prism_xpeft_bank_grad(s, t[0], t[1], acc, y);
    case K_MV: return prism_multi_matvec(s, t[0], t[1], t[2], (c->flags & F_BIAS) ? t[3] : NULL, acc, y);
    case K_RF: {
        int i = 3;
        prism_tensor *v = (c->flags & F_PLUS) ? t[i++] : NULL, *bias = (c->flags & F_BIAS) ? t[i] : NULL;
        return prism_multi_reflect(s, t[0], t[1], t[2], v, bias, y);
    }
    }
    return PRISM_ERR_INVALID_ARGUMENT;
}

/* Runs case c on ctx; the output as doubles (malloc'd) or NULL. */
static double *run_io(pc_result *r, prism_context *ctx, const xc *c, const opio *o, bool guard) {
    prism_tensor *t[6] = {0}, *y = NULL, *base = NULL;
    prism_stream *s = NULL;
    double *out = NULL;
    for (int i = 0; i < o->nin; i++)
        if (!(t[i] = pc_tensor(r, ctx, o->nd[i], o->sh[i], o->in[i]))) goto done;
    y = guard ? pc_guarded(r, ctx, o->ond, o->osh, o->out0, &base) : pc_tensor(r, ctx, o->ond, o->osh, o->out0);
    if (!y || prism_stream_create(ctx, &s)) goto done;
    if (apply(s, c, t, y)) {
        pc_fail(r, "record: %s", prism_error_message(ctx));
        goto done;
    }
    if (!pc_run(r, s)) goto done;
    if (guard && !pc_guard_ok(r, base, "output")) goto done;
    out = pc_download(r, y);
done:
    prism_stream_destroy(s);
    for (int i = 0; i < 6; i++) prism_tensor_destroy(t[i]);
    prism_tensor_destroy(y);
    prism_tensor_destroy(base);
    return out;
}

/* Rows with an invalid profile id must be NaN on both sides; they are then
 * zeroed so pc_compare checks the rest. */
static void nan_rows(pc_result *r, const xc *c, const opio *o, double *dev, double *ref) {
    const float *ids = o->in[c->op == K_MV ? 2 : 1];
    int64_t cols = o->osh[1];
    for (int64_t t = 0; t < c->d; t++) {
        bool bad = !(ids[t] >= 0 && ids[t] < (float)c->a && ids[t] == floorf(ids[t]));
        for (int64_t j = 0; bad && j < cols; j++) {
            if (!isnan(dev[t * cols + j]) || !isnan(ref[t * cols + j]))
                pc_fail(r, "row %lld (id %g) is not NaN (device %g, reference %g)", (long long)t, ids[t],
                        dev[t * cols + j], ref[t * cols + j]);
            dev[t * cols + j] = ref[t * cols + j] = 0;
        }
    }
}

static void op_device(const pc_env *env, const void *arg, pc_result *r) {
    const xc *c = arg;
    opio o;
    double *dev = NULL, *ref = NULL;
    if (!make_io(c, env->seed, &o)) {
        pc_fail(r, "out of host memory");
        goto done;
    }
    if (c->op == K_MBWD) { /* a real mask as w */
        for (int64_t i = 0; i < c->a; i++) {
            float *w = o.in[0] + i * c->b;
            double s = 0;
            for (int64_t j = 0; j < c->b; j++) s += (w[j] = (c->flags & F_HARD) ? (j % 3 == 0) : expf(w[j]));
            for (int64_t j = 0; !(c->flags & F_HARD) && j < c->b; j++) w[j] = (float)(w[j] / s);
        }
    }
    dev = run_io(r, env->dev, c, &o, true);
    ref = run_io(r, env->ref, c, &o, false);
    if (!dev || !ref) goto done;
    if (c->flags & F_BADID) nan_rows(r, c, &o, dev, ref);
    pc_compare(r, "out", dev, ref, numel(o.ond, o.osh), 1e-10);
done:
    free(dev);
    free(ref);
    io_free(&o);
}

/* ------------------------------------------------------------------ fd on the ops */

typedef struct fdc {
    int64_t P, N, D; /* D = 0: L = <softmax(s), R> */
} fdc;

/* L(s) and (when grad) ∂L/∂s on the reference. */
static bool fd_eval(pc_result *r, prism_context *ref, const fdc *c, const double *s, const float *bank,
                    const float *R, double *L, double *grad) {
    int64_t ls[2] = {c->P, c->N}, bs[2] = {c->N, c->D ? c->D : 1}, es[2] = {c->P, c->D ? c->D : c->N};
    prism_tensor *ts = pc_tensor(r, ref, 2, ls, NULL), *w = pc_tensor(r, ref, 2, ls, NULL),
                 *tb = c->D ? pc_tensor(r, ref, 2, bs, bank) : NULL, *tR = pc_tensor(r, ref, 2, es, R),
                 *eff = c->D ? pc_tensor(r, ref, 2, es, NULL) : NULL, *dw = c->D ? pc_tensor(r, ref, 2, ls, NULL) : NULL,
                 *ds = pc_tensor(r, ref, 2, ls, NULL);
    prism_stream *st = NULL;
    bool ok = false;
    double *y = NULL, *g = NULL;
    if (!ts || !w || !tR || !ds || (c->D && (!tb || !eff || !dw)) || prism_stream_create(ref, &st)) goto done;
    if (prism_tensor_upload_f64(ts, s, c->P * c->N)) goto done; /* exact doubles on the reference */
    prism_status e = prism_xpeft_mask(st, PRISM_MASK_SOFT, 0, ts, w);
    if (!e && c->D) e = prism_xpeft_bank_sum(st, w, tb, eff);
    if (!e && c->D) e = prism_xpeft_bank_grad(st, tb, tR, 0, dw);
    if (!e) e = prism_xpeft_mask_backward(st, PRISM_MASK_SOFT, w, c->D ? dw : tR, 0, ds);
    if (e) {
        pc_fail(r, "record: %s", prism_error_message(ref));
        goto done;
    }
    if (!pc_run(r, st) || !(y = pc_download(r, c->D ? eff : w)) || !(g = pc_download(r, ds))) goto done;
    int64_t ne = c->P * (c->D ? c->D : c->N);
    *L = 0;
    for (int64_t i = 0; i < ne; i++) *L += y[i] * R[i];
    if (grad) memcpy(grad, g, sizeof(double) * (size_t)(c->P * c->N));
    ok = true;
done:
    free(y);
    free(g);
    prism_stream_destroy(st);
    PC_DESTROY(ts, w, tb, tR, eff, dw, ds);
    return ok;
}

static void op_fd(const pc_env *env, const void *arg, pc_result *r) {
    const fdc *c = arg;
    int64_t ns = c->P * c->N, ne = c->P * (c->D ? c->D : c->N);
    float *sf = malloc(sizeof(float) * (size_t)ns), *bank = malloc(sizeof(float) * (size_t)(c->N * (c->D + 1))),
          *R = malloc(sizeof(float) * (size_t)ne);
    double *s = malloc(sizeof(double) * (size_t)ns), *ana = malloc(sizeof(double) * (size_t)ns),
           *num = malloc(sizeof(double) * (size_t)ns), L0;
    if (!sf || !s || !bank || !R || !ana || !num) {
        pc_fail(r, "out of host memory");
        goto done;
    }
    pc_random(env->seed + 1, sf, ns, -2, 2);
    for (int64_t i = 0; i < ns; i++) s[i] = sf[i];
    pc_random(env->seed + 2, bank, c->N * (c->D + 1), -1, 1);
    pc_random(env->seed + 3, R, ne, -1, 1);
    if (!fd_eval(r, env->ref, c, s, bank, R, &L0, ana)) goto done;
    for (int64_t i = 0; i < ns; i++) {
        double o = s[i], lp, lm;
        s[i] = o + 1e-6;
        bool ok = fd_eval(r, env->ref, c, s, bank, R, &lp, NULL);
        s[i] = o - 1e-6;
        ok = ok && fd_eval(r, env->ref, c, s, bank, R, &lm, NULL);
        s[i] = o;
        if (!ok) goto done;
        num[i] = (lp - lm) / 2e-6;
    }
    pc_compare_fd(r, "ds", ana, num, ns, 1e-6);
done:
    free(sf);
    free(s);
    free(bank);
    free(R);
    free(ana);
    free(num);
}

/* ------------------------------------------------------------------ table: ops */

#define X(name, ...) static const xc name = {__VA_ARGS__};
X(m_s11, K_MASK, 1, 1, 0, 0, 0, 0) X(m_s17, K_MASK, 1, 7, 0, 0, 0, 0) X(m_s364, K_MASK, 3, 64, 0, 0, 0, 0)
X(m_s1000, K_MASK, 5, 1000, 0, 0, 0, 0) X(m_h11, K_MASK, 1, 1, 0, 0, F_HARD, 1) X(m_h17, K_MASK, 1, 7, 0, 0, F_HARD, 2)
X(m_h364, K_MASK, 3, 64, 0, 0, F_HARD, 16) X(m_h1000, K_MASK, 5, 1000, 0, 0, F_HARD, 250)
X(m_hties, K_MASK, 6, 33, 0, 0, F_HARD | F_TIES, 9) X(m_hall, K_MASK, 2, 9, 0, 0, F_HARD, 9)
X(b_s, K_MBWD, 3, 64, 0, 0, 0, 0) X(b_sacc, K_MBWD, 5, 7, 0, 0, F_ACC, 0) X(b_s1, K_MBWD, 1, 1, 0, 0, 0, 0)
X(b_s1000, K_MBWD, 2, 1000, 0, 0, F_ACC, 0) X(b_h, K_MBWD, 3, 64, 0, 0, F_HARD, 0)
X(b_hacc, K_MBWD, 4, 9, 0, 0, F_HARD | F_ACC, 0)
X(s_111, K_SUM, 1, 1, 1, 0, 0, 0) X(s_1421, K_SUM, 1, 4, 21, 0, 0, 0) X(s_37, K_SUM, 3, 7, 100, 0, 0, 0)
X(s_964, K_SUM, 9, 64, 515, 0, 0, 0) X(s_175, K_SUM, 17, 5, 33, 0, 0, 0)
X(g_111, K_GRAD, 1, 1, 1, 0, 0, 0) X(g_1421, K_GRAD, 1, 4, 21, 0, F_ACC, 0) X(g_37, K_GRAD, 3, 7, 100, 0, 0, 0)
X(g_964, K_GRAD, 2, 64, 4100, 0, 0, 0) X(g_175, K_GRAD, 17, 5, 33, 0, F_ACC, 0)
X(v_1, K_MV, 1, 1, 1, 1, 0, 0) X(v_a, K_MV, 3, 8, 100, 7, 0, 0) X(v_b, K_MV, 5, 33, 8, 20, F_ACC | F_BIAS, 0)
X(v_c, K_MV, 64, 8, 1000, 40, F_BADID, 0) X(v_d, K_MV, 7, 1, 3000, 9, F_BIAS, 0)
X(r_1, K_RF, 1, 1, 1, 1, F_PLUS, 0) X(r_a, K_RF, 4, 1, 100, 9, 0, 0) X(r_b, K_RF, 3, 4, 7, 10, F_PLUS | F_BIAS, 0)
X(r_c, K_RF, 16, 32, 4, 33, F_BADID, 0) X(r_d, K_RF, 5, 2, 700, 6, F_PLUS | F_BADID, 0)
#undef X
static const fdc fdc_mask = {3, 7, 0}, fdc_chain = {2, 5, 11}, fdc_one = {1, 1, 3};

#define D(op, shape, arg) {op, shape, "device", op_device, &arg},
const pc_case pc_cases_xpeft[] = {
    D("xpeft_mask", "[1, 1] soft", m_s11) D("xpeft_mask", "[1, 7] soft", m_s17) D("xpeft_mask", "[3, 64] soft", m_s364)
    D("xpeft_mask", "[5, 1000] soft", m_s1000) D("xpeft_mask", "[1, 1] hard k=1", m_h11)
    D("xpeft_mask", "[1, 7] hard k=2", m_h17) D("xpeft_mask", "[3, 64] hard k=16", m_h364)
    D("xpeft_mask", "[5, 1000] hard k=250", m_h1000) D("xpeft_mask", "[6, 33] hard k=9, many ties", m_hties)
    D("xpeft_mask", "[2, 9] hard k=N", m_hall)
    D("xpeft_mask_backward", "[3, 64] soft", b_s) D("xpeft_mask_backward", "[5, 7] soft accumulate", b_sacc)
    D("xpeft_mask_backward", "[1, 1] soft", b_s1) D("xpeft_mask_backward", "[2, 1000] soft accumulate", b_s1000)
    D("xpeft_mask_backward", "[3, 64] hard (STE)", b_h) D("xpeft_mask_backward", "[4, 9] hard accumulate", b_hacc)
    {"xpeft_mask_backward", "softmax, [3, 7]", "fd", op_fd, &fdc_mask},
    D("xpeft_bank_sum", "P=1 N=1 D=1", s_111) D("xpeft_bank_sum", "P=1 N=4 D=21", s_1421)
    D("xpeft_bank_sum", "P=3 N=7 D=100", s_37) D("xpeft_bank_sum", "P=9 N=64 D=515", s_964)
    D("xpeft_bank_sum", "P=17 N=5 D=33", s_175)
    D("xpeft_bank_grad", "P=1 N=1 D=1", g_111) D("xpeft_bank_grad", "P=1 N=4 D=21 accumulate", g_1421)
    D("xpeft_bank_grad", "P=3 N=7 D=100", g_37) D("xpeft_bank_grad", "P=2 N=64 D=4100", g_964)
    D("xpeft_bank_grad", "P=17 N=5 D=33 accumulate", g_175)
    {"xpeft_bank_grad", "softmax -> bank sum, P=2 N=5 D=11", "fd", op_fd, &fdc_chain},
    {"xpeft_bank_grad", "softmax -> bank sum, P=1 N=1 D=3", "fd", op_fd, &fdc_one},
    D("multi_matvec", "P=1 R=1 C=1 T=1", v_1) D("multi_matvec", "P=3 R=8 C=100 T=7", v_a)
    D("multi_matvec", "P=5 R=33 C=8 T=20 acc+bias", v_b) D("multi_matvec", "P=64 R=8 C=1000 T=40 bad ids", v_c)
    D("multi_matvec", "P=7 R=1 C=3000 T=9 bias", v_d)
    D("multi_reflect", "P=1 nb=1 bw=1 T=1 plus", r_1) D("multi_reflect", "P=4 nb=1 bw=100 T=9", r_a)
    D("multi_reflect", "P=3 nb=4 bw=7 T=10 plus+bias", r_b) D("multi_reflect", "P=16 nb=32 bw=4 T=33 bad ids", r_c)
    D("multi_reflect", "P=5 nb=2 bw=700 T=6 plus, bad ids", r_d)
    PCX_ADAPTER_ROWS PCX_MULTI_ROWS
};
const int pc_ncases_xpeft = (int)(sizeof pc_cases_xpeft / sizeof pc_cases_xpeft[0]);
