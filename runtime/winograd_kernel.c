/* A Winograd F(2x2, 3x3) convolution for CPUs without AVX-512, where
 * oneDNN 2.6 has no Winograd kernel and its jit:avx2 direct convolutions
 * already run at the FP32 peak: 3x3 stride-1 ungrouped 2-D convolutions
 * with channels in multiples of 8 (32 or more), on nChw8c, with the ReLUs
 * after them. Each 2x2 output tile comes from a 4x4 input tile: the input
 * tiles are transformed (V = Bt d B, 8 channels a vector), multiplied by
 * the transformed weights (U = G g Gt, made once) as 16 matrix products
 * [tiles x C] x [C x OC], one per point of the tile, and transformed back
 * (Y = At M A) with the bias and the ReLUs: 16 / 36 of the direct
 * multiplications, plus transforms that read and write 4x the maps. Tiles
 * go through in chunks whose V and M stay near the caches, each chunk
 * whole on one thread; the products run a 6-tile x 16-channel register
 * kernel on U packed by panels of output channels (dnnl_sgemm per point,
 * which packs U on every call, was 9-22% slower: CIFAR VGG at batch 1, 1
 * thread, 704-810 against 645-665 us). On an AVX2 AMD
 * EPYC, alternating `seqrt bench` runs against oneDNN's direct convolutions:
 * CIFAR VGG at batch 1 941-952 -> 647-859 us on 1 thread, at batch 32 28.1
 * -> 19.3-19.6 ms on 1 thread and 18.7-20.4 -> 10.4-10.7 ms on 2; VGG-11's
 * 256->256 at 56x56 38.9 -> 20.3 ms (`--profile`). Rounding differs from a
 * direct convolution's at the 1e-6 relative level. */
#include <immintrin.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>

#include "gemm_tile.h"
#include "internal.h"

#define BLOCK 8            /* channels per vector (nChw8c) */
#define POINTS 16          /* of a 4x4 transformed tile */
#define PANEL SQ_TILE_COLS /* output channels a product's inner loop keeps */
#define ROWS SQ_TILE_ROWS  /* tiles a product's inner loop keeps */
/* V and M of one chunk of tiles: about this many bytes (VGG-11 at batch
 * 1 ran as fast with 512 KiB to 2 MiB). */
#define SQ_WINOGRAD_CHUNK_BYTES ((size_t)1 << 20)
#define SQ_WINOGRAD_MIN_CHANNELS 32

typedef struct winograd_params {
  int64_t c, oc, h, w, oh, ow, pad_t, pad_l;
  int64_t tiles_w, tiles_per_image, tiles, chunk;
  int threads; /* the step's: each has its V and M in the scratch */
  bool relu;
  const float *u; /* packed (packed_index): the cache's, or after the bias */
  float bias[];   /* oc, then (without a cache) u */
} winograd_params;

/* Where U[point][i][o] lies: per point, panels of PANEL output channels
 * (the last may be 8 wide), each [c][panel width], so that the product's
 * inner loop reads a panel row as two vectors. */
static int64_t packed_index(int64_t c, int64_t oc, int64_t point, int64_t i,
                            int64_t o) {
  int64_t panel = o / PANEL, width = oc - panel * PANEL;
  if (width > PANEL) width = PANEL;
  return point * c * oc + panel * PANEL * c + i * width + o % PANEL;
}

/* U = G g Gt for every output and input channel, G = [1 0 0; .5 .5 .5;
 * .5 -.5 .5; 0 0 1]; g is the chain's [oc][c][3][3]. */
static void transform_weights(const sq_layer *layer, const float *g,
                              void *out) {
  int64_t c = layer->in.dims[1], oc = layer->out.dims[1];
  float *u_all = out;
  for (int64_t o = 0; o < oc; o++)
    for (int64_t i = 0; i < c; i++) {
      const float *k = g + (o * c + i) * 9;
      float t[4][3], u[4][4];
      for (int j = 0; j < 3; j++) {
        t[0][j] = k[j];
        t[1][j] = 0.5f * (k[j] + k[3 + j] + k[6 + j]);
        t[2][j] = 0.5f * (k[j] - k[3 + j] + k[6 + j]);
        t[3][j] = k[6 + j];
      }
      for (int r = 0; r < 4; r++) {
        u[r][0] = t[r][0];
        u[r][1] = 0.5f * (t[r][0] + t[r][1] + t[r][2]);
        u[r][2] = 0.5f * (t[r][0] - t[r][1] + t[r][2]);
        u[r][3] = t[r][2];
      }
      for (int r = 0; r < 4; r++)
        for (int s = 0; s < 4; s++)
          u_all[packed_index(c, oc, r * 4 + s, i, o)] = u[r][s];
    }
}

