/* `prism apply`: the bridge to numpy and PyTorch. Runs one module of an
 * adapter on .npy inputs and writes what the library computes: the forward
 * output Y, and with an upstream gradient dY the input gradient dX and the
 * parameter gradients (safetensors, the adapter's own key names); --merged
 * writes W_eff. Every result is computed in one recorded stream on the chosen
 * device (the float64 reference included) and written atomically. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "adapter_cli.h"

static void help(FILE *f) {
    fprintf(f,
            "usage: prism apply --adapter DIR --weight FILE [--key NAME] [--bias FILE | --no-bias]\n"
            "                   [--module NAME] [--input X.npy] [--output Y.npy]\n"
            "                   [--dy dY.npy] [--dx dX.npy] [--grads FILE] [--merged W.npy]\n"
            "                   [--device D] [--dtype f4|f8]\n\n"
            "Runs one adapted linear layer, Y = X W_eff^T + b, on .npy arrays, so that prism\n"
            "can be compared with numpy or PyTorch. X is [..., n] (leading dims are tokens),\n"
            "Y is [..., m]; W0 is [m, n] (torch layout, out x in).\n\n"
            "  forward:   --input X --output Y\n"
            "  backward:  --input X --dy dY [--dx dX] [--grads G]: dX = dL/dX [..., n]; G holds\n"
            "             dL/dtheta of every trainable parameter under the adapter's own key\n"
            "             names (base_model.model.<module>.<name>), as F32\n"
            "  merge:     --merged W: W_eff [m, n] (needs no input)\n\n"
            "options:\n"
            "  -a, --adapter DIR  adapter directory (adapter_config.json +\n"
            "                     adapter_model.safetensors, HF PEFT layout)\n"
            "  -w, --weight FILE  base weight W0: a .npy [m, n], or a .safetensors file\n"
            "                     holding '<module>.weight' (or --key); its '<module>.bias'\n"
            "                     is used when present\n"
            "  --key NAME         the weight's key in a .safetensors --weight\n"
            "  --bias FILE        bias b [m] as .npy (default: none for a .npy weight)\n"
            "  --no-bias          ignore the bias of a .safetensors weight\n"
            "  -m, --module NAME  which module of a multi-module adapter\n"
            "  -x, --input FILE   X (.npy, float or integer)\n"
            "  -y, --output FILE  Y to write (.npy)\n"
            "  --dy FILE          upstream gradient dL/dY [..., m] (.npy)\n"
            "  --dx FILE          dL/dX to write (.npy)\n"
            "  --grads FILE       parameter gradients to write (.safetensors, F32)\n"
            "  --merged FILE      W_eff [m, n] to write (.npy)\n"
            "  --device D         device: index, name substring, lavapipe|cpu, reference\n"
            "                     (default: $PRISM_DEVICE, else the best device)\n"
            "  --dtype T          element type of the .npy outputs: f4 (default) or f8.\n"
            "                     Inputs are read as float64 and used exactly on the\n"
            "                     reference backend (rounded to fp32 on a device), so\n"
            "                     --device reference --dtype f8 gives float64 results\n"
            "  -h, --help         this text\n\n"
            "exit status: 0 success, 1 a missing, unreadable or mismatched file or a device\n"
            "error (nothing is written when reading or computing fails), 2 bad arguments.\n");
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "prism apply: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_FAIL;
}

static int usage(const char *fmt, const char *arg) {
    fprintf(stderr, "prism apply: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nRun 'prism apply --help' for usage.\n");
    return CLI_USAGE;
}

typedef struct apply_args {
    const char *dir, *weight, *key, *bias, *module, *input, *output, *dy, *dx, *grads, *merged, *device;
    bool no_bias;
    prism_dtype out_dtype;
} apply_args;

typedef struct apply_state {
    acli_adapter a;
    int mi;
    prism_context *ctx;
    prism_tensor *W0, *bias, *X, *Y, *dY, *dX, *W;
    prism_adapter *ad;
    prism_stream *s;
    prism_npy_array x, dy;   /* host inputs (float64) */
    int64_t T, m, n;
} apply_state;

