/* prism: the unified delta-tuning subspace (METHODS.md §5, "Decisions for
 * prism", Subspace row). docs/subspace.md has the design.
 *
 * Given trained solutions of M methods on K runs, a rank-r truncated SVD of
 * the joint K x sum_m |theta_m| matrix of deltas gives, per method m, a
 * decoder D_m [|theta_m|, r] and the init theta0_m. Training in the subspace
 * learns only z [r]:
 *
 *     theta_m = theta0_m + D_m z            (decode, every forward)
 *     dL/dz  += D_m^T dL/dtheta_m           (project, every backward)
 *
 * and a z learned through method m transfers to m' by decoding it with D_m'.
 *
 * This header has three layers:
 *   1. the ops (device + float64 reference): decode and project;
 *   2. the subspace file (host): open, query, decode on the host, export a
 *      decoded solution as an ordinary adapter directory, write (the fit);
 *   3. the subspace model (device): D_m, theta0_m and one shared z per model,
 *      and the per-layer `ext` that prism_adapter_create takes for
 *      PRISM_METHOD_SUBSPACE.
 * The fit itself (`prism subspace fit`, LAPACK) lives in tools/fit/. */
#ifndef PRISM_SUBSPACE_H
#define PRISM_SUBSPACE_H

#include "prism/adapter.h"
#include "prism/io.h"
#include "prism/prism.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ ops
 * D is 2-D [N, r] row-major (a view into a larger decoder is fine); theta0,
 * theta and dtheta hold N elements in any shape; z and dz hold r elements.
 * Sums have a fixed order (partials added in a fixed order, no float atomics),
 * so results are bit-identical from run to run. D larger than one storage
 * binding is processed in row ranges with binding offsets. */

/* theta = theta0 + D z. theta0 may be NULL (theta = D z) or theta itself
 * exactly (theta += D z); any other overlap of theta with an input is
 * PRISM_ERR_INVALID_ARGUMENT. Status: NULL -> INVALID_ARGUMENT, other context
 * -> WRONG_CONTEXT, D not 2-D or element counts that disagree -> SHAPE. */
prism_status prism_subspace_decode(prism_stream *s, const prism_tensor *D, const prism_tensor *theta0,
                                   const prism_tensor *z, prism_tensor *theta);

/* Elements of the workspace prism_subspace_project needs on ctx for D [n, r]
 * (0: none, NULL may be passed). It holds the first pass's partial sums
 * [invocations, r] (one row per invocation, each summing >= 32 rows of D
 * when there are enough) that a second pass adds in a fixed order; it
 * depends on the device's limits. The reference backend needs none. */
int64_t prism_subspace_project_workspace(const prism_context *ctx, int64_t n, int64_t r);

/* dz = beta dz + D^T dtheta. beta = 0 ignores the old dz (NaN-safe), beta = 1
 * accumulates. `work` must hold prism_subspace_project_workspace(ctx, N, r)
 * elements. dz and work must not overlap the inputs or each other
 * (INVALID_ARGUMENT); a missing work is INVALID_ARGUMENT, a short one SHAPE;
 * non-finite beta is NOT_FINITE. */
prism_status prism_subspace_project(prism_stream *s, const prism_tensor *D, const prism_tensor *dtheta, float beta,
                                    prism_tensor *dz, prism_tensor *work);

/* ------------------------------------------------------------------ the subspace file
 * One safetensors file (docs/subspace.md):
 *   tensors   "<method>.theta0" F32 [N_m], "<method>.decoder" F32 [N_m, r],
 *             "<method>.frozen.<module>.<name>" (the method's saved tensors
 *             that do not train, e.g. sdctft_index, as in its adapter file),
 *             "sigma" F32 [min(K, N)] (all singular values of the scaled
 *             delta matrix), "coords" F32 [K, r] (the runs' coordinates)
 *   metadata  format "prism-subspace", version "1", rank, methods (JSON list
 *             of method names), runs (JSON list), init, normalize,
 *             "config.<method>" (adapter_config.json fields of the method),
 *             "layout.<method>" (JSON list of [module, name, [shape], offset]
 *             in canonical order), "scale.<method>" (the normalisation).
 * Canonical order of a method: its trainable tensors sorted by (module path,
 * tensor name), byte order; theta_m is their concatenation (row-major). */

