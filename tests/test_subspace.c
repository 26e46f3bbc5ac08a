/* subspace family: the ops (every check case: device vs reference, guards,
 * splits over bindings, finite differences; bad input with exact statuses;
 * workspace rules; bit-identical replays) and the SUBSPACE adapter over every
 * member method that is built (device vs reference, finite differences of z,
 * merge, one shared z across layers listed once, decode in the recorded
 * stream, standalone mode, hostile ext). The subspace file, the fit and the
 * end-to-end run are in test_subspace_fit.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "adapter_check.h"
#include "common.h"
#include "prism/subspace.h"
#include "adapter_fixture.h"
#include "subspace_fit.h"

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) { t_env_destroy(&env); }
TestSuite(subspace, .init = setup, .fini = teardown, .timeout = 300);

/* ------------------------------------------------------------------ ops */

Test(subspace, decode_cases) { t_run_cases(&env, "subspace_decode"); }
Test(subspace, project_cases) { t_run_cases(&env, "subspace_project"); }

static prism_tensor *mk(prism_context *ctx, int ndim, const int64_t *shape, uint64_t seed) {
    prism_tensor *t = NULL;
    cr_assert_eq(prism_tensor_create(ctx, ndim, shape, &t), PRISM_OK);
    int64_t n = prism_tensor_numel(t);
    float *h = malloc(sizeof(float) * (size_t)n);
    pc_random(seed, h, n, -1, 1);
    cr_assert_eq(prism_tensor_upload(t, h, n), PRISM_OK);
    free(h);
    return t;
}


Test(subspace, bad_input_statuses) {
    enum { N = 10, R = 3 };
    int64_t sd[2] = {N, R}, sd_bad[2] = {N, R + 1}, n = N, r = R, n1 = N + 1, r1 = R + 1, flat = N * R;
    prism_tensor *d = mk(env.dev, 2, sd, 1), *d_bad = mk(env.dev, 2, sd_bad, 2), *d_flat = mk(env.dev, 1, &flat, 3),
                 *t0 = mk(env.dev, 1, &n, 4), *th = mk(env.dev, 1, &n, 5), *th_bad = mk(env.dev, 1, &n1, 6),
                 *z = mk(env.dev, 1, &r, 7), *z_bad = mk(env.dev, 1, &r1, 8), *dz = mk(env.dev, 1, &r, 9),
                 *other = mk(env.ref, 1, &n, 10);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);

    cr_expect_eq(prism_subspace_decode(s, d, t0, z_bad, th), PRISM_ERR_SHAPE);
    expect_msg(env.dev, "subspace_decode", "[4]");
    cr_expect_eq(prism_subspace_decode(s, d, t0, z, th_bad), PRISM_ERR_SHAPE);
    expect_msg(env.dev, "subspace_decode", "[11]");
    cr_expect_eq(prism_subspace_decode(s, d, th_bad, z, th), PRISM_ERR_SHAPE, "theta0 of the wrong size");
    cr_expect_eq(prism_subspace_decode(s, d_flat, t0, z, th), PRISM_ERR_SHAPE, "D must be 2-D");
    expect_msg(env.dev, "subspace_decode", "2-D");
    cr_expect_eq(prism_subspace_decode(s, d_bad, t0, z, th), PRISM_ERR_SHAPE, "D [10, 4] with z [3]");
    cr_expect_eq(prism_subspace_decode(s, NULL, t0, z, th), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_subspace_decode(s, d, t0, NULL, th), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_subspace_decode(s, d, t0, z, NULL), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_subspace_decode(NULL, d, t0, z, th), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_subspace_decode(s, d, t0, z, other), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_subspace_decode(s, d, other, z, th), PRISM_ERR_WRONG_CONTEXT);

    cr_expect_eq(prism_subspace_project(s, d, th, 0, z_bad, NULL), PRISM_ERR_SHAPE);
    expect_msg(env.dev, "subspace_project", "[4]");
    cr_expect_eq(prism_subspace_project(s, d, th_bad, 0, dz, NULL), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_subspace_project(s, d_flat, th, 0, dz, NULL), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_subspace_project(s, d, th, NAN, dz, NULL), PRISM_ERR_NOT_FINITE);
    cr_expect_eq(prism_subspace_project(s, d, th, INFINITY, dz, NULL), PRISM_ERR_NOT_FINITE);
    cr_expect_eq(prism_subspace_project(s, d, NULL, 0, dz, NULL), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_subspace_project(s, d, th, 0, NULL, NULL), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_subspace_project(s, d, other, 0, dz, NULL), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_stream_op_count(s), 0, "failed calls record nothing");

    prism_stream_destroy(s);
    prism_tensor *all[] = {d, d_bad, d_flat, t0, th, th_bad, z, z_bad, dz, other};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) prism_tensor_destroy(all[i]);
}

