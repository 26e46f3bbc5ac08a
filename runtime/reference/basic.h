/* float64 reference of the basic element-wise ops and row reductions. */
#ifndef PRISM_REF_BASIC_H
#define PRISM_REF_BASIC_H
#include <stdint.h>

typedef enum prism_ew_mode {
    PRISM_EW_FILL = 0, PRISM_EW_COPY, PRISM_EW_ADD, PRISM_EW_MUL, PRISM_EW_SCALE, PRISM_EW_AXPY,
    PRISM_EW_RELU, PRISM_EW_RELU_BWD, PRISM_EW_GELU, PRISM_EW_GELU_BWD
} prism_ew_mode;

/* y[i] = f(a[i], b[i]) with the same meaning as shaders/basic.comp. */
void prism_ref_elementwise(prism_ew_mode mode, double *y, const double *a, const double *b, double alpha, int64_t n);
double prism_ref_gelu(double x);
double prism_ref_gelu_grad(double x); /* d gelu / dx */

#endif
