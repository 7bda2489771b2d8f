/* ELTWISE: y = f(x). Most kinds are a short recipe of oneDNN eltwise ops
 * (the one table below, shared with post-op fusion); a one-op recipe runs
 * in place on any layout, a longer one as in-place ops one after the other.
 * PReLU is oneDNN's prelu primitive; the kinds no eltwise chain expresses
 * (they need x itself next to f(x)) are C kernels (kernels.c). */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

#define OP(alg_, a_, b_) ((sq_eltwise_op){dnnl_eltwise_##alg_, (a_), (b_)})

/* The kind -> recipe table, with oneDNN 2.6's definitions (dnnl_types.h):
 * relu(a): x > 0 ? x : a*x; elu(a): x > 0 ? x : a*(e^x - 1); linear(a, b):
 * a*x + b; clip(a, b): min(max(x, a), b); soft_relu: log(1 + e^x);
 * swish(a): x * sigmoid(a*x); hardswish: x * relu6(x + 3) / 6; pow(a, b):
 * a * x^b. */
int sq_eltwise_recipe(const sq_layer *layer, sq_eltwise_op r[SQ_MAX_RECIPE]) {
  float a = layer->alpha, b = layer->beta;
  switch (layer->kind) {
  case SQ_RELU: r[0] = OP(relu, 0.0f, 0.0f); return 1;
  case SQ_LEAKYRELU: r[0] = OP(relu, a, 0.0f); return 1;
  case SQ_RELU6:
  case SQ_HARDTANH: r[0] = OP(clip, a, b); return 1;
  case SQ_SIGMOID: r[0] = OP(logistic, 0.0f, 0.0f); return 1;
  case SQ_LOGSIGMOID: r[0] = OP(logsigmoid, 0.0f, 0.0f); return 1;
  case SQ_TANH: r[0] = OP(tanh, 0.0f, 0.0f); return 1;
  case SQ_ELU: r[0] = OP(elu, a, 0.0f); return 1;
  case SQ_GELU: r[0] = OP(gelu_erf, 0.0f, 0.0f); return 1;
  case SQ_GELU_TANH: r[0] = OP(gelu_tanh, 0.0f, 0.0f); return 1;
  case SQ_SILU: r[0] = OP(swish, 1.0f, 0.0f); return 1;
  case SQ_MISH: r[0] = OP(mish, 0.0f, 0.0f); return 1;
  case SQ_HARDSWISH: r[0] = OP(hardswish, 0.0f, 0.0f); return 1;
  case SQ_AFFINE: r[0] = OP(linear, a, b); return 1;
  case SQ_POW: r[0] = OP(pow, a, b); return 1;
  case SQ_ABS: r[0] = OP(abs, 0.0f, 0.0f); return 1;
  case SQ_SQRT: r[0] = OP(sqrt, 0.0f, 0.0f); return 1;
  case SQ_EXP: r[0] = OP(exp, 0.0f, 0.0f); return 1;
  case SQ_LOG: r[0] = OP(log, 0.0f, 0.0f); return 1;
  case SQ_SELU: /* scale * elu(alpha) */
    r[0] = OP(elu, a, 0.0f);
    r[1] = OP(linear, b, 0.0f);
    return 2;
  case SQ_CELU: /* alpha * elu_1(x / alpha) */
    if (a == 0.0f) return 0;
    if (a == 1.0f) {
      r[0] = OP(elu, 1.0f, 0.0f);
      return 1;
    }
    r[0] = OP(linear, 1.0f / a, 0.0f);
    r[1] = OP(elu, 1.0f, 0.0f);
    r[2] = OP(pow, a, 1.0f); /* a * x: not a second linear (see below) */
    return 3;
  case SQ_HARDSIGMOID: /* clip(alpha*x + beta, 0, 1) */
    r[0] = OP(linear, a, b);
    r[1] = OP(clip, 0.0f, 1.0f);
    return 2;
  case SQ_SOFTPLUS: /* soft_relu(beta*x) / beta */
    if (a == 0.0f) return 0;
    if (a == 1.0f) {
      r[0] = OP(soft_relu, 0.0f, 0.0f);
      return 1;
    }
    r[0] = OP(linear, a, 0.0f);
    r[1] = OP(soft_relu, 0.0f, 0.0f);
    r[2] = OP(pow, 1.0f / a, 1.0f);
    return 3;
  default: return 0; /* PReLU, the C kernels */
  }
}

/* oneDNN 2.6's jit post-op injector keeps one eltwise injector per
 * algorithm, made with the first such post-op's alpha and beta: a second
 * post-op of that algorithm with other parameters would silently compute
 * the first one's (measured: CELU fused as linear, elu, linear). So a
 * chain may not repeat an algorithm with other parameters, within a recipe
 * (hence pow(a, 1) for a second scale) or across layers. */
static bool clashes(const sq_eltwise_op *chain, int n,
                    const sq_eltwise_op *op) {
  for (int i = 0; i < n; i++)
    if (chain[i].alg == op->alg &&
        (chain[i].alpha != op->alpha || chain[i].beta != op->beta))
      return true;
  return false;
}

int sq_eltwise_fusable_count(const sq_layer *layers, int n) {
  sq_eltwise_op chain[SQ_MAX_FUSED_OPS];
  int used = 0;
  for (int i = 0; i < n; i++) {
    sq_eltwise_op recipe[SQ_MAX_RECIPE];
    int k = sq_kind_family(layers[i].kind) == SQ_FAMILY_ELTWISE
                ? sq_eltwise_recipe(&layers[i], recipe)
                : 0;
    if (k == 0 || used + k > SQ_MAX_FUSED_OPS) return i;
    for (int j = 0; j < k; j++) {
      if (clashes(chain, used, &recipe[j])) return i;
      chain[used++] = recipe[j];
    }
  }
  return n;
}