/* Outputs overlapping inputs are refused; theta = theta0 exactly is the
 * documented in-place form. */
Test(subspace, overlap_refused) {
    int64_t total = 200, sd[2] = {20, 4}, n = 20, r = 4;
    prism_tensor *base, *d, *t0, *th, *z, *zz;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(env.dev, 1, &total, &base), PRISM_OK);
    cr_assert_eq(prism_tensor_view(base, 0, 2, sd, &d), PRISM_OK);
    cr_assert_eq(prism_tensor_view(base, 80, 1, &n, &t0), PRISM_OK);
    cr_assert_eq(prism_tensor_view(base, 90, 1, &n, &th), PRISM_OK);   /* half over t0 */
    cr_assert_eq(prism_tensor_view(base, 120, 1, &r, &z), PRISM_OK);
    cr_assert_eq(prism_tensor_view(base, 122, 1, &r, &zz), PRISM_OK);  /* overlaps z */
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_expect_eq(prism_subspace_decode(s, d, t0, z, th), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg(env.dev, "subspace_decode", "overlaps");
    cr_expect_eq(prism_subspace_decode(s, d, NULL, z, d), PRISM_ERR_SHAPE, "theta = D has the wrong size");
    cr_expect_eq(prism_subspace_decode(s, d, t0, z, t0), PRISM_OK, "exact aliasing is allowed");
    int64_t nw = prism_subspace_project_workspace(env.dev, 20, 4) + 1;
    prism_tensor *work;
    cr_assert_eq(prism_tensor_create(env.dev, 1, &nw, &work), PRISM_OK);
    cr_expect_eq(prism_subspace_project(s, d, t0, 0, zz, work), PRISM_OK);
    prism_tensor *dzbad;
    cr_assert_eq(prism_tensor_view(base, 76, 1, &r, &dzbad), PRISM_OK); /* last row of D */
    cr_expect_eq(prism_subspace_project(s, d, t0, 0, dzbad, NULL), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg(env.dev, "subspace_project", "overlaps input D");
    prism_stream_destroy(s);
    prism_tensor *all[] = {d, t0, th, z, zz, dzbad, base, work};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) prism_tensor_destroy(all[i]);
}

/* project splits into chunks beyond a few thousand rows: a missing or short
 * workspace is refused; the reference backend needs none. */
Test(subspace, workspace_required) {
    enum { N = 50000, R = 4 };
    int64_t need = prism_subspace_project_workspace(env.dev, N, R);
    cr_expect_eq(prism_subspace_project_workspace(env.ref, N, R), 0);
    cr_expect_eq(prism_subspace_project_workspace(env.dev, 0, R), 0);
    cr_expect_gt(prism_subspace_project_workspace(env.dev, 10, R), 0, "partials even for one workgroup");
    cr_expect_eq(prism_subspace_project_workspace(NULL, N, R), 0);
    cr_assert_gt(need, 0, "50000 rows need partials");
    int64_t sd[2] = {N, R}, n = N, r = R, short_n = need - 1;
    prism_tensor *d, *g, *dz, *work;
    cr_assert_eq(prism_tensor_create(env.dev, 2, sd, &d), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n, &g), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &r, &dz), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &short_n, &work), PRISM_OK);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_expect_eq(prism_subspace_project(s, d, g, 0, dz, NULL), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg(env.dev, "subspace_project", "workspace");
    cr_expect_eq(prism_subspace_project(s, d, g, 0, dz, work), PRISM_ERR_SHAPE);
    expect_msg(env.dev, "subspace_project", "workspace");
    cr_expect_eq(prism_subspace_project(s, d, g, 0, dz, dz), PRISM_ERR_INVALID_ARGUMENT, "work = dz");
    cr_expect_eq(prism_subspace_project(s, d, g, 0, dz, g), PRISM_ERR_INVALID_ARGUMENT, "work = dtheta");
    prism_stream_destroy(s);
    prism_tensor *all[] = {d, g, dz, work};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) prism_tensor_destroy(all[i]);
}

/* Fixed-order sums: replays give bit-identical results; beta = 1 accumulates
 * exactly what a second pass would add. */
