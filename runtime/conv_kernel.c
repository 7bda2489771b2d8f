/* A direct convolution kernel for the few-channel convolutions that first
 * read an image or a signal: 1-D or 2-D, stride 1, ungrouped, at most 4
 * channels in and 8 out, with the ReLUs after it and, in fused plans, a
 * 2x2 stride-2 MaxPool after those. oneDNN's kernels vectorize over output
 * channels and fill at most half of each vector here; this one keeps 16
 * output columns of each output channel in an AVX-512 register, reads each
 * input vector once for all channels, and writes the plain layout that a
 * next few-channel convolution reads. Interleaved `seqrt bench` runs, one
 * thread: LeNet-5 at batch 1 12.1 -> 8.9 us (its 1 -> 6 convolution and
 * pool 4.5 + 0.9 us on oneDNN's jit: kernels, 2.2 us here), at batch 64
 * 571 -> 487 us; 3 -> 6 channels 5x5 at 224x224 with its pool 1.18 ->
 * 0.79 ms; 3 -> 8 3x3 at 32x32 48 -> 45 us; 2 -> 8 1-D over 4000 samples
 * 68 -> 44 us. With 16 channels out oneDNN fills its vectors and is as
 * fast or faster. Without AVX-512 the same code runs on 8-lane AVX2
 * vectors (conv_kernel_isa.h holds it once per ISA), where oneDNN's
 * jit:avx2 kernels leave less of a vector empty but run these shapes at
 * 15-30 GFLOP/s. Alternating `seqrt bench` runs on an AVX2 AMD EPYC, one
 * thread, the fastest of 3-8 rounds (the host was noisy): LeNet-5 at batch
 * 1 25.8 -> 19.7 us, at batch 64 1.27 -> 0.93 ms; 3 -> 6 channels 5x5 at
 * 224x224 with its pool 1.43 -> 0.66 ms; 1 -> 4 3x3 at 128x128 with its
 * pool 83 -> 35 us; 3 -> 8 3x3 at 32x32 17.9 -> 18.5 us at batch 1 but
 * 197 -> 179 us at batch 16; 2 -> 8 1-D over 4000 samples 21.8 -> 19.8
 * us; 4 -> 8 1x1 at 64x64 18.1 -> 17.3 us. */
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"

#define SQ_CONV_KERNEL_MAX_IN 4
#define SQ_CONV_KERNEL_MAX_OUT 8
#define SQ_CONV_KERNEL_MAX_POOLED_WIDTH 256 /* a pooled row pair's buffer */
#define SQ_CONV_KERNEL_PARALLEL_FLOP 2.0e6

typedef struct conv_kernel_params {
  int64_t batch, in_c, in_h, in_w, out_c, out_h, out_w;
  int64_t k_h, k_w, pad_t, pad_l;
  int64_t lanes;          /* of a vector: 16 with AVX-512, 8 with AVX2 */
  int64_t chunks;         /* lanes-column chunks of a convolution row */
  int64_t pool_h, pool_w; /* the pooled output; 0 without a pool */
  bool relu, parallel;
  /* Flexible part: bias[out_c], weights[in_c][k_h][k_w][out_c], then per
   * chunk and kernel column the lanes that read inside the row (load), and
   * per chunk the lanes stored. */
  float *bias, *weights;
  uint16_t *load, *store;
  float data[];
} conv_kernel_params;

typedef void (*conv_rows_fn)(const conv_kernel_params *, const float *, float *,
                             int64_t);

/* Store masks of a pooled row pair's chunks: every lane. */
#define EVERY_8 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff
static const uint16_t every_lane[SQ_CONV_KERNEL_MAX_POOLED_WIDTH / 8] = {
    EVERY_8, EVERY_8, EVERY_8, EVERY_8};

#define CK_LANES 16
#include "conv_kernel_isa.h"
#define CK_LANES 8
#include "conv_kernel_isa.h"

