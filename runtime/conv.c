/* CONV: 1-D/2-D/3-D convolution with groups, dilation and asymmetric pads,
 * optionally after a reflect/replicate/circular pre-padding (padding_mode);
 * CONVTRANSPOSE: oneDNN deconvolution with the same options plus output
 * padding. Every layout is left to oneDNN (format any) except a pre-padded
 * input's, which the padding kernel writes plain; the weights are reordered
 * once. */
#include <string.h>

#include "internal.h"

/* What a convolution and a transposed one both check once their window
 * is right: the groups, the batch and the weights' and bias' sizes. */
static seqrt_status check_channels(const sq_layer *layer, const dnnl_dims_t in,
                                   const dnnl_dims_t out,
                                   int64_t *kernel_size) {
  const char *op = sq_kind_name(layer->kind);
  int64_t groups = layer->groups, c = in[1], o = out[1];
  if (groups < 1 || c % groups || o % groups)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (%s): %lld groups do not divide %lld input "
                    "and %lld output channels",
                    layer->name, op, (long long)groups, (long long)c,
                    (long long)o);
  if (in[0] != out[0])
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (%s): batch %lld in, %lld out", layer->name, op,
                    (long long)in[0], (long long)out[0]);
  *kernel_size = 1;
  for (int i = 0; i < layer->spatial; i++) *kernel_size *= layer->kernel[i];
  /* [O, I/g, k...] for a convolution, [I, O/g, k...] transposed */
  seqrt_status st = sq_check_weights(layer, &layer->weight, "weight",
                                     o * (c / groups) * *kernel_size, true);
  if (st == SEQRT_OK)
    st = sq_check_weights(layer, &layer->bias, "bias", o, false);
  return st;
}

static seqrt_status check_conv(const sq_layer *layer, const dnnl_dims_t in,
                               const dnnl_dims_t out, int64_t *kernel_size) {
  seqrt_status st = sq_check_window(layer, in, out);
  return st == SEQRT_OK ? check_channels(layer, in, out, kernel_size) : st;
}

/* The layer's weights, and its bias if it has one, as the step's
 * constants (seen through the user mds). */
static seqrt_status add_weights(sq_builder *b,
                                const dnnl_memory_desc_t *user_weights,
                                const dnnl_memory_desc_t *bias) {
  const sq_layer *layer = b->layer;
  seqrt_status st = sq_builder_add_const(b, DNNL_ARG_WEIGHTS, user_weights,
                                         layer->weight.data);
  if (st == SEQRT_OK && layer->bias.data)
    st = sq_builder_add_const(b, DNNL_ARG_BIAS, bias, layer->bias.data);
  return st;
}

/* [O, I/g, k...] or, grouped, [g, O/g, I/g, k...] (same bytes). */
static int weight_dims(const sq_layer *layer, const dnnl_dims_t in,
                       const dnnl_dims_t out, dnnl_dims_t dims) {
  int64_t g = layer->groups;
  int n = 0;
  if (g > 1) dims[n++] = g;
  dims[n++] = out[1] / g;
  dims[n++] = in[1] / g;
  for (int i = 0; i < layer->spatial; i++) dims[n++] = layer->kernel[i];
  return n;
}

static seqrt_status build_deconv(sq_builder *b);

static bool has_prepad(const sq_layer *layer) {
  for (int i = 0; i < SQ_MAX_SPATIAL; i++)
    if (layer->prepad_begin[i] || layer->prepad_end[i]) return true;
  return false;
}

