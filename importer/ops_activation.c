/* Elementwise activations (one node each), PRelu with its per-channel
 * slopes, and Softmax / LogSoftmax with their opset-dependent axis
 * semantics. Parameters follow chain.h's ELTWISE comment. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "ops.h"

seqrt_status sq_eltwise_layer(sq_ctx *ctx, const sq_group *group,
                              const sq_node *node, sq_kind kind, float alpha,
                              float beta) {
  sq_layer *layer;
  seqrt_status st = group ? sq_group_layer(ctx, group, kind, &layer)
                          : sq_layer_add(ctx, kind, node, &layer);
  if (st != SEQRT_OK) return st;
  layer->alpha = alpha;
  layer->beta = beta;
  sq_shape out = ctx->shape;
  return sq_layer_finish(ctx, layer, &out);
}

/* The eltwise layer of a one-node activation (the activation in slot 0). */
static seqrt_status eltwise2(sq_ctx *ctx, const sq_node *node, sq_kind kind,
                             float alpha, float beta) {
  seqrt_status st = sq_require_activation(ctx, node, 0);
  return st == SEQRT_OK ? sq_eltwise_layer(ctx, NULL, node, kind, alpha, beta)
                        : st;
}

/* One float attribute as alpha (absent: the ONNX default). */
static seqrt_status eltwise(sq_ctx *ctx, const sq_node *node, sq_kind kind,
                            const char *alpha_name, float alpha_default) {
  float alpha = alpha_default;
  seqrt_status st = SEQRT_OK;
  if (alpha_name) st = sq_attr_float(node, alpha_name, alpha_default, &alpha);
  return st == SEQRT_OK ? eltwise2(ctx, node, kind, alpha, 0.0f) : st;
}

seqrt_status sq_op_relu(sq_ctx *ctx, const sq_node *node) {
  return eltwise(ctx, node, SQ_RELU, NULL, 0.0f);
}

seqrt_status sq_op_leakyrelu(sq_ctx *ctx, const sq_node *node) {
  return eltwise(ctx, node, SQ_LEAKYRELU, "alpha", 0.01f);
}

seqrt_status sq_op_sigmoid(sq_ctx *ctx, const sq_node *node) {
  return eltwise(ctx, node, SQ_SIGMOID, NULL, 0.0f);
}

seqrt_status sq_op_tanh(sq_ctx *ctx, const sq_node *node) {
  return eltwise(ctx, node, SQ_TANH, NULL, 0.0f);
}

seqrt_status sq_op_elu(sq_ctx *ctx, const sq_node *node) {
  return eltwise(ctx, node, SQ_ELU, "alpha", 1.0f);
}

seqrt_status sq_op_celu(sq_ctx *ctx, const sq_node *node) {
  return eltwise(ctx, node, SQ_CELU, "alpha", 1.0f);
}

seqrt_status sq_op_selu(sq_ctx *ctx, const sq_node *node) {
  float alpha, gamma;
  seqrt_status st =
      sq_attr_float(node, "alpha", 1.67326319217681884765625f, &alpha);
  if (st == SEQRT_OK)
    st = sq_attr_float(node, "gamma", 1.05070102214813232421875f, &gamma);
  return st == SEQRT_OK ? eltwise2(ctx, node, SQ_SELU, alpha, gamma) : st;
}

seqrt_status sq_op_hardsigmoid(sq_ctx *ctx, const sq_node *node) {
  float alpha, beta;
  seqrt_status st = sq_attr_float(node, "alpha", 0.2f, &alpha);
  if (st == SEQRT_OK) st = sq_attr_float(node, "beta", 0.5f, &beta);
  return st == SEQRT_OK ? eltwise2(ctx, node, SQ_HARDSIGMOID, alpha, beta) : st;
}

seqrt_status sq_op_hardswish(sq_ctx *ctx, const sq_node *node) {
  return eltwise(ctx, node, SQ_HARDSWISH, NULL, 0.0f);
}

/* ONNX Softplus has no beta: alpha (PyTorch's beta) is 1. */
seqrt_status sq_op_softplus(sq_ctx *ctx, const sq_node *node) {
  return eltwise2(ctx, node, SQ_SOFTPLUS, 1.0f, 0.0f);
}

