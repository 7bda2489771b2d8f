/* CONV: 1-D/2-D/3-D convolution with groups, dilation and asymmetric pads.
 * Every layout is left to oneDNN (format any); the weights are reordered
 * once. */
#include "internal.h"

static seqrt_status check_conv(const sq_layer *layer, const dnnl_dims_t in,
                               const dnnl_dims_t out, int64_t *kernel_size) {
  seqrt_status st = sq_check_window(layer, in, out);
  if (st != SEQRT_OK) return st;
  int64_t groups = layer->groups, c = in[1], o = out[1];
  if (groups < 1 || c % groups || o % groups)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (Conv): %lld groups do not divide %lld input "
                    "and %lld output channels",
                    layer->name, (long long)groups, (long long)c, (long long)o);
  if (in[0] != out[0])
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (Conv): batch %lld in, %lld out", layer->name,
                    (long long)in[0], (long long)out[0]);
  *kernel_size = 1;
  for (int i = 0; i < layer->spatial; i++) *kernel_size *= layer->kernel[i];
  st = sq_check_weights(layer, &layer->weight, "weight",
                        o * (c / groups) * *kernel_size, true);
  if (st == SEQRT_OK)
    st = sq_check_weights(layer, &layer->bias, "bias", o, false);
  return st;
}

/* [O, I/g, k...] or, grouped, [g, O/g, I/g, k...] (same bytes). */
static int weight_dims(const sq_layer *layer, const dnnl_dims_t in,
                       const dnnl_dims_t out, dnnl_dims_t dims) {
  int64_t g = layer->groups;
  int n = 0;
  if (g > 1) dims[n++] = g;
  dims[n++] = out[1] / g;
  dims[n++] = in[1] / g;
  for (int i = 0; i < layer->spatial; i++) dims[n++] = layer->kernel[i];
  return n;
}

seqrt_status sq_build_conv(sq_builder *b) {
  const sq_layer *layer = b->layer;
  int rank = layer->in.rank;
  dnnl_dims_t in, out, wdims, bdims, strides, dilates, pad_l, pad_r;
  int64_t kernel_size;
  sq_dims(&layer->in, b->plan->batch, in);
  sq_dims(&layer->out, b->plan->batch, out);
  seqrt_status st = check_conv(layer, in, out, &kernel_size);
  if (st != SEQRT_OK) return st;
  int wrank = weight_dims(layer, in, out, wdims);
  bdims[0] = out[1];
  sq_window_arrays(layer, strides, dilates, pad_l, pad_r);

  dnnl_memory_desc_t src, weights, bias, dst, user_weights;
  st = sq_md_any(layer, rank, in, &src);
  if (st == SEQRT_OK) st = sq_md_any(layer, wrank, wdims, &weights);
  if (st == SEQRT_OK) st = sq_md_any(layer, rank, out, &dst);
  if (st == SEQRT_OK) st = sq_md_plain(layer, 1, bdims, &bias);
  if (st == SEQRT_OK) st = sq_md_plain(layer, wrank, wdims, &user_weights);
  if (st != SEQRT_OK) return st;
  dnnl_convolution_desc_t desc;
  SQ_DNNL(layer, "convolution descriptor",
          dnnl_dilated_convolution_forward_desc_init(
              &desc, dnnl_forward_inference, dnnl_convolution_direct, &src,
              &weights, layer->bias.data ? &bias : NULL, &dst, strides, dilates,
              pad_l, pad_r));
  st = sq_builder_create_pd(b, &desc, "convolution");
  if (st == SEQRT_OK)
    st = sq_builder_add_const(b, DNNL_ARG_WEIGHTS, &user_weights,
                              layer->weight.data);
  if (st == SEQRT_OK && layer->bias.data)
    st = sq_builder_add_const(b, DNNL_ARG_BIAS, &bias, layer->bias.data);
  return st;
}