Test(subspace, deterministic_replay) {
    enum { N = 70001, R = 6 };
    int64_t sd[2] = {N, R}, n = N, r = R;
    int64_t nw = prism_subspace_project_workspace(env.dev, N, R) + 1;
    prism_tensor *d = mk(env.dev, 2, sd, 1), *g = mk(env.dev, 1, &n, 2), *z = mk(env.dev, 1, &r, 3), *th, *dz, *work;
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n, &th), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &r, &dz), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &nw, &work), PRISM_OK);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_assert_eq(prism_subspace_decode(s, d, g, z, th), PRISM_OK);
    cr_assert_eq(prism_subspace_project(s, d, g, 0.0f, dz, work), PRISM_OK);
    float dz1[R], dz2[R], dz3[R];
    float *th1 = malloc(sizeof(float) * N), *th2 = malloc(sizeof(float) * N);
    cr_assert_eq(prism_stream_run(s), PRISM_OK);
    cr_assert_eq(prism_tensor_download(dz, dz1, R), PRISM_OK);
    cr_assert_eq(prism_tensor_download(th, th1, N), PRISM_OK);
    cr_assert_eq(prism_stream_run(s), PRISM_OK);
    cr_assert_eq(prism_tensor_download(dz, dz2, R), PRISM_OK);
    cr_assert_eq(prism_tensor_download(th, th2, N), PRISM_OK);
    cr_expect(memcmp(dz1, dz2, sizeof dz1) == 0, "replay of project differs");
    cr_expect(memcmp(th1, th2, sizeof(float) * N) == 0, "replay of decode differs");
    /* beta = 1 on top of dz1: 2 dz1 up to one rounding per element */
    prism_stream *s2;
    cr_assert_eq(prism_stream_create(env.dev, &s2), PRISM_OK);
    cr_assert_eq(prism_subspace_project(s2, d, g, 1.0f, dz, work), PRISM_OK);
    cr_assert_eq(prism_stream_run(s2), PRISM_OK);
    cr_assert_eq(prism_tensor_download(dz, dz3, R), PRISM_OK);
    for (int j = 0; j < R; j++) cr_expect_eq(dz3[j], dz1[j] + dz1[j], "dz[%d]: %g vs 2 x %g", j, dz3[j], dz1[j]);
    free(th1);
    free(th2);
    prism_stream_destroy(s);
    prism_stream_destroy(s2);
    prism_tensor *all[] = {d, g, z, th, dz, work};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) prism_tensor_destroy(all[i]);
}

/* z = 0 decodes to theta0 bit for bit (acc 0 + theta0). */
Test(subspace, zero_z_is_theta0) {
    enum { N = 1234, R = 5 };
    int64_t sd[2] = {N, R}, n = N, r = R;
    prism_tensor *d = mk(env.dev, 2, sd, 1), *t0 = mk(env.dev, 1, &n, 2), *z, *th;
    cr_assert_eq(prism_tensor_create(env.dev, 1, &r, &z), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n, &th), PRISM_OK);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_assert_eq(prism_fill(s, z, 0.0f), PRISM_OK);
    cr_assert_eq(prism_subspace_decode(s, d, t0, z, th), PRISM_OK);
    cr_assert_eq(prism_stream_run(s), PRISM_OK);
    float *a = malloc(sizeof(float) * N), *b = malloc(sizeof(float) * N);
    cr_assert_eq(prism_tensor_download(t0, a, N), PRISM_OK);
    cr_assert_eq(prism_tensor_download(th, b, N), PRISM_OK);
    cr_expect(memcmp(a, b, sizeof(float) * N) == 0);
    free(a);
    free(b);
    prism_stream_destroy(s);
    prism_tensor *all[] = {d, t0, z, th};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) prism_tensor_destroy(all[i]);
}

/* A D row longer than one binding cannot be split by rows: refused clearly. */
Test(subspace, row_longer_than_a_binding_is_unsupported) {
    setenv("PRISM_SUBSPACE_MAX_BINDING", "16", 1);
    int64_t sd[2] = {2, 20}, n = 2, r = 20;
    prism_tensor *d = mk(env.dev, 2, sd, 1), *th, *z = mk(env.dev, 1, &r, 2);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n, &th), PRISM_OK);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_expect_eq(prism_subspace_decode(s, d, NULL, z, th), PRISM_ERR_UNSUPPORTED);
    expect_msg(env.dev, "subspace_decode", "maxStorageBufferRange");
    cr_expect_eq(prism_subspace_project(s, d, th, 0, z, NULL), PRISM_ERR_UNSUPPORTED);
    cr_expect_eq(prism_stream_op_count(s), 0);
    unsetenv("PRISM_SUBSPACE_MAX_BINDING");
    prism_stream_destroy(s);
    prism_tensor_destroy(d);
    prism_tensor_destroy(th);
    prism_tensor_destroy(z);
}

