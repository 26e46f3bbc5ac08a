/* Transform plans and the engine shared by the dct and fft ops
 * (shaders/fft.comp, shaders/dct.comp; design in docs/spectral-transforms.md),
 * plus the public FFT ops rfft / irfft / fft_c2c / ifft2_real.
 *
 * Paths, chosen per call from the plan and the device caps:
 *   smem    one dispatch: pre-stage, all Stockham passes in shared memory,
 *           post-stage; when a slot of L complex values fits
 *           maxComputeSharedMemorySize (8 L bytes; L = n/2 for real
 *           transforms of even n). fft_smem2 (two buffers, no private arrays)
 *           on CPU devices when two slots fit, fft_smem (one buffer) otherwise.
 *   global  one dispatch per Stockham pass over scratch (ping-pong halves),
 *           the first pass reading the input, then a post-stage dispatch.
 *   matrix  one dispatch of direct O(n) sums per output (dct.comp).
 * PRISM_FFT_PATH=smem|global (read when a plan is created) and
 * PRISM_FFT_SMEM=1|2 (read per call: fft_smem / fft_smem2) force variants so
 * tests cover every path on any device.
 * fft_big: fft_smem2 with radix-16/32 passes, the load fused into the first
 * pass and the DCT-II / rfft post-stage into the last; faster on big batches
 * of rows, but each pipeline takes seconds to compile on lavapipe, so it is
 * chosen only for big row batches on CPU devices (use_big);
 * PRISM_FFT_BIG=0|1 (read per call) forces it off / on for any row transform
 * that fits fft_smem2.
 *
 * Bindings stay within maxStorageBufferRange by chunking the batch of
 * sequences (each chunk is an independent dispatch group); a single sequence
 * set that cannot be bound (a column transform of a matrix larger than one
 * binding) is refused with PRISM_ERR_UNSUPPORTED. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fft_plan.h"
#include "../reference/dct.h"
#include "../reference/fft.h"

enum { HOLD = 32 };            /* register slots per invocation in fft_smem (shader HOLD) */
enum { MAX_PRIME = 64 };       /* largest prime factor the FFT path takes */
#define SCRATCH_MIN_FLOATS ((int64_t)4 << 20)

typedef struct fft_push {
    uint32_t n, nseq, xs, xe, ys, ye, rad0, rad1, rad2, npass, sp, se;
    float s0, s1;
    uint32_t dtw, cos4, flags, l;
} fft_push;

/* ------------------------------------------------------------------ plans */

/* Stockham radices, largest first among the fast ones: 8s, then one 4 or 2,
 * then 3, 5, 7, then other primes. Returns false when a prime factor
 * exceeds MAX_PRIME. */
static bool factorize(int64_t n, uint32_t *rad, int *np) {
    int k = 0;
    while (n % 8 == 0) rad[k++] = 8, n /= 8;
    if (n % 4 == 0) rad[k++] = 4, n /= 4;
    if (n % 2 == 0) rad[k++] = 2, n /= 2;
    for (int64_t p = 3; p <= MAX_PRIME && n > 1; p += 2)
        while (n % p == 0) rad[k++] = (uint32_t)p, n /= p;
    *np = k;
    return n == 1;
}

