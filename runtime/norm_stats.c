/* Normalisations with statistics computed at run time. oneDNN 2.6 has no
 * instance or group normalisation, so:
 * - InstanceNorm on a layout oneDNN's jitted batch normalisation takes
 *   (as a convolution leaves it): batch normalisation of that tensor for
 *   one sample, and for several of [1, N*C, spatial...] when the channels
 *   are in blocks of 16 (the samples follow as more channels);
 * - otherwise (and GroupNorm): layer normalisation of the plain data seen
 *   as [N*G, C/G*spatial], then gamma and beta per channel as two binary
 *   ops. oneDNN's plain batch normalisation (ncsp) took 0.87 ms for 32 x
 *   128 x 128, 4.9 ms with a fused ReLU, against 0.1 ms for these;
 * - LayerNorm: oneDNN layer normalisation of [prod(dims[:axis]),
 *   prod(dims[axis:])] with the weights as its scale and shift.
 * A following ReLU fused by the plan (step hi > lo) runs inside the last
 * op. */
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

/* `count` copies of `values` repeated, owned by `op`. */
static seqrt_status owned_array(sq_builder *b, sq_op *op, int64_t count,
                                const float *values, int64_t period,
                                float **out) {
  float *data = sq_op_owned_floats(op, count);
  if (!data)
    return sq_error(SEQRT_ERR_NOMEM, "layer '%s' (%s): out of memory",
                    b->layer->name, sq_kind_name(b->layer->kind));
  for (int64_t i = 0; i < count; i++) data[i] = values[i % period];
  *out = data;
  return SEQRT_OK;
}

/* Bind `count` values as argument `arg` of op: `values` read in place when
 * `period` == count, otherwise repeated into an array the op owns. */
static seqrt_status bind_array(sq_builder *b, sq_op *op,
                               const_dnnl_primitive_desc_t pd, int arg,
                               int64_t count, const float *values,
                               int64_t period) {
  const float *data = values;
  seqrt_status st = SEQRT_OK;
  if (period != count) {
    float *made = NULL;
    st = owned_array(b, op, count, values, period, &made);
    data = made;
  }
  dnnl_dims_t dims = {count};
  dnnl_memory_desc_t md;
  if (st == SEQRT_OK) st = sq_md_plain(b->layer, 1, dims, &md);
  if (st == SEQRT_OK) st = sq_op_add_const(b, op, pd, arg, &md, data);
  return st;
}

/* The blocked-by-16-channels layout of a rank-3 to 5 tensor. */
static dnnl_format_tag_t channel_blocks_tag(int rank) {
  return rank == 3   ? dnnl_aBc16b
         : rank == 4 ? dnnl_aBcd16b
         : rank == 5 ? dnnl_aBcde16b
                     : dnnl_format_tag_undef;
}

/* The [1, N*C, spatial...] batch-normalisation view of an InstanceNorm's
 * input as it arrives, when there is one. */
static bool batch_norm_view(sq_builder *b, int64_t n, int64_t c,
                            dnnl_memory_desc_t *view) {
  if (sq_md_is_plain(&b->in_md)) return false;
  *view = b->in_md;
  if (n == 1) return true;
  dnnl_format_tag_t tag = channel_blocks_tag(b->in_md.ndims);
  dnnl_memory_desc_t blocked;
  dnnl_dims_t dims;
  memcpy(dims, b->in_md.dims, sizeof dims);
  if (tag == dnnl_format_tag_undef || c % 16 ||
      dnnl_memory_desc_init_by_tag(&blocked, b->in_md.ndims, dims, dnnl_f32,
                                   tag) != dnnl_success ||
      !dnnl_memory_desc_equal(&blocked, &b->in_md))
    return false;
  dims[0] = 1;
  dims[1] = n * c;
  return dnnl_memory_desc_init_by_tag(view, b->in_md.ndims, dims, dnnl_f32,
                                      tag) == dnnl_success;
}

/* InstanceNorm as one jitted batch normalisation on the layout it arrives
 * in (*built false, nothing added, where oneDNN has no jitted one). */
static seqrt_status instance_norm_in_place(sq_builder *b, int64_t n, int64_t c,
                                           bool relu, bool *built) {
  const sq_layer *layer = b->layer;
  const float *gamma = layer->weight.data, *beta = layer->bias.data;
  dnnl_memory_desc_t view;
  *built = false;
  if (!batch_norm_view(b, n, c, &view)) return SEQRT_OK;
  unsigned flags = (gamma ? dnnl_use_scale : 0u) |
                   (beta ? dnnl_use_shift : 0u) |
                   (relu ? dnnl_fuse_norm_relu : 0u);
  dnnl_batch_normalization_desc_t desc;
  SQ_DNNL(layer, "batch normalization descriptor",
          dnnl_batch_normalization_forward_desc_init(
              &desc, dnnl_forward_inference, &view, layer->epsilon, flags));
  dnnl_primitive_desc_t pd = NULL;
  seqrt_status st = sq_op_pd(b, &desc, NULL, "batch normalization", &pd);
  if (st != SEQRT_OK || strncmp(sq_pd_impl(pd), "bnorm_jit", 9) != 0) {
    dnnl_primitive_desc_destroy(pd);
    return st;
  }
  sq_op *op = NULL;
  sq_op_arg args[2] = {{DNNL_ARG_SRC, SQ_AT_SRC, view},
                       {DNNL_ARG_DST, SQ_AT_DST, view}};
  b->src_md = b->dst_md = b->in_md;
  st = sq_op_add_prim(b, pd, 2, args, &op);
  if (st == SEQRT_OK && gamma)
    st = bind_array(b, op, pd, DNNL_ARG_SCALE, n * c, gamma, c);
  if (st == SEQRT_OK && beta)
    st = bind_array(b, op, pd, DNNL_ARG_SHIFT, n * c, beta, c);
  dnnl_primitive_desc_destroy(pd);
  *built = st == SEQRT_OK;
  return st;
}

