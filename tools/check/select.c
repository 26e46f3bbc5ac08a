/* Check cases: select (sDCTFT band selection), device vs float64 reference.
 *
 * The result is a set, so the comparison is exact: the device's (row, col)
 * list must equal the reference's element for element (both are sorted
 * ascending by flat index). Scores are uploaded as fp32, so both backends
 * rank the same values; the fills below craft ties (all equal, a few
 * distinct levels, signed zeros), NaN and infinities to exercise the tie
 * rule (lower flat index first) and the NaN rule (above everything). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "prism/spectral.h"

typedef enum { F_RANDOM, F_EQUAL, F_LEVELS, F_SPECIAL, F_DCTLIKE } sel_fill;

typedef struct sel_case {
    int64_t rows, cols, n_coef;
    double delta;
    uint64_t seed;
    sel_fill fill;
} sel_case;

static void make_scores(const sel_case *c, uint64_t seed, float *x) {
    int64_t n = c->rows * c->cols;
    pc_random(seed, x, n, -1.0f, 1.0f);
    for (int64_t i = 0; i < n; i++) {
        int64_t u = i / c->cols, v = i % c->cols;
        switch (c->fill) {
        case F_EQUAL: x[i] = (i % 2) ? 0.5f : -0.5f; break;       /* |x| all tie */
        case F_LEVELS: x[i] = roundf(x[i] * 3.0f) / 3.0f; break;    /* 4 magnitudes, many ties, zeros */
        case F_SPECIAL:
            if (i % 17 == 3) x[i] = NAN;
            else if (i % 23 == 5) x[i] = (i % 2) ? INFINITY : -INFINITY;
            else if (i % 11 == 7) x[i] = (i % 2) ? 0.0f : -0.0f;
            else if (i % 13 == 2) x[i] = 1e-40f;                    /* denormal */
            break;
        case F_DCTLIKE: x[i] /= (float)(1 + u + v); break;          /* energy decays from the DC corner */
        default: break;
        }
    }
}

static double *run_on(pc_result *r, prism_context *ctx, const sel_case *c, const float *score, bool guard,
                      int64_t *nsel) {
    prism_select_config cfg = {c->n_coef, c->delta, c->seed};
    prism_selector *sel = NULL;
    prism_tensor *ts = NULL, *ti = NULL, *base = NULL;
    prism_stream *s = NULL;
    double *out = NULL;
    if (prism_selector_create(ctx, c->rows, c->cols, &cfg, &sel) != PRISM_OK) {
        pc_fail(r, "selector_create: %s", prism_error_message(ctx));
        return NULL;
    }
    *nsel = prism_selector_info(sel)->n_selected;
    int64_t sshape[2] = {c->rows, c->cols}, ishape[2] = {*nsel, 2};
    ts = pc_tensor(r, ctx, 2, sshape, score);
    ti = guard ? pc_guarded(r, ctx, 2, ishape, NULL, &base) : pc_tensor(r, ctx, 2, ishape, NULL);
    if (ts && ti && prism_stream_create(ctx, &s) == PRISM_OK) {
        if (prism_select(s, sel, ts, ti) != PRISM_OK) pc_fail(r, "record: %s", prism_error_message(ctx));
        else if (pc_run(r, s)) out = pc_download(r, ti);
        if (guard) pc_guard_ok(r, base, "index");
    }
    prism_stream_destroy(s);
    prism_tensor_destroy(ts);
    prism_tensor_destroy(ti);
    prism_tensor_destroy(base);
    prism_selector_destroy(sel);
    return out;
}

