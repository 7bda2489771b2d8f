/* SOFTMAX family: softmax / log-softmax / softmin over one axis of plain
 * data, or over the second dim of a 2-D view for coerce_2d (opset < 13). */
#include <string.h>

#include "internal.h"

/* Softmin(x) = softmax(-x): -x into the output buffer, then the softmax in
 * place there. */
static seqrt_status build_softmin(sq_builder *b,
                                  const dnnl_memory_desc_t *plain,
                                  const dnnl_memory_desc_t *data,
                                  const dnnl_softmax_v2_desc_t *softmax) {
  dnnl_eltwise_desc_t negate;
  SQ_DNNL(b->layer, "eltwise descriptor",
          dnnl_eltwise_forward_desc_init(&negate, dnnl_forward_inference,
                                         dnnl_eltwise_linear, data, -1.0f,
                                         0.0f));
  const void *descs[2] = {&negate, softmax};
  const char *what[2] = {"eltwise", "softmax"};
  seqrt_status st = SEQRT_OK;
  for (int i = 0; i < 2 && st == SEQRT_OK; i++) {
    dnnl_primitive_desc_t pd = NULL;
    sq_op_arg args[2] = {{DNNL_ARG_SRC, i == 0 ? SQ_AT_SRC : SQ_AT_DST, *data},
                         {DNNL_ARG_DST, SQ_AT_DST, *data}};
    st = sq_op_pd(b, descs[i], NULL, what[i], &pd);
    if (st == SEQRT_OK) st = sq_op_add_prim(b, pd, 2, args, NULL);
    dnnl_primitive_desc_destroy(pd);
  }
  b->src_md = *plain;
  b->dst_md = *plain;
  b->in_place = true;
  return st;
}

seqrt_status sq_build_softmax(sq_builder *b) {
  const sq_layer *layer = b->layer;
  int rank = layer->in.rank;
  if (layer->axis < 0 || layer->axis >= rank)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (%s): axis %d out of range for rank %d",
                    layer->name, sq_kind_name(layer->kind), layer->axis, rank);
  if (layer->out.rank != rank ||
      memcmp(layer->in.dims, layer->out.dims, sizeof(int64_t) * (size_t)rank))
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (%s): output shape differs from the input",
                    layer->name, sq_kind_name(layer->kind));
  dnnl_dims_t dims;
  sq_dims(&layer->in, b->plan->batch, dims);
  dnnl_memory_desc_t plain, data;
  seqrt_status st = sq_md_plain(layer, rank, dims, &plain);
  if (st != SEQRT_OK) return st;
  int axis = layer->axis;
  data = plain;
  if (layer->coerce_2d) {
    dnnl_dims_t view = {1, 1};
    for (int i = 0; i < rank; i++) view[i < axis ? 0 : 1] *= dims[i];
    st = sq_md_plain(layer, 2, view, &data);
    if (st != SEQRT_OK) return st;
    axis = 1;
    b->src_md = plain;
    b->dst_md = plain;
  }
  dnnl_alg_kind_t alg =
      layer->kind == SQ_LOGSOFTMAX ? dnnl_softmax_log : dnnl_softmax_accurate;
  dnnl_softmax_v2_desc_t desc;
  SQ_DNNL(layer, "softmax descriptor",
          dnnl_softmax_v2_forward_desc_init(&desc, dnnl_forward_inference, alg,
                                            &data, &data, axis));
  if (layer->kind == SQ_SOFTMIN) return build_softmin(b, &plain, &data, &desc);
  return sq_builder_create_pd(b, &desc, "softmax");
}
