/* `prism train` after argument parsing: device, data, base, then one of
 * the shift report, the device-vs-reference comparison, one fine-tuning
 * run, or the demo (every built method, table and plot). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "prism/subspace.h"
#include "train_main.h"

enum { OK = 0, FAIL = 1, USAGE = 2, STOPPED = 130 };

static const prism_method all_methods[] = {
    PRISM_METHOD_NONE,       PRISM_METHOD_FULL, PRISM_METHOD_LORA,   PRISM_METHOD_ETHER,
    PRISM_METHOD_ETHER_PLUS, PRISM_METHOD_HUT,  PRISM_METHOD_SDCTFT, PRISM_METHOD_FOURIERFT,
    PRISM_METHOD_XPEFT,      PRISM_METHOD_SUBSPACE,
};
#define NMETHODS (int)(sizeof all_methods / sizeof all_methods[0])

static pt_train_opts train_opts(const pt_cli_args *a, prism_method m) {
    pt_train_opts o = {.batch = a->job.batch, .lr = a->lr > 0 ? a->lr : pt_method_default_lr(m),
                       .weight_decay = a->wd, .clip = a->clip};
    return o;
}

/* The frozen base's test accuracy on every profile: how hard each shift is. */
static prism_status shift_report(prism_context *ctx, const pt_cli_args *a, const pt_base *base,
                                 const pt_images *test, double *acc_orig, char *err, size_t err_len) {
    prism_adapter_config cfg = prism_adapter_config_default(PRISM_METHOD_NONE);
    pt_train_opts o = train_opts(a, PRISM_METHOD_NONE);
    pt_mlp *m = NULL;
    prism_status st = pt_mlp_create(ctx, base, &cfg, &o, &m, err, err_len);
    if (st) return st;
    printf("\nbase model's test accuracy per profile (%lld test images):\n", (long long)test->n);
    printf("  %-10s %9s %9s   %s\n", "profile", "accuracy", "drop", "shift");
    double orig = 0;
    for (int p = 0; p < PT_PROFILE_COUNT && !st; p++) {
        pt_images sh;
        if ((st = pt_profile_apply((pt_profile)p, test, &sh, err, err_len))) break;
        double acc = 0;
        st = pt_evaluate(m, &sh, &acc, err, err_len);
        pt_images_free(&sh);
        if (st) break;
        if (p == 0) orig = acc;
        printf("  %-10s %9.4f %+9.4f   %s\n", pt_profile_name((pt_profile)p), acc, acc - orig,
               pt_profile_about((pt_profile)p));
    }
    if (acc_orig) *acc_orig = orig;
    pt_mlp_destroy(m);
    return st;
}

static int compare(prism_context *ctx, const pt_cli_args *a, const pt_base *base, const pt_images *train) {
    char err[2048] = "";
    pt_compare_result r;
    pt_train_opts o = train_opts(a, a->method);
    printf("\ncomparing %lld steps of %s on the device and on the float64 reference (lr %g, batch %lld)...\n",
           (long long)a->steps, prism_method_name(a->method), (double)o.lr, (long long)o.batch);
    prism_status st =
        pt_compare_reference(ctx, base, &a->cfg[a->method], &o, train, a->job.seed, a->steps, &r, err, sizeof err);
    if (st) {
        fprintf(stderr, "prism train: %s\n", err);
        return st == PRISM_ERR_UNSUPPORTED ? USAGE : FAIL;
    }
    printf("compared %lld trainable scalars in %d tensors after %lld steps\n", (long long)r.compared, r.ntensors,
           (long long)a->steps);
    printf("largest parameter difference: %.3g absolute; %.3g relative to the tensor's largest value (%s)\n",
           r.max_abs_diff, r.max_rel_diff, r.worst[0] ? r.worst : "-");
    printf("largest loss difference over the steps: %.3g\n", r.max_loss_diff);
    int ok = r.max_rel_diff <= a->tol;
    printf("%s (tolerance %.3g relative)\n", ok ? "PASS" : "FAIL", a->tol);
    return ok ? OK : FAIL;
}

static void print_result(const pt_cli_args *a, const pt_finetune_result *r, int64_t full_params, const char *dir) {
    if (r->skipped) {
        printf("%s: skipped (%s)\n", prism_method_name(r->method), r->note);
        return;
    }
    printf("\n%s on profile %s: trainable %lld (%.2f%% of FULL's %lld), adapter file %lld bytes\n",
           r->label[0] ? r->label : prism_method_name(r->method), pt_profile_name(a->profile), (long long)r->trainable,
           100.0 * (double)r->trainable / (double)full_params, (long long)full_params, (long long)r->adapter_bytes);
    printf("test accuracy %.4f -> %.4f after %lld steps (lr %g)\n", r->run.acc_before, r->run.acc_after,
           (long long)r->run.steps_done, (double)r->lr);
    printf("median step %.2f ms, %.0f samples/s\n", r->run.step_ms, r->run.samples_per_s);
    if (dir) printf("outputs in %s/ (adapter/, checkpoint.safetensors, curves.csv, curves.svg)\n", dir);
}

