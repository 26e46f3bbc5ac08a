/* prism: portable Vulkan compute for ultra-parameter-efficient fine-tuning.
 *
 * Public API of the runtime: context, devices, tensors, streams, and the core
 * ops. Every function returns a prism_status; on failure the context keeps a
 * message (prism_error_message) naming the op, the shapes and the reason.
 * The library never aborts and never prints.
 *
 * Backends: a Vulkan device (default), or the float64 CPU reference
 * (PRISM_DEVICE=reference) behind the same API. */
#ifndef PRISM_PRISM_H
#define PRISM_PRISM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PRISM_VERSION_MAJOR 0
#define PRISM_VERSION_MINOR 1
#define PRISM_VERSION_PATCH 0
#define PRISM_MAX_DIMS 4

typedef enum prism_status {
    PRISM_OK = 0,
    PRISM_ERR_INVALID_ARGUMENT = 1, /* NULL pointer, bad enum or flag value */
    PRISM_ERR_SHAPE = 2,            /* shapes do not agree */
    PRISM_ERR_DIMS = 3,             /* negative, zero or overflowing dims */
    PRISM_ERR_NOT_FINITE = 4,       /* NaN or Inf where finite values are required */
    PRISM_ERR_WRONG_CONTEXT = 5,    /* tensor or stream from another context */
    PRISM_ERR_STALE = 6,            /* a recorded stream uses a destroyed tensor */
    PRISM_ERR_OUT_OF_HOST_MEMORY = 7,
    PRISM_ERR_OUT_OF_DEVICE_MEMORY = 8,
    PRISM_ERR_DEVICE_LOST = 9,
    PRISM_ERR_NO_DEVICE = 10,       /* no device matches the request */
    PRISM_ERR_UNSUPPORTED = 11,     /* the device lacks a required feature */
    PRISM_ERR_VULKAN = 12,          /* other Vulkan failure (message has the VkResult) */
    PRISM_ERR_IO = 13,              /* file could not be read or written */
    PRISM_ERR_FORMAT = 14,          /* malformed or hostile file contents */
    PRISM_ERR_STATE = 15,           /* call not valid in the object's current state */
    PRISM_ERR_TIMEOUT = 16
} prism_status;

const char *prism_status_string(prism_status s);

/* ------------------------------------------------------------------ devices */

typedef enum prism_backend {
    PRISM_BACKEND_VULKAN = 0,
    PRISM_BACKEND_REFERENCE = 1
} prism_backend;

typedef enum prism_device_type {
    PRISM_DEVICE_OTHER = 0,
    PRISM_DEVICE_INTEGRATED = 1,
    PRISM_DEVICE_DISCRETE = 2,
    PRISM_DEVICE_VIRTUAL = 3,
    PRISM_DEVICE_CPU = 4
} prism_device_type;

/* Everything a kernel may ask about a device. Optional features are read once
 * from the properties2/features2 chains; `PRISM_DISABLE` clears them so the
 * baseline path (Vulkan 1.1 + fp32 only) can be forced on any device. */
typedef struct prism_caps {
    char name[256];
    char driver_name[256];
    char driver_info[256];
    prism_device_type type;
    uint32_t vendor_id, device_id, driver_version, api_version;
    uint8_t device_uuid[16];

    /* limits */
    uint64_t max_storage_buffer_range;
    uint64_t max_buffer_size;            /* maintenance4, else max allocation size */
    uint64_t max_memory_allocation_size;
    uint32_t max_memory_allocation_count;
    uint64_t min_storage_buffer_offset_alignment;
    uint64_t non_coherent_atom_size;
    uint32_t max_push_constants_size;
    uint32_t max_workgroup_invocations;
    uint32_t max_workgroup_size[3];
    uint32_t max_workgroup_count[3];
    uint32_t max_shared_memory_size;
    uint32_t max_bound_descriptor_sets;
    uint32_t max_storage_buffers_per_stage;
    double timestamp_period_ns;
    uint32_t timestamp_valid_bits;       /* of the compute queue; 0 = no timestamps */
    uint64_t device_local_bytes;         /* largest DEVICE_LOCAL heap */
    int unified_memory;                  /* DEVICE_LOCAL|HOST_VISIBLE|COHERENT on the main heap */

    /* subgroups */
    uint32_t subgroup_size;              /* as reported; never assumed by kernels */
    uint32_t subgroup_min_size, subgroup_max_size;
    int subgroup_ops;                    /* basic+arithmetic+shuffle in compute */
    int subgroup_size_control;

    /* optional features (0 when absent or disabled) */
    int f16_storage, f16_arithmetic, f64, int64;
    int push_descriptor, buffer_device_address, cooperative_matrix;
    int memory_budget;
    int timestamps;

    char disabled[128];                  /* what PRISM_DISABLE turned off */
} prism_caps;

