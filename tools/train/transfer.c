/* `prism train --method subspace --subspace FILE --via M --transfer-to M2,...`
 * (METHODS.md §5, transfer): the z trained through M's decoder is decoded
 * with each M2's decoder (a subspace model sharing z) and the resulting
 * model is evaluated on the profile's test set. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include "train_main.h"

prism_status pt_transfer_check(const prism_subspace *sp, const char *path, const prism_method *targets, int n,
                               char *err, size_t err_len) {
    for (int i = 0; i < n; i++) {
        if (prism_subspace_size(sp, targets[i]) > 0) continue;
        char list[256] = "";
        for (int k = 0; k < prism_subspace_method_count(sp); k++) {
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s%s", k ? ", " : "", prism_method_name(prism_subspace_method_at(sp, k)));
        }
        snprintf(err, err_len, "--transfer-to %s: the subspace file %s has no %s decoder (its methods: %s)",
                 prism_method_name(targets[i]), path, prism_method_name(targets[i]), list);
        return PRISM_ERR_INVALID_ARGUMENT;
    }
    return PRISM_OK;
}

/* Test accuracy of the MLP whose layers are the SUBSPACE adapters of `mdl`
 * (mdl NULL: the frozen base). */
static prism_status evaluate(prism_context *ctx, const pt_cli_args *a, const pt_base *base, prism_subspace_model *mdl,
                             const pt_images *test, double *acc, char *err, size_t err_len) {
    prism_subspace_ext ext[PT_MAX_LAYERS];
    const void *ptr[PT_MAX_LAYERS];
    prism_adapter_config cfg = a->cfg[mdl ? PRISM_METHOD_SUBSPACE : PRISM_METHOD_NONE];
    for (int i = 0; mdl && i < base->nlayers; i++) {
        char mod[32];
        snprintf(mod, sizeof mod, "layers.%d", i);
        if (prism_subspace_model_ext(mdl, mod, &ext[i])) {
            snprintf(err, err_len, "%s", prism_error_message(ctx));
            return PRISM_ERR_INVALID_ARGUMENT;
        }
        ptr[i] = &ext[i];
    }
    pt_train_opts o = {.batch = a->job.batch, .lr = 1e-3f, .clip = 1};
    pt_mlp *m = NULL;
    prism_status st = pt_mlp_create_ext(ctx, base, &cfg, mdl ? ptr : NULL, &o, &m, err, err_len);
    if (!st) st = pt_evaluate(m, test, acc, err, err_len);
    pt_mlp_destroy(m);
    return st;
}

prism_status pt_transfer_run(prism_context *ctx, const pt_cli_args *a, const pt_base *base, const pt_images *test,
                             const prism_subspace *sp, prism_subspace_model *mdl, const char *dir, char *err,
                             size_t err_len) {
    const int r = prism_subspace_model_rank(mdl);
    const prism_method via = prism_subspace_model_method(mdl);
    const char *prof = pt_profile_name(a->profile);
    float *z = calloc((size_t)r, sizeof *z), *zero = calloc((size_t)r, sizeof *zero);
    char *csv = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&csv, &len);
    prism_subspace_model *tr = NULL;
    double base_acc = 0, via_acc = 0;
    prism_status st = z && zero && f ? PRISM_OK : PRISM_ERR_OUT_OF_HOST_MEMORY;
    if (st) {
        snprintf(err, err_len, "out of host memory");
        goto done;
    }
    if ((st = prism_subspace_model_get_z(mdl, z, r))) {
        snprintf(err, err_len, "reading the trained z: %s", prism_error_message(ctx));
        goto done;
    }
    if ((st = evaluate(ctx, a, base, NULL, test, &base_acc, err, err_len))) goto done;
    if ((st = evaluate(ctx, a, base, mdl, test, &via_acc, err, err_len))) goto done;
    printf("\ntransfer of the z trained through %s (rank %d) on profile %s:\n", prism_method_name(via), r, prof);
    printf("via %s: accuracy %.4f (base %.4f)\n", prism_method_name(via), via_acc, base_acc);
    fprintf(f, "profile,via,target,accuracy,base_accuracy,z0_accuracy\n");
    fprintf(f, "%s,%s,%s,%.6f,%.6f,\n", prof, prism_method_name(via), prism_method_name(via), via_acc, base_acc);
    for (int i = 0; i < a->ntransfer; i++) {
        const prism_method t = a->transfer[i];
        double acc = 0, acc0 = 0;
        /* tr shares mdl's z: evaluate with the trained z, then at z = 0
         * (the target's init θ0), then put the trained z back */
        if ((st = prism_subspace_model_create(ctx, sp, t, mdl, a->job.seed, &tr))) {
            snprintf(err, err_len, "--transfer-to %s: %s", prism_method_name(t), prism_error_message(ctx));
            goto done;
        }
        if ((st = evaluate(ctx, a, base, tr, test, &acc, err, err_len))) goto done;
        if ((st = prism_subspace_model_set_z(tr, zero, r))) goto done;
        if ((st = evaluate(ctx, a, base, tr, test, &acc0, err, err_len))) goto done;
        if ((st = prism_subspace_model_set_z(tr, z, r))) goto done;
        prism_subspace_model_destroy(tr);
        tr = NULL;
        printf("transfer to %s: accuracy %.4f (base %.4f, %s at z = 0: %.4f)\n", prism_method_name(t), acc, base_acc,
               prism_method_name(t), acc0);
        fprintf(f, "%s,%s,%s,%.6f,%.6f,%.6f\n", prof, prism_method_name(via), prism_method_name(t), acc, base_acc, acc0);
    }
    fclose(f);
    f = NULL;
    if (dir) {
        char path[4400];
        if ((st = pt_mkdirs(dir, err, err_len))) goto done;
        snprintf(path, sizeof path, "%s/transfer.csv", dir);
        if ((st = prism_write_atomic(path, csv, len, err, err_len))) goto done;
        printf("wrote %s\n", path);
    }
done:
    if (st && !err[0]) snprintf(err, err_len, "transfer: %s", prism_error_message(ctx));
    if (f) fclose(f);
    free(csv);
    prism_subspace_model_destroy(tr);
    free(z);
    free(zero);
    return st;
}
