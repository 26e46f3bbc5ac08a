/* `prism`: the command-line tool. Dispatches to one subcommand per file
 * (tools/cmd_<name>.c). Adding a subcommand is one line in PRISM_COMMANDS.
 * The functions are declared weak so a command whose file does not exist yet
 * (work in progress on another branch) is simply not offered. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "prism/prism.h"

#define PRISM_COMMANDS(X)                                                                  \
    X(devices, "list Vulkan devices with their capabilities and limits")                 \
    X(check, "run every op on a device against the float64 reference")                  \
    X(bench, "time ops; GB/s, GFLOP/s and the ratio to the device's copy bandwidth")   \
    X(train, "fine-tune an MLP on Fashion-MNIST with any method (the main job)")         \
    X(merge, "merge an adapter into base weights (safetensors)")                         \
    X(inspect, "print an adapter file: method, shapes, parameter count, bytes, config")  \
    X(apply, "run an adapter on .npy inputs: Y, dX, parameter gradients, W_eff")         \
    X(subspace, "fit a unified delta-tuning subspace from trained adapters")             \
    X(serve_bench, "multi-profile batched forward timing (X-PEFT, LoRA, ETHER)")

#define CLI_DECLARE(name, summary) int cmd_##name(int argc, char **argv) __attribute__((weak));
PRISM_COMMANDS(CLI_DECLARE)

typedef struct command { const char *name; int (*fn)(int, char **); const char *summary; } command;
#define CLI_ENTRY(name, summary) {#name, cmd_##name, summary},
static const command all_commands[] = {PRISM_COMMANDS(CLI_ENTRY)};
static command commands[sizeof all_commands / sizeof all_commands[0]];
static int NCOMMANDS;

/* Command names use '-' where the C name has '_' (serve-bench). */
static void commands_init(void) {
    static char names[sizeof all_commands / sizeof all_commands[0]][32];
    for (size_t i = 0; i < sizeof all_commands / sizeof all_commands[0]; i++) {
        if (!all_commands[i].fn) continue;
        snprintf(names[i], sizeof names[i], "%s", all_commands[i].name);
        for (char *p = names[i]; *p; p++)
            if (*p == '_') *p = '-';
        commands[NCOMMANDS] = all_commands[i];
        commands[NCOMMANDS++].name = names[i];
    }
}

/* ---------------------------------------------------------------- helpers */

void cli_getopt_reset(void) {
    optind = 0; /* glibc: 0 re-initialises the scanner completely */
    opterr = 0;
}

int cli_bad_option(const char *cmd, int argc, char **argv, int c) {
    const char *arg = optind - 1 < argc && optind > 0 ? argv[optind - 1] : "?";
    if (c == ':') fprintf(stderr, "prism %s: option '%s' needs a value\n", cmd, arg);
    else if (optopt && optopt < 128) fprintf(stderr, "prism %s: unknown option '-%c'\n", cmd, optopt);
    else fprintf(stderr, "prism %s: unknown option '%s'\n", cmd, arg);
    fprintf(stderr, "Run 'prism %s --help' for usage.\n", cmd);
    return CLI_USAGE;
}

bool cli_parse_long(const char *cmd, const char *what, const char *s, long lo, long hi, long *out) {
    char *end = NULL;
    errno = 0;
    long v = s && *s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || errno == ERANGE || v < lo || v > hi) {
        fprintf(stderr, "prism %s: %s must be an integer in [%ld, %ld], got '%s'\n", cmd, what, lo, hi, s ? s : "");
        return false;
    }
    *out = v;
    return true;
}

void cli_json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\t': fputs("\\t", f); break;
        case '\r': fputs("\\r", f); break;
        default:
            if (*p < 0x20) fprintf(f, "\\u%04x", *p);
            else fputc(*p, f);
        }
    }
    fputc('"', f);
}

void cli_json_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.9g", v);
    else fputs("null", f);
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f) {
    fprintf(f,
            "usage: prism <command> [options]\n"
            "       prism --help | --version\n\n"
            "Portable Vulkan compute for parameter-efficient fine-tuning.\n\ncommands:\n");
    for (int i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\nRun 'prism <command> --help' for the options of a command.\n\n"
            "environment:\n"
            "  PRISM_DEVICE    device: index, name substring, lavapipe|cpu, or reference\n"
            "  PRISM_DISABLE   optional features to turn off: f16,subgroup,push_descriptor,bda,\n"
            "                  coopmat,f64,int64,unified_memory,all\n"
            "  PRISM_VALIDATE  1: enable VK_LAYER_KHRONOS_validation\n"
            "  PRISM_PROFILE   1: per-op timestamps\n"
            "  PRISM_CACHE_DIR pipeline cache directory (\"\" disables)\n");
}

int main(int argc, char **argv) {
    commands_init();
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        if (!strcmp(cmd, "help") && argc > 2) { /* prism help <command> */
            char help[] = "--help";
            char *sub[] = {argv[2], help, NULL};
            for (int i = 0; i < NCOMMANDS; i++)
                if (!strcmp(commands[i].name, argv[2])) return commands[i].fn(2, sub);
            fprintf(stderr, "prism: unknown command '%s'\n", argv[2]);
            return CLI_USAGE;
        }
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        printf("prism %d.%d.%d\n", PRISM_VERSION_MAJOR, PRISM_VERSION_MINOR, PRISM_VERSION_PATCH);
        return CLI_OK;
    }
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(commands[i].name, cmd)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "prism: unknown command '%s' (commands:", cmd);
    for (int i = 0; i < NCOMMANDS; i++) fprintf(stderr, " %s", commands[i].name);
    fprintf(stderr, ")\nRun 'prism --help' for usage.\n");
    return CLI_USAGE;
}
