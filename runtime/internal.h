/* Private to runtime/: the plan's steps, the family builders' interface and
 * the oneDNN helpers they share. */
#ifndef SEQRT_RUNTIME_INTERNAL_H
#define SEQRT_RUNTIME_INTERNAL_H

#include <oneapi/dnnl/dnnl.h>
#include <stddef.h>

#include "../core/error.h"
#include "runtime.h"

#define SQ_MAX_CONSTS 4    /* weights, bias, mean, variance... of one step */
#define SQ_MAX_EXEC_ARGS 8 /* src, dst, scratchpad + the constants */
#define SQ_ALIGN 64

/* One oneDNN primitive of a step and the plan-owned constants it reads. */
typedef struct sq_prim {
  dnnl_primitive_t prim; /* NULL: nothing to run */
  dnnl_memory_desc_t src_md, dst_md, scratch_md;
  int n_consts;
  dnnl_exec_arg_t consts[SQ_MAX_CONSTS];
} sq_prim;

/* A step: one primitive (plus the reorders around it) covering layers
 * lo..hi. src_md/dst_md have the first layer's input and last layer's output
 * dims; main's own mds may be a view of the same bytes (softmax coerce_2d,
 * reshapes absorbed by a fused plan). Activations live in two ping-pong
 * buffers; src_buf/dst_buf say which (equal when the step runs in place). */
typedef struct sq_step {
  int lo, hi;
  int threads; /* OpenMP threads its primitives were created for and run with */
  bool is_view;  /* RESHAPE family: main is NULL or a reorder to plain */
  bool in_place; /* main writes over its source (eltwise, pure views) */
  int src_buf, dst_buf;
  dnnl_memory_desc_t src_md, dst_md;
  dnnl_memory_desc_t user_in_md;  /* plain input when the range starts here */
  dnnl_memory_desc_t user_out_md; /* plain output (also the callback view) */
  bool dst_direct; /* main.dst_md is plain: a last step writes the output */
  sq_prim main;
  sq_prim in_reorder;         /* previous step's dst_md -> src_md */
  sq_prim user_reorder;       /* user_in_md -> src_md */
  sq_prim out_reorder;        /* dst_md -> user_out_md */
  void *owned[SQ_MAX_CONSTS]; /* constants owned by the plan (not cached) */
  struct sq_ops *ops; /* NULL, or the ops run instead of main.prim (ops.c) */
  struct sq_bands *bands; /* NULL, or the bands run instead (bands.c) */
} sq_step;

struct sq_plan {
  const sq_chain *chain; /* outlives the plan */
  int64_t batch;
  bool observable;
  int threads;            /* the most threads any step uses */
  sq_weight_cache *cache; /* NULL: reordered weights are step-owned */
  bool winograd;          /* sq_plan_options.winograd */
  int n_steps;
  sq_step *steps;
  int *layer_step;           /* layer index -> step index */
  size_t activation_bytes;   /* each ping-pong buffer */
  size_t view_bytes;         /* plain view buffer (observable plans) */
  size_t scratchpad_bytes;   /* max over every primitive */
  size_t owned_const_bytes;  /* weights reordered into plan buffers */
  size_t shared_const_bytes; /* weights referenced in the chain */
  dnnl_engine_t engine;
  dnnl_stream_t build_stream; /* only during sq_plan_create */
};

/* What a family builder gets and fills for one step. */
typedef struct sq_builder {
  sq_plan *plan;
  sq_step *step;
  const sq_layer *layer;
  dnnl_memory_desc_t in_md;         /* layout the activation arrives in */
  const_dnnl_primitive_attr_t attr; /* user scratchpad + fused post-ops */
  const sq_layer *flatten; /* a view folded in before `layer`, or NULL */
  /* The layouts the step must read and write (a band's: bands.c);
   * dnnl_format_tag_undef: the primitive's choice. */
  dnnl_format_tag_t src_tag, dst_tag;
  /* Filled by the builder: */
  dnnl_primitive_desc_t pd;  /* NULL for a pure view */
  dnnl_memory_desc_t src_md; /* set only when it is not pd's src */
  dnnl_memory_desc_t dst_md; /* set only when it is not pd's dst */
  bool in_place;
} sq_builder;

typedef seqrt_status (*sq_build_fn)(sq_builder *b);

seqrt_status sq_build_linear(sq_builder *b);
/* linear.c: whether a fused plan folds the view into the Linear after it. */
bool sq_linear_folds_view(const sq_plan *plan, const sq_layer *view,
                          const sq_layer *linear);
