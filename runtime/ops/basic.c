/* Dispatchers of the element-wise ops (shaders/basic.comp). Tensors larger
 * than one binding (maxStorageBufferRange) are processed in chunks. */
#include <math.h>
#include <string.h>
#include "../internal.h"
#include "../reference/basic.h"

typedef struct ew_args {
    prism_ew_mode mode;
    const prism_tensor *y, *a, *b;
    double alpha;
} ew_args;

static void ew_ref(const void *p) {
    const ew_args *e = p;
    prism_ref_elementwise(e->mode, prism_ref_data(e->y), e->a ? prism_ref_data(e->a) : NULL,
                          e->b ? prism_ref_data(e->b) : NULL, e->alpha, e->y->numel);
}

static bool aligned16(const prism_tensor *t, int64_t off) {
    return (t->storage->offset + (uint64_t)(t->offset + off) * 4) % 16 == 0;
}

/* Items (floats or vec4s) per invocation; the workgroup is the device's 1-D
 * size (256 where allowed). The same on every device class: on lavapipe this
 * coalesced layout measured 1.6-2x faster than contiguous runs per invocation
 * with 64-wide workgroups (docs/ARCHITECTURE.md). */
#define EW_PER 4

/* Small dispatches get the smallest power of two >= 32 that covers them: idle
 * invocations are not free (on lavapipe a 1-element op with 256-wide groups
 * cost ~2x its 32-wide time per dispatch). */
static uint32_t fit_local_size(prism_context *ctx, uint64_t items, uint32_t per) {
    uint32_t max = prism_local_size_1d(ctx), ls = PRISM_MIN(32u, max);
    while (ls < max && (uint64_t)ls * per < items) ls *= 2;
    return PRISM_MIN(ls, max);
}

/* One dispatch over elements [off, off + n) of every operand. */
static prism_status record(prism_stream *s, const char *op, prism_ew_mode mode, const prism_tensor *y,
                           const prism_tensor *a, const prism_tensor *b, float alpha, int64_t off, int64_t n, bool vec) {
    uint64_t items = (uint64_t)(vec ? n / 4 : n);
    uint32_t ls = fit_local_size(prism_stream_context(s), items, EW_PER);
    prism_kernel k = {.op = op, .shader = vec ? "basic_vec4" : "basic", .nspec = 5, .spec = {ls, 1, 1, (uint32_t)mode, EW_PER},
                      .groups = {PRISM_CEIL_DIV(items, (uint64_t)ls * EW_PER), 1, 1}, .fault_binding = 0,
                      .cost = (uint64_t)n};
    k.bind[0] = (prism_binding){y, off, n, true};
    k.bind[1] = (prism_binding){a ? a : y, off, n, false};
    k.bind[2] = (prism_binding){b ? b : y, off, n, false};
    k.nbind = 3;
    struct { uint32_t n; float alpha; } push = {(uint32_t)items, alpha};
    memcpy(k.push, &push, sizeof push);
    k.push_size = sizeof push;
    return prism_record_kernel(s, &k);
}

static prism_status elementwise(prism_stream *s, const char *op, prism_ew_mode mode, const prism_tensor *y,
                                const prism_tensor *a, const prism_tensor *b, float alpha) {
    prism_status st = prism_op_begin(s, op);
    if (st) return st;
    if ((st = prism_check_tensor(s, op, "output", y))) return st;
    if (mode != PRISM_EW_FILL && (st = prism_check_tensor(s, op, "input", a))) return st;
    bool two = mode == PRISM_EW_ADD || mode == PRISM_EW_MUL || mode == PRISM_EW_RELU_BWD || mode == PRISM_EW_GELU_BWD;
    if (two && (st = prism_check_tensor(s, op, "second input", b))) return st;
    if (a && (st = prism_check_same_numel(s, op, a, y))) return st;
    if (two && (st = prism_check_same_numel(s, op, b, y))) return st;
    if (!isfinite(alpha)) return prism_set_error(prism_stream_context(s), PRISM_ERR_NOT_FINITE, "%s: scalar %g is not finite", op, alpha);

    if (prism_stream_is_reference(s)) {
        ew_args e = {mode, y, a, two ? b : NULL, alpha};
        const prism_tensor *ts[3] = {y, a ? a : y, two ? b : y};
        return prism_ref_enqueue(s, op, ew_ref, &e, sizeof e, ts, 3);
    }
    prism_context *ctx = prism_stream_context(s);
    int64_t chunk = prism_max_binding_elems(ctx);
    for (int64_t off = 0; off < y->numel; off += chunk) {
        int64_t n = PRISM_MIN(chunk, y->numel - off);
        /* vec4 over the 16-byte-aligned bulk, floats for the tail or when a
         * view starts mid-vec4 */
        bool vec = aligned16(y, off) && (!a || aligned16(a, off)) && (!two || aligned16(b, off));
        int64_t bulk = vec ? n / 4 * 4 : 0;
        if (bulk && (st = record(s, op, mode, y, a, two ? b : NULL, alpha, off, bulk, true))) return st;
        if (n > bulk && (st = record(s, op, mode, y, a, two ? b : NULL, alpha, off + bulk, n - bulk, false))) return st;
    }
    return PRISM_OK;
}

prism_status prism_fill(prism_stream *s, prism_tensor *y, float v) { return elementwise(s, "fill", PRISM_EW_FILL, y, NULL, NULL, v); }
prism_status prism_copy(prism_stream *s, const prism_tensor *x, prism_tensor *y) { return elementwise(s, "copy", PRISM_EW_COPY, y, x, NULL, 0); }
prism_status prism_add(prism_stream *s, const prism_tensor *a, const prism_tensor *b, prism_tensor *y) { return elementwise(s, "add", PRISM_EW_ADD, y, a, b, 0); }
prism_status prism_mul(prism_stream *s, const prism_tensor *a, const prism_tensor *b, prism_tensor *y) { return elementwise(s, "mul", PRISM_EW_MUL, y, a, b, 0); }
prism_status prism_scale(prism_stream *s, const prism_tensor *x, float alpha, prism_tensor *y) { return elementwise(s, "scale", PRISM_EW_SCALE, y, x, NULL, alpha); }
prism_status prism_axpy(prism_stream *s, float alpha, const prism_tensor *x, prism_tensor *y) { return elementwise(s, "axpy", PRISM_EW_AXPY, y, x, NULL, alpha); }
prism_status prism_relu(prism_stream *s, const prism_tensor *x, prism_tensor *y) { return elementwise(s, "relu", PRISM_EW_RELU, y, x, NULL, 0); }
prism_status prism_relu_backward(prism_stream *s, const prism_tensor *x, const prism_tensor *dy, prism_tensor *dx) { return elementwise(s, "relu_backward", PRISM_EW_RELU_BWD, dx, x, dy, 0); }
prism_status prism_gelu(prism_stream *s, const prism_tensor *x, prism_tensor *y) { return elementwise(s, "gelu", PRISM_EW_GELU, y, x, NULL, 0); }
prism_status prism_gelu_backward(prism_stream *s, const prism_tensor *x, const prism_tensor *dy, prism_tensor *dx) { return elementwise(s, "gelu_backward", PRISM_EW_GELU_BWD, dx, x, dy, 0); }
