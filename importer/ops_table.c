/* The op table (one row per ONNX op type and range of opsets the chain can
 * hold) and the pattern table (multi-node groups recognised by structure). */
#include <stdio.h>
#include <string.h>

#include "ops.h"

#define OPEN SQ_OPSET_OPEN

static const sq_op op_table[] = {
    /* ops_linear.c */
    {"Gemm", sq_op_gemm, SQ_OPSET_MIN, OPEN},
    {"MatMul", sq_op_matmul, SQ_OPSET_MIN, OPEN},
    {"Gather", sq_op_gather, SQ_OPSET_MIN, OPEN},
    /* ops_conv.c */
    {"Conv", sq_op_conv, SQ_OPSET_MIN, OPEN},
    {"ConvTranspose", sq_op_convtranspose, SQ_OPSET_MIN, OPEN},
    /* ops_pool.c */
    {"MaxPool", sq_op_maxpool, SQ_OPSET_MIN, OPEN},
    {"AveragePool", sq_op_avgpool, SQ_OPSET_MIN, OPEN},
    {"GlobalAveragePool", sq_op_global_avgpool, SQ_OPSET_MIN, OPEN},
    {"GlobalMaxPool", sq_op_global_maxpool, SQ_OPSET_MIN, OPEN},
    {"LpPool", sq_op_lppool, SQ_OPSET_MIN, OPEN},
    {"GlobalLpPool", sq_op_global_lppool, SQ_OPSET_MIN, OPEN},
    /* ops_arith.c */
    {"Add", sq_op_arith, SQ_OPSET_MIN, OPEN},
    {"Sub", sq_op_arith, SQ_OPSET_MIN, OPEN},
    {"Mul", sq_op_arith, SQ_OPSET_MIN, OPEN},
    {"Div", sq_op_arith, SQ_OPSET_MIN, OPEN},
    {"Pow", sq_op_pow, SQ_OPSET_MIN, OPEN},
    {"Max", sq_op_minmax, SQ_OPSET_MIN, OPEN},
    {"Min", sq_op_minmax, SQ_OPSET_MIN, OPEN},
    {"Neg", sq_op_unary, SQ_OPSET_MIN, OPEN},
    {"Reciprocal", sq_op_unary, SQ_OPSET_MIN, OPEN},
    {"Abs", sq_op_unary, SQ_OPSET_MIN, OPEN},
    {"Sqrt", sq_op_unary, SQ_OPSET_MIN, OPEN},
    {"Exp", sq_op_unary, SQ_OPSET_MIN, OPEN},
    {"Log", sq_op_unary, SQ_OPSET_MIN, OPEN},
    /* ops_reduce.c */
    {"ReduceMean", sq_op_reduce, SQ_OPSET_MIN, OPEN},
    {"ReduceSum", sq_op_reduce, SQ_OPSET_MIN, OPEN},
    {"ReduceMax", sq_op_reduce, SQ_OPSET_MIN, OPEN},
    {"ReduceMin", sq_op_reduce, SQ_OPSET_MIN, OPEN},
    {"ReduceProd", sq_op_reduce, SQ_OPSET_MIN, OPEN},
    {"ReduceL1", sq_op_reduce, SQ_OPSET_MIN, OPEN},
    {"ReduceL2", sq_op_reduce, SQ_OPSET_MIN, OPEN},
    {"ReduceSumSquare", sq_op_reduce, SQ_OPSET_MIN, OPEN},
    /* ops_norm.c */
    {"BatchNormalization", sq_op_batchnorm, SQ_OPSET_MIN, OPEN},
    {"InstanceNormalization", sq_op_instancenorm, SQ_OPSET_MIN, OPEN},
    {"LayerNormalization", sq_op_layernorm, 17, OPEN},
    {"GroupNormalization", sq_op_groupnorm, 18, OPEN},
    {"LRN", sq_op_lrn, SQ_OPSET_MIN, OPEN},
    /* ops_activation.c */
    {"Relu", sq_op_relu, SQ_OPSET_MIN, OPEN},
    {"LeakyRelu", sq_op_leakyrelu, SQ_OPSET_MIN, OPEN},
    {"PRelu", sq_op_prelu, SQ_OPSET_MIN, OPEN},
    {"Sigmoid", sq_op_sigmoid, SQ_OPSET_MIN, OPEN},
    {"Tanh", sq_op_tanh, SQ_OPSET_MIN, OPEN},
    {"Elu", sq_op_elu, SQ_OPSET_MIN, OPEN},
    {"Celu", sq_op_celu, 12, OPEN},
    {"Selu", sq_op_selu, SQ_OPSET_MIN, OPEN},
    {"Clip", sq_op_clip, SQ_OPSET_MIN, OPEN},
    {"HardSigmoid", sq_op_hardsigmoid, SQ_OPSET_MIN, OPEN},
    {"HardSwish", sq_op_hardswish, 14, OPEN},
    {"Softplus", sq_op_softplus, SQ_OPSET_MIN, OPEN},
    {"Softsign", sq_op_softsign, SQ_OPSET_MIN, OPEN},
    {"Mish", sq_op_mish, 18, OPEN},
    {"Gelu", sq_op_gelu, 20, OPEN},
    {"ThresholdedRelu", sq_op_thresholdedrelu, 10, OPEN},
    {"Shrink", sq_op_shrink, 9, OPEN},
    {"Softmax", sq_op_softmax, SQ_OPSET_MIN, OPEN},
    {"LogSoftmax", sq_op_logsoftmax, SQ_OPSET_MIN, OPEN},
    /* ops_pad.c */
    {"Pad", sq_op_pad, SQ_OPSET_MIN, OPEN},
    /* ops_resize.c */
    {"Upsample", sq_op_upsample, 7, 9}, /* Upsample-1 was experimental */
    {"Resize", sq_op_resize, 10, OPEN},
    {"DepthToSpace", sq_op_depthtospace, SQ_OPSET_MIN, OPEN},
    {"SpaceToDepth", sq_op_spacetodepth, SQ_OPSET_MIN, OPEN},
    {"Transpose", sq_op_transpose, SQ_OPSET_MIN, OPEN},
    /* ops_slice.c (Gather on the activation: ops_linear.c sends it there) */
    {"Slice", sq_op_slice, SQ_OPSET_MIN, OPEN},
    {"Split", sq_op_split, SQ_OPSET_MIN, OPEN},
    /* ops_shape.c */
    {"Flatten", sq_op_flatten, SQ_OPSET_MIN, OPEN},
    {"Reshape", sq_op_reshape, SQ_OPSET_MIN, OPEN},
    {"Squeeze", sq_op_squeeze, SQ_OPSET_MIN, OPEN},
    {"Unsqueeze", sq_op_unsqueeze, SQ_OPSET_MIN, OPEN},
    /* ops_removed.c */
    {"Dropout", sq_op_dropout, SQ_OPSET_MIN, OPEN},
    {"Identity", sq_op_identity, SQ_OPSET_MIN, OPEN},
};

