/* y = x W^T + b over many rows, on CPUs with AVX2 but without AVX-512,
 * where oneDNN 2.6's matmul is a gemm and dnnl_sgemm packs W into buffers
 * it allocates on every call. Here W is packed once, when the plan is
 * made (panels of 16 of its rows, k-major), so a run streams it exactly
 * once; each run packs x into panels of 6 rows (scratch) or, for few
 * columns, reads them where they lie, and the register kernel (gemm_tile.h)
 * computes 6 x 16 tiles of y. The 16-column panel of W stays in L2 while every
 * row panel passes it, and K is blocked only beyond 4096 (a 256 KiB panel):
 * with 256-float blocks y went through the caches 16 times and the product ran
 * 7-10% slower. One thread, best of 9 against dnnl_sgemm's own 2048^3 in the
 * same run (AMD EPYC, AVX2): 256 x 4096 x 4096 88.6 against 88.0 GFLOP/s, where
 * dnnl_sgemm ran these shapes at 64-71 GFLOP/s; on two threads 178 against 172.
 */
#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_tile.h"
#include "internal.h"

#define SQ_GEMM_MAX_KC 4096
/* Up to this many 16-column panels, x's rows are read where they lie:
 * packing them cost more than it saved when few panels reuse them (252
 * rows, 1 thread, medians: 256 -> 16 columns 43 packed against 88 GFLOP/s
 * direct, 256 -> 128 74 against 94, 784 -> 64 73 against 97; but 784 ->
 * 512 88 against 73, 512 -> 256 87 against 74). */
#define SQ_GEMM_DIRECT_MAX_PANELS 8
/* Threads split the column panels when each gets this many, else the
 * row panels. */
#define SQ_GEMM_PANELS_PER_THREAD 4
/* Row panels of one block: x's share of it (kc floats a row) within this
 * many bytes, so that it stays in the last-level cache. */
#define SQ_GEMM_ROW_BLOCK_BYTES ((int64_t)8 << 20)

seqrt_status sq_gemm_weights_md(const sq_layer *layer, int64_t n, int64_t k,
                                dnnl_memory_desc_t *md) {
  dnnl_dims_t dims = {n, k};
  SQ_DNNL(layer, "packed weights memory descriptor",
          dnnl_memory_desc_init_by_tag(md, 2, dims, dnnl_f32, dnnl_ab));
  /* [n / 16][k][16]: oneDNN's reorders make it, zeros past n included. */
  dnnl_blocking_desc_t *blk = &md->format_desc.blocking;
  md->padded_dims[0] = sq_round_up(n, SQ_TILE_COLS);
  blk->strides[0] = k * SQ_TILE_COLS;
  blk->strides[1] = SQ_TILE_COLS;
  blk->inner_nblks = 1;
  blk->inner_blks[0] = SQ_TILE_COLS;
  blk->inner_idxs[0] = 0;
  return SEQRT_OK;
}

size_t sq_gemm_scratch_bytes(int64_t rows, int64_t k) {
  return (size_t)(sq_round_up(rows, SQ_TILE_ROWS) * k) * sizeof(float);
}

/* Rows r0.. (6, zeros past the last row) of x as [k][6], from k0. */
static void pack_rows_scalar(const sq_gemm *g, const float *x, int64_t r0,
                             int64_t k0, float *out) {
  int64_t m = g->rows - r0 < SQ_TILE_ROWS ? g->rows - r0 : SQ_TILE_ROWS;
  for (int64_t r = 0; r < SQ_TILE_ROWS; r++) {
    /* No pointer past x's last row, even unread. */
    const float *row = r < m ? x + (r0 + r) * g->k : NULL;
    for (int64_t k = k0; k < g->k; k++)
      out[k * SQ_TILE_ROWS + r] = row ? row[k] : 0.0f;
  }
}

/* The same for 6 whole rows, 8 k at a time: an 8 x 8 transpose in
 * registers (rows 6 and 7 zero), each k's 6 floats stored as 8 whose last
 * 2 the next k's store overwrites; the k of the last block go one by one,
 * so nothing is written past the panel. Packing took 4.8% of the MNIST
 * MLP's run at batch 256 on 1 thread one by one, 2.5% so (`perf`). */
