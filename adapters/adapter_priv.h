/* Private to the generic adapter layer (adapters/adapter.c, adapter_files.c):
 * state that method files never touch. The public struct prism_adapter is the
 * first member, so a prism_adapter * from a method converts back. */
#ifndef PRISM_ADAPTER_PRIV_H
#define PRISM_ADAPTER_PRIV_H

#include "adapter_internal.h"

/* Cached views (bias as [1, m], ones as [T, 1], scratch as [T, cols]): a
 * recorded stream refers to tensors by id, so a view used by an op must live
 * as long as the stream may be replayed. The adapter keeps them until it is
 * destroyed or the storage under them is re-allocated. */
#define PRISM_ADAPTER_MAX_VIEWS 64

typedef struct prism_adapter_impl {
    prism_adapter ad;
    int64_t scratch_cap[PRISM_ADAPTER_MAX_SCRATCH]; /* rows of the base in ad.scratch[i].t */
    int64_t ones_cap;
    prism_tensor *views[PRISM_ADAPTER_MAX_VIEWS];
    int nviews;
    /* The last recorded forward (backward must use the same X and T). */
    uint64_t fwd_x_id;
    int64_t fwd_t;
    int have_fwd;
    /* Exact host values of the int64 params (ad.param_is_i64); their device
     * tensors hold the values rounded to fp32. Saved to files from here. */
    int64_t *i64[PRISM_ADAPTER_MAX_PARAMS];
} prism_adapter_impl;

/* The method table entry; NULL when the method's file is not linked. */
const prism_adapter_vt *prism_adapter_vt_of(prism_method m);

static inline prism_adapter_impl *prism_adapter_impl_of(prism_adapter *ad) {
    return (prism_adapter_impl *)ad;
}

#endif
