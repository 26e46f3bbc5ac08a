/* `prism serve-bench`: multi-profile batched forward timing. One batch of
 * --rows rows spread over P = 1, 8, 64, 512 profiles (row t -> profile t mod
 * P) through prism_adapter_forward_multi, against the same batch through one
 * adapter's forward and against --separate per-profile forwards. The timing
 * itself lives in bench/bench_xpeft.c (pb_xpeft_serve_rows) so the `xpeft`
 * bench family and this command measure the same thing. Table on stdout, the
 * goals of issue 6 checked in a summary, optional JSON written atomically. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "prism/adapter.h"
#include "prism/prism.h"

#ifndef PRISM_HAVE_BENCH
int cmd_serve_bench(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "prism serve-bench: this build has no benchmarks (configure with -DPRISM_BUILD_BENCH=ON)\n");
    return CLI_USAGE;
}
#else
#include "bench.h"
#include "prism/io.h"

/* bench/bench_xpeft.c */
int pb_xpeft_serve_rows(pb_env *env, prism_method meth, int64_t m, int64_t n, int64_t T, const int *counts,
                        int ncounts, int separate, pb_row *rows, int cap);

static void help(FILE *f) {
    fprintf(f,
            "usage: prism serve-bench [--method M]... [--m N] [--n N] [--rows N] [--profiles LIST]\n"
            "                         [--separate N] [--reps N] [--runs N] [--quick] [--json FILE]\n"
            "                         [--device D]\n\n"
            "Times one batch whose rows belong to different profiles through\n"
            "prism_adapter_forward_multi (one dispatch per op for any number of profiles),\n"
            "the same batch through a single adapter, and the same rows as separate\n"
            "per-profile forwards. Host wall clock per batch, median over --runs.\n\n"
            "options:\n"
            "  --method M       lora, xpeft, ether or etherplus (repeatable; default lora, xpeft)\n"
            "  --m N, --n N     layer out / in features (default 1024; --quick 256)\n"
            "  --rows N         rows per batch (default 512)\n"
            "  --profiles LIST  comma list of profile counts (default 1,8,64,512; first = baseline)\n"
            "  --separate N     per-profile forwards to compare with (default 64; divides --rows)\n"
            "  --reps N         batches per stream (default 5)\n"
            "  --runs N         timed stream runs (default 7)\n"
            "  --quick          256 x 256 layer\n"
            "  --json FILE      also write the rows as JSON\n"
            "  --device D       device: index, name substring, lavapipe|cpu (default: $PRISM_DEVICE)\n"
            "  -h, --help       this text\n\n"
            "Goals (issue 6): P=64 <= 1.5x the first count's time; --separate forwards >= 10x\n"
            "slower than one multi batch of as many profiles.\n");
}

static bool parse_counts(const char *s, int *out, int *n) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    *n = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        long v;
        if (*n == 8 || !cli_parse_long("serve-bench", "a profile count", t, 1, 1 << 20, &v)) return false;
        out[(*n)++] = (int)v;
    }
    return *n > 0;
}

static void json_rows(FILE *f, const pb_row *r, int n, const char *device, bool *first) {
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s    {\"name\": ", *first ? "" : ",\n");
        *first = false;
        cli_json_str(f, r[i].name);
        fprintf(f, ", \"shape\": ");
        cli_json_str(f, r[i].shape);
        fprintf(f, ", \"ms\": ");
        cli_json_num(f, r[i].ms);
        fprintf(f, ", \"ratio\": ");
        cli_json_num(f, r[i].ratio);
        fprintf(f, ", \"ratio_to\": ");
        cli_json_str(f, r[i].ratio_to);
        fprintf(f, ", \"device\": ");
        cli_json_str(f, device);
        fprintf(f, "}");
    }
}