static void sel_device(const pc_env *env, const void *arg, pc_result *r) {
    const sel_case *c = arg;
    int64_t n = c->rows * c->cols, nd = 0, nr = 0;
    float *x = malloc((size_t)n * sizeof *x);
    double *dev = NULL, *ref = NULL;
    if (!x) {
        pc_fail(r, "out of host memory");
        return;
    }
    make_scores(c, env->seed + 40, x);
    dev = run_on(r, env->dev, c, x, true, &nd);
    ref = run_on(r, env->ref, c, x, false, &nr);
    if (dev && ref) {
        if (nd != nr) pc_fail(r, "selected %lld on the device, %lld on the reference", (long long)nd, (long long)nr);
        for (int64_t i = 0; i < 2 * nd && r->outcome != PC_FAIL; i++)
            if (dev[i] != ref[i])
                pc_fail(r, "entry %lld: device (%g, %g), reference (%g, %g)", (long long)(i / 2), dev[i & ~1],
                        dev[i | 1], ref[i & ~1], ref[i | 1]);
        for (int64_t i = 1; i < nr && r->outcome != PC_FAIL; i++)
            if (ref[2 * i] * c->cols + ref[2 * i + 1] <= ref[2 * i - 2] * c->cols + ref[2 * i - 1])
                pc_fail(r, "reference output not strictly ascending at %lld", (long long)i);
        r->nmse = 0;
    }
    free(x);
    free(dev);
    free(ref);
}

static const sel_case s_1x7 = {1, 7, 3, 0.7, 0, F_RANDOM}, s_7x1 = {7, 1, 5, 0.7, 1, F_RANDOM},
                      s_7x7 = {7, 7, 10, 0.7, 2, F_RANDOM}, s_2x2_all = {2, 2, 4, 0.7, 3, F_RANDOM},
                      s_16x16_all = {16, 16, 256, 0.5, 4, F_RANDOM}, s_33x65 = {33, 65, 100, 0.7, 5, F_RANDOM},
                      s_100x37_d0 = {100, 37, 90, 0.0, 6, F_RANDOM}, s_100x37_d1 = {100, 37, 90, 1.0, 7, F_RANDOM},
                      s_64x64_eq = {64, 64, 300, 0.7, 8, F_EQUAL}, s_64x96_lv = {64, 96, 500, 0.7, 9, F_LEVELS},
                      s_50x50_sp = {50, 50, 700, 0.7, 10, F_SPECIAL}, s_256_700 = {256, 256, 700, 0.7, 11, F_DCTLIKE},
                      s_300x200_big = {300, 200, 20000, 0.7, 12, F_RANDOM},
                      s_20x20_over = {20, 20, 390, 0.7, 13, F_LEVELS},
                      s_seed_hi = {48, 40, 200, 0.7, 0x123456789abcdefull, F_RANDOM},
                      s_1024 = {1024, 1024, 700, 0.7, 14, F_DCTLIKE}, s_1000x3000 = {1000, 3000, 5000, 0.7, 15, F_RANDOM};

const pc_case pc_cases_select[] = {
    {"select", "[1, 7] n_coef 3", "device", sel_device, &s_1x7},
    {"select", "[7, 1] n_coef 5", "device", sel_device, &s_7x1},
    {"select", "[7, 7] n_coef 10", "device", sel_device, &s_7x7},
    {"select", "[2, 2] n_coef 4 (empty mid band)", "device", sel_device, &s_2x2_all},
    {"select", "[16, 16] n_coef 256 (every entry)", "device", sel_device, &s_16x16_all},
    {"select", "[33, 65] n_coef 100", "device", sel_device, &s_33x65},
    {"select", "[100, 37] delta 0 (random only)", "device", sel_device, &s_100x37_d0},
    {"select", "[100, 37] delta 1 (energy only)", "device", sel_device, &s_100x37_d1},
    {"select", "[64, 64] all |score| equal (ties)", "device", sel_device, &s_64x64_eq},
    {"select", "[64, 96] 4 magnitude levels (ties, zeros)", "device", sel_device, &s_64x96_lv},
    {"select", "[50, 50] NaN, +-inf, +-0, denormals", "device", sel_device, &s_50x50_sp},
    {"select", "[256, 256] n_coef 700", "device", sel_device, &s_256_700},
    {"select", "[300, 200] n_coef 20000", "device", sel_device, &s_300x200_big},
    {"select", "[20, 20] n_coef 390 (high band overflows)", "device", sel_device, &s_20x20_over},
    {"select", "[48, 40] 64-bit seed", "device", sel_device, &s_seed_hi},
    {"select", "[1024, 1024] n_coef 700", "device", sel_device, &s_1024},
    {"select", "[1000, 3000] n_coef 5000", "device", sel_device, &s_1000x3000},
};
const int pc_ncases_select = (int)(sizeof pc_cases_select / sizeof pc_cases_select[0]);