prism_status prism_fft_plan_create(prism_context *ctx, int64_t n, prism_transform_algo algo, prism_fft_plan **out) {
    if (out) *out = NULL;
    if (!ctx || !out) return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "fft_plan_create: NULL context or output");
    if (algo != PRISM_TRANSFORM_AUTO && algo != PRISM_TRANSFORM_FFT && algo != PRISM_TRANSFORM_MATRIX)
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "fft_plan_create: bad algorithm %d", (int)algo);
    if (n < 1 || n > ((int64_t)1 << 26))
        return prism_set_error(ctx, PRISM_ERR_DIMS, "fft_plan_create: length %lld outside [1, 2^26]", (long long)n);
    prism_status st = PRISM_OK;
    float *tabf = NULL;
    prism_fft_plan *p = calloc(1, sizeof *p);
    if (!p) return prism_set_error(ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "fft_plan_create: out of host memory");
    p->ctx = ctx;
    p->n = n;
    bool smooth = factorize(n, p->radix, &p->npass);
    if (n % 2 == 0) factorize(n / 2, p->radix_half, &p->npass_half);
    if (algo == PRISM_TRANSFORM_FFT && !smooth) {
        st = prism_set_error(ctx, PRISM_ERR_UNSUPPORTED,
                             "fft_plan_create: length %lld has a prime factor > %d; the FFT path cannot take it",
                             (long long)n, MAX_PRIME);
        goto cleanup;
    }
    p->algo = algo == PRISM_TRANSFORM_AUTO ? (smooth ? PRISM_TRANSFORM_FFT : PRISM_TRANSFORM_MATRIX) : algo;
    const char *fp = getenv("PRISM_FFT_PATH");
    p->force_path = fp && !strcmp(fp, "smem") ? 1 : fp && !strcmp(fp, "global") ? 2 : 0;
    if (prism_context_backend(ctx) == PRISM_BACKEND_REFERENCE) {
        *out = p;
        return PRISM_OK;
    }
    /* tables in float64, rounded once: roots W_n^t | DCT twiddles | cos(pi j/2n) */
    int64_t nt = 12 * n;
    tabf = malloc((size_t)nt * sizeof *tabf);
    if (!tabf) {
        st = prism_set_error(ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "fft_plan_create: out of host memory (n = %lld)",
                             (long long)n);
        goto cleanup;
    }
    for (int64_t t = 0; t < n; t++) {
        double a = 2.0 * M_PI * (double)t / (double)n, b = M_PI * (double)t / (double)(2 * n);
        tabf[2 * t] = (float)cos(a);
        tabf[2 * t + 1] = (float)-sin(a);
        tabf[2 * n + 2 * t] = (float)cos(b);
        tabf[2 * n + 2 * t + 1] = (float)-sin(b);
    }
    for (int64_t j = 0; j < 4 * n; j++) tabf[4 * n + j] = (float)cos(M_PI * (double)j / (double)(2 * n));
    for (int64_t k = 0; k < n; k++) { /* post-stage pairs (W_n^k, D_k) */
        memcpy(tabf + 8 * n + 4 * k, tabf + 2 * k, 2 * sizeof *tabf);
        memcpy(tabf + 8 * n + 4 * k + 2, tabf + 2 * n + 2 * k, 2 * sizeof *tabf);
    }
    PRISM_TRY(prism_tensor_create(ctx, 1, &nt, &p->tables));
    PRISM_TRY(prism_tensor_upload(p->tables, tabf, nt));
    *out = p;
    p = NULL;
cleanup:
    free(tabf);
    prism_fft_plan_destroy(p);
    return st;
}

void prism_fft_plan_destroy(prism_fft_plan *plan) {
    if (!plan) return;
    prism_tensor_destroy(plan->tables);
    prism_tensor_destroy(plan->scratch);
    free(plan);
}

int64_t prism_fft_plan_length(const prism_fft_plan *plan) { return plan ? plan->n : 0; }
prism_transform_algo prism_fft_plan_algo(const prism_fft_plan *plan) {
    return plan ? plan->algo : PRISM_TRANSFORM_AUTO;
}

/* ------------------------------------------------------------------ checks */

prism_status prism_fft_check_plan(prism_stream *s, const char *op, const prism_fft_plan *plan) {
    prism_context *ctx = prism_stream_context(s);
    if (!plan) return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: NULL plan", op);
    if (plan->ctx != ctx)
        return prism_set_error(ctx, PRISM_ERR_WRONG_CONTEXT, "%s: plan (length %lld) belongs to another context", op,
                               (long long)plan->n);
    return PRISM_OK;
}

bool prism_fft_bad_overlap(const prism_tensor *a, const prism_tensor *b) {
    if (a->storage != b->storage) return false;
    bool overlap = a->offset < b->offset + b->numel && b->offset < a->offset + a->numel;
    bool same = a->offset == b->offset && a->numel == b->numel;
    return overlap && !same;
}

bool prism_fft_dims2(const prism_tensor *t, int64_t *r, int64_t *c) {
    if (t->ndim == 1) *r = 1, *c = t->shape[0];
    else if (t->ndim == 2) *r = t->shape[0], *c = t->shape[1];
    else return false;
    return true;
}

/* ------------------------------------------------------------------ reference */

typedef struct ref_args { fft_job job; int64_t n; } ref_args;

static void fft_ref(const void *v) {
    const ref_args *a = v;
    const fft_job *j = &a->job;
    const double *x = prism_ref_data(j->x.t);
    double *y = prism_ref_data(j->y.t);
    switch (j->mode) {
    case FFT_MODE_DCT2:
    case FFT_MODE_DCT3:
        prism_ref_dct(j->mode == FFT_MODE_DCT2 ? 2 : 3, j->ortho, a->n, j->nseq, x, j->x.ss, j->x.se, y, j->y.ss,
                      j->y.se);
        break;
    case FFT_MODE_RFFT: prism_ref_rfft(a->n, j->nseq, x, j->x.ss, j->x.se, y, j->y.ss, j->y.se); break;
    case FFT_MODE_IRFFT: prism_ref_irfft(a->n, j->nseq, x, j->x.ss, j->x.se, y, j->y.ss, j->y.se); break;
    default:
        prism_ref_dft(j->mode == FFT_MODE_IC2C, a->n, j->nseq, x, j->x.ss, j->x.se, !j->real_in, y, j->y.ss, j->y.se,
                      !j->real_out);
    }
}

