/* The subspace fit (tools/fit/), the subspace file (adapters/subspace_file.c)
 * and the whole pipeline at the library level:
 *   - reconstruction of the fitting solutions within the SVD's error
 *     (Eckart-Young: sum of squared residuals = sum_{i>r} sigma_i^2; exact
 *     at r = K), both SVD paths agreeing;
 *   - the file: round trip, hostile and damaged files with exact statuses;
 *   - mismatched inputs (configs, shapes, frozen tensors / base model,
 *     missing or doubled methods in a run, rank, degenerate runs);
 *   - fit from run directories in prism train's layout;
 *   - export (transfer as an ordinary adapter) = the SUBSPACE adapter;
 *   - end to end: K regression tasks trained in full space with LoRA and
 *     ETHER+ -> fit -> a held-out task trained in the subspace (AdamW on z
 *     through the adapter interface) -> the same z decoded for ETHER+. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "adapter_fixture.h"
#include "prism/subspace.h"
#include "subspace_fit.h"

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) { t_env_destroy(&env); }
TestSuite(subspace_fit, .init = setup, .fini = teardown, .timeout = 300);

static char *tmpdir(void) {
    char *d = strdup("/tmp/prism_ssfit_XXXXXX");
    cr_assert_not_null(mkdtemp(d));
    return d;
}

static void rmtree(const char *d) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    cr_expect_eq(system(cmd), 0);
}

static char *pathj(const char *a, const char *b) {
    char *p = malloc(strlen(a) + strlen(b) + 2);
    sprintf(p, "%s/%s", a, b);
    return p;
}

/* ------------------------------------------------------------------ synthetic solutions
 * NL layers of one method on the reference; run k = init + random deltas
 * (different per run). */
enum { NL = 2, T = 4 };
static const int64_t SM[NL] = {6, 4}, SN[NL] = {5, 6};
static const char *const MODS[NL] = {"layers.0", "layers.1"};

typedef struct layers { layer ly[NL]; prism_adapter *ad[NL]; prism_method m; } layers;

static bool layers_make(layers *L, prism_context *ctx, prism_method m, uint64_t wseed) {
    memset(L, 0, sizeof *L);
    L->m = m;
    for (int i = 0; i < NL; i++) {
        layer_make(&L->ly[i], ctx, SM[i], SN[i], T, true, wseed + 10 * (uint64_t)i);
        prism_adapter_config c = pc_adapter_config(m, 4, 5, 1, 40);
        c.seed = 40 + (uint64_t)i;
        prism_status st = prism_adapter_create(ctx, &c, L->ly[i].W0, L->ly[i].b, &L->ad[i]);
        if (st == PRISM_ERR_UNSUPPORTED) return false;
        cr_assert_eq(st, PRISM_OK, "%s", prism_error_message(ctx));
    }
    return true;
}

static void layers_free(layers *L) {
    for (int i = 0; i < NL; i++) {
        prism_adapter_destroy(L->ad[i]);
        if (L->ly[i].ctx) layer_free(&L->ly[i]);
    }
}

static void capture(layers *L, const char *label, psf_solution *out) {
    char err[512];
    cr_assert_eq(psf_solution_from_adapters(L->ad, MODS, NL, label, out, err, sizeof err), PRISM_OK, "%s", err);
}

/* init + K runs of M methods (run-major solutions). */
typedef struct fitset { int M, K; psf_solution *init, *runs; } fitset;

static void fitset_make(fitset *F, const prism_method *ms, int M, int K, uint64_t seed) {
    F->M = M, F->K = K;
    F->init = calloc((size_t)M, sizeof *F->init);
    F->runs = calloc((size_t)(M * K), sizeof *F->runs);
    for (int m = 0; m < M; m++) {
        layers L;
        cr_assert(layers_make(&L, env.ref, ms[m], 100), "%s not built", prism_method_name(ms[m]));
        capture(&L, "init", &F->init[m]);
        for (int k = 0; k < K; k++) {
            /* init + small random deltas: the values must stay valid for the member (ETHER u != 0) */
            for (int i = 0; i < NL; i++) {
                const prism_param *p;
                int np = prism_adapter_params(L.ad[i], &p);
                for (int q = 0; q < np; q++) {
                    if (!p[q].trainable) continue;
                    int64_t n = prism_tensor_numel(p[q].value);
                    float *v = dl(p[q].value), *d = malloc(sizeof(float) * (size_t)n);
                    pc_random(seed + 7919u * (uint64_t)(k * 31 + i * 7 + q + 1), d, n, -0.2f, 0.2f);
                    const psf_tensor *t0 = NULL;
                    for (int e = 0; e < F->init[m].n; e++)
                        if (!strcmp(F->init[m].t[e].module, MODS[i]) && !strcmp(F->init[m].t[e].name, p[q].name))
                            t0 = &F->init[m].t[e];
                    cr_assert_not_null(t0);
                    for (int64_t e = 0; e < n; e++) v[e] = t0->f32[e] + d[e];
                    cr_assert_eq(prism_tensor_upload(p[q].value, v, n), PRISM_OK);
                    free(v);
                    free(d);
                }
            }
            capture(&L, "run", &F->runs[k * M + m]);
        }
        layers_free(&L);
    }
}

