/* The few-channel convolution kernel's row functions for one vector ISA.
 * conv_kernel.c includes this file once per ISA with CK_LANES set (16:
 * AVX-512, 8: AVX2); each inclusion defines conv_rows_avx512[] or
 * conv_rows_avx2[], the row function per output channel count. Lanes hold
 * consecutive output columns of one output channel. */
#if CK_LANES == 16
#define CK_TARGET "avx512f"
#define CK_NAME(name) name##_avx512
/* Two chunks for up to 8 channels: 16 accumulators of 32 registers. */
#define CK_PAIRED_OUT 8
#define ck_vec __m512
#define ck_set1 _mm512_set1_ps
#define ck_fmadd _mm512_fmadd_ps
#define ck_max _mm512_max_ps
#define ck_zero _mm512_setzero_ps
#define ck_load _mm512_load_ps

/* The lanes of `bits` from ptr, zeros elsewhere; no other lane is read. */
static inline __attribute__((always_inline, target(CK_TARGET))) ck_vec
CK_NAME(load_lanes)(unsigned bits, const float *ptr) {
  return _mm512_maskz_loadu_ps((__mmask16)bits, ptr);
}

static inline __attribute__((always_inline, target(CK_TARGET))) void
CK_NAME(store_lanes)(float *ptr, unsigned bits, ck_vec v) {
  _mm512_mask_storeu_ps(ptr, (__mmask16)bits, v);
}

/* Max of each pair of columns of lo (columns 0..15) and hi (16..31). */
static inline __attribute__((always_inline, target(CK_TARGET))) ck_vec
CK_NAME(pair_max)(ck_vec lo, ck_vec hi) {
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12,
                                        10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13,
                                       11, 9, 7, 5, 3, 1);
  return _mm512_max_ps(_mm512_permutex2var_ps(lo, even, hi),
                       _mm512_permutex2var_ps(lo, odd, hi));
}
#elif CK_LANES == 8
#define CK_TARGET "avx2,fma"
#define CK_NAME(name) name##_avx2
/* Two chunks for up to 6 channels: 12 accumulators, the loads and a
 * broadcast fit the 16 registers. */
#define CK_PAIRED_OUT 6
#define ck_vec __m256
#define ck_set1 _mm256_set1_ps
#define ck_fmadd _mm256_fmadd_ps
#define ck_max _mm256_max_ps
#define ck_zero _mm256_setzero_ps
#define ck_load _mm256_load_ps

/* Lane i is on when bit i is. */
static inline __attribute__((always_inline, target(CK_TARGET))) __m256i
CK_NAME(mask_of)(unsigned bits) {
  const __m256i lane = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  return _mm256_cmpeq_epi32(
      _mm256_and_si256(_mm256_set1_epi32((int)bits), lane), lane);
}

/* The lanes of `bits` from ptr, zeros elsewhere; no other lane is read.
 * Whole vectors skip the masks, which cost 4 instructions to build: with
 * masks everywhere LeNet-5 at batch 1 ran 24.4-24.8 us, without them
 * 19.7-19.9 us (alternating `seqrt bench` runs, an AVX2 AMD EPYC). */
static inline __attribute__((always_inline, target(CK_TARGET))) ck_vec
CK_NAME(load_lanes)(unsigned bits, const float *ptr) {
  if ((bits & 0xff) == 0xff) return _mm256_loadu_ps(ptr);
  return _mm256_maskload_ps(ptr, CK_NAME(mask_of)(bits));
}

static inline __attribute__((always_inline, target(CK_TARGET))) void
CK_NAME(store_lanes)(float *ptr, unsigned bits, ck_vec v) {
  if ((bits & 0xff) == 0xff)
    _mm256_storeu_ps(ptr, v);
  else
    _mm256_maskstore_ps(ptr, CK_NAME(mask_of)(bits), v);
}

/* Max of each pair of columns of lo (columns 0..7) and hi (8..15). */
static inline __attribute__((always_inline, target(CK_TARGET))) ck_vec
CK_NAME(pair_max)(ck_vec lo, ck_vec hi) {
  /* Per 128-bit half: pairs (0,1) (2,3) of lo, then of hi; the halves'
   * 64-bit quarters then go back in column order. */
  __m256 max =
      _mm256_max_ps(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0)),
                    _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm256_castpd_ps(
      _mm256_permute4x64_pd(_mm256_castps_pd(max), _MM_SHUFFLE(3, 1, 2, 0)));
}
#else
#error "CK_LANES must be 16 or 8"
#endif

/* NC consecutive CK_LANES-wide chunks (from `chunk`) of convolution row
 * `oh` of one sample, for all NB output channels, into `out` (channel o's
 * row at out + o * stride), storing the lanes of `store`. NB and NC are
 * constants where this is inlined; two chunks give the FMAs enough
 * independent accumulators to hide their latency when there are few
 * channels. */
