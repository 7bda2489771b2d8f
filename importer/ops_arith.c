/* Arithmetic with constants in a forward: x + c, x - c, c - x, x * c, x / c
 * and c / x (Add, Sub, Mul, Div with one constant input), x + x and x * x,
 * x ** p (Pow with a constant scalar exponent), torch.maximum / minimum
 * with a scalar (Max, Min), and -x, |x|, sqrt, exp, log, 1 / x.
 *
 * A scalar constant makes an eltwise layer (Affine alpha*x + beta, or Pow
 * alpha * x^beta), which fuses into a Conv or Linear before it. Any other
 * constant that broadcasts to the activation without growing it (per
 * channel [C, 1, 1], per position, ...) makes a binary layer holding it. */
#include <float.h>
#include <string.h>

#include "ops.h"

/* Both inputs of `node` are the activation: x + x, x * x (torch.square). */
static bool reads_x_twice(const sq_graph *g, const sq_node *node) {
  int t = sq_node_input(node, 0);
  return node->n_inputs == 2 && t >= 0 && t == sq_node_input(node, 1) &&
         g->tensors[t].cls == SQ_CLASS_DATA;
}

/* The input slot holding the activation; the other is the constant. */
static seqrt_status split_inputs(sq_ctx *ctx, const sq_node *node, int *x,
                                 const sq_value **c) {
  const sq_graph *g = ctx->graph;
  bool data[2];
  for (int s = 0; s < 2; s++) {
    int t = sq_node_input(node, s);
    data[s] = t >= 0 && g->tensors[t].cls == SQ_CLASS_DATA;
  }
  if (node->n_inputs != 2 || data[0] == data[1])
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (%s) is not supported: seqrt runs it on the "
                    "activation and one constant",
                    node->name, node->op);
  *x = data[0] ? 0 : 1;
  return sq_float_input(ctx, node, 1 - *x, true, c);
}

static seqrt_status scalar_layer(sq_ctx *ctx, const sq_node *node, sq_kind kind,
                                 float alpha, float beta) {
  return sq_eltwise_layer(ctx, NULL, node, kind, alpha, beta);
}

/* `c` as a weight of rank in.rank, its dims aligned to the right: each 1
 * or the activation's, and 1 for the batch. */
static seqrt_status broadcast_weight(sq_ctx *ctx, const sq_node *node,
                                     const sq_value *c, sq_weights *w) {
  const sq_shape *in = &ctx->shape;
  int lead = in->rank - c->rank;
  bool fits = lead >= 0;
  int64_t dims[SQ_MAX_RANK];
  for (int d = 0; fits && d < in->rank; d++) {
    dims[d] = d < lead ? 1 : c->dims[d - lead];
    fits = dims[d] == 1 || (d > 0 && dims[d] == in->dims[d]);
  }
  if (!fits)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (%s): its constant of shape %s does not "
                    "broadcast to the activation %s without changing its "
                    "shape or the batch; not supported",
                    node->name, node->op, sq_fmt_dims(c->rank, c->dims),
                    sq_fmt_shape(in));
  seqrt_status st = sq_weights_alloc(w, in->rank, dims);
  if (st == SEQRT_OK) memcpy(w->data, c->f, sizeof(float) * (size_t)c->count);
  return st;
}

/* The weight holds one value per channel (dim 1) and is 1 elsewhere. */
static bool per_channel(const sq_weights *w, const sq_shape *in) {
  bool ok = in->rank >= 2 && w->shape.dims[1] == in->dims[1];
  for (int d = 0; ok && d < w->shape.rank; d++)
    ok = d == 1 || w->shape.dims[d] == 1;
  return ok;
}

/* y = x + sign * c or y = x * c (reciprocal: x / c): per channel folded
 * into the Conv or Linear before it, as BatchNorm; otherwise a binary
 * layer. */
static seqrt_status tensor_layer(sq_ctx *ctx, const sq_node *node,
                                 const sq_value *c, sq_kind kind, float sign,
                                 bool reciprocal) {
  sq_weights w = {0};
  seqrt_status st = broadcast_weight(ctx, node, c, &w);
  if (st != SEQRT_OK) return st;
  for (int64_t k = 0; k < w.count; k++)
    w.data[k] = reciprocal ? 1.0f / w.data[k] : sign * w.data[k];
  bool folded = false;
  if (per_channel(&w, &ctx->shape)) {
    bool mul = kind == SQ_MULCONST;
    st = sq_fold_channel_affine(ctx, node, w.count, mul ? w.data : NULL,
                                mul ? NULL : w.data, &folded);
  }
  sq_layer *layer;
  if (st == SEQRT_OK && !folded) st = sq_layer_add(ctx, kind, node, &layer);
  if (st != SEQRT_OK || folded) {
    sq_weights_release(&w);
    return st;
  }
  layer->weight = w;
  sq_shape out = ctx->shape;
  return sq_layer_finish(ctx, layer, &out);
}