/* Linear weights of this many floats (16 MB) and more do not fit the
 * caches: every run streams them from memory. Their plans read them from
 * huge pages (sq_collapse_huge_pages), and from 32 rows the sgemm kernel
 * runs them (linear_kernel.c). */
#define SQ_STREAMED_WEIGHTS ((int64_t)4000000)

/* linear_kernel.c: a Linear with only ReLUs after it in its step: of one
 * row (plain layouts, the chain's weights; with AVX-512, or AVX2 and
 * weights under SQ_STREAMED_WEIGHTS), or of many rows (2-D or 3-D) and big
 * weights, or any weights without AVX-512 (then seqrt's GEMM on plain
 * layouts and packed weights; else dnnl_sgemm on feature-major layouts
 * and the chain's weights). */
bool sq_linear_kernel_fits(const sq_builder *b);
seqrt_status sq_build_linear_kernel(sq_builder *b, int64_t k, int64_t n);
/* gemm_kernel.c: y = x W^T + b (then max(0, .) if relu) over `rows`
 * plain rows, on CPUs with AVX2 and without AVX-512. */
typedef struct sq_gemm {
  int64_t rows, k, n;
  const float *weights; /* [n, k] packed as sq_gemm_weights_md lays it out */
  const float *bias;    /* n rounded up to 16 floats */
  bool relu, parallel;  /* parallel: split over the OpenMP threads */
} sq_gemm;
/* The packed layout of [n, k] weights, for oneDNN's reorders. */
seqrt_status sq_gemm_weights_md(const sq_layer *layer, int64_t n, int64_t k,
                                dnnl_memory_desc_t *md);
size_t sq_gemm_scratch_bytes(int64_t rows, int64_t k);
void sq_gemm_run(const sq_gemm *g, const float *x, float *y, float *scratch);
static inline int64_t sq_round_up(int64_t x, int64_t to) {
  return (x + to - 1) / to * to;
}
seqrt_status sq_build_conv(sq_builder *b);
/* conv_kernel.c: few-channel stride-1 convolutions (plain layouts): whether
 * a fused plan's step at `conv` (with n_fused ReLUs) also takes the pool
 * after them, and whether the kernel runs a builder's step. */
bool sq_conv_kernel_pools(const sq_plan *plan, int conv, int n_fused);
bool sq_conv_kernel_fits(const sq_builder *b);
seqrt_status sq_build_conv_kernel(sq_builder *b, const dnnl_dims_t in,
                                  const dnnl_dims_t out);
/* Whether a Winograd convolution's weights may take their transformed
 * copy beside the plain ones (conv.c: under 1 MiB, or the plan's
 * winograd option). */
bool sq_winograd_weights_fit(const sq_builder *b);
/* winograd_kernel.c: 3x3 stride-1 convolutions as Winograd F(2x2, 3x3)
 * on nChw8c, on CPUs without AVX-512. */
bool sq_winograd_kernel_fits(const sq_builder *b);
seqrt_status sq_build_winograd_kernel(sq_builder *b, const dnnl_dims_t in,
                                      const dnnl_dims_t out);
/* patch_kernel.c: 1-D and 2-D convolutions with fewer than 8 channels in
 * and multiples of 16 out, any stride (plain input, channel-blocked
 * output), on CPUs without AVX-512; conv.c builds it where oneDNN's choice
 * is its im2col gemm. */
bool sq_patch_kernel_fits(const sq_builder *b);
seqrt_status sq_build_patch_kernel(sq_builder *b, const dnnl_dims_t in,
                                   const dnnl_dims_t out);
/* deconv_kernel.c: a ConvTranspose with few output channels (plain
 * layouts), as an sgemm and a gather. */
bool sq_deconv_kernel_fits(const sq_builder *b);
seqrt_status sq_build_deconv_kernel(sq_builder *b, const dnnl_dims_t in,
                                    const dnnl_dims_t out);
/* conv.c: a convolution that gets Winograd by default where it runs on
 * one thread (its shape and weights). */
bool sq_conv_winograd_candidate(const sq_layer *layer);
seqrt_status sq_build_pool(sq_builder *b);
/* pool_kernel.c: a MaxPool reading 8-channel blocks on a CPU without
 * AVX-512 (oneDNN's AVX2 pooling is slow): whether it runs the builder's
 * layer, and building it. */
