/* SHUFFLE: PixelShuffle (DepthToSpace, CRD order), PixelUnshuffle
 * (SpaceToDepth), ChannelShuffle and Permute (Transpose) are permutations
 * of the plain data, Slice a part of it: one oneDNN reorder from a strided
 * view of the input (the permuted order, or the slice's elements from its
 * offset) to the plain output seen with the same split dims. */
#include "internal.h"

typedef struct shuffle_view {
  int ndims;
  dnnl_dims_t dims;    /* the output's dims, split */
  dnnl_dims_t strides; /* where each reads in the plain input */
  int64_t offset;      /* of the first element read, in elements */
} shuffle_view;

static seqrt_status shape_error(const sq_layer *layer, const char *need) {
  return sq_error(SEQRT_ERR_INVALID_MODEL, "layer '%s' (%s): %s", layer->name,
                  sq_kind_name(layer->kind), need);
}

static void set_view(shuffle_view *v, int ndims, const int64_t *dims,
                     const int64_t *strides) {
  v->ndims = ndims;
  v->offset = 0;
  for (int i = 0; i < ndims; i++) {
    v->dims[i] = dims[i];
    v->strides[i] = strides[i];
  }
}

/* Plain strides of dims[0..rank). */
static void plain_strides(const dnnl_dims_t dims, int rank, int64_t *strides) {
  strides[rank - 1] = 1;
  for (int d = rank - 2; d >= 0; d--) strides[d] = strides[d + 1] * dims[d + 1];
}

/* Leading dims folded into one batch, then [C, H, W]. */
static int64_t leading(const dnnl_dims_t dims, int rank, int keep) {
  int64_t n = 1;
  for (int i = 0; i < rank - keep; i++) n *= dims[i];
  return n;
}

/* out[n, c, h*r + i, w*r + j] = in[n, c*r*r + i*r + j, h, w]. */
static seqrt_status pixel_shuffle(const sq_layer *layer, const dnnl_dims_t in,
                                  const dnnl_dims_t out, shuffle_view *v) {
  int rank = layer->in.rank;
  int64_t r = layer->block, n = leading(in, rank, 3);
  int64_t c = out[rank - 3], h = in[rank - 2], w = in[rank - 1];
  if (r < 1 || in[rank - 3] != c * r * r || out[rank - 2] != h * r ||
      out[rank - 1] != w * r || leading(out, rank, 3) != n)
    return shape_error(layer, "needs [..., C*r*r, H, W] -> [..., C, H*r, W*r]");
  int64_t dims[6] = {n, c, h, r, w, r};
  int64_t strides[6] = {
      c * r * r * h * w, r * r * h * w, w, r * h * w, 1, h * w};
  set_view(v, 6, dims, strides);
  return SEQRT_OK;
}

/* out[n, c*r*r + i*r + j, h, w] = in[n, c, h*r + i, w*r + j]. */
static seqrt_status pixel_unshuffle(const sq_layer *layer, const dnnl_dims_t in,
                                    const dnnl_dims_t out, shuffle_view *v) {
  int rank = layer->in.rank;
  int64_t r = layer->block, n = leading(in, rank, 3);
  int64_t c = in[rank - 3], h = out[rank - 2], w = out[rank - 1];
  if (r < 1 || out[rank - 3] != c * r * r || in[rank - 2] != h * r ||
      in[rank - 1] != w * r || leading(out, rank, 3) != n)
    return shape_error(layer, "needs [..., C, H*r, W*r] -> [..., C*r*r, H, W]");
  int64_t dims[6] = {n, c, r, r, h, w};
  int64_t strides[6] = {
      c * h * r * w * r, h * r * w * r, w * r, 1, r * w * r, r};
  set_view(v, 6, dims, strides);
  return SEQRT_OK;
}

/* out[n, k*g + gi, s] = in[n, gi*(C/g) + k, s]. */
static seqrt_status channel_shuffle(const sq_layer *layer, const dnnl_dims_t in,
                                    const dnnl_dims_t out, shuffle_view *v) {
  int rank = layer->in.rank;
  int64_t g = layer->block, n = in[0], c = in[1];
  int64_t s = sq_shape_count(&layer->in, in[0]) / (n * c);
  bool same = layer->out.rank == rank;
  for (int i = 0; same && i < rank; i++) same = in[i] == out[i];
  if (!same || g < 1 || c % g)
    return shape_error(layer, "needs [N, C, ...] with C divisible by the "
                              "groups, and the same output shape");
  int64_t dims[4] = {n, c / g, g, s};
  int64_t strides[4] = {c * s, s, c / g * s, 1};
  set_view(v, 4, dims, strides);
  return SEQRT_OK;
}

