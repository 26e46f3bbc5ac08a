/* `prism train`: Fashion-MNIST fine-tuning with prism adapters.
 *
 * The pieces, one file each in tools/train/:
 *   fmnist.c    IDX (gzip) reader with validation
 *   profile.c   deterministic image shifts (the target domains)
 *   mlp.c       the MLP built from adapters, the recorded training step
 *   ckpt.c      base weights, checkpoints (atomic), adapter files
 *   run.c       training loops: pretraining, fine-tuning, evaluation
 *   plot.c      SVG plot of loss and accuracy curves
 *   progress.c  progress bar, timers, Ctrl-C flag
 * Functions return prism_status and put a message in the caller's err buffer
 * (the context's own message is copied in when a library call failed). */
#ifndef PRISM_TRAIN_H
#define PRISM_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "prism/adapter.h"
#include "prism/io.h"
#include "prism/prism.h"

#define PT_DEFAULT_DATA_DIR "/usr/share/datasets/fashion-mnist"
#define PT_DATA_PACKAGE "dataset-fashion-mnist"
#define PT_MAX_LAYERS 8
#define PT_CLASSES 10

/* ------------------------------------------------------------------ data */

/* n images of rows x cols uint8 pixels (row-major) with labels 0..9. */
typedef struct pt_images {
    int64_t n;
    int rows, cols;
    uint8_t *pix;     /* n * rows * cols */
    uint8_t *labels;  /* n */
} pt_images;

/* Reads one IDX file (gzip-compressed, or raw: zlib reads both): element
 * type must be unsigned byte (0x08), ndim as asked, dims big-endian, data
 * exactly the product of the dims (no trailing bytes), the gzip CRC intact.
 * dims gets ndim values; *data is malloc'ed. Missing, truncated or corrupt
 * files are PRISM_ERR_IO / PRISM_ERR_FORMAT with a message naming the path
 * and the Debian package. */
prism_status pt_idx_read(const char *path, int ndim, int64_t *dims, uint8_t **data, char *err,
                         size_t err_len);
/* Loads <dir>/<split>-images-idx3-ubyte.gz and <dir>/<split>-labels-idx1-ubyte.gz
 * (split "train" or "t10k"): 28x28 images, counts equal, labels < 10. */
prism_status pt_fmnist_load(const char *dir, const char *split, pt_images *out, char *err,
                            size_t err_len);
void pt_images_free(pt_images *im);
/* First n images (n <= im->n) as a new set. */
prism_status pt_images_subset(const pt_images *im, int64_t n, pt_images *out, char *err,
                              size_t err_len);

/* ------------------------------------------------------------------ profiles */

typedef enum pt_profile {
    PT_PROFILE_ORIGINAL = 0,
    PT_PROFILE_INVERT,    /* p -> 255 - p */
    PT_PROFILE_ROT90,     /* rotated 90 degrees clockwise */
    PT_PROFILE_HFLIP,     /* mirrored left-right */
    PT_PROFILE_VFLIP,     /* mirrored top-bottom */
    PT_PROFILE_SHIFT,     /* translated 7 pixels right and 7 down, zero fill */
    PT_PROFILE_PERMUTE,   /* one fixed pixel permutation (seed PT_PERMUTE_SEED) */
    PT_PROFILE_COUNT
} pt_profile;
#define PT_PERMUTE_SEED 0x5eedf00dULL

const char *pt_profile_name(pt_profile p);
const char *pt_profile_about(pt_profile p);
/* PRISM_ERR_INVALID_ARGUMENT for an unknown name. */
prism_status pt_profile_parse(const char *name, pt_profile *out);
/* New image set: the shifted copy of src (labels kept). Square images are
 * needed for rot90. */
prism_status pt_profile_apply(pt_profile p, const pt_images *src, pt_images *out, char *err,
                              size_t err_len);

/* ------------------------------------------------------------------ rng */

/* splitmix64: the host-side generator for data order and base init. */
uint64_t pt_rng_next(uint64_t *state);
double pt_rng_uniform(uint64_t *state); /* [0, 1) with 53 bits */
/* Fisher-Yates permutation of 0..n-1 from seed. */
void pt_permutation(uint64_t seed, int64_t n, int64_t *perm);

