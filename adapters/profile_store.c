/* X-PEFT profiles on the host: the top-k bit packing of hard masks and the
 * profile store (include/prism/xpeft.h has the file layout).
 *
 * Why fixed-size records: a server holding thousands of users' profiles
 * must fetch one by index without parsing the others, so record i lives at
 * 64 + i · record_bytes and is read with one pread. Each record carries its
 * own checksum, so damage to one profile is reported when that profile is
 * read and never makes another profile unreadable; the header has its own
 * checksum and fixes the file length, so truncation is caught at open. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "prism/io.h"
#include "prism/xpeft.h"
#include "io/io_util.h"

#define MAGIC "PRISMXPF"
#define VERSION 1u
#define MAX_LN 65536

/* ------------------------------------------------------------------ bits */

prism_status prism_xpeft_topk_bits(const float *logits, int n, int k, uint8_t *bits) {
    if (!logits || !bits || n < 1 || k < 1 || k > n) return PRISM_ERR_INVALID_ARGUMENT;
    for (int i = 0; i < n; i++)
        if (!isfinite(logits[i])) return PRISM_ERR_NOT_FINITE;
    memset(bits, 0, (size_t)(n + 7) / 8);
    /* the shader's rule: rank_i = #{j: s_j > s_i or (s_j == s_i and j < i)} */
    for (int i = 0; i < n; i++) {
        int rank = 0;
        for (int j = 0; j < n && rank < k; j++) rank += logits[j] > logits[i] || (logits[j] == logits[i] && j < i);
        if (rank < k) bits[i / 8] |= (uint8_t)(1u << (i % 8));
    }
    return PRISM_OK;
}

int64_t prism_xpeft_profile_bytes(prism_mask_kind kind, int n_layers, int n_bank) {
    if (n_layers < 1 || n_bank < 1) return 0;
    return kind == PRISM_MASK_HARD ? (int64_t)n_layers * 2 * ((n_bank + 7) / 8) : (int64_t)n_layers * 2 * n_bank * 4;
}

/* ------------------------------------------------------------------ encoding */

static uint64_t fnv64(const uint8_t *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static uint32_t fnv32(const uint8_t *p, size_t n) {
    uint32_t h = 0x811c9dc5u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x01000193u;
    return h;
}

/* Sizes valid for a store; fills record_bytes. */
static prism_status check_info(prism_profile_store_info *in, const char *label, char *err, size_t len) {
    if (in->kind != PRISM_MASK_SOFT && in->kind != PRISM_MASK_HARD)
        return prism_errf(err, len, PRISM_ERR_FORMAT, "%s: mask kind %d", label, (int)in->kind);
    if (in->n_layers < 1 || in->n_layers > MAX_LN || in->n_bank < 1 || in->n_bank > MAX_LN)
        return prism_errf(err, len, PRISM_ERR_FORMAT, "%s: n_layers %d / n_bank %d outside 1..%d", label, in->n_layers,
                          in->n_bank, MAX_LN);
    if (in->kind == PRISM_MASK_HARD ? (in->k < 1 || in->k > in->n_bank) : in->k != 0)
        return prism_errf(err, len, PRISM_ERR_FORMAT, "%s: k = %d (hard: 1..N = %d; soft: 0)", label, in->k,
                          in->n_bank);
    in->record_bytes = prism_xpeft_profile_bytes(in->kind, in->n_layers, in->n_bank) + 4;
    return PRISM_OK;
}

/* ------------------------------------------------------------------ writer */

struct prism_profile_writer {
    prism_profile_store_info info;
    uint8_t *rec;        /* count records */
    int64_t cap;
};

prism_status prism_profile_writer_create(const prism_profile_store_info *info, prism_profile_writer **out, char *err,
                                         size_t err_len) {
    if (out) *out = NULL;
    if (!info || !out) return prism_errf(err, err_len, PRISM_ERR_INVALID_ARGUMENT, "profile_writer: NULL argument");
    prism_profile_store_info in = *info;
    in.count = 0;
    prism_status st = check_info(&in, "profile_writer", err, err_len);
    if (st) return st == PRISM_ERR_FORMAT ? PRISM_ERR_INVALID_ARGUMENT : st;
    prism_profile_writer *w = calloc(1, sizeof *w);
    if (!w) return prism_errf(err, err_len, PRISM_ERR_OUT_OF_HOST_MEMORY, "profile_writer: out of host memory");
    w->info = in;
    *out = w;
    return PRISM_OK;
}

void prism_profile_writer_destroy(prism_profile_writer *w) {
    if (!w) return;
    free(w->rec);
    free(w);
}

int64_t prism_profile_writer_count(const prism_profile_writer *w) { return w ? w->info.count : 0; }

/* The next record's memory (payload then checksum), grown as needed. */
static uint8_t *next_record(prism_profile_writer *w, char *err, size_t len) {
    if (w->info.count == PRISM_PROFILE_STORE_MAX_COUNT) {
        prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "profile_writer: store is full");
        return NULL;
    }
    if (w->info.count == w->cap) {
        int64_t cap = w->cap ? w->cap * 2 : 64;
        uint8_t *p = realloc(w->rec, (size_t)cap * (size_t)w->info.record_bytes);
        if (!p) {
            prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY, "profile_writer: out of host memory");
            return NULL;
        }
        w->rec = p;
        w->cap = cap;
    }
    uint8_t *r = w->rec + (size_t)w->info.count * (size_t)w->info.record_bytes;
    memset(r, 0, (size_t)w->info.record_bytes);
    return r;
}