static int read_npy(const char *path, prism_npy_array *out) {
    char err[1024];
    if (prism_npy_read(path, PRISM_DTYPE_F64, 0, out, err, sizeof err) != PRISM_OK) return fail("%s", err);
    return CLI_OK;
}

/* W0 (and bias) from a .npy file or a safetensors file. */
static int load_weight(const apply_args *o, apply_state *st) {
    char sh[96];
    const char *module = st->a.modules[st->mi].name;
    int rc = CLI_OK;
    if (acli_ends_with(o->weight, ".npy")) {
        prism_npy_array w = {0};
        if ((rc = read_npy(o->weight, &w)) != CLI_OK) return rc;
        if (w.ndim != 2) rc = fail("%s: W0 is %s; it must be 2-D [out, in]", o->weight,
                                   acli_shape_str(w.ndim, w.shape, sh, sizeof sh));
        else rc = acli_upload("apply", st->ctx, 2, w.shape, w.data, &st->W0);
        prism_npy_free(&w);
    } else {
        char err[1024];
        prism_st_file *f = NULL;
        if (prism_st_open(o->weight, 0, &f, err, sizeof err) != PRISM_OK) return fail("%s", err);
        char *wkey = o->key ? strdup(o->key) : acli_cat(module, ".weight", NULL), *bkey = NULL;
        if (wkey && !o->bias && !o->no_bias) {
            /* the bias next to the weight: "<x>.weight" -> "<x>.bias" */
            size_t l = strlen(wkey);
            if (acli_ends_with(wkey, ".weight")) bkey = acli_cat("", wkey, NULL);
            if (bkey) strcpy(bkey + l - strlen(".weight"), ".bias");
        }
        if (!wkey) rc = fail("out of host memory");
        else rc = acli_read_base("apply", f, o->weight, wkey, bkey, false, st->ctx, &st->W0, &st->bias);
        free(wkey);
        free(bkey);
        prism_st_close(f);
    }
    if (rc != CLI_OK) return rc;
    st->m = prism_tensor_dim(st->W0, 0);
    st->n = prism_tensor_dim(st->W0, 1);
    if (o->bias) {
        prism_npy_array b = {0};
        if ((rc = read_npy(o->bias, &b)) != CLI_OK) return rc;
        if (b.ndim != 1 || b.shape[0] != st->m)
            rc = fail("%s: the bias is %s, W0 [%lld, %lld] needs [%lld]", o->bias,
                      acli_shape_str(b.ndim, b.shape, sh, sizeof sh), (long long)st->m, (long long)st->n,
                      (long long)st->m);
        else rc = acli_upload("apply", st->ctx, 1, b.shape, b.data, &st->bias);
        prism_npy_free(&b);
    }
    return rc;
}

/* X [..., n] and dY [..., m] as [T, n] and [T, m] device tensors. */
static int load_inputs(const apply_args *o, apply_state *st) {
    char sh[96], sh2[96];
    int rc = read_npy(o->input, &st->x);
    if (rc != CLI_OK) return rc;
    const prism_npy_array *x = &st->x;
    if (x->ndim < 1 || x->numel < 1)
        return fail("%s: X is %s; it must be [..., %lld] with at least one row", o->input,
                    acli_shape_str(x->ndim, x->shape, sh, sizeof sh), (long long)st->n);
    if (x->shape[x->ndim - 1] != st->n)
        return fail("%s: X is %s, but W0 is [%lld, %lld]: X's last dim must be %lld", o->input,
                    acli_shape_str(x->ndim, x->shape, sh, sizeof sh), (long long)st->m, (long long)st->n,
                    (long long)st->n);
    st->T = x->numel / st->n;
    int64_t xs[2] = {st->T, st->n}, ys[2] = {st->T, st->m};
    if ((rc = acli_upload("apply", st->ctx, 2, xs, x->data, &st->X)) != CLI_OK) return rc;
    if (prism_tensor_create(st->ctx, 2, ys, &st->Y) != PRISM_OK) return acli_fail_ctx("apply", st->ctx, "Y");
    if (!o->dy) return CLI_OK;
    if ((rc = read_npy(o->dy, &st->dy)) != CLI_OK) return rc;
    const prism_npy_array *g = &st->dy;
    bool ok = g->ndim == x->ndim && g->shape[g->ndim - 1] == st->m;
    for (int i = 0; ok && i < x->ndim - 1; i++) ok = g->shape[i] == x->shape[i];
    if (!ok) {
        int64_t want[PRISM_IO_MAX_DIMS];
        memcpy(want, x->shape, sizeof want);
        want[x->ndim - 1] = st->m;
        return fail("%s: dY is %s; with X %s and W0 [%lld, %lld] it must be %s", o->dy,
                    acli_shape_str(g->ndim, g->shape, sh, sizeof sh), acli_shape_str(x->ndim, x->shape, sh2, sizeof sh2),
                    (long long)st->m, (long long)st->n, acli_shape_str(x->ndim, want, (char[96]){0}, 96));
    }
    if ((rc = acli_upload("apply", st->ctx, 2, ys, g->data, &st->dY)) != CLI_OK) return rc;
    if (o->dx && prism_tensor_create(st->ctx, 2, xs, &st->dX) != PRISM_OK)
        return acli_fail_ctx("apply", st->ctx, "dX");
    return CLI_OK;
}