static void fitset_free(fitset *F) {
    for (int m = 0; m < F->M; m++) psf_solution_free(&F->init[m]);
    for (int i = 0; i < F->M * F->K; i++) psf_solution_free(&F->runs[i]);
    free(F->init);
    free(F->runs);
}

/* sum over runs and methods of |(theta_k - theta0 - D c_k) / s_m|^2 from the file. */
static double residual2(const char *path, const fitset *F) {
    prism_subspace *sp;
    char err[512];
    cr_assert_eq(prism_subspace_open(path, &sp, err, sizeof err), PRISM_OK, "%s", err);
    int r = prism_subspace_rank(sp);
    const prism_st_tensor *ct = prism_st_find(prism_subspace_file(sp), "coords");
    cr_assert_not_null(ct);
    float *coords = malloc(sizeof(float) * (size_t)ct->numel);
    cr_assert_eq(prism_st_read_f32(prism_subspace_file(sp), "coords", coords, ct->numel, err, sizeof err), PRISM_OK);
    cr_assert_eq(ct->shape[0], F->K);
    double res = 0;
    for (int m = 0; m < F->M; m++) {
        prism_method meth = F->init[m].method;
        char key[64];
        snprintf(key, sizeof key, "scale.%s", prism_method_name(meth));
        double s = atof(prism_subspace_meta(sp, key));
        int64_t n = prism_subspace_size(sp, meth);
        float *th = malloc(sizeof(float) * (size_t)n);
        for (int k = 0; k < F->K; k++) {
            cr_assert_eq(prism_subspace_decode_host(sp, meth, coords + k * r, r, th, err, sizeof err), PRISM_OK);
            const psf_solution *sol = &F->runs[k * F->M + m];
            int64_t p = 0;
            for (int e = 0; e < sol->n; e++) {
                if (!sol->t[e].trainable) continue;
                for (int64_t q = 0; q < sol->t[e].numel; q++, p++) {
                    double d = ((double)sol->t[e].f32[q] - th[p]) / s;
                    res += d * d;
                }
            }
            cr_assert_eq(p, n);
        }
        free(th);
    }
    free(coords);
    prism_subspace_close(sp);
    return res;
}

Test(subspace_fit, reconstruction_within_eckart_young) {
    prism_method ms[] = {PRISM_METHOD_LORA, PRISM_METHOD_ETHER_PLUS, PRISM_METHOD_SDCTFT};
    fitset F;
    fitset_make(&F, ms, 3, 6, 5);
    char *dir = tmpdir(), *p1 = pathj(dir, "a.safetensors"), *p2 = pathj(dir, "b.safetensors"), err[512];
    for (int r = 1; r <= 6; r++) {
        psf_options o = psf_options_default();
        o.rank = r;
        psf_report ra, rb;
        o.svd = PSF_SVD_GESDD;
        cr_assert_eq(psf_fit(F.init, F.runs, 3, 6, NULL, "init", &o, p1, &ra, err, sizeof err), PRISM_OK, "%s", err);
        o.svd = PSF_SVD_GRAM;
        cr_assert_eq(psf_fit(F.init, F.runs, 3, 6, NULL, "init", &o, p2, &rb, err, sizeof err), PRISM_OK, "%s", err);
        cr_expect_str_eq(ra.svd_used, "dgesdd");
        cr_expect_str_eq(rb.svd_used, "gram+dsyevd");
        for (int i = 0; i < 6; i++) {
            cr_expect(fabs(ra.sigma[i] - rb.sigma[i]) <= 1e-9 * ra.sigma[0], "sigma %d: %g vs %g", i, ra.sigma[i],
                      rb.sigma[i]);
            if (i) cr_expect(ra.sigma[i] <= ra.sigma[i - 1], "sigma descends");
        }
        double res_a = residual2(p1, &F), res_b = residual2(p2, &F), total = 0;
        for (int i = 0; i < ra.nsigma; i++) total += ra.sigma[i] * ra.sigma[i];
        /* Eckart-Young: the residual equals the tail; fp32 storage of D and
         * coords adds ~1e-7 relative to the whole */
        cr_expect(fabs(res_a - ra.tail2) <= 1e-5 * total, "r %d: residual %g vs tail %g (total %g)", r, res_a,
                  ra.tail2, total);
        cr_expect(fabs(res_b - ra.tail2) <= 1e-5 * total, "r %d (gram): residual %g vs tail %g", r, res_b, ra.tail2);
        cr_expect(fabs(ra.energy - (1 - ra.tail2 / total)) < 1e-12);
        if (r == 6) cr_expect(res_a <= 1e-9 * total, "r = K reconstructs every run: %g of %g", res_a, total);
        /* the two paths write the same decoder (signs fixed) */
        prism_subspace *a, *b;
        cr_assert_eq(prism_subspace_open(p1, &a, err, sizeof err), PRISM_OK, "%s", err);
        cr_assert_eq(prism_subspace_open(p2, &b, err, sizeof err), PRISM_OK, "%s", err);
        for (int m = 0; m < 3; m++) {
            int64_t n = prism_subspace_size(a, ms[m]) * r;
            const float *da = prism_subspace_decoder(a, ms[m]), *db = prism_subspace_decoder(b, ms[m]);
            double num = 0, den = 0;
            for (int64_t i = 0; i < n; i++) num += (da[i] - db[i]) * (da[i] - db[i]), den += da[i] * da[i];
            cr_expect(num <= 1e-10 * den, "r %d %s: decoders differ (%g of %g)", r, prism_method_name(ms[m]), num, den);
        }
        prism_subspace_close(a);
        prism_subspace_close(b);
        psf_report_free(&ra);
        psf_report_free(&rb);
    }
    rmtree(dir);
    free(dir), free(p1), free(p2);
    fitset_free(&F);
}

