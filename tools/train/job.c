/* Stages of `prism train`: data loading, the cached pretrained base, method
 * defaults, and the device-vs-reference comparison. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "job.h"

void pt_job_defaults(pt_job *j) {
    memset(j, 0, sizeof *j);
    pt_widths_parse("784,256,256,10", &j->shape, NULL, 0);
    j->seed = 0;
    j->batch = 128;
    j->pretrain_steps = 1500;
    j->pretrain_lr = 1e-3f;
    j->progress = 1;
    j->log = stdout;
}

prism_status pt_job_load_data(const pt_job *j, pt_images *train, pt_images *test, char *err,
                              size_t err_len) {
    pt_images full[2];
    memset(full, 0, sizeof full);
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    prism_status st = pt_fmnist_load(j->data_dir, "train", &full[0], err, err_len);
    if (!st) st = pt_fmnist_load(j->data_dir, "t10k", &full[1], err, err_len);
    if (st) goto done;
    if (full[0].rows * full[0].cols != j->shape.widths[0]) {
        if (err && err_len)
            snprintf(err, err_len, "the first width is %lld but the images have %d pixels",
                     (long long)j->shape.widths[0], full[0].rows * full[0].cols);
        st = PRISM_ERR_INVALID_ARGUMENT;
        goto done;
    }
    if (j->shape.widths[j->shape.nlayers] != PT_CLASSES) {
        if (err && err_len)
            snprintf(err, err_len, "the last width is %lld but Fashion-MNIST has %d classes",
                     (long long)j->shape.widths[j->shape.nlayers], PT_CLASSES);
        st = PRISM_ERR_INVALID_ARGUMENT;
        goto done;
    }
    int64_t ntr = j->train_subset > 0 && j->train_subset < full[0].n ? j->train_subset : full[0].n;
    int64_t nte = j->test_subset > 0 && j->test_subset < full[1].n ? j->test_subset : full[1].n;
    if ((st = pt_images_subset(&full[0], ntr, train, err, err_len))) goto done;
    if ((st = pt_images_subset(&full[1], nte, test, err, err_len))) pt_images_free(train);
done:
    pt_images_free(&full[0]);
    pt_images_free(&full[1]);
    return st;
}

const char *pt_job_base_path(const pt_job *j, char *buf, size_t len) {
    if (j->base_path) {
        snprintf(buf, len, "%s", j->base_path);
        return buf;
    }
    char dir[4096], w[128];
    if (j->cache_dir) snprintf(dir, sizeof dir, "%s", j->cache_dir);
    else pt_default_cache_dir(dir, sizeof dir);
    pt_widths_str(&j->shape, w, sizeof w);
    snprintf(buf, len, "%s/fmnist-mlp-%s-seed%llu-b%lld-s%lld-lr%g-cosine.safetensors", dir, w,
             (unsigned long long)j->seed, (long long)j->batch, (long long)j->pretrain_steps,
             (double)j->pretrain_lr);
    return buf;
}

prism_status pt_job_base(prism_context *ctx, const pt_job *j, const pt_images *train,
                         const pt_images *test, pt_base *base, int *reused, double *acc,
                         char *err, size_t err_len) {
    char path[4400];
    *reused = 0;
    *acc = -1;
    *base = j->shape;
    for (int i = 0; i < PT_MAX_LAYERS; i++) base->layer[i].W = base->layer[i].b = NULL;
    if (j->pretrain_steps <= 0) return pt_base_init(base, j->seed, err, err_len);
    pt_job_base_path(j, path, sizeof path);
    if (access(path, F_OK) == 0) {
        prism_status st = pt_base_load(path, base, err, err_len);
        if (!st) {
            *reused = 1;
            return PRISM_OK;
        }
        if (j->log) fprintf(j->log, "base %s is unusable (%s); pretraining again\n", path, err);
        *base = j->shape;
        for (int i = 0; i < PT_MAX_LAYERS; i++) base->layer[i].W = base->layer[i].b = NULL;
    }
    pt_base init = j->shape;
    prism_status st = pt_base_init(&init, j->seed, err, err_len);
    if (st) return st;
    prism_adapter_config cfg = prism_adapter_config_default(PRISM_METHOD_FULL);
    cfg.seed = j->seed;
    pt_train_opts opts = {.batch = j->batch, .lr = j->pretrain_lr, .weight_decay = 0.0f, .clip = 1.0f};
    pt_mlp *m = NULL;
    pt_run_result r;
    memset(&r, 0, sizeof r);
    if (j->log)
        fprintf(j->log, "pretraining the base (FULL on every layer, original images): %lld steps of %lld\n",
                (long long)j->pretrain_steps, (long long)j->batch);
    if ((st = pt_mlp_create(ctx, &init, &cfg, &opts, &m, err, err_len))) goto done;
    pt_run_opts ro = {.label = "pretrain", .method = "full", .profile = "original", .steps = j->pretrain_steps,
                      .eval_every = 0, .seed = j->seed, .progress = j->progress, .cosine = 1};
    if ((st = pt_train_run(m, train, test, &ro, &r, err, err_len))) goto done;
    if (r.interrupted) {
        if (err && err_len) snprintf(err, err_len, "pretraining interrupted; nothing saved");
        st = PRISM_ERR_STATE;
        goto done;
    }
    if ((st = pt_mlp_export(m, base, err, err_len))) goto done;
    *acc = r.acc_after;
    char meta[512], dir[4400];
    snprintf(meta, sizeof meta,
             "{\"method\":\"full\",\"profile\":\"original\",\"steps\":%lld,\"batch\":%lld,\"lr\":%g,"
             "\"seed\":%llu,\"test_accuracy\":%.6f,\"test_images\":%lld}",
             (long long)j->pretrain_steps, (long long)j->batch, (double)j->pretrain_lr,
             (unsigned long long)j->seed, r.acc_after, (long long)test->n);
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    prism_status sst = PRISM_OK;
    if (slash && slash != dir) {
        *slash = 0;
        sst = pt_mkdirs(dir, err, err_len);
    }
    if (!sst) sst = pt_base_save(base, path, meta, err, err_len);
    /* An unwritable cache only costs the reuse: the base is in memory. */
    if (sst && j->log) fprintf(j->log, "warning: the base was not cached (%s); use --cache-dir DIR\n", err);
    else if (j->log) fprintf(j->log, "saved the base to %s (test accuracy %.4f)\n", path, r.acc_after);
