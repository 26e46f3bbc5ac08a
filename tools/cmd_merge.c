/* `prism merge`: base weights (safetensors) + an adapter directory (HF PEFT
 * layout) -> merged weights (safetensors). Every base tensor is copied; each
 * adapted module's "<module>.weight" is replaced by the adapter's W_eff
 * (prism_adapter_merge, computed on the chosen device). The output is
 * written atomically (temp file, fsync, rename). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "adapter_cli.h"

static void help(FILE *f) {
    fprintf(f,
            "usage: prism merge --base FILE --adapter DIR --output FILE [--device D] [--quiet]\n\n"
            "Merges an adapter into base weights: every tensor of the base file is copied,\n"
            "and for each module the adapter targets, '<module>.weight' is replaced by the\n"
            "adapter's effective weight W_eff (the bias is kept: y = x W_eff^T + b; a FULL\n"
            "adapter that trains the bias replaces '<module>.bias' too).\n\n"
            "The adapter is a directory in HF PEFT layout: adapter_config.json and\n"
            "adapter_model.safetensors with keys base_model.model.<module>.<name>. Modules\n"
            "are the key prefixes that match the config's target_modules.\n\n"
            "Types: the output holds F32 and I64 tensors only. F16, BF16 and F64 base\n"
            "tensors are read and written as F32 (so the output of an fp16 model is about\n"
            "twice its size); integer and bool tensors are written as I64. F8 and U64\n"
            "tensors are not supported. W_eff is computed in fp32 on a device, in float64\n"
            "(rounded to F32 on output) on the reference backend.\n\n"
            "options:\n"
            "  -b, --base FILE     base weights (.safetensors)\n"
            "  -a, --adapter DIR   adapter directory\n"
            "  -o, --output FILE   merged weights to write (replaced atomically; may be the\n"
            "                      base file itself)\n"
            "  --device D          device: index, name substring, lavapipe|cpu, reference\n"
            "                      (default: $PRISM_DEVICE, else the best device)\n"
            "  -q, --quiet         no progress on stderr\n"
            "  -h, --help          this text\n\n"
            "exit status: 0 success, 1 a missing, unreadable or mismatched file or a device\n"
            "error (the output is then left untouched), 2 bad arguments.\n");
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "prism merge: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_FAIL;
}

/* Result of one module: W_eff, and the trained bias of a FULL adapter. */
typedef struct merged {
    float *w, *b;
    int64_t m, n;
} merged;

/* Downloads parameter `name` of ad when it exists with `count` elements. */
static float *param_copy(prism_adapter *ad, const char *name, int64_t count) {
    const prism_param *pl = NULL;
    int np = prism_adapter_params(ad, &pl);
    for (int i = 0; i < np; i++) {
        if (strcmp(pl[i].name, name) != 0 || prism_tensor_numel(pl[i].value) != count) continue;
        float *h = malloc((size_t)count * sizeof *h);
        if (h && prism_tensor_download(pl[i].value, h, count) == PRISM_OK) return h;
        free(h);
        return NULL;
    }
    return NULL;
}

static int merge_module(acli_adapter *a, int mi, const prism_st_file *base, const char *base_path,
                        prism_context *ctx, merged *out) {
    const char *name = a->modules[mi].name;
    char *wkey = acli_cat(name, ".weight", NULL), *bkey = acli_cat(name, ".bias", NULL);
    prism_tensor *W0 = NULL, *bias = NULL, *W = NULL;
    prism_adapter *ad = NULL;
    prism_stream *s = NULL;
    int rc = CLI_OK;
    if (!wkey || !bkey) {
        fprintf(stderr, "prism merge: out of host memory\n");
        rc = CLI_FAIL;
        goto done;
    }
    if ((rc = acli_read_base("merge", base, base_path, wkey, bkey, false, ctx, &W0, &bias)) != CLI_OK) goto done;
    if ((rc = acli_instantiate(a, mi, ctx, W0, bias, &ad)) != CLI_OK) goto done;
    out->m = prism_tensor_dim(W0, 0);
    out->n = prism_tensor_dim(W0, 1);
    int64_t shape[2] = {out->m, out->n};
    if (prism_tensor_create(ctx, 2, shape, &W) != PRISM_OK || prism_stream_create(ctx, &s) != PRISM_OK ||
        prism_adapter_merge(s, ad, W) != PRISM_OK || prism_stream_run(s) != PRISM_OK) {
        fprintf(stderr, "prism merge: module '%s': %s\n", name, prism_error_message(ctx));
        rc = CLI_FAIL;
        goto done;
    }
    out->w = malloc((size_t)(out->m * out->n) * sizeof *out->w);
    if (!out->w || prism_tensor_download(W, out->w, out->m * out->n) != PRISM_OK) {
        fprintf(stderr, "prism merge: module '%s': downloading W_eff: %s\n", name,
                out->w ? prism_error_message(ctx) : "out of host memory");
        rc = CLI_FAIL;
        goto done;
    }
    /* FULL with a trained bias changes b as well as W */
    if (bias && prism_adapter_method(ad) == PRISM_METHOD_FULL) out->b = param_copy(ad, "bias", out->m);
done:
    prism_stream_destroy(s);
    prism_tensor_destroy(W);
    prism_adapter_destroy(ad);
    prism_tensor_destroy(W0);
    prism_tensor_destroy(bias);
    free(wkey);
    free(bkey);
    return rc;
}

