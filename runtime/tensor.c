/* Tensors: fp32 row-major, 1..4 dims, views share ref-counted storage.
 * Host transfers are synchronous: mapped memcpy on unified memory, chunked
 * staging copies otherwise. On the reference backend storage is float64. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define STAGING_CHUNK ((VkDeviceSize)32 << 20)

static prism_status check_shape(prism_context *ctx, const char *op, int ndim, const int64_t *shape, int64_t *numel) {
    if (ndim < 1 || ndim > PRISM_MAX_DIMS)
        return prism_set_error(ctx, PRISM_ERR_DIMS, "%s: ndim %d outside 1..%d", op, ndim, PRISM_MAX_DIMS);
    if (!shape) return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: shape is NULL", op);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1)
            return prism_set_error(ctx, PRISM_ERR_DIMS, "%s: dim %d is %lld (must be >= 1)", op, i, (long long)shape[i]);
        if (shape[i] > PRISM_MAX_ELEMS || n > PRISM_MAX_ELEMS / shape[i])
            return prism_set_error(ctx, PRISM_ERR_DIMS, "%s: shape overflows (more than 2^40 elements at dim %d)", op, i);
        n *= shape[i];
    }
    *numel = n;
    return PRISM_OK;
}

static prism_status tensor_new(prism_context *ctx, prism_storage *sto, int64_t offset, int ndim, const int64_t *shape,
                               int64_t numel, prism_tensor **out) {
    prism_tensor *t = calloc(1, sizeof *t);
    if (!t) return prism_set_error(ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "tensor: out of host memory");
    t->ctx = ctx;
    t->id = ctx->next_id++;
    t->storage = sto;
    t->offset = offset;
    t->ndim = ndim;
    memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
    t->numel = numel;
    if (prism_registry_add(ctx, t->id) != PRISM_OK) {
        free(t);
        return prism_set_error(ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "tensor: out of host memory");
    }
    sto->refs++;
    *out = t;
    return PRISM_OK;
}

prism_status prism_tensor_create(prism_context *ctx, int ndim, const int64_t *shape, prism_tensor **out) {
    if (!ctx) return PRISM_ERR_INVALID_ARGUMENT;
    if (!out) return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "tensor_create: out is NULL");
    *out = NULL;
    int64_t numel;
    prism_status st = check_shape(ctx, "tensor_create", ndim, shape, &numel);
    if (st) return st;
    prism_storage *sto = calloc(1, sizeof *sto);
    if (!sto) return prism_set_error(ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "tensor_create: out of host memory");
    sto->ctx = ctx;
    sto->numel = numel;
    if (ctx->backend == PRISM_BACKEND_REFERENCE) {
        sto->host = malloc(sizeof(double) * (size_t)numel);
        if (!sto->host) {
            free(sto);
            return prism_set_error(ctx, PRISM_ERR_OUT_OF_HOST_MEMORY,
                                   "tensor_create: %lld float64 elements do not fit in host memory", (long long)numel);
        }
    } else {
        st = prism_mem_alloc(ctx, (VkDeviceSize)numel * 4, sto);
        if (st) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", ctx->err);
            free(sto);
            return prism_set_error(ctx, st, "tensor_create of %lld elements: %s", (long long)numel, msg);
        }
    }
    st = tensor_new(ctx, sto, 0, ndim, shape, numel, out);
    if (st) {
        if (sto->host) free(sto->host);
        else prism_mem_free(ctx, sto);
        free(sto);
    }
    return st;
}

prism_status prism_tensor_view(prism_tensor *t, int64_t offset, int ndim, const int64_t *shape, prism_tensor **out) {
    if (!t) return PRISM_ERR_INVALID_ARGUMENT;
    prism_context *ctx = t->ctx;
    if (!out) return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "tensor_view: out is NULL");
    *out = NULL;
    int64_t numel;
    prism_status st = check_shape(ctx, "tensor_view", ndim, shape, &numel);
    if (st) return st;
    if (offset < 0 || offset > t->numel || numel > t->numel - offset) {
        char b[64];
        return prism_set_error(ctx, PRISM_ERR_SHAPE,
                               "tensor_view: %lld elements at offset %lld exceed the %lld elements of tensor %s",
                               (long long)numel, (long long)offset, (long long)t->numel,
                               prism_tensor_shape_str(t, b, sizeof b));
    }
    return tensor_new(ctx, t->storage, t->offset + offset, ndim, shape, numel, out);
}

void prism_tensor_destroy(prism_tensor *t) {
    if (!t) return;
    prism_context *ctx = t->ctx;
    prism_registry_remove(ctx, t->id);
    prism_storage *sto = t->storage;
    if (--sto->refs == 0) {
        if (sto->host) free(sto->host);
        else prism_mem_free(ctx, sto);
        free(sto);
    }
    free(t);
}

int prism_tensor_ndim(const prism_tensor *t) { return t ? t->ndim : 0; }
int64_t prism_tensor_numel(const prism_tensor *t) { return t ? t->numel : 0; }
prism_context *prism_tensor_context(const prism_tensor *t) { return t ? t->ctx : NULL; }
int64_t prism_tensor_dim(const prism_tensor *t, int i) {
    if (!t) return 0;
    if (i < 0) i += t->ndim;
    return (i >= 0 && i < t->ndim) ? t->shape[i] : 0;
}

const char *prism_tensor_shape_str(const prism_tensor *t, char *buf, size_t len) {
    if (!buf || !len) return "";
    if (!t) {
        snprintf(buf, len, "(null)");
        return buf;
    }
    size_t n = 0;
    n += (size_t)snprintf(buf + n, len - n, "[");
    for (int i = 0; i < t->ndim && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (n < len) snprintf(buf + n, len - n, "]");
    return buf;
}

/* ---- transfers */

