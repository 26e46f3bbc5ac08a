/* float64 reference: xpeft ops and multi-profile ops. Obviously-correct
 * loops; the top-k is a rank count (O(n^2)), the same rule as the shader. */
#include <math.h>
#include <stddef.h>
#include "xpeft.h"

static int row_finite(const double *s, int64_t n) {
    for (int64_t j = 0; j < n; j++)
        if (!isfinite(s[j])) return 0;
    return 1;
}

void prism_ref_xpeft_mask(double *w, const double *s, int64_t rows, int64_t n, int hard, int64_t k) {
    for (int64_t r = 0; r < rows; r++) {
        const double *x = s + r * n;
        double *y = w + r * n;
        if (!row_finite(x, n)) {
            for (int64_t i = 0; i < n; i++) y[i] = NAN;
            continue;
        }
        if (hard) {
            for (int64_t i = 0; i < n; i++) {
                int64_t rank = 0;
                for (int64_t j = 0; j < n; j++) rank += x[j] > x[i] || (x[j] == x[i] && j < i);
                y[i] = rank < k ? 1.0 / (double)k : 0.0;
            }
        } else {
            double m = x[0], sum = 0;
            for (int64_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
            for (int64_t i = 0; i < n; i++) sum += exp(x[i] - m);
            for (int64_t i = 0; i < n; i++) y[i] = exp(x[i] - m) / sum;
        }
    }
}

void prism_ref_xpeft_mask_backward(double *ds, const double *w, const double *dw, int64_t rows, int64_t n, int hard,
                                   int accumulate) {
    for (int64_t r = 0; r < rows; r++) {
        const double *wr = w + r * n, *g = dw + r * n;
        double dot = 0;
        for (int64_t i = 0; !hard && i < n; i++) dot += wr[i] * g[i];
        for (int64_t i = 0; i < n; i++) {
            double v = hard ? g[i] : wr[i] * (g[i] - dot);
            ds[r * n + i] = accumulate ? ds[r * n + i] + v : v;
        }
    }
}

void prism_ref_xpeft_bank_sum(double *out, const double *w, const double *bank, int64_t P, int64_t N, int64_t D) {
    for (int64_t p = 0; p < P; p++)
        for (int64_t j = 0; j < D; j++) {
            double s = 0;
            for (int64_t i = 0; i < N; i++) s += w[p * N + i] * bank[i * D + j];
            out[p * D + j] = s;
        }
}

void prism_ref_xpeft_bank_grad(double *dw, const double *d_eff, const double *bank, int64_t P, int64_t N, int64_t D,
                               int accumulate) {
    for (int64_t p = 0; p < P; p++)
        for (int64_t i = 0; i < N; i++) {
            double s = 0;
            for (int64_t j = 0; j < D; j++) s += d_eff[p * D + j] * bank[i * D + j];
            dw[p * N + i] = accumulate ? dw[p * N + i] + s : s;
        }
}

int64_t prism_ref_profile_id(double id, int64_t P) {
    if (!(id >= 0.0) || !(id < (double)P) || id != floor(id)) return -1;
    return (int64_t)id;
}

void prism_ref_multi_matvec(double *y, const double *M, const double *x, const double *ids, const double *bias,
                            int64_t T, int64_t R, int64_t C, int64_t P, int accumulate) {
    for (int64_t t = 0; t < T; t++) {
        int64_t p = prism_ref_profile_id(ids[t], P);
        for (int64_t i = 0; i < R; i++) {
            if (p < 0) {
                y[t * R + i] = NAN;
                continue;
            }
            double s = 0;
            for (int64_t j = 0; j < C; j++) s += x[t * C + j] * M[(p * C + j) * R + i];
            if (accumulate) s += y[t * R + i];
            if (bias) s += bias[i];
            y[t * R + i] = s;
        }
    }
}

void prism_ref_multi_reflect(double *y, const double *x, const double *ids, const double *u, const double *v,
                             const double *bias, int64_t T, int64_t d, int64_t nb, int64_t P) {
    int64_t bw = d / nb;
    for (int64_t t = 0; t < T; t++) {
        int64_t p = prism_ref_profile_id(ids[t], P);
        for (int64_t b = 0; b < nb; b++) {
            const double *xb = x + t * d + b * bw;
            double *yb = y + t * d + b * bw;
            if (p < 0) {
                for (int64_t j = 0; j < bw; j++) yb[j] = NAN;
                continue;
            }
            const double *ub = u + p * d + b * bw, *vb = v ? v + p * d + b * bw : NULL;
            double du = 0, dv = 0;
            for (int64_t j = 0; j < bw; j++) {
                du += ub[j] * xb[j];
                if (vb) dv += vb[j] * xb[j];
            }
            for (int64_t j = 0; j < bw; j++) {
                double o = xb[j] + (vb ? -du * ub[j] + dv * vb[j] : -2.0 * du * ub[j]);
                yb[j] = o + (bias ? bias[b * bw + j] : 0.0);
            }
        }
    }
}
