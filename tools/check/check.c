/* Registry of check cases and the comparison helpers they share. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

/* Families link in as they exist (weak: a family not built yet is skipped). */
#define PC_FAMILIES(X) X(basic) X(reduce) X(transpose) X(gemm) X(loss) X(optim) X(rng) \
    X(reflect) X(hadamard) X(adapter) X(dct) X(fft) X(select) X(spectral) X(xpeft) X(subspace)
#define PC_DECLARE(f)                                         \
    extern const pc_case pc_cases_##f[] __attribute__((weak)); \
    extern const int pc_ncases_##f __attribute__((weak));
PC_FAMILIES(PC_DECLARE)

static pc_case *all;
static int nall = -1;

int pc_all_cases(const pc_case **cases) {
    if (nall < 0) {
        int n = 0;
#define PC_COUNT(f) if (pc_cases_##f && &pc_ncases_##f) n += pc_ncases_##f;
        PC_FAMILIES(PC_COUNT)
        all = calloc((size_t)(n ? n : 1), sizeof *all);
        if (!all) return 0;
        nall = 0;
#define PC_COLLECT(f)                                                                  \
    if (pc_cases_##f && &pc_ncases_##f)                                                \
        for (int i = 0; i < pc_ncases_##f; i++) all[nall++] = pc_cases_##f[i];
        PC_FAMILIES(PC_COLLECT)
    }
    *cases = all;
    return nall;
}

void pc_fail(pc_result *r, const char *fmt, ...) {
    if (r->outcome == PC_FAIL) return; /* keep the first reason */
    r->outcome = PC_FAIL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof r->detail, fmt, ap);
    va_end(ap);
}

void pc_random(uint64_t seed, float *x, int64_t n, float lo, float hi) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    for (int64_t i = 0; i < n; i++) {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        double u = ((double)(z >> 11) + 0.5) / 9007199254740992.0; /* (0,1) */
        float v = (float)(lo + (hi - lo) * u);
        if (v == 0.0f) v = hi * 1e-3f;
        x[i] = v;
    }
}

prism_tensor *pc_tensor(pc_result *r, prism_context *ctx, int ndim, const int64_t *shape, const float *data) {
    prism_tensor *t = NULL;
    prism_status st = prism_tensor_create(ctx, ndim, shape, &t);
    if (st == PRISM_OK && data) st = prism_tensor_upload(t, data, prism_tensor_numel(t));
    if (st != PRISM_OK) {
        pc_fail(r, "tensor setup: %s", prism_error_message(ctx));
        prism_tensor_destroy(t);
        return NULL;
    }
    return t;
}

static const float GUARD_VALUE = -7777.25f;

/* A view of `shape` holding data (NULL: fill) at `lead` floats into a 1-D
 * base of lead + numel + trail floats whose padding holds fill. */
static prism_tensor *padded(pc_result *r, prism_context *ctx, int ndim, const int64_t *shape, const float *data,
                            int64_t lead, int64_t trail, float fill, prism_tensor **base) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    int64_t total = lead + n + trail;
    *base = NULL;
    float *init = malloc(sizeof(float) * (size_t)total);
    if (!init) {
        pc_fail(r, "out of host memory");
        return NULL;
    }
    for (int64_t i = 0; i < total; i++) init[i] = i >= lead && i < lead + n && data ? data[i - lead] : fill;
    *base = pc_tensor(r, ctx, 1, &total, init);
    free(init);
    if (!*base) return NULL;
    prism_tensor *v = NULL;
    if (prism_tensor_view(*base, lead, ndim, shape, &v) != PRISM_OK) {
        pc_fail(r, "view: %s", prism_error_message(ctx));
        return NULL;
    }
    return v;
}

prism_tensor *pc_guarded(pc_result *r, prism_context *ctx, int ndim, const int64_t *shape, const float *data,
                         prism_tensor **base) {
    return padded(r, ctx, ndim, shape, data, 0, PC_GUARD, GUARD_VALUE, base);
}

prism_tensor *pc_view_at(pc_result *r, prism_context *ctx, int ndim, const int64_t *shape, const float *data,
                         int64_t off, prism_tensor **base) {
    *base = NULL;
    return off ? padded(r, ctx, ndim, shape, data, off, 0, 3.0f, base) : pc_tensor(r, ctx, ndim, shape, data);
}

void pc_env_push(const char *spec, pc_saved_env *saved) {
    saved->n = 0;
    for (const char *p = spec; p && *p && saved->n < PC_MAX_ENV;) {
        while (*p == ' ') p++;
        const char *eq = strchr(p, '='), *end = strchr(p, ' ');
        if (!end) end = p + strlen(p);
        if (!eq || eq > end || eq - p >= (long)sizeof saved->v[0].name) break;
        char value[64];
        int k = saved->n++;
        snprintf(saved->v[k].name, sizeof saved->v[k].name, "%.*s", (int)(eq - p), p);
        snprintf(value, sizeof value, "%.*s", (int)(end - eq - 1), eq + 1);
        const char *o = getenv(saved->v[k].name);
        saved->v[k].had = o != NULL;
        saved->v[k].old = o ? strdup(o) : NULL;
        setenv(saved->v[k].name, value, 1);
        p = end;
    }
}

void pc_env_pop(pc_saved_env *saved) {
    for (int i = 0; i < saved->n; i++) {
        if (saved->v[i].had && saved->v[i].old) setenv(saved->v[i].name, saved->v[i].old, 1);
        else unsetenv(saved->v[i].name);
        free(saved->v[i].old);
    }
    saved->n = 0;
}

