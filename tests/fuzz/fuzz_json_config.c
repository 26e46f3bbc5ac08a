/* libFuzzer target: JSON config parser, typed getters, print/re-parse. */
#include <stdlib.h>
#include <string.h>
#include "prism/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *keys[] = {"r", "peft_type", "scaling", "init_weights", "target_modules", "n_frequency", ""};
    char err[256];
    cJSON *root = NULL;
    if (prism_json_parse(data, size, "fuzz", &root, err, sizeof err) != PRISM_OK) {
        if (root || !memchr(err, 0, sizeof err)) abort();
        return 0;
    }
    if (cJSON_IsObject(root)) {
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            int64_t i;
            double d;
            int b;
            const char *s;
            prism_json_get_int(root, keys[k], 0, &i, err, sizeof err);
            prism_json_get_double(root, keys[k], 0, &d, err, sizeof err);
            prism_json_get_bool(root, keys[k], 0, &b, err, sizeof err);
            if (prism_json_get_string(root, keys[k], "", &s, err, sizeof err) == PRISM_OK && !s) abort();
        }
        for (const cJSON *c = root->child; c; c = c->next) {
            int64_t i;
            prism_json_get_int(root, c->string, 0, &i, err, sizeof err);
        }
    }
    /* A tree that parsed prints to text that parses again. */
    char *text = cJSON_PrintUnformatted(root);
    if (text) {
        cJSON *again = NULL;
        if (prism_json_parse(text, strlen(text), "printed", &again, err, sizeof err) != PRISM_OK) abort();
        cJSON_Delete(again);
        cJSON_free(text);
    }
    cJSON_Delete(root);
    return 0;
}