seqrt_status sq_op_softsign(sq_ctx *ctx, const sq_node *node) {
  return eltwise(ctx, node, SQ_SOFTSIGN, NULL, 0.0f);
}

seqrt_status sq_op_mish(sq_ctx *ctx, const sq_node *node) {
  return eltwise(ctx, node, SQ_MISH, NULL, 0.0f);
}

seqrt_status sq_op_gelu(sq_ctx *ctx, const sq_node *node) {
  char approx[16];
  seqrt_status st =
      sq_attr_string(node, "approximate", "none", approx, sizeof approx);
  if (st != SEQRT_OK) return st;
  bool tanh_form = strcmp(approx, "tanh") == 0;
  if (!tanh_form && strcmp(approx, "none") != 0)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (Gelu): approximate='%s' is neither 'none' "
                    "nor 'tanh'",
                    node->name, approx);
  return eltwise(ctx, node, tanh_form ? SQ_GELU_TANH : SQ_GELU, NULL, 0.0f);
}

/* y = x > alpha ? x : 0: PyTorch's Threshold with value 0. */
seqrt_status sq_op_thresholdedrelu(sq_ctx *ctx, const sq_node *node) {
  float alpha;
  seqrt_status st = sq_attr_float(node, "alpha", 1.0f, &alpha);
  return st == SEQRT_OK ? eltwise2(ctx, node, SQ_THRESHOLD, alpha, 0.0f) : st;
}

/* y = x < -lambd ? x + bias : x > lambd ? x - bias : 0: Softshrink when
 * bias == lambd, Hardshrink when bias == 0. */
seqrt_status sq_op_shrink(sq_ctx *ctx, const sq_node *node) {
  float bias, lambd;
  seqrt_status st = sq_attr_float(node, "bias", 0.0f, &bias);
  if (st == SEQRT_OK) st = sq_attr_float(node, "lambd", 0.5f, &lambd);
  if (st != SEQRT_OK) return st;
  if (lambd >= 0 && bias == lambd)
    return eltwise2(ctx, node, SQ_SOFTSHRINK, lambd, 0.0f);
  if (lambd >= 0 && bias == 0.0f)
    return eltwise2(ctx, node, SQ_HARDSHRINK, lambd, 0.0f);
  return sq_error(SEQRT_ERR_UNSUPPORTED,
                  "node '%s' (Shrink) with bias=%g and lambd=%g is not "
                  "supported: seqrt runs Shrink as Softshrink (bias == "
                  "lambd) or Hardshrink (bias 0) with lambd >= 0",
                  node->name, bias, lambd);
}

/* ---- Clip: ReLU6, Hardtanh, ReLU ----------------------------------------- */

/* min/max: attributes before opset 11, optional inputs from 11. */
static seqrt_status clip_bounds(sq_ctx *ctx, const sq_node *node, float *lo,
                                float *hi) {
  *lo = -FLT_MAX;
  *hi = FLT_MAX;
  if (ctx->graph->opset < 11) {
    seqrt_status st = sq_attr_float(node, "min", -FLT_MAX, lo);
    return st == SEQRT_OK ? sq_attr_float(node, "max", FLT_MAX, hi) : st;
  }
  float *bounds[2] = {lo, hi};
  for (int k = 0; k < 2; k++) {
    const sq_value *v;
    seqrt_status st = sq_float_input(ctx, node, k + 1, false, &v);
    if (st != SEQRT_OK) return st;
    if (v && v->count != 1)
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "node '%s' (Clip): %s must be one value, got %lld",
                      node->name, k ? "max" : "min", (long long)v->count);
    if (v) *bounds[k] = v->f[0];
  }
  return SEQRT_OK;
}

seqrt_status sq_op_clip(sq_ctx *ctx, const sq_node *node) {
  float lo, hi;
  seqrt_status st = clip_bounds(ctx, node, &lo, &hi);
  if (st != SEQRT_OK) return st;
  if (!(lo <= hi))
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Clip) has min %g above max %g", node->name, lo,
                    hi);
  if (lo == 0.0f && hi == FLT_MAX) return eltwise(ctx, node, SQ_RELU, NULL, 0);
  sq_kind kind = lo == 0.0f && hi == 6.0f ? SQ_RELU6 : SQ_HARDTANH;
  return eltwise2(ctx, node, kind, lo, hi);
}

