/* Normalisations the exporters decompose: LayerNorm below opset 17
 * (ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div[/Mul[/Add]]), GroupNorm
 * (Reshape/InstanceNormalization/Reshape/Mul/Add) and PyTorch's
 * LocalResponseNorm (Mul/Unsqueeze/[Reshape]/Pad/[Pad]/AveragePool/
 * Squeeze or If/[Reshape]/Mul/Add/Pow/Div, with shape side-graphs and an
 * If whose condition depends only on the rank). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"


static seqrt_status no_match(const sq_ctx *ctx, const sq_group *group) {
  const sq_node *start = &ctx->graph->nodes[group->nodes[0]];
  return sq_error(SEQRT_ERR_INVALID_MODEL,
                  "node '%s' (%s): the %s decomposition no longer matches",
                  start->name, start->op, group->pattern);
}

/* An integer list from an attribute, or from a constant input when
 * `tensor` >= 0 (opset 13/18 moved axes to inputs). */
static bool int_list(sq_graph *g, const sq_node *node, const char *attr,
                     int tensor, int64_t *out, int *n) {
  const int64_t *list;
  *n = 0;
  if (tensor >= 0) {
    const sq_value *v;
    if (sq_graph_value(g, tensor, &v) != SEQRT_OK || !v->i ||
        sq_value_has_batch(v) || v->count > SQ_MAX_RANK) {
      sq_error_clear();
      return false;
    }
    list = v->i;
    *n = (int)v->count;
  } else if (sq_attr_ints(node, attr, &list, n) != SEQRT_OK ||
             *n > SQ_MAX_RANK) {
    sq_error_clear();
    return false;
  }
  for (int k = 0; k < *n; k++) out[k] = list[k];
  return true;
}

/* ---- LayerNorm ----------------------------------------------------------- */

static const sq_tnode layernorm_affine[] = {
    {"ReduceMean", {SQ_TX, SQ_TO(4)}}, {"Sub", {SQ_TX, SQ_TN(0)}},
    {"Pow", {SQ_TN(1), SQ_TV(2.0f)}},  {"ReduceMean", {SQ_TN(2), SQ_TO(5)}},
    {"Add", {SQ_TN(3), SQ_TK(0)}},     {"Sqrt", {SQ_TN(4)}},
    {"Div", {SQ_TN(1), SQ_TN(5)}},     {"Mul", {SQ_TN(6), SQ_TK(1)}},
    {"Add", {SQ_TN(7), SQ_TK(2)}},
};

/* The reduced axes: the same trailing, contiguous axes for both means
 * (negative, ending at -1; or non-negative, checked against the rank at
 * conversion), kept dims. The count in *n, the first in *first. */
static bool reduced_axes(sq_graph *g, const sq_match *m, int64_t *first,
                         int *n) {
  int64_t a[SQ_MAX_RANK], b[SQ_MAX_RANK];
  int na, nb;
  const sq_node *r0 = sq_match_node(g, m, 0), *r1 = sq_match_node(g, m, 3);
  int64_t keep0 = 1, keep1 = 1;
  if (!int_list(g, r0, "axes", m->captures[4], a, &na) ||
      !int_list(g, r1, "axes", m->captures[5], b, &nb) || na != nb || na == 0 ||
      sq_attr_int(r0, "keepdims", 1, &keep0) != SEQRT_OK ||
      sq_attr_int(r1, "keepdims", 1, &keep1) != SEQRT_OK || !keep0 || !keep1)
    return false;
  for (int k = 0; k < na; k++)
    if (a[k] != b[k] || (k && a[k] != a[k - 1] + 1) || (a[k] < 0) != (a[0] < 0))
      return false;
  if (a[0] < 0 && a[na - 1] != -1) return false;
  *first = a[0];
  *n = na;
  return true;
}

/* Variants: affine (9 nodes), scale only (8), no affine (7). */
static int match_layernorm(sq_graph *g, const sq_node *start, sq_match *m) {
  static const int sizes[] = {9, 8, 7};
  for (int v = 0; v < COUNT(sizes); v++) {
    int64_t first;
    int n;
    float eps;
    if (sq_template_match(g, start, layernorm_affine, sizes[v], m) &&
        reduced_axes(g, m, &first, &n) && sq_match_scalar(g, m, 0, &eps))
      return v;
  }
  return -1;
}

