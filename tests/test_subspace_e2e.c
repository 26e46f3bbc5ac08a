/* The unified subspace end to end at the library level (METHODS.md §5):
 *   1. K = 4 regression tasks on a two-layer model (each layer maps its own
 *      inputs; task k's targets come from W0 + a_k1 P_1 + a_k2 P_2, a fixed
 *      rank-1 basis P per layer), each trained in full space with LoRA and
 *      with ETHER+ from the same init (AdamW);
 *   2. the subspace fit of those 4 x 2 solutions (rank 3);
 *   3. a held-out task (new a) trained in the subspace: AdamW on z only,
 *      through the SUBSPACE adapter with the LoRA decoder, one z shared by
 *      both layers, decode/project inside the recorded step;
 *   4. transfer: the same z decoded with the ETHER+ decoder (a second model
 *      sharing z) and evaluated, and exported as an ordinary ETHER+ adapter.
 * Both on the device and on the reference backend. The losses are logged
 * (criterion --verbose); the asserts are that subspace training reaches a
 * good part of full-space LoRA's gain on the held-out task and that the
 * transferred z does better than ETHER+'s init. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libgen.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "adapter_fixture.h"
#include "prism/subspace.h"
#include "subspace_fit.h"

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) { t_env_destroy(&env); }
TestSuite(subspace_e2e, .init = setup, .fini = teardown, .timeout = 300);

enum { NL = 2, T = 32, K = 4, STEPS = 120, SUB_STEPS = 150, RANK = 3 };
static const int64_t SM[NL] = {8, 6}, SN[NL] = {6, 8};
static const char *const MODS[NL] = {"layers.0", "layers.1"};
static const float A_TASK[K + 1][2] = {{1.0f, 0.2f}, {-0.5f, 0.9f}, {0.3f, -1.0f}, {-0.8f, -0.4f}, {0.6f, 0.5f}};

/* Host data of the model and the tasks. */
typedef struct world {
    float *W0[NL], *X[NL], *P[NL][2];
} world;

static void world_make(world *w) {
    for (int i = 0; i < NL; i++) {
        int64_t m = SM[i], n = SN[i];
        w->W0[i] = malloc(sizeof(float) * (size_t)(m * n));
        w->X[i] = malloc(sizeof(float) * (size_t)(T * n));
        pc_random(10 + (uint64_t)i, w->W0[i], m * n, -0.5f, 0.5f);
        pc_random(20 + (uint64_t)i, w->X[i], T * n, -1.0f, 1.0f);
        for (int j = 0; j < 2; j++) {
            float u[8], v[8];
            pc_random(30 + (uint64_t)(i * 2 + j), u, m, -1.0f, 1.0f);
            pc_random(40 + (uint64_t)(i * 2 + j), v, n, -1.0f, 1.0f);
            w->P[i][j] = malloc(sizeof(float) * (size_t)(m * n));
            for (int64_t a = 0; a < m; a++)
                for (int64_t b = 0; b < n; b++) w->P[i][j][a * n + b] = 0.4f * u[a] * v[b];
        }
    }
}

static void world_free(world *w) {
    for (int i = 0; i < NL; i++) {
        free(w->W0[i]), free(w->X[i]), free(w->P[i][0]), free(w->P[i][1]);
    }
}

/* The model on one context for one task. */
typedef struct model {
    prism_context *ctx;
    prism_tensor *W0[NL], *X[NL], *Y[NL], *Yt[NL], *dY[NL];
    prism_adapter *ad[NL];
} model;

