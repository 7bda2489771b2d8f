/* RESIZE (Upsample): nearest / linear over 1 to 3 spatial dims with ONNX
 * Resize's coordinate transforms and nearest modes. oneDNN's resampling
 * maps output o to input (o + 0.5) * in / out - 0.5 (rounded for nearest,
 * clamped and interpolated for linear); where that gives exactly what the
 * layer asks for it runs on any layout, otherwise a C kernel on plain data
 * reads precomputed per-dim source indices and weights. */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

/* Output o of a dim reads in[lo] * (1 - w) + in[hi] * w. */
typedef struct resize_tap {
  int64_t lo, hi;
  float w;
} resize_tap;

typedef struct resize_params {
  int64_t planes;        /* N * C */
  int64_t in[3], out[3]; /* spatial dims, front-filled with 1 */
  const resize_tap *taps[3];
  bool linear;
  resize_tap storage[];
} resize_params;

/* ONNX's x_original for output index o. */
static double source_coord(const sq_layer *layer, int dim, int64_t o,
                           int64_t in, int64_t out) {
  double scale = layer->scales[dim] > 0.0f ? (double)layer->scales[dim]
                                           : (double)out / (double)in;
  switch (layer->resize_coord) {
  case SQ_COORD_PYTORCH_HALF_PIXEL:
    return out > 1 ? ((double)o + 0.5) / scale - 0.5 : 0.0;
  case SQ_COORD_ALIGN_CORNERS:
    return out > 1 ? (double)o * (double)(in - 1) / (double)(out - 1) : 0.0;
  case SQ_COORD_ASYMMETRIC: return (double)o / scale;
  default: return ((double)o + 0.5) / scale - 0.5; /* half_pixel */
  }
}

static int64_t nearest_index(sq_resize_nearest mode, double x) {
  double below = floor(x);
  bool tie = x - below == 0.5;
  switch (mode) {
  case SQ_NEAREST_FLOOR: return (int64_t)below;
  case SQ_NEAREST_CEIL: return (int64_t)ceil(x);
  case SQ_NEAREST_ROUND_PREFER_CEIL:
    return tie ? (int64_t)below + 1 : (int64_t)floor(x + 0.5);
  default: return tie ? (int64_t)below : (int64_t)floor(x + 0.5);
  }
}

static int64_t clamp_index(int64_t i, int64_t in) {
  return i < 0 ? 0 : i >= in ? in - 1 : i;
}

static resize_tap make_tap(const sq_layer *layer, int dim, int64_t o,
                           int64_t in, int64_t out) {
  double x = source_coord(layer, dim, o, in, out);
  if (layer->resize_mode == SQ_RESIZE_NEAREST) {
    int64_t i = clamp_index(nearest_index(layer->resize_nearest, x), in);
    return (resize_tap){i, i, 0.0f};
  }
  x = x < 0.0 ? 0.0 : x > (double)(in - 1) ? (double)(in - 1) : x;
  int64_t lo = (int64_t)floor(x);
  int64_t hi = lo + 1 < in ? lo + 1 : lo;
  return (resize_tap){lo, hi, (float)(x - (double)lo)};
}

/* ---- oneDNN or kernel ---- */

/* Whether oneDNN's nearest index rounds clearly to the layer's own. */
static bool onednn_nearest_matches(const sq_layer *layer, int dim, int64_t in,
                                   int64_t out) {
  for (int64_t o = 0; o < out; o++) {
    double v = ((double)o + 0.5) * (double)in / (double)out - 0.5;
    double frac = v - floor(v);
    if (fabs(frac - 0.5) < 0.01) return false; /* float rounding decides */
    if (clamp_index((int64_t)floor(v + 0.5), in) !=
        make_tap(layer, dim, o, in, out).lo)
      return false;
  }
  return true;
}

static bool onednn_linear_matches(const sq_layer *layer, int dim, int64_t in,
                                  int64_t out) {
  double exact = (double)out / (double)in, scale = layer->scales[dim];
  bool scale_ok = scale == 0.0 || fabs(scale - exact) <= 1e-6 * exact;
  if (layer->resize_coord == SQ_COORD_HALF_PIXEL) return scale_ok;
  return layer->resize_coord == SQ_COORD_PYTORCH_HALF_PIXEL && out > 1 &&
         scale_ok;
}

static bool onednn_matches(const sq_layer *layer, const dnnl_dims_t in,
                           const dnnl_dims_t out) {
  for (int d = 0; d < layer->in.rank - 2; d++) {
    bool same = layer->resize_mode == SQ_RESIZE_NEAREST
                    ? onednn_nearest_matches(layer, d, in[2 + d], out[2 + d])
                    : onednn_linear_matches(layer, d, in[2 + d], out[2 + d]);
    if (!same) return false;
  }
  return true;
}

/* ---- the kernel ---- */

