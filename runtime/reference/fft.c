/* float64 reference: DFTs as direct sums, with the angle index i*k reduced
 * exactly mod n before cos/sin. */
#include <math.h>
#include <stdlib.h>
#include "fft.h"

static void root(int64_t i, int64_t k, int64_t n, double *c, double *s) {
    double a = 2.0 * M_PI * (double)((i % n) * (k % n) % n) / (double)n;
    *c = cos(a);
    *s = -sin(a);
}

/* Core: complex in (re, im arrays) -> complex out, k < nout. */
static void dft1(int inverse, int64_t n, const double *re, const double *im, int64_t nout, double *ore, double *oim) {
    for (int64_t k = 0; k < nout; k++) {
        double ar = 0, ai = 0;
        for (int64_t i = 0; i < n; i++) {
            double c, s;
            root(i, k, n, &c, &s);
            if (inverse) s = -s;
            ar += re[i] * c - im[i] * s;
            ai += re[i] * s + im[i] * c;
        }
        ore[k] = inverse ? ar / (double)n : ar;
        oim[k] = inverse ? ai / (double)n : ai;
    }
}

/* Buffers for one sequence; NULL on allocation failure (then y gets NaN). */
static double *bufs(int64_t n) { return malloc((size_t)n * 4 * sizeof(double)); }

static void fill_nan(int64_t nseq, int64_t nout, double *y, int64_t yss, int64_t yse, int cplx) {
    for (int64_t s = 0; s < nseq; s++)
        for (int64_t k = 0; k < nout; k++) {
            y[s * yss + k * yse] = NAN;
            if (cplx) y[s * yss + k * yse + 1] = NAN;
        }
}

void prism_ref_dft(int inverse, int64_t n, int64_t nseq, const double *x, int64_t xss, int64_t xse, int x_cplx,
                   double *y, int64_t yss, int64_t yse, int y_cplx) {
    double *b = bufs(n);
    if (!b) {
        fill_nan(nseq, n, y, yss, yse, y_cplx);
        return;
    }
    double *re = b, *im = b + n, *ore = b + 2 * n, *oim = b + 3 * n;
    for (int64_t s = 0; s < nseq; s++) {
        for (int64_t i = 0; i < n; i++) {
            re[i] = x[s * xss + i * xse];
            im[i] = x_cplx ? x[s * xss + i * xse + 1] : 0.0;
        }
        dft1(inverse, n, re, im, n, ore, oim);
        for (int64_t k = 0; k < n; k++) {
            y[s * yss + k * yse] = ore[k];
            if (y_cplx) y[s * yss + k * yse + 1] = oim[k];
        }
    }
    free(b);
}

void prism_ref_rfft(int64_t n, int64_t nseq, const double *x, int64_t xss, int64_t xse, double *y, int64_t yss,
                    int64_t yse) {
    int64_t K = n / 2 + 1;
    double *b = bufs(n);
    if (!b) {
        fill_nan(nseq, K, y, yss, yse, 1);
        return;
    }
    double *re = b, *im = b + n, *ore = b + 2 * n, *oim = b + 3 * n;
    for (int64_t s = 0; s < nseq; s++) {
        for (int64_t i = 0; i < n; i++) {
            re[i] = x[s * xss + i * xse];
            im[i] = 0;
        }
        dft1(0, n, re, im, K, ore, oim);
        for (int64_t k = 0; k < K; k++) {
            y[s * yss + k * yse] = ore[k];
            y[s * yss + k * yse + 1] = oim[k];
        }
    }
    free(b);
}

void prism_ref_irfft(int64_t n, int64_t nseq, const double *x, int64_t xss, int64_t xse, double *y, int64_t yss,
                     int64_t yse) {
    double *b = bufs(n);
    if (!b) {
        fill_nan(nseq, n, y, yss, yse, 0);
        return;
    }
    double *re = b, *im = b + n, *ore = b + 2 * n, *oim = b + 3 * n;
    for (int64_t s = 0; s < nseq; s++) {
        for (int64_t k = 0; k < n; k++) {
            int64_t j = 2 * k <= n ? k : n - k; /* mirror the upper half */
            re[k] = x[s * xss + j * xse];
            im[k] = j == k ? x[s * xss + j * xse + 1] : -x[s * xss + j * xse + 1];
            if (k == 0 || 2 * k == n) im[k] = 0;
        }
        dft1(1, n, re, im, n, ore, oim);
        for (int64_t i = 0; i < n; i++) y[s * yss + i * yse] = ore[i];
    }
    free(b);
}
