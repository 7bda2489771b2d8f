/* Graph index: tensors by name with producer and consumers, the single
 * input and output, topological order (cycles rejected) and the
 * data/shape/constant class of every node and tensor. */
#define _GNU_SOURCE
#include "graph.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* Bounds that keep index arithmetic in int. */
#define SQ_MAX_NODES (1 << 24)

/* ---- name index ---------------------------------------------------------- */

static uint64_t hash_name(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h;
}

int sq_graph_find(const sq_graph *g, const char *name) {
  if (!g->n_slots) return -1;
  size_t mask = (size_t)g->n_slots - 1;
  for (size_t k = hash_name(name) & mask;; k = (k + 1) & mask) {
    int t = g->slots[k];
    if (t < 0) return -1;
    if (strcmp(g->tensors[t].name, name) == 0) return t;
  }
}

static seqrt_status index_init(sq_graph *g, size_t expected) {
  size_t n = 16;
  while (n < 2 * expected + 1) n *= 2;
  g->slots = malloc(n * sizeof *g->slots);
  g->tensors = calloc(expected ? expected : 1, sizeof *g->tensors);
  if (!g->slots || !g->tensors)
    return sq_error(SEQRT_ERR_NOMEM, "out of memory indexing the graph");
  memset(g->slots, 0xff, n * sizeof *g->slots);
  g->n_slots = (int)n;
  g->cap_tensors = (int)(expected ? expected : 1);
  return SEQRT_OK;
}

/* Adds a tensor (the caller checked it is new); returns its index. */
static int index_add(sq_graph *g, const char *name) {
  size_t mask = (size_t)g->n_slots - 1;
  size_t k = hash_name(name) & mask;
  while (g->slots[k] >= 0) k = (k + 1) & mask;
  int t = g->n_tensors++;
  g->slots[k] = t;
  sq_tensor *tensor = &g->tensors[t];
  memset(tensor, 0, sizeof *tensor);
  tensor->name = name;
  tensor->producer = -1;
  return t;
}

/* ---- names --------------------------------------------------------------- */

/* "/features/features.0/Conv" → "features.0"; root-scope and unscoped
 * names are kept whole. */
static char *module_of(const char *name) {
  const char *last = strrchr(name, '/');
  if (name[0] != '/' || !last || last == name) return strdup(name);
  const char *p = last - 1;
  while (p > name && *p != '/') p--;
  if (last - p - 1 <= 0) return strdup(name);
  return strndup(p + 1, (size_t)(last - p - 1));
}

/* The value of metadata entry `key` of the node, or NULL. */
static const char *node_metadata(const Onnx__NodeProto *p, const char *key) {
  for (size_t k = 0; k < p->n_metadata_props; k++) {
    const Onnx__StringStringEntryProto *e = p->metadata_props[k];
    if (e->key && e->value && strcmp(e->key, key) == 0) return e->value;
  }
  return NULL;
}

/* The newer torch exporter (FX node names such as "node_Conv_0") records
 * the module path in pkg.torch.onnx.name_scopes, a Python list repr such as
 * "['', 'features', 'features.0', 'conv2d']": the entries between the root
 * and the node's own name are the enclosing modules, each a full path
 * ("features.0") or, in some versions, one component ("0"). NULL if absent
 * or at the root. */
static char *module_from_scopes(const char *scopes) {
  const char *items[64];
  size_t lens[64];
  int n = 0;
  for (const char *p = scopes; *p && n < 64; p++) {
    if (*p != '\'' && *p != '"') continue;
    const char *end = strchr(p + 1, *p);
    if (!end) break;
    items[n] = p + 1;
    lens[n++] = (size_t)(end - p - 1);
    p = end;
  }
  int first = n > 0 && lens[0] == 0 ? 1 : 0, last = n - 2;
  if (last < first || lens[last] == 0) return NULL;
  /* full paths: each entry extends the one before it */
  bool full = true;
  for (int k = first + 1; k <= last && full; k++)
    full = lens[k] > lens[k - 1] &&
           strncmp(items[k], items[k - 1], lens[k - 1]) == 0 &&
           items[k][lens[k - 1]] == '.';
  if (full || last == first) return strndup(items[last], lens[last]);
  size_t total = 0;
  for (int k = first; k <= last; k++) total += lens[k] + 1;
  char *path = malloc(total);
  if (!path) return NULL;
  size_t used = 0;
  for (int k = first; k <= last; k++) {
    if (used) path[used++] = '.';
    memcpy(path + used, items[k], lens[k]);
    used += lens[k];
  }
  path[used] = '\0';
  return path;
}

