/* The evaluator for constant and shape side-graphs: nodes whose inputs are
 * initializers, Constant nodes, or dims read with Shape. Values are
 * computed on demand (an explicit stack, no recursion), cached on their
 * tensors and released after their last consumer is imported.
 *
 * The symbolic batch size travels through shape arithmetic as a flagged
 * element (sq_value.batch), so `x.view(x.size(0), -1)` evaluates to the
 * target [batch, -1].
 *
 * To evaluate a new op: write an eval_<op> function and add a row to
 * eval_ops. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "graph.h"
#include "ops.h"

/* in[k]: the value of input k (NULL if absent; NULL for Shape's data
 * input, whose dims are on its tensor). out: one slot per node output,
 * all NULL on entry; single-output ops fill out[0] (*out). */
typedef seqrt_status (*eval_fn)(sq_graph *g, const sq_node *n,
                                const sq_value *const *in, sq_value **out);

enum { EVAL_NONE, EVAL_QUEUED, EVAL_DONE };

/* ---- allocation within the memory limit ---------------------------------- */

static seqrt_status eval_new(sq_graph *g, const sq_node *n, int32_t dtype,
                             int rank, const int64_t *dims, sq_value **out) {
  int64_t count = 1;
  for (int k = 0; k < rank; k++)
    if (dims[k] < 0 || sq_mul_overflow(count, dims[k], &count))
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "node '%s' (%s) computes a constant with an invalid "
                      "shape %s",
                      n->name, n->op, sq_fmt_dims(rank, dims));
  uint64_t bytes = (uint64_t)count * 8;
  if (bytes / 8 != (uint64_t)count || g->eval_bytes + bytes > g->memory_limit)
    return sq_error(SEQRT_ERR_LIMIT,
                    "node '%s' (%s) computes a constant of %lld elements, "
                    "beyond the memory limit of %llu bytes",
                    n->name, n->op, (long long)count,
                    (unsigned long long)g->memory_limit);
  return sq_value_new(dtype, rank, dims, out);
}

static seqrt_status eval_like(sq_graph *g, const sq_node *n,
                              const sq_value *like, int rank,
                              const int64_t *dims, sq_value **out) {
  seqrt_status st = eval_new(g, n, like->dtype, rank, dims, out);
  if (st == SEQRT_OK && like->batch) st = sq_value_track_batch(*out);
  return st;
}

/* out[k] = in[j], value and batch flag. */
static void take(sq_value *out, int64_t k, const sq_value *in, int64_t j) {
  if (out->f)
    out->f[k] = in->f[j];
  else
    out->i[k] = in->i[j];
  if (out->batch) out->batch[k] = in->batch ? in->batch[j] : 0;
}

static void unravel(int64_t k, int rank, const int64_t *dims, int64_t *idx) {
  for (int d = rank - 1; d >= 0; d--) {
    idx[d] = dims[d] ? k % dims[d] : 0;
    k = dims[d] ? k / dims[d] : 0;
  }
}

static int64_t ravel(int rank, const int64_t *dims, const int64_t *idx) {
  int64_t k = 0;
  for (int d = 0; d < rank; d++) k = k * dims[d] + idx[d];
  return k;
}

static seqrt_status need_input(const sq_node *n, const sq_value *const *in,
                               int slot) {
  if (slot < n->n_inputs && in[slot]) return SEQRT_OK;
  return sq_error(SEQRT_ERR_INVALID_MODEL, "node '%s' (%s) lacks input %d",
                  n->name, n->op, slot);
}

/* Integer values with no symbolic batch element. */
static seqrt_status need_ints(const sq_node *n, const sq_value *v,
                              const char *what) {
  if (v->f)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (%s): %s must be integers, not %s", n->name,
                    n->op, what, sq_dtype_name(v->dtype));
  if (sq_value_has_batch(v))
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (%s): %s depend on the symbolic batch size, "
                    "which seqrt cannot evaluate here",
                    n->name, n->op, what);
  return SEQRT_OK;
}

/* Axes from the `axes` attribute (before opset 13) or input 1 (from 13). */
static seqrt_status read_axes(sq_graph *g, const sq_node *n,
                              const sq_value *const *in, int64_t *axes,
                              int *count) {
  const int64_t *attr;
  int n_attr;
  seqrt_status st = sq_attr_ints(n, "axes", &attr, &n_attr);
  if (st != SEQRT_OK) return st;
  const sq_value *v = n->n_inputs > 1 ? in[1] : NULL;
  if (g->opset >= 13 && v) {
    if ((st = need_ints(n, v, "axes")) != SEQRT_OK) return st;
    if (v->count > SQ_MAX_RANK)
      return sq_error(SEQRT_ERR_UNSUPPORTED, "node '%s' (%s): too many axes",
                      n->name, n->op);
    for (int64_t k = 0; k < v->count; k++) axes[k] = v->i[k];
    *count = (int)v->count;
    return SEQRT_OK;
  }
  if (n_attr > SQ_MAX_RANK)
    return sq_error(SEQRT_ERR_UNSUPPORTED, "node '%s' (%s): too many axes",
                    n->name, n->op);
  for (int k = 0; k < n_attr; k++) axes[k] = attr[k];
  *count = n_attr;
  return SEQRT_OK;
}

/* ---- ops ----------------------------------------------------------------- */

