/* The subspace fit itself (tools/fit/subspace_fit.h, docs/subspace.md):
 *
 *   A [K, N]   row k = the concatenation over methods m of
 *              (theta_{k,m} - theta0_m) / s_m in canonical order,
 *              s_m = sqrt(sum_k |theta_{k,m} - theta0_m|^2 / K) (normalise)
 *              or 1
 *   A = U S V^T, rank-r truncation (Eckart-Young: the best rank-r
 *              approximation in Frobenius norm, error^2 = sum_{i>r} s_i^2)
 *   D_m = s_m V_r[block m] S_r / sqrt(K)     coordinates c_k = sqrt(K) U_r[k]
 *
 * so theta0_m + D_m c_k is run k's best rank-r reconstruction and the
 * coordinates of the fitting runs have unit mean square per component (z
 * starts at N(0, 0.02^2), near theta0 on that scale). Each singular pair's
 * sign is fixed (the largest |V| entry of the column is positive) so both
 * SVD paths write the same file.
 *
 * SVD: LAPACKE_dgesdd on A (float64) when K N <= 2^24, else the K x K Gram
 * matrix G = A A^T with LAPACKE_dsyevd (eigenvalues s_i^2, U its
 * eigenvectors, V_r = A^T U_r S_r^-1): K is small (runs), N is large. */
#include <lapacke.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/io_util.h"
#include "subspace_fit.h"

#define GESDD_MAX_ELEMS ((int64_t)1 << 24)

psf_options psf_options_default(void) {
    psf_options o = {.rank = 4, .normalize = 1, .svd = PSF_SVD_AUTO};
    return o;
}

void psf_report_free(psf_report *r) {
    if (!r) return;
    free(r->sigma);
    free(r->scale);
    memset(r, 0, sizeof *r);
}

static int64_t trainable_size(const psf_solution *s) {
    int64_t n = 0;
    for (int i = 0; i < s->n; i++)
        if (s->t[i].trainable) n += s->t[i].numel;
    return n;
}

/* The first top-level key whose values differ (configs minus target_modules). */
static const char *config_diff(const cJSON *a, const cJSON *b) {
    const cJSON *it;
    cJSON_ArrayForEach(it, a) {
        if (!strcmp(it->string, "target_modules")) continue;
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(b, it->string);
        if (!o || !cJSON_Compare(it, o, 1)) return it->string;
    }
    cJSON_ArrayForEach(it, b) {
        if (strcmp(it->string, "target_modules") && !cJSON_GetObjectItemCaseSensitive(a, it->string)) return it->string;
    }
    return NULL;
}

/* Run k's solution of a method must be the init's shape for shape. */
static prism_status check_pair(const psf_solution *init, const psf_solution *s, const char *run, char *err,
                               size_t len) {
    const char *mn = prism_method_name(init->method);
    if (s->method != init->method)
        return prism_errf(err, len, PRISM_ERR_FORMAT, "run '%s': expected a %s solution, got %s (%s)", run, mn,
                          prism_method_name(s->method), s->source);
    const char *key = config_diff(init->config, s->config);
    if (key)
        return prism_errf(err, len, PRISM_ERR_FORMAT,
                          "run '%s' (%s): adapter_config \"%s\" differs from the init's (%s): "
                          "every run must use the init's config and base model", run, s->source, key, init->source);
    if (s->n != init->n)
        return prism_errf(err, len, PRISM_ERR_SHAPE,
                          "run '%s' (%s): %d tensors, the init has %d (other layers or modules?)", run, s->source, s->n,
                          init->n);
    for (int i = 0; i < s->n; i++) {
        const psf_tensor *a = &init->t[i], *b = &s->t[i];
        bool same = !strcmp(a->module, b->module) && !strcmp(a->name, b->name) && a->ndim == b->ndim &&
                    a->trainable == b->trainable && !a->i64 == !b->i64;
        for (int d = 0; same && d < a->ndim; d++) same = a->shape[d] == b->shape[d];
        if (!same)
            return prism_errf(err, len, PRISM_ERR_SHAPE, "run '%s' (%s): tensor %s.%s does not match the init's %s.%s "
                              "(names, shapes or dtypes differ: another base model or config?)", run, s->source,
                              b->module, b->name, a->module, a->name);
        if (!a->trainable && memcmp(a->i64 ? (const void *)a->i64 : (const void *)a->f32,
                                    b->i64 ? (const void *)b->i64 : (const void *)b->f32,
                                    (size_t)a->numel * (a->i64 ? sizeof(int64_t) : sizeof(float))) != 0)
            return prism_errf(err, len, PRISM_ERR_FORMAT,
                              "run '%s' (%s): frozen tensor %s.%s differs from the init's: the "
                              "runs come from another base model W0 or selection", run, s->source, b->module, b->name);
    }
    return PRISM_OK;
}

