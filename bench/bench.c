/* Benchmark timing and the registry of bench families.
 *
 * pb_time: the op is recorded env->reps times into one stream on a profiling
 * context (which serialises ops and writes a timestamp pair around each
 * dispatch/transfer). prism_stream_op_count before and after each recording
 * tells which profile entries belong to which instance; an instance's time is
 * the sum of its entries. The stream runs env->runs times; the first run is a
 * warm-up (page faults, lazy allocations) and is dropped unless it is the only
 * one. The result is the median over every instance of every kept run.
 *
 * pb_wall_submit: host CLOCK_MONOTONIC around submit+wait, on a context of the
 * same device without profiling (no forced barriers, no query readback), so
 * the figure is what an application pays per submission. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench.h"
#include "internal.h"

/* Families link in as they exist (weak: a family not built yet is skipped).
 * core comes first: it measures the copy bandwidth the other rows compare to. */
#define PB_FAMILIES(X) X(core) X(basic) X(reduce) X(transpose) X(gemm) X(loss) X(optim) X(rng) X(reflect) X(hadamard) \
    X(adapter) X(dct) X(fft) X(select) X(spectral) X(xpeft) X(subspace)
#define PB_DECLARE(f)                                           \
    extern const pb_bench pb_benches_##f[] __attribute__((weak)); \
    extern const int pb_nbenches_##f __attribute__((weak));
PB_FAMILIES(PB_DECLARE)

static pb_bench *all;
static int nall = -1;

