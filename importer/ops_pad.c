/* Padding: the Pad op in all its opset forms (pads and value as attributes
 * before opset 11, as inputs from 11, an `axes` input from 18, mode wrap
 * from 19) as a PAD layer, and torch's circular padding, which the
 * TorchScript exporter writes as Slice/Slice/Concat per spatial dim. A
 * Conv's own padding (padding_mode) becomes that Conv's pre-padding. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

/* ---- reading a Pad node -------------------------------------------------- */

static seqrt_status pad_mode(const sq_node *pad, sq_pad_mode *mode) {
  char text[32];
  seqrt_status st = sq_attr_string(pad, "mode", "constant", text, sizeof text);
  if (st != SEQRT_OK) return st;
  static const struct {
    const char *name;
    sq_pad_mode mode;
  } modes[] = {{"constant", SQ_PAD_CONSTANT},
               {"reflect", SQ_PAD_REFLECT},
               {"edge", SQ_PAD_REPLICATE},
               {"wrap", SQ_PAD_CIRCULAR}};
  for (size_t k = 0; k < sizeof modes / sizeof *modes; k++)
    if (strcmp(text, modes[k].name) == 0) {
      *mode = modes[k].mode;
      return SEQRT_OK;
    }
  return sq_error(SEQRT_ERR_UNSUPPORTED,
                  "node '%s' (Pad) has mode '%s', which is not supported "
                  "(constant, reflect, edge and wrap are)",
                  pad->name, text);
}

/* A constant integer list input (1-D, no symbolic batch). */
static seqrt_status int_list(sq_graph *g, const sq_node *pad, int slot,
                             const char *what, const sq_value **out) {
  int t = sq_node_input(pad, slot);
  *out = NULL;
  if (t < 0) return SEQRT_OK;
  if (g->tensors[t].cls == SQ_CLASS_DATA)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Pad): %s are computed from the model input",
                    pad->name, what);
  seqrt_status st = sq_graph_value(g, t, out);
  if (st != SEQRT_OK) return st;
  if (!(*out)->i || (*out)->rank != 1 || sq_value_has_batch(*out) ||
      (*out)->count > 2 * SQ_MAX_RANK)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Pad): %s must be a 1-D integer constant",
                    pad->name, what);
  return SEQRT_OK;
}

/* Opset 11+: pads, constant_value and axes are inputs. */
static seqrt_status pad_inputs(sq_graph *g, const sq_node *pad, int rank,
                               sq_pad_spec *spec) {
  const sq_value *pads, *axes, *fill = NULL;
  seqrt_status st = int_list(g, pad, 1, "pads", &pads);
  if (st == SEQRT_OK) st = int_list(g, pad, 3, "axes", &axes);
  int tf = sq_node_input(pad, 2);
  if (st == SEQRT_OK && tf >= 0) st = sq_graph_value(g, tf, &fill);
  if (st != SEQRT_OK) return st;
  if (!pads)
    return sq_error(SEQRT_ERR_INVALID_MODEL, "node '%s' (Pad) has no pads",
                    pad->name);
  if (fill && fill->count > 1)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (Pad): constant_value has %lld values",
                    pad->name, (long long)fill->count);
  spec->fill = fill && fill->count ? sq_value_float(fill, 0) : 0.0;
  if (!axes) {
    spec->rank = rank < 0 ? (int)pads->count / 2 : rank;
    if (pads->count != 2 * spec->rank)
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "node '%s' (Pad) has %lld pads for a rank-%d input",
                      pad->name, (long long)pads->count, spec->rank);
    memcpy(spec->pads, pads->i, (size_t)pads->count * sizeof(int64_t));
    return SEQRT_OK;
  }
  if (rank < 0 || pads->count != 2 * axes->count)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (Pad): %lld pads for %lld axes", pad->name,
                    (long long)pads->count, (long long)axes->count);
  spec->rank = rank;
  for (int64_t k = 0; k < axes->count; k++) {
    int a;
    if ((st = sq_normalize_axis(pad, "axes", axes->i[k], rank, &a))) return st;
    spec->pads[a] = pads->i[k];
    spec->pads[rank + a] = pads->i[axes->count + k];
  }
  return SEQRT_OK;
}

