/* EMBEDDING: int64 indices (the chain's input, so only as the first layer)
 * -> rows of the table. A C kernel: oneDNN has no gather. Every index is
 * checked at run time; one out of range fails the run with an error naming
 * it. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct embedding_params {
  int64_t count; /* indices */
  int64_t rows, dim;
  const float *table;
} embedding_params;

static seqrt_status embedding_kernel(const sq_op *op, const void *src,
                                     void *dst, void *scratch) {
  const embedding_params *p = op->params;
  const int64_t *index = src;
  float *y = dst;
  for (int64_t i = 0; i < p->count; i++)
    if (index[i] < 0 || index[i] >= p->rows)
      return sq_error(SEQRT_ERR_INVALID_ARGUMENT,
                      "layer '%s' (Embedding): index %lld at position %lld is "
                      "out of range [0, %lld)",
                      op->layer->name, (long long)index[i], (long long)i,
                      (long long)p->rows);
  size_t row_bytes = (size_t)p->dim * sizeof(float);
#pragma omp parallel for if (p->count * p->dim >= 65536)
  for (int64_t i = 0; i < p->count; i++)
    memcpy(y + i * p->dim, p->table + index[i] * p->dim, row_bytes);
  return SEQRT_OK;
}

static seqrt_status check_embedding(const sq_builder *b, int64_t *dim) {
  const sq_layer *layer = b->layer;
  const sq_chain *chain = b->plan->chain;
  if (layer != &chain->layers[0] || chain->input_dtype != SEQRT_INT64)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "layer '%s' (Embedding): must be the first layer, reading "
                    "the model's int64 input",
                    layer->name);
  int rank = layer->in.rank;
  bool ok = layer->out.rank == rank + 1;
  for (int i = 0; ok && i < rank; i++)
    ok = layer->out.dims[i] == layer->in.dims[i];
  *dim = ok ? layer->out.dims[rank] : 0;
  if (!ok || *dim < 1 || !layer->weight.data || layer->weight.count % *dim)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (Embedding): needs a [rows, dim] table and an "
                    "output of the input's shape + [dim]",
                    layer->name);
  return SEQRT_OK;
}

seqrt_status sq_build_embedding(sq_builder *b) {
  const sq_layer *layer = b->layer;
  int64_t dim = 0;
  seqrt_status st = check_embedding(b, &dim);
  if (st != SEQRT_OK) return st;
  embedding_params *p = malloc(sizeof *p);
  if (!p)
    return sq_error(SEQRT_ERR_NOMEM, "layer '%s' (Embedding): out of memory",
                    layer->name);
  *p = (embedding_params){sq_shape_count(&layer->in, b->plan->batch),
                          layer->weight.count / dim, dim, layer->weight.data};
  /* oneDNN has no 64-bit integers: the indices are described as pairs of
   * floats, only to size and pass the buffer. */
  dnnl_dims_t src = {2 * p->count}, out;
  sq_dims(&layer->out, b->plan->batch, out);
  st = sq_md_plain(layer, 1, src, &b->src_md);
  if (st == SEQRT_OK) st = sq_md_plain(layer, layer->out.rank, out, &b->dst_md);
  if (st != SEQRT_OK) {
    free(p);
    return st;
  }
  b->plan->shared_const_bytes += (size_t)layer->weight.count * sizeof(float);
  return sq_op_add_kernel(b, embedding_kernel, p, SQ_AT_SRC, SQ_AT_DST);
}
