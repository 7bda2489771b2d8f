/* The one-row Linear kernel's block function for one vector ISA.
 * linear_kernel.c includes this file once per ISA with LK_LANES set (16:
 * AVX-512, 8: AVX2); each inclusion defines linear_block_avx512 or
 * linear_block_avx2. */
#if LK_LANES == 16
#define LK_TARGET "avx512f"
#define LK_NAME(name) name##_avx512
#define lk_vec __m512
#define lk_loadu _mm512_loadu_ps
#define lk_fmadd _mm512_fmadd_ps
#define lk_add _mm512_add_ps
#define lk_zero _mm512_setzero_ps

/* The first n lanes (all from 16) from ptr, zeros elsewhere; no other
 * lane is read, even outside the arrays. */
static inline __attribute__((always_inline, target(LK_TARGET))) lk_vec
LK_NAME(load_first)(const float *ptr, int64_t n) {
  return _mm512_maskz_loadu_ps((__mmask16)(n < 16 ? (1u << n) - 1 : 0xffff),
                               ptr);
}

static inline __attribute__((always_inline, target(LK_TARGET))) float
LK_NAME(sum)(lk_vec v) {
  return _mm512_reduce_add_ps(v);
}
#elif LK_LANES == 8
#define LK_TARGET "avx2,fma"
#define LK_NAME(name) name##_avx2
#define lk_vec __m256
#define lk_loadu _mm256_loadu_ps
#define lk_fmadd _mm256_fmadd_ps
#define lk_add _mm256_add_ps
#define lk_zero _mm256_setzero_ps

static inline __attribute__((always_inline, target(LK_TARGET))) lk_vec
LK_NAME(load_first)(const float *ptr, int64_t n) {
  __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), lanes);
  return _mm256_maskload_ps(ptr, mask);
}

static inline __attribute__((always_inline, target(LK_TARGET))) float
LK_NAME(sum)(lk_vec v) {
  __m128 half =
      _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  half = _mm_add_ps(half, _mm_movehl_ps(half, half));
  half = _mm_add_ss(half, _mm_movehdup_ps(half));
  return _mm_cvtss_f32(half);
}
#else
#error "LK_LANES must be 16 or 8"
#endif

/* Outputs r..r+NR-1: NR weight rows against the input, two chunks of
 * LK_LANES columns per iteration (2 x NR independent accumulators), the
 * last columns masked. NR is a constant where this is inlined. */
static inline __attribute__((always_inline, target(LK_TARGET))) void
LK_NAME(dot_rows)(const linear_kernel_params *p, const float *x, float *y,
                  int64_t r, const int nr) {
  lk_vec acc[BLOCK][2];
  for (int i = 0; i < nr; i++) acc[i][0] = acc[i][1] = lk_zero();
  const float *w = p->weights + r * p->k;
  int64_t k = p->k, col = 0;
  for (; col + 2 * LK_LANES <= k; col += 2 * LK_LANES) {
    lk_vec x0 = lk_loadu(x + col), x1 = lk_loadu(x + col + LK_LANES);
    for (int i = 0; i < nr; i++) {
      acc[i][0] = lk_fmadd(lk_loadu(w + i * k + col), x0, acc[i][0]);
      acc[i][1] = lk_fmadd(lk_loadu(w + i * k + col + LK_LANES), x1, acc[i][1]);
    }
  }
  for (; col < k; col += LK_LANES) {
    lk_vec xv = LK_NAME(load_first)(x + col, k - col);
    for (int i = 0; i < nr; i++)
      acc[i][0] = lk_fmadd(LK_NAME(load_first)(w + i * k + col, k - col), xv,
                           acc[i][0]);
  }
  for (int i = 0; i < nr; i++) {
    float v = LK_NAME(sum)(lk_add(acc[i][0], acc[i][1])) + p->bias[r + i];
    y[r + i] = p->relu && v < 0.0f ? 0.0f : v;
  }
}

/* Output rows of block `block` (BLOCK weight rows, fewer at the end). */
static __attribute__((target(LK_TARGET))) void
LK_NAME(linear_block)(const linear_kernel_params *p, const float *x, float *y,
                      int64_t block) {
  int64_t r = block * BLOCK;
  if (r + BLOCK <= p->n) {
    LK_NAME(dot_rows)(p, x, y, r, BLOCK);
    return;
  }
  for (; r < p->n; r++) LK_NAME(dot_rows)(p, x, y, r, 1);
}

#undef LK_TARGET
#undef LK_NAME
#undef lk_vec
#undef lk_loadu
#undef lk_fmadd
#undef lk_add
#undef lk_zero
