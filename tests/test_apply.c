/* The adapter tools run as processes: `prism apply` (Y, dX, parameter
 * gradients, W_eff from .npy inputs) against the library computed in-process
 * on the same device and on the float64 reference, and `prism merge` against
 * prism_adapter_merge, for every method; apply's input variants (leading
 * dims, a safetensors weight, bias choices, --merged alone). A method whose
 * file is not built yet is skipped. Merge of other dtypes, multi-module
 * files and inspect: test_apply_merge.c; bad arguments and damaged files:
 * test_apply_errors.c. */
#include "apply_fixture.h"

TestSuite(apply, .init = apply_setup, .fini = apply_teardown, .timeout = 300);

typedef struct results { double *Y, *dX, *W; } results;

/* What the library computes in-process: the adapter loaded from adir on ctx. */
static results library(prism_context *ctx, const char *adir, const double *W0h, const double *bh,
                       const double *Xh, const double *dYh, double **grads, int64_t *gsize, int *ngrads) {
    int64_t sw[2] = {M, N}, sb[1] = {M}, sx[2] = {T, N}, sy[2] = {T, M};
    prism_tensor *W0 = upload(ctx, 2, sw, W0h), *b = upload(ctx, 1, sb, bh), *X = upload(ctx, 2, sx, Xh),
                 *dY = upload(ctx, 2, sy, dYh), *Y, *dX, *W;
    cr_assert_eq(prism_tensor_create(ctx, 2, sy, &Y), PRISM_OK);
    cr_assert_eq(prism_tensor_create(ctx, 2, sx, &dX), PRISM_OK);
    cr_assert_eq(prism_tensor_create(ctx, 2, sw, &W), PRISM_OK);
    prism_adapter *ad = NULL;
    cr_assert_eq(prism_adapter_load(ctx, adir, MODULE, W0, b, &ad), PRISM_OK, "load: %s", prism_error_message(ctx));
    prism_stream *s;
    cr_assert_eq(prism_stream_create(ctx, &s), PRISM_OK);
    cr_assert_eq(prism_adapter_forward(s, ad, X, Y), PRISM_OK, "%s", prism_error_message(ctx));
    cr_assert_eq(prism_adapter_zero_grad(s, ad), PRISM_OK, "%s", prism_error_message(ctx));
    cr_assert_eq(prism_adapter_backward(s, ad, X, dY, dX), PRISM_OK, "%s", prism_error_message(ctx));
    cr_assert_eq(prism_adapter_merge(s, ad, W), PRISM_OK, "%s", prism_error_message(ctx));
    cr_assert_eq(prism_stream_run(s), PRISM_OK, "%s", prism_error_message(ctx));
    results r = {download(Y), download(dX), download(W)};
    const prism_param *pl;
    int np = prism_adapter_params(ad, &pl);
    *ngrads = 0;
    for (int i = 0; i < np; i++) {
        if (!pl[i].trainable || !pl[i].grad) continue;
        cr_assert_lt(*ngrads, MAXP);
        gsize[*ngrads] = prism_tensor_numel(pl[i].grad);
        grads[*ngrads] = download(pl[i].grad);
        (*ngrads)++;
    }
    prism_stream_destroy(s);
    prism_adapter_destroy(ad);
    prism_tensor *all[] = {W0, b, X, dY, Y, dX, W};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) prism_tensor_destroy(all[i]);
    return r;
}

static void free_results(results *r) {
    free(r->Y);
    free(r->dX);
    free(r->W);
}

/* Compares the gradient file written by apply with the library's gradients
 * (trainable parameters in list order). */
