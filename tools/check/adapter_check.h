/* Method-generic helpers of the adapter checks (tools/check/adapter.c),
 * also used by tests/test_adapter.c and the method tests. */
#ifndef PRISM_ADAPTER_CHECK_H
#define PRISM_ADAPTER_CHECK_H

#include "check.h"
#include "prism/adapter.h"

/* The method's defaults with sizes cut down for a small m x n layer and
 * `blocks` ETHER blocks (dividing m and n): rank 3, n_coef / n_frequency
 * about m n / 3, a bank of 4 with the soft mask (differentiable, so the
 * finite-difference rows apply), seed `seed`. */
prism_adapter_config pc_adapter_config(prism_method method, int64_t m, int64_t n, int blocks, uint64_t seed);

/* Every trainable parameter of ad gets deterministic values uniform in
 * [-scale, scale], never 0 (pc_random with a per-parameter seed), so e.g.
 * LoRA's B is not 0 and every gradient path is exercised. Frozen saved
 * tensors (indices, banks) keep their values. */
prism_status pc_adapter_randomize(prism_adapter *ad, uint64_t seed, float scale);

/* Copies every parameter value (trainable or not) of src into dst: same
 * method, same parameter names and sizes; any two backends (through the
 * host, exact for values representable in fp32). */
prism_status pc_adapter_copy_params(prism_adapter *dst, prism_adapter *src);

#endif
