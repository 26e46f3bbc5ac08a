/* Dispatchers of the optimizer ops (shaders/optim.comp).
 *
 * Argument checks: NULL pointers -> PRISM_ERR_INVALID_ARGUMENT; a NaN or
 * infinite hyper-parameter (lr, betas, eps, weight decay, momentum,
 * max_norm) -> PRISM_ERR_NOT_FINITE; a finite but meaningless one (beta
 * outside [0, 1), eps, lr, weight decay or momentum negative, momentum >= 1,
 * max_norm <= 0) -> PRISM_ERR_INVALID_ARGUMENT; state not of
 * PRISM_OPT_STATE_SIZE elements or param/grad/moments of different sizes ->
 * PRISM_ERR_SHAPE. The state values themselves are device data and are not
 * checked: adamw before the first tick divides by bc1 = 0. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "../internal.h"
#include "../reference/optim.h"

static prism_status bad_scalar(prism_context *ctx, const char *op, const char *what, double v, bool ok_range,
                               const char *range) {
    if (!isfinite(v)) return prism_set_error(ctx, PRISM_ERR_NOT_FINITE, "%s: %s %g is not finite", op, what, v);
    if (!ok_range) return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: %s %g outside %s", op, what, v, range);
    return PRISM_OK;
}

static prism_status check_adamw_params(prism_context *ctx, const char *op, const prism_adamw_params *p) {
    prism_status st;
    if (!p) return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: params is NULL", op);
    if ((st = bad_scalar(ctx, op, "beta1", p->beta1, p->beta1 >= 0 && p->beta1 < 1, "[0, 1)"))) return st;
    if ((st = bad_scalar(ctx, op, "beta2", p->beta2, p->beta2 >= 0 && p->beta2 < 1, "[0, 1)"))) return st;
    if ((st = bad_scalar(ctx, op, "eps", p->eps, p->eps >= 0, "[0, inf)"))) return st;
    return bad_scalar(ctx, op, "weight_decay", p->weight_decay, p->weight_decay >= 0, "[0, inf)");
}

static prism_status check_state(prism_stream *s, const char *op, const prism_tensor *state) {
    prism_status st = prism_check_tensor(s, op, "state", state);
    if (st) return st;
    if (state->numel != PRISM_OPT_STATE_SIZE) {
        char b[64];
        return prism_set_error(prism_stream_context(s), PRISM_ERR_SHAPE, "%s: state %s must have %d elements", op,
                               prism_tensor_shape_str(state, b, sizeof b), PRISM_OPT_STATE_SIZE);
    }
    return PRISM_OK;
}

/* Items (floats or vec4s) per invocation of adamw/sgd (spec constant PER),
 * coalesced; 2 measured a little faster than 1 or 4 on lavapipe
 * (docs/ARCHITECTURE.md). */
#define ADAMW_PER 2

static uint32_t pow2_floor(uint32_t v) {
    uint32_t p = 1;
    while (p * 2 <= v) p *= 2;
    return p;
}

prism_adamw_params prism_adamw_params_default(void) {
    return (prism_adamw_params){.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f};
}

prism_status prism_optim_state_create(prism_context *ctx, float lr, prism_tensor **state) {
    if (!ctx || !state) return PRISM_ERR_INVALID_ARGUMENT;
    *state = NULL;
    prism_status st = bad_scalar(ctx, "optim_state_create", "lr", lr, lr >= 0, "[0, inf)");
    if (st) return st;
    int64_t n = PRISM_OPT_STATE_SIZE;
    float init[PRISM_OPT_STATE_SIZE] = {0};
    init[PRISM_OPT_LR] = lr;
    init[PRISM_OPT_CLIP] = 1.0f;
    prism_tensor *t = NULL;
    if ((st = prism_tensor_create(ctx, 1, &n, &t))) return st;
    if ((st = prism_tensor_upload(t, init, n))) {
        prism_tensor_destroy(t);
        return st;
    }
    *state = t;
    return PRISM_OK;
}

/* ---- reference closures */

typedef struct optim_args {
    int kind; /* 0 tick, 1 adamw, 2 sgd, 3 sumsq */
    const prism_tensor *state, *p, *g, *m, *v;
    double a, b, c, d;
    int first, last;
} optim_args;

static void optim_ref(const void *q) {
    const optim_args *o = q;
    double *st = prism_ref_data(o->state);
    switch (o->kind) {
    case 0: prism_ref_optim_tick(st, o->a, o->b); break;
    case 1:
        prism_ref_adamw(st, o->a, o->b, o->c, o->d, prism_ref_data(o->p), prism_ref_data(o->g), prism_ref_data(o->m),
                        prism_ref_data(o->v), o->p->numel);
        break;
    case 2:
        prism_ref_sgd(st, o->a, o->b, prism_ref_data(o->p), prism_ref_data(o->g), o->m ? prism_ref_data(o->m) : NULL,
                      o->p->numel);
        break;
    default: prism_ref_clip_accumulate(st, prism_ref_data(o->g), o->g->numel, o->first, o->last, o->a); break;
    }
}

