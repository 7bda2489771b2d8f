/* GATE (GLU): split the input in halves a, b along `axis`; y = a *
 * sigmoid(b). One oneDNN binary primitive on views of the plain input:
 * b + 0, then post-ops sigmoid and * a. */
#include <string.h>

#include "internal.h"

static seqrt_status check_glu(const sq_layer *layer, const dnnl_dims_t in,
                              const dnnl_dims_t out) {
  int rank = layer->in.rank, axis = layer->axis;
  if (axis < 1 || axis >= rank)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "layer '%s' (GLU): axis %d (supported: 1..%d, not the "
                    "batch)",
                    layer->name, axis, rank - 1);
  bool ok = layer->out.rank == rank && in[axis] % 2 == 0;
  for (int i = 0; ok && i < rank; i++)
    ok = out[i] == (i == axis ? in[i] / 2 : in[i]);
  if (!ok)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (GLU): dim %d of the input (%lld) must be even "
                    "and halved in the output",
                    layer->name, axis, (long long)in[axis]);
  return SEQRT_OK;
}

/* The halves of the plain input as [out]-shaped views. */
static seqrt_status halves(const sq_builder *b, const dnnl_dims_t out,
                           dnnl_memory_desc_t *first,
                           dnnl_memory_desc_t *second) {
  const sq_layer *layer = b->layer;
  dnnl_dims_t offsets = {0};
  SQ_DNNL(layer, "view of the first half",
          dnnl_memory_desc_init_submemory(first, &b->src_md, out, offsets));
  offsets[layer->axis] = out[layer->axis];
  SQ_DNNL(layer, "view of the second half",
          dnnl_memory_desc_init_submemory(second, &b->src_md, out, offsets));
  return SEQRT_OK;
}

static seqrt_status gate_pd(sq_builder *b, const dnnl_memory_desc_t *a,
                            const dnnl_memory_desc_t *gate,
                            const dnnl_memory_desc_t *zero,
                            dnnl_primitive_desc_t *pd) {
  const sq_layer *layer = b->layer;
  dnnl_binary_desc_t desc;
  SQ_DNNL(
      layer, "binary descriptor",
      dnnl_binary_desc_init(&desc, dnnl_binary_add, gate, zero, &b->dst_md));
  dnnl_post_ops_t post_ops = NULL;
  SQ_DNNL(layer, "post-ops creation", dnnl_post_ops_create(&post_ops));
  dnnl_status_t st = dnnl_post_ops_append_eltwise(
      post_ops, 1.0f, dnnl_eltwise_logistic, 0.0f, 0.0f);
  if (st == dnnl_success)
    st = dnnl_post_ops_append_binary(post_ops, dnnl_binary_mul, a);
  seqrt_status status = st == dnnl_success
                            ? sq_op_pd(b, &desc, post_ops, "binary", pd)
                            : sq_dnnl_error(layer, "post-op", st);
  dnnl_post_ops_destroy(post_ops);
  return status;
}

seqrt_status sq_build_gate(sq_builder *b) {
  const sq_layer *layer = b->layer;
  int rank = layer->in.rank;
  dnnl_dims_t in, out, ones;
  sq_dims(&layer->in, b->plan->batch, in);
  sq_dims(&layer->out, b->plan->batch, out);
  seqrt_status st = check_glu(layer, in, out);
  if (st == SEQRT_OK) st = sq_plain_io(b);
  dnnl_memory_desc_t a = {0}, gate = {0}, zero = {0}; /* read on failure */
  for (int i = 0; i < rank; i++) ones[i] = 1;
  if (st == SEQRT_OK) st = halves(b, out, &a, &gate);
  if (st == SEQRT_OK) st = sq_md_plain(layer, rank, ones, &zero);
  dnnl_primitive_desc_t pd = NULL;
  if (st == SEQRT_OK) st = gate_pd(b, &a, &gate, &zero, &pd);
  sq_op *op = NULL;
  sq_op_arg args[3] = {
      {DNNL_ARG_SRC_0, SQ_AT_SRC, gate},
      {DNNL_ARG_DST, SQ_AT_DST, b->dst_md},
      {DNNL_ARG_ATTR_MULTIPLE_POST_OP(1) | DNNL_ARG_SRC_1, SQ_AT_SRC, a}};
  if (st == SEQRT_OK) st = sq_op_add_prim(b, pd, 3, args, &op);
  float *zero_value = st == SEQRT_OK ? sq_op_owned_floats(op, 1) : NULL;
  if (st == SEQRT_OK && !zero_value)
    st = sq_error(SEQRT_ERR_NOMEM, "layer '%s' (GLU): out of memory",
                  layer->name);
  if (st == SEQRT_OK) {
    *zero_value = 0.0f;
    st = sq_op_add_const(b, op, pd, DNNL_ARG_SRC_1, &zero, zero_value);
  }
  dnnl_primitive_desc_destroy(pd);
  return st;
}
