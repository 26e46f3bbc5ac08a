/* float64 reference: batched transpose. Plain loops, obviously correct. */
#include "transpose.h"

void prism_ref_transpose(double *y, const double *x, int64_t batch, int64_t r, int64_t c) {
    for (int64_t b = 0; b < batch; b++)
        for (int64_t i = 0; i < r; i++)
            for (int64_t j = 0; j < c; j++) y[b * r * c + j * r + i] = x[b * r * c + i * c + j];
}
