/* One fine-tuning run (model, loop, adapter file, curves) and the demo's
 * summary table and plot. */
#ifndef PRISM_TRAIN_FINETUNE_H
#define PRISM_TRAIN_FINETUNE_H

#include "job.h"

typedef struct pt_finetune_opts {
    const char *dir;          /* outputs: checkpoint, adapter/, curves.csv, curves.svg (NULL: none) */
    const char *profile;      /* name, for checkpoints and titles */
    const char *widths;
    int64_t steps, eval_every, ckpt_every;
    uint64_t seed;
    int resume, progress, skip_eval;
    int cosine;               /* cosine learning-rate decay to 0 over `steps` */
    const void *const *layer_ext; /* per-layer cfg.ext (subspace model), NULL = cfg->ext */
} pt_finetune_opts;

typedef struct pt_finetune_result {
    prism_method method;
    char label[32];           /* table and plot row name; "" = the method's name */
    int skipped;              /* the method is not built (PRISM_ERR_UNSUPPORTED) */
    char note[256];           /* why it was skipped */
    int64_t trainable;
    int64_t adapter_bytes;    /* adapter_model.safetensors, -1 when not written */
    float lr;
    pt_run_result run;
} pt_finetune_result;

/* Builds the model with cfg on base, saves the untrained adapter
 * (dir/adapter-init, the --init of `prism subspace fit`), trains it, writes
 * the adapter (dir/adapter) and the curves. A method whose adapter reports PRISM_ERR_UNSUPPORTED comes back
 * PRISM_OK with skipped = 1 and the reason in note. */
prism_status pt_finetune(prism_context *ctx, const pt_base *base, const prism_adapter_config *cfg,
                         const pt_train_opts *opts, const pt_images *train, const pt_images *test,
                         const pt_finetune_opts *fo, pt_finetune_result *out, char *err,
                         size_t err_len);
void pt_finetune_result_free(pt_finetune_result *r);

/* The summary table (method, trainable params and share of FULL's,
 * accuracy before -> after, gain as a share of FULL's gain, time/step and
 * ratio to the frozen model, samples/s, adapter bytes) to f; the frozen
 * step time is the NONE row's when present. */
void pt_report_table(FILE *f, const pt_finetune_result *r, int n, int64_t full_params);
/* Markdown version of the same table (for the README / BENCHMARKS). */
prism_status pt_report_markdown(const char *path, const pt_finetune_result *r, int n,
                                int64_t full_params, const char *header, char *err, size_t err_len);
/* Loss (smoothed over `smooth` steps) and accuracy curves of every
 * non-skipped run with a loss curve. */
prism_status pt_report_plot(const char *path, const char *title, const pt_finetune_result *r, int n,
                            int smooth, char *err, size_t err_len);

#endif
