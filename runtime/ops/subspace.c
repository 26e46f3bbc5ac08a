/* Dispatchers of the subspace family (shaders/subspace.comp):
 *     decode   theta = theta0 + D z          D [N, r] row-major
 *     project  dz = beta dz + D^T dtheta
 * (include/prism/subspace.h, docs/subspace.md).
 *
 * Binding limits: D is cut into row ranges of at most max_binding() / r
 * rows (theta, theta0 and dtheta ranges follow); z / dz [r] are bound whole.
 * project runs in two passes with no float atomics and no barrier in the
 * long pass (shaders/subspace.comp): pass 1 writes one row of partial sums
 * P[t, 0..r) per invocation (rpt rows each) to the caller's workspace; pass
 * 2 adds them per rank in a fixed order. Both passes are split into
 * dispatches over bindings when needed (later pass-2 dispatches accumulate,
 * beta = 1, in stream order). Every sum has a fixed order: bit-identical
 * replays.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../internal.h"
#include "op_util.h"
#include "../reference/subspace.h"
#include "prism/subspace.h"

static const char *OP_DECODE = "subspace_decode";
static const char *OP_PROJECT = "subspace_project";

enum {
    RB_MAX = 16,        /* ranks held in registers per block */
    DECODE_PER = 4,     /* decode rows per invocation (coalesced layout, as basic.comp) */
    RPT_MIN = 32,       /* fewest rows an invocation of project sums: partials <= 1/32 of D's traffic */
    MAX_GROUPS = 512,   /* project pass-1 workgroups over the whole of D: enough to fill a GPU */
    SERIAL_PARTS = 4096 /* pass 2 adds up to this many partials per rank serially (no barrier: on
                           lavapipe a 256-wide tree per rank cost ~0.5 ms at r = 64) */
};

/* PRISM_SUBSPACE_MAX_BINDING (elements) lowers the binding limit in tests. */
static int64_t max_binding(const prism_context *ctx) {
    return prism_op_max_binding(ctx, "PRISM_SUBSPACE_MAX_BINDING");
}

/* Rows one dispatch may cover: D's rows (r each) and the vectors fit a
 * binding; also below 2^31 so push-constant indices stay in uint range. */
static int64_t rows_per_binding(int64_t r, int64_t lim) {
    return PRISM_MIN(PRISM_MIN(lim / r, lim), (int64_t)1 << 31);
}

static prism_status check_binding(prism_context *ctx, const char *op, int64_t n, int64_t r, int64_t lim) {
    if (r > lim)
        return prism_set_error(ctx, PRISM_ERR_UNSUPPORTED,
                               "%s: D [%lld, %lld]: one row (%lld) exceeds one binding of %lld elements "
                               "(maxStorageBufferRange %llu bytes)",
                               op, (long long)n, (long long)r, (long long)r, (long long)lim,
                               (unsigned long long)ctx->caps.max_storage_buffer_range);
    return PRISM_OK;
}

/* The project plan: pass-1 local size, rows per invocation, rows per
 * dispatch (whole workgroups), and the partial rows all dispatches write. */
typedef struct pj_plan {
    uint32_t ls;
    int64_t rpt, rows_disp, parts;
} pj_plan;

static pj_plan plan_project(const prism_context *ctx, int64_t n, int64_t r, int64_t lim) {
    pj_plan p;
    int64_t rows_bind = rows_per_binding(r, lim);
    /* a workgroup's partials (ls r floats) must fit one binding */
    p.ls = prism_op_pow2_floor((uint32_t)PRISM_MAX((int64_t)1, PRISM_MIN((int64_t)prism_local_size_1d(ctx), lim / r)));
    p.rpt = PRISM_MAX((int64_t)RPT_MIN, PRISM_CEIL_DIV(n, (int64_t)MAX_GROUPS * p.ls));
    if (p.ls * p.rpt > rows_bind) p.rpt = PRISM_MAX((int64_t)1, rows_bind / p.ls);
    int64_t unit = p.ls * p.rpt, groups_bind = PRISM_MAX((int64_t)1, PRISM_MIN(rows_bind / unit, lim / (p.ls * r)));
    p.rows_disp = unit <= rows_bind ? groups_bind * unit : rows_bind;
    p.parts = 0;
    for (int64_t r0 = 0; r0 < n; r0 += p.rows_disp)
        p.parts += PRISM_CEIL_DIV(PRISM_MIN(p.rows_disp, n - r0), unit) * p.ls;
    return p;
}

