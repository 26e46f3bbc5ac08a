/* `prism devices [--json]`: every Vulkan device (de-duplicated by UUID) with
 * its limits, subgroup sizes and optional features, which one a context would
 * pick by default, and the float64 reference backend. */
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "prism/prism.h"

#define MAX_DEVICES 16

static void help(FILE *f) {
    fprintf(f,
            "usage: prism devices [--json]\n\n"
            "Lists every Vulkan device with its type, driver, API version, UUID, key limits,\n"
            "subgroup sizes and optional features, marks the one prism picks by default, and\n"
            "the 'reference' backend (float64 CPU, always available).\n\n"
            "options:\n"
            "  --json     machine-readable output on stdout\n"
            "  -h, --help this text\n\n"
            "Device choice (every command): PRISM_DEVICE=<index>|<name substring>|lavapipe|cpu|reference;\n"
            "default: discrete > integrated > virtual > CPU device. PRISM_DISABLE=f16,subgroup,...|all\n"
            "turns optional features off (the baseline path).\n");
}

static const char *type_name(prism_device_type t) {
    switch (t) {
    case PRISM_DEVICE_INTEGRATED: return "integrated GPU";
    case PRISM_DEVICE_DISCRETE: return "discrete GPU";
    case PRISM_DEVICE_VIRTUAL: return "virtual GPU";
    case PRISM_DEVICE_CPU: return "cpu";
    default: return "other";
    }
}

static void api_str(char *buf, size_t len, uint32_t v) {
    snprintf(buf, len, "%u.%u.%u", (v >> 22) & 0x7Fu, (v >> 12) & 0x3FFu, v & 0xFFFu);
}

static void uuid_str(char *buf, size_t len, const uint8_t *u) {
    size_t k = 0;
    for (int i = 0; i < 16 && k + 3 < len; i++) {
        k += (size_t)snprintf(buf + k, len - k, "%02x", u[i]);
        if ((i == 3 || i == 5 || i == 7 || i == 9) && k + 1 < len) buf[k++] = '-';
    }
    buf[k < len ? k : len - 1] = 0;
}

static void bytes_str(char *buf, size_t len, uint64_t b) {
    if (b >= ((uint64_t)1 << 30)) snprintf(buf, len, "%.1f GiB", (double)b / (double)((uint64_t)1 << 30));
    else if (b >= ((uint64_t)1 << 20)) snprintf(buf, len, "%.1f MiB", (double)b / (double)((uint64_t)1 << 20));
    else if (b >= 1024) snprintf(buf, len, "%.1f KiB", (double)b / 1024.0);
    else snprintf(buf, len, "%llu B", (unsigned long long)b);
}

typedef struct feature { const char *name; int on; } feature;

static int features(const prism_caps *c, feature *f) {
    int n = 0;
    f[n++] = (feature){"fp16_storage", c->f16_storage};
    f[n++] = (feature){"fp16_arithmetic", c->f16_arithmetic};
    f[n++] = (feature){"subgroup_ops", c->subgroup_ops};
    f[n++] = (feature){"subgroup_size_control", c->subgroup_size_control};
    f[n++] = (feature){"push_descriptor", c->push_descriptor};
    f[n++] = (feature){"buffer_device_address", c->buffer_device_address};
    f[n++] = (feature){"cooperative_matrix", c->cooperative_matrix};
    f[n++] = (feature){"f64", c->f64};
    f[n++] = (feature){"int64", c->int64};
    f[n++] = (feature){"timestamps", c->timestamps};
    f[n++] = (feature){"memory_budget", c->memory_budget};
    return n;
}

