/* sDCTFT selection: the host plan (band sizes, budgets, surplus), the
 * selector object (device scratch) and the dispatcher of shaders/select.comp.
 * The rule is in include/prism/spectral.h and docs/spectral.md; the float64
 * reference is runtime/reference/select.c.
 *
 * Device sequence per prism_select (67 dispatches, once per adapter):
 *   init state; clear bitmap
 *   energy stage: 8 x (clear hist, histogram, resolve) over 2 key words; mark
 *   random stage: 12 x (clear hist, histogram, resolve) over 3 key words; mark
 *   count per 64-word chunk; exclusive scan (one workgroup); emit pairs
 * A pass whose bands are all resolved exits at once (radix select usually
 * finishes after the first key word), so late passes cost one state read
 * per invocation. Histogram and mark passes run a workgroup per row; scores
 * larger than one binding are processed in chunks of whole rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "../internal.h"
#include "op_util.h"
#include "../reference/select.h"
#include "prism/spectral.h"

#define SEL_CHUNK_WORDS 64 /* CHUNK_WORDS in select.comp */
#define SEL_STATE 32
#define SEL_HIST 768
#define DIM_LIMIT ((int64_t)1 << 24)

struct prism_selector {
    prism_context *ctx;
    prism_select_config cfg;
    prism_select_info info;
    prism_tensor *bounds, *state, *hist, *bitmap, *counts; /* device only */
    int64_t nwords, nchunks;
};

prism_status prism_select_plan(int64_t rows, int64_t cols, const prism_select_config *cfg, prism_select_info *info) {
    if (!cfg || !info) return PRISM_ERR_INVALID_ARGUMENT;
    if (rows < 1 || cols < 1 || rows >= DIM_LIMIT || cols >= DIM_LIMIT) return PRISM_ERR_DIMS;
    int64_t total = rows * cols;
    if (cfg->n_coef < 1 || cfg->n_coef > total || !(cfg->delta >= 0.0 && cfg->delta <= 1.0))
        return PRISM_ERR_INVALID_ARGUMENT;
    memset(info, 0, sizeof *info);
    info->rows = rows;
    info->cols = cols;
    for (int64_t u = 0; u < rows; u++) {
        int64_t c1, c2;
        prism_select_row_bounds(rows, cols, u, &c1, &c2);
        info->band_size[PRISM_BAND_LOW] += c1;
        info->band_size[PRISM_BAND_MID] += c2 - c1;
        info->band_size[PRISM_BAND_HIGH] += cols - c2;
    }
    int64_t nb = cfg->n_coef / 3, want[PRISM_NBANDS] = {nb, nb, cfg->n_coef - 2 * nb}, carry = 0;
    for (int b = 0; b < PRISM_NBANDS; b++) {
        int64_t B = want[b] + carry, take = PRISM_MIN(B, info->band_size[b]);
        carry = B - take;
        int64_t ne = (int64_t)floor(cfg->delta * (double)take + 1e-9);
        ne = PRISM_MAX(0, PRISM_MIN(ne, take));
        info->budget[b] = take;
        info->n_energy[b] = ne;
        info->n_random[b] = take - ne;
        info->n_selected += take;
    }
    info->n_unplaced = carry;
    return info->n_selected > 0 ? PRISM_OK : PRISM_ERR_INVALID_ARGUMENT;
}

void prism_selector_destroy(prism_selector *sel) {
    if (!sel) return;
    prism_tensor_destroy(sel->bounds);
    prism_tensor_destroy(sel->state);
    prism_tensor_destroy(sel->hist);
    prism_tensor_destroy(sel->bitmap);
    prism_tensor_destroy(sel->counts);
    free(sel);
}

const prism_select_info *prism_selector_info(const prism_selector *sel) { return sel ? &sel->info : NULL; }

static prism_status make_1d(prism_context *ctx, int64_t n, prism_tensor **t) {
    return prism_tensor_create(ctx, 1, &n, t);
}

