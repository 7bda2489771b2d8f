/* Bands: a run of 1-D or 2-D convolutions and max pools at batch 1, split
 * by output rows over the threads (plan.c decides where); a 1-D signal's
 * rows are its samples, one column wide. Each band of each stage is a
 * one-thread primitive on its own rows; between stages a band gathers the
 * input rows its window reads, its own and the border rows of its
 * neighbours, into a buffer of its own. Layouts must split by rows: batch
 * 1, dense, channels in planes (nchw, nChw8c, nChw16c and their 1-D
 * forms) or last (nhwc, nwc). The stages after the first read and write
 * the CPU's channel blocks. */
#define _GNU_SOURCE /* syscall */
#include <immintrin.h>
#include <limits.h>
#include <linux/futex.h>
#include <omp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

/* How a layout holds rows at batch 1: `planes` runs of rows (channel
 * blocks), each row `row_floats` floats, the planes one after another. */
typedef struct row_layout {
  int64_t planes, row_floats, block;
  int rank; /* 3: a 1-D signal, 4: a 2-D map */
  bool channels_last;
} row_layout;

typedef struct band_part {
  sq_step step;           /* its one-thread primitive and constants */
  int64_t in_lo, in_hi;   /* input rows it reads */
  int64_t out_lo, out_hi; /* output rows it writes */
  bool reads_own;         /* its input is its band's previous output */
} band_part;

typedef struct band_stage {
  band_part part[SQ_MAX_BANDS];
  row_layout in; /* its input's: the previous stage's output layout */
} band_stage;

struct sq_bands {
  const sq_layer *layers; /* the chain's */
  int n_bands, n_stages;
  band_stage *stages;
  row_layout in_layout, out_layout;          /* the group's input and output */
  int64_t in_rows;                           /* of the group's input */
  size_t in_bytes, out_bytes, scratch_bytes; /* per band, over the stages */
};

static size_t md_bytes(const dnnl_memory_desc_t *md) {
  return md->ndims ? dnnl_memory_desc_get_size(md) : 0;
}

static size_t round_up(size_t n) {
  return (n + SQ_ALIGN - 1) / SQ_ALIGN * SQ_ALIGN;
}

static bool row_layout_of(const dnnl_memory_desc_t *md, row_layout *out) {
  int rank = md->ndims;
  if ((rank != 3 && rank != 4) || md->format_kind != dnnl_blocked ||
      md->dims[0] != 1 || md->offset0 != 0 ||
      md->padded_dims[2] != md->dims[2] ||
      (rank == 4 && md->padded_dims[3] != md->dims[3]))
    return false;
  const dnnl_blocking_desc_t *blk = &md->format_desc.blocking;
  const dnnl_dim_t *s = blk->strides;
  int64_t c = md->padded_dims[1], h = md->dims[2];
  int64_t w = rank == 4 ? md->dims[3] : 1;
  int64_t block = 1;
  if (blk->inner_nblks > 1 ||
      (blk->inner_nblks == 1 && blk->inner_idxs[0] != 1))
    return false;
  if (blk->inner_nblks == 1) block = blk->inner_blks[0];
  /* A 1-D signal has no column stride to check: its rows are one wide. */
  bool planes = (rank == 3 || s[3] == block) && s[2] == w * block &&
                (c == block || s[1] == h * w * block);
  bool last =
      block == 1 && s[1] == 1 && (rank == 3 || s[3] == c) && s[2] == w * c;
  if (planes)
    *out = (row_layout){c / block, w * block, block, rank, false};
  else if (last)
    *out = (row_layout){1, w * c, 1, rank, true};
  else
    return false;
  return md_bytes(md) == (size_t)(out->planes * h * out->row_floats) * 4;
}

static bool same_layout(const row_layout *a, const row_layout *b) {
  return a->planes == b->planes && a->row_floats == b->row_floats &&
         a->block == b->block && a->rank == b->rank &&
         a->channels_last == b->channels_last;
}

static dnnl_format_tag_t layout_tag(const row_layout *l) {
  bool one_d = l->rank == 3;
  if (l->channels_last) return one_d ? dnnl_nwc : dnnl_nhwc;
  switch (l->block) {
  case 1: return one_d ? dnnl_ncw : dnnl_nchw;
  case 8: return one_d ? dnnl_nCw8c : dnnl_nChw8c;
  case 16: return one_d ? dnnl_nCw16c : dnnl_nChw16c;
  default: return dnnl_format_tag_undef;
  }
}

