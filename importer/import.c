/* sq_import: parse the ModelProto, check the memory limit, index the graph,
 * check it is one chain, convert its groups to layers with shape
 * inference from the declared input shape, free the protobuf. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "graph.h"
#include "importer.h"
#include "ops.h"
#include "wire.h"

#define SQ_MIB ((uint64_t)1 << 20)
/* Deepest message nesting accepted (protobuf C++ uses 100 too). */
#define SQ_MAX_NESTING 100

/* ---- message nesting ----------------------------------------------------- */

/* What unpacking may allocate: a struct per message, a block per string. */
#define SQ_BYTES_PER_MESSAGE 256
#define SQ_BYTES_PER_STRING 64

static seqrt_status too_many(uint64_t messages, uint64_t strings,
                             uint64_t limit) {
  return sq_error(SEQRT_ERR_LIMIT,
                  "the model holds %llu protobuf messages and %llu strings; "
                  "unpacking them would exceed the memory limit of %llu bytes",
                  (unsigned long long)messages, (unsigned long long)strings,
                  (unsigned long long)limit);
}

/* protobuf-c unpacks nested messages recursively: a file nesting graphs in
 * attributes thousands deep would overflow the stack. Walk the wire format
 * with an explicit stack first and refuse deep nesting, and files whose
 * many tiny messages would unpack into far more memory than the limit.
 * Malformed bytes are left for the real parser to reject. */
static seqrt_status check_nesting(const uint8_t *data, size_t size,
                                  uint64_t limit) {
  uint64_t messages = 1, strings = 0;
  struct frame {
    const ProtobufCMessageDescriptor *desc;
    const uint8_t *end;
  } stack[SQ_MAX_NESTING];
  int depth = 1;
  stack[0].desc = &onnx__model_proto__descriptor;
  stack[0].end = data + size;
  const uint8_t *p = data;
  while (depth > 0) {
    struct frame *top = &stack[depth - 1];
    if (p >= top->end) {
      depth--;
      continue;
    }
    uint64_t tag, len;
    if (!sq_wire_varint(&p, top->end, &tag)) return SEQRT_OK;
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field(top->desc,
                                                (unsigned)(tag >> 3));
    bool message = field && field->type == PROTOBUF_C_TYPE_MESSAGE;
    /* unknown fields are kept as copies: count them like strings */
    messages += message;
    strings += !message && ((tag & 7) == 2 || !field);
    if (messages * SQ_BYTES_PER_MESSAGE + strings * SQ_BYTES_PER_STRING > limit)
      return too_many(messages, strings, limit);
    switch (tag & 7) {
    case 0:
      if (!sq_wire_varint(&p, top->end, &len)) return SEQRT_OK;
      break;
    case 1:
    case 5: {
      size_t n = (tag & 7) == 1 ? 8 : 4;
      if ((size_t)(top->end - p) < n) return SEQRT_OK;
      p += n;
      break;
    }
    case 2:
      if (!sq_wire_varint(&p, top->end, &len) || len > (uint64_t)(top->end - p))
        return SEQRT_OK;
      if (!message) {
        p += len;
        break;
      }
      if (depth == SQ_MAX_NESTING)
        return sq_error(SEQRT_ERR_PARSE,
                        "not a usable ONNX model: messages are nested more "
                        "than %d deep",
                        SQ_MAX_NESTING);
      stack[depth].desc = field->descriptor;
      stack[depth].end = p + len;
      depth++;
      break;
    default: return SEQRT_OK; /* groups: protobuf-c rejects them */
    }
  }
  return SEQRT_OK;
}

/* ---- model-level fields -------------------------------------------------- */

