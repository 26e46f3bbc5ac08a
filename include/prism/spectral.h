/* prism spectral ops: torch's CPU randperm (FourierFT entries), the sDCTFT
 * band selection (`select`) and the sparse-coefficient ops (`spectral`) that
 * let sDCTFT and FourierFT train in activation space without forming ΔW.
 * docs/spectral.md has the design, the exact selection rule and the layouts.
 *
 * Index convention: an entry of an [rows, cols] spectrum is the pair
 * (row, col); its flat index is row * cols + col. Device tensors hold indices
 * as exact float values, so rows and cols are limited to < 2^24 (and the flat
 * index to < 2^32 on a device). */
#ifndef PRISM_SPECTRAL_H
#define PRISM_SPECTRAL_H

#include "prism/prism.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ randperm
 * The first k values of torch.randperm(n, generator=torch.Generator()
 * .manual_seed(seed)) on the CPU, bit-exact (MT19937 init_genrand(seed & 0xffffffff);
 * for n < 214748364 a forward Fisher-Yates with z = next_u32() % (n - i);
 * beyond, torch's inside-out shuffle driven by random64(), which is NOT
 * verified against torch). The forward branch costs O(k) time and memory; the
 * inside-out branch needs n 32-bit words. */
prism_status prism_randperm_torch(int64_t n, uint64_t seed, int64_t k, int64_t *out);

/* ------------------------------------------------------------------ select
 * sDCTFT selection (METHODS.md "Decisions for prism"): entries of an
 * [rows, cols] score matrix are split into three radial bands by
 *   rho(u, v) = sqrt((u/(rows-1))^2 + (v/(cols-1))^2) / sqrt(2)
 * (a term is 0 when its dim is 1): low rho <= 1/3, mid <= 2/3, high above;
 * membership is decided exactly in integer arithmetic. Budgets: n_b =
 * floor(n_coef/3) for low and mid, the rest for high; a band smaller than its
 * budget takes all of its entries and passes the surplus on (low -> mid ->
 * high; the high band's surplus is not placed). In a band with budget B:
 * the top floor(delta B + 1e-9) entries by |score| (NaN above everything,
 * ties -> lower flat index), then the B - that many remaining entries with
 * the smallest random keys, key(flat) = the 64-bit value w0 * 2^32 + w1 of
 * (w0, w1, w2, w3) = Philox4x32-10(counter = (flat, 0, 0, 0),
 * key = (seed lo, seed hi)) (ties -> lower flat index). The output is sorted
 * ascending by flat index. */
typedef struct prism_select_config {
    int64_t n_coef;   /* total budget, 1..rows*cols */
    double delta;     /* energy share of each band's budget, [0, 1] */
    uint64_t seed;    /* Philox key of the random fill */
} prism_select_config;

enum { PRISM_BAND_LOW = 0, PRISM_BAND_MID = 1, PRISM_BAND_HIGH = 2, PRISM_NBANDS = 3 };

typedef struct prism_select_info {
    int64_t rows, cols;
    int64_t band_size[PRISM_NBANDS]; /* entries in each band */
    int64_t budget[PRISM_NBANDS];    /* B after the remainder and the surplus passed on */
    int64_t n_energy[PRISM_NBANDS];  /* floor(delta B + 1e-9) */
    int64_t n_random[PRISM_NBANDS];  /* B - n_energy */
    int64_t n_selected;              /* sum of the budgets taken (< n_coef when high overflowed) */
    int64_t n_unplaced;              /* n_coef - n_selected */
} prism_select_info;

/* Pure host arithmetic: the band sizes and budgets for a shape. Errors:
 * PRISM_ERR_INVALID_ARGUMENT (NULL, n_coef < 1 or > rows*cols, delta outside
 * [0, 1], nothing placeable), PRISM_ERR_DIMS (rows or cols < 1 or >= 2^24). */
prism_status prism_select_plan(int64_t rows, int64_t cols, const prism_select_config *cfg,
                               prism_select_info *info);
/* Band of entry (u, v) of an [rows, cols] matrix (PRISM_BAND_*). */
int prism_select_band(int64_t rows, int64_t cols, int64_t u, int64_t v);
/* Random key of a flat index (the 64-bit value defined above). */
uint64_t prism_select_key(uint64_t seed, uint64_t flat);

/* A selector owns the plan and the device scratch (band table, counters,
 * bitmap) of one shape; reuse it for many matrices of that shape. */
typedef struct prism_selector prism_selector;
prism_status prism_selector_create(prism_context *ctx, int64_t rows, int64_t cols,
                                   const prism_select_config *cfg, prism_selector **out);
void prism_selector_destroy(prism_selector *sel);
const prism_select_info *prism_selector_info(const prism_selector *sel);
/* index [n_selected, 2] = (row, col) pairs of the selected entries of
 * score [rows, cols], ranked by |score|, sorted ascending by flat index.
 * Deterministic: the same set on every device and on the reference. Needs
 * rows * cols < 2^32 and the bitmap (rows*cols/32 words) within one binding. */
prism_status prism_select(prism_stream *s, prism_selector *sel, const prism_tensor *score,
                          prism_tensor *index);

/* ------------------------------------------------------------------ spectral
 * A fixed set of n distinct entries (r_l, c_l) of an [rows, cols] spectrum,
 * with per-entry weights w_l, uploaded once. Coefficient l belongs to entry l
 * (the caller's order: sDCTFT's ascending flat order, FourierFT's randperm
 * order). */
typedef struct prism_spectral_index prism_spectral_index;

