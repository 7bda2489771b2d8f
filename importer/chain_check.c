/* The chain check. Data nodes (those reading the input's values) are first
 * grouped: patterns claim multi-node layers, every other data node is a
 * group of its own. Then, in this order:
 *   1. a walk from the input: every activation must feed exactly one group
 *      (the graph output counts as a consumer) → branching / dead end. A
 *      path that splits and merges again is reported where it splits, the
 *      root cause; a group reading a second activation → join. Fan-out
 *      that no pattern claimed (an unrecognised decomposition, a residual
 *      or concat branch) is reported here, naming the nodes;
 *   2. a single-activation group with no handler → unsupported op.
 * Reads by Shape are metadata, not consumers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "graph.h"
#include "ops.h"

/* ---- grouping ------------------------------------------------------------ */

static bool in_group(const sq_group *grp, int node) {
  for (int k = 0; k < grp->n_nodes; k++)
    if (grp->nodes[k] == node) return true;
  return false;
}

static bool produced_inside(const sq_graph *g, const sq_group *grp, int t) {
  int p = g->tensors[t].producer;
  return p >= 0 && in_group(grp, p);
}

/* Distinct data tensors the group reads from outside; up to `max` kept. */
static int external_inputs(const sq_graph *g, const sq_group *grp, int *list,
                           int *readers, int max) {
  int n = 0;
  for (int k = 0; k < grp->n_nodes; k++) {
    const sq_node *node = &g->nodes[grp->nodes[k]];
    for (int s = 0; s < node->n_inputs; s++) {
      int t = node->inputs[s];
      if (t < 0 || g->tensors[t].cls != SQ_CLASS_DATA ||
          produced_inside(g, grp, t))
        continue;
      bool seen = false;
      for (int j = 0; j < n && j < max; j++) seen |= list[j] == t;
      if (seen) continue;
      if (n < max) {
        list[n] = t;
        readers[n] = node->index;
      }
      n++;
    }
  }
  return n;
}

/* Tensors between the group's nodes are used only inside it. */
static bool group_closed(const sq_graph *g, const sq_group *grp) {
  for (int k = 0; k < grp->n_nodes; k++) {
    const sq_node *node = &g->nodes[grp->nodes[k]];
    if (node->cls != SQ_CLASS_DATA || node->group >= 0) return false;
    for (int o = 0; o < node->n_outputs; o++) {
      int t = node->outputs[o];
      if (t < 0 || t == grp->exit) continue;
      const sq_tensor *tensor = &g->tensors[t];
      if (tensor->is_output) return false;
      for (int c = 0; c < tensor->n_consumers; c++) {
        const sq_node *user = &g->nodes[tensor->consumers[c]];
        /* a Shape read of an inner tensor is metadata */
        if (user->cls == SQ_CLASS_DATA && !in_group(grp, user->index))
          return false;
      }
    }
  }
  int list[2], readers[2];
  return external_inputs(g, grp, list, readers, 2) == 1;
}

static void claim(sq_graph *g, sq_group *grp) {
  int index = g->n_groups++;
  for (int k = 0; k < grp->n_nodes; k++) g->nodes[grp->nodes[k]].group = index;
  int list[1], readers[1];
  grp->entry = external_inputs(g, grp, list, readers, 1) ? list[0] : -1;
  g->groups[index] = *grp;
}

static bool try_patterns(sq_graph *g, const sq_node *node, sq_group *grp) {
  int count;
  const sq_pattern *patterns = sq_patterns(&count);
  for (int p = 0; p < count; p++) {
    memset(grp, 0, sizeof *grp);
    if (!patterns[p].match(g, node, grp) || grp->n_nodes < 1 ||
        grp->n_nodes > SQ_GROUP_MAX_NODES)
      continue;
    grp->exit = sq_node_output(&g->nodes[grp->nodes[grp->n_nodes - 1]], 0);
    if (!group_closed(g, grp)) continue;
    grp->convert = patterns[p].convert;
    grp->pattern = patterns[p].name;
    return true;
  }
  return false;
}