int64_t prism_subspace_project_workspace(const prism_context *ctx, int64_t n, int64_t r) {
    if (!ctx || ctx->backend == PRISM_BACKEND_REFERENCE || n < 1 || r < 1) return 0;
    int64_t lim = max_binding(ctx);
    if (r > lim) return 0; /* the op refuses this shape */
    return plan_project(ctx, n, r, lim).parts * r;
}

/* ---------------------------------------------------------------- reference closures */

typedef struct ss_args {
    const prism_tensor *d, *t0, *z, *th, *g, *dz;
    int64_t n, r;
    double beta;
} ss_args;

static void decode_ref(const void *p) {
    const ss_args *a = p;
    prism_ref_subspace_decode(a->n, a->r, prism_ref_data(a->d), a->t0 ? prism_ref_data(a->t0) : NULL,
                              prism_ref_data(a->z), prism_ref_data(a->th));
}

static void project_ref(const void *p) {
    const ss_args *a = p;
    prism_ref_subspace_project(a->n, a->r, a->beta, prism_ref_data(a->d), prism_ref_data(a->g), prism_ref_data(a->dz));
}

/* ---------------------------------------------------------------- shape checks */

static prism_status check_d(prism_stream *s, const char *op, const prism_tensor *D) {
    prism_status st = prism_check_tensor(s, op, "D", D);
    if (st) return st;
    if (D->ndim != 2) {
        char b[64];
        return prism_set_error(prism_stream_context(s), PRISM_ERR_SHAPE, "%s: D %s must be 2-D [N, r]", op,
                               prism_tensor_shape_str(D, b, sizeof b));
    }
    return PRISM_OK;
}

static prism_status check_count(prism_stream *s, const char *op, const prism_tensor *D, const char *what,
                                const prism_tensor *t, int64_t want, const char *dim) {
    if (t->numel == want) return PRISM_OK;
    char bd[64], bt[64];
    return prism_set_error(prism_stream_context(s), PRISM_ERR_SHAPE, "%s: %s %s has %lld elements, D %s needs %s = %lld",
                           op, what, prism_tensor_shape_str(t, bt, sizeof bt), (long long)t->numel,
                           prism_tensor_shape_str(D, bd, sizeof bd), dim, (long long)want);
}

/* ---------------------------------------------------------------- decode */

static prism_status decode_device(prism_stream *s, const ss_args *a) {
    prism_context *ctx = prism_stream_context(s);
    const int64_t n = a->n, r = a->r, lim = max_binding(ctx);
    prism_status st = check_binding(ctx, OP_DECODE, n, r, lim);
    if (st) return st;
    bool vec = r % 4 == 0 && prism_op_aligned16(a->d) && prism_op_aligned16(a->z);
    uint32_t ls = prism_local_size_1d(ctx), per = DECODE_PER;
    int64_t rows_bind = rows_per_binding(r, lim);
    for (int64_t r0 = 0; r0 < n; r0 += rows_bind) {
        int64_t nr = PRISM_MIN(rows_bind, n - r0);
        prism_kernel k = {.op = OP_DECODE, .shader = vec ? "subspace_decode_vec4" : "subspace_decode", .nspec = 5,
                          .spec = {ls, 1, 1, (uint32_t)PRISM_MIN(r, (int64_t)RB_MAX), per},
                          .groups = {(uint64_t)PRISM_CEIL_DIV(nr, (int64_t)ls * per), 1, 1},
                          .fault_binding = 0, .cost = (uint64_t)(nr * (r + 2))};
        k.bind[0] = (prism_binding){a->th, r0, nr, true};
        /* no theta0: bind theta again (never read, has_t0 = 0) */
        k.bind[1] = a->t0 ? (prism_binding){a->t0, r0, nr, false} : (prism_binding){a->th, r0, nr, false};
        k.bind[2] = (prism_binding){a->d, r0 * r, nr * r, false};
        k.bind[3] = (prism_binding){a->z, 0, r, false};
        k.nbind = 4;
        struct { uint32_t rows, r, has_t0; } push = {(uint32_t)nr, (uint32_t)r, a->t0 ? 1u : 0u};
        memcpy(k.push, &push, sizeof push);
        k.push_size = sizeof push;
        if ((st = prism_record_kernel(s, &k))) return st;
    }
    return PRISM_OK;
}

