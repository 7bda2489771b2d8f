/* REDUCE family: one oneDNN reduction over the layer's reduced dims, on
 * plain data. Without keepdims the output drops those dims of size 1,
 * which changes no byte: the step's output is a view of the reduction's.
 * Reduced dims that are all of size 1 leave each value on its own: then an
 * eltwise op (|x|, x^2 or a copy), as oneDNN has no reduction that reduces
 * nothing. NORMALIZE is three ops: the norm into the spare buffer, its
 * clip at epsilon there, and x divided by it (broadcast) into the output. */
#include <float.h>

#include "internal.h"

typedef struct reduce_recipe {
  dnnl_alg_kind_t reduction, single; /* single: the eltwise of one value */
  float p;
} reduce_recipe;

static bool reduce_recipe_of(sq_kind kind, reduce_recipe *r) {
  switch (kind) {
  case SQ_REDUCEMEAN:
    *r = (reduce_recipe){dnnl_reduction_mean, dnnl_eltwise_linear, 0.0f};
    return true;
  case SQ_REDUCESUM:
    *r = (reduce_recipe){dnnl_reduction_sum, dnnl_eltwise_linear, 0.0f};
    return true;
  case SQ_REDUCEMAX:
    *r = (reduce_recipe){dnnl_reduction_max, dnnl_eltwise_linear, 0.0f};
    return true;
  case SQ_REDUCEMIN:
    *r = (reduce_recipe){dnnl_reduction_min, dnnl_eltwise_linear, 0.0f};
    return true;
  case SQ_REDUCEPROD:
    *r = (reduce_recipe){dnnl_reduction_mul, dnnl_eltwise_linear, 0.0f};
    return true;
  case SQ_REDUCEL1:
    *r = (reduce_recipe){dnnl_reduction_norm_lp_sum, dnnl_eltwise_abs, 1.0f};
    return true;
  case SQ_REDUCEL2:
    *r = (reduce_recipe){dnnl_reduction_norm_lp_sum, dnnl_eltwise_abs, 2.0f};
    return true;
  case SQ_NORMALIZE:
    *r = (reduce_recipe){dnnl_reduction_norm_lp_sum, dnnl_eltwise_abs, 2.0f};
    return true;
  case SQ_REDUCESUMSQUARE:
    *r = (reduce_recipe){dnnl_reduction_norm_lp_power_p_sum,
                         dnnl_eltwise_square, 2.0f};
    return true;
  default: return false;
  }
}

static seqrt_status shape_error(const sq_layer *layer) {
  char in[128], out[128];
  return sq_error(SEQRT_ERR_INVALID_MODEL,
                  "layer '%s' (%s): its reduced dims do not turn %s into %s",
                  layer->name, sq_kind_name(layer->kind),
                  sq_shape_format(&layer->in, in, sizeof in),
                  sq_shape_format(&layer->out, out, sizeof out));
}

/* y = x / max(||x||_p, eps): reads x at SRC twice, so the step runs in
 * place and the norm lives in the spare buffer. */
static seqrt_status build_normalize(sq_builder *b, const dnnl_memory_desc_t *x,
                                    const dnnl_memory_desc_t *norm) {
  const sq_layer *layer = b->layer;
  dnnl_reduction_desc_t reduce;
  dnnl_eltwise_desc_t clip;
  dnnl_binary_desc_t divide;
  SQ_DNNL(layer, "reduction descriptor",
          dnnl_reduction_desc_init(&reduce, dnnl_reduction_norm_lp_sum, x, norm,
                                   layer->alpha, 0.0f));
  SQ_DNNL(layer, "eltwise descriptor",
          dnnl_eltwise_forward_desc_init(&clip, dnnl_forward_inference,
                                         dnnl_eltwise_clip, norm,
                                         layer->epsilon, FLT_MAX));
  SQ_DNNL(layer, "binary descriptor",
          dnnl_binary_desc_init(&divide, dnnl_binary_div, x, norm, x));
  const void *descs[3] = {&reduce, &clip, &divide};
  const char *what[3] = {"reduction", "eltwise", "binary"};
  const sq_op_arg args[3][3] = {
      {{DNNL_ARG_SRC, SQ_AT_SRC, *x}, {DNNL_ARG_DST, SQ_AT_OTHER, *norm}},
      {{DNNL_ARG_SRC, SQ_AT_OTHER, *norm}, {DNNL_ARG_DST, SQ_AT_OTHER, *norm}},
      {{DNNL_ARG_SRC_0, SQ_AT_SRC, *x},
       {DNNL_ARG_SRC_1, SQ_AT_OTHER, *norm},
       {DNNL_ARG_DST, SQ_AT_DST, *x}}};
  const int n_args[3] = {2, 2, 3};
  seqrt_status st = SEQRT_OK;
  for (int i = 0; i < 3 && st == SEQRT_OK; i++) {
    dnnl_primitive_desc_t pd = NULL;
    st = sq_op_pd(b, descs[i], NULL, what[i], &pd);
    if (st == SEQRT_OK) st = sq_op_add_prim(b, pd, n_args[i], args[i], NULL);
    dnnl_primitive_desc_destroy(pd);
  }
  b->src_md = *x;
  b->dst_md = *x;
  b->in_place = true;
  return st;
}

seqrt_status sq_build_reduce(sq_builder *b) {
  const sq_layer *layer = b->layer;
  int rank = layer->in.rank;
  reduce_recipe recipe;
  if (!reduce_recipe_of(layer->kind, &recipe) || layer->reduced[0])
    return shape_error(layer);
  dnnl_dims_t src_dims, dst_dims, out_dims;
  sq_dims(&layer->in, b->plan->batch, src_dims);
  sq_dims(&layer->out, b->plan->batch, out_dims);
  int64_t dst_count = 1;
  bool reduces = false;
  for (int k = 0; k < rank; k++) {
    dst_dims[k] = layer->reduced[k] ? 1 : src_dims[k];
    dst_count *= dst_dims[k];
    reduces |= dst_dims[k] != src_dims[k];
  }
  bool normalize = layer->kind == SQ_NORMALIZE;
  int64_t out_count = sq_shape_count(&layer->out, b->plan->batch);
  if (out_count !=
      (normalize ? sq_shape_count(&layer->in, b->plan->batch) : dst_count))
    return shape_error(layer);
  dnnl_memory_desc_t src, dst;
  seqrt_status st = sq_md_plain(layer, rank, src_dims, &src);
  if (st == SEQRT_OK) st = sq_md_plain(layer, rank, dst_dims, &dst);
  if (st == SEQRT_OK)
    st = sq_md_plain(layer, layer->out.rank, out_dims, &b->dst_md);
  if (st != SEQRT_OK) return st;
  if (normalize) return build_normalize(b, &src, &dst);
  if (!reduces) {
    dnnl_eltwise_desc_t single;
    SQ_DNNL(layer, "eltwise descriptor",
            dnnl_eltwise_forward_desc_init(&single, dnnl_forward_inference,
                                           recipe.single, &src, 1.0f, 0.0f));
    return sq_builder_create_pd(b, &single, "eltwise");
  }
  dnnl_reduction_desc_t desc;
  SQ_DNNL(layer, "reduction descriptor",
          dnnl_reduction_desc_init(&desc, recipe.reduction, &src, &dst,
                                   recipe.p, 0.0f));
  return sq_builder_create_pd(b, &desc, "reduction");
}