bool sq_match_layernorm(sq_graph *g, const sq_node *node, sq_group *group) {
  return sq_match_claim(g, node, group, match_layernorm);
}

seqrt_status sq_convert_layernorm(sq_ctx *ctx, const sq_group *group) {
  sq_graph *g = ctx->graph;
  sq_match m;
  int v = match_layernorm(g, &g->nodes[group->nodes[0]], &m);
  int64_t first;
  int n;
  float eps;
  if (v < 0 || !reduced_axes(g, &m, &first, &n) ||
      !sq_match_scalar(g, &m, 0, &eps))
    return no_match(ctx, group);
  int rank = ctx->shape.rank;
  int64_t axis = first < 0 ? first + rank : first;
  const sq_node *mean = sq_match_node(g, &m, 0);
  if (axis < 1 || axis + n != rank)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (ReduceMean): a LayerNorm must normalise "
                    "trailing dims after the batch; %d axes from %lld of %s "
                    "are not",
                    mean->name, n, (long long)first, sq_fmt_shape(&ctx->shape));
  const sq_value *gamma = NULL, *beta = NULL;
  seqrt_status st = SEQRT_OK;
  if (v <= 1) st = sq_graph_value(g, m.captures[1], &gamma);
  if (st == SEQRT_OK && v == 0) st = sq_graph_value(g, m.captures[2], &beta);
  if (st == SEQRT_OK && ((gamma && !gamma->f) || (beta && !beta->f)))
    st = sq_error(SEQRT_ERR_UNSUPPORTED,
                  "node '%s': LayerNorm scale and bias must be floats",
                  mean->name);
  if (st != SEQRT_OK) return st;
  return sq_layernorm_layer(ctx, group, mean, (int)axis, eps, gamma, beta);
}

/* ---- GroupNorm ------------------------------------------------------------
 */

/* x → [N, G, -1] → InstanceNormalization(ones, zeros) → back to x's shape
 * → * gamma + beta (per channel, [C, 1, ...]). */
static const sq_tnode groupnorm_t[] = {
    {"Reshape", {SQ_TX, SQ_TS(0)}},
    {"InstanceNormalization", {SQ_TN(0), SQ_TK(1), SQ_TK(2)}},
    {"Reshape", {SQ_TN(1), SQ_TS(3)}},
    {"Mul", {SQ_TN(2), SQ_TK(4)}},
    {"Add", {SQ_TN(3), SQ_TK(5)}},
};

static bool all_values(sq_graph *g, int t, float want) {
  const sq_value *v;
  if (sq_graph_value(g, t, &v) != SEQRT_OK || !v->f) {
    sq_error_clear();
    return false;
  }
  for (int64_t k = 0; k < v->count; k++)
    if (v->f[k] != want) return false;
  return true;
}

static int match_groupnorm(sq_graph *g, const sq_node *start, sq_match *m) {
  static const int sizes[] = {5, 3};
  for (int v = 0; v < COUNT(sizes); v++)
    if (sq_template_match(g, start, groupnorm_t, sizes[v], m) &&
        all_values(g, m->captures[1], 1.0f) &&
        all_values(g, m->captures[2], 0.0f))
      return v;
  return -1;
}

bool sq_match_groupnorm(sq_graph *g, const sq_node *node, sq_group *group) {
  return sq_match_claim(g, node, group, match_groupnorm);
}

static bool same_shape(const sq_shape *a, const sq_shape *b) {
  if (a->rank != b->rank) return false;
  for (int k = 0; k < a->rank; k++)
    if (a->dims[k] != b->dims[k]) return false;
  return true;
}

/* gamma/beta of shape [C, 1, ...] (rank - 1 dims), [C] on a 2-D input, or
 * one value: as C values. */
