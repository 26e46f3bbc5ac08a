/* The MLP of adapters and its recorded training step.
 *
 * Layer i is an adapter on the frozen base weights W0_i [w_{i+1}, w_i] and
 * bias b0_i; hidden layers are followed by ReLU; the loss is the mean softmax
 * cross-entropy. The whole step is recorded ONCE into one stream:
 *
 *   zero_grad(all) ; Z_0 = ad_0(X) ; A_0 = relu(Z_0) ; ... ; Z_L = ad_L(A_{L-1})
 *   loss = xent(Z_L, y) ; dZ_L = xent'(Z_L, y)
 *   for i = L..0: ad_i.backward(A_{i-1}, dZ_i, dA_{i-1}) ; dZ_{i-1} = relu'(Z_{i-1}, dA_{i-1})
 *   clip_global_norm(grads) ; tick ; adamw(each trainable)
 *
 * and replayed for every batch: the batch is uploaded into X and y, and the
 * step-dependent scalars (step, bias corrections, lr, clip scale) live in the
 * optimizer's device state, so nothing is re-recorded. The first layer's
 * input gradient is never computed (dX = NULL). */
#include <stdlib.h>
#include <string.h>
#include "train.h"

struct pt_mlp {
    prism_context *ctx;
    pt_train_opts opts;
    prism_adamw_params hp;
    int L;
    int64_t widths[PT_MAX_LAYERS + 1];
    prism_tensor *W0[PT_MAX_LAYERS], *b0[PT_MAX_LAYERS];
    prism_adapter *ad[PT_MAX_LAYERS];
    prism_tensor *X, *labels, *loss, *count, *state;
    prism_tensor *Z[PT_MAX_LAYERS], *dZ[PT_MAX_LAYERS];
    prism_tensor *A[PT_MAX_LAYERS], *dA[PT_MAX_LAYERS]; /* hidden layers only */
    int ntrain;
    prism_tensor **tp, **tg, **tm, **tv;
    const char **tnames;
    prism_stream *step, *eval;
};

static prism_status ctx_fail(prism_context *ctx, prism_status st, char *err, size_t err_len,
                             const char *what) {
    if (err && err_len)
        snprintf(err, err_len, "%s: %s (%s)", what,
                 ctx && prism_error_message(ctx)[0] ? prism_error_message(ctx) : "failed",
                 prism_status_string(st));
    return st;
}

#define CK(call, what)                                                                       \
    do {                                                                                     \
        st = (call);                                                                         \
        if (st) {                                                                            \
            ctx_fail(m->ctx, st, err, err_len, what);                                        \
            goto fail;                                                                       \
        }                                                                                    \
    } while (0)

static prism_status tensor2(prism_context *ctx, int64_t r, int64_t c, prism_tensor **t) {
    int64_t shape[2] = {r, c};
    return prism_tensor_create(ctx, c > 0 ? 2 : 1, shape, t);
}

void pt_mlp_destroy(pt_mlp *m) {
    if (!m) return;
    prism_stream_destroy(m->step);
    prism_stream_destroy(m->eval);
    for (int i = 0; i < m->ntrain; i++) {
        prism_tensor_destroy(m->tm ? m->tm[i] : NULL);
        prism_tensor_destroy(m->tv ? m->tv[i] : NULL);
        free(m->tnames ? (void *)m->tnames[i] : NULL);
    }
    free(m->tp);
    free(m->tg);
    free(m->tm);
    free(m->tv);
    free(m->tnames);
    for (int i = 0; i < m->L; i++) {
        prism_adapter_destroy(m->ad[i]);
        prism_tensor_destroy(m->W0[i]);
        prism_tensor_destroy(m->b0[i]);
        prism_tensor_destroy(m->Z[i]);
        prism_tensor_destroy(m->dZ[i]);
        prism_tensor_destroy(m->A[i]);
        prism_tensor_destroy(m->dA[i]);
    }
    prism_tensor_destroy(m->X);
    prism_tensor_destroy(m->labels);
    prism_tensor_destroy(m->loss);
    prism_tensor_destroy(m->count);
    prism_tensor_destroy(m->state);
    free(m);
}

