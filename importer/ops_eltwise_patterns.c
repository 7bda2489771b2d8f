/* Decompositions of one elementwise (or softmax / gate) layer: what the
 * TorchScript exporter (opsets 7-17) and the newer exporter (onnxscript,
 * opset 18+) emit for GELU, SiLU, Mish, Hardswish, Softsign, Tanhshrink,
 * Softshrink, Hardshrink, LogSigmoid, Softplus(beta), Threshold, GLU,
 * Softmin and a Softmax over a non-last axis before opset 13. Each is
 * matched by its ops, wiring and constants (templates, pattern.c); the
 * chain check then verifies that nothing outside reads the inner tensors. */
#include <math.h>
#include <string.h>

#include "ops.h"

#define SQRT2 1.41421356f
#define SQRT_2_OVER_PI 0.79788456f

/* ---- shared plumbing ----------------------------------------------------- */

/* Re-run the match on the group (deterministic) to get its bindings. */
static seqrt_status rematch(sq_ctx *ctx, const sq_group *group,
                            sq_matcher match, sq_match *m, int *variant) {
  const sq_node *start = &ctx->graph->nodes[group->nodes[0]];
  *variant = match(ctx->graph, start, m);
  if (*variant >= 0) return SEQRT_OK;
  return sq_error(SEQRT_ERR_INVALID_MODEL,
                  "node '%s' (%s): the %s decomposition no longer matches",
                  start->name, start->op, group->pattern);
}

static seqrt_status eltwise_group(sq_ctx *ctx, const sq_group *group,
                                  sq_kind kind, float alpha, float beta) {
  return sq_eltwise_layer(ctx, group, NULL, kind, alpha, beta);
}

static float attr_or(const sq_node *node, const char *name, float def) {
  float v = def;
  return sq_attr_float(node, name, def, &v) == SEQRT_OK ? v : NAN;
}

/* ---- GELU ---------------------------------------------------------------- */

/* torch: x * (erf(x / sqrt2) + 1) * 0.5 */
static const sq_tnode gelu_torch[] = {
    {"Div", {SQ_TX, SQ_TV(SQRT2)}},   {"Erf", {SQ_TN(0)}},
    {"Add", {SQ_TN(1), SQ_TV(1.0f)}}, {"Mul", {SQ_TX, SQ_TN(2)}},
    {"Mul", {SQ_TN(3), SQ_TV(0.5f)}},
};
/* onnxscript: x * ((erf(x / sqrt2) + 1) * 0.5) */
static const sq_tnode gelu_onnxscript[] = {
    {"Div", {SQ_TX, SQ_TV(SQRT2)}},   {"Erf", {SQ_TN(0)}},
    {"Add", {SQ_TN(1), SQ_TV(1.0f)}}, {"Mul", {SQ_TN(2), SQ_TV(0.5f)}},
    {"Mul", {SQ_TX, SQ_TN(3)}},
};
/* the same with x * (1/sqrt2) */
static const sq_tnode gelu_torch_mul[] = {
    {"Mul", {SQ_TX, SQ_TV(1.0f / SQRT2)}}, {"Erf", {SQ_TN(0)}},
    {"Add", {SQ_TN(1), SQ_TV(1.0f)}},      {"Mul", {SQ_TX, SQ_TN(2)}},
    {"Mul", {SQ_TN(3), SQ_TV(0.5f)}},
};
static const sq_tnode gelu_onnxscript_mul[] = {
    {"Mul", {SQ_TX, SQ_TV(1.0f / SQRT2)}},
    {"Erf", {SQ_TN(0)}},
    {"Add", {SQ_TN(1), SQ_TV(1.0f)}},
    {"Mul", {SQ_TN(2), SQ_TV(0.5f)}},
    {"Mul", {SQ_TX, SQ_TN(3)}},
};
/* (0.5 * x) * (erf(x / sqrt2) + 1) */
static const sq_tnode gelu_half_first[] = {
    {"Mul", {SQ_TX, SQ_TV(0.5f)}}, {"Div", {SQ_TX, SQ_TV(SQRT2)}},
    {"Erf", {SQ_TN(1)}},           {"Add", {SQ_TN(2), SQ_TV(1.0f)}},
    {"Mul", {SQ_TN(0), SQ_TN(3)}},
};