static seqrt_status read_opset(const Onnx__ModelProto *m, int64_t *opset) {
  bool found = false;
  for (size_t k = 0; k < m->n_opset_import; k++) {
    const Onnx__OperatorSetIdProto *o = m->opset_import[k];
    const char *d = o->domain ? o->domain : "";
    if (*d && strcmp(d, "ai.onnx") != 0) continue;
    int64_t v = o->has_version ? o->version : 0;
    *opset = found && *opset > v ? *opset : v;
    found = true;
  }
  if (!found)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "model imports no opset of the default ONNX domain");
  /* a newer opset loads when every op in the graph is known (ops.h) */
  if (*opset < SQ_OPSET_MIN)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "model uses ONNX opset %lld; seqrt handles opsets %d and "
                    "newer: export with opset_version=17",
                    (long long)*opset, SQ_OPSET_MIN);
  return SEQRT_OK;
}

static char *producer_of(const Onnx__ModelProto *m) {
  const char *name = m->producer_name ? m->producer_name : "";
  const char *version = m->producer_version ? m->producer_version : "";
  size_t n = strlen(name) + strlen(version) + 2;
  char *s = malloc(n);
  if (s) snprintf(s, n, "%s%s%s", name, *name && *version ? " " : "", version);
  return s;
}

static uint64_t memory_limit(const sq_import_options *options, size_t size) {
  if (options && options->memory_limit) return options->memory_limit;
  uint64_t limit = (uint64_t)size * 16 + 64 * SQ_MIB;
  return (uint64_t)size > UINT64_MAX / 32 ? UINT64_MAX : limit;
}

/* Refuse before decoding anything if the weights alone exceed the limit. */
static seqrt_status check_weight_bytes(const Onnx__GraphProto *g,
                                       uint64_t limit) {
  uint64_t total = 0;
  for (size_t k = 0; k < g->n_initializer; k++) {
    const Onnx__TensorProto *t = g->initializer[k];
    int64_t count;
    seqrt_status st = sq_tensor_count(t, &count);
    if (st != SEQRT_OK) return st;
    /* types seqrt cannot read fail only if a node uses them */
    int size = sq_dtype_size(t->has_data_type ? t->data_type : 0);
    uint64_t bytes = (uint64_t)count * (uint64_t)(size ? size : 8);
    if (bytes / (uint64_t)(size ? size : 8) != (uint64_t)count)
      bytes = UINT64_MAX;
    total = total + bytes < total ? UINT64_MAX : total + bytes;
    if (total > limit)
      return sq_error(SEQRT_ERR_LIMIT,
                      "the model's weights need more than %llu bytes, the "
                      "memory limit (initializer '%s' passes it)",
                      (unsigned long long)limit, t->name ? t->name : "");
  }
  return SEQRT_OK;
}

/* ---- declared shapes ----------------------------------------------------- */

static const Onnx__ValueInfoProto *
value_info(const Onnx__ValueInfoProto *const *list, size_t n,
           const char *name) {
  for (size_t k = 0; k < n; k++)
    if (list[k]->name && strcmp(list[k]->name, name) == 0) return list[k];
  return NULL;
}

static const Onnx__TypeProto__Tensor *
tensor_type(const Onnx__ValueInfoProto *vi) {
  if (!vi || !vi->type ||
      vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
    return NULL;
  return vi->type->tensor_type;
}

static seqrt_status read_dim(const char *name, int k,
                             const Onnx__TensorShapeProto__Dimension *d,
                             int64_t *out) {
  bool fixed =
      d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
  if (!fixed && k == 0) {
    *out = -1; /* symbolic or missing batch: dynamic */
    return SEQRT_OK;
  }
  if (!fixed)
    return sq_error(
        SEQRT_ERR_UNSUPPORTED,
        "graph input '%s' has a symbolic dim %d ('%s'); seqrt "
        "needs fixed dims except the batch (dim 0)",
        name, k,
        d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                d->dim_param
            ? d->dim_param
            : "");
  if (d->dim_value <= 0)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "graph input '%s' has dim %d of size %lld; every dim must "
                    "be positive",
                    name, k, (long long)d->dim_value);
  *out = d->dim_value;
  return SEQRT_OK;
}