static void seal(prism_profile_writer *w, uint8_t *r) {
    size_t pay = (size_t)w->info.record_bytes - 4;
    io_put_le32(r + pay, fnv32(r, pay));
    w->info.count++;
}

prism_status prism_profile_writer_add(prism_profile_writer *w, const float *logits, char *err, size_t err_len) {
    if (!w || !logits) return prism_errf(err, err_len, PRISM_ERR_INVALID_ARGUMENT, "profile_writer_add: NULL argument");
    int L = w->info.n_layers, N = w->info.n_bank;
    for (int64_t i = 0; i < (int64_t)L * 2 * N; i++)
        if (!isfinite(logits[i]))
            return prism_errf(err, err_len, PRISM_ERR_NOT_FINITE, "profile_writer_add: logit %lld is not finite",
                              (long long)i);
    uint8_t *r = next_record(w, err, err_len);
    if (!r)
        return w->info.count == PRISM_PROFILE_STORE_MAX_COUNT ? PRISM_ERR_INVALID_ARGUMENT
                                                               : PRISM_ERR_OUT_OF_HOST_MEMORY;
    size_t mb = (size_t)(N + 7) / 8;
    for (int m = 0; m < 2 * L; m++) {
        if (w->info.kind == PRISM_MASK_HARD)
            prism_xpeft_topk_bits(logits + (size_t)m * N, N, w->info.k, r + (size_t)m * mb);
        else
            for (int i = 0; i < N; i++) {
                uint32_t b;
                memcpy(&b, &logits[(size_t)m * N + i], 4);
                io_put_le32(r + ((size_t)m * N + i) * 4, b);
            }
    }
    seal(w, r);
    return PRISM_OK;
}

/* A packed mask holds exactly k bits and none at or beyond N. */
static bool mask_ok(const uint8_t *m, int N, int k) {
    int c = 0;
    for (int i = 0; i < (N + 7) / 8 * 8; i++)
        if (m[i / 8] >> (i % 8) & 1) {
            if (i >= N) return false;
            c++;
        }
    return c == k;
}

prism_status prism_profile_writer_add_bits(prism_profile_writer *w, const uint8_t *bits, char *err, size_t err_len) {
    if (!w || !bits) return prism_errf(err, err_len, PRISM_ERR_INVALID_ARGUMENT,
                                       "profile_writer_add_bits: NULL argument");
    if (w->info.kind != PRISM_MASK_HARD)
        return prism_errf(err, err_len, PRISM_ERR_INVALID_ARGUMENT,
                          "profile_writer_add_bits: the store holds soft profiles");
    size_t mb = (size_t)(w->info.n_bank + 7) / 8;
    for (int m = 0; m < 2 * w->info.n_layers; m++)
        if (!mask_ok(bits + (size_t)m * mb, w->info.n_bank, w->info.k))
            return prism_errf(err, err_len, PRISM_ERR_INVALID_ARGUMENT,
                              "profile_writer_add_bits: mask %d does not hold exactly k = %d of N = %d bits", m,
                              w->info.k, w->info.n_bank);
    uint8_t *r = next_record(w, err, err_len);
    if (!r) return PRISM_ERR_OUT_OF_HOST_MEMORY;
    memcpy(r, bits, mb * 2 * (size_t)w->info.n_layers);
    seal(w, r);
    return PRISM_OK;
}

static void encode_header(const prism_profile_store_info *in, uint8_t h[PRISM_PROFILE_STORE_HEADER]) {
    memset(h, 0, PRISM_PROFILE_STORE_HEADER);
    memcpy(h, MAGIC, 8);
    io_put_le32(h + 8, VERSION);
    io_put_le32(h + 12, in->kind == PRISM_MASK_HARD ? 1u : 0u);
    io_put_le32(h + 16, (uint32_t)in->n_layers);
    io_put_le32(h + 20, (uint32_t)in->n_bank);
    io_put_le32(h + 24, (uint32_t)in->k);
    io_put_le64(h + 32, (uint64_t)in->count);
    io_put_le64(h + 40, (uint64_t)in->record_bytes);
    io_put_le64(h + 48, in->bank_id);
    io_put_le64(h + 56, fnv64(h, 56));
}

