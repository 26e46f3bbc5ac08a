/* Submitting a recording. The recording is split at op boundaries into
 * command buffers ("segments") of bounded work, submitted in order as
 * separate batches under one fence, so no batch runs into a GPU watchdog
 * (TDR); hazard tracking (stream.c) carries over segment boundaries, since a
 * barrier orders everything earlier in submission order, across batches
 * too. Debug mode (PRISM_DEBUG_SYNC) gives every op its own segment and
 * submits and waits one at a time, so a failure names the op; level 2 also
 * checks each op's outputs for NaN/Inf. The split is made op by op as the
 * recording grows (stream.c calls prism_segment_for_op); the batches are
 * built when recording ends, at the first submit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "stream_impl.h"

/* ---------------------------------------------------------------- the per-submit bound */

/* Non-negative integer from the environment, else `def`. */
static int env_int(const char *name, int def) {
    const char *v = getenv(name);
    if (!v || !*v) return def;
    char *end;
    long x = strtol(v, &end, 10);
    return *end || x < 0 || x > 1 << 30 ? def : (int)x;
}

void prism_stream_submit_config(prism_stream *s) {
    prism_context *ctx = s->ctx;
    s->debug = ctx->debug_sync ? PRISM_MAX(ctx->debug_sync, 0) : env_int("PRISM_DEBUG_SYNC", 0);
    /* test hooks: small bounds exercise multi-segment submits cheaply */
    s->max_ops = PRISM_MAX(env_int("PRISM_SUBMIT_MAX_OPS", PRISM_SUBMIT_MAX_OPS), 1);
    s->max_cost = (uint64_t)PRISM_MAX(env_int("PRISM_SUBMIT_MAX_COST", 0), 0);
    if (!s->max_cost) s->max_cost = PRISM_SUBMIT_MAX_COST;
}

/* Closes the current segment (debug mode: with the device -> host barrier,
 * so each op's results can be read after its wait) and begins a fresh
 * command buffer. */
prism_status prism_segment_new(prism_stream *s) {
    prism_context *ctx = s->ctx;
    prism_status st = prism_stream_grow(ctx, (void **)&s->segs, &s->cap_segs, sizeof(prism_segment), s->nsegs + 1);
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
        if (s->debug) prism_stream_host_barrier(s);
        PRISM_VK(vkEndCommandBuffer(s->cb));
    }
    s->segs[s->nsegs++] = (prism_segment){.cb = cb, .first = s->ops};
    s->cb = cb;
    return PRISM_OK;
cleanup:
    if (cb) vkFreeCommandBuffers(ctx->device, ctx->pool, 1, &cb);
    return st;
}

/* Called for every op after its checks passed, before its commands. A single
 * op over the bound gets a segment of its own: ops are never split here,
 * they tile themselves. */
prism_status prism_segment_for_op(prism_stream *s, const char *op, uint64_t cost) {
    prism_segment *g = &s->segs[s->nsegs - 1];
    if (g->nops && (s->debug || g->nops >= s->max_ops || g->cost + cost > s->max_cost)) {
        prism_status st = prism_segment_new(s);
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

prism_status prism_note_output(prism_stream *s, const prism_tensor *t, int64_t off, int64_t count, int binding) {
    if (s->debug < 2) return PRISM_OK;
    prism_status st = prism_stream_grow(s->ctx, (void **)&s->outs, &s->cap_outs, sizeof(prism_written), s->nouts + 1);
    if (!st) s->outs[s->nouts++] = (prism_written){t, off, count, s->ops, binding};
    return st;
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
    prism_status st = prism_stream_begin(s);
    if (st) return st;
    VkSubmitInfo *si = calloc((size_t)s->nsegs, sizeof *si);
    if (!si) return prism_set_error(ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "stream_submit: out of host memory");
    prism_stream_host_barrier(s);
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
static prism_status simulated_loss(prism_stream *s, const prism_segment *g) {
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
static prism_status check_outputs(prism_stream *s, const prism_segment *g) {
    prism_status st = PRISM_OK;
    for (int i = 0; i < s->nouts && !st; i++) {
        const prism_written *w = &s->outs[i];
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
        const prism_segment *g = &s->segs[i];
        if (g->lost) return simulated_loss(s, g);
        PRISM_VK(vkResetFences(ctx->device, 1, &s->fence));
        PRISM_VK(vkQueueSubmit(ctx->queue, 1, &s->submits[i], s->fence));
        PRISM_VK(vkWaitForFences(ctx->device, 1, &s->fence, VK_TRUE, UINT64_MAX));
        if (s->debug >= 2 && (st = check_outputs(s, g))) return st;
    }
    s->state = STREAM_PENDING;
cleanup:
    if (st && i < s->nsegs) {
        char msg[sizeof ctx->err];
        snprintf(msg, sizeof msg, "%s", ctx->err);
        const prism_segment *g = &s->segs[i];
        st = prism_set_error(ctx, st, "stream_submit (debug sync): op %d '%s' failed: %s", g->first + g->nops - 1,
                             g->nops ? g->op : "(none)", msg);
    }
    return st;
}

prism_status prism_stream_submit(prism_stream *s) {
    if (!s) return PRISM_ERR_INVALID_ARGUMENT;
    prism_context *ctx = s->ctx;
    prism_status st = PRISM_OK;
    if (s->state == STREAM_PENDING)
        return prism_set_error(ctx, PRISM_ERR_STATE, "stream_submit: the stream is still running; wait for it first");
    if (ctx->device_lost) return prism_set_error(ctx, PRISM_ERR_DEVICE_LOST, "stream_submit: device '%s' was lost earlier", ctx->caps.name);
    PRISM_TRY(check_alive(s));
    if (ctx->backend == PRISM_BACKEND_REFERENCE) {
        s->ended = true;
        for (int i = 0; i < s->ncalls; i++) s->calls[i].fn(s->calls[i].args);
        s->state = STREAM_DONE;
        return PRISM_OK;
    }
    if (!s->ended) PRISM_TRY(end_recording(s));
    s->state = STREAM_DONE;
    if (s->debug) return submit_debug(s);
    for (int i = 0; i < s->nsegs; i++)
        if (s->segs[i].lost) return simulated_loss(s, &s->segs[i]);
    PRISM_VK(vkResetFences(ctx->device, 1, &s->fence));
    PRISM_VK(vkQueueSubmit(ctx->queue, (uint32_t)s->nsegs, s->submits, s->fence));
    s->state = STREAM_PENDING;
cleanup:
    return st;
}

prism_status prism_stream_wait(prism_stream *s) {
    if (!s) return PRISM_ERR_INVALID_ARGUMENT;
    prism_context *ctx = s->ctx;
    prism_status st = PRISM_OK;
    if (s->state != STREAM_PENDING) return PRISM_OK;
    s->state = STREAM_DONE;
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
