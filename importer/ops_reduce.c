/* Reduce*: mean, sum, max, min, product, L1 / L2 norm and sum of squares
 * over some non-batch dims (x.mean(-1), x.sum((2, 3)), x.amax(1),
 * x.norm(dim=1), ...). The mean over exactly the spatial dims, keeping
 * them, is a global average pool. F.normalize's decomposition is one
 * Normalize layer. */
#include <math.h>
#include <string.h>

#include "ops.h"

static const struct {
  const char *op;
  sq_kind kind;
} reduce_kinds[] = {
    {"ReduceMean", SQ_REDUCEMEAN}, {"ReduceSum", SQ_REDUCESUM},
    {"ReduceMax", SQ_REDUCEMAX},   {"ReduceMin", SQ_REDUCEMIN},
    {"ReduceProd", SQ_REDUCEPROD}, {"ReduceL1", SQ_REDUCEL1},
    {"ReduceL2", SQ_REDUCEL2},     {"ReduceSumSquare", SQ_REDUCESUMSQUARE},
};

static bool reduce_kind(const sq_node *node, sq_kind *kind) {
  for (size_t k = 0; k < sizeof reduce_kinds / sizeof reduce_kinds[0]; k++)
    if (sq_node_is(node, reduce_kinds[k].op)) {
      *kind = reduce_kinds[k].kind;
      return true;
    }
  return false;
}

/* The dims a Reduce* node reduces; *noop when it reduces none (empty axes
 * with noop_with_empty_axes). No axes otherwise means every dim. */
static seqrt_status reduced_dims(sq_ctx *ctx, const sq_node *node,
                                 bool reduced[SQ_MAX_RANK], bool *noop) {
  int64_t axes[SQ_MAX_RANK], noop_empty = 0;
  int n = 0, rank = ctx->shape.rank;
  /* axes became an input in opset 13 for ReduceSum, 18 for the others */
  int64_t input_from = sq_node_is(node, "ReduceSum") ? 13 : 18;
  seqrt_status st = sq_axes(ctx, node, input_from, axes, &n);
  if (st == SEQRT_OK)
    st = sq_attr_int(node, "noop_with_empty_axes", 0, &noop_empty);
  if (st != SEQRT_OK) return st;
  *noop = n == 0 && noop_empty;
  for (int k = 0; k < rank; k++) reduced[k] = n == 0 && !*noop;
  for (int k = 0; k < n; k++) {
    int a;
    if ((st = sq_normalize_axis(node, "axes", axes[k], rank, &a))) return st;
    reduced[a] = true;
  }
  return SEQRT_OK;
}

/* A mean over exactly the spatial dims, keeping them. */
static bool global_mean(sq_kind kind, const sq_shape *in, const bool *reduced,
                        int64_t keep) {
  if (kind != SQ_REDUCEMEAN || !keep || in->rank < 3 ||
      in->rank > 2 + SQ_MAX_SPATIAL || reduced[1])
    return false;
  for (int k = 2; k < in->rank; k++)
    if (!reduced[k]) return false;
  return true;
}

/* The layer of Reduce* node `node` (alone, or the core of `group`). */
static seqrt_status reduce_layer(sq_ctx *ctx, const sq_group *group,
                                 const sq_node *node, sq_kind kind) {
  const sq_shape in = ctx->shape;
  bool reduced[SQ_MAX_RANK] = {false}, noop = false;
  int64_t keep = 1;
  seqrt_status st = reduced_dims(ctx, node, reduced, &noop);
  if (st == SEQRT_OK) st = sq_attr_int(node, "keepdims", 1, &keep);
  if (st != SEQRT_OK) return st;
  if (noop && !group) return sq_node_removed(ctx, node);
  if (reduced[0])
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (%s) reduces over the batch dim (axis 0 of "
                    "%s), which is not supported: seqrt keeps the batch first",
                    node->name, node->op, sq_fmt_shape(&in));
  if (!group && global_mean(kind, &in, reduced, keep))
    return sq_op_global_avgpool(ctx, node);
  sq_layer *layer;
  st = group ? sq_group_layer(ctx, group, kind, &layer)
             : sq_layer_add(ctx, kind, node, &layer);
  if (st != SEQRT_OK) return st;
  memcpy(layer->reduced, reduced, sizeof layer->reduced);
  sq_shape out = {0};
  for (int k = 0; k < in.rank; k++)
    if (!reduced[k] || keep) out.dims[out.rank++] = reduced[k] ? 1 : in.dims[k];
  return sq_layer_finish(ctx, layer, &out);
}

seqrt_status sq_op_reduce(sq_ctx *ctx, const sq_node *node) {
  sq_kind kind;
  if (!reduce_kind(node, &kind)) return sq_op_unsupported(ctx->graph, node);
  seqrt_status st = sq_require_activation(ctx, node, 0);
  return st == SEQRT_OK ? reduce_layer(ctx, NULL, node, kind) : st;
}

/* ---- x.norm(dim=d), (x * x).sum(d), x.pow(2).sum(d) -----------------------
 * torch exports the 2-norm as Mul(x, x), ReduceSum, Sqrt. */

