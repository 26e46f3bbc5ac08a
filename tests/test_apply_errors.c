/* The adapter tools' failures: bad arguments exit 2 with a message (and
 * --help exits 0); damaged or mismatched files make inspect, apply and merge
 * exit 1 naming the file, with no output left behind. */
#include "apply_fixture.h"

TestSuite(apply, .init = apply_setup, .fini = apply_teardown, .timeout = 300);

static void put_text(const char *path, const char *text) { put_file(path, text, strlen(text)); }

/* ------------------------------------------------------------ errors */

Test(apply, bad_arguments_exit_2) {
    /* real files so that only the argument is wrong */
    prism_context *dev = t_device();
    lora_fx F;
    lora_open(&F, dev, "args");
    int64_t sw[2] = {M, N}, sx[2] = {T, N};
    write_f8(P("aW0.npy"), 2, sw, F.W0h);
    write_f8(P("aX.npy"), 2, sx, F.W0h);
    char a[300], wn[300], x[300];
    snprintf(a, sizeof a, "-a '%s'", P("args"));
    snprintf(wn, sizeof wn, "-w '%s'", P("aW0.npy"));
    snprintf(x, sizeof x, "-x '%s'", P("aX.npy"));
    struct { const char *fmt, *a1, *a2, *a3; } bad[] = {
        {"apply", "", "", ""},
        {"apply --frob", "", "", ""},
        {"apply %s", a, "", ""},                                   /* no --weight */
        {"apply %s %s", a, wn, ""},                                /* nothing to do */
        {"apply %s %s %s", a, wn, x},                              /* X but no output */
        {"apply %s %s -y Y.npy", a, wn, ""},                       /* Y without X */
        {"apply %s %s %s -y Y.npy --dx dX.npy", a, wn, x},         /* --dx without --dy */
        {"apply %s %s %s --dy dY.npy", a, wn, x},                  /* --dy, nothing to write */
        {"apply %s %s --merged W.npy --dtype f2", a, wn, ""},
        {"apply %s %s --merged W.npy --key k", a, wn, ""},         /* --key with .npy */
        {"apply %s %s --merged W.npy --no-bias", a, wn, ""},
        {"apply %s -w W0.bin --merged W.npy", a, "", ""},
        {"apply %s %s --merged W.npy --bias b.txt", a, wn, ""},
        {"apply %s %s --merged W.npy stray", a, wn, ""},
        {"apply %s %s --merged ''", a, wn, ""},
        {"apply %s %s --merged W.npy --device nosuchdevice", a, wn, ""},
        {"apply %s %s --merged", a, wn, ""},
        {"merge", "", "", ""},
        {"merge -b base.safetensors -a %s", a + 3, "", ""},
        {"merge -b base.safetensors -o out.safetensors", "", "", ""},
        {"merge -b x -a y -o z stray", "", "", ""},
        {"merge -b '' -a y -o z", "", "", ""},
        {"merge --frob", "", "", ""},
        {"inspect", "", "", ""},
        {"inspect a b", "", "", ""},
        {"inspect --json", "", "", ""},
        {"inspect --device reference %s", a + 3, "", ""},
        {"inspect --frob %s", a + 3, "", ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char args[1200];
        snprintf(args, sizeof args, bad[i].fmt, bad[i].a1, bad[i].a2, bad[i].a3);
        run_out r = cli("%s", args);
        cr_expect_eq(r.rc, 2, "prism %s: exit %d (want 2):\n%s", args, r.rc, r.text);
        cr_expect(strlen(r.text) > 0, "prism %s: no message", args);
        free(r.text);
    }
    const char *ok[] = {"apply --help", "merge --help", "inspect --help", "help apply"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        run_out r = cli("%s", ok[i]);
        cr_expect_eq(r.rc, 0, "prism %s: exit %d:\n%s", ok[i], r.rc, r.text);
        cr_expect(has(r.text, "usage: prism"), "prism %s printed:\n%s", ok[i], r.text);
        free(r.text);
    }
    lora_close(&F);
    t_destroy(dev);
}

/* Copies src's adapter files into dir/<dst>. */
static void copy_adapter(const char *src, const char *dst) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", P(src), P(dst));
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/* Runs the three commands on adapter dir/<name>; each must exit 1 with a
 * message holding `needle`. */
static void expect_all_fail(const char *name, const char *needle) {
    char adir[300], base[300], wnpy[300], out[300];
    snprintf(adir, sizeof adir, "%s", P(name));
    snprintf(base, sizeof base, "%s", P("e_base.safetensors"));
    snprintf(wnpy, sizeof wnpy, "%s", P("eW0.npy"));
    snprintf(out, sizeof out, "%s", P("e_out.safetensors"));
    run_out r[3] = {cli("inspect '%s'", adir), cli("apply -a '%s' -w '%s' --merged '%s'", adir, wnpy, P("eW.npy")),
                    cli("merge -b '%s' -a '%s' -o '%s'", base, adir, out)};
    const char *what[3] = {"inspect", "apply", "merge"};
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(r[i].rc, 1, "%s on %s: exit %d (want 1):\n%s", what[i], name, r[i].rc, r[i].text);
        cr_expect(has(r[i].text, needle), "%s on %s: message does not name '%s':\n%s", what[i], name, needle,
                  r[i].text);
        free(r[i].text);
    }
    struct stat sb;
    cr_expect(stat(out, &sb) != 0, "merge left an output behind after failing on %s", name);
}

