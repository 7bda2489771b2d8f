/* LRN across channels: y = x * (k + alpha/size * sum of x^2 over a window
 * of `size` channels)^-beta, the window [c - size/2, c + (size-1)/2]
 * clipped to the channels (PyTorch's LocalResponseNorm). oneDNN's LRN
 * centres its window on c, which is the same for odd sizes; even sizes run
 * a C kernel. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct lrn_params {
  int64_t batch, channels, spatial, size;
  float alpha, beta, k;
} lrn_params;

/* One sample's [C, S] plane. */
static void lrn_plane(const lrn_params *p, const float *x, float *y) {
  int64_t c_count = p->channels, s_count = p->spatial;
  int64_t before = p->size / 2, after = (p->size - 1) / 2;
  float scale = p->alpha / (float)p->size;
  for (int64_t c = 0; c < c_count; c++) {
    int64_t lo = c - before < 0 ? 0 : c - before;
    int64_t hi = c + after >= c_count ? c_count - 1 : c + after;
    for (int64_t s = 0; s < s_count; s++) {
      float sum = 0.0f;
      for (int64_t j = lo; j <= hi; j++) {
        float v = x[j * s_count + s];
        sum += v * v;
      }
      y[c * s_count + s] =
          x[c * s_count + s] * powf(p->k + scale * sum, -p->beta);
    }
  }
}

static seqrt_status lrn_kernel(const sq_op *op, const void *src, void *dst,
                               void *scratch) {
  const lrn_params *p = op->params;
  const float *x = src;
  float *y = dst;
  int64_t plane = p->channels * p->spatial;
#pragma omp parallel for if (p->batch > 1 && plane * p->size >= 65536)
  for (int64_t n = 0; n < p->batch; n++)
    lrn_plane(p, x + n * plane, y + n * plane);
  return SEQRT_OK;
}

static seqrt_status build_lrn_kernel(sq_builder *b, const dnnl_dims_t dims) {
  const sq_layer *layer = b->layer;
  lrn_params *p = malloc(sizeof *p);
  if (!p)
    return sq_error(SEQRT_ERR_NOMEM,
                    "layer '%s' (LocalResponseNorm): out of "
                    "memory",
                    layer->name);
  int64_t count = sq_shape_count(&layer->in, b->plan->batch);
  *p = (lrn_params){dims[0],          dims[1],      count / (dims[0] * dims[1]),
                    layer->kernel[0], layer->alpha, layer->beta,
                    layer->epsilon};
  seqrt_status st = sq_plain_io(b);
  if (st != SEQRT_OK) {
    free(p);
    return st;
  }
  return sq_op_add_kernel(b, lrn_kernel, p, SQ_AT_SRC, SQ_AT_DST);
}

seqrt_status sq_build_lrn(sq_builder *b) {
  const sq_layer *layer = b->layer;
  int rank = layer->in.rank;
  int64_t size = layer->kernel[0];
  if (rank < 2 || layer->out.rank != rank ||
      memcmp(layer->in.dims, layer->out.dims, sizeof(int64_t) * (size_t)rank))
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (LocalResponseNorm): needs [N, C, ...] input "
                    "and an output of the same shape",
                    layer->name);
  if (size < 1 || !isfinite(layer->alpha) || !isfinite(layer->beta) ||
      !isfinite(layer->epsilon))
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (LocalResponseNorm): size %lld, alpha %g, "
                    "beta %g, k %g",
                    layer->name, (long long)size, (double)layer->alpha,
                    (double)layer->beta, (double)layer->epsilon);
  dnnl_dims_t dims;
  sq_dims(&layer->in, b->plan->batch, dims);
  if (size % 2 == 0) return build_lrn_kernel(b, dims);
  dnnl_memory_desc_t data = b->in_md;
  if (rank > 5) { /* oneDNN takes up to 3 spatial dims: flatten them */
    dnnl_dims_t view = {
        dims[0], dims[1],
        sq_shape_count(&layer->in, b->plan->batch) / (dims[0] * dims[1]), 1};
    seqrt_status st = sq_plain_io(b);
    if (st == SEQRT_OK) st = sq_md_plain(layer, 4, view, &data);
    if (st != SEQRT_OK) return st;
  }
  dnnl_lrn_desc_t desc;
  SQ_DNNL(layer, "lrn descriptor",
          dnnl_lrn_forward_desc_init(
              &desc, dnnl_forward_inference, dnnl_lrn_across_channels, &data,
              size, layer->alpha, layer->beta, layer->epsilon));
  return sq_builder_create_pd(b, &desc, "lrn");
}