/* ------------------------------------------------------------------ device */

/* FFT length and passes of a mode: real modes of even n run a complex FFT of
 * n/2 (two samples per complex value), everything else one of n. */
static int64_t fft_len(const prism_fft_plan *p, fft_mode m, const uint32_t **rad, int *np) {
    bool half = m <= FFT_MODE_IRFFT && p->n % 2 == 0;
    *rad = half ? p->radix_half : p->radix;
    *np = half ? p->npass_half : p->npass;
    return half ? p->n / 2 : p->n;
}
static int64_t n_in(const prism_fft_plan *p, fft_mode m) { return m == FFT_MODE_IRFFT ? p->n / 2 + 1 : p->n; }
static int64_t n_out(const prism_fft_plan *p, fft_mode m) { return m == FFT_MODE_RFFT ? p->n / 2 + 1 : p->n; }

/* Floats a binding of sequences [0, cnt) spans. */
static int64_t span(const fft_view *v, int64_t cnt, int64_t len) {
    return (cnt - 1) * v->ss + (len - 1) * v->se + (v->cplx ? 2 : 1);
}

/* Largest chunk of sequences whose x and y bindings fit one binding. */
static int64_t max_chunk(const fft_job *j, int64_t lin, int64_t lout, int64_t maxe) {
    int64_t c = j->nseq;
    while (c > 1 && (span(&j->x, c, lin) > maxe || span(&j->y, c, lout) > maxe)) c = (c + 1) / 2;
    return span(&j->x, c, lin) > maxe || span(&j->y, c, lout) > maxe ? 0 : c;
}

/* Shared-memory variant for one slot length n: fft_smem2 (two buffers, no
 * values held across barriers) on CPU devices, where private arrays are
 * per-invocation memory; fft_smem (one buffer, values held in registers,
 * half the shared memory, so longer lengths fit) elsewhere. PRISM_FFT_SMEM=1|2
 * forces one (tests). Fills slots per workgroup g and local size ls; false
 * when no variant fits. */
typedef struct smem_cfg { bool pingpong; uint32_t ls, g; } smem_cfg;

static bool smem_fit(int64_t n, const uint32_t *rad, int np, prism_context *ctx, int64_t slots, bool big,
                     smem_cfg *cfg) {
    uint32_t shm = ctx->caps.max_shared_memory_size ? ctx->caps.max_shared_memory_size : 16384;
    /* 10 pass codes of 3 bits fit spec constant PASSES (fft_big: 8 of 4 bits) */
    if (np > (big ? 8 : 10)) return false;
    uint32_t lsmax = prism_local_size_1d(ctx);
    const char *force = getenv("PRISM_FFT_SMEM");
    bool pp = force && *force ? !strcmp(force, "2") : ctx->caps.type == PRISM_DEVICE_CPU;
    if (big && !pp) return false;
    int64_t maxel = shm / (pp ? 16 : 8); /* complex values per workgroup */
    if (n > maxel) {
        if (!pp || (force && *force) || big) return false;
        pp = false; /* too long for two buffers: one buffer still fits */
        maxel = shm / 8;
        if (n > maxel) return false;
    }
    /* ~2048 complex values per workgroup: enough work per barrier, and short
     * rows share a workgroup */
    int64_t gg = PRISM_MAX(1, PRISM_MIN(PRISM_MIN(2048, maxel) / n, slots));
    for (; gg >= 1; gg--) {
        int64_t tot = gg * n;
        /* GPUs: one radix-8 butterfly per invocation. CPU devices (two
         * buffers): ~64 values per invocation; every invocation is a
         * coroutine switched at each barrier there, and lavapipe measured
         * 512 x 1024 DCT-II 25% faster with 64 than with 8 */
        int64_t l = PRISM_MIN((int64_t)lsmax, PRISM_MAX(1, PRISM_CEIL_DIV(tot, pp ? 64 : 8)));
        /* fft_big: one SIMD group per workgroup (the reported subgroup size,
         * a performance hint only): each SIMD group is a coroutine switched
         * at every barrier on CPU devices, and lavapipe measured [4096, 1024]
         * DCT-II / rfft rows 25% faster with 8 invocations than with 32 */
        uint32_t sg = ctx->caps.subgroup_size;
        if (big && sg >= 1 && sg <= lsmax) l = sg;
        for (int attempt = 0; attempt < 2; attempt++, l = lsmax) {
            bool ok = true;
            for (int i = 0; i < np && ok && !pp; i++) {
                int64_t r = rad[i];
                bool small = r <= 8 && r != 6;
                ok = small ? PRISM_CEIL_DIV(tot / r, l) * r <= HOLD : PRISM_CEIL_DIV(tot, l) <= HOLD;
            }
            if (ok) {
                *cfg = (smem_cfg){pp, (uint32_t)l, (uint32_t)gg};
                return true;
            }
        }
    }
    return false;
}