/* Bt x for the 4 vectors x0..x3 (Bt = [1 0 -1 0; 0 1 1 0; 0 -1 1 0;
 * 0 1 0 -1]). */
static inline __attribute__((always_inline, target("avx2,fma"))) void
input_rows(const __m256 x[4], __m256 y[4]) {
  y[0] = _mm256_sub_ps(x[0], x[2]);
  y[1] = _mm256_add_ps(x[1], x[2]);
  y[2] = _mm256_sub_ps(x[2], x[1]);
  y[3] = _mm256_sub_ps(x[1], x[3]);
}

/* A tile's image and the output position of its top-left corner. */
typedef struct tile_at {
  int64_t image, oh, ow;
} tile_at;

static tile_at tile_of(const winograd_params *p, int64_t tile) {
  int64_t in_image = tile % p->tiles_per_image;
  return (tile_at){tile / p->tiles_per_image, 2 * (in_image / p->tiles_w),
                   2 * (in_image % p->tiles_w)};
}

/* Input tile t of the chunk from t0, channel block cb, into V
 * ([POINTS][n][c]). Taps outside the input are the zero padding. */
static __attribute__((target("avx2,fma"))) void
transform_input(const winograd_params *p, const float *x, float *v, int64_t t0,
                int64_t n, int64_t t, int64_t cb) {
  tile_at at = tile_of(p, t0 + t);
  int64_t planes = p->c / BLOCK;
  const float *plane = x + ((at.image * planes + cb) * p->h) * p->w * BLOCK;
  __m256 d[4][4], r[4][4];
  for (int i = 0; i < 4; i++) {
    int64_t ih = at.oh - p->pad_t + i;
    for (int j = 0; j < 4; j++) {
      int64_t iw = at.ow - p->pad_l + j;
      bool inside = ih >= 0 && ih < p->h && iw >= 0 && iw < p->w;
      d[i][j] = inside ? _mm256_loadu_ps(plane + (ih * p->w + iw) * BLOCK)
                       : _mm256_setzero_ps();
    }
  }
  for (int j = 0; j < 4; j++) {
    __m256 col[4] = {d[0][j], d[1][j], d[2][j], d[3][j]}, out[4];
    input_rows(col, out);
    for (int i = 0; i < 4; i++) r[i][j] = out[i];
  }
  for (int i = 0; i < 4; i++) {
    __m256 out[4];
    input_rows(r[i], out);
    for (int j = 0; j < 4; j++)
      _mm256_storeu_ps(v + ((i * 4 + j) * n + t) * p->c + cb * BLOCK, out[j]);
  }
}

/* At m for 4 vectors (At = [1 1 1 0; 0 1 -1 -1]). */
static inline __attribute__((always_inline, target("avx2,fma"))) void
output_rows(const __m256 m[4], __m256 y[2]) {
  y[0] = _mm256_add_ps(_mm256_add_ps(m[0], m[1]), m[2]);
  y[1] = _mm256_sub_ps(_mm256_sub_ps(m[1], m[2]), m[3]);
}

/* Output tile t of the chunk from t0, output channel block ob, from M
 * ([POINTS][n][oc]): the 2x2 outputs inside the map, with bias and ReLU. */
