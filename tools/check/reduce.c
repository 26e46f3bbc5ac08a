/* Check cases: row_sum / row_dot / row_norm, device vs float64 reference.
 *
 * Tolerance: NMSE <= 1e-10 for every case. The device sums in fp32 (strided
 * partials, then a tree), so the error grows like eps * sqrt(cols); for the
 * longest rows here (4097) that is ~1e-12 in NMSE, well inside the bound.
 *
 * row_norm range: the device scales every row by a power of two near its
 * max |x| before squaring (shaders/reduce.comp), so rows with values up to
 * FLT_MAX, or whose squares would underflow, give the same answer as the
 * float64 reference. The "huge" cases (one 1e18 or 3e30 among thousands of
 * tiny values; 3e30^2 overflows fp32) and the "tiny" case (values ~1e-25,
 * whose squares flush to zero in fp32) show it. Limit: a norm larger than
 * FLT_MAX is inf on the device (the reference then differs). */
#include <stdlib.h>
#include "check.h"

typedef enum { SUM, DOT, NORM } mode;
typedef enum { PLAIN, HUGE18, HUGE30, TINY } fill;
typedef struct rd_case {
    mode m;
    int ndim;
    int64_t shape[3];
    fill f;
} rd_case;

static prism_status apply(prism_stream *s, mode m, prism_tensor *a, prism_tensor *b, prism_tensor *y) {
    if (m == SUM) return prism_row_sum(s, a, y);
    if (m == DOT) return prism_row_dot(s, a, b, y);
    return prism_row_norm(s, a, y);
}

static prism_status apply_case(prism_stream *s, const void *arg, prism_tensor *a, prism_tensor *b, prism_tensor *y) {
    return apply(s, ((const rd_case *)arg)->m, a, b, y);
}

static double *run_on(pc_result *r, prism_context *ctx, const rd_case *c, const float *a, const float *b,
                      bool guard) {
    /* y has the leading dims of x (one element per row) */
    int64_t one = 1;
    int yd = c->ndim > 1 ? c->ndim - 1 : 1;
    const int64_t *ys = c->ndim > 1 ? c->shape : &one;
    return pc_run_op2(r, ctx, apply_case, c, c->ndim, c->shape, a, b, yd, ys, NULL, guard);
}

static void rd_device(const pc_env *env, const void *arg, pc_result *r) {
    const rd_case *c = arg;
    int64_t n = 1;
    for (int i = 0; i < c->ndim; i++) n *= c->shape[i];
    int64_t cols = c->shape[c->ndim - 1], rows = n / cols;
    float *a = malloc((size_t)n * 4), *b = malloc((size_t)n * 4);
    double *dev = NULL, *ref = NULL;
    if (!a || !b) {
        pc_fail(r, "out of host memory");
        goto done;
    }
    pc_random(env->seed + 10, a, n, -1.0f, 1.0f);
    pc_random(env->seed + 11, b, n, -1.0f, 1.0f);
    if (c->f == HUGE18 || c->f == HUGE30) {
        /* tiny values everywhere, one huge value at a different column per row */
        pc_random(env->seed + 12, a, n, 1e-3f, 1e-2f);
        for (int64_t i = 0; i < rows; i++) a[i * cols + (i * 37) % cols] = c->f == HUGE18 ? 1e18f : -3e30f;
    } else if (c->f == TINY) {
        for (int64_t i = 0; i < n; i++) a[i] *= 1e-25f;
    }
    bool guard = n < ((int64_t)1 << 24); /* the huge case only checks values */
    dev = run_on(r, env->dev, c, a, b, guard);
    ref = run_on(r, env->ref, c, a, b, false);
    if (dev && ref) pc_compare(r, "y", dev, ref, rows, 1e-10);
done:
    free(dev);
    free(ref);
    free(a);
    free(b);
}

#define RD(name, m)                                                                                        \
    static const rd_case name##_1x1 = {m, 2, {1, 1}, PLAIN}, name##_1x7 = {m, 2, {1, 7}, PLAIN},            \
                         name##_7x1 = {m, 2, {7, 1}, PLAIN}, name##_3x784 = {m, 2, {3, 784}, PLAIN},        \
                         name##_1000x10 = {m, 2, {1000, 10}, PLAIN},                                       \
                         name##_10x1000 = {m, 2, {10, 1000}, PLAIN},                                       \
                         name##_64x4097 = {m, 2, {64, 4097}, PLAIN}, name##_5x7x9 = {m, 3, {5, 7, 9}, PLAIN}, \
                         name##_vec = {m, 1, {300}, PLAIN};
RD(sum, SUM) RD(dot, DOT) RD(norm, NORM)
static const rd_case norm_huge18 = {NORM, 2, {4, 4000}, HUGE18}, norm_huge30 = {NORM, 2, {4, 4000}, HUGE30},
                     norm_tiny = {NORM, 2, {9, 333}, TINY};
/* 8200 x 4100 = 33.6M floats = 134 MB: over lavapipe's 128 MiB binding, so
 * the dispatcher must split it over row ranges */
static const rd_case sum_huge = {SUM, 2, {8200, 4100}, PLAIN};
/* 17M rows of one element: more than 65535 workgroups even when 256 rows
 * share one, so the runtime folds the grid (prism_group_linear) */
static const rd_case norm_fold = {NORM, 2, {17000000, 1}, PLAIN};

#define ROWS(op, name)                                               \
    {op, "[1, 1]", "device", rd_device, &name##_1x1},                \
    {op, "[1, 7]", "device", rd_device, &name##_1x7},                \
    {op, "[7, 1]", "device", rd_device, &name##_7x1},                \
    {op, "[3, 784]", "device", rd_device, &name##_3x784},            \
    {op, "[1000, 10]", "device", rd_device, &name##_1000x10},        \
    {op, "[10, 1000]", "device", rd_device, &name##_10x1000},        \
    {op, "[64, 4097]", "device", rd_device, &name##_64x4097},        \
    {op, "[5, 7, 9]", "device", rd_device, &name##_5x7x9},           \
    {op, "[300] (one row)", "device", rd_device, &name##_vec},

const pc_case pc_cases_reduce[] = {
    ROWS("row_sum", sum) ROWS("row_dot", dot) ROWS("row_norm", norm)
    {"row_norm", "[4, 4000] one 1e18 per row, rest ~1e-3", "device", rd_device, &norm_huge18},
    {"row_norm", "[4, 4000] one -3e30 per row (fp32 square overflows)", "device", rd_device, &norm_huge30},
    {"row_norm", "[9, 333] values ~1e-25 (fp32 squares underflow)", "device", rd_device, &norm_tiny},
    {"row_sum", "[8200, 4100] (> 128 MiB binding)", "device", rd_device, &sum_huge},
    {"row_norm", "[17000000, 1] (folded grid)", "device", rd_device, &norm_fold},
};
const int pc_ncases_reduce = (int)(sizeof pc_cases_reduce / sizeof pc_cases_reduce[0]);
