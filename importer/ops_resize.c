/* Resampling and layout shuffles: Upsample (opsets 7-9), Resize (10+, with
 * the opset 18 axes / antialias / keep_aspect_ratio_policy attributes) as
 * UPSAMPLE layers; DepthToSpace (CRD) as PixelShuffle; and torch's
 * Reshape → Transpose → Reshape exports of PixelShuffle (opset 9),
 * PixelUnshuffle and channel shuffles. */
#include <math.h>
#include <string.h>

#include "ops.h"

/* ---- Resize / Upsample --------------------------------------------------- */

typedef struct resize_spec {
  sq_resize_mode mode;
  sq_resize_coord coord;
  sq_resize_nearest nearest;
} resize_spec;

static seqrt_status pick(const sq_node *node, const char *attr, const char *def,
                         const char *const *names, int n, int *out) {
  char text[40];
  seqrt_status st = sq_attr_string(node, attr, def, text, sizeof text);
  if (st != SEQRT_OK) return st;
  for (int k = 0; k < n; k++)
    if (strcmp(text, names[k]) == 0) {
      *out = k;
      return SEQRT_OK;
    }
  return sq_error(SEQRT_ERR_UNSUPPORTED,
                  "node '%s' (%s) has %s='%s', which is not supported",
                  node->name, node->op, attr, text);
}

static seqrt_status resize_modes(sq_ctx *ctx, const sq_node *node,
                                 resize_spec *spec) {
  static const char *const modes[] = {"nearest", "linear", "bilinear"};
  static const char *const coords[] = {"half_pixel", "pytorch_half_pixel",
                                       "align_corners", "asymmetric"};
  static const char *const nearest[] = {"round_prefer_floor",
                                        "round_prefer_ceil", "floor", "ceil"};
  int mode = 0, coord = SQ_COORD_ASYMMETRIC, rounding = SQ_NEAREST_FLOOR;
  bool modern = sq_node_is(node, "Resize") && ctx->graph->opset >= 11;
  seqrt_status st = pick(node, "mode", "nearest", modes, 3, &mode);
  if (st == SEQRT_OK && modern)
    st = pick(node, "coordinate_transformation_mode", "half_pixel", coords, 4,
              &coord);
  if (st == SEQRT_OK && modern)
    st =
        pick(node, "nearest_mode", "round_prefer_floor", nearest, 4, &rounding);
  if (st != SEQRT_OK) return st;
  spec->mode = mode == 0 ? SQ_RESIZE_NEAREST : SQ_RESIZE_LINEAR;
  spec->coord = (sq_resize_coord)coord;
  spec->nearest = (sq_resize_nearest)rounding;
  return SEQRT_OK;
}

/* Scales or sizes given for `axes` only (opset 18), spread over all dims;
 * unlisted dims keep scale 1. `sizes` entries may be the symbolic batch. */
typedef struct resize_target {
  double scale[SQ_MAX_RANK];
  int64_t size[SQ_MAX_RANK]; /* -1: from the scale */
} resize_target;

static seqrt_status read_axes_list(sq_ctx *ctx, const sq_node *node, int rank,
                                   int *axes, int *n) {
  const int64_t *list;
  seqrt_status st = sq_attr_ints(node, "axes", &list, n);
  if (st != SEQRT_OK) return st;
  if (*n == 0) {
    *n = rank;
    for (int k = 0; k < rank; k++) axes[k] = k;
    return SEQRT_OK;
  }
  if (*n > rank)
    return sq_error(SEQRT_ERR_INVALID_MODEL, "node '%s' (Resize): %d axes",
                    node->name, *n);
  for (int k = 0; k < *n; k++)
    if ((st = sq_normalize_axis(node, "axes", list[k], rank, &axes[k])))
      return st;
  (void)ctx;
  return SEQRT_OK;
}

