/* BINARY family: y = x + w or y = x * w, w a constant the layer holds in
 * x's rank with dims of 1 where it broadcasts. One oneDNN binary primitive
 * on x's layout (oneDNN broadcasts w over the dims where it has 1; the plan
 * moves it to the plain layout where oneDNN has only its reference kernel
 * for x's). */
#include "internal.h"

seqrt_status sq_build_binary(sq_builder *b) {
  const sq_layer *layer = b->layer;
  int rank = layer->in.rank;
  const sq_weights *w = &layer->weight;
  bool fits = w->data && w->shape.rank == rank && w->shape.dims[0] == 1;
  for (int d = 1; fits && d < rank; d++)
    fits = w->shape.dims[d] == 1 || w->shape.dims[d] == layer->in.dims[d];
  if (!fits) {
    char in[128];
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (%s): its constant does not broadcast to %s",
                    layer->name, sq_kind_name(layer->kind),
                    sq_shape_format(&layer->in, in, sizeof in));
  }
  dnnl_dims_t dims;
  sq_dims(&w->shape, 1, dims);
  dnnl_memory_desc_t constant;
  seqrt_status st = sq_md_plain(layer, rank, dims, &constant);
  if (st != SEQRT_OK) return st;
  dnnl_alg_kind_t alg =
      layer->kind == SQ_ADDCONST ? dnnl_binary_add : dnnl_binary_mul;
  dnnl_binary_desc_t desc;
  SQ_DNNL(layer, "binary descriptor",
          dnnl_binary_desc_init(&desc, alg, &b->in_md, &constant, &b->in_md));
  st = sq_builder_create_pd(b, &desc, "binary");
  return st == SEQRT_OK
             ? sq_builder_add_const(b, DNNL_ARG_SRC_1, &constant, w->data)
             : st;
}