/* out[i_0, ..., i_k, ...] = in[..., i_k at dim perm[k], ...]. */
static seqrt_status transpose(const sq_layer *layer, const dnnl_dims_t in,
                              const dnnl_dims_t out, shuffle_view *v) {
  int rank = layer->in.rank;
  int64_t in_strides[SQ_MAX_RANK], strides[SQ_MAX_RANK];
  bool seen[SQ_MAX_RANK] = {false}, ok = layer->perm[0] == 0;
  plain_strides(in, rank, in_strides);
  for (int k = 0; ok && k < rank; k++) {
    int p = layer->perm[k];
    ok = p >= 0 && p < rank && !seen[p] && out[k] == in[p];
    if (ok) seen[p] = true;
    if (ok) strides[k] = in_strides[p];
  }
  if (!ok)
    return shape_error(layer, "needs a permutation of the dims after the "
                              "batch, and the output in its order");
  set_view(v, rank, out, strides);
  return SEQRT_OK;
}

/* out[..., j_d, ...] = in[..., slice_start[d] + j_d * slice_step[d], ...]. */
static seqrt_status slice(const sq_layer *layer, const dnnl_dims_t in,
                          const dnnl_dims_t out, shuffle_view *v) {
  int rank = layer->in.rank, k = 0;
  int64_t in_strides[SQ_MAX_RANK], dims[SQ_MAX_RANK], strides[SQ_MAX_RANK];
  int64_t offset = 0;
  bool ok = true;
  plain_strides(in, rank, in_strides);
  for (int d = 0; ok && d < rank; d++) {
    int64_t start = layer->slice_start[d], step = layer->slice_step[d];
    int64_t len = d ? layer->slice_len[d] : in[0];
    ok = start >= 0 && step >= 1 && len >= 1 && start < in[d] &&
         (in[d] - 1 - start) / step >= len - 1 && (d > 0 || start == 0) &&
         (!layer->dropped[d] || (d > 0 && len == 1));
    if (ok && !layer->dropped[d]) ok = k < layer->out.rank && out[k++] == len;
    dims[d] = len;
    strides[d] = in_strides[d] * step;
    offset += start * in_strides[d];
  }
  if (!ok || k != layer->out.rank)
    return shape_error(layer, "needs slices within the input after the "
                              "batch, and the output of their lengths");
  set_view(v, rank, dims, strides);
  v->offset = offset;
  return SEQRT_OK;
}

seqrt_status sq_build_shuffle(sq_builder *b) {
  const sq_layer *layer = b->layer;
  int rank = layer->in.rank;
  dnnl_dims_t in, out;
  sq_dims(&layer->in, b->plan->batch, in);
  sq_dims(&layer->out, b->plan->batch, out);
  bool any_rank = layer->kind == SQ_CHANNELSHUFFLE ||
                  layer->kind == SQ_TRANSPOSE || layer->kind == SQ_SLICE;
  int min_rank = any_rank ? 2 : 4;
  if (rank < min_rank || (layer->out.rank != rank && layer->kind != SQ_SLICE))
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "layer '%s' (%s): input rank %d (needs at least %d)",
                    layer->name, sq_kind_name(layer->kind), rank, min_rank);
  shuffle_view v;
  seqrt_status st =
      layer->kind == SQ_PIXELSHUFFLE     ? pixel_shuffle(layer, in, out, &v)
      : layer->kind == SQ_PIXELUNSHUFFLE ? pixel_unshuffle(layer, in, out, &v)
      : layer->kind == SQ_TRANSPOSE      ? transpose(layer, in, out, &v)
      : layer->kind == SQ_SLICE          ? slice(layer, in, out, &v)
                                         : channel_shuffle(layer, in, out, &v);
  if (st == SEQRT_OK) st = sq_plain_io(b);
  if (st != SEQRT_OK) return st;
  dnnl_memory_desc_t from, to;
  SQ_DNNL(layer, "permuted view",
          dnnl_memory_desc_init_by_strides(&from, v.ndims, v.dims, dnnl_f32,
                                           v.strides));
  from.offset0 = v.offset;
  st = sq_md_plain(layer, v.ndims, v.dims, &to);
  if (st != SEQRT_OK) return st;
  SQ_DNNL(layer, "reorder",
          dnnl_reorder_primitive_desc_create(&b->pd, &from, b->plan->engine,
                                             &to, b->plan->engine, b->attr));
  return SEQRT_OK;
}
