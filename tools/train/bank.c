/* `prism train --method xpeft --bank DIR ...`: the X-PEFT bank of every
 * layer from LoRA adapter directories that `prism train --method lora`
 * wrote (<out>/lora-<profile>/adapter), one member per directory. */
#include <stdlib.h>
#include <string.h>
#include "train_main.h"

/* k = 2 for banks of up to 8 members, else ceil(N/4) (the adapter's own
 * default). With ceil(N/4) a bank of 2 or 3 would get k = 1: the A and B
 * masks then pick one A_i and one B_j, and B_j A_i with i != j is the
 * product of two unrelated adapters; k = 2 keeps every pair (i, i) in the
 * mix. For 5 to 8 members ceil(N/4) is already 2. */
int pt_bank_default_k(int n) { return n <= 8 ? (n < 2 ? 1 : 2) : (n + 3) / 4; }

void pt_bank_free(prism_xpeft_bank **banks, int nlayers) {
    for (int i = 0; banks && i < nlayers; i++) {
        prism_xpeft_bank_destroy(banks[i]);
        banks[i] = NULL;
    }
}

prism_status pt_bank_load(const pt_base *base, const char *const *dirs, int n, prism_xpeft_bank **banks, char *err,
                          size_t err_len) {
    prism_status st = PRISM_OK;
    for (int i = 0; i < base->nlayers; i++) banks[i] = NULL;
    for (int i = 0; i < base->nlayers && !st; i++) {
        char mod[32], why[2048] = "";
        snprintf(mod, sizeof mod, "layers.%d", i);
        /* one directory at a time first, so the message names the one at fault */
        for (int d = 0; d < n && !st; d++) {
            prism_xpeft_bank *one = NULL;
            st = prism_xpeft_bank_from_lora_dirs(&dirs[d], 1, mod, base->widths[i + 1], base->widths[i], &one, why,
                                                 sizeof why);
            prism_xpeft_bank_destroy(one);
            if (st)
                snprintf(err, err_len, "--bank %s: not a LoRA adapter of this model's %s [%lld, %lld]: %s", dirs[d], mod,
                         (long long)base->widths[i + 1], (long long)base->widths[i], why);
        }
        if (!st && (st = prism_xpeft_bank_from_lora_dirs(dirs, n, mod, base->widths[i + 1], base->widths[i], &banks[i],
                                                         why, sizeof why)))
            snprintf(err, err_len, "--bank: %s", why);
        if (!st && i > 0 && banks[i]->r != banks[0]->r) {
            snprintf(err, err_len, "--bank: the adapters' largest rank is %d on layers.0 but %d on %s", banks[0]->r,
                     banks[i]->r, mod);
            st = PRISM_ERR_FORMAT;
        }
    }
    if (st) pt_bank_free(banks, base->nlayers);
    return st;
}

/* Trains (or finds in the cache) one LoRA adapter per profile other than
 * a->profile: the demo's bank. The cache directory is named after the base
 * file, so a retrained or other base never reuses stale adapters. */
prism_status pt_bank_demo(prism_context *ctx, const pt_cli_args *a, const pt_base *base, const pt_images *train,
                          char (*dirs)[PT_BANK_PATH], int *n, char *err, size_t err_len) {
    char root[PT_BANK_PATH], bpath[4096], w[128];
    *n = 0;
    if (a->job.pretrain_steps > 0) {
        pt_job_base_path(&a->job, bpath, sizeof bpath);
        char *slash = strrchr(bpath, '/'), *dot = strrchr(bpath, '.');
        if (dot && dot > slash) *dot = 0;
        if (slash) *slash = 0;
        snprintf(root, sizeof root, "%s/xpeft-bank/%s", slash ? bpath : ".", slash ? slash + 1 : bpath);
    } else { /* a random base is not cached: neither is its bank */
        snprintf(root, sizeof root, "%s/xpeft-bank", a->out);
    }
    pt_widths_str(base, w, sizeof w);
    prism_adapter_config cfg = a->cfg[PRISM_METHOD_LORA];
    pt_train_opts o = {.batch = a->job.batch, .lr = pt_method_default_lr(PRISM_METHOD_LORA), .clip = 1};
    for (int p = 0; p < PT_PROFILE_COUNT; p++) {
        if ((pt_profile)p == a->profile) continue;
        char dir[PT_BANK_PATH], probe[PT_BANK_PATH + 64];
        snprintf(dir, sizeof dir, "%s/lora-r%d-%s-s%lld-seed%llu", root, cfg.r, pt_profile_name((pt_profile)p),
                 (long long)PT_BANK_DEMO_STEPS, (unsigned long long)a->job.seed);
        snprintf(dirs[*n], PT_BANK_PATH, "%s/adapter", dir);
        snprintf(probe, sizeof probe, "%s/adapter_model.safetensors", dirs[*n]);
        FILE *f = fopen(probe, "rb");
        if (f) {
            fclose(f);
            printf("xpeft bank: lora on %-8s cached in %s\n", pt_profile_name((pt_profile)p), dirs[*n]);
            (*n)++;
            continue;
        }
        pt_images trs = {0};
        pt_finetune_result r;
        pt_finetune_opts fo = {.dir = dir, .profile = pt_profile_name((pt_profile)p), .widths = w,
                               .steps = PT_BANK_DEMO_STEPS, .seed = a->job.seed, .progress = a->job.progress,
                               .skip_eval = 1, .cosine = 1};
        prism_status st = pt_profile_apply((pt_profile)p, train, &trs, err, err_len);
        if (!st) st = pt_finetune(ctx, base, &cfg, &o, &trs, NULL, &fo, &r, err, err_len);
        pt_images_free(&trs);
        if (st) return st;
        int skipped = r.skipped, stopped = r.run.interrupted;
        pt_finetune_result_free(&r);
        if (skipped || stopped) {
            snprintf(err, err_len, "the LoRA bank's adapter on %s was %s", pt_profile_name((pt_profile)p),
                     skipped ? "not trained: LoRA is not built" : "interrupted");
            return skipped ? PRISM_ERR_UNSUPPORTED : PRISM_ERR_INVALID_ARGUMENT;
        }
        printf("xpeft bank: lora on %-8s %lld steps, %.1f ms/step -> %s\n", pt_profile_name((pt_profile)p),
               (long long)PT_BANK_DEMO_STEPS, r.run.step_ms, dirs[*n]);
        (*n)++;
    }
    return PRISM_OK;
}