static void check_grads(const char *path, prism_adapter *ad, double *const *want, int nwant, double tol) {
    prism_st_file *f = NULL;
    cr_assert_eq(prism_st_open(path, 0, &f, err, sizeof err), PRISM_OK, "%s", err);
    const prism_param *pl;
    int np = prism_adapter_params(ad, &pl), k = 0;
    for (int i = 0; i < np; i++) {
        if (!pl[i].trainable || !pl[i].grad) continue;
        char key[256];
        snprintf(key, sizeof key, "base_model.model." MODULE ".%s", pl[i].name);
        const prism_st_tensor *t = prism_st_find(f, key);
        cr_assert_not_null(t, "%s: no key %s", path, key);
        int64_t n = prism_tensor_numel(pl[i].value);
        cr_expect_eq(t->numel, n);
        cr_expect_eq(t->ndim, prism_tensor_ndim(pl[i].value));
        float *h = malloc((size_t)n * sizeof *h);
        double *d = malloc((size_t)n * sizeof *d);
        cr_assert_eq(prism_st_read_f32(f, key, h, n, err, sizeof err), PRISM_OK, "%s", err);
        for (int64_t j = 0; j < n; j++) d[j] = h[j];
        cr_assert_lt(k, nwant);
        expect_close(key, d, want[k], n, tol);
        k++;
        free(h);
        free(d);
    }
    cr_expect_eq(k, nwant);
    cr_expect_eq(prism_st_count(f), (size_t)nwant, "%s: %zu tensors, %d gradients", path, prism_st_count(f), nwant);
    prism_st_close(f);
}