static void model_make(model *md, prism_context *ctx, const world *w, int task) {
    memset(md, 0, sizeof *md);
    md->ctx = ctx;
    for (int i = 0; i < NL; i++) {
        int64_t m = SM[i], n = SN[i], sw[2] = {m, n}, sx[2] = {T, n}, sy[2] = {T, m};
        float *yt = malloc(sizeof(float) * (size_t)(T * m));
        for (int t = 0; t < T; t++)
            for (int64_t a = 0; a < m; a++) {
                double s = 0;
                for (int64_t b = 0; b < n; b++) {
                    double wt = w->W0[i][a * n + b] + A_TASK[task][0] * w->P[i][0][a * n + b] +
                                A_TASK[task][1] * w->P[i][1][a * n + b];
                    s += w->X[i][t * n + b] * wt;
                }
                yt[t * m + a] = (float)s;
            }
        pc_result r = {0};
        md->W0[i] = pc_tensor(&r, ctx, 2, sw, w->W0[i]);
        md->X[i] = pc_tensor(&r, ctx, 2, sx, w->X[i]);
        md->Yt[i] = pc_tensor(&r, ctx, 2, sy, yt);
        md->Y[i] = pc_tensor(&r, ctx, 2, sy, NULL);
        md->dY[i] = pc_tensor(&r, ctx, 2, sy, NULL);
        cr_assert_eq(r.outcome, PC_PASS, "%s", r.detail);
        free(yt);
    }
}

static void model_free(model *md) {
    for (int i = 0; i < NL; i++) {
        prism_adapter_destroy(md->ad[i]);
        prism_tensor *t[] = {md->W0[i], md->X[i], md->Y[i], md->Yt[i], md->dY[i]};
        for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) prism_tensor_destroy(t[k]);
    }
}

static void adapters_full(model *md, prism_method m) {
    for (int i = 0; i < NL; i++) {
        prism_adapter_config c = prism_adapter_config_default(m);
        c.r = 2;
        c.lora_alpha = 2.0f;
        c.seed = 5 + (uint64_t)i; /* the same init for every task */
        cr_assert_eq(prism_adapter_create(md->ctx, &c, md->W0[i], NULL, &md->ad[i]), PRISM_OK, "%s",
                     prism_error_message(md->ctx));
    }
}

static void adapters_subspace(model *md, prism_subspace_model *mdl) {
    for (int i = 0; i < NL; i++) {
        prism_subspace_ext ext;
        cr_assert_eq(prism_subspace_model_ext(mdl, MODS[i], &ext), PRISM_OK);
        prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_SUBSPACE);
        c.ext = &ext;
        cr_assert_eq(prism_adapter_create(md->ctx, &c, md->W0[i], NULL, &md->ad[i]), PRISM_OK, "%s",
                     prism_error_message(md->ctx));
    }
}

/* Mean over layers of the MSE of the current forward. */
static double loss(model *md) {
    prism_stream *s;
    cr_assert_eq(prism_stream_create(md->ctx, &s), PRISM_OK);
    for (int i = 0; i < NL; i++) cr_assert_eq(prism_adapter_forward(s, md->ad[i], md->X[i], md->Y[i]), PRISM_OK);
    run(s);
    prism_stream_destroy(s);
    double l = 0;
    for (int i = 0; i < NL; i++) {
        float *y = dl(md->Y[i]), *yt = dl(md->Yt[i]);
        double e = 0;
        for (int64_t k = 0; k < T * SM[i]; k++) e += (double)(y[k] - yt[k]) * (y[k] - yt[k]);
        l += e / (double)(T * SM[i]) / NL;
        free(y), free(yt);
    }
    return l;
}

/* AdamW on every listed parameter of every layer for `steps`: one recorded
 * step (zero_grad, forward, dY, backward, tick, AdamW) replayed. */
