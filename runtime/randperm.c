/* torch.randperm on the CPU, reproduced bit-exactly (METHODS.md §2.1).
 *
 * torch's CPU generator is MT19937 seeded with the standard init_genrand of
 * the low 32 bits of the seed; random() is one tempered 32-bit output and
 * random64() is (first << 32) | second. randperm_cpu then has two branches:
 *   n < 214748364 (= UINT32_MAX / 20): for i in [0, n-1): z = random() % (n - i),
 *       swap r[i], r[i + z] — a forward Fisher-Yates on r = 0..n-1;
 *   otherwise: for i in [0, n): z = random64() % (i + 1); r[i] = r[z]; r[z] = i
 *       (inside-out; not verified against torch).
 * In the forward branch r[i] is final after step i, so the first k values
 * need only k draws and a sparse record of the positions touched so far: an
 * open-addressing map from position to value (identity when absent). That
 * keeps FourierFT's 1000 entries of a 4096 x 4096 matrix at O(k) instead of a
 * 16M-entry array. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "prism/spectral.h"

typedef struct mt19937 {
    uint32_t s[624];
    int i;
} mt19937;

static void mt_seed(mt19937 *m, uint32_t seed) {
    m->s[0] = seed;
    for (int j = 1; j < 624; j++) m->s[j] = 1812433253u * (m->s[j - 1] ^ (m->s[j - 1] >> 30)) + (uint32_t)j;
    m->i = 624;
}

static uint32_t mt_next(mt19937 *m) {
    if (m->i >= 624) {
        for (int j = 0; j < 624; j++) {
            uint32_t y = (m->s[j] & 0x80000000u) | (m->s[(j + 1) % 624] & 0x7fffffffu);
            m->s[j] = m->s[(j + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        m->i = 0;
    }
    uint32_t y = m->s[m->i++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

/* Sparse array: value at position p is p unless the map holds it. */
typedef struct sparse_perm {
    int64_t *key, *val;
    size_t cap;
} sparse_perm;

static size_t slot(const sparse_perm *sp, int64_t p) {
    uint64_t h = (uint64_t)p * 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h >> 17) & (sp->cap - 1);
    while (sp->key[i] >= 0 && sp->key[i] != p) i = (i + 1) & (sp->cap - 1);
    return i;
}
static int64_t sp_get(const sparse_perm *sp, int64_t p) {
    size_t i = slot(sp, p);
    return sp->key[i] == p ? sp->val[i] : p;
}
static void sp_set(sparse_perm *sp, int64_t p, int64_t v) {
    size_t i = slot(sp, p);
    sp->key[i] = p;
    sp->val[i] = v;
}

static prism_status forward_branch(int64_t n, mt19937 *m, int64_t k, int64_t *out) {
    /* each step writes at most two positions: 2k entries, load <= 1/2 */
    sparse_perm sp = {0};
    sp.cap = 16;
    while (sp.cap < (size_t)(4 * k + 4)) sp.cap *= 2;
    sp.key = malloc(sp.cap * sizeof(int64_t));
    sp.val = malloc(sp.cap * sizeof(int64_t));
    if (!sp.key || !sp.val) {
        free(sp.key);
        free(sp.val);
        return PRISM_ERR_OUT_OF_HOST_MEMORY;
    }
    memset(sp.key, 0xff, sp.cap * sizeof(int64_t)); /* -1: empty */
    for (int64_t i = 0; i < k; i++) {
        if (i < n - 1) {
            int64_t z = (int64_t)(mt_next(m) % (uint64_t)(n - i));
            int64_t a = sp_get(&sp, i), b = sp_get(&sp, i + z);
            sp_set(&sp, i, b);
            sp_set(&sp, i + z, a);
        }
        out[i] = sp_get(&sp, i);
    }
    free(sp.key);
    free(sp.val);
    return PRISM_OK;
}

static prism_status inside_out_branch(int64_t n, mt19937 *m, int64_t k, int64_t *out) {
    if (n > (int64_t)UINT32_MAX) return PRISM_ERR_UNSUPPORTED;
    uint32_t *r = malloc((size_t)n * sizeof *r);
    if (!r) return PRISM_ERR_OUT_OF_HOST_MEMORY;
    for (int64_t i = 0; i < n; i++) {
        uint64_t hi = mt_next(m), lo = mt_next(m);
        int64_t z = (int64_t)(((hi << 32) | lo) % (uint64_t)(i + 1));
        r[i] = (uint32_t)i; /* as torch: r[i] = i; r[i] = r[z]; r[z] = i */
        r[i] = r[z];
        r[z] = (uint32_t)i;
    }
    for (int64_t i = 0; i < k; i++) out[i] = r[i];
    free(r);
    return PRISM_OK;
}

prism_status prism_randperm_torch(int64_t n, uint64_t seed, int64_t k, int64_t *out) {
    if (n < 1 || k < 0 || k > n || (k > 0 && !out)) return PRISM_ERR_INVALID_ARGUMENT;
    mt19937 *m = malloc(sizeof *m);
    if (!m) return PRISM_ERR_OUT_OF_HOST_MEMORY;
    mt_seed(m, (uint32_t)seed);
    prism_status st = n < (int64_t)(UINT32_MAX / 20) ? forward_branch(n, m, k, out) : inside_out_branch(n, m, k, out);
    free(m);
    return st;
}
