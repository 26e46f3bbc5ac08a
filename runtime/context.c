/* Context creation: backend choice from options and environment, the tensor
 * liveness registry, accessors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

prism_context_options prism_context_options_default(void) {
    prism_context_options o = {.device = NULL, .disable = NULL, .validate = -1, .profile = -1, .cache_dir = NULL};
    return o;
}

static int env_flag(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

static void resolve_cache_path(prism_context *ctx, const char *dir_opt) {
    const char *dir = dir_opt ? dir_opt : getenv("PRISM_CACHE_DIR");
    char buf[900];
    ctx->cache_path[0] = 0;
    if (!dir) {
        const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
        if (xdg && *xdg) snprintf(buf, sizeof buf, "%s/prism", xdg);
        else if (home && *home) snprintf(buf, sizeof buf, "%s/.cache/prism", home);
        else return;
        dir = buf;
    }
    if (!*dir) return; /* "" disables */
    char uuid[33];
    for (int i = 0; i < 16; i++) snprintf(uuid + 2 * i, 3, "%02x", ctx->caps.device_uuid[i]);
    snprintf(ctx->cache_path, sizeof ctx->cache_path, "%s/pipeline-%s.bin", dir, uuid);
}

prism_status prism_context_create(const prism_context_options *opt, prism_context **out, char *err,
                                  size_t err_len) {
    if (err && err_len) err[0] = 0;
    if (!out) {
        if (err && err_len) snprintf(err, err_len, "prism_context_create: out is NULL");
        return PRISM_ERR_INVALID_ARGUMENT;
    }
    *out = NULL;
    prism_context_options o = opt ? *opt : prism_context_options_default();
    prism_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        if (err && err_len) snprintf(err, err_len, "prism_context_create: out of host memory");
        return PRISM_ERR_OUT_OF_HOST_MEMORY;
    }
    const char *device = o.device ? o.device : getenv("PRISM_DEVICE");
    const char *disable = o.disable ? o.disable : getenv("PRISM_DISABLE");
    ctx->validate = o.validate >= 0 ? o.validate : env_flag("PRISM_VALIDATE");
    ctx->profile = o.profile >= 0 ? o.profile : env_flag("PRISM_PROFILE");
    const char *fault = getenv("PRISM_FAULT");
    if (fault) snprintf(ctx->fault_op, sizeof ctx->fault_op, "%s", fault);
    ctx->next_id = 1;

    prism_status st = PRISM_OK;
    if (device && !strcmp(device, "reference")) {
        ctx->backend = PRISM_BACKEND_REFERENCE;
        snprintf(ctx->caps.name, sizeof ctx->caps.name, "reference (float64 CPU)");
        snprintf(ctx->caps.driver_name, sizeof ctx->caps.driver_name, "prism reference");
        ctx->caps.type = PRISM_DEVICE_CPU;
        ctx->caps.max_storage_buffer_range = UINT64_MAX;
        ctx->caps.f64 = ctx->caps.int64 = 1;
        ctx->caps.unified_memory = 1;
    } else {
        ctx->backend = PRISM_BACKEND_VULKAN;
        st = prism_vk_context_init(ctx, &o, device, disable);
        if (st == PRISM_OK) resolve_cache_path(ctx, o.cache_dir);
    }
    if (st != PRISM_OK) {
        if (err && err_len) snprintf(err, err_len, "%s", ctx->err);
        prism_context_destroy(ctx);
        return st;
    }
    *out = ctx;
    return PRISM_OK;
}

void prism_context_destroy(prism_context *ctx) {
    if (!ctx) return;
    if (ctx->backend == PRISM_BACKEND_VULKAN) prism_vk_context_destroy(ctx);
    free(ctx->live);
    free(ctx);
}

