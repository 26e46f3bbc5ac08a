/* Check cases: softmax cross-entropy forward/backward and accuracy count,
 * device vs float64 reference, plus finite differences of the backward
 * against the forward loss on the reference. */
#include <math.h>
#include <stdlib.h>
#include "check.h"

typedef enum { FWD, BWD, ACC } mode;
typedef enum { LAB_VALID, LAB_BAD } labels_kind;
typedef struct loss_case { mode m; int64_t b, c; labels_kind lk; bool ties; } loss_case;

static const float SCALE = 1.75f;

/* Logits in [-4, 4] (optionally quantised to halves so rows have ties) and
 * labels: valid classes, every third row set to the row's argmax so the
 * accuracy count is neither 0 nor B; or hostile values (NaN, negative,
 * fractional, huge) that must be clamped without out-of-bounds reads. */
static void make_inputs(uint64_t seed, const loss_case *c, float *x, float *lab) {
    pc_random(seed, x, c->b * c->c, -4.0f, 4.0f);
    if (c->ties)
        for (int64_t i = 0; i < c->b * c->c; i++) x[i] = roundf(x[i] * 0.5f) * 2.0f;
    pc_random(seed + 1, lab, c->b, 0.0f, (float)c->c);
    for (int64_t r = 0; r < c->b; r++) {
        lab[r] = floorf(lab[r]);
        if (lab[r] >= (float)c->c) lab[r] = (float)(c->c - 1);
        if (r % 3 == 0) {
            int64_t best = 0;
            for (int64_t j = 1; j < c->c; j++)
                if (x[r * c->c + j] > x[r * c->c + best]) best = j;
            lab[r] = (float)best;
        }
    }
    if (c->lk == LAB_BAD) {
        static const float bad[] = {NAN, -3.0f, 2.5f, 1e9f, INFINITY, -INFINITY, 0.25f};
        for (int64_t r = 0; r < c->b; r++) lab[r] = bad[r % 7];
    }
}

static prism_status apply(prism_stream *s, mode m, prism_tensor *x, prism_tensor *l, prism_tensor *y) {
    switch (m) {
    case FWD: return prism_softmax_xent(s, x, l, y);
    case BWD: return prism_softmax_xent_backward(s, x, l, SCALE, y);
    case ACC: return prism_accuracy_count(s, x, l, y);
    }
    return PRISM_ERR_INVALID_ARGUMENT;
}

static double *run_on(pc_result *r, prism_context *ctx, const loss_case *c, const float *x, const float *lab,
                      bool guard) {
    int64_t xs[2] = {c->b, c->c}, one = 1;
    prism_tensor *tx = pc_tensor(r, ctx, 2, xs, x), *tl = pc_tensor(r, ctx, 1, &c->b, lab), *base = NULL, *ty;
    int yn = c->m == BWD ? 2 : 1;
    const int64_t *ys = c->m == BWD ? xs : &one;
    ty = guard ? pc_guarded(r, ctx, yn, ys, NULL, &base) : pc_tensor(r, ctx, yn, ys, NULL);
    prism_stream *s = NULL;
    double *out = NULL;
    if (tx && tl && ty && prism_stream_create(ctx, &s) == PRISM_OK) {
        if (apply(s, c->m, tx, tl, ty) != PRISM_OK) pc_fail(r, "record: %s", prism_error_message(ctx));
        else if (pc_run(r, s)) out = pc_download(r, ty);
        if (guard) pc_guard_ok(r, base, "output");
    }
    prism_stream_destroy(s);
    prism_tensor_destroy(tx);
    prism_tensor_destroy(tl);
    prism_tensor_destroy(ty);
    prism_tensor_destroy(base);
    return out;
}

static void loss_device(const pc_env *env, const void *arg, pc_result *r) {
    const loss_case *c = arg;
    float *x = malloc(sizeof(float) * (size_t)(c->b * c->c)), *lab = malloc(sizeof(float) * (size_t)c->b);
    double *dev = NULL, *ref = NULL;
    if (!x || !lab) {
        pc_fail(r, "out of host memory");
        goto done;
    }
    make_inputs(env->seed, c, x, lab);
    dev = run_on(r, env->dev, c, x, lab, true);
    ref = run_on(r, env->ref, c, x, lab, false);
    if (!dev || !ref) goto done;
    if (c->m == ACC) { /* an exact count */
        if (dev[0] != ref[0]) pc_fail(r, "count: device %g, reference %g", dev[0], ref[0]);
    } else {
        pc_compare(r, c->m == FWD ? "loss" : "dlogits", dev, ref, c->m == BWD ? c->b * c->c : 1, 1e-10);
    }
done:
    free(x);
    free(lab);
    free(dev);
    free(ref);
}

