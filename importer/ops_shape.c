/* Views: Flatten, Reshape, Squeeze, Unsqueeze. The batch dim stays first;
 * with a dynamic batch it may merge with the dims after it, its size then
 * the batch times K (dims[0] = -K, core/chain.h). */
#include <string.h>

#include "ops.h"

/* A dim of a reshape: `size` elements, times the batch when `batch`; or
 * the one to infer. */
typedef struct reshape_dim {
  int64_t size;
  bool batch;
  bool infer;
} reshape_dim;

static seqrt_status reshape_error(const sq_node *node, const sq_shape *in,
                                  const sq_value *target, const char *why) {
  return sq_error(
      SEQRT_ERR_UNSUPPORTED, "node '%s' (%s) cannot reshape %s to %s: %s",
      node->name, node->op, sq_fmt_shape(in),
      sq_fmt_dims(target->rank == 1 ? (int)target->count : 0, target->i), why);
}

/* A chain dim as a reshape dim: -K is the batch times K. */
static reshape_dim chain_dim(int64_t d) {
  return d < 0 ? (reshape_dim){d == INT64_MIN ? 0 : -d, true, false}
               : (reshape_dim){d, false, false};
}

/* Each target entry as a reshape dim. A batch-flagged entry holds the
 * chain dim Shape read (-K: the batch times K). */
static seqrt_status reshape_entries(const sq_node *node, const sq_shape *in,
                                    const sq_value *target, bool allowzero,
                                    reshape_dim *dims) {
  bool dynamic = in->rank > 0 && in->dims[0] < 0;
  int infer = 0;
  for (int k = 0; k < (int)target->count; k++) {
    int64_t v = target->i[k];
    if (target->batch && target->batch[k]) {
      if (!dynamic)
        return reshape_error(node, in, target,
                             "a symbolic batch size with "
                             "a fixed batch");
      dims[k] = chain_dim(v < 0 ? v : -1);
    } else if (v == 0 && !allowzero) {
      if (k >= in->rank)
        return reshape_error(node, in, target,
                             "0 copies a dim the input "
                             "does not have");
      dims[k] = chain_dim(in->dims[k]);
    } else if (v == -1) {
      dims[k] = (reshape_dim){1, false, true};
      infer++;
    } else if (v < 0) {
      return reshape_error(node, in, target, "negative size");
    } else {
      dims[k] = (reshape_dim){v, false, false};
    }
  }
  if (infer > 1) return reshape_error(node, in, target, "several -1 sizes");
  return SEQRT_OK;
}

/* Product of the sizes (the batch as a formal factor, counted in
 * *batches); false on overflow. */
static bool static_product(int rank, const reshape_dim *dims, int64_t *product,
                           int *batches) {
  *product = 1;
  *batches = 0;
  for (int k = 0; k < rank; k++) {
    *batches += dims[k].batch;
    if (sq_mul_overflow(*product, dims[k].size, product)) return false;
  }
  return true;
}

seqrt_status sq_reshape_resolve(const sq_node *node, const sq_shape *in,
                                const sq_value *target, bool allowzero,
                                sq_shape *out) {
  if (!target->i || target->rank != 1 || target->count > SQ_MAX_RANK)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (%s): the target shape must be a 1-D integer "
                    "constant of at most %d entries",
                    node->name, node->op, SQ_MAX_RANK);
  reshape_dim from[SQ_MAX_RANK], dims[SQ_MAX_RANK];
  int rank = (int)target->count, in_batches, out_batches;
  int64_t in_size, out_size;
  for (int k = 0; k < in->rank; k++) from[k] = chain_dim(in->dims[k]);
  seqrt_status st = reshape_entries(node, in, target, allowzero, dims);
  if (st != SEQRT_OK) return st;
  if (!static_product(in->rank, from, &in_size, &in_batches) ||
      !static_product(rank, dims, &out_size, &out_batches))
    return reshape_error(node, in, target, "sizes overflow");
  for (int k = 0; k < rank; k++) {
    if (!dims[k].infer) continue;
    if (out_size == 0 || in_size % out_size != 0)
      return reshape_error(node, in, target, "-1 cannot be inferred");
    /* the inferred dim takes the batch when no other entry does */
    dims[k] =
        (reshape_dim){in_size / out_size, in_batches > out_batches, false};
    out_batches += dims[k].batch;
    out_size = in_size;
  }
  if (in_batches != out_batches || in_size != out_size)
    return reshape_error(node, in, target, "the element count changes");
  for (int k = 1; k < rank; k++)
    if (dims[k].batch)
      return reshape_error(node, in, target,
                           "the batch dim must stay first (dim 0)");
  out->rank = rank;
  for (int k = 0; k < rank; k++)
    out->dims[k] = dims[k].batch ? -dims[k].size : dims[k].size;
  return SEQRT_OK;
}

/* ---- handlers ------------------------------------------------------------ */

static seqrt_status view_layer(sq_ctx *ctx, const sq_node *node, sq_kind kind,
                               const sq_shape *out) {
  sq_layer *layer;
  seqrt_status st = sq_layer_add(ctx, kind, node, &layer);
  return st == SEQRT_OK ? sq_layer_finish(ctx, layer, out) : st;
}

/* ONNX Flatten: [prod(dims[:axis]), prod(dims[axis:])]. A dynamic batch
 * merges into the first part (-K); with axis 0 it would land in dim 1. */
