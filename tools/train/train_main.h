/* The body of `prism train` after argument parsing (tools/cmd_train.c
 * parses the command line into pt_cli_args). */
#ifndef PRISM_TRAIN_MAIN_H
#define PRISM_TRAIN_MAIN_H

#include "finetune.h"
#include "prism/subspace.h"
#include "prism/xpeft.h"

#define PT_MAX_BANK 256

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
    prism_method transfer[PRISM_METHOD_COUNT]; /* --transfer-to: decoders the trained z is evaluated with */
    int ntransfer;
    const char *bank[PT_MAX_BANK]; /* --bank: LoRA adapter directories, the X-PEFT bank members */
    int nbank;
    prism_adapter_config cfg[PRISM_METHOD_COUNT]; /* defaults + the method flags */
} pt_cli_args;

/* Exit status: 0 done, 1 failure, 2 bad arguments, 130 stopped by Ctrl-C
 * (after saving a checkpoint). */
int pt_train_main(const pt_cli_args *a);

/* --transfer-to (transfer.c). Before training: every target must be a
 * method of the subspace file (PRISM_ERR_INVALID_ARGUMENT naming it and the
 * file's methods). After training z through `mdl`: the frozen base, the via
 * method and each target (the same z through its decoder, and at z = 0) are
 * evaluated on `test`; one line per target on stdout and <dir>/transfer.csv. */
prism_status pt_transfer_check(const prism_subspace *sp, const char *path, const prism_method *targets, int n,
                               char *err, size_t err_len);
prism_status pt_transfer_run(prism_context *ctx, const pt_cli_args *a, const pt_base *base, const pt_images *test,
                             const prism_subspace *sp, prism_subspace_model *mdl, const char *dir, char *err,
                             size_t err_len);

/* --bank (bank.c): per layer i the X-PEFT bank of the LoRA adapters in dirs
 * (module "layers.<i>", shapes from the base); banks[i] are the layers'
 * cfg.ext. Every failure names the directory. */
prism_status pt_bank_load(const pt_base *base, const char *const *dirs, int n, prism_xpeft_bank **banks, char *err,
                          size_t err_len);
void pt_bank_free(prism_xpeft_bank **banks, int nlayers);
/* The demo's LoRA bank: one LoRA adapter (PT_BANK_DEMO_STEPS steps) per
 * profile other than a->profile, trained on the base or reused from
 * <cache>/xpeft-bank/<base file name>/; dirs[0..*n) get the adapter dirs.
 * `train` must be the ORIGINAL training images (each member applies its
 * own profile to them; the demo profile's images would leak the held-out
 * shift into every member). */
#define PT_BANK_PATH 4400
#define PT_BANK_DEMO_STEPS 150
prism_status pt_bank_demo(prism_context *ctx, const pt_cli_args *a, const pt_base *base, const pt_images *train,
                          char (*dirs)[PT_BANK_PATH], int *n, char *err, size_t err_len);
/* The hard-mask k used with a bank of n members unless --k is given. */
int pt_bank_default_k(int n);

#endif
