/* float64 reference of the optimizer ops. `state` is the PRISM_OPT_* vector. */
#ifndef PRISM_REF_OPTIM_H
#define PRISM_REF_OPTIM_H
#include <stdint.h>

/* Slot 6 of the state holds the sum of squares of the last clip_global_norm
 * (its running accumulator on the device); slot 7 is unused. */
enum { PRISM_OPT_SUMSQ = 6 };

void prism_ref_optim_tick(double *state, double beta1, double beta2);
void prism_ref_adamw(const double *state, double beta1, double beta2, double eps, double wd, double *p,
                     const double *g, double *m, double *v, int64_t n);
/* buf may be NULL (no momentum) */
void prism_ref_sgd(const double *state, double momentum, double wd, double *p, const double *g, double *buf,
                   int64_t n);
/* Adds the sum of squares of g to state[PRISM_OPT_SUMSQ] (first: starts from 0);
 * last: writes state[NORM] and state[CLIP] from the total. */
void prism_ref_clip_accumulate(double *state, const double *g, int64_t n, int first, int last, double max_norm);

#endif