static prism_status enqueue(prism_stream *s, const char *op, const optim_args *a) {
    const prism_tensor *ts[5];
    int n = 0;
    const prism_tensor *all[5] = {a->state, a->p, a->g, a->m, a->v};
    for (int i = 0; i < 5; i++)
        if (all[i]) ts[n++] = all[i];
    return prism_ref_enqueue(s, op, optim_ref, a, sizeof *a, ts, n);
}

/* ---- ops */

prism_status prism_optim_tick(prism_stream *s, const prism_adamw_params *p, prism_tensor *state) {
    const char *op = "optim_tick";
    prism_status st = prism_op_begin(s, op);
    if (st) return st;
    if ((st = check_adamw_params(prism_stream_context(s), op, p))) return st;
    if ((st = check_state(s, op, state))) return st;
    if (prism_stream_is_reference(s)) {
        optim_args a = {.kind = 0, .state = state, .a = p->beta1, .b = p->beta2};
        return enqueue(s, op, &a);
    }
    prism_kernel k = {.op = op, .shader = "optim_tick", .nspec = 3, .spec = {1, 1, 1}, .groups = {1, 1, 1},
                      .fault_binding = 0, .nbind = 1};
    k.bind[0] = (prism_binding){state, 0, PRISM_OPT_STATE_SIZE, true};
    struct { uint32_t n, flags; float a, b; } push = {0, 0, p->beta1, p->beta2};
    memcpy(k.push, &push, sizeof push);
    k.push_size = sizeof push;
    return prism_record_kernel(s, &k);
}

static bool aligned16(const prism_tensor *t, int64_t off) {
    return !t || (t->storage->offset + (uint64_t)(t->offset + off) * 4) % 16 == 0;
}

/* One dispatch of adamw/sgd over elements [off, off + n): vec4 items when
 * `vec` (every operand 16-byte aligned there, n a multiple of 4). */
static prism_status step_kernel(prism_stream *s, const char *op, const char *shader, const optim_args *a,
                                uint32_t flags, int64_t off, int64_t n, bool vec) {
    prism_context *ctx = prism_stream_context(s);
    uint64_t items = (uint64_t)(vec ? n / 4 : n);
    /* small steps (adapter parameters) get a small power-of-two workgroup, as
     * in runtime/ops/basic.c: idle invocations are not free */
    uint32_t max = prism_local_size_1d(ctx), ls = PRISM_MIN(32u, max), per = ADAMW_PER;
    while (ls < max && (uint64_t)ls * per < items) ls *= 2;
    char name[32];
    snprintf(name, sizeof name, "%s%s", shader, vec ? "_vec4" : "");
    prism_kernel k = {.op = op, .shader = name, .nspec = 4, .spec = {ls, 1, 1, per},
                      .groups = {PRISM_CEIL_DIV(items, (uint64_t)ls * per), 1, 1}, .fault_binding = 1, .nbind = 5,
                      .cost = (uint64_t)n};
    k.bind[0] = (prism_binding){a->state, 0, PRISM_OPT_STATE_SIZE, false};
    k.bind[1] = (prism_binding){a->p, off, n, true};
    k.bind[2] = (prism_binding){a->g, off, n, false};
    /* unused slots alias the grad, read-only, so they add no hazard */
    k.bind[3] = a->m ? (prism_binding){a->m, off, n, true} : (prism_binding){a->g, off, n, false};
    k.bind[4] = a->v ? (prism_binding){a->v, off, n, true} : (prism_binding){a->g, off, n, false};
    struct { uint32_t n, flags; float a, b, c, d; } push = {(uint32_t)items, flags, (float)a->a, (float)a->b,
                                                            (float)a->c, (float)a->d};
    memcpy(k.push, &push, sizeof push);
    k.push_size = sizeof push;
    return prism_record_kernel(s, &k);
}

/* adamw and sgd: chunked by the binding limit; in each chunk the vec4
 * variant covers the 16-byte-aligned bulk and the float one the tail (or
 * everything when a view starts mid-vec4). */
static prism_status step_op(prism_stream *s, const char *op, const char *shader, const optim_args *a, uint32_t flags) {
    if (prism_stream_is_reference(s)) return enqueue(s, op, a);
    prism_context *ctx = prism_stream_context(s);
    int64_t chunk = prism_max_binding_elems(ctx), n_all = a->p->numel;
    for (int64_t off = 0; off < n_all; off += chunk) {
        int64_t n = PRISM_MIN(chunk, n_all - off);
        bool vec = aligned16(a->p, off) && aligned16(a->g, off) && aligned16(a->m, off) && aligned16(a->v, off);
        int64_t bulk = vec ? n / 4 * 4 : 0;
        prism_status st;
        if (bulk && (st = step_kernel(s, op, shader, a, flags, off, bulk, true))) return st;
        if (n > bulk && (st = step_kernel(s, op, shader, a, flags, off + bulk, n - bulk, false))) return st;
    }
    return PRISM_OK;
}

