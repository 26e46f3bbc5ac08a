/* Internal runtime structures shared by the runtime modules and op dispatchers.
 * Not installed; only prism.h and the topic headers are public. */
#ifndef PRISM_INTERNAL_H
#define PRISM_INTERNAL_H

#include <volk.h>
#include <stdarg.h>
#include <stdbool.h>
#include "prism/prism.h"

#define PRISM_MAX_BINDINGS 8
#define PRISM_PUSH_BYTES 128
/* Push block layout shared by every shader (shaders/common.glsl):
 * uint boff[8] element offsets of each binding, then op parameters. */
#define PRISM_PUSH_OP_BYTES (PRISM_PUSH_BYTES - 4 * PRISM_MAX_BINDINGS)
#define PRISM_MAX_SPEC 8
#define PRISM_MAX_ELEMS ((int64_t)1 << 40) /* per tensor: keeps byte sizes far from overflow */

#define PRISM_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PRISM_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PRISM_MAX(a, b) ((a) > (b) ? (a) : (b))
#define PRISM_CEIL_DIV(a, b) (((a) + (b)-1) / (b))

/* ---------------------------------------------------------------- errors */

/* Records status + formatted message in ctx, returns status. ctx may be NULL. */
prism_status prism_set_error(prism_context *ctx, prism_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
prism_status prism_vk_status(VkResult r);
const char *prism_vk_result_str(VkResult r);

/* The one Vulkan check: on failure records "<call> failed: VK_ERROR_... at file:line",
 * sets `st` and jumps to `cleanup`. Needs `prism_context *ctx` and
 * `prism_status st` in scope. */
#define PRISM_VK(call)                                                              \
    do {                                                                            \
        VkResult prism_vk_r_ = (call);                                              \
        if (prism_vk_r_ != VK_SUCCESS) {                                            \
            st = prism_set_error(ctx, prism_vk_status(prism_vk_r_),                 \
                                 "%s failed: %s at %s:%d", #call,                   \
                                 prism_vk_result_str(prism_vk_r_), __FILE__, __LINE__); \
            goto cleanup;                                                           \
        }                                                                           \
    } while (0)

/* Jump to cleanup on a non-OK prism status. */
#define PRISM_TRY(expr)                   \
    do {                                  \
        st = (expr);                      \
        if (st != PRISM_OK) goto cleanup; \
    } while (0)

/* ---------------------------------------------------------------- memory */

typedef struct prism_block prism_block;

/* Storage of a tensor: a range in a block (or a dedicated buffer), or host
 * doubles on the reference backend. Ref-counted by the tensors viewing it. */
typedef struct prism_storage {
    prism_context *ctx;
    int refs;
    int64_t numel;
    /* Vulkan */
    prism_block *block;
    VkBuffer buffer;
    VkDeviceSize offset, bytes;
    void *mapped;          /* host pointer when the block is host-visible */
    /* reference */
    double *host;
} prism_storage;

prism_status prism_mem_alloc(prism_context *ctx, VkDeviceSize bytes, prism_storage *st);
void prism_mem_free(prism_context *ctx, prism_storage *st);
void prism_mem_destroy_all(prism_context *ctx);

/* ---------------------------------------------------------------- tensors */

struct prism_tensor {
    prism_context *ctx;
    uint64_t id;           /* unique per context; streams check liveness by id */
    prism_storage *storage;
    int64_t offset;        /* elements from the storage start */
    int ndim;
    int64_t shape[PRISM_MAX_DIMS];
    int64_t numel;
};

/* Liveness registry (for stale-stream detection). */
bool prism_tensor_alive(prism_context *ctx, uint64_t id);
prism_status prism_registry_add(prism_context *ctx, uint64_t id);
void prism_registry_remove(prism_context *ctx, uint64_t id);
/* Double pointer of a reference tensor (offset applied). */
static inline double *prism_ref_data(const prism_tensor *t) {
    return t->storage->host + t->offset;
}

/* ---------------------------------------------------------------- shaders */

typedef struct prism_shader {
    const char *name;
    const uint32_t *code;
    size_t size;           /* bytes */
} prism_shader;
/* Generated at build time from shaders/ (see CMakeLists.txt). */
const prism_shader *prism_shader_find(const char *name);
extern const prism_shader prism_shaders[];
extern const int prism_shader_count;

/* ---------------------------------------------------------------- pipelines */

typedef struct prism_pipeline {
    const prism_shader *shader;
    uint32_t spec[PRISM_MAX_SPEC];
    int nspec;
    VkPipeline pipeline;
} prism_pipeline;

prism_status prism_pipeline_get(prism_context *ctx, const char *shader, const uint32_t *spec,
                                int nspec, VkPipeline *out);
prism_status prism_pipelines_init(prism_context *ctx);
void prism_pipelines_destroy(prism_context *ctx);

/* ---------------------------------------------------------------- context */

struct prism_context {
    prism_backend backend;
    prism_caps caps;
    char err[1024];
    prism_status last;
    prism_log_fn log_fn;
    void *log_user;
    int validate, profile;
    char cache_path[1024];
    char fault_op[64];     /* PRISM_FAULT: plant a wrong result after this op (tests of check) */

    /* Vulkan objects */
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    VkDevice device;
    uint32_t queue_family;
    VkQueue queue;
    VkCommandPool pool;    /* for synchronous transfers */
    VkFence fence;
    VkPhysicalDeviceMemoryProperties memprops;
    uint32_t mem_type;     /* type for tensor blocks */
    uint32_t staging_type; /* host-visible type for staging (== mem_type on UMA) */
    bool host_visible;     /* tensor blocks mapped directly */
    bool device_lost;

    VkDescriptorSetLayout dsl;
    VkPipelineLayout playout;
    VkPipelineCache pcache;
    prism_pipeline *pipes;
    int npipes, cap_pipes;

    /* memory blocks */
    prism_block *blocks;
    VkDeviceSize block_size;
    VkBuffer dummy_buffer;  /* bound to unused descriptor slots */
    prism_storage dummy;

    /* tensor registry */
    uint64_t next_id;
    uint64_t *live;         /* open-addressing set of live tensor ids */
    size_t live_cap, live_count;

    uint64_t validation_count;
    char validation_last[512];

    /* Debug mode of streams (runtime/submit.c): 0 = read $PRISM_DEBUG_SYNC when a
     * stream is created; > 0 = that level (1: each op in its own submission,
     * waited on; 2: also check every op's outputs are finite); < 0 = off. */
    int debug_sync;
};

prism_status prism_vk_context_init(prism_context *ctx, const prism_context_options *opt,
                                   const char *device, const char *disable);
void prism_vk_context_destroy(prism_context *ctx);
prism_status prism_caps_read(prism_context *ctx, VkPhysicalDevice pd, prism_caps *caps);
bool prism_caps_apply_disable(prism_caps *caps, const char *disable, char *bad, size_t bad_len);

/* One-shot command buffer for synchronous work (transfers, init). */
prism_status prism_oneshot_begin(prism_context *ctx, VkCommandBuffer *cb);
prism_status prism_oneshot_end(prism_context *ctx, VkCommandBuffer cb);

/* ---------------------------------------------------------------- streams & ops */

/* A binding of `count` elements starting `offset` elements into tensor t
 * (count 0 = the whole tensor from offset). */
typedef struct prism_binding {
    const prism_tensor *t;
    int64_t offset, count;
    bool write;
} prism_binding;

typedef struct prism_kernel {
    const char *op;                 /* op name, for errors and profiling */
    const char *shader;             /* registry name */
    int nbind;
    prism_binding bind[PRISM_MAX_BINDINGS];
    uint32_t spec[PRISM_MAX_SPEC];  /* spec[0..2] = local_size x,y,z */
    int nspec;
    uint8_t push[PRISM_PUSH_OP_BYTES];
    uint32_t push_size;
    uint64_t groups[3];             /* x may exceed maxComputeWorkGroupCount: folded */
    int fault_binding;              /* output to corrupt under PRISM_FAULT (-1: none) */
    uint64_t cost;                  /* estimated work for the per-submit bound, in elements
                                       touched (0: the invocation count) */
} prism_kernel;

/* Records one dispatch: hazard barrier if needed, descriptor set, push
 * constants (binding offsets first), grid folding. */
prism_status prism_record_kernel(prism_stream *s, const prism_kernel *k);
/* Records vkCmdFillBuffer / vkCmdCopyBuffer with the same hazard tracking. */
prism_status prism_record_fill(prism_stream *s, const char *op, const prism_tensor *t,
                               int64_t offset, int64_t count, uint32_t bits);
prism_status prism_record_copy(prism_stream *s, const char *op, const prism_tensor *src,
                               int64_t src_off, const prism_tensor *dst, int64_t dst_off,
                               int64_t count);

/* Reference backend: ops enqueue a closure executed in order at submit. The
 * args blob is copied; `tensors` are checked for liveness at every submit. */
typedef void (*prism_ref_fn)(const void *args);
prism_status prism_ref_enqueue(prism_stream *s, const char *op, prism_ref_fn fn,
                               const void *args, size_t args_size,
                               const prism_tensor *const *tensors, int ntensors);

/* Common op front-end checks. Each records a message naming op and shapes. */
prism_status prism_op_begin(prism_stream *s, const char *op);
prism_status prism_check_tensor(prism_stream *s, const char *op, const char *what,
                                const prism_tensor *t);
prism_status prism_check_same_numel(prism_stream *s, const char *op, const prism_tensor *a,
                                    const prism_tensor *b);
bool prism_stream_is_reference(const prism_stream *s);
/* Command buffers (segments) the recording was split into: commands are
 * never split, a segment closes when it holds PRISM_SUBMIT_MAX_OPS commands
 * (dispatches, fills, copies) or PRISM_SUBMIT_MAX_COST elements of estimated
 * work, and after every command in debug mode. 0 before anything was
 * recorded or on the reference backend. */
int prism_stream_segment_count(const prism_stream *s);
#define PRISM_SUBMIT_MAX_OPS 1024
#define PRISM_SUBMIT_MAX_COST ((uint64_t)1 << 30)

/* Local size for a 1-D elementwise kernel from the device limits. */
uint32_t prism_local_size_1d(const prism_context *ctx);
/* Largest element count one binding may cover (maxStorageBufferRange / 4,
 * rounded down to a multiple of the offset alignment in elements). */
int64_t prism_max_binding_elems(const prism_context *ctx);

#endif /* PRISM_INTERNAL_H */
