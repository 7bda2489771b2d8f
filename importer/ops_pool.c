/* MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, and a zero Pad
 * before an AveragePool (PyTorch's export of count_include_pad=True). */
#include <string.h>

#include "ops.h"

static seqrt_status check_storage_order(sq_ctx *ctx, const sq_node *node) {
  int64_t order = 0;
  seqrt_status st = sq_attr_int(node, "storage_order", 0, &order);
  if (st == SEQRT_OK && order != 0)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (MaxPool) has storage_order=%lld; seqrt "
                    "supports only row-major (0)",
                    node->name, (long long)order);
  (void)ctx;
  return st;
}

static bool any_pad(const sq_window *win) {
  for (int k = 0; k < win->spatial; k++)
    if (win->pad_begin[k] || win->pad_end[k] - win->ceil_extra[k]) return true;
  return false;
}

/* count_include_pad: the extra end padding of ceil_mode must not be
 * counted (PyTorch and ONNX average only the real and padded cells). */
static seqrt_status average_mode(const sq_node *node, const sq_window *win,
                                 bool include_pad, bool *out) {
  bool extra = false;
  for (int k = 0; k < win->spatial; k++) extra |= win->ceil_extra[k] > 0;
  *out = include_pad;
  if (!include_pad || !extra) return SEQRT_OK;
  if (!any_pad(win)) {
    *out = false; /* no padding of the model's own: nothing else to count */
    return SEQRT_OK;
  }
  return sq_error(SEQRT_ERR_UNSUPPORTED,
                  "node '%s' (AveragePool): ceil_mode=1 with padding counted "
                  "in the average (count_include_pad=1) needs extra end "
                  "padding that must not be counted; seqrt cannot express "
                  "this",
                  node->name);
}

typedef struct pool_pad {
  const int64_t *begin, *end; /* from a folded Pad, or NULL */
} pool_pad;

static seqrt_status pool_window(sq_ctx *ctx, const sq_node *node, bool max,
                                const pool_pad *pad, sq_window *win) {
  int64_t opset = ctx->graph->opset;
  sq_window_rules rules = {NULL, max && opset >= 10, opset >= 10};
  seqrt_status st = sq_window_read(node, &ctx->shape, &rules, win);
  if (st != SEQRT_OK || !pad->begin) return st;
  if (win->auto_pad != SQ_AUTO_PAD_NOTSET)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (%s) has auto_pad and a Pad before it; seqrt "
                    "cannot combine them",
                    node->name, node->op);
  for (int k = 0; k < win->spatial; k++) {
    win->pad_begin[k] += pad->begin[k];
    win->pad_end[k] += pad->end[k];
  }
  return SEQRT_OK;
}

/* The include flag of an AveragePool, folding a preceding zero Pad. */
static seqrt_status include_flag(const sq_node *node, const sq_window *win,
                                 const pool_pad *pad, bool *include) {
  int64_t attr = 0;
  seqrt_status st = sq_attr_int(node, "count_include_pad", 0, &attr);
  if (st != SEQRT_OK) return st;
  *include = attr != 0;
  bool padded = false;
  for (int k = 0; pad->begin && k < win->spatial; k++)
    padded |= pad->begin[k] || pad->end[k];
  if (!padded) return SEQRT_OK;
  bool own_pads = false;
  for (int k = 0; k < win->spatial; k++)
    own_pads |= win->pad_begin[k] != pad->begin[k] ||
                win->pad_end[k] - win->ceil_extra[k] != pad->end[k];
  if (own_pads && !*include)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (AveragePool) excludes its own padding but "
                    "follows a Pad whose zeros count; seqrt cannot mix them",
                    node->name);
  *include = true; /* the Pad's zeros are real cells of the input */
  return SEQRT_OK;
}

