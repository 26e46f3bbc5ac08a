/* Pipelines: one descriptor-set layout (PRISM_MAX_BINDINGS storage buffers)
 * and one pipeline layout (128-byte push block) shared by every shader;
 * pipelines created lazily per (shader, specialization constants) and kept;
 * a VkPipelineCache persisted per deviceUUID behind a checked header. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "internal.h"

#define CACHE_MAGIC "PRISMPC1"
#define CACHE_MAX_BYTES ((size_t)256 << 20)

typedef struct cache_header {
    char magic[8];
    uint32_t prism_version, vendor_id, device_id, driver_version;
    uint8_t uuid[16];
    uint64_t data_size, checksum;
} cache_header;

static uint64_t fnv1a(const uint8_t *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static void header_fill(const prism_context *ctx, cache_header *h) {
    memset(h, 0, sizeof *h);
    memcpy(h->magic, CACHE_MAGIC, 8);
    h->prism_version = PRISM_VERSION_MAJOR * 10000 + PRISM_VERSION_MINOR * 100 + PRISM_VERSION_PATCH;
    h->vendor_id = ctx->caps.vendor_id;
    h->device_id = ctx->caps.device_id;
    h->driver_version = ctx->caps.driver_version;
    memcpy(h->uuid, ctx->caps.device_uuid, 16);
}

/* Reads the cache file; any mismatch or damage rejects it whole (NULL). */
static void *cache_load(const prism_context *ctx, size_t *size) {
    *size = 0;
    if (!ctx->cache_path[0]) return NULL;
    FILE *f = fopen(ctx->cache_path, "rb");
    if (!f) return NULL;
    cache_header h, want;
    void *data = NULL;
    header_fill(ctx, &want);
    if (fread(&h, sizeof h, 1, f) != 1) goto reject;
    if (memcmp(h.magic, want.magic, 8) || h.prism_version != want.prism_version || h.vendor_id != want.vendor_id ||
        h.device_id != want.device_id || h.driver_version != want.driver_version || memcmp(h.uuid, want.uuid, 16) ||
        h.data_size == 0 || h.data_size > CACHE_MAX_BYTES)
        goto reject;
    data = malloc((size_t)h.data_size);
    if (!data || fread(data, 1, (size_t)h.data_size, f) != h.data_size || fgetc(f) != EOF ||
        fnv1a(data, (size_t)h.data_size) != h.checksum)
        goto reject;
    fclose(f);
    *size = (size_t)h.data_size;
    return data;
reject:
    free(data);
    fclose(f);
    return NULL;
}

static void mkdir_p(const char *path) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(buf, 0755);
            *p = '/';
        }
}

/* Atomic: temp file, fsync, rename. Failures only lose the cache. */
static void cache_save(prism_context *ctx) {
    if (!ctx->cache_path[0] || !ctx->pcache) return;
    size_t n = 0;
    if (vkGetPipelineCacheData(ctx->device, ctx->pcache, &n, NULL) != VK_SUCCESS || !n || n > CACHE_MAX_BYTES) return;
    uint8_t *data = malloc(n);
    if (!data) return;
    if (vkGetPipelineCacheData(ctx->device, ctx->pcache, &n, data) != VK_SUCCESS) {
        free(data);
        return;
    }
    cache_header h;
    header_fill(ctx, &h);
    h.data_size = n;
    h.checksum = fnv1a(data, n);
    char dir[1024], tmp[1100];
    snprintf(dir, sizeof dir, "%s", ctx->cache_path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = 0;
        mkdir_p(ctx->cache_path);
    }
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", ctx->cache_path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        bool ok = write(fd, &h, sizeof h) == (ssize_t)sizeof h && write(fd, data, n) == (ssize_t)n && fsync(fd) == 0;
        ok = close(fd) == 0 && ok;
        if (!ok || rename(tmp, ctx->cache_path) != 0) unlink(tmp);
    }
    free(data);
}

prism_status prism_pipelines_init(prism_context *ctx) {
    prism_status st = PRISM_OK;
    VkDescriptorSetLayoutBinding b[PRISM_MAX_BINDINGS];
    for (int i = 0; i < PRISM_MAX_BINDINGS; i++)
        b[i] = (VkDescriptorSetLayoutBinding){.binding = (uint32_t)i,
                                              .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                              .descriptorCount = 1,
                                              .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                           .bindingCount = PRISM_MAX_BINDINGS,
                                           .pBindings = b};
    if (ctx->caps.max_storage_buffers_per_stage < PRISM_MAX_BINDINGS || ctx->caps.max_push_constants_size < PRISM_PUSH_BYTES)
        return prism_set_error(ctx, PRISM_ERR_UNSUPPORTED, "device '%s' has fewer than %d storage buffers per stage or "
                               "%d push-constant bytes", ctx->caps.name, PRISM_MAX_BINDINGS, PRISM_PUSH_BYTES);
    PRISM_VK(vkCreateDescriptorSetLayout(ctx->device, &dci, NULL, &ctx->dsl));
    VkPushConstantRange pr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = PRISM_PUSH_BYTES};
    VkPipelineLayoutCreateInfo lci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                      .setLayoutCount = 1,
                                      .pSetLayouts = &ctx->dsl,
                                      .pushConstantRangeCount = 1,
                                      .pPushConstantRanges = &pr};
    PRISM_VK(vkCreatePipelineLayout(ctx->device, &lci, NULL, &ctx->playout));
    size_t n = 0;
    void *data = cache_load(ctx, &n);
    VkPipelineCacheCreateInfo cci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                     .initialDataSize = n,
                                     .pInitialData = data};
    VkResult r = vkCreatePipelineCache(ctx->device, &cci, NULL, &ctx->pcache);
    if (r != VK_SUCCESS && data) { /* the driver rejected old data: start empty */
        cci.initialDataSize = 0;
        cci.pInitialData = NULL;
        r = vkCreatePipelineCache(ctx->device, &cci, NULL, &ctx->pcache);
    }
    free(data);
    PRISM_VK(r);
    PRISM_TRY(prism_mem_alloc(ctx, 256, &ctx->dummy));
    ctx->dummy_buffer = ctx->dummy.buffer;
