/* The subspace model (include/prism/subspace.h): one method's decoder D_m
 * and theta0_m on a device, and the shared z with its gradient. Adapters of
 * PRISM_METHOD_SUBSPACE take a per-layer ext from it (subspace.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "subspace_priv.h"

void prism_ss_zholder_release(ss_zholder *zh) {
    if (!zh || --zh->refs > 0) return;
    prism_tensor_destroy(zh->z);
    prism_tensor_destroy(zh->grad);
    free(zh);
}

void prism_subspace_model_destroy(prism_subspace_model *mdl) {
    if (!mdl) return;
    prism_tensor_destroy(mdl->D);
    prism_tensor_destroy(mdl->theta0);
    prism_ss_zholder_release(mdl->zh);
    free(mdl);
}

prism_status prism_subspace_model_create(prism_context *ctx, const prism_subspace *sp, prism_method m,
                                         const prism_subspace_model *share_z, uint64_t seed,
                                         prism_subspace_model **out) {
    static const char *OP = "subspace_model_create";
    if (!ctx) return PRISM_ERR_INVALID_ARGUMENT;
    if (out) *out = NULL;
    if (!sp || !out) return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: %s is NULL", OP, !sp ? "subspace" : "out");
    const ss_method *x = prism_ss_method(sp, m);
    if (!x) {
        char have[256] = "";
        for (int i = 0; i < sp->nmethods; i++)
            snprintf(have + strlen(have), sizeof have - strlen(have), "%s%s", i ? ", " : "",
                     prism_method_name(sp->methods[i].m));
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: the subspace has no decoder for %s (it has: %s)", OP,
                               prism_method_name(m), have);
    }
    if (share_z && (share_z->ctx != ctx || share_z->sp->r != sp->r))
        return prism_set_error(ctx, share_z->ctx != ctx ? PRISM_ERR_WRONG_CONTEXT : PRISM_ERR_SHAPE,
                               "%s: share_z %s (rank %d vs %d)", OP,
                               share_z->ctx != ctx ? "belongs to another context" : "has another rank",
                               share_z->sp->r, sp->r);
    prism_status st = PRISM_OK;
    prism_stream *s = NULL;
    prism_subspace_model *mdl = calloc(1, sizeof *mdl);
    if (!mdl) return prism_set_error(ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", OP);
    mdl->ctx = ctx;
    mdl->sp = sp;
    mdl->meth = x;
    int64_t sd[2] = {x->n, sp->r}, r = sp->r;
    PRISM_TRY(prism_tensor_create(ctx, 2, sd, &mdl->D));
    PRISM_TRY(prism_tensor_create(ctx, 1, &x->n, &mdl->theta0));
    PRISM_TRY(prism_tensor_upload(mdl->D, x->decoder, x->n * sp->r));
    PRISM_TRY(prism_tensor_upload(mdl->theta0, x->theta0, x->n));
    if (share_z) {
        mdl->zh = share_z->zh;
        mdl->zh->refs++;
    } else {
        if (!(mdl->zh = calloc(1, sizeof *mdl->zh))) {
            st = prism_set_error(ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", OP);
            goto cleanup;
        }
        mdl->zh->refs = 1;
        PRISM_TRY(prism_tensor_create(ctx, 1, &r, &mdl->zh->z));
        PRISM_TRY(prism_tensor_create(ctx, 1, &r, &mdl->zh->grad));
        PRISM_TRY(prism_stream_create(ctx, &s));
        /* METHODS.md: z ~ N(0, 0.02^2) */
        PRISM_TRY(prism_rng_normal(s, seed, 0, 0.0f, PRISM_SUBSPACE_Z_STD, mdl->zh->z));
        PRISM_TRY(prism_fill(s, mdl->zh->grad, 0.0f));
        PRISM_TRY(prism_stream_run(s));
    }
    prism_stream_destroy(s);
    *out = mdl;
    return PRISM_OK;
cleanup:
    prism_stream_destroy(s);
    prism_subspace_model_destroy(mdl);
    return st;
}

prism_method prism_subspace_model_method(const prism_subspace_model *mdl) {
    return mdl ? mdl->meth->m : PRISM_METHOD_NONE;
}
int prism_subspace_model_rank(const prism_subspace_model *mdl) { return mdl ? mdl->sp->r : 0; }
prism_tensor *prism_subspace_model_z(const prism_subspace_model *mdl) { return mdl ? mdl->zh->z : NULL; }
prism_tensor *prism_subspace_model_z_grad(const prism_subspace_model *mdl) { return mdl ? mdl->zh->grad : NULL; }

prism_status prism_subspace_model_set_z(prism_subspace_model *mdl, const float *z, int64_t n) {
    if (!mdl) return PRISM_ERR_INVALID_ARGUMENT;
    if (!z || n != mdl->sp->r)
        return prism_set_error(mdl->ctx, !z ? PRISM_ERR_INVALID_ARGUMENT : PRISM_ERR_SHAPE,
                               "subspace_model_set_z: %lld values for rank %d", (long long)n, mdl->sp->r);
    return prism_tensor_upload(mdl->zh->z, z, n);
}

prism_status prism_subspace_model_get_z(const prism_subspace_model *mdl, float *z, int64_t n) {
    if (!mdl) return PRISM_ERR_INVALID_ARGUMENT;
    if (!z || n != mdl->sp->r)
        return prism_set_error(mdl->ctx, !z ? PRISM_ERR_INVALID_ARGUMENT : PRISM_ERR_SHAPE,
                               "subspace_model_get_z: %lld values for rank %d", (long long)n, mdl->sp->r);
    return prism_tensor_download(mdl->zh->z, z, n);
}

prism_status prism_subspace_model_ext(prism_subspace_model *mdl, const char *module, prism_subspace_ext *ext) {
    if (!mdl) return PRISM_ERR_INVALID_ARGUMENT;
    if (!module || !ext)
        return prism_set_error(mdl->ctx, PRISM_ERR_INVALID_ARGUMENT, "subspace_model_ext: %s is NULL",
                               !module ? "module" : "ext");
    const ss_method *x = mdl->meth;
    for (int i = 0; i < x->nmodules; i++)
        if (!strcmp(x->modules[i], module)) {
            memset(ext, 0, sizeof *ext);
            ext->model = mdl;
            ext->module = x->modules[i];
            return PRISM_OK;
        }
    return prism_set_error(mdl->ctx, PRISM_ERR_INVALID_ARGUMENT,
                           "subspace_model_ext: the subspace has no module '%s' for %s (%d modules, first '%s')", module,
                           prism_method_name(x->m), x->nmodules, x->nmodules ? x->modules[0] : "");
}
