/* Multi-profile batched forward (include/prism/profiles.h): a profile set
 * stacks the parameters of P adapters on one frozen layer, and
 * prism_adapter_forward_multi runs a batch whose rows pick their profile by a
 * device tensor of ids, with the same number of dispatches for 1 or 512
 * profiles: the frozen GEMM (shared by every row) plus one gather per
 * adapter op (shaders/multi.comp).
 *
 * Building a set is one-time work per set of profiles: LoRA and ETHER stacks
 * are assembled on the host (padding ranks, folding scales, normalising
 * reflection vectors in float64) and uploaded; X-PEFT stacks are computed on
 * the device from the shared bank by one batched mask op and one bank-sum op
 * per side (P·N·r·(n_in + m) multiply-adds). Serving then never touches the
 * bank again. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "adapter_internal.h"
#include "prism/profiles.h"
#include "prism/xpeft.h"

enum { SIDE_IN = 0, SIDE_OUT = 1 };

struct prism_profile_set {
    prism_context *ctx;
    prism_method method;
    int P;
    int64_t m, n;
    const prism_tensor *W0;       /* borrowed */
    prism_tensor *bias;           /* [1, m] view of the layer's bias, or NULL */
    prism_placement placement;
    prism_activation act;
    prism_tensor *A, *B;          /* LoRA / X-PEFT: [P, r, n_in], [P, m, r] */
    prism_tensor *u[2], *v[2];    /* ETHER: unit vectors per side [P, nb, bw] */
    /* scratch for T rows (re-created when T changes) */
    int64_t T;
    prism_tensor *H, *Phi, *Xr, *Z, *ones;
};