static __attribute__((target("avx2,fma"))) void
transform_output(const winograd_params *p, const float *m, float *y, int64_t t0,
                 int64_t n, int64_t t, int64_t ob) {
  tile_at at = tile_of(p, t0 + t);
  int64_t planes = p->oc / BLOCK;
  float *plane = y + ((at.image * planes + ob) * p->oh) * p->ow * BLOCK;
  __m256 s[2][4];
  for (int j = 0; j < 4; j++) {
    __m256 col[4], out[2];
    for (int i = 0; i < 4; i++)
      col[i] = _mm256_loadu_ps(m + ((i * 4 + j) * n + t) * p->oc + ob * BLOCK);
    output_rows(col, out);
    s[0][j] = out[0];
    s[1][j] = out[1];
  }
  __m256 bias = _mm256_loadu_ps(p->bias + ob * BLOCK);
  for (int a = 0; a < 2; a++) {
    int64_t oh = at.oh + a;
    if (oh >= p->oh) break;
    __m256 out[2];
    output_rows(s[a], out);
    for (int b = 0; b < 2 && at.ow + b < p->ow; b++) {
      __m256 value = _mm256_add_ps(out[b], bias);
      if (p->relu) value = _mm256_max_ps(value, _mm256_setzero_ps());
      _mm256_storeu_ps(plane + (oh * p->ow + at.ow + b) * BLOCK, value);
    }
  }
}

/* Tiles t..t+NR-1 of one point's product, output channels of one panel
 * (width W: 16 or 8): M[t][o] = sum over i of V[t][i] U[i][o]. */
static inline __attribute__((always_inline, target("avx2,fma"))) void
product_rows(const float *v, const float *u, float *m, int64_t c, int64_t oc,
             const int nr, const int w) {
  sq_gemm_tile(v, c, 1, u, c, NULL, 0, false, m, oc, nr, w);
}

#define PRODUCT_ROWS(NR)                                                       \
  static __attribute__((target("avx2,fma"))) void product_rows_##NR(           \
      const float *v, const float *u, float *m, int64_t c, int64_t oc,         \
      int w) {                                                                 \
    if (w == PANEL)                                                            \
      product_rows(v, u, m, c, oc, NR, PANEL);                                 \
    else                                                                       \
      product_rows(v, u, m, c, oc, NR, 8);                                     \
  }
PRODUCT_ROWS(1)
PRODUCT_ROWS(2)
PRODUCT_ROWS(3)
PRODUCT_ROWS(4)
PRODUCT_ROWS(5)
PRODUCT_ROWS(6)

typedef void (*product_fn)(const float *, const float *, float *, int64_t,
                           int64_t, int);
static const product_fn products[ROWS + 1] = {
    NULL,           product_rows_1, product_rows_2, product_rows_3,
    product_rows_4, product_rows_5, product_rows_6};

/* The chunk's products M = V U (n tiles), one per point and panel of
 * output channels: U's panel stays in the caches while the tiles pass. */
static void multiply(const winograd_params *p, const float *v, float *m,
                     int64_t n) {
  int64_t panels = (p->oc + PANEL - 1) / PANEL;
  for (int64_t point = 0; point < POINTS; point++)
    for (int64_t panel = 0; panel < panels; panel++) {
      int width = p->oc - panel * PANEL < PANEL ? 8 : PANEL;
      const float *u = p->u + point * p->c * p->oc + panel * PANEL * p->c;
      const float *vp = v + point * n * p->c;
      float *mp = m + point * n * p->oc + panel * PANEL;
      for (int64_t t = 0; t < n; t += ROWS) {
        int nr = n - t < ROWS ? (int)(n - t) : ROWS;
        products[nr](vp + t * p->c, u, mp + t * p->oc, p->c, p->oc, width);
      }
    }
}

/* Chunk `chunk` of the tiles, whole, on this thread, in its own V and M:
 * the threads never wait for each other. (Each phase split over the
 * threads, with a barrier after it, ran as fast: VGG-11's Winograd
 * convolutions on 2 threads 8.3, 7.0-7.2 and 12.8-13.9 ms against 7.2-8.3,
 * 6.5-7.1 and 12.9-13.9 ms this way, `--profile`; 1.4-1.6x their one-thread
 * times either way.) */
static void run_chunk(const winograd_params *p, const float *src, float *dst,
                      float *v, float *m, int64_t chunk) {
  int64_t t0 = chunk * p->chunk;
  int64_t n = p->tiles - t0 < p->chunk ? p->tiles - t0 : p->chunk;
  int64_t planes_in = p->c / BLOCK, planes_out = p->oc / BLOCK;
  for (int64_t t = 0; t < n; t++)
    for (int64_t cb = 0; cb < planes_in; cb++)
      transform_input(p, src, v, t0, n, t, cb);
  multiply(p, v, m, n);
  for (int64_t t = 0; t < n; t++)
    for (int64_t ob = 0; ob < planes_out; ob++)
      transform_output(p, m, dst, t0, n, t, ob);
}