static seqrt_status name_node(sq_node *n, int index) {
  const char *name = n->proto->name;
  if (name && *name) {
    n->name = strdup(name);
  } else {
    size_t len = strlen(n->op) + 24;
    n->name = malloc(len);
    if (n->name) snprintf(n->name, len, "%s_%d", n->op, index);
  }
  const char *scopes = node_metadata(n->proto, "pkg.torch.onnx.name_scopes");
  n->module = scopes ? module_from_scopes(scopes) : NULL;
  if (!n->module && n->name) n->module = module_of(n->name);
  if (!n->name || !n->module)
    return sq_error(SEQRT_ERR_NOMEM, "out of memory naming nodes");
  return SEQRT_OK;
}

/* ---- helpers ------------------------------------------------------------- */

int sq_node_input(const sq_node *node, int slot) {
  return slot >= 0 && slot < node->n_inputs ? node->inputs[slot] : -1;
}

int sq_node_output(const sq_node *node, int slot) {
  return slot >= 0 && slot < node->n_outputs ? node->outputs[slot] : -1;
}

bool sq_node_is(const sq_node *node, const char *op) {
  return strcmp(node->op, op) == 0;
}

/* Read by a data node or the graph output (Shape reads are metadata). */
static bool tensor_used(const sq_graph *g, int t) {
  if (t < 0) return false;
  if (g->tensors[t].is_output) return true;
  for (int c = 0; c < g->tensors[t].n_consumers; c++)
    if (g->nodes[g->tensors[t].consumers[c]].cls == SQ_CLASS_DATA) return true;
  return false;
}

int sq_node_used_output(const sq_graph *g, const sq_node *node) {
  int used = -1;
  for (int o = 0; o < node->n_outputs; o++) {
    if (!tensor_used(g, node->outputs[o])) continue;
    if (used >= 0) return 0;
    used = o;
  }
  return used < 0 ? 0 : used;
}

bool sq_graph_is_const(const sq_graph *g, int t) {
  return t >= 0 && g->tensors[t].cls == SQ_CLASS_CONST;
}

const sq_node *sq_graph_sole_consumer(const sq_graph *g, int t) {
  if (t < 0 || g->tensors[t].is_output || g->tensors[t].n_consumers != 1)
    return NULL;
  return &g->nodes[g->tensors[t].consumers[0]];
}

static seqrt_status add_consumer(sq_tensor *t, int node) {
  for (int k = 0; k < t->n_consumers; k++)
    if (t->consumers[k] == node) return SEQRT_OK;
  if (t->n_consumers == t->cap_consumers) {
    int cap = t->cap_consumers ? 2 * t->cap_consumers : 2;
    int *c = realloc(t->consumers, (size_t)cap * sizeof *c);
    if (!c) return sq_error(SEQRT_ERR_NOMEM, "out of memory indexing");
    t->consumers = c;
    t->cap_consumers = cap;
  }
  t->consumers[t->n_consumers++] = node;
  return SEQRT_OK;
}

void sq_quote_list(char *buf, size_t size, const char *const *names, int n) {
  size_t used = 0;
  buf[0] = '\0';
  for (int k = 0; k < n && k < 3 && used < size; k++) {
    const char *sep = k == 0 ? "" : (k == n - 1 ? " and " : ", ");
    if (k == 2 && n > 3) {
      snprintf(buf + used, size - used, " and %d more", n - 2);
      return;
    }
    used +=
        (size_t)snprintf(buf + used, size - used, "%s'%.200s'", sep, names[k]);
  }
}

