/* float64 reference: optimizer steps. Plain loops, the formulas of prism.h. */
#include <math.h>
#include "prism/prism.h"
#include "optim.h"

void prism_ref_optim_tick(double *state, double beta1, double beta2) {
    double t = state[PRISM_OPT_STEP] + 1;
    state[PRISM_OPT_STEP] = t;
    state[PRISM_OPT_BC1] = 1 - pow(beta1, t);
    state[PRISM_OPT_BC2] = 1 - pow(beta2, t);
}

void prism_ref_adamw(const double *state, double beta1, double beta2, double eps, double wd, double *p,
                     const double *g, double *m, double *v, int64_t n) {
    double lr = state[PRISM_OPT_LR], bc1 = state[PRISM_OPT_BC1], bc2 = state[PRISM_OPT_BC2];
    double clip = state[PRISM_OPT_CLIP];
    for (int64_t i = 0; i < n; i++) {
        double gi = g[i] * clip;
        m[i] = beta1 * m[i] + (1 - beta1) * gi;
        v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
        p[i] -= lr * (wd * p[i] + (m[i] / bc1) / (sqrt(v[i] / bc2) + eps));
    }
}

void prism_ref_sgd(const double *state, double momentum, double wd, double *p, const double *g, double *buf,
                   int64_t n) {
    double lr = state[PRISM_OPT_LR], clip = state[PRISM_OPT_CLIP];
    for (int64_t i = 0; i < n; i++) {
        double gi = g[i] * clip + wd * p[i];
        if (buf) gi = buf[i] = momentum * buf[i] + gi;
        p[i] -= lr * gi;
    }
}

void prism_ref_clip_accumulate(double *state, const double *g, int64_t n, int first, int last, double max_norm) {
    double s = first ? 0 : state[PRISM_OPT_SUMSQ];
    for (int64_t i = 0; i < n; i++) s += g[i] * g[i];
    state[PRISM_OPT_SUMSQ] = s;
    if (last) {
        double norm = sqrt(s);
        state[PRISM_OPT_NORM] = norm;
        state[PRISM_OPT_CLIP] = fmin(1.0, max_norm / (norm + 1e-6));
    }
}