Test(apply, damaged_files_exit_1_naming_the_file) {
    prism_context *dev = t_device();
    lora_fx F;
    lora_open(&F, dev, "good");
    prism_adapter *ad = F.ad;
    double *W0h = F.W0h, *bh = F.bh, other[6] = {1, 2, 3, 4, 5, 6};
    write_base(P("e_base.safetensors"), W0h, bh, other);
    int64_t sw[2] = {M, N};
    write_f8(P("eW0.npy"), 2, sw, W0h);

    /* garbage tensor file */
    copy_adapter("good", "garbage");
    put_text(P("garbage/adapter_model.safetensors"), "this is not a safetensors file at all");
    expect_all_fail("garbage", "garbage/adapter_model.safetensors");
    /* truncated tensor file */
    copy_adapter("good", "trunc");
    cr_assert_eq(truncate(P("trunc/adapter_model.safetensors"), 100), 0);
    expect_all_fail("trunc", "trunc/adapter_model.safetensors");
    /* broken and missing config */
    copy_adapter("good", "badcfg");
    put_text(P("badcfg/adapter_config.json"), "{\"peft_type\": \"LORA\", ");
    expect_all_fail("badcfg", "badcfg/adapter_config.json");
    copy_adapter("good", "nocfg");
    cr_assert_eq(unlink(P("nocfg/adapter_config.json")), 0);
    expect_all_fail("nocfg", "nocfg/adapter_config.json");
    copy_adapter("good", "badtype");
    put_text(P("badtype/adapter_config.json"), "{\"peft_type\": \"NOSUCH\", \"target_modules\": [\"fc\"]}");
    expect_all_fail("badtype", "NOSUCH");
    /* a tensor the method does not have */
    copy_adapter("good", "stray");
    prism_st_writer *w;
    float one[2] = {1, 2};
    int64_t s1[1] = {2};
    cr_assert_eq(prism_st_writer_create(&w), PRISM_OK);
    cr_assert_eq(prism_adapter_save_tensors(ad, "base_model.model." MODULE, w), PRISM_OK);
    cr_assert_eq(prism_st_writer_add_f32(w, KEY("bogus"), 1, s1, one, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_writer_write(w, P("stray/adapter_model.safetensors"), err, sizeof err), PRISM_OK);
    prism_st_writer_destroy(w);
    run_out r = cli("apply -a '%s' -w '%s' --merged '%s'", P("stray"), P("eW0.npy"), P("eW.npy"));
    cr_expect_eq(r.rc, 1, "stray tensor: exit %d:\n%s", r.rc, r.text);
    cr_expect(has(r.text, "bogus") && has(r.text, "stray/adapter_model.safetensors"), "message:\n%s", r.text);
    free(r.text);
    /* an adapter tensor that does not fit W0 */
    int64_t swide[2] = {M, N + 1};
    double *wide = rand_array(M * (N + 1));
    write_f8(P("eWide.npy"), 2, swide, wide);
    free(wide);
    r = cli("apply -a '%s' -w '%s' --merged '%s'", P("good"), P("eWide.npy"), P("eW.npy"));
    cr_expect_eq(r.rc, 1, "W0 of another shape: exit %d:\n%s", r.rc, r.text);
    cr_expect(has(r.text, "lora_A.weight") && has(r.text, "good/adapter_model.safetensors"), "message:\n%s", r.text);
    free(r.text);
    /* X of the wrong width, dY of the wrong shape */
    int64_t sx[2] = {T, N + 2}, sx2[2] = {T, N}, sy[2] = {T + 1, M};
    double *xh = rand_array(T * (N + 2)), *yh = rand_array((T + 1) * M);
    write_f8(P("eXbad.npy"), 2, sx, xh);
    write_f8(P("eX.npy"), 2, sx2, xh);
    write_f8(P("edY.npy"), 2, sy, yh);
    free(xh);
    free(yh);
    r = cli("apply -a '%s' -w '%s' -x '%s' -y '%s'", P("good"), P("eW0.npy"), P("eXbad.npy"), P("eY.npy"));
    cr_expect_eq(r.rc, 1, "X of the wrong width: exit %d:\n%s", r.rc, r.text);
    cr_expect(has(r.text, "eXbad.npy") && has(r.text, "[5, 18]"), "message:\n%s", r.text);
    free(r.text);
    r = cli("apply -a '%s' -w '%s' -x '%s' --dy '%s' --dx '%s'", P("good"), P("eW0.npy"), P("eX.npy"), P("edY.npy"),
            P("edX.npy"));
    cr_expect_eq(r.rc, 1, "dY of the wrong shape: exit %d:\n%s", r.rc, r.text);
    cr_expect(has(r.text, "edY.npy") && has(r.text, "[6, 24]"), "message:\n%s", r.text);
    free(r.text);
    struct stat sb;
    cr_expect(stat(P("eY.npy"), &sb) != 0 && stat(P("edX.npy"), &sb) != 0, "a failed apply wrote output");
    /* a base without the module, a missing input file, not a directory */
    put_text(P("e_nomod.safetensors"), "");
    write_base(P("e_nomod.safetensors"), W0h, bh, other);
    copy_adapter("good", "renamed");
    put_text(P("renamed/adapter_config.json"), "");
    cJSON *cfg = cJSON_CreateObject();
    cJSON *tm = cJSON_CreateArray();
    cJSON_AddItemToArray(tm, cJSON_CreateString("fc"));
    cJSON_AddItemToObject(cfg, "target_modules", tm);
    cr_assert_eq(prism_adapter_config_to_json(prism_adapter_get_config(ad), cfg, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_json_write(P("renamed/adapter_config.json"), cfg, err, sizeof err), PRISM_OK);
    cJSON_Delete(cfg);
    cr_assert_eq(prism_st_writer_create(&w), PRISM_OK);
    cr_assert_eq(prism_adapter_save_tensors(ad, "base_model.model.encoder.fc", w), PRISM_OK);
    cr_assert_eq(prism_st_writer_write(w, P("renamed/adapter_model.safetensors"), err, sizeof err), PRISM_OK);
    prism_st_writer_destroy(w);
    r = cli("merge -b '%s' -a '%s' -o '%s'", P("e_nomod.safetensors"), P("renamed"), P("e_out.safetensors"));
    cr_expect_eq(r.rc, 1, "module missing in base: exit %d:\n%s", r.rc, r.text);
    cr_expect(has(r.text, "encoder.fc.weight") && has(r.text, "e_nomod.safetensors"), "message:\n%s", r.text);
    free(r.text);
    r = cli("apply -a '%s' -w '%s' -x '%s' -y '%s'", P("good"), P("eW0.npy"), P("nosuch.npy"), P("eY.npy"));
    cr_expect_eq(r.rc, 1, "missing X: exit %d:\n%s", r.rc, r.text);
    cr_expect(has(r.text, "nosuch.npy"), "message:\n%s", r.text);
    free(r.text);
    r = cli("inspect '%s'", P("eW0.npy"));
    cr_expect_eq(r.rc, 1, "inspect on a file: exit %d:\n%s", r.rc, r.text);
    cr_expect(has(r.text, "not a directory"), "message:\n%s", r.text);
    free(r.text);

    lora_close(&F);
    t_destroy(dev);
}