/* The input dims after the pre-padding (if any); checks it can run. */
static seqrt_status padded_dims(const sq_layer *layer, const dnnl_dims_t in,
                                dnnl_dims_t padded) {
  int rank = layer->in.rank;
  for (int d = 0; d < rank; d++) padded[d] = in[d];
  if (!has_prepad(layer)) return SEQRT_OK;
  if (rank < 3 || rank > 2 + SQ_MAX_SPATIAL ||
      (unsigned)layer->pad_mode > SQ_PAD_CIRCULAR)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "layer '%s' (Conv): pre-padding mode %d of a rank-%d "
                    "input (supported: constant, reflect, replicate and "
                    "circular modes, ranks 3 to 5)",
                    layer->name, (int)layer->pad_mode, rank);
  for (int i = 0; i < rank - 2; i++) {
    int64_t begin = layer->prepad_begin[i], end = layer->prepad_end[i];
    if (begin < 0 || end < 0 || begin > INT32_MAX || end > INT32_MAX)
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "layer '%s' (Conv): pre-padding %lld/%lld of spatial "
                      "dim %d",
                      layer->name, (long long)begin, (long long)end, i);
    padded[2 + i] += begin + end;
  }
  return SEQRT_OK;
}

/* The convolution of `src` (its input md, dims `src_dims`), and the plain
 * mds of the chain's weights and bias. */
static seqrt_status conv_desc(const sq_layer *layer, const dnnl_dims_t src_dims,
                              const dnnl_memory_desc_t *src,
                              const dnnl_dims_t out, dnnl_format_tag_t dst_tag,
                              dnnl_alg_kind_t algorithm,
                              dnnl_convolution_desc_t *desc,
                              dnnl_memory_desc_t *user_weights,
                              dnnl_memory_desc_t *bias) {
  int rank = layer->in.rank;
  dnnl_dims_t wdims, bdims = {out[1]}, strides, dilates, pad_l, pad_r;
  int wrank = weight_dims(layer, src_dims, out, wdims);
  sq_window_arrays(layer, strides, dilates, pad_l, pad_r);
  dnnl_memory_desc_t weights, dst;
  seqrt_status st = sq_md_any(layer, wrank, wdims, &weights);
  if (st == SEQRT_OK) st = sq_md_tagged(layer, rank, out, dst_tag, &dst);
  if (st == SEQRT_OK) st = sq_md_plain(layer, 1, bdims, bias);
  if (st == SEQRT_OK) st = sq_md_plain(layer, wrank, wdims, user_weights);
  if (st != SEQRT_OK) return st;
  SQ_DNNL(layer, "convolution descriptor",
          dnnl_dilated_convolution_forward_desc_init(
              desc, dnnl_forward_inference, algorithm, src, &weights,
              layer->bias.data ? bias : NULL, &dst, strides, dilates, pad_l,
              pad_r));
  return SEQRT_OK;
}

/* The convolution of the padded input for the primitive's preferred input
 * layout; a plain one if that is blocked but the output plain: a plain
 * output may be the caller's buffer, too small for the padded input. */
static seqrt_status prepadded_pd(sq_builder *b, const dnnl_dims_t padded,
                                 const dnnl_dims_t out,
                                 dnnl_memory_desc_t *user_weights,
                                 dnnl_memory_desc_t *bias,
                                 dnnl_primitive_desc_t *pd) {
  const sq_layer *layer = b->layer;
  for (int plain = 0; plain < 2; plain++) {
    dnnl_memory_desc_t src;
    dnnl_convolution_desc_t desc;
    seqrt_status st = plain ? sq_md_plain(layer, layer->in.rank, padded, &src)
                            : sq_md_any(layer, layer->in.rank, padded, &src);
    if (st == SEQRT_OK)
      st = conv_desc(layer, padded, &src, out, dnnl_format_tag_undef,
                     dnnl_convolution_direct, &desc, user_weights, bias);
    if (st != SEQRT_OK) return st;
    SQ_DNNL(
        layer, "convolution",
        dnnl_primitive_desc_create(pd, &desc, b->attr, b->plan->engine, NULL));
    if (sq_md_is_plain(sq_pd_md(*pd, DNNL_ARG_SRC)) ||
        !sq_md_is_plain(sq_pd_md(*pd, DNNL_ARG_DST)))
      return SEQRT_OK;
    dnnl_primitive_desc_destroy(*pd);
    *pd = NULL;
  }
  return sq_error(SEQRT_ERR_BACKEND,
                  "layer '%s' (Conv): no convolution of a plain input",
                  layer->name);
}

