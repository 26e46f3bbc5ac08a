/* libFuzzer target: adapter_config.json text -> prism_adapter_config (the
 * common fields and every method's config_from_json, the subspace member
 * recursion included), then the config written back by
 * prism_adapter_config_to_json, printed and parsed again must give the same
 * config. fuzz_json_config covers the JSON layer alone.
 * fuzz-link: adapters */
#include <stdlib.h>
#include <string.h>
#include "prism/adapter.h"
#include "prism/io.h"

static int same(const prism_adapter_config *a, const prism_adapter_config *b) {
    return a->method == b->method && a->seed == b->seed && a->train_bias == b->train_bias && a->r == b->r &&
           a->lora_alpha == b->lora_alpha && a->hut_s == b->hut_s && a->blocks == b->blocks && a->side == b->side &&
           a->n_coef == b->n_coef && a->sdctft_alpha == b->sdctft_alpha && a->delta == b->delta &&
           a->dct_norm == b->dct_norm && a->n_frequency == b->n_frequency && a->fourier_scaling == b->fourier_scaling &&
           a->random_loc_seed == b->random_loc_seed && a->init_zero == b->init_zero && a->n_bank == b->n_bank &&
           a->k == b->k && a->mask == b->mask && a->placement == b->placement && a->act == b->act &&
           a->bank_seed == b->bank_seed && a->ext == b->ext;
}

/* X-PEFT's k = 0 means ceil(N/4), which is what the writer spells out. */
static void resolve(prism_adapter_config *c) {
    if (c->method == PRISM_METHOD_XPEFT && c->k == 0) c->k = (c->n_bank + 3) / 4;
}

/* The message is a terminated string and the status one a parser may give. */
static void check_failure(prism_status st, const char *err, size_t n) {
    if (!memchr(err, 0, n)) abort();
    if (st != PRISM_ERR_FORMAT && st != PRISM_ERR_UNSUPPORTED && st != PRISM_ERR_INVALID_ARGUMENT) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    cJSON *root = NULL, *back = NULL, *again = NULL;
    char *text = NULL;
    if (prism_json_parse(data, size, "fuzz", &root, err, sizeof err) != PRISM_OK) return 0;
    prism_adapter_config c, d;
    prism_status st = prism_adapter_config_from_json(root, &c, err, sizeof err);
    if (st != PRISM_OK) {
        check_failure(st, err, sizeof err);
        cJSON_Delete(root);
        return 0;
    }
    if (c.method < 0 || c.method >= PRISM_METHOD_COUNT || (c.r < 1 && c.method == PRISM_METHOD_LORA)) abort();
    /* what prism writes for a config it accepted, it reads back unchanged */
    if (!(back = cJSON_CreateObject())) abort();
    if (prism_adapter_config_to_json(&c, back, err, sizeof err) != PRISM_OK) abort();
    if (!(text = cJSON_PrintUnformatted(back))) abort();
    if (prism_json_parse(text, strlen(text), "written", &again, err, sizeof err) != PRISM_OK) abort();
    if (prism_adapter_config_from_json(again, &d, err, sizeof err) != PRISM_OK) abort();
    resolve(&c);
    if (!same(&c, &d)) abort();
    cJSON_free(text);
    cJSON_Delete(again);
    cJSON_Delete(back);
    cJSON_Delete(root);
    return 0;
}