static void train(model *md, int steps, float lr) {
    prism_context *ctx = md->ctx;
    prism_adamw_params hp = prism_adamw_params_default();
    hp.weight_decay = 0;
    prism_tensor *state, *mom[NL * 16] = {0}, *var[NL * 16] = {0}, *views[NL * 32] = {0};
    cr_assert_eq(prism_optim_state_create(ctx, lr, &state), PRISM_OK);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(ctx, &s), PRISM_OK);
    int nm = 0;
    for (int i = 0; i < NL; i++) cr_assert_eq(prism_adapter_zero_grad(s, md->ad[i]), PRISM_OK);
    for (int i = 0; i < NL; i++) {
        float c = 2.0f / (float)(T * SM[i] * NL);
        cr_assert_eq(prism_adapter_forward(s, md->ad[i], md->X[i], md->Y[i]), PRISM_OK);
        cr_assert_eq(prism_scale(s, md->Y[i], c, md->dY[i]), PRISM_OK);
        cr_assert_eq(prism_axpy(s, -c, md->Yt[i], md->dY[i]), PRISM_OK);
        cr_assert_eq(prism_adapter_backward(s, md->ad[i], md->X[i], md->dY[i], NULL), PRISM_OK, "%s",
                     prism_error_message(ctx));
    }
    cr_assert_eq(prism_optim_tick(s, &hp, state), PRISM_OK);
    for (int i = 0; i < NL; i++) {
        const prism_param *p;
        int np = prism_adapter_params(md->ad[i], &p);
        for (int q = 0; q < np; q++) {
            if (!p[q].trainable) continue;
            int64_t n = prism_tensor_numel(p[q].value);
            cr_assert_eq(prism_tensor_create(ctx, 1, &n, &mom[nm]), PRISM_OK);
            cr_assert_eq(prism_tensor_create(ctx, 1, &n, &var[nm]), PRISM_OK);
            float *zero = calloc((size_t)n, sizeof(float));
            cr_assert_eq(prism_tensor_upload(mom[nm], zero, n), PRISM_OK);
            cr_assert_eq(prism_tensor_upload(var[nm], zero, n), PRISM_OK);
            free(zero);
            prism_tensor *pv, *pg;
            cr_assert_eq(prism_tensor_view(p[q].value, 0, 1, &n, &pv), PRISM_OK);
            cr_assert_eq(prism_tensor_view(p[q].grad, 0, 1, &n, &pg), PRISM_OK);
            cr_assert_eq(prism_adamw(s, &hp, state, pv, pg, mom[nm], var[nm]), PRISM_OK);
            views[2 * nm] = pv; /* a recorded stream needs its views alive */
            views[2 * nm + 1] = pg;
            nm++;
        }
    }
    for (int k = 0; k < steps; k++) run(s);
    prism_stream_destroy(s);
    prism_tensor_destroy(state);
    for (int i = 0; i < NL * 16; i++) {
        prism_tensor_destroy(mom[i]);
        prism_tensor_destroy(var[i]);
        prism_tensor_destroy(views[2 * i]);
        prism_tensor_destroy(views[2 * i + 1]);
    }
}


/* ------------------------------------------------------------------ files and the CLI */

/* A multi-module adapter directory as prism train writes it. */
static void write_adapter_dir(const char *dir, prism_adapter *const *ad) {
    char cmd[600], err[512], p[600];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    prism_st_writer *w;
    cr_assert_eq(prism_st_writer_create(&w), PRISM_OK);
    for (int i = 0; i < NL; i++) {
        char key[64];
        snprintf(key, sizeof key, "base_model.model.%s", MODS[i]);
        cr_assert_eq(prism_adapter_save_tensors(ad[i], key, w), PRISM_OK);
    }
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", dir);
    cr_assert_eq(prism_st_writer_write(w, p, err, sizeof err), PRISM_OK, "%s", err);
    cJSON *cfg = cJSON_CreateObject(), *mods = cJSON_CreateArray();
    for (int i = 0; i < NL; i++) cJSON_AddItemToArray(mods, cJSON_CreateString(MODS[i]));
    cJSON_AddItemToObject(cfg, "target_modules", mods);
    cr_assert_eq(prism_adapter_config_to_json(prism_adapter_get_config(ad[0]), cfg, err, sizeof err), PRISM_OK);
    snprintf(p, sizeof p, "%s/adapter_config.json", dir);
    cr_assert_eq(prism_json_write(p, cfg, err, sizeof err), PRISM_OK, "%s", err);
    cJSON_Delete(cfg);
    prism_st_writer_destroy(w);
}