static seqrt_status read_input(const sq_graph *g, sq_chain *chain) {
  const char *name = g->tensors[g->input].name;
  const Onnx__TypeProto__Tensor *tt = tensor_type(
      value_info((const Onnx__ValueInfoProto *const *)g->proto->input,
                 g->proto->n_input, name));
  if (!tt || !tt->shape)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "graph input '%s' has no tensor shape; seqrt needs its "
                    "dims",
                    name);
  int32_t elem = tt->has_elem_type ? tt->elem_type : 0;
  if (elem != SQ_DT_FLOAT && elem != SQ_DT_INT64)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "graph input '%s' has element type %s; seqrt runs FLOAT "
                    "inputs (INT64 indices into an Embedding)",
                    name, sq_dtype_name(elem));
  const Onnx__TensorShapeProto *shape = tt->shape;
  if (shape->n_dim == 0 || shape->n_dim > SQ_MAX_RANK)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "graph input '%s' has rank %zu; seqrt handles ranks 1 to "
                    "%d (dim 0 is the batch)",
                    name, shape->n_dim, SQ_MAX_RANK);
  chain->input.rank = (int)shape->n_dim;
  for (int k = 0; k < chain->input.rank; k++) {
    seqrt_status st = read_dim(name, k, shape->dim[k], &chain->input.dims[k]);
    if (st != SEQRT_OK) return st;
  }
  chain->input_dtype = elem == SQ_DT_INT64 ? SEQRT_INT64 : SEQRT_FLOAT32;
  chain->input_name = strdup(name);
  if (!chain->input_name) return sq_error(SEQRT_ERR_NOMEM, "out of memory");
  seqrt_status st = sq_shape_check(&chain->input);
  if (st == SEQRT_ERR_INVALID_MODEL)
    st = sq_error(st, "graph input '%s' has an invalid shape", name);
  return st;
}

/* A declared output rank that contradicts the computed one means the graph
 * is not what the importer understood. Declared sizes are not trusted:
 * torch 1.13 declares MaxPool's ceil_mode output with the old ONNX formula
 * (counting a last window that starts in the padding), while the op, like
 * PyTorch, drops that window. */
static seqrt_status check_output(const sq_graph *g, const sq_shape *out) {
  const char *name = g->tensors[g->output].name;
  const Onnx__TypeProto__Tensor *tt = tensor_type(
      value_info((const Onnx__ValueInfoProto *const *)g->proto->output,
                 g->proto->n_output, name));
  if (!tt || !tt->shape || tt->shape->n_dim == 0) return SEQRT_OK;
  if ((int)tt->shape->n_dim == out->rank) return SEQRT_OK;
  return sq_error(SEQRT_ERR_INVALID_MODEL,
                  "graph output '%s' is declared with %zu dims, but the "
                  "layers compute %s",
                  name, tt->shape->n_dim, sq_fmt_shape(out));
}

/* ---- conversion ---------------------------------------------------------- */

/* A chain whose every node was removed (nn.Sequential(nn.Identity())) keeps
 * one no-op view so that it still has a layer to run. */
static seqrt_status keep_one_layer(sq_ctx *ctx) {
  sq_graph *g = ctx->graph;
  if (ctx->chain->n_layers > 0 || g->n_order == 0) return SEQRT_OK;
  const sq_group *last = &g->groups[g->order[g->n_order - 1]];
  const sq_node *node = &g->nodes[last->nodes[0]];
  sq_layer *layer;
  seqrt_status st = sq_layer_add(ctx, SQ_RESHAPE, node, &layer);
  if (st == SEQRT_OK) st = sq_layer_finish(ctx, layer, &ctx->shape);
  char *removed = strdup("");
  for (int k = 0; st == SEQRT_OK && k + 1 < g->n_order && removed; k++)
    st = sq_list_append(&removed,
                        g->nodes[g->groups[g->order[k]].nodes[0]].module);
  if (st == SEQRT_OK && !removed) st = sq_error(SEQRT_ERR_NOMEM, "no memory");
  if (st == SEQRT_OK) {
    free(ctx->chain->removed);
    ctx->chain->removed = removed;
  } else {
    free(removed);
  }
  return st;
}

/* INT64 indices can only feed an Embedding: a Gather reading a constant
 * table with the graph input as its indices, as the first layer. */
