/* POOL: max / average (include or exclude padding) pooling with dilation,
 * on whatever layout the previous step produced. LPPOOL is x^p (oneDNN
 * eltwise into the spare buffer), then an average pool that counts the
 * padding, with post-ops x kernel size (the sum) and ^(1/p). An average
 * that counts some of its padding but not all (chain.h: uncounted_*) reads
 * its input zero-padded by the counted part (the padding kernel writes it,
 * plain, into the spare buffer) and excludes the rest of the padding: a
 * window reaching into that divides by the cells it covers, as PyTorch's
 * ceil_mode windows clipped to the padded input do. */
#include <math.h>

#include "internal.h"

/* The dims and oneDNN window of one pool; with `padded`, the pool reads
 * the input zero-padded to `src` dims and pads only by the uncounted
 * padding. */
typedef struct pool_window {
  dnnl_dims_t in, out, src, strides, kernel, dilates, pad_l, pad_r;
  bool padded;
} pool_window;

/* Whether the average divides by the whole kernel: padding counted (an
 * AVGPOOL's count_include_pad; an LPPOOL always) and none of it uncounted.
 * Otherwise it divides by the cells of its (padded) input it covers. */
static bool counts_whole_kernel(const sq_layer *layer) {
  if (layer->kind == SQ_AVGPOOL && !layer->count_include_pad) return false;
  for (int i = 0; i < layer->spatial; i++)
    if (layer->uncounted_begin[i] || layer->uncounted_end[i]) return false;
  return true;
}

static dnnl_alg_kind_t pool_alg(const sq_layer *layer) {
  if (layer->kind == SQ_MAXPOOL) return dnnl_pooling_max;
  return counts_whole_kernel(layer) ? dnnl_pooling_avg_include_padding
                                    : dnnl_pooling_avg_exclude_padding;
}

static seqrt_status check_uncounted(const sq_layer *layer) {
  if (layer->kind == SQ_MAXPOOL) return SEQRT_OK;
  for (int i = 0; i < layer->spatial; i++) {
    int64_t begin = layer->uncounted_begin[i], end = layer->uncounted_end[i];
    if (begin < 0 || end < 0 || begin > layer->pad_begin[i] ||
        end > layer->pad_end[i])
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "layer '%s' (%s): uncounted padding %lld/%lld of "
                      "spatial dim %d is not within its pads %lld/%lld",
                      layer->name, sq_kind_name(layer->kind), (long long)begin,
                      (long long)end, i, (long long)layer->pad_begin[i],
                      (long long)layer->pad_end[i]);
  }
  return SEQRT_OK;
}

/* The input the pool reads: the layer's, or (counting some padding and not
 * the rest) that input zero-padded by the counted part, the pool then
 * padding by the uncounted part only. */
static void set_padded_input(const sq_builder *b, pool_window *w) {
  const sq_layer *layer = b->layer;
  for (int i = 0; i < layer->in.rank; i++) w->src[i] = w->in[i];
  sq_shape padded;
  w->padded = layer->kind != SQ_MAXPOOL && sq_pool_padded_shape(layer, &padded);
  if (!w->padded) return;
  sq_dims(&padded, b->plan->batch, w->src);
  for (int i = 0; i < layer->spatial; i++) {
    w->pad_l[i] = layer->uncounted_begin[i];
    w->pad_r[i] = layer->uncounted_end[i];
  }
}

static seqrt_status pool_window_make(const sq_builder *b, pool_window *w) {
  const sq_layer *layer = b->layer;
  sq_dims(&layer->in, b->plan->batch, w->in);
  sq_dims(&layer->out, b->plan->batch, w->out);
  seqrt_status st = sq_check_window(layer, w->in, w->out);
  if (st == SEQRT_OK) st = check_uncounted(layer);
  if (st != SEQRT_OK) return st;
  if (w->in[0] != w->out[0] || w->in[1] != w->out[1])
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (%s): batch/channels %lldx%lld in, %lldx%lld "
                    "out",
                    layer->name, sq_kind_name(layer->kind), (long long)w->in[0],
                    (long long)w->in[1], (long long)w->out[0],
                    (long long)w->out[1]);
  sq_window_arrays(layer, w->strides, w->dilates, w->pad_l, w->pad_r);
  for (int i = 0; i < layer->spatial; i++) w->kernel[i] = layer->kernel[i];
  set_padded_input(b, w);
  return SEQRT_OK;
}