/* Runs `'prism' args` (stdout + stderr into *out when non-NULL); returns the exit status. */
static int prism_cli(char **out, const char *fmt, ...) {
    char self[2048], bin[2100], args[2048], cmd[4300];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    cr_assert_gt(n, 0);
    self[n] = 0;
    snprintf(bin, sizeof bin, "%s/../prism", dirname(self));
    if (access(bin, X_OK) != 0) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", bin, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t cap = 1 << 16, len = 0, got;
    char *buf = malloc(cap);
    while ((got = fread(buf + len, 1, cap - len - 1, p)) > 0) len += got;
    buf[len] = 0;
    int st = pclose(p);
    if (out) *out = buf;
    else free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}


/* The CLI on the run directories: the same file as the library fit, info,
 * export, and exit statuses for bad arguments / inputs. */
static void cli_checks(const char *root, const char *lib_file) {
    char *out = NULL, err[512];
    int rc = prism_cli(&out, "subspace fit --init '%s/init' --rank %d '%s/run0' '%s/run1' --run '%s/run2' '%s/run3' -o "
                       "'%s/cli.safetensors'", root, RANK, root, root, root, root, root);
    if (rc < 0) {
        /* info, not warn: Criterion exits 1 after any warning */
        cr_log_info("the prism binary is not built: CLI not checked");
        return;
    }
    cr_expect_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "rank 3 from 4 runs") != NULL, "%s", out);
    free(out);
    char cf[700];
    snprintf(cf, sizeof cf, "%s/cli.safetensors", root);
    prism_subspace *a, *b;
    cr_assert_eq(prism_subspace_open(lib_file, &a, err, sizeof err), PRISM_OK, "%s", err);
    cr_assert_eq(prism_subspace_open(cf, &b, err, sizeof err), PRISM_OK, "%s", err);
    for (int i = 0; i < 2; i++) {
        prism_method m = prism_subspace_method_at(a, i);
        cr_expect_eq(prism_subspace_method_at(b, i), m);
        int64_t n = prism_subspace_size(a, m);
        cr_assert_eq(prism_subspace_size(b, m), n);
        cr_expect(memcmp(prism_subspace_decoder(a, m), prism_subspace_decoder(b, m), sizeof(float) * (size_t)(n * RANK)) == 0,
                  "%s: the CLI's decoder differs from the library's", prism_method_name(m));
        cr_expect(memcmp(prism_subspace_theta0(a, m), prism_subspace_theta0(b, m), sizeof(float) * (size_t)n) == 0);
    }
    prism_subspace_close(a);
    prism_subspace_close(b);
    cr_expect_eq(prism_cli(&out, "subspace info '%s'", cf), 0);
    cr_expect(strstr(out, "rank 3, 4 runs") && strstr(out, "etherplus"), "%s", out);
    free(out);
    cr_expect_eq(prism_cli(&out, "subspace info --json '%s'", cf), 0);
    cr_expect(strstr(out, "\"rank\": 3") != NULL, "%s", out);
    free(out);
    cr_expect_eq(prism_cli(&out, "subspace export '%s' --method etherplus --z 0.1,-0.2,0.3 -o '%s/exp'", cf, root), 0, "%s", out);
    free(out);
    char p[700];
    snprintf(p, sizeof p, "%s/exp/adapter_config.json", root);
    cr_expect_eq(access(p, R_OK), 0);
    /* bad arguments: 2; bad inputs: 1 */
    cr_expect_eq(prism_cli(NULL, "subspace"), 2);
    cr_expect_eq(prism_cli(NULL, "subspace bogus"), 2);
    cr_expect_eq(prism_cli(&out, "subspace fit '%s/run0' -o '%s/x.safetensors'", root, root), 1, "no --init, no adapter-init");
    cr_expect(strstr(out, "adapter-init") != NULL, "%s", out);
    free(out);
    cr_expect_eq(prism_cli(NULL, "subspace fit --init '%s/init' --rank 5 '%s/run0' -o x", root, root), 2, "rank > K");
    cr_expect_eq(prism_cli(NULL, "subspace fit --init '%s/init' --methods lora,nope '%s/run0' -o x", root, root), 2);
    cr_expect_eq(prism_cli(NULL, "subspace export '%s' --method etherplus --z 1,2 -o '%s/e2'", cf, root), 2, "z of rank 2");
    cr_expect_eq(prism_cli(NULL, "subspace export '%s' --method etherplus --z 1,x,3 -o '%s/e2'", cf, root), 2);
    cr_expect_eq(prism_cli(&out, "subspace export '%s' --method hut --z 1,2,3 -o '%s/e2'", cf, root), 1);
    cr_expect(strstr(out, "no method hut") != NULL, "%s", out);
    free(out);
    cr_expect_eq(prism_cli(NULL, "subspace info /nonexistent/x.safetensors"), 1);
    cr_expect_eq(prism_cli(&out, "subspace fit --init '%s/init' '%s' -o '%s/y.safetensors'", root, root, root), 1);
    cr_expect(strstr(out, "has no lora adapter") != NULL, "a run without adapters: %s", out);
    free(out);
}