static prism_status err(prism_context *ctx, prism_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static prism_status err(prism_context *ctx, prism_status st, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return prism_set_error(ctx, st, "%s", msg);
}

static void drop_scratch(prism_profile_set *set) {
    prism_tensor **t[] = {&set->H, &set->Phi, &set->Xr, &set->Z, &set->ones};
    for (size_t i = 0; i < PRISM_ARRAY_LEN(t); i++) {
        prism_tensor_destroy(*t[i]);
        *t[i] = NULL;
    }
    set->T = 0;
}

void prism_profile_set_destroy(prism_profile_set *set) {
    if (!set) return;
    drop_scratch(set);
    prism_tensor *t[] = {set->bias, set->A, set->B, set->u[0], set->u[1], set->v[0], set->v[1]};
    for (size_t i = 0; i < PRISM_ARRAY_LEN(t); i++) prism_tensor_destroy(t[i]);
    free(set);
}

int prism_profile_set_count(const prism_profile_set *set) { return set ? set->P : 0; }
prism_method prism_profile_set_method(const prism_profile_set *set) { return set ? set->method : PRISM_METHOD_NONE; }

int64_t prism_profile_set_bytes(const prism_profile_set *set) {
    if (!set) return 0;
    const prism_tensor *t[] = {set->A, set->B, set->u[0], set->u[1], set->v[0], set->v[1]};
    int64_t e = 0;
    for (size_t i = 0; i < PRISM_ARRAY_LEN(t); i++) e += t[i] ? t[i]->numel : 0;
    return e * 4;
}

/* A set on ad's layer, without stacks yet. */
static prism_status set_new(prism_adapter *ad, int P, prism_profile_set **out) {
    prism_profile_set *set = calloc(1, sizeof *set);
    if (!set) return err(ad->ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "profile_set: out of host memory");
    set->ctx = ad->ctx;
    set->method = ad->cfg.method;
    set->P = P;
    set->m = ad->m;
    set->n = ad->n;
    set->W0 = ad->W0;
    set->placement = ad->cfg.placement;
    set->act = ad->cfg.act;
    if (ad->bias) {
        int64_t s[2] = {1, ad->m};
        prism_status st = prism_tensor_view((prism_tensor *)ad->bias, 0, 2, s, &set->bias);
        if (st) {
            free(set);
            return st;
        }
    }
    *out = set;
    return PRISM_OK;
}

static prism_tensor *param(prism_adapter *ad, const char *name) {
    for (int i = 0; i < ad->nparams; i++)
        if (!strcmp(ad->params[i].name, name)) return ad->params[i].value;
    return NULL;
}

static prism_status upload_new(prism_context *ctx, int ndim, const int64_t *shape, const double *h,
                               prism_tensor **out) {
    prism_status st = prism_tensor_create(ctx, ndim, shape, out);
    if (!st) st = prism_tensor_upload_f64(*out, h, (*out)->numel);
    return st;
}

/* ------------------------------------------------------------------ LoRA */

/* Stacks are built in float64 and uploaded with the f64 transfer: exact on
 * the reference backend (so a set there equals the adapters to rounding of
 * double), rounded once to fp32 on a device. */
static prism_status stack_lora(prism_adapter *const *ads, int P, prism_profile_set *set) {
    int64_t m = set->m, n = set->n;
    int r = 1;
    for (int p = 0; p < P; p++) r = ads[p]->cfg.r > r ? ads[p]->cfg.r : r;
    double *A = calloc((size_t)P * (size_t)r * (size_t)n, sizeof *A), *B = calloc((size_t)P * (size_t)m * (size_t)r, sizeof *B);
    double *tmp = malloc(sizeof(double) * (size_t)r * (size_t)(m > n ? m : n));
    prism_status st = A && B && tmp ? PRISM_OK : err(set->ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "profile_set: out of memory");
    for (int p = 0; !st && p < P; p++) {
        prism_adapter *ad = ads[p];
        int rp = ad->cfg.r;
        double sc = (double)(ad->cfg.lora_alpha / (float)rp); /* the float scale lora.c passes to its GEMM */
        /* stacked transposed: Aᵀ [n, r], (s B)ᵀ [r, m]; ranks rp.. stay 0, B A is unchanged */
        st = prism_tensor_download_f64(param(ad, "lora_A.weight"), tmp, (int64_t)rp * n);
        for (int c = 0; !st && c < rp; c++)
            for (int64_t j = 0; j < n; j++) A[((size_t)p * n + j) * r + c] = tmp[c * n + j];
        if (!st) st = prism_tensor_download_f64(param(ad, "lora_B.weight"), tmp, m * rp);
        for (int64_t i = 0; !st && i < m; i++)
            for (int c = 0; c < rp; c++) B[((size_t)p * r + c) * m + i] = sc * tmp[i * rp + c];
    }
    int64_t sa[3] = {P, n, r}, sb[3] = {P, r, m};
    if (!st) st = upload_new(set->ctx, 3, sa, A, &set->A);
    if (!st) st = upload_new(set->ctx, 3, sb, B, &set->B);
    free(A);
    free(B);
    free(tmp);
    return st;
}

/* ------------------------------------------------------------------ ETHER */

static prism_status stack_ether(prism_adapter *const *ads, int P, prism_profile_set *set) {
    static const char *const NAMES[2][2] = {{"ether_u_in", "ether_v_in"}, {"ether_u_out", "ether_v_out"}};
    prism_status st = PRISM_OK;
    for (int side = 0; !st && side < 2; side++)
        for (int uv = 0; !st && uv < 2; uv++) {
            prism_tensor *t0 = param(ads[0], NAMES[side][uv]);
            if (!t0) continue;
            if (t0->ndim != 2)
                return err(set->ctx, PRISM_ERR_SHAPE, "profile_set: %s must be [blocks, width]", NAMES[side][uv]);
            int64_t nb = t0->shape[0], bw = t0->shape[1], d = nb * bw, sh[3] = {P, nb, bw};
            double *tmp = malloc(sizeof(double) * (size_t)d), *h = malloc(sizeof(double) * (size_t)P * (size_t)d);
            if (!tmp || !h) st = err(set->ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "profile_set: out of memory");
            for (int p = 0; !st && p < P; p++) {
                prism_tensor *t = param(ads[p], NAMES[side][uv]);
                if (!t || t->numel != d || t->shape[0] != nb) {
                    st = err(set->ctx, PRISM_ERR_SHAPE, "profile_set: profile %d's %s differs from profile 0's", p,
                             NAMES[side][uv]);
                    break;
                }
                if ((st = prism_tensor_download_f64(t, tmp, d))) break;
                for (int64_t b = 0; b < nb; b++) { /* û per block, in float64 */
                    double ss = 0;
                    for (int64_t j = 0; j < bw; j++) ss += tmp[b * bw + j] * tmp[b * bw + j];
                    double nr = sqrt(ss);
                    if (!(nr > 0) || !isfinite(nr)) {
                        st = err(set->ctx, PRISM_ERR_NOT_FINITE, "profile_set: profile %d's %s block %lld has norm %g",
                                 p, NAMES[side][uv], (long long)b, nr);
                        break;
                    }
                    for (int64_t j = 0; j < bw; j++) h[(size_t)p * d + b * bw + j] = tmp[b * bw + j] / nr;
                }
            }
            if (!st) st = upload_new(set->ctx, 3, sh, h, uv ? &set->v[side] : &set->u[side]);
            free(tmp);
            free(h);
        }
    if (!st && !set->u[0] && !set->u[1])
        st = err(set->ctx, PRISM_ERR_INVALID_ARGUMENT, "profile_set: the %s adapters have no ether_u_in/ether_u_out",
                 prism_method_name(set->method));
    return st;
}

/* ------------------------------------------------------------------ X-PEFT */

/* Effective adapters of P profiles: masks of logits [P][2][N] (host), then
 * A = W_A bank_A and B = W_B bank_B on the device. */
static prism_status stack_xpeft(prism_adapter *bank, const float *logits, prism_profile_set *set) {
    int P = set->P, N = bank->cfg.n_bank, r = bank->cfg.r, k = prism_xpeft_adapter_k(bank);
    int64_t n_in = set->placement == PRISM_PLACE_SERIAL ? set->m : set->n;
    const prism_tensor *bA, *bB;
    prism_tensor *L[2] = {NULL, NULL}, *W[2] = {NULL, NULL}, *E[2] = {NULL, NULL};
    prism_stream *s = NULL;
    float *h = malloc(sizeof(float) * (size_t)P * (size_t)N);
    prism_status st = h ? prism_xpeft_bank_tensors(bank, &bA, &bB)
                        : err(set->ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "profile_set: out of memory");
    /* effective adapters as the bank lays them out (E), then transposed per profile */
    int64_t sl[2] = {P, N}, ea[3] = {P, r, n_in}, eb[3] = {P, set->m, r}, sa[3] = {P, n_in, r}, sb[3] = {P, r, set->m};
    for (int side = 0; !st && side < 2; side++) {
        for (int p = 0; p < P; p++) memcpy(h + (size_t)p * N, logits + ((size_t)p * 2 + side) * N, sizeof(float) * N);
        for (int64_t i = 0; !st && i < (int64_t)P * N; i++)
            if (!isfinite(h[i])) st = err(set->ctx, PRISM_ERR_NOT_FINITE, "profile_set: a logit is not finite");
        if (!st) st = prism_tensor_create(set->ctx, 2, sl, &L[side]);
        if (!st) st = prism_tensor_upload(L[side], h, (int64_t)P * N);
        if (!st) st = prism_tensor_create(set->ctx, 2, sl, &W[side]);
    }
    if (!st) st = prism_tensor_create(set->ctx, 3, sa, &set->A);
    if (!st) st = prism_tensor_create(set->ctx, 3, sb, &set->B);
    if (!st) st = prism_tensor_create(set->ctx, 3, ea, &E[0]);
    if (!st) st = prism_tensor_create(set->ctx, 3, eb, &E[1]);
    if (!st) st = prism_stream_create(set->ctx, &s);
    for (int side = 0; !st && side < 2; side++) {
        st = prism_xpeft_mask(s, bank->cfg.mask, k, L[side], W[side]);
        if (!st) st = prism_xpeft_bank_sum(s, W[side], side ? bB : bA, E[side]);
        if (!st) st = prism_transpose(s, E[side], side ? set->B : set->A);
    }
    if (!st) st = prism_stream_run(s);
    prism_stream_destroy(s);
    for (int i = 0; i < 2; i++) {
        prism_tensor_destroy(L[i]);
        prism_tensor_destroy(W[i]);
        prism_tensor_destroy(E[i]);
    }
    free(h);
    return st;
}

prism_status prism_profile_set_create_xpeft(prism_adapter *bank, const float *logits, int count,
                                            prism_profile_set **out) {
    if (!bank) return PRISM_ERR_INVALID_ARGUMENT;
    if (out) *out = NULL;
    if (!logits || !out || count < 1)
        return err(bank->ctx, PRISM_ERR_INVALID_ARGUMENT, "profile_set_create_xpeft: %s",
                   count < 1 ? "count < 1" : "NULL argument");
    if (bank->cfg.method != PRISM_METHOD_XPEFT)
        return err(bank->ctx, PRISM_ERR_INVALID_ARGUMENT, "profile_set_create_xpeft: the bank adapter is %s",
                   prism_method_name(bank->cfg.method));
    prism_profile_set *set = NULL;
    prism_status st = set_new(bank, count, &set);
    if (!st) st = stack_xpeft(bank, logits, set);
    if (st) {
        prism_profile_set_destroy(set);
        return st;
    }
    *out = set;
    return PRISM_OK;
}

/* Every X-PEFT profile must use the first one's bank: configs equal and the
 * bank tensors equal (compared exactly on the host; one-time cost). */
static prism_status same_bank(prism_adapter *a, prism_adapter *b, int p) {
    const prism_adapter_config *x = &a->cfg, *y = &b->cfg;
    if (x->n_bank != y->n_bank || x->r != y->r || x->mask != y->mask || x->placement != y->placement ||
        x->act != y->act || prism_xpeft_adapter_k(a) != prism_xpeft_adapter_k(b) || (!x->ext) != (!y->ext) ||
        (!x->ext && x->bank_seed != y->bank_seed))
        return err(a->ctx, PRISM_ERR_INVALID_ARGUMENT,
                   "profile_set: X-PEFT profile %d differs from profile 0 in N, r, mask, k, placement, activation or "
                   "bank seed", p);
    if (!x->ext) return PRISM_OK;
    const prism_tensor *t[2][2];
    prism_status st = prism_xpeft_bank_tensors(a, &t[0][0], &t[0][1]);
    if (!st) st = prism_xpeft_bank_tensors(b, &t[1][0], &t[1][1]);
    for (int i = 0; !st && i < 2; i++) {
        int64_t n = t[0][i]->numel;
        float *h0 = malloc(sizeof(float) * (size_t)n), *h1 = malloc(sizeof(float) * (size_t)n);
        st = h0 && h1 ? PRISM_OK : PRISM_ERR_OUT_OF_HOST_MEMORY;
        if (!st) st = prism_tensor_download((prism_tensor *)t[0][i], h0, n);
        if (!st) st = prism_tensor_download((prism_tensor *)t[1][i], h1, n);
        if (!st && memcmp(h0, h1, sizeof(float) * (size_t)n) != 0)
            st = err(a->ctx, PRISM_ERR_INVALID_ARGUMENT, "profile_set: X-PEFT profile %d has another bank", p);
        free(h0);
        free(h1);
    }
    return st;
}

/* ------------------------------------------------------------------ create */

prism_status prism_profile_set_create(prism_context *ctx, prism_adapter *const *ads, int count,
                                      prism_profile_set **out) {
    if (!ctx) return PRISM_ERR_INVALID_ARGUMENT;
    if (out) *out = NULL;
    if (!ads || !out || count < 1)
        return err(ctx, PRISM_ERR_INVALID_ARGUMENT, "profile_set_create: %s", count < 1 ? "count < 1" : "NULL argument");
    prism_adapter *a0 = ads[0];
    for (int p = 0; p < count; p++) {
        prism_adapter *a = ads[p];
        if (!a) return err(ctx, PRISM_ERR_INVALID_ARGUMENT, "profile_set_create: adapter %d is NULL", p);
        if (a->ctx != ctx) return err(ctx, PRISM_ERR_WRONG_CONTEXT, "profile_set_create: adapter %d is of another context", p);
        if (a->cfg.method != a0->cfg.method || a->m != a0->m || a->n != a0->n || (!a->bias) != (!a0->bias))
            return err(ctx, PRISM_ERR_SHAPE,
                       "profile_set_create: adapter %d (%s, [%lld, %lld]%s) differs from adapter 0 (%s, [%lld, %lld]%s)",
                       p, prism_method_name(a->cfg.method), (long long)a->m, (long long)a->n, a->bias ? " + bias" : "",
                       prism_method_name(a0->cfg.method), (long long)a0->m, (long long)a0->n, a0->bias ? " + bias" : "");
    }
    prism_method meth = a0->cfg.method;
    if (meth != PRISM_METHOD_LORA && meth != PRISM_METHOD_XPEFT && meth != PRISM_METHOD_ETHER &&
        meth != PRISM_METHOD_ETHER_PLUS)
        return err(ctx, PRISM_ERR_UNSUPPORTED, "profile_set_create: %s adapters are not served in batches (LoRA, "
                   "X-PEFT, ETHER, ETHER+ are)", prism_method_name(meth));
    prism_status st = PRISM_OK;
    if (meth == PRISM_METHOD_XPEFT) {
        int N = a0->cfg.n_bank;
        float *lg = malloc(sizeof(float) * 2 * (size_t)N * (size_t)count);
        if (!lg) return err(ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "profile_set_create: out of host memory");
        for (int p = 0; !st && p < count; p++) {
            st = same_bank(a0, ads[p], p);
            if (!st) st = prism_xpeft_get_logits(ads[p], lg + (size_t)p * 2 * N, lg + ((size_t)p * 2 + 1) * N);
        }
        if (!st) st = prism_profile_set_create_xpeft(a0, lg, count, out);
        free(lg);
        return st;
    }
    prism_profile_set *set = NULL;
    st = set_new(a0, count, &set);
    if (!st) st = meth == PRISM_METHOD_LORA ? stack_lora(ads, count, set) : stack_ether(ads, count, set);
    if (st) {
        prism_profile_set_destroy(set);
        return st;
    }
    *out = set;
    return PRISM_OK;
}

/* ------------------------------------------------------------------ forward */

static prism_status scratch(prism_profile_set *set, int64_t T) {
    if (set->T == T) return PRISM_OK;
    drop_scratch(set);
    int64_t r = set->A ? set->A->shape[2] : 1;
    int64_t sh[2] = {T, r}, sx[2] = {T, set->n}, sz[2] = {T, set->m}, so[2] = {T, 1};
    prism_status st = PRISM_OK;
    if (set->A) st = prism_tensor_create(set->ctx, 2, sh, &set->H);
    if (!st && set->A && set->act != PRISM_ACT_IDENTITY) st = prism_tensor_create(set->ctx, 2, sh, &set->Phi);
    if (!st && set->u[SIDE_IN]) st = prism_tensor_create(set->ctx, 2, sx, &set->Xr);
    if (!st && set->u[SIDE_OUT]) st = prism_tensor_create(set->ctx, 2, sz, &set->Z);
    if (!st && set->bias) {
        float *h = malloc(sizeof(float) * (size_t)T);
        st = h ? prism_tensor_create(set->ctx, 2, so, &set->ones) : PRISM_ERR_OUT_OF_HOST_MEMORY;
        for (int64_t i = 0; h && i < T; i++) h[i] = 1.0f;
        if (!st) st = prism_tensor_upload(set->ones, h, T);
        free(h);
    }
    if (st) drop_scratch(set);
    else set->T = T;
    return st;
}

/* Y = X W0ᵀ (+ 1 bᵀ when with_bias). */
static prism_status frozen(prism_stream *s, prism_profile_set *set, const prism_tensor *X, prism_tensor *Y,
                           bool with_bias) {
    prism_status st = prism_gemm(s, 0, 1, 1.0f, X, set->W0, 0.0f, Y);
    if (!st && with_bias && set->bias) st = prism_gemm(s, 0, 0, 1.0f, set->ones, set->bias, 1.0f, Y);
    return st;
}

static bool overlaps(const prism_tensor *a, const prism_tensor *b) {
    return a && b && a->storage == b->storage && a->offset < b->offset + b->numel && b->offset < a->offset + a->numel;
}

prism_status prism_adapter_forward_multi(prism_stream *s, prism_profile_set *set, const prism_tensor *X,
                                         const prism_tensor *ids, prism_tensor *Y) {
    static const char *OP = "adapter_forward_multi";
    if (!set) return s ? err(prism_stream_context(s), PRISM_ERR_INVALID_ARGUMENT, "%s: set is NULL", OP)
                       : PRISM_ERR_INVALID_ARGUMENT;
    if (!s) return err(set->ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: stream is NULL", OP);
    if (prism_stream_context(s) != set->ctx)
        return err(set->ctx, PRISM_ERR_WRONG_CONTEXT, "%s: the stream belongs to another context", OP);
    prism_status st = prism_op_begin(s, OP);
    if (!st) st = prism_check_tensor(s, OP, "X", X);
    if (!st) st = prism_check_tensor(s, OP, "profile_ids", ids);
    if (!st) st = prism_check_tensor(s, OP, "Y", Y);
    if (st) return st;
    char a[64], b[64], c[64];
    if (X->ndim != 2 || X->shape[1] != set->n || Y->ndim != 2 || Y->shape[0] != X->shape[0] ||
        Y->shape[1] != set->m || ids->numel != X->shape[0])
        return err(set->ctx, PRISM_ERR_SHAPE, "%s (%s): X %s, profile_ids %s, Y %s; expected [T, %lld], [T], [T, %lld]",
                   OP, prism_method_name(set->method), prism_tensor_shape_str(X, a, sizeof a),
                   prism_tensor_shape_str(ids, b, sizeof b), prism_tensor_shape_str(Y, c, sizeof c),
                   (long long)set->n, (long long)set->m);
    if (overlaps(Y, X) || overlaps(Y, ids))
        return err(set->ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: Y overlaps X or profile_ids", OP);
    int64_t T = X->shape[0];
    if ((st = scratch(set, T))) return st;
    if (set->method == PRISM_METHOD_LORA || set->method == PRISM_METHOD_XPEFT) {
        if (set->placement != PRISM_PLACE_SERIAL || set->method == PRISM_METHOD_LORA) {
            st = frozen(s, set, X, Y, false);
            if (!st) st = prism_multi_matvec(s, set->A, X, ids, NULL, 0, set->H);
            if (!st) st = prism_multi_matvec(s, set->B, set->H, ids, set->bias, 1, Y);
            return st;
        }
        prism_tensor *Phi = set->Phi ? set->Phi : set->H; /* serial: Y = Z + B φ(A Z) */
        st = frozen(s, set, X, Y, true);
        if (!st) st = prism_multi_matvec(s, set->A, Y, ids, NULL, 0, set->H);
        if (!st && set->act == PRISM_ACT_RELU) st = prism_relu(s, set->H, Phi);
        if (!st && set->act == PRISM_ACT_GELU) st = prism_gelu(s, set->H, Phi);
        if (!st) st = prism_multi_matvec(s, set->B, Phi, ids, NULL, 1, Y);
        return st;
    }
    /* ETHER / ETHER+: reflect the input rows, the frozen layer, reflect the output rows */
    const prism_tensor *in = X;
    if (set->u[SIDE_IN]) {
        st = prism_multi_reflect(s, X, ids, set->u[SIDE_IN], set->v[SIDE_IN], NULL, set->Xr);
        in = set->Xr;
    }
    if (!set->u[SIDE_OUT]) return st ? st : frozen(s, set, in, Y, true);
    if (!st) st = frozen(s, set, in, set->Z, false);
    if (!st) st = prism_multi_reflect(s, set->Z, ids, set->u[SIDE_OUT], set->v[SIDE_OUT], set->bias, Y);
    return st;
}
