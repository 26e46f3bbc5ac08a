/* Running the `prism` CLI as a process (tests/test_tools.c and
 * tests/test_apply*.c): the binary is dirname(/proc/self/exe)/../prism, next
 * to the tests directory of the build; each run goes through the shell with
 * stderr folded into stdout. Header-only (static). */
#ifndef PRISM_TEST_CLI_FIXTURE_H
#define PRISM_TEST_CLI_FIXTURE_H

#include <criterion/criterion.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char cli_bin[4096];

/* Finds the binary or skips the test (not built, or a path the shell
 * quoting below cannot carry). For a suite's .init. */
static inline void cli_find(void) {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) cr_skip_test("cannot read /proc/self/exe");
    self[n] = 0;
    snprintf(cli_bin, sizeof cli_bin, "%s/../prism", dirname(self));
    if (access(cli_bin, X_OK) != 0) cr_skip_test("the prism binary is not built (%s)", cli_bin);
    if (strchr(cli_bin, '\'')) cr_skip_test("build path contains a quote: %s", cli_bin);
}

/* Exit status (128 + signal when killed) and everything printed. */
typedef struct run_out { int rc; char *text; } run_out;

/* Runs `[env] 'prism' args 2>&1`; env is NULL or "NAME=value ...", args
 * printf-formatted. */
static inline run_out cli_vrun(const char *env, const char *fmt, va_list ap) {
    char args[3072], cmd[8192];
    vsnprintf(args, sizeof args, fmt, ap);
    snprintf(cmd, sizeof cmd, "%s '%s' %s 2>&1", env ? env : "", cli_bin, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "popen(%s) failed", cmd);
    size_t cap = 1 << 16, len = 0, got;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    while ((got = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (cap - len < 1024) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
    }
    buf[len] = 0;
    int status = pclose(p);
    run_out r = {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0), buf};
    return r;
}

static inline run_out cli_run(const char *env, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    run_out r = cli_vrun(env, fmt, ap);
    va_end(ap);
    return r;
}

static inline bool has(const char *text, const char *what) { return strstr(text, what) != NULL; }

#endif