/* Fixes the sign of each singular pair: the largest |V| entry of a column
 * (lowest index on ties) is positive. V is [N, r] row-major, U [K, ldu]. */
static void fix_signs(double *U, int K, int ldu, double *V, int64_t N, int r) {
    for (int j = 0; j < r; j++) {
        int64_t best = 0;
        for (int64_t i = 1; i < N; i++)
            if (fabs(V[i * r + j]) > fabs(V[best * r + j])) best = i;
        if (V[best * r + j] >= 0) continue;
        for (int64_t i = 0; i < N; i++) V[i * r + j] = -V[i * r + j];
        for (int k = 0; k < K; k++) U[k * ldu + j] = -U[k * ldu + j];
    }
}

/* SVD of A [K, N]: sigma[min(K, N)], U [K, K] (first r columns used),
 * V [N, r]. A is left unchanged. */
static prism_status svd(const double *A, int K, int64_t N, int r, psf_svd how, double *sigma, int *nsigma, double *U,
                        double *V, const char **used, char *err, size_t len) {
    int ns = (int)(N < K ? N : K);
    *nsigma = ns;
    if (how == PSF_SVD_GESDD || (how == PSF_SVD_AUTO && (int64_t)K * N <= GESDD_MAX_ELEMS)) {
        *used = "dgesdd";
        double *a = malloc(sizeof(double) * (size_t)(K * N)), *vt = malloc(sizeof(double) * (size_t)(ns * N)),
               *u = malloc(sizeof(double) * (size_t)(K * ns));
        if (!a || !vt || !u) {
            free(a), free(vt), free(u);
            return prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY,
                              "fit: out of host memory for the SVD of [%d, %lld]", K, (long long)N);
        }
        memcpy(a, A, sizeof(double) * (size_t)(K * N));
        lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', K, (lapack_int)N, a, (lapack_int)N, sigma, u, ns, vt,
                                         (lapack_int)N);
        if (info == 0) {
            for (int k = 0; k < K; k++)
                for (int j = 0; j < r; j++) U[k * K + j] = u[k * ns + j];
            for (int64_t i = 0; i < N; i++)
                for (int j = 0; j < r; j++) V[i * r + j] = vt[(int64_t)j * N + i];
        }
        free(a), free(vt), free(u);
        if (info != 0)
            return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "fit: LAPACKE_dgesdd failed (info %d)", (int)info);
        return PRISM_OK;
    }
    *used = "gram+dsyevd";
    *nsigma = K;
    double *G = calloc((size_t)K * K, sizeof *G), *w = malloc(sizeof(double) * (size_t)K);
    if (!G || !w) {
        free(G), free(w);
        return prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY, "fit: out of host memory");
    }
    for (int a = 0; a < K; a++)
        for (int b = 0; b <= a; b++) {
            double s = 0;
            for (int64_t i = 0; i < N; i++) s += A[a * N + i] * A[b * N + i];
            G[a * K + b] = G[b * K + a] = s;
        }
    lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', K, G, K, w);
    if (info != 0) {
        free(G), free(w);
        return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "fit: LAPACKE_dsyevd failed (info %d)", (int)info);
    }
    /* ascending eigenvalues: column K-1-j is singular pair j */
    for (int j = 0; j < K; j++) sigma[j] = sqrt(fmax(w[K - 1 - j], 0.0));
    for (int k = 0; k < K; k++)
        for (int j = 0; j < K; j++) U[k * K + j] = G[k * K + (K - 1 - j)];
    for (int j = 0; j < r; j++) {
        double inv = sigma[j] > 0 ? 1.0 / sigma[j] : 0.0;
        for (int64_t i = 0; i < N; i++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += A[k * N + i] * U[k * K + j];
            V[i * r + j] = s * inv;
        }
    }
    free(G), free(w);
    return PRISM_OK;
}

