/* `prism inspect DIR`: prints an adapter directory (HF PEFT layout): the
 * method, every module with its tensors, the parameter count, the bytes and
 * the config. With --base the adapters are also created on the base weights,
 * which validates the tensors fully (shapes, values) and adds each layer's
 * shape, its trainable count and the device bytes the adapter holds. */
#include <stdlib.h>
#include <string.h>
#include "adapter_cli.h"

static void help(FILE *f) {
    fprintf(f,
            "usage: prism inspect DIR [--json] [--base FILE] [--device D]\n\n"
            "Prints an adapter directory in HF PEFT layout (DIR/adapter_config.json and\n"
            "DIR/adapter_model.safetensors, keys base_model.model.<module>.<name>): the\n"
            "method, each module with its tensors (name, dtype, shape), the parameter\n"
            "count, the bytes, and the config.\n\n"
            "Parameters are the floating-point values stored in the file; integer tensors\n"
            "(e.g. sdctft_index) are counted apart as indices.\n\n"
            "options:\n"
            "  --json        JSON on stdout instead of text\n"
            "  --base FILE   base weights (.safetensors with '<module>.weight' and optionally\n"
            "                '<module>.bias'): also create every module's adapter on them,\n"
            "                which checks the tensors fully and reports the layer [m, n],\n"
            "                the trainable parameter count and the adapter's device bytes\n"
            "  --device D    device for --base: index, name substring, lavapipe|cpu,\n"
            "                reference (default: $PRISM_DEVICE, else the best device)\n"
            "  -h, --help    this text\n\n"
            "exit status: 0 success, 1 an unreadable or invalid file, 2 bad arguments.\n");
}

typedef struct module_info {
    int64_t params, indices, bytes;
    int have_layer;                 /* --base given and the adapter was created */
    int64_t m, n, trainable, extra_bytes;
} module_info;

static bool is_index(prism_dtype d) {
    return d != PRISM_DTYPE_F32 && d != PRISM_DTYPE_F16 && d != PRISM_DTYPE_BF16 && d != PRISM_DTYPE_F64;
}

static void count_module(const acli_adapter *a, int mi, module_info *info) {
    const acli_module *md = &a->modules[mi];
    for (int i = 0; i < md->ntensors; i++) {
        const prism_st_tensor *t = prism_st_tensor_at(a->st, md->tensors[i]);
        if (is_index(t->dtype)) info->indices += t->numel;
        else info->params += t->numel;
        info->bytes += (int64_t)t->nbytes;
    }
}

/* Creates each module's adapter on the base weights (--base). */
static int instantiate_all(acli_adapter *a, const char *base_path, const char *device, module_info *info) {
    char err[1024];
    prism_st_file *base = NULL;
    prism_context *ctx = NULL;
    int rc = CLI_OK;
    if (prism_st_open(base_path, 0, &base, err, sizeof err) != PRISM_OK) {
        fprintf(stderr, "prism inspect: %s\n", err);
        return CLI_FAIL;
    }
    if ((rc = acli_context("inspect", device, &ctx)) != CLI_OK) goto done;
    for (int mi = 0; mi < a->nmodules && rc == CLI_OK; mi++) {
        const char *name = a->modules[mi].name;
        char *wkey = acli_cat(name, ".weight", NULL), *bkey = acli_cat(name, ".bias", NULL);
        prism_tensor *W0 = NULL, *bias = NULL;
        prism_adapter *ad = NULL;
        if (!wkey || !bkey) {
            fprintf(stderr, "prism inspect: out of host memory\n");
            rc = CLI_FAIL;
        } else {
            rc = acli_read_base("inspect", base, base_path, wkey, bkey, false, ctx, &W0, &bias);
        }
        if (rc == CLI_OK) rc = acli_instantiate(a, mi, ctx, W0, bias, &ad);
        if (rc == CLI_OK) {
            info[mi].have_layer = 1;
            info[mi].m = prism_adapter_out_features(ad);
            info[mi].n = prism_adapter_in_features(ad);
            info[mi].trainable = prism_adapter_trainable_count(ad);
            info[mi].extra_bytes = prism_adapter_extra_bytes(ad);
        }
        prism_adapter_destroy(ad);
        prism_tensor_destroy(W0);
        prism_tensor_destroy(bias);
        free(wkey);
        free(bkey);
    }
    if (rc == CLI_OK) rc = acli_validation_verdict("inspect", ctx);
done:
    prism_context_destroy(ctx);
    prism_st_close(base);
    return rc;
}

static void print_text(const acli_adapter *a, const module_info *info, const module_info *tot) {
    char sh[96];
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(a->config, "peft_type");
    printf("adapter:    %s\n", a->dir);
    printf("method:     %s", prism_method_name(a->cfg.method));
    if (cJSON_IsString(pt)) printf(" (peft_type \"%s\")", pt->valuestring);
    printf("\nmodules:    %d\n", a->nmodules);
    for (int mi = 0; mi < a->nmodules; mi++) {
        const acli_module *md = &a->modules[mi];
        const module_info *in = &info[mi];
        printf("  %s: %lld parameters", md->name, (long long)in->params);
        if (in->indices) printf(", %lld indices", (long long)in->indices);
        if (in->have_layer)
            printf("; layer [%lld, %lld], trainable %lld, device bytes %lld", (long long)in->m, (long long)in->n,
                   (long long)in->trainable, (long long)in->extra_bytes);
        printf("\n");
        size_t plen = strlen(md->prefix) + 1;
        for (int i = 0; i < md->ntensors; i++) {
            const prism_st_tensor *t = prism_st_tensor_at(a->st, md->tensors[i]);
            printf("    %-24s %-5s %-16s %lld\n", t->name + plen, prism_dtype_name(t->dtype),
                   acli_shape_str(t->ndim, t->shape, sh, sizeof sh), (long long)t->numel);
        }
    }
    printf("parameters: %lld\n", (long long)tot->params);
    if (tot->indices) printf("indices:    %lld\n", (long long)tot->indices);
    if (tot->have_layer) printf("trainable:  %lld (device bytes %lld)\n", (long long)tot->trainable,
                                (long long)tot->extra_bytes);
    printf("bytes:      %lld of tensor data, %llu in adapter_model.safetensors\n", (long long)tot->bytes,
           (unsigned long long)a->model_file_bytes);
    char *cfg = cJSON_Print(a->config);
    printf("config (adapter_config.json):\n");
    /* cJSON indents with tabs and puts a tab after ':'; print 2 spaces per
     * level and one space instead */
    bool line_start = true;
    for (const char *p = cfg ? cfg : "(out of memory)"; *p; p++) {
        if (*p == '\t') fputs(line_start ? "  " : " ", stdout);
        else fputc(*p, stdout);
        if (*p == '\n') line_start = true;
        else if (*p != '\t') line_start = false;
    }
    printf("\n");
    free(cfg);
}