static int match_gelu(sq_graph *g, const sq_node *start, sq_match *m) {
  static const sq_tnode *const t[] = {gelu_torch, gelu_onnxscript,
                                      gelu_torch_mul, gelu_onnxscript_mul,
                                      gelu_half_first};
  static const int n[] = {COUNT(gelu_torch), COUNT(gelu_onnxscript),
                          COUNT(gelu_torch_mul), COUNT(gelu_onnxscript_mul),
                          COUNT(gelu_half_first)};
  return sq_template_match_any(g, start, t, n, COUNT(t), m);
}

bool sq_match_gelu(sq_graph *g, const sq_node *node, sq_group *group) {
  return sq_match_claim(g, node, group, match_gelu);
}

seqrt_status sq_convert_gelu(sq_ctx *ctx, const sq_group *group) {
  return eltwise_group(ctx, group, SQ_GELU, 0.0f, 0.0f);
}

/* torch: 0.5 * (x * (tanh(sqrt(2/pi) * (x + 0.044715 * (x * (x * x)))) +
 * 1)) */
static const sq_tnode gelu_tanh_torch[] = {
    {"Mul", {SQ_TX, SQ_TX}},
    {"Mul", {SQ_TX, SQ_TN(0)}},
    {"Mul", {SQ_TN(1), SQ_TV(0.044715f)}},
    {"Add", {SQ_TX, SQ_TN(2)}},
    {"Mul", {SQ_TN(3), SQ_TV(SQRT_2_OVER_PI)}},
    {"Tanh", {SQ_TN(4)}},
    {"Add", {SQ_TN(5), SQ_TV(1.0f)}},
    {"Mul", {SQ_TX, SQ_TN(6)}},
    {"Mul", {SQ_TN(7), SQ_TV(0.5f)}},
};
/* onnxscript: x^3 through Pow */
static const sq_tnode gelu_tanh_pow[] = {
    {"Pow", {SQ_TX, SQ_TV(3.0f)}}, {"Mul", {SQ_TN(0), SQ_TV(0.044715f)}},
    {"Add", {SQ_TX, SQ_TN(1)}},    {"Mul", {SQ_TN(2), SQ_TV(SQRT_2_OVER_PI)}},
    {"Tanh", {SQ_TN(3)}},          {"Add", {SQ_TN(4), SQ_TV(1.0f)}},
    {"Mul", {SQ_TX, SQ_TN(5)}},    {"Mul", {SQ_TN(6), SQ_TV(0.5f)}},
};

static int match_gelu_tanh(sq_graph *g, const sq_node *start, sq_match *m) {
  static const sq_tnode *const t[] = {gelu_tanh_torch, gelu_tanh_pow};
  static const int n[] = {COUNT(gelu_tanh_torch), COUNT(gelu_tanh_pow)};
  return sq_template_match_any(g, start, t, n, COUNT(t), m);
}

bool sq_match_gelu_tanh(sq_graph *g, const sq_node *node, sq_group *group) {
  return sq_match_claim(g, node, group, match_gelu_tanh);
}

seqrt_status sq_convert_gelu_tanh(sq_ctx *ctx, const sq_group *group) {
  return eltwise_group(ctx, group, SQ_GELU_TANH, 0.0f, 0.0f);
}

/* ---- x * f(x) ------------------------------------------------------------ */

static const sq_tnode silu_t[] = {{"Sigmoid", {SQ_TX}},
                                  {"Mul", {SQ_TX, SQ_TN(0)}}};

static int match_silu(sq_graph *g, const sq_node *start, sq_match *m) {
  return sq_template_match(g, start, silu_t, COUNT(silu_t), m) ? 0 : -1;
}

bool sq_match_silu(sq_graph *g, const sq_node *node, sq_group *group) {
  return sq_match_claim(g, node, group, match_silu);
}

