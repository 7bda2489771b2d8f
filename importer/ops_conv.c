/* Conv (1-D to 3-D, groups, dilations, auto_pad), and a zero-constant Pad
 * right before a Conv folded into the Conv's padding. */
#include <stdint.h>
#include <string.h>

#include "ops.h"

static seqrt_status check_conv_weights(const sq_ctx *ctx, const sq_node *node,
                                       const sq_value *w, int64_t group) {
  const sq_shape *in = &ctx->shape;
  int64_t channels = in->rank >= 2 ? in->dims[1] : 0;
  if (group < 1)
    return sq_error(SEQRT_ERR_INVALID_MODEL, "node '%s' (Conv) has group=%lld",
                    node->name, (long long)group);
  if (w->rank != in->rank || channels % group != 0 ||
      w->dims[1] * group != channels || w->dims[0] % group != 0)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (Conv): weights of shape %s do not fit the "
                    "input %s with group=%lld",
                    node->name, sq_fmt_dims(w->rank, w->dims), sq_fmt_shape(in),
                    (long long)group);
  return SEQRT_OK;
}

static seqrt_status conv_window(const sq_ctx *ctx, const sq_node *node,
                                const sq_value *w, const int64_t *pad_begin,
                                const int64_t *pad_end, sq_window *win) {
  sq_window_rules rules = {w->dims + 2, true, false};
  seqrt_status st = sq_window_read(node, &ctx->shape, &rules, win);
  if (st != SEQRT_OK || !pad_begin) return st;
  if (win->auto_pad != SQ_AUTO_PAD_NOTSET)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Conv) has auto_pad and a Pad before it; "
                    "seqrt cannot combine them",
                    node->name);
  for (int k = 0; k < win->spatial; k++) {
    win->pad_begin[k] += pad_begin[k];
    win->pad_end[k] += pad_end[k];
  }
  return SEQRT_OK;
}

/* A Conv layer; `pad_begin/pad_end` (may be NULL) come from a folded Pad. */
static seqrt_status conv_layer(sq_ctx *ctx, const sq_node *node,
                               const int64_t *pad_begin, const int64_t *pad_end,
                               sq_layer **out) {
  const sq_value *w, *b;
  int64_t group;
  sq_window win;
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK) st = sq_float_input(ctx, node, 1, true, &w);
  if (st == SEQRT_OK) st = sq_float_input(ctx, node, 2, false, &b);
  if (st == SEQRT_OK) st = sq_attr_int(node, "group", 1, &group);
  if (st == SEQRT_OK) st = check_conv_weights(ctx, node, w, group);
  if (st == SEQRT_OK) st = conv_window(ctx, node, w, pad_begin, pad_end, &win);
  if (st == SEQRT_OK) st = sq_window_resolve(node, &ctx->shape, &win);
  if (st != SEQRT_OK) return st;
  if (b && (b->rank != 1 || b->dims[0] != w->dims[0]))
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (Conv): bias of shape %s does not match %lld "
                    "output channels",
                    node->name, sq_fmt_dims(b->rank, b->dims),
                    (long long)w->dims[0]);
  sq_layer *layer;
  if ((st = sq_layer_add(ctx, SQ_CONV, node, &layer)) != SEQRT_OK) return st;
  int64_t out_channels = w->dims[0];
  st = sq_weights_from_input(ctx, node, 1, w, &layer->weight);
  if (st == SEQRT_OK && b)
    st = sq_weights_from_input(ctx, node, 2, b, &layer->bias);
  if (st != SEQRT_OK) return st;
  layer->groups = group;
  sq_window_to_layer(&win, layer);
  sq_shape shape;
  sq_window_out_shape(&win, &ctx->shape, out_channels, &shape);
  *out = layer;
  return sq_layer_finish(ctx, layer, &shape);
}

seqrt_status sq_op_conv(sq_ctx *ctx, const sq_node *node) {
  sq_layer *layer;
  return conv_layer(ctx, node, NULL, NULL, &layer);
}

/* ---- Pad ----------------------------------------------------------------- */

static bool pad_is_constant_mode(const sq_node *pad) {
  char mode[32];
  return sq_node_is(pad, "Pad") &&
         sq_attr_string(pad, "mode", "constant", mode, sizeof mode) ==
             SEQRT_OK &&
         strcmp(mode, "constant") == 0;
}

