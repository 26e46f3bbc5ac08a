/* Check cases: subspace_decode and subspace_project (the unified delta-
 * tuning subspace ops), device vs float64 reference with guard regions after
 * every output (and after the project workspace), splits over bindings
 * forced with PRISM_SUBSPACE_MAX_BINDING, misaligned views, and central
 * finite differences of L(z) = <R, decode(z)> against project on the
 * reference (project is decode's backward).
 *
 * Tolerances (NMSE): decode 1e-10 (an r-term dot product per element, then
 * one add: error ~ r eps). project max(1e-10, 1e-15 N): the N-term sums run
 * as per-invocation sums of rpt rows, then strided sums and a tree over the
 * partials, so
 * the squared error grows about linearly in N (as gemm's bound in K). FD:
 * relative error 1e-8 (the loss is linear in z: central differences are
 * exact up to rounding). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "prism/subspace.h"

enum { F_NO_T0 = 1, F_INPLACE = 2, F_NAN = 4 };

typedef struct ss_case {
    int64_t n, r;
    float beta;        /* project only */
    int flags;
    const char *env;   /* "NAME=value" set for the device run (PRISM_SUBSPACE_MAX_BINDING) */
    int64_t view_off;  /* D, theta0/dtheta and z are views this many floats into larger tensors */
} ss_case;

typedef struct ss_in { float *d, *t0, *z, *g, *dz0; } ss_in;

static void in_free(ss_in *in) {
    free(in->d);
    free(in->t0);
    free(in->z);
    free(in->g);
    free(in->dz0);
}

static bool in_make(const pc_env *env, const ss_case *c, ss_in *in) {
    int64_t nr = c->n * c->r;
    in->d = malloc(4 * (size_t)nr);
    in->t0 = malloc(4 * (size_t)c->n);
    in->g = malloc(4 * (size_t)c->n);
    in->z = malloc(4 * (size_t)c->r);
    in->dz0 = malloc(4 * (size_t)c->r);
    if (!in->d || !in->t0 || !in->g || !in->z || !in->dz0) return false;
    pc_random(env->seed + 31, in->d, nr, -1.0f, 1.0f);
    pc_random(env->seed + 32, in->t0, c->n, -1.0f, 1.0f);
    pc_random(env->seed + 33, in->g, c->n, -1.0f, 1.0f);
    pc_random(env->seed + 34, in->z, c->r, -1.0f, 1.0f);
    pc_random(env->seed + 35, in->dz0, c->r, -1.0f, 1.0f);
    if (c->flags & F_NAN)
        for (int64_t j = 0; j < c->r; j++) in->dz0[j] = j % 2 ? NAN : INFINITY;
    return true;
}

/* ---------------------------------------------------------------- decode */

static double *decode_on(pc_result *r, prism_context *ctx, const ss_case *c, const ss_in *in, bool guard) {
    int64_t sd[2] = {c->n, c->r};
    prism_tensor *db = NULL, *t0b = NULL, *zb = NULL, *thb = NULL, *th = NULL;
    prism_tensor *d = pc_view_at(r, ctx, 2, sd, in->d, c->view_off, &db);
    prism_tensor *z = pc_view_at(r, ctx, 1, &c->r, in->z, c->view_off, &zb);
    prism_tensor *t0 = (c->flags & F_NO_T0) ? NULL : pc_view_at(r, ctx, 1, &c->n, in->t0, c->view_off, &t0b);
    if (c->flags & F_INPLACE) th = t0;
    else th = guard ? pc_guarded(r, ctx, 1, &c->n, NULL, &thb) : pc_tensor(r, ctx, 1, &c->n, NULL);
    prism_stream *s = NULL;
    double *out = NULL;
    if (d && z && th && (t0 || (c->flags & F_NO_T0)) && prism_stream_create(ctx, &s) == PRISM_OK) {
        if (prism_subspace_decode(s, d, t0, z, th) != PRISM_OK) pc_fail(r, "record: %s", prism_error_message(ctx));
        else if (pc_run(r, s)) out = pc_download(r, th);
        if (guard && thb) pc_guard_ok(r, thb, "theta");
    }
    prism_stream_destroy(s);
    if (th != t0) prism_tensor_destroy(th);
    PC_DESTROY(thb, d, db, z, zb, t0, t0b);
    return out;
}