seqrt_status sq_convert_silu(sq_ctx *ctx, const sq_group *group) {
  return eltwise_group(ctx, group, SQ_SILU, 0.0f, 0.0f);
}

static const sq_tnode mish_t[] = {
    {"Softplus", {SQ_TX}}, {"Tanh", {SQ_TN(0)}}, {"Mul", {SQ_TX, SQ_TN(1)}}};

static int match_mish(sq_graph *g, const sq_node *start, sq_match *m) {
  return sq_template_match(g, start, mish_t, COUNT(mish_t), m) ? 0 : -1;
}

bool sq_match_mish(sq_graph *g, const sq_node *node, sq_group *group) {
  return sq_match_claim(g, node, group, match_mish);
}

seqrt_status sq_convert_mish(sq_ctx *ctx, const sq_group *group) {
  return eltwise_group(ctx, group, SQ_MISH, 0.0f, 0.0f);
}

/* x * hardsigmoid(x) with PyTorch's slope 1/6 and offset 1/2 (HardSwish
 * exists from opset 14), or x * relu6(x + 3) / 6. */
static const sq_tnode hardswish_t[] = {{"HardSigmoid", {SQ_TX}},
                                       {"Mul", {SQ_TX, SQ_TN(0)}}};
static const sq_tnode hardswish_relu6[] = {
    {"Add", {SQ_TX, SQ_TV(3.0f)}},
    {"Clip", {SQ_TN(0), SQ_TV(0.0f), SQ_TV(6.0f)}},
    {"Div", {SQ_TN(1), SQ_TV(6.0f)}},
    {"Mul", {SQ_TX, SQ_TN(2)}},
};

static int match_hardswish(sq_graph *g, const sq_node *start, sq_match *m) {
  static const sq_tnode *const t[] = {hardswish_t, hardswish_relu6};
  static const int n[] = {COUNT(hardswish_t), COUNT(hardswish_relu6)};
  int v = sq_template_match_any(g, start, t, n, COUNT(t), m);
  if (v != 0) return v;
  const sq_node *hs = sq_match_node(g, m, 0);
  float alpha = attr_or(hs, "alpha", 0.2f), beta = attr_or(hs, "beta", 0.5f);
  return fabsf(alpha - 1.0f / 6.0f) < 1e-6f && fabsf(beta - 0.5f) < 1e-6f ? 0
                                                                          : -1;
}

bool sq_match_hardswish(sq_graph *g, const sq_node *node, sq_group *group) {
  return sq_match_claim(g, node, group, match_hardswish);
}

seqrt_status sq_convert_hardswish(sq_ctx *ctx, const sq_group *group) {
  return eltwise_group(ctx, group, SQ_HARDSWISH, 0.0f, 0.0f);
}

/* ---- x / (|x| + 1), x - tanh(x), log(sigmoid(x)) ------------------------- */

static const sq_tnode softsign_t[] = {{"Abs", {SQ_TX}},
                                      {"Add", {SQ_TN(0), SQ_TV(1.0f)}},
                                      {"Div", {SQ_TX, SQ_TN(1)}}};

static int match_softsign(sq_graph *g, const sq_node *start, sq_match *m) {
  return sq_template_match(g, start, softsign_t, COUNT(softsign_t), m) ? 0 : -1;
}

bool sq_match_softsign(sq_graph *g, const sq_node *node, sq_group *group) {
  return sq_match_claim(g, node, group, match_softsign);
}

seqrt_status sq_convert_softsign(sq_ctx *ctx, const sq_group *group) {
  return eltwise_group(ctx, group, SQ_SOFTSIGN, 0.0f, 0.0f);
}

static const sq_tnode tanhshrink_t[] = {{"Tanh", {SQ_TX}},
                                        {"Sub", {SQ_TX, SQ_TN(0)}}};

static int match_tanhshrink(sq_graph *g, const sq_node *start, sq_match *m) {
  return sq_template_match(g, start, tanhshrink_t, COUNT(tanhshrink_t), m) ? 0
                                                                           : -1;
}

