/* One fine-tuning run and the reports of `prism train` / `make demo`. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "finetune.h"

void pt_finetune_result_free(pt_finetune_result *r) {
    if (r) pt_run_result_free(&r->run);
}

static prism_status write_curves_csv(const char *path, const pt_run_result *r, char *err, size_t err_len) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return PRISM_ERR_OUT_OF_HOST_MEMORY;
    fprintf(f, "step,loss,test_accuracy\n");
    int a = 0;
    for (int i = 0; i < r->loss.n; i++) {
        while (a < r->acc.n && r->acc.x[a] < r->loss.x[i]) fprintf(f, "%.0f,,%.6f\n", r->acc.x[a], r->acc.y[a]), a++;
        fprintf(f, "%.0f,%.6g,", r->loss.x[i], r->loss.y[i]);
        if (a < r->acc.n && r->acc.x[a] == r->loss.x[i]) fprintf(f, "%.6f", r->acc.y[a++]);
        fputc('\n', f);
    }
    for (; a < r->acc.n; a++) fprintf(f, "%.0f,,%.6f\n", r->acc.x[a], r->acc.y[a]);
    fclose(f);
    prism_status st = buf ? prism_write_atomic(path, buf, len, err, err_len) : PRISM_ERR_OUT_OF_HOST_MEMORY;
    free(buf);
    return st;
}

prism_status pt_finetune(prism_context *ctx, const pt_base *base, const prism_adapter_config *cfg,
                         const pt_train_opts *opts, const pt_images *train, const pt_images *test,
                         const pt_finetune_opts *fo, pt_finetune_result *out, char *err,
                         size_t err_len) {
    memset(out, 0, sizeof *out);
    out->method = cfg->method;
    out->adapter_bytes = -1;
    out->lr = opts->lr;
    pt_mlp *m = NULL;
    char path[4400];
    prism_status st = pt_mlp_create_ext(ctx, base, cfg, fo->layer_ext, opts, &m, err, err_len);
    if (st == PRISM_ERR_UNSUPPORTED) {
        out->skipped = 1;
        snprintf(out->note, sizeof out->note, "%s", err);
        return PRISM_OK;
    }
    if (st) return st;
    out->trainable = pt_mlp_trainable(m);
    if (fo->dir && (st = pt_mkdirs(fo->dir, err, err_len))) goto done;
    if (fo->dir) snprintf(path, sizeof path, "%s/adapter-init", fo->dir);
    if (fo->dir && out->trainable > 0 && (st = pt_adapter_save(m, path, NULL, err, err_len))) goto done;
    if (fo->dir) snprintf(path, sizeof path, "%s/checkpoint.safetensors", fo->dir);
    pt_run_opts ro = {.label = prism_method_name(cfg->method), .method = prism_method_name(cfg->method),
                      .profile = fo->profile, .widths = fo->widths, .steps = fo->steps,
                      .eval_every = fo->eval_every, .seed = fo->seed, .progress = fo->progress,
                      .ckpt_path = fo->dir ? path : NULL, .ckpt_every = fo->ckpt_every, .resume = fo->resume,
                      .skip_eval = fo->skip_eval, .cosine = fo->cosine};
    if ((st = pt_train_run(m, train, test, &ro, &out->run, err, err_len))) goto done;
    if (!fo->dir) goto done;
    if (out->trainable > 0) {
        snprintf(path, sizeof path, "%s/adapter", fo->dir);
        if ((st = pt_adapter_save(m, path, &out->adapter_bytes, err, err_len))) goto done;
    }
    snprintf(path, sizeof path, "%s/curves.csv", fo->dir);
    if ((st = write_curves_csv(path, &out->run, err, err_len))) goto done;
    if (out->run.loss.n > 1) {
        char title[160];
        snprintf(path, sizeof path, "%s/curves.svg", fo->dir);
        snprintf(title, sizeof title, "%s on profile %s", prism_method_name(cfg->method), fo->profile);
        st = pt_report_plot(path, title, out, 1, out->run.loss.n > 200 ? 10 : 1, err, err_len);
    }
done:
    pt_mlp_destroy(m);
    if (st) pt_finetune_result_free(out);
    return st;
}

static const pt_finetune_result *find(const pt_finetune_result *r, int n, prism_method m) {
    for (int i = 0; i < n; i++)
        if (r[i].method == m && !r[i].skipped) return &r[i];
    return NULL;
}

/* Gain over the frozen base (the NONE row's accuracy; else the method's own
 * starting accuracy) as a share of FULL's gain; NaN when unknown. */
