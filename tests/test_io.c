/* File I/O (prism/io.h): safetensors, .npy and JSON round trips, fp16/bf16
 * conversion, atomic writes, and hostile inputs. No device needed. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>
#include "prism/io.h"
#include "scratch_fixture.h"

static char err[512];

static void setup(void) { wd_setup("io"); }
TestSuite(io, .init = setup, .fini = wd_teardown, .timeout = 60);

static unsigned char *get_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "open %s", path);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)sz + 1);
    cr_assert_eq(fread(b, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return b;
}

/* Entries of wd whose names start with '.' (temp files of the writers). */
static int temp_files(void) {
    DIR *d = opendir(wd);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* safetensors image: 8-byte length + header + data (header not padded). */
static unsigned char *st_image(const char *json, const void *data, size_t dn, size_t *n) {
    size_t hl = strlen(json);
    *n = 8 + hl + dn;
    unsigned char *b = calloc(1, *n + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, json, hl);
    if (dn) memcpy(b + 8 + hl, data, dn);
    return b;
}

/* ------------------------------------------------------------ safetensors */

Test(io, st_round_trip) {
    float a[24], v[5] = {1.5f, -2, 0, 1e-30f, 3e30f}, s = 42;
    int64_t ids[3] = {-1, INT64_MAX, INT64_MIN};
    for (int i = 0; i < 24; i++) a[i] = (float)i * 0.25f - 3;
    int64_t sa[3] = {2, 3, 4}, sv[1] = {5}, si[1] = {3}, sz[2] = {0, 3};
    prism_st_writer *w;
    cr_assert_eq(prism_st_writer_create(&w), PRISM_OK);
    cr_assert_eq(prism_st_writer_add_f32(w, "base_model.model.l0.lora_A.weight", 3, sa, a, err, sizeof err), PRISM_OK, "%s", err);
    cr_assert_eq(prism_st_writer_add_f32(w, "v", 1, sv, v, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_writer_add_f32(w, "scalar", 0, NULL, &s, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_writer_add_f32(w, "empty", 2, sz, NULL, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_writer_add_i64(w, "ids", 1, si, ids, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_writer_add_f32(w, "v", 1, sv, v, err, sizeof err), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_st_writer_add_f32(w, "__metadata__", 1, sv, v, err, sizeof err), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_st_writer_set_meta(w, "format", "np", err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_writer_set_meta(w, "format", "pt", err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_writer_set_meta(w, "note", "quote \" backslash \\ newline \n ü", err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_writer_write(w, P("a.safetensors"), err, sizeof err), PRISM_OK, "%s", err);
    void *mem;
    size_t memn, filen;
    cr_assert_eq(prism_st_writer_serialize(w, &mem, &memn, err, sizeof err), PRISM_OK);
    prism_st_writer_destroy(w);
    unsigned char *raw = get_file(P("a.safetensors"), &filen);
    cr_assert_eq(filen, memn);
    cr_assert_eq(memcmp(raw, mem, filen), 0, "serialize == file");
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++) hl |= (uint64_t)raw[i] << (8 * i);
    cr_assert_eq(hl % 8, 0, "header padded to 8 bytes");
    cr_assert_eq(memcmp(raw + 8, "{\"__metadata__\":{\"format\":\"pt\"", 30), 0, "metadata first, sorted");
    free(raw);
    free(mem);
    cr_assert_eq(temp_files(), 0);

    prism_st_file *f;
    cr_assert_eq(prism_st_open(P("a.safetensors"), 0, &f, err, sizeof err), PRISM_OK, "%s", err);
    cr_assert_eq(prism_st_count(f), 5);
    /* I64 first (larger elements), then by name. */
    cr_assert_str_eq(prism_st_tensor_at(f, 0)->name, "ids");
    cr_assert_str_eq(prism_st_tensor_at(f, 1)->name, "base_model.model.l0.lora_A.weight");
    for (size_t i = 0; i < prism_st_count(f); i++) {
        const prism_st_tensor *t = prism_st_tensor_at(f, i);
        cr_assert_eq(t->offset % prism_dtype_size(t->dtype), 0, "%s aligned", t->name);
    }
    const prism_st_tensor *t = prism_st_find(f, "base_model.model.l0.lora_A.weight");
    cr_assert_not_null(t);
    cr_assert_eq(t->dtype, PRISM_DTYPE_F32);
    cr_assert_eq(t->ndim, 3);
    cr_assert(t->shape[0] == 2 && t->shape[1] == 3 && t->shape[2] == 4 && t->numel == 24 && t->nbytes == 96);
    float out[24];
    cr_assert_eq(prism_st_read_f32(f, t->name, out, 24, err, sizeof err), PRISM_OK);
    cr_assert_eq(memcmp(out, a, sizeof a), 0);
    cr_assert_eq(prism_st_read_f32(f, "v", out, 5, err, sizeof err), PRISM_OK);
    cr_assert_eq(memcmp(out, v, sizeof v), 0);
    cr_assert_eq(prism_st_read_f32(f, "scalar", out, 1, err, sizeof err), PRISM_OK);
    cr_assert_eq(out[0], 42.0f);
    cr_assert_eq(prism_st_find(f, "scalar")->ndim, 0);
    cr_assert_eq(prism_st_find(f, "empty")->numel, 0);
    cr_assert_eq(prism_st_read_f32(f, "empty", out, 0, err, sizeof err), PRISM_OK);
    int64_t io[3];
    cr_assert_eq(prism_st_read_i64(f, "ids", io, 3, err, sizeof err), PRISM_OK);
    cr_assert_eq(memcmp(io, ids, sizeof ids), 0);
    cr_assert_null(prism_st_find(f, "nope"));
    cr_assert_eq(prism_st_meta_count(f), 2);
    cr_assert_str_eq(prism_st_meta_get(f, "format"), "pt");
    cr_assert_str_eq(prism_st_meta_get(f, "note"), "quote \" backslash \\ newline \n ü");
    /* Wrong count, missing tensor, dtype that does not convert. */
    cr_assert_eq(prism_st_read_f32(f, "v", out, 4, err, sizeof err), PRISM_ERR_SHAPE);
    cr_assert(strstr(err, "'v'") && strstr(err, "5"), "%s", err);
    cr_assert_eq(prism_st_read_f32(f, "nope", out, 1, err, sizeof err), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_st_read_f32(f, "ids", out, 3, err, sizeof err), PRISM_ERR_FORMAT);
    cr_assert_eq(prism_st_read_i64(f, "v", io, 5, err, sizeof err), PRISM_ERR_FORMAT);
    prism_st_close(f);
}

Test(io, st_empty_metadata_and_empty_file) {
    prism_st_writer *w;
    int64_t sh[4] = {1, 2, 1, 3};
    float x[6] = {1, 2, 3, 4, 5, 6};
    cr_assert_eq(prism_st_writer_create(&w), PRISM_OK);
    cr_assert_eq(prism_st_writer_write(w, P("none.safetensors"), err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_writer_add_f32(w, "x", 4, sh, x, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_writer_write(w, P("b.safetensors"), err, sizeof err), PRISM_OK);
    prism_st_writer_destroy(w);
    prism_st_file *f;
    cr_assert_eq(prism_st_open(P("none.safetensors"), 0, &f, err, sizeof err), PRISM_OK, "%s", err);
    cr_assert_eq(prism_st_count(f), 0);
    cr_assert_eq(prism_st_meta_count(f), 0);
    prism_st_close(f);
    size_t n;
    unsigned char *raw = get_file(P("b.safetensors"), &n);
    cr_assert_null(memmem(raw, n, "__metadata__", 12), "no empty __metadata__");
    free(raw);
    cr_assert_eq(prism_st_open(P("b.safetensors"), 0, &f, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_meta_count(f), 0);
    cr_assert_null(prism_st_meta_get(f, "format"));
    const prism_st_tensor *t = prism_st_find(f, "x");
    cr_assert(t && t->ndim == 4 && t->shape[3] == 3 && t->numel == 6);
    float o[6];
    cr_assert_eq(prism_st_read_f32(f, "x", o, 6, err, sizeof err), PRISM_OK);
    cr_assert_eq(memcmp(o, x, sizeof x), 0);
    prism_st_close(f);
    /* File-size limit. */
    cr_assert_eq(prism_st_open(P("b.safetensors"), 16, &f, err, sizeof err), PRISM_ERR_FORMAT);
    cr_assert(strstr(err, "limit"), "%s", err);
    cr_assert_eq(prism_st_open(P("missing.safetensors"), 0, &f, err, sizeof err), PRISM_ERR_IO);
    cr_assert(strstr(err, "missing.safetensors"), "%s", err);
}

static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

Test(io, st_half_bfloat_double_int) {
    const uint16_t h[] = {0x0000, 0x8000, 0x3C00, 0xC000, 0x0001, 0x03FF, 0x0400, 0x7BFF, 0x7C00, 0xFC00, 0x7E00, 0x8001};
    const float hx[] = {0.0f, -0.0f, 1.0f, -2.0f, 0x1p-24f, 0x3FFp-24f, 0x1p-14f, 65504.0f, INFINITY, -INFINITY, NAN, -0x1p-24f};
    const uint16_t b[] = {0x3F80, 0x8000, 0x0001, 0x7F80, 0xFF80, 0x7FC0, 0x4049, 0x0080};
    const float bx[] = {1.0f, -0.0f, 0x1p-133f, INFINITY, -INFINITY, NAN, 3.140625f, 0x1p-126f};
    const double d[] = {1e300, -1e300, 0.1, 5e-324, -0.0, 3.4028235e38};
    const int32_t i32[] = {-5, INT32_MAX, INT32_MIN};
    unsigned char data[24 + 16 + 48 + 12];
    memcpy(data, h, 24);
    memcpy(data + 24, b, 16);
    memcpy(data + 40, d, 48);
    memcpy(data + 88, i32, 12);
    size_t n;
    unsigned char *img = st_image("{\"h\":{\"dtype\":\"F16\",\"shape\":[12],\"data_offsets\":[0,24]},"
                                  "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,4],\"data_offsets\":[24,40]},"
                                  "\"d\":{\"dtype\":\"F64\",\"shape\":[6],\"data_offsets\":[40,88]},"
                                  "\"i\":{\"dtype\":\"I32\",\"shape\":[3],\"data_offsets\":[88,100]}}",
                                  data, sizeof data, &n);
    put_file(P("h.safetensors"), img, n);
    prism_st_file *f;
    cr_assert_eq(prism_st_open(P("h.safetensors"), 0, &f, err, sizeof err), PRISM_OK, "%s", err);
    float o[12];
    cr_assert_eq(prism_st_read_f32(f, "h", o, 12, err, sizeof err), PRISM_OK);
    for (int i = 0; i < 12; i++) {
        if (isnan(hx[i])) cr_assert(isnan(o[i]), "h[%d] NaN", i);
        else cr_assert_eq(fbits(o[i]), fbits(hx[i]), "h[%d]: %a vs %a", i, o[i], hx[i]);
    }
    cr_assert_eq(prism_st_read_f32(f, "b", o, 8, err, sizeof err), PRISM_OK);
    for (int i = 0; i < 8; i++) {
        if (isnan(bx[i])) cr_assert(isnan(o[i]), "b[%d] NaN", i);
        else cr_assert_eq(fbits(o[i]), fbits(bx[i]), "b[%d]: %a vs %a", i, o[i], bx[i]);
    }
    cr_assert_eq(prism_st_read_f32(f, "d", o, 6, err, sizeof err), PRISM_OK);
    cr_assert(o[0] == INFINITY && o[1] == -INFINITY && o[2] == 0.1f && o[3] == 0.0f && signbit(o[4]));
    cr_assert_eq(o[5], FLT_MAX, "just below the rounding threshold stays finite");
    int64_t iv[3];
    cr_assert_eq(prism_st_read_i64(f, "i", iv, 3, err, sizeof err), PRISM_OK);
    cr_assert(iv[0] == -5 && iv[1] == INT32_MAX && iv[2] == INT32_MIN);
    prism_st_close(f);
    free(img);
}

typedef struct hostile { const char *what, *json, *msg; size_t dn; } hostile;

Test(io, st_hostile) {
    static unsigned char zeros[256];
    const hostile cases[] = {
        {"offsets out of bounds", "{\"x\":{\"dtype\":\"F32\",\"shape\":[24],\"data_offsets\":[0,96]}}",
         "data_offsets [0, 96) exceed the 64-byte buffer", 64},
        {"overlapping offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                                "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", "overlaps", 24},
        {"gap in buffer", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                          "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[20,36]}}", "gap", 36},
        {"trailing buffer bytes", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", "cover 16 of the 20", 20},
        {"unknown dtype", "{\"a\":{\"dtype\":\"F31\",\"shape\":[4],\"data_offsets\":[0,16]}}", "unknown dtype 'F31'", 16},
        {"shape/offset mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", "needs 12 bytes", 16},
        {"shape overflow", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,16]}}",
         "shape overflows", 16},
        {"byte size overflow", "{\"a\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,16]}}",
         "byte size overflows", 16},
        {"duplicate names", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                            "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", "duplicate tensor name 'a'", 8},
        {"invalid JSON", "{\"a\":{\"dtype\":\"F32\",", "expected a string", 0},
        {"trailing garbage in header", "{}  x", "trailing bytes", 0},
        {"not an object", "[]", "does not start with '{'", 0},
        {"negative offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", "negative data offset", 4},
        {"negative dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "negative shape dim", 4},
        {"float offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}}", "not an integer", 4},
        {"offset overflow", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,18446744073709551616]}}",
         "overflows 64 bits", 4},
        {"decreasing offsets", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,0]}}", "decrease", 4},
        {"too many dims", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", "more than 8 dims", 1},
        {"missing field", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", "lacks 'data_offsets'", 1},
        {"duplicate field", "{\"a\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", "duplicate field", 1},
        {"non-string metadata", "{\"__metadata__\":{\"format\":1}}", "not a string", 0},
        {"duplicate metadata key", "{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", "duplicate __metadata__ key", 0},
        {"NUL in name", "{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", "NUL", 1},
        {"empty name", "{\"\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", "empty tensor name", 1},
        {"invalid UTF-8", "{\"\xff\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", "UTF-8", 1},
        {"lone surrogate", "{\"\\ud800\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", "surrogate", 1},
        {"deep nesting", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":"
                         "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}", "nesting", 1},
        {"control char", "{\"a\tb\":{}}", "control character", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n;
        unsigned char *img = st_image(cases[i].json, zeros, cases[i].dn, &n);
        prism_st_file *f = (prism_st_file *)1;
        err[0] = 0;
        prism_status st = prism_st_parse(img, n, "mem.safetensors", &f, err, sizeof err);
        cr_expect_eq(st, PRISM_ERR_FORMAT, "%s: status %d (%s)", cases[i].what, st, err);
        cr_expect_null(f, "%s", cases[i].what);
        cr_expect(strstr(err, cases[i].msg) && strstr(err, "mem.safetensors"), "%s: message '%s' lacks '%s'",
                  cases[i].what, err, cases[i].msg);
        /* The same through a file. */
        put_file(P("bad.safetensors"), img, n);
        st = prism_st_open(P("bad.safetensors"), 0, &f, err, sizeof err);
        cr_expect_eq(st, PRISM_ERR_FORMAT, "%s (file): %s", cases[i].what, err);
        cr_expect(strstr(err, "bad.safetensors"), "%s", err);
        free(img);
    }
    /* Structural cases that st_image cannot express. */
    unsigned char trunc[5] = {1, 0, 0, 0, 0};
    prism_st_file *f;
    cr_assert_eq(prism_st_parse(trunc, 5, "t", &f, err, sizeof err), PRISM_ERR_FORMAT);
    cr_assert(strstr(err, "truncated"), "%s", err);
    cr_assert_eq(prism_st_parse(trunc, 0, "t", &f, err, sizeof err), PRISM_ERR_FORMAT);
    unsigned char longhdr[10] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    cr_assert_eq(prism_st_parse(longhdr, 10, "t", &f, err, sizeof err), PRISM_ERR_FORMAT);
    cr_assert(strstr(err, "header length 100 exceeds"), "%s", err);
    unsigned char huge[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'};
    cr_assert_eq(prism_st_parse(huge, 10, "t", &f, err, sizeof err), PRISM_ERR_FORMAT);
    put_file(P("empty.safetensors"), "", 0);
    cr_assert_eq(prism_st_open(P("empty.safetensors"), 0, &f, err, sizeof err), PRISM_ERR_FORMAT);
}

/* ------------------------------------------------------------ npy */

Test(io, npy_round_trip) {
    float a1[7];
    double a2[12];
    int64_t a3[24];
    float a4[2 * 3 * 1 * 5];
    for (int i = 0; i < 7; i++) a1[i] = (float)i / 3 - 1;
    for (int i = 0; i < 12; i++) a2[i] = 1e-300 * i - 0.5;
    for (int i = 0; i < 24; i++) a3[i] = (int64_t)i * 1000000007LL - 5;
    for (int i = 0; i < 30; i++) a4[i] = (float)(i * i);
    int64_t s1[1] = {7}, s2[2] = {3, 4}, s3[3] = {2, 3, 4}, s4[4] = {2, 3, 1, 5};
    struct { const char *name; prism_dtype dt; int nd; const int64_t *sh; const void *d; size_t bytes; } c[] = {
        {"a1.npy", PRISM_DTYPE_F32, 1, s1, a1, sizeof a1}, {"a2.npy", PRISM_DTYPE_F64, 2, s2, a2, sizeof a2},
        {"a3.npy", PRISM_DTYPE_I64, 3, s3, a3, sizeof a3}, {"a4.npy", PRISM_DTYPE_F32, 4, s4, a4, sizeof a4},
        {"a0.npy", PRISM_DTYPE_F64, 0, NULL, a2 + 3, 8},
    };
    for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
        cr_assert_eq(prism_npy_write(P(c[k].name), c[k].dt, c[k].nd, c[k].sh, c[k].d, err, sizeof err), PRISM_OK, "%s", err);
        size_t n;
        unsigned char *raw = get_file(P(c[k].name), &n);
        cr_assert_eq(raw[6], 1, "version 1.0");
        size_t start = 10 + (size_t)(raw[8] | raw[9] << 8);
        cr_assert_eq(start % 64, 0, "data 64-byte aligned");
        cr_assert_eq(raw[start - 1], '\n');
        cr_assert_eq(n - start, c[k].bytes);
        prism_npy_array a;
        cr_assert_eq(prism_npy_read(P(c[k].name), c[k].dt, 0, &a, err, sizeof err), PRISM_OK, "%s", err);
        cr_assert_eq(a.ndim, c[k].nd);
        for (int d = 0; d < a.ndim; d++) cr_assert_eq(a.shape[d], c[k].sh[d]);
        cr_assert_eq(a.file_dtype, c[k].dt);
        cr_assert_eq(memcmp(a.data, c[k].d, c[k].bytes), 0, "%s data", c[k].name);
        prism_npy_free(&a);
        /* v2.0 and v3.0 headers of the same content. */
        for (int ver = 2; ver <= 3; ver++) {
            size_t hl = start - 10, hl2 = hl + (64 - (12 + hl) % 64) % 64;
            unsigned char *v2 = calloc(1, 12 + hl2 + c[k].bytes);
            memcpy(v2, raw, 8);
            v2[6] = (unsigned char)ver;
            v2[8] = (unsigned char)hl2;
            v2[9] = (unsigned char)(hl2 >> 8);
            memcpy(v2 + 12, raw + 10, hl - 1);
            memset(v2 + 12 + hl - 1, ' ', hl2 - hl + 1);
            v2[12 + hl2 - 1] = '\n';
            memcpy(v2 + 12 + hl2, raw + start, c[k].bytes);
            cr_assert_eq(prism_npy_parse(v2, 12 + hl2 + c[k].bytes, "v2", c[k].dt, &a, err, sizeof err), PRISM_OK, "%s", err);
            cr_assert_eq(memcmp(a.data, c[k].d, c[k].bytes), 0);
            prism_npy_free(&a);
            free(v2);
        }
        free(raw);
    }
    /* Conversions: f4 -> f8, f8 -> f4, and float -> int refused. */
    prism_npy_array a;
    cr_assert_eq(prism_npy_read(P("a1.npy"), PRISM_DTYPE_F64, 0, &a, err, sizeof err), PRISM_OK);
    cr_assert_eq(((double *)a.data)[4], (double)a1[4]);
    prism_npy_free(&a);
    cr_assert_eq(prism_npy_read(P("a2.npy"), PRISM_DTYPE_F32, 0, &a, err, sizeof err), PRISM_OK);
    cr_assert_eq(((float *)a.data)[11], (float)a2[11]);
    prism_npy_free(&a);
    cr_assert_eq(prism_npy_read(P("a1.npy"), PRISM_DTYPE_I64, 0, &a, err, sizeof err), PRISM_ERR_FORMAT);
    cr_assert_eq(temp_files(), 0);
}

/* .npy image with a v1.0 header from a dict literal (padded to 64). */
static unsigned char *npy_image(const char *dict, const void *data, size_t dn, size_t *n) {
    size_t hl = strlen(dict) + 1;
    hl += (64 - (10 + hl) % 64) % 64;
    *n = 10 + hl + dn;
    unsigned char *b = calloc(1, *n);
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (unsigned char)hl;
    b[9] = (unsigned char)(hl >> 8);
    memset(b + 10, ' ', hl);
    memcpy(b + 10, dict, strlen(dict));
    b[10 + hl - 1] = '\n';
    if (dn) memcpy(b + 10 + hl, data, dn);
    return b;
}

Test(io, npy_variants) {
    int32_t i4[3] = {-7, 0, 9};
    uint8_t u1[4] = {0, 1, 200, 255};
    size_t n;
    unsigned char *img = npy_image("{\"shape\": (3L,), \"fortran_order\": False, \"descr\": \"<i4\"}", i4, 12, &n);
    prism_npy_array a;
    cr_assert_eq(prism_npy_parse(img, n, "x", PRISM_DTYPE_I64, &a, err, sizeof err), PRISM_OK, "%s", err);
    cr_assert(a.numel == 3 && ((int64_t *)a.data)[0] == -7 && ((int64_t *)a.data)[2] == 9);
    prism_npy_free(&a);
    free(img);
    img = npy_image("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }", u1, 4, &n);
    cr_assert_eq(prism_npy_parse(img, n, "x", PRISM_DTYPE_I64, &a, err, sizeof err), PRISM_OK, "%s", err);
    cr_assert_eq(((int64_t *)a.data)[3], 255);
    prism_npy_free(&a);
    free(img);
    img = npy_image("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }", NULL, 0, &n);
    cr_assert_eq(prism_npy_parse(img, n, "x", PRISM_DTYPE_F32, &a, err, sizeof err), PRISM_OK, "%s", err);
    cr_assert_eq(a.numel, 0);
    prism_npy_free(&a);
    free(img);
}

Test(io, npy_hostile) {
    static unsigned char zeros[64];
    struct { const char *what, *dict, *msg; size_t dn; } c[] = {
        {"truncated data", "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", "truncated data", 40},
        {"trailing data", "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", "trailing", 16},
        {"fortran order", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", "fortran_order True", 16},
        {"big-endian", "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", "big-endian", 8},
        {"object dtype", "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", "unsupported dtype '|O'", 16},
        {"structured dtype", "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", "structured", 8},
        {"shape overflow", "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4), }", "overflows", 0},
        {"dim overflow", "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", "overflows", 0},
        {"negative dim", "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", "negative", 0},
        {"missing key", "{'descr': '<f4', 'shape': (1,), }", "lacks 'fortran_order'", 4},
        {"extra key", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", "unexpected or duplicate key 'x'", 4},
        {"duplicate key", "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", "duplicate", 4},
        {"not a dict", "('descr', '<f4')", "expected '{'", 4},
        {"trailing header text", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x", "trailing characters", 4},
        {"too many dims", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", "more than 8", 4},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        size_t n;
        unsigned char *img = npy_image(c[i].dict, zeros, c[i].dn, &n);
        prism_npy_array a;
        err[0] = 0;
        prism_status st = prism_npy_parse(img, n, "mem.npy", PRISM_DTYPE_F32, &a, err, sizeof err);
        cr_expect_eq(st, PRISM_ERR_FORMAT, "%s: status %d (%s)", c[i].what, st, err);
        cr_expect_null(a.data);
        cr_expect(strstr(err, c[i].msg) && strstr(err, "mem.npy"), "%s: '%s' lacks '%s'", c[i].what, err, c[i].msg);
        free(img);
    }
    size_t n;
    unsigned char *img = npy_image("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", zeros, 4, &n);
    prism_npy_array a;
    img[0] = 'X';
    cr_assert_eq(prism_npy_parse(img, n, "m", PRISM_DTYPE_F32, &a, err, sizeof err), PRISM_ERR_FORMAT);
    cr_assert(strstr(err, "magic"), "%s", err);
    img[0] = 0x93;
    img[6] = 4;
    cr_assert_eq(prism_npy_parse(img, n, "m", PRISM_DTYPE_F32, &a, err, sizeof err), PRISM_ERR_FORMAT);
    cr_assert(strstr(err, "version"), "%s", err);
    img[6] = 1;
    img[8] = 0xff;
    img[9] = 0xff;
    cr_assert_eq(prism_npy_parse(img, n, "m", PRISM_DTYPE_F32, &a, err, sizeof err), PRISM_ERR_FORMAT);
    cr_assert(strstr(err, "header length"), "%s", err);
    cr_assert_eq(prism_npy_parse(img, 9, "m", PRISM_DTYPE_F32, &a, err, sizeof err), PRISM_ERR_FORMAT);
    cr_assert(strstr(err, "truncated"), "%s", err);
    put_file(P("t.npy"), img, n);
    cr_assert_eq(prism_npy_read(P("t.npy"), PRISM_DTYPE_F32, 0, &a, err, sizeof err), PRISM_ERR_FORMAT);
    cr_assert(strstr(err, "t.npy"), "%s", err);
    cr_assert_eq(prism_npy_read(P("t.npy"), PRISM_DTYPE_F32, 8, &a, err, sizeof err), PRISM_ERR_FORMAT);
    cr_assert(strstr(err, "limit"), "%s", err);
    cr_assert_eq(prism_npy_read(P("nope.npy"), PRISM_DTYPE_F32, 0, &a, err, sizeof err), PRISM_ERR_IO);
    free(img);
}

/* ------------------------------------------------------------ JSON */

Test(io, json_round_trip_and_getters) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "peft_type", "FOURIERFT");
    cJSON_AddNumberToObject(root, "n_frequency", 1000);
    cJSON_AddNumberToObject(root, "scaling", 150.5);
    cJSON_AddBoolToObject(root, "init_weights", 0);
    cJSON_AddNullToObject(root, "revision");
    cJSON *tm = cJSON_AddArrayToObject(root, "target_modules");
    cJSON_AddItemToArray(tm, cJSON_CreateString("q_proj"));
    cr_assert_eq(prism_json_write(P("adapter_config.json"), root, err, sizeof err), PRISM_OK, "%s", err);
    cJSON_Delete(root);
    cr_assert_eq(temp_files(), 0);
    cJSON *r;
    cr_assert_eq(prism_json_read(P("adapter_config.json"), 0, &r, err, sizeof err), PRISM_OK, "%s", err);
    int64_t i;
    double d;
    int b;
    const char *s;
    cr_assert_eq(prism_json_get_int(r, "n_frequency", 7, &i, err, sizeof err), PRISM_OK);
    cr_assert_eq(i, 1000);
    cr_assert_eq(prism_json_get_int(r, "absent", 7, &i, err, sizeof err), PRISM_OK);
    cr_assert_eq(i, 7);
    cr_assert_eq(prism_json_get_double(r, "scaling", 0, &d, err, sizeof err), PRISM_OK);
    cr_assert_eq(d, 150.5);
    cr_assert_eq(prism_json_get_double(r, "n_frequency", 0, &d, err, sizeof err), PRISM_OK);
    cr_assert_eq(d, 1000);
    cr_assert_eq(prism_json_get_bool(r, "init_weights", 1, &b, err, sizeof err), PRISM_OK);
    cr_assert_eq(b, 0);
    cr_assert_eq(prism_json_get_string(r, "peft_type", NULL, &s, err, sizeof err), PRISM_OK);
    cr_assert_str_eq(s, "FOURIERFT");
    cr_assert_eq(prism_json_get_string(r, "revision", "main", &s, err, sizeof err), PRISM_OK, "null gives the default");
    cr_assert_str_eq(s, "main");
    cr_assert_eq(prism_json_get_int(r, "scaling", 0, &i, err, sizeof err), PRISM_ERR_FORMAT);
    cr_assert(strstr(err, "'scaling'") && strstr(err, "integer"), "%s", err);
    cr_assert_eq(prism_json_get_int(r, "peft_type", 0, &i, err, sizeof err), PRISM_ERR_FORMAT);
    cr_assert(strstr(err, "is a string, expected an integer"), "%s", err);
    cr_assert_eq(prism_json_get_bool(r, "n_frequency", 0, &b, err, sizeof err), PRISM_ERR_FORMAT);
    cr_assert_eq(prism_json_get_string(r, "target_modules", NULL, &s, err, sizeof err), PRISM_ERR_FORMAT);
    cr_assert(strstr(err, "an array"), "%s", err);
    cr_assert_eq(prism_json_get_double(r, "init_weights", 0, &d, err, sizeof err), PRISM_ERR_FORMAT);
    cr_assert_eq(prism_json_get_int(NULL, "x", 0, &i, err, sizeof err), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_json_get_int(cJSON_GetObjectItem(r, "target_modules"), "x", 0, &i, err, sizeof err),
                 PRISM_ERR_INVALID_ARGUMENT);
    cJSON_Delete(r);
}

Test(io, json_hostile) {
    char deep[200];
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    deep[130] = 0;
    char ok_deep[200];
    memset(ok_deep, '[', 64);
    memset(ok_deep + 64, ']', 64);
    ok_deep[128] = 0;
    struct { const char *what, *text, *msg; size_t n; } c[] = {
        {"invalid JSON", "{\"r\": 8,}", "1:", 0},
        {"unterminated", "{\"r\": ", "invalid JSON", 0},
        {"deep nesting", deep, "nesting deeper than 64", 0},
        {"NUL byte", "{\"a\": \"x\0y\"}", "NUL byte", 12},
        {"\\u0000", "{\"a\": \"x\\u0000y\"}", "\\u0000", 0},
        {"duplicate key", "{\"a\": 1, \"b\": {\"c\": 1, \"c\": 2}}", "duplicate key 'c'", 0},
        {"trailing content", "{\"a\": 1} {}", "trailing content", 0},
        {"invalid UTF-8", "{\"a\": \"\xc3\x28\"}", "UTF-8", 0},
        {"empty", "", "invalid JSON", 0},
        {"line and column", "{\n  \"a\": 1,\n  \"b\": tru\n}", "3:", 0},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        size_t n = c[i].n ? c[i].n : strlen(c[i].text);
        cJSON *r = (cJSON *)1;
        err[0] = 0;
        prism_status st = prism_json_parse(c[i].text, n, "cfg.json", &r, err, sizeof err);
        cr_expect_eq(st, PRISM_ERR_FORMAT, "%s: status %d (%s)", c[i].what, st, err);
        cr_expect_null(r);
        cr_expect(strstr(err, c[i].msg) && strstr(err, "cfg.json"), "%s: '%s' lacks '%s'", c[i].what, err, c[i].msg);
    }
    cJSON *r;
    cr_assert_eq(prism_json_parse(ok_deep, strlen(ok_deep), "cfg.json", &r, err, sizeof err), PRISM_OK, "%s", err);
    cJSON_Delete(r);
    cr_assert_eq(prism_json_parse("\"a\\\\u0000\"", 10, "cfg.json", &r, err, sizeof err), PRISM_OK, "escaped backslash: %s", err);
    cJSON_Delete(r);
    put_file(P("big.json"), "{\"a\": 1}", 8);
    cr_assert_eq(prism_json_read(P("big.json"), 4, &r, err, sizeof err), PRISM_ERR_FORMAT);
    cr_assert(strstr(err, "limit"), "%s", err);
    cr_assert_eq(prism_json_read(P("none.json"), 0, &r, err, sizeof err), PRISM_ERR_IO);
}

/* ------------------------------------------------------------ atomic writes */

static void assert_content(const char *path, const char *want) {
    size_t n;
    unsigned char *b = get_file(path, &n);
    cr_assert(n == strlen(want) && memcmp(b, want, n) == 0, "%s keeps its content", path);
    free(b);
}

Test(io, atomic_writes) {
    const char *f = P("keep.bin");
    cr_assert_eq(prism_write_atomic(f, "old", 3, err, sizeof err), PRISM_OK, "%s", err);
    assert_content(f, "old");
    struct stat sb;
    cr_assert_eq(stat(f, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0644);
    chmod(f, 0600);
    cr_assert_eq(prism_write_atomic(f, "newer", 5, err, sizeof err), PRISM_OK);
    assert_content(f, "newer");
    cr_assert_eq(stat(f, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600, "an existing file keeps its mode");
    cr_assert_eq(prism_write_atomic(f, "old", 3, err, sizeof err), PRISM_OK);

    /* Directory that does not exist. */
    cr_assert_eq(prism_write_atomic(P("no/such/dir/x.bin"), "x", 1, err, sizeof err), PRISM_ERR_IO);
    cr_assert(strstr(err, "no/such/dir/x.bin"), "%s", err);
    /* Target is a directory: rename fails, temp file removed. */
    mkdir(P("adir"), 0755);
    cr_assert_eq(prism_write_atomic(P("adir"), "x", 1, err, sizeof err), PRISM_ERR_IO);
    cr_assert_eq(temp_files(), 0, "no temp file left after a failed rename");

    /* A write that fails part-way (file size limit): the old file survives. */
    struct rlimit old, lim = {1000, 1000};
    getrlimit(RLIMIT_FSIZE, &old);
    lim.rlim_max = old.rlim_max;
    signal(SIGXFSZ, SIG_IGN);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    static char big[100000];
    prism_status st = prism_write_atomic(f, big, sizeof big, err, sizeof err);
    float arr[1000] = {0};
    int64_t sh[1] = {1000};
    prism_status st2 = prism_npy_write(f, PRISM_DTYPE_F32, 1, sh, arr, err, sizeof err);
    setrlimit(RLIMIT_FSIZE, &old);
    cr_assert_eq(st, PRISM_ERR_IO);
    cr_assert_eq(st2, PRISM_ERR_IO);
    assert_content(f, "old");
    cr_assert_eq(temp_files(), 0, "no temp file left after a failed write");

    /* Read-only directory (only meaningful without root's override). */
    if (geteuid() != 0) {
        mkdir(P("ro"), 0755);
        cr_assert_eq(prism_write_atomic(P("ro/f"), "old", 3, err, sizeof err), PRISM_OK);
        chmod(P("ro"), 0555);
        cr_assert_eq(prism_write_atomic(P("ro/f"), "new", 3, err, sizeof err), PRISM_ERR_IO);
        chmod(P("ro"), 0755);
        assert_content(P("ro/f"), "old");
    }
    cr_assert_eq(prism_write_atomic("", "x", 1, err, sizeof err), PRISM_ERR_INVALID_ARGUMENT);
}