bool pc_guard_ok(pc_result *r, prism_tensor *base, const char *what) {
    if (!base) return false;
    int64_t total = prism_tensor_numel(base);
    float *h = malloc(sizeof(float) * (size_t)total);
    if (!h || prism_tensor_download(base, h, total) != PRISM_OK) {
        free(h);
        pc_fail(r, "%s: guard download failed", what);
        return false;
    }
    bool ok = true;
    for (int64_t i = total - PC_GUARD; i < total; i++)
        if (h[i] != GUARD_VALUE) {
            pc_fail(r, "%s: write past the end (guard element %lld changed to %g)", what,
                    (long long)(i - (total - PC_GUARD)), h[i]);
            ok = false;
            break;
        }
    free(h);
    return ok;
}

double *pc_download(pc_result *r, prism_tensor *t) {
    if (!t) return NULL;
    int64_t n = prism_tensor_numel(t);
    double *h = malloc(sizeof(double) * (size_t)n);
    if (!h || prism_tensor_download_f64(t, h, n) != PRISM_OK) {
        pc_fail(r, "download: %s", prism_error_message(prism_tensor_context(t)));
        free(h);
        return NULL;
    }
    return h;
}

void pc_compare(pc_result *r, const char *what, const double *dev, const double *ref, int64_t n, double tol) {
    if (!dev || !ref) {
        pc_fail(r, "%s: missing output", what);
        return;
    }
    double num = 0, den = 0, maxe = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(dev[i]) && isfinite(ref[i])) {
            pc_fail(r, "%s: non-finite output %g at %lld (reference %g)", what, dev[i], (long long)i, ref[i]);
            r->nmse = INFINITY;
            return;
        }
        double d = dev[i] - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
        if (fabs(d) > maxe) maxe = fabs(d);
    }
    double nmse = den > 0 ? num / den : num;
    if (nmse > r->nmse || r->tol == 0) r->tol = tol;
    if (nmse > r->nmse) r->nmse = nmse;
    if (maxe > r->max_err) r->max_err = maxe;
    if (!(nmse <= tol)) pc_fail(r, "%s: NMSE %.3g > %.3g (max abs error %.3g)", what, nmse, tol, maxe);
}

void pc_compare_fd(pc_result *r, const char *what, const double *a, const double *nu, int64_t n, double tol) {
    double num = 0, den = 0, maxe = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = a[i] - nu[i];
        num += d * d;
        den += nu[i] * nu[i];
        if (fabs(d) > maxe) maxe = fabs(d);
    }
    double rel = sqrt(num) / fmax(sqrt(den), 1e-12);
    if (!isfinite(rel)) rel = INFINITY;
    if (rel > r->nmse || r->tol == 0) r->tol = tol;
    if (rel > r->nmse) r->nmse = rel;
    if (maxe > r->max_err) r->max_err = maxe;
    if (!(rel <= tol)) pc_fail(r, "%s: gradient vs finite differences: relative error %.3g > %.3g", what, rel, tol);
}

void pc_compare_tensors(pc_result *r, const char *what, prism_tensor *dev, prism_tensor *ref, double tol) {
    double *x = pc_download(r, dev), *y = pc_download(r, ref);
    if (x && y) pc_compare(r, what, x, y, prism_tensor_numel(dev), tol);
    free(x);
    free(y);
}

void pc_destroy_tensors(prism_tensor *const *t, size_t n) {
    for (size_t i = 0; i < n; i++) prism_tensor_destroy(t[i]);
}

bool pc_run(pc_result *r, prism_stream *s) {
    prism_status st = prism_stream_run(s);
    if (st != PRISM_OK) {
        pc_fail(r, "run: %s", prism_error_message(prism_stream_context(s)));
        return false;
    }
    return true;
}

double *pc_run_op2(pc_result *r, prism_context *ctx,
                   prism_status (*apply)(prism_stream *s, const void *arg, prism_tensor *a, prism_tensor *b,
                                         prism_tensor *y),
                   const void *arg, int xdim, const int64_t *xshape, const float *xa, const float *xb, int ydim,
                   const int64_t *yshape, const float *y0, bool guard) {
    prism_tensor *ta = pc_tensor(r, ctx, xdim, xshape, xa), *tb = pc_tensor(r, ctx, xdim, xshape, xb);
    prism_tensor *base = NULL;
    prism_tensor *ty = guard ? pc_guarded(r, ctx, ydim, yshape, y0, &base) : pc_tensor(r, ctx, ydim, yshape, y0);
    prism_stream *s = NULL;
    double *out = NULL;
    if (ta && tb && ty && prism_stream_create(ctx, &s) == PRISM_OK) {
        if (apply(s, arg, ta, tb, ty) != PRISM_OK) pc_fail(r, "record: %s", prism_error_message(ctx));
        else if (pc_run(r, s)) out = pc_download(r, ty);
        if (guard) pc_guard_ok(r, base, "y");
    }
    prism_stream_destroy(s);
    prism_tensor_destroy(ta);
    prism_tensor_destroy(tb);
    prism_tensor_destroy(ty);
    prism_tensor_destroy(base);
    return out;
}

void pc_run_case(const pc_env *env, const pc_case *c, pc_result *r) {
    memset(r, 0, sizeof *r);
    r->outcome = PC_PASS;
    c->fn(env, c->arg, r);
}
