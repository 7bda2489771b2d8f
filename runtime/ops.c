/* Steps made of several ops: oneDNN primitives and C kernels that run in
 * order instead of a step's single main primitive. Each op reads and writes
 * the step's source, destination or spare ping-pong buffer; an exec binds
 * one memory object per primitive argument once and only repoints it when
 * a run starts or ends at the step (the caller's plain buffers). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct sq_ops_exec {
  void *kernel_scratch; /* the run's scratch buffer */
  dnnl_memory_t args[SQ_MAX_OPS][SQ_MAX_OP_ARGS];
  void *bound[SQ_MAX_OPS][SQ_MAX_OP_ARGS]; /* current data handle */
  dnnl_memory_t scratch[SQ_MAX_OPS];
};

/* ---- plan side ---------------------------------------------------------- */

static void op_free(sq_op *op) {
  dnnl_primitive_destroy(op->prim);
  for (int i = 0; i < op->n_consts; i++)
    dnnl_memory_destroy(op->consts[i].memory);
  for (int i = 0; i < SQ_MAX_CONSTS; i++) free(op->owned[i]);
  free(op->params);
}

void sq_ops_free(sq_ops *ops) {
  if (!ops) return;
  for (int i = 0; i < ops->n; i++) op_free(&ops->op[i]);
  free(ops);
}

static size_t md_bytes(const dnnl_memory_desc_t *md) {
  return md->ndims ? dnnl_memory_desc_get_size(md) : 0;
}

static void grow_to(size_t *current, size_t size) {
  if (size > *current) *current = size;
}

/* A new op at the end of the step's list. */
static seqrt_status op_append(sq_builder *b, sq_op **out) {
  sq_step *step = b->step;
  if (!step->ops) {
    step->ops = calloc(1, sizeof *step->ops);
    if (!step->ops)
      return sq_error(SEQRT_ERR_NOMEM, "layer '%s' (%s): out of memory",
                      b->layer->name, sq_kind_name(b->layer->kind));
  }
  if (step->ops->n == SQ_MAX_OPS)
    return sq_error(SEQRT_ERR_BACKEND, "layer '%s' (%s): too many operations",
                    b->layer->name, sq_kind_name(b->layer->kind));
  *out = &step->ops->op[step->ops->n++];
  (*out)->layer = b->layer;
  return SEQRT_OK;
}

seqrt_status sq_op_pd(sq_builder *b, const void *op_desc,
                      const_dnnl_post_ops_t post_ops, const char *what,
                      dnnl_primitive_desc_t *pd) {
  const sq_layer *layer = b->layer;
  dnnl_primitive_attr_t attr = NULL;
  *pd = NULL;
  SQ_DNNL(layer, "attribute creation", dnnl_primitive_attr_create(&attr));
  /* User scratchpad: each exec brings its own (see plan.c). */
  dnnl_status_t st =
      dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
  if (st == dnnl_success && post_ops)
    st = dnnl_primitive_attr_set_post_ops(attr, post_ops);
  if (st == dnnl_success)
    st = dnnl_primitive_desc_create(pd, op_desc, attr, b->plan->engine, NULL);
  dnnl_primitive_attr_destroy(attr);
  if (st != dnnl_success) return sq_dnnl_error(layer, what, st);
  return SEQRT_OK;
}

const dnnl_memory_desc_t *sq_pd_md(const_dnnl_primitive_desc_t pd, int arg) {
  return dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
}

const char *sq_pd_impl(const_dnnl_primitive_desc_t pd) {
  const char *impl = NULL;
  if (!pd ||
      dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) !=
          dnnl_success ||
      !impl)
    return "?";
  return impl;
}

const char *sq_prim_impl(const_dnnl_primitive_t prim) {
  const_dnnl_primitive_desc_t pd = NULL;
  if (dnnl_primitive_get_primitive_desc(prim, &pd) != dnnl_success) return "?";
  return sq_pd_impl(pd);
}

bool sq_prim_unjitted(const_dnnl_primitive_t prim) {
  const char *impl = sq_prim_impl(prim);
  return strncmp(impl, "ref", 3) == 0 || strncmp(impl, "simple_nchw", 11) == 0;
}

seqrt_status sq_op_add_prim(sq_builder *b, const_dnnl_primitive_desc_t pd,
                            int n_args, const sq_op_arg *args, sq_op **out) {
  sq_op *op = NULL;
  if (n_args > SQ_MAX_OP_ARGS)
    return sq_error(SEQRT_ERR_BACKEND, "layer '%s': too many arguments",
                    b->layer->name);
  seqrt_status st = op_append(b, &op);
  if (st != SEQRT_OK) return st;
  SQ_DNNL(b->layer, "primitive creation", dnnl_primitive_create(&op->prim, pd));
  op->scratch_md =
      *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
  op->n_args = n_args;
  for (int i = 0; i < n_args; i++) {
    op->args[i] = args[i];
    grow_to(&b->plan->activation_bytes, md_bytes(&args[i].md));
  }
  grow_to(&b->plan->scratchpad_bytes, md_bytes(&op->scratch_md));
  if (out) *out = op;
  return SEQRT_OK;
}