bool sq_pool_kernel_fits(const sq_builder *b);
seqrt_status sq_build_pool_kernel(sq_builder *b);
seqrt_status sq_build_norm(sq_builder *b);
seqrt_status sq_build_eltwise(sq_builder *b);
seqrt_status sq_build_softmax(sq_builder *b);
seqrt_status sq_build_reshape(sq_builder *b);

/* ---- the other layer kinds (one file each) ------------------------------ */

seqrt_status sq_build_gate(sq_builder *b);      /* gate.c: GLU */
seqrt_status sq_build_pad(sq_builder *b);       /* pad.c */
seqrt_status sq_build_resize(sq_builder *b);    /* resize.c: Upsample */
seqrt_status sq_build_shuffle(sq_builder *b);   /* shuffle.c */
seqrt_status sq_build_embedding(sq_builder *b); /* embedding.c */
seqrt_status sq_build_reduce(sq_builder *b);    /* reduce.c */
seqrt_status sq_build_binary(sq_builder *b);    /* binary.c */
/* norm_stats.c: InstanceNorm and GroupNorm; LayerNorm. lrn.c: LRN. */
seqrt_status sq_build_group_norm(sq_builder *b);
seqrt_status sq_build_layer_norm(sq_builder *b);
seqrt_status sq_build_lrn(sq_builder *b);
/* norm.c: whether a following ReLU can run inside the norm (fused plans). */
bool sq_norm_fuses_relu(const sq_layer *layer);
/* kernels.c: the ELTWISE kinds that are C kernels. */
seqrt_status sq_build_eltwise_kernel(sq_builder *b);
/* kernels.c: b->src_md and b->dst_md = the plain layer input and output. */
seqrt_status sq_plain_io(sq_builder *b);

/* eltwise.c: the one kind -> recipe table. An ELTWISE layer as up to
 * SQ_MAX_RECIPE oneDNN eltwise ops in order; 0 when it has none (PReLU and
 * the C kernels: not fusable as post-ops). */
#define SQ_MAX_RECIPE 3
typedef struct sq_eltwise_op {
  dnnl_alg_kind_t alg;
  float alpha, beta;
} sq_eltwise_op;
int sq_eltwise_recipe(const sq_layer *layer, sq_eltwise_op ops[SQ_MAX_RECIPE]);
/* How many of the n layers, in order, can be one chain of post-ops. */
#define SQ_MAX_FUSED_OPS 16
int sq_eltwise_fusable_count(const sq_layer *layers, int n);
seqrt_status sq_eltwise_append_post_ops(const sq_layer *layer,
                                        dnnl_post_ops_t post_ops);
/* Layers first..last are all ReLU (or none: last < first): what seqrt's
 * own kernels fuse. */
bool sq_only_relus(const sq_layer *layers, int first, int last);
/* Whether oneDNN runs its AVX-512 kernels on this CPU (its effective ISA,
 * which ONEDNN_MAX_CPU_ISA can lower): brgemm matmul, Winograd and
 * 16-channel blocks exist only there in oneDNN 2.6. seqrt's own AVX-512
 * kernels follow the same switch, so an AVX2 CPU (or ONEDNN_MAX_CPU_ISA=
 * AVX2) runs the plan that suits it. */
bool sq_cpu_avx512(void);
/* Whether it runs at least its AVX2 kernels (AVX2 with FMA). */
bool sq_cpu_avx2(void);
/* The channel-blocked layout of a rank-3 to 5 tensor that oneDNN's jitted
 * kernels read on this CPU (16 channels with AVX-512, 8 without); undef
 * for other ranks. */
dnnl_format_tag_t sq_channel_blocked_tag(int ndims);

/* ---- steps of several ops: primitives and C kernels (ops.c) ------------- */

/* Where an op's operand lives during a run. */
typedef enum sq_place {
  SQ_AT_SRC,  /* the step's input (the caller's buffer on a run's 1st step) */
  SQ_AT_DST,  /* the step's output (the caller's buffer on a last step) */
  SQ_AT_OTHER /* the ping-pong buffer the output is not in: free only when
                 the step is in place (the builder sets in_place) */
} sq_place;

typedef struct sq_op sq_op;
/* A C kernel: reads `src`, writes `dst` (plain layouts; may be the same
 * buffer), with the run's `scratch` (the op's scratch_bytes of it) for
 * itself. Runs on the step's OpenMP thread count. */
typedef seqrt_status (*sq_kernel_fn)(const sq_op *op, const void *src,
                                     void *dst, void *scratch);

#define SQ_MAX_OPS 4
#define SQ_MAX_OP_ARGS 3