static seqrt_status eval_identity(sq_graph *g, const sq_node *n,
                                  const sq_value *const *in, sq_value **out) {
  seqrt_status st = need_input(n, in, 0);
  if (st == SEQRT_OK)
    st = eval_like(g, n, in[0], in[0]->rank, in[0]->dims, out);
  for (int64_t k = 0; st == SEQRT_OK && k < in[0]->count; k++)
    take(*out, k, in[0], k);
  return st;
}

/* value_float, value_floats, value_int or value_ints. */
static seqrt_status scalar_attr(sq_graph *g, const sq_node *n, const char *name,
                                sq_value **out) {
  bool is_float = strstr(name, "float") != NULL;
  bool list = name[strlen(name) - 1] == 's';
  const float *floats = NULL;
  const int64_t *ints = NULL;
  float f = 0;
  int64_t i = 0;
  int count = 1;
  seqrt_status st = is_float ? (list ? sq_attr_floats(n, name, &floats, &count)
                                     : sq_attr_float(n, name, 0, &f))
                             : (list ? sq_attr_ints(n, name, &ints, &count)
                                     : sq_attr_int(n, name, 0, &i));
  int64_t dims = count;
  if (st == SEQRT_OK)
    st = eval_new(g, n, is_float ? SQ_DT_FLOAT : SQ_DT_INT64, list ? 1 : 0,
                  &dims, out);
  for (int k = 0; st == SEQRT_OK && k < count; k++) {
    if (is_float)
      (*out)->f[k] = list ? floats[k] : f;
    else
      (*out)->i[k] = list ? ints[k] : i;
  }
  return st;
}

static seqrt_status eval_constant(sq_graph *g, const sq_node *n,
                                  const sq_value *const *in, sq_value **out) {
  const Onnx__TensorProto *t;
  seqrt_status st = sq_attr_tensor(n, "value", &t);
  if (st != SEQRT_OK) return st;
  if (t) {
    if ((st = sq_tensor_decode(t, g->import, out)) != SEQRT_OK)
      sq_error_prefix("node '%s' (Constant)", n->name);
    return st;
  }
  static const char *scalars[] = {"value_float", "value_floats", "value_int",
                                  "value_ints"};
  for (int k = 0; k < 4; k++)
    if (sq_attr_find(n, scalars[k])) return scalar_attr(g, n, scalars[k], out);
  return sq_error(SEQRT_ERR_UNSUPPORTED,
                  "node '%s' (Constant) has no numeric value attribute "
                  "(value, value_float(s), value_int(s))",
                  n->name);
}

static seqrt_status eval_shape(sq_graph *g, const sq_node *n,
                               const sq_value *const *in, sq_value **out) {
  int t = sq_node_input(n, 0);
  if (t < 0) return need_input(n, in, 0);
  const sq_tensor *tensor = &g->tensors[t];
  sq_shape shape = {0};
  if (in[0]) {
    shape.rank = in[0]->rank;
    memcpy(shape.dims, in[0]->dims, sizeof shape.dims);
  } else if (tensor->shape_known) {
    shape = tensor->shape;
  } else {
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Shape) reads the shape of '%s', which seqrt "
                    "does not know at this point of the chain",
                    n->name, tensor->name);
  }
  int64_t start, end;
  seqrt_status st = sq_attr_int(n, "start", 0, &start);
  if (st == SEQRT_OK) st = sq_attr_int(n, "end", shape.rank, &end);
  if (st != SEQRT_OK) return st;
  int64_t r = shape.rank;
  start = start < 0 ? start + r : start;
  end = end < 0 ? end + r : end;
  start = start < 0 ? 0 : (start > r ? r : start);
  end = end < start ? start : (end > r ? r : end);
  int64_t len = end - start;
  if ((st = eval_new(g, n, SQ_DT_INT64, 1, &len, out)) != SEQRT_OK) return st;
  for (int64_t k = 0; k < len; k++) {
    int64_t d = shape.dims[start + k];
    (*out)->i[k] = d;
    if (d < 0) {
      if ((st = sq_value_track_batch(*out)) != SEQRT_OK) return st;
      (*out)->batch[k] = 1;
    }
  }
  return SEQRT_OK;
}

static seqrt_status eval_gather(sq_graph *g, const sq_node *n,
                                const sq_value *const *in, sq_value **out) {
  seqrt_status st = need_input(n, in, 0);
  if (st == SEQRT_OK) st = need_input(n, in, 1);
  if (st == SEQRT_OK) st = need_ints(n, in[1], "indices");
  int64_t axis64;
  if (st == SEQRT_OK) st = sq_attr_int(n, "axis", 0, &axis64);
  if (st != SEQRT_OK) return st;
  const sq_value *data = in[0], *idx = in[1];
  int axis;
  if ((st = sq_normalize_axis(n, "axis", axis64, data->rank, &axis))) return st;
  int rank = data->rank - 1 + idx->rank;
  if (rank > SQ_MAX_RANK)
    return sq_error(SEQRT_ERR_UNSUPPORTED, "node '%s' (Gather): rank too high",
                    n->name);
  int64_t dims[SQ_MAX_RANK];
  int r = 0;
  for (int d = 0; d < axis; d++) dims[r++] = data->dims[d];
  for (int d = 0; d < idx->rank; d++) dims[r++] = idx->dims[d];
  for (int d = axis + 1; d < data->rank; d++) dims[r++] = data->dims[d];
  if ((st = eval_like(g, n, data, rank, dims, out)) != SEQRT_OK) return st;
  int64_t o[SQ_MAX_RANK], src[SQ_MAX_RANK];
  for (int64_t k = 0; k < (*out)->count; k++) {
    unravel(k, rank, dims, o);
    int64_t j = ravel(idx->rank, idx->dims, o + axis);
    int64_t at = idx->i[j] < 0 ? idx->i[j] + data->dims[axis] : idx->i[j];
    if (at < 0 || at >= data->dims[axis])
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "node '%s' (Gather): index %lld is out of range for a "
                      "dim of %lld",
                      n->name, (long long)idx->i[j],
                      (long long)data->dims[axis]);
    for (int d = 0; d < axis; d++) src[d] = o[d];
    src[axis] = at;
    for (int d = axis + 1; d < data->rank; d++) src[d] = o[d - 1 + idx->rank];
    take(*out, k, data, ravel(data->rank, data->dims, src));
  }
  return SEQRT_OK;
}

