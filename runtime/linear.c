/* LINEAR: y = x W^T + b over the last dim. Rank 2 runs as an inner
 * product; higher ranks as a matmul whose weights broadcast over the leading
 * dims; rank 1 (a static vector, e.g. after Flatten(0) with a fixed batch)
 * as an inner product of one row. */
#include "internal.h"

static seqrt_status add_bias(sq_builder *b, int ndims, int64_t n) {
  const sq_layer *layer = b->layer;
  if (!layer->bias.data) return SEQRT_OK;
  dnnl_dims_t dims;
  for (int i = 0; i < ndims; i++) dims[i] = 1;
  dims[ndims - 1] = n;
  dnnl_memory_desc_t md;
  seqrt_status st = sq_md_plain(layer, ndims, dims, &md);
  if (st == SEQRT_OK)
    st = sq_builder_add_const(b, DNNL_ARG_BIAS, &md, layer->bias.data);
  return st;
}

/* From this many rows a 2-D Linear runs as a matmul on blocked weights:
 * oneDNN's brgemm matmul beat its inner product there (1 thread, median
 * of 15: 256x4096 -> 4096 190 against 170 GFLOP/s, 2 threads 388 against
 * 332; -> 1000 200 against 181), and equalled it on the smaller MLP
 * shapes. With fewer rows the weights stream (gemv-like) and the inner
 * product was faster: 1x4096 -> 4096 1.59 against 1.87 ms. Layers with
 * weights too big for the caches run seqrt's sgemm kernel from as many
 * rows instead (linear_kernel.c). */
#define SQ_MATMUL_MIN_ROWS 32

/* The inner product's src: plain (plain_io); after a folded Flatten, the
 * layout the previous step wrote (read as it is); else oneDNN's choice. */
static seqrt_status ip_src(const sq_builder *b, int ndims, const dnnl_dims_t in,
                           bool plain_io, dnnl_memory_desc_t *src) {
  if (b->flatten) {
    *src = b->in_md;
    return SEQRT_OK;
  }
  return plain_io ? sq_md_plain(b->layer, ndims, in, src)
                  : sq_md_any(b->layer, ndims, in, src);
}

static seqrt_status ip_pd(sq_builder *b, const dnnl_memory_desc_t *src,
                          const dnnl_memory_desc_t *weights,
                          const dnnl_memory_desc_t *bias,
                          const dnnl_memory_desc_t *dst) {
  dnnl_inner_product_desc_t desc;
  SQ_DNNL(b->layer, "inner product descriptor",
          dnnl_inner_product_forward_desc_init(
              &desc, dnnl_forward_inference, src, weights,
              b->layer->bias.data ? bias : NULL, dst));
  return sq_builder_create_pd(b, &desc, "inner product");
}

/* Weights a Linear's primitive streams from memory on every run read
 * faster from huge pages: the wide MLP at batch 8 took 12.7-12.8 against
 * 13.8-14.1 ms on 1 thread, at 16 16.5-17.1 against 17.8-18.6 ms; AlexNet's
 * Linear layers at batch 8 28.2 against 31.6 ms. The reordered copy is
 * fresh, but it is made from pages given back as it goes: advised before
 * it was written, its huge pages filled at once and peak RSS rose by the
 * copy (AlexNet 296 -> 402 MB). So it moves once it is whole. */
static void stream_weights_from_huge_pages(sq_builder *b) {
  const sq_prim *main = &b->step->main;
  void *data = NULL;
  if (b->layer->weight.count < SQ_STREAMED_WEIGHTS || main->n_consts == 0 ||
      dnnl_memory_get_data_handle(main->consts[main->n_consts - 1].memory,
                                  &data) != dnnl_success)
    return;
  sq_collapse_huge_pages(data, (size_t)b->layer->weight.count * sizeof(float));
}

/* An inner product of an [M, K1, ...] src (K = K1 x ...) to [M, N]; the
 * weights [N, K] are seen as [N, K1, ...]. plain_io: src and dst in plain
 * layout (a rank-1 layer's bytes seen as one row). */
