/* prism adapters: one interface for every parameter-efficient method.
 *
 * An adapter wraps one frozen linear layer W0 [m, n] (torch layout: out = m,
 * in = n) and an optional frozen bias b [m]. Tokens are rows:
 *     Y [T, m] = X [T, n] W_eff^T + 1 b^T
 * where W_eff is the method's effective weight (METHODS.md). The plain frozen
 * layer (NONE) and full fine-tuning (FULL) are methods of the same interface,
 * so a model is a list of adapters, activations and a loss.
 *
 * Training: record forward, then backward (in stream order, same X, same T),
 * then the optimizer over prism_adapter_params(). Backward ACCUMULATES into
 * the parameter gradients (prism_adapter_zero_grad clears them) and writes
 * (overwrites) dX when dX is non-NULL. What backward needs from forward is
 * kept in scratch tensors the adapter owns (sized by the largest T seen; a
 * larger T re-allocates them, which makes older recorded streams stale:
 * their replay returns PRISM_ERR_STALE). No method materialises ΔW or H·W in
 * training where METHODS.md gives an activation-space form.
 *
 * W0 and bias are borrowed: the caller keeps them alive and unchanged while
 * the adapter exists. Every function returns a prism_status; the context's
 * message names the adapter's method, the op and the shapes. */
#ifndef PRISM_ADAPTER_H
#define PRISM_ADAPTER_H

#include "prism/prism.h"
#include "prism/io.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum prism_method {
    PRISM_METHOD_NONE = 0,      /* frozen layer, nothing trains */
    PRISM_METHOD_FULL,          /* W (and bias) train */
    PRISM_METHOD_LORA,
    PRISM_METHOD_ETHER,
    PRISM_METHOD_ETHER_PLUS,
    PRISM_METHOD_HUT,
    PRISM_METHOD_SDCTFT,
    PRISM_METHOD_FOURIERFT,
    PRISM_METHOD_XPEFT,
    PRISM_METHOD_SUBSPACE,
    PRISM_METHOD_COUNT
} prism_method;

/* CLI / file names: "none", "full", "lora", "ether", "etherplus", "hut",
 * "sdctft", "fourierft", "xpeft", "subspace". */
const char *prism_method_name(prism_method m);
/* Case-insensitive; also accepts HF peft_type spellings ("LORA", "ETHER_PLUS",
 * "HIRA" = hut, "FOURIERFT", ...). PRISM_ERR_INVALID_ARGUMENT when unknown. */
prism_status prism_method_parse(const char *name, prism_method *out);

typedef enum prism_side { PRISM_SIDE_IN = 0, PRISM_SIDE_OUT = 1, PRISM_SIDE_BOTH = 2 } prism_side;
/* Also declared by prism/dct.h (the dct op); whichever header comes first. */
#ifndef PRISM_DCT_NORM_DEFINED
#define PRISM_DCT_NORM_DEFINED
typedef enum prism_dct_norm { PRISM_DCT_NORM_NONE = 0, PRISM_DCT_NORM_ORTHO = 1 } prism_dct_norm;
#endif
typedef enum prism_mask_kind { PRISM_MASK_SOFT = 0, PRISM_MASK_HARD = 1 } prism_mask_kind;
typedef enum prism_placement { PRISM_PLACE_PARALLEL = 0, PRISM_PLACE_SERIAL = 1 } prism_placement;
typedef enum prism_activation { PRISM_ACT_IDENTITY = 0, PRISM_ACT_RELU = 1, PRISM_ACT_GELU = 2 } prism_activation;

/* Every field of every method; a method reads only its own. Defaults from
 * prism_adapter_config_default follow METHODS.md "Decisions for prism". */
typedef struct prism_adapter_config {
    prism_method method;
    uint64_t seed;            /* initialisation draws (Philox), default 0 */
    int train_bias;           /* FULL only: the bias trains too (default 1) */

    /* LoRA, HUT, X-PEFT bank members */
    int r;                    /* rank: LoRA 8, HUT 8, X-PEFT 8 */
    float lora_alpha;         /* LoRA: scale = lora_alpha / r (default 8, as HF PEFT) */
    float hut_s;              /* HUT: s (default 1 = HF HiRA) */

    /* ETHER / ETHER+ */
    int blocks;               /* n blocks dividing each reflected side (default 1) */
    prism_side side;          /* ETHER: in (default); ETHER+: both (default) */

    /* sDCTFT */
    int n_coef;               /* coefficients per matrix (default 700) */
    float sdctft_alpha;       /* scale (default 300) */
    float delta;              /* energy fraction of each band's budget (default 0.7) */
    prism_dct_norm dct_norm;  /* default none (torch_dct norm=None scaling) */

    /* FourierFT (HF PEFT) */
    int n_frequency;          /* default 1000 */
    float fourier_scaling;    /* default 150 */
    uint64_t random_loc_seed; /* default 777 */

    /* sDCTFT and FourierFT: coefficients start at 0 instead of N(0,1) */
    int init_zero;

    /* X-PEFT */
    int n_bank;               /* N adapters in the bank (default 64) */
    int k;                    /* hard mask: top-k (0 = ceil(N/4)) */
    prism_mask_kind mask;     /* default hard */
    prism_placement placement;/* default parallel */
    prism_activation act;     /* serial placement: phi (default identity) */
    uint64_t bank_seed;       /* random bank when no bank is given (default 1) */

    /* Method-specific objects that do not fit a flat config (X-PEFT bank
     * tensors, the subspace decoder slice and shared z): see the method's
     * header. Borrowed; NULL = method default. */
    const void *ext;
} prism_adapter_config;

