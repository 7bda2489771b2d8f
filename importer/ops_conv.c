/* Conv (1-D to 3-D, groups, dilations, auto_pad), a zero-constant Pad
 * right before a Conv folded into the Conv's padding, and the module's own
 * reflect/replicate/circular padding merged in as its pre-padding. */
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
  seqrt_status st = conv_layer(ctx, node, NULL, NULL, &layer);
  return st == SEQRT_OK ? sq_absorb_module_pad(ctx) : st;
}

/* ---- Pad → Conv ---------------------------------------------------------- */

seqrt_status sq_pad_read(sq_ctx *ctx, const sq_node *pad, int rank,
                         int64_t *begin, int64_t *end) {
  sq_pad_spec spec;
  seqrt_status st = sq_pad_spec_read(ctx->graph, pad, rank, &spec);
  if (st != SEQRT_OK) return st;
  if (!sq_pad_spec_foldable(&spec))
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Pad): pads %s with the value %g cannot be "
                    "folded into the next layer",
                    pad->name, sq_fmt_dims(2 * rank, spec.pads), spec.fill);
  for (int k = 2; k < rank; k++) {
    begin[k - 2] = spec.pads[k];
    end[k - 2] = spec.pads[rank + k];
  }
  return SEQRT_OK;
}

/* A zero constant Pad (non-negative, spatial dims only) whose only
 * consumer is `next_op` reading it as input 0. */
bool sq_match_pad_before(sq_graph *g, const sq_node *pad, const char *next_op,
                         sq_group *group) {
  if (!sq_node_is(pad, "Pad")) return false;
  sq_pad_spec spec;
  if (sq_pad_spec_read(g, pad, -1, &spec) != SEQRT_OK) {
    sq_error_clear();
    return false;
  }
  if (!sq_pad_spec_foldable(&spec)) return false;
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
  if (st == SEQRT_OK) st = sq_layer_prepend_node(layer, pad);
  return st == SEQRT_OK ? sq_absorb_module_pad(ctx) : st;
}

/* ---- ConvTranspose ------------------------------------------------------- */

/* stride * (size - 1) + output_padding + (kernel - 1) * dilation + 1: the
 * transposed convolution's size before pads, overflow-checked. */
static seqrt_status convtranspose_full(const sq_node *node, int64_t size,
                                       const sq_window *win,
                                       const int64_t *output_padding, int k,
                                       int64_t *out) {
  int64_t span, eff;
  if (sq_mul_overflow(win->stride[k], size - 1, &span) ||
      sq_mul_overflow(win->kernel[k] - 1, win->dilation[k], &eff) ||
      span > SQ_MAX_ELEMENTS || eff > SQ_MAX_ELEMENTS)
    return sq_error(SEQRT_ERR_LIMIT,
                    "node '%s' (ConvTranspose): the output of spatial dim %d "
                    "is too large",
                    node->name, k);
  *out = span + output_padding[k] + eff + 1;
  return SEQRT_OK;
}

/* Pads from output_shape or auto_pad (ONNX's rules): the total is what the
 * full transposed convolution exceeds the wanted size by. */
static seqrt_status convtranspose_pads(const sq_node *node, const sq_shape *in,
                                       const int64_t *out_shape, int n_out,
                                       const int64_t *output_padding,
                                       sq_window *win) {
  bool same = win->auto_pad == SQ_AUTO_PAD_SAME_UPPER ||
              win->auto_pad == SQ_AUTO_PAD_SAME_LOWER;
  if (!n_out && !same) {
    if (win->auto_pad == SQ_AUTO_PAD_VALID)
      for (int k = 0; k < win->spatial; k++)
        win->pad_begin[k] = win->pad_end[k] = 0;
    return SEQRT_OK;
  }
  if (n_out && n_out != win->spatial && n_out != in->rank)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (ConvTranspose): output_shape has %d values "
                    "for %d spatial dims",
                    node->name, n_out, win->spatial);
  for (int k = 0; k < win->spatial; k++) {
    int64_t full;
    if (convtranspose_full(node, in->dims[2 + k], win, output_padding, k,
                           &full) != SEQRT_OK)
      return SEQRT_ERR_LIMIT;
    int64_t want = n_out ? out_shape[n_out - win->spatial + k]
                         : in->dims[2 + k] * win->stride[k];
    int64_t total = full - want;
    if (total < 0)
      return sq_error(SEQRT_ERR_UNSUPPORTED,
                      "node '%s' (ConvTranspose): output size %lld is larger "
                      "than the full transposed convolution",
                      node->name, (long long)want);
    bool upper = win->auto_pad == SQ_AUTO_PAD_SAME_UPPER;
    win->pad_begin[k] = upper ? total / 2 : total - total / 2;
    win->pad_end[k] = total - win->pad_begin[k];
  }
  return SEQRT_OK;
}