static seqrt_status form_groups(sq_graph *g) {
  g->groups = calloc((size_t)g->n_nodes, sizeof *g->groups);
  if (!g->groups) return sq_error(SEQRT_ERR_NOMEM, "out of memory");
  for (int k = 0; k < g->n_nodes; k++) {
    sq_node *node = &g->nodes[g->topo[k]];
    if (node->cls != SQ_CLASS_DATA || node->group >= 0) continue;
    sq_group grp;
    if (!try_patterns(g, node, &grp)) {
      memset(&grp, 0, sizeof grp);
      grp.nodes[0] = node->index;
      grp.n_nodes = 1;
      /* x.chunk(n, dim)[k] at opsets 9-10: Split, only output k used */
      grp.exit = sq_node_output(
          node, sq_node_is(node, "Split") ? sq_node_used_output(g, node) : 0);
    }
    claim(g, &grp);
  }
  return SEQRT_OK;
}

/* ---- consumers ----------------------------------------------------------- */

/* Distinct groups reading tensor t; `readers` gets the reading node of
 * each (up to max). */
static int consumer_groups(const sq_graph *g, int t, int *groups, int *readers,
                           int max) {
  const sq_tensor *tensor = &g->tensors[t];
  int n = 0;
  for (int c = 0; c < tensor->n_consumers; c++) {
    const sq_node *node = &g->nodes[tensor->consumers[c]];
    if (node->cls != SQ_CLASS_DATA) continue;
    bool seen = false;
    for (int j = 0; j < n && j < max; j++) seen |= groups[j] == node->group;
    if (seen) continue;
    if (n < max) {
      groups[n] = node->group;
      readers[n] = node->index;
    }
    n++;
  }
  return n;
}

static const char *origin(const sq_graph *g, int t, char *buf, size_t size) {
  const sq_tensor *tensor = &g->tensors[t];
  if (tensor->is_input)
    snprintf(buf, size, "(the graph input)");
  else
    snprintf(buf, size, "(from node '%.300s')",
             g->nodes[tensor->producer].name);
  return buf;
}

/* " (all in module 'm', ...)" when every reader is scoped in one module:
 * then the fan-out sits inside one layer that seqrt does not recognise. */
static void same_module_note(const sq_graph *g, const int *readers, int n,
                             char *buf, size_t size) {
  buf[0] = '\0';
  if (n < 2 || n > 64) return;
  const sq_node *first = &g->nodes[readers[0]];
  if (strcmp(first->module, first->name) == 0) return;
  for (int k = 1; k < n; k++)
    if (strcmp(g->nodes[readers[k]].module, first->module) != 0) return;
  snprintf(buf, size,
           "; they all belong to module '%.200s', whose subgraph is not a "
           "layer decomposition seqrt recognises",
           first->module);
}

static seqrt_status branching(const sq_graph *g, int t) {
  int groups[64], readers[64];
  int n = consumer_groups(g, t, groups, readers, 64);
  const char *names[3];
  for (int k = 0; k < n && k < 3; k++) names[k] = g->nodes[readers[k]].name;
  char list[700], from[340], note[300];
  sq_quote_list(list, sizeof list, names, n);
  origin(g, t, from, sizeof from);
  same_module_note(g, readers, n, note, sizeof note);
  if (g->tensors[t].is_output)
    return sq_error(SEQRT_ERR_NOT_CHAIN,
                    "branching graph: tensor '%s' %s is the graph output and "
                    "is also used by %s %s — skip connections and parallel "
                    "paths cannot run as a chain",
                    g->tensors[t].name, from, n == 1 ? "node" : "nodes", list);
  return sq_error(SEQRT_ERR_NOT_CHAIN,
                  "branching graph: tensor '%s' %s is used by %d nodes %s%s — "
                  "skip connections and parallel paths cannot run as a chain",
                  g->tensors[t].name, from, n, list, note);
}

static seqrt_status join(const sq_graph *g, const sq_group *grp) {
  int list[16], readers[16];
  int n = external_inputs(g, grp, list, readers, 16);
  const char *names[3];
  for (int k = 0; k < n && k < 3; k++) names[k] = g->tensors[list[k]].name;
  char quoted[700];
  sq_quote_list(quoted, sizeof quoted, names, n);
  const sq_node *node = &g->nodes[readers[n > 1 ? 1 : 0]];
  return sq_error(SEQRT_ERR_NOT_CHAIN,
                  "node '%s' (%s) joins %d activations %s — merging paths "
                  "cannot run as a chain",
                  node->name, node->op, n, quoted);
}