prism_status prism_profile_writer_write(const prism_profile_writer *w, const char *path, char *err, size_t err_len) {
    if (!w || !path || !*path) return prism_errf(err, err_len, PRISM_ERR_INVALID_ARGUMENT,
                                                 "profile_writer_write: NULL argument");
    size_t body = (size_t)w->info.count * (size_t)w->info.record_bytes;
    uint8_t *buf = malloc(PRISM_PROFILE_STORE_HEADER + body);
    if (!buf) return prism_errf(err, err_len, PRISM_ERR_OUT_OF_HOST_MEMORY, "profile_writer_write: out of host memory");
    encode_header(&w->info, buf);
    if (body) memcpy(buf + PRISM_PROFILE_STORE_HEADER, w->rec, body);
    prism_status st = prism_write_atomic(path, buf, PRISM_PROFILE_STORE_HEADER + body, err, err_len);
    free(buf);
    return st;
}

/* ------------------------------------------------------------------ store */

struct prism_profile_store {
    int fd;
    prism_profile_store_info info;
    uint8_t *rec;          /* one record */
    uint64_t bytes_read;
    char path[512];
};

void prism_profile_store_close(prism_profile_store *st) {
    if (!st) return;
    if (st->fd >= 0) close(st->fd);
    free(st->rec);
    free(st);
}

/* Reads exactly n bytes at off; PRISM_ERR_FORMAT when the file is shorter. */
static prism_status read_at(prism_profile_store *st, void *dst, size_t n, uint64_t off, char *err, size_t len) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(st->fd, (uint8_t *)dst + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return prism_errf(err, len, PRISM_ERR_IO, "'%s': read failed: %s", st->path, strerror(errno));
        if (r == 0) return prism_errf(err, len, PRISM_ERR_FORMAT, "'%s': truncated (%zu of %zu bytes at %llu)",
                                      st->path, got, n, (unsigned long long)off);
        got += (size_t)r;
    }
    st->bytes_read += n;
    return PRISM_OK;
}

prism_status prism_profile_store_open(const char *path, prism_profile_store **out, char *err, size_t err_len) {
    if (out) *out = NULL;
    if (!path || !*path || !out) return prism_errf(err, err_len, PRISM_ERR_INVALID_ARGUMENT,
                                                   "profile_store_open: NULL argument");
    prism_profile_store *st = calloc(1, sizeof *st);
    if (!st) return prism_errf(err, err_len, PRISM_ERR_OUT_OF_HOST_MEMORY, "profile_store_open: out of host memory");
    snprintf(st->path, sizeof st->path, "%s", path);
    prism_status s = PRISM_OK;
    uint8_t h[PRISM_PROFILE_STORE_HEADER];
    uint64_t size;
    if ((s = prism_open_regular(path, UINT64_MAX, &st->fd, &size, err, err_len))) goto done;
    if ((s = read_at(st, h, sizeof h, 0, err, err_len))) goto done;
    if (memcmp(h, MAGIC, 8) != 0) {
        s = prism_errf(err, err_len, PRISM_ERR_FORMAT, "'%s': not a prism profile store (magic)", path);
        goto done;
    }
    if (io_le64(h + 56) != fnv64(h, 56)) {
        s = prism_errf(err, err_len, PRISM_ERR_FORMAT, "'%s': header checksum mismatch", path);
        goto done;
    }
    uint32_t ver = io_le32(h + 8), kind = io_le32(h + 12);
    if (ver != VERSION || kind > 1 || io_le32(h + 28) != 0) {
        s = prism_errf(err, err_len, PRISM_ERR_FORMAT, "'%s': version %u / kind %u / reserved field not supported",
                       path, ver, kind);
        goto done;
    }
    prism_profile_store_info *in = &st->info;
    uint32_t L = io_le32(h + 16), N = io_le32(h + 20), k = io_le32(h + 24);
    in->kind = kind ? PRISM_MASK_HARD : PRISM_MASK_SOFT;
    in->n_layers = L > MAX_LN ? 0 : (int)L;
    in->n_bank = N > MAX_LN ? 0 : (int)N;
    in->k = k > MAX_LN ? -1 : (int)k;
    in->bank_id = io_le64(h + 48);
    if ((s = check_info(in, path, err, err_len))) goto done;
    uint64_t count = io_le64(h + 32), rb = io_le64(h + 40);
    if (rb != (uint64_t)in->record_bytes || count > (uint64_t)PRISM_PROFILE_STORE_MAX_COUNT ||
        size < PRISM_PROFILE_STORE_HEADER || (size - PRISM_PROFILE_STORE_HEADER) / rb != count ||
        (size - PRISM_PROFILE_STORE_HEADER) % rb != 0) {
        s = prism_errf(err, err_len, PRISM_ERR_FORMAT,
                       "'%s': %llu records of %llu bytes do not match the file's %llu bytes "
                       "(expected record size %lld)", path, (unsigned long long)count, (unsigned long long)rb,
                       (unsigned long long)size, (long long)in->record_bytes);
        goto done;
    }
    in->count = (int64_t)count;
    if (!(st->rec = malloc((size_t)rb)))
        s = prism_errf(err, err_len, PRISM_ERR_OUT_OF_HOST_MEMORY, "profile_store_open: out of host memory");
done:
    if (s) {
        prism_profile_store_close(st);
        return s;
    }
    *out = st;
    return PRISM_OK;
}