static seqrt_status pool_layer(sq_ctx *ctx, const sq_node *node, bool max,
                               const pool_pad *pad, sq_layer **out) {
  sq_window win;
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK && max) st = check_storage_order(ctx, node);
  if (st == SEQRT_OK) st = pool_window(ctx, node, max, pad, &win);
  if (st == SEQRT_OK) st = sq_window_resolve(node, &ctx->shape, &win);
  bool include = false;
  if (st == SEQRT_OK && !max) st = include_flag(node, &win, pad, &include);
  if (st == SEQRT_OK && !max) st = average_mode(node, &win, include, &include);
  if (st != SEQRT_OK) return st;
  sq_layer *layer;
  st = sq_layer_add(ctx, max ? SQ_MAXPOOL : SQ_AVGPOOL, node, &layer);
  if (st != SEQRT_OK) return st;
  sq_window_to_layer(&win, layer);
  layer->count_include_pad = include;
  sq_shape shape;
  sq_window_out_shape(&win, &ctx->shape, ctx->shape.dims[1], &shape);
  *out = layer;
  return sq_layer_finish(ctx, layer, &shape);
}

seqrt_status sq_op_maxpool(sq_ctx *ctx, const sq_node *node) {
  sq_layer *layer;
  pool_pad none = {NULL, NULL};
  return pool_layer(ctx, node, true, &none, &layer);
}

seqrt_status sq_op_avgpool(sq_ctx *ctx, const sq_node *node) {
  sq_layer *layer;
  pool_pad none = {NULL, NULL};
  return pool_layer(ctx, node, false, &none, &layer);
}

/* Global pools: a window over the whole spatial extent. */
static seqrt_status global_pool(sq_ctx *ctx, const sq_node *node,
                                sq_kind kind) {
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st != SEQRT_OK) return st;
  const sq_shape in = ctx->shape;
  int spatial = in.rank - 2;
  if (spatial < 1 || spatial > SQ_MAX_SPATIAL)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (%s) needs a 1-D to 3-D spatial input (rank 3 "
                    "to 5), got %s",
                    node->name, node->op, sq_fmt_shape(&in));
  sq_layer *layer;
  if ((st = sq_layer_add(ctx, kind, node, &layer)) != SEQRT_OK) return st;
  layer->spatial = spatial;
  sq_shape out = in;
  for (int k = 0; k < spatial; k++) {
    layer->kernel[k] = in.dims[2 + k];
    out.dims[2 + k] = 1;
  }
  return sq_layer_finish(ctx, layer, &out);
}

seqrt_status sq_op_global_avgpool(sq_ctx *ctx, const sq_node *node) {
  return global_pool(ctx, node, SQ_AVGPOOL);
}

seqrt_status sq_op_global_maxpool(sq_ctx *ctx, const sq_node *node) {
  return global_pool(ctx, node, SQ_MAXPOOL);
}

/* ---- Pad → AveragePool --------------------------------------------------- */

bool sq_match_pad_avgpool(sq_graph *graph, const sq_node *node,
                          sq_group *group) {
  return sq_match_pad_before(graph, node, "AveragePool", group);
}

seqrt_status sq_convert_pad_avgpool(sq_ctx *ctx, const sq_group *group) {
  const sq_node *pad = &ctx->graph->nodes[group->nodes[0]];
  const sq_node *pool = &ctx->graph->nodes[group->nodes[1]];
  int64_t begin[SQ_MAX_SPATIAL] = {0}, end[SQ_MAX_SPATIAL] = {0};
  if (ctx->shape.rank < 3 || ctx->shape.rank > 2 + SQ_MAX_SPATIAL)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (AveragePool) needs a rank 3 to 5 input, got "
                    "%s",
                    pool->name, sq_fmt_shape(&ctx->shape));
  seqrt_status st = sq_pad_read(ctx, pad, ctx->shape.rank, begin, end);
  pool_pad folded = {begin, end};
  sq_layer *layer;
  if (st == SEQRT_OK) st = pool_layer(ctx, pool, false, &folded, &layer);
  return st == SEQRT_OK ? sq_layer_prepend_node(layer, pad) : st;
}