/* The padding kernel: the plain input (at SRC) zero-padded by the counted
 * padding into the spare buffer, *md describing it there. */
static seqrt_status add_padding(sq_builder *b, const pool_window *w,
                                dnnl_memory_desc_t *md) {
  const sq_layer *layer = b->layer;
  int64_t begin[SQ_MAX_SPATIAL] = {0}, from[SQ_MAX_SPATIAL] = {0};
  for (int i = 0; i < layer->spatial; i++)
    begin[i] = layer->pad_begin[i] - layer->uncounted_begin[i];
  seqrt_status st = sq_md_plain(layer, layer->in.rank, w->in, &b->src_md);
  if (st == SEQRT_OK) st = sq_md_plain(layer, layer->in.rank, w->src, md);
  if (st != SEQRT_OK) return st;
  sq_pad_desc pad = {SQ_PAD_CONSTANT, 0.0f, begin, from};
  return sq_pad_add_kernel(b, &pad, layer->in.rank, w->in, w->src, SQ_AT_OTHER);
}

/* The pooling op reading `src` at `from` and writing the step's output. A
 * step whose pool reads the spare buffer runs in place: the output then
 * goes where the input was, and the spare buffer is the other one. */
static seqrt_status add_pool_op(sq_builder *b, const pool_window *w,
                                const dnnl_memory_desc_t *src, sq_place from,
                                const_dnnl_post_ops_t post_ops) {
  const sq_layer *layer = b->layer;
  dnnl_memory_desc_t dst;
  seqrt_status st = sq_md_any(layer, layer->out.rank, w->out, &dst);
  if (st != SEQRT_OK) return st;
  dnnl_pooling_v2_desc_t desc;
  SQ_DNNL(layer, "pooling descriptor",
          dnnl_pooling_v2_forward_desc_init(
              &desc, dnnl_forward_inference, pool_alg(layer), src, &dst,
              w->strides, w->kernel, w->dilates, w->pad_l, w->pad_r));
  dnnl_primitive_desc_t pd = NULL;
  st = sq_op_pd(b, &desc, post_ops, "pooling", &pd);
  if (st == SEQRT_OK) {
    b->dst_md = *sq_pd_md(pd, DNNL_ARG_DST);
    b->in_place = from == SQ_AT_OTHER; /* the spare buffer is free */
    sq_op_arg args[2] = {{DNNL_ARG_SRC, from, *src},
                         {DNNL_ARG_DST, SQ_AT_DST, b->dst_md}};
    st = sq_op_add_prim(b, pd, 2, args, NULL);
  }
  dnnl_primitive_desc_destroy(pd);
  return st;
}

static seqrt_status build_lppool(sq_builder *b, const pool_window *w);

seqrt_status sq_build_pool(sq_builder *b) {
  const sq_layer *layer = b->layer;
  pool_window w;
  seqrt_status st = pool_window_make(b, &w);
  if (st != SEQRT_OK) return st;
  if (layer->kind == SQ_LPPOOL) return build_lppool(b, &w);
  if (sq_pool_kernel_fits(b)) return sq_build_pool_kernel(b);
  if (w.padded) {
    dnnl_memory_desc_t padded;
    st = add_padding(b, &w, &padded);
    return st == SEQRT_OK ? add_pool_op(b, &w, &padded, SQ_AT_OTHER, NULL) : st;
  }
  dnnl_memory_desc_t dst;
  st = sq_md_tagged(layer, layer->out.rank, w.out, b->dst_tag, &dst);
  if (st != SEQRT_OK) return st;
  dnnl_pooling_v2_desc_t desc;
  SQ_DNNL(layer, "pooling descriptor",
          dnnl_pooling_v2_forward_desc_init(
              &desc, dnnl_forward_inference, pool_alg(layer), &b->in_md, &dst,
              w.strides, w.kernel, w.dilates, w.pad_l, w.pad_r));
  return sq_builder_create_pd(b, &desc, "pooling");
}

/* ---- LPPool ---- */

