/* `prism bench`: times every registered bench row (bench/) on a profiling
 * context. The device's vkCmdCopyBuffer bandwidth is measured first (row
 * core/copy_bw) so every other row reports its ratio to it. Table on stdout,
 * progress on stderr, CSV/JSON written atomically (temp file, fsync, rename). */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "prism/prism.h"

#ifndef PRISM_HAVE_BENCH
int cmd_bench(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "prism bench: this build has no benchmarks (configure with -DPRISM_BUILD_BENCH=ON)\n");
    return CLI_USAGE;
}
#else
#include "bench.h"

static void help(FILE *f) {
    fprintf(f,
            "usage: prism bench [--quick] [--family NAME] [--reps N] [--runs N]\n"
            "                   [--csv FILE] [--json FILE] [--device D]\n\n"
            "Times ops on a device with per-op timestamps: each op is recorded --reps times\n"
            "into one stream, the stream is run --runs times (the first is a warm-up) and the\n"
            "median per op is reported with GFLOP/s, GB/s and the ratio to the device's own\n"
            "vkCmdCopyBuffer bandwidth, measured first in the same run.\n\n"
            "options:\n"
            "  --quick        smaller shapes and fewer repetitions\n"
            "  --family NAME  only this bench family, or FAMILY/NAME for one bench of it\n"
            "                 (repeatable; --list names them); the copy bandwidth row\n"
            "                 always runs\n"
            "  --list         list the bench families and rows\n"
            "  --reps N       op instances per stream (default 20, quick 5)\n"
            "  --runs N       stream runs (default 5, quick 3)\n"
            "  --csv FILE     also write the rows as CSV\n"
            "  --json FILE    also write the rows as JSON\n"
            "  --device D     device: index, name substring, lavapipe|cpu (default: $PRISM_DEVICE)\n"
            "  -h, --help     this text\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct result { const char *family; pb_row row; } result;
typedef struct table { result *r; int n, cap; } table;

static bool table_reserve(table *t, int more) {
    if (t->n + more <= t->cap) return true;
    int cap = t->cap ? t->cap : 64;
    while (cap < t->n + more) cap *= 2;
    result *p = realloc(t->r, sizeof *p * (size_t)cap);
    if (!p) return false;
    t->r = p;
    t->cap = cap;
    return true;
}

/* Runs one bench and appends its rows; false on failure (message printed). */
static bool run_bench(pb_env *env, const pb_bench *b, table *t) {
    enum { ROWS = 64 };
    pb_row rows[ROWS];
    memset(rows, 0, sizeof rows);
    prism_clear_error(env->ctx);
    int n = b->fn(env, rows, ROWS);
    if (n < 0 || n > ROWS) {
        fprintf(stderr, "prism bench: %s/%s failed: %s\n", b->family, b->name,
                prism_error_message(env->ctx)[0] ? prism_error_message(env->ctx) : "(no message)");
        return false;
    }
    if (!table_reserve(t, n)) {
        fprintf(stderr, "prism bench: out of host memory\n");
        return false;
    }
    for (int i = 0; i < n; i++) t->r[t->n++] = (result){b->family, rows[i]};
    return true;
}

static void fmt_num(char *buf, size_t len, double v, const char *fmt) {
    if (v > 0) snprintf(buf, len, fmt, v);
    else snprintf(buf, len, "-");
}

static void print_table(const table *t) {
    printf("%-8s %-32s %-20s %11s %9s %9s %7s  %-20s %s\n", "family", "name", "shape", "median ms", "GFLOP/s",
           "GB/s", "ratio", "ratio to", "note");
    for (int i = 0; i < t->n; i++) {
        const pb_row *r = &t->r[i].row;
        char ms[24], gf[24], gb[24], ra[24];
        fmt_num(ms, sizeof ms, r->ms, "%.4g");
        fmt_num(gf, sizeof gf, r->gflops, "%.2f");
        fmt_num(gb, sizeof gb, r->gbs, "%.2f");
        fmt_num(ra, sizeof ra, r->ratio, "%.3f");
        printf("%-8s %-32s %-20s %11s %9s %9s %7s  %-20s %s\n", t->r[i].family, r->name, r->shape, ms, gf, gb, ra,
               r->ratio > 0 ? r->ratio_to : "-", r->note);
    }
}

static void csv_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* The columns of a result row, shared by the CSV and JSON writers: a text
 * value, or a number where the text is NULL. */
enum { NCOLS = 9 };
static const char *const COLS[NCOLS] = {"family", "name", "shape", "ms", "gflops", "gbs", "ratio", "ratio_to", "note"};

static void row_values(const result *res, const char *text[NCOLS], double num[NCOLS]) {
    const pb_row *r = &res->row;
    const char *t[NCOLS] = {res->family, r->name, r->shape, NULL, NULL, NULL, NULL, r->ratio_to, r->note};
    double v[NCOLS] = {0, 0, 0, r->ms, r->gflops, r->gbs, r->ratio, 0, 0};
    memcpy(text, t, sizeof t);
    memcpy(num, v, sizeof v);
}

static void write_csv(FILE *f, const table *t, const prism_caps *c, const pb_env *env) {
    for (int k = 0; k < NCOLS; k++) fprintf(f, "%s%s", k ? "," : "", COLS[k]);
    fprintf(f, ",device,driver,quick\n");
    for (int i = 0; i < t->n; i++) {
        const char *text[NCOLS];
        double num[NCOLS];
        row_values(&t->r[i], text, num);
        for (int k = 0; k < NCOLS; k++) {
            if (k) fputc(',', f);
            if (text[k]) csv_str(f, text[k]);
            else fprintf(f, "%.6g", num[k]);
        }
        const char *extra[2] = {c->name, c->driver_info};
        for (int k = 0; k < 2; k++) {
            fputc(',', f);
            csv_str(f, extra[k]);
        }
        fprintf(f, ",%d\n", env->quick ? 1 : 0);
    }
}

static void write_json(FILE *f, const table *t, const prism_caps *c, const pb_env *env) {
    const char *keys[4] = {"device", "driver", "driver_info", "disabled"};
    const char *vals[4] = {c->name, c->driver_name, c->driver_info, c->disabled};
    for (int k = 0; k < 4; k++) {
        fprintf(f, "%s\"%s\": ", k ? ",\n  " : "{\n  ", keys[k]);
        cli_json_str(f, vals[k]);
    }
    fprintf(f, ",\n  \"copy_gbs\": ");
    cli_json_num(f, env->copy_gbs);
    fprintf(f, ",\n  \"reps\": %d, \"runs\": %d, \"quick\": %s,\n  \"rows\": [\n", env->reps, env->runs,
            env->quick ? "true" : "false");
    for (int i = 0; i < t->n; i++) {
        const char *text[NCOLS];
        double num[NCOLS];
        row_values(&t->r[i], text, num);
        for (int k = 0; k < NCOLS; k++) {
            fprintf(f, "%s\"%s\": ", k ? ", " : "    {", COLS[k]);
            if (text[k]) cli_json_str(f, text[k]);
            else cli_json_num(f, num[k]);
        }
        fprintf(f, "}%s\n", i + 1 < t->n ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
}

typedef void (*writer_fn)(FILE *, const table *, const prism_caps *, const pb_env *);

/* Temp file in the target's directory, fsync, rename: readers never see a
 * half-written file. */
static bool write_atomic(const char *path, writer_fn w, const table *t, const prism_caps *c, const pb_env *env) {
    size_t len = strlen(path) + 16;
    char *tmp = malloc(len);
    if (!tmp) return false;
    snprintf(tmp, len, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    bool ok = f != NULL;
    if (ok) {
        w(f, t, c, env);
        ok = fflush(f) == 0 && !ferror(f) && fsync(fileno(f)) == 0;
    }
    int err = errno;
    if (f) ok = fclose(f) == 0 && ok;
    else if (fd >= 0) close(fd);
    if (ok && rename(tmp, path) != 0) {
        err = errno;
        ok = false;
    }
    if (!ok) {
        fprintf(stderr, "prism bench: cannot write '%s': %s\n", path, strerror(err ? err : EIO));
        if (fd >= 0) unlink(tmp);
    }
    free(tmp);
    return ok;
}

/* Fails early (before minutes of benchmarking) when the output's directory
 * is not writable. */
static bool dir_writable(const char *path) {
    char *copy = strdup(path);
    if (!copy) return false;
    bool ok = access(dirname(copy), W_OK) == 0;
    if (!ok) fprintf(stderr, "prism bench: cannot write '%s': %s\n", path, strerror(errno));
    free(copy);
    return ok;
}

enum { MAX_FAMILIES = 32 };

/* A selector is a family ("gemm") or one bench of it ("gemm/gemm_lowrank",
 * as --list prints them): a family's slow rows need not run with it. */
static bool selects(const char *sel, const pb_bench *b) {
    size_t fl = strlen(b->family);
    if (!strcmp(sel, b->family)) return true;
    return !strncmp(sel, b->family, fl) && sel[fl] == '/' && !strcmp(sel + fl + 1, b->name);
}

static bool family_selected(const char *const *fams, int nfams, const pb_bench *b) {
    if (!nfams) return true;
    for (int i = 0; i < nfams; i++)
        if (selects(fams[i], b)) return true;
    return false;
}

int cmd_bench(int argc, char **argv) {
    static const struct option opts[] = {
        {"quick", no_argument, NULL, 'q'},       {"family", required_argument, NULL, 'f'},
        {"reps", required_argument, NULL, 'r'},  {"runs", required_argument, NULL, 'n'},
        {"csv", required_argument, NULL, 'c'},   {"json", required_argument, NULL, 'j'},
        {"device", required_argument, NULL, 'd'}, {"list", no_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},        {0}};
    const char *fams[MAX_FAMILIES];
    int nfams = 0;
    long reps = 0, runs = 0;
    const char *csv = NULL, *json = NULL, *device = NULL;
    bool quick = false, list = false;
    int c;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'q': quick = true; break;
        case 'f':
            if (nfams == MAX_FAMILIES) {
                fprintf(stderr, "prism bench: too many --family options\n");
                return CLI_USAGE;
            }
            fams[nfams++] = optarg;
            break;
        case 'r':
            if (!cli_parse_long("bench", "--reps", optarg, 1, 1000, &reps)) return CLI_USAGE;
            break;
        case 'n':
            if (!cli_parse_long("bench", "--runs", optarg, 1, 1000, &runs)) return CLI_USAGE;
            break;
        case 'c': csv = optarg; break;
        case 'j': json = optarg; break;
        case 'd': device = optarg; break;
        case 'l': list = true; break;
        case 'h': help(stdout); return CLI_OK;
        default: return cli_bad_option("bench", argc, argv, c);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "prism bench: unexpected argument '%s'\nRun 'prism bench --help' for usage.\n", argv[optind]);
        return CLI_USAGE;
    }
    if ((csv && !*csv) || (json && !*json)) {
        fprintf(stderr, "prism bench: --csv and --json need a file name\n");
        return CLI_USAGE;
    }
    if ((csv && !dir_writable(csv)) || (json && !dir_writable(json))) return CLI_USAGE;
    const pb_bench *benches = NULL;
    int nb = pb_all_benches(&benches);
    for (int i = 0; i < nfams; i++) {
        bool known = false;
        for (int k = 0; k < nb && !known; k++) known = selects(fams[i], &benches[k]);
        if (!known) {
            fprintf(stderr, "prism bench: unknown family '%s' (FAMILY or FAMILY/NAME, see --list); valid names:", fams[i]);
            for (int k = 0; k < nb; k++)
                if (k == 0 || strcmp(benches[k].family, benches[k - 1].family)) fprintf(stderr, " %s", benches[k].family);
            fprintf(stderr, "\n");
            return CLI_USAGE;
        }
    }
    if (list) {
        for (int k = 0; k < nb; k++)
            if (family_selected(fams, nfams, &benches[k])) printf("%-10s %s\n", benches[k].family, benches[k].name);
        return CLI_OK;
    }
    const pb_bench *copy_bw = NULL;
    for (int k = 0; k < nb && !copy_bw; k++)
        if (!strcmp(benches[k].family, "core") && !strcmp(benches[k].name, "copy_bw")) copy_bw = &benches[k];
    if (!copy_bw) {
        fprintf(stderr, "prism bench: the core/copy_bw row is not linked in\n");
        return CLI_FAIL;
    }

    char err[1024];
    prism_context_options o = prism_context_options_default();
    o.device = device;
    o.profile = 1;
    pb_env env = {.quick = quick, .reps = (int)(reps ? reps : quick ? 5 : 20), .runs = (int)(runs ? runs : quick ? 3 : 5)};
    prism_status st = prism_context_create(&o, &env.ctx, err, sizeof err);
    if (st != PRISM_OK) {
        fprintf(stderr, "prism bench: cannot open the device: %s\n", err);
        return device && (st == PRISM_ERR_NO_DEVICE || st == PRISM_ERR_INVALID_ARGUMENT) ? CLI_USAGE : CLI_FAIL;
    }
    if (prism_context_backend(env.ctx) == PRISM_BACKEND_REFERENCE) {
        fprintf(stderr, "prism bench: the reference backend is not benchmarked; choose a Vulkan device\n");
        prism_context_destroy(env.ctx);
        return CLI_USAGE;
    }
    const prism_caps *caps = prism_context_caps(env.ctx);
    if (!caps->timestamps)
        fprintf(stderr, "prism bench: %s has no compute timestamps; times are host wall clock\n", caps->name);
    const char *validate = getenv("PRISM_VALIDATE");
    bool validating = validate && *validate && strcmp(validate, "0");
    if (validating) fprintf(stderr, "prism bench: PRISM_VALIDATE is on; host-side times include the layer\n");

    int total = 1;
    for (int k = 0; k < nb; k++) total += &benches[k] != copy_bw && family_selected(fams, nfams, &benches[k]);
    table t = {0};
    int failed = 0, done = 0;
    double start = now_s();
    for (int k = -1; k < nb; k++) {
        const pb_bench *b = k < 0 ? copy_bw : &benches[k];
        if (k >= 0 && (b == copy_bw || !family_selected(fams, nfams, b))) continue;
        fprintf(stderr, "[%d/%d %6.1fs] %s/%s\n", ++done, total, now_s() - start, b->family, b->name);
        if (!run_bench(&env, b, &t)) {
            failed++;
            if (k < 0) break; /* nothing is comparable without the copy bandwidth */
        }
    }
    fprintf(stderr, "[done %6.1fs]\n", now_s() - start);

    printf("device: %s | driver: %s %s%s%s | copy bw %.2f GB/s | reps %d, runs %d%s\n", caps->name,
           caps->driver_name, caps->driver_info, caps->disabled[0] ? " | disabled: " : "", caps->disabled,
           env.copy_gbs, env.reps, env.runs, quick ? " | quick" : "");
    print_table(&t);
    uint64_t vmsg = prism_validation_message_count(env.ctx);
    if (validating && vmsg) {
        fprintf(stderr, "prism bench: validation layer: %llu messages; last: %s\n", (unsigned long long)vmsg,
                prism_validation_last_message(env.ctx));
        failed++;
    }
    if (csv && !write_atomic(csv, write_csv, &t, caps, &env)) failed++;
    if (json && !write_atomic(json, write_json, &t, caps, &env)) failed++;
    if (failed) fprintf(stderr, "prism bench: %d failure%s\n", failed, failed == 1 ? "" : "s");
    free(t.r);
    prism_context_destroy(env.ctx);
    return failed ? CLI_FAIL : CLI_OK;
}
#endif
