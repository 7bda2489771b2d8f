/* POOL: max / average (include or exclude padding) pooling with dilation,
 * on whatever layout the previous step produced. */
#include "internal.h"

static dnnl_alg_kind_t pool_alg(const sq_layer *layer) {
  if (layer->kind == SQ_MAXPOOL) return dnnl_pooling_max;
  return layer->count_include_pad ? dnnl_pooling_avg_include_padding
                                  : dnnl_pooling_avg_exclude_padding;
}

seqrt_status sq_build_pool(sq_builder *b) {
  const sq_layer *layer = b->layer;
  dnnl_dims_t in, out, strides, kernel, dilates, pad_l, pad_r;
  sq_dims(&layer->in, b->plan->batch, in);
  sq_dims(&layer->out, b->plan->batch, out);
  seqrt_status st = sq_check_window(layer, in, out);
  if (st != SEQRT_OK) return st;
  if (in[0] != out[0] || in[1] != out[1])
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (%s): batch/channels %lldx%lld in, %lldx%lld "
                    "out",
                    layer->name, sq_kind_name(layer->kind), (long long)in[0],
                    (long long)in[1], (long long)out[0], (long long)out[1]);
  sq_window_arrays(layer, strides, dilates, pad_l, pad_r);
  for (int i = 0; i < layer->spatial; i++) kernel[i] = layer->kernel[i];
  dnnl_memory_desc_t dst;
  st = sq_md_any(layer, layer->out.rank, out, &dst);
  if (st != SEQRT_OK) return st;
  dnnl_pooling_v2_desc_t desc;
  SQ_DNNL(layer, "pooling descriptor",
          dnnl_pooling_v2_forward_desc_init(
              &desc, dnnl_forward_inference, pool_alg(layer), &b->in_md, &dst,
              strides, kernel, dilates, pad_l, pad_r));
  return sq_builder_create_pd(b, &desc, "pooling");
}
