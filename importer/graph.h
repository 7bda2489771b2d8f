/* The ONNX graph indexed for import: every tensor with its producer and
 * consumers, nodes in topological order, each tensor classified as data,
 * shape or constant, and an evaluator for the constant and shape
 * side-graphs. */
#ifndef SEQRT_IMPORTER_GRAPH_H
#define SEQRT_IMPORTER_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/chain.h"
#include "onnx.pb-c.h"
#include "onnx_tensor.h"

typedef enum sq_class {
  SQ_CLASS_NONE = 0,
  SQ_CLASS_CONST, /* initializers, Constant nodes and what they compute */
  SQ_CLASS_SHAPE, /* depends on the input only through Shape (metadata) */
  SQ_CLASS_DATA   /* depends on the values of the graph input */
} sq_class;

typedef struct sq_tensor {
  const char *name;
  int producer; /* node index; -1 for initializers and graph inputs */
  int producer_slot;
  const Onnx__TensorProto *initializer;
  int init_index; /* its index in graph.initializer (payloads->items) */
  bool is_input;  /* the (non-initializer) graph input */
  bool is_output; /* a graph output */
  int *consumers; /* distinct node indices reading the tensor */
  int n_consumers, cap_consumers;
  sq_class cls;
  bool shape_known; /* activations: set once the chain walk reaches it */
  sq_shape shape;
  sq_value *value; /* cached constant value, released after its last use */
  int uses_left;
} sq_tensor;

typedef struct sq_node {
  const Onnx__NodeProto *proto;
  int index;
  const char *op; /* op_type, never NULL */
  char *name;     /* node name, or "<OpType>_<index>" when unnamed */
  char *module;   /* module path (last scope component) or the name */
  int *inputs;    /* tensor index per input slot, -1 for "" */
  int *outputs;   /* tensor index per output slot, -1 for "" */
  int n_inputs, n_outputs;
  /* The node's own inputs come first; an If's subgraphs read outer tensors
   * by name, which follow as implicit inputs (slots n_declared..). */
  int n_declared;
  int topo_pos; /* position in graph->topo */
  sq_class cls;
  int group;          /* data nodes: index of the group claiming it */
  uint8_t eval_state; /* evaluator bookkeeping */
} sq_node;

/* A group of data nodes imported together: one node, or a pattern such as
 * MatMul+Add claimed as a whole. It reads one activation (`entry`) and
 * produces one (`exit`); tensors between its nodes stay inside. */
struct sq_ctx;
struct sq_group;
typedef seqrt_status (*sq_group_fn)(struct sq_ctx *ctx,
                                    const struct sq_group *group);

#define SQ_GROUP_MAX_NODES 32

typedef struct sq_group {
  int nodes[SQ_GROUP_MAX_NODES]; /* topological order */
  int n_nodes;
  int entry; /* tensor read from outside (filled by the chain check) */
  int exit;  /* tensor produced for the outside */
  sq_group_fn convert; /* NULL for a single node: the op table converts it */
  const char *pattern; /* pattern name, NULL for a single node */
} sq_group;

typedef struct sq_graph {
  const Onnx__GraphProto *proto;
  int64_t opset;
  const sq_import_options *import; /* external data sources; may be NULL */
  sq_payloads *payloads;           /* the initializers' raw_data; may be NULL */
  uint64_t memory_limit;
  uint64_t eval_bytes; /* bytes held by evaluated constants */

  sq_tensor *tensors;
  int n_tensors, cap_tensors;
  int *slots; /* open-addressing name index into tensors */
  int n_slots;

  sq_node *nodes;
  int n_nodes;
  int *topo; /* node indices in topological order */

  int input;  /* tensor index of the graph input */
  int output; /* tensor index of the graph output */

  sq_group *groups;
  int n_groups;
  int *order; /* group indices in chain order (after the chain check) */
  int n_order;
} sq_graph;

/* Index the graph: tensors, producers, consumers, one input and one
 * output, topological order and classes. `payloads` (may be NULL) holds the
 * initializers' raw_data the wire pass kept from protobuf-c. */