/* ---- inputs, initializers, outputs --------------------------------------- */

static seqrt_status add_initializers(sq_graph *g) {
  const Onnx__GraphProto *p = g->proto;
  for (size_t k = 0; k < p->n_initializer; k++) {
    const Onnx__TensorProto *init = p->initializer[k];
    if (!init->name || !*init->name)
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "initializer %zu of the graph has no name", k);
    if (sq_graph_find(g, init->name) >= 0)
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "initializer '%s' is defined twice", init->name);
    int t = index_add(g, init->name);
    g->tensors[t].initializer = init;
    g->tensors[t].init_index = (int)k;
    g->tensors[t].cls = SQ_CLASS_CONST;
  }
  return SEQRT_OK;
}

/* Graph inputs that are not initializers (old exporters list the weights
 * among the inputs too). Exactly one is allowed. */
static seqrt_status add_input(sq_graph *g) {
  const Onnx__GraphProto *p = g->proto;
  const char *names[4];
  int n = 0;
  for (size_t k = 0; k < p->n_input; k++) {
    const char *name = p->input[k]->name;
    if (!name || !*name)
      return sq_error(SEQRT_ERR_INVALID_MODEL, "graph input %zu has no name",
                      k);
    int t = sq_graph_find(g, name);
    if (t >= 0 && g->tensors[t].initializer) continue;
    if (t >= 0)
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "graph input '%s' is listed twice", name);
    t = index_add(g, name);
    g->tensors[t].is_input = true;
    g->tensors[t].cls = SQ_CLASS_DATA;
    if (n < 4) names[n] = name;
    if (n == 0) g->input = t;
    n++;
  }
  if (n == 0)
    return sq_error(SEQRT_ERR_NOT_CHAIN,
                    "model has no input (every graph input is an "
                    "initializer)");
  if (n > 1) {
    char list[700];
    sq_quote_list(list, sizeof list, names, n);
    return sq_error(SEQRT_ERR_NOT_CHAIN,
                    "model has %d inputs %s — seqrt runs single-input chains",
                    n, list);
  }
  return SEQRT_OK;
}

static seqrt_status find_output(sq_graph *g) {
  const Onnx__GraphProto *p = g->proto;
  if (p->n_output == 0)
    return sq_error(SEQRT_ERR_INVALID_MODEL, "model has no output");
  if (p->n_output > 1) {
    const char *names[4];
    int n = p->n_output < 4 ? (int)p->n_output : 4;
    for (int k = 0; k < n; k++)
      names[k] = p->output[k]->name ? p->output[k]->name : "";
    char list[700];
    sq_quote_list(list, sizeof list, names, (int)p->n_output);
    return sq_error(SEQRT_ERR_NOT_CHAIN,
                    "model has %zu outputs %s — seqrt runs single-output "
                    "chains",
                    p->n_output, list);
  }
  const char *name = p->output[0]->name ? p->output[0]->name : "";
  int t = sq_graph_find(g, name);
  if (t < 0)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "graph output '%s' is not produced by any node, "
                    "initializer or graph input",
                    name);
  g->output = t;
  g->tensors[t].is_output = true;
  return SEQRT_OK;
}

/* ---- nodes --------------------------------------------------------------- */

static seqrt_status producer_clash(const sq_graph *g, const sq_node *n, int t) {
  const sq_tensor *tensor = &g->tensors[t];
  if (tensor->producer >= 0)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "tensor '%s' is produced twice: by node '%s' and by node "
                    "'%s'",
                    tensor->name, g->nodes[tensor->producer].name, n->name);
  return sq_error(SEQRT_ERR_INVALID_MODEL,
                  "tensor '%s' is produced by node '%s' but is also %s",
                  tensor->name, n->name,
                  tensor->initializer ? "an initializer" : "the graph input");
}

