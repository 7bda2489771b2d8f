/* Linear layers on seqrt's own kernels, which read the chain's plain
 * [N, K] weights where they lie (bind_weights) or, without AVX-512 from 32
 * rows, packed once (bind_packed_weights), with the ReLUs after them:
 *
 * One row (batch 1 of an MLP or a classifier head): y = W x + b. Such a
 * layer is a matrix-vector product whose time is the weights' streaming
 * read. oneDNN's inner product reads them reordered into blocks, and on two
 * threads read AlexNet's two big Linear layers at 50-69 GB/s of the up to
 * ~70 GB/s this VM streams; this kernel streams four weight rows at a time,
 * splits the rows over the step's threads and read them at 61-72 GB/s
 * (`seqrt bench --profile`, alternating), and matched oneDNN on one
 * thread. In-cache layers gain from its lower overhead: LeNet-5 at batch 1
 * 8.8 -> 7.8 us. A variant for 2 to 4 rows was slower than oneDNN (the wide
 * MLP at batch 4 on one thread 6.2 against 4.8 ms). The kernel has an
 * AVX-512 and an AVX2 form (linear_kernel_isa.h; one_row_fits).
 *
 * Many rows (the dims before the last) of a layer too big for the caches:
 * y^T = W x^T as one dnnl_sgemm on feature-major activations ([K][rows]
 * in, [N][rows] out; consecutive such layers pass them on without a
 * reorder), then the bias and ReLUs per output row. Its blocking suits a tall W
 * and a few hundred columns better than oneDNN 2.6's brgemm matmul on blocked
 * weights does its [rows, K] x [K, N] (medians of interleaved runs on an Intel
 * Xeon, GFLOP/s brgemm -> sgemm, bias and ReLU included): 4096 -> 4096 at 32
 * rows 95-98 -> 107-113 on one thread, 200 -> 259 on two; at 64 rows 124-130 ->
 * 130-140 and 256 -> 282; at 256 rows 157-159 -> 155-156 (a tie; the
 * wide MLP 123.2 -> 120.6 ms); 9216 -> 4096 at 32 rows 98 -> 107, 189 ->
 * 229. From 16 MB of weights it won or tied; on weights that fit the
 * caches brgemm won (784 -> 512 at 256 rows 167 -> 154 GFLOP/s), and below
 * 16 rows oneDNN's inner product did; without AVX-512, where oneDNN 2.6
 * has no brgemm, the kernel runs all weights (sgemm_pays). dnnl_sgemm
 * packs its operands into buffers it allocates on each call; without
 * AVX-512 the layers run instead seqrt's GEMM (gemm_kernel.c) on plain
 * activations and weights packed once, in the cache, which gives the
 * chain's pages back as it packs them (the wide MLP at batch 256 on an
 * AVX2 AMD EPYC, alternating `seqrt bench`: 237-244 -> 203-209 ms on one
 * thread, 94 GFLOP/s). The weights move
 * onto huge pages when the plan is made (sq_collapse_huge_pages): the wide MLP
 * at batch 256 ran 2-3.5% faster on them. The batch-1 kernel's weights stay
 * where they are; whether it gains too is open (the wide MLP at batch 1 ran
 * 2-7% faster with SEQRT_HUGE_PAGES=1 in 4 of 4 alternating pairs, on a noisy
 * host). */
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>

#include "gemm_tile.h"
#include "internal.h"

#define BLOCK 4 /* weight rows streamed together */

/* Many rows from this many (of the weights sgemm_pays names). */
#define SQ_SGEMM_MIN_ROWS 32

typedef struct linear_kernel_params linear_kernel_params;
/* Output rows of one block of BLOCK (linear_kernel_isa.h). */
typedef void (*linear_block_fn)(const linear_kernel_params *p, const float *x,
                                float *y, int64_t block);

struct linear_kernel_params {
  linear_block_fn block; /* one row: the CPU's */
  int64_t rows, k, n;
  /* [n][k] (bind_weights; 64-byte aligned for a row), or packed for
   * sq_gemm_run (bind_packed_weights) */
  const float *weights;
  bool relu, parallel;
  float bias[]; /* n, then zeros up to a multiple of 16 (sq_gemm's) */
};