/* ---- PRelu --------------------------------------------------------------- */

/* Slopes broadcast (ONNX rules) against the input must be one per channel
 * (dim 1): [C], [C,1,...] ending at the last dim, or a single value. */
static seqrt_status slopes_count(const sq_ctx *ctx, const sq_node *node,
                                 const sq_value *s, int64_t *count) {
  const sq_shape *in = &ctx->shape;
  int64_t channels = in->rank >= 2 ? in->dims[1] : 0;
  *count = s->count;
  if (s->count == 1 && s->rank <= in->rank) return SEQRT_OK;
  /* [C, 1, ..., 1] aligned so that C falls on dim 1 */
  bool per_channel = s->rank == in->rank - 1 && s->count == channels;
  for (int k = 1; per_channel && k < s->rank; k++)
    per_channel = s->dims[k] == 1;
  if (per_channel) return SEQRT_OK;
  /* PRelu-6 applied a 1-D slope per channel; numpy broadcasting came in 7 */
  if (ctx->graph->opset < 7 && s->rank == 1 && s->count == channels)
    return SEQRT_OK;
  return sq_error(SEQRT_ERR_UNSUPPORTED,
                  "node '%s' (PRelu): slopes of shape %s, not one per "
                  "channel (dim 1) of the input %s, are not supported",
                  node->name, sq_fmt_dims(s->rank, s->dims), sq_fmt_shape(in));
}

seqrt_status sq_op_prelu(sq_ctx *ctx, const sq_node *node) {
  const sq_value *s;
  int64_t count;
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK) st = sq_float_input(ctx, node, 1, true, &s);
  if (st == SEQRT_OK) st = slopes_count(ctx, node, s, &count);
  sq_layer *layer;
  if (st == SEQRT_OK) st = sq_layer_add(ctx, SQ_PRELU, node, &layer);
  if (st == SEQRT_OK)
    st = sq_weights_from_input(ctx, node, 1, s, &layer->weight);
  if (st != SEQRT_OK) return st;
  layer->weight.shape.rank = 1;
  layer->weight.shape.dims[0] = count;
  sq_shape out = ctx->shape;
  return sq_layer_finish(ctx, layer, &out);
}

/* ---- Softmax family ------------------------------------------------------ */

seqrt_status sq_softmax_layer(sq_ctx *ctx, const sq_group *group,
                              const sq_node *node, sq_kind kind, int axis,
                              bool coerce_2d) {
  sq_layer *layer;
  seqrt_status st = group ? sq_group_layer(ctx, group, kind, &layer)
                          : sq_layer_add(ctx, kind, node, &layer);
  if (st != SEQRT_OK) return st;
  layer->axis = axis;
  layer->coerce_2d = coerce_2d;
  sq_shape out = ctx->shape;
  return sq_layer_finish(ctx, layer, &out);
}

/* Before opset 13 the input is coerced to 2-D at `axis` (default 1) and
 * normalised over the second part; from 13 `axis` (default -1) is the one
 * axis. Both agree when the axis is the last. */
static seqrt_status softmax(sq_ctx *ctx, const sq_node *node, sq_kind kind) {
  bool legacy = ctx->graph->opset < 13;
  int64_t axis;
  int rank = ctx->shape.rank, normalized;
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK) st = sq_attr_int(node, "axis", legacy ? 1 : -1, &axis);
  if (st == SEQRT_OK)
    st = sq_normalize_axis(node, "axis", axis, rank, &normalized);
  if (st != SEQRT_OK) return st;
  return sq_softmax_layer(ctx, NULL, node, kind, normalized,
                          legacy && normalized != rank - 1);
}

seqrt_status sq_op_softmax(sq_ctx *ctx, const sq_node *node) {
  return softmax(ctx, node, SQ_SOFTMAX);
}

seqrt_status sq_op_logsoftmax(sq_ctx *ctx, const sq_node *node) {
  return softmax(ctx, node, SQ_LOGSOFTMAX);
}
