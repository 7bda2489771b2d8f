/* Helpers shared by the op handlers: appending layers, reading constant
 * inputs, copying weights, formatting shapes. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

seqrt_status sq_list_append(char **list, const char *item) {
  size_t old = *list ? strlen(*list) : 0, add = strlen(item);
  char *grown = realloc(*list, old + add + 2);
  if (!grown) return sq_error(SEQRT_ERR_NOMEM, "out of memory");
  if (old) grown[old++] = ',';
  memcpy(grown + old, item, add + 1);
  *list = grown;
  return SEQRT_OK;
}

seqrt_status sq_layer_add(sq_ctx *ctx, sq_kind kind, const sq_node *node,
                          sq_layer **out) {
  sq_chain *chain = ctx->chain;
  if (chain->n_layers == ctx->cap_layers) {
    int cap = ctx->cap_layers ? 2 * ctx->cap_layers : 16;
    sq_layer *grown = realloc(chain->layers, (size_t)cap * sizeof *grown);
    if (!grown) return sq_error(SEQRT_ERR_NOMEM, "out of memory for layers");
    chain->layers = grown;
    ctx->cap_layers = cap;
  }
  sq_layer *layer = &chain->layers[chain->n_layers];
  memset(layer, 0, sizeof *layer);
  layer->kind = kind;
  layer->name = strdup(node->module);
  layer->nodes = strdup(node->name);
  layer->folded = strdup("");
  chain->n_layers++; /* counted now so that sq_chain_free frees it */
  if (!layer->name || !layer->nodes || !layer->folded)
    return sq_error(SEQRT_ERR_NOMEM, "out of memory for layers");
  layer->in = ctx->shape;
  layer->groups = 1;
  for (int k = 0; k < SQ_MAX_SPATIAL; k++)
    layer->stride[k] = layer->dilation[k] = layer->kernel[k] = 1;
  *out = layer;
  return SEQRT_OK;
}

seqrt_status sq_layer_add_node(sq_layer *layer, const sq_node *node) {
  return sq_list_append(&layer->nodes, node->name);
}

seqrt_status sq_shape_check(const sq_shape *shape) {
  bool ok = shape->rank >= 1 && shape->rank <= SQ_MAX_RANK;
  int64_t count = 1;
  for (int k = 0; ok && k < shape->rank; k++) {
    /* dims[0] = -K: the batch times K, K counted per sample */
    int64_t d = shape->dims[k];
    if (k == 0 && d < 0) d = d == INT64_MIN ? 0 : -d;
    ok = d > 0;
    if (ok && (sq_mul_overflow(count, d, &count) || count > SQ_MAX_ELEMENTS))
      return sq_error(SEQRT_ERR_LIMIT,
                      "the shape %s has more than %lld elements per sample",
                      sq_fmt_shape(shape), (long long)SQ_MAX_ELEMENTS);
  }
  return ok ? SEQRT_OK : SEQRT_ERR_INVALID_MODEL;
}

seqrt_status sq_layer_prepend_node(sq_layer *layer, const sq_node *node) {
  char *list = strdup(node->name);
  if (!list) return sq_error(SEQRT_ERR_NOMEM, "out of memory");
  seqrt_status st = sq_list_append(&list, layer->nodes);
  if (st != SEQRT_OK) {
    free(list);
    return st;
  }
  free(layer->nodes);
  layer->nodes = list;
  return SEQRT_OK;
}

seqrt_status sq_layer_finish(sq_ctx *ctx, sq_layer *layer,
                             const sq_shape *out) {
  seqrt_status st = sq_shape_check(out);
  if (st == SEQRT_ERR_LIMIT) return st;
  if (st != SEQRT_OK)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (%s) would turn %s into %s, which has an "
                    "empty or invalid dim",
                    layer->name, sq_kind_name(layer->kind),
                    sq_fmt_shape(&layer->in), sq_fmt_shape(out));
  layer->out = *out;
  ctx->shape = *out;
  return SEQRT_OK;
}

seqrt_status sq_node_removed(sq_ctx *ctx, const sq_node *node) {
  return sq_list_append(&ctx->chain->removed, node->module);
}

/* ---- inputs -------------------------------------------------------------- */

