/* Shared helpers of the adapter subcommands (merge, inspect, apply): opening
 * an adapter directory in HF PEFT layout, finding its modules, creating a
 * module's adapter on a base weight, contexts, host <-> device arrays.
 *
 * Every function that can fail prints one message to stderr, prefixed with
 * "prism <cmd>: ", and returns a CLI exit status (CLI_OK, CLI_FAIL or
 * CLI_USAGE from cli.h), so callers just propagate it. */
#ifndef PRISM_TOOLS_ADAPTER_CLI_H
#define PRISM_TOOLS_ADAPTER_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cli.h"
#include "prism/adapter.h"

/* HF PEFT key prefix of every tensor in adapter_model.safetensors. */
#define ACLI_KEY_PREFIX "base_model.model."

typedef struct acli_module {
    char *name;       /* module path, e.g. "model.layers.0.self_attn.q_proj" */
    char *prefix;     /* "base_model.model.<name>": what prism_adapter_load_tensors takes */
    size_t *tensors;  /* indices (prism_st_tensor_at) of the module's tensors */
    int ntensors;
} acli_module;

typedef struct acli_adapter {
    const char *cmd;               /* subcommand name, for messages */
    char *dir, *config_path, *model_path;
    cJSON *config;                 /* adapter_config.json as read */
    prism_adapter_config cfg;      /* parsed by prism_adapter_config_from_json */
    prism_st_file *st;             /* adapter_model.safetensors */
    uint64_t model_file_bytes;
    acli_module *modules;
    int nmodules;
} acli_adapter;

/* Opens an adapter directory: the config, the tensor file, and the modules
 * its keys belong to. A key's module is the longest dotted prefix of the key
 * (after "base_model.model.") that matches target_modules as HF PEFT matches
 * them (a list entry equal to the path or to its last dotted components; a
 * string is a regular expression the whole path must match). `only` (may be
 * NULL) names one module: keys under it are taken even without
 * target_modules, and the others are ignored. */
int acli_open(const char *cmd, const char *dir, const char *only, acli_adapter *a);
void acli_close(acli_adapter *a);
/* Index of the module called name, or -1. */
int acli_find_module(const acli_adapter *a, const char *name);

/* Creates module mi's adapter on W0 (+ bias, may be NULL) and loads its
 * tensors from the file; a tensor of the module the method does not have is
 * an error (a file for another method or a damaged file). *out is NULL on
 * failure. */
int acli_instantiate(acli_adapter *a, int mi, prism_context *ctx, const prism_tensor *W0,
                     const prism_tensor *bias, prism_adapter **out);

/* Reads the base weight `wkey` (2-D [m, n], any float dtype, as fp32) and,
 * when `bkey` is non-NULL and present, the bias `bkey` (1-D [m]) from a
 * safetensors file into device tensors; *bias stays NULL without one. A
 * missing bias is an error only when bias_required. */
int acli_read_base(const char *cmd, const prism_st_file *base, const char *path, const char *wkey,
                   const char *bkey, bool bias_required, prism_context *ctx, prism_tensor **W0,
                   prism_tensor **bias);

/* Context on `device` (NULL: $PRISM_DEVICE / the default choice), no
 * profiling. A device that does not exist is a usage error. */
int acli_context(const char *cmd, const char *device, prism_context **out);
/* CLI_FAIL (with a message) when the validation layer reported anything on
 * ctx, CLI_OK otherwise. */
int acli_validation_verdict(const char *cmd, const prism_context *ctx);
/* Prints "prism <cmd>: <what>: <context message>" and returns CLI_FAIL. */
int acli_fail_ctx(const char *cmd, const prism_context *ctx, const char *what);

/* A device tensor holding `data` (count = product of shape). */
int acli_upload(const char *cmd, prism_context *ctx, int ndim, const int64_t *shape, const double *data,
                prism_tensor **out);
int acli_upload_f32(const char *cmd, prism_context *ctx, int ndim, const int64_t *shape, const float *data,
                    prism_tensor **out);
/* A malloc'ed host copy of t (as double). */
int acli_download(const char *cmd, prism_tensor *t, double **out);

/* "[a, b, c]" into buf. */
const char *acli_shape_str(int ndim, const int64_t *shape, char *buf, size_t len);
bool acli_ends_with(const char *s, const char *suffix);
/* malloc'ed "a" + "b" (+ "c"); NULL when out of memory. */
char *acli_cat(const char *a, const char *b, const char *c);

#endif
