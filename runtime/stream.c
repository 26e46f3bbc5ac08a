/* Streams: a recording replayable as-is. Barriers only on real hazards (a
 * read or write of a range with a pending write, or a write of a range with a
 * pending read); a fence per stream. This file holds the stream's lifecycle
 * and what it records; the checks an op passes first are in record.c, the
 * split into bounded segments, debug mode, submit and wait in submit.c (the
 * struct they share: stream_impl.h). On the reference backend a stream is a
 * list of closures run in order at submit. */
#include <stdlib.h>
#include <string.h>
#include "stream_impl.h"

#define POOL_SETS 256
#define MAX_PROFILED 2048

prism_status prism_stream_grow(prism_context *ctx, void **p, int *cap, size_t elem, int need) {
    if (need <= *cap) return PRISM_OK;
    int ncap = *cap ? *cap : 16;
    while (ncap < need) ncap *= 2;
    void *n = realloc(*p, elem * (size_t)ncap);
    if (!n) return prism_set_error(ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "stream: out of host memory");
    *p = n;
    *cap = ncap;
    return PRISM_OK;
}

prism_context *prism_stream_context(const prism_stream *s) { return s ? s->ctx : NULL; }
bool prism_stream_is_reference(const prism_stream *s) { return s->ctx->backend == PRISM_BACKEND_REFERENCE; }
int prism_stream_op_count(const prism_stream *s) { return s ? s->ops : 0; }
int prism_stream_barrier_count(const prism_stream *s) { return s ? s->barriers : 0; }
int prism_stream_segment_count(const prism_stream *s) { return s ? s->nsegs : 0; }

prism_status prism_stream_create(prism_context *ctx, prism_stream **out) {
    if (!ctx) return PRISM_ERR_INVALID_ARGUMENT;
    if (!out) return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "stream_create: out is NULL");
    *out = NULL;
    prism_status st = PRISM_OK;
    prism_stream *s = calloc(1, sizeof *s);
    if (!s) return prism_set_error(ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "stream_create: out of host memory");
    s->ctx = ctx;
    prism_stream_submit_config(s);
    if (ctx->backend == PRISM_BACKEND_VULKAN) {
        VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        PRISM_VK(vkCreateFence(ctx->device, &fci, NULL, &s->fence));
    }
    *out = s;
    return PRISM_OK;
cleanup:
    prism_stream_destroy(s);
    return st;
}

static void free_recording(prism_stream *s) {
    prism_context *ctx = s->ctx;
    for (int i = 0; i < s->ncalls; i++) free(s->calls[i].args);
    s->ncalls = 0;
    if (ctx->backend == PRISM_BACKEND_VULKAN) {
        for (int i = 0; i < s->nsegs; i++) vkFreeCommandBuffers(ctx->device, ctx->pool, 1, &s->segs[i].cb);
        for (int i = 0; i < s->npools; i++) vkDestroyDescriptorPool(ctx->device, s->pools[i], NULL);
        if (s->qpool) vkDestroyQueryPool(ctx->device, s->qpool, NULL);
    }
    s->cb = VK_NULL_HANDLE;
    s->nsegs = s->nouts = 0;
    free(s->submits);
    s->submits = NULL;
    s->qpool = VK_NULL_HANDLE;
    s->npools = s->pool_left = 0;
    s->nwrites = s->nreads = 0;
    s->nids = 0;
    s->nprof = 0;
    s->ops = s->barriers = 0;
    s->ended = false;
    s->state = STREAM_RECORDING;
}

void prism_stream_destroy(prism_stream *s) {
    if (!s) return;
    if (s->state == STREAM_PENDING) prism_stream_wait(s);
    free_recording(s);
    if (s->fence) vkDestroyFence(s->ctx->device, s->fence, NULL);
    free(s->pools);
    free(s->segs);
    free(s->outs);
    free(s->writes);
    free(s->reads);
    free(s->ids);
    free(s->calls);
    free(s->prof_names);
    free(s->prof);
    free(s);
}

prism_status prism_stream_reset(prism_stream *s) {
    if (!s) return PRISM_ERR_INVALID_ARGUMENT;
    if (s->state == STREAM_PENDING) {
        prism_status st = prism_stream_wait(s);
        if (st) return st;
    }
    free_recording(s);
    return PRISM_OK;
}

static prism_status note_tensor(prism_stream *s, const prism_tensor *t) {
    if (s->nids && s->ids[s->nids - 1] == t->id) return PRISM_OK;
    prism_status st = prism_stream_grow(s->ctx, (void **)&s->ids, &s->cap_ids, sizeof *s->ids, s->nids + 1);
    if (!st) s->ids[s->nids++] = t->id;
    return st;
}