static seqrt_status dead_end(const sq_graph *g, int t) {
  char from[340];
  return sq_error(SEQRT_ERR_NOT_CHAIN,
                  "tensor '%s' %s is not used by any node and is not the "
                  "graph output '%s' — the graph is not a single chain",
                  g->tensors[t].name, origin(g, t, from, sizeof from),
                  g->tensors[g->output].name);
}

/* ---- checks -------------------------------------------------------------- */

/* Outputs other than the group's exit must stay unused (Dropout's mask,
 * MaxPool's indices, BatchNormalization's training statistics). */
static seqrt_status check_extra_outputs(const sq_graph *g,
                                        const sq_group *grp) {
  for (int k = 0; k < grp->n_nodes; k++) {
    const sq_node *node = &g->nodes[grp->nodes[k]];
    for (int o = 0; o < node->n_outputs; o++) {
      int t = node->outputs[o];
      if (t < 0 || t == grp->exit) continue;
      const sq_tensor *tensor = &g->tensors[t];
      bool outside = tensor->is_output;
      int user_node = -1;
      for (int c = 0; c < tensor->n_consumers; c++) {
        const sq_node *reader = &g->nodes[tensor->consumers[c]];
        /* Shape reads are metadata */
        if (reader->cls != SQ_CLASS_DATA || in_group(grp, reader->index))
          continue;
        outside = true;
        user_node = reader->index;
      }
      if (!outside) continue;
      const char *user =
          user_node < 0 ? "the graph output" : g->nodes[user_node].name;
      return sq_error(SEQRT_ERR_UNSUPPORTED,
                      "node '%s' (%s): output %d '%s' is used (by %s); seqrt "
                      "uses only %s output of %s",
                      node->name, node->op, o, tensor->name, user,
                      sq_node_is(node, "Split") ? "one" : "the first",
                      node->op);
    }
  }
  return SEQRT_OK;
}

static seqrt_status check_supported(const sq_graph *g) {
  for (int k = 0; k < g->n_groups; k++) {
    const sq_group *grp = &g->groups[k];
    if (grp->convert) continue;
    const sq_node *node = &g->nodes[grp->nodes[0]];
    int list[2], readers[2];
    if (!sq_node_supported(g, node) &&
        external_inputs(g, grp, list, readers, 2) <= 1)
      return sq_op_unsupported(g, node);
  }
  return SEQRT_OK;
}

static seqrt_status walk(sq_graph *g) {
  g->order = malloc((size_t)(g->n_groups ? g->n_groups : 1) * sizeof(int));
  if (!g->order) return sq_error(SEQRT_ERR_NOMEM, "out of memory");
  int t = g->input;
  for (int step = 0; step <= g->n_groups; step++) {
    int groups[2], readers[2];
    int n = consumer_groups(g, t, groups, readers, 2);
    int users = n + (g->tensors[t].is_output ? 1 : 0);
    if (users == 0) return dead_end(g, t);
    if (users > 1) return branching(g, t);
    if (g->tensors[t].is_output) break;
    const sq_group *grp = &g->groups[groups[0]];
    int list[2], rd[2];
    if (external_inputs(g, grp, list, rd, 2) > 1) return join(g, grp);
    g->order[g->n_order++] = groups[0];
    t = grp->exit;
    if (t < 0) {
      const sq_node *last = &g->nodes[grp->nodes[grp->n_nodes - 1]];
      return sq_error(SEQRT_ERR_NOT_CHAIN,
                      "node '%s' (%s) has no output tensor: the chain ends "
                      "there",
                      last->name, last->op);
    }
  }
  if (g->n_order != g->n_groups)
    return sq_error(SEQRT_ERR_NOT_CHAIN,
                    "%d nodes reading the input are not on the chain from "
                    "the input to the output",
                    g->n_groups - g->n_order);
  return SEQRT_OK;
}

seqrt_status sq_graph_check_chain(sq_graph *g) {
  const sq_tensor *out = &g->tensors[g->output];
  if (out->cls != SQ_CLASS_DATA)
    return sq_error(SEQRT_ERR_NOT_CHAIN,
                    "graph output '%s' does not depend on the values of the "
                    "graph input '%s'",
                    out->name, g->tensors[g->input].name);
  seqrt_status st = form_groups(g);
  for (int k = 0; st == SEQRT_OK && k < g->n_groups; k++)
    st = check_extra_outputs(g, &g->groups[k]);
  if (st == SEQRT_OK) st = walk(g);
  if (st == SEQRT_OK) st = check_supported(g);
  return st;
}