prism_backend prism_context_backend(const prism_context *ctx) { return ctx ? ctx->backend : PRISM_BACKEND_REFERENCE; }
const prism_caps *prism_context_caps(const prism_context *ctx) { return ctx ? &ctx->caps : NULL; }
uint64_t prism_validation_message_count(const prism_context *ctx) { return ctx ? ctx->validation_count : 0; }
const char *prism_validation_last_message(const prism_context *ctx) {
    return ctx && ctx->validation_last[0] ? ctx->validation_last : "";
}

uint32_t prism_local_size_1d(const prism_context *ctx) {
    /* 128 invocations are guaranteed; 256 helps GPUs where the device allows it */
    uint32_t ls = 256;
    if (ctx->caps.max_workgroup_invocations < ls) ls = ctx->caps.max_workgroup_invocations;
    if (ctx->caps.max_workgroup_size[0] < ls) ls = ctx->caps.max_workgroup_size[0];
    if (ls < 1) ls = 1;
    return ls;
}

int64_t prism_max_binding_elems(const prism_context *ctx) {
    uint64_t range = ctx->caps.max_storage_buffer_range;
    uint64_t align = ctx->caps.min_storage_buffer_offset_alignment ? ctx->caps.min_storage_buffer_offset_alignment : 16;
    if (align < 4) align = 4;
    uint64_t elems = range / 4;
    uint64_t align_e = align / 4;
    /* keep room for the misaligned head of a view */
    if (elems > align_e) elems -= align_e;
    elems -= elems % align_e;
    return (int64_t)PRISM_MIN(elems, (uint64_t)PRISM_MAX_ELEMS);
}

/* ---- liveness registry: open addressing on ids (0 = empty, ~0 = tombstone) */

static size_t slot_of(uint64_t id, size_t cap) { return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 7) & (cap - 1); }

static prism_status registry_grow(prism_context *ctx) {
    size_t alive = 0;
    for (size_t i = 0; i < ctx->live_cap; i++) alive += ctx->live[i] != 0 && ctx->live[i] != UINT64_MAX;
    /* mostly tombstones: rehash at the same size */
    size_t ncap = ctx->live_cap ? (alive * 4 < ctx->live_cap ? ctx->live_cap : ctx->live_cap * 2) : 256;
    uint64_t *n = calloc(ncap, sizeof *n);
    if (!n) return PRISM_ERR_OUT_OF_HOST_MEMORY;
    for (size_t i = 0; i < ctx->live_cap; i++) {
        uint64_t id = ctx->live[i];
        if (id == 0 || id == UINT64_MAX) continue;
        size_t s = slot_of(id, ncap);
        while (n[s]) s = (s + 1) & (ncap - 1);
        n[s] = id;
    }
    free(ctx->live);
    ctx->live = n;
    ctx->live_cap = ncap;
    ctx->live_count = alive;
    return PRISM_OK;
}

prism_status prism_registry_add(prism_context *ctx, uint64_t id) {
    /* rehash at 50% (tombstones count) so probes stay short */
    if ((ctx->live_count + 1) * 2 > ctx->live_cap) {
        prism_status st = registry_grow(ctx);
        if (st) return st;
    }
    size_t s = slot_of(id, ctx->live_cap);
    while (ctx->live[s] && ctx->live[s] != UINT64_MAX) s = (s + 1) & (ctx->live_cap - 1);
    ctx->live[s] = id;
    ctx->live_count++;
    return PRISM_OK;
}

void prism_registry_remove(prism_context *ctx, uint64_t id) {
    if (!ctx->live_cap) return;
    size_t s = slot_of(id, ctx->live_cap);
    while (ctx->live[s]) {
        if (ctx->live[s] == id) {
            ctx->live[s] = UINT64_MAX; /* tombstone; live_count keeps counting it until rehash */
            return;
        }
        s = (s + 1) & (ctx->live_cap - 1);
    }
}

bool prism_tensor_alive(prism_context *ctx, uint64_t id) {
    if (!ctx->live_cap) return false;
    size_t s = slot_of(id, ctx->live_cap);
    while (ctx->live[s]) {
        if (ctx->live[s] == id) return true;
        s = (s + 1) & (ctx->live_cap - 1);
    }
    return false;
}
