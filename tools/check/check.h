/* Device-vs-reference checks shared by `prism check` and the Criterion tests.
 * Each op family has one file here defining its cases:
 *     const pc_case pc_cases_<family>[]; const int pc_ncases_<family>;
 * A case runs the op on the device and on the float64 reference with the same
 * random inputs and reports NMSE / max error, or a finite-difference check of a
 * backward on the reference (then `dev` is unused). */
#ifndef PRISM_CHECK_H
#define PRISM_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include "prism/prism.h"

typedef struct pc_env {
    prism_context *dev;  /* device under test */
    prism_context *ref;  /* float64 reference backend */
    uint64_t seed;
} pc_env;

typedef enum { PC_PASS = 0, PC_FAIL = 1, PC_SKIP = 2 } pc_outcome;

typedef struct pc_result {
    pc_outcome outcome;
    double nmse;      /* worst NMSE over compared outputs (or FD relative error) */
    double max_err;   /* worst absolute error */
    double tol;       /* the bound the worst NMSE was held to */
    char detail[256]; /* why it failed or was skipped */
} pc_result;

typedef void (*pc_fn)(const pc_env *env, const void *arg, pc_result *r);

typedef struct pc_case {
    const char *op;     /* op name (prism check --op NAME) */
    const char *shape;  /* human description of the shape */
    const char *kind;   /* "device" (vs reference) or "fd" (finite differences) */
    pc_fn fn;
    const void *arg;
} pc_case;

/* All registered cases, in family order. */
int pc_all_cases(const pc_case **cases);

/* ---- helpers for case writers */

/* Deterministic uniform values in [lo, hi] (splitmix64), never exactly 0. */
void pc_random(uint64_t seed, float *x, int64_t n, float lo, float hi);
/* Creates a tensor holding `data` (may be NULL: left unwritten). NULL on failure
 * (the failure is recorded in r). */
prism_tensor *pc_tensor(pc_result *r, prism_context *ctx, int ndim, const int64_t *shape, const float *data);
/* A tensor followed by a guard region of PC_GUARD sentinel elements: *base owns
 * the storage, the returned view is the op's output. pc_guard_ok checks the guard. */
#define PC_GUARD 64
prism_tensor *pc_guarded(pc_result *r, prism_context *ctx, int ndim, const int64_t *shape, const float *data,
                         prism_tensor **base);
bool pc_guard_ok(pc_result *r, prism_tensor *base, const char *what);
/* A tensor of `shape` holding data or, when off > 0, a view `off` floats into
 * a larger tensor whose leading floats are 3.0 (*base then owns the storage;
 * else NULL): misaligned views reach an op's scalar paths. */
prism_tensor *pc_view_at(pc_result *r, prism_context *ctx, int ndim, const int64_t *shape, const float *data,
                         int64_t off, prism_tensor **base);
/* Environment around a device run: pc_env_push sets every "NAME=value" of
 * spec (space separated; NULL: none) and keeps the old values, pc_env_pop
 * restores them. */
#define PC_MAX_ENV 4
typedef struct pc_saved_env {
    int n;
    struct { char name[64]; char *old; bool had; } v[PC_MAX_ENV];
} pc_saved_env;
void pc_env_push(const char *spec, pc_saved_env *saved);
void pc_env_pop(pc_saved_env *saved);
/* Downloads a tensor as doubles (malloc'd; NULL on failure, recorded in r). */
double *pc_download(pc_result *r, prism_tensor *t);
/* Compares dev against ref: NaN/Inf in dev fails; nmse > tol fails. Keeps the worst. */
void pc_compare(pc_result *r, const char *what, const double *dev, const double *ref, int64_t n, double tol);
/* Downloads dev and ref (same numel) and pc_compare's them. */
void pc_compare_tensors(pc_result *r, const char *what, prism_tensor *dev, prism_tensor *ref, double tol);
/* Destroys t[0 .. n) (NULL entries are fine). */
void pc_destroy_tensors(prism_tensor *const *t, size_t n);
#define PC_DESTROY(...)                                                                      \
    pc_destroy_tensors((prism_tensor *const[]){__VA_ARGS__},                                 \
                       sizeof((prism_tensor *const[]){__VA_ARGS__}) / sizeof(prism_tensor *))
/* Runs a stream to completion; records a failure in r. */
bool pc_run(pc_result *r, prism_stream *s);
/* Marks r failed with a message (printf-style). */
void pc_fail(pc_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Relative error of an analytic gradient against central differences:
 * ||a - n|| / max(||n||, 1e-12); fails r when above tol. */
void pc_compare_fd(pc_result *r, const char *what, const double *analytic, const double *numeric, int64_t n, double tol);

/* Runs a two-input op on ctx and downloads its output: a and b are
 * [xdim](xshape) tensors holding xa / xb, y is [ydim](yshape) holding y0
 * (NULL data: left unwritten) and, when `guard`, followed by a guard region
 * that is checked. `apply` records the op (arg: the case). Returns the output
 * as doubles (malloc'd), or NULL with the failure recorded in r. */
double *pc_run_op2(pc_result *r, prism_context *ctx,
                   prism_status (*apply)(prism_stream *s, const void *arg, prism_tensor *a, prism_tensor *b,
                                         prism_tensor *y),
                   const void *arg, int xdim, const int64_t *xshape, const float *xa, const float *xb, int ydim,
                   const int64_t *yshape, const float *y0, bool guard);

/* Runs one case with a fresh result. */
void pc_run_case(const pc_env *env, const pc_case *c, pc_result *r);

#endif
