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

/* The previous layer, if BN can fold into it: a Conv or ConvTranspose, or
 * a Linear whose output is 2-D (its features are then the BN channels),
 * producing the activation the BN reads. */
static sq_layer *fold_target(sq_ctx *ctx, int64_t channels) {
  if (ctx->chain->n_layers == 0) return NULL;
  sq_layer *prev = &ctx->chain->layers[ctx->chain->n_layers - 1];
  bool kind_ok = prev->kind == SQ_CONV || prev->kind == SQ_CONVTRANSPOSE ||
                 (prev->kind == SQ_LINEAR && prev->out.rank == 2);
  if (prev->kind == SQ_CONVTRANSPOSE) /* checked by its importer; kept sure */
    kind_ok = prev->groups >= 1 && prev->weight.shape.dims[0] > 0 &&
              prev->weight.shape.dims[0] % prev->groups == 0 &&
              channels % prev->groups == 0;
  if (!kind_ok || prev->out.rank != ctx->shape.rank ||
      memcmp(prev->out.dims, ctx->shape.dims,
             (size_t)prev->out.rank * sizeof(int64_t)) != 0 ||
      prev->out.dims[1] != channels)
    return NULL;
  return prev;
}

/* The weights of output channel o: w[o, ...], or of a ConvTranspose's
 * [I, O/g, k...] the rows (i, o % (O/g)) of o's group, times scale[o]. */
static void scale_weights(sq_layer *layer, int64_t channels,
                          const float *scale) {
  bool transposed = layer->kind == SQ_CONVTRANSPOSE;
  int64_t rows = transposed ? layer->weight.shape.dims[0] : 1;
  int64_t per_row = transposed ? channels / layer->groups : channels;
  int64_t rows_per_group = transposed ? rows / layer->groups : 1;
  int64_t taps = layer->weight.count / (rows * per_row);
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < per_row; j++) {
      float s = scale[i / rows_per_group * per_row + j];
      float *w = layer->weight.data + (i * per_row + j) * taps;
      for (int64_t k = 0; k < taps; k++) w[k] *= s;
    }
}

/* Weights of output channel o times scale[o]; b[o] = b[o] * scale[o] +
 * shift[o] (scale NULL: 1, shift NULL: 0). Borrowed weights are written in
 * place too: those bytes are this layer's alone and never reach the file
 * (core/chain.h). */
static seqrt_status fold(sq_layer *layer, int64_t channels, const float *scale,
                         const float *shift) {
  if (scale) scale_weights(layer, channels, scale);
  if (!layer->bias.data) {
    seqrt_status st = sq_weights_alloc(&layer->bias, 1, &channels);
    if (st != SEQRT_OK) return st;
    memset(layer->bias.data, 0, (size_t)channels * sizeof(float));
  }
  for (int64_t o = 0; o < channels; o++)
    layer->bias.data[o] = layer->bias.data[o] * (scale ? scale[o] : 1.0f) +
                          (shift ? shift[o] : 0.0f);
  return SEQRT_OK;
}

