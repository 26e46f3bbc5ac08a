/* `prism train` on the command line: help and exit statuses, the
 * device-vs-reference mode, and the wiring of issues 6 and 7 on a small
 * random-base MLP (784-16-10, a few hundred images):
 *   --transfer-to  LoRA + ETHER+ runs -> `prism subspace fit` -> z trained
 *                  through LoRA, decoded with ETHER+'s decoder;
 *   --bank         X-PEFT whose bank is those LoRA runs; bad directories. */
#define _GNU_SOURCE
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common.h"

static char tmpdir[256];

static void setup(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/prism-test-train-cli-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
}

TestSuite(train_cli, .init = setup, .fini = teardown, .timeout = 300);

static char out[1 << 16];

/* Runs `prism <args>` (printf-style) in tmpdir; stdout + stderr into `out`;
 * returns the exit status. Skips the test when the CLI is not built. */
static int run_cli(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run_cli(const char *fmt, ...) {
    char self[2048], bin[2100], args[4096], cmd[8192];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    cr_assert_gt(n, 0);
    self[n] = 0;
    snprintf(bin, sizeof bin, "%s/../prism", dirname(self));
    if (access(bin, X_OK) != 0) cr_skip_test("the prism binary is not built (%s)", bin);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s 2>&1", tmpdir, bin, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t len = fread(out, 1, sizeof out - 1, p);
    out[len] = 0;
    while (fgetc(p) != EOF) {
    }
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

#define SMALL                                                                                                         \
    "--widths 784,16,10 --pretrain-steps 0 --train-subset 512 --test-subset 128 --batch 32 --eval-every 0 "     \
    "--no-progress"

Test(train_cli, help_errors_and_compare_reference) {
    cr_expect_eq(run_cli("train --help"), 0, "%s", out);
    cr_expect(strstr(out, "--compare-reference") && strstr(out, "--resume") && strstr(out, "--seed") &&
                  strstr(out, "--transfer-to") && strstr(out, "--bank"),
              "%s", out);
    const char *bad[] = {"--bogus", "--method nosuch", "--profile rot45", "--steps -1", "--r x",
                         "--widths 784,0,10",
                         /* --transfer-to needs --method subspace --subspace FILE */
                         "--transfer-to etherplus", "--method subspace --transfer-to etherplus",
                         "--method subspace --subspace s.safetensors --transfer-to nosuch",
                         /* --bank is for X-PEFT, parallel placement */
                         "--method lora --bank d", "--method xpeft --bank d --placement serial"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(run_cli("train %s", bad[i]), 2, "train %s: %s", bad[i], out);
    cr_expect_eq(run_cli("train --shifts --data /nonexistent-prism-data"), 1, "%s", out);
    cr_expect(strstr(out, "/nonexistent-prism-data/train-images-idx3-ubyte.gz") && strstr(out, "dataset-fashion-mnist"),
              "%s", out);
    int rc = run_cli("train --compare-reference --steps 2 --widths 784,16,10 --pretrain-steps 0 --batch 16 "
                     "--method full --train-subset 256 --test-subset 64 --no-progress");
    cr_expect_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "largest parameter difference") && strstr(out, "PASS"), "%s", out);
}

/* Mean of the first and of the last `w` losses of a curves.csv. */
static void loss_ends(const char *path, int w, double *first, double *last) {
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char line[256];
    double v[4096];
    int n = 0;
    while (fgets(line, sizeof line, f) && n < 4096) {
        char *c = strchr(line, ',');
        if (c && c[1] != ',' && c[1] != '\n' && line[0] != 's') v[n++] = strtod(c + 1, NULL);
    }
    fclose(f);
    cr_assert_geq(n, 2 * w, "%s: %d losses", path, n);
    *first = *last = 0;
    for (int i = 0; i < w; i++) *first += v[i] / w, *last += v[n - w + i] / w;
}

static void subspace_transfer(void) {
    cr_assert_eq(run_cli("subspace fit r/original r/rot90 r/vflip --rank 2 -o sub.safetensors"), 0, "%s", out);
    int rc = run_cli("train --method subspace --subspace sub.safetensors --via lora --transfer-to etherplus "
                     "--profile original --steps 40 --lr 0.1 --out s " SMALL);
    cr_assert_eq(rc, 0, "%s", out);
    /* the via row re-evaluates the trained z: the run's own final accuracy */
    const char *after = strstr(out, "test accuracy "), *via = strstr(out, "via lora: accuracy ");
    cr_assert(after && via, "%s", out);
    after = strstr(after, "-> ");
    cr_assert_not_null(after, "%s", out);
    cr_expect_eq(strncmp(after + 3, via + strlen("via lora: accuracy "), 6), 0, "%s", out);
    double acc = -1, base = -1, acc0 = -1;
    const char *t = strstr(out, "transfer to etherplus: accuracy ");
    cr_assert_not_null(t, "%s", out);
    cr_assert_eq(sscanf(t, "transfer to etherplus: accuracy %lf (base %lf, etherplus at z = 0: %lf)", &acc, &base, &acc0),
                 3, "%s", out);
    /* measured 0.34 against a base of 0.08: ETHER+'s decoder carries the z */
    cr_expect_gt(acc, base + 0.1, "transfer %g, base %g\n%s", acc, base, out);
    cr_expect(acc0 >= 0 && acc0 <= 1, "%s", out);
    char path[512], line[256];
    snprintf(path, sizeof path, "%s/s/subspace-original/transfer.csv", tmpdir);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s not written", path);
    int lines = 0, found = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        found |= !strncmp(line, "original,lora,etherplus,", 24);
    }
    fclose(f);
    cr_expect_eq(lines, 3, "header, via row, one target");
    cr_expect(found, "no etherplus row in %s", path);
    /* a method the file does not have: exit 1 before training, naming both */
    rc = run_cli("train --method subspace --subspace sub.safetensors --transfer-to etherplus,hut --out s2 " SMALL);
    cr_expect_eq(rc, 1, "%s", out);
    cr_expect(strstr(out, "hut") && strstr(out, "sub.safetensors") && strstr(out, "lora, etherplus") &&
                  !strstr(out, "median step"),
              "%s", out);
}