prism_status prism_selector_create(prism_context *ctx, int64_t rows, int64_t cols, const prism_select_config *cfg,
                                   prism_selector **out) {
    if (out) *out = NULL;
    if (!ctx || !out || !cfg) return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "selector_create: NULL argument");
    prism_selector *sel = calloc(1, sizeof *sel);
    float *hb = NULL;
    prism_status st = PRISM_OK;
    if (!sel) return prism_set_error(ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "selector_create: out of host memory");
    sel->ctx = ctx;
    sel->cfg = *cfg;
    st = prism_select_plan(rows, cols, cfg, &sel->info);
    if (st == PRISM_ERR_DIMS) {
        st = prism_set_error(ctx, st, "selector_create: [%lld, %lld]: each dim must be in [1, 2^24)", (long long)rows,
                             (long long)cols);
        goto cleanup;
    }
    if (st) {
        st = prism_set_error(ctx, st,
                             "selector_create: [%lld, %lld] n_coef %lld delta %g: n_coef must be in [1, rows*cols], "
                             "delta in [0, 1], and at least one entry placeable",
                             (long long)rows, (long long)cols, (long long)cfg->n_coef, cfg->delta);
        goto cleanup;
    }
    if (prism_context_backend(ctx) == PRISM_BACKEND_REFERENCE) goto cleanup; /* the reference needs no scratch */
    int64_t total = rows * cols;
    sel->nwords = PRISM_CEIL_DIV(total, 32);
    sel->nchunks = PRISM_CEIL_DIV(sel->nwords, SEL_CHUNK_WORDS);
    int64_t maxe = prism_max_binding_elems(ctx);
    if (total > (int64_t)UINT32_MAX || sel->nwords > maxe || 2 * rows > maxe || cols > maxe ||
        2 * sel->info.n_selected > maxe) {
        st = prism_set_error(ctx, PRISM_ERR_UNSUPPORTED,
                             "selector_create: [%lld, %lld] needs flat indices < 2^32 and its bitmap, band table and "
                             "output within one binding (%lld elements)",
                             (long long)rows, (long long)cols, (long long)maxe);
        goto cleanup;
    }
    int64_t bshape[2] = {rows, 2};
    PRISM_TRY(prism_tensor_create(ctx, 2, bshape, &sel->bounds));
    PRISM_TRY(make_1d(ctx, SEL_STATE, &sel->state));
    PRISM_TRY(make_1d(ctx, SEL_HIST, &sel->hist));
    PRISM_TRY(make_1d(ctx, sel->nwords, &sel->bitmap));
    PRISM_TRY(make_1d(ctx, sel->nchunks, &sel->counts));
    hb = malloc((size_t)rows * 2 * sizeof *hb);
    if (!hb) {
        st = prism_set_error(ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "selector_create: out of host memory");
        goto cleanup;
    }
    for (int64_t u = 0; u < rows; u++) {
        int64_t c1, c2;
        prism_select_row_bounds(rows, cols, u, &c1, &c2);
        hb[2 * u] = (float)c1; /* exact: < 2^24 */
        hb[2 * u + 1] = (float)c2;
    }
    PRISM_TRY(prism_tensor_upload(sel->bounds, hb, rows * 2));
cleanup:
    free(hb);
    if (st) prism_selector_destroy(sel);
    else *out = sel;
    return st;
}

/* ---------------------------------------------------------------- op */

typedef struct select_args {
    prism_select_info info;
    uint64_t seed;
    const prism_tensor *score, *index;
} select_args;

static void select_ref(const void *p) {
    const select_args *a = p;
    prism_ref_select(&a->info, a->seed, prism_ref_data(a->score), prism_ref_data(a->index));
}

typedef struct sel_push {
    uint32_t base, n, rows, cols, stage, word, shift, seed_lo, seed_hi, nwords, nchunks, nsel, k[6];
} sel_push;

enum { M_INIT = 0, M_HIST = 1, M_RESOLVE = 2, M_MARK = 3, M_COUNT = 4, M_SCAN = 5, M_EMIT = 6 };

static prism_status dispatch(prism_stream *s, prism_selector *sel, const prism_tensor *score, prism_tensor *index,
                             uint32_t mode, const sel_push *p, int64_t chunk_off, int64_t chunk_n, uint64_t groups) {
    prism_context *ctx = sel->ctx;
    uint32_t ls = prism_local_size_1d(ctx);
    prism_kernel k = {.op = "select", .shader = "select", .nspec = 4, .spec = {ls, 1, 1, mode}, .groups = {groups, 1, 1},
                      .fault_binding = mode == M_EMIT ? 0 : -1, .nbind = 7};
    k.bind[0] = (prism_binding){index, 0, 0, mode == M_EMIT};
    k.bind[1] = (prism_binding){score, chunk_off, chunk_n, false};
    k.bind[2] = (prism_binding){sel->bounds, 0, 0, false};
    k.bind[3] = (prism_binding){sel->state, 0, 0, mode == M_INIT || mode == M_RESOLVE};
    k.bind[4] = (prism_binding){sel->hist, 0, 0, mode == M_HIST};
    k.bind[5] = (prism_binding){sel->bitmap, 0, 0, mode == M_MARK};
    k.bind[6] = (prism_binding){sel->counts, 0, 0, mode == M_COUNT || mode == M_SCAN};
    memcpy(k.push, p, sizeof *p);
    k.push_size = sizeof *p;
    return prism_record_kernel(s, &k);
}