#define LK_LANES 16
#include "linear_kernel_isa.h"
#undef LK_LANES
#define LK_LANES 8
#include "linear_kernel_isa.h"
#undef LK_LANES

static seqrt_status one_row_kernel(const sq_op *op, const void *src, void *dst,
                                   void *scratch) {
  const linear_kernel_params *p = op->params;
  int64_t blocks = (p->n + BLOCK - 1) / BLOCK;
  if (!p->parallel) {
    /* Without an OpenMP region: even one of a single thread costs ~1 us. */
    for (int64_t block = 0; block < blocks; block++)
      p->block(p, src, dst, block);
    return SEQRT_OK;
  }
  /* Contiguous ranges of rows per thread: each streams its own part of
   * the weights. */
#pragma omp parallel for schedule(static)
  for (int64_t block = 0; block < blocks; block++) p->block(p, src, dst, block);
  return SEQRT_OK;
}

static seqrt_status many_rows_kernel(const sq_op *op, const void *src,
                                     void *dst, void *scratch) {
  const linear_kernel_params *p = op->params;
  int64_t rows = p->rows;
  dnnl_status_t st = dnnl_sgemm('N', 'N', p->n, rows, p->k, 1.0f, p->weights,
                                p->k, src, rows, 0.0f, dst, rows);
  if (st != dnnl_success) return sq_dnnl_error(op->layer, "sgemm", st);
#pragma omp parallel for if (p->parallel) schedule(static)
  for (int64_t r = 0; r < p->n; r++) {
    float bias = p->bias[r], *y = (float *)dst + r * rows;
    for (int64_t j = 0; j < rows; j++) {
      float v = y[j] + bias;
      y[j] = p->relu && v < 0.0f ? 0.0f : v;
    }
  }
  return SEQRT_OK;
}

static seqrt_status packed_rows_kernel(const sq_op *op, const void *src,
                                       void *dst, void *scratch) {
  const linear_kernel_params *p = op->params;
  sq_gemm g = {p->rows, p->k, p->n, p->weights, p->bias, p->relu, p->parallel};
  sq_gemm_run(&g, src, dst, scratch);
  return SEQRT_OK;
}

/* The rows the layer's plain input holds: its dims but the last. */
static int64_t input_rows(const sq_builder *b) {
  const sq_layer *layer = b->layer;
  dnnl_dims_t in;
  sq_dims(&layer->in, b->plan->batch, in);
  int64_t rows = 1;
  for (int i = 0; i < layer->in.rank - 1; i++) rows *= in[i];
  return rows;
}

/* Chain weights are 64-byte aligned (core/chain.h); a misaligned array
 * would make every load straddle two cache lines (AlexNet's Linear layers
 * on one thread: 25-31 GB/s against 38 GB/s aligned). */
static bool weights_aligned(const sq_layer *layer) {
  return (uintptr_t)layer->weight.data % SQ_ALIGN == 0;
}

/* Without AVX-512, weights the caches hold: there the kernel's lower
 * overhead paid (AVX2 AMD EPYC, alternating `seqrt bench` p50 against
 * oneDNN's inner product, 3 pairs: LeNet-5 at batch 1 18.1-28.2 against
 * 26.5-37.5 us, the MNIST MLP 37.7-40.0 against 41.8-46.4 us on 1 thread
 * and 23.4-24.7 against 32.9-39.8 us on 2), but streaming the wide MLP's
 * weights four rows at a time on one thread was slower than oneDNN's one
 * blocked stream (7.08-7.32 against 6.27-7.10 ms). */
static bool one_row_fits(const sq_builder *b) {
  return input_rows(b) == 1 && weights_aligned(b->layer) &&
         (sq_cpu_avx512() ||
          (sq_cpu_avx2() && b->layer->weight.count < SQ_STREAMED_WEIGHTS));
}