/* A primitive's activation argument. */
typedef struct sq_op_arg {
  int arg;
  sq_place place;
  dnnl_memory_desc_t md;
} sq_op_arg;

struct sq_op {
  const sq_layer *layer;
  dnnl_primitive_t prim; /* a oneDNN primitive, or NULL and a kernel */
  sq_kernel_fn kernel;
  void *params; /* the kernel's (owned, freed with free) */
  sq_place from, to;
  int n_args;
  sq_op_arg args[SQ_MAX_OP_ARGS];
  dnnl_memory_desc_t scratch_md; /* a primitive's */
  size_t scratch_bytes;          /* a kernel's */
  int n_consts;
  dnnl_exec_arg_t consts[SQ_MAX_CONSTS];
  void *owned[SQ_MAX_CONSTS]; /* constants the op made */
};

typedef struct sq_ops {
  int n;
  sq_op op[SQ_MAX_OPS];
} sq_ops;

/* Builders: a builder leaves b->pd NULL, sets b->src_md / b->dst_md (what
 * the first op reads at SRC, the last writes at DST) and appends ops. */
seqrt_status sq_op_pd(sq_builder *b, const void *op_desc,
                      const_dnnl_post_ops_t post_ops, const char *what,
                      dnnl_primitive_desc_t *pd);
const dnnl_memory_desc_t *sq_pd_md(const_dnnl_primitive_desc_t pd, int arg);
/* oneDNN's name of the implementation a primitive (descriptor) runs, e.g.
 * "brgconv:avx512_core"; "?" when oneDNN cannot say. */
const char *sq_pd_impl(const_dnnl_primitive_desc_t pd);
const char *sq_prim_impl(const_dnnl_primitive_t prim);
/* Whether it runs one of oneDNN's C kernels ("ref", "simple_nchw"), which
 * it may fall back to on a layout it has no jitted kernel for. */
bool sq_prim_unjitted(const_dnnl_primitive_t prim);
seqrt_status sq_op_add_prim(sq_builder *b, const_dnnl_primitive_desc_t pd,
                            int n_args, const sq_op_arg *args, sq_op **out);
/* A reorder op from `from_md` at `from` to `to_md` at `to`. */
seqrt_status sq_op_add_reorder(sq_builder *b, const dnnl_memory_desc_t *from_md,
                               sq_place from, const dnnl_memory_desc_t *to_md,
                               sq_place to);
/* Bind a constant of op: read in place or reordered into an op-owned copy
 * (chain weights: into the plan's weight cache when it has one). */
seqrt_status sq_op_add_const(sq_builder *b, sq_op *op,
                             const_dnnl_primitive_desc_t pd, int arg,
                             const dnnl_memory_desc_t *user_md,
                             const void *data);
/* `count` floats owned by op (freed with it); NULL on failure. */
float *sq_op_owned_floats(sq_op *op, int64_t count);
/* Takes ownership of params (freed even on failure). */
seqrt_status sq_op_add_kernel(sq_builder *b, sq_kernel_fn fn, void *params,
                              sq_place from, sq_place to);
/* The same, for a kernel that needs scratch_bytes of the run's scratch. */
seqrt_status sq_op_add_kernel_scratch(sq_builder *b, sq_kernel_fn fn,
                                      void *params, sq_place from, sq_place to,
                                      size_t scratch_bytes);
void sq_ops_free(sq_ops *ops);
/* "jit:uni+kernel"-style list of the ops' implementations. */
const char *sq_ops_describe(const sq_ops *ops, char *buf, size_t size);
/* The oneDNN implementation(s) a step runs ("view" if none), into buf. */
const char *sq_step_impl(const sq_step *step, char *buf, size_t size);

/* Execs: memory objects of one exec, bound to its buffers (`where` is
 * indexed by sq_place), then run with the step's actual source and
 * destination memories and the spare buffer. */
typedef struct sq_ops_exec sq_ops_exec;
seqrt_status sq_ops_bind(const sq_plan *plan, const sq_ops *ops, void *scratch,
                         void *const where[3], sq_ops_exec **out);
void sq_ops_unbind(sq_ops_exec *exec);
seqrt_status sq_ops_run(const sq_ops *ops, sq_ops_exec *exec,
                        dnnl_stream_t stream, dnnl_memory_t src,
                        dnnl_memory_t dst, void *other);

/* ---- the padding kernel (pad.c) ----------------------------------------- */

