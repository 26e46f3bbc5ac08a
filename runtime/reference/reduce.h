/* float64 reference of the row reductions (shaders/reduce.comp). */
#ifndef PRISM_REF_REDUCE_H
#define PRISM_REF_REDUCE_H
#include <stdint.h>

typedef enum prism_reduce_mode { PRISM_REDUCE_SUM = 0, PRISM_REDUCE_DOT = 1, PRISM_REDUCE_NORM = 2 } prism_reduce_mode;

/* y[i] = sum_j a[i,j] (SUM), sum_j a[i,j] b[i,j] (DOT) or sqrt(sum_j a[i,j]^2)
 * (NORM) for a row-major [rows, cols] a. b is only read for DOT. */
void prism_ref_row_reduce(prism_reduce_mode mode, double *y, const double *a, const double *b, int64_t rows,
                          int64_t cols);

#endif
