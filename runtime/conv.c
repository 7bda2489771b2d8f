/* CONV: 1-D/2-D/3-D convolution with groups, dilation and asymmetric pads;
 * CONVTRANSPOSE: oneDNN deconvolution with the same options plus output
 * padding. Every layout is left to oneDNN (format any); the weights are
 * reordered once. */
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

static seqrt_status build_deconv(sq_builder *b);

seqrt_status sq_build_conv(sq_builder *b) {
  const sq_layer *layer = b->layer;
  if (layer->kind == SQ_CONVTRANSPOSE) return build_deconv(b);
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

/* ---- transposed convolution ---- */

static seqrt_status check_deconv_window(const sq_layer *layer,
                                        const dnnl_dims_t in,
                                        const dnnl_dims_t out) {
  int spatial = layer->in.rank - 2;
  if (spatial < 1 || spatial > SQ_MAX_SPATIAL || layer->spatial != spatial ||
      layer->out.rank != layer->in.rank)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "layer '%s' (ConvTranspose): input rank %d with %d "
                    "spatial dims (supported: 1 to 3 spatial dims)",
                    layer->name, layer->in.rank, layer->spatial);
  for (int i = 0; i < spatial; i++) {
    int64_t k = layer->kernel[i], s = layer->stride[i], d = layer->dilation[i];
    int64_t pb = layer->pad_begin[i], pe = layer->pad_end[i];
    int64_t op = layer->output_padding[i];
    if (k < 1 || s < 1 || d < 1 || pb < 0 || pe < 0 || op < 0 ||
        (op >= s && op >= d))
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "layer '%s' (ConvTranspose): bad window along spatial "
                      "dim %d (kernel %lld, stride %lld, dilation %lld, pads "
                      "%lld/%lld, output padding %lld)",
                      layer->name, i, (long long)k, (long long)s, (long long)d,
                      (long long)pb, (long long)pe, (long long)op);
    int64_t expected = (in[2 + i] - 1) * s - pb - pe + (k - 1) * d + 1 + op;
    if (out[2 + i] != expected)
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "layer '%s' (ConvTranspose): output size %lld along "
                      "spatial dim %d, expected %lld",
                      layer->name, (long long)out[2 + i], i,
                      (long long)expected);
  }
  return SEQRT_OK;
}

static seqrt_status check_deconv(const sq_layer *layer, const dnnl_dims_t in,
                                 const dnnl_dims_t out, int64_t *kernel_size) {
  seqrt_status st = check_deconv_window(layer, in, out);
  if (st != SEQRT_OK) return st;
  int64_t groups = layer->groups, c = in[1], o = out[1];
  if (groups < 1 || c % groups || o % groups)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (ConvTranspose): %lld groups do not divide "
                    "%lld input and %lld output channels",
                    layer->name, (long long)groups, (long long)c, (long long)o);
  if (in[0] != out[0])
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (ConvTranspose): batch %lld in, %lld out",
                    layer->name, (long long)in[0], (long long)out[0]);
  *kernel_size = 1;
  for (int i = 0; i < layer->spatial; i++) *kernel_size *= layer->kernel[i];
  st = sq_check_weights(layer, &layer->weight, "weight",
                        c * (o / groups) * *kernel_size, true);
  if (st == SEQRT_OK)
    st = sq_check_weights(layer, &layer->bias, "bias", o, false);
  return st;
}

/* oneDNN's deconvolution weights are [O, I, k...] or, grouped,
 * [g, O/g, I/g, k...]; the chain's array is [I, O/g, k...]: the same bytes
 * seen through strides. */
static seqrt_status
deconv_user_weights(const sq_layer *layer, const dnnl_dims_t in,
                    const dnnl_dims_t out, int64_t kernel_size, int *wrank,
                    dnnl_dims_t wdims, dnnl_memory_desc_t *md) {
  int64_t g = layer->groups, ig = in[1] / g, og = out[1] / g;
  dnnl_dims_t strides;
  int n = 0;
  if (g > 1) {
    wdims[n] = g;
    strides[n++] = ig * og * kernel_size;
  }
  wdims[n] = og;
  strides[n++] = kernel_size;
  wdims[n] = ig;
  strides[n++] = og * kernel_size;
  int64_t inner = kernel_size;
  for (int i = 0; i < layer->spatial; i++) {
    inner /= layer->kernel[i];
    wdims[n] = layer->kernel[i];
    strides[n++] = inner;
  }
  *wrank = n;
  SQ_DNNL(layer, "weights memory descriptor",
          dnnl_memory_desc_init_by_strides(md, n, wdims, dnnl_f32, strides));
  return SEQRT_OK;
}

static seqrt_status build_deconv(sq_builder *b) {
  const sq_layer *layer = b->layer;
  int rank = layer->in.rank, wrank = 0;
  dnnl_dims_t in, out, wdims, bdims, strides, dilates, pad_l, pad_r;
  int64_t kernel_size = 1;
  sq_dims(&layer->in, b->plan->batch, in);
  sq_dims(&layer->out, b->plan->batch, out);
  seqrt_status st = check_deconv(layer, in, out, &kernel_size);
  if (st != SEQRT_OK) return st;
  bdims[0] = out[1];
  sq_window_arrays(layer, strides, dilates, pad_l, pad_r);
  /* Output padding extends the far end: dst = (src - 1) * s + span - pl -
   * pr holds exactly with pr = pad_end - output_padding. */
  for (int i = 0; i < layer->spatial; i++) pad_r[i] -= layer->output_padding[i];
  dnnl_memory_desc_t src, weights, bias, dst, user_weights;
  st = deconv_user_weights(layer, in, out, kernel_size, &wrank, wdims,
                           &user_weights);
  if (st == SEQRT_OK) st = sq_md_any(layer, rank, in, &src);
  if (st == SEQRT_OK) st = sq_md_any(layer, wrank, wdims, &weights);
  if (st == SEQRT_OK) st = sq_md_any(layer, rank, out, &dst);
  if (st == SEQRT_OK) st = sq_md_plain(layer, 1, bdims, &bias);
  if (st != SEQRT_OK) return st;
  dnnl_deconvolution_desc_t desc;
  SQ_DNNL(layer, "deconvolution descriptor",
          dnnl_dilated_deconvolution_forward_desc_init(
              &desc, dnnl_forward_inference, dnnl_deconvolution_direct, &src,
              &weights, layer->bias.data ? &bias : NULL, &dst, strides, dilates,
              pad_l, pad_r));
  st = sq_builder_create_pd(b, &desc, "deconvolution");
  if (st == SEQRT_OK)
    st = sq_builder_add_const(b, DNNL_ARG_WEIGHTS, &user_weights,
                              layer->weight.data);
  if (st == SEQRT_OK && layer->bias.data)
    st = sq_builder_add_const(b, DNNL_ARG_BIAS, &bias, layer->bias.data);
  return st;
}