/* `item` is one of the comma-separated list's items. */
static bool list_has(const char *list, const char *item) {
  size_t n = strlen(item);
  for (const char *p = list; p && *p;
       p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
    if (strncmp(p, item, n) == 0 && (p[n] == ',' || p[n] == '\0')) return true;
  return false;
}

seqrt_status sq_fold_channel_affine(sq_ctx *ctx, const sq_node *node,
                                    int64_t channels, const float *scale,
                                    const float *shift, bool *folded) {
  sq_layer *target = fold_target(ctx, channels);
  seqrt_status st = target ? fold(target, channels, scale, shift) : SEQRT_OK;
  if (target && st == SEQRT_OK) st = sq_layer_add_node(target, node);
  /* x * scale + shift of one module: listed once */
  if (target && st == SEQRT_OK && !list_has(target->folded, node->module))
    st = sq_list_append(&target->folded, node->module);
  *folded = target && st == SEQRT_OK;
  return st;
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
  bool folded = false;
  st = bn_coefficients(ctx, node, channels, &scale, &shift);
  if (st == SEQRT_OK)
    st = sq_fold_channel_affine(ctx, node, channels, scale, shift, &folded);
  if (st == SEQRT_OK && !folded)
    st = bn_layer(ctx, node, channels, scale, shift);
  free(scale);
  free(shift);
  return st;
}

/* ---- statistics over the sample: InstanceNorm, LayerNorm, GroupNorm -------
 */

/* All of `v` equals `x`. */
static bool all_equal(const sq_value *v, float x) {
  for (int64_t k = 0; k < v->count; k++)
    if (v->f[k] != x) return false;
  return true;
}

/* gamma/beta of one value per channel, dropped (NULL) when they are the
 * identity, i.e. the module had no affine parameters. */
static seqrt_status affine_per_channel(sq_ctx *ctx, const sq_node *node,
                                       const sq_value *gamma,
                                       const sq_value *beta, int64_t channels,
                                       sq_layer *layer) {
  if (!gamma || !beta || gamma->count != channels || beta->count != channels)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (%s): scale and bias must have %lld values "
                    "(one per channel)",
                    node->name, node->op, (long long)channels);
  if (all_equal(gamma, 1.0f) && all_equal(beta, 0.0f)) return SEQRT_OK;
  seqrt_status st = sq_weights_from(&layer->weight, gamma);
  if (st == SEQRT_OK) st = sq_weights_from(&layer->bias, beta);
  if (st != SEQRT_OK) return st;
  layer->weight.shape.rank = layer->bias.shape.rank = 1;
  layer->weight.shape.dims[0] = layer->bias.shape.dims[0] = channels;
  (void)ctx;
  return SEQRT_OK;
}

static seqrt_status check_rank(const sq_ctx *ctx, const sq_node *node,
                               int min_rank) {
  if (ctx->shape.rank >= min_rank) return SEQRT_OK;
  return sq_error(SEQRT_ERR_INVALID_MODEL,
                  "node '%s' (%s) needs an input of rank %d or more, got %s",
                  node->name, node->op, min_rank, sq_fmt_shape(&ctx->shape));
}

seqrt_status sq_op_instancenorm(sq_ctx *ctx, const sq_node *node) {
  const sq_value *gamma, *beta;
  float eps;
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK) st = check_rank(ctx, node, 3);
  if (st == SEQRT_OK) st = sq_float_input(ctx, node, 1, true, &gamma);
  if (st == SEQRT_OK) st = sq_float_input(ctx, node, 2, true, &beta);
  if (st == SEQRT_OK) st = sq_attr_float(node, "epsilon", 1e-5f, &eps);
  sq_layer *layer;
  if (st == SEQRT_OK) st = sq_layer_add(ctx, SQ_INSTANCENORM, node, &layer);
  if (st == SEQRT_OK)
    st = affine_per_channel(ctx, node, gamma, beta, ctx->shape.dims[1], layer);
  if (st != SEQRT_OK) return st;
  layer->epsilon = eps;
  sq_shape out = ctx->shape;
  return sq_layer_finish(ctx, layer, &out);
}