bool sq_match_tanhshrink(sq_graph *g, const sq_node *node, sq_group *group) {
  return sq_match_claim(g, node, group, match_tanhshrink);
}

seqrt_status sq_convert_tanhshrink(sq_ctx *ctx, const sq_group *group) {
  return eltwise_group(ctx, group, SQ_TANHSHRINK, 0.0f, 0.0f);
}

static const sq_tnode logsigmoid_t[] = {{"Sigmoid", {SQ_TX}},
                                        {"Log", {SQ_TN(0)}}};

static int match_logsigmoid(sq_graph *g, const sq_node *start, sq_match *m) {
  return sq_template_match(g, start, logsigmoid_t, COUNT(logsigmoid_t), m) ? 0
                                                                           : -1;
}

bool sq_match_logsigmoid(sq_graph *g, const sq_node *node, sq_group *group) {
  return sq_match_claim(g, node, group, match_logsigmoid);
}

seqrt_status sq_convert_logsigmoid(sq_ctx *ctx, const sq_group *group) {
  return eltwise_group(ctx, group, SQ_LOGSIGMOID, 0.0f, 0.0f);
}

/* ---- shrinks ------------------------------------------------------------- */

/* where(x > l, x - l, 0) + where(x < -l, x + l, 0) */
static const sq_tnode softshrink_t[] = {
    {"Greater", {SQ_TX, SQ_TK(0)}},
    {"Sub", {SQ_TX, SQ_TK(1)}},
    {"Where", {SQ_TN(0), SQ_TN(1), SQ_TV(0.0f)}},
    {"Less", {SQ_TX, SQ_TK(2)}},
    {"Add", {SQ_TX, SQ_TK(3)}},
    {"Where", {SQ_TN(3), SQ_TN(4), SQ_TV(0.0f)}},
    {"Add", {SQ_TN(2), SQ_TN(5)}},
};

static bool same(float a, float b) { return fabsf(a - b) <= 1e-6f; }

static int match_softshrink(sq_graph *g, const sq_node *start, sq_match *m) {
  if (!sq_template_match(g, start, softshrink_t, COUNT(softshrink_t), m))
    return -1;
  float l[4];
  for (int c = 0; c < 4; c++)
    if (!sq_match_scalar(g, m, c, &l[c])) return -1;
  bool ok =
      l[0] >= 0 && same(l[1], l[0]) && same(l[2], -l[0]) && same(l[3], l[0]);
  return ok ? 0 : -1;
}

bool sq_match_softshrink(sq_graph *g, const sq_node *node, sq_group *group) {
  return sq_match_claim(g, node, group, match_softshrink);
}

seqrt_status sq_convert_softshrink(sq_ctx *ctx, const sq_group *group) {
  sq_match m;
  int v;
  float lambda;
  seqrt_status st = rematch(ctx, group, match_softshrink, &m, &v);
  if (st == SEQRT_OK) sq_match_scalar(ctx->graph, &m, 0, &lambda);
  return st == SEQRT_OK ? eltwise_group(ctx, group, SQ_SOFTSHRINK, lambda, 0)
                        : st;
}

/* where(bool(x > l) or bool(x < -l), x, 0) */
static const sq_tnode hardshrink_cast[] = {
    {"Greater", {SQ_TX, SQ_TK(0)}}, {"Less", {SQ_TX, SQ_TK(1)}},
    {"Cast", {SQ_TN(0)}},           {"Cast", {SQ_TN(1)}},
    {"Or", {SQ_TN(2), SQ_TN(3)}},   {"Where", {SQ_TN(4), SQ_TX, SQ_TV(0.0f)}},
};
static const sq_tnode hardshrink_plain[] = {
    {"Greater", {SQ_TX, SQ_TK(0)}},
    {"Less", {SQ_TX, SQ_TK(1)}},
    {"Or", {SQ_TN(0), SQ_TN(1)}},
    {"Where", {SQ_TN(2), SQ_TX, SQ_TV(0.0f)}},
};

