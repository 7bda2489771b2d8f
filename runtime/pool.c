/* POOL: max / average (include or exclude padding) pooling with dilation,
 * on whatever layout the previous step produced. LPPOOL is x^p (oneDNN
 * eltwise into the spare buffer), then an average pool that counts the
 * padding, with post-ops x kernel size (the sum) and ^(1/p). */
#include <math.h>

#include "internal.h"

static dnnl_alg_kind_t pool_alg(const sq_layer *layer) {
  if (layer->kind == SQ_MAXPOOL) return dnnl_pooling_max;
  return layer->count_include_pad ? dnnl_pooling_avg_include_padding
                                  : dnnl_pooling_avg_exclude_padding;
}

static seqrt_status
build_lppool(sq_builder *b, const dnnl_dims_t out, const dnnl_dims_t strides,
             const dnnl_dims_t kernel, const dnnl_dims_t dilates,
             const dnnl_dims_t pad_l, const dnnl_dims_t pad_r);

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
  if (layer->kind == SQ_LPPOOL)
    return build_lppool(b, out, strides, kernel, dilates, pad_l, pad_r);
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

/* ---- LPPool ---- */

/* x -> |x|^p or x^p, in place after the first op; returns how many ops. */
static int lp_pre_ops(const sq_layer *layer, sq_eltwise_op ops[2]) {
  float p = layer->alpha;
  int n = 0;
  if (layer->lp_abs) ops[n++] = (sq_eltwise_op){dnnl_eltwise_abs, 0.0f, 0.0f};
  if (p == 2.0f)
    ops[n++] = (sq_eltwise_op){dnnl_eltwise_square, 0.0f, 0.0f};
  else if (p != 1.0f)
    ops[n++] = (sq_eltwise_op){dnnl_eltwise_pow, 1.0f, p};
  return n;
}

static seqrt_status lp_post_ops(const sq_layer *layer, dnnl_post_ops_t post_ops,
                                float kernel_size) {
  float p = layer->alpha;
  /* PyTorch: sign(avg) * relu(|avg|) * kernel size, which is the sum itself
   * (so a negative sum gives NaN for fractional 1/p, as in PyTorch). */
  SQ_DNNL(layer, "post-op",
          dnnl_post_ops_append_eltwise(post_ops, 1.0f, dnnl_eltwise_linear,
                                       kernel_size, 0.0f));
  if (p == 2.0f)
    SQ_DNNL(layer, "post-op",
            dnnl_post_ops_append_eltwise(post_ops, 1.0f, dnnl_eltwise_sqrt,
                                         0.0f, 0.0f));
  else if (p != 1.0f)
    SQ_DNNL(layer, "post-op",
            dnnl_post_ops_append_eltwise(post_ops, 1.0f, dnnl_eltwise_pow, 1.0f,
                                         1.0f / p));
  return SEQRT_OK;
}

/* The powers go to the spare buffer (the step is in place), the pool reads
 * them there; with p = 1 and no |x| the pool reads the input itself. */
static seqrt_status lp_add_pre_ops(sq_builder *b, sq_place *pool_from) {
  sq_eltwise_op ops[2];
  int n = lp_pre_ops(b->layer, ops);
  seqrt_status st = SEQRT_OK;
  *pool_from = n ? SQ_AT_OTHER : SQ_AT_SRC;
  for (int i = 0; i < n && st == SEQRT_OK; i++) {
    dnnl_eltwise_desc_t desc;
    SQ_DNNL(b->layer, "eltwise descriptor",
            dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_inference,
                                           ops[i].alg, &b->in_md, ops[i].alpha,
                                           ops[i].beta));
    dnnl_primitive_desc_t pd = NULL;
    st = sq_op_pd(b, &desc, NULL, "eltwise", &pd);
    sq_op_arg args[2] = {
        {DNNL_ARG_SRC, i == 0 ? SQ_AT_SRC : SQ_AT_OTHER, b->in_md},
        {DNNL_ARG_DST, SQ_AT_OTHER, b->in_md}};
    if (st == SEQRT_OK) st = sq_op_add_prim(b, pd, 2, args, NULL);
    dnnl_primitive_desc_destroy(pd);
  }
  return st;
}

static seqrt_status
build_lppool(sq_builder *b, const dnnl_dims_t out, const dnnl_dims_t strides,
             const dnnl_dims_t kernel, const dnnl_dims_t dilates,
             const dnnl_dims_t pad_l, const dnnl_dims_t pad_r) {
  const sq_layer *layer = b->layer;
  float p = layer->alpha;
  if (!(p > 0.0f) || !isfinite(p))
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (LPPool): p = %g (must be > 0)", layer->name,
                    (double)p);
  float kernel_size = 1.0f;
  for (int i = 0; i < layer->spatial; i++) kernel_size *= (float)kernel[i];
  sq_place pool_from;
  seqrt_status st = lp_add_pre_ops(b, &pool_from);
  dnnl_memory_desc_t dst;
  if (st == SEQRT_OK) st = sq_md_any(layer, layer->out.rank, out, &dst);
  if (st != SEQRT_OK) return st;
  dnnl_pooling_v2_desc_t desc;
  SQ_DNNL(layer, "pooling descriptor",
          dnnl_pooling_v2_forward_desc_init(
              &desc, dnnl_forward_inference, dnnl_pooling_avg_include_padding,
              &b->in_md, &dst, strides, kernel, dilates, pad_l, pad_r));
  dnnl_post_ops_t post_ops = NULL;
  dnnl_primitive_desc_t pd = NULL;
  SQ_DNNL(layer, "post-ops creation", dnnl_post_ops_create(&post_ops));
  st = lp_post_ops(layer, post_ops, kernel_size);
  if (st == SEQRT_OK) st = sq_op_pd(b, &desc, post_ops, "pooling", &pd);
  dnnl_post_ops_destroy(post_ops);
  if (st == SEQRT_OK) {
    b->src_md = b->in_md;
    b->dst_md = *sq_pd_md(pd, DNNL_ARG_DST);
    b->in_place = pool_from == SQ_AT_OTHER; /* the spare buffer is free */
    sq_op_arg args[2] = {{DNNL_ARG_SRC, pool_from, b->in_md},
                         {DNNL_ARG_DST, SQ_AT_DST, b->dst_md}};
    st = sq_op_add_prim(b, pd, 2, args, NULL);
  }
  dnnl_primitive_desc_destroy(pd);
  return st;
}
