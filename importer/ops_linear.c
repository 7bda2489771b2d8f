/* Linear layers: Gemm (2-D input), MatMul with constant weights (any rank,
 * weights on the last dim), MatMul followed by a bias Add. Weights are
 * stored [out_features, in_features]. */
#include <string.h>

#include "ops.h"

/* A bias broadcast over everything but the last dim: count N with leading
 * dims 1, or a single value. */
static seqrt_status set_bias(const sq_node *node, const sq_value *c,
                             int64_t n_out, float scale, int max_rank,
                             sq_layer *layer) {
  bool leading_ones = c->rank <= max_rank;
  for (int k = 0; k + 1 < c->rank; k++) leading_ones &= c->dims[k] == 1;
  bool per_feature =
      leading_ones && c->rank >= 1 && c->dims[c->rank - 1] == n_out;
  if (!(per_feature || (c->count == 1 && c->rank <= max_rank)))
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (%s): bias of shape %s is not one value per "
                    "output feature (%lld)",
                    node->name, node->op, sq_fmt_dims(c->rank, c->dims),
                    (long long)n_out);
  seqrt_status st = sq_weights_alloc(&layer->bias, 1, &n_out);
  for (int64_t k = 0; st == SEQRT_OK && k < n_out; k++)
    layer->bias.data[k] = scale * c->f[per_feature ? k : 0];
  return st;
}

static seqrt_status read_gemm_attrs(const sq_node *node, int64_t *trans_b,
                                    float *alpha, float *beta) {
  int64_t trans_a;
  seqrt_status st = sq_attr_int(node, "transA", 0, &trans_a);
  if (st == SEQRT_OK) st = sq_attr_int(node, "transB", 0, trans_b);
  if (st == SEQRT_OK) st = sq_attr_float(node, "alpha", 1.0f, alpha);
  if (st == SEQRT_OK) st = sq_attr_float(node, "beta", 1.0f, beta);
  if (st != SEQRT_OK) return st;
  if (trans_a != 0)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Gemm) has transA=%lld; seqrt runs Gemm as a "
                    "Linear layer, which needs transA=0",
                    node->name, (long long)trans_a);
  if (*trans_b != 0 && *trans_b != 1)
    return sq_error(SEQRT_ERR_INVALID_MODEL, "node '%s' (Gemm) has transB=%lld",
                    node->name, (long long)*trans_b);
  return SEQRT_OK;
}

/* Square tiles of the transpose, so that both arrays' cache lines are
 * reused within a tile. 4096x4096 here: 110 ms element by element, 66 ms
 * in tiles of 8, 150 ms in tiles of 32 or 64 (rows 16 KiB apart share
 * cache sets). */
#define SQ_TRANSPOSE_TILE 8

/* weight[n][k] = alpha * B[k][n] (or B[n][k] when transposed). */
static seqrt_status set_weight(sq_layer *layer, const sq_value *b,
                               bool b_is_out_in, int64_t n_in, int64_t n_out,
                               float alpha) {
  int64_t dims[2] = {n_out, n_in};
  seqrt_status st = sq_weights_alloc(&layer->weight, 2, dims);
  if (st != SEQRT_OK) return st;
  float *w = layer->weight.data;
  if (b_is_out_in) {
    for (int64_t i = 0; i < n_out * n_in; i++) w[i] = alpha * b->f[i];
    return SEQRT_OK;
  }
  const int64_t t = SQ_TRANSPOSE_TILE;
  for (int64_t k0 = 0; k0 < n_in; k0 += t)
    for (int64_t n0 = 0; n0 < n_out; n0 += t)
      for (int64_t k = k0; k < k0 + t && k < n_in; k++)
        for (int64_t n = n0; n < n0 + t && n < n_out; n++)
          w[n * n_in + k] = alpha * b->f[k * n_out + n];
  return SEQRT_OK;
}

static seqrt_status weights_mismatch(const sq_ctx *ctx, const sq_node *node,
                                     const sq_value *b) {
  return sq_error(SEQRT_ERR_INVALID_MODEL,
                  "node '%s' (%s): weights of shape %s do not fit the input "
                  "%s",
                  node->name, node->op, sq_fmt_dims(b->rank, b->dims),
                  sq_fmt_shape(&ctx->shape));
}

seqrt_status sq_op_gemm(sq_ctx *ctx, const sq_node *node) {
  int64_t trans_b;
  float alpha, beta;
  const sq_value *b, *c;
  seqrt_status st = read_gemm_attrs(node, &trans_b, &alpha, &beta);
  if (st == SEQRT_OK) st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK) st = sq_float_input(ctx, node, 1, true, &b);
  if (st == SEQRT_OK) st = sq_float_input(ctx, node, 2, false, &c);
  if (st != SEQRT_OK) return st;
  const sq_shape in = ctx->shape;
  if (in.rank != 2)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (Gemm) needs a 2-D input, got %s", node->name,
                    sq_fmt_shape(&in));
  if (b->rank != 2 || b->dims[trans_b ? 1 : 0] != in.dims[1])
    return weights_mismatch(ctx, node, b);
  int64_t n_out = b->dims[trans_b ? 0 : 1];
  sq_layer *layer;
  if ((st = sq_layer_add(ctx, SQ_LINEAR, node, &layer)) != SEQRT_OK) return st;
  if (trans_b && alpha == 1.0f) /* already [out, in]: no copy needed */
    st = sq_weights_from_input(ctx, node, 1, b, &layer->weight);
  else
    st = set_weight(layer, b, trans_b != 0, in.dims[1], n_out, alpha);
  if (st == SEQRT_OK && c && beta != 0.0f)
    st = set_bias(node, c, n_out, beta, 2, layer);
  sq_shape out = {2, {in.dims[0], n_out}};
  return st == SEQRT_OK ? sq_layer_finish(ctx, layer, &out) : st;
}

