/* Device memory: tensors are sub-allocated from large blocks (few
 * vkAllocateMemory calls, respecting maxMemoryAllocationCount); a block never
 * exceeds maxStorageBufferRange, so any range inside it can be bound. Tensors
 * too large for a block get a dedicated buffer, and ops bind them in chunks. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

typedef struct range { VkDeviceSize off, size; } range;

struct prism_block {
    prism_block *next;
    VkBuffer buffer;
    VkDeviceMemory memory;
    VkDeviceSize size;
    void *mapped;
    bool dedicated;
    range *free;       /* sorted, coalesced free ranges */
    int nfree, cap;
};

#define DEFAULT_BLOCK ((VkDeviceSize)64 << 20)

static VkDeviceSize alignment(const prism_context *ctx) {
    VkDeviceSize a = ctx->caps.min_storage_buffer_offset_alignment;
    if (a < 16) a = 16;
    return a;
}

static VkDeviceSize block_size(prism_context *ctx) {
    if (!ctx->block_size) {
        VkDeviceSize b = DEFAULT_BLOCK;
        if (ctx->caps.max_storage_buffer_range && ctx->caps.max_storage_buffer_range < b)
            b = ctx->caps.max_storage_buffer_range & ~(alignment(ctx) - 1);
        if (ctx->caps.max_memory_allocation_size && ctx->caps.max_memory_allocation_size < b)
            b = ctx->caps.max_memory_allocation_size;
        ctx->block_size = b;
    }
    return ctx->block_size;
}

static void block_destroy(prism_context *ctx, prism_block *b) {
    if (!b) return;
    if (b->mapped) vkUnmapMemory(ctx->device, b->memory);
    if (b->buffer) vkDestroyBuffer(ctx->device, b->buffer, NULL);
    if (b->memory) vkFreeMemory(ctx->device, b->memory, NULL);
    free(b->free);
    free(b);
}

static prism_status block_create(prism_context *ctx, VkDeviceSize size, bool dedicated, prism_block **out) {
    prism_status st = PRISM_OK;
    *out = NULL;
    if (ctx->device_lost) return prism_set_error(ctx, PRISM_ERR_DEVICE_LOST, "device '%s' was lost earlier", ctx->caps.name);
    prism_block *b = calloc(1, sizeof *b);
    if (!b) return prism_set_error(ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "memory: out of host memory");
    b->size = size;
    b->dedicated = dedicated;
    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                 VK_BUFFER_USAGE_TRANSFER_DST_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    PRISM_VK(vkCreateBuffer(ctx->device, &bci, NULL, &b->buffer));
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(ctx->device, b->buffer, &req);
    if (!(req.memoryTypeBits & (1u << ctx->mem_type))) {
        st = prism_set_error(ctx, PRISM_ERR_UNSUPPORTED, "memory: the chosen memory type cannot back storage buffers");
        goto cleanup;
    }
    VkMemoryAllocateInfo mai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .allocationSize = req.size,
        .memoryTypeIndex = ctx->mem_type,
    };
    PRISM_VK(vkAllocateMemory(ctx->device, &mai, NULL, &b->memory));
    PRISM_VK(vkBindBufferMemory(ctx->device, b->buffer, b->memory, 0));
    if (ctx->host_visible) PRISM_VK(vkMapMemory(ctx->device, b->memory, 0, VK_WHOLE_SIZE, 0, &b->mapped));
    b->cap = 8;
    b->free = malloc(sizeof(range) * (size_t)b->cap);
    if (!b->free) {
        st = prism_set_error(ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "memory: out of host memory");
        goto cleanup;
    }
    b->free[0] = (range){0, size};
    b->nfree = 1;
    *out = b;
    return PRISM_OK;
cleanup:
    block_destroy(ctx, b);
    return st;
}

