/* Benchmark rows shared by `prism bench` and bench programs.
 * Each family has one file bench/bench_<family>.c defining
 *     const pb_bench pb_benches_<family>[]; const int pb_nbenches_<family>;
 * Timing method (docs/ARCHITECTURE.md): an op is recorded `reps` times into
 * one stream on a profiling context (per-op timestamps), the stream is run
 * several times, and the median per-op time is reported together with the
 * ratio to the device's vkCmdCopyBuffer bandwidth measured in the same run. */
#ifndef PRISM_BENCH_H
#define PRISM_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include "prism/prism.h"

typedef struct pb_env {
    prism_context *ctx;    /* created with profile = 1 */
    double copy_gbs;       /* vkCmdCopyBuffer GB/s measured first in this run */
    int reps;              /* op instances per stream */
    int runs;              /* stream runs (median over all instances of all runs) */
    bool quick;            /* smaller shapes (for tests and slow devices) */
} pb_env;

typedef struct pb_row {
    char name[48];         /* op / configuration */
    char shape[64];
    double ms;             /* median per op instance */
    double gflops;         /* 0 when not meaningful */
    double gbs;            /* minimum bytes moved / time; 0 when not meaningful */
    double ratio;          /* the row's headline ratio (see ratio_to) */
    char ratio_to[48];     /* e.g. "copy bw", "frozen layer" */
    char note[96];
} pb_row;

/* Records one op instance into s. */
typedef prism_status (*pb_record_fn)(prism_stream *s, void *arg);
/* Median ms per instance of `rec` (which may record several dispatches);
 * negative on failure (message in the context). */
double pb_time(pb_env *env, pb_record_fn rec, void *arg);
/* Median host wall ms of submit+wait of a stream holding `ndispatch` tiny
 * dispatches (ndispatch 0: an empty stream). */
double pb_wall_submit(pb_env *env, int ndispatch);

/* Adds rows to `rows` (capacity `cap`), returns how many were added (< 0 on error). */
typedef int (*pb_fn)(pb_env *env, pb_row *rows, int cap);
typedef struct pb_bench { const char *family; const char *name; pb_fn fn; } pb_bench;

int pb_all_benches(const pb_bench **benches);
/* Fill `row` bandwidth ratio: gbs / env->copy_gbs. */
void pb_set_bw(pb_env *env, pb_row *row, double bytes);

#endif