static seqrt_status target_values(sq_ctx *ctx, const sq_node *node,
                                  const sq_value *scales, const sq_value *sizes,
                                  resize_target *t) {
  int rank = ctx->shape.rank, axes[SQ_MAX_RANK], n;
  seqrt_status st = read_axes_list(ctx, node, rank, axes, &n);
  if (st != SEQRT_OK) return st;
  const sq_value *v = sizes ? sizes : scales;
  if (!v || v->count != n)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (%s) gives %lld %s for a rank-%d input",
                    node->name, node->op, v ? (long long)v->count : 0LL,
                    sizes ? "sizes" : "scales", rank);
  for (int k = 0; k < rank; k++) {
    t->scale[k] = 1.0;
    t->size[k] = -1;
  }
  for (int k = 0; k < n; k++) {
    int a = axes[k];
    if (!sizes) {
      t->scale[a] = sq_value_float(v, k);
      continue;
    }
    bool batch = v->batch && v->batch[k];
    t->size[a] = batch ? ctx->shape.dims[a] : v->i[k];
  }
  return SEQRT_OK;
}

/* scales / sizes: an attribute (Upsample 7), or inputs (Upsample 9: X,
 * scales; Resize 10: X, scales; Resize 11+: X, roi, scales, sizes). */
static seqrt_status resize_target_read(sq_ctx *ctx, const sq_node *node,
                                       resize_target *t) {
  const sq_value *scales = NULL, *sizes = NULL;
  bool upsample = sq_node_is(node, "Upsample");
  seqrt_status st;
  if (upsample && ctx->graph->opset < 9) {
    const float *list;
    int n;
    if ((st = sq_attr_floats(node, "scales", &list, &n)) != SEQRT_OK) return st;
    if (n != ctx->shape.rank)
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "node '%s' (Upsample) has %d scales for %s", node->name,
                      n, sq_fmt_shape(&ctx->shape));
    for (int k = 0; k < n; k++) {
      t->scale[k] = list[k];
      t->size[k] = -1;
    }
    return SEQRT_OK;
  }
  int scales_slot = upsample || ctx->graph->opset < 11 ? 1 : 2;
  st = sq_const_input(ctx, node, scales_slot, false, &scales);
  if (st == SEQRT_OK && scales_slot == 2)
    st = sq_const_input(ctx, node, 3, false, &sizes);
  if (st != SEQRT_OK) return st;
  if (scales && scales->count == 0) scales = NULL; /* opset 11's empty [] */
  if (sizes && sizes->count == 0) sizes = NULL;
  if ((scales && !scales->f) || (sizes && !sizes->i) || (scales && sizes) ||
      (!scales && !sizes))
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (%s) needs either float scales or integer "
                    "sizes",
                    node->name, node->op);
  return target_values(ctx, node, scales, sizes, t);
}

static seqrt_status check_resize_attrs(const sq_node *node,
                                       const resize_target *t, int rank) {
  int64_t antialias = 0;
  char policy[32];
  seqrt_status st = sq_attr_int(node, "antialias", 0, &antialias);
  if (st == SEQRT_OK)
    st = sq_attr_string(node, "keep_aspect_ratio_policy", "stretch", policy,
                        sizeof policy);
  if (st != SEQRT_OK) return st;
  bool sizes = false, shrinks = false;
  for (int k = 0; k < rank; k++) {
    sizes |= t->size[k] >= 0;
    shrinks |= t->size[k] < 0 && t->scale[k] < 1.0;
  }
  if (sizes && strcmp(policy, "stretch") != 0)
    return sq_error(
        SEQRT_ERR_UNSUPPORTED,
        "node '%s' (Resize) has keep_aspect_ratio_policy='%s', which "
        "is not supported ('stretch' is)",
        node->name, policy);
  if (antialias && (shrinks || sizes))
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Resize) downsamples with antialias=1, which is "
                    "not supported",
                    node->name);
  return SEQRT_OK;
}