/* Trainable tensors of every layer, with zeroed AdamW moments. */
static prism_status collect_trainables(pt_mlp *m, prism_stream *init, char *err, size_t err_len) {
    prism_status st = PRISM_OK;
    int cap = 0;
    for (int i = 0; i < m->L; i++) {
        const prism_param *list;
        cap += prism_adapter_params(m->ad[i], &list);
    }
    if (cap == 0) return PRISM_OK;
    m->tp = calloc((size_t)cap, sizeof *m->tp);
    m->tg = calloc((size_t)cap, sizeof *m->tg);
    m->tm = calloc((size_t)cap, sizeof *m->tm);
    m->tv = calloc((size_t)cap, sizeof *m->tv);
    m->tnames = calloc((size_t)cap, sizeof *m->tnames);
    if (!m->tp || !m->tg || !m->tm || !m->tv || !m->tnames) {
        if (err && err_len) snprintf(err, err_len, "out of host memory");
        return PRISM_ERR_OUT_OF_HOST_MEMORY;
    }
    for (int i = 0; i < m->L; i++) {
        const prism_param *list;
        int n = prism_adapter_params(m->ad[i], &list);
        for (int j = 0; j < n; j++) {
            if (!list[j].trainable || !list[j].grad) continue;
            int k = m->ntrain;
            int64_t shape[PRISM_MAX_DIMS];
            int nd = prism_tensor_ndim(list[j].value);
            for (int d = 0; d < nd; d++) shape[d] = prism_tensor_dim(list[j].value, d);
            char name[256];
            snprintf(name, sizeof name, "layers.%d.%s", i, list[j].name);
            m->tnames[k] = strdup(name);
            m->tp[k] = list[j].value;
            m->tg[k] = list[j].grad;
            m->ntrain++;
            if (!m->tnames[k]) {
                if (err && err_len) snprintf(err, err_len, "out of host memory");
                return PRISM_ERR_OUT_OF_HOST_MEMORY;
            }
            CK(prism_tensor_create(m->ctx, nd, shape, &m->tm[k]), "AdamW moment");
            CK(prism_tensor_create(m->ctx, nd, shape, &m->tv[k]), "AdamW moment");
            CK(prism_fill(init, m->tm[k], 0.0f), "AdamW moment init");
            CK(prism_fill(init, m->tv[k], 0.0f), "AdamW moment init");
        }
    }
fail:
    return st;
}

static prism_status record_step(pt_mlp *m, char *err, size_t err_len) {
    prism_status st = PRISM_OK;
    prism_stream *s = m->step;
    for (int i = 0; i < m->L; i++)
        if (prism_adapter_trainable_count(m->ad[i]) > 0) CK(prism_adapter_zero_grad(s, m->ad[i]), "zero_grad");
    for (int i = 0; i < m->L; i++) {
        const prism_tensor *in = i == 0 ? m->X : m->A[i - 1];
        CK(prism_adapter_forward(s, m->ad[i], in, m->Z[i]), "adapter forward");
        if (i < m->L - 1) CK(prism_relu(s, m->Z[i], m->A[i]), "relu");
    }
    prism_tensor *logits = m->Z[m->L - 1];
    CK(prism_softmax_xent(s, logits, m->labels, m->loss), "softmax_xent");
    CK(prism_softmax_xent_backward(s, logits, m->labels, 1.0f, m->dZ[m->L - 1]), "softmax_xent_backward");
    for (int i = m->L - 1; i >= 0; i--) {
        const prism_tensor *in = i == 0 ? m->X : m->A[i - 1];
        CK(prism_adapter_backward(s, m->ad[i], in, m->dZ[i], i == 0 ? NULL : m->dA[i - 1]), "adapter backward");
        if (i > 0) CK(prism_relu_backward(s, m->Z[i - 1], m->dA[i - 1], m->dZ[i - 1]), "relu_backward");
    }
    if (m->ntrain > 0) {
        if (m->opts.clip > 0) CK(prism_clip_global_norm(s, m->tg, m->ntrain, m->opts.clip, m->state), "clip");
        CK(prism_optim_tick(s, &m->hp, m->state), "optim_tick");
        for (int k = 0; k < m->ntrain; k++)
            CK(prism_adamw(s, &m->hp, m->state, m->tp[k], m->tg[k], m->tm[k], m->tv[k]), "adamw");
    }
fail:
    return st;
}

static prism_status record_eval(pt_mlp *m, char *err, size_t err_len) {
    prism_status st = PRISM_OK;
    prism_stream *s = m->eval;
    for (int i = 0; i < m->L; i++) {
        const prism_tensor *in = i == 0 ? m->X : m->A[i - 1];
        CK(prism_adapter_forward(s, m->ad[i], in, m->Z[i]), "adapter forward");
        if (i < m->L - 1) CK(prism_relu(s, m->Z[i], m->A[i]), "relu");
    }
    CK(prism_accuracy_count(s, m->Z[m->L - 1], m->labels, m->count), "accuracy_count");
fail:
    return st;
}