static seqrt_status reshaped_copy(sq_graph *g, const sq_node *n,
                                  const sq_value *in, int rank,
                                  const int64_t *dims, sq_value **out) {
  seqrt_status st = eval_like(g, n, in, rank, dims, out);
  for (int64_t k = 0; st == SEQRT_OK && k < in->count; k++)
    take(*out, k, in, k);
  return st;
}

static seqrt_status eval_unsqueeze(sq_graph *g, const sq_node *n,
                                   const sq_value *const *in, sq_value **out) {
  int64_t axes[SQ_MAX_RANK];
  int n_axes = 0;
  seqrt_status st = need_input(n, in, 0);
  if (st == SEQRT_OK) st = read_axes(g, n, in, axes, &n_axes);
  if (st != SEQRT_OK) return st;
  int rank = in[0]->rank + n_axes;
  if (rank > SQ_MAX_RANK)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Unsqueeze): rank too high", n->name);
  bool inserted[SQ_MAX_RANK] = {false};
  for (int k = 0; k < n_axes; k++) {
    int a;
    if ((st = sq_normalize_axis(n, "axes", axes[k], rank, &a)) != SEQRT_OK)
      return st;
    if (inserted[a])
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "node '%s' (Unsqueeze): axis %d is repeated", n->name, a);
    inserted[a] = true;
  }
  int64_t dims[SQ_MAX_RANK];
  for (int d = 0, src = 0; d < rank; d++)
    dims[d] = inserted[d] ? 1 : in[0]->dims[src++];
  return reshaped_copy(g, n, in[0], rank, dims, out);
}

static seqrt_status eval_squeeze(sq_graph *g, const sq_node *n,
                                 const sq_value *const *in, sq_value **out) {
  int64_t axes[SQ_MAX_RANK];
  int n_axes = 0;
  seqrt_status st = need_input(n, in, 0);
  if (st == SEQRT_OK) st = read_axes(g, n, in, axes, &n_axes);
  if (st != SEQRT_OK) return st;
  const sq_value *v = in[0];
  bool drop[SQ_MAX_RANK] = {false};
  for (int k = 0; k < n_axes; k++) {
    int a;
    if ((st = sq_normalize_axis(n, "axes", axes[k], v->rank, &a)) != SEQRT_OK)
      return st;
    if (v->dims[a] != 1)
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "node '%s' (Squeeze): dim %d has size %lld, not 1",
                      n->name, a, (long long)v->dims[a]);
    drop[a] = true;
  }
  int64_t dims[SQ_MAX_RANK];
  int rank = 0;
  for (int d = 0; d < v->rank; d++)
    if (!(n_axes ? drop[d] : v->dims[d] == 1)) dims[rank++] = v->dims[d];
  return reshaped_copy(g, n, v, rank, dims, out);
}

static seqrt_status concat_check(const sq_node *n, const sq_value *const *in,
                                 int axis, int64_t *axis_len) {
  const sq_value *first = in[0];
  *axis_len = 0;
  for (int k = 0; k < n->n_inputs; k++) {
    const sq_value *v = in[k];
    if (!v || v->rank != first->rank || (!v->f) != (!first->f))
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "node '%s' (Concat): input %d does not match input 0 "
                      "in rank or type",
                      n->name, k);
    for (int d = 0; d < v->rank; d++)
      if (d != axis && v->dims[d] != first->dims[d])
        return sq_error(SEQRT_ERR_INVALID_MODEL,
                        "node '%s' (Concat): input %d has dim %d of %lld, "
                        "input 0 has %lld",
                        n->name, k, d, (long long)v->dims[d],
                        (long long)first->dims[d]);
    *axis_len += v->dims[axis];
  }
  return SEQRT_OK;
}

static seqrt_status eval_concat(sq_graph *g, const sq_node *n,
                                const sq_value *const *in, sq_value **out) {
  int64_t axis64;
  int axis;
  seqrt_status st = need_input(n, in, 0);
  if (st == SEQRT_OK) st = sq_attr_int(n, "axis", INT64_MIN, &axis64);
  if (st == SEQRT_OK && axis64 == INT64_MIN)
    st = sq_error(SEQRT_ERR_INVALID_MODEL, "node '%s' (Concat) has no axis",
                  n->name);
  if (st == SEQRT_OK)
    st = sq_normalize_axis(n, "axis", axis64, in[0]->rank, &axis);
  int64_t axis_len;
  if (st == SEQRT_OK) st = concat_check(n, in, axis, &axis_len);
  if (st != SEQRT_OK) return st;
  int64_t dims[SQ_MAX_RANK];
  memcpy(dims, in[0]->dims, sizeof dims);
  dims[axis] = axis_len;
  bool flags = false;
  for (int k = 0; k < n->n_inputs; k++) flags |= in[k]->batch != NULL;
  if ((st = eval_new(g, n, in[0]->dtype, in[0]->rank, dims, out)) != SEQRT_OK)
    return st;
  if (flags && (st = sq_value_track_batch(*out)) != SEQRT_OK) return st;
  int64_t idx[SQ_MAX_RANK];
  for (int64_t k = 0; k < (*out)->count; k++) {
    unravel(k, in[0]->rank, dims, idx);
    int src = 0;
    while (idx[axis] >= in[src]->dims[axis]) idx[axis] -= in[src++]->dims[axis];
    take(*out, k, in[src], ravel(in[src]->rank, in[src]->dims, idx));
  }
  return SEQRT_OK;
}