seqrt_status sq_pad_spec_read(sq_graph *g, const sq_node *pad, int rank,
                              sq_pad_spec *spec) {
  memset(spec, 0, sizeof *spec);
  seqrt_status st = pad_mode(pad, &spec->mode);
  if (st != SEQRT_OK) return st;
  if (g->opset >= 11) return pad_inputs(g, pad, rank, spec);
  const int64_t *pads;
  int n;
  float value = 0.0f;
  st = sq_attr_ints(pad, "pads", &pads, &n);
  if (st == SEQRT_OK) st = sq_attr_float(pad, "value", 0.0f, &value);
  if (st != SEQRT_OK) return st;
  spec->rank = rank < 0 ? n / 2 : rank;
  if (n != 2 * spec->rank || n > 2 * SQ_MAX_RANK)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (Pad) has %d pads for a rank-%d input",
                    pad->name, n, spec->rank);
  if (n) memcpy(spec->pads, pads, (size_t)n * sizeof(int64_t));
  spec->fill = value;
  return SEQRT_OK;
}

bool sq_pad_spec_foldable(const sq_pad_spec *spec) {
  if (spec->mode != SQ_PAD_CONSTANT || spec->fill != 0.0 || spec->rank < 3 ||
      spec->rank > 2 + SQ_MAX_SPATIAL)
    return false;
  for (int k = 0; k < 2 * spec->rank; k++) {
    int dim = k % spec->rank;
    if (spec->pads[k] < 0 || spec->pads[k] > INT32_MAX ||
        (dim < 2 && spec->pads[k] != 0))
      return false;
  }
  return true;
}

/* ---- the PAD layer ------------------------------------------------------- */

/* A padding that belongs to the next node's module (Conv with
 * padding_mode reflect/replicate/circular) is named "<module>:pad", so
 * that the module's own name stays with the layer computing its output; a
 * Conv then takes it in as its pre-padding (sq_absorb_module_pad). */
static seqrt_status pad_layer_name(sq_ctx *ctx, int exit, sq_layer *layer) {
  const sq_node *next = sq_graph_sole_consumer(ctx->graph, exit);
  if (!next || strcmp(next->module, layer->name) != 0 ||
      strcmp(next->module, next->name) == 0)
    return SEQRT_OK;
  size_t n = strlen(layer->name) + 5;
  char *name = malloc(n);
  if (!name) return sq_error(SEQRT_ERR_NOMEM, "out of memory");
  snprintf(name, n, "%s:pad", layer->name);
  free(layer->name);
  layer->name = name;
  return SEQRT_OK;
}

static seqrt_status check_pads(const sq_node *node, const sq_shape *in,
                               sq_pad_mode mode, const int64_t *begin,
                               const int64_t *end) {
  for (int k = 0; k < in->rank - 2; k++) {
    int64_t size = in->dims[2 + k];
    int64_t limit = mode == SQ_PAD_REFLECT    ? size - 1
                    : mode == SQ_PAD_CIRCULAR ? size
                                              : INT32_MAX;
    if (begin[k] > limit || end[k] > limit || begin[k] < -size ||
        end[k] < -size || size + begin[k] + end[k] < 1)
      return sq_error(SEQRT_ERR_UNSUPPORTED,
                      "node '%s' (%s): padding %lld/%lld of spatial dim %d "
                      "(size %lld) is not supported in this mode",
                      node->name, node->op, (long long)begin[k],
                      (long long)end[k], k, (long long)size);
    if (mode == SQ_PAD_CIRCULAR && (begin[k] < 0 || end[k] < 0))
      return sq_error(SEQRT_ERR_UNSUPPORTED,
                      "node '%s' (%s): negative circular padding", node->name,
                      node->op);
  }
  return SEQRT_OK;
}

static seqrt_status pad_spatial(const sq_ctx *ctx, const sq_node *pad,
                                const sq_pad_spec *spec) {
  int rank = ctx->shape.rank;
  if (rank < 3 || rank > 2 + SQ_MAX_SPATIAL)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Pad) pads a rank-%d input %s, which is not "
                    "supported; seqrt pads the 1 to 3 spatial dims of [N, C, "
                    "...] inputs",
                    pad->name, rank, sq_fmt_shape(&ctx->shape));
  for (int d = 0; d < 2; d++)
    if (spec->pads[d] || spec->pads[rank + d])
      return sq_error(SEQRT_ERR_UNSUPPORTED,
                      "node '%s' (Pad) pads dim %d (%s) of %s, which is not "
                      "supported; seqrt pads only the spatial dims",
                      pad->name, d, d ? "channels" : "batch",
                      sq_fmt_shape(&ctx->shape));
  return SEQRT_OK;
}