/* What it does along the spatial dims: the end padding follows from the
 * output dims (chain.h: PAD). */
typedef struct sq_pad_desc {
  sq_pad_mode mode;
  float value;                  /* constant mode */
  const int64_t *begin;         /* per spatial dim */
  const int64_t *circular_from; /* per spatial dim */
} sq_pad_desc;

/* Append the kernel padding plain `in` (at SRC) into plain `out` (at `to`);
 * rank 3 to 5, dims checked by the caller. */
seqrt_status sq_pad_add_kernel(sq_builder *b, const sq_pad_desc *pad, int rank,
                               const dnnl_dims_t in, const dnnl_dims_t out,
                               sq_place to);

/* ---- shared helpers (plan.c) ------------------------------------------ */

/* Build a one-primitive step running `layer` (the chain's, or a band's
 * copy of it) with the n_fused eltwise layers at `fused` as post-ops. */
seqrt_status sq_build_layer(sq_plan *plan, sq_step *step, const sq_layer *layer,
                            const sq_layer *fused, int n_fused,
                            const sq_layer *flatten,
                            const dnnl_memory_desc_t *in_md,
                            dnnl_format_tag_t src_tag,
                            dnnl_format_tag_t dst_tag);
void sq_step_free(sq_step *step);

/* ---- execution helpers (exec.c) ----------------------------------------- */

/* The error for a failed oneDNN call made while binding or running. */
seqrt_status sq_exec_error(const char *what, dnnl_status_t st);
/* A memory object for `md` on `data`; none (NULL) when the md is absent. */
seqrt_status sq_memory_on(const sq_plan *plan, const dnnl_memory_desc_t *md,
                          void *data, dnnl_memory_t *out);
/* Execute p on stream with its constants (scratch may be NULL). */
dnnl_status_t sq_prim_execute(const sq_prim *p, dnnl_stream_t stream,
                              dnnl_memory_t src, dnnl_memory_t dst,
                              dnnl_memory_t scratch);

/* ---- bands: a run of convolutions and pools split by rows (bands.c) ----- */

typedef struct sq_bands sq_bands;

/* One stage of a band group: chain layers lo..hi, the conv or pool at lo
 * and the eltwise layers after it as post-ops. */
typedef struct sq_band_stage_span {
  int lo, hi;
} sq_band_stage_span;

#define SQ_MAX_BANDS 8
#define SQ_MAX_BAND_STAGES 32

/* Fill step (layers spans[0].lo..spans[n-1].hi) with the stages split into
 * n_bands bands of output rows, each band a one-thread primitive. *built
 * is false (and the step empty) when a band cannot be built or the
 * layouts oneDNN picks cannot be split by rows: the caller builds the
 * layers as usual then. */
seqrt_status sq_build_bands(sq_plan *plan, sq_step *step,
                            const sq_band_stage_span *spans, int n_stages,
                            int n_bands, bool *built);
void sq_bands_free(sq_bands *bands);
/* Bytes of the run's scratch buffer a band step uses. */
size_t sq_bands_scratch_bytes(const sq_bands *bands);
const char *sq_bands_describe(const sq_bands *bands, char *buf, size_t size);
typedef struct sq_bands_exec sq_bands_exec;
seqrt_status sq_bands_bind(const sq_plan *plan, const sq_bands *bands,
                           void *scratch, sq_bands_exec **out);
void sq_bands_unbind(sq_bands_exec *exec);
/* Run on up to omp_get_max_threads() threads: src and dst are the whole
 * tensors (the step's src_md / dst_md). */
seqrt_status sq_bands_run(const sq_bands *bands, sq_bands_exec *exec,
                          const void *src, void *dst);

/* The message for a failed oneDNN call made for `layer`. */
seqrt_status sq_dnnl_error(const sq_layer *layer, const char *what,
                           dnnl_status_t status);

/* Check a dnnl_status_t in a builder: on failure return the error naming
 * the layer. */
#define SQ_DNNL(layer, what, call)                                             \
  do {                                                                         \
    dnnl_status_t sq_st_ = (call);                                             \
    if (sq_st_ != dnnl_success) return sq_dnnl_error((layer), (what), sq_st_); \
  } while (0)

/* dims of a chain shape with the plan's batch in place of -1. */
void sq_dims(const sq_shape *shape, int64_t batch, dnnl_dims_t dims);

/* Dense row-major f32 md / a format_tag_any md. */
seqrt_status sq_md_plain(const sq_layer *layer, int ndims,
                         const dnnl_dims_t dims, dnnl_memory_desc_t *md);