#define PATTERN(label, name)                                                   \
  { label, sq_match_##name, sq_convert_##name }

/* Tried in order at every unclaimed data node (topological order): the
 * larger decompositions first, so that a smaller one never claims part of
 * a larger one. */
static const sq_pattern pattern_table[] = {
    PATTERN("LocalResponseNorm", lrn),
    PATTERN("LPPool", lppool),
    PATTERN("LayerNorm", layernorm),
    PATTERN("GroupNorm", groupnorm),
    PATTERN("GELU(tanh)", gelu_tanh),
    PATTERN("GELU", gelu),
    PATTERN("Softshrink", softshrink),
    PATTERN("Hardshrink", hardshrink),
    PATTERN("circular padding", circular_pad),
    PATTERN("shuffle", shuffle),
    PATTERN("GLU", glu),
    PATTERN("F.normalize", normalize),
    PATTERN("2-norm or sum of squares", sum_square),
    PATTERN("Mish", mish),
    PATTERN("Softsign", softsign),
    PATTERN("Softplus(beta)", softplus_beta),
    PATTERN("Threshold", threshold),
    PATTERN("Softmin", softmin),
    PATTERN("transposed Softmax", transposed_softmax),
    PATTERN("SiLU", silu),
    PATTERN("Hardswish", hardswish),
    PATTERN("Tanhshrink", tanhshrink),
    PATTERN("LogSigmoid", logsigmoid),
    {"MatMul+Add", sq_match_matmul_add, sq_convert_matmul_add},
    {"Pad+AveragePool", sq_match_pad_avgpool, sq_convert_pad_avgpool},
    {"Pad+Conv", sq_match_pad_conv, sq_convert_pad_conv},
};

static bool covers(const sq_op *op, int64_t opset) {
  return opset >= op->min_opset && opset <= op->max_opset;
}

const sq_op *sq_op_find(const char *op_type, int64_t opset) {
  const sq_op *any = NULL;
  for (size_t k = 0; k < sizeof op_table / sizeof *op_table; k++) {
    if (strcmp(op_table[k].op_type, op_type) != 0) continue;
    if (covers(&op_table[k], opset)) return &op_table[k];
    any = any ? any : &op_table[k];
  }
  return any;
}

const sq_pattern *sq_patterns(int *count) {
  *count = (int)(sizeof pattern_table / sizeof *pattern_table);
  return pattern_table;
}

static bool default_domain(const sq_node *node) {
  const char *d = node->proto->domain;
  return !d || !*d || strcmp(d, "ai.onnx") == 0;
}

#define SQ_STR2(x) #x
#define SQ_STR(x) SQ_STR2(x)

/* What would fix an op seqrt does not know at an opset newer than it knows
 * (an op that did not exist yet at 17 may have replaced a decomposition). */
static const char *fix_hint(int64_t opset) {
  if (opset > SQ_OPSET_MAX)
    return "; the model's opset is newer than the newest seqrt knows "
           "(" SQ_STR(SQ_OPSET_MAX) "): export it with opset_version=17";
  return "";
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
  const sq_op *op = sq_op_find(node->op, graph->opset);
  if (op && !covers(op, graph->opset)) {
    char range[64];
    if (op->max_opset == SQ_OPSET_OPEN)
      snprintf(range, sizeof range, "from opset %lld",
               (long long)op->min_opset);
    else
      snprintf(range, sizeof range, "for opsets %lld to %lld",
               (long long)op->min_opset, (long long)op->max_opset);
    const char *fix = graph->opset < op->min_opset
                          ? "export with a newer opset_version"
                          : "export with opset_version=17";
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "op '%s' in node '%s' is supported %s, not at opset %lld; "
                    "%s",
                    node->op, node->name, range, (long long)graph->opset, fix);
  }
  return sq_error(SEQRT_ERR_UNSUPPORTED,
                  "unsupported op '%s' in node '%s' (%s)%s", node->op,
                  node->name, where, fix_hint(graph->opset));
}

/* NULL when the node has no handler for this model's opset. */
static const sq_op *handler_for(const sq_graph *graph, const sq_node *node) {
  const sq_op *op =
      default_domain(node) ? sq_op_find(node->op, graph->opset) : NULL;
  return op && covers(op, graph->opset) ? op : NULL;
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