seqrt_status sq_op_pad(sq_ctx *ctx, const sq_node *node) {
  sq_pad_spec spec;
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK)
    st = sq_pad_spec_read(ctx->graph, node, ctx->shape.rank, &spec);
  if (st == SEQRT_OK) st = pad_spatial(ctx, node, &spec);
  if (st != SEQRT_OK) return st;
  int rank = ctx->shape.rank, spatial = rank - 2;
  int64_t begin[SQ_MAX_SPATIAL], end[SQ_MAX_SPATIAL];
  for (int k = 0; k < spatial; k++) {
    begin[k] = spec.pads[2 + k];
    end[k] = spec.pads[rank + 2 + k];
  }
  if ((st = check_pads(node, &ctx->shape, spec.mode, begin, end)) != SEQRT_OK)
    return st;
  sq_layer *layer;
  if ((st = sq_layer_add(ctx, SQ_PAD, node, &layer)) != SEQRT_OK) return st;
  layer->spatial = spatial;
  layer->pad_mode = spec.mode;
  layer->pad_value = (float)spec.fill;
  sq_shape out = ctx->shape;
  for (int k = 0; k < spatial; k++) {
    layer->pad_begin[k] = begin[k];
    layer->pad_end[k] = end[k];
    layer->circular_from[k] = ctx->shape.dims[2 + k] - begin[k];
    out.dims[2 + k] += begin[k] + end[k];
  }
  st = pad_layer_name(ctx, sq_node_output(node, 0), layer);
  return st == SEQRT_OK ? sq_layer_finish(ctx, layer, &out) : st;
}

/* ---- torch's circular padding: Concat(Slice(x), x, Slice(x)) per dim ----- */

/* One dim of it: the Concat, and the slices before and after x (-1 if
 * that side has none). */
typedef struct wrap_stage {
  int concat, left, right;
} wrap_stage;

/* `t` is read by the Concat `c` at position `at`, and its other inputs are
 * Slices of `t` itself. */
static bool wrap_stage_of(const sq_graph *g, int t, const sq_node *c,
                          wrap_stage *stage) {
  if (!sq_node_is(c, "Concat") || c->n_declared < 2 || c->n_declared > 3)
    return false;
  int at = -1;
  for (int s = 0; s < c->n_declared; s++)
    if (c->inputs[s] == t) at = at < 0 ? s : 3; /* twice: not this form */
  if (at < 0 || at > 1 || (c->n_declared == 3 && at != 1)) return false;
  stage->concat = c->index;
  stage->left = stage->right = -1;
  for (int s = 0; s < c->n_declared; s++) {
    if (s == at) continue;
    int in = c->inputs[s];
    int p = in >= 0 ? g->tensors[in].producer : -1;
    if (p < 0 || !sq_node_is(&g->nodes[p], "Slice") ||
        sq_node_input(&g->nodes[p], 0) != t)
      return false;
    for (int k = 1; k < g->nodes[p].n_declared; k++)
      if (!sq_graph_is_const(g, g->nodes[p].inputs[k])) return false;
    *(s < at ? &stage->left : &stage->right) = p;
  }
  return true;
}

/* The Concat reading `t` whose other inputs are slices of t. */
static bool next_stage(const sq_graph *g, int t, wrap_stage *stage) {
  const sq_tensor *tensor = &g->tensors[t];
  for (int c = 0; c < tensor->n_consumers; c++)
    if (wrap_stage_of(g, t, &g->nodes[tensor->consumers[c]], stage))
      return true;
  return false;
}

