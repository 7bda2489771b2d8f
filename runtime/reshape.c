/* RESHAPE family (Flatten, Reshape): a view. Plain data is reinterpreted
 * with the new dims; data in a blocked layout is first reordered to plain. */
#include "internal.h"

seqrt_status sq_build_reshape(sq_builder *b) {
  const sq_layer *layer = b->layer;
  int64_t batch = b->plan->batch;
  if (sq_shape_count(&layer->in, batch) != sq_shape_count(&layer->out, batch)) {
    char in[128], out[128];
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (%s): cannot view %s as %s (element counts "
                    "differ)",
                    layer->name, sq_kind_name(layer->kind),
                    sq_shape_format(&layer->in, in, sizeof in),
                    sq_shape_format(&layer->out, out, sizeof out));
  }
  dnnl_dims_t in, out;
  sq_dims(&layer->in, batch, in);
  sq_dims(&layer->out, batch, out);
  dnnl_memory_desc_t plain_in;
  seqrt_status st = sq_md_plain(layer, layer->in.rank, in, &plain_in);
  if (st == SEQRT_OK) st = sq_md_plain(layer, layer->out.rank, out, &b->dst_md);
  if (st != SEQRT_OK) return st;
  b->src_md = b->in_md;
  if (sq_md_is_plain(&b->in_md)) return SEQRT_OK;
  SQ_DNNL(layer, "reorder to plain layout",
          dnnl_reorder_primitive_desc_create(&b->pd, &b->in_md, b->plan->engine,
                                             &plain_in, b->plan->engine,
                                             b->attr));
  return SEQRT_OK;
}
