/* Fixtures shared by the adapter tests (test_adapter.c, test_adapter_files.c
 * and the method tests): a random layer (W0, bias, X, Y, dY, dX) on one
 * context, adapter creation (r = 4, or any config), one forward + backward
 * (+ merge) step, downloads, message checks. Header-only (static). */
#ifndef PRISM_TEST_ADAPTER_FIXTURE_H
#define PRISM_TEST_ADAPTER_FIXTURE_H

#include <stdlib.h>
#include <string.h>
#include "adapter_check.h"
#include "common.h"

typedef struct layer {
    prism_context *ctx;
    int64_t m, n, T;
    prism_tensor *W0, *b, *X, *Y, *dY, *dX;
} layer;

static inline void layer_make(layer *L, prism_context *ctx, int64_t m, int64_t n, int64_t T, bool bias, uint64_t seed) {
    memset(L, 0, sizeof *L);
    L->ctx = ctx;
    L->m = m;
    L->n = n;
    L->T = T;
    int64_t ws[2] = {m, n}, xs[2] = {T, n}, ys[2] = {T, m};
    float *w = malloc(sizeof(float) * (size_t)(m * n + m + T * n + T * m));
    cr_assert_not_null(w);
    float *b = w + m * n, *x = b + m, *dy = x + T * n;
    pc_random(seed, w, m * n, -0.5f, 0.5f);
    pc_random(seed + 1, b, m, -0.5f, 0.5f);
    pc_random(seed + 2, x, T * n, -1.0f, 1.0f);
    pc_random(seed + 3, dy, T * m, -1.0f, 1.0f);
    pc_result r = {0};
    L->W0 = pc_tensor(&r, ctx, 2, ws, w);
    L->b = bias ? pc_tensor(&r, ctx, 1, &m, b) : NULL;
    L->X = pc_tensor(&r, ctx, 2, xs, x);
    L->Y = pc_tensor(&r, ctx, 2, ys, NULL);
    L->dY = pc_tensor(&r, ctx, 2, ys, dy);
    L->dX = pc_tensor(&r, ctx, 2, xs, NULL);
    free(w);
    cr_assert_eq(r.outcome, PC_PASS, "%s", r.detail);
}

static inline void layer_free(layer *L) {
    prism_tensor *t[] = {L->W0, L->b, L->X, L->Y, L->dY, L->dX};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) prism_tensor_destroy(t[i]);
}

/* The adapter of c on W0 (and b); fails the test when it cannot be made. */
static inline prism_adapter *fx_create(prism_context *ctx, const prism_adapter_config *c, prism_tensor *W0,
                                       prism_tensor *b) {
    prism_adapter *ad = NULL;
    prism_status st = prism_adapter_create(ctx, c, W0, b, &ad);
    cr_assert_eq(st, PRISM_OK, "create %s: %s", prism_method_name(c->method), prism_error_message(ctx));
    return ad;
}

static inline prism_adapter *make(layer *L, prism_method meth) {
    prism_adapter_config c = prism_adapter_config_default(meth);
    c.r = 4;
    return fx_create(L->ctx, &c, L->W0, L->b);
}

/* One recorded step on ctx: zeroed gradients, forward X -> Y, backward of
 * dY (input gradient into dX unless NULL), the merged weight into Wm unless
 * NULL; then run. */
static inline void fx_step(prism_context *ctx, prism_adapter *ad, prism_tensor *X, prism_tensor *Y, prism_tensor *dY,
                           prism_tensor *dX, prism_tensor *Wm) {
    prism_stream *s;
    cr_assert_eq(prism_stream_create(ctx, &s), PRISM_OK);
    cr_assert_eq(prism_adapter_zero_grad(s, ad), PRISM_OK);
    cr_assert_eq(prism_adapter_forward(s, ad, X, Y), PRISM_OK, "%s", prism_error_message(ctx));
    cr_assert_eq(prism_adapter_backward(s, ad, X, dY, dX), PRISM_OK, "%s", prism_error_message(ctx));
    if (Wm) cr_assert_eq(prism_adapter_merge(s, ad, Wm), PRISM_OK, "%s", prism_error_message(ctx));
    cr_assert_eq(prism_stream_run(s), PRISM_OK, "%s", prism_error_message(ctx));
    prism_stream_destroy(s);
}

/* ad's merged weight [m, n] in a new tensor on ctx. */
static inline prism_tensor *fx_merged_weight(prism_context *ctx, prism_adapter *ad, int64_t m, int64_t n) {
    int64_t ws[2] = {m, n};
    prism_tensor *W;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(ctx, 2, ws, &W), PRISM_OK);
    cr_assert_eq(prism_stream_create(ctx, &s), PRISM_OK);
    cr_assert_eq(prism_adapter_merge(s, ad, W), PRISM_OK, "%s", prism_error_message(ctx));
    cr_assert_eq(prism_stream_run(s), PRISM_OK, "%s", prism_error_message(ctx));
    prism_stream_destroy(s);
    return W;
}

static inline float *dl(prism_tensor *t) {
    int64_t n = prism_tensor_numel(t);
    float *h = malloc(sizeof(float) * (size_t)n);
    cr_assert_not_null(h);
    cr_assert_eq(prism_tensor_download(t, h, n), PRISM_OK);
    return h;
}

static inline void run(prism_stream *s) {
    prism_status st = prism_stream_run(s);
    cr_assert_eq(st, PRISM_OK, "run: %s", prism_error_message(prism_stream_context(s)));
}

static inline void expect_msg(prism_context *ctx, const char *a, const char *b) {
    const char *msg = prism_error_message(ctx);
    cr_expect(strstr(msg, a) != NULL && (!b || strstr(msg, b) != NULL), "message '%s' lacks '%s'/'%s'", msg, a,
              b ? b : "");
}

#endif