int cmd_serve_bench(int argc, char **argv) {
    static const struct option opts[] = {
        {"method", required_argument, 0, 'M'}, {"m", required_argument, 0, 'm'},
        {"n", required_argument, 0, 'n'},      {"rows", required_argument, 0, 'T'},
        {"profiles", required_argument, 0, 'P'}, {"separate", required_argument, 0, 'S'},
        {"reps", required_argument, 0, 'r'},   {"runs", required_argument, 0, 'u'},
        {"quick", no_argument, 0, 'q'},        {"json", required_argument, 0, 'j'},
        {"device", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    prism_method meths[8];
    int nm = 0, counts[8] = {1, 8, 64, 512}, nc = 4, c;
    long m = 0, n = 0, T = 512, sep = 64, reps = 5, runs = 7;
    bool quick = false;
    const char *json = NULL, *device = NULL;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'M':
            if (nm == 8 || prism_method_parse(optarg, &meths[nm]) != PRISM_OK ||
                !(meths[nm] == PRISM_METHOD_LORA || meths[nm] == PRISM_METHOD_XPEFT ||
                  meths[nm] == PRISM_METHOD_ETHER || meths[nm] == PRISM_METHOD_ETHER_PLUS)) {
                fprintf(stderr, "prism serve-bench: --method must be lora, xpeft, ether or etherplus, got '%s'\n", optarg);
                return CLI_USAGE;
            }
            nm++;
            break;
        case 'm': if (!cli_parse_long("serve-bench", "--m", optarg, 1, 1 << 16, &m)) return CLI_USAGE; break;
        case 'n': if (!cli_parse_long("serve-bench", "--n", optarg, 1, 1 << 16, &n)) return CLI_USAGE; break;
        case 'T': if (!cli_parse_long("serve-bench", "--rows", optarg, 1, 1 << 20, &T)) return CLI_USAGE; break;
        case 'S': if (!cli_parse_long("serve-bench", "--separate", optarg, 1, 1 << 16, &sep)) return CLI_USAGE; break;
        case 'r': if (!cli_parse_long("serve-bench", "--reps", optarg, 1, 1000, &reps)) return CLI_USAGE; break;
        case 'u': if (!cli_parse_long("serve-bench", "--runs", optarg, 1, 64, &runs)) return CLI_USAGE; break;
        case 'P':
            if (!parse_counts(optarg, counts, &nc)) {
                fprintf(stderr, "prism serve-bench: --profiles must be a comma list of up to 8 counts\n");
                return CLI_USAGE;
            }
            break;
        case 'q': quick = true; break;
        case 'j': json = optarg; break;
        case 'd': device = optarg; break;
        case 'h': help(stdout); return CLI_OK;
        default: return cli_bad_option("serve-bench", argc, argv, c);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "prism serve-bench: unexpected argument '%s'\n", argv[optind]);
        return CLI_USAGE;
    }
    if (!nm) meths[nm++] = PRISM_METHOD_LORA, meths[nm++] = PRISM_METHOD_XPEFT;
    if (!m) m = quick ? 256 : 1024;
    if (!n) n = quick ? 256 : 1024;
    for (int i = 0; i < nc; i++)
        if (counts[i] > T) {
            fprintf(stderr, "prism serve-bench: %d profiles do not fit %ld rows\n", counts[i], T);
            return CLI_USAGE;
        }
    if (T % sep || sep > T) {
        fprintf(stderr, "prism serve-bench: --separate %ld must divide --rows %ld\n", sep, T);
        return CLI_USAGE;
    }
    prism_context_options o = prism_context_options_default();
    o.device = device;
    o.profile = 0;
    pb_env env = {0};
    char err[512];
    if (prism_context_create(&o, &env.ctx, err, sizeof err) != PRISM_OK) {
        fprintf(stderr, "prism serve-bench: %s\n", err);
        return CLI_FAIL;
    }
    env.reps = (int)reps;
    env.runs = (int)runs;
    env.quick = quick;
    const prism_caps *caps = prism_context_caps(env.ctx);
    printf("device: %s | driver: %s | rows %ld, layer %ldx%ld, reps %ld, runs %ld (host wall clock per batch)\n",
           caps->name, caps->driver_info, T, m, n, reps, runs);
    printf("%-28s %-18s %11s %8s  %s\n", "name", "shape", "ms/batch", "ratio", "ratio to");
    pb_row rows[8 * 12];
    int total = 0, rc = CLI_OK;
    for (int k = 0; k < nm; k++) {
        fprintf(stderr, "[%s] building %d profiles and timing...\n", prism_method_name(meths[k]), counts[nc - 1]);
        int got = pb_xpeft_serve_rows(&env, meths[k], m, n, T, counts, nc, (int)sep, rows + total, 12);
        if (got < 0) {
            fprintf(stderr, "prism serve-bench: %s: %s\n", prism_method_name(meths[k]), prism_error_message(env.ctx));
            rc = CLI_FAIL;
            continue;
        }
        const pb_row *r = rows + total;
        for (int i = 0; i < got; i++)
            printf("%-28s %-18s %11.4g %8.3f  %s\n", r[i].name, r[i].shape, r[i].ms, r[i].ratio, r[i].ratio_to);
        for (int i = 0; i < nc; i++)
            if (counts[i] == 64)
                printf("  goal P=64 <= 1.5x P=%d: %.2fx %s\n", counts[0], r[i].ratio, r[i].ratio <= 1.5 ? "met" : "NOT met");
        printf("  goal %ld separate >= 10x slower than one batch: %.2fx %s\n", sep, r[got - 1].ratio,
               r[got - 1].ratio >= 10 ? "met" : "NOT met");
        total += got;
    }
    if (json) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        bool first = true;
        if (f) {
            fprintf(f, "{\n  \"command\": \"serve-bench\",\n  \"rows\": [\n");
            json_rows(f, rows, total, caps->name, &first);
            fprintf(f, "\n  ]\n}\n");
            fclose(f);
        }
        if (!buf || prism_write_atomic(json, buf, len, err, sizeof err) != PRISM_OK) {
            fprintf(stderr, "prism serve-bench: cannot write '%s': %s\n", json, buf ? err : "out of memory");
            rc = CLI_FAIL;
        }
        free(buf);
    }
    prism_context_destroy(env.ctx);
    return rc;
}
#endif