typedef struct slice_lists {
  int count;
  const int64_t *starts, *ends, *axes, *steps; /* axes/steps may be NULL */
} slice_lists;

/* Before opset 10 the bounds are attributes; from 10 they are inputs. */
static seqrt_status slice_lists_read(sq_graph *g, const sq_node *n,
                                     const sq_value *const *in,
                                     slice_lists *l) {
  seqrt_status st = SEQRT_OK;
  memset(l, 0, sizeof *l);
  if (g->opset < 10) {
    int c[3];
    st = sq_attr_ints(n, "starts", &l->starts, &c[0]);
    if (st == SEQRT_OK) st = sq_attr_ints(n, "ends", &l->ends, &c[1]);
    if (st == SEQRT_OK) st = sq_attr_ints(n, "axes", &l->axes, &c[2]);
    if (st == SEQRT_OK && (c[0] != c[1] || (c[2] && c[2] != c[0])))
      st = sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (Slice): starts, ends and axes differ in "
                    "length",
                    n->name);
    l->count = c[0];
    if (!c[2]) l->axes = NULL;
    return st;
  }
  const sq_value *p[4];
  for (int k = 0; k < 4; k++) {
    p[k] = k + 1 < n->n_inputs ? in[k + 1] : NULL;
    if (p[k] && (st = need_ints(n, p[k], "slice bounds")) != SEQRT_OK)
      return st;
  }
  if (!p[0] || !p[1] || p[0]->count != p[1]->count ||
      (p[2] && p[2]->count != p[0]->count) ||
      (p[3] && p[3]->count != p[0]->count))
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (Slice): starts, ends, axes and steps differ "
                    "in length",
                    n->name);
  l->count = (int)p[0]->count;
  l->starts = p[0]->i;
  l->ends = p[1]->i;
  l->axes = p[2] ? p[2]->i : NULL;
  l->steps = p[3] ? p[3]->i : NULL;
  return SEQRT_OK;
}

/* ONNX clamping rules for one axis of size `dim`; returns the length. */
static int64_t slice_axis(int64_t dim, int64_t *start, int64_t step,
                          int64_t end) {
  int64_t s = *start < 0 ? *start + dim : *start;
  int64_t e = end < 0 ? end + dim : end;
  if (step > 0) {
    s = s < 0 ? 0 : (s > dim ? dim : s);
    e = e < 0 ? 0 : (e > dim ? dim : e);
    *start = s;
    return e > s ? (e - s - 1) / step + 1 : 0;
  }
  s = s < 0 ? -1 : (s > dim - 1 ? dim - 1 : s);
  e = e < -1 ? -1 : (e > dim - 1 ? dim - 1 : e);
  *start = s;
  uint64_t by = (uint64_t)0 - (uint64_t)step; /* -step, INT64_MIN too */
  return s > e ? (int64_t)((uint64_t)(s - e - 1) / by) + 1 : 0;
}

seqrt_status sq_slice_resolve(sq_graph *g, const sq_node *n,
                              const sq_value *const *in, int rank,
                              const int64_t *dims, sq_slice *s) {
  slice_lists l;
  seqrt_status st = slice_lists_read(g, n, in, &l);
  if (st != SEQRT_OK) return st;
  if (l.count > rank)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (Slice) slices %d axes of a rank-%d tensor",
                    n->name, l.count, rank);
  memset(s, 0, sizeof *s);
  for (int d = 0; d < rank; d++) s->step[d] = 1, s->len[d] = dims[d];
  for (int k = 0; k < l.count; k++) {
    int axis = k;
    if (l.axes && (st = sq_normalize_axis(n, "axes", l.axes[k], rank, &axis)))
      return st;
    int64_t step = l.steps ? l.steps[k] : 1;
    if (step == 0 || s->given[axis])
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "node '%s' (Slice): a step is 0 or an axis repeats",
                      n->name);
    s->given[axis] = true;
    s->start[axis] = l.starts[k];
    s->end[axis] = l.ends[k];
    s->step[axis] = step;
    if (dims[axis] >= 0)
      s->len[axis] = slice_axis(dims[axis], &s->start[axis], step, l.ends[k]);
  }
  return SEQRT_OK;
}

static seqrt_status eval_slice(sq_graph *g, const sq_node *n,
                               const sq_value *const *in, sq_value **out) {
  seqrt_status st = need_input(n, in, 0);
  if (st != SEQRT_OK) return st;
  const sq_value *v = in[0];
  sq_slice s;
  if ((st = sq_slice_resolve(g, n, in, v->rank, v->dims, &s)) != SEQRT_OK)
    return st;
  if ((st = eval_like(g, n, v, v->rank, s.len, out)) != SEQRT_OK) return st;
  int64_t idx[SQ_MAX_RANK];
  for (int64_t k = 0; k < (*out)->count; k++) {
    unravel(k, v->rank, s.len, idx);
    for (int d = 0; d < v->rank; d++) idx[d] = s.start[d] + idx[d] * s.step[d];
    take(*out, k, v, ravel(v->rank, v->dims, idx));
  }
  return SEQRT_OK;
}