/* ------------------------------------------------------------------ model */

/* Input normalisation: x = (p / 255 - PT_MEAN) / PT_STD (Fashion-MNIST
 * training-set statistics). */
#define PT_MEAN 0.2860f
#define PT_STD 0.3530f

typedef struct pt_layer_host {
    float *W;  /* [out, in] */
    float *b;  /* [out] */
} pt_layer_host;

/* Base weights on the host: widths[0] inputs, widths[nlayers] classes. */
typedef struct pt_base {
    int nlayers;
    int64_t widths[PT_MAX_LAYERS + 1];
    pt_layer_host layer[PT_MAX_LAYERS];
} pt_base;

/* widths "784,256,256,10" -> base shape (weights NULL). */
prism_status pt_widths_parse(const char *s, pt_base *out, char *err, size_t err_len);
/* Allocates W, b with torch's nn.Linear default init: U(-1/sqrt(in), 1/sqrt(in)). */
prism_status pt_base_init(pt_base *b, uint64_t seed, char *err, size_t err_len);
void pt_base_free(pt_base *b);
/* "784-256-256-10" */
const char *pt_widths_str(const pt_base *b, char *buf, size_t len);
int64_t pt_base_param_count(const pt_base *b);

typedef struct pt_train_opts {
    int64_t batch;
    float lr;
    float weight_decay;
    float clip;       /* global-norm clip, 0 = off */
} pt_train_opts;

typedef struct pt_mlp pt_mlp;

/* Builds the model on ctx: the base layers as frozen tensors, an adapter of
 * cfg->method on every layer (seed cfg->seed + layer), and the training
 * step (zero grads, forward, loss, backward, clip, AdamW) recorded once into
 * one stream, plus an evaluation stream (forward + accuracy count), both for
 * opts->batch rows. */
prism_status pt_mlp_create(prism_context *ctx, const pt_base *base, const prism_adapter_config *cfg,
                           const pt_train_opts *opts, pt_mlp **out, char *err, size_t err_len);
/* Same with a per-layer cfg.ext (layer_ext[i] for layer i; NULL = cfg->ext
 * everywhere): the subspace model's layers. */
prism_status pt_mlp_create_ext(prism_context *ctx, const pt_base *base, const prism_adapter_config *cfg,
                               const void *const *layer_ext, const pt_train_opts *opts, pt_mlp **out,
                               char *err, size_t err_len);
void pt_mlp_destroy(pt_mlp *m);
/* One training step on a batch: x [batch, in] normalised floats, labels
 * [batch] as floats. *loss gets the batch's mean loss (before the update). */
prism_status pt_mlp_step(pt_mlp *m, const float *x, const float *labels, float *loss, char *err,
                         size_t err_len);
/* Forward + accuracy count on a batch (padding rows have label -1). */
prism_status pt_mlp_eval_batch(pt_mlp *m, const float *x, const float *labels, float *correct,
                               char *err, size_t err_len);
int64_t pt_mlp_batch(const pt_mlp *m);
int pt_mlp_nlayers(const pt_mlp *m);
prism_adapter *pt_mlp_adapter(pt_mlp *m, int layer);
prism_context *pt_mlp_context(const pt_mlp *m);
int64_t pt_mlp_trainable(const pt_mlp *m);
/* Trainable tensors in a fixed order (layer, then param order); with the
 * AdamW moments. Returns the count. */
int pt_mlp_trainables(pt_mlp *m, prism_tensor ***params, prism_tensor ***mom1,
                      prism_tensor ***mom2, const char ***names);
prism_tensor *pt_mlp_optim_state(pt_mlp *m);
/* Sets the learning rate in the optimizer's device state (the recorded step
 * reads it from there, so a schedule needs no re-recording). */
prism_status pt_mlp_set_lr(pt_mlp *m, double lr, char *err, size_t err_len);
float pt_mlp_base_lr(const pt_mlp *m);
/* Downloads the effective weights of every layer (merge + bias) into a new
 * host base (the FULL-pretrained weights, or a merged fine-tuned model). */
