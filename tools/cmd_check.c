/* `prism check`: runs every registered check case (tools/check) on the chosen
 * device against the float64 reference and prints one row per case. Exit 1 if
 * any case failed (or the validation layer reported anything), 2 on bad
 * arguments, 0 otherwise. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "check.h"
#include "cli.h"
#include "prism/prism.h"

static void help(FILE *f) {
    fprintf(f,
            "usage: prism check [--op NAME] [--device D] [--seed N] [--list]\n"
            "                   [--fd-only | --device-only] [--json]\n\n"
            "Runs every registered op check on a device against the float64 reference\n"
            "backend (NMSE and max error vs a stated tolerance) and the finite-difference\n"
            "gradient checks; prints one row per case and a summary.\n\n"
            "options:\n"
            "  --op NAME       only the cases of op NAME (repeatable)\n"
            "  --device D      device: index, name substring, lavapipe|cpu, reference\n"
            "                  (default: $PRISM_DEVICE, else the best device)\n"
            "  --seed N        seed of the random inputs (default 1)\n"
            "  --list          list the cases without running them\n"
            "  --fd-only       only finite-difference gradient checks\n"
            "  --device-only   only device-vs-reference comparisons\n"
            "  --json          JSON on stdout instead of the table\n"
            "  -h, --help      this text\n\n"
            "exit status: 0 all passed or skipped, 1 a case failed or the validation layer\n"
            "(PRISM_VALIDATE=1) reported messages, 2 bad arguments.\n");
}

static const char *outcome_str(pc_outcome o) {
    return o == PC_PASS ? "PASS" : o == PC_FAIL ? "FAIL" : "SKIP";
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static bool known_op(const pc_case *cases, int n, const char *op) {
    for (int i = 0; i < n; i++)
        if (!strcmp(cases[i].op, op)) return true;
    return false;
}

static void list_op_names(FILE *f, const pc_case *cases, int n) {
    for (int i = 0; i < n; i++) {
        bool seen = false;
        for (int j = 0; j < i && !seen; j++) seen = !strcmp(cases[j].op, cases[i].op);
        if (!seen) fprintf(f, " %s", cases[i].op);
    }
    fprintf(f, "\n");
}

enum { MAX_OPS = 64 };

typedef struct filter {
    const char *ops[MAX_OPS];
    int nops;
    bool fd_only, device_only;
} filter;

static bool selected(const filter *fl, const pc_case *c) {
    bool is_fd = !strcmp(c->kind, "fd");
    if (fl->fd_only && !is_fd) return false;
    if (fl->device_only && is_fd) return false;
    if (!fl->nops) return true;
    for (int i = 0; i < fl->nops; i++)
        if (!strcmp(fl->ops[i], c->op)) return true;
    return false;
}

int cmd_check(int argc, char **argv) {
    static const struct option opts[] = {
        {"op", required_argument, NULL, 'o'},  {"device", required_argument, NULL, 'd'},
        {"seed", required_argument, NULL, 's'}, {"list", no_argument, NULL, 'l'},
        {"fd-only", no_argument, NULL, 'F'},   {"device-only", no_argument, NULL, 'D'},
        {"json", no_argument, NULL, 'j'},      {"help", no_argument, NULL, 'h'},
        {0}};
    filter fl = {.nops = 0};
    const char *device = NULL;
    long seed = 1;
    bool list = false, json = false;
    int c;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            if (fl.nops == MAX_OPS) {
                fprintf(stderr, "prism check: too many --op options (at most %d)\n", MAX_OPS);
                return CLI_USAGE;
            }
            fl.ops[fl.nops++] = optarg;
            break;
        case 'd': device = optarg; break;
        case 's':
            if (!cli_parse_long("check", "--seed", optarg, 0, LONG_MAX, &seed)) return CLI_USAGE;
            break;
        case 'l': list = true; break;
        case 'F': fl.fd_only = true; break;
        case 'D': fl.device_only = true; break;
        case 'j': json = true; break;
        case 'h': help(stdout); return CLI_OK;
        default: return cli_bad_option("check", argc, argv, c);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "prism check: unexpected argument '%s'\nRun 'prism check --help' for usage.\n", argv[optind]);
        return CLI_USAGE;
    }
    if (fl.fd_only && fl.device_only) {
        fprintf(stderr, "prism check: --fd-only and --device-only exclude each other\n");
        return CLI_USAGE;
    }
    const pc_case *cases = NULL;
    int ncases = pc_all_cases(&cases);
    for (int i = 0; i < fl.nops; i++)
        if (!known_op(cases, ncases, fl.ops[i])) {
            fprintf(stderr, "prism check: unknown op '%s'; valid names:", fl.ops[i]);
            list_op_names(stderr, cases, ncases);
            return CLI_USAGE;
        }

    if (list) {
        if (json) printf("[\n");
        int k = 0;
        for (int i = 0; i < ncases; i++) {
            if (!selected(&fl, &cases[i])) continue;
            if (json) {
                printf("%s  {\"op\": ", k ? ",\n" : "");
                cli_json_str(stdout, cases[i].op);
                printf(", \"shape\": ");
                cli_json_str(stdout, cases[i].shape);
                printf(", \"kind\": ");
                cli_json_str(stdout, cases[i].kind);
                printf("}");
            } else {
                printf("%-22s %-28s %s\n", cases[i].op, cases[i].shape, cases[i].kind);
            }
            k++;
        }
        if (json) printf("\n]\n");
        else printf("%d cases\n", k);
        return CLI_OK;
    }

    char err[1024];
    pc_env env = {.seed = (uint64_t)seed};
    prism_context_options o = prism_context_options_default();
    o.device = device;
    o.profile = 0;
    prism_status st = prism_context_create(&o, &env.dev, err, sizeof err);
    if (st != PRISM_OK) {
        fprintf(stderr, "prism check: cannot open the device: %s\n", err);
        return device && (st == PRISM_ERR_NO_DEVICE || st == PRISM_ERR_INVALID_ARGUMENT) ? CLI_USAGE : CLI_FAIL;
    }
    prism_context_options r = prism_context_options_default();
    r.device = "reference";
    if ((st = prism_context_create(&r, &env.ref, err, sizeof err)) != PRISM_OK) {
        fprintf(stderr, "prism check: cannot open the reference backend: %s\n", err);
        prism_context_destroy(env.dev);
        return CLI_FAIL;
    }
    const prism_caps *caps = prism_context_caps(env.dev);
    const char *validate = getenv("PRISM_VALIDATE"), *fault = getenv("PRISM_FAULT");
    bool validating = validate && *validate && strcmp(validate, "0");
    int nsel = 0;
    for (int i = 0; i < ncases; i++) nsel += selected(&fl, &cases[i]);
    fprintf(stderr, "prism check: %d cases on %s (%s %s)%s, seed %ld\n", nsel, caps->name, caps->driver_name,
            caps->driver_info, caps->disabled[0] ? ", PRISM_DISABLE" : "", seed);
    if (fault && *fault) fprintf(stderr, "prism check: PRISM_FAULT=%s plants wrong results after that op\n", fault);

    if (json) {
        printf("{\n  \"device\": ");
        cli_json_str(stdout, caps->name);
        printf(",\n  \"driver\": ");
        cli_json_str(stdout, caps->driver_info);
        printf(",\n  \"disabled\": ");
        cli_json_str(stdout, caps->disabled);
        printf(",\n  \"seed\": %ld,\n  \"cases\": [\n", seed);
    } else {
        printf("device: %s | driver: %s %s%s%s | seed %ld\n", caps->name, caps->driver_name, caps->driver_info,
               caps->disabled[0] ? " | disabled: " : "", caps->disabled, seed);
        printf("%-22s %-28s %-6s %10s %10s %9s %8s  %s\n", "op", "shape", "kind", "NMSE/rel", "max err", "tol",
               "ms", "result");
    }
    bool tty = isatty(fileno(stderr));
    int passed = 0, failed = 0, skipped = 0, k = 0;
    for (int i = 0; i < ncases; i++) {
        const pc_case *cs = &cases[i];
        if (!selected(&fl, cs)) continue;
        k++;
        fprintf(stderr, tty ? "\r\033[K[%d/%d] %s %s %s" : "[%d/%d] %s %s %s\n", k, nsel, cs->op, cs->shape,
                cs->kind);
        fflush(stderr);
        pc_result res;
        double t0 = now_ms();
        pc_run_case(&env, cs, &res);
        double ms = now_ms() - t0;
        passed += res.outcome == PC_PASS;
        failed += res.outcome == PC_FAIL;
        skipped += res.outcome == PC_SKIP;
        if (json) {
            printf("%s    {\"op\": ", k > 1 ? ",\n" : "");
            cli_json_str(stdout, cs->op);
            printf(", \"shape\": ");
            cli_json_str(stdout, cs->shape);
            printf(", \"kind\": ");
            cli_json_str(stdout, cs->kind);
            printf(", \"result\": \"%s\", \"nmse\": ", outcome_str(res.outcome));
            cli_json_num(stdout, res.nmse);
            printf(", \"max_err\": ");
            cli_json_num(stdout, res.max_err);
            printf(", \"tol\": ");
            cli_json_num(stdout, res.tol);
            printf(", \"ms\": %.1f, \"detail\": ", ms);
            cli_json_str(stdout, res.detail);
            printf("}");
        } else {
            printf("%-22s %-28s %-6s %10.3g %10.3g %9.2g %8.1f  %s%s%s\n", cs->op, cs->shape, cs->kind, res.nmse,
                   res.max_err, res.tol, ms, outcome_str(res.outcome), res.detail[0] ? ": " : "", res.detail);
        }
        fflush(stdout);
    }
    if (tty) fprintf(stderr, "\r\033[K");

    uint64_t vmsg = prism_validation_message_count(env.dev);
    if (json) {
        printf("\n  ],\n  \"passed\": %d, \"failed\": %d, \"skipped\": %d,\n  \"validation\": %s, "
               "\"validation_messages\": %llu,\n  \"validation_last\": ",
               passed, failed, skipped, validating ? "true" : "false", (unsigned long long)vmsg);
        cli_json_str(stdout, prism_validation_last_message(env.dev));
        printf("\n}\n");
    }
    FILE *sum = json ? stderr : stdout;
    if (validating)
        fprintf(sum, "validation layer: %llu message%s%s%s\n", (unsigned long long)vmsg, vmsg == 1 ? "" : "s",
                vmsg ? "; last: " : "", vmsg ? prism_validation_last_message(env.dev) : "");
    fprintf(sum, "%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    prism_context_destroy(env.ref);
    prism_context_destroy(env.dev);
    return failed || vmsg ? CLI_FAIL : CLI_OK;
}
