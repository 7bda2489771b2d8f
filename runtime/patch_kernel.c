/* Convolutions of few channels with wide padded kernels on CPUs with AVX2
 * but without AVX-512, where oneDNN 2.6 has no jitted kernel and runs
 * im2col and a gemm (x64:gemm:jit; fewer than 8 channels in, kernels of 9
 * or more with padding: AlexNet's 11x11 stride-4 first convolution, an
 * audio network's first 1-D one with `padding=k // 2`): 1-D or 2-D,
 * multiples of 16 channels out, any stride, with the ReLUs after it; plain
 * input, nCw8c / nChw8c output (what the next jit:avx2 convolution reads).
 * Each output pixel's input patch, read where it lies in the input (copied
 * once per image with its zero border), meets 16 output channels in the 6
 * x 16 register kernel (gemm_tile.h): the patch's k steps go channel by
 * channel and kernel row by kernel row, a segment of k_w contiguous floats
 * each, against the weights packed once as [oc / 16][c][k_h][k_w][16]. A
 * 1-D convolution is a 2-D one of height 1. On an AVX2 AMD EPYC (`seqrt
 * bench --profile`, the step, against oneDNN's gemm): AlexNet's first
 * convolution 3.9-4.3 -> 1.7-1.9 ms on 1 thread; 3 -> 64 channels 9x9 at
 * 112x112 12.0-12.3 -> 4.2-4.4 ms; 11x11 stride 4 at batch 8 30.3-30.8 ->
 * 13.0-13.4 ms on 1 thread, 16.5-17.5 -> 7.3-7.8 ms on 2; over 8000
 * samples, 1 -> 32 channels, 9 taps 1.51 ms -> 76 us, 80 taps stride 4 608
 * -> 115 us, 3 -> 32, 11 taps stride 2 1.04 ms -> 111 us. Where oneDNN has
 * a jitted kernel this one was no faster, so it takes only what would be a
 * gemm: 3 -> 64 channels at 224x224, 3x3, 5x5, 7x7 stride 2 and 4x4 stride
 * 4, 0-6% slower (3x3 3.06-3.13 against 3.14-3.15 ms); VGG-11's first
 * convolution 2.1 against 2.3-2.5 ms; the audio CNN's unpadded 80-tap one
 * as fast (112-136 against 113-120 us). */
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_tile.h"
#include "internal.h"

#define BLOCK 8 /* channels per vector (nChw8c) */
#define PANEL SQ_TILE_COLS

typedef struct patch_params {
  int64_t batch, c, h, w, oc, oh, ow, k_h, k_w, s_h, s_w, pad_t, pad_l;
  int64_t hp, wp; /* the input with its zero border (h, w without one) */
  int64_t tiles;  /* of an output row, of at most 6 columns each */
  bool relu, bordered;
  int threads;
  /* Flexible part: bias[oc], weights[oc / 16][c][k_h][k_w][16], then the
   * offset of each (channel, kernel row) segment of a patch in the input. */
  float *bias, *weights;
  int64_t *seg;
  float data[];
} patch_params;

/* Input row `row` (of c * hp) with its zero border, from image x. */
static void border_row(const patch_params *p, const float *x, float *xb,
                       int64_t row) {
  int64_t ch = row / p->hp, r = row % p->hp - p->pad_t;
  float *out = xb + row * p->wp;
  memset(out, 0, (size_t)p->wp * sizeof(float));
  if (r >= 0 && r < p->h)
    memcpy(out + p->pad_l, x + (ch * p->h + r) * p->w,
           (size_t)p->w * sizeof(float));
}

/* Output row oh of one image, every panel of 16 channels. */
static __attribute__((target("avx2,fma"))) void
patch_row(const patch_params *p, const float *x, float *y, int64_t oh) {
  int64_t n_seg = p->c * p->k_h, k = n_seg * p->k_w, plane = p->oh * p->ow;
  int64_t c_hi = plane * BLOCK; /* the second 8 channels of a panel */
  for (int64_t j = 0; j < p->oc / PANEL; j++) {
    const float *b = p->weights + j * k * PANEL, *bias = p->bias + j * PANEL;
    float *yj = y + j * 2 * plane * BLOCK + oh * p->ow * BLOCK;
    for (int64_t t = 0; t < p->tiles; t++) {
      int64_t ow0 = p->ow * t / p->tiles, nr = p->ow * (t + 1) / p->tiles - ow0;
      const float *a = x + oh * p->s_h * p->wp + ow0 * p->s_w;
      float *c = yj + ow0 * BLOCK;
#define PATCH_TILE(rows)                                                       \
  case rows:                                                                   \
    sq_gemm_tile_segments(a, p->s_w, 1, p->seg, n_seg, p->k_w, b, bias, 0,     \
                          p->relu, c, BLOCK, c_hi, rows, PANEL);               \
    break
      switch (nr) {
        PATCH_TILE(6);
        PATCH_TILE(5);
        PATCH_TILE(4);
        PATCH_TILE(3);
        PATCH_TILE(2);
        PATCH_TILE(1);
      }
#undef PATCH_TILE
    }
  }
}