static seqrt_status resize_layer(sq_ctx *ctx, const sq_node *node) {
  resize_spec spec;
  resize_target t;
  const sq_shape in = ctx->shape;
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK) st = resize_modes(ctx, node, &spec);
  if (st == SEQRT_OK) st = resize_target_read(ctx, node, &t);
  if (st == SEQRT_OK) st = check_resize_attrs(node, &t, in.rank);
  if (st != SEQRT_OK) return st;
  int spatial = in.rank - 2;
  if (spatial < 1 || spatial > SQ_MAX_SPATIAL)
    return sq_error(
        SEQRT_ERR_UNSUPPORTED,
        "node '%s' (%s) resizes a rank-%d input %s, which is not "
        "supported; seqrt resizes the 1 to 3 spatial dims of [N, C, "
        "...]",
        node->name, node->op, in.rank, sq_fmt_shape(&in));
  sq_shape out = in;
  for (int k = 0; k < in.rank; k++) {
    double size = t.size[k] >= 0 ? (double)t.size[k]
                                 : floor((double)in.dims[k] * t.scale[k]);
    bool keeps =
        k < 2 && (t.size[k] >= 0 ? t.size[k] == in.dims[k] : t.scale[k] == 1.0);
    if (k < 2 && !keeps)
      return sq_error(SEQRT_ERR_UNSUPPORTED,
                      "node '%s' (%s) resizes dim %d (%s), which is not "
                      "supported; seqrt resizes only the spatial dims",
                      node->name, node->op, k, k ? "channels" : "batch");
    if (k >= 2 && !(size >= 1 && size <= (double)SQ_MAX_ELEMENTS))
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "node '%s' (%s): output size %g of dim %d", node->name,
                      node->op, size, k);
    if (k >= 2) out.dims[k] = (int64_t)size;
  }
  sq_layer *layer;
  if ((st = sq_layer_add(ctx, SQ_UPSAMPLE, node, &layer)) != SEQRT_OK)
    return st;
  layer->spatial = spatial;
  layer->resize_mode = spec.mode;
  layer->resize_coord = spec.coord;
  layer->resize_nearest = spec.nearest;
  for (int k = 0; k < spatial; k++)
    layer->scales[k] = t.size[2 + k] >= 0
                           ? (float)out.dims[2 + k] / (float)in.dims[2 + k]
                           : (float)t.scale[2 + k];
  return sq_layer_finish(ctx, layer, &out);
}

seqrt_status sq_op_resize(sq_ctx *ctx, const sq_node *node) {
  return resize_layer(ctx, node);
}

seqrt_status sq_op_upsample(sq_ctx *ctx, const sq_node *node) {
  return resize_layer(ctx, node);
}

/* ---- DepthToSpace / SpaceToDepth ----------------------------------------- */

static seqrt_status shuffle_layer(sq_ctx *ctx, const sq_group *group,
                                  const sq_node *node, sq_kind kind,
                                  int64_t block, const sq_shape *out) {
  sq_layer *layer;
  seqrt_status st = group ? sq_group_layer(ctx, group, kind, &layer)
                          : sq_layer_add(ctx, kind, node, &layer);
  if (st != SEQRT_OK) return st;
  layer->block = block;
  return sq_layer_finish(ctx, layer, out);
}

static seqrt_status block_size(sq_ctx *ctx, const sq_node *node,
                               int64_t *block) {
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK) st = sq_attr_int(node, "blocksize", 0, block);
  if (st != SEQRT_OK) return st;
  if (ctx->shape.rank != 4 || *block < 1 || *block > 65536)
    return sq_error(
        SEQRT_ERR_UNSUPPORTED,
        "node '%s' (%s) with blocksize %lld on %s is not supported; "
        "seqrt needs a 4-D input and a positive blocksize",
        node->name, node->op, (long long)*block, sq_fmt_shape(&ctx->shape));
  return SEQRT_OK;
}

/* PixelShuffle is DepthToSpace in CRD order; DCR is the same order when a
 * single output channel remains. */
seqrt_status sq_op_depthtospace(sq_ctx *ctx, const sq_node *node) {
  int64_t r;
  char mode[8];
  seqrt_status st = block_size(ctx, node, &r);
  if (st == SEQRT_OK) st = sq_attr_string(node, "mode", "DCR", mode, 8);
  if (st != SEQRT_OK) return st;
  sq_shape out = ctx->shape;
  if (out.dims[1] % (r * r) != 0)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (DepthToSpace): %lld channels are not a "
                    "multiple of blocksize^2",
                    node->name, (long long)out.dims[1]);
  out.dims[1] /= r * r;
  out.dims[2] *= r;
  out.dims[3] *= r;
  if (strcmp(mode, "CRD") != 0 &&
      !(strcmp(mode, "DCR") == 0 && out.dims[1] == 1))
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (DepthToSpace) in mode %s with %lld output "
                    "channels is not supported; seqrt runs PixelShuffle's CRD "
                    "order",
                    node->name, mode, (long long)out.dims[1]);
  return shuffle_layer(ctx, NULL, node, SQ_PIXELSHUFFLE, r, &out);
}

