/* Vulkan instance, device choice and logical device creation (volk-loaded;
 * no link-time dependency on libvulkan). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define MAX_PHYS 16

static VKAPI_ATTR VkBool32 VKAPI_CALL on_validation(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                                    VkDebugUtilsMessageTypeFlagsEXT type,
                                                    const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                    void *user) {
    (void)type;
    prism_context *ctx = user;
    if (sev & (VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)) {
        ctx->validation_count++;
        snprintf(ctx->validation_last, sizeof ctx->validation_last, "%s",
                 data && data->pMessage ? data->pMessage : "(no text)");
        if (ctx->log_fn) ctx->log_fn(ctx->log_user, 3, ctx->validation_last);
    }
    return VK_FALSE;
}

static bool instance_has_layer(const char *name) {
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || !n) return false;
    VkLayerProperties *p = calloc(n, sizeof *p);
    if (!p) return false;
    bool found = false;
    if (vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(p[i].layerName, name) == 0;
    free(p);
    return found;
}

static bool instance_has_ext(const char *layer, const char *name) {
    uint32_t n = 0;
    if (vkEnumerateInstanceExtensionProperties(layer, &n, NULL) != VK_SUCCESS || !n) return false;
    VkExtensionProperties *p = calloc(n, sizeof *p);
    if (!p) return false;
    bool found = false;
    if (vkEnumerateInstanceExtensionProperties(layer, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(p[i].extensionName, name) == 0;
    free(p);
    return found;
}

/* Creates an instance (validation optional). ctx may be a scratch context. */
static prism_status create_instance(prism_context *ctx, bool validate, VkInstance *out) {
    prism_status st = PRISM_OK;
    VkResult r = volkInitialize();
    if (r != VK_SUCCESS)
        return prism_set_error(ctx, PRISM_ERR_NO_DEVICE,
                               "no Vulkan loader found (install libvulkan1 and mesa-vulkan-drivers, "
                               "or use PRISM_DEVICE=reference)");
    uint32_t loader = volkGetInstanceVersion();
    if (loader < VK_API_VERSION_1_1)
        return prism_set_error(ctx, PRISM_ERR_UNSUPPORTED, "Vulkan loader %u.%u is older than the required 1.1",
                               VK_VERSION_MAJOR(loader), VK_VERSION_MINOR(loader));
    const char *layers[1];
    uint32_t nlayers = 0;
    const char *exts[3];
    uint32_t nexts = 0;
    if (validate) {
        if (!instance_has_layer("VK_LAYER_KHRONOS_validation"))
            return prism_set_error(ctx, PRISM_ERR_UNSUPPORTED,
                                   "PRISM_VALIDATE=1 but VK_LAYER_KHRONOS_validation is not installed "
                                   "(Debian package vulkan-validationlayers)");
        layers[nlayers++] = "VK_LAYER_KHRONOS_validation";
        exts[nexts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    }
    VkInstanceCreateFlags flags = 0;
    if (instance_has_ext(NULL, "VK_KHR_portability_enumeration")) {
        exts[nexts++] = "VK_KHR_portability_enumeration";
        flags |= 0x00000001; /* VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR */
    }
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "prism",
        .pEngineName = "prism",
        .engineVersion = VK_MAKE_VERSION(PRISM_VERSION_MAJOR, PRISM_VERSION_MINOR, PRISM_VERSION_PATCH),
        .apiVersion = loader >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : loader,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .flags = flags,
        .pApplicationInfo = &app,
        .enabledLayerCount = nlayers,
        .ppEnabledLayerNames = layers,
        .enabledExtensionCount = nexts,
        .ppEnabledExtensionNames = exts,
    };
    VkResult r2 = vkCreateInstance(&ci, NULL, out);
    if (r2 == VK_ERROR_INCOMPATIBLE_DRIVER) /* the loader found no driver (ICD) at all */
        return prism_set_error(ctx, PRISM_ERR_NO_DEVICE,
                               "no Vulkan driver found (install mesa-vulkan-drivers for lavapipe, "
                               "or use PRISM_DEVICE=reference)");
    PRISM_VK(r2);
    volkLoadInstanceOnly(*out);
cleanup:
    return st;
}

