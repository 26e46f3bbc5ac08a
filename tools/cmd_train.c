/* `prism train`: fine-tunes an MLP on Fashion-MNIST with any method (the
 * main job), `--demo` runs every built method and writes the table and the
 * plot, `--compare-reference` runs the same steps on the float64 reference.
 * The machinery lives in tools/train/ (docs/train.md). */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "cli.h"
#include "prism/prism.h"

#ifndef PRISM_HAVE_TRAIN
int cmd_train(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "prism train: this build has no training tools (tools/train is missing)\n");
    return CLI_USAGE;
}
#else
#include "train_main.h"

/* Method config flags: applied to each method's defaults; a method reads
 * only its own fields. */
enum { K_INT, K_FLOAT, K_U64, K_SIDE, K_NORM, K_MASK, K_PLACE, K_ACT };
static const struct cfg_flag {
    const char *name;
    int kind;
    size_t off;
    const char *help;
} cfg_flags[] = {
    {"r", K_INT, offsetof(prism_adapter_config, r), "rank: LoRA, HUT, X-PEFT bank (8)"},
    {"lora-alpha", K_FLOAT, offsetof(prism_adapter_config, lora_alpha), "LoRA alpha, scale alpha/r (8)"},
    {"hut-s", K_FLOAT, offsetof(prism_adapter_config, hut_s), "HUT scale s (1)"},
    {"blocks", K_INT, offsetof(prism_adapter_config, blocks), "ETHER/ETHER+ diagonal blocks (1)"},
    {"side", K_SIDE, offsetof(prism_adapter_config, side), "ETHER/ETHER+ side in|out|both (in / both)"},
    {"n-coef", K_INT, offsetof(prism_adapter_config, n_coef), "sDCTFT coefficients per matrix (700)"},
    {"sdctft-alpha", K_FLOAT, offsetof(prism_adapter_config, sdctft_alpha), "sDCTFT scale (300)"},
    {"delta", K_FLOAT, offsetof(prism_adapter_config, delta), "sDCTFT energy fraction per band (0.7)"},
    {"dct-norm", K_NORM, offsetof(prism_adapter_config, dct_norm), "sDCTFT none|ortho (none)"},
    {"n-frequency", K_INT, offsetof(prism_adapter_config, n_frequency), "FourierFT coefficients (1000)"},
    {"fourier-scaling", K_FLOAT, offsetof(prism_adapter_config, fourier_scaling), "FourierFT scaling (150)"},
    {"random-loc-seed", K_U64, offsetof(prism_adapter_config, random_loc_seed), "FourierFT entry seed (777)"},
    {"init-zero", K_INT, offsetof(prism_adapter_config, init_zero), "sDCTFT/FourierFT: 1 = start at 0 (0)"},
    {"n-bank", K_INT, offsetof(prism_adapter_config, n_bank), "X-PEFT bank size N (64)"},
    {"k", K_INT, offsetof(prism_adapter_config, k), "X-PEFT hard mask top-k (0 = ceil(N/4); 2 for a --bank of <= 8)"},
    {"mask", K_MASK, offsetof(prism_adapter_config, mask), "X-PEFT soft|hard (hard)"},
    {"placement", K_PLACE, offsetof(prism_adapter_config, placement), "X-PEFT parallel|serial (parallel)"},
    {"act", K_ACT, offsetof(prism_adapter_config, act), "X-PEFT serial phi identity|relu|gelu (identity)"},
    {"bank-seed", K_U64, offsetof(prism_adapter_config, bank_seed), "X-PEFT random bank seed (1)"},
    {"train-bias", K_INT, offsetof(prism_adapter_config, train_bias), "FULL: bias trains too (1)"},
};
#define NCFG (int)(sizeof cfg_flags / sizeof cfg_flags[0])

static const char *const enum_names[][4] = {
    [K_SIDE] = {"in", "out", "both", NULL},   [K_NORM] = {"none", "ortho", NULL},
    [K_MASK] = {"soft", "hard", NULL},        [K_PLACE] = {"parallel", "serial", NULL},
    [K_ACT] = {"identity", "relu", "gelu", NULL},
};


enum {
    O_METHOD = 1000, O_PROFILE, O_DEMO, O_WIDTHS, O_STEPS, O_BATCH, O_LR, O_WD, O_CLIP, O_EVAL, O_TRAIN_N,
    O_TEST_N, O_SEED, O_DEVICE, O_DATA, O_CACHE, O_BASE, O_PRE_STEPS, O_PRE_LR, O_OUT, O_RESUME, O_CKPT,
    O_COMPARE, O_TOL, O_NO_PROGRESS, O_SHIFTS, O_METHODS, O_SCHED, O_SUBSPACE, O_VIA, O_TRANSFER, O_BANK, O_HELP,
    O_CFG = 2000
};

