/* Inference BatchNormalization: y = x * scale + shift per channel (dim 1),
 * scale = gamma / sqrt(var + eps), shift = beta - mean * scale. Folded
 * into the weights of the Conv or Linear layer right before it when that
 * layer's output is the BN's only input; a layer of its own otherwise. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

static seqrt_status check_mode(sq_ctx *ctx, const sq_node *node) {
  int64_t spatial = 1, training = 0;
  seqrt_status st = SEQRT_OK;
  if (ctx->graph->opset < 9) st = sq_attr_int(node, "spatial", 1, &spatial);
  if (st == SEQRT_OK && ctx->graph->opset >= 14)
    st = sq_attr_int(node, "training_mode", 0, &training);
  if (st != SEQRT_OK) return st;
  if (spatial != 1)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (BatchNormalization) has spatial=%lld; seqrt "
                    "supports per-channel statistics (spatial=1)",
                    node->name, (long long)spatial);
  if (training != 0)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (BatchNormalization) is in training mode; "
                    "export the model with model.eval()",
                    node->name);
  return SEQRT_OK;
}

/* scale and shift, C values each (caller frees both). */
static seqrt_status bn_coefficients(sq_ctx *ctx, const sq_node *node,
                                    int64_t channels, float **scale,
                                    float **shift) {
  float eps;
  const sq_value *v[4];
  static const char *names[4] = {"scale", "B", "mean", "var"};
  seqrt_status st = sq_attr_float(node, "epsilon", 1e-5f, &eps);
  for (int k = 0; k < 4 && st == SEQRT_OK; k++) {
    st = sq_float_input(ctx, node, k + 1, true, &v[k]);
    if (st == SEQRT_OK && (v[k]->rank != 1 || v[k]->count != channels))
      st = sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (BatchNormalization): %s has shape %s, "
                    "expected [%lld] for the input %s",
                    node->name, names[k], sq_fmt_dims(v[k]->rank, v[k]->dims),
                    (long long)channels, sq_fmt_shape(&ctx->shape));
  }
  if (st != SEQRT_OK) return st;
  *scale = malloc((size_t)channels * sizeof(float));
  *shift = malloc((size_t)channels * sizeof(float));
  if (!*scale || !*shift)
    return sq_error(SEQRT_ERR_NOMEM, "out of memory for BatchNormalization");
  for (int64_t c = 0; c < channels; c++) {
    double var = (double)v[3]->f[c] + eps;
    if (!(var > 0))
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "node '%s' (BatchNormalization): variance + epsilon is "
                      "not positive for channel %lld",
                      node->name, (long long)c);
    double s = v[0]->f[c] / sqrt(var);
    (*scale)[c] = (float)s;
    (*shift)[c] = (float)(v[1]->f[c] - v[2]->f[c] * s);
  }
  return SEQRT_OK;
}

/* The previous layer, if BN can fold into it: a Conv, or a Linear whose
 * output is 2-D (its features are then the BN channels), producing the
 * activation the BN reads. */
static sq_layer *fold_target(sq_ctx *ctx, int64_t channels) {
  if (ctx->chain->n_layers == 0) return NULL;
  sq_layer *prev = &ctx->chain->layers[ctx->chain->n_layers - 1];
  bool kind_ok =
      prev->kind == SQ_CONV || (prev->kind == SQ_LINEAR && prev->out.rank == 2);
  if (!kind_ok || prev->out.rank != ctx->shape.rank ||
      memcmp(prev->out.dims, ctx->shape.dims,
             (size_t)prev->out.rank * sizeof(int64_t)) != 0 ||
      prev->out.dims[1] != channels)
    return NULL;
  return prev;
}

/* w[o, ...] *= scale[o]; b[o] = b[o] * scale[o] + shift[o]. */
static seqrt_status fold(sq_layer *layer, int64_t channels, const float *scale,
                         const float *shift) {
  int64_t per_channel = layer->weight.count / channels;
  for (int64_t o = 0; o < channels; o++)
    for (int64_t k = 0; k < per_channel; k++)
      layer->weight.data[o * per_channel + k] *= scale[o];
  if (!layer->bias.data) {
    seqrt_status st = sq_weights_alloc(&layer->bias, 1, &channels);
    if (st != SEQRT_OK) return st;
    memset(layer->bias.data, 0, (size_t)channels * sizeof(float));
  }
  for (int64_t o = 0; o < channels; o++)
    layer->bias.data[o] = layer->bias.data[o] * scale[o] + shift[o];
  return SEQRT_OK;
}

static seqrt_status bn_layer(sq_ctx *ctx, const sq_node *node, int64_t channels,
                             const float *scale, const float *shift) {
  sq_layer *layer;
  seqrt_status st = sq_layer_add(ctx, SQ_BATCHNORM, node, &layer);
  if (st == SEQRT_OK) st = sq_weights_alloc(&layer->weight, 1, &channels);
  if (st == SEQRT_OK) st = sq_weights_alloc(&layer->bias, 1, &channels);
  if (st != SEQRT_OK) return st;
  memcpy(layer->weight.data, scale, (size_t)channels * sizeof(float));
  memcpy(layer->bias.data, shift, (size_t)channels * sizeof(float));
  sq_shape out = ctx->shape;
  return sq_layer_finish(ctx, layer, &out);
}

seqrt_status sq_op_batchnorm(sq_ctx *ctx, const sq_node *node) {
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK) st = check_mode(ctx, node);
  if (st != SEQRT_OK) return st;
  if (ctx->shape.rank < 2)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (BatchNormalization) needs an input of rank 2 "
                    "or more, got %s",
                    node->name, sq_fmt_shape(&ctx->shape));
  int64_t channels = ctx->shape.dims[1];
  float *scale = NULL, *shift = NULL;
  st = bn_coefficients(ctx, node, channels, &scale, &shift);
  sq_layer *target = st == SEQRT_OK ? fold_target(ctx, channels) : NULL;
  if (st == SEQRT_OK && target) {
    st = fold(target, channels, scale, shift);
    if (st == SEQRT_OK) st = sq_layer_add_node(target, node);
    if (st == SEQRT_OK) st = sq_list_append(&target->folded, node->module);
  } else if (st == SEQRT_OK) {
    st = bn_layer(ctx, node, channels, scale, shift);
  }
  free(scale);
  free(shift);
  return st;
}