/* Physical devices with Vulkan >= 1.1, de-duplicated by deviceUUID (two ICDs
 * for one GPU show up twice otherwise). */
static prism_status list_devices(prism_context *ctx, VkInstance inst, VkPhysicalDevice *pds, prism_caps *caps,
                                 int *count) {
    prism_status st = PRISM_OK;
    uint32_t n = 0;
    VkPhysicalDevice all[MAX_PHYS];
    PRISM_VK(vkEnumeratePhysicalDevices(inst, &n, NULL));
    if (n > MAX_PHYS) n = MAX_PHYS;
    VkResult r = vkEnumeratePhysicalDevices(inst, &n, all);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) PRISM_VK(r);
    int k = 0;
    for (uint32_t i = 0; i < n; i++) {
        prism_caps c;
        PRISM_TRY(prism_caps_read(ctx, all[i], &c));
        if (c.api_version < VK_API_VERSION_1_1) continue;
        bool dup = false;
        for (int j = 0; j < k && !dup; j++) dup = memcmp(caps[j].device_uuid, c.device_uuid, 16) == 0;
        if (dup) continue;
        pds[k] = all[i];
        caps[k++] = c;
    }
    *count = k;
cleanup:
    return st;
}

static int type_rank(prism_device_type t) {
    switch (t) {
    case PRISM_DEVICE_DISCRETE: return 0;
    case PRISM_DEVICE_INTEGRATED: return 1;
    case PRISM_DEVICE_VIRTUAL: return 2;
    case PRISM_DEVICE_CPU: return 3;
    default: return 4;
    }
}

static bool icontains(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return true;
    }
    return n == 0;
}

/* index | name substring | "lavapipe"/"cpu" | "" (default: discrete > integrated > virtual > cpu). */
static int choose_device(const prism_caps *caps, int n, const char *spec) {
    if (!spec || !*spec) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (best < 0 || type_rank(caps[i].type) < type_rank(caps[best].type)) best = i;
        return best;
    }
    char *end = NULL;
    long idx = strtol(spec, &end, 10);
    if (end && *end == 0 && end != spec) return (idx >= 0 && idx < n) ? (int)idx : -1;
    bool want_cpu = !strcmp(spec, "lavapipe") || !strcmp(spec, "cpu") || !strcmp(spec, "llvmpipe");
    for (int i = 0; i < n; i++) {
        if (want_cpu && (caps[i].type == PRISM_DEVICE_CPU || icontains(caps[i].name, "llvmpipe"))) return i;
        if (!want_cpu && icontains(caps[i].name, spec)) return i;
    }
    return -1;
}

prism_status prism_enumerate_devices(prism_caps *out, int max, int *count, char *err, size_t err_len) {
    if (!count || (max > 0 && !out)) return PRISM_ERR_INVALID_ARGUMENT;
    prism_context scratch;
    memset(&scratch, 0, sizeof scratch);
    prism_context *ctx = &scratch;
    VkInstance inst = VK_NULL_HANDLE;
    VkPhysicalDevice pds[MAX_PHYS];
    prism_caps caps[MAX_PHYS];
    int n = 0;
    prism_status st = create_instance(ctx, false, &inst);
    if (st == PRISM_OK) st = list_devices(ctx, inst, pds, caps, &n);
    if (st == PRISM_OK) {
        for (int i = 0; i < n && i < max; i++) out[i] = caps[i];
        *count = n;
    } else if (err && err_len) {
        snprintf(err, err_len, "%s", scratch.err);
    }
    if (inst) vkDestroyInstance(inst, NULL);
    return st;
}