/* ---------------------------------------------------------------- reference */

prism_status prism_ref_enqueue(prism_stream *s, const char *op, prism_ref_fn fn, const void *args, size_t size,
                               const prism_tensor *const *tensors, int ntensors) {
    prism_status st = prism_stream_grow(s->ctx, (void **)&s->calls, &s->cap_calls, sizeof(prism_ref_call), s->ncalls + 1);
    if (st) return st;
    void *copy = malloc(size ? size : 1);
    if (!copy) return prism_set_error(s->ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", op);
    memcpy(copy, args, size);
    for (int i = 0; i < ntensors; i++)
        if ((st = note_tensor(s, tensors[i])) != PRISM_OK) {
            free(copy);
            return st;
        }
    s->calls[s->ncalls++] = (prism_ref_call){op, fn, copy};
    s->ops++;
    return PRISM_OK;
}

/* ---------------------------------------------------------------- vulkan recording */

static const VkPipelineStageFlags ALL_STAGES = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
static const VkAccessFlags ALL_WRITES = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
static const VkAccessFlags ALL_ACCESS = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                        VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;

static void full_barrier(prism_stream *s, VkPipelineStageFlags src_stage, VkAccessFlags src, VkPipelineStageFlags dst_stage,
                         VkAccessFlags dst) {
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = src, .dstAccessMask = dst};
    vkCmdPipelineBarrier(s->cb, src_stage, dst_stage, 0, 1, &mb, 0, NULL, 0, NULL);
}

void prism_stream_host_barrier(prism_stream *s) {
    full_barrier(s, ALL_STAGES, ALL_WRITES, VK_PIPELINE_STAGE_HOST_BIT | ALL_STAGES, VK_ACCESS_HOST_READ_BIT | ALL_ACCESS);
}

prism_status prism_stream_begin(prism_stream *s) {
    prism_context *ctx = s->ctx;
    prism_status st = PRISM_OK;
    if (s->cb) return PRISM_OK;
    PRISM_TRY(prism_segment_new(s));
    if (ctx->profile && ctx->caps.timestamps) {
        VkQueryPoolCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                     .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                     .queryCount = 2 * MAX_PROFILED};
        PRISM_VK(vkCreateQueryPool(ctx->device, &qci, NULL, &s->qpool));
        vkCmdResetQueryPool(s->cb, s->qpool, 0, 2 * MAX_PROFILED);
    }
    /* Host writes (uploads) and the previous replay's device writes become
     * visible to this submission. */
    full_barrier(s, ALL_STAGES | VK_PIPELINE_STAGE_HOST_BIT, ALL_WRITES | VK_ACCESS_HOST_WRITE_BIT, ALL_STAGES, ALL_ACCESS);
    s->barriers++;
    return PRISM_OK;
cleanup:
    if (s->nsegs == 1) { /* start over on the next op */
        vkFreeCommandBuffers(ctx->device, ctx->pool, 1, &s->segs[0].cb);
        s->nsegs = 0;
        s->cb = VK_NULL_HANDLE;
    }
    return st;
}

static bool overlaps(const prism_range *list, int n, const prism_range *a) {
    for (int i = 0; i < n; i++)
        if (list[i].buf == a->buf && list[i].lo < a->hi && a->lo < list[i].hi) return true;
    return false;
}

/* Inserts a barrier when any of `acc` hazards with pending work, then records
 * `acc` as pending. */
static prism_status track(prism_stream *s, const prism_range *acc, const bool *write, int n) {
    bool hazard = s->ctx->profile; /* profiling serialises ops so times are attributable */
    for (int i = 0; i < n && !hazard; i++)
        hazard = overlaps(s->writes, s->nwrites, &acc[i]) || (write[i] && overlaps(s->reads, s->nreads, &acc[i]));
    if (hazard && (s->nwrites || s->nreads)) {
        full_barrier(s, ALL_STAGES, ALL_WRITES, ALL_STAGES, ALL_ACCESS);
        s->barriers++;
        s->nwrites = s->nreads = 0;
    }
    for (int i = 0; i < n; i++) {
        prism_status st =
            write[i] ? prism_stream_grow(s->ctx, (void **)&s->writes, &s->cap_writes, sizeof(prism_range), s->nwrites + 1)
                     : prism_stream_grow(s->ctx, (void **)&s->reads, &s->cap_reads, sizeof(prism_range), s->nreads + 1);
        if (st) return st;
        if (write[i]) s->writes[s->nwrites++] = acc[i];
        else s->reads[s->nreads++] = acc[i];
    }
    return PRISM_OK;
}