#define PRISM_SUBSPACE_FORMAT "prism-subspace"
#define PRISM_SUBSPACE_MAX_RANK 4096

typedef struct prism_subspace prism_subspace;

/* One trainable tensor in canonical order: theta_m[offset .. offset+numel). */
typedef struct prism_subspace_entry {
    const char *module;      /* "layers.0" */
    const char *name;        /* "lora_A.weight" */
    int ndim;
    int64_t shape[PRISM_MAX_DIMS];
    int64_t numel, offset;
} prism_subspace_entry;

/* Opens and validates a subspace file (hostile input: every tensor, shape,
 * offset and JSON field is checked; decoder and theta0 must be finite).
 * The file stays mapped until prism_subspace_close. */
prism_status prism_subspace_open(const char *path, prism_subspace **out, char *err, size_t err_len);
/* The same from a file image in memory: the subspace borrows data, which must
 * outlive it; label names it in messages (e.g. the origin of the bytes). */
prism_status prism_subspace_parse(const void *data, size_t n, const char *label, prism_subspace **out,
                                  char *err, size_t err_len);
void prism_subspace_close(prism_subspace *sp);

int prism_subspace_rank(const prism_subspace *sp);
int prism_subspace_method_count(const prism_subspace *sp);
prism_method prism_subspace_method_at(const prism_subspace *sp, int i);
/* |theta_m|, 0 when the file has no such method. */
int64_t prism_subspace_size(const prism_subspace *sp, prism_method m);
/* Entries of method m in canonical order; returns the count (0: no method). */
int prism_subspace_entries(const prism_subspace *sp, prism_method m, const prism_subspace_entry **list);
/* The method's adapter config as the fit saw it (peft fields from the file). */
prism_status prism_subspace_member_config(const prism_subspace *sp, prism_method m, prism_adapter_config *cfg,
                                          char *err, size_t err_len);
/* Metadata value (NULL when absent) and the underlying tensor file. */
const char *prism_subspace_meta(const prism_subspace *sp, const char *key);
const prism_st_file *prism_subspace_file(const prism_subspace *sp);
/* Host pointers into the mapped file (F32, little-endian as on every
 * supported host); NULL when absent. */
const float *prism_subspace_theta0(const prism_subspace *sp, prism_method m);
const float *prism_subspace_decoder(const prism_subspace *sp, prism_method m);

/* theta [N_m] = theta0_m + D_m z on the host (float64 sums). */
prism_status prism_subspace_decode_host(const prism_subspace *sp, prism_method m, const float *z, int64_t nz,
                                        float *theta, char *err, size_t err_len);
/* Writes dir/adapter_model.safetensors + dir/adapter_config.json: an ordinary
 * method-m adapter (HF PEFT layout, one module per layer, frozen tensors from
 * the file) holding theta0_m + D_m z. This is transfer: a z learned through
 * one method, decoded with another method's decoder, evaluated with the
 * ordinary tools (prism apply / merge / prism_adapter_load). */
prism_status prism_subspace_export(const prism_subspace *sp, prism_method m, const float *z, int64_t nz,
                                   const char *dir, char *err, size_t err_len);

/* What the fit writes (tools/fit/). Frozen tensors are copied verbatim. */
typedef struct prism_subspace_frozen {
    const char *module, *name;
    int ndim;
    int64_t shape[PRISM_MAX_DIMS];
    const int64_t *i64;      /* one of i64 / f32 */
    const float *f32;
} prism_subspace_frozen;

typedef struct prism_subspace_method_data {
    prism_method method;
    const cJSON *config;     /* the method's adapter_config.json (target_modules is dropped) */
    int nentries;
    const prism_subspace_entry *entries; /* canonical order, offsets 0.. contiguous */
    const float *theta0;     /* [N] */
    const float *decoder;    /* [N, r] */
    double scale;            /* normalisation applied to this method's block (1 = none) */
    int nfrozen;
    const prism_subspace_frozen *frozen;
} prism_subspace_method_data;