static uint32_t find_memory_type(const VkPhysicalDeviceMemoryProperties *mp, VkMemoryPropertyFlags need,
                                 VkMemoryPropertyFlags avoid) {
    for (uint32_t t = 0; t < mp->memoryTypeCount; t++) {
        VkMemoryPropertyFlags f = mp->memoryTypes[t].propertyFlags;
        if ((f & need) == need && !(f & avoid)) return t;
    }
    return UINT32_MAX;
}

prism_status prism_vk_context_init(prism_context *ctx, const prism_context_options *opt, const char *device,
                                   const char *disable) {
    (void)opt;
    prism_status st = PRISM_OK;
    VkPhysicalDevice pds[MAX_PHYS];
    prism_caps caps[MAX_PHYS];
    int n = 0;
    PRISM_TRY(create_instance(ctx, ctx->validate, &ctx->instance));
    if (ctx->validate) {
        VkDebugUtilsMessengerCreateInfoEXT mci = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
            .pfnUserCallback = on_validation,
            .pUserData = ctx,
        };
        PRISM_VK(vkCreateDebugUtilsMessengerEXT(ctx->instance, &mci, NULL, &ctx->messenger));
    }
    PRISM_TRY(list_devices(ctx, ctx->instance, pds, caps, &n));
    if (n == 0) {
        st = prism_set_error(ctx, PRISM_ERR_NO_DEVICE,
                             "no Vulkan 1.1 device found (install mesa-vulkan-drivers for lavapipe, "
                             "or use PRISM_DEVICE=reference)");
        goto cleanup;
    }
    int pick = choose_device(caps, n, device);
    if (pick < 0) {
        char list[512] = "";
        for (int i = 0; i < n; i++) {
            size_t len = strlen(list);
            snprintf(list + len, sizeof list - len, "%s%d: %s", i ? ", " : "", i, caps[i].name);
        }
        st = prism_set_error(ctx, PRISM_ERR_NO_DEVICE,
                             "PRISM_DEVICE='%s' matches no device (have: %s; or 'reference')", device, list);
        goto cleanup;
    }
    ctx->phys = pds[pick];
    ctx->caps = caps[pick];
    char bad[64];
    if (!prism_caps_apply_disable(&ctx->caps, disable, bad, sizeof bad)) {
        st = prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT,
                             "PRISM_DISABLE: unknown feature '%s' (known: f16, subgroup, push_descriptor, "
                             "bda, coopmat, f64, int64, unified_memory, all)", bad);
        goto cleanup;
    }

    /* queue: a compute family, preferring one with timestamps */
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(ctx->phys, &nq, NULL);
    VkQueueFamilyProperties qf[16];
    if (nq > 16) nq = 16;
    vkGetPhysicalDeviceQueueFamilyProperties(ctx->phys, &nq, qf);
    ctx->queue_family = UINT32_MAX;
    for (uint32_t q = 0; q < nq; q++)
        if ((qf[q].queueFlags & VK_QUEUE_COMPUTE_BIT) &&
            (ctx->queue_family == UINT32_MAX || (qf[q].timestampValidBits && !qf[ctx->queue_family].timestampValidBits)))
            ctx->queue_family = q;
    if (ctx->queue_family == UINT32_MAX) {
        st = prism_set_error(ctx, PRISM_ERR_UNSUPPORTED, "device '%s' has no compute queue", ctx->caps.name);
        goto cleanup;
    }
    ctx->caps.timestamp_valid_bits = qf[ctx->queue_family].timestampValidBits;
    ctx->caps.timestamps = ctx->caps.timestamp_valid_bits > 0 && ctx->caps.timestamp_period_ns > 0;

    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = ctx->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &prio,
    };
    /* Baseline: no optional feature is enabled; variants that need one enable it here. */
    VkDeviceCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qci,
    };
    PRISM_VK(vkCreateDevice(ctx->phys, &dci, NULL, &ctx->device));
    volkLoadDevice(ctx->device);
    vkGetDeviceQueue(ctx->device, ctx->queue_family, 0, &ctx->queue);

    VkCommandPoolCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex = ctx->queue_family,
    };
    PRISM_VK(vkCreateCommandPool(ctx->device, &pci, NULL, &ctx->pool));
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    PRISM_VK(vkCreateFence(ctx->device, &fci, NULL, &ctx->fence));

    /* memory types: map tensor blocks directly on unified memory, else
     * device-local blocks and a host-visible staging type */
    vkGetPhysicalDeviceMemoryProperties(ctx->phys, &ctx->memprops);
    const VkMemoryPropertyFlags DL = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT,
                                HV = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    ctx->mem_type = UINT32_MAX;
    if (ctx->caps.unified_memory) {
        ctx->mem_type = find_memory_type(&ctx->memprops, DL | HV, 0);
        ctx->host_visible = ctx->mem_type != UINT32_MAX;
    }
    if (ctx->mem_type == UINT32_MAX) ctx->mem_type = find_memory_type(&ctx->memprops, DL, 0);
    if (ctx->mem_type == UINT32_MAX) ctx->mem_type = find_memory_type(&ctx->memprops, 0, 0);
    ctx->staging_type = find_memory_type(&ctx->memprops, HV | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, 0);
    if (ctx->staging_type == UINT32_MAX) ctx->staging_type = find_memory_type(&ctx->memprops, HV, 0);
    if (ctx->mem_type == UINT32_MAX || ctx->staging_type == UINT32_MAX) {
        st = prism_set_error(ctx, PRISM_ERR_UNSUPPORTED, "device '%s' has no usable memory type", ctx->caps.name);
        goto cleanup;
    }
    PRISM_TRY(prism_pipelines_init(ctx));