/* Rows [lo, hi) from `src` (rows from src_row0, src_rows of them) to `dst`
 * (rows from dst_row0, dst_rows of them), both in layout l. */
static void copy_rows(const row_layout *l, float *dst, int64_t dst_row0,
                      int64_t dst_rows, const float *src, int64_t src_row0,
                      int64_t src_rows, int64_t lo, int64_t hi) {
  size_t bytes = (size_t)((hi - lo) * l->row_floats) * sizeof(float);
  for (int64_t p = 0; p < l->planes; p++)
    memcpy(dst + (p * dst_rows + lo - dst_row0) * l->row_floats,
           src + (p * src_rows + lo - src_row0) * l->row_floats, bytes);
}

/* ---- building ---- */

/* The input rows output rows [lo, hi) of `layer` read, and the padding
 * its band then has at each end. A convolution's zero padding may instead
 * be rows of zeros in the band's buffer (zero_rows): its window then
 * reads rows outside the input and has no padding along them. */
static void band_window(const sq_layer *layer, int64_t lo, int64_t hi,
                        bool zero_rows, int64_t *in_lo, int64_t *in_hi,
                        int64_t *pad_lo, int64_t *pad_hi) {
  int64_t rows = layer->in.dims[2];
  int64_t first = lo * layer->stride[0] - layer->pad_begin[0];
  int64_t end = (hi - 1) * layer->stride[0] - layer->pad_begin[0] +
                (layer->kernel[0] - 1) * layer->dilation[0] + 1;
  *in_lo = first < 0 && !zero_rows ? 0 : first;
  *in_hi = end > rows && !zero_rows ? rows : end;
  *pad_lo = *in_lo - first;
  *pad_hi = end - *in_hi;
}

/* oneDNN's Winograd F(2x2, 3x3) kernel needs the same padding at both
 * ends, its F(4x4, 3x3) one does not: with rows of zeros instead of
 * padding a band can have either. One thread, a band of half the rows,
 * 2x3 against 4x3: 64->128 at 8x8 15.6 against 17.8 us, 128->128 29.4
 * against 39.7 us, but 32->32 at 32x32 33.8 against 24.6 us and 64->64 at
 * 16x16 29.9 against 21.2 us: zero rows only for bands this thin. In the
 * model, zero rows for CIFAR VGG's 16-row bands too (2x3 everywhere) cost
 * 8 MB less (peak RSS 26.4 -> 18.4 MB) but ran slower (2 threads,
 * alternating seqrt bench runs: 190-219 -> 207-218 us). */
#define SQ_BAND_ZERO_ROWS_BELOW 8

/* Band b of the stage: the layer's copy with its rows and padding. */
static seqrt_status build_part(sq_plan *plan, const sq_band_stage_span *span,
                               int b, int n_bands, bool first,
                               const row_layout *in_layout, band_part *part) {
  const sq_layer *layer = &plan->chain->layers[span->lo];
  int64_t rows = layer->out.dims[2], pad_lo, pad_hi;
  part->out_lo = rows * b / n_bands;
  part->out_hi = rows * (b + 1) / n_bands;
  bool zero_rows = layer->kind == SQ_CONV &&
                   part->out_hi - part->out_lo < SQ_BAND_ZERO_ROWS_BELOW;
  band_window(layer, part->out_lo, part->out_hi, zero_rows, &part->in_lo,
              &part->in_hi, &pad_lo, &pad_hi);
  sq_layer band = *layer;
  band.in.dims[2] = part->in_hi - part->in_lo;
  band.out.dims[2] = part->out_hi - part->out_lo;
  band.pad_begin[0] = pad_lo;
  band.pad_end[0] = pad_hi;
  /* The first stage's convolution picks its input layout. */
  dnnl_format_tag_t src_tag =
      first ? dnnl_format_tag_undef : layout_tag(in_layout);
  dnnl_memory_desc_t in_md;
  dnnl_dims_t dims;
  int rank = layer->in.rank;
  sq_dims(&band.in, 1, dims);
  seqrt_status st = sq_md_tagged(layer, rank, dims, src_tag, &in_md);
  part->step.lo = span->lo;
  part->step.hi = span->hi;
  part->step.threads = 1;
  if (st == SEQRT_OK)
    st =
        sq_build_layer(plan, &part->step, &band, layer + 1, span->hi - span->lo,
                       NULL, &in_md, src_tag, sq_channel_blocked_tag(rank));
  return st;
}

