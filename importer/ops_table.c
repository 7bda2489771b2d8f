/* The op table (one row per ONNX op type the chain can hold) and the
 * pattern table (multi-node groups recognised by structure). */
#include <stdio.h>
#include <string.h>

#include "ops.h"

static const sq_op op_table[] = {
    /* ops_linear.c */
    {"Gemm", sq_op_gemm, SQ_OPSET_MIN, SQ_OPSET_MAX},
    {"MatMul", sq_op_matmul, SQ_OPSET_MIN, SQ_OPSET_MAX},
    {"Add", sq_op_add, SQ_OPSET_MIN, SQ_OPSET_MAX},
    /* ops_conv.c */
    {"Conv", sq_op_conv, SQ_OPSET_MIN, SQ_OPSET_MAX},
    /* ops_pool.c */
    {"MaxPool", sq_op_maxpool, SQ_OPSET_MIN, SQ_OPSET_MAX},
    {"AveragePool", sq_op_avgpool, SQ_OPSET_MIN, SQ_OPSET_MAX},
    {"GlobalAveragePool", sq_op_global_avgpool, SQ_OPSET_MIN, SQ_OPSET_MAX},
    {"GlobalMaxPool", sq_op_global_maxpool, SQ_OPSET_MIN, SQ_OPSET_MAX},
    /* ops_norm.c */
    {"BatchNormalization", sq_op_batchnorm, SQ_OPSET_MIN, SQ_OPSET_MAX},
    /* ops_activation.c */
    {"Relu", sq_op_relu, SQ_OPSET_MIN, SQ_OPSET_MAX},
    {"LeakyRelu", sq_op_leakyrelu, SQ_OPSET_MIN, SQ_OPSET_MAX},
    {"Sigmoid", sq_op_sigmoid, SQ_OPSET_MIN, SQ_OPSET_MAX},
    {"Tanh", sq_op_tanh, SQ_OPSET_MIN, SQ_OPSET_MAX},
    {"Elu", sq_op_elu, SQ_OPSET_MIN, SQ_OPSET_MAX},
    {"Softmax", sq_op_softmax, SQ_OPSET_MIN, SQ_OPSET_MAX},
    {"LogSoftmax", sq_op_logsoftmax, SQ_OPSET_MIN, SQ_OPSET_MAX},
    /* ops_shape.c */
    {"Flatten", sq_op_flatten, SQ_OPSET_MIN, SQ_OPSET_MAX},
    {"Reshape", sq_op_reshape, SQ_OPSET_MIN, SQ_OPSET_MAX},
    {"Squeeze", sq_op_squeeze, SQ_OPSET_MIN, SQ_OPSET_MAX},
    {"Unsqueeze", sq_op_unsqueeze, SQ_OPSET_MIN, SQ_OPSET_MAX},
    /* ops_removed.c */
    {"Dropout", sq_op_dropout, SQ_OPSET_MIN, SQ_OPSET_MAX},
    {"Identity", sq_op_identity, SQ_OPSET_MIN, SQ_OPSET_MAX},
};

/* Tried in order at every unclaimed data node (topological order). */
static const sq_pattern pattern_table[] = {
    {"MatMul+Add", sq_match_matmul_add, sq_convert_matmul_add},
    {"Pad+AveragePool", sq_match_pad_avgpool, sq_convert_pad_avgpool},
    {"Pad+Conv", sq_match_pad_conv, sq_convert_pad_conv},
};

const sq_op *sq_op_find(const char *op_type) {
  for (size_t k = 0; k < sizeof op_table / sizeof *op_table; k++)
    if (strcmp(op_table[k].op_type, op_type) == 0) return &op_table[k];
  return NULL;
}

const sq_pattern *sq_patterns(int *count) {
  *count = (int)(sizeof pattern_table / sizeof *pattern_table);
  return pattern_table;
}

static bool default_domain(const sq_node *node) {
  const char *d = node->proto->domain;
  return !d || !*d || strcmp(d, "ai.onnx") == 0;
}

seqrt_status sq_op_unsupported(const sq_graph *graph, const sq_node *node) {
  char where[400];
  if (strcmp(node->module, node->name) != 0)
    snprintf(where, sizeof where, "module '%.200s', opset %lld", node->module,
             (long long)graph->opset);
  else
    snprintf(where, sizeof where, "opset %lld", (long long)graph->opset);
  if (!default_domain(node))
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "unsupported op '%s' (domain '%s') in node '%s' (%s)",
                    node->op, node->proto->domain, node->name, where);
  const sq_op *op = sq_op_find(node->op);
  if (op && (graph->opset < op->min_opset || graph->opset > op->max_opset))
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "op '%s' in node '%s' is supported for opsets %lld to "
                    "%lld, not %lld",
                    node->op, node->name, (long long)op->min_opset,
                    (long long)op->max_opset, (long long)graph->opset);
  return sq_error(SEQRT_ERR_UNSUPPORTED,
                  "unsupported op '%s' in node '%s' (%s)", node->op, node->name,
                  where);
}

/* NULL when the node has no handler for this model's opset. */
static const sq_op *handler_for(const sq_graph *graph, const sq_node *node) {
  const sq_op *op = default_domain(node) ? sq_op_find(node->op) : NULL;
  if (op && (graph->opset < op->min_opset || graph->opset > op->max_opset))
    return NULL;
  return op;
}

bool sq_node_supported(const sq_graph *graph, const sq_node *node) {
  return handler_for(graph, node) != NULL;
}

seqrt_status sq_group_convert(sq_ctx *ctx, const sq_group *group) {
  if (group->convert) return group->convert(ctx, group);
  const sq_node *node = &ctx->graph->nodes[group->nodes[0]];
  const sq_op *op = handler_for(ctx->graph, node);
  if (!op) return sq_op_unsupported(ctx->graph, node);
  return op->convert(ctx, node);
}
