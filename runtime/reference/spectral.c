/* float64 reference of the sparse-coefficient ops. Written straight from the
 * formulas (METHODS.md §2.1 option B, §2.2), one coefficient at a time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "spectral.h"

void prism_ref_spectral_scatter(int64_t rows, int64_t cols, int64_t n, const double *rc, const double *w,
                                const double *f, double alpha, double *F) {
    memset(F, 0, sizeof(double) * (size_t)(rows * cols));
    for (int64_t l = 0; l < n; l++) {
        int64_t r = (int64_t)rc[2 * l], c = (int64_t)rc[2 * l + 1];
        F[r * cols + c] = alpha * w[l] * f[l];
    }
}

static void scale_out(double *Z, int64_t count, double beta) {
    if (beta == 0.0) memset(Z, 0, sizeof(double) * (size_t)count); /* NaN-safe overwrite */
    else
        for (int64_t i = 0; i < count; i++) Z[i] *= beta;
}

void prism_ref_spectral_gather_dct(int64_t rows, int64_t cols, int64_t n, const double *rc, const double *w,
                                   const double *f, double alpha, int transpose, int64_t T, const double *Xh,
                                   double beta, double *Z) {
    int64_t lz = transpose ? cols : rows, lx = transpose ? rows : cols;
    scale_out(Z, T * lz, beta);
    for (int64_t l = 0; l < n; l++) {
        int64_t a = (int64_t)rc[2 * l + (transpose ? 1 : 0)], b = (int64_t)rc[2 * l + (transpose ? 0 : 1)];
        double g = alpha * w[l] * f[l];
        for (int64_t t = 0; t < T; t++) Z[t * lz + a] += g * Xh[t * lx + b];
    }
}

/* Entry k of the full spectrum of length L from its half [L/2+1] (re, im). */
static void full_entry(const double *half, int64_t L, int64_t k, double *re, double *im) {
    if (k <= L / 2) {
        *re = half[2 * k];
        *im = half[2 * k + 1];
    } else {
        *re = half[2 * (L - k)];
        *im = -half[2 * (L - k) + 1];
    }
}

void prism_ref_spectral_gather_fourier(int64_t rows, int64_t cols, int64_t n, const double *rc, const double *w,
                                       const double *f, double alpha, int transpose, int64_t T, const double *Xh,
                                       double beta, double *Z) {
    int64_t lz = transpose ? cols : rows, lx = transpose ? rows : cols;
    int64_t hz = lz / 2 + 1, hx = lx / 2 + 1;
    /* z_t over the full output length, then folded: H[j] = (z[j] + conj(z[(L-j) % L])) / 2 */
    double *z = calloc((size_t)(2 * lz), sizeof(double));
    if (!z) { /* out of host memory: make the failure visible */
        for (int64_t i = 0; i < T * hz * 2; i++) Z[i] = NAN;
        return;
    }
    scale_out(Z, T * hz * 2, beta);
    for (int64_t t = 0; t < T; t++) {
        memset(z, 0, sizeof(double) * (size_t)(2 * lz));
        for (int64_t l = 0; l < n; l++) {
            int64_t a = (int64_t)rc[2 * l + (transpose ? 1 : 0)], b = (int64_t)rc[2 * l + (transpose ? 0 : 1)];
            double re, im;
            full_entry(Xh + t * hx * 2, lx, b, &re, &im);
            double g = w[l] * f[l];
            z[2 * a] += g * re;      /* g conj(x) */
            z[2 * a + 1] -= g * im;
        }
        for (int64_t j = 0; j < hz; j++) {
            int64_t m = (lz - j) % lz;
            Z[(t * hz + j) * 2] += alpha * 0.5 * (z[2 * j] + z[2 * m]);
            Z[(t * hz + j) * 2 + 1] += alpha * 0.5 * (z[2 * j + 1] - z[2 * m + 1]);
        }
    }
    free(z);
}

void prism_ref_spectral_coef_grad(int dom, int64_t rows, int64_t cols, int64_t n, const double *rc, const double *w,
                                  double alpha, int64_t T, const double *Gh, const double *Xh, double beta,
                                  double *grad) {
    for (int64_t l = 0; l < n; l++) {
        int64_t r = (int64_t)rc[2 * l], c = (int64_t)rc[2 * l + 1];
        double acc = 0;
        for (int64_t t = 0; t < T; t++) {
            if (dom == 0) {
                acc += Gh[t * rows + r] * Xh[t * cols + c];
            } else {
                double gr, gi, xr, xi;
                full_entry(Gh + t * (rows / 2 + 1) * 2, rows, r, &gr, &gi);
                full_entry(Xh + t * (cols / 2 + 1) * 2, cols, c, &xr, &xi);
                acc += gr * xr - gi * xi;
            }
        }
        grad[l] = (beta == 0.0 ? 0.0 : beta * grad[l]) + alpha * w[l] * acc;
    }
}
