/* Fixtures shared by tests/test_adapter.c and tests/test_adapter_files.c:
 * a random layer (W0, bias, X, Y, dY, dX) on one context, adapter creation
 * with r = 4, downloads, message checks. Header-only (static). */
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

static inline prism_adapter *make(layer *L, prism_method meth) {
    prism_adapter_config c = prism_adapter_config_default(meth);
    c.r = 4;
    prism_adapter *ad = NULL;
    prism_status st = prism_adapter_create(L->ctx, &c, L->W0, L->b, &ad);
    cr_assert_eq(st, PRISM_OK, "create %s: %s", prism_method_name(meth), prism_error_message(L->ctx));
    return ad;
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