static seqrt_status inner_product(sq_builder *b, int ndims,
                                  const dnnl_dims_t in, const dnnl_dims_t out,
                                  bool plain_io) {
  const sq_layer *layer = b->layer;
  int64_t n = out[1];
  dnnl_dims_t wdims = {n}, bdims = {n};
  for (int i = 1; i < ndims; i++) wdims[i] = in[i];
  dnnl_memory_desc_t src, weights, bias, dst, user_weights;
  seqrt_status st = ip_src(b, ndims, in, plain_io, &src);
  if (st == SEQRT_OK) st = sq_md_any(layer, ndims, wdims, &weights);
  if (st == SEQRT_OK)
    st = plain_io ? sq_md_plain(layer, 2, out, &dst)
                  : sq_md_any(layer, 2, out, &dst);
  if (st == SEQRT_OK) st = sq_md_plain(layer, 1, bdims, &bias);
  if (st == SEQRT_OK) st = sq_md_plain(layer, ndims, wdims, &user_weights);
  if (st != SEQRT_OK) return st;
  st = ip_pd(b, &src, &weights, &bias, &dst);
  if (st != SEQRT_OK && b->flatten) {
    /* No inner product reads the layout the activation arrives in: let
     * oneDNN choose, and the step reorders to it. */
    st = sq_md_any(layer, ndims, in, &src);
    if (st == SEQRT_OK) st = ip_pd(b, &src, &weights, &bias, &dst);
  }
  if (st == SEQRT_OK)
    st = sq_builder_add_const(b, DNNL_ARG_WEIGHTS, &user_weights,
                              layer->weight.data);
  if (st == SEQRT_OK) stream_weights_from_huge_pages(b);
  if (st == SEQRT_OK) st = add_bias(b, 1, n);
  return st;
}

/* plain_io: src and dst in plain layout (a view of more dims' bytes). */
static seqrt_status matmul(sq_builder *b, int ndims, const dnnl_dims_t in,
                           const dnnl_dims_t out, int64_t k, int64_t n,
                           bool plain_io) {
  const sq_layer *layer = b->layer;
  /* B = W^T as [1, ..., 1, K, N]: the chain's [N, K] array seen with
   * strides (.., 1, K). */
  dnnl_dims_t wdims, wstrides;
  for (int i = 0; i < ndims; i++) {
    wdims[i] = 1;
    wstrides[i] = k * n;
  }
  wdims[ndims - 2] = k;
  wdims[ndims - 1] = n;
  wstrides[ndims - 2] = 1;
  wstrides[ndims - 1] = k;
  dnnl_memory_desc_t src, weights, bias, dst, user_weights;
  seqrt_status st = plain_io ? sq_md_plain(layer, ndims, in, &src)
                             : sq_md_any(layer, ndims, in, &src);
  if (st == SEQRT_OK) st = sq_md_any(layer, ndims, wdims, &weights);
  if (st == SEQRT_OK)
    st = plain_io ? sq_md_plain(layer, ndims, out, &dst)
                  : sq_md_any(layer, ndims, out, &dst);
  if (st != SEQRT_OK) return st;
  SQ_DNNL(layer, "weights memory descriptor",
          dnnl_memory_desc_init_by_strides(&user_weights, ndims, wdims,
                                           dnnl_f32, wstrides));
  dnnl_dims_t bdims;
  for (int i = 0; i < ndims; i++) bdims[i] = 1;
  bdims[ndims - 1] = n;
  st = sq_md_plain(layer, ndims, bdims, &bias);
  if (st != SEQRT_OK) return st;
  dnnl_matmul_desc_t desc;
  SQ_DNNL(layer, "matmul descriptor",
          dnnl_matmul_desc_init(&desc, &src, &weights,
                                layer->bias.data ? &bias : NULL, &dst));
  st = sq_builder_create_pd(b, &desc, "matmul");
  if (st == SEQRT_OK)
    st = sq_builder_add_const(b, DNNL_ARG_WEIGHTS, &user_weights,
                              layer->weight.data);
  if (st == SEQRT_OK) stream_weights_from_huge_pages(b);
  if (st == SEQRT_OK) st = add_bias(b, ndims, n);
  return st;
}

/* A Linear over the last dim of a rank-3+ activation: one product of all
 * its rows, on the plain bytes seen as [rows, K] and [rows, N]. oneDNN's
 * matmul with the weights broadcast over the leading dims ran a product
 * per leading index ([16, 16, 512] -> 512 -> 512 on one thread: 2.51-2.55
 * ms, against 1.53-1.55 ms for the same rows as [256, 512]). */
