/* The step loop: data order, evaluation, timing, checkpoints, resume and
 * Ctrl-C. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "run.h"

prism_status pt_curve_push(pt_curve *c, double x, double y) {
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 256;
        double *nx = realloc(c->x, (size_t)cap * sizeof *nx);
        if (!nx) return PRISM_ERR_OUT_OF_HOST_MEMORY;
        c->x = nx;
        double *ny = realloc(c->y, (size_t)cap * sizeof *ny);
        if (!ny) return PRISM_ERR_OUT_OF_HOST_MEMORY;
        c->y = ny;
        c->cap = cap;
    }
    c->x[c->n] = x;
    c->y[c->n++] = y;
    return PRISM_OK;
}

void pt_curve_free(pt_curve *c) {
    free(c->x);
    free(c->y);
    memset(c, 0, sizeof *c);
}

prism_status pt_curve_smooth(const pt_curve *c, int w, pt_curve *out) {
    memset(out, 0, sizeof *out);
    if (w < 1) w = 1;
    for (int i = 0; i < c->n; i += w) {
        int e = i + w < c->n ? i + w : c->n;
        double s = 0;
        for (int j = i; j < e; j++) s += c->y[j];
        if (pt_curve_push(out, c->x[e - 1], s / (e - i))) return PRISM_ERR_OUT_OF_HOST_MEMORY;
    }
    return PRISM_OK;
}

void pt_run_result_free(pt_run_result *r) {
    pt_curve_free(&r->loss);
    pt_curve_free(&r->acc);
}

void pt_batch_indices(uint64_t seed, int64_t n, int64_t step, int64_t batch, int64_t *perm_cache,
                      int64_t *cached_epoch, int64_t *idx) {
    for (int64_t j = 0; j < batch; j++) {
        int64_t pos = step * batch + j, epoch = pos / n;
        if (epoch != *cached_epoch) {
            pt_permutation(seed * 0x9e3779b97f4a7c15ULL + (uint64_t)epoch + 1, n, perm_cache);
            *cached_epoch = epoch;
        }
        idx[j] = perm_cache[pos % n];
    }
}

prism_status pt_evaluate(pt_mlp *m, const pt_images *test, double *acc, char *err, size_t err_len) {
    const int64_t B = pt_mlp_batch(m), px = (int64_t)test->rows * test->cols;
    float *x = malloc((size_t)(B * px) * sizeof *x), *lab = malloc((size_t)B * sizeof *lab);
    int64_t *idx = malloc((size_t)B * sizeof *idx);
    prism_status st = PRISM_OK;
    double correct = 0;
    if (!x || !lab || !idx) {
        if (err && err_len) snprintf(err, err_len, "out of host memory");
        st = PRISM_ERR_OUT_OF_HOST_MEMORY;
        goto done;
    }
    for (int64_t start = 0; start < test->n; start += B) {
        for (int64_t j = 0; j < B; j++) idx[j] = start + j < test->n ? start + j : -1;
        pt_batch_fill(test, idx, B, x, lab);
        float c = 0;
        if ((st = pt_mlp_eval_batch(m, x, lab, &c, err, err_len))) goto done;
        correct += c;
    }
    *acc = correct / (double)test->n;
done:
    free(x);
    free(lab);
    free(idx);
    return st;
}

/* History of the curves as JSON (stored in checkpoints so a resumed run
 * plots the whole run). */
static char *history_json(const pt_run_result *r) {
    cJSON *o = cJSON_CreateObject(), *loss = cJSON_CreateArray(), *acc = cJSON_CreateArray();
    char *s = NULL;
    if (!o || !loss || !acc) goto done;
    cJSON_AddNumberToObject(o, "acc_before", r->acc_before);
    for (int i = 0; i < r->loss.n; i++) cJSON_AddItemToArray(loss, cJSON_CreateNumber((float)r->loss.y[i]));
    for (int i = 0; i < r->acc.n; i++) {
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateNumber(r->acc.x[i]));
        cJSON_AddItemToArray(pair, cJSON_CreateNumber(r->acc.y[i]));
        cJSON_AddItemToArray(acc, pair);
    }
    cJSON_AddItemToObject(o, "loss", loss);
    cJSON_AddItemToObject(o, "acc", acc);
    loss = acc = NULL;
    s = cJSON_PrintUnformatted(o);
done:
    cJSON_Delete(loss);
    cJSON_Delete(acc);
    cJSON_Delete(o);
    return s;
}

