/* Row helpers shared by the transform benches (transform_util.h). */
#include <stdio.h>
#include <string.h>
#include "transform_util.h"

/* Instances per stream for an op that took t ms once. */
static int calibrated_reps(const pb_env *env, double t) {
    double reps = (env->quick ? 250.0 : 1000.0) / t;
    return reps < 2 ? 2 : reps > env->reps ? env->reps : (int)reps;
}

double pbt_timed(pb_env *env, pb_record_fn rec, void *arg) {
    pb_env e = *env;
    e.reps = 1, e.runs = 2;
    double t = pb_time(&e, rec, arg);
    if (t <= 0) return t;
    e.reps = calibrated_reps(env, t);
    e.runs = env->runs;
    return pb_time(&e, rec, arg);
}

static double vkfft_timed(pb_env *env, prism_vkfft_kind kind, int64_t r, int64_t c, char *err, size_t len) {
    double t = prism_vkfft_time(env->ctx, kind, r, c, 1, 2, err, len);
    if (t <= 0) return t;
    return prism_vkfft_time(env->ctx, kind, r, c, calibrated_reps(env, t), env->runs, err, len);
}

int pbt_rows(pb_env *env, pb_row *rows, const pbt_pair *p) {
    double ms = pbt_timed(env, p->rec, p->job);
    if (ms <= 0) return -1;
    p->fill(env, &rows[0], p->name, p->job, ms);
    snprintf(rows[0].note, sizeof rows[0].note, "%s path%s",
             prism_fft_plan_algo(p->plan) == PRISM_TRANSFORM_FFT ? "FFT" : "matrix", p->note ? p->note : "");
    if (!p->peer_name || !prism_vkfft_time) return 1;
    char err[256] = "";
    double vms = vkfft_timed(env, p->peer, p->r, p->c, err, sizeof err);
    if (vms > 0) {
        p->fill(env, &rows[1], p->peer_name, p->job, vms);
        snprintf(rows[1].note, sizeof rows[1].note, "VkFFT %d %s, same device and run",
                 prism_vkfft_version ? prism_vkfft_version() : 0, p->peer_note);
        rows[0].ratio = vms / ms;
        snprintf(rows[0].ratio_to, sizeof rows[0].ratio_to, "VkFFT time / prism time");
    } else {
        memset(&rows[1], 0, sizeof rows[1]);
        snprintf(rows[1].name, sizeof rows[1].name, "VkFFT peer failed");
        snprintf(rows[1].note, sizeof rows[1].note, "%.95s", err);
    }
    return 2;
}
