/* Training loops of `prism train`: evaluation, the step loop with
 * checkpoints, resume and Ctrl-C. */
#ifndef PRISM_TRAIN_RUN_H
#define PRISM_TRAIN_RUN_H

#include "train.h"

typedef struct pt_curve {
    int n, cap;
    double *x, *y;
} pt_curve;
prism_status pt_curve_push(pt_curve *c, double x, double y);
void pt_curve_free(pt_curve *c);
/* Means of consecutive windows of `w` points (x = the window's last x). */
prism_status pt_curve_smooth(const pt_curve *c, int w, pt_curve *out);

typedef struct pt_run_opts {
    const char *label;       /* progress-bar label */
    const char *method;      /* recorded in checkpoints, checked on resume */
    const char *profile;
    const char *widths;
    int64_t steps;           /* total steps (a resumed run continues up to it) */
    int64_t eval_every;      /* test accuracy every n steps (0: start and end only) */
    uint64_t seed;           /* data order */
    int progress;            /* progress bar on stderr */
    const char *ckpt_path;   /* NULL: no checkpoints */
    int64_t ckpt_every;      /* steps between checkpoints (0: only at the end / on Ctrl-C) */
    int resume;              /* continue from ckpt_path when it exists */
    int skip_eval;           /* no accuracy evaluations at all (timing, tests) */
    int cosine;              /* lr = base * (1 + cos(pi t / steps)) / 2 at step t; else constant */
} pt_run_opts;

typedef struct pt_run_result {
    double acc_before, acc_after;
    int64_t start_step, steps_done; /* steps_done counts from 0, including resumed ones */
    int resumed, interrupted;
    double step_ms;                 /* median wall time of one step (upload + run + loss read) */
    double samples_per_s;           /* batch / step_ms */
    pt_curve loss;                  /* per step */
    pt_curve acc;                   /* per evaluation */
} pt_run_result;
void pt_run_result_free(pt_run_result *r);

/* Test accuracy over all of `test` in batches (last one padded). */
prism_status pt_evaluate(pt_mlp *m, const pt_images *test, double *acc, char *err, size_t err_len);
/* Indices of the training samples of one step: the data order is a fresh
 * permutation per epoch from (seed, epoch), so step s always sees the same
 * batch (resume is exact). perm_cache holds n entries; *cached_epoch = -1
 * initially. */
void pt_batch_indices(uint64_t seed, int64_t n, int64_t step, int64_t batch, int64_t *perm_cache,
                      int64_t *cached_epoch, int64_t *idx);
/* Runs the step loop. Checkpoints go to o->ckpt_path atomically. */
prism_status pt_train_run(pt_mlp *m, const pt_images *train, const pt_images *test,
                          const pt_run_opts *o, pt_run_result *r, char *err, size_t err_len);

#endif