/* ------------------------------------------------------------------ the adapter: model mode
 * A two-layer "model" (independent layers of different shapes on their own
 * inputs), a subspace fitted in memory from random solutions around the
 * member's init (psf_fit, rank 3 from 5 runs), the same z on the device and
 * on the reference. */

enum { NL = 2, RANK = 3, KRUNS = 5, T = 3 };
static const int64_t SM[NL] = {6, 4}, SN[NL] = {5, 6};
static const char *const MODS[NL] = {"layers.0", "layers.1"};
static const float ZV[RANK] = {0.7f, -0.4f, 1.1f};

typedef struct side {
    prism_context *ctx;
    prism_subspace_model *mdl;
    layer ly[NL];
    prism_adapter *ad[NL];
    prism_tensor *Wm[NL];
} side;

static char *tmpfile_path(const char *tag) {
    char *p = malloc(128);
    snprintf(p, 128, "/tmp/prism_subspace_%s_%d.safetensors", tag, (int)getpid());
    return p;
}

/* Fits a rank-3 subspace for `method` over the NL layers; NULL when the
 * method is not built. */
static char *make_subspace(prism_method method) {
    layer ly[NL];
    prism_adapter *ad[NL] = {NULL};
    psf_solution init, runs[KRUNS];
    memset(&init, 0, sizeof init);
    memset(runs, 0, sizeof runs);
    for (int i = 0; i < NL; i++) {
        layer_make(&ly[i], env.ref, SM[i], SN[i], T, true, 100 + 10 * (uint64_t)i);
        /* one config for every layer (as prism train), sized by the smallest */
        prism_adapter_config c = pc_adapter_config(method, 4, 5, 1, 40);
        c.seed = 40 + (uint64_t)i;
        prism_status st = prism_adapter_create(env.ref, &c, ly[i].W0, ly[i].b, &ad[i]);
        if (st == PRISM_ERR_UNSUPPORTED) {
            for (int j = 0; j <= i; j++) layer_free(&ly[j]);
            for (int j = 0; j < i; j++) prism_adapter_destroy(ad[j]);
            return NULL;
        }
        cr_assert_eq(st, PRISM_OK, "%s", prism_error_message(env.ref));
    }
    char err[512];
    cr_assert_eq(psf_solution_from_adapters(ad, MODS, NL, "init", &init, err, sizeof err), PRISM_OK, "%s", err);
    for (int k = 0; k < KRUNS; k++) {
        for (int i = 0; i < NL; i++) cr_assert_eq(pc_adapter_randomize(ad[i], 1000 + 17 * (uint64_t)k + (uint64_t)i, 0.4f), PRISM_OK);
        cr_assert_eq(psf_solution_from_adapters(ad, MODS, NL, "run", &runs[k], err, sizeof err), PRISM_OK, "%s", err);
    }
    char *path = tmpfile_path(prism_method_name(method));
    psf_options o = psf_options_default();
    o.rank = RANK;
    cr_assert_eq(psf_fit(&init, runs, 1, KRUNS, NULL, "init", &o, path, NULL, err, sizeof err), PRISM_OK, "%s", err);
    psf_solution_free(&init);
    for (int k = 0; k < KRUNS; k++) psf_solution_free(&runs[k]);
    for (int i = 0; i < NL; i++) {
        prism_adapter_destroy(ad[i]);
        layer_free(&ly[i]);
    }
    return path;
}

static void side_open(side *d, prism_context *ctx, const prism_subspace *sp, prism_method method) {
    memset(d, 0, sizeof *d);
    d->ctx = ctx;
    cr_assert_eq(prism_subspace_model_create(ctx, sp, method, NULL, 7, &d->mdl), PRISM_OK, "%s", prism_error_message(ctx));
    cr_assert_eq(prism_subspace_model_set_z(d->mdl, ZV, RANK), PRISM_OK);
    for (int i = 0; i < NL; i++) {
        layer_make(&d->ly[i], ctx, SM[i], SN[i], T, true, 100 + 10 * (uint64_t)i);
        prism_subspace_ext ext;
        cr_assert_eq(prism_subspace_model_ext(d->mdl, MODS[i], &ext), PRISM_OK);
        prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_SUBSPACE);
        c.ext = &ext;
        cr_assert_eq(prism_adapter_create(ctx, &c, d->ly[i].W0, d->ly[i].b, &d->ad[i]), PRISM_OK, "%s",
                     prism_error_message(ctx));
        int64_t ws[2] = {SM[i], SN[i]};
        cr_assert_eq(prism_tensor_create(ctx, 2, ws, &d->Wm[i]), PRISM_OK);
    }
}