static seqrt_status check_int64_input(const sq_graph *g,
                                      const sq_chain *chain) {
  if (chain->input_dtype != SEQRT_INT64 || g->n_order == 0) return SEQRT_OK;
  const sq_group *first = &g->groups[g->order[0]];
  const sq_node *node = &g->nodes[first->nodes[0]];
  if (!first->convert && sq_node_is(node, "Gather") &&
      sq_node_input(node, 1) == g->input)
    return SEQRT_OK;
  return sq_error(SEQRT_ERR_UNSUPPORTED,
                  "graph input '%s' is INT64, which seqrt accepts only as "
                  "the indices of an Embedding (Gather) that comes first; "
                  "node '%s' (%s) reads it",
                  g->tensors[g->input].name, node->name, node->op);
}

static seqrt_status convert_chain(sq_graph *g, sq_chain *chain) {
  sq_ctx ctx = {g, chain, 0, chain->input};
  seqrt_status status = check_int64_input(g, chain);
  if (status != SEQRT_OK) return status;
  g->tensors[g->input].shape = chain->input;
  g->tensors[g->input].shape_known = true;
  for (int k = 0; k < g->n_order; k++) {
    const sq_group *group = &g->groups[g->order[k]];
    seqrt_status st = sq_group_convert(&ctx, group);
    if (st != SEQRT_OK) return st;
    for (int n = 0; n < group->n_nodes; n++)
      sq_graph_release(g, &g->nodes[group->nodes[n]]);
    g->tensors[group->exit].shape = ctx.shape;
    g->tensors[group->exit].shape_known = true;
  }
  seqrt_status st = keep_one_layer(&ctx);
  if (st != SEQRT_OK) return st;
  chain->output = ctx.shape;
  chain->output_name = strdup(g->tensors[g->output].name);
  if (!chain->output_name) return sq_error(SEQRT_ERR_NOMEM, "out of memory");
  return check_output(g, &chain->output);
}

/* A run holds two activation buffers as large as the largest layer input
 * (a Conv's pre-padded input included) or output. Refuse a model whose
 * weights and buffers for one sample exceed the limit, before any plan
 * allocates them (a dynamic batch multiplies the buffers at run time, with
 * inputs the caller provides). */
static seqrt_status check_run_bytes(const sq_chain *chain, uint64_t limit) {
  uint64_t weights = sq_chain_weight_bytes(chain), largest = 0;
  const sq_layer *widest = NULL;
  for (int k = 0; k < chain->n_layers; k++) {
    const sq_layer *layer = &chain->layers[k];
    sq_shape padded;
    sq_layer_padded_input(layer, &padded);
    /* per-sample counts are at most SQ_MAX_ELEMENTS: no overflow here */
    uint64_t in = (uint64_t)sq_shape_count(&padded, 1) *
                  (k == 0 && chain->input_dtype == SEQRT_INT64 ? 8 : 4);
    uint64_t out = (uint64_t)sq_shape_count(&layer->out, 1) * sizeof(float);
    if (in > largest || out > largest) {
      largest = in > out ? in : out;
      widest = layer;
    }
  }
  if (!widest || 2 * largest + weights <= limit) return SEQRT_OK;
  return sq_error(SEQRT_ERR_LIMIT,
                  "layer '%s' (%s) needs activation buffers of %llu bytes per "
                  "sample (%s to %s); two of them and %llu bytes of weights "
                  "exceed the memory limit of %llu bytes "
                  "(seqrt_options_set_memory_limit, seqrt --memory-limit)",
                  widest->name, sq_kind_name(widest->kind),
                  (unsigned long long)largest, sq_fmt_shape(&widest->in),
                  sq_fmt_shape(&widest->out), (unsigned long long)weights,
                  (unsigned long long)limit);
}