typedef struct prism_subspace_desc {
    int rank;
    int nmethods;
    const prism_subspace_method_data *methods;
    int nsigma;
    const float *sigma;      /* [nsigma] */
    int nruns;
    const float *coords;     /* [nruns, rank] */
    const char *const *runs; /* [nruns] */
    const char *init;        /* where theta0 came from */
    const char *normalize;   /* "none" or "method" */
} prism_subspace_desc;

/* Writes the file atomically; validates the description first. */
prism_status prism_subspace_write(const char *path, const prism_subspace_desc *d, char *err, size_t err_len);

/* ------------------------------------------------------------------ the model (device) */

typedef struct prism_subspace_model prism_subspace_model;

/* Uploads D_m and theta0_m of method m to ctx and creates z [r] ~ N(0, 0.02^2)
 * (Philox, seed) with its gradient, or shares the z (and gradient) of
 * `share_z` (same rank, same context): the transfer setting, where one z
 * drives several methods' decoders. sp must outlive the model; the model must
 * outlive every adapter made from its ext. */
prism_status prism_subspace_model_create(prism_context *ctx, const prism_subspace *sp, prism_method m,
                                         const prism_subspace_model *share_z, uint64_t seed,
                                         prism_subspace_model **out);
void prism_subspace_model_destroy(prism_subspace_model *mdl);
prism_method prism_subspace_model_method(const prism_subspace_model *mdl);
int prism_subspace_model_rank(const prism_subspace_model *mdl);
prism_tensor *prism_subspace_model_z(const prism_subspace_model *mdl);
prism_tensor *prism_subspace_model_z_grad(const prism_subspace_model *mdl);
/* Host transfers of z (exactly rank elements; synchronous). */
prism_status prism_subspace_model_set_z(prism_subspace_model *mdl, const float *z, int64_t n);
prism_status prism_subspace_model_get_z(const prism_subspace_model *mdl, float *z, int64_t n);

/* The `ext` of a PRISM_METHOD_SUBSPACE adapter (prism_adapter_config.ext):
 *   model != NULL  one layer of a subspace model: `module` names the layer in
 *                  the file's canonical order; the member method, its config
 *                  and theta0 come from the file. The FIRST adapter created on
 *                  a model (or on any model sharing its z) lists z and its
 *                  gradient in prism_adapter_params ("subspace_z"); the others
 *                  list nothing, so an optimizer over every layer's params
 *                  steps z exactly once. Each layer's backward ADDS
 *                  D_l^T dtheta_l into the shared gradient: zero it once per
 *                  step (prism_adapter_zero_grad of the owning layer does).
 *   model == NULL  standalone random subspace on one layer (intrinsic-
 *                  dimension style, no file): member `via` (its fields from
 *                  the adapter config), D ~ N(0, 1/N) [N, rank] (Philox),
 *                  theta0 = the member's init; z, D and theta0 are the
 *                  adapter's own params ("subspace_z" trains;
 *                  "subspace_decoder", "subspace_theta0" are saved).
 * A NULL ext means standalone with the defaults below. The adapter copies
 * what it needs at create time. */
#define PRISM_SUBSPACE_DEFAULT_VIA PRISM_METHOD_LORA
#define PRISM_SUBSPACE_DEFAULT_RANK 4
#define PRISM_SUBSPACE_Z_STD 0.02f

typedef struct prism_subspace_ext {
    prism_subspace_model *model;
    const char *module;
    prism_method via;        /* standalone only (0 = NONE: the default) */
    int rank;                /* standalone only (0: the default) */
} prism_subspace_ext;

/* Fills ext for layer `module` of the model; PRISM_ERR_INVALID_ARGUMENT
 * (message in the model's context) when the file has no such module for the
 * model's method. ext->module points into the subspace file's layout. */
prism_status prism_subspace_model_ext(prism_subspace_model *mdl, const char *module, prism_subspace_ext *ext);
/* Modules of method m in canonical order (file layout); returns the count. */
int prism_subspace_modules(const prism_subspace *sp, prism_method m, const char *const **list);

#ifdef __cplusplus
}
#endif
#endif /* PRISM_SUBSPACE_H */