typedef double *(*ss_run)(pc_result *r, prism_context *ctx, const ss_case *c, const ss_in *in, bool guard);

/* `run` on the device (with the case's environment, guarded) and on the
 * reference; the n outputs compared within tol. */
static void dev_vs_ref(const pc_env *env, const ss_case *c, pc_result *r, ss_run run, const char *what, int64_t n,
                       double tol) {
    ss_in in = {0};
    double *dev = NULL, *ref = NULL;
    if (!in_make(env, c, &in)) {
        pc_fail(r, "out of host memory");
        goto done;
    }
    pc_saved_env sv;
    pc_env_push(c->env, &sv);
    dev = run(r, env->dev, c, &in, true);
    pc_env_pop(&sv);
    ref = run(r, env->ref, c, &in, false);
    if (dev && ref) pc_compare(r, what, dev, ref, n, tol);
done:
    free(dev);
    free(ref);
    in_free(&in);
}

static void decode_device(const pc_env *env, const void *arg, pc_result *r) {
    const ss_case *c = arg;
    dev_vs_ref(env, c, r, decode_on, "theta", c->n, 1e-10);
}

/* ---------------------------------------------------------------- project */

static double *project_on(pc_result *r, prism_context *ctx, const ss_case *c, const ss_in *in, bool guard) {
    int64_t sd[2] = {c->n, c->r};
    prism_tensor *db = NULL, *gb = NULL, *dzb = NULL, *wb = NULL, *work = NULL;
    prism_tensor *d = pc_view_at(r, ctx, 2, sd, in->d, c->view_off, &db);
    prism_tensor *g = pc_view_at(r, ctx, 1, &c->n, in->g, c->view_off, &gb);
    prism_tensor *dz = guard ? pc_guarded(r, ctx, 1, &c->r, in->dz0, &dzb) : pc_tensor(r, ctx, 1, &c->r, in->dz0);
    int64_t nw = prism_subspace_project_workspace(ctx, c->n, c->r);
    if (nw > 0) work = guard ? pc_guarded(r, ctx, 1, &nw, NULL, &wb) : pc_tensor(r, ctx, 1, &nw, NULL);
    prism_stream *s = NULL;
    double *out = NULL;
    if (d && g && dz && (work || nw == 0) && prism_stream_create(ctx, &s) == PRISM_OK) {
        if (prism_subspace_project(s, d, g, c->beta, dz, work) != PRISM_OK)
            pc_fail(r, "record: %s", prism_error_message(ctx));
        else if (pc_run(r, s)) out = pc_download(r, dz);
        if (guard) {
            if (dzb) pc_guard_ok(r, dzb, "dz");
            if (wb) pc_guard_ok(r, wb, "workspace");
        }
    }
    prism_stream_destroy(s);
    PC_DESTROY(d, db, g, gb, dz, dzb, work, wb);
    return out;
}

static void project_device(const pc_env *env, const void *arg, pc_result *r) {
    const ss_case *c = arg;
    dev_vs_ref(env, c, r, project_on, "dz", c->r, fmax(1e-10, 1e-15 * (double)c->n));
}

/* ---------------------------------------------------------------- finite differences
 * L(z) = <R, theta0 + D z> on the reference; dL/dz = D^T R = project(D, R).
 * Every entry of z is perturbed. */