static seqrt_status per_channel(sq_ctx *ctx, const sq_node *node, int t,
                                sq_weights *w) {
  const sq_value *v;
  int64_t c = ctx->shape.dims[1];
  seqrt_status st = sq_graph_value(ctx->graph, t, &v);
  if (st != SEQRT_OK) return st;
  bool ok = v->f && (v->count == 1 ||
                     (v->count == c && v->rank == ctx->shape.rank - 1));
  for (int k = 1; ok && v->count != 1 && k < v->rank; k++) ok = v->dims[k] == 1;
  if (!ok)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (%s): GroupNorm %s of shape %s is not one "
                    "value per channel of %s",
                    node->name, node->op,
                    sq_node_is(node, "Mul") ? "scale" : "bias",
                    sq_fmt_dims(v->rank, v->dims), sq_fmt_shape(&ctx->shape));
  if ((st = sq_weights_alloc(w, 1, &c)) != SEQRT_OK) return st;
  for (int64_t k = 0; k < c; k++) w->data[k] = v->f[v->count == 1 ? 0 : k];
  return SEQRT_OK;
}

/* Both dropped when they are the identity (affine=False). */
static seqrt_status groupnorm_affine(sq_ctx *ctx, const sq_match *m,
                                     sq_layer *layer) {
  sq_graph *g = ctx->graph;
  seqrt_status st =
      per_channel(ctx, sq_match_node(g, m, 3), m->captures[4], &layer->weight);
  if (st == SEQRT_OK)
    st = per_channel(ctx, sq_match_node(g, m, 4), m->captures[5], &layer->bias);
  if (st != SEQRT_OK) return st;
  bool identity = true;
  for (int64_t k = 0; k < layer->weight.count; k++)
    identity &= layer->weight.data[k] == 1.0f && layer->bias.data[k] == 0.0f;
  if (identity) {
    sq_weights_release(&layer->weight);
    sq_weights_release(&layer->bias);
  }
  return SEQRT_OK;
}

seqrt_status sq_convert_groupnorm(sq_ctx *ctx, const sq_group *group) {
  sq_graph *g = ctx->graph;
  sq_match m;
  int v = match_groupnorm(g, &g->nodes[group->nodes[0]], &m);
  if (v < 0) return no_match(ctx, group);
  const sq_node *first = sq_match_node(g, &m, 0);
  const sq_node *norm = sq_match_node(g, &m, 1);
  const sq_value *scale;
  sq_shape mid, back;
  float eps;
  seqrt_status st = sq_reshape_node(ctx, first, &ctx->shape, &mid);
  if (st == SEQRT_OK) st = sq_graph_value(g, m.captures[1], &scale);
  if (st == SEQRT_OK) st = sq_attr_float(norm, "epsilon", 1e-5f, &eps);
  if (st == SEQRT_OK)
    st = sq_reshape_node(ctx, sq_match_node(g, &m, 2), &mid, &back);
  if (st != SEQRT_OK) return st;
  int64_t groups = scale->count, channels = ctx->shape.dims[1];
  if (ctx->shape.rank < 2 || mid.rank != 3 || mid.dims[1] != groups ||
      channels % groups || mid.dims[0] != ctx->shape.dims[0] ||
      !same_shape(&back, &ctx->shape))
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "nodes '%s' and '%s': %s reshaped to %s and back to %s "
                    "is not a GroupNorm of %lld groups",
                    first->name, norm->name, sq_fmt_shape(&ctx->shape),
                    sq_fmt_shape(&mid), sq_fmt_shape(&back), (long long)groups);
  sq_layer *layer;
  if ((st = sq_group_layer(ctx, group, SQ_GROUPNORM, &layer)) != SEQRT_OK)
    return st;
  layer->groups = groups;
  layer->epsilon = eps;
  if (v == 0 && (st = groupnorm_affine(ctx, &m, layer)) != SEQRT_OK) return st;
  sq_shape out = ctx->shape;
  return sq_layer_finish(ctx, layer, &out);
}

/* ---- LocalResponseNorm -----------------------------------------------------
 */

/* x / (k + alpha * avgpool(pad(x^2 seen as [N, 1, C, ...])))^beta. The
 * layout of the template varies: a Reshape to 5-D for inputs of rank 4 and
 * more, one or two Pads, and the Squeeze of the unsqueezed axis either
 * plain (opset 9) or in an If on its size (opset 11+). */