static void help(FILE *f) {
    fprintf(f,
            "usage: prism train [--method M] [--profile P] [options]\n"
            "       prism train --demo [options]\n"
            "       prism train --compare-reference --steps N [options]\n\n"
            "Fine-tunes an MLP (default 784-256-256-10, ReLU, softmax cross-entropy) on\n"
            "Fashion-MNIST (Debian package dataset-fashion-mnist). The base is pretrained with\n"
            "FULL on the original images once and cached; fine-tuning freezes it and puts the\n"
            "method on every layer, on images shifted by a profile. The training step is\n"
            "recorded once into a stream and replayed per batch.\n\n"
            "what to run:\n"
            "  --method M          none|full|lora|ether|etherplus|hut|sdctft|fourierft|xpeft|subspace\n"
            "                      (default lora)\n"
            "  --profile P         original|invert|rot90|hflip|vflip|shift|permute (default invert)\n"
            "  --demo              every built method on the profile: table + SVG plot (sets\n"
            "                      --steps 300 --test-subset 2000 --eval-every 25, and ETHER\n"
            "                      --blocks 16, unless given)\n"
            "  --methods LIST      with --demo: comma list of methods (default all)\n"
            "  --shifts            only print the base's test accuracy on every profile\n"
            "  --compare-reference run --steps N (default 3) on the device and on the float64\n"
            "                      reference and report the largest parameter difference\n"
            "  --tol X             --compare-reference fails above this relative difference (1e-3)\n\n"
            "training:\n"
            "  --steps N           fine-tuning steps (default 1000)\n"
            "  --batch N           batch size (128)\n"
            "  --lr X              peak learning rate (default per method, see docs/train.md)\n"
            "  --lr-schedule S     cosine (decay to 0 over --steps, default) or constant\n"
            "  --weight-decay X    AdamW decoupled weight decay (0)\n"
            "  --clip X            global gradient-norm clip, 0 = off (1)\n"
            "  --eval-every N      test accuracy every N steps (100)\n"
            "  --train-subset N    use the first N training images (all 60000)\n"
            "  --test-subset N     evaluate on the first N test images (all 10000)\n"
            "  --seed N            data order and initialisation; same seed = same bits (0)\n"
            "  --widths LIST       MLP widths, first 784, last 10 (784,256,256,10)\n\n"
            "base model:\n"
            "  --base FILE         base weights (safetensors); pretrained and written when missing\n"
            "  --cache-dir DIR     where the base is cached (default $PRISM_CACHE_DIR,\n"
            "                      $XDG_CACHE_HOME/prism or ~/.cache/prism)\n"
            "  --pretrain-steps N  pretraining steps (1500; 0 = random base, nothing cached)\n"
            "  --pretrain-lr X     pretraining learning rate (1e-3)\n\n"
            "files and control:\n"
            "  --out DIR           outputs (default prism-train): <DIR>/<method>-<profile>/ with\n"
            "                      adapter/, adapter-init/, checkpoint.safetensors, curves.csv,\n"
            "                      curves.svg; the demo adds <DIR>/demo-<profile>.svg and .md\n"
            "  --checkpoint-every N  checkpoint interval in steps (200; also on Ctrl-C and at the end)\n"
            "  --resume            continue from the checkpoint in the output directory\n"
            "  --data DIR          Fashion-MNIST directory (/usr/share/datasets/fashion-mnist)\n"
            "  --device D          device: index, name substring, lavapipe|cpu, reference\n"
            "  --no-progress       no progress bar\n"
            "  -h, --help          this text\n\n"
            "subspace (METHODS.md section 5):\n"
            "  --subspace FILE     train z of a fitted subspace (prism subspace fit over the\n"
            "                      adapter/ and adapter-init/ directories prism train writes);\n"
            "                      without it, --method subspace is a random subspace per layer\n"
            "  --via METHOD        the member method whose decoder is used (default: the first)\n"
            "  --transfer-to LIST  after training, decode the same z with each listed method's\n"
            "                      decoder (comma list, methods of the file) and report its test\n"
            "                      accuracy; also written to <out>/subspace-<profile>/transfer.csv\n\n"
            "X-PEFT bank (METHODS.md section 4):\n"
            "  --bank DIR[,DIR...] X-PEFT bank members: LoRA adapter directories (what\n"
            "                      prism train --method lora writes: <out>/lora-<profile>/adapter);\n"
            "                      repeatable; N = the number of dirs, r = their largest rank,\n"
            "                      hard-mask k = 2 for up to 8 members unless --k. Without it,\n"
            "                      --method xpeft uses a random bank (--n-bank, --bank-seed), and\n"
            "                      --demo adds a row whose bank is LoRA on every other profile\n"
            "                      (150 steps each, cached next to the base)\n\n"
            "method options (each method reads its own; defaults from METHODS.md):\n");
    for (int i = 0; i < NCFG; i++) {
        char opt[40];
        snprintf(opt, sizeof opt, "%s V", cfg_flags[i].name);
        fprintf(f, "  --%-18s %s\n", opt, cfg_flags[i].help);
    }
    fprintf(f, "\nCtrl-C stops after the current step and saves a checkpoint (--resume continues).\n");
}

