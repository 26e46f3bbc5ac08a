/* Check cases: Philox4x32-10 fills, device vs reference. Uniform numbers
 * must be bit-identical after rounding to fp32; normal ones within NMSE 1e-12
 * of the float64 Box-Muller. */
#include <stdlib.h>
#include "check.h"

typedef struct rng_case { bool normal; int64_t n; uint64_t seed, offset; float a, b; } rng_case;

static double *run_on(pc_result *r, prism_context *ctx, const rng_case *c, bool guard) {
    prism_tensor *base = NULL, *y = guard ? pc_guarded(r, ctx, 1, &c->n, NULL, &base) : pc_tensor(r, ctx, 1, &c->n, NULL);
    prism_stream *s = NULL;
    double *out = NULL;
    if (y && prism_stream_create(ctx, &s) == PRISM_OK) {
        prism_status st = c->normal ? prism_rng_normal(s, c->seed, c->offset, c->a, c->b, y)
                                    : prism_rng_uniform(s, c->seed, c->offset, c->a, c->b, y);
        if (st) pc_fail(r, "record: %s", prism_error_message(ctx));
        else if (pc_run(r, s)) out = pc_download(r, y);
        if (guard) pc_guard_ok(r, base, "output");
    }
    prism_stream_destroy(s);
    prism_tensor_destroy(y);
    prism_tensor_destroy(base);
    return out;
}

static void rng_device(const pc_env *env, const void *arg, pc_result *r) {
    const rng_case *c = arg;
    double *dev = run_on(r, env->dev, c, true), *ref = run_on(r, env->ref, c, false);
    if (dev && ref) {
        pc_compare(r, "y", dev, ref, c->n, c->normal ? 1e-12 : 0.0);
        if (!c->normal)
            for (int64_t i = 0; i < c->n; i++)
                if ((float)dev[i] != (float)ref[i]) {
                    pc_fail(r, "y[%lld]: device %.9g, reference %.9g (must be bit-identical)", (long long)i, dev[i],
                            ref[i]);
                    break;
                }
    }
    free(dev);
    free(ref);
}

#define SEED_HI 0x9E3779B97F4A7C15ull
static const rng_case u_1 = {false, 1, 1, 0, 0.0f, 1.0f}, u_7 = {false, 7, 42, 3, -2.0f, 3.0f},
                      u_784 = {false, 784, SEED_HI, 0, -1.0f, 1.0f},
                      u_1000 = {false, 1000, 7, 0xFFFFFFFFull - 100, -0.5f, 0.25f}, /* counter carries into word 1 */
                      u_big = {false, 100003, SEED_HI, 0x123456789ull, 10.0f, 1000.0f};
static const rng_case n_1 = {true, 1, 1, 0, 0.0f, 1.0f}, n_7 = {true, 7, 42, 3, 0.5f, 2.0f},
                      n_784 = {true, 784, SEED_HI, 0, 0.0f, 1.0f},
                      n_1000 = {true, 1000, 7, 0xFFFFFFFFull - 100, -1.0f, 0.02f},
                      n_big = {true, 100003, SEED_HI, 0x123456789ull, 0.0f, 1.0f};

const pc_case pc_cases_rng[] = {
    {"rng_uniform", "[1]", "device", rng_device, &u_1},
    {"rng_uniform", "[7] offset 3", "device", rng_device, &u_7},
    {"rng_uniform", "[784] 64-bit seed", "device", rng_device, &u_784},
    {"rng_uniform", "[1000] counter carry", "device", rng_device, &u_1000},
    {"rng_uniform", "[100003]", "device", rng_device, &u_big},
    {"rng_normal", "[1]", "device", rng_device, &n_1},
    {"rng_normal", "[7] offset 3", "device", rng_device, &n_7},
    {"rng_normal", "[784] 64-bit seed", "device", rng_device, &n_784},
    {"rng_normal", "[1000] counter carry", "device", rng_device, &n_1000},
    {"rng_normal", "[100003]", "device", rng_device, &n_big},
};
const int pc_ncases_rng = (int)(sizeof pc_cases_rng / sizeof pc_cases_rng[0]);
