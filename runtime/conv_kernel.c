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
 * fast or faster. CPUs without AVX-512 keep oneDNN's. */
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"

#define SQ_CONV_KERNEL_MAX_IN 4
#define SQ_CONV_KERNEL_MAX_OUT 8
#define SQ_CONV_KERNEL_MAX_POOLED_WIDTH 256 /* a pooled row pair's buffer */
#define SQ_CONV_KERNEL_PARALLEL_FLOP 2.0e6
#define LANES 16

typedef struct conv_kernel_params {
  int64_t batch, in_c, in_h, in_w, out_c, out_h, out_w;
  int64_t k_h, k_w, pad_t, pad_l;
  int64_t chunks;         /* LANES-column chunks of a convolution row */
  int64_t pool_h, pool_w; /* the pooled output; 0 without a pool */
  bool relu, parallel;
  /* Flexible part: bias[out_c], weights[in_c][k_h][k_w][out_c], then per
   * chunk and kernel column the lanes that read inside the row (load), and
   * per chunk the lanes stored. */
  float *bias, *weights;
  uint16_t *load, *store;
  float data[];
} conv_kernel_params;

/* NC consecutive LANES-wide chunks (from `chunk`) of convolution row `oh`
 * of one sample, for all NB output channels, into `out` (channel o's row at
 * out + o * stride), storing the lanes of `store`. NB and NC are constants
 * where this is inlined; two chunks give the FMAs enough independent
 * accumulators to hide their latency when there are few channels. */
static inline __attribute__((always_inline, target("avx512f"))) void
conv_chunks(const conv_kernel_params *p, const float *x, float *out,
            int64_t stride, const uint16_t *store, int64_t oh, int64_t chunk,
            const int nb, const int nc) {
  __m512 acc[2][SQ_CONV_KERNEL_MAX_OUT];
  for (int j = 0; j < nc; j++)
    for (int o = 0; o < nb; o++) acc[j][o] = _mm512_set1_ps(p->bias[o]);
  for (int64_t c = 0; c < p->in_c; c++)
    for (int64_t kh = 0; kh < p->k_h; kh++) {
      int64_t ih = oh - p->pad_t + kh;
      if (ih < 0 || ih >= p->in_h) continue;
      const float *row = x + (c * p->in_h + ih) * p->in_w - p->pad_l;
      const float *w = p->weights + (c * p->k_h + kh) * p->k_w * p->out_c;
      for (int64_t kw = 0; kw < p->k_w; kw++, w += p->out_c) {
        __m512 v[2];
        /* Masked-off lanes (zero padding, past the row) read nothing, not
         * even when their addresses lie outside the buffer. */
        for (int j = 0; j < nc; j++)
          v[j] = _mm512_maskz_loadu_ps(p->load[(chunk + j) * p->k_w + kw],
                                       row + (chunk + j) * LANES + kw);
        for (int o = 0; o < nb; o++) {
          __m512 wo = _mm512_set1_ps(w[o]);
          for (int j = 0; j < nc; j++)
            acc[j][o] = _mm512_fmadd_ps(wo, v[j], acc[j][o]);
        }
      }
    }
  __m512 zero = _mm512_setzero_ps();
  for (int j = 0; j < nc; j++)
    for (int o = 0; o < nb; o++)
      _mm512_mask_storeu_ps(
          out + o * stride + (chunk + j) * LANES, store[chunk + j],
          p->relu ? _mm512_max_ps(acc[j][o], zero) : acc[j][o]);
}

/* Convolution row oh, chunks in pairs (2 x NB accumulators). */
static inline __attribute__((always_inline, target("avx512f"))) void
conv_row(const conv_kernel_params *p, const float *x, float *out,
         int64_t stride, const uint16_t *store, int64_t oh, const int nb) {
  int64_t chunk = 0;
  for (; chunk + 2 <= p->chunks; chunk += 2)
    conv_chunks(p, x, out, stride, store, oh, chunk, nb, 2);
  for (; chunk < p->chunks; chunk++)
    conv_chunks(p, x, out, stride, store, oh, chunk, nb, 1);
}