enum { LRN_RESHAPE = 1, LRN_IF = 2, LRN_TWO_PADS = 4, LRN_VARIANTS = 8 };

typedef struct lrn_nodes {
  int square, unsqueeze, reshape, pad[2], n_pads, pool, squeeze, reshape_back,
      mul, add, pow, div;
} lrn_nodes;

/* Template for `variant` into t; roles in *r; returns the node count. */
static int lrn_template(int variant, sq_tnode *t, lrn_nodes *r) {
  int n = 0;
  memset(t, 0, 12 * sizeof *t);
  memset(r, 0xff, sizeof *r);
  t[r->square = n++] = (sq_tnode){"Mul", {SQ_TX, SQ_TX}};
  t[r->unsqueeze = n] = (sq_tnode){"Unsqueeze", {SQ_TN(n - 1), SQ_TO(0)}};
  n++;
  if (variant & LRN_RESHAPE) {
    t[r->reshape = n] = (sq_tnode){"Reshape", {SQ_TN(n - 1), SQ_TS(1)}};
    n++;
  }
  r->n_pads = variant & LRN_TWO_PADS ? 2 : 1;
  for (int p = 0; p < r->n_pads; p++) {
    t[r->pad[p] = n] =
        (sq_tnode){"Pad", {SQ_TN(n - 1), SQ_TO(2 + 2 * p), SQ_TO(3 + 2 * p)}};
    n++;
  }
  t[r->pool = n] = (sq_tnode){"AveragePool", {SQ_TN(n - 1)}};
  n++;
  if (variant & LRN_IF)
    t[r->squeeze = n] = (sq_tnode){"If", {SQ_TS(6), SQ_TN(n - 1)}};
  else
    t[r->squeeze = n] = (sq_tnode){"Squeeze", {SQ_TN(n - 1), SQ_TO(6)}};
  n++;
  if (variant & LRN_RESHAPE) {
    t[r->reshape_back = n] = (sq_tnode){"Reshape", {SQ_TN(n - 1), SQ_TS(7)}};
    n++;
  }
  t[r->mul = n] = (sq_tnode){"Mul", {SQ_TN(n - 1), SQ_TK(8)}};
  n++;
  t[r->add = n] = (sq_tnode){"Add", {SQ_TN(n - 1), SQ_TK(9)}};
  n++;
  t[r->pow = n] = (sq_tnode){"Pow", {SQ_TN(n - 1), SQ_TK(10)}};
  n++;
  t[r->div = n] = (sq_tnode){"Div", {SQ_TX, SQ_TN(n - 1)}};
  n++;
  return n;
}

/* alpha, k, beta: captures 8, 9, 10 of the Mul, Add and Pow. */
static bool lrn_scalar(sq_graph *g, const sq_match *m, int capture,
                       float *out) {
  return sq_match_scalar(g, m, capture, out);
}

static int match_lrn(sq_graph *g, const sq_node *start, sq_match *m,
                     lrn_nodes *r) {
  sq_tnode t[12];
  for (int v = 0; v < LRN_VARIANTS; v++) {
    int n = lrn_template(v, t, r);
    float alpha, k, beta;
    if (sq_template_match(g, start, t, n, m) && lrn_scalar(g, m, 8, &alpha) &&
        lrn_scalar(g, m, 9, &k) && lrn_scalar(g, m, 10, &beta))
      return v;
  }
  return -1;
}

bool sq_match_lrn(sq_graph *g, const sq_node *node, sq_group *group) {
  sq_match m;
  lrn_nodes r;
  if (match_lrn(g, node, &m, &r) < 0) return false;
  sq_match_to_group(g, &m, group);
  return true;
}

static seqrt_status lrn_error(const sq_node *node, const char *why) {
  return sq_error(SEQRT_ERR_UNSUPPORTED,
                  "node '%s' (%s): not PyTorch's LocalResponseNorm: %s",
                  node->name, node->op, why);
}

/* The axis list of an Unsqueeze/Squeeze (attribute or constant input) is
 * exactly [1]. */