static int set_cfg(prism_adapter_config *c, int i, const char *v) {
    char *p = (char *)c + cfg_flags[i].off, *end = NULL;
    errno = 0;
    switch (cfg_flags[i].kind) {
    case K_INT: {
        long x = strtol(v, &end, 10);
        if (*end || errno || x < 0 || x > 100000000) return -1;
        *(int *)p = (int)x;
        return 0;
    }
    case K_FLOAT: {
        double x = strtod(v, &end);
        if (*end || errno || !isfinite(x)) return -1;
        *(float *)p = (float)x;
        return 0;
    }
    case K_U64: {
        unsigned long long x = strtoull(v, &end, 10);
        if (*end || errno || *v == '-') return -1;
        *(uint64_t *)p = x;
        return 0;
    }
    default:
        for (int k = 0; enum_names[cfg_flags[i].kind][k]; k++)
            if (!strcasecmp(v, enum_names[cfg_flags[i].kind][k])) {
                *(int *)p = k; /* the enums are numbered in this order */
                return 0;
            }
        return -1;
    }
}

typedef struct args {
    pt_cli_args c;
    int steps_set, eval_set, test_set;
    const char *cfg_val[NCFG];
} args;

static bool parse_f(const char *what, const char *s, double lo, double hi, double *out) {
    char *end = NULL;
    errno = 0;
    double v = s ? strtod(s, &end) : NAN;
    if (!s || !*s || *end || errno || !(v >= lo && v <= hi)) {
        fprintf(stderr, "prism train: %s must be a number in [%g, %g], got '%s'\n", what, lo, hi, s ? s : "");
        return false;
    }
    *out = v;
    return true;
}

/* --transfer-to methods (transfer = 1) or --bank dirs: comma lists,
 * repeatable. The bank's strings point into argv (strtok on a copy would
 * need owning them; argv outlives the run). */
