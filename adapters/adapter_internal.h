/* Internal contract between adapters/adapter.c (the generic part of
 * prism_adapter_*) and one file per method (adapters/<method>.c).
 *
 * A method fills a prism_adapter_vt and is listed in adapter.c's method
 * table. adapter.c does: config validation common to all methods, argument
 * checks (shapes of X, Y, dY, dX, W_out against m, n, same context), the
 * parameter list, zero_grad, save/load of the listed tensors, and destroy of
 * everything registered through the helpers below. A method only does its
 * math. */
#ifndef PRISM_ADAPTER_INTERNAL_H
#define PRISM_ADAPTER_INTERNAL_H

#include "internal.h"
#include "prism/adapter.h"

#define PRISM_ADAPTER_MAX_PARAMS 16
#define PRISM_ADAPTER_MAX_SCRATCH 16

typedef struct prism_adapter_vt {
    prism_method method;
    const char *peft_type;    /* adapter_config.json "peft_type" */
    /* Validates method fields of ad->cfg (message names the field), registers
     * parameters (prism_adapter_add_param) and initialises them by recording
     * into s (adapter.c runs s afterwards). */
    prism_status (*init)(prism_adapter *ad, prism_stream *s);
    prism_status (*forward)(prism_stream *s, prism_adapter *ad, const prism_tensor *X,
                            prism_tensor *Y);
    prism_status (*backward)(prism_stream *s, prism_adapter *ad, const prism_tensor *X,
                             const prism_tensor *dY, prism_tensor *dX);
    prism_status (*merge)(prism_stream *s, prism_adapter *ad, prism_tensor *W_out);
    /* Optional: checks tensors just loaded from a file (host copies of every
     * param in ad->params order, as float; for an int64 param values[i]
     * points to the file's int64_t values: cast it back). NULL = accept. */
    prism_status (*validate_loaded)(prism_adapter *ad, const float *const *values);
    /* Optional: method JSON fields (adapter.c writes peft_type, r, ... common
     * ones). NULL = none beyond the common ones. */
    prism_status (*config_to_json)(const prism_adapter_config *cfg, cJSON *obj);
    prism_status (*config_from_json)(const cJSON *obj, prism_adapter_config *cfg, char *err,
                                     size_t err_len);
    /* Optional: frees ad->priv (tensors registered via the helpers are freed
     * by adapter.c). */
    void (*destroy)(prism_adapter *ad);
} prism_adapter_vt;

typedef struct prism_adapter_scratch {
    prism_tensor *t;
    const char *what;
} prism_adapter_scratch;

struct prism_adapter {
    prism_context *ctx;
    const prism_adapter_vt *vt;
    prism_adapter_config cfg;
    const prism_tensor *W0, *bias;  /* borrowed */
    int64_t m, n;                   /* W0 is [m, n] */
    prism_param params[PRISM_ADAPTER_MAX_PARAMS];
    int nparams;
    /* int64 saved tensors (e.g. sdctft_index) are flagged here: exact on the
     * host (prism_adapter_set_index; written as I64 from there), rounded to
     * fp32 in the device tensor (exact below 2^24; ops never read it). */
    int param_is_i64[PRISM_ADAPTER_MAX_PARAMS];
    prism_adapter_scratch scratch[PRISM_ADAPTER_MAX_SCRATCH];
    prism_tensor *ones;             /* [T] of 1s for bias add / bias gradient */
    void *priv;                     /* method state */
};

/* ---- helpers for method files */

/* Creates value (+ grad when trainable) tensors of the given shape and
 * appends them to ad->params. *value may be NULL. */
prism_status prism_adapter_add_param(prism_adapter *ad, const char *name, int ndim,
                                     const int64_t *shape, int trainable, prism_tensor **value);
/* Like add_param for an int64 tensor saved as I64 (never trainable). */
prism_status prism_adapter_add_index(prism_adapter *ad, const char *name, int64_t count,
                                     prism_tensor **value);
/* Sets the values of int64 param `index` (an ad->params index, added by
 * prism_adapter_add_index): the exact host copy that files are saved from,
 * and its device tensor (rounded to fp32). Loading a file sets them too. */
prism_status prism_adapter_set_index(prism_adapter *ad, int index, const int64_t *values);
/* The gradient tensor of param `name` (NULL if frozen/absent). */
prism_tensor *prism_adapter_grad(prism_adapter *ad, const char *name);
/* Scratch slot `slot` shaped [rows, cols]: created on first use, re-created
 * when the shape changes (older recorded streams then become stale). */
prism_status prism_adapter_scratch2(prism_adapter *ad, int slot, const char *what, int64_t rows,
                                    int64_t cols, prism_tensor **out);

/* Y = X W^T (+ 1 b^T when bias non-NULL): the frozen/merged linear layer. */
prism_status prism_linear_forward(prism_stream *s, prism_adapter *ad, const prism_tensor *W,
                                  const prism_tensor *bias, const prism_tensor *X,
                                  prism_tensor *Y);
/* The same plus gamma E op(F) (prism_gemm_lowrank: fused into the GEMM's
 * epilogue on devices); E NULL = prism_linear_forward. */
prism_status prism_linear_forward_lowrank(prism_stream *s, prism_adapter *ad, const prism_tensor *W,
                                          const prism_tensor *bias, const prism_tensor *X, prism_tensor *Y,
                                          float gamma, const prism_tensor *E, int trans_f,
                                          const prism_tensor *F);
/* dX = dY W (beta 0) when dX non-NULL; also used by methods for G_X. */
prism_status prism_linear_backward_input(prism_stream *s, const prism_tensor *W,
                                         const prism_tensor *dY, prism_tensor *dX);
/* db += column sums of dY [T, m] (via the adapter's ones vector). */
prism_status prism_linear_bias_grad(prism_stream *s, prism_adapter *ad, const prism_tensor *dY,
                                    prism_tensor *db);

/* Fills t with kaiming_uniform(a = sqrt(5)) for fan_in: U(-1/sqrt(fan_in), +..)
 * from Philox (seed, offset). */
prism_status prism_adapter_kaiming(prism_stream *s, uint64_t seed, uint64_t offset,
                                   int64_t fan_in, prism_tensor *t);

/* Method tables (one per adapters/<method>.c). Weak: adapter.c lists every
 * method; one whose file is not built yet reports PRISM_ERR_UNSUPPORTED. */
extern const prism_adapter_vt prism_vt_none __attribute__((weak));
extern const prism_adapter_vt prism_vt_full __attribute__((weak));
extern const prism_adapter_vt prism_vt_lora __attribute__((weak));
extern const prism_adapter_vt prism_vt_ether __attribute__((weak));
extern const prism_adapter_vt prism_vt_ether_plus __attribute__((weak));
extern const prism_adapter_vt prism_vt_hut __attribute__((weak));
extern const prism_adapter_vt prism_vt_sdctft __attribute__((weak));
extern const prism_adapter_vt prism_vt_fourierft __attribute__((weak));
extern const prism_adapter_vt prism_vt_xpeft __attribute__((weak));
extern const prism_adapter_vt prism_vt_subspace __attribute__((weak));

#endif
