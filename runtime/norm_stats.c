/* Normalisations with statistics computed at run time. oneDNN 2.6 has no
 * instance or group normalisation, so:
 * - InstanceNorm: batch normalisation of the plain data seen as
 *   [1, N*C, spatial, 1] (statistics per (n, c)), its scale and shift being
 *   gamma and beta repeated N times;
 * - GroupNorm: the same on [1, N*G, C/G*spatial, 1], then the per-channel
 *   gamma and beta as a batch normalisation with mean 0, variance 1 on
 *   [N, C, spatial, 1], in place;
 * - LayerNorm: oneDNN layer normalisation of [prod(dims[:axis]),
 *   prod(dims[axis:])] with the weights as its scale and shift.
 * A following ReLU fused by the plan (step hi > lo) runs inside the last
 * batch normalisation. */
#include <math.h>
#include <string.h>

#include "internal.h"

static seqrt_status check_same_shape(const sq_layer *layer) {
  int rank = layer->in.rank;
  if (layer->out.rank != rank ||
      memcmp(layer->in.dims, layer->out.dims, sizeof(int64_t) * (size_t)rank))
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (%s): output shape differs from the input",
                    layer->name, sq_kind_name(layer->kind));
  if (!(layer->epsilon >= 0.0f) || !isfinite(layer->epsilon))
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (%s): epsilon %g must be >= 0", layer->name,
                    sq_kind_name(layer->kind), (double)layer->epsilon);
  return SEQRT_OK;
}

/* A plain [d0, d1, d2, 1] view. */
static seqrt_status view4(const sq_layer *layer, int64_t d0, int64_t d1,
                          int64_t d2, dnnl_memory_desc_t *md) {
  dnnl_dims_t dims = {d0, d1, d2, 1};
  return sq_md_plain(layer, 4, dims, md);
}

/* `count` copies of `value`, or of `values` repeated, owned by `op`. */
static seqrt_status owned_array(sq_builder *b, sq_op *op, int64_t count,
                                const float *values, int64_t period,
                                float value, float **out) {
  float *data = sq_op_owned_floats(op, count);
  if (!data)
    return sq_error(SEQRT_ERR_NOMEM, "layer '%s' (%s): out of memory",
                    b->layer->name, sq_kind_name(b->layer->kind));
  for (int64_t i = 0; i < count; i++)
    data[i] = values ? values[i % period] : value;
  *out = data;
  return SEQRT_OK;
}

/* Bind `count` values as argument `arg`: `values` (NULL: `fill` everywhere)
 * read in place when `period` == count, otherwise repeated into an array
 * the op owns. */
static seqrt_status bind_array(sq_builder *b, sq_op *op,
                               const_dnnl_primitive_desc_t pd, int arg,
                               int64_t count, const float *values,
                               int64_t period, float fill) {
  const float *data = values;
  seqrt_status st = SEQRT_OK;
  if (!values || period != count) {
    float *made = NULL;
    st = owned_array(b, op, count, values, period, fill, &made);
    data = made;
  }
  dnnl_dims_t dims = {count};
  dnnl_memory_desc_t md;
  if (st == SEQRT_OK) st = sq_md_plain(b->layer, 1, dims, &md);
  if (st == SEQRT_OK) st = sq_op_add_const(b, op, pd, arg, &md, data);
  return st;
}

/* Batch normalisation on `md` (channels: `count`) from `from` to DST.
 * `scale`/`shift` (NULL: none) have `period` values repeated over the
 * channels; with `global`, statistics are mean 0 and variance 1 instead of
 * computed. */
static seqrt_status add_bnorm(sq_builder *b, const dnnl_memory_desc_t *md,
                              sq_place from, bool global, float epsilon,
                              int64_t count, const float *scale,
                              const float *shift, int64_t period, bool relu) {
  unsigned flags = global ? dnnl_use_global_stats : 0;
  if (scale) flags |= dnnl_use_scale;
  if (shift) flags |= dnnl_use_shift;
  if (relu) flags |= dnnl_fuse_norm_relu;
  dnnl_batch_normalization_desc_t desc;
  SQ_DNNL(b->layer, "batch normalization descriptor",
          dnnl_batch_normalization_forward_desc_init(
              &desc, dnnl_forward_inference, md, epsilon, flags));
  dnnl_primitive_desc_t pd = NULL;
  sq_op *op = NULL;
  sq_op_arg args[2] = {{DNNL_ARG_SRC, from, *md},
                       {DNNL_ARG_DST, SQ_AT_DST, *md}};
  seqrt_status st = sq_op_pd(b, &desc, NULL, "batch normalization", &pd);
  if (st == SEQRT_OK) st = sq_op_add_prim(b, pd, 2, args, &op);
  if (st == SEQRT_OK && global)
    st = bind_array(b, op, pd, DNNL_ARG_MEAN, count, NULL, 1, 0.0f);
  if (st == SEQRT_OK && global)
    st = bind_array(b, op, pd, DNNL_ARG_VARIANCE, count, NULL, 1, 1.0f);
  if (st == SEQRT_OK && scale)
    st = bind_array(b, op, pd, DNNL_ARG_SCALE, count, scale, period, 0.0f);
  if (st == SEQRT_OK && shift)
    st = bind_array(b, op, pd, DNNL_ARG_SHIFT, count, shift, period, 0.0f);
  dnnl_primitive_desc_destroy(pd);
  return st;
}