/* One histogram or mark sweep over the whole matrix: a workgroup per row,
 * rows in chunks that fit one binding. */
static prism_status sweep(prism_stream *s, prism_selector *sel, const prism_tensor *score, prism_tensor *index,
                          uint32_t mode, sel_push *p) {
    int64_t rows = sel->info.rows, cols = sel->info.cols;
    int64_t chunk = prism_max_binding_elems(sel->ctx) / cols; /* >= 1: checked at create */
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        int64_t nr = PRISM_MIN(chunk, rows - r0);
        p->base = (uint32_t)r0;
        p->n = (uint32_t)nr;
        prism_status st = dispatch(s, sel, score, index, mode, p, r0 * cols, nr * cols, (uint64_t)nr);
        if (st) return st;
    }
    return PRISM_OK;
}

prism_status prism_select(prism_stream *s, prism_selector *sel, const prism_tensor *score, prism_tensor *index) {
    const char *op = "select";
    prism_status st = prism_op_begin(s, op);
    if (st) return st;
    prism_context *ctx = prism_stream_context(s);
    if (!sel) return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: selector is NULL", op);
    if (sel->ctx != ctx) return prism_set_error(ctx, PRISM_ERR_WRONG_CONTEXT, "%s: selector belongs to another context", op);
    if ((st = prism_check_tensor(s, op, "score", score))) return st;
    if ((st = prism_check_tensor(s, op, "index", index))) return st;
    const prism_select_info *in = &sel->info;
    char ss[64], si[64];
    prism_tensor_shape_str(score, ss, sizeof ss);
    prism_tensor_shape_str(index, si, sizeof si);
    if (score->ndim != 2 || score->shape[0] != in->rows || score->shape[1] != in->cols)
        return prism_set_error(ctx, PRISM_ERR_SHAPE, "%s: score %s, the selector is for [%lld, %lld]", op, ss,
                               (long long)in->rows, (long long)in->cols);
    if (index->ndim != 2 || index->shape[0] != in->n_selected || index->shape[1] != 2)
        return prism_set_error(ctx, PRISM_ERR_SHAPE, "%s: index %s, expected [%lld, 2] (score %s)", op, si,
                               (long long)in->n_selected, ss);
    if (prism_op_overlap(score, index))
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: index %s overlaps score %s", op, si, ss);

    if (prism_stream_is_reference(s)) {
        select_args a = {*in, sel->cfg.seed, score, index};
        const prism_tensor *ts[2] = {score, index};
        return prism_ref_enqueue(s, op, select_ref, &a, sizeof a, ts, 2);
    }

    sel_push p = {.rows = (uint32_t)in->rows, .cols = (uint32_t)in->cols, .seed_lo = (uint32_t)sel->cfg.seed,
                  .seed_hi = (uint32_t)(sel->cfg.seed >> 32), .nwords = (uint32_t)sel->nwords,
                  .nchunks = (uint32_t)sel->nchunks, .nsel = (uint32_t)in->n_selected};
    for (int b = 0; b < PRISM_NBANDS; b++) {
        p.k[b] = (uint32_t)in->n_energy[b];
        p.k[3 + b] = (uint32_t)in->n_random[b];
    }
    uint32_t ls = prism_local_size_1d(ctx);
    int64_t first = PRISM_MIN(score->numel, prism_max_binding_elems(ctx));
    if ((st = dispatch(s, sel, score, index, M_INIT, &p, 0, first, 1))) return st;
    if ((st = prism_record_fill(s, op, sel->bitmap, 0, sel->nwords, 0))) return st;
    for (uint32_t stage = 0; stage < 2; stage++) {
        p.stage = stage;
        int nw = stage == 0 ? 2 : 3;
        for (int w = 0; w < nw; w++)
            for (int sh = 24; sh >= 0; sh -= 8) {
                p.word = (uint32_t)w;
                p.shift = (uint32_t)sh;
                if ((st = prism_record_fill(s, op, sel->hist, 0, SEL_HIST, 0))) return st;
                if ((st = sweep(s, sel, score, index, M_HIST, &p))) return st;
                if ((st = dispatch(s, sel, score, index, M_RESOLVE, &p, 0, first, 1))) return st;
            }
        if ((st = sweep(s, sel, score, index, M_MARK, &p))) return st;
    }
    uint64_t cg = (uint64_t)PRISM_CEIL_DIV(sel->nchunks, ls);
    if ((st = dispatch(s, sel, score, index, M_COUNT, &p, 0, first, cg))) return st;
    if ((st = dispatch(s, sel, score, index, M_SCAN, &p, 0, first, 1))) return st;
    return dispatch(s, sel, score, index, M_EMIT, &p, 0, first, cg);
}
