/* float64 reference: block-diagonal ETHER / ETHER+ on rows. Plain loops that
 * follow METHODS.md §1.2 and §1.5 literally: normalise each vector, apply
 * H = I + Σ k â âᵀ to every row block, and for the gradient form
 * dL/dâ = k Σ_t [(âᵀx_t) g_t + (âᵀg_t) x_t], then project it through the
 * normalisation, dL/da = (I - ââᵀ) dL/dâ / ||a||. double has range to spare
 * for fp32 inputs, so no scaling is needed here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "reflect.h"

/* The unit vector of a (b elements) into out; returns ||a||. */
static double unit(const double *a, int64_t b, double *out) {
    double n2 = 0;
    for (int64_t j = 0; j < b; j++) n2 += a[j] * a[j];
    double n = sqrt(n2);
    for (int64_t j = 0; j < b; j++) out[j] = a[j] / n;
    return n;
}

static double dot(const double *a, const double *b, int64_t n) {
    double s = 0;
    for (int64_t j = 0; j < n; j++) s += a[j] * b[j];
    return s;
}

/* out = H in for one block (out may alias in): ETHER in - 2 û(ûᵀin),
 * ETHER+ in - û(ûᵀin) + v̂(v̂ᵀin). */
static void apply_block(double *out, const double *in, const double *uh, const double *vh, int64_t b) {
    double cu = dot(uh, in, b), cv = vh ? dot(vh, in, b) : 0;
    for (int64_t j = 0; j < b; j++) {
        double y = vh ? in[j] - uh[j] * cu + vh[j] * cv : in[j] - 2.0 * uh[j] * cu;
        out[j] = y;
    }
}

void prism_ref_reflect(double *y, const double *x, const double *u, const double *v, const double *bias,
                       int64_t rows, int64_t d, int64_t nb) {
    int64_t b = d / nb;
    double *uh = malloc(sizeof(double) * (size_t)b * 2), *vh = uh ? uh + b : NULL;
    if (!uh) return; /* the reference backend has no error path here; tests would see stale output */
    for (int64_t k = 0; k < nb; k++) {
        unit(u + k * b, b, uh);
        if (v) unit(v + k * b, b, vh);
        for (int64_t t = 0; t < rows; t++) {
            const double *in = x + t * d + k * b;
            double *out = y + t * d + k * b;
            apply_block(out, in, uh, v ? vh : NULL, b);
            if (bias)
                for (int64_t j = 0; j < b; j++) out[j] += bias[k * b + j];
        }
    }
    free(uh);
}

/* Accumulates into grad (b elements) the gradient of one vector a with sign
 * k (ETHER -2, ETHER+ u -1, v +1) over all rows of block `blk`. */
static void vector_grad(double *grad, const double *a, double k, const double *x, const double *g, int64_t rows,
                        int64_t d, int64_t blk, int64_t b, double *ah, double *dah) {
    double n = unit(a, b, ah);
    memset(dah, 0, sizeof(double) * (size_t)b);
    for (int64_t t = 0; t < rows; t++) {
        const double *xt = x + t * d + blk * b, *gt = g + t * d + blk * b;
        double ax = dot(ah, xt, b), ag = dot(ah, gt, b);
        for (int64_t j = 0; j < b; j++) dah[j] += k * (ax * gt[j] + ag * xt[j]);
    }
    double proj = dot(ah, dah, b);
    for (int64_t j = 0; j < b; j++) grad[j] += (dah[j] - ah[j] * proj) / n;
}

void prism_ref_reflect_backward(double *dx, double *du, double *dv, const double *x, const double *dy,
                                const double *u, const double *v, int64_t rows, int64_t d, int64_t nb) {
    int64_t b = d / nb;
    double *buf = malloc(sizeof(double) * (size_t)b * 4);
    if (!buf) return;
    double *uh = buf, *vh = buf + b, *ah = buf + 2 * b, *dah = buf + 3 * b;
    for (int64_t k = 0; k < nb; k++) {
        unit(u + k * b, b, uh);
        if (v) unit(v + k * b, b, vh);
        if (du) vector_grad(du + k * b, u + k * b, v ? -1.0 : -2.0, x, dy, rows, d, k, b, ah, dah);
        if (dv && v) vector_grad(dv + k * b, v + k * b, 1.0, x, dy, rows, d, k, b, ah, dah);
        if (dx) /* after the vector gradients, which read dy */
            for (int64_t t = 0; t < rows; t++)
                apply_block(dx + t * d + k * b, dy + t * d + k * b, uh, v ? vh : NULL, b);
    }
    free(buf);
}