static seqrt_status eval_cast(sq_graph *g, const sq_node *n,
                              const sq_value *const *in, sq_value **out) {
  int64_t to;
  seqrt_status st = need_input(n, in, 0);
  if (st == SEQRT_OK) st = sq_attr_int(n, "to", 0, &to);
  if (st != SEQRT_OK) return st;
  if (sq_dtype_size((int32_t)to) == 0)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Cast) casts to %s, which seqrt does not "
                    "evaluate",
                    n->name, sq_dtype_name((int32_t)to));
  const sq_value *v = in[0];
  bool to_float = sq_dtype_is_float((int32_t)to);
  if (to_float && sq_value_has_batch(v)) return need_ints(n, v, "cast values");
  if ((st = eval_new(g, n, (int32_t)to, v->rank, v->dims, out)) != SEQRT_OK)
    return st;
  if (v->batch && (st = sq_value_track_batch(*out)) != SEQRT_OK) return st;
  for (int64_t k = 0; k < v->count; k++) {
    if (to_float) {
      (*out)->f[k] = (float)sq_value_float(v, k);
      continue;
    }
    double x = sq_value_float(v, k);
    (*out)->i[k] = v->i ? v->i[k] : (isfinite(x) ? (int64_t)x : 0);
    if (to == SQ_DT_BOOL) (*out)->i[k] = v->i ? v->i[k] != 0 : x != 0;
    if (v->batch) (*out)->batch[k] = v->batch[k];
  }
  return SEQRT_OK;
}

static seqrt_status eval_constant_of_shape(sq_graph *g, const sq_node *n,
                                           const sq_value *const *in,
                                           sq_value **out) {
  const Onnx__TensorProto *t;
  seqrt_status st = need_input(n, in, 0);
  if (st == SEQRT_OK) st = need_ints(n, in[0], "the shape");
  if (st == SEQRT_OK) st = sq_attr_tensor(n, "value", &t);
  if (st != SEQRT_OK) return st;
  if (in[0]->rank != 1 || in[0]->count > SQ_MAX_RANK)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (ConstantOfShape): the shape must be 1-D",
                    n->name);
  sq_value *fill = NULL;
  if (t && (st = sq_tensor_decode(t, g->import, &fill)) != SEQRT_OK) return st;
  if (fill && fill->count != 1) {
    sq_value_free(fill);
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (ConstantOfShape): value must have one element",
                    n->name);
  }
  st = eval_new(g, n, fill ? fill->dtype : SQ_DT_FLOAT, (int)in[0]->count,
                in[0]->i, out);
  for (int64_t k = 0; st == SEQRT_OK && k < (*out)->count; k++) {
    if ((*out)->f)
      (*out)->f[k] = fill ? fill->f[0] : 0.0f;
    else
      (*out)->i[k] = fill ? fill->i[0] : 0;
  }
  sq_value_free(fill);
  return st;
}

/* ---- elementwise arithmetic with numpy broadcasting ---------------------- */

static seqrt_status broadcast_dims(const sq_node *n, const sq_value *a,
                                   const sq_value *b, int *rank,
                                   int64_t *dims) {
  *rank = a->rank > b->rank ? a->rank : b->rank;
  for (int d = 0; d < *rank; d++) {
    int da = d - (*rank - a->rank), db = d - (*rank - b->rank);
    int64_t x = da >= 0 ? a->dims[da] : 1, y = db >= 0 ? b->dims[db] : 1;
    if (x != y && x != 1 && y != 1)
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "node '%s' (%s): shapes %s and %s do not broadcast",
                      n->name, n->op, sq_fmt_dims(a->rank, a->dims),
                      sq_fmt_dims(b->rank, b->dims));
    dims[d] = x == 1 ? y : x;
  }
  return SEQRT_OK;
}

static int64_t broadcast_index(const sq_value *v, int rank,
                               const int64_t *idx) {
  int64_t k = 0;
  for (int d = 0; d < v->rank; d++) {
    int64_t i = idx[d + rank - v->rank];
    k = k * v->dims[d] + (v->dims[d] == 1 ? 0 : i);
  }
  return k;
}

static seqrt_status arith(const sq_node *n, char op, const sq_value *a,
                          int64_t ja, const sq_value *b, int64_t jb,
                          sq_value *out, int64_t k) {
  if (out->f) {
    double x = a->f[ja], y = b->f[jb];
    out->f[k] = (float)(op == '+'   ? x + y
                        : op == '-' ? x - y
                        : op == '*' ? x * y
                                    : x / y);
    return SEQRT_OK;
  }
  int64_t x = a->i[ja], y = b->i[jb], r = 0;
  bool overflow = op == '+'   ? __builtin_add_overflow(x, y, &r)
                  : op == '-' ? __builtin_sub_overflow(x, y, &r)
                  : op == '*' ? __builtin_mul_overflow(x, y, &r)
                              : (y == 0 || (x == INT64_MIN && y == -1));
  if (op == '/' && !overflow) r = x / y;
  if (overflow)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (%s): integer overflow or division by zero",
                    n->name, n->op);
  out->i[k] = r;
  return SEQRT_OK;
}