/* A part's step that is one seqrt kernel from its input to its output
 * (a max pool), run instead of a primitive; NULL if it is not. */
static const sq_op *lone_kernel(const sq_step *s) {
  if (!s->ops || s->ops->n != 1) return NULL;
  const sq_op *op = &s->ops->op[0];
  bool lone = !op->prim && op->from == SQ_AT_SRC && op->to == SQ_AT_DST &&
              op->scratch_bytes == 0;
  return lone ? op : NULL;
}

/* Whether the stage's parts read and write layouts that split by rows,
 * the same in every band, and the input `in` (the previous stage's output
 * layout, or none yet for the first stage); and run jitted kernels: on
 * layouts the CPU has none for, oneDNN falls back to its C ones
 * (bands of CIFAR VGG at batch 1 on an AVX2 CPU, nChw16c: 0.8-1.6 s a
 * run against 1.5 ms as plain steps). */
static bool stage_layouts(const band_stage *stage, int n_bands, row_layout *in,
                          bool first, row_layout *out) {
  for (int b = 0; b < n_bands; b++) {
    const sq_step *s = &stage->part[b].step;
    row_layout src, dst;
    bool runs_prim = s->main.prim && !s->ops;
    if ((!runs_prim && !lone_kernel(s)) ||
        (runs_prim && sq_prim_unjitted(s->main.prim)) ||
        !row_layout_of(&s->main.src_md, &src) ||
        !row_layout_of(&s->main.dst_md, &dst) ||
        layout_tag(&src) == dnnl_format_tag_undef)
      return false;
    if ((b > 0 || !first) && !same_layout(&src, in)) return false;
    if (b > 0 && !same_layout(&dst, out)) return false;
    *in = src;
    *out = dst;
  }
  return true;
}

static void account_part(sq_bands *bands, band_part *part,
                         const band_part *prev) {
  const sq_step *s = &part->step;
  part->reads_own =
      prev && prev->out_lo == part->in_lo && prev->out_hi == part->in_hi &&
      dnnl_memory_desc_equal(&prev->step.main.dst_md, &s->main.src_md);
  size_t in = md_bytes(&s->main.src_md), out = md_bytes(&s->main.dst_md);
  size_t scratch = md_bytes(&s->main.scratch_md);
  if (in > bands->in_bytes) bands->in_bytes = in;
  if (out > bands->out_bytes) bands->out_bytes = out;
  if (scratch > bands->scratch_bytes) bands->scratch_bytes = scratch;
}

static seqrt_status build_stages(sq_plan *plan, sq_bands *bands,
                                 const sq_band_stage_span *spans, bool *fits) {
  row_layout out = {0};
  seqrt_status st = SEQRT_OK;
  *fits = true;
  for (int k = 0; k < bands->n_stages && st == SEQRT_OK && *fits; k++) {
    band_stage *stage = &bands->stages[k];
    for (int b = 0; b < bands->n_bands && st == SEQRT_OK; b++)
      st = build_part(plan, &spans[k], b, bands->n_bands, k == 0, &out,
                      &stage->part[b]);
    row_layout stage_in = out;
    *fits = st == SEQRT_OK &&
            stage_layouts(stage, bands->n_bands, &stage_in, k == 0, &out);
    stage->in = stage_in;
    if (k == 0) bands->in_layout = stage_in;
    for (int b = 0; *fits && b < bands->n_bands; b++)
      account_part(bands, &stage->part[b],
                   k ? &bands->stages[k - 1].part[b] : NULL);
  }
  bands->out_layout = out;
  return st;
}

/* The step's whole input and output: the first stage's input layout and
 * the last's output layout at full height. */
static seqrt_status whole_mds(const sq_plan *plan, const sq_bands *bands,
                              sq_step *step, bool *fits) {
  const sq_layer *first = &plan->chain->layers[step->lo];
  const sq_layer *last = &plan->chain->layers[step->hi];
  dnnl_dims_t in, out;
  sq_dims(&first->in, 1, in);
  sq_dims(&last->out, 1, out);
  seqrt_status st =
      sq_md_tagged(first, first->in.rank, in, layout_tag(&bands->in_layout),
                   &step->main.src_md);
  if (st == SEQRT_OK)
    st = sq_md_tagged(last, last->out.rank, out, layout_tag(&bands->out_layout),
                      &step->main.dst_md);
  row_layout check;
  *fits = st == SEQRT_OK && row_layout_of(&step->main.src_md, &check) &&
          same_layout(&check, &bands->in_layout) &&
          row_layout_of(&step->main.dst_md, &check) &&
          same_layout(&check, &bands->out_layout);
  step->src_md = step->main.src_md;
  step->dst_md = step->main.dst_md;
  return st;
}

