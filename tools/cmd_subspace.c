/* `prism subspace`: the unified delta-tuning subspace (docs/subspace.md).
 *   fit     adapter directories of M methods from K runs -> a subspace file
 *   info    print a subspace file
 *   export  decode coordinates z with one method's decoder into an ordinary
 *           adapter directory (transfer; evaluate it with prism apply/merge)
 * Training in the subspace is `prism train --method subspace` (the library
 * API in include/prism/subspace.h). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "prism/subspace.h"
#include "subspace_fit.h"

#define MAX_RUNS 4096

static void help(FILE *f) {
    fprintf(f,
            "usage: prism subspace fit [--init DIR] [--run DIR]... [RUN_DIR...] -o FILE\n"
            "                          [--rank R] [--methods M1,M2,...] [--no-normalize]\n"
            "                          [--svd auto|gesdd|gram] [--json]\n"
            "       prism subspace info FILE [--json]\n"
            "       prism subspace export FILE --method M (--z V1,V2,... | --z-file Z.npy) -o DIR\n\n"
            "fit: the unified delta-tuning subspace (METHODS.md section 5). A run is a\n"
            "directory holding one adapter directory per method (the directory itself, a\n"
            "subdirectory, or a subdirectory's adapter/, as prism train writes them; the\n"
            "method comes from adapter_config.json's peft_type). Every method's solution is\n"
            "flattened in canonical order (module path, then tensor name), its init\n"
            "subtracted (the run's own <...>/adapter-init/ next to <...>/adapter/, as prism\n"
            "train writes it, else --init's), optionally scaled to unit RMS norm per\n"
            "method, and the\n"
            "K x sum|theta_m| matrix of all runs factored by a rank-R truncated SVD\n"
            "(LAPACK). The file holds theta0 and the decoder D_m [|theta_m|, R] of every\n"
            "method, the runs' coordinates and the singular values.\n\n"
            "options (fit):\n"
            "  --init DIR       a run-like directory with the untrained adapters: theta0 of\n"
            "                   the file, and the init of runs without adapter-init/\n"
            "                   (default: the first run's adapter-init/)\n"
            "  --run DIR        a run (repeatable; runs may also be given as arguments)\n"
            "  -o, --out FILE   the subspace file to write (.safetensors)\n"
            "  --rank R         subspace dimension, 1..K (default 4, capped at K)\n"
            "  --methods LIST   comma list of members (lora, ether, etherplus, hut, sdctft,\n"
            "                   fourierft); default: every member found in --init\n"
            "  --no-normalize   keep each method's raw scale (default: unit RMS per method)\n"
            "  --svd WAY        auto (default), gesdd (the K x N matrix), gram (K x K)\n"
            "  --json           JSON summary on stdout\n\n"
            "export: writes DIR/adapter_model.safetensors + adapter_config.json holding\n"
            "theta0_M + D_M z for every module: the same z through another method's decoder\n"
            "is the paper's transfer. --z takes exactly R comma-separated numbers;\n"
            "--z-file a .npy of R floats.\n\n"
            "exit status: 0 success, 1 invalid or mismatched inputs / file, 2 bad arguments.\n");
}

static int usage(const char *msg, const char *arg) {
    fprintf(stderr, "prism subspace: %s%s%s\nRun 'prism subspace --help' for usage.\n", msg, arg ? ": " : "",
            arg ? arg : "");
    return CLI_USAGE;
}

static int parse_methods(const char *s, prism_method *out, int *n) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        prism_method m;
        if (prism_method_parse(tok, &m) != PRISM_OK) return usage("unknown method", tok);
        for (int i = 0; i < *n; i++)
            if (out[i] == m) return usage("method given twice", tok);
        if (*n == PRISM_METHOD_COUNT) return usage("too many methods", s);
        out[(*n)++] = m;
    }
    return *n ? CLI_OK : usage("--methods is empty", NULL);
}

static void print_sigma(FILE *f, const double *s, int n, bool json) {
    for (int i = 0; i < n; i++) {
        if (json) {
            fputs(i ? ", " : "", f);
            cli_json_num(f, s[i]);
        } else {
            fprintf(f, "%s%.4g", i ? " " : "", s[i]);
        }
    }
}

static int cmd_fit(int argc, char **argv) {
    static const struct option opts[] = {{"init", required_argument, 0, 'i'}, {"run", required_argument, 0, 'r'},
                                         {"out", required_argument, 0, 'o'},  {"rank", required_argument, 0, 'k'},
                                         {"methods", required_argument, 0, 'm'}, {"no-normalize", no_argument, 0, 'n'},
                                         {"svd", required_argument, 0, 's'},  {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},       {0, 0, 0, 0}};
    const char *init = NULL, *out = NULL;
    static const char *runs[MAX_RUNS];
    int nruns = 0, nm = 0, c;
    bool json = false, rank_given = false;
    prism_method ms[PRISM_METHOD_COUNT];
    psf_options o = psf_options_default();
    long v;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': init = optarg; break;
        case 'r':
            if (nruns == MAX_RUNS) return usage("too many runs", NULL);
            runs[nruns++] = optarg;
            break;
        case 'o': out = optarg; break;
        case 'k':
            if (!cli_parse_long("subspace fit", "--rank", optarg, 1, PRISM_SUBSPACE_MAX_RANK, &v)) return CLI_USAGE;
            o.rank = (int)v;
            rank_given = true;
            break;
        case 'm':
            if (parse_methods(optarg, ms, &nm) != CLI_OK) return CLI_USAGE;
            break;
        case 'n': o.normalize = 0; break;
        case 's':
            if (!strcmp(optarg, "auto")) o.svd = PSF_SVD_AUTO;
            else if (!strcmp(optarg, "gesdd")) o.svd = PSF_SVD_GESDD;
            else if (!strcmp(optarg, "gram")) o.svd = PSF_SVD_GRAM;
            else return usage("--svd must be auto, gesdd or gram", optarg);
            break;
        case 'j': json = true; break;
        case 'h': help(stdout); return CLI_OK;
        default: return cli_bad_option("subspace fit", argc, argv, c);
        }
    }
    for (; optind < argc; optind++) {
        if (nruns == MAX_RUNS) return usage("too many runs", NULL);
        runs[nruns++] = argv[optind];
    }
    if (!out) return usage("fit needs -o FILE", NULL);
    if (nruns < 1) return usage("fit needs at least one run", NULL);
    if (!rank_given && o.rank > nruns) o.rank = nruns;
    if (o.rank > nruns) {
        fprintf(stderr, "prism subspace fit: --rank %d exceeds the %d runs (r <= K)\n", o.rank, nruns);
        return CLI_USAGE;
    }
    if (!json)
        fprintf(stderr, "prism subspace fit: %d runs, init %s, rank %d ...\n", nruns,
                init ? init : "each run's adapter-init/", o.rank);
    psf_report rep;
    char err[2048];
    prism_status st = psf_fit_dirs(runs, nruns, init, ms, nm, &o, out, &rep, err, sizeof err);
    if (st) {
        fprintf(stderr, "prism subspace fit: %s\n", err);
        return st == PRISM_ERR_INVALID_ARGUMENT && strstr(err, "bad arguments") ? CLI_USAGE : CLI_FAIL;
    }
    prism_subspace *sp = NULL;
    if (prism_subspace_open(out, &sp, err, sizeof err)) {
        fprintf(stderr, "prism subspace fit: wrote %s but cannot read it back: %s\n", out, err);
        psf_report_free(&rep);
        return CLI_FAIL;
    }
    FILE *f = stdout;
    if (json) {
        fprintf(f, "{\"file\": ");
        cli_json_str(f, out);
        fprintf(f, ", \"runs\": %d, \"rank\": %d, \"parameters\": %lld, \"svd\": ", rep.K, rep.rank, (long long)rep.N);
        cli_json_str(f, rep.svd_used);
        fprintf(f, ", \"energy\": ");
        cli_json_num(f, rep.energy);
        fprintf(f, ", \"sigma\": [");
        print_sigma(f, rep.sigma, rep.nsigma, true);
        fprintf(f, "], \"methods\": [");
        for (int i = 0; i < prism_subspace_method_count(sp); i++) {
            prism_method m = prism_subspace_method_at(sp, i);
            fprintf(f, "%s{\"method\": \"%s\", \"size\": %lld, \"scale\": ", i ? ", " : "", prism_method_name(m),
                    (long long)prism_subspace_size(sp, m));
            cli_json_num(f, rep.scale[i]);
            fputc('}', f);
        }
        fprintf(f, "]}\n");
    } else {
        fprintf(f, "wrote %s: rank %d from %d runs, %lld parameters (%s)\n", out, rep.rank, rep.K, (long long)rep.N,
                rep.svd_used);
        for (int i = 0; i < prism_subspace_method_count(sp); i++) {
            prism_method m = prism_subspace_method_at(sp, i);
            fprintf(f, "  %-10s %10lld parameters, scale %.4g\n", prism_method_name(m),
                    (long long)prism_subspace_size(sp, m), rep.scale[i]);
        }
        fprintf(f, "singular values: ");
        print_sigma(f, rep.sigma, rep.nsigma, false);
        fprintf(f, "\nenergy kept by rank %d: %.2f%%\n", rep.rank, 100.0 * rep.energy);
    }
    prism_subspace_close(sp);
    psf_report_free(&rep);
    return CLI_OK;
}

static int cmd_info(int argc, char **argv) {
    static const struct option opts[] = {{"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    bool json = false;
    int c;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'j') json = true;
        else if (c == 'h') {
            help(stdout);
            return CLI_OK;
        } else return cli_bad_option("subspace info", argc, argv, c);
    }
    if (optind != argc - 1) return usage("info needs exactly one FILE", NULL);
    const char *path = argv[optind];
    prism_subspace *sp;
    char err[2048];
    if (prism_subspace_open(path, &sp, err, sizeof err)) {
        fprintf(stderr, "prism subspace info: %s\n", err);
        return CLI_FAIL;
    }
    const prism_st_file *f = prism_subspace_file(sp);
    const prism_st_tensor *sg = prism_st_find(f, "sigma"), *co = prism_st_find(f, "coords");
    int ns = sg ? (int)sg->numel : 0;
    double *sig = calloc((size_t)ns + 1, sizeof *sig);
    float *tmp = calloc((size_t)ns + 1, sizeof *tmp);
    if (sg && sig && tmp && !prism_st_read_f32(f, "sigma", tmp, ns, NULL, 0))
        for (int i = 0; i < ns; i++) sig[i] = tmp[i];
    const char *keys[] = {"runs", "init", "normalize"};
    FILE *o = stdout;
    if (json) {
        fprintf(o, "{\"file\": ");
        cli_json_str(o, path);
        fprintf(o, ", \"rank\": %d, \"runs_count\": %lld", prism_subspace_rank(sp), co ? (long long)co->shape[0] : 0LL);
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            fprintf(o, ", \"%s\": ", keys[i]);
            cli_json_str(o, prism_subspace_meta(sp, keys[i]));
        }
        fprintf(o, ", \"sigma\": [");
        print_sigma(o, sig, ns, true);
        fprintf(o, "], \"methods\": [");
    } else {
        fprintf(o, "%s: prism subspace, rank %d, %lld runs, normalize %s\n", path, prism_subspace_rank(sp),
                co ? (long long)co->shape[0] : 0LL, prism_subspace_meta(sp, "normalize") ? prism_subspace_meta(sp, "normalize") : "?");
        fprintf(o, "init: %s\nruns: %s\nsingular values: ", prism_subspace_meta(sp, "init") ? prism_subspace_meta(sp, "init") : "",
                prism_subspace_meta(sp, "runs") ? prism_subspace_meta(sp, "runs") : "");
        print_sigma(o, sig, ns, false);
        fputc('\n', o);
    }
    for (int i = 0; i < prism_subspace_method_count(sp); i++) {
        prism_method m = prism_subspace_method_at(sp, i);
        const prism_subspace_entry *e;
        int ne = prism_subspace_entries(sp, m, &e);
        const char *const *mods;
        int nmod = prism_subspace_modules(sp, m, &mods);
        if (json) {
            fprintf(o, "%s{\"method\": \"%s\", \"size\": %lld, \"tensors\": %d, \"modules\": %d}", i ? ", " : "",
                    prism_method_name(m), (long long)prism_subspace_size(sp, m), ne, nmod);
        } else {
            fprintf(o, "  %-10s %10lld parameters in %d tensors over %d modules (decoder %.1f MB)\n",
                    prism_method_name(m), (long long)prism_subspace_size(sp, m), ne, nmod,
                    4.0 * (double)prism_subspace_size(sp, m) * prism_subspace_rank(sp) / 1e6);
        }
    }
    if (json) fprintf(o, "]}\n");
    free(sig);
    free(tmp);
    prism_subspace_close(sp);
    return CLI_OK;
}

static int cmd_export(int argc, char **argv) {
    static const struct option opts[] = {{"method", required_argument, 0, 'm'}, {"z", required_argument, 0, 'z'},
                                         {"z-file", required_argument, 0, 'f'}, {"out", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *method = NULL, *zs = NULL, *zf = NULL, *out = NULL;
    int c;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': method = optarg; break;
        case 'z': zs = optarg; break;
        case 'f': zf = optarg; break;
        case 'o': out = optarg; break;
        case 'h': help(stdout); return CLI_OK;
        default: return cli_bad_option("subspace export", argc, argv, c);
        }
    }
    if (optind != argc - 1) return usage("export needs exactly one FILE", NULL);
    if (!method || !out || (!zs == !zf)) return usage("export needs --method, -o DIR and one of --z / --z-file", NULL);
    prism_method m;
    if (prism_method_parse(method, &m) != PRISM_OK) return usage("unknown method", method);
    float z[PRISM_SUBSPACE_MAX_RANK];
    int nz = 0;
    char err[2048];
    if (zs) {
        const char *p = zs;
        while (*p) {
            char *end;
            errno = 0;
            double d = strtod(p, &end);
            if (end == p || errno || !isfinite(d) || nz == PRISM_SUBSPACE_MAX_RANK || (*end && *end != ','))
                return usage("--z must be comma-separated finite numbers", zs);
            z[nz++] = (float)d;
            p = *end ? end + 1 : end;
        }
    } else {
        prism_npy_array a;
        if (prism_npy_read(zf, PRISM_DTYPE_F32, 0, &a, err, sizeof err)) {
            fprintf(stderr, "prism subspace export: %s\n", err);
            return CLI_FAIL;
        }
        if (a.numel > PRISM_SUBSPACE_MAX_RANK) {
            prism_npy_free(&a);
            fprintf(stderr, "prism subspace export: %s holds %lld values\n", zf, (long long)a.numel);
            return CLI_FAIL;
        }
        nz = (int)a.numel;
        memcpy(z, a.data, sizeof(float) * (size_t)nz);
        prism_npy_free(&a);
    }
    prism_subspace *sp;
    if (prism_subspace_open(argv[optind], &sp, err, sizeof err)) {
        fprintf(stderr, "prism subspace export: %s\n", err);
        return CLI_FAIL;
    }
    int rc = CLI_OK;
    if (nz != prism_subspace_rank(sp)) {
        fprintf(stderr, "prism subspace export: z has %d values, the subspace has rank %d\n", nz, prism_subspace_rank(sp));
        rc = CLI_USAGE;
    } else if (prism_subspace_export(sp, m, z, nz, out, err, sizeof err)) {
        fprintf(stderr, "prism subspace export: %s\n", err);
        rc = CLI_FAIL;
    } else {
        printf("wrote %s: %s adapter decoded from z (%d values)\n", out, prism_method_name(m), nz);
    }
    prism_subspace_close(sp);
    return rc;
}

int cmd_subspace(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (!strcmp(argv[1], "fit")) return cmd_fit(argc - 1, argv + 1);
    if (!strcmp(argv[1], "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(argv[1], "export")) return cmd_export(argc - 1, argv + 1);
    return usage("unknown subcommand (fit, info, export)", argv[1]);
}