/* fft_big passes: the power-of-two part 2^e of the plan's radices (its
 * leading 8s and one 4 or 2) regrouped into ceil(e/5) passes of radix up to
 * 32, as even as possible (512 = 32 x 16 instead of 8 x 8 x 8): lavapipe
 * pays for every shared-memory access and barrier, and a radix-16/32
 * butterfly stays in registers. Odd radices follow unchanged. */
static int merge_pow2(const uint32_t *rad, int np, uint32_t *out) {
    int e = 0, i = 0, k = 0;
    for (; i < np && (rad[i] & (rad[i] - 1)) == 0; i++)
        e += rad[i] == 8 ? 3 : rad[i] == 4 ? 2 : 1;
    int parts = (e + 4) / 5;
    for (int p = 0; p < parts; p++) {
        int bits = (e - (e / parts) * parts > p) ? e / parts + 1 : e / parts;
        out[k++] = 1u << bits;
    }
    /* a radix 16 goes last: the post-stage can fuse with it (code 10) */
    for (int p = 0; p + 1 < k; p++)
        if (out[p] == 16) out[p] = out[k - 1], out[k - 1] = 16;
    for (; i < np; i++) out[k++] = rad[i];
    return k;
}

/* fft_big for this chunk: PRISM_FFT_BIG=0|1 when set; otherwise batches of
 * at least 1024 rows of a power-of-two length >= 512 on CPU devices, where
 * its faster passes repay the seconds its pipelines take to compile (small
 * batches and test shapes keep fft_smem2) */
static bool use_big(const prism_fft_plan *p, const fft_job *j, int64_t cnt) {
    if (j->cols) return false;
    const char *force = getenv("PRISM_FFT_BIG");
    if (force && *force) return !strcmp(force, "1");
    return p->ctx->caps.type == PRISM_DEVICE_CPU && p->n >= 512 && (p->n & (p->n - 1)) == 0 && cnt >= 1024;
}

static prism_status ensure_scratch(prism_fft_plan *p, int64_t need) {
    if (p->scratch) return PRISM_OK;
    int64_t n = PRISM_MAX(need, SCRATCH_MIN_FLOATS);
    prism_status st = prism_tensor_create(p->ctx, 1, &n, &p->scratch);
    if (st == PRISM_OK) p->scratch_elems = n;
    return st;
}

static fft_push base_push(const prism_fft_plan *p, const fft_job *j, int64_t cnt, int64_t l) {
    fft_push q = {0};
    q.n = (uint32_t)p->n;
    q.l = (uint32_t)l;
    q.nseq = (uint32_t)cnt;
    q.xs = (uint32_t)j->x.ss, q.xe = (uint32_t)j->x.se;
    q.ys = (uint32_t)j->y.ss, q.ye = (uint32_t)j->y.se;
    q.s0 = (float)j->s0, q.s1 = (float)j->s1;
    q.dtw = (uint32_t)p->n;
    q.cos4 = (uint32_t)(4 * p->n);
    q.flags = (j->real_in ? 1u : 0u) | (j->real_out ? 2u : 0u);
    return q;
}

static prism_status dispatch(prism_stream *s, const fft_job *j, const char *shader, const uint32_t *spec, int nspec,
                             const fft_push *q, uint64_t groups, const prism_binding *b, int nb) {
    prism_kernel k = {.op = j->op, .shader = shader, .nspec = nspec, .groups = {groups, 1, 1}, .fault_binding = 0};
    memcpy(k.spec, spec, (size_t)nspec * sizeof *spec);
    memcpy(k.bind, b, (size_t)nb * sizeof *b);
    k.nbind = nb;
    memcpy(k.push, q, sizeof *q);
    k.push_size = sizeof *q;
    return prism_record_kernel(s, &k);
}

