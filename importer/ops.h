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

/* ONNX opsets of the default domain seqrt imports. */
#define SQ_OPSET_MIN 7
#define SQ_OPSET_MAX 17

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
  int64_t min_opset, max_opset; /* versions whose semantics are handled */
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

const sq_op *sq_op_find(const char *op_type);
const sq_pattern *sq_patterns(int *count);
/* Message for a node with no handler (also used for opset ranges). */
seqrt_status sq_op_unsupported(const sq_graph *graph, const sq_node *node);
/* The node has a handler for the model's opset. */
bool sq_node_supported(const sq_graph *graph, const sq_node *node);
/* Convert one group: single nodes through the op table. */
seqrt_status sq_group_convert(sq_ctx *ctx, const sq_group *group);

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
/* Rank 1..SQ_MAX_RANK, dims > 0 (batch -1 allowed), within
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
 * messages; up to 4 live at once). */
const char *sq_fmt_shape(const sq_shape *shape);
const char *sq_fmt_dims(int rank, const int64_t *dims);
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

/* ops_linear.c */
seqrt_status sq_op_gemm(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_matmul(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_add(sq_ctx *ctx, const sq_node *node);
bool sq_match_matmul_add(sq_graph *graph, const sq_node *node, sq_group *group);
seqrt_status sq_convert_matmul_add(sq_ctx *ctx, const sq_group *group);

/* ops_conv.c */
seqrt_status sq_op_conv(sq_ctx *ctx, const sq_node *node);
bool sq_match_pad_conv(sq_graph *graph, const sq_node *node, sq_group *group);
seqrt_status sq_convert_pad_conv(sq_ctx *ctx, const sq_group *group);
/* The explicit pads of a constant-zero Pad node (ops_conv.c): spatial
 * begin/end pads; batch and channel pads must be zero. */
seqrt_status sq_pad_read(sq_ctx *ctx, const sq_node *pad, int rank,
                         int64_t *begin, int64_t *end);
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

/* ops_norm.c */
seqrt_status sq_op_batchnorm(sq_ctx *ctx, const sq_node *node);

/* ops_activation.c */
seqrt_status sq_op_relu(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_leakyrelu(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_sigmoid(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_tanh(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_elu(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_softmax(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_logsoftmax(sq_ctx *ctx, const sq_node *node);

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

/* ops_removed.c */
seqrt_status sq_op_dropout(sq_ctx *ctx, const sq_node *node);
seqrt_status sq_op_identity(sq_ctx *ctx, const sq_node *node);

#endif