typedef enum { TO_DEVICE, FROM_DEVICE } direction;

/* Moves bytes between host memory and the tensor's storage through a
 * staging buffer, in chunks so a large tensor needs no large staging area. */
static prism_status staged(prism_tensor *t, direction dir, void *host, VkDeviceSize bytes) {
    prism_context *ctx = t->ctx;
    prism_status st = PRISM_OK;
    VkBuffer buf = VK_NULL_HANDLE;
    VkDeviceMemory mem = VK_NULL_HANDLE;
    void *map = NULL;
    VkDeviceSize chunk = PRISM_MIN(bytes, STAGING_CHUNK);
    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = chunk,
        .usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
    };
    PRISM_VK(vkCreateBuffer(ctx->device, &bci, NULL, &buf));
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(ctx->device, buf, &req);
    VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                .allocationSize = req.size,
                                .memoryTypeIndex = ctx->staging_type};
    PRISM_VK(vkAllocateMemory(ctx->device, &mai, NULL, &mem));
    PRISM_VK(vkBindBufferMemory(ctx->device, buf, mem, 0));
    PRISM_VK(vkMapMemory(ctx->device, mem, 0, VK_WHOLE_SIZE, 0, &map));
    for (VkDeviceSize done = 0; done < bytes; done += chunk) {
        VkDeviceSize n = PRISM_MIN(chunk, bytes - done);
        VkDeviceSize dev_off = t->storage->offset + (VkDeviceSize)t->offset * 4 + done;
        if (dir == TO_DEVICE) memcpy(map, (char *)host + done, n);
        VkCommandBuffer cb;
        PRISM_TRY(prism_oneshot_begin(ctx, &cb));
        VkBufferCopy region = {.srcOffset = dir == TO_DEVICE ? 0 : dev_off,
                               .dstOffset = dir == TO_DEVICE ? dev_off : 0,
                               .size = n};
        if (dir == TO_DEVICE) vkCmdCopyBuffer(cb, buf, t->storage->buffer, 1, &region);
        else vkCmdCopyBuffer(cb, t->storage->buffer, buf, 1, &region);
        VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                              .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                              .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT};
        vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT,
                             VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL,
                             0, NULL);
        PRISM_TRY(prism_oneshot_end(ctx, cb));
        if (dir == FROM_DEVICE) memcpy((char *)host + done, map, n);
    }
