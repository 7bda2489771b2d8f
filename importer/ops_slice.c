/* Slicing the activation after the batch: Slice (x[:, a:b], x[..., ::2],
 * x.chunk(n, dim)[k]), Split with one output used (x.chunk at opsets 9-10,
 * x.split) and Gather with constant indices (x[:, i], x[:, -1],
 * x[:, [0, 2, 4]]). Each is one SLICE layer: a strided view of its input. */
#include <string.h>

#include "ops.h"

/* torch writes "to the end" as INT64_MAX; any end this large is one. */
#define SQ_SLICE_TO_END ((int64_t)INT32_MAX)

static seqrt_status batch_error(const sq_node *node, const sq_shape *in) {
  return sq_error(SEQRT_ERR_UNSUPPORTED,
                  "node '%s' (%s) takes part of the batch dim of %s, which is "
                  "not supported: seqrt keeps every sample of the batch",
                  node->name, node->op, sq_fmt_shape(in));
}

/* The Slice takes all of dim 0, whether the batch is symbolic or fixed. */
static bool whole_batch(const sq_shape *in, const sq_slice *s) {
  if (!s->given[0]) return true;
  if (s->step[0] != 1 || s->start[0] != 0) return false;
  return in->dims[0] < 0 ? s->end[0] >= SQ_SLICE_TO_END
                         : s->len[0] == in->dims[0];
}

/* The chain's last layer when it is a SLICE that keeps every dim and
 * produced the activation: torch writes x[:, :, 1:-1, 1:-1] as one Slice
 * per dim, which then run as one view. */
static sq_layer *slice_before(sq_ctx *ctx) {
  sq_chain *chain = ctx->chain;
  if (chain->n_layers < 1) return NULL;
  sq_layer *prev = &chain->layers[chain->n_layers - 1];
  if (prev->kind != SQ_SLICE || prev->out.rank != ctx->shape.rank) return NULL;
  for (int d = 0; d < prev->out.rank; d++)
    if (prev->dropped[d] || prev->out.dims[d] != ctx->shape.dims[d])
      return NULL;
  return prev;
}

/* A SLICE layer taking len[d] elements from start[d] by step[d] along each
 * dim of the activation (dim 0 whole), dropping the dims marked in `drop`;
 * merged into a SLICE just before it. */
static seqrt_status slice_layer(sq_ctx *ctx, const sq_node *node,
                                const int64_t *start, const int64_t *step,
                                const int64_t *len, const bool *drop) {
  const sq_shape in = ctx->shape;
  bool identity = true;
  for (int d = 1; d < in.rank; d++)
    identity = identity && len[d] == in.dims[d] && step[d] == 1 && !drop[d];
  if (identity) return sq_node_removed(ctx, node);
  sq_layer *layer = slice_before(ctx);
  seqrt_status st = layer ? sq_layer_add_node(layer, node)
                          : sq_layer_add(ctx, SQ_SLICE, node, &layer);
  if (st != SEQRT_OK) return st;
  sq_shape out = {0, {0}};
  for (int d = 0; d < in.rank; d++) {
    int64_t from = d ? start[d] : 0, by = d ? step[d] : 1;
    if (layer->slice_step[d]) { /* merged: compose with the first slice */
      from = layer->slice_start[d] + from * layer->slice_step[d];
      by *= layer->slice_step[d];
    }
    layer->slice_start[d] = from;
    layer->slice_step[d] = by;
    layer->slice_len[d] = d ? len[d] : in.dims[0];
    layer->dropped[d] = d && drop[d];
    if (!layer->dropped[d]) out.dims[out.rank++] = layer->slice_len[d];
  }
  return sq_layer_finish(ctx, layer, &out);
}

seqrt_status sq_op_slice(sq_ctx *ctx, const sq_node *node) {
  const sq_shape in = ctx->shape;
  const sq_value *bounds[5] = {NULL};
  seqrt_status st = sq_require_activation(ctx, node, 0);
  for (int slot = 1; st == SEQRT_OK && ctx->graph->opset >= 10 && slot < 5;
       slot++)
    st = sq_const_input(ctx, node, slot, slot <= 2, &bounds[slot]);
  sq_slice s;
  if (st == SEQRT_OK)
    st = sq_slice_resolve(ctx->graph, node, bounds, in.rank, in.dims, &s);
  if (st != SEQRT_OK) return st;
  if (!whole_batch(&in, &s)) return batch_error(node, &in);
  bool drop[SQ_MAX_RANK] = {false};
  for (int d = 1; d < in.rank; d++) {
    if (s.step[d] < 0)
      return sq_error(SEQRT_ERR_UNSUPPORTED,
                      "node '%s' (Slice) reverses dim %d of %s (step %lld, "
                      "x.flip), which is not supported",
                      node->name, d, sq_fmt_shape(&in), (long long)s.step[d]);
    if (s.len[d] == 0)
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "node '%s' (Slice) takes nothing of dim %d of %s "
                      "(start %lld, end %lld)",
                      node->name, d, sq_fmt_shape(&in), (long long)s.start[d],
                      (long long)s.end[d]);
  }
  return slice_layer(ctx, node, s.start, s.step, s.len, drop);
}

/* The indices as a progression first, first + step, ... (step >= 1) along
 * a dim of `size`; negative indices count from the end. */
