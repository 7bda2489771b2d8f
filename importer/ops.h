/* Op handlers: each turns one node (or one matched group of nodes) into
 * chain layers, inferring the output shape from the input shape.
 *
 * To support a new ONNX op: write its handler in the ops_<family>.c file and
 * add a row to the op table (ops_table.c). To recognise a decomposition
 * (several nodes that form one layer, possibly with internal fan-out such as
 * GELU's Div/Erf/Add/Mul/Mul): write a matcher and a group converter and add
 * a row to the pattern table; the chain check then treats the claimed nodes
 * as one step. */
#ifndef SEQRT_IMPORTER_OPS_H
#define SEQRT_IMPORTER_OPS_H

#include "core/chain.h"
#include "core/error.h"
#include "graph.h"

/* ONNX opsets of the default domain seqrt imports: SQ_OPSET_MIN up to
 * SQ_OPSET_MAX, the newest whose op versions seqrt was written against. A
 * model with a newer opset still loads when every op it uses has a row
 * open to newer opsets (SQ_OPSET_OPEN): ONNX keeps an op's semantics until
 * it publishes a new version, and seqrt cannot know those. */
/* Opset 6 is read like 7: the ops seqrt imports differ there only in
 * attributes it ignores (is_test, consumed_inputs) or checks (Add's
 * broadcast to the last dim, BatchNormalization's spatial). The
 * pytorch-converted ONNX backend tests are opset 6. */
#define SQ_OPSET_MIN 6
#define SQ_OPSET_MAX 23
#define SQ_OPSET_OPEN INT64_MAX

typedef struct sq_ctx {
  sq_graph *graph;
  sq_chain *chain;
  int cap_layers;
  sq_shape shape; /* the current activation: input of the next handler */
} sq_ctx;

/* Converts one node; reads ctx->shape as input and leaves the output shape
 * in ctx->shape. */
typedef seqrt_status (*sq_node_fn)(sq_ctx *ctx, const sq_node *node);

typedef struct sq_op {
  const char *op_type;
  sq_node_fn convert;
  /* versions whose semantics are handled; max SQ_OPSET_OPEN: also any
   * opset newer than SQ_OPSET_MAX */
  int64_t min_opset, max_opset;
} sq_op;

/* True when the group starting at data node `node` (the first in
 * topological order to read the group's input) matches; fills
 * group->nodes/n_nodes in topological order, the node producing the
 * group's output last. The chain check then verifies that the tensors
 * between the nodes are used only inside the group. A matcher may read
 * constant values (sq_graph_value), e.g. GELU's sqrt(2). */
typedef bool (*sq_match_fn)(sq_graph *graph, const sq_node *node,
                            sq_group *group);

typedef struct sq_pattern {
  const char *name;
  sq_match_fn match;
  sq_group_fn convert;
} sq_pattern;

/* The row of `op_type` covering `opset` (or, if none does, any row of it;
 * NULL for an op seqrt does not know). */
const sq_op *sq_op_find(const char *op_type, int64_t opset);
const sq_pattern *sq_patterns(int *count);
/* Message for a node with no handler (also used for opset ranges). */
seqrt_status sq_op_unsupported(const sq_graph *graph, const sq_node *node);
/* The node has a handler for the model's opset. */
bool sq_node_supported(const sq_graph *graph, const sq_node *node);
/* Convert one group: single nodes through the op table. */
seqrt_status sq_group_convert(sq_ctx *ctx, const sq_group *group);

/* ---- templates: decompositions described as node lists (pattern.c) ----- */

/* The number of elements of a static array. */
#define COUNT(a) ((int)(sizeof(a) / sizeof *(a)))

typedef enum sq_ref_kind {
  SQ_REF_NONE,    /* no more inputs */
  SQ_REF_X,       /* the group's input activation */
  SQ_REF_NODE,    /* output `slot` of template node `index` */
  SQ_REF_VALUE,   /* a one-element constant equal to `value` */
  SQ_REF_CONST,   /* any constant, captured in captures[index] */
  SQ_REF_SIDE,    /* a constant or shape-only tensor, captured */
  SQ_REF_EMPTY,   /* an absent optional input */
  SQ_REF_OPTIONAL /* absent, or a constant / shape-only tensor, captured */
} sq_ref_kind;

typedef struct sq_ref {
  sq_ref_kind kind;
  int index, slot;
  float value;
} sq_ref;

#define SQ_TX                                                                  \
  { SQ_REF_X, 0, 0, 0.0f }
