/* float64 reference of the loss ops (softmax cross-entropy, accuracy). */
#ifndef PRISM_REF_LOSS_H
#define PRISM_REF_LOSS_H
#include <stdint.h>

/* The class index a label selects, exactly as shaders/loss.comp computes it:
 * labels are device data, so a bad one (NaN, negative, non-integer, >= C)
 * must never index outside the row. label >= 1 -> trunc(min(label, 4e9)),
 * anything else (including NaN) -> 0; then clamped to C - 1. */
int64_t prism_ref_label_index(double label, int64_t cols);
/* mean over rows of logsumexp(row) - row[label] */
double prism_ref_softmax_xent(const double *logits, const double *labels, int64_t rows, int64_t cols);
/* d = (softmax(row) - onehot(label)) * scale / rows */
void prism_ref_softmax_xent_backward(const double *logits, const double *labels, int64_t rows, int64_t cols,
                                     double scale, double *dlogits);
/* rows whose argmax (lowest index on ties) equals the label exactly (no clamping:
 * an out-of-range label simply never matches) */
double prism_ref_accuracy_count(const double *logits, const double *labels, int64_t rows, int64_t cols);

#endif