static bool casts_to_bool(sq_graph *g, const sq_match *m, int k) {
  int64_t to = 0;
  return sq_attr_int(sq_match_node(g, m, k), "to", 0, &to) == SEQRT_OK &&
         to == SQ_DT_BOOL;
}

static int match_hardshrink(sq_graph *g, const sq_node *start, sq_match *m) {
  static const sq_tnode *const t[] = {hardshrink_cast, hardshrink_plain};
  static const int n[] = {COUNT(hardshrink_cast), COUNT(hardshrink_plain)};
  int v = sq_template_match_any(g, start, t, n, COUNT(t), m);
  float hi, lo;
  if (v < 0 || !sq_match_scalar(g, m, 0, &hi) ||
      !sq_match_scalar(g, m, 1, &lo) || hi < 0 || !same(lo, -hi))
    return -1;
  if (v == 0 && !(casts_to_bool(g, m, 2) && casts_to_bool(g, m, 3))) return -1;
  return v;
}

bool sq_match_hardshrink(sq_graph *g, const sq_node *node, sq_group *group) {
  return sq_match_claim(g, node, group, match_hardshrink);
}

seqrt_status sq_convert_hardshrink(sq_ctx *ctx, const sq_group *group) {
  sq_match m;
  int v;
  float lambda;
  seqrt_status st = rematch(ctx, group, match_hardshrink, &m, &v);
  if (st == SEQRT_OK) sq_match_scalar(ctx->graph, &m, 0, &lambda);
  return st == SEQRT_OK ? eltwise_group(ctx, group, SQ_HARDSHRINK, lambda, 0)
                        : st;
}

/* ---- Softplus(beta), Threshold ------------------------------------------- */

/* softplus(beta * x) / beta; onnxscript adds PyTorch's threshold as
 * where(beta * x > threshold, x, ...). */
static const sq_tnode softplus_beta_t[] = {
    {"Mul", {SQ_TX, SQ_TK(0)}},
    {"Softplus", {SQ_TN(0)}},
    {"Div", {SQ_TN(1), SQ_TK(1)}},
};
static const sq_tnode softplus_beta_threshold[] = {
    {"Mul", {SQ_TX, SQ_TK(0)}},
    {"Softplus", {SQ_TN(0)}},
    {"Div", {SQ_TN(1), SQ_TK(1)}},
    {"Greater", {SQ_TN(0), SQ_TK(2)}},
    {"Where", {SQ_TN(3), SQ_TX, SQ_TN(2)}},
};
static const sq_tnode softplus_threshold[] = {
    {"Softplus", {SQ_TX}},
    {"Greater", {SQ_TX, SQ_TK(2)}},
    {"Where", {SQ_TN(1), SQ_TX, SQ_TN(0)}},
};

/* Past this threshold, log(1 + e^-t) < 1e-6: Softplus without it. */
#define SOFTPLUS_THRESHOLD_NEGLIGIBLE 14.0f

static int match_softplus_beta(sq_graph *g, const sq_node *start, sq_match *m) {
  static const sq_tnode *const t[] = {softplus_beta_threshold,
                                      softplus_threshold, softplus_beta_t};
  static const int n[] = {COUNT(softplus_beta_threshold),
                          COUNT(softplus_threshold), COUNT(softplus_beta_t)};
  int v = sq_template_match_any(g, start, t, n, COUNT(t), m);
  if (v < 0) return -1;
  float beta = 1.0f, div = 1.0f, threshold;
  if (v != 1 &&
      (!sq_match_scalar(g, m, 0, &beta) || !sq_match_scalar(g, m, 1, &div) ||
       !(beta > 0) || !same(beta, div)))
    return -1;
  if (v != 2 && !sq_match_scalar(g, m, 2, &threshold)) return -1;
  return v;
}

bool sq_match_softplus_beta(sq_graph *g, const sq_node *node, sq_group *group) {
  return sq_match_claim(g, node, group, match_softplus_beta);
}