static void history_restore(const char *text, pt_run_result *r) {
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    if (!o) return;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "acc_before");
    if (cJSON_IsNumber(b)) r->acc_before = b->valuedouble;
    const cJSON *it, *loss = cJSON_GetObjectItemCaseSensitive(o, "loss");
    int i = 0;
    cJSON_ArrayForEach(it, loss) if (cJSON_IsNumber(it)) pt_curve_push(&r->loss, ++i, it->valuedouble);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "acc")) {
        const cJSON *x = cJSON_GetArrayItem(it, 0), *y = cJSON_GetArrayItem(it, 1);
        if (cJSON_IsNumber(x) && cJSON_IsNumber(y)) pt_curve_push(&r->acc, x->valuedouble, y->valuedouble);
    }
    cJSON_Delete(o);
}

static prism_status save_ckpt(pt_mlp *m, const pt_images *train, const pt_run_opts *o, const pt_run_result *r,
                              int64_t step, char *err, size_t err_len) {
    pt_ckpt_info info;
    memset(&info, 0, sizeof info);
    info.step = step;
    snprintf(info.method, sizeof info.method, "%s", o->method ? o->method : "");
    snprintf(info.profile, sizeof info.profile, "%s", o->profile ? o->profile : "");
    snprintf(info.widths, sizeof info.widths, "%s", o->widths ? o->widths : "");
    info.seed = o->seed;
    info.batch = pt_mlp_batch(m);
    info.train_n = train->n;
    info.history = history_json(r);
    prism_status st = pt_ckpt_save(m, o->ckpt_path, &info, err, err_len);
    free(info.history);
    return st;
}

/* A checkpoint must come from the same run configuration. */
static prism_status check_resume(const pt_ckpt_info *in, pt_mlp *m, const pt_images *train,
                                 const pt_run_opts *o, char *err, size_t err_len) {
    char want[6][64], got[6][64];
    static const char *what[6] = {"method", "profile", "widths", "seed", "batch", "training-set size"};
    snprintf(want[0], 64, "%s", o->method ? o->method : "");
    snprintf(got[0], 64, "%s", in->method);
    snprintf(want[1], 64, "%s", o->profile ? o->profile : "");
    snprintf(got[1], 64, "%s", in->profile);
    snprintf(want[2], 64, "%s", o->widths ? o->widths : "");
    snprintf(got[2], 64, "%s", in->widths);
    snprintf(want[3], 64, "%llu", (unsigned long long)o->seed);
    snprintf(got[3], 64, "%llu", (unsigned long long)in->seed);
    snprintf(want[4], 64, "%lld", (long long)pt_mlp_batch(m));
    snprintf(got[4], 64, "%lld", (long long)in->batch);
    snprintf(want[5], 64, "%lld", (long long)train->n);
    snprintf(got[5], 64, "%lld", (long long)in->train_n);
    for (int i = 0; i < 6; i++)
        if (strcmp(want[i], got[i])) {
            if (err && err_len)
                snprintf(err, err_len,
                         "%s: cannot resume: the checkpoint has %s %s, this run %s (use the same options, or "
                         "delete the checkpoint)",
                         o->ckpt_path, what[i], got[i], want[i]);
            return PRISM_ERR_INVALID_ARGUMENT;
        }
    return PRISM_OK;
}

static int m_has_trainables(pt_mlp *m) { return pt_mlp_trainables(m, NULL, NULL, NULL, NULL) > 0; }