seqrt_status sq_build_bands(sq_plan *plan, sq_step *step,
                            const sq_band_stage_span *spans, int n_stages,
                            int n_bands, bool *built) {
  *built = false;
  size_t owned = plan->owned_const_bytes, shared = plan->shared_const_bytes;
  sq_bands *bands = calloc(1, sizeof *bands);
  if (bands) bands->stages = calloc((size_t)n_stages, sizeof *bands->stages);
  if (!bands || !bands->stages) {
    free(bands);
    return sq_error(SEQRT_ERR_NOMEM, "out of memory for a plan's bands");
  }
  bands->layers = plan->chain->layers;
  bands->n_bands = n_bands;
  bands->n_stages = n_stages;
  bands->in_rows = plan->chain->layers[spans[0].lo].in.dims[2];
  memset(step, 0, sizeof *step);
  step->bands = bands;
  step->lo = spans[0].lo;
  step->hi = spans[n_stages - 1].hi;
  step->threads = n_bands;
  int caller_threads = omp_get_max_threads();
  omp_set_num_threads(1); /* every band's primitives run on one thread */
  bool fits = false;
  seqrt_status st = build_stages(plan, bands, spans, &fits);
  if (st == SEQRT_OK && fits) st = whole_mds(plan, bands, step, &fits);
  omp_set_num_threads(caller_threads);
  if (st == SEQRT_OK && fits) {
    *built = true;
    return SEQRT_OK;
  }
  /* Not in bands (a layout that does not split by rows, or a band oneDNN
   * refused): the caller builds the layers as usual, and reports what
   * fails there. */
  sq_step_free(step);
  plan->owned_const_bytes = owned;
  plan->shared_const_bytes = shared;
  sq_error_clear();
  return SEQRT_OK;
}

void sq_bands_free(sq_bands *bands) {
  if (!bands) return;
  for (int k = 0; bands->stages && k < bands->n_stages; k++)
    for (int b = 0; b < bands->n_bands; b++)
      sq_step_free(&bands->stages[k].part[b].step);
  free(bands->stages);
  free(bands);
}

static size_t band_bytes(const sq_bands *bands) {
  return round_up(bands->in_bytes) + 2 * round_up(bands->out_bytes) +
         round_up(bands->scratch_bytes);
}

size_t sq_bands_scratch_bytes(const sq_bands *bands) {
  return (size_t)bands->n_bands * band_bytes(bands);
}

/* "2 bands: jit:avx512_core+jit_fp32_wino_2x3:avx512_core+...": the first
 * band's implementation of each stage. */
const char *sq_bands_describe(const sq_bands *bands, char *buf, size_t size) {
  size_t used = (size_t)snprintf(buf, size, "%d bands:", bands->n_bands);
  for (int k = 0; k < bands->n_stages && used < size; k++) {
    const sq_prim *p = &bands->stages[k].part[0].step.main;
    used += (size_t)snprintf(buf + used, size - used, "%s%s", k ? "+" : " ",
                             p->prim ? sq_prim_impl(p->prim) : "kernel");
  }
  return buf;
}

/* ---- running ---- */

/* One band's buffers, stream and memory objects per stage. */
typedef struct band_exec {
  float *in, *out[2];
  dnnl_stream_t stream;
  dnnl_memory_t *src, *dst, *scratch; /* per stage */
} band_exec;

/* Between stages the bands wait for each other. They spin first: a
 * futex sleep and wake-up per stage cost more than most stages take. Then
 * they sleep: a thread woken after a pause between runs may share the
 * waker's CPU for a while, and spinning there only delays it (CIFAR VGG
 * with 10 ms between runs: 7.1 ms per run spinning up to ~1 ms). */
typedef struct band_barrier {
  atomic_int arrived, phase, sleepers;
} band_barrier;

#define SQ_BAND_SPIN_US 50.0

static bool spin_until_phase(band_barrier *barrier, int phase) {
  double deadline = sq_now_us() + SQ_BAND_SPIN_US;
  for (;;) {
    for (int i = 0; i < 64; i++) {
      if (atomic_load(&barrier->phase) != phase) return true;
      _mm_pause();
    }
    if (sq_now_us() > deadline) return false;
  }
}