/* apply (device and reference) and merge for one method. */
static void roundtrip(prism_method m) {
    prism_context *dev = t_device(), *ref = t_reference();
    const char *mn = prism_method_name(m);
    char adir[300];
    snprintf(adir, sizeof adir, "%s/%s", wd, mn);
    double *W0h = rand_array(M * N), *bh = rand_array(M), *Xh = rand_array(T * N), *dYh = rand_array(T * M),
           *other = rand_array(6);
    int64_t sw[2] = {M, N}, sb[1] = {M}, sx[2] = {T, N}, sy[2] = {T, M};
    prism_tensor *W0t = upload(dev, 2, sw, W0h), *bt = upload(dev, 1, sb, bh);
    prism_adapter *ad = make_adapter(dev, m, W0t, bt, adir, ref);
    write_f8(P("W0.npy"), 2, sw, W0h);
    write_f8(P("b.npy"), 1, sb, bh);
    write_f8(P("X.npy"), 2, sx, Xh);
    write_f8(P("dY.npy"), 2, sy, dYh);

    /* device: f4 files, against the library on the same device */
    run_out r = cli("apply -a '%s' -w '%s' --bias '%s' -x '%s' -y '%s' --dy '%s' --dx '%s' --grads '%s' --merged '%s'",
                    adir, P("W0.npy"), P("b.npy"), P("X.npy"), P("Y.npy"), P("dY.npy"), P("dX.npy"),
                    P("G.safetensors"), P("W.npy"));
    cr_assert_eq(r.rc, 0, "prism apply (%s) exited %d:\n%s", mn, r.rc, r.text);
    free(r.text);
    double *gd[MAXP], *gr[MAXP];
    int64_t gn[MAXP];
    int ngd = 0, ngr = 0;
    results lib = library(dev, adir, W0h, bh, Xh, dYh, gd, gn, &ngd);
    prism_npy_array y = read_npy(P("Y.npy"), PRISM_DTYPE_F32), dx = read_npy(P("dX.npy"), PRISM_DTYPE_F32),
                    w = read_npy(P("W.npy"), PRISM_DTYPE_F32);
    cr_expect(y.ndim == 2 && y.shape[0] == T && y.shape[1] == M, "Y shape");
    cr_expect(dx.ndim == 2 && dx.shape[0] == T && dx.shape[1] == N, "dX shape");
    cr_expect(w.ndim == 2 && w.shape[0] == M && w.shape[1] == N, "W shape");
    expect_close("Y (device) vs library", y.data, lib.Y, T * M, 1e-12);
    expect_close("dX (device) vs library", dx.data, lib.dX, T * N, 1e-12);
    expect_close("W_eff (device) vs library", w.data, lib.W, M * N, 1e-12);
    check_grads(P("G.safetensors"), ad, gd, ngd, 1e-12);

    /* reference: f8 files, against the library on the reference backend, and
     * the device's results against them */
    r = cli("apply -a '%s' -w '%s' --bias '%s' -x '%s' -y '%s' --dy '%s' --dx '%s' --grads '%s' --merged '%s' "
            "--device reference --dtype f8",
            adir, P("W0.npy"), P("b.npy"), P("X.npy"), P("Yr.npy"), P("dY.npy"), P("dXr.npy"), P("Gr.safetensors"),
            P("Wr.npy"));
    cr_assert_eq(r.rc, 0, "prism apply --device reference (%s) exited %d:\n%s", mn, r.rc, r.text);
    free(r.text);
    results lr = library(ref, adir, W0h, bh, Xh, dYh, gr, gn, &ngr);
    prism_npy_array yr = read_npy(P("Yr.npy"), PRISM_DTYPE_F64), dxr = read_npy(P("dXr.npy"), PRISM_DTYPE_F64),
                    wr = read_npy(P("Wr.npy"), PRISM_DTYPE_F64);
    expect_close("Y (reference) vs library", yr.data, lr.Y, T * M, 1e-28);
    expect_close("dX (reference) vs library", dxr.data, lr.dX, T * N, 1e-28);
    expect_close("W_eff (reference) vs library", wr.data, lr.W, M * N, 1e-28);
    check_grads(P("Gr.safetensors"), ad, gr, ngr, 1e-13); /* the file is F32 */
    expect_close("Y: device vs float64", y.data, yr.data, T * M, 1e-9);
    expect_close("dX: device vs float64", dx.data, dxr.data, T * N, 1e-9);
    expect_close("W_eff: device vs float64", w.data, wr.data, M * N, 1e-9);
    cr_assert_eq(ngd, ngr);
    for (int i = 0; i < ngd; i++) expect_close("gradient: device vs float64", gd[i], gr[i], gn[i], 1e-9);

    /* merge: W_eff replaces the module's weight; the rest is copied. On the
     * reference backend: a device process costs seconds of shader compiles
     * on lavapipe for some methods, and the device merge path is the same
     * code (the LoRA tests below run it on the device). */
    write_base(P("base.safetensors"), W0h, bh, other);
    r = cli("merge -b '%s' -a '%s' -o '%s' --device reference", P("base.safetensors"), adir, P("merged.safetensors"));
    cr_assert_eq(r.rc, 0, "prism merge (%s) exited %d:\n%s", mn, r.rc, r.text);
    free(r.text);
    prism_st_file *f = NULL;
    cr_assert_eq(prism_st_open(P("merged.safetensors"), 0, &f, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(prism_st_count(f), 3);
    double *mw = st_tensor(f, MODULE ".weight", M * N), *mb = st_tensor(f, MODULE ".bias", M),
           *mo = st_tensor(f, "lm_head.weight", 6);
    expect_close("merged weight vs prism_adapter_merge (float64, file F32)", mw, lr.W, M * N, 1e-13);
    if (m != PRISM_METHOD_FULL) {
        expect_close("merged bias (kept)", mb, bh, M, 0);
    } else { /* FULL trains the bias: the merged file holds the trained one */
        const prism_param *pl;
        int np = prism_adapter_params(ad, &pl), found = 0;
        for (int i = 0; i < np; i++)
            if (!strcmp(pl[i].name, "bias")) {
                double *tb = download(pl[i].value);
                expect_close("merged bias (FULL: trained)", mb, tb, M, 1e-13);
                free(tb);
                found = 1;
            }
        cr_expect(found, "FULL adapter without a bias parameter");
    }
    expect_close("lm_head (copied)", mo, other, 6, 0);
    cr_expect_str_eq(prism_st_meta_get(f, "format") ? prism_st_meta_get(f, "format") : "", "pt");
    prism_st_close(f);
    free(mw), free(mb), free(mo);

    for (int i = 0; i < ngd; i++) free(gd[i]);
    for (int i = 0; i < ngr; i++) free(gr[i]);
    prism_npy_array *arrs[] = {&y, &dx, &w, &yr, &dxr, &wr};
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++) prism_npy_free(arrs[i]);
    free_results(&lib);
    free_results(&lr);
    prism_adapter_destroy(ad);
    prism_tensor_destroy(W0t);
    prism_tensor_destroy(bt);
    free(W0h), free(bh), free(Xh), free(dYh), free(other);
    t_destroy(ref);
    t_destroy(dev);
}

Test(apply, lora) { roundtrip(PRISM_METHOD_LORA); }
Test(apply, none) { roundtrip(PRISM_METHOD_NONE); }
Test(apply, full) { roundtrip(PRISM_METHOD_FULL); }
Test(apply, ether) { roundtrip(PRISM_METHOD_ETHER); }
Test(apply, etherplus) { roundtrip(PRISM_METHOD_ETHER_PLUS); }
Test(apply, hut) { roundtrip(PRISM_METHOD_HUT); }
Test(apply, sdctft) { roundtrip(PRISM_METHOD_SDCTFT); }
Test(apply, fourierft) { roundtrip(PRISM_METHOD_FOURIERFT); }

/* ------------------------------------------------------------ apply variants */

Test(apply, leading_dims_safetensors_weight_and_bias_choices) {
    prism_context *dev = t_device();
    lora_fx F;
    lora_open(&F, dev, "lead");
    double *W0h = F.W0h, *bh = F.bh, other[6] = {1, 2, 3, 4, 5, 6};
    write_base(P("lead_base.safetensors"), W0h, bh, other);
    /* X as [2, 3, N] float32 vs the same rows as [6, N] float64 with .npy W0 */
    double *Xh = rand_array(6 * N);
    float Xf[6 * N];
    for (int i = 0; i < 6 * N; i++) Xf[i] = (float)Xh[i];
    int64_t s3[3] = {2, 3, N}, s2[2] = {6, N}, sw[2] = {M, N}, sb[1] = {M};
    cr_assert_eq(prism_npy_write(P("X3.npy"), PRISM_DTYPE_F32, 3, s3, Xf, err, sizeof err), PRISM_OK, "%s", err);
    write_f8(P("X2.npy"), 2, s2, Xh);
    write_f8(P("lW0.npy"), 2, sw, W0h);
    write_f8(P("lb.npy"), 1, sb, bh);

    run_out r = cli("apply -a '%s' -w '%s' -x '%s' -y '%s'", P("lead"), P("lead_base.safetensors"), P("X3.npy"),
                    P("Y3.npy"));
    cr_assert_eq(r.rc, 0, "apply (safetensors weight, 3-D X) exited %d:\n%s", r.rc, r.text);
    free(r.text);
    r = cli("apply -a '%s' -w '%s' --bias '%s' -x '%s' -y '%s'", P("lead"), P("lW0.npy"), P("lb.npy"), P("X2.npy"),
            P("Y2.npy"));
    cr_assert_eq(r.rc, 0, "apply (.npy weight) exited %d:\n%s", r.rc, r.text);
    free(r.text);
    r = cli("apply -a '%s' -w '%s' --key '" MODULE ".weight' --no-bias -x '%s' -y '%s'", P("lead"),
            P("lead_base.safetensors"), P("X2.npy"), P("Ynb.npy"));
    cr_assert_eq(r.rc, 0, "apply --no-bias exited %d:\n%s", r.rc, r.text);
    free(r.text);
    prism_npy_array y3 = read_npy(P("Y3.npy"), PRISM_DTYPE_F32), y2 = read_npy(P("Y2.npy"), PRISM_DTYPE_F32),
                    ynb = read_npy(P("Ynb.npy"), PRISM_DTYPE_F32);
    cr_expect(y3.ndim == 3 && y3.shape[0] == 2 && y3.shape[1] == 3 && y3.shape[2] == M, "Y keeps X's leading dims");
    expect_close("Y [2,3,m] vs Y [6,m]", y3.data, y2.data, 6 * M, 1e-12);
    double *ypb = ynb.data;
    for (int t = 0; t < 6; t++)
        for (int i = 0; i < M; i++) ypb[t * M + i] += bh[i];
    expect_close("Y without bias + b", ypb, y2.data, 6 * M, 1e-12);
    prism_npy_free(&y3), prism_npy_free(&y2), prism_npy_free(&ynb);

    /* --merged alone needs no input */
    r = cli("apply -a '%s' -w '%s' --merged '%s' --dtype f8", P("lead"), P("lW0.npy"), P("lW.npy"));
    cr_assert_eq(r.rc, 0, "apply --merged exited %d:\n%s", r.rc, r.text);
    free(r.text);
    prism_npy_array w = read_npy(P("lW.npy"), PRISM_DTYPE_F64);
    double *wl = merged_weight(dev, F.ad);
    expect_close("--merged vs prism_adapter_merge", w.data, wl, M * N, 1e-12);
    free(wl);
    prism_npy_free(&w);
    lora_close(&F);
    free(Xh);
    t_destroy(dev);
}
