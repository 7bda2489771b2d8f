/* The AVX2 register kernel of seqrt's matrix products (the Winograd
 * convolution's, winograd_kernel.c, the Linear layers' GEMM, gemm_kernel.c,
 * and the few-channel convolutions', patch_kernel.c): up to 6 rows x 16
 * columns of C = A B in 12 accumulators, each A element broadcast once
 * against one or two vectors of a B row. */
#ifndef SEQRT_GEMM_TILE_H
#define SEQRT_GEMM_TILE_H

#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

#define SQ_TILE_ROWS 6
#define SQ_TILE_COLS 16

/* Rows r < nr and columns of C (w: 16 or 8) over n_seg segments of
 * seg_len k steps: A's element (r, j) of segment s at a[seg[s] + r * a_row
 * + j * a_k] (seg NULL: one segment at a); B packed as n_seg * seg_len rows
 * of w floats. The accumulators start from `start` (rows start_ld apart;
 * start_ld 0: one row for all, e.g. a bias), or from zero when it is NULL;
 * relu: max(0, .) before the store into C: row r's first 8 columns at c + r
 * * ldc, the next 8 c_hi floats on. nr and w are constants where this is
 * inlined. */
static inline __attribute__((always_inline, target("avx2,fma"))) void
sq_gemm_tile_segments(const float *a, int64_t a_row, int64_t a_k,
                      const int64_t *seg, int64_t n_seg, int64_t seg_len,
                      const float *b, const float *start, int64_t start_ld,
                      bool relu, float *c, int64_t ldc, int64_t c_hi,
                      const int nr, const int w) {
  /* Named accumulators: GCC kept arrays of them in memory. */
  __m256 l0, l1, l2, l3, l4, l5, h0, h1, h2, h3, h4, h5;
  l0 = l1 = l2 = l3 = l4 = l5 = h0 = h1 = h2 = h3 = h4 = h5 =
      _mm256_setzero_ps();
#define SQ_TILE_START(r)                                                       \
  if (nr > r && start) {                                                       \
    l##r = _mm256_loadu_ps(start + r * start_ld);                              \
    if (w > 8) h##r = _mm256_loadu_ps(start + r * start_ld + 8);               \
  }
  SQ_TILE_START(0);
  SQ_TILE_START(1);
  SQ_TILE_START(2);
  SQ_TILE_START(3);
  SQ_TILE_START(4);
  SQ_TILE_START(5);
#undef SQ_TILE_START
  for (int64_t s = 0; s < n_seg; s++) {
    const float *as = seg ? a + seg[s] : a;
    for (int64_t k = 0; k < seg_len; k++, as += a_k, b += w) {
      __m256 b0 = _mm256_loadu_ps(b), b1 = w > 8 ? _mm256_loadu_ps(b + 8) : b0;
#define SQ_TILE_ROW(r)                                                         \
  if (nr > r) {                                                                \
    __m256 x = _mm256_broadcast_ss(as + r * a_row);                            \
    l##r = _mm256_fmadd_ps(x, b0, l##r);                                       \
    if (w > 8) h##r = _mm256_fmadd_ps(x, b1, h##r);                            \
  }
      SQ_TILE_ROW(0);
      SQ_TILE_ROW(1);
      SQ_TILE_ROW(2);
      SQ_TILE_ROW(3);
      SQ_TILE_ROW(4);
      SQ_TILE_ROW(5);
#undef SQ_TILE_ROW
    }
  }
#define SQ_TILE_STORE(r)                                                       \
  if (nr > r) {                                                                \
    __m256 zero = _mm256_setzero_ps();                                         \
    _mm256_storeu_ps(c + r * ldc, relu ? _mm256_max_ps(l##r, zero) : l##r);    \
    if (w > 8)                                                                 \
      _mm256_storeu_ps(c + r * ldc + c_hi,                                     \
                       relu ? _mm256_max_ps(h##r, zero) : h##r);               \
  }
  SQ_TILE_STORE(0);
  SQ_TILE_STORE(1);
  SQ_TILE_STORE(2);
  SQ_TILE_STORE(3);
  SQ_TILE_STORE(4);
  SQ_TILE_STORE(5);
#undef SQ_TILE_STORE
}

/* The same over kc steps, A's element (r, k) at a[r * a_row + k * a_k],
 * each row of C contiguous. */
static inline __attribute__((always_inline, target("avx2,fma"))) void
sq_gemm_tile(const float *a, int64_t a_row, int64_t a_k, const float *b,
             int64_t kc, const float *start, int64_t start_ld, bool relu,
             float *c, int64_t ldc, const int nr, const int w) {
  sq_gemm_tile_segments(a, a_row, a_k, NULL, 1, kc, b, start, start_ld, relu, c,
                        ldc, 8, nr, w);
}

#endif
