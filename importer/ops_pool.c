/* MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, a zero Pad
 * before an AveragePool (PyTorch's export of count_include_pad=True), LpPool
 * and PyTorch's LPPool decomposition. An average may count some padding and
 * not the rest (ceil_mode's overhang, own pads around a Pad's zeros): the
 * layer's uncounted_* (core/chain.h). */
#include <math.h>
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

typedef struct pool_pad {
  const int64_t *begin, *end; /* from a folded Pad, or NULL */
} pool_pad;

static seqrt_status pool_window(sq_ctx *ctx, const sq_node *node, bool max,
                                const pool_pad *pad, sq_window *win) {
  int64_t opset = ctx->graph->opset;
  bool dilations = opset >= (max ? 10 : 19);
  sq_window_rules rules = {NULL, dilations, opset >= 10};
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

/* The padding an average counts: a folded Pad's zeros always (they are
 * cells of the pool's input), the node's own pads with count_include_pad,
 * ceil_mode's overhang never (ONNX and PyTorch clip a window to the padded
 * input). */
typedef struct pool_count {
  int64_t begin[SQ_MAX_SPATIAL], end[SQ_MAX_SPATIAL];
} pool_count;

static seqrt_status counted_pads(const sq_node *node, const sq_window *win,
                                 const pool_pad *pad, pool_count *count) {
  int64_t include = 0;
  seqrt_status st = sq_attr_int(node, "count_include_pad", 0, &include);
  if (st != SEQRT_OK) return st;
  for (int k = 0; k < win->spatial; k++) {
    int64_t zeros_begin = pad->begin ? pad->begin[k] : 0;
    int64_t zeros_end = pad->end ? pad->end[k] : 0;
    count->begin[k] = include ? win->pad_begin[k] : zeros_begin;
    count->end[k] = include ? win->pad_end[k] - win->ceil_extra[k] : zeros_end;
  }
  return SEQRT_OK;
}

/* The window (and for an average the counted padding) of a pool, a
 * preceding Pad folded. */
static seqrt_status pool_plan(sq_ctx *ctx, const sq_node *node, bool max,
                              const pool_pad *pad, sq_window *win,
                              pool_count *count) {
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK && max) st = check_storage_order(ctx, node);
  if (st == SEQRT_OK) st = pool_window(ctx, node, max, pad, win);
  if (st == SEQRT_OK) st = sq_window_resolve(node, &ctx->shape, win);
  memset(count, 0, sizeof *count);
  if (st == SEQRT_OK && !max) st = counted_pads(node, win, pad, count);
  return st;
}

/* chain.h's count_include_pad and uncounted_*, from the counted padding
 * and the layer's pads (end pads the windows never reach already
 * trimmed). An average counting some padding but not all runs on an
 * explicitly padded copy of its input, which must fit the limits. */
static seqrt_status set_counted(const sq_node *node, const pool_count *count,
                                sq_layer *layer) {
  bool counted = false;
  for (int k = 0; k < layer->spatial; k++) {
    int64_t end =
        count->end[k] < layer->pad_end[k] ? count->end[k] : layer->pad_end[k];
    layer->uncounted_begin[k] = layer->pad_begin[k] - count->begin[k];
    layer->uncounted_end[k] = layer->pad_end[k] - end;
    counted |= count->begin[k] > 0 || end > 0;
  }
  if (layer->kind == SQ_AVGPOOL) layer->count_include_pad = counted;
  if (layer->kind == SQ_AVGPOOL && !counted) {
    memset(layer->uncounted_begin, 0, sizeof layer->uncounted_begin);
    memset(layer->uncounted_end, 0, sizeof layer->uncounted_end);
  }
  sq_shape padded;
  if (!sq_pool_padded_shape(layer, &padded) ||
      sq_shape_check(&padded) != SEQRT_ERR_LIMIT)
    return SEQRT_OK;
  return sq_error(SEQRT_ERR_LIMIT,
                  "node '%s' (%s): the average runs on its input zero-padded "
                  "to %s, too large",
                  node->name, node->op, sq_fmt_shape(&padded));
}