static bool axis_one(sq_graph *g, const sq_node *node, int tensor) {
  int64_t axes[SQ_MAX_RANK];
  int n;
  return int_list(g, node, "axes", tensor, axes, &n) && n == 1 && axes[0] == 1;
}

/* The pads of the Pads together, over `rank` dims. */
static seqrt_status lrn_pads(sq_ctx *ctx, const sq_match *m, const lrn_nodes *r,
                             int rank, int64_t *pads) {
  memset(pads, 0, 2 * (size_t)rank * sizeof *pads);
  for (int p = 0; p < r->n_pads; p++) {
    const sq_node *pad = sq_match_node(ctx->graph, m, r->pad[p]);
    sq_pad_spec spec;
    seqrt_status st = sq_pad_spec_read(ctx->graph, pad, rank, &spec);
    if (st != SEQRT_OK) return st;
    if (spec.mode != SQ_PAD_CONSTANT || spec.fill != 0.0)
      return lrn_error(pad, "the padding must be zeros");
    for (int k = 0; k < 2 * rank; k++) pads[k] += spec.pads[k];
  }
  return SEQRT_OK;
}

/* The window: AveragePool kernel [size, 1, ...], stride 1, no own pads,
 * over the squares padded by size/2 before and (size-1)/2 after along the
 * channels (dim 2 of the unsqueezed tensor). */
static seqrt_status lrn_window(sq_ctx *ctx, const sq_match *m,
                               const lrn_nodes *r, int rank, int64_t *size) {
  const sq_node *pool = sq_match_node(ctx->graph, m, r->pool);
  const int64_t *kernel, *strides, *own;
  int nk, ns, np;
  int64_t ceil_mode = 0, pads[2 * SQ_MAX_RANK];
  seqrt_status st = sq_attr_ints(pool, "kernel_shape", &kernel, &nk);
  if (st == SEQRT_OK) st = sq_attr_ints(pool, "strides", &strides, &ns);
  if (st == SEQRT_OK) st = sq_attr_ints(pool, "pads", &own, &np);
  if (st == SEQRT_OK) st = sq_attr_int(pool, "ceil_mode", 0, &ceil_mode);
  if (st == SEQRT_OK) st = lrn_pads(ctx, m, r, rank, pads);
  if (st != SEQRT_OK) return st;
  bool ok = nk == rank - 2 && nk >= 1 && kernel[0] >= 1 && ceil_mode == 0;
  for (int k = 1; ok && k < nk; k++) ok = kernel[k] == 1;
  for (int k = 0; ok && k < ns; k++) ok = strides[k] == 1;
  for (int k = 0; ok && k < np; k++) ok = own[k] == 0;
  if (!ok)
    return lrn_error(pool, "the window must be [size, 1, ...], stride 1");
  *size = kernel[0];
  for (int k = 0; k < 2 * rank; k++) {
    int64_t want = k == 2 ? *size / 2 : k == rank + 2 ? (*size - 1) / 2 : 0;
    if (pads[k] != want)
      return lrn_error(pool, "the channels must be padded by size/2 before "
                             "and (size-1)/2 after");
  }
  return SEQRT_OK;
}

/* The then branch squeezes axis 1 of the pooled tensor, the else branch
 * passes it on; the condition (that axis has size 1) is evaluated with the
 * shapes known at import. */