static void prof_begin(prism_stream *s) {
    if (!s->qpool || s->nprof >= MAX_PROFILED) return;
    vkCmdWriteTimestamp(s->cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, s->qpool, 2u * (uint32_t)s->nprof);
}

static void prof_end(prism_stream *s, const char *op) {
    if (!s->qpool || s->nprof >= MAX_PROFILED) return;
    const char **n = realloc(s->prof_names, sizeof(char *) * (size_t)(s->nprof + 1));
    if (!n) return;
    s->prof_names = n;
    vkCmdWriteTimestamp(s->cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, s->qpool, 2u * (uint32_t)s->nprof + 1);
    s->prof_names[s->nprof++] = op;
}

static prism_status alloc_set(prism_stream *s, VkDescriptorSet *set) {
    prism_context *ctx = s->ctx;
    prism_status st = PRISM_OK;
    if (s->pool_left == 0) {
        VkDescriptorPoolSize ps = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = POOL_SETS * PRISM_MAX_BINDINGS};
        VkDescriptorPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                          .maxSets = POOL_SETS,
                                          .poolSizeCount = 1,
                                          .pPoolSizes = &ps};
        VkDescriptorPool *np = realloc(s->pools, sizeof *np * (size_t)(s->npools + 1));
        if (!np) return prism_set_error(ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "stream: out of host memory");
        s->pools = np;
        PRISM_VK(vkCreateDescriptorPool(ctx->device, &pci, NULL, &s->pools[s->npools]));
        s->npools++;
        s->pool_left = POOL_SETS;
    }
    VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                      .descriptorPool = s->pools[s->npools - 1],
                                      .descriptorSetCount = 1,
                                      .pSetLayouts = &ctx->dsl};
    PRISM_VK(vkAllocateDescriptorSets(ctx->device, &ai, set));
    s->pool_left--;
cleanup:
    return st;
}

prism_status prism_record_kernel(prism_stream *s, const prism_kernel *k) {
    prism_context *ctx = s->ctx;
    prism_status st = PRISM_OK;
    if (k->nbind > PRISM_MAX_BINDINGS || k->push_size > PRISM_PUSH_OP_BYTES)
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: too many bindings or push bytes", k->op);
    VkPipeline pipe;
    PRISM_TRY(prism_pipeline_get(ctx, k->shader, k->spec, k->nspec, &pipe));
    PRISM_TRY(prism_stream_begin(s));

    VkDescriptorBufferInfo bi[PRISM_MAX_BINDINGS];
    prism_range acc[PRISM_MAX_BINDINGS];
    bool wr[PRISM_MAX_BINDINGS];
    uint32_t push[PRISM_PUSH_BYTES / 4] = {0};
    for (int i = 0; i < k->nbind; i++) {
        PRISM_TRY(prism_binding_range(s, k->op, i, &k->bind[i], &bi[i], &push[i], &acc[i]));
        wr[i] = k->bind[i].write;
    }
    for (int i = k->nbind; i < PRISM_MAX_BINDINGS; i++)
        bi[i] = (VkDescriptorBufferInfo){.buffer = ctx->dummy_buffer, .offset = ctx->dummy.offset, .range = 256};
    memcpy(push + PRISM_MAX_BINDINGS, k->push, k->push_size);

    uint64_t g[3];
    PRISM_TRY(prism_fold_grid(ctx, k->op, k->groups, g));
    for (int i = 0; i < k->nbind; i++) PRISM_TRY(note_tensor(s, k->bind[i].t));

    VkDescriptorSet set;
    PRISM_TRY(alloc_set(s, &set));
    VkWriteDescriptorSet w[PRISM_MAX_BINDINGS];
    for (int i = 0; i < PRISM_MAX_BINDINGS; i++)
        w[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                      .dstSet = set,
                                      .dstBinding = (uint32_t)i,
                                      .descriptorCount = 1,
                                      .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                      .pBufferInfo = &bi[i]};
    vkUpdateDescriptorSets(ctx->device, PRISM_MAX_BINDINGS, w, 0, NULL);

    uint64_t cost = k->cost;
    if (!cost) {
        cost = g[0] * g[1] * g[2];
        for (int i = 0; i < 3 && i < k->nspec; i++) cost *= PRISM_MAX(k->spec[i], 1u);
    }
    PRISM_TRY(prism_segment_for_op(s, k->op, cost));
    for (int i = 0; i < k->nbind; i++)
        if (k->bind[i].write)
            PRISM_TRY(prism_note_output(s, k->bind[i].t, k->bind[i].offset,
                                        k->bind[i].count ? k->bind[i].count : k->bind[i].t->numel - k->bind[i].offset, i));
    PRISM_TRY(track(s, acc, wr, k->nbind));
    prof_begin(s);
    vkCmdBindPipeline(s->cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipe);
    vkCmdBindDescriptorSets(s->cb, VK_PIPELINE_BIND_POINT_COMPUTE, ctx->playout, 0, 1, &set, 0, NULL);
    vkCmdPushConstants(s->cb, ctx->playout, VK_SHADER_STAGE_COMPUTE_BIT, 0, PRISM_PUSH_BYTES, push);
    vkCmdDispatch(s->cb, (uint32_t)g[0], (uint32_t)g[1], (uint32_t)g[2]);
    prof_end(s, k->op);
    s->ops++;

    /* PRISM_FAULT=<op>: plant a wrong first element of the op's output, so
     * tests can prove that `prism check` notices a broken kernel. */
    if (ctx->fault_op[0] && k->fault_binding >= 0 && k->fault_binding < k->nbind && !strcmp(ctx->fault_op, k->op)) {
        const prism_range *a = &acc[k->fault_binding];
        bool w1 = true;
        PRISM_TRY(track(s, a, &w1, 1));
        full_barrier(s, ALL_STAGES, ALL_WRITES, ALL_STAGES, ALL_ACCESS);
        vkCmdFillBuffer(s->cb, a->buf, a->lo, 4, 0x4640E400u /* 12345.0f */);
    }
cleanup:
    return st;
}