static __attribute__((target("avx2"))) void
pack_rows_avx2(const sq_gemm *g, const float *x, int64_t first, float *out) {
  const float *rows = x + first * g->k;
  int64_t k = g->k, kb = 0;
  __m256 zero = _mm256_setzero_ps();
  for (; kb + 8 < k; kb += 8) {
    const float *at = rows + kb;
    __m256 x0 = _mm256_loadu_ps(at), x1 = _mm256_loadu_ps(at + k);
    __m256 x2 = _mm256_loadu_ps(at + 2 * k), x3 = _mm256_loadu_ps(at + 3 * k);
    __m256 x4 = _mm256_loadu_ps(at + 4 * k), x5 = _mm256_loadu_ps(at + 5 * k);
    __m256 t0 = _mm256_unpacklo_ps(x0, x1), t1 = _mm256_unpackhi_ps(x0, x1);
    __m256 t2 = _mm256_unpacklo_ps(x2, x3), t3 = _mm256_unpackhi_ps(x2, x3);
    __m256 t4 = _mm256_unpacklo_ps(x4, x5), t5 = _mm256_unpackhi_ps(x4, x5);
    /* s0-s3: rows 0-3 at kb + 0-3 (kb + 4-7 in the high lanes); s4-s7:
     * rows 4 and 5, then zeros. */
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44),
           s1 = _mm256_shuffle_ps(t0, t2, 0xee);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44),
           s3 = _mm256_shuffle_ps(t1, t3, 0xee);
    __m256 s4 = _mm256_shuffle_ps(t4, zero, 0x44),
           s5 = _mm256_shuffle_ps(t4, zero, 0xee);
    __m256 s6 = _mm256_shuffle_ps(t5, zero, 0x44),
           s7 = _mm256_shuffle_ps(t5, zero, 0xee);
    float *o = out + kb * SQ_TILE_ROWS;
    _mm256_storeu_ps(o, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(o + 6, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(o + 12, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(o + 18, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(o + 24, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(o + 30, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(o + 36, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(o + 42, _mm256_permute2f128_ps(s3, s7, 0x31));
  }
  pack_rows_scalar(g, x, first, kb, out);
}

static void pack_rows(const sq_gemm *g, const float *x, int64_t r0,
                      float *out) {
  if (g->rows - r0 >= SQ_TILE_ROWS)
    pack_rows_avx2(g, x, r0, out);
  else
    pack_rows_scalar(g, x, r0, 0, out);
}

/* Row panel i's A from k0: x's own rows (row, 1) or packed (1, 6). */
typedef struct a_panel {
  const float *a;
  int64_t row, step;
} a_panel;

static __attribute__((target("avx2,fma"))) void
full_tile(a_panel a, const float *b, int64_t kc, const float *start,
          int64_t start_ld, bool relu, float *c, int64_t ldc) {
  /* Two copies: strides that are constants keep the loop tight. */
  if (a.step == SQ_TILE_ROWS)
    sq_gemm_tile(a.a, 1, SQ_TILE_ROWS, b, kc, start, start_ld, relu, c, ldc,
                 SQ_TILE_ROWS, SQ_TILE_COLS);
  else
    sq_gemm_tile(a.a, a.row, 1, b, kc, start, start_ld, relu, c, ldc,
                 SQ_TILE_ROWS, SQ_TILE_COLS);
}

/* A tile cut by the last row or column: through a whole one. */
static void edge_tile(a_panel a, const float *b, int64_t kc, const float *bias,
                      bool relu, float *c, int64_t ldc, int64_t m, int64_t n) {
  float tile[SQ_TILE_ROWS * SQ_TILE_COLS] = {0};
  if (!bias)
    for (int64_t r = 0; r < m; r++)
      memcpy(tile + r * SQ_TILE_COLS, c + r * ldc, (size_t)n * sizeof(float));
  full_tile(a, b, kc, bias ? bias : tile, bias ? 0 : SQ_TILE_COLS, relu, tile,
            SQ_TILE_COLS);
  for (int64_t r = 0; r < m; r++)
    memcpy(c + r * ldc, tile + r * SQ_TILE_COLS, (size_t)n * sizeof(float));
}

/* One run's product. direct: whole row panels are read from x where they
 * lie (only a last, partial one is packed). */
typedef struct gemm_job {
  const sq_gemm *g;
  const float *x;
  float *packed, *y;
  bool direct;
  int64_t panels_m, panels_n;
} gemm_job;

static bool whole_panel(const gemm_job *job, int64_t i) {
  return job->g->rows - i * SQ_TILE_ROWS >= SQ_TILE_ROWS;
}

static a_panel panel_at(const gemm_job *job, int64_t i, int64_t k0) {
  int64_t k = job->g->k;
  if (job->direct && whole_panel(job, i))
    return (a_panel){job->x + i * SQ_TILE_ROWS * k + k0, k, 1};
  return (a_panel){job->packed + (i * k + k0) * SQ_TILE_ROWS, 1, SQ_TILE_ROWS};
}

static void pack_panel(const gemm_job *job, int64_t i) {
  if (!job->direct || !whole_panel(job, i))
    pack_rows(job->g, job->x, i * SQ_TILE_ROWS,
              job->packed + i * SQ_TILE_ROWS * job->g->k);
}

/* Column panels [j0, j1) of y over k block [k0, k0 + kc) and row panels
 * [i0, i1); the first k block starts from the bias, the last applies
 * the ReLU. */
typedef struct gemm_block {
  int64_t k0, kc, i0, i1, j0, j1;
} gemm_block;

static void run_block(const gemm_job *job, const gemm_block *blk) {
  const sq_gemm *g = job->g;
  bool first = blk->k0 == 0, relu = g->relu && blk->k0 + blk->kc == g->k;
  for (int64_t j = blk->j0; j < blk->j1; j++) {
    const float *b = g->weights + (j * g->k + blk->k0) * SQ_TILE_COLS;
    const float *bias = first ? g->bias + j * SQ_TILE_COLS : NULL;
    int64_t n = g->n - j * SQ_TILE_COLS;
    for (int64_t i = blk->i0; i < blk->i1; i++) {
      a_panel a = panel_at(job, i, blk->k0);
      float *c = job->y + i * SQ_TILE_ROWS * g->n + j * SQ_TILE_COLS;
      int64_t m = g->rows - i * SQ_TILE_ROWS;
      if (m >= SQ_TILE_ROWS && n >= SQ_TILE_COLS)
        full_tile(a, b, blk->kc, bias ? bias : c, bias ? 0 : g->n, relu, c,
                  g->n);
      else
        edge_tile(a, b, blk->kc, bias, relu, c, g->n,
                  m < SQ_TILE_ROWS ? m : SQ_TILE_ROWS,
                  n < SQ_TILE_COLS ? n : SQ_TILE_COLS);
    }
  }
}

/* This thread's share: its column panels when there are enough for every
 * thread, else its row panels; every k block and row block of it. */
static void run_share(const gemm_job *job, int thread, int threads) {
  const sq_gemm *g = job->g;
  bool by_columns = job->panels_n >= SQ_GEMM_PANELS_PER_THREAD * threads;
  int64_t parts = by_columns ? job->panels_n : job->panels_m;
  int64_t lo = parts * thread / threads, hi = parts * (thread + 1) / threads;
  int64_t i_lo = by_columns ? 0 : lo, i_hi = by_columns ? job->panels_m : hi;
  int64_t k_blocks = (g->k + SQ_GEMM_MAX_KC - 1) / SQ_GEMM_MAX_KC;
  int64_t kc = (g->k + k_blocks - 1) / k_blocks;
  int64_t per_block =
      SQ_GEMM_ROW_BLOCK_BYTES / (SQ_TILE_ROWS * kc * (int64_t)sizeof(float));
  if (per_block < 1) per_block = 1;
  int64_t row_blocks = (i_hi - i_lo + per_block - 1) / per_block;
  gemm_block blk = {.j0 = by_columns ? lo : 0,
                    .j1 = by_columns ? hi : job->panels_n};
  for (blk.k0 = 0; blk.k0 < g->k; blk.k0 += kc) {
    blk.kc = g->k - blk.k0 < kc ? g->k - blk.k0 : kc;
    for (int64_t r = 0; r < row_blocks; r++) {
      blk.i0 = i_lo + (i_hi - i_lo) * r / row_blocks;
      blk.i1 = i_lo + (i_hi - i_lo) * (r + 1) / row_blocks;
      run_block(job, &blk);
    }
  }
}

void sq_gemm_run(const sq_gemm *g, const float *x, float *y, float *scratch) {
  gemm_job job = {.g = g,
                  .x = x,
                  .packed = scratch,
                  .y = y,
                  .panels_m = (g->rows + SQ_TILE_ROWS - 1) / SQ_TILE_ROWS,
                  .panels_n = (g->n + SQ_TILE_COLS - 1) / SQ_TILE_COLS};
  job.direct = job.panels_n <= SQ_GEMM_DIRECT_MAX_PANELS;
  if (!g->parallel) {
    /* Without an OpenMP region: the step may run inside one (batch
     * slices side by side). */
    for (int64_t i = 0; i < job.panels_m; i++) pack_panel(&job, i);
    run_share(&job, 0, 1);
    return;
  }
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int64_t i = 0; i < job.panels_m; i++) pack_panel(&job, i);
    run_share(&job, omp_get_thread_num(), omp_get_num_threads());
  }
}