prism_status prism_subspace_decode(prism_stream *s, const prism_tensor *D, const prism_tensor *theta0,
                                   const prism_tensor *z, prism_tensor *theta) {
    prism_status st = prism_op_begin(s, OP_DECODE);
    if (st) return st;
    if ((st = check_d(s, OP_DECODE, D)) || (st = prism_check_tensor(s, OP_DECODE, "z", z)) ||
        (st = prism_check_tensor(s, OP_DECODE, "theta", theta)) ||
        (theta0 && (st = prism_check_tensor(s, OP_DECODE, "theta0", theta0))))
        return st;
    prism_context *ctx = prism_stream_context(s);
    const int64_t n = D->shape[0], r = D->shape[1];
    if ((st = check_count(s, OP_DECODE, D, "z", z, r, "r")) || (st = check_count(s, OP_DECODE, D, "theta", theta, n, "N")) ||
        (theta0 && (st = check_count(s, OP_DECODE, D, "theta0", theta0, n, "N"))))
        return st;
    if (prism_op_overlap(theta, D) || prism_op_overlap(theta, z) || (theta0 && prism_op_overlap(theta, theta0) && !prism_op_same_range(theta, theta0))) {
        char b[64];
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT,
                               "%s: output theta %s overlaps %s (only theta = theta0 exactly is allowed)", OP_DECODE,
                               prism_tensor_shape_str(theta, b, sizeof b),
                               prism_op_overlap(theta, D) ? "D" : prism_op_overlap(theta, z) ? "z" : "theta0");
    }
    ss_args a = {.d = D, .t0 = theta0, .z = z, .th = theta, .n = n, .r = r};
    if (prism_stream_is_reference(s)) {
        const prism_tensor *ts[4] = {D, z, theta, theta0 ? theta0 : theta};
        return prism_ref_enqueue(s, OP_DECODE, decode_ref, &a, sizeof a, ts, 4);
    }
    return decode_device(s, &a);
}

/* ---------------------------------------------------------------- project */

static prism_status project_device(prism_stream *s, const ss_args *a, prism_tensor *work) {
    prism_context *ctx = prism_stream_context(s);
    const int64_t n = a->n, r = a->r, lim = max_binding(ctx);
    pj_plan p = plan_project(ctx, n, r, lim);
    bool vec = r % 4 == 0 && prism_op_aligned16(a->d);
    uint32_t rb = (uint32_t)PRISM_MIN(r, (int64_t)RB_MAX);
    int64_t unit = p.ls * p.rpt, t0 = 0;
    prism_status st;
    for (int64_t r0 = 0; r0 < n; r0 += p.rows_disp) {
        int64_t nr = PRISM_MIN(p.rows_disp, n - r0), groups = PRISM_CEIL_DIV(nr, unit), parts = groups * p.ls;
        prism_kernel k = {.op = OP_PROJECT, .shader = vec ? "subspace_project_vec4" : "subspace_project", .nspec = 4,
                          .spec = {p.ls, 1, 1, rb}, .groups = {(uint64_t)groups, 1, 1}, .fault_binding = -1,
                          .cost = (uint64_t)(nr * (r + 1))};
        k.bind[0] = (prism_binding){work, t0 * r, parts * r, true};
        k.bind[1] = (prism_binding){a->d, r0 * r, nr * r, false};
        k.bind[2] = (prism_binding){a->g, r0, nr, false};
        k.nbind = 3;
        struct { uint32_t rows, r, rpt; } push = {(uint32_t)nr, (uint32_t)r, (uint32_t)p.rpt};
        memcpy(k.push, &push, sizeof push);
        k.push_size = sizeof push;
        if ((st = prism_record_kernel(s, &k))) return st;
        t0 += parts;
    }
    /* pass 2: one workgroup per rank over the partials, in binding-sized chunks */
    uint32_t ls2 = prism_op_pow2_floor(prism_local_size_1d(ctx));
    int64_t chunk = PRISM_MAX((int64_t)1, lim / r);
    for (int64_t c0 = 0; c0 < p.parts; c0 += chunk) {
        int64_t np = PRISM_MIN(chunk, p.parts - c0);
        bool serial = np <= SERIAL_PARTS;
        uint32_t ls1 = prism_local_size_1d(ctx);
        prism_kernel k = {.op = OP_PROJECT, .shader = serial ? "subspace_sum_serial" : "subspace_sum", .nspec = 4,
                          .spec = {serial ? ls1 : ls2, 1, 1, 1},
                          .groups = {serial ? (uint64_t)PRISM_CEIL_DIV(r, (int64_t)ls1) : (uint64_t)r, 1, 1},
                          .fault_binding = 0, .cost = (uint64_t)(np * r)};
        k.bind[0] = (prism_binding){a->dz, 0, r, true};
        k.bind[1] = (prism_binding){work, c0 * r, np * r, false};
        k.nbind = 2;
        struct { uint32_t r, parts; float beta; } push = {(uint32_t)r, (uint32_t)np, c0 == 0 ? (float)a->beta : 1.0f};
        memcpy(k.push, &push, sizeof push);
        k.push_size = sizeof push;
        if ((st = prism_record_kernel(s, &k))) return st;
    }
    return PRISM_OK;
}