/* Expand `v` (broadcastable to dims [axis, rank) of `in`) to those dims. */
static seqrt_status expand_to_tail(const sq_node *node, const sq_value *v,
                                   const sq_shape *in, int axis,
                                   sq_weights *w) {
  int n = in->rank - axis;
  int64_t dims[SQ_MAX_RANK];
  for (int k = 0; k < n; k++) dims[k] = in->dims[axis + k];
  bool fits = v->rank <= n;
  for (int k = 0; fits && k < v->rank; k++) {
    int64_t d = v->dims[v->rank - 1 - k];
    fits = d == 1 || d == dims[n - 1 - k];
  }
  if (!fits)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (%s): scale/bias of shape %s do not fit the "
                    "normalised dims %s",
                    node->name, node->op, sq_fmt_dims(v->rank, v->dims),
                    sq_fmt_dims(n, dims));
  seqrt_status st = sq_weights_alloc(w, n, dims);
  if (st != SEQRT_OK) return st;
  int64_t idx[SQ_MAX_RANK];
  for (int64_t e = 0; e < w->count; e++) {
    int64_t rest = e, src = 0, stride = 1;
    for (int k = n - 1; k >= 0; k--) {
      idx[k] = rest % dims[k];
      rest /= dims[k];
    }
    for (int k = v->rank - 1; k >= 0; k--) {
      int64_t d = v->dims[k];
      src += (d == 1 ? 0 : idx[n - v->rank + k]) * stride;
      stride *= d;
    }
    w->data[e] = v->f[src];
  }
  return SEQRT_OK;
}

/* A LAYERNORM layer over dims [axis, rank); gamma/beta may be NULL. */
seqrt_status sq_layernorm_layer(sq_ctx *ctx, const sq_group *group,
                                const sq_node *node, int axis, float eps,
                                const sq_value *gamma, const sq_value *beta) {
  if (axis < 1)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (%s) normalises over the batch dim of %s",
                    node->name, node->op, sq_fmt_shape(&ctx->shape));
  sq_layer *layer;
  seqrt_status st = group ? sq_group_layer(ctx, group, SQ_LAYERNORM, &layer)
                          : sq_layer_add(ctx, SQ_LAYERNORM, node, &layer);
  if (st == SEQRT_OK && gamma)
    st = expand_to_tail(node, gamma, &ctx->shape, axis, &layer->weight);
  if (st == SEQRT_OK && beta)
    st = expand_to_tail(node, beta, &ctx->shape, axis, &layer->bias);
  if (st != SEQRT_OK) return st;
  /* LayerNorm without affine carries no parameters; a bias alone needs a
   * unit scale */
  if (!gamma && beta) {
    st = sq_weights_alloc(&layer->weight, layer->bias.shape.rank,
                          layer->bias.shape.dims);
    for (int64_t k = 0; st == SEQRT_OK && k < layer->weight.count; k++)
      layer->weight.data[k] = 1.0f;
  }
  layer->axis = axis;
  layer->epsilon = eps;
  sq_shape out = ctx->shape;
  return st == SEQRT_OK ? sq_layer_finish(ctx, layer, &out) : st;
}

/* LayerNormalization (opset 17): the Mean / InvStdDev outputs must be
 * unused (the chain check verifies that). */
seqrt_status sq_op_layernorm(sq_ctx *ctx, const sq_node *node) {
  const sq_value *gamma, *beta;
  int64_t axis64, stash = 1;
  float eps;
  int axis;
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK) st = sq_attr_int(node, "axis", -1, &axis64);
  if (st == SEQRT_OK) st = sq_attr_float(node, "epsilon", 1e-5f, &eps);
  if (st == SEQRT_OK) st = sq_attr_int(node, "stash_type", 1, &stash);
  if (st == SEQRT_OK)
    st = sq_normalize_axis(node, "axis", axis64, ctx->shape.rank, &axis);
  if (st == SEQRT_OK) st = sq_float_input(ctx, node, 1, true, &gamma);
  if (st == SEQRT_OK) st = sq_float_input(ctx, node, 2, false, &beta);
  if (st != SEQRT_OK) return st;
  return sq_layernorm_layer(ctx, NULL, node, axis, eps, gamma, beta);
}

/* GroupNormalization: scale/bias per group at opsets 18-20, per channel
 * from 21 (the operator was redefined). */
