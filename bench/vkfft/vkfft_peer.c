/* VkFFT (Debian libvkfft-dev 1.2.26) as the peer of the dct / fft bench rows,
 * on the same VkDevice and queue as the prism context, in the same run.
 *
 * Built only when vkFFT.h is found (CMakeLists.txt, last block), against a
 * build-tree copy of the header with two fixes (docs/spectral-transforms.md):
 * `VkCommandBuffer commandBuffer = {};` -> `= VK_NULL_HANDLE;` (empty scalar
 * initialisers are not C), and glslang_default_resource() instead of the
 * header's positional resource table, which predates glslang 12's fields and
 * leaves every limit zero. This is the only translation unit that includes
 * vkFFT.h (about 30 s of compile). Timing mirrors pb_time: a barrier before
 * and timestamps around each transform, median over instances, first run
 * dropped. */
#define VKFFT_BACKEND 0
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h" /* volk.h first: VkFFT's vk* calls go through volk's pointers */
#include <glslang/Public/resource_limits_c.h>
#include "vkFFT.h"
#include "vkfft_peer.h"

int prism_vkfft_version(void) { return VkFFTGetVersion(); }

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void barrier(VkCommandBuffer cb) {
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                           VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
    VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vkCmdPipelineBarrier(cb, st, st, 0, 1, &mb, 0, NULL, 0, NULL);
}

