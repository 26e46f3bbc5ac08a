/* float64 reference of the sDCTFT selection: plain sorts, obviously correct.
 *
 * Band membership is exact: with A = max(rows-1, 1), B = max(cols-1, 1)
 * (a dim of 1 has only index 0, so its term is 0 either way),
 *   rho <= 1/3  <=>  9 (u^2 B^2 + v^2 A^2) <= 2 A^2 B^2
 *   rho <= 2/3  <=>  9 (u^2 B^2 + v^2 A^2) <= 8 A^2 B^2
 * evaluated in 128-bit integers (dims < 2^24, so every term < 2^100). A
 * float64 evaluation of sqrt(...)/sqrt(2) can land on the wrong side of an
 * exact boundary (u/(rows-1) = v/(cols-1) = 1/3 gives rho = 1/3 exactly). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "select.h"
#include "rng.h"

typedef unsigned __int128 u128;

/* 1 when 9 (a^2 + b^2) <= num, a = u/A, b = v/B: num 2 is rho <= 1/3, num 8 is rho <= 2/3 */
static int rho_le(int64_t rows, int64_t cols, int64_t u, int64_t v, unsigned num) {
    u128 A = (u128)(rows > 1 ? rows - 1 : 1), B = (u128)(cols > 1 ? cols - 1 : 1);
    u128 lhs = 9 * ((u128)u * (u128)u * B * B + (u128)v * (u128)v * A * A);
    return lhs <= (u128)num * A * A * B * B;
}

int prism_select_band(int64_t rows, int64_t cols, int64_t u, int64_t v) {
    if (rho_le(rows, cols, u, v, 2)) return PRISM_BAND_LOW;
    if (rho_le(rows, cols, u, v, 8)) return PRISM_BAND_MID;
    return PRISM_BAND_HIGH;
}

/* First v in [0, cols] where the (monotone) predicate fails. */
static int64_t first_fail(int64_t rows, int64_t cols, int64_t u, unsigned num) {
    int64_t lo = 0, hi = cols;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (rho_le(rows, cols, u, mid, num)) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

void prism_select_row_bounds(int64_t rows, int64_t cols, int64_t u, int64_t *c1, int64_t *c2) {
    *c1 = first_fail(rows, cols, u, 2);
    *c2 = first_fail(rows, cols, u, 8);
}

uint64_t prism_select_key(uint64_t seed, uint64_t flat) {
    uint32_t w[4];
    prism_rng_block(seed, flat, w);
    return ((uint64_t)w[0] << 32) | w[1];
}

typedef struct mag_item { int nan; double mag; int64_t idx; } mag_item;
typedef struct key_item { uint64_t key; int64_t idx; } key_item;

/* Largest |score| first (NaN above everything), then lower flat index. */
static int cmp_mag(const void *pa, const void *pb) {
    const mag_item *a = pa, *b = pb;
    if (a->nan != b->nan) return a->nan ? -1 : 1;
    if (!a->nan && a->mag != b->mag) return a->mag > b->mag ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}
/* Smallest key first, then lower flat index. */
static int cmp_key(const void *pa, const void *pb) {
    const key_item *a = pa, *b = pb;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

int prism_ref_select(const prism_select_info *info, uint64_t seed, const double *score, double *out) {
    int64_t rows = info->rows, cols = info->cols, total = rows * cols;
    unsigned char *picked = calloc((size_t)total, 1);
    mag_item *mi = NULL;
    key_item *ki = NULL;
    int rc = -1;
    if (!picked) goto done;
    for (int b = 0; b < PRISM_NBANDS; b++) {
        int64_t n = info->band_size[b], k = 0;
        if (info->budget[b] == 0) continue;
        free(mi);
        free(ki);
        mi = malloc((size_t)n * sizeof *mi);
        ki = malloc((size_t)n * sizeof *ki);
        if (!mi || !ki) goto done;
        for (int64_t f = 0; f < total; f++)
            if (prism_select_band(rows, cols, f / cols, f % cols) == b) {
                double s = score[f];
                mi[k++] = (mag_item){isnan(s), fabs(s), f};
            }
        qsort(mi, (size_t)n, sizeof *mi, cmp_mag);
        for (int64_t i = 0; i < info->n_energy[b]; i++) picked[mi[i].idx] = 1;
        /* the random fill draws from the band's entries the energy pick left */
        int64_t m = 0;
        for (int64_t i = info->n_energy[b]; i < n; i++)
            ki[m++] = (key_item){prism_select_key(seed, (uint64_t)mi[i].idx), mi[i].idx};
        qsort(ki, (size_t)m, sizeof *ki, cmp_key);
        for (int64_t i = 0; i < info->n_random[b]; i++) picked[ki[i].idx] = 1;
    }
    int64_t pos = 0;
    for (int64_t f = 0; f < total && pos < info->n_selected; f++)
        if (picked[f]) {
            out[2 * pos] = (double)(f / cols);
            out[2 * pos + 1] = (double)(f % cols);
            pos++;
        }
    rc = pos == info->n_selected ? 0 : -1;
done:
    if (rc != 0)
        for (int64_t i = 0; i < 2 * info->n_selected; i++) out[i] = -1;
    free(picked);
    free(mi);
    free(ki);
    return rc;
}