static seqrt_status lrn_if(sq_ctx *ctx, const sq_match *m, const lrn_nodes *r,
                           const sq_shape *pooled) {
  sq_graph *g = ctx->graph;
  const sq_node *node = sq_match_node(g, m, r->squeeze);
  const Onnx__AttributeProto *then_b = sq_attr_find(node, "then_branch");
  const Onnx__AttributeProto *else_b = sq_attr_find(node, "else_branch");
  if (!then_b || !then_b->g || !else_b || !else_b->g)
    return lrn_error(node, "the If lacks a branch");
  const Onnx__GraphProto *tg = then_b->g, *eg = else_b->g;
  const Onnx__NodeProto *last = tg->n_node ? tg->node[tg->n_node - 1] : NULL;
  bool squeeze = last && last->op_type && strcmp(last->op_type, "Squeeze") == 0;
  for (size_t k = 0; squeeze && k + 1 < tg->n_node; k++)
    squeeze =
        tg->node[k]->op_type && strcmp(tg->node[k]->op_type, "Constant") == 0;
  bool identity = eg->n_node == 1 && eg->node[0]->op_type &&
                  strcmp(eg->node[0]->op_type, "Identity") == 0;
  if (!squeeze || !identity)
    return lrn_error(node, "the If must squeeze or pass on the pooled sums");
  sq_tensor_set_shape(g, sq_node_output(sq_match_node(g, m, r->pool), 0),
                      pooled);
  const sq_value *cond;
  seqrt_status st = sq_graph_value(g, sq_node_input(node, 0), &cond);
  if (st != SEQRT_OK) return st;
  if (cond->count != 1 || sq_value_has_batch(cond) ||
      sq_value_float(cond, 0) == 0.0)
    return lrn_error(node, "the If's condition does not select the squeeze");
  return SEQRT_OK;
}

/* Shapes through the decomposition, checked against the template. */
static seqrt_status lrn_shapes(sq_ctx *ctx, const sq_match *m,
                               const lrn_nodes *r, int64_t *size) {
  sq_graph *g = ctx->graph;
  const sq_shape in = ctx->shape;
  if (in.rank < 3 || in.rank > 2 + SQ_MAX_SPATIAL)
    return lrn_error(sq_match_node(g, m, r->square),
                     "the input must be [N, C, ...] of rank 3 to 5");
  sq_shape up = {in.rank + 1, {in.dims[0], 1}};
  for (int k = 1; k < in.rank; k++) up.dims[k + 1] = in.dims[k];
  const sq_node *unsq = sq_match_node(g, m, r->unsqueeze);
  if (!axis_one(g, unsq, m->captures[0]))
    return lrn_error(unsq, "the squares must gain axis 1");
  seqrt_status st = SEQRT_OK;
  if (r->reshape >= 0)
    st = sq_reshape_node(ctx, sq_match_node(g, m, r->reshape), &up, &up);
  if (st != SEQRT_OK) return st;
  if (up.rank < 4 || up.rank > 5 || up.dims[1] != 1 || up.dims[2] != in.dims[1])
    return lrn_error(unsq, "the squares must be seen as [N, 1, C, ...]");
  if ((st = lrn_window(ctx, m, r, up.rank, size)) != SEQRT_OK) return st;
  /* pooled: same as up (stride 1, the padding undoes the window) */
  sq_shape squeezed = {up.rank - 1, {up.dims[0]}};
  for (int k = 2; k < up.rank; k++) squeezed.dims[k - 1] = up.dims[k];
  const sq_node *sq = sq_match_node(g, m, r->squeeze);
  if (sq_node_is(sq, "If"))
    st = lrn_if(ctx, m, r, &up);
  else if (!axis_one(g, sq, m->captures[6]))
    st = lrn_error(sq, "the squeeze must drop axis 1");
  if (st == SEQRT_OK && r->reshape_back >= 0)
    st = sq_reshape_node(ctx, sq_match_node(g, m, r->reshape_back), &squeezed,
                         &squeezed);
  if (st == SEQRT_OK && !same_shape(&squeezed, &in))
    st = lrn_error(sq, "the sums must come back to the input's shape");
  return st;
}

seqrt_status sq_convert_lrn(sq_ctx *ctx, const sq_group *group) {
  sq_graph *g = ctx->graph;
  sq_match m;
  lrn_nodes r;
  if (match_lrn(g, &g->nodes[group->nodes[0]], &m, &r) < 0)
    return no_match(ctx, group);
  float alpha = 0, k = 0, beta = 0;
  int64_t size = 0;
  lrn_scalar(g, &m, 8, &alpha);
  lrn_scalar(g, &m, 9, &k);
  lrn_scalar(g, &m, 10, &beta);
  seqrt_status st = lrn_shapes(ctx, &m, &r, &size);
  if (st != SEQRT_OK) return st;
  return sq_lrn_layer(ctx, group, sq_match_node(g, &m, r.div), size, alpha,
                      beta, k);
}