/* pads and the fill value: attributes before opset 11, inputs from 11. */
static seqrt_status pad_values(sq_ctx *ctx, const sq_node *pad,
                               const int64_t **pads, int *n_pads,
                               double *fill) {
  seqrt_status st;
  if (ctx->graph->opset < 11) {
    float value = 0.0f;
    st = sq_attr_ints(pad, "pads", pads, n_pads);
    if (st == SEQRT_OK) st = sq_attr_float(pad, "value", 0.0f, &value);
    *fill = value;
    return st;
  }
  const sq_value *p, *v;
  st = sq_const_input(ctx, pad, 1, true, &p);
  if (st == SEQRT_OK) st = sq_const_input(ctx, pad, 2, false, &v);
  if (st != SEQRT_OK) return st;
  if (sq_node_input(pad, 3) >= 0)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Pad) has an axes input, which seqrt does not "
                    "support",
                    pad->name);
  if (!p->i || sq_value_has_batch(p) || p->rank != 1)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (Pad): pads must be a 1-D integer constant",
                    pad->name);
  *pads = p->i;
  *n_pads = (int)p->count;
  *fill = v && v->count ? sq_value_float(v, 0) : 0.0;
  return SEQRT_OK;
}

seqrt_status sq_pad_read(sq_ctx *ctx, const sq_node *pad, int rank,
                         int64_t *begin, int64_t *end) {
  const int64_t *pads;
  int n;
  double fill = 0.0;
  seqrt_status st = pad_values(ctx, pad, &pads, &n, &fill);
  if (st != SEQRT_OK) return st;
  if (n != 2 * rank)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (Pad) has %d pads for a rank-%d input",
                    pad->name, n, rank);
  if (fill != 0.0)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Pad) pads with the value %g; seqrt folds only "
                    "zero padding into the next layer",
                    pad->name, fill);
  for (int k = 0; k < rank; k++) {
    bool batch_or_channel = k < 2;
    if (pads[k] < 0 || pads[rank + k] < 0 || pads[k] > INT32_MAX ||
        pads[rank + k] > INT32_MAX ||
        (batch_or_channel && (pads[k] || pads[rank + k])))
      return sq_error(SEQRT_ERR_UNSUPPORTED,
                      "node '%s' (Pad): pads %s must be non-negative and "
                      "only on spatial dims",
                      pad->name, sq_fmt_dims(n, pads));
    if (!batch_or_channel) {
      begin[k - 2] = pads[k];
      end[k - 2] = pads[rank + k];
    }
  }
  return SEQRT_OK;
}

/* Pad (constant mode) whose only consumer is `next_op` reading it as
 * input 0. */
bool sq_match_pad_before(sq_graph *g, const sq_node *pad, const char *next_op,
                         sq_group *group) {
  if (!pad_is_constant_mode(pad)) return false;
  for (int s = 1; s < pad->n_inputs; s++)
    if (pad->inputs[s] >= 0 && !sq_graph_is_const(g, pad->inputs[s]))
      return false;
  int t = sq_node_output(pad, 0);
  const sq_node *next = sq_graph_sole_consumer(g, t);
  if (!next || !sq_node_is(next, next_op) || sq_node_input(next, 0) != t)
    return false;
  group->nodes[0] = pad->index;
  group->nodes[1] = next->index;
  group->n_nodes = 2;
  return true;
}

bool sq_match_pad_conv(sq_graph *graph, const sq_node *node, sq_group *group) {
  return sq_match_pad_before(graph, node, "Conv", group);
}

seqrt_status sq_convert_pad_conv(sq_ctx *ctx, const sq_group *group) {
  const sq_node *pad = &ctx->graph->nodes[group->nodes[0]];
  const sq_node *conv = &ctx->graph->nodes[group->nodes[1]];
  int64_t begin[SQ_MAX_SPATIAL] = {0}, end[SQ_MAX_SPATIAL] = {0};
  if (ctx->shape.rank < 3 || ctx->shape.rank > 2 + SQ_MAX_SPATIAL)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Conv) needs a rank 3 to 5 input, got %s",
                    conv->name, sq_fmt_shape(&ctx->shape));
  seqrt_status st = sq_pad_read(ctx, pad, ctx->shape.rank, begin, end);
  sq_layer *layer;
  if (st == SEQRT_OK) st = conv_layer(ctx, conv, begin, end, &layer);
  return st == SEQRT_OK ? sq_layer_prepend_node(layer, pad) : st;
}