/* One row of a run: a method with its config, per-layer ext (subspace
 * model, X-PEFT bank), table label and output directory name. */
typedef struct run_spec {
    prism_method method;
    prism_adapter_config cfg;
    const void *const *layer_ext; /* NULL: cfg.ext on every layer */
    const char *label;            /* NULL: the method's name */
    const char *dirname;          /* <out>/<dirname>-<profile>; NULL: the method's name */
} run_spec;

static int run_methods(prism_context *ctx, const pt_cli_args *a, const pt_base *base, const pt_images *train,
                       const pt_images *test, const run_spec *specs, int n) {
    char err[2048] = "", dir[4400], w[128];
    pt_finetune_result *res = calloc((size_t)n, sizeof *res);
    if (!res) return FAIL;
    int rc = OK, done = 0;
    const int64_t full_params = pt_base_param_count(base);
    pt_widths_str(base, w, sizeof w);
    double t0 = pt_now();
    pt_sigint_install();
    for (int i = 0; i < n; i++) {
        prism_method m = specs[i].method;
        const char *name = specs[i].label ? specs[i].label : prism_method_name(m);
        snprintf(dir, sizeof dir, "%s/%s-%s", a->out, specs[i].dirname ? specs[i].dirname : prism_method_name(m),
                 pt_profile_name(a->profile));
        pt_finetune_opts fo = {.dir = dir, .profile = pt_profile_name(a->profile), .widths = w, .steps = a->steps,
                               .eval_every = a->eval_every, .ckpt_every = a->ckpt_every, .seed = a->job.seed,
                               .resume = a->resume, .progress = a->job.progress, .cosine = !a->constant_lr,
                               .layer_ext = specs[i].layer_ext};
        if (m == PRISM_METHOD_NONE) { /* nothing trains: only the frozen step time and the accuracy */
            fo.steps = a->steps < 50 ? a->steps : 50;
            fo.eval_every = 0;
            fo.resume = 0;
        }
        pt_train_opts o = train_opts(a, m);
        prism_status st = pt_finetune(ctx, base, &specs[i].cfg, &o, train, test, &fo, &res[i], err, sizeof err);
        snprintf(res[i].label, sizeof res[i].label, "%s", specs[i].label ? specs[i].label : "");
        done = i + 1;
        if (st) {
            fprintf(stderr, "prism train: %s: %s\n", name, err);
            res[i].skipped = 1;
            res[i].method = m;
            snprintf(res[i].note, sizeof res[i].note, "FAILED: %.200s", err);
            rc = FAIL;
            continue;
        }
        if (!a->demo) print_result(a, &res[i], full_params, dir);
        else if (res[i].skipped) printf("%s: skipped, not built yet (%s)\n", name, res[i].note);
        else
            printf("%-19s accuracy %.4f -> %.4f, %lld trainable, %.2f ms/step\n", name,
                   res[i].run.acc_before, res[i].run.acc_after, (long long)res[i].trainable, res[i].run.step_ms);
        if (res[i].run.interrupted) {
            printf("\ninterrupted after step %lld; checkpoint saved in %s/checkpoint.safetensors\n"
                   "continue with the same command and --resume\n",
                   (long long)res[i].run.steps_done, dir);
            rc = STOPPED;
            break;
        }
    }
    pt_sigint_restore();
    if (a->demo) {
        printf("\nFashion-MNIST, profile %s (%s), MLP %s, %lld steps of %lld, %lld test images, seed %llu\n",
               pt_profile_name(a->profile), pt_profile_about(a->profile), w, (long long)a->steps,
               (long long)a->job.batch, (long long)test->n, (unsigned long long)a->job.seed);
        printf("device: %s\n\n", prism_context_caps(ctx)->name);
        pt_report_table(stdout, res, done, full_params);
        char path[4400], title[256], header[1024];
        snprintf(title, sizeof title, "prism: fine-tuning on Fashion-MNIST '%s' (%s, %s)", pt_profile_name(a->profile), w,
                 prism_context_caps(ctx)->name);
        snprintf(path, sizeof path, "%s/demo-%s.svg", a->out, pt_profile_name(a->profile));
        if (pt_report_plot(path, title, res, done, 10, err, sizeof err)) {
            fprintf(stderr, "prism train: %s\n", err);
            rc = FAIL;
        } else {
            printf("\nwrote %s\n", path);
        }
        snprintf(path, sizeof path, "%s/demo-%s.md", a->out, pt_profile_name(a->profile));
        snprintf(header, sizeof header,
                 "Fashion-MNIST, profile `%s`, MLP %s, %lld steps of batch %lld, %lld test images, seed %llu, "
                 "device: %s",
                 pt_profile_name(a->profile), w, (long long)a->steps, (long long)a->job.batch, (long long)test->n,
                 (unsigned long long)a->job.seed, prism_context_caps(ctx)->name);
        if (pt_report_markdown(path, res, done, full_params, header, err, sizeof err)) {
            fprintf(stderr, "prism train: %s\n", err);
            rc = FAIL;
        } else {
            printf("wrote %s\n", path);
        }
        printf("fine-tuning took %.0f s\n", pt_now() - t0);
    }
    for (int i = 0; i < n; i++) pt_finetune_result_free(&res[i]);
    free(res);
    return rc;
}