seqrt_status sq_build_group_norm(sq_builder *b) {
  const sq_layer *layer = b->layer;
  seqrt_status st = check_same_shape(layer);
  if (st != SEQRT_OK) return st;
  dnnl_dims_t dims;
  sq_dims(&layer->in, b->plan->batch, dims);
  int64_t n = dims[0], c = layer->in.rank > 1 ? dims[1] : 1;
  int64_t spatial = sq_shape_count(&layer->in, b->plan->batch) / (n * c);
  int64_t groups = layer->kind == SQ_GROUPNORM ? layer->groups : c;
  if (groups < 1 || c % groups)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (%s): %lld groups do not divide %lld channels",
                    layer->name, sq_kind_name(layer->kind), (long long)groups,
                    (long long)c);
  st = sq_check_weights(layer, &layer->weight, "weight", c, false);
  if (st == SEQRT_OK)
    st = sq_check_weights(layer, &layer->bias, "bias", c, false);
  if (st == SEQRT_OK) st = sq_plain_io(b);
  if (st != SEQRT_OK) return st;
  bool relu = b->step->hi > b->step->lo;
  const float *gamma = layer->weight.data, *beta = layer->bias.data;
  /* One channel per group: gamma and beta are the statistics op's own
   * scale and shift, repeated for every sample. */
  bool separate_affine = (gamma || beta) && groups != c;
  dnnl_memory_desc_t stats_view, channel_view;
  st = view4(layer, 1, n * groups, c / groups * spatial, &stats_view);
  if (st == SEQRT_OK) st = view4(layer, n, c, spatial, &channel_view);
  if (st == SEQRT_OK)
    st = add_bnorm(b, &stats_view, SQ_AT_SRC, false, layer->epsilon, n * groups,
                   separate_affine ? NULL : gamma,
                   separate_affine ? NULL : beta, c, relu && !separate_affine);
  if (st == SEQRT_OK && separate_affine)
    st = add_bnorm(b, &channel_view, SQ_AT_DST, true, 0.0f, c, gamma, beta, c,
                   relu);
  b->in_place = true;
  return st;
}

seqrt_status sq_build_layer_norm(sq_builder *b) {
  const sq_layer *layer = b->layer;
  int rank = layer->in.rank, axis = layer->axis;
  seqrt_status st = check_same_shape(layer);
  if (st != SEQRT_OK) return st;
  if (axis < 1 || axis >= rank)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (LayerNorm): axis %d out of range 1..%d",
                    layer->name, axis, rank - 1);
  dnnl_dims_t dims, view = {1, 1};
  sq_dims(&layer->in, b->plan->batch, dims);
  for (int i = 0; i < rank; i++) view[i < axis ? 0 : 1] *= dims[i];
  st = sq_check_weights(layer, &layer->weight, "weight", view[1], false);
  if (st == SEQRT_OK)
    st = sq_check_weights(layer, &layer->bias, "bias", view[1], false);
  dnnl_memory_desc_t data, channel;
  dnnl_dims_t cdims = {view[1]};
  if (st == SEQRT_OK) st = sq_plain_io(b);
  if (st == SEQRT_OK) st = sq_md_plain(layer, 2, view, &data);
  if (st == SEQRT_OK) st = sq_md_plain(layer, 1, cdims, &channel);
  if (st != SEQRT_OK) return st;
  unsigned flags = 0;
  if (layer->weight.data) flags |= dnnl_use_scale;
  if (layer->bias.data) flags |= dnnl_use_shift;
  dnnl_layer_normalization_desc_t desc;
  SQ_DNNL(
      layer, "layer normalization descriptor",
      dnnl_layer_normalization_forward_desc_init(
          &desc, dnnl_forward_inference, &data, NULL, layer->epsilon, flags));
  st = sq_builder_create_pd(b, &desc, "layer normalization");
  if (st == SEQRT_OK && layer->weight.data)
    st = sq_builder_add_const(b, DNNL_ARG_SCALE, &channel, layer->weight.data);
  if (st == SEQRT_OK && layer->bias.data)
    st = sq_builder_add_const(b, DNNL_ARG_SHIFT, &channel, layer->bias.data);
  return st;
}