static int match_circular(sq_graph *g, const sq_node *start,
                          wrap_stage *stages) {
  if (!sq_node_is(start, "Slice")) return 0;
  int t = sq_node_input(start, 0), n = 0;
  if (t < 0 || g->tensors[t].cls != SQ_CLASS_DATA) return 0;
  bool has_start = false;
  while (n < SQ_MAX_SPATIAL && next_stage(g, t, &stages[n])) {
    has_start |=
        stages[n].left == start->index || stages[n].right == start->index;
    t = sq_node_output(&g->nodes[stages[n].concat], 0);
    n++;
  }
  return has_start ? n : 0;
}

bool sq_match_circular_pad(sq_graph *g, const sq_node *node, sq_group *group) {
  wrap_stage stages[SQ_MAX_SPATIAL];
  int n = match_circular(g, node, stages);
  if (n == 0) return false;
  group->n_nodes = 0;
  for (int k = 0; k < n; k++) {
    if (stages[k].left >= 0) group->nodes[group->n_nodes++] = stages[k].left;
    if (stages[k].right >= 0) group->nodes[group->n_nodes++] = stages[k].right;
    group->nodes[group->n_nodes++] = stages[k].concat;
  }
  return true;
}

/* One constant bound of a one-axis Slice: attributes before opset 10,
 * inputs from 10. */
static seqrt_status slice_bound(sq_graph *g, const sq_node *s, int slot,
                                const char *attr, int64_t def, int64_t *out) {
  const int64_t *list = NULL;
  int n = 0;
  const sq_value *v = NULL;
  seqrt_status st = SEQRT_OK;
  if (g->opset < 10) {
    st = sq_attr_ints(s, attr, &list, &n);
  } else if (sq_node_input(s, slot) >= 0) {
    st = sq_graph_value(g, sq_node_input(s, slot), &v);
    if (st == SEQRT_OK && v->i && !sq_value_has_batch(v)) {
      list = v->i;
      n = (int)v->count;
    } else if (st == SEQRT_OK) {
      n = -1;
    }
  }
  if (st != SEQRT_OK) return st;
  if (n == 0 && def != INT64_MIN) {
    *out = def;
    return SEQRT_OK;
  }
  if (n != 1)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Slice): %s must be one integer for circular "
                    "padding",
                    s->name, attr);
  *out = list[0];
  return SEQRT_OK;
}

/* [from, from + len) of a dim of `size` that Slice `s` takes along
 * `axis`. */
static seqrt_status slice_range(sq_graph *g, const sq_node *s, int axis,
                                int rank, int64_t size, int64_t *from,
                                int64_t *len) {
  int64_t start = 0, end = 0, ax = 0, step = 1;
  seqrt_status st = slice_bound(g, s, 1, "starts", INT64_MIN, &start);
  if (st == SEQRT_OK) st = slice_bound(g, s, 2, "ends", INT64_MIN, &end);
  if (st == SEQRT_OK) st = slice_bound(g, s, 3, "axes", 0, &ax);
  if (st == SEQRT_OK) st = slice_bound(g, s, 4, "steps", 1, &step);
  int a = -1;
  if (st == SEQRT_OK) st = sq_normalize_axis(s, "axes", ax, rank, &a);
  if (st != SEQRT_OK) return st;
  if (a != axis || step != 1)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Slice) slices axis %d with step %lld; "
                    "circular padding slices the Concat's axis %d with step 1",
                    s->name, a, (long long)step, axis);
  start = start < 0 ? start + size : start;
  end = end < 0 ? end + size : end;
  start = start < 0 ? 0 : (start > size ? size : start);
  end = end < 0 ? 0 : (end > size ? size : end);
  *from = start;
  *len = end > start ? end - start : 0;
  return SEQRT_OK;
}