seqrt_status sq_convert_softplus_beta(sq_ctx *ctx, const sq_group *group) {
  sq_match m;
  int v;
  float beta = 1.0f, threshold = 0.0f;
  seqrt_status st = rematch(ctx, group, match_softplus_beta, &m, &v);
  if (st != SEQRT_OK) return st;
  if (v != 1) sq_match_scalar(ctx->graph, &m, 0, &beta);
  if (v != 2) sq_match_scalar(ctx->graph, &m, 2, &threshold);
  if (v != 2 && threshold < SOFTPLUS_THRESHOLD_NEGLIGIBLE) {
    const sq_node *exit = &ctx->graph->nodes[group->nodes[group->n_nodes - 1]];
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s': Softplus with threshold=%g (module '%s'); "
                    "seqrt's Softplus follows ONNX, which has no threshold, "
                    "and differs from it by more than 1e-6 below 14",
                    exit->name, threshold, exit->module);
  }
  return eltwise_group(ctx, group, SQ_SOFTPLUS, beta, 0.0f);
}

/* x > t ? x : v, as where(x <= t, v, x) or where(x > t, x, v) */
static const sq_tnode threshold_le[] = {
    {"LessOrEqual", {SQ_TX, SQ_TK(0)}},
    {"Where", {SQ_TN(0), SQ_TK(1), SQ_TX}},
};
static const sq_tnode threshold_gt[] = {
    {"Greater", {SQ_TX, SQ_TK(0)}},
    {"Where", {SQ_TN(0), SQ_TX, SQ_TK(1)}},
};

static int match_threshold(sq_graph *g, const sq_node *start, sq_match *m) {
  static const sq_tnode *const t[] = {threshold_le, threshold_gt};
  static const int n[] = {COUNT(threshold_le), COUNT(threshold_gt)};
  int v = sq_template_match_any(g, start, t, n, COUNT(t), m);
  float a, b;
  if (v < 0 || !sq_match_scalar(g, m, 0, &a) || !sq_match_scalar(g, m, 1, &b))
    return -1;
  return v;
}

bool sq_match_threshold(sq_graph *g, const sq_node *node, sq_group *group) {
  return sq_match_claim(g, node, group, match_threshold);
}

seqrt_status sq_convert_threshold(sq_ctx *ctx, const sq_group *group) {
  sq_match m;
  int v;
  float threshold = 0.0f, value = 0.0f;
  seqrt_status st = rematch(ctx, group, match_threshold, &m, &v);
  if (st != SEQRT_OK) return st;
  sq_match_scalar(ctx->graph, &m, 0, &threshold);
  sq_match_scalar(ctx->graph, &m, 1, &value);
  return eltwise_group(ctx, group, SQ_THRESHOLD, threshold, value);
}

/* ---- GLU: a * sigmoid(b) for the halves a, b of one axis ----------------- */

static const sq_tnode glu_t[] = {
    {"Split", {SQ_TX}},
    {"Sigmoid", {SQ_TNO(0, 1)}},
    {"Mul", {SQ_TNO(0, 0), SQ_TN(1)}},
};
static const sq_tnode glu_split_input[] = {
    {"Split", {SQ_TX, SQ_TK(0)}},
    {"Sigmoid", {SQ_TNO(0, 1)}},
    {"Mul", {SQ_TNO(0, 0), SQ_TN(1)}},
};

/* Two outputs of equal size: no split list (even split), a list of two
 * equal sizes, or num_outputs=2 (opset 18). */
static bool splits_in_halves(sq_graph *g, const sq_node *split, int list) {
  if (split->n_outputs != 2) return false;
  const int64_t *sizes = NULL;
  int n = 0;
  if (sq_attr_ints(split, "split", &sizes, &n) != SEQRT_OK) return false;
  const sq_value *v = NULL;
  if (list >= 0) {
    if (sq_graph_value(g, list, &v) != SEQRT_OK || !v->i ||
        sq_value_has_batch(v))
      return false;
    sizes = v->i;
    n = (int)v->count;
  }
  int64_t outputs = 2;
  if (sq_attr_int(split, "num_outputs", 2, &outputs) != SEQRT_OK ||
      outputs != 2)
    return false;
  return n == 0 || (n == 2 && sizes[0] == sizes[1] && sizes[0] > 0);
}