static void xpeft_bank(void) {
    const char *bank = "--bank r/original/lora-original/adapter,r/rot90/lora-rot90/adapter "
                       "--bank r/vflip/lora-vflip/adapter";
    int rc = run_cli("train --method xpeft %s --profile original --steps 40 --out x " SMALL, bank);
    cr_assert_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "xpeft bank: 3 LoRA adapters, rank 8, hard mask, k 2"), "%s", out);
    cr_expect(strstr(out, "trainable 12 "), "2 layers x 2 masks x N = 3 logits: %s", out);
    double first, last;
    char path[512];
    snprintf(path, sizeof path, "%s/x/xpeft-original/curves.csv", tmpdir);
    loss_ends(path, 5, &first, &last);
    /* measured 1.90 -> 1.58: the masks find the member trained on `original` */
    cr_expect_lt(last, 0.9 * first, "loss %g -> %g", first, last);
    /* refused, exit 1, naming the directory: not LoRA, missing, another
     * model's shapes, a layer the adapters do not have */
    struct {
        const char *args, *dir, *why;
    } bad[] = {
        {"--bank r/original/lora-original/adapter,r/rot90/etherplus-rot90/adapter", "r/rot90/etherplus-rot90/adapter",
         "not LoRA"},
        {"--bank r/original/lora-original/adapter --bank r/nosuch", "r/nosuch", "adapter_config.json"},
        {"--bank r/original/lora-original/adapter --widths 784,17,10", "r/original/lora-original/adapter",
         "wrong shape"},
        {"--bank r/vflip/lora-vflip/adapter --widths 784,16,10,10", "r/vflip/lora-vflip/adapter", "is missing"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rc = run_cli("train --method xpeft --steps 2 --out y " SMALL " %s", bad[i].args);
        cr_expect_eq(rc, 1, "%s: %s", bad[i].args, out);
        cr_expect(strstr(out, bad[i].dir) && strstr(out, bad[i].why), "%s: %s", bad[i].args, out);
    }
}

/* One set of runs (LoRA + ETHER+ on three profiles, 20 steps) serves both:
 * the subspace fit and the X-PEFT bank. */
Test(train_cli, subspace_transfer_and_xpeft_bank) {
    const char *profiles[] = {"original", "rot90", "vflip"};
    for (int i = 0; i < 3; i++) {
        int rc = run_cli("train --demo --methods lora,etherplus --steps 20 --profile %s --out r/%s " SMALL, profiles[i],
                         profiles[i]);
        cr_assert_eq(rc, 0, "%s", out);
    }
    subspace_transfer();
    xpeft_bank();
}