/* ONNX's SpaceToDepth orders channels (block row, block col, channel);
 * PixelUnshuffle (channel, block row, block col): the same for 1 channel. */
seqrt_status sq_op_spacetodepth(sq_ctx *ctx, const sq_node *node) {
  int64_t r;
  seqrt_status st = block_size(ctx, node, &r);
  if (st != SEQRT_OK) return st;
  sq_shape out = ctx->shape;
  if (out.dims[1] != 1 || out.dims[2] % r || out.dims[3] % r)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (SpaceToDepth) on %s is not supported: its "
                    "channel order is PixelUnshuffle's only for one input "
                    "channel and sizes divisible by the blocksize",
                    node->name, sq_fmt_shape(&out));
  out.dims[1] = r * r;
  out.dims[2] /= r;
  out.dims[3] /= r;
  return shuffle_layer(ctx, NULL, node, SQ_PIXELUNSHUFFLE, r, &out);
}

/* ---- Reshape → Transpose → Reshape shuffles ------------------------------ */

static const sq_tnode shuffle_t[] = {
    {"Reshape", {SQ_TX, SQ_TS(0)}},
    {"Transpose", {SQ_TN(0)}},
    {"Reshape", {SQ_TN(1), SQ_TS(1)}},
};

enum { PERM_NONE = -1, PERM_UNSHUFFLE, PERM_SHUFFLE, PERM_CHANNELS };

static int perm_kind(const sq_node *transpose) {
  const int64_t *p;
  int n;
  if (sq_attr_ints(transpose, "perm", &p, &n) != SEQRT_OK) return PERM_NONE;
  static const int64_t unshuffle[] = {0, 1, 3, 5, 2, 4};
  static const int64_t shuffle[] = {0, 1, 4, 2, 5, 3};
  if (n == 6 && memcmp(p, unshuffle, sizeof unshuffle) == 0)
    return PERM_UNSHUFFLE;
  if (n == 6 && memcmp(p, shuffle, sizeof shuffle) == 0) return PERM_SHUFFLE;
  bool channels = n >= 3 && p[0] == 0 && p[1] == 2 && p[2] == 1;
  for (int k = 3; channels && k < n; k++) channels = p[k] == k;
  return channels ? PERM_CHANNELS : PERM_NONE;
}

static int match_shuffle(sq_graph *g, const sq_node *start, sq_match *m) {
  if (!sq_template_match(g, start, shuffle_t, 3, m)) return -1;
  return perm_kind(sq_match_node(g, m, 1));
}

bool sq_match_shuffle(sq_graph *g, const sq_node *node, sq_group *group) {
  return sq_match_claim(g, node, group, match_shuffle);
}

static bool dims_are(const sq_shape *s, int rank, const int64_t *dims) {
  if (s->rank != rank) return false;
  for (int k = 0; k < rank; k++)
    if (s->dims[k] != dims[k]) return false;
  return true;
}

/* The block (r or groups) if in → mid → out is the `kind` shuffle, else 0. */
static int64_t shuffle_block(int kind, const sq_shape *in, const sq_shape *mid,
                             const sq_shape *out) {
  const int64_t *d = in->dims, *m = mid->dims;
  if (kind == PERM_CHANNELS) {
    int64_t g = mid->rank == in->rank + 1 ? m[1] : 0;
    if (g < 1 || d[1] % g) return 0;
    int64_t want[SQ_MAX_RANK] = {d[0], g, d[1] / g};
    for (int k = 2; k < in->rank; k++) want[k + 1] = d[k];
    return dims_are(mid, in->rank + 1, want) && dims_are(out, in->rank, d) ? g
                                                                           : 0;
  }
  if (in->rank != 4 || mid->rank != 6) return 0;
  if (kind == PERM_UNSHUFFLE) {
    int64_t r = m[3];
    if (r < 1 || d[2] % r || d[3] % r) return 0;
    int64_t want_mid[6] = {d[0], d[1], d[2] / r, r, d[3] / r, r};
    int64_t want_out[4] = {d[0], d[1] * r * r, d[2] / r, d[3] / r};
    return dims_are(mid, 6, want_mid) && dims_are(out, 4, want_out) ? r : 0;
  }
  int64_t r = m[2];
  if (r < 1 || d[1] % (r * r)) return 0;
  int64_t want_mid[6] = {d[0], d[1] / (r * r), r, r, d[2], d[3]};
  int64_t want_out[4] = {d[0], d[1] / (r * r), d[2] * r, d[3] * r};
  return dims_are(mid, 6, want_mid) && dims_are(out, 4, want_out) ? r : 0;
}