static int match_glu(sq_graph *g, const sq_node *start, sq_match *m) {
  static const sq_tnode *const t[] = {glu_t, glu_split_input};
  static const int n[] = {COUNT(glu_t), COUNT(glu_split_input)};
  int v = sq_template_match_any(g, start, t, n, COUNT(t), m);
  if (v < 0 || !splits_in_halves(g, sq_match_node(g, m, 0), m->captures[0]))
    return -1;
  return v;
}

bool sq_match_glu(sq_graph *g, const sq_node *node, sq_group *group) {
  return sq_match_claim(g, node, group, match_glu);
}

seqrt_status sq_convert_glu(sq_ctx *ctx, const sq_group *group) {
  sq_match m;
  int v, axis;
  int64_t axis64;
  seqrt_status st = rematch(ctx, group, match_glu, &m, &v);
  const sq_node *split =
      st == SEQRT_OK ? sq_match_node(ctx->graph, &m, 0) : NULL;
  if (st == SEQRT_OK) st = sq_attr_int(split, "axis", 0, &axis64);
  if (st == SEQRT_OK)
    st = sq_normalize_axis(split, "axis", axis64, ctx->shape.rank, &axis);
  if (st != SEQRT_OK) return st;
  if (axis == 0 || ctx->shape.dims[axis] % 2 != 0)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Split): GLU over axis %d of %s needs a "
                    "non-batch axis of even size",
                    split->name, axis, sq_fmt_shape(&ctx->shape));
  sq_layer *layer;
  if ((st = sq_group_layer(ctx, group, SQ_GLU, &layer)) != SEQRT_OK) return st;
  layer->axis = axis;
  sq_shape out = ctx->shape;
  out.dims[axis] /= 2;
  return sq_layer_finish(ctx, layer, &out);
}

/* ---- Softmin, and softmax over a non-last axis before opset 13 ------------
 */

static const sq_tnode softmin_t[] = {{"Neg", {SQ_TX}}, {"Softmax", {SQ_TN(0)}}};
static const sq_tnode softmin_transposed[] = {
    {"Neg", {SQ_TX}},
    {"Transpose", {SQ_TN(0)}},
    {"Softmax", {SQ_TN(1)}},
    {"Transpose", {SQ_TN(2)}},
};
static const sq_tnode softmax_transposed[] = {
    {"Transpose", {SQ_TX}},
    {"Softmax", {SQ_TN(0)}},
    {"Transpose", {SQ_TN(1)}},
};
static const sq_tnode logsoftmax_transposed[] = {
    {"Transpose", {SQ_TX}},
    {"LogSoftmax", {SQ_TN(0)}},
    {"Transpose", {SQ_TN(1)}},
};

static bool read_perm(const sq_node *node, int64_t *perm, int *n) {
  const int64_t *p;
  if (sq_attr_ints(node, "perm", &p, n) != SEQRT_OK || *n < 1 ||
      *n > SQ_MAX_RANK)
    return false;
  bool used[SQ_MAX_RANK] = {false};
  for (int k = 0; k < *n; k++) {
    if (p[k] < 0 || p[k] >= *n || used[p[k]]) return false;
    used[p[k]] = true;
    perm[k] = p[k];
  }
  return true;
}

/* Transpose(perm) → softmax over the last axis → Transpose(perm^-1): a
 * softmax over axis perm[last] of the input. -1 if the shape is not that. */
static int transposed_axis(int64_t opset, const sq_node *first,
                           const sq_node *softmax, const sq_node *second) {
  int64_t p[SQ_MAX_RANK], q[SQ_MAX_RANK], axis = -1;
  int n, m;
  if (!read_perm(first, p, &n) || !read_perm(second, q, &m) || n != m)
    return -1;
  for (int k = 0; k < n; k++)
    if (q[p[k]] != k) return -1;
  if (sq_attr_int(softmax, "axis", opset < 13 ? 1 : -1, &axis) != SEQRT_OK)
    return -1;
  if (axis != -1 && axis != n - 1) return -1;
  return (int)p[n - 1];
}

