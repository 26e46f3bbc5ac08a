/* Fixtures for the adapter-file tests (tests/test_adapter_files.c,
 * test_ether.c, test_hut.c, test_xpeft.c): scratch directories, the two
 * files of an adapter directory, save/load and the checks a round trip
 * makes (same parameters by name and value, same forward bit for bit), one
 * training step's gradients.
 * Builds on adapter_fixture.h (layer, dl, run) and scratch_fixture.h
 * (fx_tmpdir, fx_read_config, fx_open_tensors). Header-only (static); the names start with fx_ so
 * that files with helpers of their own can include it too. */
#ifndef PRISM_TEST_FILE_FIXTURE_H
#define PRISM_TEST_FILE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "adapter_fixture.h"
#include "scratch_fixture.h"

static inline void fx_save(prism_adapter *ad, const char *dir, const char *module) {
    prism_status st = prism_adapter_save(ad, dir, module);
    cr_assert_eq(st, PRISM_OK, "save %s: %s", module, prism_error_message(prism_adapter_context(ad)));
}

/* The adapter saved in dir for module, on L's weight (and bias when asked). */
static inline prism_adapter *fx_load(layer *L, const char *dir, const char *module, bool bias) {
    prism_adapter *ad = NULL;
    prism_status st = prism_adapter_load(L->ctx, dir, module, L->W0, bias ? L->b : NULL, &ad);
    cr_assert_eq(st, PRISM_OK, "load %s: %s", module, prism_error_message(L->ctx));
    return ad;
}

/* Same parameter list: names, and values bit for bit. */
static inline void fx_expect_same_params(prism_adapter *a, prism_adapter *b) {
    const prism_param *pa, *pb;
    int na = prism_adapter_params(a, &pa), nb = prism_adapter_params(b, &pb);
    cr_assert_eq(na, nb);
    for (int i = 0; i < na; i++) {
        cr_expect_str_eq(pa[i].name, pb[i].name);
        float *x = dl(pa[i].value), *y = dl(pb[i].value);
        cr_expect_arr_eq(x, y, sizeof(float) * (size_t)prism_tensor_numel(pa[i].value), "%s differs", pa[i].name);
        free(x);
        free(y);
    }
}

/* a's and b's forward of L's X, downloaded into *ya and *yb; both in one
 * stream, so one submit on the device. */
static inline void fx_forward_pair(layer *L, prism_adapter *a, prism_adapter *b, float **ya, float **yb) {
    int64_t ys[2] = {L->T, L->m};
    prism_tensor *Y2;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(L->ctx, 2, ys, &Y2), PRISM_OK);
    cr_assert_eq(prism_stream_create(L->ctx, &s), PRISM_OK);
    cr_assert_eq(prism_adapter_forward(s, a, L->X, L->Y), PRISM_OK, "%s", prism_error_message(L->ctx));
    cr_assert_eq(prism_adapter_forward(s, b, L->X, Y2), PRISM_OK, "%s", prism_error_message(L->ctx));
    run(s);
    *ya = dl(L->Y);
    *yb = dl(Y2);
    prism_stream_destroy(s);
    prism_tensor_destroy(Y2);
}

/* a and b give the same forward on L's X, bit for bit. */
static inline void fx_expect_same_forward(layer *L, prism_adapter *a, prism_adapter *b, const char *what) {
    float *y1, *y2;
    fx_forward_pair(L, a, b, &y1, &y2);
    cr_expect_arr_eq(y1, y2, sizeof(float) * (size_t)(L->T * L->m), "%s", what);
    free(y1);
    free(y2);
}

/* Zeroed gradients, then forward (into L's Y) and backward of L's dY
 * (into L's dX): the parameter gradients of one step. */
static inline void fx_forward_backward(layer *L, prism_adapter *ad) {
    fx_step(L->ctx, ad, L->X, L->Y, L->dY, L->dX, NULL);
}

#endif
