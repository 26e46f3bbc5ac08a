/* Small helpers shared by the op dispatchers in runtime/ops: binding limits
 * that tests can lower, aliasing and alignment tests on tensors. Header-only
 * (static inline); include after ../internal.h. */
#ifndef PRISM_OPS_OP_UTIL_H
#define PRISM_OPS_OP_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include "../internal.h"

/* Largest element count of one binding; the environment variable `var`
 * (elements, >= 16) may lower it so tests reach an op's split paths with
 * small tensors. Kept a multiple of 4: 16-byte offset alignment. */
static inline int64_t prism_op_max_binding(const prism_context *ctx, const char *var) {
    int64_t lim = prism_max_binding_elems(ctx);
    const char *e = getenv(var);
    if (e && *e) {
        long long v = strtoll(e, NULL, 10);
        if (v >= 16 && v < lim) lim = v - v % 4;
    }
    return lim;
}

/* p and q share at least one element (NULL never does). */
static inline bool prism_op_overlap(const prism_tensor *p, const prism_tensor *q) {
    return p && q && p->storage == q->storage && p->offset < q->offset + q->numel && q->offset < p->offset + p->numel;
}

/* p and q are exactly the same elements. */
static inline bool prism_op_same_range(const prism_tensor *p, const prism_tensor *q) {
    return p->storage == q->storage && p->offset == q->offset && p->numel == q->numel;
}

/* t starts on a 16-byte boundary of its buffer (vec4 loads); NULL (an
 * absent optional operand) counts as aligned. */
static inline bool prism_op_aligned16(const prism_tensor *t) {
    return !t || (t->storage->offset + (VkDeviceSize)t->offset * 4) % 16 == 0;
}

static inline uint32_t prism_op_pow2_floor(uint32_t v) {
    uint32_t p = 1;
    while (p * 2 <= v) p *= 2;
    return p;
}

#endif