static double gain_share(const pt_finetune_result *x, const pt_finetune_result *full,
                         const pt_finetune_result *none) {
    if (!full || full->run.steps_done == 0) return NAN;
    double base = none ? none->run.acc_after : full->run.acc_before;
    double g = full->run.acc_after - base;
    return g > 1e-9 ? (x->run.acc_after - (none ? base : x->run.acc_before)) / g : NAN;
}

static void fmt_count(char *buf, size_t len, int64_t v) {
    char raw[32];
    snprintf(raw, sizeof raw, "%lld", (long long)v);
    size_t n = strlen(raw), o = 0;
    for (size_t i = 0; i < n && o + 2 < len; i++) {
        if (i && (n - i) % 3 == 0 && raw[i - 1] != '-') buf[o++] = ',';
        buf[o++] = raw[i];
    }
    buf[o] = 0;
}

static const char *row_name(const pt_finetune_result *x) {
    return x->label[0] ? x->label : prism_method_name(x->method);
}

typedef struct row_text {
    char method[32], params[24], pshare[16], acc[32], gain[16], ms[16], ratio[16], sps[16], bytes[24], lr[16];
} row_text;

static void row_format(const pt_finetune_result *x, const pt_finetune_result *full,
                       const pt_finetune_result *none, int64_t full_params, row_text *t) {
    double frozen_ms = none ? none->run.step_ms : 0;
    snprintf(t->method, sizeof t->method, "%s", row_name(x));
    fmt_count(t->params, sizeof t->params, x->trainable);
    if (full_params > 0) snprintf(t->pshare, sizeof t->pshare, "%.2f%%", 100.0 * (double)x->trainable / (double)full_params);
    else snprintf(t->pshare, sizeof t->pshare, "-");
    snprintf(t->acc, sizeof t->acc, "%.4f -> %.4f", x->run.acc_before, x->run.acc_after);
    double g = gain_share(x, full, none);
    if (x->method == PRISM_METHOD_NONE || !isfinite(g)) snprintf(t->gain, sizeof t->gain, "-");
    else snprintf(t->gain, sizeof t->gain, "%.1f%%", 100 * g);
    snprintf(t->ms, sizeof t->ms, "%.2f", x->run.step_ms);
    if (frozen_ms > 0 && x->run.step_ms > 0) snprintf(t->ratio, sizeof t->ratio, "%.2fx", x->run.step_ms / frozen_ms);
    else snprintf(t->ratio, sizeof t->ratio, "-");
    snprintf(t->sps, sizeof t->sps, "%.0f", x->run.samples_per_s);
    if (x->adapter_bytes >= 0) fmt_count(t->bytes, sizeof t->bytes, x->adapter_bytes);
    else snprintf(t->bytes, sizeof t->bytes, "-");
    if (x->method == PRISM_METHOD_NONE) snprintf(t->lr, sizeof t->lr, "-");
    else snprintf(t->lr, sizeof t->lr, "%g", (double)x->lr);
}

