/* The stages of `prism train` shared by the CLI and the tests: data, the
 * pretrained base (cached), method defaults, device-vs-reference runs. */
#ifndef PRISM_TRAIN_JOB_H
#define PRISM_TRAIN_JOB_H

#include "run.h"

typedef struct pt_job {
    const char *data_dir;     /* NULL: PT_DEFAULT_DATA_DIR */
    const char *cache_dir;    /* NULL: pt_default_cache_dir() */
    const char *base_path;    /* NULL: <cache_dir>/<name from the settings> */
    pt_base shape;            /* widths (weights unused) */
    uint64_t seed;
    int64_t batch;
    int64_t pretrain_steps;   /* 0: the base is the random init (nothing cached) */
    float pretrain_lr;
    int64_t train_subset;     /* 0: all 60000 */
    int64_t test_subset;      /* 0: all 10000 */
    int progress;
    FILE *log;                /* messages (stdout); NULL = quiet */
} pt_job;

/* Defaults of `prism train` (784-256-256-10, batch 128, 1500 pretraining
 * steps at lr 1e-3). */
void pt_job_defaults(pt_job *j);

/* Training and test images (original), cut to the subsets. */
prism_status pt_job_load_data(const pt_job *j, pt_images *train, pt_images *test, char *err,
                              size_t err_len);
/* The base file name for these settings (widths, seed, batch, steps, lr). */
const char *pt_job_base_path(const pt_job *j, char *buf, size_t len);
/* Loads the cached base, or pretrains it (FULL on every layer, original
 * images) and saves it. *reused says which; *acc gets the base's test
 * accuracy on the original test images when it was (re)trained, else -1. */
prism_status pt_job_base(prism_context *ctx, const pt_job *j, const pt_images *train,
                         const pt_images *test, pt_base *base, int *reused, double *acc,
                         char *err, size_t err_len);

/* Learning rate each method fine-tunes with unless --lr is given (chosen so
 * every method learns within a few hundred steps; docs/train.md). */
float pt_method_default_lr(prism_method m);

/* Device vs reference: the same base, config and batches for `steps` steps
 * on ctx and on a reference context. Reports the largest parameter
 * difference. */
typedef struct pt_compare_result {
    double max_abs_diff;      /* over every trainable scalar */
    double max_rel_diff;      /* max_abs_diff of a tensor / max |reference| of it, worst tensor */
    char worst[128];          /* tensor with the largest relative difference */
    double max_loss_diff;     /* |loss_dev - loss_ref| worst step */
    int64_t compared;         /* scalars compared */
    int ntensors;
} pt_compare_result;
prism_status pt_compare_reference(prism_context *dev, const pt_base *base,
                                  const prism_adapter_config *cfg, const pt_train_opts *opts,
                                  const pt_images *train, uint64_t seed, int64_t steps,
                                  pt_compare_result *res, char *err, size_t err_len);

#endif