static seqrt_status add_node_outputs(sq_graph *g, sq_node *n) {
  const Onnx__NodeProto *p = n->proto;
  n->n_outputs = (int)p->n_output;
  n->outputs = malloc((p->n_output ? p->n_output : 1) * sizeof(int));
  if (!n->outputs) return sq_error(SEQRT_ERR_NOMEM, "out of memory");
  for (size_t k = 0; k < p->n_output; k++) {
    const char *name = p->output[k];
    n->outputs[k] = -1;
    if (!*name) continue;
    int t = sq_graph_find(g, name);
    if (t >= 0) return producer_clash(g, n, t);
    t = index_add(g, name);
    g->tensors[t].producer = n->index;
    g->tensors[t].producer_slot = (int)k;
    n->outputs[k] = t;
  }
  return SEQRT_OK;
}

/* Outer tensors one node's subgraphs may read (a bound on the work). */
#define SQ_MAX_IMPLICIT_INPUTS 1024

static seqrt_status add_input_slot(sq_graph *g, sq_node *n, int t, int *cap) {
  if (n->n_inputs - n->n_declared >= SQ_MAX_IMPLICIT_INPUTS &&
      n->n_declared >= 0)
    return sq_error(SEQRT_ERR_LIMIT,
                    "node '%s' (%s): its subgraphs read more than %d tensors "
                    "of the graph",
                    n->name, n->op, SQ_MAX_IMPLICIT_INPUTS);
  if (n->n_inputs == *cap) {
    int grown = *cap ? 2 * *cap : 4;
    int *list = realloc(n->inputs, (size_t)grown * sizeof *list);
    if (!list) return sq_error(SEQRT_ERR_NOMEM, "out of memory");
    n->inputs = list;
    *cap = grown;
  }
  n->inputs[n->n_inputs++] = t;
  return t >= 0 ? add_consumer(&g->tensors[t], n->index) : SEQRT_OK;
}

/* Outer tensors read by name inside the node's subgraphs (If branches),
 * at any depth, become implicit inputs. ONNX names are unique across
 * scopes, so a name the outer graph knows is an outer reference. */
static seqrt_status link_subgraph_reads(sq_graph *g, sq_node *n,
                                        const Onnx__GraphProto *sub, int *cap,
                                        int depth) {
  if (depth > 64)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (%s) nests subgraphs more than 64 deep", n->name,
                    n->op);
  for (size_t k = 0; k < sub->n_node; k++) {
    const Onnx__NodeProto *p = sub->node[k];
    for (size_t i = 0; i < p->n_input; i++) {
      int t = p->input[i] && *p->input[i] ? sq_graph_find(g, p->input[i]) : -1;
      bool seen = t < 0;
      for (int s = n->n_declared; !seen && s < n->n_inputs; s++)
        seen = n->inputs[s] == t;
      seqrt_status st = seen ? SEQRT_OK : add_input_slot(g, n, t, cap);
      if (st != SEQRT_OK) return st;
    }
    for (size_t a = 0; a < p->n_attribute; a++) {
      const Onnx__AttributeProto *attr = p->attribute[a];
      seqrt_status st = SEQRT_OK;
      if (attr->g) st = link_subgraph_reads(g, n, attr->g, cap, depth + 1);
      for (size_t j = 0; st == SEQRT_OK && j < attr->n_graphs; j++)
        st = link_subgraph_reads(g, n, attr->graphs[j], cap, depth + 1);
      if (st != SEQRT_OK) return st;
    }
  }
  return SEQRT_OK;
}