done:
    if (st) pt_base_free(base);
    pt_run_result_free(&r);
    pt_mlp_destroy(m);
    pt_base_free(&init);
    return st;
}

float pt_method_default_lr(prism_method m) {
    /* Peak of the cosine schedule, tuned on the demo (invert profile, 300
     * steps of 128, AdamW, clip 1): the best of 3-5 values per method;
     * docs/train.md has the sweep. Pretraining uses pt_job.pretrain_lr. */
    switch (m) {
    case PRISM_METHOD_FULL: return 2e-3f;
    case PRISM_METHOD_LORA: return 2e-2f;
    case PRISM_METHOD_ETHER: return 8e-2f;
    case PRISM_METHOD_ETHER_PLUS: return 1e-2f;
    case PRISM_METHOD_HUT: return 4e-2f;
    case PRISM_METHOD_SDCTFT: return 1e-1f;
    case PRISM_METHOD_FOURIERFT: return 1e-1f;
    case PRISM_METHOD_XPEFT: return 5e-2f;
    case PRISM_METHOD_SUBSPACE: return 1e-2f;
    default: return 1e-3f;
    }
}

prism_status pt_compare_reference(prism_context *dev, const pt_base *base,
                                  const prism_adapter_config *cfg, const pt_train_opts *opts,
                                  const pt_images *train, uint64_t seed, int64_t steps,
                                  pt_compare_result *res, char *err, size_t err_len) {
    memset(res, 0, sizeof *res);
    prism_context *ref = NULL;
    pt_mlp *md = NULL, *mr = NULL;
    const int64_t B = opts->batch, px = (int64_t)train->rows * train->cols;
    float *x = malloc((size_t)(B * px) * sizeof *x), *lab = malloc((size_t)B * sizeof *lab), *fd = NULL;
    double *fr = NULL;
    int64_t *idx = malloc((size_t)B * sizeof *idx), *perm = malloc((size_t)train->n * sizeof *perm);
    int64_t epoch = -1;
    prism_status st = PRISM_OK;
    if (!x || !lab || !idx || !perm) {
        if (err && err_len) snprintf(err, err_len, "out of host memory");
        st = PRISM_ERR_OUT_OF_HOST_MEMORY;
        goto done;
    }
    prism_context_options o = prism_context_options_default();
    o.device = "reference";
    o.validate = 0;
    if ((st = prism_context_create(&o, &ref, err, err_len))) goto done;
    if ((st = pt_mlp_create(dev, base, cfg, opts, &md, err, err_len))) goto done;
    if ((st = pt_mlp_create(ref, base, cfg, opts, &mr, err, err_len))) goto done;
    for (int64_t s = 0; s < steps; s++) {
        pt_batch_indices(seed, train->n, s, B, perm, &epoch, idx);
        pt_batch_fill(train, idx, B, x, lab);
        float ld = 0, lr = 0;
        if ((st = pt_mlp_step(md, x, lab, &ld, err, err_len))) goto done;
        if ((st = pt_mlp_step(mr, x, lab, &lr, err, err_len))) goto done;
        res->max_loss_diff = fmax(res->max_loss_diff, fabs((double)ld - (double)lr));
    }
    prism_tensor **pd, **pr;
    const char **names;
    int n = pt_mlp_trainables(md, &pd, NULL, NULL, &names);
    if (pt_mlp_trainables(mr, &pr, NULL, NULL, NULL) != n) {
        if (err && err_len) snprintf(err, err_len, "device and reference models differ in trainable tensors");
        st = PRISM_ERR_STATE;
        goto done;
    }
    res->ntensors = n;
    for (int k = 0; k < n; k++) {
        int64_t cnt = prism_tensor_numel(pd[k]);
        float *nd = realloc(fd, (size_t)cnt * sizeof *fd);
        double *nr = nd ? realloc(fr, (size_t)cnt * sizeof *fr) : NULL;
        if (nd) fd = nd;
        if (nr) fr = nr;
        if (!nd || !nr) {
            if (err && err_len) snprintf(err, err_len, "out of host memory");
            st = PRISM_ERR_OUT_OF_HOST_MEMORY;
            goto done;
        }
        if ((st = prism_tensor_download(pd[k], fd, cnt)) || (st = prism_tensor_download_f64(pr[k], fr, cnt))) {
            if (err && err_len) snprintf(err, err_len, "download of %s failed", names[k]);
            goto done;
        }
        double dmax = 0, rmax = 0;
        for (int64_t i = 0; i < cnt; i++) {
            double d = fabs((double)fd[i] - fr[i]);
            if (!(d <= dmax)) dmax = d; /* NaN sticks */
            rmax = fmax(rmax, fabs(fr[i]));
        }
        res->compared += cnt;
        if (!(dmax <= res->max_abs_diff)) res->max_abs_diff = dmax;
        double rel = dmax / fmax(rmax, 1e-30);
        if (!(rel <= res->max_rel_diff)) {
            res->max_rel_diff = rel;
            snprintf(res->worst, sizeof res->worst, "%s", names[k]);
        }
    }
done:
    free(x);
    free(lab);
    free(idx);
    free(perm);
    free(fd);
    free(fr);
    pt_mlp_destroy(md);
    pt_mlp_destroy(mr);
    prism_context_destroy(ref);
    return st;
}