static seqrt_status patch_kernel(const sq_op *op, const void *src, void *dst,
                                 void *scratch) {
  const patch_params *p = op->params;
  int64_t in_size = p->c * p->h * p->w, out_size = p->oc * p->oh * p->ow;
  int64_t rows = p->c * p->hp;
  /* Without an OpenMP region on one thread: the step may run inside one
   * (batch slices side by side). */
  if (p->threads == 1) {
    for (int64_t n = 0; n < p->batch; n++) {
      const float *x = (const float *)src + n * in_size;
      if (p->bordered)
        for (int64_t row = 0; row < rows; row++) border_row(p, x, scratch, row);
      for (int64_t oh = 0; oh < p->oh; oh++)
        patch_row(p, p->bordered ? scratch : x, (float *)dst + n * out_size,
                  oh);
    }
    return SEQRT_OK;
  }
#pragma omp parallel num_threads(p->threads)
  for (int64_t n = 0; n < p->batch; n++) {
    const float *x = (const float *)src + n * in_size;
    if (p->bordered) {
#pragma omp for schedule(static)
      for (int64_t row = 0; row < rows; row++) border_row(p, x, scratch, row);
    }
#pragma omp for schedule(static)
    for (int64_t oh = 0; oh < p->oh; oh++)
      patch_row(p, p->bordered ? scratch : x, (float *)dst + n * out_size, oh);
  }
  return SEQRT_OK;
}

/* The step: the convolution and only ReLUs after it, outside bands (whose
 * layers are copies outside the chain). */
bool sq_patch_kernel_fits(const sq_builder *b) {
  const sq_layer *layer = b->layer, *layers = b->plan->chain->layers;
  int rank = layer->in.rank;
  if (layer->kind != SQ_CONV || (rank != 3 && rank != 4) ||
      layer->groups != 1 || sq_cpu_avx512() || !sq_cpu_avx2() ||
      b->dst_tag != dnnl_format_tag_undef || layer->in.dims[1] >= BLOCK ||
      layer->out.dims[1] % PANEL != 0)
    return false;
  for (int i = 0; i < layer->spatial; i++)
    if (layer->dilation[i] != 1) return false;
  return sq_only_relus(layers, (int)(layer - layers) + 1, b->step->hi);
}

/* Bias, and the weights [o][c][k_h][k_w] as panels of 16 outputs. */
static void fill_weights(patch_params *p, const sq_layer *layer) {
  int64_t k = p->c * p->k_h * p->k_w;
  for (int64_t o = 0; o < p->oc; o++) {
    p->bias[o] = layer->bias.data ? layer->bias.data[o] : 0.0f;
    for (int64_t i = 0; i < k; i++)
      p->weights[((o / PANEL) * k + i) * PANEL + o % PANEL] =
          layer->weight.data[o * k + i];
  }
  for (int64_t s = 0; s < p->c * p->k_h; s++)
    p->seg[s] = (s / p->k_h * p->hp + s % p->k_h) * p->wp;
}

/* The window; a 1-D convolution is a 2-D one of height 1. */
static patch_params geometry(const sq_layer *layer, const dnnl_dims_t in,
                             const dnnl_dims_t out) {
  bool two_d = layer->in.rank == 4;
  int x = two_d; /* the width among the spatial dims */
  int64_t h = two_d ? in[2] : 1, w = in[2 + x];
  int64_t pad_t = two_d ? layer->pad_begin[0] : 0;
  int64_t pad_b = two_d ? layer->pad_end[0] : 0;
  return (patch_params){.batch = in[0],
                        .c = in[1],
                        .h = h,
                        .w = w,
                        .oc = out[1],
                        .oh = two_d ? out[2] : 1,
                        .ow = out[2 + x],
                        .k_h = two_d ? layer->kernel[0] : 1,
                        .k_w = layer->kernel[x],
                        .s_h = two_d ? layer->stride[0] : 1,
                        .s_w = layer->stride[x],
                        .pad_t = pad_t,
                        .pad_l = layer->pad_begin[x],
                        .hp = h + pad_t + pad_b,
                        .wp = w + layer->pad_begin[x] + layer->pad_end[x],
                        .tiles =
                            (out[2 + x] + SQ_TILE_ROWS - 1) / SQ_TILE_ROWS};
}

seqrt_status sq_build_patch_kernel(sq_builder *b, const dnnl_dims_t in,
                                   const dnnl_dims_t out) {
  const sq_layer *layer = b->layer;
  patch_params g = geometry(layer, in, out);
  int64_t k = g.c * g.k_h * g.k_w;
  /* The offsets follow oc * (1 + k) floats, a multiple of 64 bytes (oc is
   * one of 16). */
  size_t bytes = sizeof(patch_params) +
                 (size_t)(g.oc * (1 + k)) * sizeof(float) +
                 (size_t)(g.c * g.k_h) * sizeof(int64_t);
  patch_params *p = sq_aligned_alloc(bytes);
  if (!p)
    return sq_error(SEQRT_ERR_NOMEM, "layer '%s' (Conv): out of memory",
                    layer->name);
  int conv = (int)(layer - b->plan->chain->layers);
  *p = g;
  p->relu = b->step->hi > conv;
  p->bordered = g.hp != g.h || g.wp != g.w;
  p->threads = b->step->threads;
  /* After the struct assignment, which may write its tail padding. */
  p->bias = p->data;
  p->weights = p->bias + g.oc;
  p->seg = (int64_t *)(p->weights + g.oc * k);
  fill_weights(p, layer);
  b->plan->owned_const_bytes += (size_t)(g.oc * (1 + k)) * sizeof(float);
  int rank = layer->in.rank;
  seqrt_status st = sq_md_plain(layer, rank, in, &b->src_md);
  if (st == SEQRT_OK)
    st = sq_md_tagged(layer, rank, out, sq_channel_blocked_tag(rank),
                      &b->dst_md);
  if (st != SEQRT_OK) {
    free(p);
    return st;
  }
  size_t scratch =
      p->bordered ? (size_t)(g.c * g.hp * g.wp) * sizeof(float) : (size_t)0;
  return sq_op_add_kernel_scratch(b, patch_kernel, p, SQ_AT_SRC, SQ_AT_DST,
                                  scratch);
}