static void project_fd(const pc_env *env, const void *arg, pc_result *r) {
    const ss_case *c = arg;
    prism_context *ctx = env->ref;
    ss_in in = {0};
    int64_t sd[2] = {c->n, c->r};
    prism_tensor *d = NULL, *t0 = NULL, *z = NULL, *th = NULL, *rr = NULL, *dz = NULL;
    prism_stream *fwd = NULL, *bwd = NULL;
    double *zh = malloc(8 * (size_t)c->r), *num = malloc(8 * (size_t)c->r), *ana = NULL, *rh = NULL;
    if (!zh || !num || !in_make(env, c, &in)) {
        pc_fail(r, "out of host memory");
        goto done;
    }
    for (int64_t j = 0; j < c->r; j++) zh[j] = in.z[j];
    d = pc_tensor(r, ctx, 2, sd, in.d), t0 = pc_tensor(r, ctx, 1, &c->n, in.t0), z = pc_tensor(r, ctx, 1, &c->r, in.z);
    th = pc_tensor(r, ctx, 1, &c->n, NULL), rr = pc_tensor(r, ctx, 1, &c->n, in.g);
    dz = pc_tensor(r, ctx, 1, &c->r, in.dz0);
    if (!d || !t0 || !z || !th || !rr || !dz) goto done;
    if (prism_stream_create(ctx, &fwd) || prism_stream_create(ctx, &bwd) ||
        prism_subspace_decode(fwd, d, t0, z, th) || prism_subspace_project(bwd, d, rr, 0.0f, dz, NULL)) {
        pc_fail(r, "record: %s", prism_error_message(ctx));
        goto done;
    }
    if (!pc_run(r, bwd) || !(ana = pc_download(r, dz)) || !(rh = pc_download(r, rr))) goto done;
    const double h = 1e-3;
    for (int64_t j = 0; j < c->r; j++) {
        double f[2], z0 = zh[j];
        for (int sgn = 0; sgn < 2; sgn++) {
            zh[j] = z0 + (sgn ? -h : h);
            double *t = NULL;
            if (prism_tensor_upload_f64(z, zh, c->r) || !pc_run(r, fwd) || !(t = pc_download(r, th))) {
                pc_fail(r, "fd run: %s", prism_error_message(ctx));
                goto done;
            }
            double l = 0;
            for (int64_t i = 0; i < c->n; i++) l += rh[i] * t[i];
            free(t);
            f[sgn] = l;
        }
        zh[j] = z0;
        num[j] = (f[0] - f[1]) / (2 * h);
    }
    pc_compare_fd(r, "dz", ana, num, c->r, 1e-8);
done:
    prism_stream_destroy(fwd);
    prism_stream_destroy(bwd);
    PC_DESTROY(d, t0, z, th, rr, dz);
    free(zh), free(num), free(ana), free(rh);
    in_free(&in);
}

/* {n, r, beta, flags, env, view_off} */
static const ss_case d_1 = {1, 1, 0, 0, NULL, 0}, d_7 = {7, 3, 0, 0, NULL, 0}, d_1000 = {1000, 4, 0, 0, NULL, 0},
                     d_784 = {784, 7, 0, 0, NULL, 0}, d_r17 = {333, 17, 0, 0, NULL, 0},
                     d_r100 = {2049, 100, 0, 0, NULL, 0}, d_big = {300000, 8, 0, 0, NULL, 0},
                     d_no_t0 = {513, 5, 0, F_NO_T0, NULL, 0}, d_inplace = {257, 4, 0, F_INPLACE, NULL, 0},
                     d_view = {401, 8, 0, 0, NULL, 1}, /* r % 4 == 0 but misaligned: scalar path */
                     d_split = {1001, 4, 0, 0, "PRISM_SUBSPACE_MAX_BINDING=400", 0},
                     d_split_odd = {777, 3, 0, 0, "PRISM_SUBSPACE_MAX_BINDING=64", 0},
                     d_huge = {8400000, 4, 0, 0, NULL, 0};
