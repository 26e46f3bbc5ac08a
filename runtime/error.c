/* Status strings and the per-context error message. */
#include <stdio.h>
#include <string.h>
#include "internal.h"

const char *prism_status_string(prism_status s) {
    switch (s) {
    case PRISM_OK: return "ok";
    case PRISM_ERR_INVALID_ARGUMENT: return "invalid argument";
    case PRISM_ERR_SHAPE: return "shape mismatch";
    case PRISM_ERR_DIMS: return "bad dimensions";
    case PRISM_ERR_NOT_FINITE: return "non-finite value";
    case PRISM_ERR_WRONG_CONTEXT: return "object from another context";
    case PRISM_ERR_STALE: return "stream uses a destroyed tensor";
    case PRISM_ERR_OUT_OF_HOST_MEMORY: return "out of host memory";
    case PRISM_ERR_OUT_OF_DEVICE_MEMORY: return "out of device memory";
    case PRISM_ERR_DEVICE_LOST: return "device lost";
    case PRISM_ERR_NO_DEVICE: return "no such device";
    case PRISM_ERR_UNSUPPORTED: return "unsupported";
    case PRISM_ERR_VULKAN: return "vulkan error";
    case PRISM_ERR_IO: return "i/o error";
    case PRISM_ERR_FORMAT: return "malformed input";
    case PRISM_ERR_STATE: return "invalid state";
    case PRISM_ERR_TIMEOUT: return "timeout";
    }
    return "unknown status";
}

const char *prism_vk_result_str(VkResult r) {
    switch (r) {
#define C(x) case x: return #x;
    C(VK_SUCCESS) C(VK_NOT_READY) C(VK_TIMEOUT) C(VK_INCOMPLETE)
    C(VK_ERROR_OUT_OF_HOST_MEMORY) C(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    C(VK_ERROR_INITIALIZATION_FAILED) C(VK_ERROR_DEVICE_LOST)
    C(VK_ERROR_MEMORY_MAP_FAILED) C(VK_ERROR_LAYER_NOT_PRESENT)
    C(VK_ERROR_EXTENSION_NOT_PRESENT) C(VK_ERROR_FEATURE_NOT_PRESENT)
    C(VK_ERROR_INCOMPATIBLE_DRIVER) C(VK_ERROR_TOO_MANY_OBJECTS)
    C(VK_ERROR_FORMAT_NOT_SUPPORTED) C(VK_ERROR_FRAGMENTED_POOL)
    C(VK_ERROR_OUT_OF_POOL_MEMORY) C(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    C(VK_ERROR_UNKNOWN)
#undef C
    default: return "VK_ERROR_(other)";
    }
}

prism_status prism_vk_status(VkResult r) {
    switch (r) {
    case VK_SUCCESS: return PRISM_OK;
    case VK_ERROR_OUT_OF_HOST_MEMORY: return PRISM_ERR_OUT_OF_HOST_MEMORY;
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
    case VK_ERROR_TOO_MANY_OBJECTS: return PRISM_ERR_OUT_OF_DEVICE_MEMORY;
    case VK_ERROR_DEVICE_LOST: return PRISM_ERR_DEVICE_LOST;
    case VK_TIMEOUT: return PRISM_ERR_TIMEOUT;
    case VK_ERROR_FEATURE_NOT_PRESENT:
    case VK_ERROR_EXTENSION_NOT_PRESENT:
    case VK_ERROR_INCOMPATIBLE_DRIVER: return PRISM_ERR_UNSUPPORTED;
    default: return PRISM_ERR_VULKAN;
    }
}

prism_status prism_set_error(prism_context *ctx, prism_status st, const char *fmt, ...) {
    if (!ctx) return st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
    va_end(ap);
    ctx->last = st;
    if (st == PRISM_ERR_DEVICE_LOST) ctx->device_lost = true;
    if (ctx->log_fn) ctx->log_fn(ctx->log_user, 2, ctx->err);
    return st;
}

const char *prism_error_message(const prism_context *ctx) {
    if (!ctx) return "no context";
    return ctx->err[0] ? ctx->err : "no error";
}

prism_status prism_last_status(const prism_context *ctx) { return ctx ? ctx->last : PRISM_ERR_INVALID_ARGUMENT; }

void prism_clear_error(prism_context *ctx) {
    if (!ctx) return;
    ctx->err[0] = 0;
    ctx->last = PRISM_OK;
}

void prism_set_log(prism_context *ctx, prism_log_fn fn, void *user) {
    if (!ctx) return;
    ctx->log_fn = fn;
    ctx->log_user = user;
}