static void print_text(const prism_caps *c, int i, bool is_default) {
    char api[32], uuid[40], b1[32], b2[32], b3[32], b4[32];
    api_str(api, sizeof api, c->api_version);
    uuid_str(uuid, sizeof uuid, c->device_uuid);
    printf("device %d: %s%s\n", i, c->name, is_default ? "   [default]" : "");
    printf("  type                   %s\n", type_name(c->type));
    printf("  driver                 %s%s%s (version 0x%x)\n", c->driver_name, c->driver_info[0] ? " " : "",
           c->driver_info, c->driver_version);
    printf("  vendor / device id     0x%04x / 0x%04x\n", c->vendor_id, c->device_id);
    printf("  Vulkan API             %s\n", api);
    printf("  UUID                   %s\n", uuid);
    bytes_str(b1, sizeof b1, c->max_storage_buffer_range);
    bytes_str(b2, sizeof b2, c->max_memory_allocation_size);
    bytes_str(b3, sizeof b3, c->max_buffer_size);
    bytes_str(b4, sizeof b4, c->device_local_bytes);
    printf("  limits\n");
    printf("    maxStorageBufferRange      %llu (%s)\n", (unsigned long long)c->max_storage_buffer_range, b1);
    printf("    maxMemoryAllocationSize    %llu (%s)\n", (unsigned long long)c->max_memory_allocation_size, b2);
    printf("    maxBufferSize              %llu (%s)\n", (unsigned long long)c->max_buffer_size, b3);
    printf("    maxMemoryAllocationCount   %u\n", c->max_memory_allocation_count);
    printf("    workgroup invocations      %u\n", c->max_workgroup_invocations);
    printf("    workgroup size             %u x %u x %u\n", c->max_workgroup_size[0], c->max_workgroup_size[1],
           c->max_workgroup_size[2]);
    printf("    workgroup count            %u x %u x %u\n", c->max_workgroup_count[0], c->max_workgroup_count[1],
           c->max_workgroup_count[2]);
    printf("    shared memory              %u bytes\n", c->max_shared_memory_size);
    printf("    push constants             %u bytes\n", c->max_push_constants_size);
    printf("    storage offset alignment   %llu\n", (unsigned long long)c->min_storage_buffer_offset_alignment);
    printf("    storage buffers per stage  %u\n", c->max_storage_buffers_per_stage);
    printf("    device-local memory        %s (largest heap)\n", b4);
    printf("    unified memory             %s\n", c->unified_memory ? "yes" : "no");
    printf("    timestamps                 %s (%u valid bits, period %g ns)\n", c->timestamps ? "yes" : "no",
           c->timestamp_valid_bits, c->timestamp_period_ns);
    printf("  subgroup size          %u (min %u, max %u)\n", c->subgroup_size, c->subgroup_min_size,
           c->subgroup_max_size);
    feature f[16];
    int nf = features(c, f);
    printf("  optional features     ");
    for (int k = 0; k < nf; k++) printf(" %s%s", f[k].on ? "+" : "-", f[k].name);
    printf("\n");
}

static void print_json(const prism_caps *c, int i, bool is_default) {
    char api[32], uuid[40];
    api_str(api, sizeof api, c->api_version);
    uuid_str(uuid, sizeof uuid, c->device_uuid);
    printf("    {\"index\": %d, \"default\": %s, \"name\": ", i, is_default ? "true" : "false");
    cli_json_str(stdout, c->name);
    printf(", \"type\": ");
    cli_json_str(stdout, type_name(c->type));
    printf(", \"driver\": ");
    cli_json_str(stdout, c->driver_name);
    printf(", \"driver_info\": ");
    cli_json_str(stdout, c->driver_info);
    printf(", \"driver_version\": %u, \"vendor_id\": %u, \"device_id\": %u, \"api_version\": \"%s\", \"uuid\": \"%s\",\n",
           c->driver_version, c->vendor_id, c->device_id, api, uuid);
    printf("     \"limits\": {\"max_storage_buffer_range\": %llu, \"max_memory_allocation_size\": %llu, "
           "\"max_buffer_size\": %llu, \"max_memory_allocation_count\": %u, \"max_workgroup_invocations\": %u, "
           "\"max_workgroup_size\": [%u, %u, %u], \"max_workgroup_count\": [%u, %u, %u], "
           "\"max_shared_memory_size\": %u, \"max_push_constants_size\": %u, "
           "\"min_storage_buffer_offset_alignment\": %llu, \"max_storage_buffers_per_stage\": %u, "
           "\"device_local_bytes\": %llu, \"unified_memory\": %s, \"timestamp_valid_bits\": %u, "
           "\"timestamp_period_ns\": ",
           (unsigned long long)c->max_storage_buffer_range, (unsigned long long)c->max_memory_allocation_size,
           (unsigned long long)c->max_buffer_size, c->max_memory_allocation_count, c->max_workgroup_invocations,
           c->max_workgroup_size[0], c->max_workgroup_size[1], c->max_workgroup_size[2], c->max_workgroup_count[0],
           c->max_workgroup_count[1], c->max_workgroup_count[2], c->max_shared_memory_size,
           c->max_push_constants_size, (unsigned long long)c->min_storage_buffer_offset_alignment,
           c->max_storage_buffers_per_stage, (unsigned long long)c->device_local_bytes,
           c->unified_memory ? "true" : "false", c->timestamp_valid_bits);
    cli_json_num(stdout, c->timestamp_period_ns);
    printf("},\n     \"subgroup\": {\"size\": %u, \"min\": %u, \"max\": %u},\n     \"features\": {", c->subgroup_size,
           c->subgroup_min_size, c->subgroup_max_size);
    feature f[16];
    int nf = features(c, f);
    for (int k = 0; k < nf; k++) printf("%s\"%s\": %s", k ? ", " : "", f[k].name, f[k].on ? "true" : "false");
    printf("}}");
}

