/* Progress bar, timers and the Ctrl-C flag. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "train.h"

double pt_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double pt_median(double *v, int n) {
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void pt_progress_begin(pt_progress *p, FILE *f, int enabled, const char *label, int64_t total) {
    memset(p, 0, sizeof *p);
    p->f = f;
    p->enabled = enabled && f;
    p->tty = f && isatty(fileno(f));
    p->total = total > 0 ? total : 1;
    p->t0 = p->last = pt_now();
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
}

void pt_progress_update(pt_progress *p, int64_t done, double loss, double samples_per_s) {
    if (!p->enabled) return;
    double now = pt_now();
    if (p->tty) {
        if (now - p->last < 0.1 && done < p->total) return;
    } else {
        /* log files: a line every 10% */
        int64_t step = p->total / 10 > 0 ? p->total / 10 : 1;
        if (done % step != 0 && done != p->total) return;
    }
    p->last = now;
    const int width = 24;
    int fill = (int)((double)width * (double)done / (double)p->total);
    if (fill > width) fill = width;
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    double elapsed = now - p->t0;
    double eta = done > 0 ? elapsed * (double)(p->total - done) / (double)done : 0;
    fprintf(p->f, "%s%-14s [%s] %5lld/%-5lld loss %.4f  %7.0f samples/s  %4.0fs left%s",
            p->tty ? "\r" : "", p->label, bar, (long long)done, (long long)p->total, loss,
            samples_per_s, eta, p->tty ? "\033[K" : "\n");
    fflush(p->f);
}

void pt_progress_end(pt_progress *p) {
    if (p->enabled && p->tty) {
        fputc('\n', p->f);
        fflush(p->f);
    }
    p->enabled = 0;
}

static volatile sig_atomic_t interrupted;
static struct sigaction old_action;
static int installed;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1; /* SA_RESETHAND: a second Ctrl-C terminates */
}

void pt_sigint_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    interrupted = 0;
    if (sigaction(SIGINT, &sa, &old_action) == 0) installed = 1;
}

void pt_sigint_restore(void) {
    if (installed) sigaction(SIGINT, &old_action, NULL);
    installed = 0;
    interrupted = 0; /* a later loop in the same process runs normally */
}

int pt_interrupted(void) { return interrupted != 0; }