/* Pooled row ph: convolution rows 2ph and 2ph+1 into a buffer, then the
 * max of each 2x2 window (ReLU before or after the max is the same). */
static inline __attribute__((always_inline, target("avx512f"))) void
conv_pool_row(const conv_kernel_params *p, const float *x, float *y, int64_t ph,
              const int nb) {
  enum { WIDTH = SQ_CONV_KERNEL_MAX_POOLED_WIDTH };
  float rows[SQ_CONV_KERNEL_MAX_OUT][2][WIDTH] __attribute__((aligned(64)));
  static const uint16_t all[WIDTH / LANES] = {
      0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
      0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff};
  for (int r = 0; r < 2; r++)
    conv_row(p, x, &rows[0][r][0], 2 * WIDTH, all, 2 * ph + r, nb);
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12,
                                        10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13,
                                       11, 9, 7, 5, 3, 1);
  for (int64_t col = 0; col < p->pool_w; col += LANES) {
    int64_t left = p->pool_w - col;
    __mmask16 store = (__mmask16)(left < LANES ? (1u << left) - 1 : 0xffff);
    /* Convolution columns 2col..2col+31; the second half only where the
     * rows were written. */
    __mmask16 second = 2 * col + LANES < p->chunks * LANES ? 0xffff : 0;
    for (int o = 0; o < nb; o++) {
      const float *r0 = &rows[o][0][2 * col], *r1 = &rows[o][1][2 * col];
      __m512 lo = _mm512_max_ps(_mm512_load_ps(r0), _mm512_load_ps(r1));
      __m512 hi = _mm512_max_ps(_mm512_maskz_load_ps(second, r0 + LANES),
                                _mm512_maskz_load_ps(second, r1 + LANES));
      __m512 max = _mm512_max_ps(_mm512_permutex2var_ps(lo, even, hi),
                                 _mm512_permutex2var_ps(lo, odd, hi));
      _mm512_mask_storeu_ps(y + (o * p->pool_h + ph) * p->pool_w + col, store,
                            max);
    }
  }
}

#define CONV_ROWS(NB)                                                          \
  static __attribute__((target("avx512f"))) void conv_rows_##NB(               \
      const conv_kernel_params *p, const float *x, float *y, int64_t row) {    \
    if (p->pool_h)                                                             \
      conv_pool_row(p, x, y, row, NB);                                         \
    else                                                                       \
      conv_row(p, x, y + row * p->out_w, p->out_h * p->out_w, p->store, row,   \
               NB);                                                            \
  }
CONV_ROWS(1)
CONV_ROWS(2)
CONV_ROWS(3)
CONV_ROWS(4)
CONV_ROWS(5)
CONV_ROWS(6)
CONV_ROWS(7)
CONV_ROWS(8)

typedef void (*conv_rows_fn)(const conv_kernel_params *, const float *, float *,
                             int64_t);
static const conv_rows_fn conv_rows[SQ_CONV_KERNEL_MAX_OUT + 1] = {
    NULL,        conv_rows_1, conv_rows_2, conv_rows_3, conv_rows_4,
    conv_rows_5, conv_rows_6, conv_rows_7, conv_rows_8};

static seqrt_status conv_kernel(const sq_op *op, const void *src, void *dst,
                                void *scratch) {
  const conv_kernel_params *p = op->params;
  conv_rows_fn rows = conv_rows[p->out_c];
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
  return sq_cpu_avx512();
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
  for (int64_t chunk = 0; chunk < p->chunks; chunk++) {
    int64_t ow0 = chunk * LANES;
    int64_t valid = p->out_w - ow0 < LANES ? p->out_w - ow0 : LANES;
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
  int64_t chunks = (out_w + LANES - 1) / LANES;
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