static seqrt_status link_node_inputs(sq_graph *g, sq_node *n) {
  const Onnx__NodeProto *p = n->proto;
  int cap = 0;
  n->n_declared = -1; /* no limit on declared inputs */
  for (size_t k = 0; k < p->n_input; k++) {
    const char *name = p->input[k];
    int t = -1;
    if (*name && (t = sq_graph_find(g, name)) < 0)
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "node '%s' (%s) reads tensor '%s', which no node, "
                      "initializer or graph input provides",
                      n->name, n->op, name);
    seqrt_status st = add_input_slot(g, n, t, &cap);
    if (st != SEQRT_OK) return st;
  }
  n->n_declared = n->n_inputs;
  for (size_t a = 0; a < p->n_attribute; a++) {
    const Onnx__AttributeProto *attr = p->attribute[a];
    seqrt_status st = SEQRT_OK;
    if (attr->g) st = link_subgraph_reads(g, n, attr->g, &cap, 1);
    for (size_t j = 0; st == SEQRT_OK && j < attr->n_graphs; j++)
      st = link_subgraph_reads(g, n, attr->graphs[j], &cap, 1);
    if (st != SEQRT_OK) return st;
  }
  if (!n->inputs && !(n->inputs = malloc(sizeof(int))))
    return sq_error(SEQRT_ERR_NOMEM, "out of memory");
  return SEQRT_OK;
}

static seqrt_status add_nodes(sq_graph *g) {
  const Onnx__GraphProto *p = g->proto;
  g->nodes = calloc(p->n_node, sizeof *g->nodes);
  if (!g->nodes) return sq_error(SEQRT_ERR_NOMEM, "out of memory");
  g->n_nodes = (int)p->n_node;
  for (int k = 0; k < g->n_nodes; k++) {
    sq_node *n = &g->nodes[k];
    n->proto = p->node[k];
    n->index = k;
    n->group = -1;
    n->op = n->proto->op_type ? n->proto->op_type : "";
    seqrt_status st = name_node(n, k);
    if (st != SEQRT_OK) return st;
    if (!*n->op)
      return sq_error(SEQRT_ERR_INVALID_MODEL, "node '%s' has no op_type",
                      n->name);
    if ((st = add_node_outputs(g, n)) != SEQRT_OK) return st;
  }
  for (int k = 0; k < g->n_nodes; k++) {
    seqrt_status st = link_node_inputs(g, &g->nodes[k]);
    if (st != SEQRT_OK) return st;
  }
  return SEQRT_OK;
}

/* ---- topological order --------------------------------------------------- */

/* A node on a cycle: from any unsorted node, following unsorted producers
 * n times must end up inside a cycle. */
static seqrt_status report_cycle(const sq_graph *g, const int *pending) {
  int n = -1;
  for (int k = 0; k < g->n_nodes && n < 0; k++)
    if (pending[k] > 0) n = k;
  for (int step = 0; step < g->n_nodes; step++) {
    const sq_node *node = &g->nodes[n];
    for (int s = 0; s < node->n_inputs; s++) {
      int t = node->inputs[s];
      int p = t >= 0 ? g->tensors[t].producer : -1;
      if (p >= 0 && pending[p] > 0) {
        n = p;
        break;
      }
    }
  }
  return sq_error(SEQRT_ERR_INVALID_MODEL,
                  "graph has a cycle through node '%s' (%s)", g->nodes[n].name,
                  g->nodes[n].op);
}

static seqrt_status sort_nodes(sq_graph *g) {
  int n = g->n_nodes;
  int *pending = calloc((size_t)n, sizeof *pending);
  g->topo = malloc((size_t)n * sizeof *g->topo);
  if (!pending || !g->topo) {
    free(pending);
    return sq_error(SEQRT_ERR_NOMEM, "out of memory sorting the graph");
  }
  int done = 0;
  for (int k = 0; k < n; k++) {
    for (int s = 0; s < g->nodes[k].n_inputs; s++) {
      int t = g->nodes[k].inputs[s];
      if (t >= 0 && g->tensors[t].producer >= 0) pending[k]++;
    }
    if (pending[k] == 0) g->topo[done++] = k;
  }
  for (int head = 0; head < done; head++) {
    const sq_node *node = &g->nodes[g->topo[head]];
    for (int o = 0; o < node->n_outputs; o++) {
      int t = node->outputs[o];
      if (t < 0) continue;
      for (int c = 0; c < g->tensors[t].n_consumers; c++) {
        int consumer = g->tensors[t].consumers[c];
        const sq_node *cn = &g->nodes[consumer];
        for (int s = 0; s < cn->n_inputs; s++)
          if (cn->inputs[s] == t) pending[consumer]--;
        if (pending[consumer] == 0) g->topo[done++] = consumer;
      }
    }
  }
  seqrt_status st = done == n ? SEQRT_OK : report_cycle(g, pending);
  for (int k = 0; st == SEQRT_OK && k < n; k++)
    g->nodes[g->topo[k]].topo_pos = k;
  free(pending);
  return st;
}

