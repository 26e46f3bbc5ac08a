/* Streams: a recording replayable as-is. Barriers only on real hazards (a
 * read or write of a range with a pending write, or a write of a range with a
 * pending read); a fence per stream. The recording is split at op boundaries
 * into command buffers ("segments") of bounded work, submitted in order as
 * separate batches under one fence, so no batch runs into a GPU watchdog
 * (TDR). Debug mode (PRISM_DEBUG_SYNC) gives every op its own segment and
 * submits and waits one at a time, so a failure names the op. On the
 * reference backend a stream is a list of closures run in order at submit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

typedef struct access { VkBuffer buf; VkDeviceSize lo, hi; } access;
typedef struct ref_call { const char *op; prism_ref_fn fn; void *args; } ref_call;
/* One command buffer of the recording: ops [first, first + nops). */
typedef struct segment {
    VkCommandBuffer cb;
    int first, nops;
    uint64_t cost;
    const char *op;            /* name of its last op (debug mode: its only op) */
    bool lost;                 /* PRISM_FAULT=lost:<op>: simulate a device loss here */
} segment;
/* Debug level 2: a range an op writes, checked for non-finite values. */
typedef struct written { const prism_tensor *t; int64_t off, count; int op; int binding; } written;

#define POOL_SETS 256
#define MAX_PROFILED 2048

typedef enum { ST_RECORDING, ST_PENDING, ST_DONE } stream_state;

struct prism_stream {
    prism_context *ctx;
    stream_state state;
    bool ended;                 /* recording closed by the first submit */
    int ops, barriers;
    uint64_t *ids;              /* tensors used, for the liveness check */
    int nids, cap_ids;
    /* vulkan */
    VkCommandBuffer cb;         /* the segment being recorded */
    segment *segs;
    int nsegs, cap_segs;
    VkSubmitInfo *submits;      /* one batch per segment, built when recording ends */
    int debug;                  /* PRISM_DEBUG_SYNC level (0 = off) */
    int max_ops;                /* per segment */
    uint64_t max_cost;
    written *outs;
    int nouts, cap_outs;
    VkFence fence;
    VkDescriptorPool *pools;
    int npools, pool_left;
    access *writes, *reads;
    int nwrites, nreads, cap_writes, cap_reads;
    VkQueryPool qpool;
    const char **prof_names;
    prism_profile_entry *prof;
    int nprof;
    /* reference */
    ref_call *calls;
    int ncalls, cap_calls;
};

static prism_status grow(prism_context *ctx, void **p, int *cap, size_t elem, int need) {
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

/* Non-negative integer from the environment, else `def`. */
static int env_int(const char *name, int def) {
    const char *v = getenv(name);
    if (!v || !*v) return def;
    char *end;
    long x = strtol(v, &end, 10);
    return *end || x < 0 || x > 1 << 30 ? def : (int)x;
}

prism_status prism_stream_create(prism_context *ctx, prism_stream **out) {
    if (!ctx) return PRISM_ERR_INVALID_ARGUMENT;
    if (!out) return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "stream_create: out is NULL");
    *out = NULL;
    prism_status st = PRISM_OK;
    prism_stream *s = calloc(1, sizeof *s);
    if (!s) return prism_set_error(ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "stream_create: out of host memory");
    s->ctx = ctx;
    s->debug = ctx->debug_sync ? PRISM_MAX(ctx->debug_sync, 0) : env_int("PRISM_DEBUG_SYNC", 0);
    /* test hooks: small bounds exercise multi-segment submits cheaply */
    s->max_ops = PRISM_MAX(env_int("PRISM_SUBMIT_MAX_OPS", PRISM_SUBMIT_MAX_OPS), 1);
    s->max_cost = (uint64_t)PRISM_MAX(env_int("PRISM_SUBMIT_MAX_COST", 0), 0);
    if (!s->max_cost) s->max_cost = PRISM_SUBMIT_MAX_COST;
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
    s->state = ST_RECORDING;
}

