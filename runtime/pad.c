/* PAD: constant / reflect / replicate / circular padding of the 1 to 3
 * spatial dims, negative pads cropping. oneDNN 2.6 has no padding
 * primitive: a C kernel on plain data, driven by one precomputed
 * output -> input index map per spatial dim. The same kernel pre-pads a
 * CONV with padding_mode (conv.c). */
#include <stdlib.h>

#include "internal.h"

typedef struct pad_params {
  int64_t planes;        /* N * C */
  int64_t in[3], out[3]; /* spatial dims, front-filled with 1 */
  const int64_t *map[3]; /* output index -> input index, -1: the value */
  float value;
  int64_t maps[]; /* the maps' storage */
} pad_params;

static int64_t positive_mod(int64_t a, int64_t m) {
  int64_t r = a % m;
  return r < 0 ? r + m : r;
}

/* Where output index `o` reads along a dim of `in` with `before` padding;
 * circular: the begin padding copies from `from` on, the end padding from
 * 0 on (chain.h: circular_from). */
static int64_t pad_source(sq_pad_mode mode, int64_t o, int64_t before,
                          int64_t in, int64_t from) {
  int64_t i = o - before;
  if (i >= 0 && i < in) return i;
  switch (mode) {
  case SQ_PAD_REFLECT: {
    if (in == 1) return 0;
    int64_t period = 2 * (in - 1), m = positive_mod(i, period);
    return m < in ? m : period - m;
  }
  case SQ_PAD_REPLICATE: return i < 0 ? 0 : in - 1;
  case SQ_PAD_CIRCULAR:
    return i < 0 ? positive_mod(from + o, in) : positive_mod(i - in, in);
  default: return -1;
  }
}

static seqrt_status pad_kernel(const sq_op *op, const void *src, void *dst,
                               void *scratch) {
  const pad_params *p = op->params;
  const float *x = src;
  float *y = dst;
  int64_t rows = p->planes * p->out[0] * p->out[1];
  int64_t o2 = p->out[2];
#pragma omp parallel for if (rows * o2 >= 65536)
  for (int64_t r = 0; r < rows; r++) {
    int64_t oh = r % p->out[1], od = r / p->out[1] % p->out[0];
    int64_t plane = r / (p->out[1] * p->out[0]);
    int64_t id = p->map[0][od], ih = p->map[1][oh];
    float *out = y + r * o2;
    if (id < 0 || ih < 0) {
      for (int64_t ow = 0; ow < o2; ow++) out[ow] = p->value;
      continue;
    }
    const float *in = x + ((plane * p->in[0] + id) * p->in[1] + ih) * p->in[2];
    for (int64_t ow = 0; ow < o2; ow++) {
      int64_t iw = p->map[2][ow];
      out[ow] = iw < 0 ? p->value : in[iw];
    }
  }
  return SEQRT_OK;
}

static seqrt_status check_pad(const sq_layer *layer, const dnnl_dims_t in,
                              const dnnl_dims_t out) {
  int rank = layer->in.rank;
  if (rank < 3 || rank > 2 + SQ_MAX_SPATIAL || layer->out.rank != rank)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "layer '%s' (Pad): input rank %d (supported: 3 to 5, "
                    "padding the dims after [N, C])",
                    layer->name, rank);
  if ((unsigned)layer->pad_mode > SQ_PAD_CIRCULAR)
    return sq_error(SEQRT_ERR_UNSUPPORTED, "layer '%s' (Pad): unknown mode %d",
                    layer->name, (int)layer->pad_mode);
  for (int d = 0; d < rank; d++) {
    int64_t expected =
        d < 2 ? in[d] : in[d] + layer->pad_begin[d - 2] + layer->pad_end[d - 2];
    if (out[d] != expected || expected < 1)
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "layer '%s' (Pad): output dim %d is %lld, the pads "
                      "give %lld",
                      layer->name, d, (long long)out[d], (long long)expected);
  }
  return SEQRT_OK;
}

static pad_params *pad_params_make(const sq_pad_desc *pad, int spatial,
                                   const dnnl_dims_t in,
                                   const dnnl_dims_t out) {
  int front = SQ_MAX_SPATIAL - spatial;
  int64_t total = 0;
  for (int d = 0; d < spatial; d++) total += out[2 + d];
  pad_params *p = malloc(sizeof *p + (size_t)(total + front) * sizeof(int64_t));
  if (!p) return NULL;
  p->planes = in[0] * in[1];
  p->value = pad->value;
  int64_t *next = p->maps;
  for (int k = 0; k < SQ_MAX_SPATIAL; k++) {
    int d = k - front; /* the layer's spatial dim, or < 0 for a filler */
    p->in[k] = d < 0 ? 1 : in[2 + d];
    p->out[k] = d < 0 ? 1 : out[2 + d];
    p->map[k] = next;
    for (int64_t o = 0; o < p->out[k]; o++)
      *next++ = d < 0 ? 0
                      : pad_source(pad->mode, o, pad->begin[d], p->in[k],
                                   pad->circular_from[d]);
  }
  return p;
}

seqrt_status sq_pad_add_kernel(sq_builder *b, const sq_pad_desc *pad, int rank,
                               const dnnl_dims_t in, const dnnl_dims_t out,
                               sq_place to) {
  const sq_layer *layer = b->layer;
  pad_params *p = pad_params_make(pad, rank - 2, in, out);
  if (!p)
    return sq_error(SEQRT_ERR_NOMEM, "layer '%s' (%s): out of memory",
                    layer->name, sq_kind_name(layer->kind));
  return sq_op_add_kernel(b, pad_kernel, p, SQ_AT_SRC, to);
}

seqrt_status sq_build_pad(sq_builder *b) {
  const sq_layer *layer = b->layer;
  dnnl_dims_t in, out;
  sq_dims(&layer->in, b->plan->batch, in);
  sq_dims(&layer->out, b->plan->batch, out);
  seqrt_status st = check_pad(layer, in, out);
  if (st == SEQRT_OK) st = sq_plain_io(b);
  if (st != SEQRT_OK) return st;
  sq_pad_desc pad = {layer->pad_mode, layer->pad_value, layer->pad_begin,
                     layer->circular_from};
  return sq_pad_add_kernel(b, &pad, layer->in.rank, in, out, SQ_AT_DST);
}