static seqrt_status pool_layer(sq_ctx *ctx, const sq_node *node, bool max,
                               const pool_pad *pad, sq_layer **out) {
  sq_window win;
  pool_count count;
  seqrt_status st = pool_plan(ctx, node, max, pad, &win, &count);
  if (st != SEQRT_OK) return st;
  sq_layer *layer;
  st = sq_layer_add(ctx, max ? SQ_MAXPOOL : SQ_AVGPOOL, node, &layer);
  if (st != SEQRT_OK) return st;
  sq_window_to_layer(&win, layer);
  if (!max && (st = set_counted(node, &count, layer)) != SEQRT_OK) return st;
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
  pool_pad folded = {begin, end}, none = {NULL, NULL};
  sq_window win;
  pool_count count;
  if (st == SEQRT_OK) st = pool_plan(ctx, pool, false, &folded, &win, &count);
  sq_layer *layer;
  if (st == SEQRT_OK) {
    st = pool_layer(ctx, pool, false, &folded, &layer);
    return st == SEQRT_OK ? sq_layer_prepend_node(layer, pad) : st;
  }
  if (st != SEQRT_ERR_UNSUPPORTED) return st;
  /* e.g. auto_pad after the Pad: exact as the graph has it, a PAD layer and
   * the pool */
  sq_error_clear();
  st = sq_op_pad(ctx, pad);
  return st == SEQRT_OK ? pool_layer(ctx, pool, false, &none, &layer) : st;
}

/* ---- LpPool: ONNX's (sum |x|^p)^(1/p) ------------------------------------ */

static seqrt_status lp_norm(const sq_node *node, int64_t *p) {
  seqrt_status st = sq_attr_int(node, "p", 2, p);
  if (st == SEQRT_OK && (*p < 1 || *p > 64))
    st = sq_error(SEQRT_ERR_UNSUPPORTED, "node '%s' (%s) has p=%lld",
                  node->name, node->op, (long long)*p);
  return st;
}

seqrt_status sq_op_lppool(sq_ctx *ctx, const sq_node *node) {
  int64_t p;
  sq_window win;
  int64_t opset = ctx->graph->opset;
  sq_window_rules rules = {NULL, opset >= 18, opset >= 18};
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK) st = lp_norm(node, &p);
  if (st == SEQRT_OK) st = sq_window_read(node, &ctx->shape, &rules, &win);
  if (st == SEQRT_OK) st = sq_window_resolve(node, &ctx->shape, &win);
  sq_layer *layer;
  if (st == SEQRT_OK) st = sq_layer_add(ctx, SQ_LPPOOL, node, &layer);
  if (st != SEQRT_OK) return st;
  sq_window_to_layer(&win, layer);
  layer->alpha = (float)p;
  layer->lp_abs = true;
  sq_shape shape;
  sq_window_out_shape(&win, &ctx->shape, ctx->shape.dims[1], &shape);
  return sq_layer_finish(ctx, layer, &shape);
}

seqrt_status sq_op_global_lppool(sq_ctx *ctx, const sq_node *node) {
  int64_t p;
  seqrt_status st = lp_norm(node, &p);
  if (st == SEQRT_OK) st = global_pool(ctx, node, SQ_LPPOOL);
  if (st != SEQRT_OK) return st;
  sq_layer *layer = &ctx->chain->layers[ctx->chain->n_layers - 1];
  layer->alpha = (float)p;
  layer->lp_abs = true;
  return SEQRT_OK;
}

/* ---- PyTorch's LPPool: (k * avgpool(x^p))^(1/p), sign-guarded ------------ */