static seqrt_status index_progression(const sq_node *node, const sq_shape *in,
                                      int axis, const sq_value *indices,
                                      int64_t *first, int64_t *step) {
  int64_t size = in->dims[axis], prev = 0;
  *step = 1;
  for (int64_t k = 0; k < indices->count; k++) {
    int64_t i = indices->i[k] < 0 ? indices->i[k] + size : indices->i[k];
    if (i < 0 || i >= size)
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "node '%s' (Gather): index %lld is outside dim %d of %s",
                      node->name, (long long)indices->i[k], axis,
                      sq_fmt_shape(in));
    if (k == 0) *first = i;
    if (k == 1) *step = i - prev;
    if (k > 0 && (i - prev != *step || *step < 1))
      return sq_error(SEQRT_ERR_UNSUPPORTED,
                      "node '%s' (Gather) takes indices %s of dim %d; seqrt "
                      "takes only evenly spaced increasing indices (a slice)",
                      node->name, sq_fmt_dims((int)indices->count, indices->i),
                      axis);
    prev = i;
  }
  return SEQRT_OK;
}

seqrt_status sq_op_index(sq_ctx *ctx, const sq_node *node) {
  const sq_shape in = ctx->shape;
  const sq_value *indices;
  int64_t attr;
  int axis;
  seqrt_status st = sq_attr_int(node, "axis", 0, &attr);
  if (st == SEQRT_OK)
    st = sq_normalize_axis(node, "axis", attr, in.rank, &axis);
  if (st == SEQRT_OK) st = sq_const_input(ctx, node, 1, true, &indices);
  if (st != SEQRT_OK) return st;
  if (axis == 0) return batch_error(node, &in);
  if (!indices->i || indices->rank > 1 || indices->count < 1 ||
      sq_value_has_batch(indices))
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Gather): indices of shape %s and type %s; "
                    "seqrt takes one integer or a list of them as constants",
                    node->name, sq_fmt_dims(indices->rank, indices->dims),
                    sq_dtype_name(indices->dtype));
  int64_t start[SQ_MAX_RANK] = {0}, step[SQ_MAX_RANK], len[SQ_MAX_RANK];
  bool drop[SQ_MAX_RANK] = {false};
  for (int d = 0; d < in.rank; d++) step[d] = 1, len[d] = in.dims[d];
  st = index_progression(node, &in, axis, indices, &start[axis], &step[axis]);
  if (st != SEQRT_OK) return st;
  len[axis] = indices->count;
  drop[axis] = indices->rank == 0;
  return slice_layer(ctx, node, start, step, len, drop);
}

/* Split's part sizes along a dim of `size`: the `split` list (an attribute
 * before opset 13, input 1 from 13), or equal parts, the last one smaller
 * when num_outputs (opset 18) does not divide the dim. */
static seqrt_status split_part(sq_ctx *ctx, const sq_node *node, int64_t size,
                               int part, int64_t *offset, int64_t *len) {
  const int64_t *list = NULL;
  int n_list = 0;
  const sq_value *input = NULL;
  int64_t parts = node->n_outputs;
  seqrt_status st = SEQRT_OK;
  if (ctx->graph->opset < 13) {
    st = sq_attr_ints(node, "split", &list, &n_list);
  } else {
    st = sq_const_input(ctx, node, 1, false, &input);
    if (st == SEQRT_OK && input && (!input->i || sq_value_has_batch(input)))
      st = sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (Split): split must be constant integers",
                    node->name);
    if (st == SEQRT_OK && input) list = input->i, n_list = (int)input->count;
  }
  if (st == SEQRT_OK && !list && ctx->graph->opset >= 18)
    st = sq_attr_int(node, "num_outputs", parts, &parts);
  if (st != SEQRT_OK) return st;
  if (!list) {
    bool even = parts > 0 && size % parts == 0;
    int64_t chunk = parts > 0 ? size / parts + !even : 0;
    *offset = part * chunk;
    *len = size - *offset < chunk ? size - *offset : chunk;
    /* every part, the last one included, holds something */
    bool filled = parts > 0 && parts <= size && parts - 1 <= (size - 1) / chunk;
    if (parts < node->n_outputs || !filled || *len < 1 ||
        (!even && ctx->graph->opset < 18))
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "node '%s' (Split): %lld outputs do not split a dim of "
                      "%lld into equal parts",
                      node->name, (long long)parts, (long long)size);
    return SEQRT_OK;
  }
  int64_t sum = 0;
  bool valid = n_list == node->n_outputs;
  for (int k = 0; valid && k < n_list; k++) {
    if (k == part) *offset = sum;
    valid = list[k] >= 0 && list[k] <= size - sum;
    sum += valid ? list[k] : 0;
  }
  if (!valid || sum != size || list[part] < 1)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (Split): parts %s do not split a dim of %lld "
                    "into %d outputs",
                    node->name, sq_fmt_dims(n_list, list), (long long)size,
                    node->n_outputs);
  *len = list[part];
  return SEQRT_OK;
}

/* x.chunk(n, dim)[k], x.split(s, dim)[k]: the one used output of a Split. */
seqrt_status sq_op_split(sq_ctx *ctx, const sq_node *node) {
  const sq_shape in = ctx->shape;
  int64_t attr;
  int axis;
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK) st = sq_attr_int(node, "axis", 0, &attr);
  if (st == SEQRT_OK)
    st = sq_normalize_axis(node, "axis", attr, in.rank, &axis);
  if (st != SEQRT_OK) return st;
  if (axis == 0) return batch_error(node, &in);
  int64_t start[SQ_MAX_RANK] = {0}, step[SQ_MAX_RANK], len[SQ_MAX_RANK];
  bool drop[SQ_MAX_RANK] = {false};
  for (int d = 0; d < in.rank; d++) step[d] = 1, len[d] = in.dims[d];
  st = split_part(ctx, node, in.dims[axis],
                  sq_node_used_output(ctx->graph, node), &start[axis],
                  &len[axis]);
  return st == SEQRT_OK ? slice_layer(ctx, node, start, step, len, drop) : st;
}
