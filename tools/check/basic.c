/* Check cases: element-wise ops, device vs float64 reference, and finite
 * differences for the relu/gelu backwards. */
#include <math.h>
#include <stdlib.h>
#include "check.h"

typedef enum { FILL, COPY, ADD, MUL, SCALE, AXPY, RELU, RELU_BWD, GELU, GELU_BWD } mode;
typedef struct ew_case { mode m; int64_t n; } ew_case;

static prism_status apply(prism_stream *s, mode m, prism_tensor *a, prism_tensor *b, prism_tensor *y) {
    switch (m) {
    case FILL: return prism_fill(s, y, 0.625f);
    case COPY: return prism_copy(s, a, y);
    case ADD: return prism_add(s, a, b, y);
    case MUL: return prism_mul(s, a, b, y);
    case SCALE: return prism_scale(s, a, -1.75f, y);
    case AXPY: return prism_axpy(s, 0.375f, a, y);
    case RELU: return prism_relu(s, a, y);
    case RELU_BWD: return prism_relu_backward(s, a, b, y);
    case GELU: return prism_gelu(s, a, y);
    case GELU_BWD: return prism_gelu_backward(s, a, b, y);
    }
    return PRISM_ERR_INVALID_ARGUMENT;
}

static prism_status apply_case(prism_stream *s, const void *arg, prism_tensor *a, prism_tensor *b, prism_tensor *y) {
    return apply(s, ((const ew_case *)arg)->m, a, b, y);
}

/* Runs the op on ctx; returns the output (and checks its guard on devices). */
static double *run_on(pc_result *r, prism_context *ctx, const ew_case *c, const float *a, const float *b,
                      const float *y0, bool guard) {
    return pc_run_op2(r, ctx, apply_case, c, 1, &c->n, a, b, 1, &c->n, y0, guard);
}

static void ew_device(const pc_env *env, const void *arg, pc_result *r) {
    const ew_case *c = arg;
    size_t n = (size_t)c->n;
    float *a = malloc(n * 4), *b = malloc(n * 4), *y0 = malloc(n * 4);
    if (!a || !b || !y0) {
        pc_fail(r, "out of host memory");
        goto done;
    }
    pc_random(env->seed, a, c->n, -3.0f, 3.0f);
    pc_random(env->seed + 1, b, c->n, -2.0f, 2.0f);
    pc_random(env->seed + 2, y0, c->n, -1.0f, 1.0f);
    bool guard = c->n < ((int64_t)1 << 24); /* the huge case only checks values */
    double *dev = run_on(r, env->dev, c, a, b, y0, guard);
    double *ref = run_on(r, env->ref, c, a, b, y0, false);
    if (dev && ref) pc_compare(r, "y", dev, ref, c->n, 1e-10);
    free(dev);
    free(ref);
done:
    free(a);
    free(b);
    free(y0);
}