/* Records forward, backward and merge into one stream and runs it. */
static int compute(const apply_args *o, apply_state *st) {
    prism_context *ctx = st->ctx;
    const char *method = prism_method_name(prism_adapter_method(st->ad));
    char what[160];
    if (prism_stream_create(ctx, &st->s) != PRISM_OK) return acli_fail_ctx("apply", ctx, "stream");
    if (st->X) {
        snprintf(what, sizeof what, "%s forward, X [%lld, %lld]", method, (long long)st->T, (long long)st->n);
        if (prism_adapter_forward(st->s, st->ad, st->X, st->Y) != PRISM_OK) return acli_fail_ctx("apply", ctx, what);
    }
    if (st->dY) {
        snprintf(what, sizeof what, "%s backward, dY [%lld, %lld]", method, (long long)st->T, (long long)st->m);
        if (prism_adapter_zero_grad(st->s, st->ad) != PRISM_OK ||
            prism_adapter_backward(st->s, st->ad, st->X, st->dY, st->dX) != PRISM_OK)
            return acli_fail_ctx("apply", ctx, what);
    }
    if (o->merged) {
        int64_t ws[2] = {st->m, st->n};
        snprintf(what, sizeof what, "%s merge", method);
        if (prism_tensor_create(ctx, 2, ws, &st->W) != PRISM_OK || prism_adapter_merge(st->s, st->ad, st->W) != PRISM_OK)
            return acli_fail_ctx("apply", ctx, what);
    }
    if (prism_stream_run(st->s) != PRISM_OK) return acli_fail_ctx("apply", ctx, method);
    return acli_validation_verdict("apply", ctx);
}

static int write_npy(const char *path, prism_dtype dt, int ndim, const int64_t *shape, prism_tensor *t) {
    char err[1024];
    double *h = NULL;
    int rc = acli_download("apply", t, &h);
    if (rc != CLI_OK) return rc;
    int64_t n = prism_tensor_numel(t);
    prism_status s;
    if (dt == PRISM_DTYPE_F64) {
        s = prism_npy_write(path, dt, ndim, shape, h, err, sizeof err);
    } else {
        float *f = malloc((size_t)n * sizeof *f);
        if (!f) {
            free(h);
            return fail("out of host memory");
        }
        for (int64_t i = 0; i < n; i++) f[i] = (float)h[i];
        s = prism_npy_write(path, dt, ndim, shape, f, err, sizeof err);
        free(f);
    }
    free(h);
    return s == PRISM_OK ? CLI_OK : fail("%s", err);
}