static seqrt_status winograd_kernel(const sq_op *op, const void *src, void *dst,
                                    void *scratch) {
  const winograd_params *p = op->params;
  int64_t chunks = (p->tiles + p->chunk - 1) / p->chunk;
  size_t per_thread = (size_t)(POINTS * p->chunk * (p->c + p->oc));
  /* Without an OpenMP region when on one thread: a one-thread step may run
   * inside another region (batch slices side by side), and even a region
   * of one thread costs ~1 us. */
  if (p->threads == 1) {
    float *v = scratch, *m = v + POINTS * p->chunk * p->c;
    for (int64_t chunk = 0; chunk < chunks; chunk++)
      run_chunk(p, src, dst, v, m, chunk);
    return SEQRT_OK;
  }
#pragma omp parallel num_threads(p->threads)
  {
    float *v = (float *)scratch + (size_t)omp_get_thread_num() * per_thread;
    float *m = v + POINTS * p->chunk * p->c;
#pragma omp for schedule(static)
    for (int64_t chunk = 0; chunk < chunks; chunk++)
      run_chunk(p, src, dst, v, m, chunk);
  }
  return SEQRT_OK;
}

/* The transformed weights (16/9 of the plain ones, which stay beside
 * them) under 1 MiB like oneDNN's Winograd ones (conv.c), or on maps big
 * enough to repay them: the time saved grows with the map, the memory does
 * not. Up to 4 MiB of weights from 56x56 maps: VGG-11 at batch 1, 1 thread,
 * its 64->128, 128->256 and 256->256 convolutions 19.5, 19.6, 38.9 ->
 * 11.8, 10.4, 20.3 ms for 6.8 MB more; its 28x28 and 14x14 ones would
 * save 20 ms more for 45 MB, AlexNet's 13x13 ones 3.2 ms for 16 MB (peak
 * RSS past the benchmark's limits: weights + 2 activations + 25 MB). */
#define SQ_WINOGRAD_BIG_MAP (56 * 56)
#define SQ_WINOGRAD_BIG_MAP_MAX_BYTES ((int64_t)4 << 20)
static bool weights_fit(const sq_builder *b) {
  const sq_layer *layer = b->layer;
  int64_t bytes = layer->weight.count * (int64_t)sizeof(float);
  int64_t map = layer->out.dims[2] * layer->out.dims[3];
  return sq_winograd_weights_fit(b) ||
         (map >= SQ_WINOGRAD_BIG_MAP && bytes < SQ_WINOGRAD_BIG_MAP_MAX_BYTES);
}

/* The step: the convolution and only ReLUs after it. */
static bool step_fits(const sq_builder *b) {
  const sq_layer *layers = b->plan->chain->layers;
  int conv = (int)(b->layer - layers);
  return sq_only_relus(layers, conv + 1, b->step->hi);
}

bool sq_winograd_kernel_fits(const sq_builder *b) {
  const sq_layer *layer = b->layer;
  if (layer->kind != SQ_CONV || layer->in.rank != 4 || layer->groups != 1 ||
      sq_cpu_avx512() || !sq_cpu_avx2() ||
      (b->dst_tag != dnnl_format_tag_undef && b->dst_tag != dnnl_nChw8c))
    return false;
  for (int i = 0; i < 2; i++)
    if (layer->kernel[i] != 3 || layer->stride[i] != 1 ||
        layer->dilation[i] != 1)
      return false;
  int64_t c = layer->in.dims[1], oc = layer->out.dims[1];
  return c % BLOCK == 0 && oc % BLOCK == 0 && c >= SQ_WINOGRAD_MIN_CHANNELS &&
         oc >= SQ_WINOGRAD_MIN_CHANNELS && weights_fit(b) && step_fits(b);
}