seqrt_status sq_eltwise_append_post_ops(const sq_layer *layer,
                                        dnnl_post_ops_t post_ops) {
  sq_eltwise_op recipe[SQ_MAX_RECIPE];
  int n = sq_eltwise_recipe(layer, recipe);
  if (n == 0)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "layer '%s' (%s): not expressible as oneDNN post-ops",
                    layer->name, sq_kind_name(layer->kind));
  for (int i = 0; i < n; i++)
    SQ_DNNL(layer, "post-op",
            dnnl_post_ops_append_eltwise(post_ops, 1.0f, recipe[i].alg,
                                         recipe[i].alpha, recipe[i].beta));
  return SEQRT_OK;
}

/* A longer recipe: in-place ops on the step's buffer, each one jit-able
 * (oneDNN's eltwise with post-ops would only have a reference kernel). */
static seqrt_status build_recipe(sq_builder *b, const sq_eltwise_op *recipe,
                                 int n) {
  seqrt_status st = SEQRT_OK;
  for (int i = 0; i < n && st == SEQRT_OK; i++) {
    dnnl_eltwise_desc_t desc;
    SQ_DNNL(b->layer, "eltwise descriptor",
            dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_inference,
                                           recipe[i].alg, &b->in_md,
                                           recipe[i].alpha, recipe[i].beta));
    dnnl_primitive_desc_t pd = NULL;
    st = sq_op_pd(b, &desc, NULL, "eltwise", &pd);
    sq_op_arg args[2] = {
        {DNNL_ARG_SRC, i == 0 ? SQ_AT_SRC : SQ_AT_DST, b->in_md},
        {DNNL_ARG_DST, SQ_AT_DST, b->in_md}};
    if (st == SEQRT_OK) st = sq_op_add_prim(b, pd, 2, args, NULL);
    dnnl_primitive_desc_destroy(pd);
  }
  b->src_md = b->in_md;
  b->dst_md = b->in_md;
  b->in_place = true;
  return st;
}

/* PReLU: slopes [C] (or one) along dim 1, broadcast over the rest. */
static seqrt_status build_prelu(sq_builder *b) {
  const sq_layer *layer = b->layer;
  int rank = layer->in.rank;
  dnnl_dims_t dims, wdims;
  sq_dims(&layer->in, b->plan->batch, dims);
  int64_t channels = rank > 1 ? dims[1] : 1;
  int64_t slopes = layer->weight.count == 1 ? 1 : channels;
  seqrt_status st =
      sq_check_weights(layer, &layer->weight, "slope", slopes, true);
  if (st != SEQRT_OK) return st;
  for (int i = 0; i < rank; i++) wdims[i] = i == 1 ? slopes : 1;
  dnnl_memory_desc_t weights, user_weights;
  st = sq_md_any(layer, rank, wdims, &weights);
  if (st == SEQRT_OK) st = sq_md_plain(layer, rank, wdims, &user_weights);
  if (st != SEQRT_OK) return st;
  dnnl_prelu_desc_t desc;
  SQ_DNNL(layer, "prelu descriptor",
          dnnl_prelu_forward_desc_init(&desc, dnnl_forward_inference, &b->in_md,
                                       &weights));
  st = sq_builder_create_pd(b, &desc, "prelu");
  if (st == SEQRT_OK)
    st = sq_builder_add_const(b, DNNL_ARG_WEIGHTS, &user_weights,
                              layer->weight.data);
  return st;
}

static seqrt_status check_params(const sq_layer *layer) {
  if ((layer->kind == SQ_CELU || layer->kind == SQ_SOFTPLUS) &&
      layer->alpha == 0.0f)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (%s): %s must not be 0", layer->name,
                    sq_kind_name(layer->kind),
                    layer->kind == SQ_CELU ? "alpha" : "beta");
  if (!isfinite(layer->alpha) || !isfinite(layer->beta))
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (%s): parameters must be finite", layer->name,
                    sq_kind_name(layer->kind));
  return SEQRT_OK;
}

seqrt_status sq_build_eltwise(sq_builder *b) {
  const sq_layer *layer = b->layer;
  if (sq_shape_count(&layer->in, b->plan->batch) !=
      sq_shape_count(&layer->out, b->plan->batch))
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (%s): output shape differs from the input",
                    layer->name, sq_kind_name(layer->kind));
  seqrt_status st = check_params(layer);
  if (st != SEQRT_OK) return st;
  if (layer->kind == SQ_PRELU) return build_prelu(b);
  sq_eltwise_op recipe[SQ_MAX_RECIPE];
  int n = sq_eltwise_recipe(layer, recipe);
  if (n == 0) return sq_build_eltwise_kernel(b);
  if (n > 1) return build_recipe(b, recipe, n);
  dnnl_eltwise_desc_t desc;
  SQ_DNNL(layer, "eltwise descriptor",
          dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_inference,
                                         recipe[0].alg, &b->in_md,
                                         recipe[0].alpha, recipe[0].beta));
  b->in_place = true;
  return sq_builder_create_pd(b, &desc, "eltwise");
}

bool sq_only_relus(const sq_layer *layers, int first, int last) {
  for (int i = first; i <= last; i++)
    if (layers[i].kind != SQ_RELU) return false;
  return true;
}
