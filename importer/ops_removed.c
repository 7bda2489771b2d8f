/* Ops that are no-ops at inference: Dropout (eval mode) and Identity. They
 * leave the chain; their module names are recorded in chain->removed. */
#include "ops.h"

/* From opset 12 the training mode is an optional boolean input. */
static seqrt_status check_not_training(sq_ctx *ctx, const sq_node *node) {
  if (ctx->graph->opset < 12 || sq_node_input(node, 2) < 0) return SEQRT_OK;
  const sq_value *mode;
  seqrt_status st = sq_const_input(ctx, node, 2, true, &mode);
  if (st != SEQRT_OK) return st;
  if (mode->count != 1 || sq_value_float(mode, 0) != 0.0)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Dropout) runs in training mode; export the "
                    "model with model.eval()",
                    node->name);
  return SEQRT_OK;
}

seqrt_status sq_op_dropout(sq_ctx *ctx, const sq_node *node) {
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK) st = check_not_training(ctx, node);
  return st == SEQRT_OK ? sq_node_removed(ctx, node) : st;
}

seqrt_status sq_op_identity(sq_ctx *ctx, const sq_node *node) {
  seqrt_status st = sq_require_activation(ctx, node, 0);
  return st == SEQRT_OK ? sq_node_removed(ctx, node) : st;
}
