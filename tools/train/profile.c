/* Profiles (target domains): deterministic shifts of the images, and the
 * host-side random numbers (data order, base init).
 *
 * Each shift is a pure function of the image (the permutation is fixed by a
 * constant seed), so train and test images of a profile go through the same
 * map and the shifted sets are identical on every machine. They work on the
 * uint8 pixels, so they are exact. docs/train.md lists how far each one
 * drops the base model's accuracy (measured). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "train.h"

uint64_t pt_rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double pt_rng_uniform(uint64_t *state) { return (double)(pt_rng_next(state) >> 11) * 0x1.0p-53; }

void pt_permutation(uint64_t seed, int64_t n, int64_t *perm) {
    uint64_t st = seed;
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        /* unbiased enough: 64-bit draw modulo n <= 2^31 has bias < 2^-33 */
        int64_t j = (int64_t)(pt_rng_next(&st) % (uint64_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

static const struct {
    const char *name, *about;
} profiles[PT_PROFILE_COUNT] = {
    {"original", "the images as published"},
    {"invert", "inverted intensities: p -> 255 - p (dark garment on a light background)"},
    {"rot90", "rotated 90 degrees clockwise"},
    {"hflip", "mirrored left-right"},
    {"vflip", "mirrored top-bottom (garments upside down)"},
    {"shift", "translated 7 pixels right and 7 pixels down (zero fill)"},
    {"permute", "one fixed random permutation of the 784 pixels"},
};

const char *pt_profile_name(pt_profile p) {
    return (unsigned)p < PT_PROFILE_COUNT ? profiles[p].name : "?";
}

const char *pt_profile_about(pt_profile p) {
    return (unsigned)p < PT_PROFILE_COUNT ? profiles[p].about : "?";
}

prism_status pt_profile_parse(const char *name, pt_profile *out) {
    if (!name || !out) return PRISM_ERR_INVALID_ARGUMENT;
    for (int i = 0; i < PT_PROFILE_COUNT; i++)
        if (!strcasecmp(name, profiles[i].name)) {
            *out = (pt_profile)i;
            return PRISM_OK;
        }
    return PRISM_ERR_INVALID_ARGUMENT;
}

/* Source pixel of destination (r, c) under profile p, or -1 for zero fill. */
static int64_t source_of(pt_profile p, int rows, int cols, int r, int c, const int64_t *perm) {
    switch (p) {
    case PT_PROFILE_ROT90: return (int64_t)(rows - 1 - c) * cols + r; /* clockwise: dst(r,c) = src(R-1-c, r) */
    case PT_PROFILE_HFLIP: return (int64_t)r * cols + (cols - 1 - c);
    case PT_PROFILE_VFLIP: return (int64_t)(rows - 1 - r) * cols + c;
    case PT_PROFILE_SHIFT: {
        int sr = r - 7, sc = c - 7;
        return sr < 0 || sc < 0 ? -1 : (int64_t)sr * cols + sc;
    }
    case PT_PROFILE_PERMUTE: return perm[(int64_t)r * cols + c];
    default: return (int64_t)r * cols + c;
    }
}

prism_status pt_profile_apply(pt_profile p, const pt_images *src, pt_images *out, char *err,
                              size_t err_len) {
    if (!src || !out || (unsigned)p >= PT_PROFILE_COUNT) {
        if (err && err_len) snprintf(err, err_len, "profile: invalid argument");
        return PRISM_ERR_INVALID_ARGUMENT;
    }
    if (p == PT_PROFILE_ROT90 && src->rows != src->cols) {
        if (err && err_len)
            snprintf(err, err_len, "profile rot90 needs square images, got %dx%d", src->rows, src->cols);
        return PRISM_ERR_SHAPE;
    }
    prism_status st = pt_images_subset(src, src->n, out, err, err_len);
    if (st) return st;
    const int64_t px = (int64_t)src->rows * src->cols;
    if (p == PT_PROFILE_ORIGINAL) return PRISM_OK;
    if (p == PT_PROFILE_INVERT) {
        for (int64_t i = 0; i < src->n * px; i++) out->pix[i] = (uint8_t)(255 - src->pix[i]);
        return PRISM_OK;
    }
    int64_t *map = malloc((size_t)px * sizeof *map), *perm = NULL;
    if (p == PT_PROFILE_PERMUTE) perm = malloc((size_t)px * sizeof *perm);
    if (!map || (p == PT_PROFILE_PERMUTE && !perm)) {
        free(map);
        free(perm);
        pt_images_free(out);
        if (err && err_len) snprintf(err, err_len, "profile: out of host memory");
        return PRISM_ERR_OUT_OF_HOST_MEMORY;
    }
    if (perm) pt_permutation(PT_PERMUTE_SEED, px, perm);
    for (int r = 0; r < src->rows; r++)
        for (int c = 0; c < src->cols; c++)
            map[(int64_t)r * src->cols + c] = source_of(p, src->rows, src->cols, r, c, perm);
    for (int64_t i = 0; i < src->n; i++) {
        const uint8_t *s = src->pix + i * px;
        uint8_t *d = out->pix + i * px;
        for (int64_t j = 0; j < px; j++) d[j] = map[j] < 0 ? 0 : s[map[j]];
    }
    free(map);
    free(perm);
    return PRISM_OK;
}