static const sq_tnode square_mul[] = {{"Mul", {SQ_TX, SQ_TX}},
                                      {"ReduceSum", {SQ_TN(0), SQ_TO(0)}},
                                      {"Sqrt", {SQ_TN(1)}}};
static const sq_tnode square_pow[] = {{"Pow", {SQ_TX, SQ_TV(2.0f)}},
                                      {"ReduceSum", {SQ_TN(0), SQ_TO(0)}},
                                      {"Sqrt", {SQ_TN(1)}}};

/* Variants 0 and 1: the 2-norm (with Sqrt); 2 and 3: the sum of squares. */
static int match_sum_square(sq_graph *g, const sq_node *start, sq_match *m) {
  static const sq_tnode *const t[] = {square_mul, square_pow, square_mul,
                                      square_pow};
  static const int n[] = {3, 3, 2, 2};
  return sq_template_match_any(g, start, t, n, 4, m);
}

bool sq_match_sum_square(sq_graph *g, const sq_node *node, sq_group *group) {
  return sq_match_claim(g, node, group, match_sum_square);
}

seqrt_status sq_convert_sum_square(sq_ctx *ctx, const sq_group *group) {
  const sq_node *sum = &ctx->graph->nodes[group->nodes[1]];
  sq_kind kind = group->n_nodes == 3 ? SQ_REDUCEL2 : SQ_REDUCESUMSQUARE;
  return reduce_layer(ctx, group, sum, kind);
}

/* ---- F.normalize(x, p, dim, eps) -------------------------------------------
 * x / Expand(Clip(ReduceL2(x), min=eps), Shape(x)); ReduceL1 for p = 1. */

static const sq_tnode normalize_l2[] = {
    {"ReduceL2", {SQ_TX, SQ_TO(0)}},
    {"Clip", {SQ_TN(0), SQ_TO(1), SQ_TO(2)}},
    {"Expand", {SQ_TN(1), SQ_TS(3)}},
    {"Div", {SQ_TX, SQ_TN(2)}},
};
static const sq_tnode normalize_l1[] = {
    {"ReduceL1", {SQ_TX, SQ_TO(0)}},
    {"Clip", {SQ_TN(0), SQ_TO(1), SQ_TO(2)}},
    {"Expand", {SQ_TN(1), SQ_TS(3)}},
    {"Div", {SQ_TX, SQ_TN(2)}},
};

/* The clip's lower bound: an input from opset 11, an attribute before;
 * no upper bound. */
static bool clip_min_only(sq_graph *g, const sq_match *m, float *eps) {
  const sq_node *clip = sq_match_node(g, m, 1);
  if (g->opset < 11) {
    float max = 0.0f;
    return sq_attr_float(clip, "min", 0.0f, eps) == SEQRT_OK &&
           sq_attr_float(clip, "max", INFINITY, &max) == SEQRT_OK &&
           max == INFINITY;
  }
  return m->captures[2] < 0 && sq_match_scalar(g, m, 1, eps);
}

/* Variant 0: the 2-norm, 1: the 1-norm. */
static int match_normalize(sq_graph *g, const sq_node *start, sq_match *m) {
  static const sq_tnode *const t[] = {normalize_l2, normalize_l1};
  static const int n[] = {COUNT(normalize_l2), COUNT(normalize_l1)};
  int v = sq_template_match_any(g, start, t, n, COUNT(t), m);
  float eps;
  int64_t keep = 1;
  if (v < 0 || !clip_min_only(g, m, &eps) ||
      sq_attr_int(sq_match_node(g, m, 0), "keepdims", 1, &keep) != SEQRT_OK ||
      !keep)
    return -1;
  return v;
}

bool sq_match_normalize(sq_graph *g, const sq_node *node, sq_group *group) {
  return sq_match_claim(g, node, group, match_normalize);
}

seqrt_status sq_convert_normalize(sq_ctx *ctx, const sq_group *group) {
  sq_graph *g = ctx->graph;
  sq_match m;
  float eps = 0.0f;
  int v = match_normalize(g, &g->nodes[group->nodes[0]], &m);
  if (v < 0 || !clip_min_only(g, &m, &eps))
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s': the %s decomposition no longer matches",
                    g->nodes[group->nodes[0]].name, group->pattern);
  const sq_node *norm = sq_match_node(g, &m, 0);
  bool reduced[SQ_MAX_RANK] = {false}, noop = false;
  seqrt_status st = reduced_dims(ctx, norm, reduced, &noop);
  if (st != SEQRT_OK) return st;
  if (reduced[0] || noop)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (%s) normalises over the batch dim or no dim "
                    "of %s, which is not supported",
                    norm->name, norm->op, sq_fmt_shape(&ctx->shape));
  sq_layer *layer;
  if ((st = sq_group_layer(ctx, group, SQ_NORMALIZE, &layer)) != SEQRT_OK)
    return st;
  memcpy(layer->reduced, reduced, sizeof layer->reduced);
  layer->alpha = v == 0 ? 2.0f : 1.0f;
  layer->epsilon = eps;
  sq_shape out = ctx->shape;
  return sq_layer_finish(ctx, layer, &out);
}