/* Fill one dim of the layer from a stage. */
static seqrt_status wrap_dim(sq_ctx *ctx, const wrap_stage *stage,
                             sq_shape *shape, sq_layer *layer) {
  sq_graph *g = ctx->graph;
  const sq_node *concat = &g->nodes[stage->concat];
  int64_t axis64;
  int axis;
  seqrt_status st = sq_attr_int(concat, "axis", 0, &axis64);
  if (st == SEQRT_OK)
    st = sq_normalize_axis(concat, "axis", axis64, shape->rank, &axis);
  if (st != SEQRT_OK) return st;
  int d = axis - 2;
  if (d < 0 || layer->pad_begin[d] || layer->pad_end[d])
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Concat): circular padding along axis %d "
                    "(a non-spatial or repeated axis)",
                    concat->name, axis);
  int64_t size = shape->dims[axis], from = 0, len = 0, wrap = 0, tail = 0;
  if (stage->left >= 0)
    st = slice_range(ctx->graph, &g->nodes[stage->left], axis, shape->rank,
                     size, &from, &len);
  if (st == SEQRT_OK && stage->right >= 0)
    st = slice_range(ctx->graph, &g->nodes[stage->right], axis, shape->rank,
                     size, &wrap, &tail);
  if (st != SEQRT_OK) return st;
  if (wrap != 0)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Slice): the end of a circular padding must "
                    "copy from the start of the dim, not from %lld",
                    g->nodes[stage->right].name, (long long)wrap);
  layer->pad_begin[d] = len;
  layer->pad_end[d] = tail;
  layer->circular_from[d] = from;
  shape->dims[axis] += len + tail;
  return SEQRT_OK;
}

seqrt_status sq_convert_circular_pad(sq_ctx *ctx, const sq_group *group) {
  wrap_stage stages[SQ_MAX_SPATIAL];
  const sq_node *start = &ctx->graph->nodes[group->nodes[0]];
  int n = match_circular(ctx->graph, start, stages);
  int rank = ctx->shape.rank;
  if (rank < 3 || rank > 2 + SQ_MAX_SPATIAL || n == 0)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s': circular padding (Slice/Concat) of a rank-%d "
                    "input %s; seqrt pads the spatial dims of [N, C, ...]",
                    start->name, rank, sq_fmt_shape(&ctx->shape));
  sq_layer *layer;
  seqrt_status st = sq_group_layer(ctx, group, SQ_PAD, &layer);
  if (st != SEQRT_OK) return st;
  layer->spatial = rank - 2;
  layer->pad_mode = SQ_PAD_CIRCULAR;
  for (int k = 0; k < layer->spatial; k++)
    layer->circular_from[k] = ctx->shape.dims[2 + k];
  sq_shape out = ctx->shape;
  for (int k = 0; k < n && st == SEQRT_OK; k++)
    st = wrap_dim(ctx, &stages[k], &out, layer);
  if (st == SEQRT_OK) st = pad_layer_name(ctx, group->exit, layer);
  return st == SEQRT_OK ? sq_layer_finish(ctx, layer, &out) : st;
}

/* ---- a Conv's own padding ------------------------------------------------ */

/* `pad` is the padding of `conv`'s own module (named "<module>:pad" by
 * pad_layer_name) and only adds elements. */
static bool is_module_pad(const sq_layer *pad, const sq_layer *conv) {
  size_t n = strlen(conv->name);
  if (pad->kind != SQ_PAD || conv->kind != SQ_CONV ||
      pad->spatial != conv->spatial || strncmp(pad->name, conv->name, n) != 0 ||
      strcmp(pad->name + n, ":pad") != 0)
    return false;
  for (int k = 0; k < pad->spatial; k++)
    if (pad->pad_begin[k] < 0 || pad->pad_end[k] < 0) return false;
  return true;
}

seqrt_status sq_absorb_module_pad(sq_ctx *ctx) {
  sq_chain *chain = ctx->chain;
  if (chain->n_layers < 2) return SEQRT_OK;
  sq_layer *pad = &chain->layers[chain->n_layers - 2], *conv = pad + 1;
  if (!is_module_pad(pad, conv)) return SEQRT_OK;
  seqrt_status st = sq_list_append(&pad->nodes, conv->nodes);
  if (st != SEQRT_OK) return st;
  free(conv->nodes);
  conv->nodes = pad->nodes;
  conv->in = pad->in;
  conv->pad_mode = pad->pad_mode;
  conv->pad_value = pad->pad_value;
  for (int k = 0; k < pad->spatial; k++) {
    conv->prepad_begin[k] = pad->pad_begin[k];
    conv->prepad_end[k] = pad->pad_end[k];
    conv->circular_from[k] = pad->circular_from[k];
  }
  free(pad->name);
  free(pad->folded);
  *pad = *conv;
  memset(conv, 0, sizeof *conv);
  chain->n_layers--;
  return SEQRT_OK;
}