#define SQ_TN(k)                                                               \
  { SQ_REF_NODE, k, 0, 0.0f }
#define SQ_TNO(k, o)                                                           \
  { SQ_REF_NODE, k, o, 0.0f }
#define SQ_TV(v)                                                               \
  { SQ_REF_VALUE, 0, 0, v }
#define SQ_TK(c)                                                               \
  { SQ_REF_CONST, c, 0, 0.0f }
#define SQ_TS(c)                                                               \
  { SQ_REF_SIDE, c, 0, 0.0f }
#define SQ_TE                                                                  \
  { SQ_REF_EMPTY, 0, 0, 0.0f }
#define SQ_TO(c)                                                               \
  { SQ_REF_OPTIONAL, c, 0, 0.0f }

#define SQ_TEMPLATE_INPUTS 5
#define SQ_MAX_CAPTURES 12

/* One node of a template: the op and its inputs in order (Add, Mul, Or,
 * Equal, Max, Min, Sum also match with two inputs swapped). A template
 * lists nodes so that each reads only earlier ones; the last is the exit. */
typedef struct sq_tnode {
  const char *op;
  sq_ref in[SQ_TEMPLATE_INPUTS];
} sq_tnode;

typedef struct sq_match {
  int nodes[SQ_GROUP_MAX_NODES]; /* graph node index per template node */
  int captures[SQ_MAX_CAPTURES]; /* tensor index per captured constant */
  int entry;                     /* the X tensor */
  int n_nodes;
} sq_match;

/* Match template `t` (n nodes) with `start` as one of its nodes that read
 * only X and constants. Node names play no part: ops, wiring, constant
 * values. The caller then checks attributes and closes the group. */
bool sq_template_match(sq_graph *g, const sq_node *start, const sq_tnode *t,
                       int n, sq_match *m);
/* The first of `count` templates that matches (index in *which), or -1. */
int sq_template_match_any(sq_graph *g, const sq_node *start,
                          const sq_tnode *const *templates, const int *sizes,
                          int count, sq_match *m);
/* Fill `group` with the matched nodes in topological order. */
void sq_match_to_group(const sq_graph *g, const sq_match *m, sq_group *group);
/* A pattern's matcher: 0 (or a variant >= 0) when it matches at start. */
typedef int (*sq_matcher)(sq_graph *g, const sq_node *start, sq_match *m);
/* Whether `match` matches at node; if so, its nodes as `group`. */
bool sq_match_claim(sq_graph *g, const sq_node *node, sq_group *group,
                    sq_matcher match);
/* The graph node bound to template node k. */
const sq_node *sq_match_node(const sq_graph *g, const sq_match *m, int k);
/* The one float of captured constant `c` (false if not a single value). */
bool sq_match_scalar(sq_graph *g, const sq_match *m, int c, float *out);
/* A one-element float constant tensor's value. */
bool sq_scalar_value(sq_graph *g, int tensor, float *out);
/* A layer of `kind` for a whole group: named after the exit node's module,
 * covering every node of the group; in = ctx->shape. */
seqrt_status sq_group_layer(sq_ctx *ctx, const sq_group *group, sq_kind kind,
                            sq_layer **out);
/* Record the shape of an inner tensor of a group, for Shape nodes that read
 * it (the chain walk records only the tensors between groups). */
void sq_tensor_set_shape(sq_graph *g, int tensor, const sq_shape *shape);

/* ---- helpers for handlers (ops_common.c) --------------------------------- */

/* Append a layer of `kind` named after `node`'s module, covering `node`,
 * with in = ctx->shape. The pointer is valid until the next append. */
seqrt_status sq_layer_add(sq_ctx *ctx, sq_kind kind, const sq_node *node,
                          sq_layer **out);
/* Record that `node` is covered by `layer` (appends to layer->nodes). */
seqrt_status sq_layer_add_node(sq_layer *layer, const sq_node *node);
/* The same, listed first (a node that precedes the layer's own). */
seqrt_status sq_layer_prepend_node(sq_layer *layer, const sq_node *node);
/* Append `item` to a comma-separated list. */
seqrt_status sq_list_append(char **list, const char *item);
/* Largest activation seqrt accepts, in elements per sample. */
#define SQ_MAX_ELEMENTS ((int64_t)1 << 40)
/* Rank 1..SQ_MAX_RANK, dims > 0 (batch -K allowed in dim 0), within
 * SQ_MAX_ELEMENTS: SEQRT_OK, SEQRT_ERR_LIMIT (message set) or
 * SEQRT_ERR_INVALID_MODEL (no message set). */