/* One op on the plain [N, C, spatial] output, in place: times gamma
 * (`alg` mul) or plus beta (add) per channel, with the ReLU after it when
 * `relu`. */
static seqrt_status add_channel_binary(sq_builder *b,
                                       const dnnl_memory_desc_t *data,
                                       dnnl_alg_kind_t alg, const float *values,
                                       bool relu) {
  const sq_layer *layer = b->layer;
  dnnl_dims_t cdims = {1, data->dims[1], 1};
  dnnl_memory_desc_t channel;
  seqrt_status st = sq_md_plain(layer, 3, cdims, &channel);
  if (st != SEQRT_OK) return st;
  dnnl_post_ops_t post_ops = NULL;
  SQ_DNNL(layer, "post-ops creation", dnnl_post_ops_create(&post_ops));
  dnnl_status_t dst = relu ? dnnl_post_ops_append_eltwise(
                                 post_ops, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f)
                           : dnnl_success;
  dnnl_binary_desc_t desc;
  if (dst == dnnl_success)
    dst = dnnl_binary_desc_init(&desc, alg, data, &channel, data);
  if (dst != dnnl_success) {
    dnnl_post_ops_destroy(post_ops);
    return sq_dnnl_error(layer, "binary descriptor", dst);
  }
  dnnl_primitive_desc_t pd = NULL;
  sq_op *op = NULL;
  sq_op_arg args[2] = {{DNNL_ARG_SRC_0, SQ_AT_DST, *data},
                       {DNNL_ARG_DST, SQ_AT_DST, *data}};
  st = sq_op_pd(b, &desc, post_ops, "binary", &pd);
  dnnl_post_ops_destroy(post_ops);
  if (st == SEQRT_OK) st = sq_op_add_prim(b, pd, 2, args, &op);
  if (st == SEQRT_OK)
    st = sq_op_add_const(b, op, pd, DNNL_ARG_SRC_1, &channel, values);
  dnnl_primitive_desc_destroy(pd);
  return st;
}

/* A ReLU in place on the plain output. */
static seqrt_status add_relu(sq_builder *b, const dnnl_memory_desc_t *data) {
  dnnl_eltwise_desc_t desc;
  SQ_DNNL(b->layer, "eltwise descriptor",
          dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_inference,
                                         dnnl_eltwise_relu, data, 0.0f, 0.0f));
  dnnl_primitive_desc_t pd = NULL;
  sq_op_arg args[2] = {{DNNL_ARG_SRC, SQ_AT_DST, *data},
                       {DNNL_ARG_DST, SQ_AT_DST, *data}};
  seqrt_status st = sq_op_pd(b, &desc, NULL, "eltwise", &pd);
  if (st == SEQRT_OK) st = sq_op_add_prim(b, pd, 2, args, NULL);
  dnnl_primitive_desc_destroy(pd);
  return st;
}

/* Statistics per row of the plain [N*G, C/G*spatial] view (layer
 * normalisation without scale or shift), then gamma, beta and the ReLU. */
static seqrt_status group_norm_rows(sq_builder *b, int64_t n, int64_t groups,
                                    int64_t c, int64_t spatial, bool relu) {
  const sq_layer *layer = b->layer;
  const float *gamma = layer->weight.data, *beta = layer->bias.data;
  dnnl_dims_t rows_dims = {n * groups, c / groups * spatial};
  dnnl_dims_t channel_dims = {n, c, spatial};
  dnnl_memory_desc_t rows, channels;
  seqrt_status st = sq_plain_io(b);
  if (st == SEQRT_OK) st = sq_md_plain(layer, 2, rows_dims, &rows);
  if (st == SEQRT_OK) st = sq_md_plain(layer, 3, channel_dims, &channels);
  if (st != SEQRT_OK) return st;
  dnnl_layer_normalization_desc_t desc;
  SQ_DNNL(layer, "layer normalization descriptor",
          dnnl_layer_normalization_forward_desc_init(
              &desc, dnnl_forward_inference, &rows, NULL, layer->epsilon, 0));
  dnnl_primitive_desc_t pd = NULL;
  sq_op_arg args[2] = {{DNNL_ARG_SRC, SQ_AT_SRC, rows},
                       {DNNL_ARG_DST, SQ_AT_DST, rows}};
  st = sq_op_pd(b, &desc, NULL, "layer normalization", &pd);
  if (st == SEQRT_OK) st = sq_op_add_prim(b, pd, 2, args, NULL);
  dnnl_primitive_desc_destroy(pd);
  if (st == SEQRT_OK && gamma)
    st =
        add_channel_binary(b, &channels, dnnl_binary_mul, gamma, relu && !beta);
  if (st == SEQRT_OK && beta)
    st = add_channel_binary(b, &channels, dnnl_binary_add, beta, relu);
  if (st == SEQRT_OK && relu && !gamma && !beta) st = add_relu(b, &channels);
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
  if (st != SEQRT_OK) return st;
  bool relu = b->step->hi > b->step->lo;
  bool built = false;
  b->in_place = true;
  if (groups == c) st = instance_norm_in_place(b, n, c, relu, &built);
  if (st == SEQRT_OK && !built)
    st = group_norm_rows(b, n, groups, c, spatial, relu);
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