static seqrt_status eval_binary(sq_graph *g, const sq_node *n,
                                const sq_value *const *in, sq_value **out) {
  seqrt_status st = need_input(n, in, 0);
  if (st == SEQRT_OK) st = need_input(n, in, 1);
  if (st != SEQRT_OK) return st;
  const sq_value *a = in[0], *b = in[1];
  if ((!a->f) != (!b->f))
    return sq_error(SEQRT_ERR_INVALID_MODEL, "node '%s' (%s) mixes %s and %s",
                    n->name, n->op, sq_dtype_name(a->dtype),
                    sq_dtype_name(b->dtype));
  if (sq_value_has_batch(a) || sq_value_has_batch(b))
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (%s) does arithmetic on the symbolic batch "
                    "size, which seqrt does not support",
                    n->name, n->op);
  int rank;
  int64_t dims[SQ_MAX_RANK], idx[SQ_MAX_RANK];
  if ((st = broadcast_dims(n, a, b, &rank, dims)) != SEQRT_OK) return st;
  if ((st = eval_new(g, n, a->dtype, rank, dims, out)) != SEQRT_OK) return st;
  char op = sq_node_is(n, "Add")   ? '+'
            : sq_node_is(n, "Sub") ? '-'
            : sq_node_is(n, "Mul") ? '*'
                                   : '/';
  for (int64_t k = 0; k < (*out)->count && st == SEQRT_OK; k++) {
    unravel(k, rank, dims, idx);
    st = arith(n, op, a, broadcast_index(a, rank, idx), b,
               broadcast_index(b, rank, idx), *out, k);
  }
  return st;
}

/* ---- Reshape and Transpose of constants ---------------------------------- */

static seqrt_status eval_reshape(sq_graph *g, const sq_node *n,
                                 const sq_value *const *in, sq_value **out) {
  int64_t allowzero;
  seqrt_status st = need_input(n, in, 0);
  if (st == SEQRT_OK) st = need_input(n, in, 1);
  if (st == SEQRT_OK) st = sq_attr_int(n, "allowzero", 0, &allowzero);
  if (st != SEQRT_OK) return st;
  sq_shape from = {.rank = in[0]->rank}, to;
  memcpy(from.dims, in[0]->dims, sizeof from.dims);
  if ((st = sq_reshape_resolve(n, &from, in[1], allowzero != 0, &to)))
    return st;
  return reshaped_copy(g, n, in[0], to.rank, to.dims, out);
}

static seqrt_status eval_transpose(sq_graph *g, const sq_node *n,
                                   const sq_value *const *in, sq_value **out) {
  const int64_t *perm_attr;
  int n_perm;
  seqrt_status st = need_input(n, in, 0);
  if (st == SEQRT_OK) st = sq_attr_ints(n, "perm", &perm_attr, &n_perm);
  if (st != SEQRT_OK) return st;
  const sq_value *v = in[0];
  int perm[SQ_MAX_RANK];
  bool used[SQ_MAX_RANK] = {false};
  if (n_perm && n_perm != v->rank)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (Transpose): perm has %d entries for rank %d",
                    n->name, n_perm, v->rank);
  for (int d = 0; d < v->rank; d++) {
    int64_t p = n_perm ? perm_attr[d] : v->rank - 1 - d;
    if (p < 0 || p >= v->rank || used[p])
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "node '%s' (Transpose): perm is not a permutation",
                      n->name);
    used[p] = true;
    perm[d] = (int)p;
  }
  int64_t dims[SQ_MAX_RANK], idx[SQ_MAX_RANK], src[SQ_MAX_RANK];
  for (int d = 0; d < v->rank; d++) dims[d] = v->dims[perm[d]];
  if ((st = eval_like(g, n, v, v->rank, dims, out)) != SEQRT_OK) return st;
  for (int64_t k = 0; k < v->count; k++) {
    unravel(k, v->rank, dims, idx);
    for (int d = 0; d < v->rank; d++) src[perm[d]] = idx[d];
    take(*out, k, v, ravel(v->rank, v->dims, src));
  }
  return SEQRT_OK;
}

/* ---- comparisons and elementwise functions of constants ----------------- */

static seqrt_status eval_compare(sq_graph *g, const sq_node *n,
                                 const sq_value *const *in, sq_value **out) {
  seqrt_status st = need_input(n, in, 0);
  if (st == SEQRT_OK) st = need_input(n, in, 1);
  if (st != SEQRT_OK) return st;
  const sq_value *a = in[0], *b = in[1];
  int rank;
  int64_t dims[SQ_MAX_RANK], idx[SQ_MAX_RANK];
  if ((st = broadcast_dims(n, a, b, &rank, dims)) != SEQRT_OK) return st;
  if ((st = eval_new(g, n, SQ_DT_BOOL, rank, dims, out)) != SEQRT_OK) return st;
  /* the symbolic batch equals only itself (times the same K) */
  bool flags = sq_value_has_batch(a) || sq_value_has_batch(b);
  if (flags && !sq_node_is(n, "Equal"))
    return need_ints(n, sq_value_has_batch(a) ? a : b, "compared values");
  for (int64_t k = 0; k < (*out)->count; k++) {
    unravel(k, rank, dims, idx);
    int64_t ja = broadcast_index(a, rank, idx),
            jb = broadcast_index(b, rank, idx);
    double x = sq_value_float(a, ja), y = sq_value_float(b, jb);
    bool ba = a->batch && a->batch[ja], bb = b->batch && b->batch[jb];
    if (ba || bb) {
      if (ba != bb) return need_ints(n, ba ? a : b, "compared values");
      (*out)->i[k] = x == y;
      continue;
    }
    (*out)->i[k] = sq_node_is(n, "Equal")     ? x == y
                   : sq_node_is(n, "Greater") ? x > y
                                              : x < y;
  }
  return SEQRT_OK;
}