static int match_softmin(sq_graph *g, const sq_node *start, sq_match *m) {
  static const sq_tnode *const t[] = {softmin_transposed, softmin_t};
  static const int n[] = {COUNT(softmin_transposed), COUNT(softmin_t)};
  int v = sq_template_match_any(g, start, t, n, COUNT(t), m);
  if (v == 0 &&
      transposed_axis(g->opset, sq_match_node(g, m, 1), sq_match_node(g, m, 2),
                      sq_match_node(g, m, 3)) < 0)
    return -1;
  return v;
}

bool sq_match_softmin(sq_graph *g, const sq_node *node, sq_group *group) {
  return sq_match_claim(g, node, group, match_softmin);
}

/* Opset semantics of a Softmax node's axis over ctx->shape. */
static seqrt_status softmax_axis(sq_ctx *ctx, const sq_node *node, int *axis,
                                 bool *coerce) {
  bool legacy = ctx->graph->opset < 13;
  int64_t a;
  seqrt_status st = sq_attr_int(node, "axis", legacy ? 1 : -1, &a);
  if (st == SEQRT_OK)
    st = sq_normalize_axis(node, "axis", a, ctx->shape.rank, axis);
  *coerce = legacy && *axis != ctx->shape.rank - 1;
  return st;
}

seqrt_status sq_convert_softmin(sq_ctx *ctx, const sq_group *group) {
  sq_match m;
  int v, axis;
  bool coerce = false;
  seqrt_status st = rematch(ctx, group, match_softmin, &m, &v);
  if (st != SEQRT_OK) return st;
  if (v == 0)
    axis = transposed_axis(ctx->graph->opset, sq_match_node(ctx->graph, &m, 1),
                           sq_match_node(ctx->graph, &m, 2),
                           sq_match_node(ctx->graph, &m, 3));
  else
    st = softmax_axis(ctx, sq_match_node(ctx->graph, &m, 1), &axis, &coerce);
  if (st != SEQRT_OK) return st;
  return sq_softmax_layer(ctx, group, NULL, SQ_SOFTMIN, axis, coerce);
}

static int match_transposed_softmax(sq_graph *g, const sq_node *start,
                                    sq_match *m) {
  static const sq_tnode *const t[] = {softmax_transposed,
                                      logsoftmax_transposed};
  static const int n[] = {COUNT(softmax_transposed),
                          COUNT(logsoftmax_transposed)};
  int v = sq_template_match_any(g, start, t, n, COUNT(t), m);
  if (v >= 0 &&
      transposed_axis(g->opset, sq_match_node(g, m, 0), sq_match_node(g, m, 1),
                      sq_match_node(g, m, 2)) < 0)
    return -1;
  return v;
}

bool sq_match_transposed_softmax(sq_graph *g, const sq_node *node,
                                 sq_group *group) {
  return sq_match_claim(g, node, group, match_transposed_softmax);
}

seqrt_status sq_convert_transposed_softmax(sq_ctx *ctx, const sq_group *group) {
  sq_match m;
  int v;
  seqrt_status st = rematch(ctx, group, match_transposed_softmax, &m, &v);
  if (st != SEQRT_OK) return st;
  int axis = transposed_axis(
      ctx->graph->opset, sq_match_node(ctx->graph, &m, 0),
      sq_match_node(ctx->graph, &m, 1), sq_match_node(ctx->graph, &m, 2));
  if (axis >= ctx->shape.rank)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (Transpose): perm does not fit the input %s",
                    sq_match_node(ctx->graph, &m, 0)->name,
                    sq_fmt_shape(&ctx->shape));
  return sq_softmax_layer(ctx, group, NULL, v == 0 ? SQ_SOFTMAX : SQ_LOGSOFTMAX,
                          axis, false);
}