static void side_close(side *d) {
    for (int i = 0; i < NL; i++) {
        prism_adapter_destroy(d->ad[i]);
        layer_free(&d->ly[i]);
        prism_tensor_destroy(d->Wm[i]);
    }
    prism_subspace_model_destroy(d->mdl);
}

/* zero_grad, forward, backward, merge of every layer in one stream. */
static void side_step(side *d) {
    prism_stream *s;
    cr_assert_eq(prism_stream_create(d->ctx, &s), PRISM_OK);
    for (int i = 0; i < NL; i++) cr_assert_eq(prism_adapter_zero_grad(s, d->ad[i]), PRISM_OK);
    for (int i = 0; i < NL; i++) {
        cr_assert_eq(prism_adapter_forward(s, d->ad[i], d->ly[i].X, d->ly[i].Y), PRISM_OK, "%s",
                     prism_error_message(d->ctx));
        cr_assert_eq(prism_adapter_backward(s, d->ad[i], d->ly[i].X, d->ly[i].dY, d->ly[i].dX), PRISM_OK, "%s",
                     prism_error_message(d->ctx));
        cr_assert_eq(prism_adapter_merge(s, d->ad[i], d->Wm[i]), PRISM_OK);
    }
    run(s);
    prism_stream_destroy(s);
}

static double *dl64(prism_tensor *t) {
    pc_result r = {0};
    double *h = pc_download(&r, t);
    cr_assert_not_null(h, "%s", r.detail);
    return h;
}

static void cmp(const char *what, prism_tensor *a, prism_tensor *b, double tol) {
    pc_result r = {0};
    double *x = dl64(a), *y = dl64(b);
    pc_compare(&r, what, x, y, prism_tensor_numel(a), tol);
    cr_expect_eq(r.outcome, PC_PASS, "%s: %s", what, r.detail);
    free(x);
    free(y);
}


/* Device vs reference: Y, dX, the merged weights and the shared z gradient
 * (both layers' projections added); z listed exactly once. */
static void model_device_vs_reference(prism_method method) {
    char *path = make_subspace(method);
    if (!path) cr_skip_test("%s is not built", prism_method_name(method));
    prism_subspace *sp;
    char err[512];
    cr_assert_eq(prism_subspace_open(path, &sp, err, sizeof err), PRISM_OK, "%s", err);
    side dv, rf;
    side_open(&dv, env.dev, sp, method);
    side_open(&rf, env.ref, sp, method);
    const prism_param *p;
    cr_expect_eq(prism_adapter_params(dv.ad[0], &p), 1, "the first layer lists z");
    cr_expect_str_eq(p[0].name, "subspace_z");
    cr_expect_eq(prism_adapter_params(dv.ad[1], &p), 0, "the second layer lists nothing");
    cr_expect_eq(prism_adapter_trainable_count(dv.ad[0]) + prism_adapter_trainable_count(dv.ad[1]), RANK);
    side_step(&dv);
    side_step(&rf);
    for (int i = 0; i < NL; i++) {
        cmp("Y", dv.ly[i].Y, rf.ly[i].Y, 1e-8);
        cmp("dX", dv.ly[i].dX, rf.ly[i].dX, 1e-8);
        cmp("W_merged", dv.Wm[i], rf.Wm[i], 1e-8);
    }
    cmp("dz", prism_subspace_model_z_grad(dv.mdl), prism_subspace_model_z_grad(rf.mdl), 1e-8);
    /* the gradient is that of both layers: it differs from either alone */
    double *g = dl64(prism_subspace_model_z_grad(rf.mdl));
    for (int j = 0; j < RANK; j++) cr_expect(isfinite(g[j]) && g[j] != 0.0);
    free(g);

    /* finite differences of L = sum_l <Y_l, dY_l> in z on the reference */
    double *ana = dl64(prism_subspace_model_z_grad(rf.mdl)), z[RANK], num[RANK];
    prism_stream *fwd;
    cr_assert_eq(prism_stream_create(env.ref, &fwd), PRISM_OK);
    for (int i = 0; i < NL; i++) cr_assert_eq(prism_adapter_forward(fwd, rf.ad[i], rf.ly[i].X, rf.ly[i].Y), PRISM_OK);
    const double h = 1e-5;
    for (int j = 0; j < RANK; j++) {
        double f[2];
        for (int sg = 0; sg < 2; sg++) {
            for (int q = 0; q < RANK; q++) z[q] = ZV[q] + (q == j ? (sg ? -h : h) : 0.0);
            cr_assert_eq(prism_tensor_upload_f64(prism_subspace_model_z(rf.mdl), z, RANK), PRISM_OK);
            run(fwd);
            f[sg] = 0;
            for (int i = 0; i < NL; i++) {
                double *y = dl64(rf.ly[i].Y), *r = dl64(rf.ly[i].dY);
                for (int64_t e = 0; e < T * SM[i]; e++) f[sg] += y[e] * r[e];
                free(y);
                free(r);
            }
        }
        num[j] = (f[0] - f[1]) / (2 * h);
    }
    pc_result r = {0};
    pc_compare_fd(&r, "dz", ana, num, RANK, 1e-6);
    cr_expect_eq(r.outcome, PC_PASS, "%s: %s", prism_method_name(method), r.detail);
    free(ana);
    prism_stream_destroy(fwd);
    side_close(&dv);
    side_close(&rf);
    prism_subspace_close(sp);
    unlink(path);
    free(path);
}