/* One entry per physical device (de-duplicated by deviceUUID). Fills at most
 * `max` entries; *count gets the total. Needs no context. */
prism_status prism_enumerate_devices(prism_caps *out, int max, int *count,
                                     char *err, size_t err_len);

/* ------------------------------------------------------------------ context */

typedef struct prism_context prism_context;

typedef struct prism_context_options {
    const char *device;   /* NULL: $PRISM_DEVICE, else default choice.
                             index, name substring, "lavapipe"/"cpu", "reference" */
    const char *disable;  /* NULL: $PRISM_DISABLE. comma list: f16,subgroup,
                             push_descriptor,bda,coopmat,f64,int64,all */
    int validate;         /* -1: $PRISM_VALIDATE; 1 enables VK_LAYER_KHRONOS_validation */
    int profile;          /* -1: $PRISM_PROFILE; 1 writes per-op timestamps */
    const char *cache_dir;/* NULL: $PRISM_CACHE_DIR, else $XDG_CACHE_HOME/prism,
                             else ~/.cache/prism; "" disables the pipeline cache file */
} prism_context_options;

/* Defaults: every field "from the environment". */
prism_context_options prism_context_options_default(void);

/* On failure *out is NULL; the reason is in err (when err_len > 0). */
prism_status prism_context_create(const prism_context_options *opt, prism_context **out,
                                  char *err, size_t err_len);
void prism_context_destroy(prism_context *ctx);

const char *prism_error_message(const prism_context *ctx);
prism_status prism_last_status(const prism_context *ctx);
void prism_clear_error(prism_context *ctx);
prism_backend prism_context_backend(const prism_context *ctx);
const prism_caps *prism_context_caps(const prism_context *ctx);
/* Messages the validation layer reported (warnings + errors) since creation. */
uint64_t prism_validation_message_count(const prism_context *ctx);
const char *prism_validation_last_message(const prism_context *ctx);

/* Optional log sink; the library never prints on its own. */
typedef void (*prism_log_fn)(void *user, int level, const char *msg);
void prism_set_log(prism_context *ctx, prism_log_fn fn, void *user);

/* ------------------------------------------------------------------ tensors */

typedef struct prism_tensor prism_tensor;

/* fp32, row-major, 1..4 dims, each dim >= 1. Contents undefined until written. */
prism_status prism_tensor_create(prism_context *ctx, int ndim, const int64_t *shape,
                                 prism_tensor **out);
/* A view sharing storage: `offset` elements from the start of t, contiguous.
 * The storage lives until the last tensor or view on it is destroyed. */
prism_status prism_tensor_view(prism_tensor *t, int64_t offset, int ndim,
                               const int64_t *shape, prism_tensor **out);
void prism_tensor_destroy(prism_tensor *t);

int prism_tensor_ndim(const prism_tensor *t);
int64_t prism_tensor_dim(const prism_tensor *t, int i);  /* negative i counts from the end */
int64_t prism_tensor_numel(const prism_tensor *t);
prism_context *prism_tensor_context(const prism_tensor *t);
/* "[2, 3, 4]" into buf; returns buf. */
const char *prism_tensor_shape_str(const prism_tensor *t, char *buf, size_t len);

/* Synchronous host transfers of exactly numel elements. Must not overlap a
 * submitted stream that uses the tensor (wait for it first). */
prism_status prism_tensor_upload(prism_tensor *t, const float *src, int64_t count);
prism_status prism_tensor_download(prism_tensor *t, float *dst, int64_t count);
/* float64 transfers: exact on the reference backend, rounded to fp32 on a device. */
prism_status prism_tensor_upload_f64(prism_tensor *t, const double *src, int64_t count);
prism_status prism_tensor_download_f64(prism_tensor *t, double *dst, int64_t count);

/* ------------------------------------------------------------------ streams */

typedef struct prism_stream prism_stream;

/* A stream is one command buffer. Ops record into it; the first submit ends
 * recording; a finished stream can be submitted again unchanged (replay).
 * Barriers are inserted only between ops with a real memory hazard. */