static void barrier_wait(band_barrier *barrier, int threads) {
  int phase = atomic_load(&barrier->phase);
  if (atomic_fetch_add(&barrier->arrived, 1) == threads - 1) {
    atomic_store(&barrier->arrived, 0);
    atomic_fetch_add(&barrier->phase, 1);
    if (atomic_load(&barrier->sleepers) > 0)
      syscall(SYS_futex, &barrier->phase, FUTEX_WAKE_PRIVATE, INT_MAX, NULL,
              NULL, 0);
    return;
  }
  if (spin_until_phase(barrier, phase)) return;
  atomic_fetch_add(&barrier->sleepers, 1);
  /* The kernel sleeps only while the phase is still this one: a wake-up
   * between the check and the sleep is not lost. */
  while (atomic_load(&barrier->phase) == phase)
    syscall(SYS_futex, &barrier->phase, FUTEX_WAIT_PRIVATE, phase, NULL, NULL,
            0);
  atomic_fetch_sub(&barrier->sleepers, 1);
}

struct sq_bands_exec {
  band_barrier barrier;
  int n_bands, n_stages;
  band_exec band[SQ_MAX_BANDS];
  dnnl_memory_t memories[]; /* 3 per stage and band */
};

static seqrt_status bind_band(const sq_plan *plan, const sq_bands *bands, int b,
                              char *base, band_exec *x) {
  x->in = (float *)base;
  x->out[0] = (float *)(base + round_up(bands->in_bytes));
  x->out[1] = (float *)((char *)x->out[0] + round_up(bands->out_bytes));
  void *scratch = (char *)x->out[1] + round_up(bands->out_bytes);
  dnnl_status_t dst =
      dnnl_stream_create(&x->stream, plan->engine, dnnl_stream_default_flags);
  if (dst != dnnl_success) return sq_exec_error("stream creation", dst);
  seqrt_status st = SEQRT_OK;
  for (int k = 0; k < bands->n_stages && st == SEQRT_OK; k++) {
    const band_part *part = &bands->stages[k].part[b];
    const sq_prim *p = &part->step.main;
    void *src = part->reads_own ? x->out[(k + 1) % 2] : x->in;
    st = sq_memory_on(plan, &p->src_md, src, &x->src[k]);
    if (st == SEQRT_OK)
      st = sq_memory_on(plan, &p->dst_md, x->out[k % 2], &x->dst[k]);
    if (st == SEQRT_OK && md_bytes(&p->scratch_md))
      st = sq_memory_on(plan, &p->scratch_md, scratch, &x->scratch[k]);
  }
  return st;
}

seqrt_status sq_bands_bind(const sq_plan *plan, const sq_bands *bands,
                           void *scratch, sq_bands_exec **out) {
  size_t n = (size_t)(3 * bands->n_stages * bands->n_bands);
  sq_bands_exec *exec = calloc(1, sizeof *exec + n * sizeof(dnnl_memory_t));
  *out = exec;
  if (!exec)
    return sq_error(SEQRT_ERR_NOMEM, "out of memory for a run's bands");
  exec->n_bands = bands->n_bands;
  exec->n_stages = bands->n_stages;
  seqrt_status st = SEQRT_OK;
  for (int b = 0; b < bands->n_bands && st == SEQRT_OK; b++) {
    band_exec *x = &exec->band[b];
    x->src = exec->memories + 3 * b * bands->n_stages;
    x->dst = x->src + bands->n_stages;
    x->scratch = x->dst + bands->n_stages;
    st = bind_band(plan, bands, b,
                   (char *)scratch + (size_t)b * band_bytes(bands), x);
  }
  return st;
}

void sq_bands_unbind(sq_bands_exec *exec) {
  if (!exec) return;
  for (int i = 0; i < 3 * exec->n_stages * exec->n_bands; i++)
    dnnl_memory_destroy(exec->memories[i]);
  for (int b = 0; b < exec->n_bands; b++)
    if (exec->band[b].stream) dnnl_stream_destroy(exec->band[b].stream);
  free(exec);
}

/* Rows [lo, hi) of `in` (from row0, `rows` of them) set to zero. */
static void zero_rows(const row_layout *l, float *in, int64_t row0,
                      int64_t rows, int64_t lo, int64_t hi) {
  if (lo >= hi) return;
  size_t bytes = (size_t)((hi - lo) * l->row_floats) * sizeof(float);
  for (int64_t p = 0; p < l->planes; p++)
    memset(in + (p * rows + lo - row0) * l->row_floats, 0, bytes);
}