cleanup:
    return st;
}

void prism_vk_context_destroy(prism_context *ctx) {
    if (ctx->device) {
        vkDeviceWaitIdle(ctx->device);
        prism_pipelines_destroy(ctx);
        prism_mem_destroy_all(ctx);
        if (ctx->fence) vkDestroyFence(ctx->device, ctx->fence, NULL);
        if (ctx->pool) vkDestroyCommandPool(ctx->device, ctx->pool, NULL);
        vkDestroyDevice(ctx->device, NULL);
        ctx->device = VK_NULL_HANDLE;
    }
    if (ctx->messenger) vkDestroyDebugUtilsMessengerEXT(ctx->instance, ctx->messenger, NULL);
    if (ctx->instance) vkDestroyInstance(ctx->instance, NULL);
    ctx->messenger = VK_NULL_HANDLE;
    ctx->instance = VK_NULL_HANDLE;
}

prism_status prism_oneshot_begin(prism_context *ctx, VkCommandBuffer *cb) {
    prism_status st = PRISM_OK;
    *cb = VK_NULL_HANDLE;
    if (ctx->device_lost) return prism_set_error(ctx, PRISM_ERR_DEVICE_LOST, "device '%s' was lost earlier", ctx->caps.name);
    VkCommandBufferAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = ctx->pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    PRISM_VK(vkAllocateCommandBuffers(ctx->device, &ai, cb));
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    PRISM_VK(vkBeginCommandBuffer(*cb, &bi));
    return PRISM_OK;
cleanup:
    if (*cb) vkFreeCommandBuffers(ctx->device, ctx->pool, 1, cb);
    *cb = VK_NULL_HANDLE;
    return st;
}

prism_status prism_oneshot_end(prism_context *ctx, VkCommandBuffer cb) {
    prism_status st = PRISM_OK;
    PRISM_VK(vkEndCommandBuffer(cb));
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cb};
    PRISM_VK(vkResetFences(ctx->device, 1, &ctx->fence));
    PRISM_VK(vkQueueSubmit(ctx->queue, 1, &si, ctx->fence));
    PRISM_VK(vkWaitForFences(ctx->device, 1, &ctx->fence, VK_TRUE, UINT64_MAX));
cleanup:
    vkFreeCommandBuffers(ctx->device, ctx->pool, 1, &cb);
    return st;
}