static const ss_case p_1 = {1, 1, 0.0f, 0, NULL, 0}, p_7 = {7, 3, 1.0f, 0, NULL, 0},
                     p_1000 = {1000, 4, 1.0f, 0, NULL, 0}, p_784 = {784, 7, 0.0f, F_NAN, NULL, 0},
                     p_r17 = {5000, 17, 0.5f, 0, NULL, 0}, p_r100 = {2049, 100, 0.0f, F_NAN, NULL, 0},
                     p_big = {300000, 8, 1.0f, 0, NULL, 0}, p_many = {2000001, 3, 0.0f, F_NAN, NULL, 0},
                     p_view = {4001, 8, 1.0f, 0, NULL, 1},
                     p_split = {30000, 4, 1.0f, 0, "PRISM_SUBSPACE_MAX_BINDING=4000", 0},
                     p_split_direct = {3001, 5, 0.0f, F_NAN, "PRISM_SUBSPACE_MAX_BINDING=64", 0},
                     p_huge = {8400000, 4, 1.0f, 0, NULL, 0};
static const ss_case fd_small = {9, 3, 0, 0, NULL, 0}, fd_r1 = {5, 1, 0, 0, NULL, 0},
                     fd_mid = {300, 6, 0, 0, NULL, 0};

const pc_case pc_cases_subspace[] = {
    {"subspace_decode", "[1, 1]", "device", decode_device, &d_1},
    {"subspace_decode", "[7, 3]", "device", decode_device, &d_7},
    {"subspace_decode", "[1000, 4] (vec4)", "device", decode_device, &d_1000},
    {"subspace_decode", "[784, 7]", "device", decode_device, &d_784},
    {"subspace_decode", "[333, 17]", "device", decode_device, &d_r17},
    {"subspace_decode", "[2049, 100] (vec4)", "device", decode_device, &d_r100},
    {"subspace_decode", "[300000, 8]", "device", decode_device, &d_big},
    {"subspace_decode", "[513, 5] no theta0", "device", decode_device, &d_no_t0},
    {"subspace_decode", "[257, 4] in place (theta = theta0)", "device", decode_device, &d_inplace},
    {"subspace_decode", "[401, 8] misaligned views", "device", decode_device, &d_view},
    {"subspace_decode", "[1001, 4] split (binding 400)", "device", decode_device, &d_split},
    {"subspace_decode", "[777, 3] split (binding 64)", "device", decode_device, &d_split_odd},
    {"subspace_decode", "[8400000, 4] (D > 128 MiB binding)", "device", decode_device, &d_huge},
    {"subspace_project", "[1, 1] beta 0", "device", project_device, &p_1},
    {"subspace_project", "[7, 3] beta 1", "device", project_device, &p_7},
    {"subspace_project", "[1000, 4] beta 1 (vec4)", "device", project_device, &p_1000},
    {"subspace_project", "[784, 7] beta 0 over NaN", "device", project_device, &p_784},
    {"subspace_project", "[5000, 17] beta 0.5 (two rank blocks)", "device", project_device, &p_r17},
    {"subspace_project", "[2049, 100] beta 0 over NaN (7 rank blocks)", "device", project_device, &p_r100},
    {"subspace_project", "[300000, 8] beta 1", "device", project_device, &p_big},
    {"subspace_project", "[2000001, 3] beta 0 over NaN (512 workgroups)", "device", project_device, &p_many},
    {"subspace_project", "[4001, 8] misaligned views", "device", project_device, &p_view},
    {"subspace_project", "[30000, 4] split (binding 4000): 40 + 11 dispatches", "device", project_device, &p_split},
    {"subspace_project", "[3001, 5] split (binding 64): 8-wide workgroups", "device", project_device, &p_split_direct},
    {"subspace_project", "[8400000, 4] (D > 128 MiB binding)", "device", project_device, &p_huge},
    {"subspace_project", "[9, 3]", "fd", project_fd, &fd_small},
    {"subspace_project", "[5, 1]", "fd", project_fd, &fd_r1},
    {"subspace_project", "[300, 6]", "fd", project_fd, &fd_mid},
};
const int pc_ncases_subspace = (int)(sizeof pc_cases_subspace / sizeof pc_cases_subspace[0]);