seqrt_status sq_shape_check(const sq_shape *shape);
/* Set layer->out and ctx->shape, checking rank and non-empty dims. */
seqrt_status sq_layer_finish(sq_ctx *ctx, sq_layer *layer, const sq_shape *out);
/* The activation passes through unchanged and `node` leaves the chain. */
seqrt_status sq_node_removed(sq_ctx *ctx, const sq_node *node);

/* Constant input `slot` of `node`: NULL in *out if the slot is absent or
 * empty and !required. Data inputs there are an error. */
seqrt_status sq_const_input(sq_ctx *ctx, const sq_node *node, int slot,
                            bool required, const sq_value **out);
/* Like sq_const_input, and the value must be floating point. */
seqrt_status sq_float_input(sq_ctx *ctx, const sq_node *node, int slot,
                            bool required, const sq_value **out);
/* The activation must be input `slot` of `node`. */
seqrt_status sq_require_activation(sq_ctx *ctx, const sq_node *node, int slot);
/* Copy a value into layer weights (float, aligned) with `shape`. */
seqrt_status sq_weights_from(sq_weights *w, const sq_value *value);
/* The same for `node`'s input `slot` (whose value is `value`), taking over
 * its buffer instead of copying when `node` is its last user. */
seqrt_status sq_weights_from_input(sq_ctx *ctx, const sq_node *node, int slot,
                                   const sq_value *value, sq_weights *w);
seqrt_status sq_weights_alloc(sq_weights *w, int rank, const int64_t *dims);

/* "[-1, 3, 28, 28]" in a static buffer of the calling thread (for
 * messages; up to 4 live at once). sq_fmt_shape shows a merged batch as
 * "-1*K"; sq_fmt_dims prints values as given (weights, Reshape targets). */
const char *sq_fmt_shape(const sq_shape *shape);
const char *sq_fmt_dims(int rank, const int64_t *dims);
/* An op's `axes`: an attribute before opset `input_from`, a constant input
 * (slot 1) from it (Squeeze/Unsqueeze 13, Reduce* 18). */
seqrt_status sq_axes(sq_ctx *ctx, const sq_node *node, int64_t input_from,
                     int64_t *axes, int *count);
/* Normalise `axis` against `rank` (negative counts from the end). */
seqrt_status sq_normalize_axis(const sq_node *node, const char *what,
                               int64_t axis, int rank, int *out);

/* ---- kernel windows: Conv and pools (ops_window.c) ----------------------- */

typedef enum sq_auto_pad {
  SQ_AUTO_PAD_NOTSET,
  SQ_AUTO_PAD_VALID,
  SQ_AUTO_PAD_SAME_UPPER,
  SQ_AUTO_PAD_SAME_LOWER
} sq_auto_pad;

typedef struct sq_window {
  int spatial;
  int64_t kernel[SQ_MAX_SPATIAL];
  int64_t stride[SQ_MAX_SPATIAL];
  int64_t dilation[SQ_MAX_SPATIAL];
  int64_t pad_begin[SQ_MAX_SPATIAL];
  int64_t pad_end[SQ_MAX_SPATIAL];
  int64_t out[SQ_MAX_SPATIAL];
  /* end padding added so that the floor formula yields the ceil_mode
   * size; not part of the model's own padding */
  int64_t ceil_extra[SQ_MAX_SPATIAL];
  /* end padding the last window reaches; padding beyond it is never read
   * (old exporters emulate ceil_mode with generous end pads) */
  int64_t end_reach[SQ_MAX_SPATIAL];
  sq_auto_pad auto_pad;
  bool ceil_mode;
} sq_window;

typedef struct sq_window_rules {
  const int64_t *kernel; /* from the weights, or NULL: kernel_shape needed */
  bool dilations;        /* the op has a dilations attribute */
  bool ceil_mode;        /* the op has a ceil_mode attribute */
} sq_window_rules;

/* Read kernel_shape/strides/dilations/pads/auto_pad/ceil_mode of `node`
 * for an input of rank in->rank. */
seqrt_status sq_window_read(const sq_node *node, const sq_shape *in,
                            const sq_window_rules *rules, sq_window *win);
/* Resolve auto_pad and ceil_mode into explicit pads and output sizes for
 * the spatial dims of `in` (explicit pads may be added before this). */
seqrt_status sq_window_resolve(const sq_node *node, const sq_shape *in,
                               sq_window *win);