static seqrt_status constant_first(const sq_node *node) {
  return sq_error(SEQRT_ERR_UNSUPPORTED,
                  "node '%s' (%s) has a constant tensor first and the "
                  "activation second; seqrt runs that form only with a "
                  "scalar constant",
                  node->name, node->op);
}

seqrt_status sq_op_arith(sq_ctx *ctx, const sq_node *node) {
  int x = 0;
  const sq_value *c;
  bool add = sq_node_is(node, "Add"), sub = sq_node_is(node, "Sub");
  bool mul = sq_node_is(node, "Mul");
  if (reads_x_twice(ctx->graph, node) && (add || mul))
    return add ? scalar_layer(ctx, node, SQ_AFFINE, 2.0f, 0.0f)
               : scalar_layer(ctx, node, SQ_POW, 1.0f, 2.0f);
  seqrt_status st = split_inputs(ctx, node, &x, &c);
  if (st != SEQRT_OK) return st;
  bool first = x == 0;
  /* one value, of no higher rank than x: it does not change x's shape */
  if (c->count == 1 && c->rank <= ctx->shape.rank) {
    float v = c->f[0];
    if (add) return scalar_layer(ctx, node, SQ_AFFINE, 1.0f, v);
    if (sub)
      return scalar_layer(ctx, node, SQ_AFFINE, first ? 1 : -1, first ? -v : v);
    if (mul) return scalar_layer(ctx, node, SQ_AFFINE, v, 0.0f);
    return first ? scalar_layer(ctx, node, SQ_AFFINE, 1.0f / v, 0.0f)
                 : scalar_layer(ctx, node, SQ_POW, v, -1.0f);
  }
  if (!first && (sub || !(add || mul))) return constant_first(node);
  if (add || sub)
    return tensor_layer(ctx, node, c, SQ_ADDCONST, sub ? -1.0f : 1.0f, false);
  return tensor_layer(ctx, node, c, SQ_MULCONST, 1.0f, !mul);
}

seqrt_status sq_op_pow(sq_ctx *ctx, const sq_node *node) {
  int x = 0;
  const sq_value *c;
  seqrt_status st = split_inputs(ctx, node, &x, &c);
  if (st != SEQRT_OK) return st;
  if (x != 0 || c->count != 1 || c->rank > ctx->shape.rank)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Pow) is not supported: seqrt runs x ** p "
                    "with a constant scalar exponent p",
                    node->name);
  return scalar_layer(ctx, node, SQ_POW, 1.0f, c->f[0]);
}

/* max(x, c) and min(x, c) with a scalar c: a clip on one side (ReLU for
 * max(x, 0)); max(x) alone is x. */
seqrt_status sq_op_minmax(sq_ctx *ctx, const sq_node *node) {
  int x = 0;
  const sq_value *c;
  if (node->n_inputs == 1 && sq_require_activation(ctx, node, 0) == SEQRT_OK)
    return sq_node_removed(ctx, node);
  seqrt_status st = split_inputs(ctx, node, &x, &c);
  if (st != SEQRT_OK) return st;
  if (c->count != 1 || c->rank > ctx->shape.rank)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (%s) with a constant of shape %s is not "
                    "supported: seqrt runs it with a scalar",
                    node->name, node->op, sq_fmt_dims(c->rank, c->dims));
  float v = c->f[0];
  if (sq_node_is(node, "Min"))
    return scalar_layer(ctx, node, SQ_HARDTANH, -FLT_MAX, v);
  return v == 0.0f ? scalar_layer(ctx, node, SQ_RELU, 0.0f, 0.0f)
                   : scalar_layer(ctx, node, SQ_HARDTANH, v, FLT_MAX);
}

seqrt_status sq_op_unary(sq_ctx *ctx, const sq_node *node) {
  static const struct {
    const char *op;
    sq_kind kind;
    float alpha, beta;
  } unary[] = {
      {"Neg", SQ_AFFINE, -1.0f, 0.0f}, {"Reciprocal", SQ_POW, 1.0f, -1.0f},
      {"Abs", SQ_ABS, 0.0f, 0.0f},     {"Sqrt", SQ_SQRT, 0.0f, 0.0f},
      {"Exp", SQ_EXP, 0.0f, 0.0f},     {"Log", SQ_LOG, 0.0f, 0.0f},
  };
  seqrt_status st = sq_require_activation(ctx, node, 0);
  for (size_t k = 0; st == SEQRT_OK && k < sizeof unary / sizeof unary[0]; k++)
    if (sq_node_is(node, unary[k].op))
      return scalar_layer(ctx, node, unary[k].kind, unary[k].alpha,
                          unary[k].beta);
  return st == SEQRT_OK ? sq_op_unsupported(ctx->graph, node) : st;
}