/* d loss / d logits on the reference against central differences of the
 * forward loss (times the backward's upstream scale). */
static void loss_fd(const pc_env *env, const void *arg, pc_result *r) {
    const loss_case *c = arg;
    int64_t n = c->b * c->c, xs[2] = {c->b, c->c}, one = 1;
    float *x = malloc(sizeof(float) * (size_t)n), lab[64];
    double *xd = malloc(sizeof(double) * (size_t)n), *num = malloc(sizeof(double) * (size_t)n), *ana = NULL;
    prism_tensor *tx = NULL, *tl = NULL, *tloss = NULL, *tg = NULL;
    prism_stream *fwd = NULL, *bwd = NULL;
    if (!x || !xd || !num || c->b > 64) {
        pc_fail(r, "out of host memory");
        goto done;
    }
    make_inputs(env->seed + 9, c, x, lab);
    tx = pc_tensor(r, env->ref, 2, xs, x);
    tl = pc_tensor(r, env->ref, 1, &c->b, lab);
    tloss = pc_tensor(r, env->ref, 1, &one, NULL);
    tg = pc_tensor(r, env->ref, 2, xs, NULL);
    if (!tx || !tl || !tloss || !tg) goto done;
    if (prism_stream_create(env->ref, &fwd) || prism_stream_create(env->ref, &bwd) ||
        prism_softmax_xent(fwd, tx, tl, tloss) || prism_softmax_xent_backward(bwd, tx, tl, SCALE, tg)) {
        pc_fail(r, "record: %s", prism_error_message(env->ref));
        goto done;
    }
    if (!pc_run(r, bwd) || !(ana = pc_download(r, tg))) goto done;
    for (int64_t i = 0; i < n; i++) xd[i] = x[i];
    const double h = 1e-5;
    for (int64_t i = 0; i < n; i++) {
        double f[2];
        for (int k = 0; k < 2; k++) {
            xd[i] = x[i] + (k ? -h : h);
            if (prism_tensor_upload_f64(tx, xd, n) || !pc_run(r, fwd) ||
                prism_tensor_download_f64(tloss, &f[k], 1)) {
                pc_fail(r, "fd run: %s", prism_error_message(env->ref));
                goto done;
            }
        }
        xd[i] = x[i];
        num[i] = SCALE * (f[0] - f[1]) / (2 * h);
    }
    pc_compare_fd(r, "dlogits", ana, num, n, 1e-7);
done:
    prism_stream_destroy(fwd);
    prism_stream_destroy(bwd);
    prism_tensor_destroy(tx);
    prism_tensor_destroy(tl);
    prism_tensor_destroy(tloss);
    prism_tensor_destroy(tg);
    free(x); free(xd); free(num); free(ana);
}

#define SHAPES(name, m)                                                                          \
    static const loss_case name##_1x1 = {m, 1, 1, LAB_VALID, false},                             \
                           name##_1x10 = {m, 1, 10, LAB_VALID, false},                           \
                           name##_7x10 = {m, 7, 10, LAB_VALID, false},                           \
                           name##_1000x10 = {m, 1000, 10, LAB_VALID, false},                     \
                           name##_3x1000 = {m, 3, 1000, LAB_VALID, false},                       \
                           name##_37x300 = {m, 37, 300, LAB_VALID, true},                        \
                           name##_bad = {m, 21, 10, LAB_BAD, false};
SHAPES(fwd, FWD) SHAPES(bwd, BWD) SHAPES(acc, ACC)
static const loss_case fd_3x5 = {FWD, 3, 5, LAB_VALID, false}, fd_4x7 = {FWD, 4, 7, LAB_VALID, true};

#define ROWS(op, name)                                                           \
    {op, "[1, 1]", "device", loss_device, &name##_1x1},                          \
    {op, "[1, 10]", "device", loss_device, &name##_1x10},                        \
    {op, "[7, 10]", "device", loss_device, &name##_7x10},                        \
    {op, "[1000, 10]", "device", loss_device, &name##_1000x10},                  \
    {op, "[3, 1000]", "device", loss_device, &name##_3x1000},                    \
    {op, "[37, 300] with ties", "device", loss_device, &name##_37x300},          \
    {op, "[21, 10] hostile labels", "device", loss_device, &name##_bad},

const pc_case pc_cases_loss[] = {
    ROWS("softmax_xent", fwd) ROWS("softmax_xent_backward", bwd) ROWS("accuracy_count", acc)
    {"softmax_xent_backward", "[3, 5]", "fd", loss_fd, &fd_3x5},
    {"softmax_xent_backward", "[4, 7] with ties", "fd", loss_fd, &fd_4x7},
};
const int pc_ncases_loss = (int)(sizeof pc_cases_loss / sizeof pc_cases_loss[0]);
