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
  void *owned[SQ_MAX_CONSTS]; /* reordered constants owned by the plan */
} sq_step;

struct sq_plan {
  const sq_chain *chain; /* outlives the plan */
  int64_t batch;
  bool observable;
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
  /* Filled by the builder: */
  dnnl_primitive_desc_t pd;  /* NULL for a pure view */
  dnnl_memory_desc_t src_md; /* set only when it is not pd's src */
  dnnl_memory_desc_t dst_md; /* set only when it is not pd's dst */
  bool in_place;
} sq_builder;

typedef seqrt_status (*sq_build_fn)(sq_builder *b);

seqrt_status sq_build_linear(sq_builder *b);
seqrt_status sq_build_conv(sq_builder *b);
seqrt_status sq_build_pool(sq_builder *b);
seqrt_status sq_build_norm(sq_builder *b);
seqrt_status sq_build_eltwise(sq_builder *b);
seqrt_status sq_build_softmax(sq_builder *b);
seqrt_status sq_build_reshape(sq_builder *b);

/* eltwise.c: the oneDNN algorithm and parameters of an ELTWISE layer. */
seqrt_status sq_eltwise_params(const sq_layer *layer, dnnl_alg_kind_t *alg,
                               float *alpha, float *beta);

/* ---- shared helpers (plan.c) ------------------------------------------ */

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
bool sq_md_is_plain(const dnnl_memory_desc_t *md);

/* Create b->pd from an op descriptor with b->attr. */
seqrt_status sq_builder_create_pd(sq_builder *b, const void *op_desc,
                                  const char *what);

/* Bind a constant (weights, bias, ...) argument of b->pd: reference `data`
 * (in `user_md`) when pd wants that layout, otherwise reorder it once into a
 * plan-owned buffer. */
seqrt_status sq_builder_add_const(sq_builder *b, int arg,
                                  const dnnl_memory_desc_t *user_md,
                                  const void *data);

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
