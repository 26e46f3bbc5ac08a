/* Bench row: sDCTFT selection (select) on a 4096 x 4096 score matrix with
 * 700 coefficients (quick mode: 512 x 512). The floor is one read of the
 * scores at copy bandwidth; radix select reads them (and evaluates Philox
 * for the random fill) once per 8-bit digit until every band is resolved —
 * typically 4 energy passes and 4 random passes — so the ratio to one read
 * says how many effective passes it cost. Runs once per adapter at create
 * time, so it is not on the training path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"
#include "prism/spectral.h"

typedef struct sel_bench {
    prism_selector *sel;
    prism_tensor *score, *index;
} sel_bench;

static prism_status rec_select(prism_stream *s, void *arg) {
    sel_bench *b = arg;
    return prism_select(s, b->sel, b->score, b->index);
}

static int bench_select(pb_env *env, pb_row *rows, int cap) {
    if (cap < 1) return 0;
    int64_t n = env->quick ? 512 : 4096, shape[2] = {n, n};
    prism_select_config cfg = {700, 0.7, 0};
    sel_bench b = {0};
    float *h = malloc(sizeof(float) * (size_t)(n * n));
    int added = -1;
    if (!h) goto done;
    /* energy decaying away from the DC corner, like a DCT of a weight */
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int64_t i = 0; i < n * n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        h[i] = ((float)((double)(x >> 11) / 9007199254740992.0) - 0.5f) / (float)(1 + i / n + i % n);
    }
    if (prism_selector_create(env->ctx, n, n, &cfg, &b.sel) || prism_tensor_create(env->ctx, 2, shape, &b.score) ||
        prism_tensor_upload(b.score, h, n * n))
        goto done;
    int64_t is[2] = {prism_selector_info(b.sel)->n_selected, 2};
    if (prism_tensor_create(env->ctx, 2, is, &b.index)) goto done;
    pb_env e = *env;
    e.reps = 1; /* ~65 dispatches per instance */
    e.runs = env->quick ? 2 : 3;
    pb_row *r = &rows[0];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "select (sDCTFT bands)");
    snprintf(r->shape, sizeof r->shape, "[%lld, %lld] n_coef 700", (long long)n, (long long)n);
    r->ms = pb_time(&e, rec_select, &b);
    if (r->ms > 0) {
        pb_set_bw(env, r, 4.0 * (double)(n * n));
        snprintf(r->ratio_to, sizeof r->ratio_to, "one score read");
        r->ratio = r->ms > 0 && r->gbs > 0 ? env->copy_gbs / r->gbs : 0;
        snprintf(r->note, sizeof r->note, "radix select, 8-bit digits; ratio = time / one read at copy bw");
        added = 1;
    }
done:
    free(h);
    prism_selector_destroy(b.sel);
    prism_tensor_destroy(b.score);
    prism_tensor_destroy(b.index);
    return added;
}

const pb_bench pb_benches_select[] = {{"select", "select", bench_select}};
const int pb_nbenches_select = 1;