Test(subspace, model_lora) { model_device_vs_reference(PRISM_METHOD_LORA); }
Test(subspace, model_ether) { model_device_vs_reference(PRISM_METHOD_ETHER); }
Test(subspace, model_etherplus) { model_device_vs_reference(PRISM_METHOD_ETHER_PLUS); }
Test(subspace, model_hut) { model_device_vs_reference(PRISM_METHOD_HUT); }
Test(subspace, model_sdctft) { model_device_vs_reference(PRISM_METHOD_SDCTFT); }
Test(subspace, model_fourierft) { model_device_vs_reference(PRISM_METHOD_FOURIERFT); }

/* The decode is part of the recorded forward: a replay after z changed uses
 * the new z, and matches a freshly recorded forward. Two models sharing z:
 * the second's layers list nothing. */
Test(subspace, decode_follows_z_on_replay) {
    char *path = make_subspace(PRISM_METHOD_LORA);
    cr_assert_not_null(path);
    prism_subspace *sp;
    char err[512];
    cr_assert_eq(prism_subspace_open(path, &sp, err, sizeof err), PRISM_OK, "%s", err);
    side d;
    side_open(&d, env.dev, sp, PRISM_METHOD_LORA);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_assert_eq(prism_adapter_forward(s, d.ad[0], d.ly[0].X, d.ly[0].Y), PRISM_OK);
    run(s);
    float *y1 = dl(d.ly[0].Y), z2[RANK] = {-0.3f, 0.9f, 0.2f};
    cr_assert_eq(prism_subspace_model_set_z(d.mdl, z2, RANK), PRISM_OK);
    run(s); /* replay */
    float *y2 = dl(d.ly[0].Y);
    prism_stream *s2;
    cr_assert_eq(prism_stream_create(env.dev, &s2), PRISM_OK);
    cr_assert_eq(prism_adapter_forward(s2, d.ad[0], d.ly[0].X, d.ly[0].Y), PRISM_OK);
    run(s2);
    float *y3 = dl(d.ly[0].Y);
    cr_expect(memcmp(y1, y2, sizeof(float) * T * SM[0]) != 0, "replay ignored the new z");
    cr_expect(memcmp(y2, y3, sizeof(float) * T * SM[0]) == 0, "replay differs from a fresh recording");
    /* a second model sharing z */
    prism_subspace_model *m2;
    cr_assert_eq(prism_subspace_model_create(env.dev, sp, PRISM_METHOD_LORA, d.mdl, 0, &m2), PRISM_OK);
    cr_expect_eq(prism_subspace_model_z(m2), prism_subspace_model_z(d.mdl));
    prism_subspace_ext ext;
    cr_assert_eq(prism_subspace_model_ext(m2, MODS[0], &ext), PRISM_OK);
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_SUBSPACE);
    c.ext = &ext;
    prism_adapter *a2;
    cr_assert_eq(prism_adapter_create(env.dev, &c, d.ly[0].W0, d.ly[0].b, &a2), PRISM_OK);
    cr_expect_eq(prism_adapter_params(a2, NULL), 0, "z is already listed by the first model's layer");
    prism_subspace_model_destroy(m2); /* adapters keep what they use alive */
    prism_stream *s3;
    cr_assert_eq(prism_stream_create(env.dev, &s3), PRISM_OK);
    cr_assert_eq(prism_adapter_forward(s3, a2, d.ly[0].X, d.ly[0].Y), PRISM_OK);
    run(s3);
    float *y4 = dl(d.ly[0].Y);
    cr_expect(memcmp(y3, y4, sizeof(float) * T * SM[0]) == 0, "same z, same decoder: same output");
    prism_adapter_destroy(a2);
    free(y1), free(y2), free(y3), free(y4);
    prism_stream_destroy(s);
    prism_stream_destroy(s2);
    prism_stream_destroy(s3);
    side_close(&d);
    prism_subspace_close(sp);
    unlink(path);
    free(path);
}