int cmd_devices(int argc, char **argv) {
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0}};
    bool json = false;
    int c;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'h': help(stdout); return CLI_OK;
        default: return cli_bad_option("devices", argc, argv, c);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "prism devices: unexpected argument '%s'\nRun 'prism devices --help' for usage.\n", argv[optind]);
        return CLI_USAGE;
    }

    prism_caps caps[MAX_DEVICES];
    int n = 0;
    char err[512] = "";
    prism_status st = prism_enumerate_devices(caps, MAX_DEVICES, &n, err, sizeof err);
    if (st != PRISM_OK) n = 0;
    if (n > MAX_DEVICES) n = MAX_DEVICES;

    /* What a context opens by default (honours PRISM_DEVICE / PRISM_DISABLE). */
    int def = -1;
    bool def_reference = false;
    char def_err[512] = "", disabled[128] = "";
    prism_context_options o = prism_context_options_default();
    o.validate = 0;
    o.profile = 0;
    o.cache_dir = "";
    prism_context *ctx = NULL;
    if (prism_context_create(&o, &ctx, def_err, sizeof def_err) == PRISM_OK) {
        const prism_caps *dc = prism_context_caps(ctx);
        def_reference = prism_context_backend(ctx) == PRISM_BACKEND_REFERENCE;
        for (int i = 0; i < n && !def_reference; i++)
            if (!memcmp(caps[i].device_uuid, dc->device_uuid, 16)) def = i;
        snprintf(disabled, sizeof disabled, "%s", dc->disabled);
        prism_context_destroy(ctx);
    }
    const char *env_dev = getenv("PRISM_DEVICE");

    if (json) {
        printf("{\n  \"devices\": [\n");
        for (int i = 0; i < n; i++) {
            print_json(&caps[i], i, i == def);
            printf("%s\n", i + 1 < n ? "," : "");
        }
        printf("  ],\n  \"reference\": {\"name\": \"reference\", \"description\": \"float64 CPU reference backend\", "
               "\"default\": %s},\n  \"default\": ", def_reference ? "true" : "false");
        if (def >= 0) printf("%d", def);
        else if (def_reference) printf("\"reference\"");
        else printf("null");
        printf(",\n  \"PRISM_DEVICE\": ");
        if (env_dev) cli_json_str(stdout, env_dev);
        else printf("null");
        printf(",\n  \"disabled\": ");
        cli_json_str(stdout, disabled);
        printf(",\n  \"error\": ");
        if (st != PRISM_OK) cli_json_str(stdout, err);
        else if (def < 0 && !def_reference) cli_json_str(stdout, def_err);
        else printf("null");
        printf("\n}\n");
    } else {
        if (st != PRISM_OK) printf("no Vulkan devices: %s\n\n", err);
        else if (n == 0) printf("no Vulkan 1.1 device found\n\n");
        for (int i = 0; i < n; i++) {
            print_text(&caps[i], i, i == def);
            printf("\n");
        }
        printf("reference: float64 CPU reference backend (PRISM_DEVICE=reference), always available%s\n\n",
               def_reference ? "   [default]" : "");
        printf("selection: PRISM_DEVICE=<index>|<name substring>|lavapipe|cpu|reference (now: %s)\n",
               env_dev ? env_dev : "unset, so discrete > integrated > virtual > cpu");
        if (def < 0 && !def_reference) printf("default: none opens: %s\n", def_err);
        if (disabled[0]) printf("PRISM_DISABLE turns off on the default device: %s\n", disabled);
    }
    if (st != PRISM_OK || n == 0) return CLI_FAIL;
    return CLI_OK;
}
