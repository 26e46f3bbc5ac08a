/* The body of `prism train` after argument parsing (tools/cmd_train.c
 * parses the command line into pt_cli_args). */
#ifndef PRISM_TRAIN_MAIN_H
#define PRISM_TRAIN_MAIN_H

#include "finetune.h"

typedef struct pt_cli_args {
    pt_job job;
    prism_method method;
    pt_profile profile;
    int demo, shifts, compare, resume;
    int64_t steps, eval_every, ckpt_every;
    float lr;                 /* 0: the method's default */
    float wd, clip;
    int constant_lr;          /* --lr-schedule constant (default cosine) */
    double tol;               /* --compare-reference relative tolerance */
    const char *device, *out;
    const char *methods;      /* --demo: comma list, NULL = all */
    const char *subspace;     /* --subspace FILE: the subspace method trains z of this fit */
    prism_method via;         /* --via: the member method decoded (default: the file's first) */
    int via_set;
    prism_adapter_config cfg[PRISM_METHOD_COUNT]; /* defaults + the method flags */
} pt_cli_args;

/* Exit status: 0 done, 1 failure, 2 bad arguments, 130 stopped by Ctrl-C
 * (after saving a checkpoint). */
int pt_train_main(const pt_cli_args *a);

#endif