/* One chunk of `cnt` sequences starting at sequence s0. */
static prism_status record_chunk(prism_stream *s, prism_fft_plan *p, const fft_job *j, int64_t s0, int64_t cnt,
                                 bool in_place, bool use_smem) {
    prism_context *ctx = p->ctx;
    prism_status st = PRISM_OK;
    int64_t n = p->n, lin = n_in(p, j->mode), lout = n_out(p, j->mode);
    const uint32_t *rad = NULL;
    int np = 0;
    int64_t l = p->algo == PRISM_TRANSFORM_MATRIX ? n : fft_len(p, j->mode, &rad, &np);
    int64_t slots = cnt;
    uint32_t lsz = prism_local_size_1d(ctx), cols = j->cols ? 1u : 0u;
    fft_push q = base_push(p, j, cnt, l);
    /* 4 and 5 (scratch) are placeholders unless the global path binds them */
    prism_binding b[7] = {
        {j->y.t, s0 * j->y.ss, span(&j->y, cnt, lout), true},
        {j->x.t, s0 * j->x.ss, span(&j->x, cnt, lin), false},
        {p->tables, 0, 4 * n, false},
        {p->tables, 0, 8 * n, false},
        {p->tables, 0, 2, false},
        {p->tables, 0, 2, false},
        {p->tables, 8 * n, 4 * n, false},
    };
    if (p->algo == PRISM_TRANSFORM_MATRIX) {
        uint32_t spec[7] = {lsz, 1, 1, (uint32_t)j->mode, 1, 1, cols};
        uint64_t items = (uint64_t)cnt * (uint64_t)lout;
        if (!in_place) return dispatch(s, j, "dct_matrix", spec, 7, &q, PRISM_CEIL_DIV(items, lsz), b, 4);
        /* every output reads its whole sequence: compute into scratch, then
         * copy (prism_fft_record sized the chunk to the scratch) */
        int64_t sp = b[0].count;
        b[0] = (prism_binding){p->scratch, 0, sp, true};
        PRISM_TRY(dispatch(s, j, "dct_matrix", spec, 7, &q, PRISM_CEIL_DIV(items, lsz), b, 4));
        return prism_record_copy(s, j->op, p->scratch, 0, j->y.t, s0 * j->y.ss, sp);
    }
    smem_cfg sc;
    uint32_t flags = cols | (l != n ? 2u : 0u); /* bit 1: half mode (real, even n) */
    bool big = use_smem && use_big(p, j, cnt) && smem_fit(l, rad, np, ctx, slots, true, &sc);
    if (big || (use_smem && smem_fit(l, rad, np, ctx, slots, false, &sc))) {
        uint32_t merged[FFT_MAX_PASSES];
        bool fuse_post = false;
        int cb = 3, maxp = 10; /* bits per pass code, pass codes */
        if (big) {
            cb = 4, maxp = 8;
            np = merge_pow2(rad, np, merged);
            rad = merged;
            /* rows of unit stride and even row pitch: 8-byte complex accesses
             * where the binding's element offset is even too (the shader
             * checks boff) */
            if (j->x.se == 1 && j->y.se == (j->y.cplx ? 2 : 1) && j->x.ss % 2 == 0 && j->y.ss % 2 == 0)
                q.flags |= 4u;
            /* forward real rows in half mode whose last pass is radix 16 */
            fuse_post = l != n && (j->mode == FFT_MODE_DCT2 || j->mode == FFT_MODE_RFFT) && l >= 32 &&
                        rad[np - 1] == 16;
        }
        /* pass codes for spec constant PASSES; generic primes' values go in the push block */
        uint32_t codes = 0, w[3] = {0, 0, 0};
        for (int i = 0; i < np && i < maxp; i++) {
            uint32_t r = rad[i];
            uint32_t c = r == 2 ? 1 : r == 3 ? 2 : r == 4 ? 3 : r == 5 ? 4 : r == 7 ? 5 : r == 8 ? 6
                       : r == 16 ? 8 : r == 32 ? 9 : 7;
            if (fuse_post && i == np - 1) c = 10, flags |= 4u; /* radix 16 + post-stage */
            codes |= c << (cb * i);
            w[i / 4] |= r << (8 * (i % 4));
        }
        uint32_t spec[8] = {sc.ls, 1, 1, (uint32_t)j->mode, (uint32_t)l, sc.g, flags, codes};
        q.rad0 = w[0], q.rad1 = w[1], q.rad2 = w[2], q.npass = (uint32_t)np;
        const char *var = big ? "fft_big" : sc.pingpong ? "fft_smem2" : "fft_smem";
        return dispatch(s, j, var, spec, 8, &q, PRISM_CEIL_DIV((uint64_t)slots, sc.g), b, 7);
    }
    /* global: scratch halves A, B of slots * L complex each; one pipeline per
     * (L, Ns, radix) so every index division is by a constant */
    int64_t half = slots * l * 2;
    q.sp = cols ? 1u : (uint32_t)l;
    q.se = cols ? (uint32_t)slots : 1u;
    uint32_t ns = 1;
    int cur = 0; /* which half holds the data */
    for (int i = 0; i < np; i++) {
        uint32_t r = rad[i];
        bool small = r <= 8 && r != 6;
        uint32_t spec[8] = {lsz, 1, 1, (uint32_t)j->mode, (uint32_t)l, ns, flags, r};
        fft_push pq = q;
        pq.npass = i == 0 ? 1u : 0u;
        prism_binding bb[7];
        memcpy(bb, b, sizeof bb);
        bb[0].write = false; /* bound, not written, by a pass */
        bb[4] = (prism_binding){p->scratch, (int64_t)cur * half, half, false};
        bb[5] = (prism_binding){p->scratch, (int64_t)(1 - cur) * half, half, true};
        if (i == 0) bb[4] = (prism_binding){p->scratch, half, half, false}; /* unused: x is read */
        uint64_t items = (uint64_t)slots * (uint64_t)(small ? l / r : l);
        PRISM_TRY(dispatch(s, j, "fft_pass", spec, 8, &pq, PRISM_CEIL_DIV(items, lsz), bb, 7));
        cur = 1 - cur;
        ns *= r;
    }
    prism_binding bp[7];
    memcpy(bp, b, sizeof bp);
    bp[4] = (prism_binding){p->scratch, (int64_t)cur * half, half, false};
    bp[5] = (prism_binding){p->scratch, (int64_t)(1 - cur) * half, half, false}; /* unused */
    /* DCT-II in half mode: one item writes X_k and X_{n-k} */
    int64_t per = j->mode == FFT_MODE_DCT2 && l != n ? n / 2 + 1 : lout;
    uint64_t items = (uint64_t)cnt * (uint64_t)per;
    uint32_t spec[8] = {lsz, 1, 1, (uint32_t)j->mode, (uint32_t)l, 1, flags, 0};
    return dispatch(s, j, "fft_post", spec, 8, &q, PRISM_CEIL_DIV(items, lsz), bp, 7);
cleanup:
    return st;
}