static seqrt_status conv_kernel(const sq_op *op, const void *src, void *dst,
                                void *scratch) {
  const conv_kernel_params *p = op->params;
  conv_rows_fn rows =
      p->lanes == 16 ? conv_rows_avx512[p->out_c] : conv_rows_avx2[p->out_c];
  int64_t in_size = p->in_c * p->in_h * p->in_w;
  int64_t out_rows = p->pool_h ? p->pool_h : p->out_h;
  int64_t out_size = p->out_c * out_rows * (p->pool_h ? p->pool_w : p->out_w);
  const float *x = src;
  float *y = dst;
  if (!p->parallel) {
    /* Without an OpenMP region: even one of a single thread costs ~1 us. */
    for (int64_t n = 0; n < p->batch; n++)
      for (int64_t row = 0; row < out_rows; row++)
        rows(p, x + n * in_size, y + n * out_size, row);
    return SEQRT_OK;
  }
#pragma omp parallel for collapse(2)
  for (int64_t n = 0; n < p->batch; n++)
    for (int64_t row = 0; row < out_rows; row++)
      rows(p, x + n * in_size, y + n * out_size, row);
  return SEQRT_OK;
}

/* What the kernel computes, on this CPU. */
static bool kernel_shape(const sq_layer *conv) {
  int rank = conv->in.rank;
  if (conv->kind != SQ_CONV || (rank != 3 && rank != 4) || conv->groups != 1 ||
      conv->in.dims[1] > SQ_CONV_KERNEL_MAX_IN ||
      conv->out.dims[1] > SQ_CONV_KERNEL_MAX_OUT)
    return false;
  for (int i = 0; i < conv->spatial; i++)
    if (conv->stride[i] != 1 || conv->dilation[i] != 1) return false;
  return sq_cpu_avx512() || sq_cpu_avx2();
}

/* A 2x2 stride-2 MaxPool without padding of a 2-D convolution's output. */
static bool pool_fits(const sq_layer *conv, const sq_layer *pool) {
  if (pool->kind != SQ_MAXPOOL || pool->spatial != 2 || conv->in.rank != 4 ||
      conv->out.dims[3] > SQ_CONV_KERNEL_MAX_POOLED_WIDTH)
    return false;
  for (int i = 0; i < 2; i++)
    if (pool->kernel[i] != 2 || pool->stride[i] != 2 ||
        pool->dilation[i] != 1 || pool->pad_begin[i] || pool->pad_end[i])
      return false;
  return true;
}

bool sq_conv_kernel_pools(const sq_plan *plan, int conv, int n_fused) {
  const sq_chain *chain = plan->chain;
  int next = conv + n_fused + 1;
  return !plan->observable && next < chain->n_layers &&
         kernel_shape(&chain->layers[conv]) &&
         sq_only_relus(chain->layers, conv + 1, next - 1) &&
         pool_fits(&chain->layers[conv], &chain->layers[next]);
}

/* The kernel runs the builder's step: the convolution, then only ReLUs
 * and possibly a pool (sq_conv_kernel_pools). */
static bool step_fits(const sq_builder *b, bool *relu, const sq_layer **pool) {
  const sq_layer *layers = b->plan->chain->layers;
  int conv = (int)(b->layer - layers), hi = b->step->hi;
  *pool = NULL;
  if (hi > conv && layers[hi].kind == SQ_MAXPOOL) {
    if (!pool_fits(b->layer, &layers[hi])) return false;
    *pool = &layers[hi--];
  }
  *relu = hi > conv;
  return sq_only_relus(layers, conv + 1, hi) && kernel_shape(b->layer);
}

bool sq_conv_kernel_fits(const sq_builder *b) {
  bool relu;
  const sq_layer *pool;
  /* A band's layer is a copy outside the chain, in a blocked layout. */
  return b->dst_tag == dnnl_format_tag_undef && step_fits(b, &relu, &pool);
}

/* The lanes of each chunk and kernel column that read inside the row. */
static void fill_masks(conv_kernel_params *p) {
  int64_t lanes = p->lanes;
  for (int64_t chunk = 0; chunk < p->chunks; chunk++) {
    int64_t ow0 = chunk * lanes;
    int64_t valid = p->out_w - ow0 < lanes ? p->out_w - ow0 : lanes;
    p->store[chunk] = (uint16_t)((1u << valid) - 1);
    for (int64_t kw = 0; kw < p->k_w; kw++) {
      int64_t start = ow0 - p->pad_l + kw; /* input column of lane 0 */
      int64_t lo = start < 0 ? -start : 0;
      int64_t hi = p->in_w - start < valid ? p->in_w - start : valid;
      uint32_t mask = hi > lo ? ((1u << hi) - 1) & ~((1u << lo) - 1) : 0;
      p->load[chunk * p->k_w + kw] = (uint16_t)mask;
    }
  }
}