prism_status pt_mlp_create(prism_context *ctx, const pt_base *base, const prism_adapter_config *cfg,
                           const pt_train_opts *opts, pt_mlp **out, char *err, size_t err_len) {
    return pt_mlp_create_ext(ctx, base, cfg, NULL, opts, out, err, err_len);
}

prism_status pt_mlp_create_ext(prism_context *ctx, const pt_base *base, const prism_adapter_config *cfg,
                               const void *const *layer_ext, const pt_train_opts *opts, pt_mlp **out,
                               char *err, size_t err_len) {
    if (!ctx || !base || !cfg || !opts || !out || base->nlayers < 1 || base->nlayers > PT_MAX_LAYERS ||
        opts->batch < 1) {
        if (err && err_len) snprintf(err, err_len, "pt_mlp_create: invalid argument");
        return PRISM_ERR_INVALID_ARGUMENT;
    }
    *out = NULL;
    prism_status st = PRISM_OK;
    prism_stream *init = NULL;
    pt_mlp *m = calloc(1, sizeof *m);
    if (!m) {
        if (err && err_len) snprintf(err, err_len, "out of host memory");
        return PRISM_ERR_OUT_OF_HOST_MEMORY;
    }
    m->ctx = ctx;
    m->opts = *opts;
    m->hp = prism_adamw_params_default();
    m->hp.weight_decay = opts->weight_decay;
    m->L = base->nlayers;
    memcpy(m->widths, base->widths, sizeof m->widths);
    const int64_t B = opts->batch;
    CK(tensor2(ctx, B, base->widths[0], &m->X), "input tensor");
    CK(tensor2(ctx, B, 0, &m->labels), "label tensor");
    int64_t one = 1;
    CK(prism_tensor_create(ctx, 1, &one, &m->loss), "loss tensor");
    CK(prism_tensor_create(ctx, 1, &one, &m->count), "count tensor");
    CK(prism_optim_state_create(ctx, opts->lr, &m->state), "optimizer state");
    for (int i = 0; i < m->L; i++) {
        int64_t o = base->widths[i + 1], in = base->widths[i];
        CK(tensor2(ctx, o, in, &m->W0[i]), "base weight");
        CK(tensor2(ctx, o, 0, &m->b0[i]), "base bias");
        CK(prism_tensor_upload(m->W0[i], base->layer[i].W, o * in), "base weight upload");
        CK(prism_tensor_upload(m->b0[i], base->layer[i].b, o), "base bias upload");
        CK(tensor2(ctx, B, o, &m->Z[i]), "activation");
        CK(tensor2(ctx, B, o, &m->dZ[i]), "gradient");
        if (i < m->L - 1) {
            CK(tensor2(ctx, B, o, &m->A[i]), "activation");
            CK(tensor2(ctx, B, o, &m->dA[i]), "gradient");
        }
        prism_adapter_config c = *cfg;
        c.seed = cfg->seed + (uint64_t)i;
        if (layer_ext) c.ext = layer_ext[i];
        st = prism_adapter_create(ctx, &c, m->W0[i], m->b0[i], &m->ad[i]);
        if (st) {
            char what[96];
            snprintf(what, sizeof what, "%s adapter on layer %d [%lld, %lld]", prism_method_name(cfg->method), i,
                     (long long)o, (long long)in);
            ctx_fail(ctx, st, err, err_len, what);
            goto fail;
        }
    }
    CK(prism_stream_create(ctx, &init), "stream");
    if ((st = collect_trainables(m, init, err, err_len))) goto fail;
    CK(prism_stream_run(init), "moment init");
    CK(prism_stream_create(ctx, &m->step), "stream");
    CK(prism_stream_create(ctx, &m->eval), "stream");
    if ((st = record_step(m, err, err_len))) goto fail;
    if ((st = record_eval(m, err, err_len))) goto fail;
    prism_stream_destroy(init);
    *out = m;
    return PRISM_OK;
fail:
    prism_stream_destroy(init);
    pt_mlp_destroy(m);
    return st;
}

prism_status pt_mlp_step(pt_mlp *m, const float *x, const float *labels, float *loss, char *err,
                         size_t err_len) {
    prism_status st = PRISM_OK;
    const int64_t B = m->opts.batch;
    CK(prism_tensor_upload(m->X, x, B * m->widths[0]), "batch upload");
    CK(prism_tensor_upload(m->labels, labels, B), "label upload");
    CK(prism_stream_run(m->step), "training step");
    if (loss) CK(prism_tensor_download(m->loss, loss, 1), "loss download");
fail:
    return st;
}

