/* The `prism` CLI, run as a process: exit statuses, rows it prints, and that
 * `prism check` notices a broken kernel (PRISM_FAULT). The binary is found
 * next to the tests directory of the build (tests/cli_fixture.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli_fixture.h"
#include "common.h"

TestSuite(tools, .init = cli_find, .timeout = 300);

/* Every needle appears in text. */
static void expect_all(const char *text, const char *const *needles, size_t n) {
    for (size_t i = 0; i < n; i++) cr_expect(has(text, needles[i]), "no '%s' in:\n%s", needles[i], text);
}

Test(tools, devices_lists_a_device) {
    run_out r = cli_run(NULL, "devices");
    cr_assert_eq(r.rc, 0, "prism devices exited %d:\n%s", r.rc, r.text);
    /* a device, the default marked, its limits, the reference line */
    const char *want[] = {"device 0:", "[default]", "maxStorageBufferRange", "reference"};
    expect_all(r.text, want, sizeof want / sizeof want[0]);
    free(r.text);
    r = cli_run(NULL, "devices --json");
    cr_assert_eq(r.rc, 0, "prism devices --json exited %d:\n%s", r.rc, r.text);
    cr_expect(strstr(r.text, "\"devices\": [") != NULL && strstr(r.text, "\"max_storage_buffer_range\"") != NULL,
              "unexpected JSON:\n%s", r.text);
    free(r.text);
}

Test(tools, check_copy_passes) {
    run_out r = cli_run(NULL, "check --op copy");
    cr_assert_eq(r.rc, 0, "prism check --op copy exited %d:\n%s", r.rc, r.text);
    cr_expect(strstr(r.text, "PASS") != NULL, "no PASS rows:\n%s", r.text);
    cr_expect(strstr(r.text, "FAIL") == NULL, "a FAIL row:\n%s", r.text);
    cr_expect(strstr(r.text, " passed, 0 failed") != NULL, "no summary line:\n%s", r.text);
    free(r.text);
}

Test(tools, check_notices_a_broken_kernel) {
    run_out r = cli_run("PRISM_FAULT=copy", "check --op copy");
    cr_assert_eq(r.rc, 1, "PRISM_FAULT=copy prism check --op copy exited %d (want 1):\n%s", r.rc, r.text);
    cr_expect(strstr(r.text, "FAIL") != NULL, "no FAIL row:\n%s", r.text);
    cr_expect(strstr(r.text, "\n0 passed,") != NULL, "some copy case passed despite the fault:\n%s", r.text);
    free(r.text);
}

Test(tools, check_lists_cases_and_rejects_bad_arguments) {
    run_out r = cli_run(NULL, "check --list");
    cr_assert_eq(r.rc, 0, "prism check --list exited %d:\n%s", r.rc, r.text);
    cr_expect(strstr(r.text, "copy") != NULL, "copy not listed:\n%s", r.text);
    free(r.text);
    r = cli_run(NULL, "check --op nosuchop");
    cr_expect_eq(r.rc, 2, "unknown op: exit %d:\n%s", r.rc, r.text);
    cr_expect(strstr(r.text, "valid names") != NULL && strstr(r.text, "copy") != NULL, "no list of names:\n%s",
              r.text);
    free(r.text);
    const char *bad[] = {"check --seed x", "check --op", "check --fd-only --device-only", "check stray",
                         "check --frob", "devices --frob", "devices stray", "bench --reps 0", "bench --runs x",
                         "bench --family nosuchfamily", "bench --family gemm/nosuchbench", "bench --family gemm/",
                         "bench --csv ''",
                         "bench --csv /nonexistent-prism-dir/x.csv"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = cli_run(NULL, "%s", bad[i]);
        cr_expect_eq(r.rc, 2, "prism %s: exit %d (want 2):\n%s", bad[i], r.rc, r.text);
        cr_expect(strlen(r.text) > 0, "prism %s: no message", bad[i]);
        free(r.text);
    }
}

Test(tools, bench_core_quick_prints_bandwidth) {
#ifndef PRISM_HAVE_BENCH
    cr_skip_test("built without bench (PRISM_BUILD_BENCH=OFF)");
#endif
    char csv[] = "/tmp/prism-test-bench-XXXXXX";
    int fd = mkstemp(csv);
    cr_assert_geq(fd, 0);
    close(fd);
    char json[sizeof csv + 8];
    snprintf(json, sizeof json, "%s.json", csv);
    run_out r = cli_run(NULL, "bench --quick --family core --reps 3 --csv '%s' --json '%s'", csv, json);
    cr_assert_eq(r.rc, 0, "prism bench exited %d:\n%s", r.rc, r.text);
    /* the GB/s column, the copy bandwidth row, the ratio to it, the device */
    const char *want[] = {"GB/s", "copy_buffer", "copy bw", "device:"};
    expect_all(r.text, want, sizeof want / sizeof want[0]);
    free(r.text);
    struct stat sc, sj;
    cr_expect(stat(csv, &sc) == 0 && sc.st_size > 0, "CSV not written");
    cr_expect(stat(json, &sj) == 0 && sj.st_size > 0, "JSON not written");
    FILE *f = fopen(csv, "r");
    char line[256] = "";
    if (f) {
        cr_expect(fgets(line, sizeof line, f) != NULL);
        fclose(f);
    }
    cr_expect(strncmp(line, "family,name,shape,ms", 20) == 0, "CSV header: %s", line);
    unlink(csv);
    unlink(json);
}

Test(tools, unknown_command_and_help) {
    run_out r = cli_run(NULL, "frobnicate");
    cr_expect_eq(r.rc, 2, "prism frobnicate: exit %d:\n%s", r.rc, r.text);
    cr_expect(strstr(r.text, "frobnicate") != NULL, "message does not name the command:\n%s", r.text);
    free(r.text);
    r = cli_run(NULL, "");
    cr_expect_eq(r.rc, 2, "prism without a command: exit %d", r.rc);
    free(r.text);
    const char *ok[] = {"--help", "--version", "devices --help", "check --help", "help check", "bench --help"};
#ifdef PRISM_HAVE_BENCH
    const size_t nok = sizeof ok / sizeof ok[0];
#else
    const size_t nok = sizeof ok / sizeof ok[0] - 1; /* `bench` is absent without bench */
#endif
    for (size_t i = 0; i < nok; i++) {
        r = cli_run(NULL, "%s", ok[i]);
        cr_expect_eq(r.rc, 0, "prism %s: exit %d:\n%s", ok[i], r.rc, r.text);
        cr_expect(strstr(r.text, i == 1 ? "prism " : "usage:") != NULL, "prism %s printed:\n%s", ok[i], r.text);
        free(r.text);
    }
}