seqrt_status sq_const_input(sq_ctx *ctx, const sq_node *node, int slot,
                            bool required, const sq_value **out) {
  *out = NULL;
  int t = sq_node_input(node, slot);
  if (t < 0) {
    if (!required) return SEQRT_OK;
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (%s) lacks its input %d", node->name, node->op,
                    slot);
  }
  const sq_tensor *tensor = &ctx->graph->tensors[t];
  if (tensor->cls == SQ_CLASS_DATA)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (%s): input %d '%s' must be a constant "
                    "(weights), but it is computed from the model input",
                    node->name, node->op, slot, tensor->name);
  return sq_graph_value(ctx->graph, t, out);
}

seqrt_status sq_float_input(sq_ctx *ctx, const sq_node *node, int slot,
                            bool required, const sq_value **out) {
  seqrt_status st = sq_const_input(ctx, node, slot, required, out);
  if (st != SEQRT_OK || !*out || (*out)->f) return st;
  return sq_error(SEQRT_ERR_UNSUPPORTED,
                  "node '%s' (%s): input %d '%s' has element type %s; seqrt "
                  "needs FLOAT weights",
                  node->name, node->op, slot,
                  ctx->graph->tensors[sq_node_input(node, slot)].name,
                  sq_dtype_name((*out)->dtype));
}

seqrt_status sq_require_activation(sq_ctx *ctx, const sq_node *node, int slot) {
  int t = sq_node_input(node, slot);
  if (t >= 0 && ctx->graph->tensors[t].cls == SQ_CLASS_DATA) return SEQRT_OK;
  int found = -1;
  for (int s = 0; s < node->n_inputs && found < 0; s++)
    if (node->inputs[s] >= 0 &&
        ctx->graph->tensors[node->inputs[s]].cls == SQ_CLASS_DATA)
      found = s;
  return sq_error(SEQRT_ERR_UNSUPPORTED,
                  "node '%s' (%s) takes the activation as input %d; seqrt "
                  "supports it only as input %d",
                  node->name, node->op, found, slot);
}

/* ---- weights ------------------------------------------------------------- */

seqrt_status sq_weights_alloc(sq_weights *w, int rank, const int64_t *dims) {
  int64_t count = 1;
  for (int k = 0; k < rank; k++)
    if (sq_mul_overflow(count, dims[k], &count))
      return sq_error(SEQRT_ERR_INVALID_MODEL, "weights size overflows");
  sq_weights_release(w);
  w->data = sq_aligned_alloc((size_t)count * sizeof(float));
  if (!w->data)
    return sq_error(SEQRT_ERR_NOMEM, "out of memory for %lld weights",
                    (long long)count);
  w->count = count;
  w->shape.rank = rank;
  for (int k = 0; k < rank; k++) w->shape.dims[k] = dims[k];
  return SEQRT_OK;
}

seqrt_status sq_weights_from(sq_weights *w, const sq_value *value) {
  seqrt_status st = sq_weights_alloc(w, value->rank, value->dims);
  if (st == SEQRT_OK && value->count)
    memcpy(w->data, value->f, (size_t)value->count * sizeof(float));
  return st;
}

seqrt_status sq_weights_from_input(sq_ctx *ctx, const sq_node *node, int slot,
                                   const sq_value *value, sq_weights *w) {
  int64_t count = value->count;
  sq_shape shape = {.rank = value->rank};
  for (int k = 0; k < value->rank; k++) shape.dims[k] = value->dims[k];
  float *data = sq_graph_take_floats(ctx->graph, node, slot);
  if (!data) return sq_weights_from(w, value);
  sq_weights_release(w);
  w->data = data; /* sq_aligned_alloc'd like sq_weights_alloc's */
  w->count = count;
  w->shape = shape;
  return SEQRT_OK;
}

/* ---- formatting ---------------------------------------------------------- */

static _Thread_local char fmt_ring[4][160];
static _Thread_local int fmt_next;

const char *sq_fmt_dims(int rank, const int64_t *dims) {
  char *buf = fmt_ring[fmt_next++ % 4];
  return sq_dims_format(rank < SQ_MAX_RANK ? rank : SQ_MAX_RANK, dims, buf,
                        sizeof fmt_ring[0]);
}

const char *sq_fmt_shape(const sq_shape *shape) {
  char *buf = fmt_ring[fmt_next++ % 4];
  return sq_shape_format(shape, buf, sizeof fmt_ring[0]);
}

seqrt_status sq_normalize_axis(const sq_node *node, const char *what,
                               int64_t axis, int rank, int *out) {
  if (axis < -rank || axis >= rank)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (%s): %s %lld is out of range for rank %d",
                    node->name, node->op, what, (long long)axis, rank);
  *out = (int)(axis < 0 ? axis + rank : axis);
  return SEQRT_OK;
}