/* Pre-padding, in one step so that the layer stays one: the padding
 * kernel writes the padded input (plain), the convolution reads it. For a
 * plain-input convolution the kernel writes into the spare buffer and the
 * step runs in place (the spare buffer is then free); for a blocked one it
 * writes into the step's output buffer, a reorder blocks it into the spare
 * buffer (the consumed input's) and the convolution writes the output. */
static seqrt_status build_prepadded(sq_builder *b, const dnnl_dims_t in,
                                    const dnnl_dims_t padded,
                                    const dnnl_dims_t out) {
  const sq_layer *layer = b->layer;
  dnnl_memory_desc_t plain_padded, user_weights, bias;
  dnnl_primitive_desc_t pd = NULL;
  seqrt_status st = sq_plain_io(b);
  if (st == SEQRT_OK)
    st = sq_md_plain(layer, layer->in.rank, padded, &plain_padded);
  if (st == SEQRT_OK)
    st = prepadded_pd(b, padded, out, &user_weights, &bias, &pd);
  if (st != SEQRT_OK) return st;
  const dnnl_memory_desc_t *src = sq_pd_md(pd, DNNL_ARG_SRC);
  bool blocked = !sq_md_is_plain(src);
  sq_pad_desc pad = {layer->pad_mode, layer->pad_value, layer->prepad_begin,
                     layer->circular_from};
  b->dst_md = *sq_pd_md(pd, DNNL_ARG_DST);
  b->in_place = !blocked;
  sq_op_arg args[2] = {{DNNL_ARG_SRC, SQ_AT_OTHER, *src},
                       {DNNL_ARG_DST, SQ_AT_DST, b->dst_md}};
  sq_op *op = NULL;
  st = sq_pad_add_kernel(b, &pad, layer->in.rank, in, padded,
                         blocked ? SQ_AT_DST : SQ_AT_OTHER);
  if (st == SEQRT_OK && blocked)
    st = sq_op_add_reorder(b, &plain_padded, SQ_AT_DST, src, SQ_AT_OTHER);
  if (st == SEQRT_OK) st = sq_op_add_prim(b, pd, 2, args, &op);
  if (st == SEQRT_OK)
    st = sq_op_add_const(b, op, pd, DNNL_ARG_WEIGHTS, &user_weights,
                         layer->weight.data);
  if (st == SEQRT_OK && layer->bias.data)
    st = sq_op_add_const(b, op, pd, DNNL_ARG_BIAS, &bias, layer->bias.data);
  dnnl_primitive_desc_destroy(pd);
  return st;
}

/* oneDNN's Winograd convolution (jit_wino: F(2x2, 3x3) at batch 1 on small
 * maps, F(4x4, 3x3) otherwise) where it is faster and the memory it adds
 * stays small. Direct (brgconv) -> Winograd, one thread, batch 1: two
 * 32->32 at 224x224 11.1 -> 7.0 ms, two 64->64 at 112x112 10.0 -> 5.0 ms
 * (2 threads: 5.6 -> 4.3, 5.0 -> 2.6 ms), CIFAR VGG's 64->64 at 16x16
 * 95 -> 66 us, 128->128 at 8x8 97 -> 70 us; CIFAR VGG at batch 2-32 on one
 * thread 20-25% faster (batch 32: 12.1-13.2 -> 9.8 ms; 2 threads 6.8-7.2 ->
 * 5.6 ms). Rounding differs from a direct convolution's at the 1e-6
 * relative level.
 *
 * Memory: its weights take 1.8-4x the plain bytes and cannot be reordered
 * back, so the chain keeps the plain ones too; by default only kernels under
 * SQ_WINOGRAD_MAX_BYTES get it, lest a model's weights be held 5 times
 * (VGG-11 at batch 1: 107 -> 70 ms, but peak RSS 559 -> 699 MB for 531 MB
 * of weights). Its scratchpad holds the transformed maps: 0.1-0.7 MB for
 * the 2x3 kernel, 6.7-13 MB per CIFAR VGG convolution at batch 2-32 and
 * 22-51 MB for VGG-11's at batch 1 (its 64->128 at 112x112 alone: peak RSS
 * +29 MB); bigger ones than SQ_WINOGRAD_MAX_SCRATCH (plus
 * SQ_WINOGRAD_SCRATCH_PER_THREAD per extra thread) keep the direct
 * convolution. seqrt_options_set_winograd lifts both limits. */