/* Bias and weights as [in_c][k_h][k_w][out_c]: one row of out_c
 * broadcasts per kernel tap. */
static void fill_weights(conv_kernel_params *p, const sq_layer *layer) {
  int64_t taps = p->k_h * p->k_w;
  for (int64_t o = 0; o < p->out_c; o++) {
    p->bias[o] = layer->bias.data ? layer->bias.data[o] : 0.0f;
    for (int64_t c = 0; c < p->in_c; c++)
      for (int64_t t = 0; t < taps; t++)
        p->weights[(c * taps + t) * p->out_c + o] =
            layer->weight.data[(o * p->in_c + c) * taps + t];
  }
}

static conv_kernel_params *params_alloc(const sq_layer *layer,
                                        const dnnl_dims_t in,
                                        const dnnl_dims_t out) {
  bool two_d = layer->in.rank == 4;
  int64_t k_h = two_d ? layer->kernel[0] : 1, k_w = layer->kernel[two_d];
  int64_t out_w = out[two_d ? 3 : 2];
  int64_t lanes = sq_cpu_avx512() ? 16 : 8;
  int64_t chunks = (out_w + lanes - 1) / lanes;
  int64_t floats = out[1] * (1 + in[1] * k_h * k_w);
  size_t bytes = sizeof(conv_kernel_params) + (size_t)floats * sizeof(float) +
                 (size_t)(chunks * (k_w + 1)) * sizeof(uint16_t);
  conv_kernel_params *p = calloc(1, bytes);
  if (!p) return NULL;
  *p = (conv_kernel_params){.batch = in[0],
                            .in_c = in[1],
                            .in_h = two_d ? in[2] : 1,
                            .in_w = in[two_d ? 3 : 2],
                            .out_c = out[1],
                            .out_h = two_d ? out[2] : 1,
                            .out_w = out_w,
                            .k_h = k_h,
                            .k_w = k_w,
                            .pad_t = two_d ? layer->pad_begin[0] : 0,
                            .pad_l = layer->pad_begin[two_d],
                            .lanes = lanes,
                            .chunks = chunks};
  p->bias = p->data;
  p->weights = p->bias + p->out_c;
  p->load = (uint16_t *)(p->weights + floats - p->out_c);
  p->store = p->load + chunks * k_w;
  return p;
}

seqrt_status sq_build_conv_kernel(sq_builder *b, const dnnl_dims_t in,
                                  const dnnl_dims_t out) {
  const sq_layer *layer = b->layer, *pool;
  conv_kernel_params *p = params_alloc(layer, in, out);
  if (!p)
    return sq_error(SEQRT_ERR_NOMEM, "layer '%s' (Conv): out of memory",
                    layer->name);
  step_fits(b, &p->relu, &pool);
  dnnl_dims_t dst;
  sq_dims(pool ? &pool->out : &layer->out, b->plan->batch, dst);
  if (pool) {
    p->pool_h = dst[2];
    p->pool_w = dst[3];
  }
  p->parallel =
      sq_layer_flop(layer, b->plan->batch) >= SQ_CONV_KERNEL_PARALLEL_FLOP &&
      b->step->threads > 1;
  fill_weights(p, layer);
  fill_masks(p);
  b->plan->owned_const_bytes +=
      (size_t)(p->out_c * (1 + p->in_c * p->k_h * p->k_w)) * sizeof(float);
  seqrt_status st = sq_md_plain(layer, layer->in.rank, in, &b->src_md);
  if (st == SEQRT_OK) st = sq_md_plain(layer, layer->in.rank, dst, &b->dst_md);
  if (st != SEQRT_OK) {
    free(p);
    return st;
  }
  return sq_op_add_kernel(b, conv_kernel, p, SQ_AT_SRC, SQ_AT_DST);
}