seqrt_status sq_op_flatten(sq_ctx *ctx, const sq_node *node) {
  int64_t axis;
  const sq_shape in = ctx->shape;
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK) st = sq_attr_int(node, "axis", 1, &axis);
  if (st != SEQRT_OK) return st;
  if (axis < -in.rank || axis > in.rank)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (Flatten): axis %lld is out of range for %s",
                    node->name, (long long)axis, sq_fmt_shape(&in));
  int split = (int)(axis < 0 ? axis + in.rank : axis);
  bool dynamic = in.dims[0] < 0;
  if (dynamic && split == 0)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Flatten) with axis=0 on %s moves the dynamic "
                    "batch into dim 1 of its [1, N] output; seqrt keeps the "
                    "batch in dim 0",
                    node->name, sq_fmt_shape(&in));
  sq_shape out = {2, {1, 1}};
  for (int k = 0; k < in.rank; k++) {
    int64_t *part = &out.dims[k < split ? 0 : 1];
    int64_t size = k == 0 && dynamic ? chain_dim(in.dims[0]).size : in.dims[k];
    if (sq_mul_overflow(*part, size, part))
      return sq_error(SEQRT_ERR_LIMIT, "node '%s' (Flatten): size overflow",
                      node->name);
  }
  if (dynamic) out.dims[0] = -out.dims[0];
  return view_layer(ctx, node, SQ_FLATTEN, &out);
}

seqrt_status sq_reshape_node(sq_ctx *ctx, const sq_node *reshape,
                             const sq_shape *in, sq_shape *out) {
  int64_t allowzero = 0;
  const sq_value *target;
  seqrt_status st = sq_const_input(ctx, reshape, 1, true, &target);
  if (st == SEQRT_OK && ctx->graph->opset >= 14)
    st = sq_attr_int(reshape, "allowzero", 0, &allowzero);
  return st == SEQRT_OK
             ? sq_reshape_resolve(reshape, in, target, allowzero != 0, out)
             : st;
}

seqrt_status sq_op_reshape(sq_ctx *ctx, const sq_node *node) {
  sq_shape out;
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK) st = sq_reshape_node(ctx, node, &ctx->shape, &out);
  return st == SEQRT_OK ? view_layer(ctx, node, SQ_RESHAPE, &out) : st;
}

seqrt_status sq_axes(sq_ctx *ctx, const sq_node *node, int64_t input_from,
                     int64_t *axes, int *count) {
  *count = 0;
  if (ctx->graph->opset < input_from) {
    const int64_t *attr;
    seqrt_status st = sq_attr_ints(node, "axes", &attr, count);
    if (st == SEQRT_OK && *count > SQ_MAX_RANK)
      st = sq_error(SEQRT_ERR_UNSUPPORTED, "node '%s' (%s): too many axes",
                    node->name, node->op);
    for (int k = 0; st == SEQRT_OK && k < *count; k++) axes[k] = attr[k];
    return st;
  }
  const sq_value *v;
  seqrt_status st = sq_const_input(ctx, node, 1, false, &v);
  if (st != SEQRT_OK || !v) return st;
  if (!v->i || sq_value_has_batch(v) || v->count > SQ_MAX_RANK)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (%s): axes must be at most %d integer "
                    "constants",
                    node->name, node->op, SQ_MAX_RANK);
  for (int64_t k = 0; k < v->count; k++) axes[k] = v->i[k];
  *count = (int)v->count;
  return SEQRT_OK;
}

static seqrt_status batch_axis(const sq_node *node) {
  return sq_error(SEQRT_ERR_UNSUPPORTED,
                  "node '%s' (%s) changes the batch dim (axis 0), which is not "
                  "supported: seqrt keeps the batch first",
                  node->name, node->op);
}

seqrt_status sq_op_squeeze(sq_ctx *ctx, const sq_node *node) {
  int64_t axes[SQ_MAX_RANK];
  int n_axes;
  const sq_shape in = ctx->shape;
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK) st = sq_axes(ctx, node, 13, axes, &n_axes);
  if (st != SEQRT_OK) return st;
  bool drop[SQ_MAX_RANK] = {false};
  for (int k = 0; k < n_axes; k++) {
    int a;
    if ((st = sq_normalize_axis(node, "axes", axes[k], in.rank, &a))) return st;
    if (a == 0) return batch_axis(node);
    if (in.dims[a] != 1)
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "node '%s' (Squeeze): dim %d of %s is not 1", node->name,
                      a, sq_fmt_shape(&in));
    drop[a] = true;
  }
  if (n_axes == 0 && in.dims[0] == 1) return batch_axis(node);
  sq_shape out = {0};
  for (int k = 0; k < in.rank; k++)
    if (!(n_axes ? drop[k] : in.dims[k] == 1))
      out.dims[out.rank++] = in.dims[k];
  return view_layer(ctx, node, SQ_RESHAPE, &out);
}

seqrt_status sq_op_unsqueeze(sq_ctx *ctx, const sq_node *node) {
  int64_t axes[SQ_MAX_RANK];
  int n_axes;
  const sq_shape in = ctx->shape;
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK) st = sq_axes(ctx, node, 13, axes, &n_axes);
  if (st != SEQRT_OK) return st;
  int rank = in.rank + n_axes;
  if (rank > SQ_MAX_RANK)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Unsqueeze) makes a rank-%d tensor; seqrt "
                    "handles up to %d",
                    node->name, rank, SQ_MAX_RANK);
  bool inserted[SQ_MAX_RANK] = {false};
  for (int k = 0; k < n_axes; k++) {
    int a;
    if ((st = sq_normalize_axis(node, "axes", axes[k], rank, &a))) return st;
    if (a == 0) return batch_axis(node);
    if (inserted[a])
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "node '%s' (Unsqueeze): axis %d is repeated", node->name,
                      a);
    inserted[a] = true;
  }
  sq_shape out = {rank, {0}};
  for (int k = 0, src = 0; k < rank; k++)
    out.dims[k] = inserted[k] ? 1 : in.dims[src++];
  return view_layer(ctx, node, SQ_RESHAPE, &out);
}