#define SQ_WINOGRAD_MAX_BYTES ((int64_t)1 << 20)
#define SQ_WINOGRAD_MAX_SCRATCH ((size_t)8 << 20)
/* Each thread beyond the first adds its own tile buffers to the
 * scratchpad: 0.9-1.8 MB for CIFAR VGG's convolutions at batch 32 on an
 * Intel Xeon (8.1 -> 9.2 MB for 64->64 at 16x16). The limit is on the
 * transformed maps, which do not grow with the threads: with it, CIFAR VGG
 * at batch 32 on 2 threads there took Winograd for 4 of its 6 convolutions,
 * 7.6 -> 6.5 ms, peak RSS 24.9 -> 32.8 MiB (its benchmark limit: 36.1). */
#define SQ_WINOGRAD_SCRATCH_PER_THREAD ((size_t)2 << 20)
/* On several threads its few tiles split badly below this: CIFAR VGG at
 * batch 1 (2-19 MFLOP per convolution) 341 -> 407 us on 2 threads. */
#define SQ_WINOGRAD_MIN_PARALLEL_FLOP 5.0e7

/* What oneDNN's Winograd convolution computes: 2-D, ungrouped, 3x3,
 * stride 1, no dilation; 32+ channels in and out (3->32 at 32x32 measured
 * 29 -> 92 us). */
static bool winograd_shape(const sq_layer *layer, const dnnl_dims_t in,
                           const dnnl_dims_t out) {
  if (layer->in.rank != 4 || layer->groups != 1) return false;
  for (int i = 0; i < 2; i++)
    if (layer->kernel[i] != 3 || layer->stride[i] != 1 ||
        layer->dilation[i] != 1)
      return false;
  /* oneDNN 2.6's Winograd kernels are AVX-512 only. */
  return in[1] >= 32 && out[1] >= 32 && sq_cpu_avx512();
}

static bool small_weights(const sq_layer *layer) {
  return layer->weight.count * (int64_t)sizeof(float) < SQ_WINOGRAD_MAX_BYTES;
}

bool sq_conv_winograd_candidate(const sq_layer *layer) {
  dnnl_dims_t in, out;
  sq_dims(&layer->in, 1, in);
  sq_dims(&layer->out, 1, out);
  return layer->kind == SQ_CONV && winograd_shape(layer, in, out) &&
         small_weights(layer);
}

bool sq_winograd_weights_fit(const sq_builder *b) {
  return b->plan->winograd || small_weights(b->layer);
}

/* Before a Winograd descriptor is tried: the shape, the weights' memory,
 * and enough work per run to split over several threads. */
static bool winograd_pays(const sq_builder *b, const dnnl_dims_t in,
                          const dnnl_dims_t out) {
  const sq_layer *layer = b->layer;
  if (!winograd_shape(layer, in, out)) return false;
  if (b->step->threads > 1 &&
      sq_layer_flop(layer, b->plan->batch) < SQ_WINOGRAD_MIN_PARALLEL_FLOP)
    return false;
  return sq_winograd_weights_fit(b);
}