double prism_vkfft_time(prism_context *ctx, prism_vkfft_kind kind, int64_t rows, int64_t cols, int reps, int runs,
                        char *err, size_t err_len) {
    double result = -1;
    if (!ctx || prism_context_backend(ctx) != PRISM_BACKEND_VULKAN || !ctx->caps.timestamps) {
        snprintf(err, err_len, "VkFFT peer needs a Vulkan device with timestamps");
        return -1;
    }
    if (reps < 1) reps = 1;
    if (runs < 1) runs = 1;
    VkDevice dev = ctx->device;
    VkBuffer buf = VK_NULL_HANDLE;
    VkDeviceMemory mem = VK_NULL_HANDLE;
    VkCommandPool pool = VK_NULL_HANDLE;
    VkFence fence = VK_NULL_HANDLE;
    VkQueryPool qp = VK_NULL_HANDLE;
    VkCommandBuffer cb = VK_NULL_HANDLE;
    VkFFTConfiguration cfg = {0};
    VkFFTApplication app = {0};
    bool app_ok = false;
    double *ms = malloc(sizeof(double) * (size_t)reps * (size_t)runs);
    uint64_t *ts = malloc(sizeof(uint64_t) * 2 * (size_t)reps);
    uint64_t bytes = (uint64_t)rows * (uint64_t)(kind == PRISM_VKFFT_R2C_ROWS ? 2 * (cols / 2 + 1) : cols) * 4;
    if (!ms || !ts) {
        snprintf(err, err_len, "out of host memory");
        goto done;
    }
#define VKP(call)                                                        \
    do {                                                                 \
        VkResult r_ = (call);                                            \
        if (r_ != VK_SUCCESS) {                                          \
            snprintf(err, err_len, "%s failed: %d", #call, (int)r_);     \
            goto done;                                                   \
        }                                                                \
    } while (0)
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = bytes,
                             .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_SRC_BIT,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VKP(vkCreateBuffer(dev, &bi, NULL, &buf));
    VkMemoryRequirements mr;
    vkGetBufferMemoryRequirements(dev, buf, &mr);
    uint32_t type = ctx->mem_type;
    if (!(mr.memoryTypeBits & (1u << type))) {
        snprintf(err, err_len, "the tensor memory type does not suit VkFFT's buffer");
        goto done;
    }
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = mr.size,
                               .memoryTypeIndex = type};
    VKP(vkAllocateMemory(dev, &ai, NULL, &mem));
    VKP(vkBindBufferMemory(dev, buf, mem, 0));
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                  .queueFamilyIndex = ctx->queue_family};
    VKP(vkCreateCommandPool(dev, &pi, NULL, &pool));
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VKP(vkCreateFence(dev, &fi, NULL, &fence));
    VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                .queryType = VK_QUERY_TYPE_TIMESTAMP, .queryCount = 2 * (uint32_t)reps};
    VKP(vkCreateQueryPool(dev, &qi, NULL, &qp));
    VkCommandBufferAllocateInfo ci = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1};
    VKP(vkAllocateCommandBuffers(dev, &ci, &cb));

    cfg.FFTdim = kind == PRISM_VKFFT_DCT2_2D ? 2 : 1;
    cfg.size[0] = (uint64_t)cols;
    cfg.size[1] = (uint64_t)rows;
    cfg.performDCT = kind == PRISM_VKFFT_R2C_ROWS ? 0 : 2;
    cfg.performR2C = kind == PRISM_VKFFT_R2C_ROWS ? 1 : 0;
    cfg.physicalDevice = &ctx->phys;
    cfg.device = &ctx->device;
    cfg.queue = &ctx->queue;
    cfg.commandPool = &pool;
    cfg.fence = &fence;
    cfg.buffer = &buf;
    cfg.bufferSize = &bytes;
    VkFFTResult fr = initializeVkFFT(&app, cfg);
    if (fr != VKFFT_SUCCESS) {
        snprintf(err, err_len, "initializeVkFFT failed with VkFFT error %d (size %lld x %lld)", (int)fr,
                 (long long)rows, (long long)cols);
        goto done;
    }
    app_ok = true;

    int kept = 0;
    double period = ctx->caps.timestamp_period_ns;
    uint64_t mask = ctx->caps.timestamp_valid_bits >= 64 ? ~0ull : (1ull << ctx->caps.timestamp_valid_bits) - 1;
    for (int run = 0; run < runs; run++) {
        VkCommandBufferBeginInfo cbi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                        .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
        VKP(vkBeginCommandBuffer(cb, &cbi));
        vkCmdResetQueryPool(cb, qp, 0, 2 * (uint32_t)reps);
        for (int i = 0; i < reps; i++) {
            vkCmdFillBuffer(cb, buf, 0, bytes, 0x3F400000u); /* 0.75f: finite input every time */
            barrier(cb);
            vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, qp, 2 * (uint32_t)i);
            VkFFTLaunchParams lp = {0};
            lp.commandBuffer = &cb;
            lp.buffer = &buf;
            fr = VkFFTAppend(&app, -1, &lp);
            if (fr != VKFFT_SUCCESS) {
                snprintf(err, err_len, "VkFFTAppend failed with VkFFT error %d", (int)fr);
                vkEndCommandBuffer(cb);
                goto done;
            }
            vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, qp, 2 * (uint32_t)i + 1);
            barrier(cb);
        }
        VKP(vkEndCommandBuffer(cb));
        VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cb};
        VKP(vkQueueSubmit(ctx->queue, 1, &si, fence));
        VKP(vkWaitForFences(dev, 1, &fence, VK_TRUE, UINT64_MAX));
        VKP(vkResetFences(dev, 1, &fence));
        VKP(vkGetQueryPoolResults(dev, qp, 0, 2 * (uint32_t)reps, sizeof(uint64_t) * 2 * (size_t)reps, ts,
                                  sizeof(uint64_t), VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
        if (run == 0 && runs > 1) continue; /* warm-up */
        for (int i = 0; i < reps; i++)
            ms[kept++] = (double)(((ts[2 * i + 1] & mask) - (ts[2 * i] & mask)) & mask) * period * 1e-6;
    }
    qsort(ms, (size_t)kept, sizeof *ms, cmp_d);
    result = kept ? ms[kept / 2] : -1;
done:
    if (app_ok) deleteVkFFT(&app);
    if (cb) vkFreeCommandBuffers(dev, pool, 1, &cb);
    if (qp) vkDestroyQueryPool(dev, qp, NULL);
    if (fence) vkDestroyFence(dev, fence, NULL);
    if (pool) vkDestroyCommandPool(dev, pool, NULL);
    if (buf) vkDestroyBuffer(dev, buf, NULL);
    if (mem) vkFreeMemory(dev, mem, NULL);
    free(ms);
    free(ts);
    return result;
}
