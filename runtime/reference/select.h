/* float64 reference of the sDCTFT band selection (shaders/select.comp) and
 * the host-side plan both backends share. */
#ifndef PRISM_REF_SELECT_H
#define PRISM_REF_SELECT_H
#include <stdint.h>
#include "prism/spectral.h"

/* Per row u the band boundaries in v: low is v < c1[u], mid c1[u] <= v < c2[u],
 * high v >= c2[u] (rho grows with v, so each band is one run per row). */
void prism_select_row_bounds(int64_t rows, int64_t cols, int64_t u, int64_t *c1, int64_t *c2);

/* The selection of score [rows, cols] (ranked by |score|) under `info` (from
 * prism_select_plan) and `seed`: writes info->n_selected (row, col) pairs,
 * ascending by flat index, into out[2 * n_selected]. Returns 0, or -1 when
 * out of host memory (out is then filled with -1). */
int prism_ref_select(const prism_select_info *info, uint64_t seed, const double *score, double *out);

#endif