/* rc: n pairs (row, col). weights: n values or NULL (all 1). Distinct, in
 * range; else PRISM_ERR_INVALID_ARGUMENT naming the entry. */
prism_status prism_spectral_index_create(prism_context *ctx, int64_t rows, int64_t cols, int64_t n,
                                         const int64_t *rc, const double *weights,
                                         prism_spectral_index **out);
void prism_spectral_index_destroy(prism_spectral_index *ix);
int64_t prism_spectral_index_count(const prism_spectral_index *ix);
int64_t prism_spectral_index_rows(const prism_spectral_index *ix);
int64_t prism_spectral_index_cols(const prism_spectral_index *ix);
/* The [n, 2] (row, col) tensor (exact floats). */
const prism_tensor *prism_spectral_index_pairs(const prism_spectral_index *ix);

/* Weight g_k of torch_dct's norm=None inverse relative to the orthonormal one
 * (METHODS.md §2.2): 1/(2 sqrt(L)) for k = 0, 1/sqrt(2L) otherwise. sDCTFT
 * with dct_norm none uses w_l = g_{r_l}(rows) g_{c_l}(cols). */
double prism_dct_none_weight(int64_t len, int64_t k);

typedef enum prism_spectral_domain {
    /* real spectra: [T, L] rows of orthonormal DCT-II coefficients */
    PRISM_SPECTRAL_DCT = 0,
    /* Hermitian half spectra: [T, L/2 + 1, 2] or [T, 2 (L/2 + 1)] (re, im)
     * interleaved, the rfft of real rows (prism_rfft along rows writes the
     * 2-D form); entry k > L/2 of the full spectrum is conj(half[L - k]) */
    PRISM_SPECTRAL_FOURIER = 1
} prism_spectral_domain;

/* alpha is a double so the reference backend computes with it exactly
 * (a scale such as 150/9 is not an fp32 value); devices round it to fp32. */

/* F [rows, cols] = 0 except F[r_l, c_l] = alpha w_l coef[l]. */
prism_status prism_spectral_scatter(prism_stream *s, const prism_spectral_index *ix,
                                    const prism_tensor *coef, double alpha, prism_tensor *F);

/* Per-token gather-multiply, deterministic (fixed summation order, no atomics).
 * DCT, transpose 0:  Z [T, rows] = beta Z + alpha sum_{l: r_l = u} w_l f_l Xh[t, c_l]   (Xh [T, cols])
 * DCT, transpose 1:  Z [T, cols] = beta Z + alpha sum_{l: c_l = v} w_l f_l Xh[t, r_l]   (Xh [T, rows])
 * FOURIER, transpose 0: Xh [T, cols/2+1, 2] is the rfft of real rows x_t; with
 *   z_t[j] = sum_{l: r_l = j} w_l f_l conj(x̂_t[c_l]) (full spectrum of x_t),
 *   Z [T, rows/2+1, 2] = beta Z + alpha H_t, where H_t[j] = (z_t[j] + conj(z_t[(rows-j) % rows]))/2
 *   is the half spectrum whose unnormalised inverse real DFT
 *   sum_{j<rows} H_t[j] e^{+2 pi i j p / rows} equals Re(sum_j z_t[j] e^{+2 pi i j p / rows}).
 * FOURIER, transpose 1: the same with rows and cols (r_l and c_l) swapped.
 * beta is 0 (Z overwritten, NaN-safe) or 1 (accumulate). */
prism_status prism_spectral_gather(prism_stream *s, const prism_spectral_index *ix,
                                   prism_spectral_domain dom, int transpose, const prism_tensor *coef,
                                   double alpha, const prism_tensor *Xh, float beta, prism_tensor *Z);

/* Coefficient gradients reduced over tokens (deterministic tree, no atomics):
 * DCT:     grad[l] = beta grad[l] + alpha w_l sum_t Gh[t, r_l] Xh[t, c_l]
 *          (Gh [T, rows], Xh [T, cols])
 * FOURIER: grad[l] = beta grad[l] + alpha w_l sum_t Re(ĝ_t[r_l] x̂_t[c_l])
 *          (Gh [T, rows/2+1, 2], Xh [T, cols/2+1, 2] half spectra)
 * beta is 0 or 1. */
prism_status prism_spectral_coef_grad(prism_stream *s, const prism_spectral_index *ix,
                                      prism_spectral_domain dom, double alpha, const prism_tensor *Gh,
                                      const prism_tensor *Xh, float beta, prism_tensor *grad);

/* ------------------------------------------------------------------ adapters
 * sDCTFT and FourierFT are methods of include/prism/adapter.h
 * (adapters/spectral.c); these report what an adapter of either trains. */
typedef struct prism_adapter prism_adapter;

/* The entries an sDCTFT or FourierFT adapter trains, as flat indices into W0
 * [m, n] (row = flat / n, col = flat % n), in coefficient order: sDCTFT
 * ascending (its saved sdctft_index), FourierFT the first n_frequency of
 * torch.randperm(m n) (HF order). *count gets their number; flat may be NULL
 * (query) or have room for *count values. Other methods:
 * PRISM_ERR_INVALID_ARGUMENT. */
prism_status prism_spectral_adapter_entries(const prism_adapter *ad, int64_t *count, int64_t *flat);
/* sDCTFT: the selection plan of its shape and config (band sizes, budgets;
 * n_unplaced > 0 when the high band could not take its share, so the
 * adapter holds fewer than n_coef coefficients). */
prism_status prism_sdctft_selection_info(const prism_adapter *ad, prism_select_info *info);

#ifdef __cplusplus
}
#endif
#endif /* PRISM_SPECTRAL_H */
