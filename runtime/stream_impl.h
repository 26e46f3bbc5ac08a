/* The stream object, private to the three files that implement streams:
 *   stream.c  lifecycle, recording (hazard barriers, descriptor pools,
 *             profiling timestamps), reference closures;
 *   record.c  the checks an op passes before anything is recorded for it
 *             (front-end checks, binding ranges, grid folding);
 *   submit.c  the split of a recording into segments of bounded work, debug
 *             mode (PRISM_DEBUG_SYNC), submit and wait.
 * Everything else sees prism_stream as opaque (internal.h). */
#ifndef PRISM_STREAM_IMPL_H
#define PRISM_STREAM_IMPL_H

#include "internal.h"

/* A byte range of a buffer an op reads or writes, for hazard tracking. */
typedef struct prism_range { VkBuffer buf; VkDeviceSize lo, hi; } prism_range;
typedef struct prism_ref_call { const char *op; prism_ref_fn fn; void *args; } prism_ref_call;
/* One command buffer of the recording: ops [first, first + nops). */
typedef struct prism_segment {
    VkCommandBuffer cb;
    int first, nops;
    uint64_t cost;
    const char *op;            /* name of its last op (debug mode: its only op) */
    bool lost;                 /* PRISM_FAULT=lost:<op>: simulate a device loss here */
} prism_segment;
/* Debug level 2: a range an op writes, checked for non-finite values. */
typedef struct prism_written { const prism_tensor *t; int64_t off, count; int op; int binding; } prism_written;

typedef enum { STREAM_RECORDING, STREAM_PENDING, STREAM_DONE } prism_stream_state;

struct prism_stream {
    prism_context *ctx;
    prism_stream_state state;
    bool ended;                 /* recording closed by the first submit */
    int ops, barriers;
    uint64_t *ids;              /* tensors used, for the liveness check */
    int nids, cap_ids;
    /* vulkan */
    VkCommandBuffer cb;         /* the segment being recorded */
    prism_segment *segs;
    int nsegs, cap_segs;
    VkSubmitInfo *submits;      /* one batch per segment, built when recording ends */
    int debug;                  /* PRISM_DEBUG_SYNC level (0 = off) */
    int max_ops;                /* per segment */
    uint64_t max_cost;
    prism_written *outs;
    int nouts, cap_outs;
    VkFence fence;
    VkDescriptorPool *pools;
    int npools, pool_left;
    prism_range *writes, *reads;
    int nwrites, nreads, cap_writes, cap_reads;
    VkQueryPool qpool;
    const char **prof_names;
    prism_profile_entry *prof;
    int nprof;
    /* reference */
    prism_ref_call *calls;
    int ncalls, cap_calls;
};

/* stream.c */
/* Grows *p (of *cap elements of elem bytes) to hold at least need. */
prism_status prism_stream_grow(prism_context *ctx, void **p, int *cap, size_t elem, int need);
/* Makes every device write recorded so far visible to the host and to later
 * commands: closes a segment in debug mode, and the whole recording. */
void prism_stream_host_barrier(prism_stream *s);
/* Begins the recording on the first command: the first segment, the query
 * pool when profiling, the host -> device barrier. */
prism_status prism_stream_begin(prism_stream *s);

/* record.c */
/* Descriptor range of binding i of op (bound from an aligned offset), its
 * element offset for the push block, and the bytes it touches. */
prism_status prism_binding_range(prism_stream *s, const char *op, int i, const prism_binding *b,
                                 VkDescriptorBufferInfo *bi, uint32_t *elem_off, prism_range *acc);
/* The grid to dispatch for `groups` (0 in y or z = 1), folded to the device
 * limits. */
prism_status prism_fold_grid(prism_context *ctx, const char *op, const uint64_t groups[3], uint64_t g[3]);

/* submit.c */
/* Reads the debug level and the per-segment bounds (at stream creation). */
void prism_stream_submit_config(prism_stream *s);
/* Closes the segment being recorded (if any) and begins a new one. */
prism_status prism_segment_new(prism_stream *s);
/* Accounts an op of estimated cost, first starting a new segment when the
 * op would push the current one over the bound. */
prism_status prism_segment_for_op(prism_stream *s, const char *op, uint64_t cost);
/* Debug level 2: remembers a range the op about to be counted writes. */
prism_status prism_note_output(prism_stream *s, const prism_tensor *t, int64_t off, int64_t count, int binding);

#endif /* PRISM_STREAM_IMPL_H */