static const sq_tnode lppool_padded[] = {
    {"Pow", {SQ_TX, SQ_TK(0)}},    {"Pad", {SQ_TN(0), SQ_TO(1), SQ_TO(2)}},
    {"AveragePool", {SQ_TN(1)}},   {"Sign", {SQ_TN(2)}},
    {"Abs", {SQ_TN(2)}},           {"Relu", {SQ_TN(4)}},
    {"Mul", {SQ_TN(3), SQ_TN(5)}}, {"Mul", {SQ_TN(6), SQ_TK(3)}},
    {"Pow", {SQ_TN(7), SQ_TK(4)}},
};
static const sq_tnode lppool_plain[] = {
    {"Pow", {SQ_TX, SQ_TK(0)}},    {"AveragePool", {SQ_TN(0)}},
    {"Sign", {SQ_TN(1)}},          {"Abs", {SQ_TN(1)}},
    {"Relu", {SQ_TN(3)}},          {"Mul", {SQ_TN(2), SQ_TN(4)}},
    {"Mul", {SQ_TN(5), SQ_TK(3)}}, {"Pow", {SQ_TN(6), SQ_TK(4)}},
};

/* p, and the window size k the average is multiplied back by. */
static int match_lppool(sq_graph *g, const sq_node *start, sq_match *m,
                        float *p, float *k) {
  static const sq_tnode *const t[] = {lppool_padded, lppool_plain};
  static const int n[] = {9, 8};
  int v = sq_template_match_any(g, start, t, n, 2, m);
  float inv;
  if (v < 0 || !sq_match_scalar(g, m, 0, p) || !sq_match_scalar(g, m, 3, k) ||
      !sq_match_scalar(g, m, 4, &inv) || !(*p >= 1) ||
      fabsf(inv * *p - 1.0f) > 1e-5f)
    return -1;
  return v;
}

bool sq_match_lppool(sq_graph *g, const sq_node *node, sq_group *group) {
  sq_match m;
  float p, k;
  if (match_lppool(g, node, &m, &p, &k) < 0) return false;
  sq_match_to_group(g, &m, group);
  return true;
}

seqrt_status sq_convert_lppool(sq_ctx *ctx, const sq_group *group) {
  sq_graph *g = ctx->graph;
  sq_match m;
  float p, k;
  const sq_node *start = &g->nodes[group->nodes[0]];
  int v = match_lppool(g, start, &m, &p, &k);
  if (v < 0)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s': the LPPool decomposition no longer matches",
                    start->name);
  const sq_node *pool = sq_match_node(g, &m, v == 0 ? 2 : 1);
  int64_t begin[SQ_MAX_SPATIAL] = {0}, end[SQ_MAX_SPATIAL] = {0};
  pool_pad none = {NULL, NULL}, folded = {begin, end};
  seqrt_status st = SEQRT_OK;
  if (v == 0)
    st = sq_pad_read(ctx, sq_match_node(g, &m, 1), ctx->shape.rank, begin, end);
  sq_window win;
  pool_count count;
  if (st == SEQRT_OK)
    st = pool_plan(ctx, pool, false, v == 0 ? &folded : &none, &win, &count);
  if (st != SEQRT_OK) return st;
  /* k times the average is an LPPOOL layer's scaled sum (chain.h) only
   * when k is the kernel's cell count */
  int64_t cells = 1;
  for (int d = 0; d < win.spatial; d++) cells *= win.kernel[d];
  if (fabsf(k - (float)cells) > 1e-4f * (float)cells)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (AveragePool): LPPool multiplies the average "
                    "by %g, not by the %lld cells of its window",
                    pool->name, k, (long long)cells);
  sq_layer *layer;
  if ((st = sq_group_layer(ctx, group, SQ_LPPOOL, &layer)) != SEQRT_OK)
    return st;
  sq_window_to_layer(&win, layer);
  layer->alpha = p;
  layer->lp_abs = false;
  if ((st = set_counted(pool, &count, layer)) != SEQRT_OK) return st;
  sq_shape shape;
  sq_window_out_shape(&win, &ctx->shape, ctx->shape.dims[1], &shape);
  return sq_layer_finish(ctx, layer, &shape);
}