/* Exact statuses for a bad ext, module, context or W0. */
Test(subspace, bad_ext_statuses) {
    char *path = make_subspace(PRISM_METHOD_LORA);
    cr_assert_not_null(path);
    prism_subspace *sp;
    char err[512];
    cr_assert_eq(prism_subspace_open(path, &sp, err, sizeof err), PRISM_OK, "%s", err);
    prism_subspace_model *mdl = NULL, *other = NULL;
    cr_assert_eq(prism_subspace_model_create(env.dev, sp, PRISM_METHOD_LORA, NULL, 1, &mdl), PRISM_OK);
    cr_expect_eq(prism_subspace_model_create(env.dev, sp, PRISM_METHOD_HUT, NULL, 1, &other), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg(env.dev, "no decoder for hut", "lora");
    cr_expect_null(other);
    cr_expect_eq(prism_subspace_model_create(env.ref, sp, PRISM_METHOD_LORA, mdl, 1, &other), PRISM_ERR_WRONG_CONTEXT);
    prism_subspace_ext ext;
    cr_expect_eq(prism_subspace_model_ext(mdl, "layers.9", &ext), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg(env.dev, "layers.9", NULL);
    float z[RANK + 1];
    cr_expect_eq(prism_subspace_model_set_z(mdl, z, RANK + 1), PRISM_ERR_SHAPE);
    layer ly, wrong, onref;
    layer_make(&ly, env.dev, SM[0], SN[0], T, true, 100);
    layer_make(&wrong, env.dev, SM[0] + 1, SN[0], T, true, 100);
    layer_make(&onref, env.ref, SM[0], SN[0], T, true, 100);
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_SUBSPACE);
    prism_adapter *ad = NULL;
    cr_assert_eq(prism_subspace_model_ext(mdl, MODS[0], &ext), PRISM_OK);
    c.ext = &ext;
    cr_expect_eq(prism_adapter_create(env.dev, &c, wrong.W0, wrong.b, &ad), PRISM_ERR_SHAPE, "W0 of another shape");
    expect_msg(env.dev, "layers.0", "another base model");
    cr_expect_null(ad);
    cr_expect_eq(prism_adapter_create(env.ref, &c, onref.W0, onref.b, &ad), PRISM_ERR_WRONG_CONTEXT);
    ext.module = "nope";
    cr_expect_eq(prism_adapter_create(env.dev, &c, ly.W0, ly.b, &ad), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg(env.dev, "nope", NULL);
    prism_subspace_ext st_ext = {NULL, NULL, PRISM_METHOD_XPEFT, 2};
    c.ext = &st_ext;
    cr_expect_eq(prism_adapter_create(env.dev, &c, ly.W0, ly.b, &ad), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg(env.dev, "not a member", NULL);
    st_ext.via = PRISM_METHOD_LORA;
    st_ext.rank = -1;
    cr_expect_eq(prism_adapter_create(env.dev, &c, ly.W0, ly.b, &ad), PRISM_ERR_INVALID_ARGUMENT);
    /* the failed creations left z unclaimed: the next layer lists it */
    cr_assert_eq(prism_subspace_model_ext(mdl, MODS[0], &ext), PRISM_OK);
    c.ext = &ext;
    cr_assert_eq(prism_adapter_create(env.dev, &c, ly.W0, ly.b, &ad), PRISM_OK);
    cr_expect_eq(prism_adapter_params(ad, NULL), 1);
    prism_adapter_destroy(ad);
    layer_free(&ly);
    layer_free(&wrong);
    layer_free(&onref);
    prism_subspace_model_destroy(mdl);
    prism_subspace_close(sp);
    unlink(path);
    free(path);
}

/* ------------------------------------------------------------------ standalone */

/* The generic rows (device, FD, merge) of adapter_subspace are the
 * standalone LoRA member; also run here. */
Test(subspace, standalone_generic_rows) { t_run_cases(&env, "adapter_subspace"); }

Test(subspace, standalone_file_round_trip_and_members) {
    layer ly;
    layer_make(&ly, env.dev, 8, 6, T, true, 3);
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_SUBSPACE);
    c.r = 2;
    prism_adapter *ad = NULL, *back = NULL;
    cr_assert_eq(prism_adapter_create(env.dev, &c, ly.W0, ly.b, &ad), PRISM_OK, "%s", prism_error_message(env.dev));
    const prism_param *p;
    cr_assert_eq(prism_adapter_params(ad, &p), 3);
    cr_expect_str_eq(p[0].name, "subspace_z");
    cr_expect_eq(prism_tensor_numel(p[0].value), PRISM_SUBSPACE_DEFAULT_RANK);
    cr_expect_eq(prism_tensor_numel(p[2].value), 2 * (8 + 6), "theta0: LoRA r = 2 on [8, 6]");
    cr_expect_eq(prism_adapter_trainable_count(ad), PRISM_SUBSPACE_DEFAULT_RANK);
    float *z = dl(p[0].value);
    double ss = 0;
    for (int j = 0; j < PRISM_SUBSPACE_DEFAULT_RANK; j++) ss += (double)z[j] * z[j];
    cr_expect(ss > 0 && sqrt(ss / PRISM_SUBSPACE_DEFAULT_RANK) < 0.1, "z ~ N(0, 0.02^2)");
    free(z);
    cr_assert_eq(pc_adapter_randomize(ad, 5, 0.5f), PRISM_OK);
    char dir[] = "/tmp/prism_ss_standalone_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(prism_adapter_save(ad, dir, "fc"), PRISM_OK, "%s", prism_error_message(env.dev));
    cr_assert_eq(prism_adapter_load(env.dev, dir, "fc", ly.W0, ly.b, &back), PRISM_OK, "%s", prism_error_message(env.dev));
    int64_t ys[2] = {T, 8};
    prism_tensor *Y2;
    cr_assert_eq(prism_tensor_create(env.dev, 2, ys, &Y2), PRISM_OK);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_assert_eq(prism_adapter_forward(s, ad, ly.X, ly.Y), PRISM_OK);
    cr_assert_eq(prism_adapter_forward(s, back, ly.X, Y2), PRISM_OK);
    run(s);
    float *y1 = dl(ly.Y), *y2 = dl(Y2);
    cr_expect_arr_eq(y1, y2, sizeof(float) * T * 8, "the loaded adapter computes the same Y");
    free(y1), free(y2);
    prism_stream_destroy(s);
    prism_tensor_destroy(Y2);
    prism_adapter_destroy(back);

    /* other members and ranks; rank != default does not load back */
    prism_method vias[] = {PRISM_METHOD_ETHER, PRISM_METHOD_ETHER_PLUS, PRISM_METHOD_HUT, PRISM_METHOD_FOURIERFT};
    for (size_t i = 0; i < sizeof vias / sizeof vias[0]; i++) {
        prism_subspace_ext e = {NULL, NULL, vias[i], 3};
        prism_adapter_config c2 = pc_adapter_config(PRISM_METHOD_SUBSPACE, 8, 6, 1, 9);
        c2.ext = &e;
        prism_adapter *a2 = NULL;
        prism_status st = prism_adapter_create(env.dev, &c2, ly.W0, ly.b, &a2);
        if (st == PRISM_ERR_UNSUPPORTED) continue;
        cr_assert_eq(st, PRISM_OK, "%s: %s", prism_method_name(vias[i]), prism_error_message(env.dev));
        cr_expect_eq(prism_adapter_trainable_count(a2), 3);
        if (i == 0) {
            cr_assert_eq(prism_adapter_save(a2, dir, "fc"), PRISM_OK);
            cr_expect_eq(prism_adapter_load(env.dev, dir, "fc", ly.W0, ly.b, &back), PRISM_ERR_UNSUPPORTED);
            expect_msg(env.dev, "subspace_rank", NULL);
        }
        prism_adapter_destroy(a2);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
    prism_adapter_destroy(ad);
    layer_free(&ly);
}