/* The merged tensor for base key `key`, or NULL when it is copied. */
static const float *replacement(const acli_adapter *a, const merged *res, const char *key) {
    for (int mi = 0; mi < a->nmodules; mi++) {
        size_t ln = strlen(a->modules[mi].name);
        if (strncmp(key, a->modules[mi].name, ln) != 0) continue;
        if (!strcmp(key + ln, ".weight")) return res[mi].w;
        if (!strcmp(key + ln, ".bias")) return res[mi].b;
    }
    return NULL;
}

static int copy_tensor(prism_st_writer *w, const prism_st_file *base, const prism_st_tensor *t,
                       const float *repl) {
    char err[1024];
    prism_status st = PRISM_OK;
    size_t n = (size_t)(t->numel ? t->numel : 1);
    switch (t->dtype) {
    case PRISM_DTYPE_F32: case PRISM_DTYPE_F16: case PRISM_DTYPE_BF16: case PRISM_DTYPE_F64: {
        if (repl) {
            st = prism_st_writer_add_f32(w, t->name, t->ndim, t->shape, repl, err, sizeof err);
            break;
        }
        float *h = malloc(n * sizeof *h);
        if (!h) return fail("out of host memory");
        st = prism_st_read_f32(base, t->name, h, t->numel, err, sizeof err);
        if (st == PRISM_OK) st = prism_st_writer_add_f32(w, t->name, t->ndim, t->shape, h, err, sizeof err);
        free(h);
        break;
    }
    case PRISM_DTYPE_I64: case PRISM_DTYPE_I32: case PRISM_DTYPE_I16: case PRISM_DTYPE_I8:
    case PRISM_DTYPE_U32: case PRISM_DTYPE_U16: case PRISM_DTYPE_U8: case PRISM_DTYPE_BOOL: {
        int64_t *h = malloc(n * sizeof *h);
        if (!h) return fail("out of host memory");
        st = prism_st_read_i64(base, t->name, h, t->numel, err, sizeof err);
        if (st == PRISM_OK) st = prism_st_writer_add_i64(w, t->name, t->ndim, t->shape, h, err, sizeof err);
        free(h);
        break;
    }
    default:
        fprintf(stderr, "prism merge: tensor '%s' is %s, which this tool cannot write (F32 and I64 only)\n",
                t->name, prism_dtype_name(t->dtype));
        return CLI_FAIL;
    }
    if (st != PRISM_OK) return fail("%s", err);
    return CLI_OK;
}

static int write_output(const acli_adapter *a, const merged *res, const prism_st_file *base,
                        const char *out_path) {
    char err[1024];
    prism_st_writer *w = NULL;
    if (prism_st_writer_create(&w) != PRISM_OK) return fail("out of host memory");
    int rc = CLI_OK;
    prism_status st = PRISM_OK;
    size_t nm = prism_st_meta_count(base);
    for (size_t i = 0; i < nm && st == PRISM_OK; i++) {
        const char *k, *v;
        prism_st_meta_at(base, i, &k, &v);
        st = prism_st_writer_set_meta(w, k, v, err, sizeof err);
    }
    if (st == PRISM_OK && !prism_st_meta_get(base, "format"))
        st = prism_st_writer_set_meta(w, "format", "pt", err, sizeof err);
    if (st != PRISM_OK) rc = fail("metadata: %s", err);
    size_t nt = prism_st_count(base);
    for (size_t i = 0; i < nt && rc == CLI_OK; i++) {
        const prism_st_tensor *t = prism_st_tensor_at(base, i);
        rc = copy_tensor(w, base, t, replacement(a, res, t->name));
    }
    if (rc == CLI_OK && prism_st_writer_write(w, out_path, err, sizeof err) != PRISM_OK) rc = fail("%s", err);
    prism_st_writer_destroy(w);
    return rc;
}

