/* Dispatchers of the dct op family: prism_dct (DCT-II / DCT-III along rows or
 * columns) and prism_dct2d (rows, then columns). The transform itself is the
 * engine of runtime/ops/fft.c (Makhoul's reordering + a complex FFT of length
 * n per pair of sequences, or the matrix path); this file checks arguments and
 * sets the mode and the normalisation factors.
 *
 * Normalisation, from the `none` (torch_dct norm=None) DCT-II
 *   X_k = 2 sum_i x_i cos(pi k (2i+1) / (2n)):
 *   ortho DCT-II  = g_k X_k with g_0 = 1/(2 sqrt n), g_k = 1/sqrt(2n);
 *   DCT-III takes its input back to the `none` scale first (X_k / g_k for
 *   ortho) and applies the exact inverse of the none DCT-II.
 * Status per failure:
 *   NULL stream/tensor/plan, bad type/norm/axis        PRISM_ERR_INVALID_ARGUMENT
 *   tensor or plan from another context                PRISM_ERR_WRONG_CONTEXT
 *   rank not 1 or 2, y shape != x shape,
 *   transform length != plan length                    PRISM_ERR_SHAPE
 *   y overlapping x without being exactly x            PRISM_ERR_INVALID_ARGUMENT */
#include <math.h>
#include "fft_plan.h"

static prism_status check_args(prism_stream *s, const char *op, const prism_fft_plan *plan, prism_dct_type type,
                               prism_dct_norm norm, const prism_tensor *x, const prism_tensor *y) {
    prism_status st = prism_op_begin(s, op);
    if (st) return st;
    if ((st = prism_check_tensor(s, op, "input", x))) return st;
    if ((st = prism_check_tensor(s, op, "output", y))) return st;
    if ((st = prism_fft_check_plan(s, op, plan))) return st;
    prism_context *ctx = prism_stream_context(s);
    if (type != PRISM_DCT_II && type != PRISM_DCT_III)
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: type %d (expected PRISM_DCT_II or PRISM_DCT_III)", op,
                               (int)type);
    if (norm != PRISM_DCT_NORM_NONE && norm != PRISM_DCT_NORM_ORTHO)
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: norm %d (expected NONE or ORTHO)", op, (int)norm);
    char sx[64], sy[64];
    prism_tensor_shape_str(x, sx, sizeof sx);
    prism_tensor_shape_str(y, sy, sizeof sy);
    int64_t r, c, yr, yc;
    if (!prism_fft_dims2(x, &r, &c) || !prism_fft_dims2(y, &yr, &yc))
        return prism_set_error(ctx, PRISM_ERR_SHAPE, "%s: input %s and output %s must be 1-D or 2-D", op, sx, sy);
    if (r != yr || c != yc)
        return prism_set_error(ctx, PRISM_ERR_SHAPE, "%s: output %s differs from input %s", op, sy, sx);
    if (prism_fft_bad_overlap(x, y))
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT,
                               "%s: output %s overlaps input %s (in place needs exactly the same range)", op, sy, sx);
    return PRISM_OK;
}

static prism_status check_len(prism_stream *s, const char *op, const prism_fft_plan *plan, prism_transform_axis axis,
                              const prism_tensor *x) {
    prism_context *ctx = prism_stream_context(s);
    if (axis != PRISM_ALONG_ROWS && axis != PRISM_ALONG_COLS)
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: axis %d (expected ROWS or COLS)", op, (int)axis);
    int64_t r, c;
    prism_fft_dims2(x, &r, &c);
    int64_t n = axis == PRISM_ALONG_ROWS ? c : r;
    if (n != plan->n) {
        char sx[64];
        return prism_set_error(ctx, PRISM_ERR_SHAPE, "%s: input %s has %s of length %lld but the plan has length %lld",
                               op, prism_tensor_shape_str(x, sx, sizeof sx),
                               axis == PRISM_ALONG_ROWS ? "rows" : "columns", (long long)n, (long long)plan->n);
    }
    return PRISM_OK;
}

/* Records one DCT after all checks passed. */
static prism_status record(prism_stream *s, const char *op, prism_fft_plan *plan, prism_dct_type type,
                           prism_dct_norm norm, prism_transform_axis axis, const prism_tensor *x, prism_tensor *y) {
    int64_t r, c;
    prism_fft_dims2(x, &r, &c);
    bool rows = axis == PRISM_ALONG_ROWS;
    double n = (double)plan->n;
    double g0 = 1.0 / (2.0 * sqrt(n)), gk = 1.0 / sqrt(2.0 * n);
    bool ortho = norm == PRISM_DCT_NORM_ORTHO;
    fft_job j = {
        .op = op,
        .mode = type == PRISM_DCT_II ? FFT_MODE_DCT2 : FFT_MODE_DCT3,
        .nseq = rows ? r : c,
        .x = {x, rows ? c : 1, rows ? 1 : c, 0},
        .y = {y, rows ? c : 1, rows ? 1 : c, 0},
        .cols = !rows,
        .ortho = ortho,
        .s0 = !ortho ? 1.0 : type == PRISM_DCT_II ? g0 : 1.0 / g0,
        .s1 = !ortho ? 1.0 : type == PRISM_DCT_II ? gk : 1.0 / gk,
    };
    return prism_fft_record(s, plan, &j);
}

prism_status prism_dct(prism_stream *s, prism_fft_plan *plan, prism_dct_type type, prism_dct_norm norm,
                       prism_transform_axis axis, const prism_tensor *x, prism_tensor *y) {
    const char *op = "dct";
    prism_status st = check_args(s, op, plan, type, norm, x, y);
    if (!st) st = check_len(s, op, plan, axis, x);
    if (!st) st = record(s, op, plan, type, norm, axis, x, y);
    return st;
}

prism_status prism_dct2d(prism_stream *s, prism_fft_plan *row_plan, prism_fft_plan *col_plan, prism_dct_type type,
                         prism_dct_norm norm, const prism_tensor *x, prism_tensor *y) {
    const char *op = "dct2d";
    prism_status st = check_args(s, op, row_plan, type, norm, x, y);
    if (!st) st = prism_fft_check_plan(s, op, col_plan);
    if (!st) st = check_len(s, op, row_plan, PRISM_ALONG_ROWS, x);
    if (!st) st = check_len(s, op, col_plan, PRISM_ALONG_COLS, x);
    /* rows x -> y, then columns in place on y (both transforms are separable,
     * so the order does not change the result) */
    if (!st) st = record(s, op, row_plan, type, norm, PRISM_ALONG_ROWS, x, y);
    if (!st) st = record(s, op, col_plan, type, norm, PRISM_ALONG_COLS, y, y);
    return st;
}