static prism_status check_same(prism_stream *s, const char *op, const char *what, const prism_tensor *param,
                               const prism_tensor *t) {
    prism_status st = prism_check_tensor(s, op, what, t);
    if (!st) st = prism_check_same_numel(s, op, param, t);
    return st;
}

prism_status prism_adamw(prism_stream *s, const prism_adamw_params *p, const prism_tensor *state, prism_tensor *param,
                         const prism_tensor *grad, prism_tensor *m, prism_tensor *v) {
    const char *op = "adamw";
    prism_status st = prism_op_begin(s, op);
    if (st) return st;
    if ((st = check_adamw_params(prism_stream_context(s), op, p))) return st;
    if ((st = check_state(s, op, state))) return st;
    if ((st = prism_check_tensor(s, op, "param", param))) return st;
    if ((st = check_same(s, op, "grad", param, grad))) return st;
    if ((st = check_same(s, op, "m", param, m))) return st;
    if ((st = check_same(s, op, "v", param, v))) return st;
    optim_args a = {.kind = 1, .state = state, .p = param, .g = grad, .m = m, .v = v,
                    .a = p->beta1, .b = p->beta2, .c = p->eps, .d = p->weight_decay};
    return step_op(s, op, "optim_adamw", &a, 0);
}

prism_status prism_sgd(prism_stream *s, float momentum, float weight_decay, const prism_tensor *state,
                       prism_tensor *param, const prism_tensor *grad, prism_tensor *momentum_buf) {
    const char *op = "sgd";
    prism_status st = prism_op_begin(s, op);
    if (st) return st;
    prism_context *ctx = prism_stream_context(s);
    if ((st = bad_scalar(ctx, op, "momentum", momentum, momentum >= 0 && momentum < 1, "[0, 1)"))) return st;
    if ((st = bad_scalar(ctx, op, "weight_decay", weight_decay, weight_decay >= 0, "[0, inf)"))) return st;
    if ((st = check_state(s, op, state))) return st;
    if ((st = prism_check_tensor(s, op, "param", param))) return st;
    if ((st = check_same(s, op, "grad", param, grad))) return st;
    if (momentum_buf && (st = check_same(s, op, "momentum_buf", param, momentum_buf))) return st;
    optim_args a = {.kind = 2, .state = state, .p = param, .g = grad, .m = momentum_buf, .a = momentum, .b = weight_decay};
    return step_op(s, op, "optim_sgd", &a, momentum_buf ? 1u : 0u);
}

prism_status prism_clip_global_norm(prism_stream *s, prism_tensor *const *grads, int n, float max_norm,
                                    prism_tensor *state) {
    const char *op = "clip_global_norm";
    prism_status st = prism_op_begin(s, op);
    if (st) return st;
    prism_context *ctx = prism_stream_context(s);
    if (!grads || n < 1)
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: needs at least one gradient (got %d)", op, n);
    if ((st = bad_scalar(ctx, op, "max_norm", max_norm, max_norm > 0, "(0, inf)"))) return st;
    if ((st = check_state(s, op, state))) return st;
    for (int i = 0; i < n; i++)
        if ((st = prism_check_tensor(s, op, "gradient", grads[i]))) return st;
    /* One workgroup per tensor (chunk), each adding to state[6] in order:
     * deterministic without a scratch buffer. Fine for adapter-sized
     * gradients; huge ones are bandwidth-limited by a single workgroup. */
    uint32_t ls = pow2_floor(prism_local_size_1d(ctx));
    int64_t chunk = prism_max_binding_elems(ctx);
    for (int i = 0; i < n; i++) {
        const prism_tensor *g = grads[i];
        for (int64_t off = 0; off < g->numel; off += chunk) {
            int64_t cnt = PRISM_MIN(chunk, g->numel - off);
            int first = i == 0 && off == 0, last = i == n - 1 && off + cnt == g->numel;
            if (prism_stream_is_reference(s)) {
                /* the reference sums whole tensors; chunks only exist on devices */
                if (off) continue;
                optim_args a = {.kind = 3, .state = state, .g = g, .a = max_norm, .first = i == 0, .last = i == n - 1};
                if ((st = enqueue(s, op, &a))) return st;
                continue;
            }
            prism_kernel k = {.op = op, .shader = "optim_sumsq", .nspec = 3, .spec = {ls, 1, 1},
                              .groups = {1, 1, 1}, .fault_binding = 0, .nbind = 3};
            k.bind[0] = (prism_binding){state, 0, PRISM_OPT_STATE_SIZE, true};
            k.bind[1] = (prism_binding){g, off, cnt, false};
            k.bind[2] = (prism_binding){g, off, cnt, false};
            struct { uint32_t n, flags; float a; } push = {(uint32_t)cnt, (first ? 1u : 0u) | (last ? 2u : 0u), max_norm};
            memcpy(k.push, &push, sizeof push);
            k.push_size = sizeof push;
            if ((st = prism_record_kernel(s, &k))) return st;
        }
    }
    return PRISM_OK;
}