seqrt_status sq_md_any(const sq_layer *layer, int ndims, const dnnl_dims_t dims,
                       dnnl_memory_desc_t *md);
/* An md in `tag`'s layout; format any for dnnl_format_tag_undef. */
seqrt_status sq_md_tagged(const sq_layer *layer, int ndims,
                          const dnnl_dims_t dims, dnnl_format_tag_t tag,
                          dnnl_memory_desc_t *md);
bool sq_md_is_plain(const dnnl_memory_desc_t *md);

/* Create b->pd from an op descriptor with b->attr. */
seqrt_status sq_builder_create_pd(sq_builder *b, const void *op_desc,
                                  const char *what);

/* The same, but the first implementation whose name starts with `prefix`
 * (e.g. "jit:") when oneDNN has one, its first choice otherwise. */
seqrt_status sq_builder_create_pd_preferring(sq_builder *b, const void *op_desc,
                                             const char *what,
                                             const char *prefix);

/* A reorder's primitive descriptor, with the plan's user-mode scratchpad
 * (the attribute every primitive of a plan gets). */
seqrt_status sq_reorder_pd_create(const sq_plan *plan, const sq_layer *layer,
                                  const dnnl_memory_desc_t *from,
                                  const dnnl_memory_desc_t *to,
                                  dnnl_primitive_desc_t *pd);

/* Bind a constant (weights, bias, ...) argument of b->pd: reference `data`
 * (in `user_md`) when pd wants that layout, otherwise reorder it once into a
 * plan-owned buffer. */
seqrt_status sq_builder_add_const(sq_builder *b, int arg,
                                  const dnnl_memory_desc_t *user_md,
                                  const void *data);

/* Reordered weights (weights.c): *out = the buffer holding `source` (in
 * user_md) reordered into `want`, from the cache or made and cached now.
 * The cache keeps ownership. */
seqrt_status sq_weight_cache_get(sq_weight_cache *cache, const sq_layer *layer,
                                 const void *source,
                                 const dnnl_memory_desc_t *user_md,
                                 const dnnl_memory_desc_t *want,
                                 dnnl_engine_t engine, dnnl_stream_t stream,
                                 void **out);
/* *out = where a plan may read `source` (in user_md) in place: the array
 * itself, which the cache then never gives back, or, if it already has,
 * a copy in user_md made from a cached one. */
seqrt_status sq_weight_cache_in_place(sq_weight_cache *cache,
                                      const sq_layer *layer, const void *source,
                                      const dnnl_memory_desc_t *user_md,
                                      dnnl_engine_t engine,
                                      dnnl_stream_t stream, void **out);

/* Makes a derived array (`bytes` of it at `out`) from a layer's plain
 * weights. */
typedef void (*sq_derive_fn)(const sq_layer *layer, const float *plain,
                             void *out);
/* *out = an array `derive` makes from `source` (in user_md) that no reorder
 * can (Winograd-transformed weights), cached under `key` (an md of format
 * kind undef that names the derivation) so that plans share it; *made
 * tells whether this call made it. The plain array stays readable: it
 * cannot be derived back. */
seqrt_status sq_weight_cache_derived(sq_weight_cache *cache,
                                     const sq_layer *layer, const void *source,
                                     const dnnl_memory_desc_t *user_md,
                                     const dnnl_memory_desc_t *key,
                                     size_t bytes, sq_derive_fn derive,
                                     dnnl_engine_t engine, dnnl_stream_t stream,
                                     void **out, bool *made);

/* Reorder `data` (in from_md) into `out` (in to_md) now, on `stream`. */
seqrt_status sq_reorder_now(const sq_layer *layer, dnnl_engine_t engine,
                            dnnl_stream_t stream,
                            const dnnl_memory_desc_t *from_md, const void *data,
                            const dnnl_memory_desc_t *to_md, void *out);

/* Check weights/bias sizes against what the layer needs. */
seqrt_status sq_check_weights(const sq_layer *layer, const sq_weights *w,
                              const char *what, int64_t expected,
                              bool required);

/* Conv and pools: spatial rank, window arithmetic and output dims. */
seqrt_status sq_check_window(const sq_layer *layer, const dnnl_dims_t in,
                             const dnnl_dims_t out);
void sq_window_arrays(const sq_layer *layer, dnnl_dims_t strides,
                      dnnl_dims_t dilates, dnnl_dims_t pad_l,
                      dnnl_dims_t pad_r);

#endif