static int write_grads(const char *path, apply_state *st) {
    char err[1024];
    prism_st_writer *w = NULL;
    if (prism_st_writer_create(&w) != PRISM_OK) return fail("out of host memory");
    const prism_param *pl = NULL;
    int np = prism_adapter_params(st->ad, &pl), rc = CLI_OK, ngrads = 0;
    const char *prefix = st->a.modules[st->mi].prefix;
    if (prism_st_writer_set_meta(w, "format", "pt", err, sizeof err) != PRISM_OK) rc = fail("%s", err);
    for (int i = 0; i < np && rc == CLI_OK; i++) {
        if (!pl[i].trainable || !pl[i].grad) continue;
        int64_t shape[PRISM_MAX_DIMS], n = prism_tensor_numel(pl[i].grad);
        int nd = prism_tensor_ndim(pl[i].grad);
        for (int d = 0; d < nd; d++) shape[d] = prism_tensor_dim(pl[i].grad, d);
        float *h = malloc((size_t)n * sizeof *h);
        char *key = acli_cat(prefix, ".", pl[i].name);
        if (!h || !key) rc = fail("out of host memory");
        else if (prism_tensor_download(pl[i].grad, h, n) != PRISM_OK)
            rc = acli_fail_ctx("apply", st->ctx, pl[i].name);
        else if (prism_st_writer_add_f32(w, key, nd, shape, h, err, sizeof err) != PRISM_OK)
            rc = fail("%s", err);
        ngrads++;
        free(h);
        free(key);
    }
    if (rc == CLI_OK && !ngrads)
        fprintf(stderr, "prism apply: note: a %s adapter has no trainable parameters; %s holds no tensors\n",
                prism_method_name(prism_adapter_method(st->ad)), path);
    if (rc == CLI_OK && prism_st_writer_write(w, path, err, sizeof err) != PRISM_OK) rc = fail("%s", err);
    prism_st_writer_destroy(w);
    return rc;
}

static int write_outputs(const apply_args *o, apply_state *st) {
    int rc = CLI_OK;
    int64_t shape[PRISM_IO_MAX_DIMS];
    if (o->output) {
        memcpy(shape, st->x.shape, sizeof shape);
        shape[st->x.ndim - 1] = st->m;
        rc = write_npy(o->output, o->out_dtype, st->x.ndim, shape, st->Y);
    }
    if (rc == CLI_OK && o->dx) rc = write_npy(o->dx, o->out_dtype, st->x.ndim, st->x.shape, st->dX);
    if (rc == CLI_OK && o->grads) rc = write_grads(o->grads, st);
    if (rc == CLI_OK && o->merged) {
        int64_t ws[2] = {st->m, st->n};
        rc = write_npy(o->merged, o->out_dtype, 2, ws, st->W);
    }
    return rc;
}

/* Argument checks that need no file. */
static int check_args(const apply_args *o) {
    if (!o->dir) return usage("%s is required", "--adapter");
    if (!o->weight) return usage("%s is required", "--weight");
    const char *paths[] = {o->dir, o->weight, o->key, o->bias, o->module, o->input,
                           o->output, o->dy, o->dx, o->grads, o->merged};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (paths[i] && !*paths[i]) return usage("%sempty file or key name", "");
    bool npy_w = acli_ends_with(o->weight, ".npy"), st_w = acli_ends_with(o->weight, ".safetensors");
    if (!npy_w && !st_w)
        return usage("cannot tell the format of --weight '%s' (name it *.npy or *.safetensors)", o->weight);
    if (o->key && !st_w) return usage("%s is for a .safetensors --weight", "--key");
    if (o->no_bias && o->bias) return usage("%s and --no-bias exclude each other", "--bias");
    if (o->no_bias && !st_w) return usage("%s is for a .safetensors --weight", "--no-bias");
    if (o->bias && !acli_ends_with(o->bias, ".npy")) return usage("--bias '%s' must be a .npy file", o->bias);
    if ((o->dx || o->grads) && !o->dy) return usage("%s need --dy (the upstream gradient)", "--dx and --grads");
    if (o->dy && !o->dx && !o->grads) return usage("%s given but neither --dx nor --grads to write", "--dy");
    if ((o->output || o->dy) && !o->input) return usage("%s need --input X", "--output and --dy");
    if (o->input && !o->output && !o->dy)
        return usage("%s given but nothing to compute from it (--output or --dy)", "--input");
    if (!o->output && !o->dy && !o->merged) return usage("%snothing to do: give --output, --dy or --merged", "");
    return CLI_OK;
}