prism_status prism_stream_create(prism_context *ctx, prism_stream **out);
void prism_stream_destroy(prism_stream *s);
prism_status prism_stream_submit(prism_stream *s);
prism_status prism_stream_wait(prism_stream *s);
prism_status prism_stream_run(prism_stream *s);    /* submit + wait */
prism_status prism_stream_reset(prism_stream *s);  /* drop the recording, record anew */
prism_context *prism_stream_context(const prism_stream *s);
int prism_stream_op_count(const prism_stream *s);
int prism_stream_barrier_count(const prism_stream *s);

typedef struct prism_profile_entry {
    const char *op;     /* static op name */
    double ms;          /* last execution, from timestamps */
} prism_profile_entry;
/* With profiling on (PRISM_PROFILE=1): per-op times of the last completed run. */
prism_status prism_stream_profile(prism_stream *s, const prism_profile_entry **entries,
                                  int *count);

/* ------------------------------------------------------------------ ops: basic
 * Element-wise ops need all tensors to have the same number of elements
 * (shapes may differ, e.g. a [6] view of a [2,3] tensor). Outputs may alias
 * inputs exactly (same tensor) where noted. */

prism_status prism_fill(prism_stream *s, prism_tensor *y, float value);
prism_status prism_copy(prism_stream *s, const prism_tensor *x, prism_tensor *y);
prism_status prism_add(prism_stream *s, const prism_tensor *a, const prism_tensor *b,
                       prism_tensor *y);                        /* y = a + b */
prism_status prism_mul(prism_stream *s, const prism_tensor *a, const prism_tensor *b,
                       prism_tensor *y);                        /* y = a * b */
prism_status prism_scale(prism_stream *s, const prism_tensor *x, float alpha,
                         prism_tensor *y);                      /* y = alpha x */
prism_status prism_axpy(prism_stream *s, float alpha, const prism_tensor *x,
                        prism_tensor *y);                       /* y += alpha x */
prism_status prism_relu(prism_stream *s, const prism_tensor *x, prism_tensor *y);
/* dx = dy * (x > 0) */
prism_status prism_relu_backward(prism_stream *s, const prism_tensor *x,
                                 const prism_tensor *dy, prism_tensor *dx);
/* tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
prism_status prism_gelu(prism_stream *s, const prism_tensor *x, prism_tensor *y);
prism_status prism_gelu_backward(prism_stream *s, const prism_tensor *x,
                                 const prism_tensor *dy, prism_tensor *dx);
/* Row reductions over the last dim of a [rows, cols] tensor (leading dims
 * flattened into rows); y has `rows` elements. */
prism_status prism_row_sum(prism_stream *s, const prism_tensor *x, prism_tensor *y);
prism_status prism_row_dot(prism_stream *s, const prism_tensor *a, const prism_tensor *b,
                           prism_tensor *y);
prism_status prism_row_norm(prism_stream *s, const prism_tensor *x, prism_tensor *y);
/* Swap the last two dims: x [.., r, c] -> y [.., c, r] (leading dims are batch). */
prism_status prism_transpose(prism_stream *s, const prism_tensor *x, prism_tensor *y);

/* ------------------------------------------------------------------ ops: gemm
 * C = alpha op(A) op(B) + beta C. 2-D [M,K]x[K,N]->[M,N] or 3-D batched with
 * the same batch on A, B and C (a batch of 1 on A or B broadcasts). op(X) = X
 * or X^T per flag. beta = 0 ignores the old contents of C (NaN-safe). */
prism_status prism_gemm(prism_stream *s, int trans_a, int trans_b, float alpha,
                        const prism_tensor *a, const prism_tensor *b, float beta,
                        prism_tensor *c);

/* C = alpha op(A) op(B) + gamma E op(F) + beta C, 2-D only: E [M, r], op(F)
 * [r, N] (F stored [r, N], or [N, r] with trans_f = 1). On devices the
 * rank-r product runs in the epilogue of the first (one pass over C instead
 * of two: the low-rank update of LoRA-style adapters); the reference backend
 * and shapes it cannot fuse compute it as two gemm calls. */
prism_status prism_gemm_lowrank(prism_stream *s, int trans_a, int trans_b, float alpha,
                                const prism_tensor *a, const prism_tensor *b, float beta,
                                prism_tensor *c, float gamma, const prism_tensor *e, int trans_f,
                                const prism_tensor *f);

/* ------------------------------------------------------------------ ops: loss
 * logits [B, C]; labels [B] holding class indices as exact floats. Labels are
 * device data and never index out of bounds: the loss uses trunc(label)
 * clamped to [0, C-1] (NaN -> 0); accuracy counts a row only when
 * float(argmax) == label exactly. */
