/* A max pool kernel for CPUs without AVX-512, on the 8-channel blocks
 * (nCw8c, nChw8c) that oneDNN's AVX2 convolutions write: each output
 * position is the max of its window's 8-lane vectors. oneDNN 2.6's AVX2
 * pooling is slow there (1 thread, 2x2 stride 2, medians of 2000 runs on an
 * AVX2 AMD EPYC): 8 x 28 x 28 5.5 us, the same with 6 channels padded to 8
 * 8.5 us, 64 such maps 525 us. In LeNet-5 at batch 1 (`seqrt bench
 * --profile`) its two pools took 2.21 and 1.13 us here against 8.67 and
 * 1.84 us on oneDNN; the audio CNN's 1-D pools in bands (plan.c) took
 * 10.5 us a band for its first against 37 us on oneDNN (half the work of
 * a 11.8 us one-thread pool here). With AVX-512 oneDNN's own jit:avx512_core
 * pooling stays (not measured against this kernel). Any kernel size, stride,
 * dilation and padding: padded cells never win, as in PyTorch. */
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>

#include "internal.h"

#define BLOCK 8
/* Pools with this many output floats and more split over the threads. */
#define SQ_POOL_KERNEL_PARALLEL_MIN 65536

typedef struct pool_kernel_params {
  int64_t planes; /* batch x channel blocks */
  int64_t in_h, in_w, out_h, out_w;
  int64_t k_h, k_w, s_h, s_w, d_h, d_w, pad_t, pad_l;
  bool parallel;
} pool_kernel_params;

/* Output row `oh` of one plane ([out_h][out_w][BLOCK]) from its input
 * plane ([in_h][in_w][BLOCK]). */
static __attribute__((target("avx2"))) void
pool_row(const pool_kernel_params *p, const float *x, float *y, int64_t oh) {
  int64_t h0 = oh * p->s_h - p->pad_t;
  for (int64_t ow = 0; ow < p->out_w; ow++) {
    int64_t w0 = ow * p->s_w - p->pad_l;
    __m256 acc = _mm256_set1_ps(-INFINITY);
    for (int64_t kh = 0; kh < p->k_h; kh++) {
      int64_t ih = h0 + kh * p->d_h;
      if (ih < 0 || ih >= p->in_h) continue;
      const float *row = x + ih * p->in_w * BLOCK;
      for (int64_t kw = 0; kw < p->k_w; kw++) {
        int64_t iw = w0 + kw * p->d_w;
        if (iw >= 0 && iw < p->in_w)
          acc = _mm256_max_ps(_mm256_loadu_ps(row + iw * BLOCK), acc);
      }
    }
    _mm256_storeu_ps(y + (oh * p->out_w + ow) * BLOCK, acc);
  }
}

static seqrt_status pool_kernel(const sq_op *op, const void *src, void *dst,
                                void *scratch) {
  const pool_kernel_params *p = op->params;
  const float *x = src;
  float *y = dst;
  int64_t in_plane = p->in_h * p->in_w * BLOCK;
  int64_t out_plane = p->out_h * p->out_w * BLOCK;
#pragma omp parallel for collapse(2) if (p->parallel) schedule(static)
  for (int64_t plane = 0; plane < p->planes; plane++)
    for (int64_t oh = 0; oh < p->out_h; oh++)
      pool_row(p, x + plane * in_plane, y + plane * out_plane, oh);
  return SEQRT_OK;
}

static dnnl_format_tag_t block_tag(int rank) {
  return rank == 3   ? dnnl_nCw8c
         : rank == 4 ? dnnl_nChw8c
                     : dnnl_format_tag_undef;
}

bool sq_pool_kernel_fits(const sq_builder *b) {
  const sq_layer *layer = b->layer;
  int rank = layer->in.rank;
  dnnl_format_tag_t tag = block_tag(rank);
  if (layer->kind != SQ_MAXPOOL || tag == dnnl_format_tag_undef ||
      (b->dst_tag != dnnl_format_tag_undef && b->dst_tag != tag) ||
      sq_cpu_avx512())
    return false;
  dnnl_dims_t in;
  dnnl_memory_desc_t blocked;
  sq_dims(&layer->in, b->plan->batch, in);
  return dnnl_memory_desc_init_by_tag(&blocked, rank, in, dnnl_f32, tag) ==
             dnnl_success &&
         dnnl_memory_desc_equal(&blocked, &b->in_md);
}

seqrt_status sq_build_pool_kernel(sq_builder *b) {
  const sq_layer *layer = b->layer;
  int rank = layer->in.rank;
  bool two_d = rank == 4;
  dnnl_dims_t in, out;
  sq_dims(&layer->in, b->plan->batch, in);
  sq_dims(&layer->out, b->plan->batch, out);
  pool_kernel_params *p = malloc(sizeof *p);
  if (!p)
    return sq_error(SEQRT_ERR_NOMEM, "layer '%s' (MaxPool): out of memory",
                    layer->name);
  int w = two_d; /* the width's index in the layer's spatial arrays */
  *p = (pool_kernel_params){.planes = in[0] * ((in[1] + BLOCK - 1) / BLOCK),
                            .in_h = two_d ? in[2] : 1,
                            .in_w = in[rank - 1],
                            .out_h = two_d ? out[2] : 1,
                            .out_w = out[rank - 1],
                            .k_h = two_d ? layer->kernel[0] : 1,
                            .k_w = layer->kernel[w],
                            .s_h = two_d ? layer->stride[0] : 1,
                            .s_w = layer->stride[w],
                            .d_h = two_d ? layer->dilation[0] : 1,
                            .d_w = layer->dilation[w],
                            .pad_t = two_d ? layer->pad_begin[0] : 0,
                            .pad_l = layer->pad_begin[w]};
  p->parallel =
      b->step->threads > 1 && sq_shape_count(&layer->out, b->plan->batch) >=
                                  SQ_POOL_KERNEL_PARALLEL_MIN;
  b->src_md = b->in_md;
  seqrt_status st = sq_md_tagged(layer, rank, out, block_tag(rank), &b->dst_md);
  if (st != SEQRT_OK) {
    free(p);
    return st;
  }
  return sq_op_add_kernel(b, pool_kernel, p, SQ_AT_SRC, SQ_AT_DST);
}