prism_status pt_mlp_export(pt_mlp *m, pt_base *out, char *err, size_t err_len);

/* Fills x [n, in] (normalised) and labels [n] from images idx[0..n). Rows
 * with idx < 0 are padding: x = 0 and label -1 (never counted correct). */
void pt_batch_fill(const pt_images *im, const int64_t *idx, int64_t n, float *x, float *labels);

/* ------------------------------------------------------------------ files */

/* Base weights: "layers.<i>.weight" [out, in], "layers.<i>.bias" [out] with
 * metadata (widths, how it was trained). Written atomically. */
prism_status pt_base_save(const pt_base *b, const char *path, const char *meta_json, char *err,
                          size_t err_len);
/* Loads and checks the shapes against want (widths); want->layer weights
 * are allocated. */
prism_status pt_base_load(const char *path, pt_base *want, char *err, size_t err_len);

/* HF-PEFT-style adapter directory for the whole model: dir/adapter_model.safetensors
 * (keys base_model.model.layers.<i>.<param>) + dir/adapter_config.json
 * (target_modules layers.0 ...). *bytes gets the safetensors file size. */
prism_status pt_adapter_save(pt_mlp *m, const char *dir, int64_t *bytes, char *err,
                             size_t err_len);

/* Training state that a checkpoint restores besides the tensors. */
typedef struct pt_ckpt_info {
    int64_t step;          /* steps done */
    char method[32];
    char profile[32];
    char widths[128];
    uint64_t seed;
    int64_t batch;
    int64_t train_n;
    char *history;         /* JSON text of the curves so far (malloc'ed), may be NULL */
} pt_ckpt_info;

/* Writes every saved adapter tensor, the AdamW moments and the optimizer
 * state to path atomically (temp file + fsync + rename: a kill during the
 * save leaves the previous checkpoint intact). */
prism_status pt_ckpt_save(pt_mlp *m, const char *path, const pt_ckpt_info *info, char *err,
                          size_t err_len);
/* Reads the info only (history malloc'ed; free with pt_ckpt_info_free). */
prism_status pt_ckpt_read_info(const char *path, pt_ckpt_info *info, char *err, size_t err_len);
void pt_ckpt_info_free(pt_ckpt_info *info);
/* Restores tensors and optimizer state into m (built with the same config). */
prism_status pt_ckpt_load(pt_mlp *m, const char *path, char *err, size_t err_len);

/* mkdir -p */
prism_status pt_mkdirs(const char *dir, char *err, size_t err_len);
/* Default cache directory: $PRISM_CACHE_DIR, $XDG_CACHE_HOME/prism, ~/.cache/prism. */
const char *pt_default_cache_dir(char *buf, size_t len);

/* ------------------------------------------------------------------ plot */

typedef struct pt_series {
    const char *label;
    int n;
    const double *x, *y;
} pt_series;

/* Two panels side by side (e.g. loss and accuracy against step), one
 * polyline per series, shared legend; the left panel's y axis optionally
 * logarithmic; written atomically. */
prism_status pt_plot_svg(const char *path, const char *title, const char *left_title,
                         const char *left_ylabel, int left_log, const pt_series *left, int nleft,
                         const char *right_title, const char *right_ylabel,
                         const pt_series *right, int nright, const char *xlabel, char *err,
                         size_t err_len);

/* ------------------------------------------------------------------ progress */

double pt_now(void);            /* seconds, monotonic */
double pt_median(double *v, int n); /* sorts v */

typedef struct pt_progress {
    FILE *f;
    int tty;
    int enabled;
    int64_t total;
    double t0, last;
    char label[64];
} pt_progress;
void pt_progress_begin(pt_progress *p, FILE *f, int enabled, const char *label, int64_t total);
/* Redraws at most ~10 times a second on a terminal, every 10% otherwise. */
void pt_progress_update(pt_progress *p, int64_t done, double loss, double samples_per_s);
void pt_progress_end(pt_progress *p);

/* Ctrl-C: the first SIGINT sets the flag (the loop stops after the current
 * step and saves); a second one kills the process. */
void pt_sigint_install(void);
void pt_sigint_restore(void);
int pt_interrupted(void);

#endif