/* loss[1] = mean over rows of -log softmax(logits)[label] */
prism_status prism_softmax_xent(prism_stream *s, const prism_tensor *logits,
                                const prism_tensor *labels, prism_tensor *loss);
/* dlogits = (softmax(logits) - onehot(label)) * scale / B  (scale: upstream dL) */
prism_status prism_softmax_xent_backward(prism_stream *s, const prism_tensor *logits,
                                         const prism_tensor *labels, float scale,
                                         prism_tensor *dlogits);
/* count[1] = number of rows whose argmax (lowest index on ties) equals the label */
prism_status prism_accuracy_count(prism_stream *s, const prism_tensor *logits,
                                  const prism_tensor *labels, prism_tensor *count);

/* ------------------------------------------------------------------ ops: optim
 * Step-dependent scalars live in a device tensor so a recorded training step
 * can be replayed without re-recording:
 *   state[PRISM_OPT_STEP]  step count t (incremented by prism_optim_tick)
 *   state[PRISM_OPT_LR]    learning rate (the host may upload a schedule)
 *   state[PRISM_OPT_BC1]   1 - beta1^t
 *   state[PRISM_OPT_BC2]   1 - beta2^t
 *   state[PRISM_OPT_CLIP]  gradient scale from the last prism_clip_global_norm (1 = none)
 *   state[PRISM_OPT_NORM]  the last global gradient norm */
enum { PRISM_OPT_STEP = 0, PRISM_OPT_LR = 1, PRISM_OPT_BC1 = 2, PRISM_OPT_BC2 = 3,
       PRISM_OPT_CLIP = 4, PRISM_OPT_NORM = 5, PRISM_OPT_STATE_SIZE = 8 };

typedef struct prism_adamw_params {
    float beta1, beta2, eps, weight_decay;  /* decoupled: p -= lr * wd * p */
} prism_adamw_params;
prism_adamw_params prism_adamw_params_default(void); /* 0.9, 0.999, 1e-8, 0.01 */

/* Creates a [PRISM_OPT_STATE_SIZE] tensor: step 0, lr, bc1 = bc2 = 0, clip 1. */
prism_status prism_optim_state_create(prism_context *ctx, float lr, prism_tensor **state);
/* t += 1; bc1 = 1 - beta1^t; bc2 = 1 - beta2^t (recorded: advances on every replay). */
prism_status prism_optim_tick(prism_stream *s, const prism_adamw_params *p,
                              prism_tensor *state);
/* m = b1 m + (1-b1) g'; v = b2 v + (1-b2) g'^2; g' = g * state[CLIP];
 * p -= lr (wd p + (m/bc1) / (sqrt(v/bc2) + eps)) */
prism_status prism_adamw(prism_stream *s, const prism_adamw_params *p,
                         const prism_tensor *state, prism_tensor *param,
                         const prism_tensor *grad, prism_tensor *m, prism_tensor *v);
/* p -= lr (g * state[CLIP] + wd p), with momentum buf: b = mu b + g'; p -= lr b
 * when momentum_buf is non-NULL. */
prism_status prism_sgd(prism_stream *s, float momentum, float weight_decay,
                       const prism_tensor *state, prism_tensor *param,
                       const prism_tensor *grad, prism_tensor *momentum_buf);
/* norm = sqrt(sum of squares of every grad); state[CLIP] = min(1, max_norm/(norm+1e-6));
 * state[NORM] = norm. The grads are not changed: adamw/sgd apply state[CLIP]. */
prism_status prism_clip_global_norm(prism_stream *s, prism_tensor *const *grads, int n,
                                    float max_norm, prism_tensor *state);

/* ------------------------------------------------------------------ ops: rng
 * Philox4x32-10 with key (seed lo, seed hi); element i uses word i%4 of the
 * block whose 64-bit counter (i/4 + offset) fills words 0-1 (words 2-3 are 0),
 * so `offset` counts blocks of 4 elements. Uniform: u = ((w >> 9) + 0.5) 2^-23,
 * y = lo + (hi - lo) u - bit-identical on every backend. Normal: Box-Muller on
 * word pairs (0,1) and (2,3), see docs/ARCHITECTURE.md. */
prism_status prism_rng_uniform(prism_stream *s, uint64_t seed, uint64_t offset,
                               float lo, float hi, prism_tensor *y);
prism_status prism_rng_normal(prism_stream *s, uint64_t seed, uint64_t offset,
                              float mean, float stddev, prism_tensor *y);

#ifdef __cplusplus
}
#endif
#endif /* PRISM_PRISM_H */