prism_status pt_train_run(pt_mlp *m, const pt_images *train, const pt_images *test,
                          const pt_run_opts *o, pt_run_result *r, char *err, size_t err_len) {
    memset(r, 0, sizeof *r);
    const int64_t B = pt_mlp_batch(m), px = (int64_t)train->rows * train->cols;
    prism_status st = PRISM_OK;
    float *x = malloc((size_t)(B * px) * sizeof *x), *lab = malloc((size_t)B * sizeof *lab);
    int64_t *idx = malloc((size_t)B * sizeof *idx), *perm = malloc((size_t)train->n * sizeof *perm);
    double *times = malloc((size_t)(o->steps > 0 ? o->steps : 1) * sizeof *times);
    int ntimes = 0;
    int64_t cached_epoch = -1;
    pt_ckpt_info info;
    memset(&info, 0, sizeof info);
    pt_progress pb;
    memset(&pb, 0, sizeof pb);
    if (!x || !lab || !idx || !perm || !times) {
        if (err && err_len) snprintf(err, err_len, "out of host memory");
        st = PRISM_ERR_OUT_OF_HOST_MEMORY;
        goto done;
    }
    if (o->resume && o->ckpt_path && access(o->ckpt_path, F_OK) == 0) {
        if ((st = pt_ckpt_read_info(o->ckpt_path, &info, err, err_len))) goto done;
        if ((st = check_resume(&info, m, train, o, err, err_len))) goto done;
        if ((st = pt_ckpt_load(m, o->ckpt_path, err, err_len))) goto done;
        history_restore(info.history, r);
        r->start_step = info.step;
        r->resumed = 1;
    } else if (!o->skip_eval) {
        if ((st = pt_evaluate(m, test, &r->acc_before, err, err_len))) goto done;
        if (pt_curve_push(&r->acc, 0, r->acc_before)) goto oom;
    }
    /* a resumed run's loss curve has exactly start_step points */
    while (r->loss.n > r->start_step) r->loss.n--;
    pt_progress_begin(&pb, stderr, o->progress, o->label, o->steps);
    int64_t step = r->start_step;
    double t_loop = pt_now();
    for (; step < o->steps; step++) {
        if (pt_interrupted()) {
            r->interrupted = 1;
            break;
        }
        pt_batch_indices(o->seed, train->n, step, B, perm, &cached_epoch, idx);
        pt_batch_fill(train, idx, B, x, lab);
        if (o->cosine && m_has_trainables(m) &&
            (st = pt_mlp_set_lr(m, 0.5 * pt_mlp_base_lr(m) * (1 + cos(3.14159265358979323846 * (double)step / (double)o->steps)), err,
                                err_len)))
            goto done;
        float loss = 0;
        double t0 = pt_now();
        if ((st = pt_mlp_step(m, x, lab, &loss, err, err_len))) goto done;
        times[ntimes++] = pt_now() - t0;
        if (pt_curve_push(&r->loss, (double)(step + 1), loss)) goto oom;
        if (!isfinite(loss)) {
            if (err && err_len)
                snprintf(err, err_len, "loss became %g at step %lld (learning rate too high? try a smaller --lr)",
                         loss, (long long)step + 1);
            st = PRISM_ERR_NOT_FINITE;
            goto done;
        }
        const int64_t done_steps = step + 1;
        if (!o->skip_eval && o->eval_every > 0 && done_steps % o->eval_every == 0 && done_steps < o->steps) {
            double a;
            if ((st = pt_evaluate(m, test, &a, err, err_len))) goto done;
            if (pt_curve_push(&r->acc, (double)done_steps, a)) goto oom;
        }
        if (o->ckpt_path && o->ckpt_every > 0 && done_steps % o->ckpt_every == 0 && done_steps < o->steps &&
            (st = save_ckpt(m, train, o, r, done_steps, err, err_len)))
            goto done;
        double el = pt_now() - t_loop;
        pt_progress_update(&pb, done_steps, loss, el > 0 ? (double)((done_steps - r->start_step) * B) / el : 0);
    }
    pt_progress_end(&pb);
    r->steps_done = step;
    if (ntimes > 0) {
        r->step_ms = 1e3 * pt_median(times, ntimes);
        r->samples_per_s = r->step_ms > 0 ? (double)B / (r->step_ms * 1e-3) : 0;
    }
    if (!r->interrupted && !o->skip_eval) {
        if ((st = pt_evaluate(m, test, &r->acc_after, err, err_len))) goto done;
        if (r->acc.n == 0 || r->acc.x[r->acc.n - 1] != (double)step)
            if (pt_curve_push(&r->acc, (double)step, r->acc_after)) goto oom;
    } else if (r->acc.n > 0) {
        r->acc_after = r->acc.y[r->acc.n - 1];
    }
    if (o->ckpt_path && (st = save_ckpt(m, train, o, r, step, err, err_len))) goto done;
    goto done;
oom:
    if (err && err_len) snprintf(err, err_len, "out of host memory");
    st = PRISM_ERR_OUT_OF_HOST_MEMORY;
done:
    pt_progress_end(&pb);
    pt_ckpt_info_free(&info);
    free(x);
    free(lab);
    free(idx);
    free(perm);
    free(times);
    if (st) pt_run_result_free(r);
    return st;
}