seqrt_status sq_op_add_reorder(sq_builder *b, const dnnl_memory_desc_t *from_md,
                               sq_place from, const dnnl_memory_desc_t *to_md,
                               sq_place to) {
  dnnl_primitive_desc_t pd = NULL;
  seqrt_status status =
      sq_reorder_pd_create(b->plan, b->layer, from_md, to_md, &pd);
  if (status != SEQRT_OK) return status;
  sq_op_arg args[2] = {{DNNL_ARG_FROM, from, *from_md},
                       {DNNL_ARG_TO, to, *to_md}};
  status = sq_op_add_prim(b, pd, 2, args, NULL);
  dnnl_primitive_desc_destroy(pd);
  return status;
}

float *sq_op_owned_floats(sq_op *op, int64_t count) {
  int slot = 0;
  while (slot < SQ_MAX_CONSTS && op->owned[slot]) slot++;
  if (slot == SQ_MAX_CONSTS || count < 1) return NULL;
  op->owned[slot] = sq_aligned_alloc((size_t)count * sizeof(float));
  return op->owned[slot];
}

seqrt_status sq_op_add_const(sq_builder *b, sq_op *op,
                             const_dnnl_primitive_desc_t pd, int arg,
                             const dnnl_memory_desc_t *user_md,
                             const void *data) {
  const sq_layer *layer = b->layer;
  const dnnl_memory_desc_t *want = sq_pd_md(pd, arg);
  if (!want || want->ndims == 0 || op->n_consts == SQ_MAX_CONSTS)
    return sq_error(SEQRT_ERR_BACKEND,
                    "layer '%s' (%s): the primitive takes no argument %d",
                    layer->name, sq_kind_name(layer->kind), arg);
  void *buffer = (void *)data; /* read in place: never written */
  bool made = false;           /* by the builder, e.g. a replicated scale */
  for (int i = 0; i < SQ_MAX_CONSTS; i++) made |= op->owned[i] == data;
  bool reorder = !dnnl_memory_desc_equal(want, user_md);
  if (reorder && b->plan->cache && !made) {
    /* the chain's weights: one reordered copy for all the model's plans */
    seqrt_status st =
        sq_weight_cache_get(b->plan->cache, layer, data, user_md, want,
                            b->plan->engine, b->plan->build_stream, &buffer);
    if (st != SEQRT_OK) return st;
    b->plan->owned_const_bytes += dnnl_memory_desc_get_size(want);
  } else if (reorder) {
    int slot = 0;
    while (slot < SQ_MAX_CONSTS && op->owned[slot]) slot++;
    size_t size = dnnl_memory_desc_get_size(want);
    buffer = slot < SQ_MAX_CONSTS ? sq_aligned_alloc(size) : NULL;
    if (!buffer)
      return sq_error(SEQRT_ERR_NOMEM,
                      "layer '%s' (%s): out of memory for %zu bytes of "
                      "reordered constants",
                      layer->name, sq_kind_name(layer->kind), size);
    op->owned[slot] = buffer;
    seqrt_status st =
        sq_reorder_now(layer, b->plan->engine, b->plan->build_stream, user_md,
                       data, want, buffer);
    if (st != SEQRT_OK) return st;
    b->plan->owned_const_bytes += size;
  } else {
    if (b->plan->cache && !made) {
      seqrt_status st = sq_weight_cache_in_place(
          b->plan->cache, layer, data, user_md, b->plan->engine,
          b->plan->build_stream, &buffer);
      if (st != SEQRT_OK) return st;
    }
    *(made ? &b->plan->owned_const_bytes : &b->plan->shared_const_bytes) +=
        dnnl_memory_desc_get_size(user_md);
  }
  dnnl_memory_t mem = NULL;
  SQ_DNNL(layer, "constant memory",
          dnnl_memory_create(&mem, want, b->plan->engine, buffer));
  op->consts[op->n_consts++] = (dnnl_exec_arg_t){arg, mem};
  return SEQRT_OK;
}

seqrt_status sq_op_add_kernel_scratch(sq_builder *b, sq_kernel_fn fn,
                                      void *params, sq_place from, sq_place to,
                                      size_t scratch_bytes) {
  sq_op *op = NULL;
  seqrt_status st = op_append(b, &op);
  if (st != SEQRT_OK) {
    free(params);
    return st;
  }
  op->kernel = fn;
  op->params = params;
  op->from = from;
  op->to = to;
  op->scratch_bytes = scratch_bytes;
  grow_to(&b->plan->scratchpad_bytes, scratch_bytes);
  return SEQRT_OK;
}