const prism_profile_store_info *prism_profile_store_get_info(const prism_profile_store *st) {
    return st ? &st->info : NULL;
}

uint64_t prism_profile_store_bytes_read(const prism_profile_store *st) { return st ? st->bytes_read : 0; }

/* Reads and checks record `index` into st->rec. */
static prism_status load_record(prism_profile_store *st, int64_t index, char *err, size_t len) {
    if (index < 0 || index >= st->info.count)
        return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "'%s': profile %lld outside 0..%lld", st->path,
                          (long long)index, (long long)st->info.count - 1);
    size_t rb = (size_t)st->info.record_bytes, pay = rb - 4;
    prism_status s = read_at(st, st->rec, rb, PRISM_PROFILE_STORE_HEADER + (uint64_t)index * rb, err, len);
    if (s) return s;
    if (io_le32(st->rec + pay) != fnv32(st->rec, pay))
        return prism_errf(err, len, PRISM_ERR_FORMAT, "'%s': profile %lld: record checksum mismatch", st->path,
                          (long long)index);
    int N = st->info.n_bank, M = 2 * st->info.n_layers;
    for (int m = 0; m < M; m++) {
        if (st->info.kind == PRISM_MASK_HARD) {
            if (!mask_ok(st->rec + (size_t)m * ((N + 7) / 8), N, st->info.k))
                return prism_errf(err, len, PRISM_ERR_FORMAT,
                                  "'%s': profile %lld: mask %d does not hold exactly k = %d bits", st->path,
                                  (long long)index, m, st->info.k);
        } else {
            for (int i = 0; i < N; i++) {
                uint32_t b = io_le32(st->rec + ((size_t)m * N + i) * 4);
                float f;
                memcpy(&f, &b, 4);
                if (!isfinite(f))
                    return prism_errf(err, len, PRISM_ERR_FORMAT,
                                      "'%s': profile %lld: logit %d of mask %d is not finite", st->path,
                                      (long long)index, i, m);
            }
        }
    }
    return PRISM_OK;
}

prism_status prism_profile_store_read(prism_profile_store *st, int64_t index, float *logits, char *err,
                                      size_t err_len) {
    if (!st || !logits) return prism_errf(err, err_len, PRISM_ERR_INVALID_ARGUMENT,
                                          "profile_store_read: NULL argument");
    prism_status s = load_record(st, index, err, err_len);
    if (s) return s;
    int N = st->info.n_bank, M = 2 * st->info.n_layers;
    for (int m = 0; m < M; m++)
        for (int i = 0; i < N; i++) {
            float *o = &logits[(size_t)m * N + i];
            if (st->info.kind == PRISM_MASK_HARD) {
                *o = (float)(st->rec[(size_t)m * ((N + 7) / 8) + i / 8] >> (i % 8) & 1);
            } else {
                uint32_t b = io_le32(st->rec + ((size_t)m * N + i) * 4);
                memcpy(o, &b, 4);
            }
        }
    return PRISM_OK;
}

prism_status prism_profile_store_read_bits(prism_profile_store *st, int64_t index, uint8_t *bits, char *err,
                                           size_t err_len) {
    if (!st || !bits) return prism_errf(err, err_len, PRISM_ERR_INVALID_ARGUMENT,
                                        "profile_store_read_bits: NULL argument");
    if (st->info.kind != PRISM_MASK_HARD)
        return prism_errf(err, err_len, PRISM_ERR_INVALID_ARGUMENT, "profile_store_read_bits: '%s' holds soft profiles",
                          st->path);
    prism_status s = load_record(st, index, err, err_len);
    if (!s) memcpy(bits, st->rec, (size_t)st->info.record_bytes - 4);
    return s;
}
