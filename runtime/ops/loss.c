/* Dispatchers of the loss ops (shaders/loss.comp): softmax cross-entropy
 * forward (mean over rows) and backward, accuracy count.
 *
 * Labels are device data: the host validates shapes only. A label that is
 * NaN, negative, non-integer or >= C gives the loss of a clamped class
 * (see runtime/reference/loss.h) and never counts as correct; it never
 * reads outside its row. */
#include <math.h>
#include <string.h>
#include "../internal.h"
#include "../reference/loss.h"

typedef enum { LOSS_FWD = 0, LOSS_BWD = 1, LOSS_ACC = 2 } loss_mode;

typedef struct loss_args {
    loss_mode mode;
    const prism_tensor *x, *lab, *y;
    int64_t rows, cols;
    double scale;
} loss_args;

static void loss_ref(const void *p) {
    const loss_args *a = p;
    const double *x = prism_ref_data(a->x), *l = prism_ref_data(a->lab);
    double *y = prism_ref_data(a->y);
    if (a->mode == LOSS_FWD) y[0] = prism_ref_softmax_xent(x, l, a->rows, a->cols);
    else if (a->mode == LOSS_BWD) prism_ref_softmax_xent_backward(x, l, a->rows, a->cols, a->scale, y);
    else y[0] = prism_ref_accuracy_count(x, l, a->rows, a->cols);
}

static prism_status shape_error(prism_stream *s, const char *op, const prism_tensor *x, const prism_tensor *l,
                                const prism_tensor *y, const char *why) {
    char a[64], b[64], c[64];
    return prism_set_error(prism_stream_context(s), PRISM_ERR_SHAPE, "%s: logits %s, labels %s, output %s: %s", op,
                           prism_tensor_shape_str(x, a, sizeof a), prism_tensor_shape_str(l, b, sizeof b),
                           prism_tensor_shape_str(y, c, sizeof c), why);
}

static uint32_t pow2_floor(uint32_t v) {
    uint32_t p = 1;
    while (p * 2 <= v) p *= 2;
    return p;
}

static prism_status loss_op(prism_stream *s, const char *op, loss_mode mode, const prism_tensor *x,
                            const prism_tensor *lab, prism_tensor *y, float scale) {
    prism_status st = prism_op_begin(s, op);
    if (st) return st;
    if ((st = prism_check_tensor(s, op, "logits", x))) return st;
    if ((st = prism_check_tensor(s, op, "labels", lab))) return st;
    if ((st = prism_check_tensor(s, op, "output", y))) return st;
    prism_context *ctx = prism_stream_context(s);
    if (x->ndim != 2) return shape_error(s, op, x, lab, y, "logits must be [B, C]");
    int64_t rows = x->shape[0], cols = x->shape[1];
    if (lab->numel != rows) return shape_error(s, op, x, lab, y, "labels must have B elements");
    if (mode == LOSS_BWD ? y->numel != x->numel : y->numel != 1)
        return shape_error(s, op, x, lab, y, mode == LOSS_BWD ? "dlogits must match logits" : "output must have 1 element");
    if (!isfinite(scale))
        return prism_set_error(ctx, PRISM_ERR_NOT_FINITE, "%s: scale %g is not finite", op, scale);

    if (prism_stream_is_reference(s)) {
        loss_args a = {mode, x, lab, y, rows, cols, scale};
        const prism_tensor *ts[3] = {x, lab, y};
        return prism_ref_enqueue(s, op, loss_ref, &a, sizeof a, ts, 3);
    }
    int64_t max_elems = prism_max_binding_elems(ctx);
    if (cols > max_elems)
        return prism_set_error(ctx, PRISM_ERR_UNSUPPORTED, "%s: a row of %lld classes exceeds one binding (%lld elements)",
                               op, (long long)cols, (long long)max_elems);
    /* threads per row: the smallest power of two covering a row, at most the workgroup */
    uint32_t ls = pow2_floor(prism_local_size_1d(ctx));
    uint32_t tpr = 1;
    while (tpr < ls && tpr < (uint64_t)cols) tpr *= 2;
    uint32_t nteams = ls / tpr;
    int64_t chunk_rows = max_elems / cols;
    for (int64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
        int64_t nr = PRISM_MIN(chunk_rows, rows - r0);
        uint64_t teams_needed = (uint64_t)PRISM_CEIL_DIV(nr, nteams);
        /* FWD/ACC: one workgroup loops (deterministic sum, no scratch); BWD: one row per team */
        uint32_t ngroups = mode == LOSS_BWD ? (uint32_t)teams_needed : 1;
        uint32_t niter = mode == LOSS_BWD ? 1 : (uint32_t)teams_needed;
        prism_kernel k = {.op = op, .shader = "loss", .nspec = 5, .spec = {ls, 1, 1, (uint32_t)mode, tpr},
                          .groups = {ngroups, 1, 1}, .fault_binding = 2};
        k.bind[0] = (prism_binding){x, r0 * cols, nr * cols, false};
        k.bind[1] = (prism_binding){lab, r0, nr, false};
        if (mode == LOSS_BWD) k.bind[2] = (prism_binding){y, r0 * cols, nr * cols, true};
        else k.bind[2] = (prism_binding){y, 0, 1, true};
        k.nbind = 3;
        struct { uint32_t rows, cols, niter, ngroups, first; float scale; } push = {
            (uint32_t)nr, (uint32_t)cols, niter, ngroups, r0 == 0,
            mode == LOSS_FWD ? (float)(1.0 / (double)rows) : mode == LOSS_BWD ? (float)(scale / (double)rows) : 1.0f};
        memcpy(k.push, &push, sizeof push);
        k.push_size = sizeof push;
        if ((st = prism_record_kernel(s, &k))) return st;
    }
    return PRISM_OK;
}

prism_status prism_softmax_xent(prism_stream *s, const prism_tensor *logits, const prism_tensor *labels,
                                prism_tensor *loss) {
    return loss_op(s, "softmax_xent", LOSS_FWD, logits, labels, loss, 1.0f);
}

prism_status prism_softmax_xent_backward(prism_stream *s, const prism_tensor *logits, const prism_tensor *labels,
                                         float scale, prism_tensor *dlogits) {
    return loss_op(s, "softmax_xent_backward", LOSS_BWD, logits, labels, dlogits, scale);
}

prism_status prism_accuracy_count(prism_stream *s, const prism_tensor *logits, const prism_tensor *labels,
                                  prism_tensor *count) {
    return loss_op(s, "accuracy_count", LOSS_ACC, logits, labels, count, 1.0f);
}