void pt_report_table(FILE *f, const pt_finetune_result *r, int n, int64_t full_params) {
    const pt_finetune_result *full = find(r, n, PRISM_METHOD_FULL), *none = find(r, n, PRISM_METHOD_NONE);
    fprintf(f, "%-19s %12s %8s  %-22s %9s %9s %8s %9s %12s %8s\n", "method", "trainable", "of FULL",
            "accuracy before->after", "gain/FULL", "ms/step", "x frozen", "samples/s", "adapter B", "lr");
    for (int i = 0; i < n; i++) {
        if (r[i].skipped) {
            fprintf(f, "%-19s skipped: %s\n", row_name(&r[i]), r[i].note);
            continue;
        }
        row_text t;
        row_format(&r[i], full, none, full_params, &t);
        fprintf(f, "%-19s %12s %8s  %-22s %9s %9s %8s %9s %12s %8s\n", t.method, t.params, t.pshare, t.acc, t.gain,
                t.ms, t.ratio, t.sps, t.bytes, t.lr);
    }
}

prism_status pt_report_markdown(const char *path, const pt_finetune_result *r, int n,
                                int64_t full_params, const char *header, char *err, size_t err_len) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return PRISM_ERR_OUT_OF_HOST_MEMORY;
    const pt_finetune_result *full = find(r, n, PRISM_METHOD_FULL), *none = find(r, n, PRISM_METHOD_NONE);
    if (header) fprintf(f, "%s\n\n", header);
    fprintf(f, "| method | trainable params | of FULL | test accuracy before → after | gain / FULL's gain | "
               "ms/step | × frozen step | samples/s | adapter file (bytes) | lr |\n"
               "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < n; i++) {
        if (r[i].skipped) {
            fprintf(f, "| %s | skipped: %.120s | | | | | | | | |\n", row_name(&r[i]), r[i].note);
            continue;
        }
        row_text t;
        row_format(&r[i], full, none, full_params, &t);
        char acc[64];
        snprintf(acc, sizeof acc, "%.4f → %.4f", r[i].run.acc_before, r[i].run.acc_after);
        fprintf(f, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", t.method, t.params, t.pshare, acc, t.gain,
                t.ms, t.ratio, t.sps, t.bytes, t.lr);
    }
    fclose(f);
    prism_status st = buf ? prism_write_atomic(path, buf, len, err, err_len) : PRISM_ERR_OUT_OF_HOST_MEMORY;
    free(buf);
    return st;
}

prism_status pt_report_plot(const char *path, const char *title, const pt_finetune_result *r, int n,
                            int smooth, char *err, size_t err_len) {
    pt_series *ls = calloc((size_t)n + 1, sizeof *ls), *as = calloc((size_t)n + 1, sizeof *as);
    pt_curve *sm = calloc((size_t)n + 1, sizeof *sm);
    char (*labels)[48] = calloc((size_t)n + 1, sizeof *labels);
    int k = 0;
    prism_status st = PRISM_OK;
    if (!ls || !as || !sm || !labels) {
        st = PRISM_ERR_OUT_OF_HOST_MEMORY;
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (r[i].skipped || r[i].run.loss.n == 0 || r[i].method == PRISM_METHOD_NONE) continue;
        if ((st = pt_curve_smooth(&r[i].run.loss, smooth, &sm[k]))) goto done;
        snprintf(labels[k], sizeof labels[k], "%s (%.1f%%)", row_name(&r[i]),
                 100 * r[i].run.acc_after);
        ls[k] = (pt_series){labels[k], sm[k].n, sm[k].x, sm[k].y};
        as[k] = (pt_series){labels[k], r[i].run.acc.n, r[i].run.acc.x, r[i].run.acc.y};
        k++;
    }
    char lt[64];
    if (smooth > 1) snprintf(lt, sizeof lt, "training loss (mean of %d steps)", smooth);
    else snprintf(lt, sizeof lt, "training loss");
    st = pt_plot_svg(path, title, lt, "softmax cross-entropy (log scale)", 1, ls, k, "test accuracy", "accuracy", as, k, "step",
                     err, err_len);
done:
    for (int i = 0; sm && i <= k && i <= n; i++) pt_curve_free(&sm[i]);
    free(ls);
    free(as);
    free(sm);
    free(labels);
    if (st == PRISM_ERR_OUT_OF_HOST_MEMORY && err && err_len && !err[0]) snprintf(err, err_len, "out of host memory");
    return st;
}