/* Weights the caches hold run faster on oneDNN's brgemm matmul, which
 * oneDNN 2.6 has only with AVX-512. Without it the matmul is a gemm with
 * more overhead than dnnl_sgemm: on an AVX2 AMD EPYC, one thread, the MNIST
 * MLP at batch 256 ran 3.90-3.92 ms as matmuls, 3.19-3.20 ms on dnnl_sgemm
 * (ONNX Runtime 2.95 ms); on two threads 2.01-2.08 against 1.55-1.62 ms.
 * seqrt's GEMM ran it 3.01-3.34 ms against dnnl_sgemm's 3.27-3.77 (4 of 5
 * alternating pairs faster). */
static bool sgemm_pays(const sq_layer *layer) {
  return layer->weight.count >= SQ_STREAMED_WEIGHTS || !sq_cpu_avx512();
}

/* A 2-D or 3-D layer whose step chooses its layouts (not a band's). */
static bool many_rows_fit(const sq_builder *b) {
  const sq_layer *layer = b->layer;
  return (layer->in.rank == 2 || layer->in.rank == 3) && !b->flatten &&
         input_rows(b) >= SQ_SGEMM_MIN_ROWS && sgemm_pays(layer) &&
         b->src_tag == dnnl_format_tag_undef &&
         b->dst_tag == dnnl_format_tag_undef;
}

bool sq_linear_kernel_fits(const sq_builder *b) {
  const sq_layer *layers = b->plan->chain->layers;
  int linear = (int)(b->layer - layers);
  return b->layer->kind == SQ_LINEAR &&
         sq_only_relus(layers, linear + 1, b->step->hi) &&
         (one_row_fits(b) || many_rows_fit(b));
}

/* p->weights: the chain's array where it lies (the cache's copy once the
 * cache has given the chain's pages back). */
static seqrt_status bind_weights(sq_builder *b, linear_kernel_params *p) {
  const sq_layer *layer = b->layer;
  const float *source = layer->weight.data;
  b->plan->shared_const_bytes += (size_t)(p->n * p->k) * sizeof(float);
  if (!b->plan->cache) {
    p->weights = source;
    return SEQRT_OK;
  }
  dnnl_dims_t dims = {p->n, p->k};
  dnnl_memory_desc_t plain;
  seqrt_status st = sq_md_plain(layer, 2, dims, &plain);
  if (st != SEQRT_OK) return st;
  void *weights = NULL;
  st = sq_weight_cache_in_place(b->plan->cache, layer, source, &plain,
                                b->plan->engine, b->plan->build_stream,
                                &weights);
  p->weights = weights;
  return st;
}

/* An activation of the layer's rank with its last dim outermost and the
 * rows (the dims before it) row-major inside: [B, K] as ba. */
static seqrt_status feature_major_md(const sq_layer *layer,
                                     const dnnl_dims_t dims,
                                     dnnl_memory_desc_t *md) {
  int rank = layer->in.rank;
  dnnl_dims_t strides;
  strides[rank - 2] = 1;
  for (int i = rank - 3; i >= 0; i--) strides[i] = strides[i + 1] * dims[i + 1];
  strides[rank - 1] = strides[0] * dims[0];
  SQ_DNNL(layer, "feature-major memory descriptor",
          dnnl_memory_desc_init_by_strides(md, rank, dims, dnnl_f32, strides));
  return SEQRT_OK;
}

/* Many rows without AVX-512 run sq_gemm on weights packed once. */
static bool packs_weights(void) { return !sq_cpu_avx512() && sq_cpu_avx2(); }

/* p->weights: packed for sq_gemm_run, in the plan's cache (the chain's
 * pages given back as the copy is made) or in `own`. */