/* One output row (along the last dim) of one plane. */
static void resize_row(const resize_params *p, const float *x, int64_t od,
                       int64_t oh, float *row) {
  const resize_tap *td = &p->taps[0][od], *th = &p->taps[1][oh];
  const resize_tap *tw = p->taps[2];
  int64_t plane_rows = p->in[1];
  if (!p->linear) {
    const float *in = x + (td->lo * plane_rows + th->lo) * p->in[2];
    for (int64_t ow = 0; ow < p->out[2]; ow++) row[ow] = in[tw[ow].lo];
    return;
  }
  for (int64_t ow = 0; ow < p->out[2]; ow++) row[ow] = 0.0f;
  for (int a = 0; a < 2; a++)
    for (int c = 0; c < 2; c++) {
      float weight = (a ? td->w : 1.0f - td->w) * (c ? th->w : 1.0f - th->w);
      if (weight == 0.0f) continue;
      int64_t id = a ? td->hi : td->lo, ih = c ? th->hi : th->lo;
      const float *in = x + (id * plane_rows + ih) * p->in[2];
      for (int64_t ow = 0; ow < p->out[2]; ow++)
        row[ow] += weight * (in[tw[ow].lo] * (1.0f - tw[ow].w) +
                             in[tw[ow].hi] * tw[ow].w);
    }
}

static seqrt_status resize_kernel(const sq_op *op, const void *src, void *dst,
                                  void *scratch) {
  const resize_params *p = op->params;
  const float *x = src;
  float *y = dst;
  int64_t rows = p->planes * p->out[0] * p->out[1];
  int64_t plane_in = p->in[0] * p->in[1] * p->in[2];
#pragma omp parallel for if (rows * p->out[2] >= 65536)
  for (int64_t r = 0; r < rows; r++) {
    int64_t oh = r % p->out[1], od = r / p->out[1] % p->out[0];
    int64_t plane = r / (p->out[1] * p->out[0]);
    resize_row(p, x + plane * plane_in, od, oh, y + r * p->out[2]);
  }
  return SEQRT_OK;
}

static resize_params *resize_params_make(const sq_layer *layer,
                                         const dnnl_dims_t in,
                                         const dnnl_dims_t out) {
  int spatial = layer->in.rank - 2, front = SQ_MAX_SPATIAL - spatial;
  int64_t total = front;
  for (int d = 0; d < spatial; d++) total += out[2 + d];
  resize_params *p = malloc(sizeof *p + (size_t)total * sizeof(resize_tap));
  if (!p) return NULL;
  p->planes = in[0] * in[1];
  p->linear = layer->resize_mode == SQ_RESIZE_LINEAR;
  resize_tap *next = p->storage;
  for (int k = 0; k < SQ_MAX_SPATIAL; k++) {
    int d = k - front; /* the layer's spatial dim, or < 0 for a filler */
    p->in[k] = d < 0 ? 1 : in[2 + d];
    p->out[k] = d < 0 ? 1 : out[2 + d];
    p->taps[k] = next;
    for (int64_t o = 0; o < p->out[k]; o++)
      *next++ = d < 0 ? (resize_tap){0, 0, 0.0f}
                      : make_tap(layer, d, o, p->in[k], p->out[k]);
  }
  return p;
}

/* ---- building ---- */

static seqrt_status check_resize(const sq_layer *layer, const dnnl_dims_t in,
                                 const dnnl_dims_t out) {
  int rank = layer->in.rank;
  if (rank < 3 || rank > 2 + SQ_MAX_SPATIAL || layer->out.rank != rank ||
      in[0] != out[0] || in[1] != out[1])
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "layer '%s' (Upsample): input rank %d (supported: 3 to 5, "
                    "resizing the dims after [N, C])",
                    layer->name, rank);
  if ((unsigned)layer->resize_mode > SQ_RESIZE_LINEAR ||
      (unsigned)layer->resize_coord > SQ_COORD_ASYMMETRIC ||
      (unsigned)layer->resize_nearest > SQ_NEAREST_CEIL)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "layer '%s' (Upsample): unknown mode", layer->name);
  for (int d = 0; d < rank - 2; d++)
    if (!(layer->scales[d] >= 0.0f) || !isfinite(layer->scales[d]))
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "layer '%s' (Upsample): scale %g along spatial dim %d",
                      layer->name, (double)layer->scales[d], d);
  return SEQRT_OK;
}

static seqrt_status build_resampling(sq_builder *b, const dnnl_dims_t out) {
  const sq_layer *layer = b->layer;
  dnnl_memory_desc_t dst;
  seqrt_status st = sq_md_any(layer, layer->out.rank, out, &dst);
  if (st != SEQRT_OK) return st;
  dnnl_alg_kind_t alg = layer->resize_mode == SQ_RESIZE_NEAREST
                            ? dnnl_resampling_nearest
                            : dnnl_resampling_linear;
  dnnl_resampling_desc_t desc;
  SQ_DNNL(layer, "resampling descriptor",
          dnnl_resampling_forward_desc_init(&desc, dnnl_forward_inference, alg,
                                            NULL, &b->in_md, &dst));
  return sq_builder_create_pd(b, &desc, "resampling");
}

seqrt_status sq_build_resize(sq_builder *b) {
  const sq_layer *layer = b->layer;
  dnnl_dims_t in, out;
  sq_dims(&layer->in, b->plan->batch, in);
  sq_dims(&layer->out, b->plan->batch, out);
  seqrt_status st = check_resize(layer, in, out);
  if (st != SEQRT_OK) return st;
  if (onednn_matches(layer, in, out)) return build_resampling(b, out);
  st = sq_plain_io(b);
  if (st != SEQRT_OK) return st;
  resize_params *p = resize_params_make(layer, in, out);
  if (!p)
    return sq_error(SEQRT_ERR_NOMEM, "layer '%s' (Upsample): out of memory",
                    layer->name);
  return sq_op_add_kernel(b, resize_kernel, p, SQ_AT_SRC, SQ_AT_DST);
}