prism_status pt_mlp_eval_batch(pt_mlp *m, const float *x, const float *labels, float *correct,
                               char *err, size_t err_len) {
    prism_status st = PRISM_OK;
    const int64_t B = m->opts.batch;
    CK(prism_tensor_upload(m->X, x, B * m->widths[0]), "batch upload");
    CK(prism_tensor_upload(m->labels, labels, B), "label upload");
    CK(prism_stream_run(m->eval), "evaluation");
    CK(prism_tensor_download(m->count, correct, 1), "count download");
fail:
    return st;
}

prism_status pt_mlp_set_lr(pt_mlp *m, double lr, char *err, size_t err_len) {
    prism_status st = PRISM_OK;
    double state[PRISM_OPT_STATE_SIZE];
    CK(prism_tensor_download_f64(m->state, state, PRISM_OPT_STATE_SIZE), "optimizer state download");
    state[PRISM_OPT_LR] = lr;
    CK(prism_tensor_upload_f64(m->state, state, PRISM_OPT_STATE_SIZE), "optimizer state upload");
fail:
    return st;
}

float pt_mlp_base_lr(const pt_mlp *m) { return m->opts.lr; }
int64_t pt_mlp_batch(const pt_mlp *m) { return m->opts.batch; }
int pt_mlp_nlayers(const pt_mlp *m) { return m->L; }
prism_adapter *pt_mlp_adapter(pt_mlp *m, int layer) {
    return layer >= 0 && layer < m->L ? m->ad[layer] : NULL;
}
prism_context *pt_mlp_context(const pt_mlp *m) { return m->ctx; }
prism_tensor *pt_mlp_optim_state(pt_mlp *m) { return m->state; }

int64_t pt_mlp_trainable(const pt_mlp *m) {
    int64_t n = 0;
    for (int i = 0; i < m->L; i++) n += prism_adapter_trainable_count(m->ad[i]);
    return n;
}

int pt_mlp_trainables(pt_mlp *m, prism_tensor ***params, prism_tensor ***mom1,
                      prism_tensor ***mom2, const char ***names) {
    if (params) *params = m->tp;
    if (mom1) *mom1 = m->tm;
    if (mom2) *mom2 = m->tv;
    if (names) *names = m->tnames;
    return m->ntrain;
}

prism_status pt_mlp_export(pt_mlp *m, pt_base *out, char *err, size_t err_len) {
    prism_status st = PRISM_OK;
    prism_stream *s = NULL;
    prism_tensor *W[PT_MAX_LAYERS] = {0};
    memset(out, 0, sizeof *out);
    out->nlayers = m->L;
    memcpy(out->widths, m->widths, sizeof out->widths);
    if ((st = pt_base_init(out, 0, err, err_len))) return st; /* allocates; values overwritten */
    CK(prism_stream_create(m->ctx, &s), "stream");
    for (int i = 0; i < m->L; i++) {
        CK(tensor2(m->ctx, m->widths[i + 1], m->widths[i], &W[i]), "merged weight");
        CK(prism_adapter_merge(s, m->ad[i], W[i]), "merge");
    }
    CK(prism_stream_run(s), "merge");
    for (int i = 0; i < m->L; i++) {
        int64_t o = m->widths[i + 1];
        CK(prism_tensor_download(W[i], out->layer[i].W, o * m->widths[i]), "merged weight download");
        /* A method that trains the bias (FULL) lists it as "bias"; every other
         * method keeps the frozen one. */
        const prism_param *list;
        int n = prism_adapter_params(m->ad[i], &list);
        prism_tensor *b = m->b0[i];
        for (int j = 0; j < n; j++)
            if (!strcmp(list[j].name, "bias") && prism_tensor_numel(list[j].value) == o) b = list[j].value;
        CK(prism_tensor_download(b, out->layer[i].b, o), "bias download");
    }
fail:
    for (int i = 0; i < m->L; i++) prism_tensor_destroy(W[i]);
    prism_stream_destroy(s);
    if (st) pt_base_free(out);
    return st;
}

void pt_batch_fill(const pt_images *im, const int64_t *idx, int64_t n, float *x, float *labels) {
    const int64_t px = (int64_t)im->rows * im->cols;
    /* lookup table: the same float for a pixel value everywhere */
    float lut[256];
    for (int v = 0; v < 256; v++) lut[v] = ((float)v / 255.0f - PT_MEAN) / PT_STD;
    for (int64_t r = 0; r < n; r++) {
        float *row = x + r * px;
        if (idx[r] < 0) {
            memset(row, 0, (size_t)px * sizeof *row);
            labels[r] = -1.0f;
            continue;
        }
        const uint8_t *p = im->pix + idx[r] * px;
        for (int64_t j = 0; j < px; j++) row[j] = lut[p[j]];
        labels[r] = (float)im->labels[idx[r]];
    }
}
