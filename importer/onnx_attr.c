/* Typed access to node attributes; a wrong type is an error naming the
 * node and the attribute. */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "graph.h"

typedef Onnx__AttributeProto attr_t;

static const char *type_names[] = {
    "UNDEFINED",      "FLOAT",      "INT",        "STRING",
    "TENSOR",         "GRAPH",      "FLOATS",     "INTS",
    "STRINGS",        "TENSORS",    "GRAPHS",     "SPARSE_TENSOR",
    "SPARSE_TENSORS", "TYPE_PROTO", "TYPE_PROTOS"};

static const char *type_name(int32_t type) {
  if (type >= 0 && type < (int32_t)(sizeof type_names / sizeof *type_names))
    return type_names[type];
  return "unknown";
}

/* The declared type; files from old exporters may leave it unset, then it
 * is inferred from the field present. */
static int32_t attr_type(const attr_t *a) {
  if (a->has_type &&
      a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED)
    return a->type;
  if (a->has_f) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
  if (a->has_i) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
  if (a->has_s) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
  if (a->t) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
  if (a->g) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
  if (a->n_floats) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
  if (a->n_ints) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
  if (a->n_strings) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
  return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED;
}

const attr_t *sq_attr_find(const sq_node *node, const char *name) {
  const Onnx__NodeProto *p = node->proto;
  for (size_t k = 0; k < p->n_attribute; k++)
    if (p->attribute[k]->name && strcmp(p->attribute[k]->name, name) == 0)
      return p->attribute[k];
  return NULL;
}

static seqrt_status wrong_type(const sq_node *node, const attr_t *a,
                               int32_t want) {
  return sq_error(SEQRT_ERR_INVALID_MODEL,
                  "node '%s' (%s): attribute '%s' has type %s, expected %s",
                  node->name, node->op, a->name, type_name(attr_type(a)),
                  type_name(want));
}

/* The attribute `name` if present with type `want`; *out NULL if absent. */
static seqrt_status typed(const sq_node *node, const char *name, int32_t want,
                          const attr_t **out) {
  const attr_t *a = sq_attr_find(node, name);
  *out = NULL;
  if (!a) return SEQRT_OK;
  int32_t type = attr_type(a);
  /* an empty INTS/FLOATS list has no field to infer the type from */
  if (type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED &&
      (want == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS ||
       want == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS))
    type = want;
  if (type != want) return wrong_type(node, a, want);
  *out = a;
  return SEQRT_OK;
}

seqrt_status sq_attr_int(const sq_node *node, const char *name, int64_t def,
                         int64_t *out) {
  const attr_t *a;
  seqrt_status st =
      typed(node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT, &a);
  if (st == SEQRT_OK) *out = a ? a->i : def;
  return st;
}

seqrt_status sq_attr_float(const sq_node *node, const char *name, float def,
                           float *out) {
  const attr_t *a;
  seqrt_status st =
      typed(node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT, &a);
  if (st == SEQRT_OK) *out = a ? a->f : def;
  return st;
}

seqrt_status sq_attr_ints(const sq_node *node, const char *name,
                          const int64_t **values, int *count) {
  const attr_t *a;
  seqrt_status st =
      typed(node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS, &a);
  *values = a ? a->ints : NULL;
  *count = a ? (int)a->n_ints : 0;
  if (st == SEQRT_OK && a && a->n_ints > 1024)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (%s): attribute '%s' has %zu values", node->name,
                    node->op, name, a->n_ints);
  return st;
}

seqrt_status sq_attr_floats(const sq_node *node, const char *name,
                            const float **values, int *count) {
  const attr_t *a;
  seqrt_status st =
      typed(node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS, &a);
  *values = a ? a->floats : NULL;
  *count = a ? (int)a->n_floats : 0;
  if (st == SEQRT_OK && a && a->n_floats > (1u << 30))
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (%s): attribute '%s' is too long", node->name,
                    node->op, name);
  return st;
}

seqrt_status sq_attr_string(const sq_node *node, const char *name,
                            const char *def, char *buf, size_t size) {
  const attr_t *a;
  seqrt_status st =
      typed(node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING, &a);
  if (st != SEQRT_OK) return st;
  if (!a) {
    snprintf(buf, size, "%s", def);
    return SEQRT_OK;
  }
  size_t n = a->s.len < size - 1 ? a->s.len : size - 1;
  if (n) memcpy(buf, a->s.data, n);
  buf[n] = '\0';
  if (a->s.len >= size || memchr(buf, '\0', n))
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (%s): attribute '%s' is not a short text",
                    node->name, node->op, name);
  return SEQRT_OK;
}

seqrt_status sq_attr_tensor(const sq_node *node, const char *name,
                            const Onnx__TensorProto **out) {
  const attr_t *a;
  seqrt_status st =
      typed(node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR, &a);
  *out = a ? a->t : NULL;
  if (st == SEQRT_OK && a && !a->t)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (%s): attribute '%s' holds no tensor",
                    node->name, node->op, name);
  return st;
}
