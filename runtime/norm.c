/* NORM. Inference BatchNorm (y = x * scale + shift per channel): oneDNN
 * batch normalization with global statistics mean 0, variance 1 and
 * epsilon 0, so that it computes exactly the scale and shift. In a fused
 * plan a following ReLU runs inside it (step hi > lo). The other kinds are
 * in norm_stats.c (instance, group, layer) and lrn.c. */
#include <string.h>

#include "internal.h"

/* A plan-owned array of `count` copies of `value`, bound as argument `arg`. */
static seqrt_status add_filled(sq_builder *b, int arg, int64_t count,
                               float value) {
  int slot = 0;
  while (slot < SQ_MAX_CONSTS && b->step->owned[slot]) slot++;
  float *data = slot < SQ_MAX_CONSTS
                    ? sq_aligned_alloc((size_t)count * sizeof *data)
                    : NULL;
  if (!data)
    return sq_error(SEQRT_ERR_NOMEM, "layer '%s' (BatchNorm): out of memory",
                    b->layer->name);
  b->step->owned[slot] = data;
  for (int64_t i = 0; i < count; i++) data[i] = value;
  b->plan->owned_const_bytes += (size_t)count * sizeof *data;
  dnnl_dims_t dims = {count};
  dnnl_memory_desc_t md;
  seqrt_status st = sq_md_plain(b->layer, 1, dims, &md);
  if (st == SEQRT_OK) st = sq_builder_add_const(b, arg, &md, data);
  return st;
}

static seqrt_status check_norm(const sq_layer *layer, int64_t batch,
                               int64_t *channels) {
  int rank = layer->in.rank;
  if (rank < 2 || rank > 5)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "layer '%s' (BatchNorm): input rank %d (supported: 2 to 5)",
                    layer->name, rank);
  if (layer->out.rank != rank ||
      memcmp(layer->in.dims, layer->out.dims, sizeof(int64_t) * (size_t)rank))
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (BatchNorm): output shape differs from the "
                    "input",
                    layer->name);
  dnnl_dims_t in;
  sq_dims(&layer->in, batch, in);
  *channels = in[1];
  seqrt_status st =
      sq_check_weights(layer, &layer->weight, "scale", *channels, false);
  if (st == SEQRT_OK)
    st = sq_check_weights(layer, &layer->bias, "shift", *channels, false);
  return st;
}

bool sq_norm_fuses_relu(const sq_layer *layer) {
  return layer->kind == SQ_BATCHNORM || layer->kind == SQ_INSTANCENORM ||
         layer->kind == SQ_GROUPNORM;
}

seqrt_status sq_build_norm(sq_builder *b) {
  const sq_layer *layer = b->layer;
  switch (layer->kind) {
  case SQ_INSTANCENORM:
  case SQ_GROUPNORM: return sq_build_group_norm(b);
  case SQ_LAYERNORM: return sq_build_layer_norm(b);
  case SQ_LRN: return sq_build_lrn(b);
  default: break;
  }
  int64_t channels = 0;
  seqrt_status st = check_norm(layer, b->plan->batch, &channels);
  if (st != SEQRT_OK) return st;
  unsigned flags = dnnl_use_global_stats;
  if (layer->weight.data) flags |= dnnl_use_scale;
  if (layer->bias.data) flags |= dnnl_use_shift;
  if (b->step->hi > b->step->lo) flags |= dnnl_fuse_norm_relu; /* + ReLU */
  dnnl_batch_normalization_desc_t desc;
  SQ_DNNL(layer, "batch normalization descriptor",
          dnnl_batch_normalization_forward_desc_init(
              &desc, dnnl_forward_inference, &b->in_md, 0.0f, flags));
  st = sq_builder_create_pd(b, &desc, "batch normalization");
  if (st == SEQRT_OK) st = add_filled(b, DNNL_ARG_MEAN, channels, 0.0f);
  if (st == SEQRT_OK) st = add_filled(b, DNNL_ARG_VARIANCE, channels, 1.0f);
  dnnl_dims_t dims = {channels};
  dnnl_memory_desc_t md;
  if (st == SEQRT_OK) st = sq_md_plain(layer, 1, dims, &md);
  if (st == SEQRT_OK && layer->weight.data)
    st = sq_builder_add_const(b, DNNL_ARG_SCALE, &md, layer->weight.data);
  if (st == SEQRT_OK && layer->bias.data)
    st = sq_builder_add_const(b, DNNL_ARG_SHIFT, &md, layer->bias.data);
  return st;
}
