/* Templates: a decomposition described as a list of nodes, matched against
 * the graph by op types, wiring and constant values (node names are never
 * read). Matching starts at the node the chain check hands over (the first
 * of the group in topological order), binds it to a template node that
 * reads only the input X and constants, then finds each further template
 * node among the consumers of what is already bound, backtracking when a
 * choice leads nowhere. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

typedef struct matcher {
  sq_graph *g;
  const sq_tnode *t;
  int n;
  int anchor;
  sq_match *m;
} matcher;

static int template_inputs(const sq_tnode *node) {
  int n = 0;
  while (n < SQ_TEMPLATE_INPUTS && node->in[n].kind != SQ_REF_NONE) n++;
  return n;
}

static bool commutative(const char *op) {
  static const char *ops[] = {"Add",   "Mul", "Or",  "And",
                              "Equal", "Max", "Min", "Sum"};
  for (size_t k = 0; k < sizeof ops / sizeof *ops; k++)
    if (strcmp(op, ops[k]) == 0) return true;
  return false;
}

bool sq_scalar_value(sq_graph *g, int t, float *out) {
  const sq_value *v;
  if (!sq_graph_is_const(g, t) || sq_graph_value(g, t, &v) != SEQRT_OK ||
      v->count != 1 || sq_value_has_batch(v))
    return false;
  *out = (float)sq_value_float(v, 0);
  return true;
}

static bool close_to(float got, float want) {
  return fabsf(got - want) <= 1e-6f + 1e-4f * fabsf(want);
}

/* Does tensor t fit reference r? Binds X and captures on the way; the
 * caller restores them on failure. */
static bool ref_fits(matcher *mt, const sq_ref *r, int t) {
  sq_graph *g = mt->g;
  sq_match *m = mt->m;
  float value;
  switch (r->kind) {
  case SQ_REF_X:
    if (t < 0 || g->tensors[t].cls != SQ_CLASS_DATA) return false;
    if (m->entry < 0) m->entry = t;
    return m->entry == t;
  case SQ_REF_NODE: {
    int bound = m->nodes[r->index];
    return bound >= 0 && t >= 0 &&
           sq_node_output(&g->nodes[bound], r->slot) == t;
  }
  case SQ_REF_VALUE:
    return t >= 0 && sq_scalar_value(g, t, &value) && close_to(value, r->value);
  case SQ_REF_CONST:
    if (!sq_graph_is_const(g, t)) return false;
    m->captures[r->index] = t;
    return true;
  case SQ_REF_SIDE:
    if (t < 0 || g->tensors[t].cls == SQ_CLASS_DATA) return false;
    m->captures[r->index] = t;
    return true;
  case SQ_REF_EMPTY: return t < 0;
  case SQ_REF_OPTIONAL:
    if (t < 0) return true;
    if (g->tensors[t].cls == SQ_CLASS_DATA) return false;
    m->captures[r->index] = t;
    return true;
  default: return false;
  }
}

static bool inputs_fit(matcher *mt, const sq_tnode *tn, const sq_node *node,
                       bool swapped) {
  /* an If's implicit inputs (outer tensors its branches read) count */
  int n = template_inputs(tn);
  if (node->n_inputs > n) return false;
  for (int s = 0; s < n; s++) {
    int from = swapped ? 1 - s : s;
    if (!ref_fits(mt, &tn->in[s], sq_node_input(node, from))) return false;
  }
  return true;
}

static bool already_bound(const matcher *mt, int node) {
  for (int k = 0; k < mt->n; k++)
    if (mt->m->nodes[k] == node) return true;
  return false;
}

/* Bind template node k to `node` if it fits (either operand order for a
 * commutative op). */
static bool bind(matcher *mt, int k, const sq_node *node) {
  const sq_tnode *tn = &mt->t[k];
  if (!sq_node_is(node, tn->op) || node->cls != SQ_CLASS_DATA ||
      already_bound(mt, node->index))
    return false;
  const char *d = node->proto->domain;
  if (d && *d && strcmp(d, "ai.onnx") != 0) return false;
  sq_match saved = *mt->m;
  int tries = commutative(tn->op) && template_inputs(tn) == 2 ? 2 : 1;
  for (int swap = 0; swap < tries; swap++) {
    if (inputs_fit(mt, tn, node, swap == 1)) {
      mt->m->nodes[k] = node->index;
      return true;
    }
    *mt->m = saved;
  }
  return false;
}