seqrt_status sq_op_groupnorm(sq_ctx *ctx, const sq_node *node) {
  const sq_value *gamma, *beta;
  int64_t groups;
  float eps;
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK) st = check_rank(ctx, node, 3);
  if (st == SEQRT_OK) st = sq_attr_int(node, "num_groups", 0, &groups);
  if (st == SEQRT_OK) st = sq_attr_float(node, "epsilon", 1e-5f, &eps);
  if (st == SEQRT_OK) st = sq_float_input(ctx, node, 1, true, &gamma);
  if (st == SEQRT_OK) st = sq_float_input(ctx, node, 2, true, &beta);
  if (st != SEQRT_OK) return st;
  int64_t channels = ctx->shape.dims[1];
  if (groups < 1 || channels % groups)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (GroupNormalization): %lld groups for %lld "
                    "channels",
                    node->name, (long long)groups, (long long)channels);
  sq_layer *layer;
  if ((st = sq_layer_add(ctx, SQ_GROUPNORM, node, &layer)) != SEQRT_OK)
    return st;
  layer->groups = groups;
  layer->epsilon = eps;
  if (ctx->graph->opset >= 21) {
    st = affine_per_channel(ctx, node, gamma, beta, channels, layer);
  } else if (gamma->count != groups || beta->count != groups) {
    st = sq_error(SEQRT_ERR_INVALID_MODEL,
                  "node '%s' (GroupNormalization): scale and bias need %lld "
                  "values (one per group) at opset %lld",
                  node->name, (long long)groups, (long long)ctx->graph->opset);
  } else {
    st = sq_weights_alloc(&layer->weight, 1, &channels);
    if (st == SEQRT_OK) st = sq_weights_alloc(&layer->bias, 1, &channels);
    for (int64_t c = 0; st == SEQRT_OK && c < channels; c++) {
      layer->weight.data[c] = gamma->f[c / (channels / groups)];
      layer->bias.data[c] = beta->f[c / (channels / groups)];
    }
  }
  sq_shape out = ctx->shape;
  return st == SEQRT_OK ? sq_layer_finish(ctx, layer, &out) : st;
}

/* ---- LRN ----------------------------------------------------------------- */

seqrt_status sq_lrn_layer(sq_ctx *ctx, const sq_group *group,
                          const sq_node *node, int64_t size, float alpha,
                          float beta, float k) {
  sq_layer *layer;
  seqrt_status st = check_rank(ctx, node, 3);
  if (st == SEQRT_OK)
    st = group ? sq_group_layer(ctx, group, SQ_LRN, &layer)
               : sq_layer_add(ctx, SQ_LRN, node, &layer);
  if (st != SEQRT_OK) return st;
  layer->kernel[0] = size;
  layer->alpha = alpha;
  layer->beta = beta;
  layer->epsilon = k;
  sq_shape out = ctx->shape;
  return sq_layer_finish(ctx, layer, &out);
}

/* ONNX LRN sums the channels [c - (size-1)/2, c + size/2]; PyTorch's
 * LocalResponseNorm (the LRN layer) [c - size/2, c + (size-1)/2]: the same
 * window for odd sizes only. */
seqrt_status sq_op_lrn(sq_ctx *ctx, const sq_node *node) {
  int64_t size;
  float alpha, beta, bias;
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK) st = sq_attr_int(node, "size", 0, &size);
  if (st == SEQRT_OK) st = sq_attr_float(node, "alpha", 1e-4f, &alpha);
  if (st == SEQRT_OK) st = sq_attr_float(node, "beta", 0.75f, &beta);
  if (st == SEQRT_OK) st = sq_attr_float(node, "bias", 1.0f, &bias);
  if (st != SEQRT_OK) return st;
  if (size < 1 || size % 2 == 0 || size > INT32_MAX)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (LRN) with size %lld is not supported: seqrt "
                    "runs odd sizes (an even size centres the window "
                    "differently than PyTorch's LocalResponseNorm)",
                    node->name, (long long)size);
  return sq_lrn_layer(ctx, NULL, node, size, alpha, beta, bias);
}