/* Once oneDNN picked its kernel (2x3: 2x2 output tiles, at batch 1 on small
 * maps; 4x3: 4x4 tiles). Maps that fill the tiles badly compute the padding
 * too. One thread, two 64->64 convolutions, direct -> Winograd: 13x13 at
 * batch 1 (2x3, 14x14: 1.16x the work) 121-123 -> 94-97 us, at batch 8
 * (4x3, 16x16: 1.51x) 966-1034 -> 809-978 us; 6x6 at batch 1 (2x3)
 * 23 -> 15 us but at batch 8 (4x3, 8x8: 1.78x) 177-186 -> 189-232 us; 3x3
 * at batch 1 (2x3, 4x4: 1.78x) 8.8 -> 9.2-10.1 us. The 2x3 kernel splits
 * over threads worse still: on 2 threads, AlexNet's 13x13 convolutions
 * (0.2-0.3 GFLOP) made the model 7.3-7.8 -> 7.7-8.7 ms, VGG-11's 14x14
 * ones (0.9 GFLOP) 28.1-28.7 -> 26.0-26.5 ms. oneDNN's choice of 2x3 at
 * batch 1 stays even where 4x3 is faster alone: one thread, standalone,
 * 32->32 at 32x32 58-71 -> 54-55 us, 64->64 at 16x16 50 -> 41 us, but
 * taking 4x3 for CIFAR VGG's 16x16 and 32x32 maps made the model slower
 * (alternating seqrt bench runs: 265-314 -> 274-357 us, peak RSS 18 ->
 * 22-24 MB: its 7 MB scratchpads). */
#define SQ_WINOGRAD_MAX_TILED 1.6
#define SQ_WINOGRAD_2X3_MIN_PARALLEL_FLOP 5.0e8
static bool winograd_kernel_pays(const sq_builder *b, const dnnl_dims_t out) {
  bool two_by_three = strstr(sq_pd_impl(b->pd), "2x3") != NULL;
  int64_t t = two_by_three ? 2 : 4;
  double tiled =
      (double)((out[2] + t - 1) / t * t) * (double)((out[3] + t - 1) / t * t);
  if (tiled > SQ_WINOGRAD_MAX_TILED * (double)(out[2] * out[3])) return false;
  if (two_by_three && b->step->threads > 1 &&
      sq_layer_flop(b->layer, b->plan->batch) <
          SQ_WINOGRAD_2X3_MIN_PARALLEL_FLOP)
    return false;
  return b->plan->winograd ||
         dnnl_memory_desc_get_size(sq_pd_md(b->pd, DNNL_ARG_SCRATCHPAD)) <=
             SQ_WINOGRAD_MAX_SCRATCH + (size_t)(b->step->threads - 1) *
                                           SQ_WINOGRAD_SCRATCH_PER_THREAD;
}

/* With 16 output channels or fewer, oneDNN's first choice (brgconv, channels
 * last) fills a fraction of each vector; its older direct kernel (jit:,
 * blocked output, a plain input when there are few input channels) is
 * faster. One thread, 5x5 kernels at 32x32, brgconv -> jit: ic 1 -> oc 6
 * 6.3 -> 4.1 us (batch 1), 201 -> 132 us (batch 32); ic 6 -> oc 16
 * 22.8 -> 19.9 us, 710 -> 627 us; but ic 6 -> oc 32 37.2 -> 38.9 us. LeNet-5
 * at batch 1: 16.1 -> 12.8 us; at batch 64: 769 -> 600 us (interleaved
 * seqrt bench runs, medians). */
static bool few_outputs(const sq_layer *layer, const dnnl_dims_t out) {
  return layer->groups == 1 && out[1] <= 16;
}

/* b->pd: a Winograd convolution where it pays and oneDNN has one (with the
 * step's fused post-ops), a direct one otherwise. */