prism_status prism_fft_record(prism_stream *s, prism_fft_plan *p, const fft_job *j) {
    prism_context *ctx = p->ctx;
    prism_status st = PRISM_OK;
    if (prism_stream_is_reference(s)) {
        ref_args a = {*j, p->n};
        const prism_tensor *ts[2] = {j->y.t, j->x.t};
        return prism_ref_enqueue(s, j->op, fft_ref, &a, sizeof a, ts, 2);
    }
    int64_t lin = n_in(p, j->mode), lout = n_out(p, j->mode);
    int64_t maxe = prism_max_binding_elems(ctx);
    int64_t chunk = max_chunk(j, lin, lout, maxe);
    bool in_place = j->x.t->storage == j->y.t->storage && j->x.t->offset == j->y.t->offset;
    if (chunk < 1)
        return prism_set_error(ctx, PRISM_ERR_UNSUPPORTED,
                               "%s: the sequences (length %lld) cannot be bound within maxStorageBufferRange %llu",
                               j->op, (long long)p->n, (unsigned long long)ctx->caps.max_storage_buffer_range);
    if (in_place && p->algo == PRISM_TRANSFORM_MATRIX) {
        /* y is written through scratch shaped like y's span of a chunk */
        PRISM_TRY(ensure_scratch(p, span(&j->y, j->nseq, lout)));
        while (chunk > 1 && span(&j->y, chunk, lout) > PRISM_MIN(p->scratch_elems, maxe)) chunk = (chunk + 1) / 2;
        if (span(&j->y, chunk, lout) > PRISM_MIN(p->scratch_elems, maxe) || (j->cols && chunk < j->nseq))
            return prism_set_error(ctx, PRISM_ERR_UNSUPPORTED,
                                   "%s: in-place matrix-path transform of %lld sequences of length %lld is too large "
                                   "for one binding; use separate input and output tensors",
                                   j->op, (long long)j->nseq, (long long)p->n);
    }
    /* the global path needs two scratch halves of a chunk's slots */
    const uint32_t *rad;
    int np;
    int64_t l = fft_len(p, j->mode, &rad, &np);
    uint32_t shm = ctx->caps.max_shared_memory_size ? ctx->caps.max_shared_memory_size : 16384;
    smem_cfg sc;
    /* L = 1 has no pass, so the global path would have nothing to post-process */
    bool use_smem = np == 0 || (p->force_path != 2 && smem_fit(l, rad, np, ctx, 1, false, &sc));
    if (p->algo == PRISM_TRANSFORM_FFT && p->force_path == 1 && !use_smem)
        return prism_set_error(ctx, PRISM_ERR_UNSUPPORTED,
                               "%s: PRISM_FFT_PATH=smem but length %lld does not fit shared memory (%u bytes)", j->op,
                               (long long)p->n, shm);
    if (p->algo == PRISM_TRANSFORM_FFT && !use_smem) {
        int64_t per_seq = 4 * l; /* floats of both halves per sequence */
        PRISM_TRY(ensure_scratch(p, per_seq * j->nseq));
        chunk = PRISM_MIN(chunk, PRISM_MAX(1, PRISM_MIN(p->scratch_elems / 2, maxe) / (2 * l)));
    }
    for (int64_t s0 = 0; s0 < j->nseq; s0 += chunk)
        PRISM_TRY(record_chunk(s, p, j, s0, PRISM_MIN(chunk, j->nseq - s0), in_place, use_smem));
cleanup:
    return st;
}

