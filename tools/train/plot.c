/* A small SVG writer for training curves: two panels side by side with a
 * shared legend. No dependencies; the file is written atomically. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "train.h"

static const char *palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
#define NPALETTE (int)(sizeof palette / sizeof palette[0])

enum { PANEL_W = 460, PANEL_H = 320, MARGIN_L = 62, MARGIN_T = 40, GAP = 70, LEGEND_H = 28 };

/* Step of about n ticks over span: 1, 2 or 5 times a power of ten. */
static double nice_step(double span, int n) {
    double raw = span / n, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void text_escape(FILE *f, const char *s) {
    for (; s && *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else fputc(*s, f);
    }
}

/* Log axes plot log10(y) and drop y <= 0. */
static double ty(double y, int logy) { return logy ? (y > 0 ? log10(y) : NAN) : y; }

static void panel(FILE *f, double ox, double oy, const char *title, const char *ylabel,
                  const char *xlabel, const pt_series *s, int n, int logy) {
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < s[i].n; j++) {
            double y = ty(s[i].y[j], logy);
            if (!isfinite(s[i].x[j]) || !isfinite(y)) continue;
            x0 = fmin(x0, s[i].x[j]);
            x1 = fmax(x1, s[i].x[j]);
            y0 = fmin(y0, y);
            y1 = fmax(y1, y);
        }
    if (!(x0 <= x1)) x0 = 0, x1 = 1;
    if (!(y0 <= y1)) y0 = 0, y1 = 1;
    if (x1 - x0 < 1e-12) x1 = x0 + 1;
    if (y1 - y0 < 1e-12) y1 = y0 + 1;
    double ys = logy ? 1 : nice_step(y1 - y0, 5), xs = nice_step(x1 - x0, 6);
    y0 = floor(y0 / ys) * ys;
    y1 = ceil(y1 / ys) * ys;
    x0 = floor(x0 / xs) * xs;
    x1 = ceil(x1 / xs) * xs;
#define PX(v) (ox + PANEL_W * ((v) - x0) / (x1 - x0))
#define PY(v) (oy + PANEL_H * (1 - ((v) - y0) / (y1 - y0)))
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"15\">", ox + PANEL_W / 2.0,
            oy - 14);
    text_escape(f, title);
    fputs("</text>\n", f);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\"/>\n",
            ox, oy, PANEL_W, PANEL_H);
    for (double v = y0; v <= y1 + ys * 1e-6; v += ys) {
        /* log axes: lines at 1, 2 and 5 times each decade, labels at all */
        for (int k = 0; k < (logy ? 3 : 1); k++) {
            static const double mult[3] = {1, 2, 5};
            double yv = logy ? v + log10(mult[k]) : v;
            if (yv > y1 + 1e-9) break;
            double label = logy ? pow(10, yv) : (fabs(v) < ys * 1e-6 ? 0.0 : v);
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", ox, PY(yv),
                    ox + PANEL_W, PY(yv));
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\">%.4g</text>\n", ox - 5,
                    PY(yv) + 4, label);
        }
    }
    for (double v = x0; v <= x1 + xs * 1e-6; v += xs) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", PX(v), oy,
                PX(v), oy + PANEL_H);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"11\">%.6g</text>\n", PX(v),
                oy + PANEL_H + 15, v);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\">", ox + PANEL_W / 2.0,
            oy + PANEL_H + 33);
    text_escape(f, xlabel);
    fprintf(f, "</text>\n<text transform=\"translate(%.1f,%.1f) rotate(-90)\" text-anchor=\"middle\" "
               "font-size=\"12\">",
            ox - 46, oy + PANEL_H / 2.0);
    text_escape(f, ylabel);
    fputs("</text>\n", f);
    for (int i = 0; i < n; i++) {
        if (s[i].n < 1) continue;
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" points=\"", palette[i % NPALETTE]);
        for (int j = 0; j < s[i].n; j++)
            if (isfinite(s[i].x[j]) && isfinite(ty(s[i].y[j], logy)))
                fprintf(f, "%.1f,%.1f ", PX(s[i].x[j]), PY(ty(s[i].y[j], logy)));
        fputs("\"/>\n", f);
    }
#undef PX
#undef PY
}

prism_status pt_plot_svg(const char *path, const char *title, const char *left_title,
                         const char *left_ylabel, int left_log, const pt_series *left, int nleft,
                         const char *right_title, const char *right_ylabel,
                         const pt_series *right, int nright, const char *xlabel, char *err,
                         size_t err_len) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        if (err && err_len) snprintf(err, err_len, "%s: out of host memory", path);
        return PRISM_ERR_OUT_OF_HOST_MEMORY;
    }
    int nleg = nleft > nright ? nleft : nright;
    const pt_series *leg = nleft >= nright ? left : right;
    int per_row = 6, legend_rows = (nleg + per_row - 1) / per_row;
    int w = MARGIN_L + 2 * PANEL_W + GAP + 20;
    int h = MARGIN_T + 30 + PANEL_H + 45 + legend_rows * LEGEND_H + 10;
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            w, h, w, h);
    fprintf(f, "<text x=\"%d\" y=\"22\" text-anchor=\"middle\" font-size=\"17\" font-weight=\"bold\">", w / 2);
    text_escape(f, title);
    fputs("</text>\n", f);
    panel(f, MARGIN_L, MARGIN_T + 30, left_title, left_ylabel, xlabel, left, nleft, left_log);
    panel(f, MARGIN_L + PANEL_W + GAP, MARGIN_T + 30, right_title, right_ylabel, xlabel, right, nright, 0);
    double ly = MARGIN_T + 30 + PANEL_H + 60;
    for (int i = 0; i < nleg; i++) {
        double lx = MARGIN_L + (i % per_row) * 160.0, yy = ly + (i / per_row) * LEGEND_H;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"/>\n", lx,
                yy, lx + 24, yy, palette[i % NPALETTE]);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\">", lx + 30, yy + 4);
        text_escape(f, leg[i].label);
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
    if (fclose(f) != 0 || !buf) {
        free(buf);
        if (err && err_len) snprintf(err, err_len, "%s: out of host memory", path);
        return PRISM_ERR_OUT_OF_HOST_MEMORY;
    }
    prism_status st = prism_write_atomic(path, buf, len, err, err_len);
    free(buf);
    return st;
}