static seqrt_status matmul_layer(sq_ctx *ctx, const sq_node *node,
                                 sq_layer **out_layer) {
  const sq_value *b;
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK) st = sq_float_input(ctx, node, 1, true, &b);
  if (st != SEQRT_OK) return st;
  sq_shape shape = ctx->shape;
  if (shape.rank < 1)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (MatMul) needs an input of rank 1 or more, got "
                    "%s",
                    node->name, sq_fmt_shape(&shape));
  /* rank 1: a vector; with a dynamic batch its one dim holds the batch */
  if (shape.rank == 1 && shape.dims[0] < 0)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (MatMul): a Linear layer on %s would sum over "
                    "the dynamic batch (an earlier layer merged the batch into "
                    "that dim, e.g. Flatten(0)); it needs the batch outside "
                    "its last dim (rank >= 2), or a model exported with a "
                    "fixed batch",
                    node->name, sq_fmt_shape(&shape));
  int64_t n_in = shape.dims[shape.rank - 1];
  if (b->rank != 2 || b->dims[0] != n_in) return weights_mismatch(ctx, node, b);
  sq_layer *layer;
  if ((st = sq_layer_add(ctx, SQ_LINEAR, node, &layer)) != SEQRT_OK) return st;
  if ((st = set_weight(layer, b, false, n_in, b->dims[1], 1.0f)) != SEQRT_OK)
    return st;
  shape.dims[shape.rank - 1] = b->dims[1];
  *out_layer = layer;
  return sq_layer_finish(ctx, layer, &shape);
}

seqrt_status sq_op_matmul(sq_ctx *ctx, const sq_node *node) {
  sq_layer *layer;
  return matmul_layer(ctx, node, &layer);
}

/* ---- MatMul → Add(bias) -------------------------------------------------- */

bool sq_match_matmul_add(sq_graph *g, const sq_node *node, sq_group *group) {
  if (!sq_node_is(node, "MatMul") ||
      !sq_graph_is_const(g, sq_node_input(node, 1)))
    return false;
  int t = sq_node_output(node, 0);
  const sq_node *add = sq_graph_sole_consumer(g, t);
  if (!add || !sq_node_is(add, "Add") || add->n_inputs != 2) return false;
  int other = add->inputs[0] == t ? add->inputs[1] : add->inputs[0];
  if (!sq_graph_is_const(g, other)) return false;
  group->nodes[0] = node->index;
  group->nodes[1] = add->index;
  group->n_nodes = 2;
  return true;
}

seqrt_status sq_convert_matmul_add(sq_ctx *ctx, const sq_group *group) {
  const sq_node *matmul = &ctx->graph->nodes[group->nodes[0]];
  const sq_node *add = &ctx->graph->nodes[group->nodes[1]];
  sq_layer *layer;
  seqrt_status st = matmul_layer(ctx, matmul, &layer);
  if (st != SEQRT_OK) return st;
  int bias_slot = add->inputs[0] == sq_node_output(matmul, 0) ? 1 : 0;
  const sq_value *bias;
  if ((st = sq_float_input(ctx, add, bias_slot, true, &bias)) != SEQRT_OK)
    return st;
  layer = &ctx->chain->layers[ctx->chain->n_layers - 1];
  st = set_bias(add, bias, layer->out.dims[layer->out.rank - 1], 1.0f,
                layer->out.rank, layer);
  return st == SEQRT_OK ? sq_layer_add_node(layer, add) : st;
}

/* ---- Gather: Embedding --------------------------------------------------- */

/* Gather(table, indices) with a constant [num_embeddings, dim] table and
 * the model's int64 input as the indices: out = in + [dim]. Gather from the
 * activation (x[:, i]) is a slice (ops_slice.c). */
seqrt_status sq_op_gather(sq_ctx *ctx, const sq_node *node) {
  const sq_graph *g = ctx->graph;
  int data = sq_node_input(node, 0);
  if (data >= 0 && g->tensors[data].cls == SQ_CLASS_DATA)
    return sq_op_index(ctx, node); /* x[:, i] */
  int64_t axis;
  seqrt_status st = sq_attr_int(node, "axis", 0, &axis);
  if (st != SEQRT_OK) return st;
  if (sq_node_input(node, 1) != g->input || axis != 0 ||
      g->tensors[g->input].cls != SQ_CLASS_DATA)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Gather) is not supported: seqrt runs Gather "
                    "only as an Embedding, the first layer, looking up rows "
                    "(axis 0) of a constant table with the int64 model input",
                    node->name);
  const sq_value *table;
  if ((st = sq_float_input(ctx, node, 0, true, &table)) != SEQRT_OK) return st;
  if (table->rank != 2)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Gather): the embedding table has shape %s; "
                    "seqrt needs [num_embeddings, dim]",
                    node->name, sq_fmt_dims(table->rank, table->dims));
  sq_shape out = ctx->shape;
  if (out.rank >= SQ_MAX_RANK)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Gather): indices of rank %d", node->name,
                    out.rank);
  out.dims[out.rank++] = table->dims[1];
  sq_layer *layer;
  if ((st = sq_layer_add(ctx, SQ_EMBEDDING, node, &layer)) != SEQRT_OK)
    return st;
  st = sq_weights_from_input(ctx, node, 0, table, &layer->weight);
  return st == SEQRT_OK ? sq_layer_finish(ctx, layer, &out) : st;
}
