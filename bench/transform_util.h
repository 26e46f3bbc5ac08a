/* Row helpers shared by the transform benches (bench/bench_dct.c,
 * bench/bench_fft.c): calibrated timing, and one prism row followed by its
 * VkFFT peer row (bench/vkfft/, optional) on the same device in the same run. */
#ifndef PRISM_BENCH_TRANSFORM_UTIL_H
#define PRISM_BENCH_TRANSFORM_UTIL_H

#include "bench.h"
#include "prism/dct.h"
#include "vkfft/vkfft_peer.h"

/* pb_time with the instances per stream cut (from a one-instance run) so a
 * timed run takes about a second (a quarter of one in quick mode). */
double pbt_timed(pb_env *env, pb_record_fn rec, void *arg);

/* Fills `row` (name, shape, ms, GFLOP/s, bandwidth) for `job` timed at ms. */
typedef void (*pbt_fill_fn)(pb_env *env, pb_row *row, const char *name, const void *job, double ms);

/* What pbt_rows times: prism's op (rec on job, whose plan names the path in
 * the note), and when peer_name is non-NULL VkFFT's `peer` on [r, c]. */
typedef struct pbt_pair {
    const char *name, *note;     /* prism row; note follows "<FFT|matrix> path" */
    pb_record_fn rec;
    void *job;
    const prism_fft_plan *plan;
    pbt_fill_fn fill;
    const char *peer_name;       /* NULL: no peer row */
    const char *peer_note;       /* follows "VkFFT <version> " */
    prism_vkfft_kind peer;
    int64_t r, c;
} pbt_pair;

/* rows[0] = prism, rows[1] = the peer (or why it failed) when peer_name is
 * set and the peer is built; rows[0].ratio is then VkFFT time / prism time.
 * Returns the rows added, -1 when prism's timing failed; cap >= 2. */
int pbt_rows(pb_env *env, pb_row *rows, const pbt_pair *p);

#endif