static seqrt_status conv_pd(sq_builder *b, const dnnl_dims_t in,
                            const dnnl_dims_t out,
                            dnnl_memory_desc_t *user_weights,
                            dnnl_memory_desc_t *bias) {
  const sq_layer *layer = b->layer;
  dnnl_memory_desc_t src;
  dnnl_convolution_desc_t desc;
  seqrt_status st = sq_md_tagged(layer, layer->in.rank, in, b->src_tag, &src);
  if (st == SEQRT_OK && winograd_pays(b, in, out) &&
      conv_desc(layer, in, &src, out, b->dst_tag, dnnl_convolution_winograd,
                &desc, user_weights, bias) == SEQRT_OK &&
      dnnl_primitive_desc_create(&b->pd, &desc, b->attr, b->plan->engine,
                                 NULL) == dnnl_success) {
    if (winograd_kernel_pays(b, out)) return SEQRT_OK;
    dnnl_primitive_desc_destroy(b->pd);
    b->pd = NULL;
  }
  if (st == SEQRT_OK)
    st = conv_desc(layer, in, &src, out, b->dst_tag, dnnl_convolution_direct,
                   &desc, user_weights, bias);
  if (st == SEQRT_OK && few_outputs(layer, out))
    return sq_builder_create_pd_preferring(b, &desc, "convolution", "jit:");
  if (st == SEQRT_OK) st = sq_builder_create_pd(b, &desc, "convolution");
  return st;
}

seqrt_status sq_build_conv(sq_builder *b) {
  const sq_layer *layer = b->layer;
  if (layer->kind == SQ_CONVTRANSPOSE) return build_deconv(b);
  dnnl_dims_t in, padded, out;
  int64_t kernel_size;
  sq_dims(&layer->in, b->plan->batch, in);
  sq_dims(&layer->out, b->plan->batch, out);
  seqrt_status st = padded_dims(layer, in, padded);
  if (st == SEQRT_OK) st = check_conv(layer, padded, out, &kernel_size);
  if (st != SEQRT_OK) return st;
  if (has_prepad(layer)) return build_prepadded(b, in, padded, out);
  if (sq_conv_kernel_fits(b)) return sq_build_conv_kernel(b, in, out);
  if (sq_winograd_kernel_fits(b)) return sq_build_winograd_kernel(b, in, out);
  dnnl_memory_desc_t user_weights, bias;
  st = conv_pd(b, in, out, &user_weights, &bias);
  if (st == SEQRT_OK && strstr(sq_pd_impl(b->pd), "gemm") &&
      sq_patch_kernel_fits(b)) {
    /* oneDNN's im2col gemm: seqrt's patch kernel is 2-20x faster. */
    dnnl_primitive_desc_destroy(b->pd);
    b->pd = NULL;
    return sq_build_patch_kernel(b, in, out);
  }
  return st == SEQRT_OK ? add_weights(b, &user_weights, &bias) : st;
}

/* ---- transposed convolution ---- */

static seqrt_status check_deconv_window(const sq_layer *layer,
                                        const dnnl_dims_t in,
                                        const dnnl_dims_t out) {
  int spatial = layer->in.rank - 2;
  if (spatial < 1 || spatial > SQ_MAX_SPATIAL || layer->spatial != spatial ||
      layer->out.rank != layer->in.rank)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "layer '%s' (ConvTranspose): input rank %d with %d "
                    "spatial dims (supported: 1 to 3 spatial dims)",
                    layer->name, layer->in.rank, layer->spatial);
  for (int i = 0; i < spatial; i++) {
    int64_t k = layer->kernel[i], s = layer->stride[i], d = layer->dilation[i];
    int64_t pb = layer->pad_begin[i], pe = layer->pad_end[i];
    int64_t op = layer->output_padding[i];
    if (k < 1 || s < 1 || d < 1 || pb < 0 || pe < 0 || op < 0 ||
        (op >= s && op >= d))
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "layer '%s' (ConvTranspose): bad window along spatial "
                      "dim %d (kernel %lld, stride %lld, dilation %lld, pads "
                      "%lld/%lld, output padding %lld)",
                      layer->name, i, (long long)k, (long long)s, (long long)d,
                      (long long)pb, (long long)pe, (long long)op);
    int64_t expected = (in[2 + i] - 1) * s - pb - pe + (k - 1) * d + 1 + op;
    if (out[2 + i] != expected)
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "layer '%s' (ConvTranspose): output size %lld along "
                      "spatial dim %d, expected %lld",
                      layer->name, (long long)out[2 + i], i,
                      (long long)expected);
  }
  return SEQRT_OK;
}