static int parse_method_list(const char *s, prism_method *out, int *n) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n >= NMETHODS || prism_method_parse(tok, &out[*n])) {
            fprintf(stderr, "prism train: --methods: unknown method '%s'\n", tok);
            return USAGE;
        }
        (*n)++;
    }
    return *n ? OK : USAGE;
}

int pt_train_main(const pt_cli_args *a) {
    char err[2048] = "", w[128], path[4400];
    prism_context *ctx = NULL;
    pt_images train = {0}, test = {0}, trs = {0}, tes = {0};
    pt_base base = {0};
    prism_subspace *sp = NULL;
    prism_subspace_model *mdl = NULL;
    prism_subspace_ext sub_ext[PT_MAX_LAYERS];
    const void *sub_ptr[PT_MAX_LAYERS];
    prism_xpeft_bank *banks[PT_MAX_LAYERS] = {0};
    const void *bank_ptr[PT_MAX_LAYERS];
    char (*demo_dirs)[PT_BANK_PATH] = NULL;
    int rc = FAIL;
    prism_method methods[NMETHODS];
    int nmethods = 0;
    if (a->demo) {
        if (a->methods) {
            if ((rc = parse_method_list(a->methods, methods, &nmethods))) return rc;
            rc = FAIL;
        } else {
            memcpy(methods, all_methods, sizeof all_methods);
            nmethods = NMETHODS;
        }
    } else {
        methods[0] = a->method;
        nmethods = 1;
    }
    /* progress goes to stderr: keep stdout's lines in order with it when piped */
    setvbuf(stdout, NULL, _IOLBF, 0);
    double t0 = pt_now();
    prism_context_options o = prism_context_options_default();
    o.device = a->device;
    if (prism_context_create(&o, &ctx, err, sizeof err)) {
        fprintf(stderr, "prism train: %s\n", err);
        return FAIL;
    }
    if (pt_job_load_data(&a->job, &train, &test, err, sizeof err)) goto fail;
    printf("prism train: device %s; MLP %s; %lld training / %lld test images from %s\n",
           prism_context_caps(ctx)->name, pt_widths_str(&a->job.shape, w, sizeof w), (long long)train.n,
           (long long)test.n, a->job.data_dir ? a->job.data_dir : PT_DEFAULT_DATA_DIR);
    pt_sigint_install(); /* Ctrl-C during pretraining: stop without saving a half-trained base */
    int reused = 0;
    double acc = -1;
    prism_status st = pt_job_base(ctx, &a->job, &train, &test, &base, &reused, &acc, err, sizeof err);
    pt_sigint_restore();
    if (st) goto fail;
    if (a->job.pretrain_steps <= 0) printf("base: random initialisation (--pretrain-steps 0)\n");
    else if (reused) printf("base: %s (cached; delete it or pass --base to retrain)\n",
                            pt_job_base_path(&a->job, path, sizeof path));
    if (a->shifts || a->demo) {
        if (shift_report(ctx, a, &base, &test, NULL, err, sizeof err)) goto fail;
        if (a->shifts) {
            rc = OK;
            goto done;
        }
    }
    if (pt_profile_apply(a->profile, &train, &trs, err, sizeof err)) goto fail;
    if (pt_profile_apply(a->profile, &test, &tes, err, sizeof err)) goto fail;
    if (a->compare) {
        rc = compare(ctx, a, &base, &trs);
        goto done;
    }
    printf("\nfine-tuning on profile %s: %s\n", pt_profile_name(a->profile), pt_profile_about(a->profile));
    if (a->subspace) {
        if (prism_subspace_open(a->subspace, &sp, err, sizeof err)) goto fail;
        if (pt_transfer_check(sp, a->subspace, a->transfer, a->ntransfer, err, sizeof err)) goto fail;
        prism_method via = a->via_set ? a->via : prism_subspace_method_at(sp, 0);
        prism_status sst = prism_subspace_model_create(ctx, sp, via, NULL, a->job.seed, &mdl);
        for (int i = 0; !sst && i < base.nlayers; i++) {
            char mod[32];
            snprintf(mod, sizeof mod, "layers.%d", i);
            sst = prism_subspace_model_ext(mdl, mod, &sub_ext[i]);
            sub_ptr[i] = &sub_ext[i];
        }
        if (sst) {
            snprintf(err, sizeof err, "%s: %s", a->subspace, prism_error_message(ctx));
            goto fail;
        }
        printf("subspace: %s, rank %d, decoding through %s\n", a->subspace, prism_subspace_rank(sp),
               prism_method_name(via));
    }
    /* X-PEFT with a LoRA bank: --bank dirs, or in the demo one LoRA adapter
     * per other profile (trained once, cached) */
    int want_bank = a->nbank > 0;
    for (int i = 0; a->demo && i < nmethods; i++) want_bank |= methods[i] == PRISM_METHOD_XPEFT;
    const char *bank_dirs[PT_MAX_BANK];
    int nbank = a->nbank;
    for (int i = 0; i < nbank; i++) bank_dirs[i] = a->bank[i];
    if (want_bank && !nbank) {
        if (!(demo_dirs = calloc(PT_PROFILE_COUNT, sizeof *demo_dirs))) {
            snprintf(err, sizeof err, "out of host memory");
            goto fail;
        }
        double tb = pt_now();
        if (pt_bank_demo(ctx, a, &base, &train, demo_dirs, &nbank, err, sizeof err)) goto fail;
        printf("xpeft bank: ready in %.0f s\n", pt_now() - tb);
        for (int i = 0; i < nbank; i++) bank_dirs[i] = demo_dirs[i];
    }
    if (want_bank && pt_bank_load(&base, bank_dirs, nbank, banks, err, sizeof err)) goto fail;
    for (int i = 0; want_bank && i < base.nlayers; i++) bank_ptr[i] = banks[i];
    run_spec specs[NMETHODS + 1];
    int nspecs = 0;
    for (int i = 0; i < nmethods; i++) {
        prism_method m = methods[i];
        run_spec sp_i = {.method = m, .cfg = a->cfg[m]};
        if (m == PRISM_METHOD_SUBSPACE && a->subspace) sp_i.layer_ext = sub_ptr;
        if (m == PRISM_METHOD_XPEFT && a->demo) sp_i.label = "xpeft (random bank)";
        if (m != PRISM_METHOD_XPEFT || a->demo || !want_bank) specs[nspecs++] = sp_i;
        if (m == PRISM_METHOD_XPEFT && want_bank) {
            prism_xpeft_config_use_bank(&sp_i.cfg, banks[0]);
            sp_i.cfg.placement = PRISM_PLACE_PARALLEL; /* LoRA's A_i read x */
            if (!sp_i.cfg.k) sp_i.cfg.k = pt_bank_default_k(nbank);
            sp_i.layer_ext = bank_ptr;
            sp_i.label = "xpeft (LoRA bank)";
            if (a->demo) sp_i.dirname = "xpeft-bank";
            specs[nspecs++] = sp_i;
            printf("xpeft bank: %d LoRA adapters, rank %d, %s mask, k %d\n", nbank, banks[0]->r,
                   sp_i.cfg.mask == PRISM_MASK_HARD ? "hard" : "soft", sp_i.cfg.k);
        }
    }
    rc = run_methods(ctx, a, &base, &trs, &tes, specs, nspecs);
    if (!rc && a->ntransfer) {
        snprintf(path, sizeof path, "%s/subspace-%s", a->out, pt_profile_name(a->profile));
        if (pt_transfer_run(ctx, a, &base, &tes, sp, mdl, path, err, sizeof err)) goto fail;
    }
    if (a->demo) printf("total %.0f s\n", pt_now() - t0);
    goto done;
fail:
    fprintf(stderr, "prism train: %s\n", err);
    rc = FAIL;
done:
    pt_images_free(&train);
    pt_images_free(&test);
    pt_images_free(&trs);
    pt_images_free(&tes);
    pt_base_free(&base);
    prism_subspace_model_destroy(mdl);
    prism_subspace_close(sp);
    pt_bank_free(banks, PT_MAX_LAYERS);
    free(demo_dirs);
    prism_context_destroy(ctx);
    return rc;
}