static int add_list(char *v, args *a, int transfer) {
    for (char *save = NULL, *tok = strtok_r(v, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (transfer) {
            prism_method m;
            if (prism_method_parse(tok, &m)) {
                fprintf(stderr, "prism train: --transfer-to: unknown method '%s'\n", tok);
                return -1;
            }
            if (a->c.ntransfer >= PRISM_METHOD_COUNT) {
                fprintf(stderr, "prism train: --transfer-to: too many methods\n");
                return -1;
            }
            a->c.transfer[a->c.ntransfer++] = m;
        } else {
            if (a->c.nbank >= PT_MAX_BANK) {
                fprintf(stderr, "prism train: --bank: at most %d adapters\n", PT_MAX_BANK);
                return -1;
            }
            a->c.bank[a->c.nbank++] = tok;
        }
    }
    return 0;
}

static int parse_args(int argc, char **argv, args *a) {
    static struct option base_opts[] = {
        {"method", 1, 0, O_METHOD}, {"profile", 1, 0, O_PROFILE}, {"demo", 0, 0, O_DEMO},
        {"widths", 1, 0, O_WIDTHS}, {"steps", 1, 0, O_STEPS}, {"batch", 1, 0, O_BATCH}, {"lr", 1, 0, O_LR},
        {"weight-decay", 1, 0, O_WD}, {"clip", 1, 0, O_CLIP}, {"eval-every", 1, 0, O_EVAL},
        {"train-subset", 1, 0, O_TRAIN_N}, {"test-subset", 1, 0, O_TEST_N}, {"seed", 1, 0, O_SEED},
        {"device", 1, 0, O_DEVICE}, {"data", 1, 0, O_DATA}, {"cache-dir", 1, 0, O_CACHE}, {"base", 1, 0, O_BASE},
        {"pretrain-steps", 1, 0, O_PRE_STEPS}, {"pretrain-lr", 1, 0, O_PRE_LR}, {"out", 1, 0, O_OUT},
        {"resume", 0, 0, O_RESUME}, {"checkpoint-every", 1, 0, O_CKPT}, {"compare-reference", 0, 0, O_COMPARE},
        {"tol", 1, 0, O_TOL}, {"no-progress", 0, 0, O_NO_PROGRESS}, {"shifts", 0, 0, O_SHIFTS},
        {"methods", 1, 0, O_METHODS}, {"lr-schedule", 1, 0, O_SCHED},
        {"subspace", 1, 0, O_SUBSPACE}, {"via", 1, 0, O_VIA}, {"transfer-to", 1, 0, O_TRANSFER},
        {"bank", 1, 0, O_BANK}, {"help", 0, 0, O_HELP},
    };
    enum { NBASE = sizeof base_opts / sizeof base_opts[0] };
    struct option opts[NBASE + NCFG + 1];
    memcpy(opts, base_opts, sizeof base_opts);
    for (int i = 0; i < NCFG; i++) opts[NBASE + i] = (struct option){cfg_flags[i].name, 1, 0, O_CFG + i};
    memset(&opts[NBASE + NCFG], 0, sizeof opts[0]);
    cli_getopt_reset();
    long l;
    double d;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
        case O_HELP: help(stdout); return -1;
        case O_METHOD:
            if (prism_method_parse(optarg, &a->c.method)) {
                fprintf(stderr, "prism train: unknown method '%s'\n", optarg);
                return CLI_USAGE;
            }
            break;
        case O_PROFILE:
            if (pt_profile_parse(optarg, &a->c.profile)) {
                fprintf(stderr, "prism train: unknown profile '%s' (original|invert|rot90|hflip|vflip|shift|permute)\n", optarg);
                return CLI_USAGE;
            }
            break;
        case O_DEMO: a->c.demo = 1; break;
        case O_WIDTHS: {
            char err[256];
            if (pt_widths_parse(optarg, &a->c.job.shape, err, sizeof err)) {
                fprintf(stderr, "prism train: %s\n", err);
                return CLI_USAGE;
            }
            break;
        }
        case O_STEPS: if (!cli_parse_long("train", "--steps", optarg, 0, 100000000, &l)) return CLI_USAGE; a->c.steps = l; a->steps_set = 1; break;
        case O_BATCH: if (!cli_parse_long("train", "--batch", optarg, 1, 65536, &l)) return CLI_USAGE; a->c.job.batch = l; break;
        case O_LR: if (!parse_f("--lr", optarg, 1e-12, 100, &d)) return CLI_USAGE; a->c.lr = (float)d; break;
        case O_WD: if (!parse_f("--weight-decay", optarg, 0, 10, &d)) return CLI_USAGE; a->c.wd = (float)d; break;
        case O_CLIP: if (!parse_f("--clip", optarg, 0, 1e9, &d)) return CLI_USAGE; a->c.clip = (float)d; break;
        case O_EVAL: if (!cli_parse_long("train", "--eval-every", optarg, 0, 100000000, &l)) return CLI_USAGE; a->c.eval_every = l; a->eval_set = 1; break;
        case O_TRAIN_N: if (!cli_parse_long("train", "--train-subset", optarg, 1, 60000, &l)) return CLI_USAGE; a->c.job.train_subset = l; break;
        case O_TEST_N: if (!cli_parse_long("train", "--test-subset", optarg, 1, 10000, &l)) return CLI_USAGE; a->c.job.test_subset = l; a->test_set = 1; break;
        case O_SEED: if (!cli_parse_long("train", "--seed", optarg, 0, 2147483647, &l)) return CLI_USAGE; a->c.job.seed = (uint64_t)l; break;
        case O_DEVICE: a->c.device = optarg; break;
        case O_DATA: a->c.job.data_dir = optarg; break;
        case O_CACHE: a->c.job.cache_dir = optarg; break;
        case O_BASE: a->c.job.base_path = optarg; break;
        case O_PRE_STEPS: if (!cli_parse_long("train", "--pretrain-steps", optarg, 0, 100000000, &l)) return CLI_USAGE; a->c.job.pretrain_steps = l; break;
        case O_PRE_LR: if (!parse_f("--pretrain-lr", optarg, 1e-12, 100, &d)) return CLI_USAGE; a->c.job.pretrain_lr = (float)d; break;
        case O_OUT: a->c.out = optarg; break;
        case O_RESUME: a->c.resume = 1; break;
        case O_CKPT: if (!cli_parse_long("train", "--checkpoint-every", optarg, 0, 100000000, &l)) return CLI_USAGE; a->c.ckpt_every = l; break;
        case O_COMPARE: a->c.compare = 1; break;
        case O_TOL: if (!parse_f("--tol", optarg, 0, 1e9, &a->c.tol)) return CLI_USAGE; break;
        case O_NO_PROGRESS: a->c.job.progress = 0; break;
        case O_SHIFTS: a->c.shifts = 1; break;
        case O_METHODS: a->c.methods = optarg; break;
        case O_SUBSPACE: a->c.subspace = optarg; break;
        case O_VIA:
            if (prism_method_parse(optarg, &a->c.via)) {
                fprintf(stderr, "prism train: unknown method '%s' for --via\n", optarg);
                return CLI_USAGE;
            }
            a->c.via_set = 1;
            break;
        case O_TRANSFER:
            if (add_list(optarg, a, 1)) return CLI_USAGE;
            break;
        case O_BANK:
            if (add_list(optarg, a, 0)) return CLI_USAGE;
            break;
        case O_SCHED:
            if (strcmp(optarg, "cosine") && strcmp(optarg, "constant")) {
                fprintf(stderr, "prism train: --lr-schedule must be cosine or constant, got '%s'\n", optarg);
                return CLI_USAGE;
            }
            a->c.constant_lr = !strcmp(optarg, "constant");
            break;
        default:
            if (c >= O_CFG && c < O_CFG + NCFG) {
                prism_adapter_config probe = prism_adapter_config_default(PRISM_METHOD_LORA);
                if (set_cfg(&probe, c - O_CFG, optarg)) {
                    fprintf(stderr, "prism train: bad value '%s' for --%s (%s)\n", optarg, cfg_flags[c - O_CFG].name,
                            cfg_flags[c - O_CFG].help);
                    return CLI_USAGE;
                }
                a->cfg_val[c - O_CFG] = optarg;
                break;
            }
            return cli_bad_option("train", argc, argv, c);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "prism train: unexpected argument '%s'\nRun 'prism train --help' for usage.\n", argv[optind]);
        return CLI_USAGE;
    }
    return 0;
}


