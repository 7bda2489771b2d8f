/* CONVTRANSPOSE with fewer output channels than one of oneDNN's 16-channel
 * blocks, where oneDNN 2.6's deconvolution wastes most of its work (32 -> 3
 * channels, 64 -> 128 pixels: 0.8-1.4 ms; 32 -> 1, 16 -> 32: 75 us). Per
 * sample, one sgemm gives every kernel tap's contribution of every input
 * pixel (col = W^T x: [O * taps, input pixels]; the chain's [I, O, k...]
 * weights are W as they lie), then each output row gathers its taps'
 * columns over the bias (0.16 ms and 4 us for those two). Plain layouts,
 * one group, 1 to 3 spatial dims (padded to 3 here). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Below this, a deconvolution's output channels fill oneDNN's blocks badly. */
#define SQ_DECONV_KERNEL_MAX_OUT 15
/* The largest col (floats) the kernel takes in the run's scratch. */
#define SQ_DECONV_KERNEL_MAX_COL (16 << 20)
/* Work worth a second thread for the gather (as the convolution kernel). */
#define SQ_DECONV_KERNEL_PARALLEL_FLOP 2.0e6

typedef struct deconv_params {
  int64_t batch, in_c, out_c;
  int64_t in[3], out[3], k[3], s[3], d[3], pad[3];
  int64_t taps, in_size, out_size;
  bool parallel;
  float *weights; /* [in_c][out_c * taps] */
  float *bias;    /* [out_c] */
  float data[];
} deconv_params;

/* The first input index j >= 0 with j * s + x0 >= 0 and the end of those
 * with j * s + x0 < out (and j < in). */
static void input_span(int64_t x0, int64_t s, int64_t in, int64_t out,
                       int64_t *lo, int64_t *hi) {
  *lo = x0 >= 0 ? 0 : (-x0 + s - 1) / s;
  int64_t end = out - x0 <= 0 ? 0 : (out - x0 + s - 1) / s;
  *hi = end < in ? end : in;
}

/* Output row (o, od, oh) of one sample: bias plus every tap that lands on
 * it. */
static void gather_row(const deconv_params *p, const float *col, float *row,
                       int64_t o, int64_t od, int64_t oh) {
  for (int64_t x = 0; x < p->out[2]; x++) row[x] = p->bias[o];
  for (int64_t kd = 0; kd < p->k[0]; kd++) {
    int64_t zd = od + p->pad[0] - kd * p->d[0];
    if (zd < 0 || zd % p->s[0] || zd / p->s[0] >= p->in[0]) continue;
    for (int64_t kh = 0; kh < p->k[1]; kh++) {
      int64_t zh = oh + p->pad[1] - kh * p->d[1];
      if (zh < 0 || zh % p->s[1] || zh / p->s[1] >= p->in[1]) continue;
      int64_t in_row = (zd / p->s[0] * p->in[1] + zh / p->s[1]) * p->in[2];
      for (int64_t kw = 0; kw < p->k[2]; kw++) {
        int64_t tap = (kd * p->k[1] + kh) * p->k[2] + kw;
        const float *c = col + (o * p->taps + tap) * p->in_size + in_row;
        int64_t x0 = kw * p->d[2] - p->pad[2], lo, hi;
        input_span(x0, p->s[2], p->in[2], p->out[2], &lo, &hi);
        for (int64_t j = lo; j < hi; j++) row[j * p->s[2] + x0] += c[j];
      }
    }
  }
}