static void pipeline(prism_context *ctx) {
    world w;
    world_make(&w);
    const prism_method ms[2] = {PRISM_METHOD_LORA, PRISM_METHOD_ETHER_PLUS};
    psf_solution init[2], runs[K * 2];
    double full[2] = {0}, base = 0;
    char err[512], root[] = "/tmp/prism_ss_e2e_XXXXXX", subdir[700];
    cr_assert_not_null(mkdtemp(root));
    const bool files = prism_context_backend(ctx) != PRISM_BACKEND_REFERENCE;
    /* 1. full-space runs (task K is held out) */
    for (int m = 0; m < 2; m++) {
        for (int k = 0; k <= K; k++) {
            model md;
            model_make(&md, ctx, &w, k);
            adapters_full(&md, ms[m]);
            if (k == 0) cr_assert_eq(psf_solution_from_adapters(md.ad, MODS, NL, "init", &init[m], err, sizeof err), PRISM_OK);
            if (k == 0 && files) {
                snprintf(subdir, sizeof subdir, "%s/init/%s-task/adapter", root, prism_method_name(ms[m]));
                write_adapter_dir(subdir, md.ad);
            }
            if (k == K && m == 0) base = loss(&md);
            train(&md, STEPS, 0.02f);
            if (k < K)
                cr_assert_eq(psf_solution_from_adapters(md.ad, MODS, NL, "run", &runs[k * 2 + m], err, sizeof err),
                             PRISM_OK, "%s", err);
            if (k < K && files) {
                snprintf(subdir, sizeof subdir, "%s/run%d/%s-task/adapter", root, k, prism_method_name(ms[m]));
                write_adapter_dir(subdir, md.ad);
            }
            else full[m] = loss(&md);
            model_free(&md);
        }
    }
    /* 2. fit */
    char path[128];
    snprintf(path, sizeof path, "/tmp/prism_ss_e2e_%d_%d.safetensors", (int)getpid(), (int)prism_context_backend(ctx));
    psf_options o = psf_options_default();
    o.rank = RANK;
    psf_report rep;
    cr_assert_eq(psf_fit(init, runs, 2, K, NULL, "init", &o, path, &rep, err, sizeof err), PRISM_OK, "%s", err);
    prism_subspace *sp;
    cr_assert_eq(prism_subspace_open(path, &sp, err, sizeof err), PRISM_OK, "%s", err);
    /* 3. the held-out task in the subspace through LoRA */
    prism_subspace_model *via, *tr;
    cr_assert_eq(prism_subspace_model_create(ctx, sp, PRISM_METHOD_LORA, NULL, 1, &via), PRISM_OK);
    model md;
    model_make(&md, ctx, &w, K);
    adapters_subspace(&md, via);
    double sub0 = loss(&md);
    train(&md, SUB_STEPS, 0.05f);
    double sub = loss(&md);
    /* 4. transfer: the same z through ETHER+'s decoder */
    cr_assert_eq(prism_subspace_model_create(ctx, sp, PRISM_METHOD_ETHER_PLUS, via, 0, &tr), PRISM_OK);
    model mt;
    model_make(&mt, ctx, &w, K);
    adapters_subspace(&mt, tr);
    double trans = loss(&mt);
    float z[RANK];
    cr_assert_eq(prism_subspace_model_get_z(via, z, RANK), PRISM_OK);
    char dir[128];
    snprintf(dir, sizeof dir, "/tmp/prism_ss_e2e_%d_%d_ether", (int)getpid(), (int)prism_context_backend(ctx));
    cr_assert_eq(prism_subspace_export(sp, PRISM_METHOD_ETHER_PLUS, z, RANK, dir, err, sizeof err), PRISM_OK, "%s", err);
    model me;
    model_make(&me, ctx, &w, K);
    for (int i = 0; i < NL; i++)
        cr_assert_eq(prism_adapter_load(ctx, dir, MODS[i], me.W0[i], NULL, &me.ad[i]), PRISM_OK, "%s",
                     prism_error_message(ctx));
    double exported = loss(&me);
    cr_log_info("subspace e2e (%s): held-out loss at W0 %.5f; full-space LoRA %.5f, ETHER+ %.5f; subspace r=%d via "
                "LoRA %.5f -> %.5f (%.0f%% of LoRA's gain); transfer to ETHER+ %.5f (%.0f%% of ETHER+'s gain); energy "
                "%.3f",
                prism_context_backend(ctx) == PRISM_BACKEND_REFERENCE ? "reference" : "device", base, full[0], full[1],
                RANK, sub0, sub, 100 * (base - sub) / (base - full[0]), trans, 100 * (base - trans) / (base - full[1]),
                rep.energy);
    cr_expect(fabs(sub0 - base) <= 0.05 * base, "z ~ N(0, 0.02^2) starts near theta0 (%g vs %g)", sub0, base);
    cr_expect(full[0] < 0.2 * base, "full-space LoRA learns the held-out task (%g -> %g)", base, full[0]);
    cr_expect(base - sub >= 0.5 * (base - full[0]), "the subspace reaches half of LoRA's gain: %g -> %g vs %g", base,
              sub, full[0]);
    cr_expect(trans < base, "the transferred z beats ETHER+'s init: %g vs %g", trans, base);
    cr_expect(fabs(exported - trans) <= 1e-5 * fmax(trans, 1e-6), "export = shared-z model: %g vs %g", exported, trans);
    model_free(&md);
    model_free(&mt);
    model_free(&me);
    prism_subspace_model_destroy(via);
    prism_subspace_model_destroy(tr);
    prism_subspace_close(sp);
    psf_report_free(&rep);
    for (int m = 0; m < 2; m++) psf_solution_free(&init[m]);
    for (int k = 0; k < 2 * K; k++) psf_solution_free(&runs[k]);
    if (files) cli_checks(root, path);
    unlink(path);
    char cmd[800];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    cr_expect_eq(system(cmd), 0);
    world_free(&w);
}