cleanup:
    return st;
}

void prism_pipelines_destroy(prism_context *ctx) {
    if (!ctx->device) return;
    cache_save(ctx);
    for (int i = 0; i < ctx->npipes; i++) vkDestroyPipeline(ctx->device, ctx->pipes[i].pipeline, NULL);
    free(ctx->pipes);
    ctx->pipes = NULL;
    ctx->npipes = ctx->cap_pipes = 0;
    if (ctx->dummy.block) prism_mem_free(ctx, &ctx->dummy);
    if (ctx->pcache) vkDestroyPipelineCache(ctx->device, ctx->pcache, NULL);
    if (ctx->playout) vkDestroyPipelineLayout(ctx->device, ctx->playout, NULL);
    if (ctx->dsl) vkDestroyDescriptorSetLayout(ctx->device, ctx->dsl, NULL);
    ctx->pcache = VK_NULL_HANDLE;
    ctx->playout = VK_NULL_HANDLE;
    ctx->dsl = VK_NULL_HANDLE;
}

const prism_shader *prism_shader_find(const char *name) {
    for (int i = 0; i < prism_shader_count; i++)
        if (!strcmp(prism_shaders[i].name, name)) return &prism_shaders[i];
    return NULL;
}

prism_status prism_pipeline_get(prism_context *ctx, const char *name, const uint32_t *spec, int nspec, VkPipeline *out) {
    prism_status st = PRISM_OK;
    const prism_shader *sh = prism_shader_find(name);
    if (!sh) return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "pipeline: no shader named '%s' is built in", name);
    if (nspec > PRISM_MAX_SPEC) return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "pipeline %s: too many spec constants", name);
    for (int i = 0; i < ctx->npipes; i++) {
        prism_pipeline *p = &ctx->pipes[i];
        if (p->shader == sh && p->nspec == nspec && !memcmp(p->spec, spec, sizeof(uint32_t) * (size_t)nspec)) {
            *out = p->pipeline;
            return PRISM_OK;
        }
    }
    if (ctx->npipes == ctx->cap_pipes) {
        int ncap = ctx->cap_pipes ? ctx->cap_pipes * 2 : 32;
        prism_pipeline *n = realloc(ctx->pipes, sizeof *n * (size_t)ncap);
        if (!n) return prism_set_error(ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "pipeline: out of host memory");
        ctx->pipes = n;
        ctx->cap_pipes = ncap;
    }
    VkShaderModule mod = VK_NULL_HANDLE;
    VkPipeline pipe = VK_NULL_HANDLE;
    VkShaderModuleCreateInfo smci = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = sh->size, .pCode = sh->code};
    PRISM_VK(vkCreateShaderModule(ctx->device, &smci, NULL, &mod));
    VkSpecializationMapEntry me[PRISM_MAX_SPEC];
    for (int i = 0; i < nspec; i++) me[i] = (VkSpecializationMapEntry){.constantID = (uint32_t)i, .offset = 4u * (uint32_t)i, .size = 4};
    VkSpecializationInfo si = {.mapEntryCount = (uint32_t)nspec, .pMapEntries = me, .dataSize = 4u * (uint32_t)nspec, .pData = spec};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = mod,
                  .pName = "main",
                  .pSpecializationInfo = nspec ? &si : NULL},
        .layout = ctx->playout,
    };
    /* a driver that cannot compile a variant reports it as unsupported, not fatal */
    VkResult r = vkCreateComputePipelines(ctx->device, ctx->pcache, 1, &ci, NULL, &pipe);
    if (r != VK_SUCCESS) {
        st = prism_set_error(ctx, r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY ? prism_vk_status(r) : PRISM_ERR_UNSUPPORTED,
                             "pipeline %s: vkCreateComputePipelines failed: %s", name, prism_vk_result_str(r));
        goto cleanup;
    }
    prism_pipeline *p = &ctx->pipes[ctx->npipes++];
    p->shader = sh;
    p->nspec = nspec;
    memset(p->spec, 0, sizeof p->spec);
    memcpy(p->spec, spec, sizeof(uint32_t) * (size_t)nspec);
    p->pipeline = pipe;
    *out = pipe;
cleanup:
    if (mod) vkDestroyShaderModule(ctx->device, mod, NULL);
    return st;
}