/* ---- classes ------------------------------------------------------------- */

/* Shape reads an activation's dims, not its values. */
static bool reads_metadata_only(const sq_node *node) {
  return sq_node_is(node, "Shape");
}

static void classify(sq_graph *g) {
  for (int k = 0; k < g->n_nodes; k++) {
    sq_node *n = &g->nodes[g->topo[k]];
    sq_class cls = SQ_CLASS_CONST;
    for (int s = 0; s < n->n_inputs; s++) {
      int t = n->inputs[s];
      if (t >= 0 && g->tensors[t].cls > cls) cls = g->tensors[t].cls;
    }
    if (cls == SQ_CLASS_DATA && reads_metadata_only(n)) cls = SQ_CLASS_SHAPE;
    n->cls = cls;
    for (int o = 0; o < n->n_outputs; o++)
      if (n->outputs[o] >= 0) g->tensors[n->outputs[o]].cls = cls;
  }
  for (int t = 0; t < g->n_tensors; t++)
    g->tensors[t].uses_left = g->tensors[t].n_consumers;
}

/* ---- build / free -------------------------------------------------------- */

static size_t expected_tensors(const Onnx__GraphProto *p) {
  size_t n = p->n_initializer + p->n_input;
  for (size_t k = 0; k < p->n_node; k++) n += p->node[k]->n_output;
  return n;
}

seqrt_status sq_graph_build(const Onnx__GraphProto *proto, int64_t opset,
                            const sq_import_options *import,
                            sq_payloads *payloads, uint64_t memory_limit,
                            sq_graph *g) {
  memset(g, 0, sizeof *g);
  g->proto = proto;
  g->opset = opset;
  g->import = import;
  g->payloads = payloads;
  g->memory_limit = memory_limit;
  g->input = g->output = -1;
  if (proto->n_node == 0)
    return sq_error(SEQRT_ERR_INVALID_MODEL, "graph has no nodes");
  size_t expected = expected_tensors(proto);
  if (proto->n_node > SQ_MAX_NODES || expected > SQ_MAX_NODES)
    return sq_error(SEQRT_ERR_LIMIT,
                    "graph has %zu nodes and %zu tensors; "
                    "seqrt handles up to %d",
                    proto->n_node, expected, SQ_MAX_NODES);
  seqrt_status st = index_init(g, expected);
  if (st == SEQRT_OK) st = add_initializers(g);
  if (st == SEQRT_OK) st = add_input(g);
  if (st == SEQRT_OK) st = add_nodes(g);
  if (st == SEQRT_OK) st = find_output(g);
  if (st == SEQRT_OK) st = sort_nodes(g);
  if (st == SEQRT_OK) classify(g);
  return st;
}

void sq_graph_free(sq_graph *g) {
  for (int k = 0; k < g->n_tensors; k++) {
    free(g->tensors[k].consumers);
    sq_value_free(g->tensors[k].value);
  }
  for (int k = 0; k < g->n_nodes; k++) {
    free(g->nodes[k].name);
    free(g->nodes[k].module);
    free(g->nodes[k].inputs);
    free(g->nodes[k].outputs);
  }
  free(g->tensors);
  free(g->slots);
  free(g->nodes);
  free(g->topo);
  free(g->groups);
  free(g->order);
  memset(g, 0, sizeof *g);
}