static prism_status record_transfer(prism_stream *s, const char *op, prism_range *acc, bool *wr, int n,
                                    const prism_tensor *dst, int64_t dst_off) {
    prism_status st = prism_stream_begin(s);
    if (!st) st = prism_segment_for_op(s, op, (acc[n - 1].hi - acc[n - 1].lo) / 4);
    if (!st) st = prism_note_output(s, dst, dst_off, (int64_t)(acc[n - 1].hi - acc[n - 1].lo) / 4, n - 1);
    return st ? st : track(s, acc, wr, n);
}

prism_status prism_record_fill(prism_stream *s, const char *op, const prism_tensor *t, int64_t offset, int64_t count,
                               uint32_t bits) {
    VkDeviceSize start = t->storage->offset + (VkDeviceSize)(t->offset + offset) * 4;
    prism_range a = {t->storage->buffer, start, start + (VkDeviceSize)count * 4};
    bool w = true;
    prism_status st = note_tensor(s, t);
    if (!st) st = record_transfer(s, op, &a, &w, 1, t, offset);
    if (st) return st;
    prof_begin(s);
    vkCmdFillBuffer(s->cb, a.buf, a.lo, a.hi - a.lo, bits);
    prof_end(s, op);
    s->ops++;
    return PRISM_OK;
}

prism_status prism_record_copy(prism_stream *s, const char *op, const prism_tensor *src, int64_t src_off,
                               const prism_tensor *dst, int64_t dst_off, int64_t count) {
    VkDeviceSize a0 = src->storage->offset + (VkDeviceSize)(src->offset + src_off) * 4;
    VkDeviceSize b0 = dst->storage->offset + (VkDeviceSize)(dst->offset + dst_off) * 4;
    VkDeviceSize n = (VkDeviceSize)count * 4;
    prism_range acc[2] = {{src->storage->buffer, a0, a0 + n}, {dst->storage->buffer, b0, b0 + n}};
    bool wr[2] = {false, true};
    prism_status st = note_tensor(s, src);
    if (!st) st = note_tensor(s, dst);
    if (!st) st = record_transfer(s, op, acc, wr, 2, dst, dst_off);
    if (st) return st;
    prof_begin(s);
    VkBufferCopy region = {.srcOffset = a0, .dstOffset = b0, .size = n};
    vkCmdCopyBuffer(s->cb, acc[0].buf, acc[1].buf, 1, &region);
    prof_end(s, op);
    s->ops++;
    return PRISM_OK;
}

prism_status prism_stream_profile(prism_stream *s, const prism_profile_entry **entries, int *count) {
    if (!s || !entries || !count) return PRISM_ERR_INVALID_ARGUMENT;
    if (!s->ctx->profile || s->ctx->backend != PRISM_BACKEND_VULKAN)
        return prism_set_error(s->ctx, PRISM_ERR_STATE, "stream_profile: profiling is off (set PRISM_PROFILE=1)");
    if (!s->ctx->caps.timestamps)
        return prism_set_error(s->ctx, PRISM_ERR_UNSUPPORTED, "stream_profile: device has no compute timestamps");
    if (s->state != STREAM_DONE || !s->prof)
        return prism_set_error(s->ctx, PRISM_ERR_STATE, "stream_profile: no completed run yet");
    *entries = s->prof;
    *count = s->nprof;
    return PRISM_OK;
}