prism_status prism_subspace_project(prism_stream *s, const prism_tensor *D, const prism_tensor *dtheta, float beta,
                                    prism_tensor *dz, prism_tensor *work) {
    prism_status st = prism_op_begin(s, OP_PROJECT);
    if (st) return st;
    if ((st = check_d(s, OP_PROJECT, D)) || (st = prism_check_tensor(s, OP_PROJECT, "dtheta", dtheta)) ||
        (st = prism_check_tensor(s, OP_PROJECT, "dz", dz)) ||
        (work && (st = prism_check_tensor(s, OP_PROJECT, "work", work))))
        return st;
    prism_context *ctx = prism_stream_context(s);
    const int64_t n = D->shape[0], r = D->shape[1];
    if ((st = check_count(s, OP_PROJECT, D, "dtheta", dtheta, n, "N")) ||
        (st = check_count(s, OP_PROJECT, D, "dz", dz, r, "r")))
        return st;
    if (!isfinite(beta))
        return prism_set_error(ctx, PRISM_ERR_NOT_FINITE, "%s: beta %g must be finite (D [%lld, %lld])", OP_PROJECT,
                               beta, (long long)n, (long long)r);
    const prism_tensor *ins[2] = {D, dtheta};
    const char *inames[2] = {"D", "dtheta"};
    for (int i = 0; i < 2; i++)
        if (prism_op_overlap(dz, ins[i]) || prism_op_overlap(work, ins[i]))
            return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: %s overlaps input %s (D [%lld, %lld])",
                                   OP_PROJECT, prism_op_overlap(dz, ins[i]) ? "dz" : "work", inames[i], (long long)n,
                                   (long long)r);
    if (prism_op_overlap(dz, work))
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: dz overlaps work", OP_PROJECT);
    int64_t need = prism_subspace_project_workspace(ctx, n, r);
    if (need > 0 && !work)
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT,
                               "%s: D [%lld, %lld] needs a workspace of %lld elements "
                               "(prism_subspace_project_workspace); work is NULL",
                               OP_PROJECT, (long long)n, (long long)r, (long long)need);
    if (need > 0 && work->numel < need)
        return prism_set_error(ctx, PRISM_ERR_SHAPE, "%s: D [%lld, %lld] needs a workspace of %lld elements, work has %lld",
                               OP_PROJECT, (long long)n, (long long)r, (long long)need, (long long)work->numel);
    ss_args a = {.d = D, .g = dtheta, .dz = dz, .n = n, .r = r, .beta = beta};
    if (prism_stream_is_reference(s)) {
        const prism_tensor *ts[3] = {D, dtheta, dz};
        return prism_ref_enqueue(s, OP_PROJECT, project_ref, &a, sizeof a, ts, 3);
    }
    if ((st = check_binding(ctx, OP_PROJECT, n, r, max_binding(ctx)))) return st;
    return project_device(s, &a, work);
}
