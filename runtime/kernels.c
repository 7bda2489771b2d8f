/* C kernels for the elementwise kinds no chain of oneDNN eltwise ops can
 * express: they need x itself next to a function of x (Softsign,
 * Tanhshrink, Softshrink) or a step at a threshold (Hardshrink,
 * Threshold). Plain layout, in place. */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

/* Elementwise loops this long are split over the step's threads. */
#define SQ_KERNEL_PARALLEL_MIN 65536

seqrt_status sq_plain_io(sq_builder *b) {
  const sq_layer *layer = b->layer;
  dnnl_dims_t in, out;
  sq_dims(&layer->in, b->plan->batch, in);
  sq_dims(&layer->out, b->plan->batch, out);
  seqrt_status st = sq_md_plain(layer, layer->in.rank, in, &b->src_md);
  if (st == SEQRT_OK) st = sq_md_plain(layer, layer->out.rank, out, &b->dst_md);
  return st;
}

typedef struct eltwise_params {
  sq_kind kind;
  float alpha, beta;
  int64_t count;
} eltwise_params;

static void softsign(const float *x, float *y, int64_t n) {
#pragma omp parallel for if (n >= SQ_KERNEL_PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + fabsf(x[i]));
}

static void tanhshrink(const float *x, float *y, int64_t n) {
#pragma omp parallel for if (n >= SQ_KERNEL_PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) y[i] = x[i] - tanhf(x[i]);
}

/* x - lambda above lambda, x + lambda below -lambda, 0 between. */
static void softshrink(const float *x, float *y, int64_t n, float lambda) {
#pragma omp parallel for if (n >= SQ_KERNEL_PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    y[i] = v > lambda ? v - lambda : v < -lambda ? v + lambda : 0.0f;
  }
}

/* x where |x| > lambda, 0 elsewhere. */
static void hardshrink(const float *x, float *y, int64_t n, float lambda) {
#pragma omp parallel for if (n >= SQ_KERNEL_PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    y[i] = (v > lambda || v < -lambda) ? v : 0.0f;
  }
}

/* x above the threshold, `value` elsewhere. */
static void threshold(const float *x, float *y, int64_t n, float th,
                      float value) {
#pragma omp parallel for if (n >= SQ_KERNEL_PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) y[i] = x[i] > th ? x[i] : value;
}

static seqrt_status eltwise_kernel(const sq_op *op, const void *src, void *dst,
                                   void *scratch) {
  const eltwise_params *p = op->params;
  const float *x = src;
  float *y = dst;
  switch (p->kind) {
  case SQ_SOFTSIGN: softsign(x, y, p->count); break;
  case SQ_TANHSHRINK: tanhshrink(x, y, p->count); break;
  case SQ_SOFTSHRINK: softshrink(x, y, p->count, p->alpha); break;
  case SQ_HARDSHRINK: hardshrink(x, y, p->count, p->alpha); break;
  case SQ_THRESHOLD: threshold(x, y, p->count, p->alpha, p->beta); break;
  default:
    return sq_error(SEQRT_ERR_UNSUPPORTED, "layer '%s' (%s): no kernel",
                    op->layer->name, sq_kind_name(op->layer->kind));
  }
  return SEQRT_OK;
}

seqrt_status sq_build_eltwise_kernel(sq_builder *b) {
  const sq_layer *layer = b->layer;
  switch (layer->kind) {
  case SQ_SOFTSIGN:
  case SQ_TANHSHRINK:
  case SQ_HARDSHRINK:
  case SQ_THRESHOLD: break;
  case SQ_SOFTSHRINK:
    if (layer->alpha < 0.0f)
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "layer '%s' (Softshrink): lambda %g must be >= 0",
                      layer->name, (double)layer->alpha);
    break;
  default:
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "layer '%s' (%s): no oneDNN eltwise algorithm or kernel",
                    layer->name, sq_kind_name(layer->kind));
  }
  eltwise_params *p = malloc(sizeof *p);
  if (!p)
    return sq_error(SEQRT_ERR_NOMEM, "layer '%s' (%s): out of memory",
                    layer->name, sq_kind_name(layer->kind));
  *p = (eltwise_params){layer->kind, layer->alpha, layer->beta,
                        sq_shape_count(&layer->in, b->plan->batch)};
  seqrt_status st = sq_plain_io(b);
  if (st != SEQRT_OK) {
    free(p);
    return st;
  }
  b->in_place = true;
  return sq_op_add_kernel(b, eltwise_kernel, p, SQ_AT_SRC, SQ_AT_DST);
}