/* The tensor whose consumers are the candidates for template node k. */
static int candidate_source(const matcher *mt, int k) {
  const sq_tnode *tn = &mt->t[k];
  /* an inner tensor has fewer consumers than X: prefer it */
  for (int s = 0; s < template_inputs(tn); s++) {
    const sq_ref *r = &tn->in[s];
    int bound = r->kind == SQ_REF_NODE ? mt->m->nodes[r->index] : -1;
    if (bound >= 0) return sq_node_output(&mt->g->nodes[bound], r->slot);
  }
  for (int s = 0; s < template_inputs(tn); s++)
    if (tn->in[s].kind == SQ_REF_X) return mt->m->entry;
  return -1;
}

static bool match_from(matcher *mt, int k) {
  if (k == mt->anchor) k++;
  if (k >= mt->n) return true;
  int t = candidate_source(mt, k);
  if (t < 0) return false;
  const sq_tensor *tensor = &mt->g->tensors[t];
  for (int c = 0; c < tensor->n_consumers; c++) {
    sq_match saved = *mt->m;
    if (bind(mt, k, &mt->g->nodes[tensor->consumers[c]]) &&
        match_from(mt, k + 1))
      return true;
    *mt->m = saved;
  }
  return false;
}

static bool anchor_ok(const sq_tnode *tn) {
  bool reads_x = false;
  for (int s = 0; s < template_inputs(tn); s++) {
    if (tn->in[s].kind == SQ_REF_NODE) return false;
    reads_x |= tn->in[s].kind == SQ_REF_X;
  }
  return reads_x;
}

static void match_reset(sq_match *m, int n) {
  for (int k = 0; k < SQ_GROUP_MAX_NODES; k++) m->nodes[k] = -1;
  for (int c = 0; c < SQ_MAX_CAPTURES; c++) m->captures[c] = -1;
  m->entry = -1;
  m->n_nodes = n;
}

bool sq_template_match(sq_graph *g, const sq_node *start, const sq_tnode *t,
                       int n, sq_match *m) {
  if (n < 1 || n > SQ_GROUP_MAX_NODES) return false;
  matcher mt = {g, t, n, -1, m};
  for (int a = 0; a < n; a++) {
    if (!anchor_ok(&t[a])) continue;
    match_reset(m, n);
    mt.anchor = a;
    if (bind(&mt, a, start) && match_from(&mt, 0)) return true;
  }
  match_reset(m, n);
  return false;
}

int sq_template_match_any(sq_graph *g, const sq_node *start,
                          const sq_tnode *const *templates, const int *sizes,
                          int count, sq_match *m) {
  for (int k = 0; k < count; k++)
    if (sq_template_match(g, start, templates[k], sizes[k], m)) return k;
  return -1;
}

void sq_match_to_group(const sq_graph *g, const sq_match *m, sq_group *group) {
  group->n_nodes = m->n_nodes;
  for (int k = 0; k < m->n_nodes; k++) group->nodes[k] = m->nodes[k];
  /* insertion sort by topological position; the exit ends up last */
  for (int k = 1; k < group->n_nodes; k++) {
    int v = group->nodes[k], j = k;
    while (j > 0 &&
           g->nodes[group->nodes[j - 1]].topo_pos > g->nodes[v].topo_pos) {
      group->nodes[j] = group->nodes[j - 1];
      j--;
    }
    group->nodes[j] = v;
  }
}

bool sq_match_claim(sq_graph *g, const sq_node *node, sq_group *group,
                    sq_matcher match) {
  sq_match m;
  if (match(g, node, &m) < 0) return false;
  sq_match_to_group(g, &m, group);
  return true;
}

const sq_node *sq_match_node(const sq_graph *g, const sq_match *m, int k) {
  return &g->nodes[m->nodes[k]];
}

bool sq_match_scalar(sq_graph *g, const sq_match *m, int c, float *out) {
  return m->captures[c] >= 0 && sq_scalar_value(g, m->captures[c], out);
}

seqrt_status sq_group_layer(sq_ctx *ctx, const sq_group *group, sq_kind kind,
                            sq_layer **out) {
  const sq_graph *g = ctx->graph;
  const sq_node *exit = &g->nodes[group->nodes[group->n_nodes - 1]];
  seqrt_status st = sq_layer_add(ctx, kind, exit, out);
  if (st != SEQRT_OK) return st;
  free((*out)->nodes);
  (*out)->nodes = NULL;
  for (int k = 0; st == SEQRT_OK && k < group->n_nodes; k++)
    st = sq_list_append(&(*out)->nodes, g->nodes[group->nodes[k]].name);
  if (st == SEQRT_OK && !(*out)->nodes && !((*out)->nodes = strdup("")))
    st = sq_error(SEQRT_ERR_NOMEM, "out of memory");
  return st;
}

void sq_tensor_set_shape(sq_graph *g, int tensor, const sq_shape *shape) {
  if (tensor < 0) return;
  g->tensors[tensor].shape = *shape;
  g->tensors[tensor].shape_known = true;
}