/* Band b's input rows of stage k: from the group's input, or from every
 * band's output of stage k - 1 that holds some of them; zeros for the rows
 * outside the input. */
static void gather(const sq_bands *bands, const sq_bands_exec *exec, int k,
                   int b, const float *src) {
  const band_part *part = &bands->stages[k].part[b];
  const row_layout *l = &bands->stages[k].in;
  float *in = exec->band[b].in;
  int64_t lo = part->in_lo, hi = part->in_hi, rows = hi - lo;
  int64_t in_rows =
      k ? bands->stages[k - 1].part[bands->n_bands - 1].out_hi : bands->in_rows;
  zero_rows(l, in, lo, rows, lo, 0 < hi ? 0 : hi);
  zero_rows(l, in, lo, rows, lo > in_rows ? lo : in_rows, hi);
  if (k == 0) {
    copy_rows(l, in, lo, rows, src, 0, in_rows, lo < 0 ? 0 : lo,
              hi > in_rows ? in_rows : hi);
    return;
  }
  for (int p = 0; p < bands->n_bands; p++) {
    const band_part *from = &bands->stages[k - 1].part[p];
    int64_t from_lo = from->out_lo > lo ? from->out_lo : lo;
    int64_t from_hi = from->out_hi < hi ? from->out_hi : hi;
    if (from_lo < from_hi)
      copy_rows(l, in, lo, rows, exec->band[p].out[(k - 1) % 2], from->out_lo,
                from->out_hi - from->out_lo, from_lo, from_hi);
  }
}

/* Runs on a worker thread: returns oneDNN's status, the caller's thread
 * reports it (messages are per thread). */
static dnnl_status_t run_part(const sq_bands *bands, const sq_bands_exec *exec,
                              int k, int b, const float *src) {
  const band_part *part = &bands->stages[k].part[b];
  const band_exec *x = &exec->band[b];
  if (!part->reads_own) gather(bands, exec, k, b, src);
  const sq_op *kernel = lone_kernel(&part->step);
  /* The kernel's message stays on this thread: the run reports it failed. */
  if (kernel)
    return kernel->kernel(kernel, part->reads_own ? x->out[(k + 1) % 2] : x->in,
                          x->out[k % 2], NULL) == SEQRT_OK
               ? dnnl_success
               : dnnl_runtime_error;
  dnnl_status_t st = sq_prim_execute(&part->step.main, x->stream, x->src[k],
                                     x->dst[k], x->scratch[k]);
  return st == dnnl_success ? dnnl_stream_wait(x->stream) : st;
}

/* Band b's output rows of the last stage into the group's output. */
static void scatter(const sq_bands *bands, const sq_bands_exec *exec, int b,
                    float *dst, int64_t dst_rows) {
  int k = bands->n_stages - 1;
  const band_part *part = &bands->stages[k].part[b];
  copy_rows(&bands->out_layout, dst, 0, dst_rows, exec->band[b].out[k % 2],
            part->out_lo, part->out_hi - part->out_lo, part->out_lo,
            part->out_hi);
}

seqrt_status sq_bands_run(const sq_bands *bands, sq_bands_exec *exec,
                          const void *src, void *dst) {
  int n_bands = bands->n_bands, threads = omp_get_max_threads();
  int n_stages = bands->n_stages;
  int64_t dst_rows = bands->stages[n_stages - 1].part[n_bands - 1].out_hi;
  dnnl_status_t status[SQ_MAX_BANDS];
  int failed_stage[SQ_MAX_BANDS];
  for (int b = 0; b < n_bands; b++) status[b] = dnnl_success;
    /* Every thread meets every barrier; a failed band only stops working. */
#pragma omp parallel num_threads(threads < n_bands ? threads : n_bands)
  {
    int t = omp_get_thread_num(), n = omp_get_num_threads();
    for (int k = 0; k < n_stages; k++) {
      for (int b = t; b < n_bands; b += n)
        if (status[b] == dnnl_success) {
          status[b] = run_part(bands, exec, k, b, src);
          failed_stage[b] = k;
        }
      barrier_wait(&exec->barrier, n);
    }
    for (int b = t; b < n_bands; b += n)
      if (status[b] == dnnl_success) scatter(bands, exec, b, dst, dst_rows);
  }
  for (int b = 0; b < n_bands; b++)
    if (status[b] != dnnl_success)
      return sq_dnnl_error(
          &bands->layers[bands->stages[failed_stage[b]].part[b].step.lo],
          "band execution", status[b]);
  return SEQRT_OK;
}