void prism_stream_destroy(prism_stream *s) {
    if (!s) return;
    if (s->state == ST_PENDING) prism_stream_wait(s);
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
    if (s->state == ST_PENDING) {
        prism_status st = prism_stream_wait(s);
        if (st) return st;
    }
    free_recording(s);
    return PRISM_OK;
}

static prism_status note_tensor(prism_stream *s, const prism_tensor *t) {
    if (s->nids && s->ids[s->nids - 1] == t->id) return PRISM_OK;
    prism_status st = grow(s->ctx, (void **)&s->ids, &s->cap_ids, sizeof *s->ids, s->nids + 1);
    if (!st) s->ids[s->nids++] = t->id;
    return st;
}

prism_status prism_op_begin(prism_stream *s, const char *op) {
    if (!s) return PRISM_ERR_INVALID_ARGUMENT;
    if (s->ended || s->state != ST_RECORDING)
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

/* ---------------------------------------------------------------- reference */

prism_status prism_ref_enqueue(prism_stream *s, const char *op, prism_ref_fn fn, const void *args, size_t size,
                               const prism_tensor *const *tensors, int ntensors) {
    prism_status st = grow(s->ctx, (void **)&s->calls, &s->cap_calls, sizeof(ref_call), s->ncalls + 1);
    if (st) return st;
    void *copy = malloc(size ? size : 1);
    if (!copy) return prism_set_error(s->ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", op);
    memcpy(copy, args, size);
    for (int i = 0; i < ntensors; i++)
        if ((st = note_tensor(s, tensors[i])) != PRISM_OK) {
            free(copy);
            return st;
        }
    s->calls[s->ncalls++] = (ref_call){op, fn, copy};
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

/* Starts a new segment: closes the current one (debug mode: with the
 * device -> host barrier, so each op's results can be read after its wait)
 * and begins a fresh command buffer. Hazard tracking carries over: a barrier
 * orders everything earlier in submission order, across batches too. */
static prism_status new_segment(prism_stream *s) {
    prism_context *ctx = s->ctx;
    prism_status st = grow(ctx, (void **)&s->segs, &s->cap_segs, sizeof(segment), s->nsegs + 1);
    if (st) return st;
    VkCommandBuffer cb = VK_NULL_HANDLE;
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = ctx->pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    PRISM_VK(vkAllocateCommandBuffers(ctx->device, &ai, &cb));
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    PRISM_VK(vkBeginCommandBuffer(cb, &bi));
    if (s->cb) {
        if (s->debug)
            full_barrier(s, ALL_STAGES, ALL_WRITES, VK_PIPELINE_STAGE_HOST_BIT | ALL_STAGES,
                         VK_ACCESS_HOST_READ_BIT | ALL_ACCESS);
        PRISM_VK(vkEndCommandBuffer(s->cb));
    }
    s->segs[s->nsegs++] = (segment){.cb = cb, .first = s->ops};
    s->cb = cb;
    return PRISM_OK;
cleanup:
    if (cb) vkFreeCommandBuffers(ctx->device, ctx->pool, 1, &cb);
    return st;
}

static prism_status ensure_begun(prism_stream *s) {
    prism_context *ctx = s->ctx;
    prism_status st = PRISM_OK;
    if (s->cb) return PRISM_OK;
    PRISM_TRY(new_segment(s));
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

/* Called for every op after its checks passed, before its commands: closes
 * the segment when this op would push it over the bound (a single op over
 * the bound gets a segment of its own: ops are never split here, they tile
 * themselves), and accounts the op. */
static prism_status segment_for_op(prism_stream *s, const char *op, uint64_t cost) {
    segment *g = &s->segs[s->nsegs - 1];
    if (g->nops && (s->debug || g->nops >= s->max_ops || g->cost + cost > s->max_cost)) {
        prism_status st = new_segment(s);
        if (st) return st;
        g = &s->segs[s->nsegs - 1];
    }
    const char *f = s->ctx->fault_op;
    if (!strncmp(f, "lost:", 5) && !strcmp(f + 5, op)) g->lost = true;
    g->nops++;
    g->cost += cost;
    g->op = op;
    return PRISM_OK;
}

/* Debug level 2: remember a range the op about to be counted writes. */
static prism_status note_output(prism_stream *s, const prism_tensor *t, int64_t off, int64_t count, int binding) {
    if (s->debug < 2) return PRISM_OK;
    prism_status st = grow(s->ctx, (void **)&s->outs, &s->cap_outs, sizeof(written), s->nouts + 1);
    if (!st) s->outs[s->nouts++] = (written){t, off, count, s->ops, binding};
    return st;
}

static bool overlaps(const access *list, int n, const access *a) {
    for (int i = 0; i < n; i++)
        if (list[i].buf == a->buf && list[i].lo < a->hi && a->lo < list[i].hi) return true;
    return false;
}

/* Inserts a barrier when any of `acc` hazards with pending work, then records
 * `acc` as pending. */
static prism_status track(prism_stream *s, const access *acc, const bool *write, int n) {
    bool hazard = s->ctx->profile; /* profiling serialises ops so times are attributable */
    for (int i = 0; i < n && !hazard; i++)
        hazard = overlaps(s->writes, s->nwrites, &acc[i]) || (write[i] && overlaps(s->reads, s->nreads, &acc[i]));
    if (hazard && (s->nwrites || s->nreads)) {
        full_barrier(s, ALL_STAGES, ALL_WRITES, ALL_STAGES, ALL_ACCESS);
        s->barriers++;
        s->nwrites = s->nreads = 0;
    }
    for (int i = 0; i < n; i++) {
        prism_status st = write[i] ? grow(s->ctx, (void **)&s->writes, &s->cap_writes, sizeof(access), s->nwrites + 1)
                                   : grow(s->ctx, (void **)&s->reads, &s->cap_reads, sizeof(access), s->nreads + 1);
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

/* Byte range of a binding: bound from an aligned offset, the remainder
 * passed to the shader as an element offset. */
static prism_status binding_range(prism_stream *s, const char *op, int i, const prism_binding *b, VkDescriptorBufferInfo *bi,
                                  uint32_t *elem_off, access *acc) {
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
    *acc = (access){t->storage->buffer, start, start + (VkDeviceSize)count * 4};
    return PRISM_OK;
}

prism_status prism_record_kernel(prism_stream *s, const prism_kernel *k) {
    prism_context *ctx = s->ctx;
    prism_status st = PRISM_OK;
    if (k->nbind > PRISM_MAX_BINDINGS || k->push_size > PRISM_PUSH_OP_BYTES)
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: too many bindings or push bytes", k->op);
    VkPipeline pipe;
    PRISM_TRY(prism_pipeline_get(ctx, k->shader, k->spec, k->nspec, &pipe));
    PRISM_TRY(ensure_begun(s));

    VkDescriptorBufferInfo bi[PRISM_MAX_BINDINGS];
    access acc[PRISM_MAX_BINDINGS];
    bool wr[PRISM_MAX_BINDINGS];
    uint32_t push[PRISM_PUSH_BYTES / 4] = {0};
    for (int i = 0; i < k->nbind; i++) {
        PRISM_TRY(binding_range(s, k->op, i, &k->bind[i], &bi[i], &push[i], &acc[i]));
        wr[i] = k->bind[i].write;
    }
    for (int i = k->nbind; i < PRISM_MAX_BINDINGS; i++)
        bi[i] = (VkDescriptorBufferInfo){.buffer = ctx->dummy_buffer, .offset = ctx->dummy.offset, .range = 256};
    memcpy(push + PRISM_MAX_BINDINGS, k->push, k->push_size);

    /* fold a long 1-D grid into y (and z) */
    uint64_t g[3] = {k->groups[0], k->groups[1] ? k->groups[1] : 1, k->groups[2] ? k->groups[2] : 1};
    const uint32_t *mx = ctx->caps.max_workgroup_count;
    if (g[0] > mx[0]) {
        if (g[1] != 1 || g[2] != 1)
            return prism_set_error(ctx, PRISM_ERR_DIMS, "%s: grid %llux%llux%llu too large to fold", k->op,
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
        return prism_set_error(ctx, PRISM_ERR_DIMS, "%s: grid %llux%llux%llu exceeds the device limits", k->op,
                               (unsigned long long)g[0], (unsigned long long)g[1], (unsigned long long)g[2]);
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
    PRISM_TRY(segment_for_op(s, k->op, cost));
    for (int i = 0; i < k->nbind; i++)
        if (k->bind[i].write)
            PRISM_TRY(note_output(s, k->bind[i].t, k->bind[i].offset,
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
        const access *a = &acc[k->fault_binding];
        bool w1 = true;
        PRISM_TRY(track(s, a, &w1, 1));
        full_barrier(s, ALL_STAGES, ALL_WRITES, ALL_STAGES, ALL_ACCESS);
        vkCmdFillBuffer(s->cb, a->buf, a->lo, 4, 0x4640E400u /* 12345.0f */);
    }
cleanup:
    return st;
}

static prism_status record_transfer(prism_stream *s, const char *op, access *acc, bool *wr, int n, const prism_tensor *dst,
                                    int64_t dst_off) {
    prism_status st = ensure_begun(s);
    if (!st) st = segment_for_op(s, op, (acc[n - 1].hi - acc[n - 1].lo) / 4);
    if (!st) st = note_output(s, dst, dst_off, (int64_t)(acc[n - 1].hi - acc[n - 1].lo) / 4, n - 1);
    return st ? st : track(s, acc, wr, n);
}

prism_status prism_record_fill(prism_stream *s, const char *op, const prism_tensor *t, int64_t offset, int64_t count,
                               uint32_t bits) {
    VkDeviceSize start = t->storage->offset + (VkDeviceSize)(t->offset + offset) * 4;
    access a = {t->storage->buffer, start, start + (VkDeviceSize)count * 4};
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
    access acc[2] = {{src->storage->buffer, a0, a0 + n}, {dst->storage->buffer, b0, b0 + n}};
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

/* ---------------------------------------------------------------- submit / wait */

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static prism_status check_alive(prism_stream *s) {
    if (!s->ended && s->nids > 1) { /* dedupe once, when recording ends */
        qsort(s->ids, (size_t)s->nids, sizeof *s->ids, cmp_u64);
        int k = 1;
        for (int i = 1; i < s->nids; i++)
            if (s->ids[i] != s->ids[k - 1]) s->ids[k++] = s->ids[i];
        s->nids = k;
    }
    for (int i = 0; i < s->nids; i++)
        if (!prism_tensor_alive(s->ctx, s->ids[i]))
            return prism_set_error(s->ctx, PRISM_ERR_STALE,
                                   "stream_submit: a tensor this stream uses (id %llu) was destroyed; reset and re-record "
                                   "the stream", (unsigned long long)s->ids[i]);
    return PRISM_OK;
}

/* Ends recording: the device -> host barrier, the last command buffer, one
 * batch per segment. */
static prism_status end_recording(prism_stream *s) {
    prism_context *ctx = s->ctx;
    prism_status st = ensure_begun(s);
    if (st) return st;
    VkSubmitInfo *si = calloc((size_t)s->nsegs, sizeof *si);
    if (!si) return prism_set_error(ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "stream_submit: out of host memory");
    full_barrier(s, ALL_STAGES, ALL_WRITES, VK_PIPELINE_STAGE_HOST_BIT | ALL_STAGES, VK_ACCESS_HOST_READ_BIT | ALL_ACCESS);
    PRISM_VK(vkEndCommandBuffer(s->cb));
    for (int i = 0; i < s->nsegs; i++)
        si[i] = (VkSubmitInfo){.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1,
                               .pCommandBuffers = &s->segs[i].cb};
    s->submits = si;
    si = NULL;
    s->ended = true;
cleanup:
    free(si);
    return st;
}

/* PRISM_FAULT=lost:<op>: fail as a real device loss would. Only debug mode
 * knows (and says) which op it was. */
static prism_status simulated_loss(prism_stream *s, const segment *g) {
    if (s->debug)
        return prism_set_error(s->ctx, PRISM_ERR_DEVICE_LOST,
                               "stream_submit (debug sync): op %d '%s' failed: VK_ERROR_DEVICE_LOST (simulated by "
                               "PRISM_FAULT=%s)", g->first + g->nops - 1, g->op, s->ctx->fault_op);
    return prism_set_error(s->ctx, PRISM_ERR_DEVICE_LOST,
                           "stream_submit: VK_ERROR_DEVICE_LOST (simulated by PRISM_FAULT) in a submission of %d ops; "
                           "PRISM_DEBUG_SYNC=1 names the failing op", s->ops);
}

/* Debug level 2: the outputs of the ops of segment g hold only finite values
 * (mapped memory is read in place, a staged tensor is downloaded whole). */
static prism_status check_outputs(prism_stream *s, const segment *g) {
    prism_status st = PRISM_OK;
    for (int i = 0; i < s->nouts && !st; i++) {
        const written *w = &s->outs[i];
        const prism_tensor *t = w->t;
        if (w->op < g->first || w->op >= g->first + g->nops) continue;
        const float *x = t->storage->mapped ? (const float *)t->storage->mapped + t->offset : NULL;
        float *copy = x ? NULL : malloc(sizeof(float) * (size_t)t->numel);
        if (!x && !copy) return prism_set_error(s->ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "stream_submit: out of host memory");
        if (!x && (st = prism_tensor_download((prism_tensor *)t, copy, t->numel))) {
            free(copy);
            break;
        }
        x = x ? x : copy;
        int64_t j = w->off;
        while (j < w->off + w->count && isfinite(x[j])) j++;
        char sh[64];
        if (j < w->off + w->count)
            st = prism_set_error(s->ctx, PRISM_ERR_NOT_FINITE,
                                 "stream_submit (PRISM_DEBUG_SYNC=2): op %d '%s' wrote %g at element %lld of its output "
                                 "(binding %d, tensor %s)", w->op, g->op, (double)x[j], (long long)j, w->binding,
                                 prism_tensor_shape_str(t, sh, sizeof sh));
        free(copy);
    }
    return st;
}

/* Debug mode: one segment (= one op) per submission, each waited on, so a
 * failure names its op. Leaves the stream pending with a signalled fence on
 * success (prism_stream_wait then reads the profile as usual). */
static prism_status submit_debug(prism_stream *s) {
    prism_context *ctx = s->ctx;
    prism_status st = PRISM_OK;
    int i = 0;
    for (; i < s->nsegs; i++) {
        const segment *g = &s->segs[i];
        if (g->lost) return simulated_loss(s, g);
        PRISM_VK(vkResetFences(ctx->device, 1, &s->fence));
        PRISM_VK(vkQueueSubmit(ctx->queue, 1, &s->submits[i], s->fence));
        PRISM_VK(vkWaitForFences(ctx->device, 1, &s->fence, VK_TRUE, UINT64_MAX));
        if (s->debug >= 2 && (st = check_outputs(s, g))) return st;
    }
    s->state = ST_PENDING;
cleanup:
    if (st && i < s->nsegs) {
        char msg[sizeof ctx->err];
        snprintf(msg, sizeof msg, "%s", ctx->err);
        const segment *g = &s->segs[i];
        st = prism_set_error(ctx, st, "stream_submit (debug sync): op %d '%s' failed: %s", g->first + g->nops - 1,
                             g->nops ? g->op : "(none)", msg);
    }
    return st;
}

prism_status prism_stream_submit(prism_stream *s) {
    if (!s) return PRISM_ERR_INVALID_ARGUMENT;
    prism_context *ctx = s->ctx;
    prism_status st = PRISM_OK;
    if (s->state == ST_PENDING)
        return prism_set_error(ctx, PRISM_ERR_STATE, "stream_submit: the stream is still running; wait for it first");
    if (ctx->device_lost) return prism_set_error(ctx, PRISM_ERR_DEVICE_LOST, "stream_submit: device '%s' was lost earlier", ctx->caps.name);
    PRISM_TRY(check_alive(s));
    if (ctx->backend == PRISM_BACKEND_REFERENCE) {
        s->ended = true;
        for (int i = 0; i < s->ncalls; i++) s->calls[i].fn(s->calls[i].args);
        s->state = ST_DONE;
        return PRISM_OK;
    }
    if (!s->ended) PRISM_TRY(end_recording(s));
    s->state = ST_DONE;
    if (s->debug) return submit_debug(s);
    for (int i = 0; i < s->nsegs; i++)
        if (s->segs[i].lost) return simulated_loss(s, &s->segs[i]);
    PRISM_VK(vkResetFences(ctx->device, 1, &s->fence));
    PRISM_VK(vkQueueSubmit(ctx->queue, (uint32_t)s->nsegs, s->submits, s->fence));
    s->state = ST_PENDING;
cleanup:
    return st;
}

prism_status prism_stream_wait(prism_stream *s) {
    if (!s) return PRISM_ERR_INVALID_ARGUMENT;
    prism_context *ctx = s->ctx;
    prism_status st = PRISM_OK;
    if (s->state != ST_PENDING) return PRISM_OK;
    s->state = ST_DONE;
    PRISM_VK(vkWaitForFences(ctx->device, 1, &s->fence, VK_TRUE, UINT64_MAX));
    if (s->qpool && s->nprof) {
        uint64_t *ts = malloc(sizeof(uint64_t) * 2 * (size_t)s->nprof);
        prism_profile_entry *e = realloc(s->prof, sizeof *e * (size_t)s->nprof);
        if (e) s->prof = e;
        if (ts && e &&
            vkGetQueryPoolResults(ctx->device, s->qpool, 0, 2u * (uint32_t)s->nprof, sizeof(uint64_t) * 2 * (size_t)s->nprof,
                                  ts, sizeof(uint64_t), VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) == VK_SUCCESS) {
            uint64_t mask = ctx->caps.timestamp_valid_bits >= 64 ? ~0ull : ((1ull << ctx->caps.timestamp_valid_bits) - 1);
            for (int i = 0; i < s->nprof; i++) {
                uint64_t d = ((ts[2 * i + 1] & mask) - (ts[2 * i] & mask)) & mask;
                e[i] = (prism_profile_entry){s->prof_names[i], (double)d * ctx->caps.timestamp_period_ns * 1e-6};
            }
        }
        free(ts);
    }
    return PRISM_OK;
cleanup: /* the batch of ops failed as a whole; debug mode can tell which */
    if (st == PRISM_ERR_DEVICE_LOST) {
        char msg[sizeof ctx->err];
        snprintf(msg, sizeof msg, "%s", ctx->err);
        st = prism_set_error(ctx, st, "stream_wait: %s (a stream of %d ops; PRISM_DEBUG_SYNC=1 names the failing op)", msg,
                             s->ops);
    }
    return st;
}

prism_status prism_stream_run(prism_stream *s) {
    prism_status st = prism_stream_submit(s);
    return st ? st : prism_stream_wait(s);
}

prism_status prism_stream_profile(prism_stream *s, const prism_profile_entry **entries, int *count) {
    if (!s || !entries || !count) return PRISM_ERR_INVALID_ARGUMENT;
    if (!s->ctx->profile || s->ctx->backend != PRISM_BACKEND_VULKAN)
        return prism_set_error(s->ctx, PRISM_ERR_STATE, "stream_profile: profiling is off (set PRISM_PROFILE=1)");
    if (!s->ctx->caps.timestamps)
        return prism_set_error(s->ctx, PRISM_ERR_UNSUPPORTED, "stream_profile: device has no compute timestamps");
    if (s->state != ST_DONE || !s->prof)
        return prism_set_error(s->ctx, PRISM_ERR_STATE, "stream_profile: no completed run yet");
    *entries = s->prof;
    *count = s->nprof;
    return PRISM_OK;
}
