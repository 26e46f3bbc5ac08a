/* Dispatchers of the row reductions row_sum / row_dot / row_norm
 * (shaders/reduce.comp). The last dim is reduced; leading dims are flattened
 * into rows. A tensor larger than one binding (maxStorageBufferRange) is split
 * over whole rows, one dispatch per row range; a single row longer than one
 * binding is refused (a 32M-float row is not a real case and would need a
 * second reduction pass). */
#include <string.h>
#include "../internal.h"
#include "op_util.h"
#include "../reference/reduce.h"

typedef struct reduce_args {
    prism_reduce_mode mode;
    const prism_tensor *y, *a, *b;
    int64_t rows, cols;
} reduce_args;

static void reduce_ref(const void *p) {
    const reduce_args *r = p;
    prism_ref_row_reduce(r->mode, prism_ref_data(r->y), prism_ref_data(r->a), r->b ? prism_ref_data(r->b) : NULL,
                         r->rows, r->cols);
}

/* Rows readable as vec4: whole vec4s per row and a 16-byte aligned start
 * (then every row start is aligned too). */
static bool vec4_ok(const prism_tensor *t, int64_t cols) {
    return cols % 4 == 0 && (t->storage->offset + (VkDeviceSize)t->offset * 4) % 16 == 0;
}

/* Invocations per row: enough that each one sums ~32 elements (or vec4s).
 * Fewer invocations per row means fewer tree levels and barriers, and short
 * rows share a workgroup; on lavapipe 32 per invocation beat 8 by ~1.5x for
 * row_norm [4096, 4096] (barriers are costly there). Capped by the
 * workgroup size. */
static uint32_t threads_per_row(int64_t cols, uint32_t ls) {
    uint32_t t = 1;
    while (t < ls && (int64_t)t * 32 < cols) t *= 2;
    return t;
}

static prism_status row_reduce(prism_stream *s, const char *op, prism_reduce_mode mode, const prism_tensor *a,
                               const prism_tensor *b, prism_tensor *y) {
    prism_status st = prism_op_begin(s, op);
    if (st) return st;
    if ((st = prism_check_tensor(s, op, "input", a))) return st;
    if (mode == PRISM_REDUCE_DOT && (st = prism_check_tensor(s, op, "second input", b))) return st;
    if ((st = prism_check_tensor(s, op, "output", y))) return st;
    prism_context *ctx = prism_stream_context(s);
    char sa[64], sb[64], sy[64];
    prism_tensor_shape_str(a, sa, sizeof sa);
    prism_tensor_shape_str(y, sy, sizeof sy);
    int64_t cols = a->shape[a->ndim - 1], rows = a->numel / cols;
    if (mode == PRISM_REDUCE_DOT && (b->numel != a->numel || b->shape[b->ndim - 1] != cols))
        return prism_set_error(ctx, PRISM_ERR_SHAPE, "%s: inputs %s and %s differ in rows or row length", op, sa,
                               prism_tensor_shape_str(b, sb, sizeof sb));
    if (y->numel != rows)
        return prism_set_error(ctx, PRISM_ERR_SHAPE,
                               "%s: output %s has %lld elements, expected %lld (one per row of input %s)", op, sy,
                               (long long)y->numel, (long long)rows, sa);
    if (prism_op_overlap(y, a) || (mode == PRISM_REDUCE_DOT && prism_op_overlap(y, b)))
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: output %s overlaps an input", op, sy);

    if (prism_stream_is_reference(s)) {
        reduce_args r = {mode, y, a, mode == PRISM_REDUCE_DOT ? b : NULL, rows, cols};
        const prism_tensor *ts[3] = {y, a, mode == PRISM_REDUCE_DOT ? b : a};
        return prism_ref_enqueue(s, op, reduce_ref, &r, sizeof r, ts, 3);
    }

    int64_t maxe = prism_max_binding_elems(ctx);
    if (cols > maxe)
        return prism_set_error(ctx, PRISM_ERR_UNSUPPORTED,
                               "%s: input %s has rows of %lld elements, over the %lld one binding can hold "
                               "(maxStorageBufferRange %llu bytes)",
                               op, sa, (long long)cols, (long long)maxe,
                               (unsigned long long)ctx->caps.max_storage_buffer_range);
    uint32_t ls = prism_op_pow2_floor(prism_local_size_1d(ctx)); /* the tree needs a power of two */
    const prism_tensor *second = mode == PRISM_REDUCE_DOT ? b : a;
    bool v4 = vec4_ok(a, cols) && vec4_ok(second, cols);
    uint32_t tpr = threads_per_row(v4 ? cols / 4 : cols, ls);
    uint32_t rows_per_group = ls / tpr;
    int64_t chunk = PRISM_MIN(maxe / cols, maxe); /* rows per dispatch: a and y both fit */
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        int64_t n = PRISM_MIN(chunk, rows - r0);
        prism_kernel k = {.op = op, .shader = v4 ? "reduce_vec4" : "reduce", .nspec = 5, .spec = {ls, 1, 1, (uint32_t)mode, tpr},
                          .groups = {(uint64_t)PRISM_CEIL_DIV(n, rows_per_group), 1, 1}, .fault_binding = 0};
        k.bind[0] = (prism_binding){y, r0, n, true};
        k.bind[1] = (prism_binding){a, r0 * cols, n * cols, false};
        k.bind[2] = (prism_binding){second, r0 * cols, n * cols, false};
        k.nbind = 3;
        struct { uint32_t rows, cols; } push = {(uint32_t)n, (uint32_t)cols};
        memcpy(k.push, &push, sizeof push);
        k.push_size = sizeof push;
        if ((st = prism_record_kernel(s, &k))) return st;
    }
    return PRISM_OK;
}

prism_status prism_row_sum(prism_stream *s, const prism_tensor *x, prism_tensor *y) {
    return row_reduce(s, "row_sum", PRISM_REDUCE_SUM, x, NULL, y);
}
prism_status prism_row_dot(prism_stream *s, const prism_tensor *a, const prism_tensor *b, prism_tensor *y) {
    return row_reduce(s, "row_dot", PRISM_REDUCE_DOT, a, b, y);
}
prism_status prism_row_norm(prism_stream *s, const prism_tensor *x, prism_tensor *y) {
    return row_reduce(s, "row_norm", PRISM_REDUCE_NORM, x, NULL, y);
}