int cmd_apply(int argc, char **argv) {
    enum { O_KEY = 256, O_BIAS, O_NOBIAS, O_DY, O_DX, O_GRADS, O_MERGED, O_DEVICE, O_DTYPE };
    static const struct option opts[] = {
        {"adapter", required_argument, NULL, 'a'}, {"weight", required_argument, NULL, 'w'},
        {"key", required_argument, NULL, O_KEY},   {"bias", required_argument, NULL, O_BIAS},
        {"no-bias", no_argument, NULL, O_NOBIAS},  {"module", required_argument, NULL, 'm'},
        {"input", required_argument, NULL, 'x'},   {"output", required_argument, NULL, 'y'},
        {"dy", required_argument, NULL, O_DY},     {"dx", required_argument, NULL, O_DX},
        {"grads", required_argument, NULL, O_GRADS}, {"merged", required_argument, NULL, O_MERGED},
        {"device", required_argument, NULL, O_DEVICE}, {"dtype", required_argument, NULL, O_DTYPE},
        {"help", no_argument, NULL, 'h'},          {0}};
    apply_args o = {.out_dtype = PRISM_DTYPE_F32};
    int c;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":a:w:m:x:y:h", opts, NULL)) != -1) {
        switch (c) {
        case 'a': o.dir = optarg; break;
        case 'w': o.weight = optarg; break;
        case O_KEY: o.key = optarg; break;
        case O_BIAS: o.bias = optarg; break;
        case O_NOBIAS: o.no_bias = true; break;
        case 'm': o.module = optarg; break;
        case 'x': o.input = optarg; break;
        case 'y': o.output = optarg; break;
        case O_DY: o.dy = optarg; break;
        case O_DX: o.dx = optarg; break;
        case O_GRADS: o.grads = optarg; break;
        case O_MERGED: o.merged = optarg; break;
        case O_DEVICE: o.device = optarg; break;
        case O_DTYPE:
            if (!strcmp(optarg, "f4") || !strcmp(optarg, "float32")) o.out_dtype = PRISM_DTYPE_F32;
            else if (!strcmp(optarg, "f8") || !strcmp(optarg, "float64")) o.out_dtype = PRISM_DTYPE_F64;
            else return usage("--dtype must be f4 or f8, got '%s'", optarg);
            break;
        case 'h': help(stdout); return CLI_OK;
        default: return cli_bad_option("apply", argc, argv, c);
        }
    }
    if (optind < argc) return usage("unexpected argument '%s'", argv[optind]);
    int rc = check_args(&o);
    if (rc != CLI_OK) return rc;

    apply_state st = {0};
    if ((rc = acli_open("apply", o.dir, o.module, &st.a)) != CLI_OK) goto done;
    if (st.a.nmodules > 1) {
        fprintf(stderr, "prism apply: %s has %d modules; pick one with --module:", o.dir, st.a.nmodules);
        for (int i = 0; i < st.a.nmodules; i++) fprintf(stderr, " %s", st.a.modules[i].name);
        fprintf(stderr, "\n");
        rc = CLI_USAGE;
        goto done;
    }
    st.mi = 0;
    if ((rc = acli_context("apply", o.device, &st.ctx)) != CLI_OK) goto done;
    if ((rc = load_weight(&o, &st)) != CLI_OK) goto done;
    if ((rc = acli_instantiate(&st.a, st.mi, st.ctx, st.W0, st.bias, &st.ad)) != CLI_OK) goto done;
    if (o.input && (rc = load_inputs(&o, &st)) != CLI_OK) goto done;
    if ((rc = compute(&o, &st)) != CLI_OK) goto done;
    rc = write_outputs(&o, &st);
done:
    prism_stream_destroy(st.s);
    prism_adapter_destroy(st.ad);
    prism_tensor_destroy(st.W);
    prism_tensor_destroy(st.dX);
    prism_tensor_destroy(st.dY);
    prism_tensor_destroy(st.Y);
    prism_tensor_destroy(st.X);
    prism_tensor_destroy(st.bias);
    prism_tensor_destroy(st.W0);
    prism_context_destroy(st.ctx);
    prism_npy_free(&st.x);
    prism_npy_free(&st.dy);
    acli_close(&st.a);
    return rc;
}