/* Tiles per chunk: V and M within SQ_WINOGRAD_CHUNK_BYTES, at least 16,
 * and at most an even share of the tiles for each thread. */
static int64_t chunk_tiles(int64_t c, int64_t oc, int64_t tiles, int threads) {
  int64_t per_tile = POINTS * (c + oc) * (int64_t)sizeof(float);
  int64_t chunk = (int64_t)SQ_WINOGRAD_CHUNK_BYTES / per_tile;
  int64_t share = (tiles + threads - 1) / threads;
  if (chunk < 16) chunk = 16;
  return chunk < share ? chunk : share;
}

/* p->u: the transformed weights, from the plan's cache (shared by its
 * plans) or made into the params' block. */
static seqrt_status bind_weights(sq_builder *b, winograd_params *p,
                                 float *own) {
  const sq_layer *layer = b->layer;
  size_t bytes = (size_t)(POINTS * p->c * p->oc) * sizeof(float);
  if (!b->plan->cache) {
    transform_weights(layer, layer->weight.data, own);
    p->u = own;
    b->plan->owned_const_bytes += bytes;
    return SEQRT_OK;
  }
  dnnl_dims_t dims = {p->oc, p->c, 3, 3};
  dnnl_memory_desc_t plain, key = {.ndims = 3,
                                   .dims = {POINTS, p->c, p->oc},
                                   .data_type = dnnl_f32,
                                   .format_kind = dnnl_format_kind_undef};
  seqrt_status st = sq_md_plain(layer, 4, dims, &plain);
  void *u = NULL;
  bool made = false;
  if (st == SEQRT_OK)
    st = sq_weight_cache_derived(
        b->plan->cache, layer, layer->weight.data, &plain, &key, bytes,
        transform_weights, b->plan->engine, b->plan->build_stream, &u, &made);
  p->u = u;
  *(made ? &b->plan->owned_const_bytes : &b->plan->shared_const_bytes) += bytes;
  return st;
}

seqrt_status sq_build_winograd_kernel(sq_builder *b, const dnnl_dims_t in,
                                      const dnnl_dims_t out) {
  const sq_layer *layer = b->layer;
  int64_t c = in[1], oc = out[1];
  /* The bias, then (without a cache) U. */
  int64_t u_floats = b->plan->cache ? 0 : POINTS * c * oc;
  size_t bytes =
      sizeof(winograd_params) + (size_t)(oc + u_floats) * sizeof(float);
  winograd_params *p = sq_aligned_alloc(bytes);
  if (!p)
    return sq_error(SEQRT_ERR_NOMEM, "layer '%s' (Conv): out of memory",
                    layer->name);
  int64_t tiles_h = (out[2] + 1) / 2, tiles_w = (out[3] + 1) / 2;
  int conv = (int)(layer - b->plan->chain->layers);
  *p = (winograd_params){.c = c,
                         .oc = oc,
                         .h = in[2],
                         .w = in[3],
                         .oh = out[2],
                         .ow = out[3],
                         .pad_t = layer->pad_begin[0],
                         .pad_l = layer->pad_begin[1],
                         .tiles_w = tiles_w,
                         .tiles_per_image = tiles_h * tiles_w,
                         .tiles = in[0] * tiles_h * tiles_w,
                         .relu = b->step->hi > conv,
                         .threads = b->step->threads};
  p->chunk = chunk_tiles(c, oc, p->tiles, b->step->threads);
  for (int64_t o = 0; o < oc; o++)
    p->bias[o] = layer->bias.data ? layer->bias.data[o] : 0.0f;
  seqrt_status st = bind_weights(b, p, p->bias + oc);
  if (st == SEQRT_OK) st = sq_md_tagged(layer, 4, in, dnnl_nChw8c, &b->src_md);
  if (st == SEQRT_OK) st = sq_md_tagged(layer, 4, out, dnnl_nChw8c, &b->dst_md);
  if (st != SEQRT_OK) {
    free(p);
    return st;
  }
  /* V and M for each thread. */
  size_t scratch =
      (size_t)(p->threads * POINTS * p->chunk * (c + oc)) * sizeof(float);
  return sq_op_add_kernel_scratch(b, winograd_kernel, p, SQ_AT_SRC, SQ_AT_DST,
                                  scratch);
}