static seqrt_status import_model(const Onnx__ModelProto *m, size_t size,
                                 const sq_import_options *options,
                                 sq_payloads *payloads, sq_chain *chain) {
  int64_t opset = 0;
  seqrt_status st = read_opset(m, &opset);
  if (st != SEQRT_OK) return st;
  if (!m->graph) return sq_error(SEQRT_ERR_INVALID_MODEL, "model has no graph");
  chain->opset = opset;
  chain->ir_version = m->has_ir_version ? m->ir_version : 0;
  uint64_t limit = memory_limit(options, size);
  if ((st = check_weight_bytes(m->graph, limit)) != SEQRT_OK) return st;
  sq_graph g;
  st = sq_graph_build(m->graph, opset, options, payloads, limit, &g);
  if (st == SEQRT_OK) st = read_input(&g, chain);
  if (st == SEQRT_OK) st = sq_graph_check_chain(&g);
  if (st == SEQRT_OK) st = convert_chain(&g, chain);
  if (st == SEQRT_OK) st = check_run_bytes(chain, limit);
  sq_graph_free(&g);
  return st;
}

static seqrt_status not_a_model(size_t size) {
  return sq_error(SEQRT_ERR_PARSE,
                  "not an ONNX model: the %zu bytes do not parse as an ONNX "
                  "ModelProto (truncated or corrupt?)",
                  size);
}

/* Unpack the model without its initializers' payloads, which stay in
 * `data` (payloads). */
static seqrt_status unpack(const uint8_t *data, size_t size,
                           sq_payloads *payloads, Onnx__ModelProto **out) {
  uint8_t *stripped;
  size_t stripped_size;
  seqrt_status st =
      sq_wire_strip(data, size, &stripped, &stripped_size, payloads);
  if (st == SEQRT_ERR_PARSE) return not_a_model(size);
  if (st != SEQRT_OK) return st;
  *out = onnx__model_proto__unpack(NULL, stripped_size, stripped);
  free(stripped);
  if (!*out) return not_a_model(size);
  /* protobuf-c keeps the wire's order, merging repeated graph fields */
  size_t initializers = (*out)->graph ? (*out)->graph->n_initializer : 0;
  if (initializers != payloads->count) {
    onnx__model_proto__free_unpacked(*out, NULL);
    *out = NULL;
    return not_a_model(size);
  }
  return SEQRT_OK;
}

static seqrt_status import_bytes(const uint8_t *data, bool releasable,
                                 size_t size, const sq_import_options *options,
                                 sq_chain **out) {
  if (!out) return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "import: out is NULL");
  *out = NULL;
  if (!data && size)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "import: data is NULL");
  if (size == 0)
    return sq_error(SEQRT_ERR_PARSE, "not an ONNX model: the buffer is empty");
  /* the protobuf structs themselves get at least 64 MiB whatever the
   * weights' limit */
  uint64_t parse_limit = memory_limit(options, size);
  parse_limit = parse_limit > 64 * SQ_MIB ? parse_limit : 64 * SQ_MIB;
  seqrt_status st = check_nesting(data, size, parse_limit);
  if (st != SEQRT_OK) return st;
  sq_payloads payloads = {data, releasable, NULL, 0};
  Onnx__ModelProto *model = NULL;
  if ((st = unpack(data, size, &payloads, &model)) != SEQRT_OK) {
    free(payloads.items);
    return st;
  }
  sq_chain *chain = calloc(1, sizeof *chain);
  if (chain) {
    chain->removed = strdup("");
    chain->producer = producer_of(model);
  }
  if (!chain || !chain->removed || !chain->producer)
    st = sq_error(SEQRT_ERR_NOMEM, "out of memory importing the model");
  if (st == SEQRT_OK) st = import_model(model, size, options, &payloads, chain);
  onnx__model_proto__free_unpacked(model, NULL);
  free(payloads.items);
  if (st != SEQRT_OK) {
    sq_chain_free(chain);
    return st;
  }
  *out = chain;
  return SEQRT_OK;
}

seqrt_status sq_import(const uint8_t *data, size_t size,
                       const sq_import_options *options, sq_chain **out) {
  return import_bytes(data, false, size, options, out);
}

seqrt_status sq_import_releasing(const uint8_t *data, size_t size,
                                 const sq_import_options *options,
                                 sq_chain **out) {
  return import_bytes(data, true, size, options, out);
}