int cmd_merge(int argc, char **argv) {
    static const struct option opts[] = {
        {"base", required_argument, NULL, 'b'},   {"adapter", required_argument, NULL, 'a'},
        {"output", required_argument, NULL, 'o'}, {"device", required_argument, NULL, 'd'},
        {"quiet", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
        {0}};
    const char *base_path = NULL, *dir = NULL, *out_path = NULL, *device = NULL;
    bool quiet = false;
    int c;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":b:a:o:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'b': base_path = optarg; break;
        case 'a': dir = optarg; break;
        case 'o': out_path = optarg; break;
        case 'd': device = optarg; break;
        case 'q': quiet = true; break;
        case 'h': help(stdout); return CLI_OK;
        default: return cli_bad_option("merge", argc, argv, c);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "prism merge: unexpected argument '%s'\nRun 'prism merge --help' for usage.\n", argv[optind]);
        return CLI_USAGE;
    }
    const char *missing = !base_path ? "--base" : !dir ? "--adapter" : !out_path ? "--output" : NULL;
    if (missing) {
        fprintf(stderr, "prism merge: %s is required\nRun 'prism merge --help' for usage.\n", missing);
        return CLI_USAGE;
    }
    if (!*base_path || !*dir || !*out_path) {
        fprintf(stderr, "prism merge: empty file name\n");
        return CLI_USAGE;
    }

    char err[1024];
    acli_adapter a;
    prism_st_file *base = NULL;
    prism_context *ctx = NULL;
    merged *res = NULL;
    int rc = acli_open("merge", dir, NULL, &a);
    if (rc != CLI_OK) goto done;
    if (prism_st_open(base_path, 0, &base, err, sizeof err) != PRISM_OK) {
        rc = fail("%s", err);
        goto done;
    }
    /* every target must be in the base before any device work */
    for (int mi = 0; mi < a.nmodules && rc == CLI_OK; mi++) {
        char *wkey = acli_cat(a.modules[mi].name, ".weight", NULL);
        if (!wkey) rc = fail("out of host memory");
        else if (!prism_st_find(base, wkey)) {
            fprintf(stderr, "prism merge: %s has no tensor '%s' for the adapter's module '%s' (from %s)\n",
                    base_path, wkey, a.modules[mi].name, a.model_path);
            rc = CLI_FAIL;
        }
        free(wkey);
    }
    if (rc != CLI_OK) goto done;
    if (!(res = calloc((size_t)a.nmodules, sizeof *res))) {
        rc = fail("out of host memory");
        goto done;
    }
    if ((rc = acli_context("merge", device, &ctx)) != CLI_OK) goto done;
    bool tty = isatty(fileno(stderr));
    for (int mi = 0; mi < a.nmodules && rc == CLI_OK; mi++) {
        if (!quiet)
            fprintf(stderr, tty ? "\r\033[K[%d/%d] %s" : "[%d/%d] %s\n", mi + 1, a.nmodules, a.modules[mi].name);
        rc = merge_module(&a, mi, base, base_path, ctx, &res[mi]);
    }
    if (!quiet && tty) fprintf(stderr, "\r\033[K");
    if (rc == CLI_OK) rc = acli_validation_verdict("merge", ctx);
    if (rc == CLI_OK) rc = write_output(&a, res, base, out_path);
    if (rc == CLI_OK && !quiet)
        fprintf(stderr, "prism merge: %s: %d module%s merged (%s), %zu tensors written\n", out_path, a.nmodules,
                a.nmodules == 1 ? "" : "s", prism_method_name(a.cfg.method), prism_st_count(base));
done:
    for (int mi = 0; res && mi < a.nmodules; mi++) {
        free(res[mi].w);
        free(res[mi].b);
    }
    free(res);
    prism_context_destroy(ctx);
    prism_st_close(base);
    acli_close(&a);
    return rc;
}