static seqrt_status all_rows(sq_builder *b, int rank, const dnnl_dims_t in,
                             const dnnl_dims_t out, int64_t k, int64_t n) {
  int64_t rows = 1;
  for (int i = 0; i < rank - 1; i++) rows *= in[i];
  dnnl_dims_t in2 = {rows, k}, out2 = {rows, n};
  seqrt_status st = rows < SQ_MATMUL_MIN_ROWS
                        ? inner_product(b, 2, in2, out2, true)
                        : matmul(b, 2, in2, out2, k, n, true);
  if (st == SEQRT_OK) st = sq_md_plain(b->layer, rank, in, &b->src_md);
  if (st == SEQRT_OK) st = sq_md_plain(b->layer, rank, out, &b->dst_md);
  return st;
}

/* A rank-1 [K] -> [N] layer: one row of an inner product, on the same
 * plain bytes. */
static seqrt_status one_row(sq_builder *b, int64_t k, int64_t n) {
  dnnl_dims_t row_in = {1, k}, row_out = {1, n}, in = {k}, out = {n};
  seqrt_status st = inner_product(b, 2, row_in, row_out, true);
  if (st == SEQRT_OK) st = sq_md_plain(b->layer, 1, in, &b->src_md);
  if (st == SEQRT_OK) st = sq_md_plain(b->layer, 1, out, &b->dst_md);
  return st;
}

seqrt_status sq_build_linear(sq_builder *b) {
  const sq_layer *layer = b->layer;
  int rank = layer->in.rank;
  dnnl_dims_t in, out;
  if (rank < 1 || layer->out.rank != rank)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (Linear): input rank %d, output rank %d "
                    "(need equal ranks >= 1)",
                    layer->name, rank, layer->out.rank);
  sq_dims(&layer->in, b->plan->batch, in);
  sq_dims(&layer->out, b->plan->batch, out);
  for (int i = 0; i < rank - 1; i++)
    if (in[i] != out[i])
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "layer '%s' (Linear): output dim %d is %lld, input has "
                      "%lld",
                      layer->name, i, (long long)out[i], (long long)in[i]);
  int64_t k = in[rank - 1], n = out[rank - 1];
  seqrt_status st =
      sq_check_weights(layer, &layer->weight, "weight", n * k, true);
  if (st == SEQRT_OK)
    st = sq_check_weights(layer, &layer->bias, "bias", n, false);
  if (st != SEQRT_OK) return st;
  if (sq_linear_kernel_fits(b)) return sq_build_linear_kernel(b, k, n);
  if (rank == 1) return one_row(b, k, n);
  if (b->flatten) {
    /* The folded Flatten's input: the inner product reads it unflattened. */
    sq_dims(&b->flatten->in, b->plan->batch, in);
    return inner_product(b, b->flatten->in.rank, in, out, false);
  }
  if (rank > 2) return all_rows(b, rank, in, out, k, n);
  if (in[0] < SQ_MATMUL_MIN_ROWS) return inner_product(b, 2, in, out, false);
  return matmul(b, 2, in, out, k, n, false);
}

/* A view of [M, K1, ...] as [M, K] (a Flatten) just before a Linear that
 * runs as an inner product folds into it: oneDNN's inner product takes the
 * unflattened src in the blocked layout a convolution or pool wrote, so no
 * reorder to plain runs between them. */
bool sq_linear_folds_view(const sq_plan *plan, const sq_layer *view,
                          const sq_layer *linear) {
  if (sq_kind_family(view->kind) != SQ_FAMILY_RESHAPE ||
      linear->kind != SQ_LINEAR || view->in.rank < 3 || view->in.rank > 5 ||
      view->out.rank != 2 || linear->in.rank != 2)
    return false;
  dnnl_dims_t in, out;
  sq_dims(&view->in, plan->batch, in);
  sq_dims(&view->out, plan->batch, out);
  return in[0] == out[0] && out[0] < SQ_MATMUL_MIN_ROWS &&
         sq_shape_count(&view->in, plan->batch) ==
             sq_shape_count(&view->out, plan->batch);
}