static seqrt_status deconv_kernel(const sq_op *op, const void *src, void *dst,
                                  void *scratch) {
  const deconv_params *p = op->params;
  float *col = scratch;
  int64_t rows = p->out_c * p->out[0] * p->out[1];
  for (int64_t n = 0; n < p->batch; n++) {
    const float *x = (const float *)src + n * p->in_c * p->in_size;
    float *y = (float *)dst + n * p->out_c * p->out_size;
    dnnl_status_t st = dnnl_sgemm('T', 'N', p->out_c * p->taps, p->in_size,
                                  p->in_c, 1.0f, p->weights, p->out_c * p->taps,
                                  x, p->in_size, 0.0f, col, p->in_size);
    if (st != dnnl_success) return sq_dnnl_error(op->layer, "sgemm", st);
#pragma omp parallel for if (p->parallel)
    for (int64_t r = 0; r < rows; r++) {
      int64_t oh = r % p->out[1], od = r / p->out[1] % p->out[0];
      gather_row(p, col, y + r * p->out[2], r / (p->out[0] * p->out[1]), od,
                 oh);
    }
  }
  return SEQRT_OK;
}

static int64_t col_floats(const sq_layer *layer) {
  int64_t floats = layer->out.dims[1];
  for (int i = 0; i < layer->spatial; i++)
    floats *= layer->kernel[i] * layer->in.dims[2 + i];
  return floats;
}

bool sq_deconv_kernel_fits(const sq_builder *b) {
  const sq_layer *layer = b->layer;
  return layer->kind == SQ_CONVTRANSPOSE && layer->groups == 1 &&
         layer->out.dims[1] <= SQ_DECONV_KERNEL_MAX_OUT &&
         layer->spatial >= 1 && layer->spatial <= 3 &&
         layer->spatial == layer->in.rank - 2 &&
         col_floats(layer) <= SQ_DECONV_KERNEL_MAX_COL &&
         b->dst_tag == dnnl_format_tag_undef;
}

seqrt_status sq_build_deconv_kernel(sq_builder *b, const dnnl_dims_t in,
                                    const dnnl_dims_t out) {
  const sq_layer *layer = b->layer;
  int64_t weights = layer->weight.count, in_c = in[1], out_c = out[1];
  deconv_params *p =
      calloc(1, sizeof *p + (size_t)(weights + out_c) * sizeof(float));
  if (!p)
    return sq_error(SEQRT_ERR_NOMEM,
                    "layer '%s' (ConvTranspose): out of memory", layer->name);
  *p = (deconv_params){.batch = in[0], .in_c = in_c, .out_c = out_c, .taps = 1};
  int lead = 3 - layer->spatial;
  for (int i = 0; i < 3; i++) {
    int j = i - lead; /* the layer's spatial dim, or none */
    p->in[i] = j < 0 ? 1 : in[2 + j];
    p->out[i] = j < 0 ? 1 : out[2 + j];
    p->k[i] = j < 0 ? 1 : layer->kernel[j];
    p->s[i] = j < 0 ? 1 : layer->stride[j];
    p->d[i] = j < 0 ? 1 : layer->dilation[j];
    p->pad[i] = j < 0 ? 0 : layer->pad_begin[j];
    p->taps *= p->k[i];
  }
  p->in_size = p->in[0] * p->in[1] * p->in[2];
  p->out_size = p->out[0] * p->out[1] * p->out[2];
  p->parallel = b->step->threads > 1 && sq_layer_flop(layer, b->plan->batch) >=
                                            SQ_DECONV_KERNEL_PARALLEL_FLOP;
  p->weights = p->data;
  p->bias = p->data + weights;
  memcpy(p->weights, layer->weight.data, (size_t)weights * sizeof(float));
  for (int64_t o = 0; o < out_c; o++)
    p->bias[o] = layer->bias.data ? layer->bias.data[o] : 0.0f;
  b->plan->owned_const_bytes += (size_t)(weights + out_c) * sizeof(float);
  seqrt_status st = sq_md_plain(layer, layer->in.rank, in, &b->src_md);
  if (st == SEQRT_OK) st = sq_md_plain(layer, layer->out.rank, out, &b->dst_md);
  if (st != SEQRT_OK) {
    free(p);
    return st;
  }
  size_t col_bytes = (size_t)(out_c * p->taps * p->in_size) * sizeof(float);
  return sq_op_add_kernel_scratch(b, deconv_kernel, p, SQ_AT_SRC, SQ_AT_DST,
                                  col_bytes);
}