static seqrt_status bind_packed_weights(sq_builder *b, linear_kernel_params *p,
                                        float *own) {
  const sq_layer *layer = b->layer;
  dnnl_dims_t dims = {p->n, p->k};
  dnnl_memory_desc_t plain, packed;
  seqrt_status st = sq_md_plain(layer, 2, dims, &plain);
  if (st == SEQRT_OK) st = sq_gemm_weights_md(layer, p->n, p->k, &packed);
  if (st != SEQRT_OK) return st;
  void *weights = own;
  if (b->plan->cache)
    st = sq_weight_cache_get(b->plan->cache, layer, layer->weight.data, &plain,
                             &packed, b->plan->engine, b->plan->build_stream,
                             &weights);
  else
    st = sq_reorder_now(layer, b->plan->engine, b->plan->build_stream, &plain,
                        layer->weight.data, &packed, own);
  p->weights = weights;
  b->plan->owned_const_bytes += dnnl_memory_desc_get_size(&packed);
  return st;
}

/* The params with room for the bias (up to a multiple of 16 floats),
 * then, packed without a cache, for the weights from the next 64 bytes
 * (*own). */
static linear_kernel_params *new_params(const sq_builder *b, int64_t n,
                                        int64_t k, bool packed, float **own) {
  int64_t bias = sq_round_up(n, SQ_TILE_COLS);
  size_t head = sizeof(linear_kernel_params) + (size_t)bias * sizeof(float);
  size_t weights = packed && !b->plan->cache
                       ? (size_t)(bias * k) * sizeof(float) + SQ_ALIGN
                       : 0;
  linear_kernel_params *p = sq_aligned_alloc(head + weights);
  uintptr_t tail = (uintptr_t)p + head;
  *own = p && weights ? (float *)(tail + (SQ_ALIGN - tail % SQ_ALIGN)) : NULL;
  return p;
}

seqrt_status sq_build_linear_kernel(sq_builder *b, int64_t k, int64_t n) {
  const sq_layer *layer = b->layer;
  const sq_layer *first = b->flatten ? b->flatten : layer;
  int index = (int)(layer - b->plan->chain->layers);
  int64_t rows = input_rows(b);
  bool many = rows > 1, packed = many && packs_weights();
  float *own = NULL;
  linear_kernel_params *p = new_params(b, n, k, packed, &own);
  if (!p)
    return sq_error(SEQRT_ERR_NOMEM, "layer '%s' (Linear): out of memory",
                    layer->name);
  *p = (linear_kernel_params){.block = sq_cpu_avx512() ? linear_block_avx512
                                                       : linear_block_avx2,
                              .rows = rows,
                              .k = k,
                              .n = n,
                              .relu = b->step->hi > index,
                              .parallel = b->step->threads > 1};
  /* After the assignment, which may write the struct's tail padding. */
  for (int64_t i = 0; i < sq_round_up(n, SQ_TILE_COLS); i++)
    p->bias[i] = i < n && layer->bias.data ? layer->bias.data[i] : 0.0f;
  b->plan->owned_const_bytes += (size_t)n * sizeof(float);
  dnnl_dims_t in, out;
  sq_dims(&first->in, b->plan->batch, in);
  sq_dims(&layer->out, b->plan->batch, out);
  seqrt_status st =
      packed ? bind_packed_weights(b, p, own) : bind_weights(b, p);
  if (st == SEQRT_OK && many && layer->weight.count >= SQ_STREAMED_WEIGHTS)
    sq_collapse_huge_pages(p->weights, (size_t)(n * k) * sizeof(float));
  bool feature_major = many && !packed;
  if (st == SEQRT_OK)
    st = feature_major ? feature_major_md(layer, in, &b->src_md)
                       : sq_md_plain(layer, first->in.rank, in, &b->src_md);
  if (st == SEQRT_OK)
    st = feature_major ? feature_major_md(layer, out, &b->dst_md)
                       : sq_md_plain(layer, layer->out.rank, out, &b->dst_md);
  if (st != SEQRT_OK) {
    free(p);
    return st;
  }
  if (packed)
    return sq_op_add_kernel_scratch(b, packed_rows_kernel, p, SQ_AT_SRC,
                                    SQ_AT_DST, sq_gemm_scratch_bytes(rows, k));
  return sq_op_add_kernel(b, many ? many_rows_kernel : one_row_kernel, p,
                          SQ_AT_SRC, SQ_AT_DST);
}
