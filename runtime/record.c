/* The checks an op passes before a stream records anything for it: the
 * stream still records and its device is alive, tensors exist and belong to
 * the stream's context, element counts agree, each binding lies inside its
 * tensor and within maxStorageBufferRange, and the grid fits the device once
 * folded. None of them changes the stream, so they live apart from the
 * recording (stream.c), which then reads as the commands it emits. Each
 * failure records a message naming the op and the shapes. */
#include "stream_impl.h"

prism_status prism_op_begin(prism_stream *s, const char *op) {
    if (!s) return PRISM_ERR_INVALID_ARGUMENT;
    if (s->ended || s->state != STREAM_RECORDING)
        return prism_set_error(s->ctx, PRISM_ERR_STATE,
                               "%s: the stream was already submitted; prism_stream_reset it to record again", op);
    if (s->ctx->device_lost)
        return prism_set_error(s->ctx, PRISM_ERR_DEVICE_LOST, "%s: device '%s' was lost earlier", op, s->ctx->caps.name);
    return PRISM_OK;
}

prism_status prism_check_tensor(prism_stream *s, const char *op, const char *what, const prism_tensor *t) {
    if (!t) return prism_set_error(s->ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op, what);
    if (t->ctx != s->ctx)
        return prism_set_error(s->ctx, PRISM_ERR_WRONG_CONTEXT, "%s: %s belongs to another context", op, what);
    return PRISM_OK;
}

prism_status prism_check_same_numel(prism_stream *s, const char *op, const prism_tensor *a, const prism_tensor *b) {
    if (a->numel == b->numel) return PRISM_OK;
    char x[64], y[64];
    return prism_set_error(s->ctx, PRISM_ERR_SHAPE, "%s: %s and %s differ in element count (%lld vs %lld)", op,
                           prism_tensor_shape_str(a, x, sizeof x), prism_tensor_shape_str(b, y, sizeof y),
                           (long long)a->numel, (long long)b->numel);
}

/* A descriptor's offset must be a multiple of minStorageBufferOffsetAlignment,
 * a view's start need not be: the binding starts at the aligned offset below
 * it and the shader adds the remainder (an element offset in the push block). */
prism_status prism_binding_range(prism_stream *s, const char *op, int i, const prism_binding *b,
                                 VkDescriptorBufferInfo *bi, uint32_t *elem_off, prism_range *acc) {
    prism_context *ctx = s->ctx;
    const prism_tensor *t = b->t;
    int64_t count = b->count ? b->count : t->numel - b->offset;
    if (b->offset < 0 || count < 0 || b->offset + count > t->numel)
        return prism_set_error(ctx, PRISM_ERR_SHAPE, "%s: binding %d (%lld elements at %lld) outside its tensor of %lld", op, i,
                               (long long)count, (long long)b->offset, (long long)t->numel);
    VkDeviceSize align = ctx->caps.min_storage_buffer_offset_alignment ? ctx->caps.min_storage_buffer_offset_alignment : 4;
    VkDeviceSize start = t->storage->offset + (VkDeviceSize)(t->offset + b->offset) * 4;
    VkDeviceSize base = start - start % align;
    VkDeviceSize range = start - base + (VkDeviceSize)PRISM_MAX(count, 1) * 4;
    if (range > ctx->caps.max_storage_buffer_range)
        return prism_set_error(ctx, PRISM_ERR_UNSUPPORTED,
                               "%s: binding %d spans %llu bytes, over maxStorageBufferRange %llu (op must tile)", op, i,
                               (unsigned long long)range, (unsigned long long)ctx->caps.max_storage_buffer_range);
    *bi = (VkDescriptorBufferInfo){.buffer = t->storage->buffer, .offset = base, .range = range};
    *elem_off = (uint32_t)((start - base) / 4);
    *acc = (prism_range){t->storage->buffer, start, start + (VkDeviceSize)count * 4};
    return PRISM_OK;
}

/* Ops size their grids from the problem alone; a 1-D grid longer than
 * maxComputeWorkGroupCount[0] is folded into y (and z) here, and the shaders
 * unfold it (shaders/common.glsl). A grid already 2-D or 3-D is never folded. */
prism_status prism_fold_grid(prism_context *ctx, const char *op, const uint64_t groups[3], uint64_t g[3]) {
    g[0] = groups[0];
    g[1] = groups[1] ? groups[1] : 1;
    g[2] = groups[2] ? groups[2] : 1;
    const uint32_t *mx = ctx->caps.max_workgroup_count;
    if (g[0] > mx[0]) {
        if (g[1] != 1 || g[2] != 1)
            return prism_set_error(ctx, PRISM_ERR_DIMS, "%s: grid %llux%llux%llu too large to fold", op,
                                   (unsigned long long)g[0], (unsigned long long)g[1], (unsigned long long)g[2]);
        uint64_t n = g[0];
        g[0] = mx[0];
        g[1] = PRISM_CEIL_DIV(n, g[0]);
        if (g[1] > mx[1]) {
            g[2] = PRISM_CEIL_DIV(g[1], mx[1]);
            g[1] = mx[1];
        }
    }
    if (g[0] == 0 || g[1] > mx[1] || g[2] > mx[2])
        return prism_set_error(ctx, PRISM_ERR_DIMS, "%s: grid %llux%llux%llu exceeds the device limits", op,
                               (unsigned long long)g[0], (unsigned long long)g[1], (unsigned long long)g[2]);
    return PRISM_OK;
}
