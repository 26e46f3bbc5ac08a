/* float64 reference: element-wise ops. Plain loops, obviously correct. */
#include <math.h>
#include "basic.h"

static const double GELU_K = 0.7978845608028654; /* sqrt(2/pi) */
static const double GELU_C = 0.044715;

double prism_ref_gelu(double x) { return 0.5 * x * (1.0 + tanh(GELU_K * (x + GELU_C * x * x * x))); }

double prism_ref_gelu_grad(double x) {
    double t = tanh(GELU_K * (x + GELU_C * x * x * x));
    double du = GELU_K * (1.0 + 3.0 * GELU_C * x * x);
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du;
}

void prism_ref_elementwise(prism_ew_mode mode, double *y, const double *a, const double *b, double alpha, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        switch (mode) {
        case PRISM_EW_FILL: y[i] = alpha; break;
        case PRISM_EW_COPY: y[i] = a[i]; break;
        case PRISM_EW_ADD: y[i] = a[i] + b[i]; break;
        case PRISM_EW_MUL: y[i] = a[i] * b[i]; break;
        case PRISM_EW_SCALE: y[i] = alpha * a[i]; break;
        case PRISM_EW_AXPY: y[i] += alpha * a[i]; break;
        case PRISM_EW_RELU: y[i] = a[i] > 0 ? a[i] : 0; break;
        case PRISM_EW_RELU_BWD: y[i] = a[i] > 0 ? b[i] : 0; break;
        case PRISM_EW_GELU: y[i] = prism_ref_gelu(a[i]); break;
        case PRISM_EW_GELU_BWD: y[i] = b[i] * prism_ref_gelu_grad(a[i]); break;
        }
    }
}