/* x -> |x|^p or x^p, in place after the first op; returns how many ops. */
static int lp_pre_ops(const sq_layer *layer, sq_eltwise_op ops[2]) {
  float p = layer->alpha;
  int n = 0;
  if (layer->lp_abs) ops[n++] = (sq_eltwise_op){dnnl_eltwise_abs, 0.0f, 0.0f};
  if (p == 2.0f)
    ops[n++] = (sq_eltwise_op){dnnl_eltwise_square, 0.0f, 0.0f};
  else if (p != 1.0f)
    ops[n++] = (sq_eltwise_op){dnnl_eltwise_pow, 1.0f, p};
  return n;
}

static seqrt_status lp_post_ops(const sq_layer *layer, dnnl_post_ops_t post_ops,
                                float kernel_size) {
  float p = layer->alpha;
  /* PyTorch: sign(avg) * relu(|avg|) * kernel size, which is the sum itself
   * (so a negative sum gives NaN for fractional 1/p, as in PyTorch); a
   * window over uncounted padding: its sum * kernel size / counted cells. */
  SQ_DNNL(layer, "post-op",
          dnnl_post_ops_append_eltwise(post_ops, 1.0f, dnnl_eltwise_linear,
                                       kernel_size, 0.0f));
  if (p == 2.0f)
    SQ_DNNL(layer, "post-op",
            dnnl_post_ops_append_eltwise(post_ops, 1.0f, dnnl_eltwise_sqrt,
                                         0.0f, 0.0f));
  else if (p != 1.0f)
    SQ_DNNL(layer, "post-op",
            dnnl_post_ops_append_eltwise(post_ops, 1.0f, dnnl_eltwise_pow, 1.0f,
                                         1.0f / p));
  return SEQRT_OK;
}

/* The powers of the data (in `md`) at `from` go to the spare buffer (the
 * step is in place), the pool reads them there; with p = 1 and no |x| the
 * pool reads `from` itself. */
static seqrt_status lp_add_pre_ops(sq_builder *b, const dnnl_memory_desc_t *md,
                                   sq_place from, sq_place *pool_from) {
  sq_eltwise_op ops[2];
  int n = lp_pre_ops(b->layer, ops);
  seqrt_status st = SEQRT_OK;
  *pool_from = n ? SQ_AT_OTHER : from;
  for (int i = 0; i < n && st == SEQRT_OK; i++) {
    dnnl_eltwise_desc_t desc;
    SQ_DNNL(b->layer, "eltwise descriptor",
            dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_inference,
                                           ops[i].alg, md, ops[i].alpha,
                                           ops[i].beta));
    dnnl_primitive_desc_t pd = NULL;
    st = sq_op_pd(b, &desc, NULL, "eltwise", &pd);
    sq_op_arg args[2] = {{DNNL_ARG_SRC, i == 0 ? from : SQ_AT_OTHER, *md},
                         {DNNL_ARG_DST, SQ_AT_OTHER, *md}};
    if (st == SEQRT_OK) st = sq_op_add_prim(b, pd, 2, args, NULL);
    dnnl_primitive_desc_destroy(pd);
  }
  return st;
}

static seqrt_status build_lppool(sq_builder *b, const pool_window *w) {
  const sq_layer *layer = b->layer;
  float p = layer->alpha;
  if (!(p > 0.0f) || !isfinite(p))
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (LPPool): p = %g (must be > 0)", layer->name,
                    (double)p);
  float kernel_size = 1.0f;
  for (int i = 0; i < layer->spatial; i++) kernel_size *= (float)w->kernel[i];
  /* padded: the zeros' powers are zeros, so the powers run on the copy */
  dnnl_memory_desc_t src = b->in_md;
  sq_place from = SQ_AT_SRC, pool_from;
  seqrt_status st = SEQRT_OK;
  if (w->padded) {
    st = add_padding(b, w, &src);
    from = SQ_AT_OTHER;
  } else {
    b->src_md = b->in_md;
  }
  if (st == SEQRT_OK) st = lp_add_pre_ops(b, &src, from, &pool_from);
  dnnl_post_ops_t post_ops = NULL;
  if (st != SEQRT_OK) return st;
  SQ_DNNL(layer, "post-ops creation", dnnl_post_ops_create(&post_ops));
  st = lp_post_ops(layer, post_ops, kernel_size);
  if (st == SEQRT_OK) st = add_pool_op(b, w, &src, pool_from, post_ops);
  dnnl_post_ops_destroy(post_ops);
  return st;
}