static seqrt_status convtranspose_check(const sq_ctx *ctx, const sq_node *node,
                                        const sq_value *w, const sq_value *b,
                                        int64_t group) {
  const sq_shape *in = &ctx->shape;
  if (group < 1 || w->rank != in->rank || in->rank < 3 ||
      w->dims[0] != in->dims[1] || in->dims[1] % group != 0)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (ConvTranspose): weights of shape %s do not "
                    "fit the input %s with group=%lld",
                    node->name, sq_fmt_dims(w->rank, w->dims), sq_fmt_shape(in),
                    (long long)group);
  if (b && (b->rank != 1 || b->dims[0] != w->dims[1] * group))
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (ConvTranspose): bias of shape %s does not "
                    "match %lld output channels",
                    node->name, sq_fmt_dims(b->rank, b->dims),
                    (long long)(w->dims[1] * group));
  return SEQRT_OK;
}

static seqrt_status read_output_padding(const sq_node *node, int spatial,
                                        int64_t *out) {
  const int64_t *v;
  int n;
  seqrt_status st = sq_attr_ints(node, "output_padding", &v, &n);
  if (st != SEQRT_OK) return st;
  if (n && n != spatial)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (ConvTranspose): output_padding has %d values "
                    "for %d spatial dims",
                    node->name, n, spatial);
  for (int k = 0; k < spatial; k++) {
    out[k] = n ? v[k] : 0;
    if (out[k] < 0 || out[k] > INT32_MAX)
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "node '%s' (ConvTranspose): output_padding %lld",
                      node->name, (long long)out[k]);
  }
  return SEQRT_OK;
}

seqrt_status sq_op_convtranspose(sq_ctx *ctx, const sq_node *node) {
  const sq_value *w = NULL, *b = NULL;
  int64_t group, output_padding[SQ_MAX_SPATIAL] = {0};
  const int64_t *out_shape;
  int n_out = 0;
  sq_window win;
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK) st = sq_float_input(ctx, node, 1, true, &w);
  if (st == SEQRT_OK) st = sq_float_input(ctx, node, 2, false, &b);
  if (st == SEQRT_OK) st = sq_attr_int(node, "group", 1, &group);
  if (st == SEQRT_OK) st = convtranspose_check(ctx, node, w, b, group);
  sq_window_rules rules = {w ? w->dims + 2 : NULL, true, false};
  if (st == SEQRT_OK) st = sq_window_read(node, &ctx->shape, &rules, &win);
  if (st == SEQRT_OK)
    st = read_output_padding(node, win.spatial, output_padding);
  if (st == SEQRT_OK)
    st = sq_attr_ints(node, "output_shape", &out_shape, &n_out);
  if (st == SEQRT_OK)
    st = convtranspose_pads(node, &ctx->shape, out_shape, n_out, output_padding,
                            &win);
  if (st != SEQRT_OK) return st;
  sq_shape out = ctx->shape;
  out.dims[1] = w->dims[1] * group;
  for (int k = 0; k < win.spatial; k++) {
    int64_t full;
    st = convtranspose_full(node, ctx->shape.dims[2 + k], &win, output_padding,
                            k, &full);
    if (st != SEQRT_OK) return st;
    out.dims[2 + k] = full - win.pad_begin[k] - win.pad_end[k];
  }
  sq_layer *layer;
  if ((st = sq_layer_add(ctx, SQ_CONVTRANSPOSE, node, &layer)) != SEQRT_OK)
    return st;
  st = sq_weights_from_input(ctx, node, 1, w, &layer->weight);
  if (st == SEQRT_OK && b)
    st = sq_weights_from_input(ctx, node, 2, b, &layer->bias);
  if (st != SEQRT_OK) return st;
  layer->groups = group;
  layer->spatial = win.spatial;
  for (int k = 0; k < win.spatial; k++) {
    layer->kernel[k] = win.kernel[k];
    layer->stride[k] = win.stride[k];
    layer->dilation[k] = win.dilation[k];
    layer->pad_begin[k] = win.pad_begin[k];
    layer->pad_end[k] = win.pad_end[k];
    layer->output_padding[k] = output_padding[k];
  }
  return sq_layer_finish(ctx, layer, &out);
}