static inline __attribute__((always_inline, target(CK_TARGET))) void
CK_NAME(conv_chunks)(const conv_kernel_params *p, const float *x, float *out,
                     int64_t stride, const uint16_t *store, int64_t oh,
                     int64_t chunk, const int nb, const int nc) {
  ck_vec acc[2][SQ_CONV_KERNEL_MAX_OUT];
  for (int j = 0; j < nc; j++)
    for (int o = 0; o < nb; o++) acc[j][o] = ck_set1(p->bias[o]);
  for (int64_t c = 0; c < p->in_c; c++)
    for (int64_t kh = 0; kh < p->k_h; kh++) {
      int64_t ih = oh - p->pad_t + kh;
      if (ih < 0 || ih >= p->in_h) continue;
      const float *row = x + (c * p->in_h + ih) * p->in_w - p->pad_l;
      const float *w = p->weights + (c * p->k_h + kh) * p->k_w * p->out_c;
      for (int64_t kw = 0; kw < p->k_w; kw++, w += p->out_c) {
        ck_vec v[2];
        /* Masked-off lanes (zero padding, past the row) read nothing, not
         * even when their addresses lie outside the buffer. */
        for (int j = 0; j < nc; j++)
          v[j] = CK_NAME(load_lanes)(p->load[(chunk + j) * p->k_w + kw],
                                     row + (chunk + j) * CK_LANES + kw);
        for (int o = 0; o < nb; o++) {
          ck_vec wo = ck_set1(w[o]);
          for (int j = 0; j < nc; j++)
            acc[j][o] = ck_fmadd(wo, v[j], acc[j][o]);
        }
      }
    }
  ck_vec zero = ck_zero();
  for (int j = 0; j < nc; j++)
    for (int o = 0; o < nb; o++)
      CK_NAME(store_lanes)
      (out + o * stride + (chunk + j) * CK_LANES, store[chunk + j],
       p->relu ? ck_max(acc[j][o], zero) : acc[j][o]);
}

/* Convolution row oh, chunks in pairs where the accumulators fit. */
static inline __attribute__((always_inline, target(CK_TARGET))) void
CK_NAME(conv_row)(const conv_kernel_params *p, const float *x, float *out,
                  int64_t stride, const uint16_t *store, int64_t oh,
                  const int nb) {
  int64_t chunk = 0;
  if (nb <= CK_PAIRED_OUT)
    for (; chunk + 2 <= p->chunks; chunk += 2)
      CK_NAME(conv_chunks)(p, x, out, stride, store, oh, chunk, nb, 2);
  for (; chunk < p->chunks; chunk++)
    CK_NAME(conv_chunks)(p, x, out, stride, store, oh, chunk, nb, 1);
}

/* Pooled row ph: convolution rows 2ph and 2ph+1 into a buffer, then the
 * max of each 2x2 window (ReLU before or after the max is the same). */
static inline __attribute__((always_inline, target(CK_TARGET))) void
CK_NAME(conv_pool_row)(const conv_kernel_params *p, const float *x, float *y,
                       int64_t ph, const int nb) {
  enum { WIDTH = SQ_CONV_KERNEL_MAX_POOLED_WIDTH };
  float rows[SQ_CONV_KERNEL_MAX_OUT][2][WIDTH] __attribute__((aligned(64)));
  for (int r = 0; r < 2; r++)
    CK_NAME(conv_row)
    (p, x, &rows[0][r][0], 2 * WIDTH, every_lane, 2 * ph + r, nb);
  for (int64_t col = 0; col < p->pool_w; col += CK_LANES) {
    int64_t left = p->pool_w - col;
    unsigned store = left < CK_LANES ? (1u << left) - 1 : 0xffff;
    /* Convolution columns 2col..2col+2*CK_LANES-1; the second half only
     * where the rows were written. */
    unsigned second = 2 * col + CK_LANES < p->chunks * CK_LANES ? 0xffff : 0;
    for (int o = 0; o < nb; o++) {
      const float *r0 = &rows[o][0][2 * col], *r1 = &rows[o][1][2 * col];
      ck_vec lo = ck_max(ck_load(r0), ck_load(r1));
      ck_vec hi = ck_max(CK_NAME(load_lanes)(second, r0 + CK_LANES),
                         CK_NAME(load_lanes)(second, r1 + CK_LANES));
      CK_NAME(store_lanes)
      (y + (o * p->pool_h + ph) * p->pool_w + col, store,
       CK_NAME(pair_max)(lo, hi));
    }
  }
}

#define CK_CONV_ROWS(NB)                                                       \
  static __attribute__((target(CK_TARGET))) void CK_NAME(conv_rows_##NB)(      \
      const conv_kernel_params *p, const float *x, float *y, int64_t row) {    \
    if (p->pool_h)                                                             \
      CK_NAME(conv_pool_row)(p, x, y, row, NB);                                \
    else                                                                       \
      CK_NAME(conv_row)                                                        \
      (p, x, y + row * p->out_w, p->out_h * p->out_w, p->store, row, NB);      \
  }
CK_CONV_ROWS(1)
CK_CONV_ROWS(2)
CK_CONV_ROWS(3)
CK_CONV_ROWS(4)
CK_CONV_ROWS(5)
CK_CONV_ROWS(6)
CK_CONV_ROWS(7)
CK_CONV_ROWS(8)

static const conv_rows_fn CK_NAME(conv_rows)[SQ_CONV_KERNEL_MAX_OUT + 1] = {
    NULL,
    CK_NAME(conv_rows_1),
    CK_NAME(conv_rows_2),
    CK_NAME(conv_rows_3),
    CK_NAME(conv_rows_4),
    CK_NAME(conv_rows_5),
    CK_NAME(conv_rows_6),
    CK_NAME(conv_rows_7),
    CK_NAME(conv_rows_8)};

#undef CK_CONV_ROWS
#undef CK_TARGET
#undef CK_NAME
#undef CK_PAIRED_OUT
#undef ck_vec
#undef ck_set1
#undef ck_fmadd
#undef ck_max
#undef ck_zero
#undef ck_load
#undef CK_LANES