/* The file as written: layout, theta0, metadata, normalisation. */
Test(subspace_fit, file_round_trip) {
    prism_method ms[] = {PRISM_METHOD_HUT, PRISM_METHOD_LORA};
    fitset F;
    fitset_make(&F, ms, 2, 3, 9);
    char *dir = tmpdir(), *p = pathj(dir, "s.safetensors"), err[512];
    const char *names[3] = {"runs/a", "runs/b", "runs/c"};
    psf_options o = psf_options_default();
    o.rank = 2;
    psf_report rep;
    cr_assert_eq(psf_fit(F.init, F.runs, 2, 3, names, "runs/init", &o, p, &rep, err, sizeof err), PRISM_OK, "%s", err);
    prism_subspace *sp;
    cr_assert_eq(prism_subspace_open(p, &sp, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(prism_subspace_rank(sp), 2);
    cr_expect_eq(prism_subspace_method_count(sp), 2);
    cr_expect_eq(prism_subspace_method_at(sp, 0), PRISM_METHOD_HUT);
    cr_expect_eq(prism_subspace_method_at(sp, 1), PRISM_METHOD_LORA);
    cr_expect_str_eq(prism_subspace_meta(sp, "runs"), "[\"runs/a\",\"runs/b\",\"runs/c\"]");
    cr_expect_str_eq(prism_subspace_meta(sp, "init"), "runs/init");
    cr_expect_str_eq(prism_subspace_meta(sp, "normalize"), "method");
    for (int m = 0; m < 2; m++) {
        const prism_subspace_entry *e;
        int ne = prism_subspace_entries(sp, ms[m], &e);
        cr_assert_eq(ne, 4, "two tensors on each of two layers");
        cr_expect_str_eq(e[0].module, "layers.0");
        cr_expect_str_eq(e[3].module, "layers.1");
        cr_expect(strcmp(e[0].name, e[1].name) < 0, "sorted by name within a module");
        const float *t0 = prism_subspace_theta0(sp, ms[m]);
        int64_t p0 = 0;
        for (int i = 0; i < F.init[m].n; i++)
            for (int64_t q = 0; q < F.init[m].t[i].numel; q++, p0++)
                cr_expect_eq(t0[p0], F.init[m].t[i].f32[q], "theta0 is the init exactly");
        cr_expect_eq(p0, prism_subspace_size(sp, ms[m]));
        const char *const *mods;
        cr_expect_eq(prism_subspace_modules(sp, ms[m], &mods), 2);
        prism_adapter_config c;
        cr_expect_eq(prism_subspace_member_config(sp, ms[m], &c, err, sizeof err), PRISM_OK, "%s", err);
        cr_expect_eq(c.method, ms[m]);
        cr_expect_eq(c.r, 3);
        char key[64];
        snprintf(key, sizeof key, "scale.%s", prism_method_name(ms[m]));
        cr_expect(fabs(atof(prism_subspace_meta(sp, key)) - rep.scale[m]) <= 1e-12 * rep.scale[m]);
    }
    cr_expect_eq(prism_subspace_size(sp, PRISM_METHOD_ETHER), 0);
    cr_expect_eq(prism_subspace_entries(sp, PRISM_METHOD_ETHER, NULL), 0);
    prism_subspace_close(sp);
    psf_report_free(&rep);
    rmtree(dir);
    free(dir), free(p);
    fitset_free(&F);
}

/* ------------------------------------------------------------------ hostile files */

/* Copies src to dst changing one metadata entry (mval NULL: removed) and/or
 * one tensor (tmode 1: dropped, 2: first element NaN, 3: reshaped to [1]). */
static void rewrite(const char *src, const char *dst, const char *mkey, const char *mval, const char *tkey, int tmode) {
    prism_st_file *f;
    prism_st_writer *w;
    char err[256];
    cr_assert_eq(prism_st_open(src, 0, &f, err, sizeof err), PRISM_OK, "%s", err);
    cr_assert_eq(prism_st_writer_create(&w), PRISM_OK);
    for (size_t i = 0; i < prism_st_meta_count(f); i++) {
        const char *k, *v;
        prism_st_meta_at(f, i, &k, &v);
        if (mkey && !strcmp(k, mkey)) continue;
        cr_assert_eq(prism_st_writer_set_meta(w, k, v, err, sizeof err), PRISM_OK);
    }
    if (mkey && mval) cr_assert_eq(prism_st_writer_set_meta(w, mkey, mval, err, sizeof err), PRISM_OK);
    for (size_t i = 0; i < prism_st_count(f); i++) {
        const prism_st_tensor *t = prism_st_tensor_at(f, i);
        bool hit = tkey && !strcmp(t->name, tkey);
        if (hit && tmode == 1) continue;
        if (t->dtype == PRISM_DTYPE_I64) {
            int64_t *v = malloc(sizeof *v * (size_t)t->numel);
            cr_assert_eq(prism_st_read_i64(f, t->name, v, t->numel, err, sizeof err), PRISM_OK);
            cr_assert_eq(prism_st_writer_add_i64(w, t->name, t->ndim, t->shape, v, err, sizeof err), PRISM_OK);
            free(v);
            continue;
        }
        float *v = malloc(sizeof *v * (size_t)t->numel);
        cr_assert_eq(prism_st_read_f32(f, t->name, v, t->numel, err, sizeof err), PRISM_OK);
        if (hit && tmode == 2) v[0] = NAN;
        int64_t one = 1;
        if (hit && tmode == 3) cr_assert_eq(prism_st_writer_add_f32(w, t->name, 1, &one, v, err, sizeof err), PRISM_OK);
        else cr_assert_eq(prism_st_writer_add_f32(w, t->name, t->ndim, t->shape, v, err, sizeof err), PRISM_OK);
        free(v);
    }
    cr_assert_eq(prism_st_writer_write(w, dst, err, sizeof err), PRISM_OK, "%s", err);
    prism_st_writer_destroy(w);
    prism_st_close(f);
}

static void expect_open_fails(const char *p, prism_status want, const char *needle) {
    prism_subspace *sp = (prism_subspace *)1;
    char err[768] = "";
    prism_status st = prism_subspace_open(p, &sp, err, sizeof err);
    cr_expect_eq(st, want, "status %d (%s), want %d", st, err, want);
    cr_expect_null(sp);
    cr_expect(strstr(err, needle) != NULL, "message '%s' lacks '%s'", err, needle);
}

Test(subspace_fit, hostile_files) {
    prism_method ms[] = {PRISM_METHOD_LORA, PRISM_METHOD_SDCTFT};
    fitset F;
    fitset_make(&F, ms, 2, 3, 21);
    char *dir = tmpdir(), *good = pathj(dir, "good.safetensors"), *bad = pathj(dir, "bad.safetensors"), err[512];
    psf_options o = psf_options_default();
    o.rank = 2;
    cr_assert_eq(psf_fit(F.init, F.runs, 2, 3, NULL, NULL, &o, good, NULL, err, sizeof err), PRISM_OK, "%s", err);
    struct { const char *mkey, *mval, *tkey; int tmode; prism_status st; const char *needle; } cases[] = {
        {"format", "pt", NULL, 0, PRISM_ERR_FORMAT, "not a prism subspace file"},
        {"version", "2", NULL, 0, PRISM_ERR_FORMAT, "version"},
        {"rank", "0", NULL, 0, PRISM_ERR_FORMAT, "rank"},
        {"rank", "3", NULL, 0, PRISM_ERR_FORMAT, "lora.decoder"},
        {"rank", "2x", NULL, 0, PRISM_ERR_FORMAT, "rank"},
        {"rank", "99999", NULL, 0, PRISM_ERR_FORMAT, "rank"},
        {"methods", "{\"a\":1}", NULL, 0, PRISM_ERR_FORMAT, "methods"},
        {"methods", "[\"lora\",\"lora\"]", NULL, 0, PRISM_ERR_FORMAT, "twice"},
        {"methods", "[\"xpeft\"]", NULL, 0, PRISM_ERR_FORMAT, "not a subspace member"},
        {"methods", "[\"ether\"]", NULL, 0, PRISM_ERR_FORMAT, "layout.ether"},
        {"methods", "[3]", NULL, 0, PRISM_ERR_FORMAT, "not a string"},
        {"layout.lora", NULL, NULL, 0, PRISM_ERR_FORMAT, "layout.lora"},
        {"layout.lora", "[[\"layers.0\",\"lora_A.weight\",[3,5],1]]", NULL, 0, PRISM_ERR_FORMAT, "offset"},
        {"layout.lora", "[[\"layers.1\",\"lora_A.weight\",[3,6],0],[\"layers.0\",\"lora_A.weight\",[3,5],18]]", NULL, 0,
         PRISM_ERR_FORMAT, "canonical"},
        {"layout.lora", "[[\"layers.0\",\"lora_A.weight\",[3,-5],0]]", NULL, 0, PRISM_ERR_FORMAT, "layout.lora"},
        {"layout.lora", "[[\"\",\"x\",[1],0]]", NULL, 0, PRISM_ERR_FORMAT, "layout.lora"},
        {"layout.lora", "[[\"layers.0\",\"lora_A.weight\",[3,5],0]]", NULL, 0, PRISM_ERR_FORMAT, "lora.theta0"},
        {"layout.lora", "not json", NULL, 0, PRISM_ERR_FORMAT, "layout.lora"},
        {"config.lora", NULL, NULL, 0, PRISM_ERR_FORMAT, "config.lora"},
        {"config.lora", "{\"peft_type\":\"HIRA\",\"r\":3}", NULL, 0, PRISM_ERR_FORMAT, "describes method hut"},
        {"config.lora", "[1]", NULL, 0, PRISM_ERR_FORMAT, "config.lora"},
        {"scale.lora", "-1", NULL, 0, PRISM_ERR_FORMAT, "scale.lora"},
        {NULL, NULL, "lora.decoder", 1, PRISM_ERR_FORMAT, "no tensor 'lora.decoder'"},
        {NULL, NULL, "lora.theta0", 2, PRISM_ERR_FORMAT, "not finite"},
        {NULL, NULL, "sdctft.decoder", 2, PRISM_ERR_FORMAT, "not finite"},
        {NULL, NULL, "lora.decoder", 3, PRISM_ERR_FORMAT, "wrong shape"},
        {NULL, NULL, "coords", 3, PRISM_ERR_FORMAT, "coords"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rewrite(good, bad, cases[i].mkey, cases[i].mval, cases[i].tkey, cases[i].tmode);
        expect_open_fails(bad, cases[i].st, cases[i].needle);
    }
    /* truncated / missing / not safetensors */
    FILE *f = fopen(bad, "wb");
    fputs("garbage", f);
    fclose(f);
    expect_open_fails(bad, PRISM_ERR_FORMAT, "bad.safetensors");
    expect_open_fails("/nonexistent/prism.safetensors", PRISM_ERR_IO, "nonexistent");
    prism_subspace *sp;
    cr_expect_eq(prism_subspace_open(NULL, &sp, err, sizeof err), PRISM_ERR_INVALID_ARGUMENT);
    /* the good file still opens */
    cr_assert_eq(prism_subspace_open(good, &sp, err, sizeof err), PRISM_OK, "%s", err);
    float z[2] = {1, 2}, th[1];
    cr_expect_eq(prism_subspace_decode_host(sp, PRISM_METHOD_LORA, z, 3, th, err, sizeof err), PRISM_ERR_SHAPE);
    z[0] = NAN;
    cr_expect_eq(prism_subspace_decode_host(sp, PRISM_METHOD_LORA, z, 2, th, err, sizeof err), PRISM_ERR_NOT_FINITE);
    cr_expect_eq(prism_subspace_export(sp, PRISM_METHOD_HUT, z, 2, dir, err, sizeof err), PRISM_ERR_INVALID_ARGUMENT);
    prism_subspace_close(sp);
    rmtree(dir);
    free(dir), free(good), free(bad);
    fitset_free(&F);
}

/* ------------------------------------------------------------------ mismatched inputs */

static void expect_fit_fails(const psf_solution *init, const psf_solution *runs, int M, int K, int rank,
                             prism_status want, const char *needle) {
    char *dir = tmpdir(), *p = pathj(dir, "x.safetensors"), err[768] = "";
    psf_options o = psf_options_default();
    o.rank = rank;
    prism_status st = psf_fit(init, runs, M, K, NULL, NULL, &o, p, NULL, err, sizeof err);
    cr_expect_eq(st, want, "status %d (%s), want %d", st, err, want);
    cr_expect(strstr(err, needle) != NULL, "message '%s' lacks '%s'", err, needle);
    struct stat sb;
    cr_expect_neq(stat(p, &sb), 0, "nothing written on failure");
    rmtree(dir);
    free(dir), free(p);
}

Test(subspace_fit, mismatched_inputs) {
    prism_method ms[] = {PRISM_METHOD_LORA, PRISM_METHOD_SDCTFT};
    fitset F;
    fitset_make(&F, ms, 2, 3, 33);
    expect_fit_fails(F.init, F.runs, 2, 3, 4, PRISM_ERR_INVALID_ARGUMENT, "rank 4 must be in [1, K = 3 runs]");
    expect_fit_fails(F.init, F.runs, 2, 3, 0, PRISM_ERR_INVALID_ARGUMENT, "rank 0");
    /* methods swapped in one run */
    psf_solution tmp = F.runs[1 * 2 + 0];
    F.runs[1 * 2 + 0] = F.runs[1 * 2 + 1];
    F.runs[1 * 2 + 1] = tmp;
    expect_fit_fails(F.init, F.runs, 2, 3, 2, PRISM_ERR_FORMAT, "expected a lora solution");
    F.runs[1 * 2 + 1] = F.runs[1 * 2 + 0];
    F.runs[1 * 2 + 0] = tmp;
    /* a config field differs (another rank / alpha) */
    cJSON *old = cJSON_Duplicate(F.runs[2].config, 1);
    cJSON_ReplaceItemInObjectCaseSensitive(F.runs[2].config, "lora_alpha", cJSON_CreateNumber(99));
    expect_fit_fails(F.init, F.runs, 2, 3, 2, PRISM_ERR_FORMAT, "\"lora_alpha\" differs");
    cJSON_Delete(F.runs[2].config);
    F.runs[2].config = old;
    /* a tensor of another shape (another base model) */
    F.runs[0].t[0].shape[1] += 1;
    expect_fit_fails(F.init, F.runs, 2, 3, 2, PRISM_ERR_SHAPE, "does not match the init");
    F.runs[0].t[0].shape[1] -= 1;
    /* a layer missing */
    F.runs[0].n--;
    expect_fit_fails(F.init, F.runs, 2, 3, 2, PRISM_ERR_SHAPE, "tensors, the init has");
    F.runs[0].n++;
    /* sDCTFT's frozen index differs: selected on another W0 */
    psf_tensor *ix = NULL;
    for (int i = 0; i < F.runs[3].n; i++)
        if (!F.runs[3].t[i].trainable) ix = &F.runs[3].t[i];
    cr_assert_not_null(ix);
    ix->i64[0] ^= 1;
    expect_fit_fails(F.init, F.runs, 2, 3, 2, PRISM_ERR_FORMAT, "frozen tensor");
    ix->i64[0] ^= 1;
    /* the same method twice */
    psf_solution twice[2] = {F.init[0], F.init[0]};
    expect_fit_fails(twice, F.runs, 2, 3, 2, PRISM_ERR_INVALID_ARGUMENT, "given twice");
    /* runs equal to the init: nothing to fit; duplicated runs: rank deficient */
    psf_solution same[3] = {F.init[0], F.init[0], F.init[0]};
    expect_fit_fails(F.init, same, 1, 3, 1, PRISM_ERR_INVALID_ARGUMENT, "equals its init");
    psf_solution dup[3] = {F.runs[0], F.runs[2], F.runs[0]};
    expect_fit_fails(F.init, dup, 1, 3, 3, PRISM_ERR_INVALID_ARGUMENT, "span only 2 dimensions");
    fitset_free(&F);
}

/* ------------------------------------------------------------------ directories */

/* A multi-module adapter directory as prism train writes it. */
static void write_adapter_dir(const char *dir, layers *L) {
    char cmd[600], err[512];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    prism_st_writer *w;
    cr_assert_eq(prism_st_writer_create(&w), PRISM_OK);
    for (int i = 0; i < NL; i++) {
        char key[64];
        snprintf(key, sizeof key, "base_model.model.%s", MODS[i]);
        cr_assert_eq(prism_adapter_save_tensors(L->ad[i], key, w), PRISM_OK);
    }
    char *p = pathj(dir, "adapter_model.safetensors"), *c = pathj(dir, "adapter_config.json");
    cr_assert_eq(prism_st_writer_write(w, p, err, sizeof err), PRISM_OK, "%s", err);
    cJSON *cfg = cJSON_CreateObject(), *mods = cJSON_CreateArray();
    for (int i = 0; i < NL; i++) cJSON_AddItemToArray(mods, cJSON_CreateString(MODS[i]));
    cJSON_AddItemToObject(cfg, "target_modules", mods);
    cr_assert_eq(prism_adapter_config_to_json(prism_adapter_get_config(L->ad[0]), cfg, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_json_write(c, cfg, err, sizeof err), PRISM_OK, "%s", err);
    cJSON_Delete(cfg);
    prism_st_writer_destroy(w);
    free(p), free(c);
}

Test(subspace_fit, fit_from_run_directories) {
    char *root = tmpdir(), err[768], sub[700];
    prism_method ms[] = {PRISM_METHOD_LORA, PRISM_METHOD_HUT};
    const char *runs[3];
    char *rd[4];
    for (int k = 0; k <= 3; k++) {
        char name[32];
        snprintf(name, sizeof name, k ? "run%d" : "init", k);
        char *rdir = pathj(root, name);
        for (int m = 0; m < 2; m++) {
            layers L;
            cr_assert(layers_make(&L, env.ref, ms[m], 100));
            if (k) cr_assert_eq(pc_adapter_randomize(L.ad[0], 50 + (uint64_t)(k * 2 + m), 0.3f), PRISM_OK);
            if (k) cr_assert_eq(pc_adapter_randomize(L.ad[1], 80 + (uint64_t)(k * 2 + m), 0.3f), PRISM_OK);
            /* prism train's layout <method>-<profile>/adapter for LoRA, a plain subdirectory for HUT */
            snprintf(sub, sizeof sub, m == 0 ? "%s/lora-shift/adapter" : "%s/hut", rdir);
            write_adapter_dir(sub, &L);
            layers_free(&L);
        }
        if (k) runs[k - 1] = rd[k - 1] = rdir;
        else rd[3] = rdir;
    }
    prism_method found[PRISM_METHOD_COUNT];
    cr_expect_eq(psf_methods_in(rd[3], found, PRISM_METHOD_COUNT), 2);
    cr_expect_eq(found[0], PRISM_METHOD_LORA);
    cr_expect_eq(found[1], PRISM_METHOD_HUT);
    char *out = pathj(root, "sub.safetensors");
    psf_options o = psf_options_default();
    o.rank = 3;
    psf_report rep;
    cr_assert_eq(psf_fit_dirs(runs, 3, rd[3], NULL, 0, &o, out, &rep, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(rep.K, 3);
    cr_expect_eq(rep.N, 2 * (3 * 5 + 6 * 3 + 3 * 6 + 4 * 3));
    prism_subspace *sp;
    cr_assert_eq(prism_subspace_open(out, &sp, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(prism_subspace_method_count(sp), 2);
    cr_expect(strstr(prism_subspace_meta(sp, "runs"), "run2") != NULL);
    prism_subspace_close(sp);
    psf_report_free(&rep);

    /* a run without a HUT adapter; a run with two LoRA adapters */
    snprintf(sub, sizeof sub, "rm -rf '%s/hut'", rd[1]);
    cr_assert_eq(system(sub), 0);
    cr_expect_eq(psf_fit_dirs(runs, 3, rd[3], ms, 2, &o, out, NULL, err, sizeof err), PRISM_ERR_FORMAT);
    cr_expect(strstr(err, "has no hut adapter") && strstr(err, "run2"), "%s", err);
    snprintf(sub, sizeof sub, "cp -r '%s/lora-shift' '%s/lora-copy'", rd[0], rd[0]);
    cr_assert_eq(system(sub), 0);
    cr_expect_eq(psf_fit_dirs(runs, 1, rd[3], ms, 1, &o, out, NULL, err, sizeof err), PRISM_ERR_FORMAT);
    cr_expect(strstr(err, "2 lora adapters"), "%s", err);
    cr_expect_eq(psf_fit_dirs(runs, 3, "/nonexistent", NULL, 0, &o, out, NULL, err, sizeof err), PRISM_ERR_FORMAT);
    char hdir[700];
    cr_expect_eq(psf_find_adapter_dir("/nonexistent", PRISM_METHOD_LORA, hdir, sizeof hdir, err, sizeof err),
                 PRISM_ERR_IO);
    /* a damaged adapter file in a run */
    snprintf(sub, sizeof sub, "%s/run3/hut/adapter_model.safetensors", root);
    FILE *f = fopen(sub, "wb");
    fputs("xx", f);
    fclose(f);
    const char *run3[1] = {rd[2]};
    cr_expect_eq(psf_fit_dirs(run3, 1, rd[3], ms + 1, 1, &o, out, NULL, err, sizeof err), PRISM_ERR_FORMAT);
    cr_expect(strstr(err, "run3/hut"), "%s", err);
    rmtree(root);
    for (int i = 0; i < 4; i++) free(rd[i]);
    free(root), free(out);
}

/* ------------------------------------------------------------------ export = the adapter */

/* z decoded on the host and written as an ordinary adapter of each member
 * computes what the SUBSPACE adapter computes with that z on the device. */
Test(subspace_fit, export_matches_the_subspace_adapter) {
    prism_method ms[] = {PRISM_METHOD_LORA, PRISM_METHOD_ETHER, PRISM_METHOD_ETHER_PLUS, PRISM_METHOD_HUT,
                         PRISM_METHOD_SDCTFT, PRISM_METHOD_FOURIERFT};
    fitset F;
    fitset_make(&F, ms, 6, 4, 77);
    char *dir = tmpdir(), *p = pathj(dir, "s.safetensors"), err[512];
    psf_options o = psf_options_default();
    o.rank = 3;
    cr_assert_eq(psf_fit(F.init, F.runs, 6, 4, NULL, NULL, &o, p, NULL, err, sizeof err), PRISM_OK, "%s", err);
    prism_subspace *sp;
    cr_assert_eq(prism_subspace_open(p, &sp, err, sizeof err), PRISM_OK, "%s", err);
    const float z[3] = {0.8f, -1.2f, 0.3f};
    for (int m = 0; m < 6; m++) {
        char *ex = pathj(dir, prism_method_name(ms[m]));
        cr_assert_eq(prism_subspace_export(sp, ms[m], z, 3, ex, err, sizeof err), PRISM_OK, "%s", err);
        prism_subspace_model *mdl;
        cr_assert_eq(prism_subspace_model_create(env.dev, sp, ms[m], NULL, 0, &mdl), PRISM_OK);
        cr_assert_eq(prism_subspace_model_set_z(mdl, z, 3), PRISM_OK);
        for (int i = 0; i < NL; i++) {
            layer ly;
            layer_make(&ly, env.dev, SM[i], SN[i], T, true, 100 + 10 * (uint64_t)i);
            prism_adapter *plain = NULL, *sub = NULL;
            cr_assert_eq(prism_adapter_load(env.dev, ex, MODS[i], ly.W0, ly.b, &plain), PRISM_OK, "%s: %s",
                         prism_method_name(ms[m]), prism_error_message(env.dev));
            prism_subspace_ext ext;
            cr_assert_eq(prism_subspace_model_ext(mdl, MODS[i], &ext), PRISM_OK);
            prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_SUBSPACE);
            c.ext = &ext;
            cr_assert_eq(prism_adapter_create(env.dev, &c, ly.W0, ly.b, &sub), PRISM_OK, "%s", prism_error_message(env.dev));
            int64_t ys[2] = {T, SM[i]};
            prism_tensor *Y2;
            cr_assert_eq(prism_tensor_create(env.dev, 2, ys, &Y2), PRISM_OK);
            prism_stream *s;
            cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
            cr_assert_eq(prism_adapter_forward(s, plain, ly.X, ly.Y), PRISM_OK);
            cr_assert_eq(prism_adapter_forward(s, sub, ly.X, Y2), PRISM_OK);
            run(s);
            pc_result r = {0};
            double *a = pc_download(&r, ly.Y), *b = pc_download(&r, Y2);
            pc_compare(&r, "Y", b, a, T * SM[i], 1e-10);
            cr_expect_eq(r.outcome, PC_PASS, "%s %s: %s", prism_method_name(ms[m]), MODS[i], r.detail);
            free(a), free(b);
            prism_stream_destroy(s);
            prism_tensor_destroy(Y2);
            prism_adapter_destroy(plain);
            prism_adapter_destroy(sub);
            layer_free(&ly);
        }
        prism_subspace_model_destroy(mdl);
        free(ex);
    }
    prism_subspace_close(sp);
    rmtree(dir);
    free(dir), free(p);
    fitset_free(&F);
}
