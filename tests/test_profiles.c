/* Profiles: the X-PEFT profile store (10,000 hard profiles, one read costs
 * one record, hostile and truncated files, soft stores, atomic replacement)
 * and the multi-profile batched forward (every check case: multi_matvec,
 * multi_reflect, forward_multi_<method> equal to per-profile forwards on the
 * device and the reference), a store-to-set end-to-end path, replay with new
 * ids, invalid ids, and exact statuses for bad input. */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "adapter_fixture.h"
#include "prism/profiles.h"
#include "prism/xpeft.h"

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) { t_env_destroy(&env); }
TestSuite(profiles, .init = setup, .fini = teardown, .timeout = 300);

Test(profiles, multi_op_cases) {
    t_run_cases(&env, "multi_matvec");
    t_run_cases(&env, "multi_reflect");
}
/* The segmented (GPU) path on any device: 8 and 64 invocations per item. */
Test(profiles, multi_op_cases_segmented) {
    const char *S[2] = {"8", "64"};
    for (int i = 0; i < 2; i++) {
        setenv("PRISM_MULTI_SEGMENT", S[i], 1);
        t_run_cases(&env, "multi_matvec");
        t_run_cases(&env, "multi_reflect");
        t_run_cases(&env, "forward_multi_xpeft");
    }
    unsetenv("PRISM_MULTI_SEGMENT");
}
Test(profiles, forward_multi_cases) { t_run_cases(&env, "forward_multi_"); }

/* M and y at every offset mod 4: vec4 path when aligned, scalar otherwise;
 * both equal a host float64 product. */
Test(profiles, matvec_views_at_any_offset) {
    enum { P = 3, C = 5, R = 8, T = 6 };
    float hm[P * C * R + 4], hx[T * C], ids[T] = {2, 0, 1, 1, 2, 0};
    pc_random(5, hm, P * C * R + 4, -1, 1);
    pc_random(6, hx, T * C, -1, 1);
    int64_t nm = P * C * R + 4, ny = T * R + 4, ms[3] = {P, C, R}, xs[2] = {T, C}, ys[2] = {T, R}, t1 = T;
    prism_tensor *bm, *by, *x, *id;
    cr_assert_eq(prism_tensor_create(env.dev, 1, &nm, &bm), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(bm, hm, nm), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &ny, &by), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, xs, &x), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(x, hx, T * C), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &t1, &id), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(id, ids, T), PRISM_OK);
    for (int off = 0; off < 4; off++) {
        prism_tensor *M, *y;
        prism_stream *s;
        cr_assert_eq(prism_tensor_view(bm, off, 3, ms, &M), PRISM_OK);
        cr_assert_eq(prism_tensor_view(by, 3 - off, 2, ys, &y), PRISM_OK);
        cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
        cr_assert_eq(prism_multi_matvec(s, M, x, id, NULL, 0, y), PRISM_OK);
        run(s);
        float *o = dl(y);
        for (int t = 0; t < T; t++)
            for (int i = 0; i < R; i++) {
                double want = 0;
                for (int j = 0; j < C; j++) want += (double)hx[t * C + j] * hm[off + ((int)ids[t] * C + j) * R + i];
                cr_expect(fabs(o[t * R + i] - want) <= 1e-5, "offset %d [%d, %d]: %g vs %g", off, t, i, o[t * R + i], want);
            }
        free(o);
        prism_stream_destroy(s);
        prism_tensor_destroy(M);
        prism_tensor_destroy(y);
    }
    prism_tensor *all[] = {bm, by, x, id};
    for (int i = 0; i < 4; i++) prism_tensor_destroy(all[i]);
}

/* ------------------------------------------------------------------ store */

static char *tmpdir(void) {
    char *d = strdup("/tmp/prism_profiles_XXXXXX");
    cr_assert_not_null(mkdtemp(d));
    return d;
}

static void rmtree(const char *d) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    cr_expect_eq(system(cmd), 0);
}

enum { NP = 10000, NL = 3, NB = 64, K = 16 };