cleanup:
    if (map) vkUnmapMemory(ctx->device, mem);
    if (buf) vkDestroyBuffer(ctx->device, buf, NULL);
    if (mem) vkFreeMemory(ctx->device, mem, NULL);
    return st;
}

static prism_status transfer_check(prism_tensor *t, const void *p, int64_t count, const char *op) {
    if (!t) return PRISM_ERR_INVALID_ARGUMENT;
    if (!p) return prism_set_error(t->ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: host pointer is NULL", op);
    if (count != t->numel) {
        char b[64];
        return prism_set_error(t->ctx, PRISM_ERR_SHAPE, "%s: %lld elements given for tensor %s (%lld elements)", op,
                               (long long)count, prism_tensor_shape_str(t, b, sizeof b), (long long)t->numel);
    }
    if (t->ctx->device_lost)
        return prism_set_error(t->ctx, PRISM_ERR_DEVICE_LOST, "%s: device '%s' was lost earlier", op, t->ctx->caps.name);
    return PRISM_OK;
}


prism_status prism_tensor_upload(prism_tensor *t, const float *src, int64_t count) {
    prism_status st = transfer_check(t, src, count, "tensor_upload");
    if (st) return st;
    if (t->ctx->backend == PRISM_BACKEND_REFERENCE) {
        double *d = prism_ref_data(t);
        for (int64_t i = 0; i < count; i++) d[i] = src[i];
        return PRISM_OK;
    }
    if (t->storage->mapped) {
        memcpy((float *)t->storage->mapped + t->offset, src, (size_t)count * 4);
        return PRISM_OK;
    }
    return staged(t, TO_DEVICE, (void *)src, (VkDeviceSize)count * 4);
}

prism_status prism_tensor_download(prism_tensor *t, float *dst, int64_t count) {
    prism_status st = transfer_check(t, dst, count, "tensor_download");
    if (st) return st;
    if (t->ctx->backend == PRISM_BACKEND_REFERENCE) {
        const double *d = prism_ref_data(t);
        for (int64_t i = 0; i < count; i++) dst[i] = (float)d[i];
        return PRISM_OK;
    }
    if (t->storage->mapped) {
        memcpy(dst, (const float *)t->storage->mapped + t->offset, (size_t)count * 4);
        return PRISM_OK;
    }
    return staged(t, FROM_DEVICE, dst, (VkDeviceSize)count * 4);
}

prism_status prism_tensor_upload_f64(prism_tensor *t, const double *src, int64_t count) {
    prism_status st = transfer_check(t, src, count, "tensor_upload_f64");
    if (st) return st;
    if (t->ctx->backend == PRISM_BACKEND_REFERENCE) {
        memcpy(prism_ref_data(t), src, (size_t)count * sizeof(double));
        return PRISM_OK;
    }
    float *tmp = malloc(sizeof(float) * (size_t)count);
    if (!tmp) return prism_set_error(t->ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "tensor_upload_f64: out of host memory");
    for (int64_t i = 0; i < count; i++) tmp[i] = (float)src[i];
    st = prism_tensor_upload(t, tmp, count);
    free(tmp);
    return st;
}

prism_status prism_tensor_download_f64(prism_tensor *t, double *dst, int64_t count) {
    prism_status st = transfer_check(t, dst, count, "tensor_download_f64");
    if (st) return st;
    if (t->ctx->backend == PRISM_BACKEND_REFERENCE) {
        memcpy(dst, prism_ref_data(t), (size_t)count * sizeof(double));
        return PRISM_OK;
    }
    float *tmp = malloc(sizeof(float) * (size_t)count);
    if (!tmp) return prism_set_error(t->ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "tensor_download_f64: out of host memory");
    st = prism_tensor_download(t, tmp, count);
    if (st == PRISM_OK)
        for (int64_t i = 0; i < count; i++) dst[i] = tmp[i];
    free(tmp);
    return st;
}
