#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/hooks.h>
#include "common.h"

/* Criterion ignores assertions (and crashes) in a suite's .fini, where
 * t_destroy usually runs: a validation message found there would only be
 * printed. So t_destroy also appends it to a file named after the runner
 * process (set before the tests fork), and the runner fails the binary at
 * the end when that file exists. */
static char fail_file[256];

static void fail_file_name(long pid) {
    const char *tmp = getenv("TMPDIR");
    snprintf(fail_file, sizeof fail_file, "%s/prism-test-fini-%ld", tmp && *tmp ? tmp : "/tmp", pid);
}

ReportHook(PRE_ALL)(struct criterion_test_set *set) {
    (void)set;
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("PRISM_TEST_RUNNER_PID", pid, 1);
    fail_file_name((long)getpid());
    remove(fail_file);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats) {
    (void)stats;
    FILE *f = fopen(fail_file, "r");
    if (!f) return;
    char line[1024];
    while (fgets(line, sizeof line, f)) fprintf(stderr, "FAILED in teardown: %s", line);
    fclose(f);
    remove(fail_file);
    fprintf(stderr, "test teardown found validation messages: failing the binary\n");
    exit(1);
}

static void record_fini_failure(const char *msg) {
    const char *pid = getenv("PRISM_TEST_RUNNER_PID");
    if (!pid) return;
    fail_file_name(strtol(pid, NULL, 10));
    FILE *f = fopen(fail_file, "a");
    if (!f) return;
    fprintf(f, "%s\n", msg);
    fclose(f);
}

prism_context *t_device(void) {
    prism_context *ctx = NULL;
    char err[512];
    prism_status st = prism_context_create(NULL, &ctx, err, sizeof err);
    cr_assert_eq(st, PRISM_OK, "device context: %s", err);
    return ctx;
}

prism_context *t_reference(void) {
    prism_context_options o = prism_context_options_default();
    o.device = "reference";
    prism_context *ctx = NULL;
    char err[512];
    prism_status st = prism_context_create(&o, &ctx, err, sizeof err);
    cr_assert_eq(st, PRISM_OK, "reference context: %s", err);
    return ctx;
}

/* Counts validation messages (the library forwards each to the log sink at
 * level 3) so the ones the layer reports while the device is torn down -
 * objects left undestroyed - are counted too: the context cannot be asked
 * after prism_context_destroy. */
typedef struct teardown_log { uint64_t n; char last[512]; } teardown_log;
static void on_teardown_log(void *user, int level, const char *msg) {
    teardown_log *t = user;
    if (level != 3) return;
    t->n++;
    snprintf(t->last, sizeof t->last, "%s", msg);
}

void t_destroy(prism_context *ctx) {
    if (!ctx) return;
    teardown_log t = {prism_validation_message_count(ctx), ""};
    snprintf(t.last, sizeof t.last, "%s", prism_validation_last_message(ctx));
    prism_set_log(ctx, on_teardown_log, &t);
    prism_context_destroy(ctx);
    if (t.n) {
        char msg[640];
        snprintf(msg, sizeof msg, "validation layer reported %llu message(s); last: %s", (unsigned long long)t.n, t.last);
        record_fini_failure(msg);
    }
    cr_assert_eq(t.n, 0, "validation layer reported %llu message(s); last: %s", (unsigned long long)t.n, t.last);
}

void t_env(pc_env *env) {
    env->dev = t_device();
    env->ref = t_reference();
    env->seed = 1234;
}

void t_env_destroy(pc_env *env) {
    t_destroy(env->ref);
    t_destroy(env->dev);
}

int t_run_cases(const pc_env *env, const char *prefix) {
    const pc_case *cases;
    int n = pc_all_cases(&cases), ran = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(prefix);
        bool exact = len > 0 && prefix[len - 1] == '$'; /* "mul$": op "mul" only */
        if (exact ? (strlen(cases[i].op) != len - 1 || strncmp(cases[i].op, prefix, len - 1) != 0)
                  : strncmp(cases[i].op, prefix, len) != 0)
            continue;
        pc_result r;
        pc_run_case(env, &cases[i], &r);
        ran++;
        if (r.outcome == PC_SKIP) continue;
        cr_expect_eq(r.outcome, PC_PASS, "%s %s (%s): %s", cases[i].op, cases[i].shape, cases[i].kind, r.detail);
    }
    cr_assert_gt(ran, 0, "no check cases registered for '%s'", prefix);
    return ran;
}