static float *random_profiles(int count, uint64_t seed) {
    float *lg = malloc(sizeof(float) * (size_t)count * NL * 2 * NB);
    cr_assert_not_null(lg);
    pc_random(seed, lg, (int64_t)count * NL * 2 * NB, -3, 3);
    return lg;
}

static uint8_t *file_bytes(const char *p, size_t *n) {
    FILE *f = fopen(p, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n + 1);
    cr_assert_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static void put_file(const char *p, const uint8_t *b, size_t n) {
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

static uint32_t fnv32(const uint8_t *p, size_t n) {
    uint32_t h = 0x811c9dc5u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x01000193u;
    return h;
}
static uint64_t fnv64(const uint8_t *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static char *write_store(const char *dir, const float *lg, int count) {
    prism_profile_store_info in = {PRISM_MASK_HARD, NL, NB, K, 0xB0A7, 0, 0};
    prism_profile_writer *w;
    char err[256];
    cr_assert_eq(prism_profile_writer_create(&in, &w, err, sizeof err), PRISM_OK, "%s", err);
    for (int i = 0; i < count; i++)
        cr_assert_eq(prism_profile_writer_add(w, lg + (size_t)i * NL * 2 * NB, err, sizeof err), PRISM_OK, "%s", err);
    char *p = malloc(strlen(dir) + 32);
    sprintf(p, "%s/users.xpf", dir);
    cr_assert_eq(prism_profile_writer_write(w, p, err, sizeof err), PRISM_OK, "%s", err);
    prism_profile_writer_destroy(w);
    return p;
}

Test(profiles, store_10000_hard_profiles) {
    char *dir = tmpdir(), err[256];
    float *lg = random_profiles(NP, 7);
    char *p = write_store(dir, lg, NP);
    prism_profile_store *st;
    cr_assert_eq(prism_profile_store_open(p, &st, err, sizeof err), PRISM_OK, "%s", err);
    const prism_profile_store_info *in = prism_profile_store_get_info(st);
    size_t rb = (size_t)NL * 2 * (NB / 8) + 4;
    cr_expect_eq(in->count, NP);
    cr_expect_eq(in->record_bytes, (int64_t)rb, "2 N bits per layer + checksum");
    cr_expect_eq(in->k, K);
    cr_expect_eq(in->bank_id, 0xB0A7u);
    size_t n;
    free(file_bytes(p, &n));
    cr_expect_eq(n, 64 + NP * rb, "the file is header + fixed-size records");
    cr_expect_eq(prism_profile_store_bytes_read(st), 64u, "open reads the header only");
    float got[NL * 2 * NB];
    uint8_t bits[NL * 2 * NB / 8], want[NB / 8];
    int64_t idx[] = {0, 1, 4999, 9998, NP - 1, 1234};
    for (size_t j = 0; j < sizeof idx / sizeof idx[0]; j++) {
        uint64_t before = prism_profile_store_bytes_read(st);
        cr_assert_eq(prism_profile_store_read(st, idx[j], got, err, sizeof err), PRISM_OK, "%s", err);
        cr_expect_eq(prism_profile_store_bytes_read(st) - before, rb, "one profile costs one record");
        cr_assert_eq(prism_profile_store_read_bits(st, idx[j], bits, err, sizeof err), PRISM_OK);
        for (int m = 0; m < NL * 2; m++) {
            const float *src = lg + ((size_t)idx[j] * NL * 2 + (size_t)m) * NB;
            cr_assert_eq(prism_xpeft_topk_bits(src, NB, K, want), PRISM_OK);
            cr_expect_arr_eq(bits + m * (NB / 8), want, NB / 8, "profile %lld mask %d", (long long)idx[j], m);
            int ones = 0;
            for (int i = 0; i < NB; i++) {
                ones += got[m * NB + i] == 1.0f;
                cr_expect_eq(got[m * NB + i], (float)(want[i / 8] >> (i % 8) & 1));
            }
            cr_expect_eq(ones, K);
        }
    }
    cr_expect_eq(prism_profile_store_read(st, NP, got, err, sizeof err), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_profile_store_read(st, -1, got, err, sizeof err), PRISM_ERR_INVALID_ARGUMENT);
    prism_profile_store_close(st);
    /* rewriting replaces the file atomically and leaves no temporary file */
    float *lg2 = random_profiles(3, 8);
    free(write_store(dir, lg2, 3));
    cr_assert_eq(prism_profile_store_open(p, &st, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(prism_profile_store_get_info(st)->count, 3);
    prism_profile_store_close(st);
    DIR *d = opendir(dir);
    int files = 0;
    for (struct dirent *e; (e = readdir(d));) files += e->d_name[0] != '.';
    closedir(d);
    cr_expect_eq(files, 1);
    rmtree(dir);
    free(lg);
    free(lg2);
    free(p);
    free(dir);
}

/* Every damaged or hostile file is PRISM_ERR_FORMAT (at open, or for a bad
 * record when that record is read, others still readable). */
Test(profiles, hostile_store_files) {
    char *dir = tmpdir(), err[256], bad[600];
    float *lg = random_profiles(5, 9);
    char *p = write_store(dir, lg, 5);
    size_t n;
    uint8_t *orig = file_bytes(p, &n), *b = malloc(n + 8);
    size_t rb = (size_t)NL * 2 * (NB / 8) + 4;
    snprintf(bad, sizeof bad, "%s/bad.xpf", dir);
    prism_profile_store *st = NULL;
    float got[NL * 2 * NB];
    struct { const char *what; size_t len; int off; uint8_t x; int fix_header; } cases[] = {
        {"truncated by one byte", n - 1, -1, 0, 0}, {"one byte too many", n + 1, -1, 0, 0},
        {"header only", 64, -1, 0, 0},             {"empty", 0, -1, 0, 0},
        {"half a header", 30, -1, 0, 0},            {"magic", n, 0, 'X', 0},
        {"header byte (checksum)", n, 17, 1, 0},   {"version 2", n, 8, 2, 1},
        {"k > N", n, 24, 200, 1},                  {"count 2^40", n, 37, 1, 1},
        {"kind 7", n, 12, 7, 1},                   {"record size", n, 40, 1, 1},
        {"reserved field", n, 28, 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(b, orig, n);
        b[n] = 0;
        if (cases[i].off >= 0) b[cases[i].off] = cases[i].off == 24 || cases[i].off == 12 || cases[i].off == 8
                                                     ? cases[i].x
                                                     : (uint8_t)(b[cases[i].off] ^ cases[i].x);
        if (cases[i].fix_header) { /* a consistent checksum: the field itself must be refused */
            uint64_t h = fnv64(b, 56);
            for (int k = 0; k < 8; k++) b[56 + k] = (uint8_t)(h >> (8 * k));
        }
        put_file(bad, b, cases[i].len);
        cr_expect_eq(prism_profile_store_open(bad, &st, err, sizeof err), PRISM_ERR_FORMAT, "%s", cases[i].what);
        cr_expect_null(st);
    }
    /* a damaged record fails alone */
    memcpy(b, orig, n);
    b[64 + 2 * rb + 3] ^= 0x10;
    put_file(bad, b, n);
    cr_assert_eq(prism_profile_store_open(bad, &st, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(prism_profile_store_read(st, 2, got, err, sizeof err), PRISM_ERR_FORMAT);
    cr_expect(strstr(err, "checksum") != NULL, "%s", err);
    cr_expect_eq(prism_profile_store_read(st, 1, got, err, sizeof err), PRISM_OK);
    cr_expect_eq(prism_profile_store_read(st, 3, got, err, sizeof err), PRISM_OK);
    prism_profile_store_close(st);
    /* a record with a valid checksum but k + 1 bits set */
    memcpy(b, orig, n);
    uint8_t *rec = b + 64 + rb;
    for (int i = 0; i < NB; i++)
        if (!(rec[i / 8] >> (i % 8) & 1)) {
            rec[i / 8] |= (uint8_t)(1u << (i % 8));
            break;
        }
    uint32_t h = fnv32(rec, rb - 4);
    for (int k = 0; k < 4; k++) rec[rb - 4 + (size_t)k] = (uint8_t)(h >> (8 * k));
    put_file(bad, b, n);
    cr_assert_eq(prism_profile_store_open(bad, &st, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(prism_profile_store_read(st, 1, got, err, sizeof err), PRISM_ERR_FORMAT);
    cr_expect(strstr(err, "exactly k") != NULL, "%s", err);
    prism_profile_store_close(st);
    cr_expect_eq(prism_profile_store_open("/nonexistent/x.xpf", &st, err, sizeof err), PRISM_ERR_IO);
    cr_expect_eq(prism_profile_store_open(dir, &st, err, sizeof err), PRISM_ERR_IO, "a directory");
    /* writer arguments */
    prism_profile_store_info in = {PRISM_MASK_HARD, NL, NB, NB + 1, 0, 0, 0};
    prism_profile_writer *w = NULL;
    cr_expect_eq(prism_profile_writer_create(&in, &w, err, sizeof err), PRISM_ERR_INVALID_ARGUMENT);
    in.k = K;
    cr_assert_eq(prism_profile_writer_create(&in, &w, err, sizeof err), PRISM_OK);
    lg[5] = NAN;
    cr_expect_eq(prism_profile_writer_add(w, lg, err, sizeof err), PRISM_ERR_NOT_FINITE);
    uint8_t zero[NL * 2 * NB / 8] = {0};
    cr_expect_eq(prism_profile_writer_add_bits(w, zero, err, sizeof err), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_profile_writer_count(w), 0);
    cr_expect_eq(prism_profile_writer_write(w, "/nonexistent/dir/x.xpf", err, sizeof err), PRISM_ERR_IO);
    prism_profile_writer_destroy(w);
    rmtree(dir);
    free(orig);
    free(b);
    free(lg);
    free(p);
    free(dir);
}

Test(profiles, soft_store_round_trip) {
    char *dir = tmpdir(), err[256], p[600];
    snprintf(p, sizeof p, "%s/soft.xpf", dir);
    prism_profile_store_info in = {PRISM_MASK_SOFT, 2, 7, 0, 1, 0, 0};
    prism_profile_writer *w;
    cr_assert_eq(prism_profile_writer_create(&in, &w, err, sizeof err), PRISM_OK, "%s", err);
    float lg[3][2 * 2 * 7], got[2 * 2 * 7];
    for (int i = 0; i < 3; i++) {
        pc_random(20 + (uint64_t)i, lg[i], 28, -5, 5);
        cr_assert_eq(prism_profile_writer_add(w, lg[i], err, sizeof err), PRISM_OK);
    }
    cr_assert_eq(prism_profile_writer_write(w, p, err, sizeof err), PRISM_OK, "%s", err);
    prism_profile_writer_destroy(w);
    prism_profile_store *st;
    cr_assert_eq(prism_profile_store_open(p, &st, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(prism_profile_store_get_info(st)->record_bytes, 2 * 2 * 7 * 4 + 4);
    for (int i = 2; i >= 0; i--) {
        cr_assert_eq(prism_profile_store_read(st, i, got, err, sizeof err), PRISM_OK, "%s", err);
        cr_expect_arr_eq(got, lg[i], sizeof got);
    }
    uint8_t bits[8];
    cr_expect_eq(prism_profile_store_read_bits(st, 0, bits, err, sizeof err), PRISM_ERR_INVALID_ARGUMENT);
    prism_profile_store_close(st);
    rmtree(dir);
    free(dir);
}

/* ------------------------------------------------------------------ store -> set -> forward */

/* Profiles read from a store serve a mixed batch through one bank adapter:
 * each row equals that profile set on the adapter itself. Replaying the
 * recorded forward with new ids uploaded gives the new assignment; invalid
 * ids give NaN rows. */
Test(profiles, store_to_batched_forward) {
    enum { P = 20, T = 37, M = 16, N = 12, NBANK = 8 };
    prism_context *ctxs[2] = {env.dev, env.ref};
    char *dir = tmpdir(), err[256], p[600];
    snprintf(p, sizeof p, "%s/s.xpf", dir);
    prism_profile_store_info in = {PRISM_MASK_HARD, 1, NBANK, 2, 5, 0, 0};
    prism_profile_writer *w;
    cr_assert_eq(prism_profile_writer_create(&in, &w, err, sizeof err), PRISM_OK);
    float lg[P * 2 * NBANK];
    pc_random(3, lg, P * 2 * NBANK, -1, 1);
    for (int i = 0; i < P; i++) cr_assert_eq(prism_profile_writer_add(w, lg + i * 2 * NBANK, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_profile_writer_write(w, p, err, sizeof err), PRISM_OK, "%s", err);
    prism_profile_writer_destroy(w);
    prism_profile_store *st;
    cr_assert_eq(prism_profile_store_open(p, &st, err, sizeof err), PRISM_OK);
    float stored[P * 2 * NBANK];
    for (int i = 0; i < P; i++) cr_assert_eq(prism_profile_store_read(st, i, stored + i * 2 * NBANK, err, sizeof err), PRISM_OK);
    prism_profile_store_close(st);
    for (int b = 0; b < 2; b++) {
        layer L;
        layer_make(&L, ctxs[b], M, N, T, true, 71);
        prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_XPEFT);
        c.n_bank = NBANK, c.k = 2, c.r = 4;
        prism_adapter *ad;
        cr_assert_eq(prism_adapter_create(L.ctx, &c, L.W0, L.b, &ad), PRISM_OK);
        prism_profile_set *set;
        cr_assert_eq(prism_profile_set_create_xpeft(ad, stored, P, &set), PRISM_OK, "%s", prism_error_message(L.ctx));
        cr_expect_eq(prism_profile_set_count(set), P);
        cr_expect_eq(prism_profile_set_bytes(set), (int64_t)P * 4 * (M + N) * 4);
        float ids[T], *ysep = malloc(sizeof(float) * T * M);
        int64_t t1 = T;
        prism_tensor *tid = NULL;
        cr_assert_eq(prism_tensor_create(L.ctx, 1, &t1, &tid), PRISM_OK);
        prism_stream *s;
        cr_assert_eq(prism_stream_create(L.ctx, &s), PRISM_OK);
        cr_assert_eq(prism_adapter_forward_multi(s, set, L.X, tid, L.Y), PRISM_OK, "%s", prism_error_message(L.ctx));
        for (int round = 0; round < 2; round++) {
            for (int t = 0; t < T; t++) ids[t] = (float)((t * 7 + round * 3) % P);
            cr_assert_eq(prism_tensor_upload(tid, ids, T), PRISM_OK);
            run(s); /* replay of the same recording */
            float *y = dl(L.Y);
            for (int q = 0; q < P; q++) {
                cr_assert_eq(prism_xpeft_set_logits(ad, stored + q * 2 * NBANK, stored + q * 2 * NBANK + NBANK), PRISM_OK);
                prism_stream *s1;
                cr_assert_eq(prism_stream_create(L.ctx, &s1), PRISM_OK);
                cr_assert_eq(prism_adapter_forward(s1, ad, L.X, L.Y), PRISM_OK);
                run(s1);
                prism_stream_destroy(s1);
                float *yq = dl(L.Y);
                for (int t = 0; t < T; t++)
                    if ((int)ids[t] == q) memcpy(ysep + t * M, yq + t * M, sizeof(float) * M);
                free(yq);
            }
            for (int i = 0; i < T * M; i++)
                cr_expect(fabsf(y[i] - ysep[i]) <= 1e-5f * (1 + fabsf(ysep[i])), "backend %d round %d [%d]: %g vs %g",
                          b, round, i, y[i], ysep[i]);
            free(y);
        }
        ids[0] = -1, ids[5] = (float)P, ids[9] = NAN;
        cr_assert_eq(prism_tensor_upload(tid, ids, T), PRISM_OK);
        run(s);
        float *y = dl(L.Y);
        for (int j = 0; j < M; j++) cr_expect(isnan(y[j]) && isnan(y[5 * M + j]) && isnan(y[9 * M + j]) && !isnan(y[M + j]));
        free(y);
        free(ysep);
        prism_stream_destroy(s);
        prism_tensor_destroy(tid);
        prism_profile_set_destroy(set);
        prism_adapter_destroy(ad);
        layer_free(&L);
    }
    rmtree(dir);
    free(dir);
}

Test(profiles, bad_input_statuses) {
    layer L;
    layer_make(&L, env.dev, 6, 5, 4, true, 2);
    prism_adapter *lora = make(&L, PRISM_METHOD_LORA), *hut = NULL, *xp = make(&L, PRISM_METHOD_XPEFT), *xp2;
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_XPEFT);
    c.bank_seed = 99;
    cr_assert_eq(prism_adapter_create(L.ctx, &c, L.W0, L.b, &xp2), PRISM_OK);
    prism_profile_set *set = NULL;
    prism_adapter *mixed[2] = {lora, xp}, *banks[2] = {xp, xp2}, *one[1] = {lora};
    cr_expect_eq(prism_profile_set_create(L.ctx, mixed, 2, &set), PRISM_ERR_SHAPE);
    cr_expect_null(set);
    cr_expect_eq(prism_profile_set_create(L.ctx, banks, 2, &set), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg(L.ctx, "profile 1", "bank");
    cr_expect_eq(prism_profile_set_create(L.ctx, one, 0, &set), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_profile_set_create(env.ref, one, 1, &set), PRISM_ERR_WRONG_CONTEXT);
    prism_adapter_config hc = prism_adapter_config_default(PRISM_METHOD_NONE);
    cr_assert_eq(prism_adapter_create(L.ctx, &hc, L.W0, L.b, &hut), PRISM_OK);
    prism_adapter *none[1] = {hut};
    cr_expect_eq(prism_profile_set_create(L.ctx, none, 1, &set), PRISM_ERR_UNSUPPORTED);
    float lg[2 * 64] = {0};
    lg[3] = INFINITY;
    cr_expect_eq(prism_profile_set_create_xpeft(xp, lg, 1, &set), PRISM_ERR_NOT_FINITE);
    cr_expect_eq(prism_profile_set_create_xpeft(lora, lg, 1, &set), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_profile_set_create(L.ctx, one, 1, &set), PRISM_OK);
    int64_t t4 = 4, t3 = 3;
    prism_tensor *ids, *ids3, *Yref = NULL;
    cr_assert_eq(prism_tensor_create(L.ctx, 1, &t4, &ids), PRISM_OK);
    cr_assert_eq(prism_tensor_create(L.ctx, 1, &t3, &ids3), PRISM_OK);
    int64_t ys[2] = {4, 6};
    cr_assert_eq(prism_tensor_create(env.ref, 2, ys, &Yref), PRISM_OK);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(L.ctx, &s), PRISM_OK);
    cr_expect_eq(prism_adapter_forward_multi(s, set, L.X, ids3, L.Y), PRISM_ERR_SHAPE);
    expect_msg(L.ctx, "adapter_forward_multi", "[3]");
    cr_expect_eq(prism_adapter_forward_multi(s, set, L.X, ids, L.dX), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_adapter_forward_multi(s, set, L.X, ids, L.X), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_adapter_forward_multi(s, set, L.X, NULL, L.Y), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_adapter_forward_multi(s, NULL, L.X, ids, L.Y), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_adapter_forward_multi(NULL, set, L.X, ids, L.Y), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_adapter_forward_multi(s, set, L.X, ids, Yref), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_stream_op_count(s), 0, "failed calls record nothing");
    prism_stream_destroy(s);
    prism_stream *sr;
    cr_assert_eq(prism_stream_create(env.ref, &sr), PRISM_OK);
    cr_expect_eq(prism_adapter_forward_multi(sr, set, L.X, ids, L.Y), PRISM_ERR_WRONG_CONTEXT);
    prism_stream_destroy(sr);
    prism_tensor_destroy(ids);
    prism_tensor_destroy(ids3);
    prism_tensor_destroy(Yref);
    prism_profile_set_destroy(set);
    prism_profile_set_destroy(NULL);
    prism_adapter_destroy(lora);
    prism_adapter_destroy(hut);
    prism_adapter_destroy(xp);
    prism_adapter_destroy(xp2);
    layer_free(&L);
}