seqrt_status sq_op_add_kernel(sq_builder *b, sq_kernel_fn fn, void *params,
                              sq_place from, sq_place to) {
  return sq_op_add_kernel_scratch(b, fn, params, from, to, 0);
}

const char *sq_ops_describe(const sq_ops *ops, char *buf, size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < ops->n && used < size; i++) {
    const char *impl =
        ops->op[i].prim ? sq_prim_impl(ops->op[i].prim) : "kernel";
    used +=
        (size_t)snprintf(buf + used, size - used, "%s%s", i ? "+" : "", impl);
  }
  return buf;
}

/* ---- exec side ---------------------------------------------------------- */

seqrt_status sq_ops_bind(const sq_plan *plan, const sq_ops *ops, void *scratch,
                         void *const where[3], sq_ops_exec **out) {
  sq_ops_exec *e = calloc(1, sizeof *e);
  *out = e;
  if (!e) return sq_error(SEQRT_ERR_NOMEM, "out of memory for a run context");
  e->kernel_scratch = scratch;
  for (int i = 0; i < ops->n; i++) {
    const sq_op *op = &ops->op[i];
    dnnl_status_t st = dnnl_success;
    /* Padded layouts are zero-padded here, once, never during a run. */
    for (int j = 0; j < op->n_args && st == dnnl_success; j++) {
      e->bound[i][j] = where[op->args[j].place];
      st = dnnl_memory_create(&e->args[i][j], &op->args[j].md, plan->engine,
                              e->bound[i][j]);
    }
    if (st == dnnl_success && op->prim && md_bytes(&op->scratch_md))
      st = dnnl_memory_create(&e->scratch[i], &op->scratch_md, plan->engine,
                              scratch);
    if (st != dnnl_success)
      return sq_dnnl_error(op->layer, "memory creation", st);
  }
  return SEQRT_OK;
}

void sq_ops_unbind(sq_ops_exec *e) {
  if (!e) return;
  for (int i = 0; i < SQ_MAX_OPS; i++) {
    for (int j = 0; j < SQ_MAX_OP_ARGS; j++) dnnl_memory_destroy(e->args[i][j]);
    dnnl_memory_destroy(e->scratch[i]);
  }
  free(e);
}

static seqrt_status run_prim_op(const sq_op *op, sq_ops_exec *e, int index,
                                dnnl_stream_t stream, void *const where[3]) {
  dnnl_exec_arg_t args[SQ_MAX_OP_ARGS + SQ_MAX_CONSTS + 1];
  int n = 0;
  for (int j = 0; j < op->n_args; j++) {
    void *data = where[op->args[j].place];
    /* Only a run's first or last step moves to the caller's plain buffers. */
    if (e->bound[index][j] != data) {
      SQ_DNNL(op->layer, "setting a buffer",
              dnnl_memory_set_data_handle(e->args[index][j], data));
      e->bound[index][j] = data;
    }
    args[n++] = (dnnl_exec_arg_t){op->args[j].arg, e->args[index][j]};
  }
  if (e->scratch[index])
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, e->scratch[index]};
  for (int i = 0; i < op->n_consts; i++) args[n++] = op->consts[i];
  SQ_DNNL(op->layer, "execution",
          dnnl_primitive_execute(op->prim, stream, n, args));
  return SEQRT_OK;
}

seqrt_status sq_ops_run(const sq_ops *ops, sq_ops_exec *e, dnnl_stream_t stream,
                        dnnl_memory_t src, dnnl_memory_t dst, void *other) {
  void *where[3] = {NULL, NULL, other};
  if (dnnl_memory_get_data_handle(src, &where[SQ_AT_SRC]) != dnnl_success ||
      dnnl_memory_get_data_handle(dst, &where[SQ_AT_DST]) != dnnl_success)
    return sq_error(SEQRT_ERR_BACKEND, "layer '%s': no run buffers",
                    ops->op[0].layer->name);
  seqrt_status st = SEQRT_OK;
  for (int i = 0; i < ops->n && st == SEQRT_OK; i++) {
    const sq_op *op = &ops->op[i];
    if (op->prim) {
      st = run_prim_op(op, e, i, stream, where);
      continue;
    }
    /* A kernel reads what the primitives before it wrote. */
    SQ_DNNL(op->layer, "stream wait", dnnl_stream_wait(stream));
    st = op->kernel(op, where[op->from], where[op->to], e->kernel_scratch);
  }
  return st;
}
