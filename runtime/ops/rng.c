/* Dispatchers of the Philox4x32-10 fills (shaders/rng.comp). The mapping
 * from (seed, offset, element) to a number is documented in
 * runtime/reference/rng.c; `offset` counts counter blocks of 4 elements, so
 * a tensor of n elements uses blocks offset .. offset + ceil(n/4) - 1 and the
 * next independent fill should start at offset + ceil(n/4). */
#include <math.h>
#include <string.h>
#include "../internal.h"
#include "../reference/rng.h"

typedef struct rng_args {
    int normal;
    uint64_t seed, offset;
    float a, b; /* uniform: lo, hi; normal: mean, stddev */
    const prism_tensor *y;
} rng_args;

static void rng_ref(const void *p) {
    const rng_args *r = p;
    if (r->normal) prism_ref_rng_normal(r->seed, r->offset, r->a, r->b, prism_ref_data(r->y), r->y->numel);
    else prism_ref_rng_uniform(r->seed, r->offset, r->a, r->b, prism_ref_data(r->y), r->y->numel);
}

static prism_status rng_op(prism_stream *s, const char *op, int normal, uint64_t seed, uint64_t offset, float a,
                           float b, prism_tensor *y) {
    prism_status st = prism_op_begin(s, op);
    if (st) return st;
    if ((st = prism_check_tensor(s, op, "output", y))) return st;
    prism_context *ctx = prism_stream_context(s);
    if (!isfinite(a) || !isfinite(b))
        return prism_set_error(ctx, PRISM_ERR_NOT_FINITE, "%s: %s %g / %s %g must be finite", op,
                               normal ? "mean" : "lo", a, normal ? "stddev" : "hi", b);
    float d = b - a;
    if (normal ? b < 0 : (b < a || !isfinite(d)))
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT,
                               normal ? "%s: stddev %g is negative (mean %g)" : "%s: range [%g, %g] is empty or overflows",
                               op, normal ? b : a, normal ? a : b);
    if (prism_stream_is_reference(s)) {
        rng_args r = {normal, seed, offset, a, b, y};
        const prism_tensor *ts[1] = {y};
        return prism_ref_enqueue(s, op, rng_ref, &r, sizeof r, ts, 1);
    }
    uint32_t ls = prism_local_size_1d(ctx);
    /* chunks start on a block boundary, so each invocation owns one whole block */
    int64_t chunk = prism_max_binding_elems(ctx) & ~(int64_t)3;
    for (int64_t off = 0; off < y->numel; off += chunk) {
        int64_t n = PRISM_MIN(chunk, y->numel - off);
        uint64_t blk = offset + (uint64_t)(off / 4);
        prism_kernel k = {.op = op, .shader = "rng", .nspec = 4, .spec = {ls, 1, 1, (uint32_t)normal},
                          .groups = {(uint64_t)PRISM_CEIL_DIV(PRISM_CEIL_DIV(n, 4), ls), 1, 1}, .fault_binding = 0,
                          .nbind = 1};
        k.bind[0] = (prism_binding){y, off, n, true};
        struct { uint32_t n, blk_lo, blk_hi, key_lo, key_hi; float a, b; } push = {
            (uint32_t)n, (uint32_t)blk, (uint32_t)(blk >> 32), (uint32_t)seed, (uint32_t)(seed >> 32), a, normal ? b : d};
        memcpy(k.push, &push, sizeof push);
        k.push_size = sizeof push;
        if ((st = prism_record_kernel(s, &k))) return st;
    }
    return PRISM_OK;
}

prism_status prism_rng_uniform(prism_stream *s, uint64_t seed, uint64_t offset, float lo, float hi, prism_tensor *y) {
    return rng_op(s, "rng_uniform", 0, seed, offset, lo, hi, y);
}

prism_status prism_rng_normal(prism_stream *s, uint64_t seed, uint64_t offset, float mean, float stddev,
                              prism_tensor *y) {
    return rng_op(s, "rng_normal", 1, seed, offset, mean, stddev, y);
}