static seqrt_status check_deconv(const sq_layer *layer, const dnnl_dims_t in,
                                 const dnnl_dims_t out, int64_t *kernel_size) {
  seqrt_status st = check_deconv_window(layer, in, out);
  return st == SEQRT_OK ? check_channels(layer, in, out, kernel_size) : st;
}

/* oneDNN's deconvolution weights are [O, I, k...] or, grouped,
 * [g, O/g, I/g, k...]; the chain's array is [I, O/g, k...]: the same bytes
 * seen through strides. */
static seqrt_status
deconv_user_weights(const sq_layer *layer, const dnnl_dims_t in,
                    const dnnl_dims_t out, int64_t kernel_size, int *wrank,
                    dnnl_dims_t wdims, dnnl_memory_desc_t *md) {
  int64_t g = layer->groups, ig = in[1] / g, og = out[1] / g;
  dnnl_dims_t strides;
  int n = 0;
  if (g > 1) {
    wdims[n] = g;
    strides[n++] = ig * og * kernel_size;
  }
  wdims[n] = og;
  strides[n++] = kernel_size;
  wdims[n] = ig;
  strides[n++] = og * kernel_size;
  int64_t inner = kernel_size;
  for (int i = 0; i < layer->spatial; i++) {
    inner /= layer->kernel[i];
    wdims[n] = layer->kernel[i];
    strides[n++] = inner;
  }
  *wrank = n;
  SQ_DNNL(layer, "weights memory descriptor",
          dnnl_memory_desc_init_by_strides(md, n, wdims, dnnl_f32, strides));
  return SEQRT_OK;
}

static seqrt_status build_deconv(sq_builder *b) {
  const sq_layer *layer = b->layer;
  int rank = layer->in.rank, wrank = 0;
  dnnl_dims_t in, out, wdims, bdims, strides, dilates, pad_l, pad_r;
  int64_t kernel_size = 1;
  sq_dims(&layer->in, b->plan->batch, in);
  sq_dims(&layer->out, b->plan->batch, out);
  seqrt_status st = check_deconv(layer, in, out, &kernel_size);
  if (st != SEQRT_OK) return st;
  if (sq_deconv_kernel_fits(b)) return sq_build_deconv_kernel(b, in, out);
  bdims[0] = out[1];
  sq_window_arrays(layer, strides, dilates, pad_l, pad_r);
  /* Output padding extends the far end: dst = (src - 1) * s + span - pl -
   * pr holds exactly with pr = pad_end - output_padding. */
  for (int i = 0; i < layer->spatial; i++) pad_r[i] -= layer->output_padding[i];
  dnnl_memory_desc_t src, weights, bias, dst, user_weights;
  st = deconv_user_weights(layer, in, out, kernel_size, &wrank, wdims,
                           &user_weights);
  if (st == SEQRT_OK) st = sq_md_any(layer, rank, in, &src);
  if (st == SEQRT_OK) st = sq_md_any(layer, wrank, wdims, &weights);
  if (st == SEQRT_OK) st = sq_md_any(layer, rank, out, &dst);
  if (st == SEQRT_OK) st = sq_md_plain(layer, 1, bdims, &bias);
  if (st != SEQRT_OK) return st;
  dnnl_deconvolution_desc_t desc;
  SQ_DNNL(layer, "deconvolution descriptor",
          dnnl_dilated_deconvolution_forward_desc_init(
              &desc, dnnl_forward_inference, dnnl_deconvolution_direct, &src,
              &weights, layer->bias.data ? &bias : NULL, &dst, strides, dilates,
              pad_l, pad_r));
  st = sq_builder_create_pd(b, &desc, "deconvolution");
  return st == SEQRT_OK ? add_weights(b, &user_weights, &bias) : st;
}
