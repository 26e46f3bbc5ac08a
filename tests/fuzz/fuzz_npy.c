/* libFuzzer target: .npy parser to each target type. */
#include <stdlib.h>
#include <string.h>
#include "prism/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const prism_dtype want[3] = {PRISM_DTYPE_F32, PRISM_DTYPE_F64, PRISM_DTYPE_I64};
    char err[256];
    for (int k = 0; k < 3; k++) {
        prism_npy_array a;
        prism_status st = prism_npy_parse(data, size, "fuzz", want[k], &a, err, sizeof err);
        if (st != PRISM_OK) {
            if (a.data || !memchr(err, 0, sizeof err)) abort();
            continue;
        }
        int64_t numel = 1;
        for (int d = 0; d < a.ndim; d++) numel *= a.shape[d];
        if (numel != a.numel || a.dtype != want[k] || (size_t)a.numel > size) abort();
        volatile unsigned char sink = 0; /* touch every converted byte */
        for (size_t i = 0; i < (size_t)a.numel * prism_dtype_size(a.dtype); i++) sink ^= ((unsigned char *)a.data)[i];
        (void)sink;
        prism_npy_free(&a);
    }
    return 0;
}