/* ------------------------------------------------------------------ public FFT ops
 * Status per failure: NULL stream/tensor/plan or bad axis/flag ->
 * PRISM_ERR_INVALID_ARGUMENT; tensor or plan from another context ->
 * PRISM_ERR_WRONG_CONTEXT; rank not 1-2 or shapes that do not match the plan
 * length -> PRISM_ERR_SHAPE; y overlapping x (other than exactly, where
 * allowed) -> PRISM_ERR_INVALID_ARGUMENT. */

static prism_status begin(prism_stream *s, const char *op, const prism_fft_plan *plan, prism_transform_axis axis,
                          const prism_tensor *x, const prism_tensor *y, int64_t *xr, int64_t *xc, int64_t *yr,
                          int64_t *yc) {
    prism_status st = prism_op_begin(s, op);
    if (st) return st;
    if ((st = prism_check_tensor(s, op, "input", x))) return st;
    if ((st = prism_check_tensor(s, op, "output", y))) return st;
    if ((st = prism_fft_check_plan(s, op, plan))) return st;
    prism_context *ctx = prism_stream_context(s);
    if (axis != PRISM_ALONG_ROWS && axis != PRISM_ALONG_COLS)
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: axis %d (expected ROWS or COLS)", op, (int)axis);
    char sx[64], sy[64];
    if (!prism_fft_dims2(x, xr, xc) || !prism_fft_dims2(y, yr, yc))
        return prism_set_error(ctx, PRISM_ERR_SHAPE, "%s: input %s and output %s must be 1-D or 2-D", op,
                               prism_tensor_shape_str(x, sx, sizeof sx), prism_tensor_shape_str(y, sy, sizeof sy));
    return PRISM_OK;
}

static prism_status shape_err(prism_stream *s, const char *op, const prism_fft_plan *p, const prism_tensor *x,
                              const prism_tensor *y, const char *want) {
    char sx[64], sy[64];
    return prism_set_error(prism_stream_context(s), PRISM_ERR_SHAPE, "%s: input %s, output %s with plan length %lld: %s",
                           op, prism_tensor_shape_str(x, sx, sizeof sx), prism_tensor_shape_str(y, sy, sizeof sy),
                           (long long)p->n, want);
}

static prism_status overlap_err(prism_stream *s, const char *op, const prism_tensor *x, const prism_tensor *y) {
    char sx[64], sy[64];
    return prism_set_error(prism_stream_context(s), PRISM_ERR_INVALID_ARGUMENT, "%s: output %s overlaps input %s", op,
                           prism_tensor_shape_str(y, sy, sizeof sy), prism_tensor_shape_str(x, sx, sizeof sx));
}

static bool any_overlap(const prism_tensor *a, const prism_tensor *b) {
    return a->storage == b->storage && a->offset < b->offset + b->numel && b->offset < a->offset + a->numel;
}

prism_status prism_rfft(prism_stream *s, prism_fft_plan *plan, prism_transform_axis axis, const prism_tensor *x,
                        prism_tensor *y) {
    const char *op = "rfft";
    int64_t xr, xc, yr, yc;
    prism_status st = begin(s, op, plan, axis, x, y, &xr, &xc, &yr, &yc);
    if (st) return st;
    int64_t n = plan->n, K = n / 2 + 1;
    bool rows = axis == PRISM_ALONG_ROWS;
    if (rows ? (xc != n || yr != xr || yc != 2 * K) : (xr != n || yr != K || yc != 2 * xc))
        return shape_err(s, op, plan, x, y, rows ? "want x [R, n] and y [R, 2(n/2+1)]" : "want x [n, C] and y [n/2+1, 2C]");
    if (any_overlap(x, y)) return overlap_err(s, op, x, y);
    fft_job j = {.op = op, .mode = FFT_MODE_RFFT, .nseq = rows ? xr : xc,
                 .x = {x, rows ? n : 1, rows ? 1 : xc, 0}, .y = {y, rows ? 2 * K : 2, rows ? 2 : 2 * xc, 1},
                 .cols = !rows, .s0 = 1, .s1 = 1};
    return prism_fft_record(s, plan, &j);
}