static void print_json(const acli_adapter *a, const module_info *info, const module_info *tot) {
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(a->config, "peft_type");
    printf("{\n  \"adapter\": ");
    cli_json_str(stdout, a->dir);
    printf(",\n  \"method\": ");
    cli_json_str(stdout, prism_method_name(a->cfg.method));
    printf(",\n  \"peft_type\": ");
    if (cJSON_IsString(pt)) cli_json_str(stdout, pt->valuestring);
    else printf("null");
    printf(",\n  \"modules\": [");
    for (int mi = 0; mi < a->nmodules; mi++) {
        const acli_module *md = &a->modules[mi];
        const module_info *in = &info[mi];
        printf("%s\n    {\"name\": ", mi ? "," : "");
        cli_json_str(stdout, md->name);
        printf(", \"parameters\": %lld, \"indices\": %lld, \"bytes\": %lld", (long long)in->params,
               (long long)in->indices, (long long)in->bytes);
        if (in->have_layer)
            printf(", \"out_features\": %lld, \"in_features\": %lld, \"trainable\": %lld, \"device_bytes\": %lld",
                   (long long)in->m, (long long)in->n, (long long)in->trainable, (long long)in->extra_bytes);
        printf(", \"tensors\": [");
        size_t plen = strlen(md->prefix) + 1;
        for (int i = 0; i < md->ntensors; i++) {
            const prism_st_tensor *t = prism_st_tensor_at(a->st, md->tensors[i]);
            printf("%s{\"name\": ", i ? ", " : "");
            cli_json_str(stdout, t->name + plen);
            printf(", \"dtype\": \"%s\", \"shape\": [", prism_dtype_name(t->dtype));
            for (int d = 0; d < t->ndim; d++) printf("%s%lld", d ? ", " : "", (long long)t->shape[d]);
            printf("]}");
        }
        printf("]}");
    }
    printf("\n  ],\n  \"parameters\": %lld,\n  \"indices\": %lld,\n", (long long)tot->params,
           (long long)tot->indices);
    if (tot->have_layer)
        printf("  \"trainable\": %lld,\n  \"device_bytes\": %lld,\n", (long long)tot->trainable,
               (long long)tot->extra_bytes);
    printf("  \"bytes\": %lld,\n  \"file_bytes\": %llu,\n  \"config\": ", (long long)tot->bytes,
           (unsigned long long)a->model_file_bytes);
    char *cfg = cJSON_PrintUnformatted(a->config);
    printf("%s\n}\n", cfg ? cfg : "null");
    free(cfg);
}

int cmd_inspect(int argc, char **argv) {
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"base", required_argument, NULL, 'b'},
                                         {"device", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    bool json = false;
    const char *base = NULL, *device = NULL;
    int c;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'b': base = optarg; break;
        case 'd': device = optarg; break;
        case 'h': help(stdout); return CLI_OK;
        default: return cli_bad_option("inspect", argc, argv, c);
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "prism inspect: missing the adapter directory\nRun 'prism inspect --help' for usage.\n");
        return CLI_USAGE;
    }
    if (argc - optind > 1) {
        fprintf(stderr, "prism inspect: unexpected argument '%s' (one adapter directory at a time)\n"
                        "Run 'prism inspect --help' for usage.\n", argv[optind + 1]);
        return CLI_USAGE;
    }
    if (device && !base) {
        fprintf(stderr, "prism inspect: --device is used only with --base\n");
        return CLI_USAGE;
    }
    if (!*argv[optind] || (base && !*base)) {
        fprintf(stderr, "prism inspect: empty file name\n");
        return CLI_USAGE;
    }
    acli_adapter a;
    int rc = acli_open("inspect", argv[optind], NULL, &a);
    module_info *info = NULL;
    if (rc == CLI_OK && !(info = calloc((size_t)a.nmodules, sizeof *info))) {
        fprintf(stderr, "prism inspect: out of host memory\n");
        rc = CLI_FAIL;
    }
    if (rc == CLI_OK && base) rc = instantiate_all(&a, base, device, info);
    if (rc == CLI_OK) {
        module_info tot = {.have_layer = base != NULL};
        for (int mi = 0; mi < a.nmodules; mi++) {
            count_module(&a, mi, &info[mi]);
            tot.params += info[mi].params;
            tot.indices += info[mi].indices;
            tot.bytes += info[mi].bytes;
            tot.trainable += info[mi].trainable;
            tot.extra_bytes += info[mi].extra_bytes;
        }
        if (json) print_json(&a, info, &tot);
        else print_text(&a, info, &tot);
    }
    free(info);
    acli_close(&a);
    return rc;
}