prism_status psf_fit(const psf_solution *init, const psf_solution *runs, int nm, int K, const char *const *run_names,
                     const char *init_name, const psf_options *o, const char *out_path, psf_report *rep, char *err,
                     size_t len) {
    return psf_fit_ex(init, runs, NULL, nm, K, run_names, init_name, o, out_path, rep, err, len);
}

prism_status psf_fit_ex(const psf_solution *init, const psf_solution *runs, const psf_solution *run_inits, int nm,
                        int K, const char *const *run_names, const char *init_name, const psf_options *o,
                        const char *out_path, psf_report *rep, char *err, size_t len) {
    psf_options opt = o ? *o : psf_options_default();
    if (rep) memset(rep, 0, sizeof *rep);
    if (!init || !runs || nm < 1 || K < 1 || !out_path)
        return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT,
                          "fit: need at least one method, one run and an output path");
    if (opt.rank < 1 || opt.rank > K || opt.rank > PRISM_SUBSPACE_MAX_RANK)
        return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "fit: rank %d must be in [1, K = %d runs]%s", opt.rank,
                          K, opt.rank > PRISM_SUBSPACE_MAX_RANK ? " and at most 4096" : "");
    const int r = opt.rank;
    char rn[32];
    for (int m = 0; m < nm; m++) {
        for (int q = 0; q < m; q++)
            if (init[q].method == init[m].method)
                return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "fit: method %s given twice",
                                  prism_method_name(init[m].method));
        for (int k = 0; k < K; k++) {
            snprintf(rn, sizeof rn, "#%d", k + 1);
            prism_status st = check_pair(&init[m], &runs[k * nm + m], run_names ? run_names[k] : rn, err, len);
            if (!st && run_inits)
                st = check_pair(&init[m], &run_inits[k * nm + m], run_names ? run_names[k] : rn, err, len);
            if (st) return st;
        }
    }
    int64_t *off = calloc((size_t)nm + 1, sizeof *off);
    if (!off) return prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY, "fit: out of host memory");
    for (int m = 0; m < nm; m++) off[m + 1] = off[m] + trainable_size(&init[m]);
    const int64_t N = off[nm];
    prism_status st = PRISM_OK;
    double *A = malloc(sizeof(double) * (size_t)(K * N)), *scale = calloc((size_t)nm, sizeof *scale),
           *sigma = calloc((size_t)(K < N ? K : N) + (size_t)K, sizeof *sigma), *U = calloc((size_t)K * K, sizeof *U),
           *V = malloc(sizeof(double) * (size_t)(N * r));
    float *dec = NULL, *th0 = NULL, *coords = NULL, *sig32 = NULL;
    prism_subspace_method_data *md = calloc((size_t)nm, sizeof *md);
    prism_subspace_entry *ent = NULL;
    prism_subspace_frozen *frz = NULL;
    int nent = 0, nfrz = 0;
    for (int m = 0; m < nm; m++) nent += init[m].n;
    ent = calloc((size_t)nent, sizeof *ent);
    frz = calloc((size_t)nent, sizeof *frz);
    dec = malloc(sizeof(float) * (size_t)(N * r));
    th0 = malloc(sizeof(float) * (size_t)N);
    coords = malloc(sizeof(float) * (size_t)(K * r));
    if (!A || !scale || !sigma || !U || !V || !md || !ent || !frz || !dec || !th0 || !coords) {
        st = prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY,
                        "fit: out of host memory for [%d runs, %lld parameters]", K, (long long)N);
        goto cleanup;
    }
    /* deltas, canonical order; normalisation per method block */
    for (int m = 0; m < nm; m++) {
        double ss = 0;
        for (int k = 0; k < K; k++) {
            const psf_solution *s = &runs[k * nm + m], *s0 = run_inits ? &run_inits[k * nm + m] : &init[m];
            int64_t p = off[m];
            for (int i = 0; i < s->n; i++) {
                if (!s->t[i].trainable) continue;
                for (int64_t e = 0; e < s->t[i].numel; e++, p++) {
                    double d = (double)s->t[i].f32[e] - (double)s0->t[i].f32[e];
                    A[k * N + p] = d;
                    ss += d * d;
                }
            }
        }
        scale[m] = sqrt(ss / K);
        if (!(scale[m] > 0))
            st = prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "fit: every run's %s solution equals its init (%s): "
                            "nothing to fit", prism_method_name(init[m].method), init[m].source);
        if (st) goto cleanup;
        if (!opt.normalize) scale[m] = 1.0;
        for (int k = 0; k < K; k++)
            for (int64_t p = off[m]; p < off[m + 1]; p++) A[k * N + p] /= scale[m];
    }
    int ns = 0;
    const char *used = "";
    if ((st = svd(A, K, N, r, opt.svd, sigma, &ns, U, V, &used, err, len))) goto cleanup;
    if (!(sigma[r - 1] > 1e-10 * sigma[0])) {
        int q = 0;
        while (q < ns && sigma[q] > 1e-10 * sigma[0]) q++;
        st = prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT,
                        "fit: the %d runs span only %d dimension%s (singular value %d "
                        "is %.3g of the first); use --rank %d or add runs", K, q, q == 1 ? "" : "s", r,
                        sigma[r - 1] / (sigma[0] > 0 ? sigma[0] : 1), q > 0 ? q : 1);
        goto cleanup;
    }
    fix_signs(U, K, K, V, N, r);
    double total = 0, head = 0, sk = sqrt((double)K);
    for (int i = 0; i < ns; i++) total += sigma[i] * sigma[i];
    for (int i = 0; i < r; i++) head += sigma[i] * sigma[i];
    for (int k = 0; k < K; k++)
        for (int j = 0; j < r; j++) coords[k * r + j] = (float)(sk * U[k * K + j]);
    int e = 0;
    for (int m = 0; m < nm; m++) {
        const psf_solution *s = &init[m];
        md[m] = (prism_subspace_method_data){.method = s->method, .config = s->config, .entries = ent + e,
                                             .theta0 = th0 + off[m], .decoder = dec + off[m] * r, .scale = scale[m],
                                             .frozen = frz + nfrz};
        int64_t p = off[m];
        for (int i = 0; i < s->n; i++) {
            const psf_tensor *t = &s->t[i];
            if (!t->trainable) {
                frz[nfrz++] = (prism_subspace_frozen){.module = t->module, .name = t->name, .ndim = t->ndim,
                                                      .i64 = t->i64, .f32 = t->i64 ? NULL : t->f32};
                memcpy(frz[nfrz - 1].shape, t->shape, sizeof t->shape);
                md[m].nfrozen++;
                continue;
            }
            prism_subspace_entry *en = &ent[e++];
            *en = (prism_subspace_entry){.module = t->module, .name = t->name, .ndim = t->ndim, .numel = t->numel,
                                         .offset = p - off[m]};
            memcpy(en->shape, t->shape, sizeof t->shape);
            md[m].nentries++;
            for (int64_t q = 0; q < t->numel; q++, p++) {
                th0[p] = t->f32[q];
                for (int j = 0; j < r; j++) dec[p * r + j] = (float)(scale[m] * V[p * r + j] * sigma[j] / sk);
            }
        }
    }
    if (!(sig32 = malloc(sizeof(float) * (size_t)ns))) {
        st = prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY, "fit: out of host memory");
        goto cleanup;
    }
    for (int i = 0; i < ns; i++) sig32[i] = (float)sigma[i];
    const char **labels = calloc((size_t)K, sizeof *labels);
    if (!labels) {
        st = prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY, "fit: out of host memory");
        goto cleanup;
    }
    for (int k = 0; k < K; k++) labels[k] = run_names && run_names[k] ? run_names[k] : runs[k * nm].source;
    prism_subspace_desc d = {.rank = r, .nmethods = nm, .methods = md, .nsigma = ns, .sigma = sig32, .nruns = K,
                             .coords = coords, .runs = labels, .init = init_name ? init_name : init[0].source,
                             .normalize = opt.normalize ? "method" : "none"};
    st = prism_subspace_write(out_path, &d, err, len);
    free(labels);
    if (!st && rep) {
        rep->K = K, rep->rank = r, rep->nsigma = ns, rep->N = N, rep->energy = total > 0 ? head / total : 1.0;
        rep->tail2 = total - head;
        rep->svd_used = used;
        rep->sigma = malloc(sizeof(double) * (size_t)ns);
        rep->scale = malloc(sizeof(double) * (size_t)nm);
        if (rep->sigma) memcpy(rep->sigma, sigma, sizeof(double) * (size_t)ns);
        if (rep->scale) memcpy(rep->scale, scale, sizeof(double) * (size_t)nm);
    }
cleanup:
    free(off), free(A), free(scale), free(sigma), free(U), free(V), free(dec), free(th0), free(coords), free(sig32);
    free(md), free(ent), free(frz);
    return st;
}