prism_status prism_irfft(prism_stream *s, prism_fft_plan *plan, prism_transform_axis axis, const prism_tensor *x,
                         prism_tensor *y) {
    const char *op = "irfft";
    int64_t xr, xc, yr, yc;
    prism_status st = begin(s, op, plan, axis, x, y, &xr, &xc, &yr, &yc);
    if (st) return st;
    int64_t n = plan->n, K = n / 2 + 1;
    bool rows = axis == PRISM_ALONG_ROWS;
    if (rows ? (xc != 2 * K || yr != xr || yc != n) : (xr != K || xc % 2 || yr != n || yc != xc / 2))
        return shape_err(s, op, plan, x, y, rows ? "want x [R, 2(n/2+1)] and y [R, n]" : "want x [n/2+1, 2C] and y [n, C]");
    if (any_overlap(x, y)) return overlap_err(s, op, x, y);
    fft_job j = {.op = op, .mode = FFT_MODE_IRFFT, .nseq = rows ? yr : yc,
                 .x = {x, rows ? 2 * K : 2, rows ? 2 : xc, 1}, .y = {y, rows ? n : 1, rows ? 1 : yc, 0},
                 .cols = !rows, .s0 = 1, .s1 = 1};
    return prism_fft_record(s, plan, &j);
}

prism_status prism_fft_c2c(prism_stream *s, prism_fft_plan *plan, prism_transform_axis axis, int inverse,
                           const prism_tensor *x, prism_tensor *y) {
    const char *op = "fft_c2c";
    int64_t xr, xc, yr, yc;
    prism_status st = begin(s, op, plan, axis, x, y, &xr, &xc, &yr, &yc);
    if (st) return st;
    if (inverse != 0 && inverse != 1)
        return prism_set_error(prism_stream_context(s), PRISM_ERR_INVALID_ARGUMENT, "%s: inverse = %d (expected 0 or 1)",
                               op, inverse);
    int64_t n = plan->n;
    bool rows = axis == PRISM_ALONG_ROWS;
    if (yr != xr || yc != xc || xc % 2 || (rows ? xc != 2 * n : xr != n))
        return shape_err(s, op, plan, x, y, rows ? "want x and y [R, 2n]" : "want x and y [n, 2C]");
    if (prism_fft_bad_overlap(x, y)) return overlap_err(s, op, x, y);
    fft_job j = {.op = op, .mode = inverse ? FFT_MODE_IC2C : FFT_MODE_C2C, .nseq = rows ? xr : xc / 2,
                 .x = {x, rows ? 2 * n : 2, rows ? 2 : xc, 1}, .y = {y, rows ? 2 * n : 2, rows ? 2 : xc, 1},
                 .cols = !rows, .s0 = 1, .s1 = 1};
    return prism_fft_record(s, plan, &j);
}

prism_status prism_ifft2_real(prism_stream *s, prism_fft_plan *row_plan, prism_fft_plan *col_plan,
                              const prism_tensor *x, prism_tensor *work, prism_tensor *y) {
    const char *op = "ifft2_real";
    int64_t xr, xc, yr, yc;
    prism_status st = begin(s, op, row_plan, PRISM_ALONG_ROWS, x, y, &xr, &xc, &yr, &yc);
    if (st) return st;
    if ((st = prism_fft_check_plan(s, op, col_plan))) return st;
    if ((st = prism_check_tensor(s, op, "work", work))) return st;
    if (yr != xr || yc != xc || row_plan->n != xc || col_plan->n != xr)
        return shape_err(s, op, row_plan, x, y, "want x and y [R, C], row plan of length C, column plan of length R");
    if (work->numel < 2 * xr * xc) {
        char sw[64];
        return prism_set_error(prism_stream_context(s), PRISM_ERR_SHAPE, "%s: work %s has %lld elements, needs 2 R C = %lld",
                               op, prism_tensor_shape_str(work, sw, sizeof sw), (long long)work->numel,
                               (long long)(2 * xr * xc));
    }
    if (prism_fft_bad_overlap(x, y)) return overlap_err(s, op, x, y);
    if (any_overlap(work, x) || any_overlap(work, y)) return overlap_err(s, op, x, work);
    /* inverse along rows of the real x into the complex work [R, C], then
     * inverse along columns keeping only the real part */
    fft_job a = {.op = op, .mode = FFT_MODE_IC2C, .nseq = xr, .x = {x, xc, 1, 0}, .y = {work, 2 * xc, 2, 1},
                 .real_in = 1, .s0 = 1, .s1 = 1};
    fft_job b = {.op = op, .mode = FFT_MODE_IC2C, .nseq = xc, .x = {work, 2, 2 * xc, 1}, .y = {y, 1, xc, 0},
                 .cols = 1, .real_out = 1, .s0 = 1, .s1 = 1};
    if ((st = prism_fft_record(s, row_plan, &a))) return st;
    return prism_fft_record(s, col_plan, &b);
}
