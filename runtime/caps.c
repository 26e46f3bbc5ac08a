/* Device capabilities: read once from the properties2/features2 chains into
 * prism_caps. Kernels ask caps, never vendor IDs. PRISM_DISABLE clears
 * optional features so every device can run the Vulkan 1.1 + fp32 baseline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static bool has_ext(const VkExtensionProperties *e, uint32_t n, const char *name) {
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(e[i].extensionName, name) == 0) return true;
    return false;
}

prism_status prism_caps_read(prism_context *ctx, VkPhysicalDevice pd, prism_caps *c) {
    memset(c, 0, sizeof *c);
    VkPhysicalDeviceProperties base;
    vkGetPhysicalDeviceProperties(pd, &base);
    uint32_t api = base.apiVersion;

    uint32_t next = 0;
    VkExtensionProperties *exts = NULL;
    if (vkEnumerateDeviceExtensionProperties(pd, NULL, &next, NULL) == VK_SUCCESS && next) {
        exts = calloc(next, sizeof *exts);
        if (!exts) return prism_set_error(ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "caps: out of host memory");
        if (vkEnumerateDeviceExtensionProperties(pd, NULL, &next, exts) != VK_SUCCESS) next = 0;
    }

    /* properties chain: 1.1 props (subgroups), driver props (1.2), maintenance3/4,
     * subgroup size control */
    VkPhysicalDeviceSubgroupProperties sg = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceIDProperties idp = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES, .pNext = &sg};
    VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceMaintenance4Properties m4 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_4_PROPERTIES};
    VkPhysicalDeviceSubgroupSizeControlProperties ssc = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES};
    VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES, .pNext = &idp};
    void **tail = &idp.pNext;
    (void)tail;
    bool has_drv = api >= VK_API_VERSION_1_2 || has_ext(exts, next, VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME);
    bool has_m4 = api >= VK_API_VERSION_1_3 || has_ext(exts, next, "VK_KHR_maintenance4");
    bool has_ssc = api >= VK_API_VERSION_1_3 || has_ext(exts, next, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
    void *chain = &m3;
    if (has_drv) { drv.pNext = chain; chain = &drv; }
    if (has_m4) { m4.pNext = chain; chain = &m4; }
    if (has_ssc) { ssc.pNext = chain; chain = &ssc; }
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = chain};
    vkGetPhysicalDeviceProperties2(pd, &p2);

    /* features chain */
    VkPhysicalDevice16BitStorageFeatures s16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
    VkPhysicalDeviceShaderFloat16Int8Features f16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
    VkPhysicalDeviceBufferDeviceAddressFeatures bda = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_BUFFER_DEVICE_ADDRESS_FEATURES};
    VkPhysicalDeviceSubgroupSizeControlFeatures sscf = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES};
    void *fchain = &s16;
    bool has_f16 = api >= VK_API_VERSION_1_2 || has_ext(exts, next, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
    bool has_bda = api >= VK_API_VERSION_1_2 || has_ext(exts, next, VK_KHR_BUFFER_DEVICE_ADDRESS_EXTENSION_NAME);
    if (has_f16) { f16.pNext = fchain; fchain = &f16; }
    if (has_bda) { bda.pNext = fchain; fchain = &bda; }
    if (has_ssc) { sscf.pNext = fchain; fchain = &sscf; }
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = fchain};
    vkGetPhysicalDeviceFeatures2(pd, &f2);

    snprintf(c->name, sizeof c->name, "%s", base.deviceName);
    if (has_drv) {
        snprintf(c->driver_name, sizeof c->driver_name, "%s", drv.driverName);
        snprintf(c->driver_info, sizeof c->driver_info, "%s", drv.driverInfo);
    }
    switch (base.deviceType) {
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: c->type = PRISM_DEVICE_INTEGRATED; break;
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: c->type = PRISM_DEVICE_DISCRETE; break;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: c->type = PRISM_DEVICE_VIRTUAL; break;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: c->type = PRISM_DEVICE_CPU; break;
    default: c->type = PRISM_DEVICE_OTHER;
    }
    c->vendor_id = base.vendorID;
    c->device_id = base.deviceID;
    c->driver_version = base.driverVersion;
    c->api_version = api;
    memcpy(c->device_uuid, idp.deviceUUID, 16);

    const VkPhysicalDeviceLimits *l = &base.limits;
    c->max_storage_buffer_range = l->maxStorageBufferRange;
    c->max_memory_allocation_size = m3.maxMemoryAllocationSize;
    c->max_buffer_size = has_m4 && m4.maxBufferSize ? m4.maxBufferSize : m3.maxMemoryAllocationSize;
    c->max_memory_allocation_count = l->maxMemoryAllocationCount;
    c->min_storage_buffer_offset_alignment = l->minStorageBufferOffsetAlignment;
    c->non_coherent_atom_size = l->nonCoherentAtomSize;
    c->max_push_constants_size = l->maxPushConstantsSize;
    c->max_workgroup_invocations = l->maxComputeWorkGroupInvocations;
    for (int i = 0; i < 3; i++) {
        c->max_workgroup_size[i] = l->maxComputeWorkGroupSize[i];
        c->max_workgroup_count[i] = l->maxComputeWorkGroupCount[i];
    }
    c->max_shared_memory_size = l->maxComputeSharedMemorySize;
    c->max_bound_descriptor_sets = l->maxBoundDescriptorSets;
    c->max_storage_buffers_per_stage = l->maxPerStageDescriptorStorageBuffers;
    c->timestamp_period_ns = l->timestampPeriod;

    /* memory: largest device-local heap; unified when a DEVICE_LOCAL|HOST_VISIBLE|
     * HOST_COHERENT type lives on it (lavapipe, mobile, integrated) */
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    uint32_t best_heap = 0;
    for (uint32_t h = 0; h < mp.memoryHeapCount; h++)
        if ((mp.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
            mp.memoryHeaps[h].size > c->device_local_bytes) {
            c->device_local_bytes = mp.memoryHeaps[h].size;
            best_heap = h;
        }
    const VkMemoryPropertyFlags uma = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT |
                                      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                      VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    /* A discrete GPU with resizable BAR also exposes such a type, but host
     * reads through it are uncached and slow: stage there instead. */
    for (uint32_t t = 0; t < mp.memoryTypeCount; t++)
        if ((mp.memoryTypes[t].propertyFlags & uma) == uma && mp.memoryTypes[t].heapIndex == best_heap &&
            base.deviceType != VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU)
            c->unified_memory = 1;

    /* timestamps on the compute queue family */
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, NULL);
    VkQueueFamilyProperties qf[16];
    if (nq > 16) nq = 16;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, qf);
    for (uint32_t q = 0; q < nq; q++)
        if (qf[q].queueFlags & VK_QUEUE_COMPUTE_BIT) {
            c->timestamp_valid_bits = qf[q].timestampValidBits;
            break;
        }
    c->timestamps = c->timestamp_valid_bits > 0 && l->timestampPeriod > 0;

    c->subgroup_size = sg.subgroupSize;
    c->subgroup_min_size = has_ssc ? ssc.minSubgroupSize : sg.subgroupSize;
    c->subgroup_max_size = has_ssc ? ssc.maxSubgroupSize : sg.subgroupSize;
    const VkSubgroupFeatureFlags need = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT |
                                        VK_SUBGROUP_FEATURE_SHUFFLE_BIT;
    c->subgroup_ops = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) && (sg.supportedOperations & need) == need;
    c->subgroup_size_control = has_ssc && sscf.subgroupSizeControl && sscf.computeFullSubgroups;

    c->f16_storage = s16.storageBuffer16BitAccess;
    c->f16_arithmetic = has_f16 && f16.shaderFloat16;
    c->f64 = f2.features.shaderFloat64;
    c->int64 = f2.features.shaderInt64;
    c->push_descriptor = has_ext(exts, next, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
    c->buffer_device_address = has_bda && bda.bufferDeviceAddress;
    c->cooperative_matrix = has_ext(exts, next, "VK_KHR_cooperative_matrix");
    c->memory_budget = has_ext(exts, next, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    free(exts);
    return PRISM_OK;
}

/* Clears optional features named in a comma list ("all" clears every one). */
bool prism_caps_apply_disable(prism_caps *c, const char *disable, char *bad, size_t bad_len) {
    c->disabled[0] = 0;
    if (!disable || !*disable) return true;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", disable);
    for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        bool all = strcmp(tok, "all") == 0, hit = false;
        if (all || !strcmp(tok, "f16")) { c->f16_storage = c->f16_arithmetic = 0; hit = true; }
        if (all || !strcmp(tok, "subgroup")) { c->subgroup_ops = 0; c->subgroup_size_control = 0; hit = true; }
        if (all || !strcmp(tok, "push_descriptor")) { c->push_descriptor = 0; hit = true; }
        if (all || !strcmp(tok, "bda")) { c->buffer_device_address = 0; hit = true; }
        if (all || !strcmp(tok, "coopmat")) { c->cooperative_matrix = 0; hit = true; }
        if (all || !strcmp(tok, "f64")) { c->f64 = 0; hit = true; }
        if (all || !strcmp(tok, "int64")) { c->int64 = 0; hit = true; }
        if (all || !strcmp(tok, "unified_memory")) { c->unified_memory = 0; hit = true; }
        if (!hit) {
            snprintf(bad, bad_len, "%s", tok);
            return false;
        }
        {
            size_t n = strlen(c->disabled);
            snprintf(c->disabled + n, sizeof c->disabled - n, "%s%s", n ? "," : "", tok);
        }
    }
    return true;
}