int pb_all_benches(const pb_bench **benches) {
    if (nall < 0) {
        int n = 0;
#define PB_COUNT(f) if (pb_benches_##f && &pb_nbenches_##f) n += pb_nbenches_##f;
        PB_FAMILIES(PB_COUNT)
        all = calloc((size_t)(n ? n : 1), sizeof *all);
        if (!all) {
            *benches = NULL;
            return 0;
        }
        nall = 0;
#define PB_COLLECT(f)                                                                  \
    if (pb_benches_##f && &pb_nbenches_##f)                                            \
        for (int i = 0; i < pb_nbenches_##f; i++) all[nall++] = pb_benches_##f[i];
        PB_FAMILIES(PB_COLLECT)
    }
    *benches = all;
    return nall;
}

void pb_set_bw(pb_env *env, pb_row *row, double bytes) {
    row->gbs = row->ms > 0 ? bytes / (row->ms * 1e-3) / 1e9 : 0;
    if (env->copy_gbs > 0 && row->gbs > 0) {
        row->ratio = row->gbs / env->copy_gbs;
        snprintf(row->ratio_to, sizeof row->ratio_to, "copy bw");
    }
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    if (n <= 0) return -1;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double pb_time(pb_env *env, pb_record_fn rec, void *arg) {
    prism_context *ctx = env->ctx;
    int reps = env->reps > 0 ? env->reps : 1, runs = env->runs > 0 ? env->runs : 1;
    prism_stream *s = NULL;
    int *start = malloc(sizeof(int) * (size_t)(reps + 1));
    double *samples = malloc(sizeof(double) * (size_t)reps * (size_t)runs);
    double result = -1;
    int nsamples = 0;
    if (!start || !samples) {
        prism_set_error(ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "bench: out of host memory");
        goto done;
    }
    if (prism_stream_create(ctx, &s) != PRISM_OK) goto done;
    for (int i = 0; i < reps; i++) {
        start[i] = prism_stream_op_count(s);
        if (rec(s, arg) != PRISM_OK) goto done;
    }
    start[reps] = prism_stream_op_count(s);
    if (start[reps] == start[0]) {
        prism_set_error(ctx, PRISM_ERR_STATE, "bench: the op recorded no work");
        goto done;
    }
    for (int r = 0; r < runs; r++) {
        double t0 = now_ms();
        if (prism_stream_run(s) != PRISM_OK) goto done;
        double wall = now_ms() - t0;
        bool keep = r > 0 || runs == 1;
        const prism_profile_entry *e = NULL;
        int ne = 0;
        if (prism_stream_profile(s, &e, &ne) != PRISM_OK) {
            /* no timestamps (profiling off or unsupported): host wall per instance */
            prism_clear_error(ctx);
            if (keep) samples[nsamples++] = wall / reps;
            continue;
        }
        for (int i = 0; i < reps && start[i + 1] <= ne; i++) {
            double t = 0;
            for (int j = start[i]; j < start[i + 1]; j++) t += e[j].ms;
            if (keep) samples[nsamples++] = t;
        }
        if (start[1] > ne) {
            prism_set_error(ctx, PRISM_ERR_STATE,
                            "bench: one instance records %d ops, more than the %d the profiler keeps per stream",
                            start[1] - start[0], ne);
            goto done;
        }
    }
    result = median(samples, nsamples);
done:
    prism_stream_destroy(s);
    free(start);
    free(samples);
    return result;
}

/* A context on the same device as env->ctx with profiling off; NULL when it
 * cannot be opened (the caller then uses env->ctx). */
static prism_context *plain_context(pb_env *env) {
    const prism_caps *want = prism_context_caps(env->ctx);
    prism_caps caps[16];
    int n = 0;
    char err[256];
    if (prism_enumerate_devices(caps, 16, &n, err, sizeof err) != PRISM_OK) return NULL;
    for (int i = 0; i < n && i < 16; i++) {
        if (memcmp(caps[i].device_uuid, want->device_uuid, 16) != 0) continue;
        char idx[16];
        snprintf(idx, sizeof idx, "%d", i);
        prism_context_options o = prism_context_options_default();
        o.device = idx;
        o.profile = 0;
        prism_context *c = NULL;
        if (prism_context_create(&o, &c, err, sizeof err) == PRISM_OK) return c;
        return NULL;
    }
    return NULL;
}

double pb_wall_submit(pb_env *env, int ndispatch) {
    prism_context *plain = plain_context(env);
    prism_context *ctx = plain ? plain : env->ctx;
    prism_tensor **t = calloc((size_t)(ndispatch > 0 ? ndispatch : 1), sizeof *t);
    prism_stream *s = NULL;
    enum { MAX_ITERS = 2000, MIN_ITERS = 15 };
    double *samples = malloc(sizeof(double) * MAX_ITERS);
    double result = -1;
    int nsamples = 0;
    if (!t || !samples) {
        prism_set_error(env->ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "bench: out of host memory");
        goto done;
    }
    int64_t one = 1;
    for (int i = 0; i < ndispatch; i++)
        if (prism_tensor_create(ctx, 1, &one, &t[i]) != PRISM_OK) goto fail;
    if (prism_stream_create(ctx, &s) != PRISM_OK) goto fail;
    for (int i = 0; i < ndispatch; i++)
        if (prism_fill(s, t[i], (float)i) != PRISM_OK) goto fail;
    for (int w = 0; w < 3; w++)
        if (prism_stream_run(s) != PRISM_OK) goto fail;
    /* many submissions, time-boxed */
    double budget = env->quick ? 150 : 500, begin = now_ms();
    while (nsamples < MAX_ITERS && (nsamples < MIN_ITERS || now_ms() - begin < budget)) {
        double t0 = now_ms();
        if (prism_stream_submit(s) != PRISM_OK || prism_stream_wait(s) != PRISM_OK) goto fail;
        samples[nsamples++] = now_ms() - t0;
    }
    result = median(samples, nsamples);
    goto done;
fail:
    if (ctx != env->ctx) /* report the failure where the caller looks */
        prism_set_error(env->ctx, prism_last_status(ctx), "%s", prism_error_message(ctx));
done:
    prism_stream_destroy(s);
    for (int i = 0; t && i < ndispatch; i++) prism_tensor_destroy(t[i]);
    free(t);
    free(samples);
    prism_context_destroy(plain);
    return result;
}