seqrt_status sq_convert_shuffle(sq_ctx *ctx, const sq_group *group) {
  sq_match m;
  const sq_node *start = &ctx->graph->nodes[group->nodes[0]];
  int kind = match_shuffle(ctx->graph, start, &m);
  sq_shape mid = {0}, out; /* copied below even when the match failed */
  const sq_node *first = sq_match_node(ctx->graph, &m, 0);
  const sq_node *last = sq_match_node(ctx->graph, &m, 2);
  seqrt_status st =
      kind < 0 ? sq_error(SEQRT_ERR_INVALID_MODEL,
                          "node '%s': shuffle no longer matches", start->name)
               : sq_reshape_node(ctx, first, &ctx->shape, &mid);
  sq_shape transposed = mid;
  if (st == SEQRT_OK) {
    const int64_t *p;
    int n;
    sq_attr_ints(sq_match_node(ctx->graph, &m, 1), "perm", &p, &n);
    for (int k = 0; k < n && n == mid.rank; k++)
      transposed.dims[k] = mid.dims[p[k]];
    st = sq_reshape_node(ctx, last, &transposed, &out);
  }
  if (st != SEQRT_OK) return st;
  int64_t block = shuffle_block(kind, &ctx->shape, &mid, &out);
  if (!block)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "nodes '%s', '%s' and '%s' (Reshape, Transpose, Reshape) "
                    "turn %s into %s through %s, which is not a pixel "
                    "shuffle, pixel unshuffle or channel shuffle",
                    first->name, sq_match_node(ctx->graph, &m, 1)->name,
                    last->name, sq_fmt_shape(&ctx->shape), sq_fmt_shape(&out),
                    sq_fmt_shape(&mid));
  static const sq_kind kinds[] = {SQ_PIXELUNSHUFFLE, SQ_PIXELSHUFFLE,
                                  SQ_CHANNELSHUFFLE};
  return shuffle_layer(ctx, group, NULL, kinds[kind], block, &out);
}

/* ---- Transpose ------------------------------------------------------------
 * x.permute(0, 2, 1) / x.transpose(1, 2): a permutation of the dims after
 * the batch, run like the shuffles; the identity is removed. */

seqrt_status sq_op_transpose(sq_ctx *ctx, const sq_node *node) {
  const sq_shape in = ctx->shape;
  const int64_t *attr;
  int n;
  seqrt_status st = sq_require_activation(ctx, node, 0);
  if (st == SEQRT_OK) st = sq_attr_ints(node, "perm", &attr, &n);
  if (st != SEQRT_OK) return st;
  int64_t perm[SQ_MAX_RANK];
  bool seen[SQ_MAX_RANK] = {false}, valid = n == 0 || n == in.rank,
       identity = true;
  for (int k = 0; valid && k < in.rank; k++) {
    perm[k] = n ? attr[k] : in.rank - 1 - k; /* no perm: reverse the dims */
    valid = perm[k] >= 0 && perm[k] < in.rank && !seen[perm[k]];
    if (valid) seen[perm[k]] = true;
    identity = identity && perm[k] == k;
  }
  if (!valid)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "node '%s' (Transpose): perm %s is not a permutation of "
                    "the %d dims of %s",
                    node->name, sq_fmt_dims(n, attr), in.rank,
                    sq_fmt_shape(&in));
  if (perm[0] != 0)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "node '%s' (Transpose) moves the batch dim (perm %s), "
                    "which is not supported: seqrt keeps the batch first",
                    node->name, sq_fmt_dims(in.rank, perm));
  if (identity) return sq_node_removed(ctx, node);
  sq_layer *layer;
  if ((st = sq_layer_add(ctx, SQ_TRANSPOSE, node, &layer)) != SEQRT_OK)
    return st;
  sq_shape out = in;
  for (int k = 0; k < in.rank; k++) {
    layer->perm[k] = (int)perm[k];
    out.dims[k] = in.dims[perm[k]];
  }
  return sq_layer_finish(ctx, layer, &out);
}
