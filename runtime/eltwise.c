/* ELTWISE: y = f(x) in place on any layout; also the post-ops of fused
 * plans. */
#include "internal.h"

static const struct {
  sq_kind kind;
  dnnl_alg_kind_t alg;
  bool takes_alpha; /* LeakyReLU slope, ELU alpha */
} eltwise_table[] = {
    {SQ_RELU, dnnl_eltwise_relu, false},
    {SQ_LEAKYRELU, dnnl_eltwise_relu, true},
    {SQ_SIGMOID, dnnl_eltwise_logistic, false},
    {SQ_TANH, dnnl_eltwise_tanh, false},
    {SQ_ELU, dnnl_eltwise_elu, true},
};

seqrt_status sq_eltwise_params(const sq_layer *layer, dnnl_alg_kind_t *alg,
                               float *alpha, float *beta) {
  for (size_t i = 0; i < sizeof eltwise_table / sizeof *eltwise_table; i++) {
    if (eltwise_table[i].kind != layer->kind) continue;
    *alg = eltwise_table[i].alg;
    *alpha = eltwise_table[i].takes_alpha ? layer->alpha : 0.0f;
    *beta = 0.0f;
    return SEQRT_OK;
  }
  return sq_error(SEQRT_ERR_UNSUPPORTED,
                  "layer '%s' (%s): no oneDNN eltwise algorithm", layer->name,
                  sq_kind_name(layer->kind));
}

seqrt_status sq_build_eltwise(sq_builder *b) {
  const sq_layer *layer = b->layer;
  dnnl_alg_kind_t alg = dnnl_alg_kind_undef;
  float alpha = 0.0f, beta = 0.0f;
  if (sq_shape_count(&layer->in, b->plan->batch) !=
      sq_shape_count(&layer->out, b->plan->batch))
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (%s): output shape differs from the input",
                    layer->name, sq_kind_name(layer->kind));
  seqrt_status st = sq_eltwise_params(layer, &alg, &alpha, &beta);
  if (st != SEQRT_OK) return st;
  dnnl_eltwise_desc_t desc;
  SQ_DNNL(layer, "eltwise descriptor",
          dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_inference, alg,
                                         &b->in_md, alpha, beta));
  b->in_place = true;
  return sq_builder_create_pd(b, &desc, "eltwise");
}