/* Copy the window into the layer; an end pad as wide as the window is
 * trimmed to end_reach. */
void sq_window_to_layer(const sq_window *win, sq_layer *layer);
/* Output shape: `in` with the spatial dims replaced, channel dim
 * `channels`. */
void sq_window_out_shape(const sq_window *win, const sq_shape *in,
                         int64_t channels, sq_shape *out);

/* ---- handlers, by family ------------------------------------------------- */

/* Patterns, each with its match and convert functions (declared by
 * SQ_PATTERN_DECL). */
#define SQ_PATTERN_DECL(name)                                                  \
  bool sq_match_##name(sq_graph *g, const sq_node *node, sq_group *group);     \
  seqrt_status sq_convert_##name(sq_ctx *ctx, const sq_group *group)

/* ops_linear.c */
seqrt_status sq_op_gemm(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_matmul(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_gather(sq_ctx *ctx, const sq_node *node);
bool sq_match_matmul_add(sq_graph *graph, const sq_node *node, sq_group *group);
seqrt_status sq_convert_matmul_add(sq_ctx *ctx, const sq_group *group);

/* ops_conv.c */
seqrt_status sq_op_conv(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_convtranspose(sq_ctx *ctx, const sq_node *node);
bool sq_match_pad_conv(sq_graph *graph, const sq_node *node, sq_group *group);
seqrt_status sq_convert_pad_conv(sq_ctx *ctx, const sq_group *group);
/* The explicit pads of a constant-zero Pad node (ops_conv.c): spatial
 * begin/end pads; batch and channel pads must be zero. */
seqrt_status sq_pad_read(sq_ctx *ctx, const sq_node *pad, int rank,
                         int64_t *begin, int64_t *end);

/* What a Pad node does (ops_pad.c), whatever its opset's form: pads in ONNX
 * order (all begins, then all ends) over every dim, an `axes` input
 * applied. */
typedef struct sq_pad_spec {
  int rank;
  int64_t pads[2 * SQ_MAX_RANK];
  double fill;
  sq_pad_mode mode;
} sq_pad_spec;

/* `rank` -1: taken from the number of pads (an `axes` input then fails). */
seqrt_status sq_pad_spec_read(sq_graph *g, const sq_node *pad, int rank,
                              sq_pad_spec *spec);
/* Zero constant padding of spatial dims only, none negative: what a
 * convolution or an average pool counting its pads can absorb. */
bool sq_pad_spec_foldable(const sq_pad_spec *spec);
/* A constant-mode Pad whose only consumer is a `next_op` node reading it as
 * input 0: the group {pad, next}. */
bool sq_match_pad_before(sq_graph *graph, const sq_node *pad,
                         const char *next_op, sq_group *group);

/* ops_pool.c */
seqrt_status sq_op_maxpool(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_avgpool(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_global_avgpool(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_global_maxpool(sq_ctx *ctx, const sq_node *node);
bool sq_match_pad_avgpool(sq_graph *graph, const sq_node *node,
                          sq_group *group);
seqrt_status sq_convert_pad_avgpool(sq_ctx *ctx, const sq_group *group);
seqrt_status sq_op_lppool(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_global_lppool(sq_ctx *ctx, const sq_node *node);
SQ_PATTERN_DECL(lppool);

/* ops_arith.c: Add/Sub/Mul/Div with a constant (or x twice); Pow; Max/Min
 * with a scalar; unary math */
seqrt_status sq_op_arith(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_minmax(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_pow(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_unary(sq_ctx *ctx, const sq_node *node);

/* ops_reduce.c: every Reduce* op of the table */
seqrt_status sq_op_reduce(sq_ctx *ctx, const sq_node *node);
SQ_PATTERN_DECL(sum_square);
SQ_PATTERN_DECL(normalize);

/* ops_norm.c */
seqrt_status sq_op_batchnorm(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_instancenorm(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_layernorm(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_groupnorm(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_lrn(sq_ctx *ctx, const sq_node *node);
/* y = x * scale[c] + shift[c] over the `channels` of dim 1 (scale NULL: 1,
 * shift NULL: 0) folded into the weights of the Conv, or the Linear with a
 * 2-D output, that produced the activation; *folded false (and nothing
 * changed) when there is none. */
seqrt_status sq_fold_channel_affine(sq_ctx *ctx, const sq_node *node,
                                    int64_t channels, const float *scale,
                                    const float *shift, bool *folded);
/* Layers shared with the patterns; gamma/beta may be NULL. */
seqrt_status sq_layernorm_layer(sq_ctx *ctx, const sq_group *group,
                                const sq_node *node, int axis, float eps,
                                const sq_value *gamma, const sq_value *beta);
seqrt_status sq_lrn_layer(sq_ctx *ctx, const sq_group *group,
                          const sq_node *node, int64_t size, float alpha,
                          float beta, float k);
/* ops_norm_patterns.c */
SQ_PATTERN_DECL(layernorm);
SQ_PATTERN_DECL(groupnorm);
SQ_PATTERN_DECL(lrn);

/* ops_activation.c */
/* An ELTWISE layer of `kind` (alpha, beta) for one node, or for a whole
 * group when `group` is set; in = out = ctx->shape. */
seqrt_status sq_eltwise_layer(sq_ctx *ctx, const sq_group *group,
                              const sq_node *node, sq_kind kind, float alpha,
                              float beta);
seqrt_status sq_op_relu(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_leakyrelu(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_sigmoid(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_tanh(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_elu(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_softmax(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_logsoftmax(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_clip(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_prelu(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_celu(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_selu(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_hardsigmoid(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_hardswish(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_softplus(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_softsign(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_mish(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_gelu(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_thresholdedrelu(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_shrink(sq_ctx *ctx, const sq_node *node);
/* A softmax-family layer over `axis` (normalised) of ctx->shape. */
seqrt_status sq_softmax_layer(sq_ctx *ctx, const sq_group *group,
                              const sq_node *node, sq_kind kind, int axis,
                              bool coerce_2d);
/* ops_eltwise_patterns.c: decompositions of one elementwise layer */
SQ_PATTERN_DECL(gelu);
SQ_PATTERN_DECL(gelu_tanh);
SQ_PATTERN_DECL(silu);
SQ_PATTERN_DECL(mish);
SQ_PATTERN_DECL(hardswish);
SQ_PATTERN_DECL(softsign);
SQ_PATTERN_DECL(tanhshrink);
SQ_PATTERN_DECL(softshrink);
SQ_PATTERN_DECL(hardshrink);
SQ_PATTERN_DECL(logsigmoid);
SQ_PATTERN_DECL(softplus_beta);
SQ_PATTERN_DECL(threshold);
SQ_PATTERN_DECL(glu);
SQ_PATTERN_DECL(softmin);
SQ_PATTERN_DECL(transposed_softmax);

/* ops_shape.c */
seqrt_status sq_op_flatten(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_reshape(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_squeeze(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_unsqueeze(sq_ctx *ctx, const sq_node *node);
/* Resolve a Reshape target (0 = copy, -1 = infer, batch elements) against
 * `in`; shared with the constant evaluator (ops_shape.c). */
seqrt_status sq_reshape_resolve(const sq_node *node, const sq_shape *in,
                                const sq_value *target, bool allowzero,
                                sq_shape *out);
/* What Reshape node `reshape` (its constant target, allowzero) makes of
 * `in`; for the patterns that contain Reshapes. */
seqrt_status sq_reshape_node(sq_ctx *ctx, const sq_node *reshape,
                             const sq_shape *in, sq_shape *out);

/* ops_pad.c: Pad layers and torch's circular padding (Slice/Concat) */
seqrt_status sq_op_pad(sq_ctx *ctx, const sq_node *node);
SQ_PATTERN_DECL(circular_pad);
/* When the last layer is a CONV and the one before it is that module's own
 * PAD ("<module>:pad": padding_mode reflect/replicate/circular), merge the
 * PAD into the CONV as its pre-padding (core/chain.h), listing its nodes
 * first. Otherwise nothing changes. */
seqrt_status sq_absorb_module_pad(sq_ctx *ctx);

/* ops_resize.c: Resize, Upsample, DepthToSpace, SpaceToDepth, and torch's
 * Reshape/Transpose/Reshape shuffles */
seqrt_status sq_op_resize(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_upsample(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_depthtospace(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_transpose(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_spacetodepth(sq_ctx *ctx, const sq_node *node);
SQ_PATTERN_DECL(shuffle);

/* ops_slice.c: Slice, Split (one output used), and Gather of constant
 * indices from the activation */
seqrt_status sq_op_slice(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_split(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_index(sq_ctx *ctx, const sq_node *node);

/* ops_removed.c */
seqrt_status sq_op_dropout(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_identity(sq_ctx *ctx, const sq_node *node);

#endif
