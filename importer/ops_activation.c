/* Elementwise activations (Relu, LeakyRelu, Sigmoid, Tanh, Elu) and
 * Softmax / LogSoftmax with their opset-dependent axis semantics. */
#include "ops.h"

static seqrt_status eltwise(sq_ctx *ctx, const sq_node *node, sq_kind kind,
                            const char *alpha_name, float alpha_default) {
  float alpha = alpha_default;
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK && alpha_name)
    st = sq_attr_float(node, alpha_name, alpha_default, &alpha);
  sq_layer *layer;
  if (st == SEQRT_OK) st = sq_layer_add(ctx, kind, node, &layer);
  if (st != SEQRT_OK) return st;
  layer->alpha = alpha;
  sq_shape out = ctx->shape;
  return sq_layer_finish(ctx, layer, &out);
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
  sq_layer *layer;
  if (st == SEQRT_OK) st = sq_layer_add(ctx, kind, node, &layer);
  if (st != SEQRT_OK) return st;
  layer->axis = normalized;
  layer->coerce_2d = legacy && normalized != rank - 1;
  sq_shape out = ctx->shape;
  return sq_layer_finish(ctx, layer, &out);
}

seqrt_status sq_op_softmax(sq_ctx *ctx, const sq_node *node) {
  return softmax(ctx, node, SQ_SOFTMAX);
}

seqrt_status sq_op_logsoftmax(sq_ctx *ctx, const sq_node *node) {
  return softmax(ctx, node, SQ_LOGSOFTMAX);
}