static seqrt_status eval_unary(sq_graph *g, const sq_node *n,
                               const sq_value *const *in, sq_value **out) {
  seqrt_status st = need_input(n, in, 0);
  if (st != SEQRT_OK) return st;
  const sq_value *v = in[0];
  bool is_not = sq_node_is(n, "Not");
  if (sq_value_has_batch(v)) return need_ints(n, v, "values");
  if (!is_not && !sq_node_is(n, "Neg") && !v->f)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (%s) on integers is not evaluated", n->name,
                    n->op);
  if ((st = eval_new(g, n, v->dtype, v->rank, v->dims, out)) != SEQRT_OK)
    return st;
  for (int64_t k = 0; k < v->count; k++) {
    if (!v->f) {
      (*out)->i[k] = is_not ? !v->i[k] : -v->i[k];
      continue;
    }
    double x = v->f[k];
    (*out)->f[k] = (float)(sq_node_is(n, "Neg")    ? -x
                           : sq_node_is(n, "Sqrt") ? sqrt(x)
                           : sq_node_is(n, "Abs")  ? fabs(x)
                                                   : (double)(x == 0));
  }
  return SEQRT_OK;
}

/* CastLike(x, like): x cast to like's element type. */
static seqrt_status eval_cast_like(sq_graph *g, const sq_node *n,
                                   const sq_value *const *in, sq_value **out) {
  seqrt_status st = need_input(n, in, 0);
  if (st == SEQRT_OK) st = need_input(n, in, 1);
  if (st != SEQRT_OK) return st;
  const sq_value *v = in[0];
  if (sq_value_has_batch(v) && in[1]->f) return need_ints(n, v, "values");
  if ((st = eval_new(g, n, in[1]->dtype, v->rank, v->dims, out)) != SEQRT_OK)
    return st;
  for (int64_t k = 0; k < v->count; k++) {
    double x = sq_value_float(v, k);
    if ((*out)->f)
      (*out)->f[k] = (float)x;
    else
      (*out)->i[k] = v->i ? v->i[k] : (isfinite(x) ? (int64_t)x : 0);
  }
  if (v->batch && (*out)->i && (st = sq_value_track_batch(*out)) == SEQRT_OK)
    for (int64_t k = 0; k < v->count; k++) (*out)->batch[k] = v->batch[k];
  return st;
}

static const struct {
  const char *op;
  eval_fn fn;
} eval_ops[] = {
    {"Constant", eval_constant},   {"Identity", eval_identity},
    {"Shape", eval_shape},         {"Gather", eval_gather},
    {"Unsqueeze", eval_unsqueeze}, {"Squeeze", eval_squeeze},
    {"Concat", eval_concat},       {"Slice", eval_slice},
    {"Cast", eval_cast},           {"ConstantOfShape", eval_constant_of_shape},
    {"Add", eval_binary},          {"Sub", eval_binary},
    {"Mul", eval_binary},          {"Div", eval_binary},
    {"Reshape", eval_reshape},     {"Transpose", eval_transpose},
    {"Equal", eval_compare},       {"Greater", eval_compare},
    {"Less", eval_compare},        {"Not", eval_unary},
    {"Neg", eval_unary},           {"Sqrt", eval_unary},
    {"Abs", eval_unary},           {"CastLike", eval_cast_like},
};

static eval_fn find_eval(const sq_node *n) {
  const char *domain = n->proto->domain;
  if (domain && *domain && strcmp(domain, "ai.onnx") != 0) return NULL;
  for (size_t k = 0; k < sizeof eval_ops / sizeof *eval_ops; k++)
    if (sq_node_is(n, eval_ops[k].op)) return eval_ops[k].fn;
  return NULL;
}

/* ---- the engine ---------------------------------------------------------- */

/* Decode once: the payload is used up (its bytes now live in the value). */
static seqrt_status decode_initializer(sq_graph *g, sq_tensor *t) {
  return sq_initializer_decode(t->initializer, g->import, g->payloads,
                               (size_t)t->init_index, &t->value);
}

/* Cache each computed output on its tensor (unnamed outputs are
 * dropped). */
static void keep_outputs(sq_graph *g, const sq_node *n, sq_value **out) {
  for (int o = 0; o < (n->n_outputs ? n->n_outputs : 1); o++) {
    int t = sq_node_output(n, o);
    if (!out[o]) continue;
    if (t < 0 || g->tensors[t].value) {
      sq_value_free(out[o]);
      continue;
    }
    g->tensors[t].value = out[o];
    g->eval_bytes += (uint64_t)out[o]->count * 8;
  }
}

static seqrt_status run_node(sq_graph *g, sq_node *n) {
  eval_fn fn = find_eval(n);
  if (!fn)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (%s) computes a constant or shape input with "
                    "op '%s', which seqrt cannot evaluate (opset %lld)",
                    n->name, n->op, n->op, (long long)g->opset);
  int n_out = n->n_outputs ? n->n_outputs : 1;
  const sq_value **in =
      calloc((size_t)(n->n_inputs ? n->n_inputs : 1), sizeof *in);
  sq_value **out = calloc((size_t)n_out, sizeof *out);
  seqrt_status st = SEQRT_OK;
  if (!in || !out) st = sq_error(SEQRT_ERR_NOMEM, "out of memory evaluating");
  for (int s = 0; st == SEQRT_OK && s < n->n_inputs; s++) {
    int t = n->inputs[s];
    in[s] = t >= 0 ? g->tensors[t].value : NULL;
  }
  if (st == SEQRT_OK) st = fn(g, n, in, out);
  if (st == SEQRT_OK) keep_outputs(g, n, out);
  for (int o = 0; st != SEQRT_OK && out && o < n_out; o++)
    sq_value_free(out[o]);
  free(in);
  free(out);
  return st;
}