/* d/dx sum(w * f(x)) on the reference against central differences. */
static void ew_fd(const pc_env *env, const void *arg, pc_result *r) {
    const ew_case *c = arg; /* c->m is the forward (RELU or GELU) */
    int64_t n = c->n;
    float *x = malloc((size_t)n * 4), *w = malloc((size_t)n * 4);
    double *xd = malloc((size_t)n * 8), *num = malloc((size_t)n * 8), *ana = NULL, *yp = NULL, *ym = NULL;
    prism_tensor *tx = NULL, *tw = NULL, *ty = NULL, *tg = NULL;
    prism_stream *fwd = NULL, *bwd = NULL;
    if (!x || !w || !xd || !num) {
        pc_fail(r, "out of host memory");
        goto done;
    }
    pc_random(env->seed + 5, x, n, -2.0f, 2.0f);
    pc_random(env->seed + 6, w, n, -1.0f, 1.0f);
    /* keep relu away from its kink, where the derivative is undefined */
    if (c->m == RELU)
        for (int64_t i = 0; i < n; i++) if (fabsf(x[i]) < 0.05f) x[i] = 0.5f;
    tx = pc_tensor(r, env->ref, 1, &n, x);
    tw = pc_tensor(r, env->ref, 1, &n, w);
    ty = pc_tensor(r, env->ref, 1, &n, NULL);
    tg = pc_tensor(r, env->ref, 1, &n, NULL);
    if (!tx || !tw || !ty || !tg) goto done;
    if (prism_stream_create(env->ref, &fwd) || prism_stream_create(env->ref, &bwd) ||
        apply(fwd, c->m, tx, NULL, ty) || apply(bwd, c->m == RELU ? RELU_BWD : GELU_BWD, tx, tw, tg)) {
        pc_fail(r, "record: %s", prism_error_message(env->ref));
        goto done;
    }
    if (!pc_run(r, bwd) || !(ana = pc_download(r, tg))) goto done;
    for (int64_t i = 0; i < n; i++) xd[i] = x[i];
    const double h = 1e-6;
    /* element-wise: perturbing all x at once gives every partial derivative */
    for (int sgn = 1; sgn >= -1; sgn -= 2) {
        for (int64_t i = 0; i < n; i++) xd[i] = x[i] + sgn * h;
        if (prism_tensor_upload_f64(tx, xd, n) || !pc_run(r, fwd)) goto done;
        double *y = pc_download(r, ty);
        if (sgn == 1) yp = y; else ym = y;
        if (!y) goto done;
    }
    for (int64_t i = 0; i < n; i++) num[i] = w[i] * (yp[i] - ym[i]) / (2 * h);
    pc_compare_fd(r, "dx", ana, num, n, 1e-6);
done:
    prism_stream_destroy(fwd);
    prism_stream_destroy(bwd);
    prism_tensor_destroy(tx);
    prism_tensor_destroy(tw);
    prism_tensor_destroy(ty);
    prism_tensor_destroy(tg);
    free(x); free(w); free(xd); free(num); free(ana); free(yp); free(ym);
}

#define EW(name, m)                                                                                  \
    static const ew_case name##_1 = {m, 1}, name##_7 = {m, 7}, name##_784 = {m, 784},               \
                         name##_1000 = {m, 1000}, name##_big = {m, 300007};
EW(fill, FILL) EW(copy, COPY) EW(add, ADD) EW(mul, MUL) EW(scale, SCALE) EW(axpy, AXPY)
EW(relu, RELU) EW(relu_bwd, RELU_BWD) EW(gelu, GELU) EW(gelu_bwd, GELU_BWD)
/* 33.6M floats = 134 MB: over lavapipe's 128 MiB maxStorageBufferRange, so
 * the dispatcher must split it into several bindings */
static const ew_case axpy_huge = {AXPY, 33554432 + 4099};
static const ew_case fd_relu = {RELU, 257}, fd_gelu = {GELU, 257};

#define ROWS(op, name)                                             \
    {op, "[1]", "device", ew_device, &name##_1},                   \
    {op, "[7]", "device", ew_device, &name##_7},                   \
    {op, "[784]", "device", ew_device, &name##_784},               \
    {op, "[1000]", "device", ew_device, &name##_1000},             \
    {op, "[300007]", "device", ew_device, &name##_big},

const pc_case pc_cases_basic[] = {
    ROWS("fill", fill) ROWS("copy", copy) ROWS("add", add) ROWS("mul", mul) ROWS("scale", scale)
    ROWS("axpy", axpy) ROWS("relu", relu) ROWS("relu_backward", relu_bwd) ROWS("gelu", gelu)
    ROWS("gelu_backward", gelu_bwd)
    {"axpy", "[33558531] (> 128 MiB binding)", "device", ew_device, &axpy_huge},
    {"relu_backward", "[257]", "fd", ew_fd, &fd_relu},
    {"gelu_backward", "[257]", "fd", ew_fd, &fd_gelu},
};
const int pc_ncases_basic = (int)(sizeof pc_cases_basic / sizeof pc_cases_basic[0]);