/* First fit; returns false when the block has no room. */
static bool block_take(prism_block *b, VkDeviceSize bytes, VkDeviceSize *off) {
    for (int i = 0; i < b->nfree; i++) {
        if (b->free[i].size < bytes) continue;
        *off = b->free[i].off;
        b->free[i].off += bytes;
        b->free[i].size -= bytes;
        if (b->free[i].size == 0) {
            memmove(b->free + i, b->free + i + 1, sizeof(range) * (size_t)(b->nfree - i - 1));
            b->nfree--;
        }
        return true;
    }
    return false;
}

static bool block_give(prism_block *b, VkDeviceSize off, VkDeviceSize bytes) {
    int i = 0;
    while (i < b->nfree && b->free[i].off < off) i++;
    bool merge_prev = i > 0 && b->free[i - 1].off + b->free[i - 1].size == off;
    bool merge_next = i < b->nfree && off + bytes == b->free[i].off;
    if (merge_prev && merge_next) {
        b->free[i - 1].size += bytes + b->free[i].size;
        memmove(b->free + i, b->free + i + 1, sizeof(range) * (size_t)(b->nfree - i - 1));
        b->nfree--;
    } else if (merge_prev) {
        b->free[i - 1].size += bytes;
    } else if (merge_next) {
        b->free[i].off = off;
        b->free[i].size += bytes;
    } else {
        if (b->nfree == b->cap) {
            range *n = realloc(b->free, sizeof(range) * (size_t)b->cap * 2);
            if (!n) return false; /* leak the range rather than corrupt the list */
            b->free = n;
            b->cap *= 2;
        }
        memmove(b->free + i + 1, b->free + i, sizeof(range) * (size_t)(b->nfree - i));
        b->free[i] = (range){off, bytes};
        b->nfree++;
    }
    return true;
}

prism_status prism_mem_alloc(prism_context *ctx, VkDeviceSize bytes, prism_storage *s) {
    VkDeviceSize a = alignment(ctx);
    VkDeviceSize need = (bytes + a - 1) & ~(a - 1);
    VkDeviceSize bs = block_size(ctx);
    prism_block *b = NULL;
    VkDeviceSize off = 0;
    prism_status st;
    if (need > ctx->caps.max_buffer_size)
        return prism_set_error(ctx, PRISM_ERR_OUT_OF_DEVICE_MEMORY,
                               "memory: %llu bytes exceed the device's maximum buffer size %llu",
                               (unsigned long long)need, (unsigned long long)ctx->caps.max_buffer_size);
    if (need > bs / 2) {
        if ((st = block_create(ctx, need, true, &b)) != PRISM_OK) return st;
        block_take(b, need, &off);
    } else {
        for (b = ctx->blocks; b; b = b->next)
            if (!b->dedicated && block_take(b, need, &off)) break;
        if (!b) {
            if ((st = block_create(ctx, bs, false, &b)) != PRISM_OK) return st;
            block_take(b, need, &off);
        } else {
            goto found;
        }
    }
    b->next = ctx->blocks;
    ctx->blocks = b;
found:
    s->block = b;
    s->buffer = b->buffer;
    s->offset = off;
    s->bytes = need;
    s->mapped = b->mapped ? (char *)b->mapped + off : NULL;
    return PRISM_OK;
}

void prism_mem_free(prism_context *ctx, prism_storage *s) {
    prism_block *b = s->block;
    if (!b) return;
    block_give(b, s->offset, s->bytes);
    s->block = NULL;
    /* release a block once it is wholly free: dedicated ones always, shared
     * ones when another block remains to serve small tensors */
    if (b->nfree == 1 && b->free[0].size == b->size && (b->dedicated || ctx->blocks != b || b->next)) {
        prism_block **pp = &ctx->blocks;
        while (*pp && *pp != b) pp = &(*pp)->next;
        if (*pp) *pp = b->next;
        block_destroy(ctx, b);
    }
}

void prism_mem_destroy_all(prism_context *ctx) {
    while (ctx->blocks) {
        prism_block *b = ctx->blocks;
        ctx->blocks = b->next;
        block_destroy(ctx, b);
    }
}