int cmd_train(int argc, char **argv) {
    args a;
    memset(&a, 0, sizeof a);
    pt_job_defaults(&a.c.job);
    a.c.method = PRISM_METHOD_LORA;
    a.c.profile = PT_PROFILE_INVERT;
    a.c.steps = 1000;
    a.c.eval_every = 100;
    a.c.ckpt_every = 200;
    a.c.clip = 1.0f;
    a.c.tol = 1e-3;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    if (a.c.demo && !a.steps_set) a.c.steps = 300;
    if (a.c.demo && !a.eval_set) a.c.eval_every = 25;
    if (a.c.demo && !a.test_set) a.c.job.test_subset = 2000;
    if (a.c.compare && !a.steps_set) a.c.steps = 3;
    if (!a.c.out) a.c.out = "prism-train";
    for (int m = 0; m < PRISM_METHOD_COUNT; m++) {
        a.c.cfg[m] = prism_adapter_config_default((prism_method)m);
        a.c.cfg[m].seed = a.c.job.seed;
        for (int i = 0; i < NCFG; i++)
            if (a.cfg_val[i]) set_cfg(&a.c.cfg[m], i, a.cfg_val[i]);
    }
    /* The demo's one departure from the METHODS defaults: ETHER with one
     * reflection per layer (blocks 1) cannot undo the shift in 300 steps;
     * 16 blocks (same parameter count) can. --blocks overrides it. */
    int blocks_flag = -1;
    for (int i = 0; i < NCFG; i++)
        if (!strcmp(cfg_flags[i].name, "blocks")) blocks_flag = i;
    if (a.c.demo && blocks_flag >= 0 && !a.cfg_val[blocks_flag]) a.c.cfg[PRISM_METHOD_ETHER].blocks = 16;
    if (a.c.ntransfer && (a.c.demo || a.c.method != PRISM_METHOD_SUBSPACE || !a.c.subspace)) {
        fprintf(stderr, "prism train: --transfer-to needs --method subspace --subspace FILE (and no --demo)\n");
        return CLI_USAGE;
    }
    if (a.c.nbank && !a.c.demo && a.c.method != PRISM_METHOD_XPEFT) {
        fprintf(stderr, "prism train: --bank is for --method xpeft (or --demo)\n");
        return CLI_USAGE;
    }
    if (a.c.nbank && a.c.cfg[PRISM_METHOD_XPEFT].placement != PRISM_PLACE_PARALLEL) {
        fprintf(stderr, "prism train: --bank: a LoRA bank needs --placement parallel (LoRA's A_i read x, not W0 x)\n");
        return CLI_USAGE;
    }
    return pt_train_main(&a.c);
}
#endif