seqrt_status sq_graph_build(const Onnx__GraphProto *proto, int64_t opset,
                            const sq_import_options *import,
                            sq_payloads *payloads, uint64_t memory_limit,
                            sq_graph *graph);
void sq_graph_free(sq_graph *graph);

int sq_graph_find(const sq_graph *graph, const char *name);

/* "'a' and 'b'", "'a', 'b' and 'c'", "'a', 'b' and 3 more" for `n` names
 * (names[0..min(n,3)-1] are read). */
void sq_quote_list(char *buf, size_t size, const char *const *names, int n);

/* Tensor `index` of `node`'s input `slot`, or -1 if absent/empty. */
int sq_node_input(const sq_node *node, int slot);
int sq_node_output(const sq_node *node, int slot);
bool sq_node_is(const sq_node *node, const char *op);
/* The slot of `node`'s one used output (read by a data node or the graph
 * output); 0 when none or several are used. */
int sq_node_used_output(const sq_graph *graph, const sq_node *node);

/* For pattern matchers: a constant tensor (initializer or computed from
 * constants only), and the only consumer of tensor t (NULL if t has
 * several, none, or is the graph output). */
bool sq_graph_is_const(const sq_graph *graph, int t);
const sq_node *sq_graph_sole_consumer(const sq_graph *graph, int t);

/* The constant value of a tensor, evaluating its side-graph if needed.
 * The pointer stays valid until the consumers of the tensor are done
 * (sq_graph_release). Fails with a message for data-dependent tensors and
 * ops the evaluator does not know. */
seqrt_status sq_graph_value(sq_graph *graph, int tensor, const sq_value **out);
/* The float buffer of `node`'s constant input `slot` (after
 * sq_graph_value), handed over when `node` is its last user and reads it
 * once; NULL otherwise (copy it then). The value must not be read after. */
float *sq_graph_take_floats(sq_graph *graph, const sq_node *node, int slot);
/* `node` is imported: drop cached values it was the last user of. */
void sq_graph_release(sq_graph *graph, const sq_node *node);

/* A Slice node's bounds (const_eval.c), per dim of its data input: the
 * first index taken, the step, the end as given and the length. Dims the
 * node leaves whole have given false, start 0, step 1 and their size. */
typedef struct sq_slice {
  int64_t start[SQ_MAX_RANK], end[SQ_MAX_RANK], step[SQ_MAX_RANK];
  int64_t len[SQ_MAX_RANK];
  bool given[SQ_MAX_RANK];
} sq_slice;
/* Resolve `n`'s bounds (attributes before opset 10; from 10 the values of
 * inputs 1..4 in in[1..4], NULL where absent) for data of `rank` with
 * `dims`, clamped by the ONNX rules; a negative dim (a symbolic batch) is
 * left unclamped with the raw start. */
seqrt_status sq_slice_resolve(sq_graph *graph, const sq_node *n,
                              const sq_value *const *in, int rank,
                              const int64_t *dims, sq_slice *s);

/* The chain check (chain_check.c): patterns claim groups, then joins,
 * branches and unsupported ops are reported; on success graph->order
 * lists the groups from input to output. */
seqrt_status sq_graph_check_chain(sq_graph *graph);

/* ---- attributes (onnx_attr.c) -------------------------------------------- */

const Onnx__AttributeProto *sq_attr_find(const sq_node *node, const char *name);
seqrt_status sq_attr_int(const sq_node *node, const char *name, int64_t def,
                         int64_t *out);
seqrt_status sq_attr_float(const sq_node *node, const char *name, float def,
                           float *out);
/* *count = 0 and *values = NULL when absent. */
seqrt_status sq_attr_ints(const sq_node *node, const char *name,
                          const int64_t **values, int *count);
seqrt_status sq_attr_floats(const sq_node *node, const char *name,
                            const float **values, int *count);
/* Copies the string (or `def`) into buf, NUL terminated. */
seqrt_status sq_attr_string(const sq_node *node, const char *name,
                            const char *def, char *buf, size_t size);
seqrt_status sq_attr_tensor(const sq_node *node, const char *name,
                            const Onnx__TensorProto **out);

#endif