prism_adapter_config prism_adapter_config_default(prism_method m);

typedef struct prism_adapter prism_adapter;

/* One tensor of an adapter, named by its HF key suffix ("lora_A.weight",
 * "ether_u_in", "weight", ...). grad is NULL for frozen tensors. */
typedef struct prism_param {
    const char *name;
    prism_tensor *value;
    prism_tensor *grad;
    int trainable;
} prism_param;

/* Creates the adapter on W0 [m, n] (+ optional bias [m]) and initialises its
 * parameters (records and runs its own stream). Config values out of range,
 * blocks not dividing the side, etc. are PRISM_ERR_INVALID_ARGUMENT with a
 * message naming the field. *out is NULL on failure. */
prism_status prism_adapter_create(prism_context *ctx, const prism_adapter_config *cfg,
                                  const prism_tensor *W0, const prism_tensor *bias,
                                  prism_adapter **out);
void prism_adapter_destroy(prism_adapter *ad); /* NULL and half-built are fine */

/* Y [T, m] = X [T, n] W_eff^T + b. */
prism_status prism_adapter_forward(prism_stream *s, prism_adapter *ad, const prism_tensor *X,
                                   prism_tensor *Y);
/* Accumulates the parameter gradients from dY [T, m]; writes dX [T, n] when
 * non-NULL. Must follow the forward of the same X in stream order. */
prism_status prism_adapter_backward(prism_stream *s, prism_adapter *ad, const prism_tensor *X,
                                    const prism_tensor *dY, prism_tensor *dX);
/* Sets every gradient to 0. */
prism_status prism_adapter_zero_grad(prism_stream *s, prism_adapter *ad);
/* W_out [m, n] = W_eff (bias unchanged: y = X W_eff^T + b). */
prism_status prism_adapter_merge(prism_stream *s, prism_adapter *ad, prism_tensor *W_out);

/* All tensors (trainable and frozen-but-saved); *list stays valid until the
 * adapter is destroyed. Returns the count. */
int prism_adapter_params(const prism_adapter *ad, const prism_param **list);
/* Number of trainable scalars. */
int64_t prism_adapter_trainable_count(const prism_adapter *ad);
/* Device bytes the adapter holds beyond W0 and bias: parameters, gradients,
 * scratch for backward (at the largest T seen so far). */
int64_t prism_adapter_extra_bytes(const prism_adapter *ad);
const prism_adapter_config *prism_adapter_get_config(const prism_adapter *ad);
prism_method prism_adapter_method(const prism_adapter *ad);
int64_t prism_adapter_out_features(const prism_adapter *ad); /* m */
int64_t prism_adapter_in_features(const prism_adapter *ad);  /* n */
prism_context *prism_adapter_context(const prism_adapter *ad);

/* ------------------------------------------------------------------ files
 * HF PEFT layout (METHODS.md §6): adapter_model.safetensors with keys
 * "base_model.model.<module>.<param name>" and adapter_config.json. */

/* Adds this adapter's saved tensors to w under "<prefix>.<name>" (downloads
 * them: waits for the device). */
prism_status prism_adapter_save_tensors(prism_adapter *ad, const char *prefix, prism_st_writer *w);
/* Reads "<prefix>.<name>" for every saved tensor (shape checked, values
 * validated, e.g. a zero ETHER vector is rejected). The adapter's config must
 * match the file's (create it from prism_adapter_config_from_json). */
prism_status prism_adapter_load_tensors(prism_adapter *ad, const char *prefix,
                                        const prism_st_file *f);
/* The method's adapter_config.json fields (peft_type, r, lora_alpha, ...)
 * into the object obj / back from it. from_json starts from the method's
 * defaults, so absent fields keep them. */
prism_status prism_adapter_config_to_json(const prism_adapter_config *cfg, cJSON *obj,
                                          char *err, size_t err_len);
prism_status prism_adapter_config_from_json(const cJSON *obj, prism_adapter_config *cfg,
                                            char *err, size_t err_len);

/* Single-layer convenience: dir/adapter_model.safetensors (keys under
 * "base_model.model.<module>") + dir/adapter_config.json (target_modules =
 * [module]); dir is created if missing; both files are written atomically. */
prism_status prism_adapter_save(prism_adapter *ad, const char *dir, const char *module);
/* Reads the config, creates the adapter on W0/bias, loads its tensors. */
prism_status prism_adapter_load(prism_context *ctx, const char *dir, const char *module,
                                const prism_tensor *W0, const prism_tensor *bias,
                                prism_adapter **out);

#ifdef __cplusplus
}
#endif
#endif /* PRISM_ADAPTER_H */
