/* The subspace fit (METHODS.md §5, "Decisions for prism" Subspace row;
 * docs/subspace.md): from adapter files of M member methods trained in K runs,
 * the rank-r truncated SVD of the joint K x sum_m |theta_m| matrix of deltas
 * theta - theta0, written as a subspace file (include/prism/subspace.h).
 * Used by `prism subspace fit` and the tests. Host only (LAPACK), no device.
 *
 * Every function returns a prism_status and writes a message naming the
 * run / method / tensor and the reason into err. */
#ifndef PRISM_SUBSPACE_FIT_H
#define PRISM_SUBSPACE_FIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "prism/adapter.h"
#include "prism/subspace.h"

/* One tensor of a solution (module path + HF tensor name). Trainable tensors
 * (the method's float parameters) are what the subspace decodes; the others
 * (e.g. sdctft_index) are frozen and must agree across runs. */
typedef struct psf_tensor {
    char *module, *name;
    int ndim;
    int64_t shape[PRISM_MAX_DIMS];
    int64_t numel;
    int trainable;
    float *f32;     /* trainable, or a float frozen tensor */
    int64_t *i64;   /* an integer frozen tensor */
} psf_tensor;

/* One method's adapter (every layer): one run's solution or the init. */
typedef struct psf_solution {
    prism_method method;
    cJSON *config;    /* adapter_config.json */
    psf_tensor *t;    /* canonical order: sorted by (module, name), byte order */
    int n;
    char *source;     /* directory or label, for messages */
} psf_solution;

/* Reads an adapter directory (adapter_config.json + adapter_model.safetensors,
 * HF PEFT layout, any number of modules). The method must be a subspace
 * member (lora, ether, etherplus, hut, sdctft, fourierft); every key must be
 * "base_model.model.<module>.<one of the method's tensor names>"; trainable
 * values must be finite. */
prism_status psf_solution_read(const char *dir, psf_solution *out, char *err, size_t len);
/* The same from live adapters (one per module, same method): their saved
 * tensors and the first one's config. */
prism_status psf_solution_from_adapters(prism_adapter *const *layers, const char *const *modules, int n,
                                        const char *label, psf_solution *out, char *err, size_t len);
void psf_solution_free(psf_solution *s);

typedef enum psf_svd { PSF_SVD_AUTO = 0, PSF_SVD_GESDD = 1, PSF_SVD_GRAM = 2 } psf_svd;

typedef struct psf_options {
    int rank;        /* r, 1..K */
    int normalize;   /* 1: scale each method's block to unit RMS norm over the runs (default) */
    psf_svd svd;     /* AUTO: dgesdd on the K x N matrix when it is small, else the K x K Gram matrix */
} psf_options;
psf_options psf_options_default(void); /* rank 4, normalize 1, AUTO */

typedef struct psf_report {
    int K, rank, nsigma;
    int64_t N;
    double *sigma;       /* [nsigma] singular values of the (normalised) delta matrix, descending */
    double energy;       /* sum_{i<=r} sigma_i^2 / sum sigma_i^2 */
    double tail2;        /* sum_{i>r} sigma_i^2: the Eckart-Young reconstruction error (squared, normalised) */
    double *scale;       /* [nmethods] the normalisation s_m (1 without) */
    const char *svd_used;/* "dgesdd" or "gram+dsyevd" */
} psf_report;
void psf_report_free(psf_report *r);

/* init: nmethods solutions (distinct methods); runs: nruns x nmethods,
 * run-major, each run's m-th solution of the same method as init[m]. Checks
 * that every run matches the init (tensors, shapes, config, frozen tensors),
 * fits, writes out_path. rep may be NULL. */
prism_status psf_fit(const psf_solution *init, const psf_solution *runs, int nmethods, int nruns,
                     const char *const *run_names, const char *init_name, const psf_options *o,
                     const char *out_path, psf_report *rep, char *err, size_t len);
/* The same with each run's own init (run_inits: nruns x nmethods like runs,
 * NULL = init for every run): delta_k = theta_k - run_inits[k]. The file's
 * theta0 is still `init` (the init a subspace training starts from). Used
 * when runs were trained from different seeds (prism train writes each
 * run's init as <method>-<profile>/adapter-init). */
prism_status psf_fit_ex(const psf_solution *init, const psf_solution *runs, const psf_solution *run_inits,
                        int nmethods, int nruns, const char *const *run_names, const char *init_name,
                        const psf_options *o, const char *out_path, psf_report *rep, char *err, size_t len);

/* The adapter directory of method m inside a run directory: the run itself,
 * a subdirectory, or a subdirectory's "adapter/" (prism train's layout),
 * whose adapter_config.json has m's peft_type. Exactly one must match. A
 * sibling "adapter-init/" next to a matched ".../adapter" is that run's init. */
prism_status psf_find_adapter_dir(const char *run_dir, prism_method m, char *out, size_t out_len, char *err,
                                  size_t len);
/* Member methods with an adapter directory in dir (sorted by method). */
int psf_methods_in(const char *dir, prism_method *out, int cap);
/* The whole fit from directories; nmethods 0 = every member method in
 * init_dir (or, without one, in the first run). Each run's init is its
 * adapter-init/ when present, else init_dir's; init_dir may be NULL when
 * every run has adapter-init/ (theta0 is then the first run's init). */
prism_status psf_fit_dirs(const char *const *run_dirs, int nruns, const char *init_dir, const prism_method *methods,
                          int nmethods, const psf_options *o, const char *out_path, psf_report *rep, char *err,
                          size_t len);

#endif