Test(subspace_e2e, fit_train_transfer_device) { pipeline(env.dev); }
Test(subspace_e2e, fit_train_transfer_reference) { pipeline(env.ref); }

/* Runs trained from different seeds (prism train's layout: each run's
 * <method>-<profile>/adapter-init next to adapter/): the fit subtracts each
 * run's own init. Runs = own init + c_k v (one direction v): rank 1 then
 * keeps all the energy; subtracting one common init instead would not. */
Test(subspace_e2e, per_run_inits) {
    char root[] = "/tmp/prism_ss_inits_XXXXXX", dir[700], err[768];
    cr_assert_not_null(mkdtemp(root));
    const char *runs[3];
    char rd[3][600];
    for (int k = 0; k < 3; k++) {
        snprintf(rd[k], sizeof rd[k], "%s/run%d", root, k);
        runs[k] = rd[k];
        prism_tensor *W0[NL];
        prism_adapter *ad[NL];
        for (int i = 0; i < NL; i++) {
            int64_t sw[2] = {SM[i], SN[i]};
            float w[64];
            pc_random(7 + (uint64_t)i, w, SM[i] * SN[i], -0.5f, 0.5f);
            pc_result r = {0};
            W0[i] = pc_tensor(&r, env.ref, 2, sw, w);
            prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_LORA);
            c.r = 2;
            c.seed = 100 * (uint64_t)k + (uint64_t)i; /* another init per run */
            cr_assert_eq(prism_adapter_create(env.ref, &c, W0[i], NULL, &ad[i]), PRISM_OK);
        }
        snprintf(dir, sizeof dir, "%s/lora-shift/adapter-init", rd[k]);
        write_adapter_dir(dir, ad);
        for (int i = 0; i < NL; i++) {
            const prism_param *p;
            int np = prism_adapter_params(ad[i], &p);
            for (int q = 0; q < np; q++) {
                int64_t n = prism_tensor_numel(p[q].value);
                float *v = dl(p[q].value), dir_v[64];
                pc_random(900 + (uint64_t)(i * 8 + q), dir_v, n, -1.0f, 1.0f);
                for (int64_t e = 0; e < n; e++) v[e] += (float)(k + 1) * 0.1f * dir_v[e];
                cr_assert_eq(prism_tensor_upload(p[q].value, v, n), PRISM_OK);
                free(v);
            }
        }
        snprintf(dir, sizeof dir, "%s/lora-shift/adapter", rd[k]);
        write_adapter_dir(dir, ad);
        for (int i = 0; i < NL; i++) {
            prism_adapter_destroy(ad[i]);
            prism_tensor_destroy(W0[i]);
        }
    }
    char out[700];
    snprintf(out, sizeof out, "%s/s.safetensors", root);
    psf_options o = psf_options_default();
    o.rank = 1;
    psf_report own, common;
    cr_assert_eq(psf_fit_dirs(runs, 3, NULL, NULL, 0, &o, out, &own, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect(own.tail2 <= 1e-10 * (own.tail2 + own.sigma[0] * own.sigma[0]), "own inits: rank 1 is exact (energy %g)",
              own.energy);
    /* theta0 is the first run's init */
    prism_subspace *sp;
    cr_assert_eq(prism_subspace_open(out, &sp, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect(strstr(prism_subspace_meta(sp, "init"), "run0/lora-shift/adapter-init") != NULL, "%s",
              prism_subspace_meta(sp, "init"));
    prism_subspace_close(sp);
    /* one common init (run 0's) for every run: the init differences stay in the deltas */
    snprintf(dir, sizeof dir, "%s/init", root);
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp -r '%s/lora-shift/adapter-init' '%s/lora' && "
             "for k in 0 1 2; do mv '%s/run'$k/lora-shift/adapter-init '%s/moved'$k; done",
             dir, rd[0], dir, root, root);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(psf_fit_dirs(runs, 3, dir, NULL, 0, &o, out, &common, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect(common.energy < 0.99, "a common init leaves the init differences (energy %g)", common.energy);
    /* without --init and without adapter-init: a clear error */
    cr_expect_eq(psf_fit_dirs(runs, 3, NULL, NULL, 0, &o, out, NULL, err, sizeof err), PRISM_ERR_FORMAT);
    cr_expect(strstr(err, "adapter-init") != NULL, "%s", err);
    psf_report_free(&own);
    psf_report_free(&common);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    cr_expect_eq(system(cmd), 0);
}