/* The first input of `n` still to be computed: its producer (>= 0), -1 if
 * all are ready, or an error status in *st. */
static int next_missing(sq_graph *g, sq_node *n, seqrt_status *st) {
  *st = SEQRT_OK;
  for (int s = 0; s < n->n_inputs; s++) {
    int t = n->inputs[s];
    if (t < 0) continue;
    sq_tensor *tensor = &g->tensors[t];
    if (tensor->value) continue;
    if (tensor->cls == SQ_CLASS_DATA) {
      if (s == 0 && sq_node_is(n, "Shape")) continue;
      *st = sq_error(SEQRT_ERR_INVALID_MODEL,
                     "node '%s' (%s) needs tensor '%s' as a constant, but it "
                     "is computed from the model input",
                     n->name, n->op, tensor->name);
      return -1;
    }
    if (tensor->initializer) {
      if ((*st = decode_initializer(g, tensor)) != SEQRT_OK) return -1;
      continue;
    }
    if (tensor->producer < 0 ||
        g->nodes[tensor->producer].eval_state != EVAL_NONE) {
      *st = sq_error(SEQRT_ERR_INVALID_MODEL,
                     "node '%s' (%s): input '%s' has no value", n->name, n->op,
                     tensor->name);
      return -1;
    }
    return tensor->producer;
  }
  return -1;
}

static seqrt_status evaluate(sq_graph *g, int root) {
  int *stack = malloc((size_t)g->n_nodes * sizeof *stack);
  if (!stack) return sq_error(SEQRT_ERR_NOMEM, "out of memory evaluating");
  int top = 0;
  stack[top++] = root;
  g->nodes[root].eval_state = EVAL_QUEUED;
  seqrt_status st = SEQRT_OK;
  while (top > 0 && st == SEQRT_OK) {
    sq_node *n = &g->nodes[stack[top - 1]];
    int missing = next_missing(g, n, &st);
    if (st != SEQRT_OK) break;
    if (missing >= 0) {
      g->nodes[missing].eval_state = EVAL_QUEUED;
      stack[top++] = missing;
      continue;
    }
    st = run_node(g, n);
    n->eval_state = st == SEQRT_OK ? EVAL_DONE : EVAL_NONE;
    top--;
    if (st == SEQRT_OK) sq_graph_release(g, n);
  }
  /* a failure may be retried later with more known (a pattern matcher
   * reads values before the shapes they depend on are known) */
  for (int k = 0; st != SEQRT_OK && k < top; k++)
    g->nodes[stack[k]].eval_state = EVAL_NONE;
  free(stack);
  return st;
}

seqrt_status sq_graph_value(sq_graph *g, int t, const sq_value **out) {
  sq_tensor *tensor = &g->tensors[t];
  *out = NULL;
  if (!tensor->value) {
    seqrt_status st;
    if (tensor->cls == SQ_CLASS_DATA)
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "tensor '%s' is computed from the model input, but a "
                      "constant is needed there",
                      tensor->name);
    if (tensor->initializer)
      st = decode_initializer(g, tensor);
    else if (tensor->producer < 0 ||
             g->nodes[tensor->producer].eval_state != EVAL_NONE)
      st = sq_error(SEQRT_ERR_INVALID_MODEL, "tensor '%s' has no value",
                    tensor->name);
    else
      st = evaluate(g, tensor->producer);
    if (st != SEQRT_OK) return st;
    if (!tensor->value)
      return sq_error(SEQRT_ERR_UNSUPPORTED,
                      "tensor '%s' is output %d of node '%s', which seqrt "
                      "does not evaluate",
                      tensor->name, tensor->producer_slot,
                      g->nodes[tensor->producer].name);
  }
  *out = tensor->value;
  return SEQRT_OK;
}

float *sq_graph_take_floats(sq_graph *g, const sq_node *node, int slot) {
  int t = sq_node_input(node, slot);
  if (t < 0) return NULL;
  for (int s = 0; s < node->n_inputs; s++)
    if (s != slot && node->inputs[s] == t) return NULL;
  sq_tensor *tensor = &g->tensors[t];
  if (tensor->uses_left != 1 || !tensor->value || !tensor->value->f)
    return NULL;
  float *data = tensor->value->f;
  tensor->value->f = NULL;
  return data;
}

void sq_graph_release(sq_graph *g, const sq_node *node) {
  for (int s = 0; s < node->n_inputs; s++) {
    int t = node->inputs[s];
    bool first = true; /* a node reading a tensor twice counts once */
    for (int p = 0; p < s && first; p++) first = node->inputs[p] != t;
    if (t < 0 || !first) continue;
    sq_tensor *tensor = &g->tensors[t];
    if (--tensor->uses_left > 0 || !tensor->value) continue;
    /* evaluated values are accounted in eval_bytes; initializers are not */
    if (!tensor->initializer && tensor->producer >= 0)
      g->eval_bytes -= (uint64_t)tensor->value->count * 8;
    sq_value_free(tensor->value);
    tensor->value = NULL;
  }
}
