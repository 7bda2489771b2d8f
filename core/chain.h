/* The chain: seqrt's own model representation, produced by importer/ and
 * consumed by runtime/. It knows neither protobuf nor oneDNN. */
#ifndef SEQRT_CORE_CHAIN_H
#define SEQRT_CORE_CHAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "seqrt.h"

#define SQ_MAX_RANK SEQRT_MAX_RANK
#define SQ_MAX_SPATIAL 3

/* Layer families: one runtime builder each. */
typedef enum sq_family {
  SQ_FAMILY_LINEAR,    /* fully connected over the last dim */
  SQ_FAMILY_CONV,      /* convolution and transposed convolution */
  SQ_FAMILY_POOL,      /* max / average / Lp pooling */
  SQ_FAMILY_NORM,      /* batch, instance, group, layer, local response */
  SQ_FAMILY_ELTWISE,   /* y = f(x) elementwise (PReLU: per-channel slope) */
  SQ_FAMILY_SOFTMAX,   /* softmax / log-softmax / softmin over one axis */
  SQ_FAMILY_RESHAPE,   /* a view: same data, new shape */
  SQ_FAMILY_GATE,      /* GLU: split in two along an axis, a * sigmoid(b) */
  SQ_FAMILY_PAD,       /* constant / reflect / replicate / circular padding */
  SQ_FAMILY_RESIZE,    /* nearest / linear upsampling */
  SQ_FAMILY_SHUFFLE,   /* pixel / channel shuffle, permute, slice: a view */
  SQ_FAMILY_EMBEDDING, /* int64 indices -> rows of a table */
  SQ_FAMILY_REDUCE,    /* mean / sum / max / ... over some non-batch dims */
  SQ_FAMILY_BINARY     /* x + w, x * w with a constant w broadcast to x */
} sq_family;

/* Every layer kind, with its display name (torchinfo-like) and family.
 * To add a kind: one row here, one case in the importer's op table, one in
 * the runtime's builder for its family. Parameters per kind are documented
 * at sq_layer's fields. */
#define SQ_LAYER_KINDS(X)                                                      \
  X(LINEAR, "Linear", SQ_FAMILY_LINEAR)                                        \
  X(CONV, "Conv", SQ_FAMILY_CONV)                                              \
  X(CONVTRANSPOSE, "ConvTranspose", SQ_FAMILY_CONV)                            \
  X(MAXPOOL, "MaxPool", SQ_FAMILY_POOL)                                        \
  X(AVGPOOL, "AvgPool", SQ_FAMILY_POOL)                                        \
  X(LPPOOL, "LPPool", SQ_FAMILY_POOL)                                          \
  X(BATCHNORM, "BatchNorm", SQ_FAMILY_NORM)                                    \
  X(INSTANCENORM, "InstanceNorm", SQ_FAMILY_NORM)                              \
  X(GROUPNORM, "GroupNorm", SQ_FAMILY_NORM)                                    \
  X(LAYERNORM, "LayerNorm", SQ_FAMILY_NORM)                                    \
  X(LRN, "LocalResponseNorm", SQ_FAMILY_NORM)                                  \
  X(RELU, "ReLU", SQ_FAMILY_ELTWISE)                                           \
  X(RELU6, "ReLU6", SQ_FAMILY_ELTWISE)                                         \
  X(HARDTANH, "Hardtanh", SQ_FAMILY_ELTWISE)                                   \
  X(LEAKYRELU, "LeakyReLU", SQ_FAMILY_ELTWISE)                                 \
  X(PRELU, "PReLU", SQ_FAMILY_ELTWISE)                                         \
  X(SIGMOID, "Sigmoid", SQ_FAMILY_ELTWISE)                                     \
  X(LOGSIGMOID, "LogSigmoid", SQ_FAMILY_ELTWISE)                               \
  X(TANH, "Tanh", SQ_FAMILY_ELTWISE)                                           \
  X(ELU, "ELU", SQ_FAMILY_ELTWISE)                                             \
  X(CELU, "CELU", SQ_FAMILY_ELTWISE)                                           \
  X(SELU, "SELU", SQ_FAMILY_ELTWISE)                                           \
  X(GELU, "GELU", SQ_FAMILY_ELTWISE)                                           \
  X(GELU_TANH, "GELU(tanh)", SQ_FAMILY_ELTWISE)                                \
  X(SILU, "SiLU", SQ_FAMILY_ELTWISE)                                           \
  X(MISH, "Mish", SQ_FAMILY_ELTWISE)                                           \
  X(HARDSIGMOID, "Hardsigmoid", SQ_FAMILY_ELTWISE)                             \
  X(HARDSWISH, "Hardswish", SQ_FAMILY_ELTWISE)                                 \
  X(SOFTPLUS, "Softplus", SQ_FAMILY_ELTWISE)                                   \
  X(SOFTSIGN, "Softsign", SQ_FAMILY_ELTWISE)                                   \
  X(TANHSHRINK, "Tanhshrink", SQ_FAMILY_ELTWISE)                               \
  X(SOFTSHRINK, "Softshrink", SQ_FAMILY_ELTWISE)                               \
  X(HARDSHRINK, "Hardshrink", SQ_FAMILY_ELTWISE)                               \
  X(THRESHOLD, "Threshold", SQ_FAMILY_ELTWISE)                                 \
  X(AFFINE, "Affine", SQ_FAMILY_ELTWISE)                                       \
  X(POW, "Pow", SQ_FAMILY_ELTWISE)                                             \
  X(ABS, "Abs", SQ_FAMILY_ELTWISE)                                             \
  X(SQRT, "Sqrt", SQ_FAMILY_ELTWISE)                                           \
  X(EXP, "Exp", SQ_FAMILY_ELTWISE)                                             \
  X(LOG, "Log", SQ_FAMILY_ELTWISE)                                             \
  X(SOFTMAX, "Softmax", SQ_FAMILY_SOFTMAX)                                     \
  X(LOGSOFTMAX, "LogSoftmax", SQ_FAMILY_SOFTMAX)                               \
  X(SOFTMIN, "Softmin", SQ_FAMILY_SOFTMAX)                                     \
  X(FLATTEN, "Flatten", SQ_FAMILY_RESHAPE)                                     \
  X(RESHAPE, "Reshape", SQ_FAMILY_RESHAPE)                                     \
  X(GLU, "GLU", SQ_FAMILY_GATE)                                                \
  X(PAD, "Pad", SQ_FAMILY_PAD)                                                 \
  X(UPSAMPLE, "Upsample", SQ_FAMILY_RESIZE)                                    \
  X(PIXELSHUFFLE, "PixelShuffle", SQ_FAMILY_SHUFFLE)                           \
  X(PIXELUNSHUFFLE, "PixelUnshuffle", SQ_FAMILY_SHUFFLE)                       \
  X(CHANNELSHUFFLE, "ChannelShuffle", SQ_FAMILY_SHUFFLE)                       \
  X(TRANSPOSE, "Permute", SQ_FAMILY_SHUFFLE)                                   \
  X(SLICE, "Slice", SQ_FAMILY_SHUFFLE)                                         \
  X(EMBEDDING, "Embedding", SQ_FAMILY_EMBEDDING)                               \
  X(REDUCEMEAN, "Mean", SQ_FAMILY_REDUCE)                                      \
  X(REDUCESUM, "Sum", SQ_FAMILY_REDUCE)                                        \
  X(REDUCEMAX, "Amax", SQ_FAMILY_REDUCE)                                       \
  X(REDUCEMIN, "Amin", SQ_FAMILY_REDUCE)                                       \
  X(REDUCEPROD, "Prod", SQ_FAMILY_REDUCE)                                      \
  X(REDUCEL1, "Norm(p=1)", SQ_FAMILY_REDUCE)                                   \
  X(REDUCEL2, "Norm(p=2)", SQ_FAMILY_REDUCE)                                   \
  X(REDUCESUMSQUARE, "SumSquare", SQ_FAMILY_REDUCE)                            \
  X(NORMALIZE, "Normalize", SQ_FAMILY_REDUCE)                                  \
  X(ADDCONST, "Add", SQ_FAMILY_BINARY)                                         \
  X(MULCONST, "Mul", SQ_FAMILY_BINARY)

typedef enum sq_kind {
#define SQ_KIND_ENUM(id, name, family) SQ_##id,
  SQ_LAYER_KINDS(SQ_KIND_ENUM)
#undef SQ_KIND_ENUM
      SQ_KIND_COUNT
} sq_kind;

const char *sq_kind_name(sq_kind kind);
sq_family sq_kind_family(sq_kind kind);

/* dims[0] carries the batch. With a dynamic batch axis it is negative:
 * -1 is the batch itself, -K (K > 1) the batch times K, where a layer
 * merged the batch with following dims (Flatten(0), Reshape [-1, ...]);
 * printed "-1*K". Other dims are always > 0. */
typedef struct sq_shape {
  int rank;
  int64_t dims[SQ_MAX_RANK];
} sq_shape;

typedef enum sq_pad_mode {
  SQ_PAD_CONSTANT,
  SQ_PAD_REFLECT,
  SQ_PAD_REPLICATE, /* ONNX "edge" */
  SQ_PAD_CIRCULAR   /* ONNX "wrap" (opset 19) or torch's Slice/Concat form */
} sq_pad_mode;

typedef enum sq_resize_mode {
  SQ_RESIZE_NEAREST,
  SQ_RESIZE_LINEAR
} sq_resize_mode;

/* ONNX Resize coordinate_transformation_mode. */
typedef enum sq_resize_coord {
  SQ_COORD_HALF_PIXEL,
  SQ_COORD_PYTORCH_HALF_PIXEL,
  SQ_COORD_ALIGN_CORNERS,
  SQ_COORD_ASYMMETRIC
} sq_resize_coord;

/* ONNX Resize nearest_mode. */
typedef enum sq_resize_nearest {
  SQ_NEAREST_ROUND_PREFER_FLOOR,
  SQ_NEAREST_ROUND_PREFER_CEIL,
  SQ_NEAREST_FLOOR,
  SQ_NEAREST_CEIL
} sq_resize_nearest;

/* A dense float array of its layer, 64-byte aligned (sq_aligned_alloc). */
typedef struct sq_weights {
  float *data; /* NULL when absent (e.g. a conv without bias) */
  int64_t count;
  sq_shape shape;
} sq_weights;

typedef struct sq_layer {
  sq_kind kind;
  char *name;   /* module path ("fc1", "features.0"); never NULL */
  char *nodes;  /* ONNX node names covered, comma separated; never NULL */
  char *folded; /* module names folded into this layer, comma separated */
  sq_shape in;  /* input shape, batch -1 if dynamic */
  sq_shape out; /* output shape, batch -1 if dynamic */

  /* LINEAR: weight [out_features, in_features] (already transposed from
   *   MatMul form, Gemm alpha/beta applied), bias [out_features] or NULL.
   *   Input rank >= 2; the weights apply to the last dim.
   * CONV: weight [O, I/groups, k...], bias [O] or NULL.
   * CONVTRANSPOSE: weight [I, O/groups, k...] (ONNX/PyTorch layout), bias
   *   [O] or NULL; output_padding already added to `out`.
   * BATCHNORM: weight = scale [C], bias = shift [C]; y = x*scale + shift
   *   per channel (dim 1).
   * INSTANCENORM, GROUPNORM: weight = gamma [C], bias = beta [C] (both NULL
   *   without affine), `epsilon`; GROUPNORM has `groups`.
   * LAYERNORM: normalise over dims [axis, rank); weight/bias shaped like
   *   those dims, or NULL without affine; `epsilon`.
   * LRN: across channels; size in kernel[0], alpha, beta, bias k in
   *   `epsilon` (y = x / (k + alpha/size * sum x^2)^beta), the sum over
   *   channels [c - size/2, c + (size-1)/2] (PyTorch's window; ONNX's LRN
   *   centres even sizes the other way).
   * PRELU: weight = slopes [C] (or [1]) on dim 1.
   * ADDCONST, MULCONST: weight = the constant, of rank in.rank with each dim
   *   1 or in's (dim 0 always 1), broadcast to x: y = x + w, y = x * w.
   * EMBEDDING: weight = table [num_embeddings, dim]; input int64 indices,
   *   out = in + [dim]. */
  sq_weights weight;
  sq_weights bias;

  /* CONV and pools: spatial = rank - 2; pads are explicit (auto_pad
   * resolved by the importer); ceil_mode already reflected in pad_end so
   * that out = (in + pb + pe - ((k-1)*d+1)) / s + 1 exactly. */
  int spatial;
  int64_t kernel[SQ_MAX_SPATIAL];
  int64_t stride[SQ_MAX_SPATIAL];
  int64_t dilation[SQ_MAX_SPATIAL]; /* 1 = no dilation */
  int64_t pad_begin[SQ_MAX_SPATIAL];
  int64_t pad_end[SQ_MAX_SPATIAL];
  int64_t groups;
  int64_t output_padding[SQ_MAX_SPATIAL]; /* CONVTRANSPOSE */
  bool count_include_pad;                 /* AVGPOOL */
  /* AVGPOOL with count_include_pad, and LPPOOL: the outer uncounted_begin /
   * uncounted_end cells of pad_begin / pad_end (at most those pads) are
   * padding the average does not count, so a window reaching into them
   * divides by fewer cells than the kernel's: ceil_mode's overhang (PyTorch
   * clips a window to the padded input), or an AveragePool's own excluded
   * pads around the zeros of a Pad before it. 0: all the padding counts. */
  int64_t uncounted_begin[SQ_MAX_SPATIAL];
  int64_t uncounted_end[SQ_MAX_SPATIAL];
  /* LPPOOL: y = (sum over the window of |x|^p)^(1/p) (ONNX LpPool) when
   * set; otherwise PyTorch's LPPool: (sum of x^p)^(1/p), which differs only
   * for negative inputs (NaN where the sum is negative, as in PyTorch).
   * Pads contribute 0 to the sum; a window reaching into uncounted padding
   * scales its sum by kernel cells / counted cells (PyTorch's
   * avg_pool(x^p) * kernel size with ceil_mode). */
  bool lp_abs;

  /* ELTWISE parameters (PyTorch names):
   *   LEAKYRELU alpha = negative_slope; ELU, CELU alpha; SELU alpha, beta =
   *   scale; RELU6 / HARDTANH alpha = min, beta = max; HARDSIGMOID alpha,
   *   beta (ONNX y = max(0, min(1, alpha*x + beta))); SOFTPLUS alpha = beta
   *   (y = log(1 + exp(alpha*x)) / alpha: ONNX semantics, no threshold);
   *   SOFTSHRINK, HARDSHRINK alpha = lambda; THRESHOLD alpha = threshold,
   *   beta = value; AFFINE y = alpha*x + beta (x + c, x * c, c - x, -x
   *   with a scalar c); POW y = alpha * x^beta (x ** p, c / x).
   * POOL: LPPOOL alpha = p.
   * NORM: see epsilon. */
  float alpha;
  float beta;
  float epsilon;

  /* SOFTMAX family and GLU (the split axis): the axis in `in` (0 <= axis <
   * rank). With coerce_2d
   * (opset < 13 semantics) the input is viewed as 2-D [prod(dims[:axis]),
   * prod(dims[axis:])] and normalised over the second dim. */
  int axis;
  bool coerce_2d;

  /* PAD: spatial dims only (dims 2..rank-1) in pad_begin/pad_end, which may
   * be negative (cropping). */
  sq_pad_mode pad_mode;
  float pad_value; /* constant mode */
  /* PAD circular (added by the importer): the begin padding of spatial dim
   * i copies the input's elements [circular_from[i], circular_from[i] +
   * pad_begin[i]) along that dim; the end padding copies [0, pad_end[i]).
   * A true circular pad has circular_from[i] = in size - pad_begin[i];
   * torch 1.13 exports Conv(padding_mode='circular') off by one, as
   * in size - pad_begin[i] - 1, and seqrt computes what the file says. */
  int64_t circular_from[SQ_MAX_SPATIAL];
  /* CONV pre-padding (a Conv with padding_mode reflect/replicate/circular,
   * its module's Pad merged into it): the input is first padded along
   * spatial dim i by prepad_begin[i] / prepad_end[i] (>= 0) in pad_mode,
   * with pad_value and circular_from as for PAD, then convolved with the
   * zero padding pad_begin/pad_end. All zero: no pre-padding. */
  int64_t prepad_begin[SQ_MAX_SPATIAL];
  int64_t prepad_end[SQ_MAX_SPATIAL];

  /* UPSAMPLE: output size is `out`; scales[i] = out/in of spatial dim i
   * as ONNX gives it (used by the coordinate transform). */
  sq_resize_mode resize_mode;
  sq_resize_coord resize_coord;
  sq_resize_nearest resize_nearest;
  float scales[SQ_MAX_SPATIAL];

  /* PIXELSHUFFLE / PIXELUNSHUFFLE: block size; CHANNELSHUFFLE: groups. */
  int64_t block;
  /* TRANSPOSE: out dim k is in dim perm[k] (perm[0] = 0, the batch). */
  int perm[SQ_MAX_RANK];
  /* SLICE (x[:, a:b:s], x[:, i]): along each dim d > 0 of `in`, the
   * slice_len[d] elements at slice_start[d] + j * slice_step[d] (step >= 1);
   * dim 0, the batch, is whole. `out` holds the same elements: the lengths,
   * with the dims in `dropped` removed (an index, x[:, i]). */
  int64_t slice_start[SQ_MAX_RANK];
  int64_t slice_step[SQ_MAX_RANK];
  int64_t slice_len[SQ_MAX_RANK];
  bool dropped[SQ_MAX_RANK];

  /* REDUCE family: the dims of `in` reduced (never dim 0, the batch).
   * `out` has them as 1 (keepdims) or without them; the data is the same
   * either way. NORMALIZE (F.normalize): out = in, y = x / max(||x||_p,
   * epsilon) with the p-norm (p = alpha, 1 or 2) over the reduced dims. */
  bool reduced[SQ_MAX_RANK];
} sq_layer;

typedef struct sq_chain {
  sq_layer *layers;
  int n_layers;
  sq_shape input; /* batch -1 if dynamic */
  seqrt_dtype input_dtype;
  sq_shape output;
  char *input_name;
  char *output_name;
  char *removed; /* modules removed at import (Dropout, Identity), comma
                    separated; never NULL */
  int64_t opset;
  int64_t ir_version;
  char *producer; /* "pytorch 1.13.1" or "" */
} sq_chain;

void sq_chain_free(sq_chain *chain);

/* Free the data; leaves the weights empty. */
void sq_weights_release(sq_weights *weights);

/* A dim's size at a batch size (batch > 0): -K is batch * K. */
static inline int64_t sq_dim_size(int64_t dim, int64_t batch) {
  return dim < 0 ? batch * -dim : dim;
}

/* Number of elements of a shape with the batch substituted (batch > 0). */
int64_t sq_shape_count(const sq_shape *shape, int64_t batch);

/* "[-1, 3, 28, 28]"-style text into buf; a merged batch dim -K shows as
 * "-1*K" ("[-1*3, 28, 28]"). */
const char *sq_shape_format(const sq_shape *shape, char *buf, size_t size);
/* Any list of sizes as given ("[-3, 4]": a negative value is not a batch). */
const char *sq_dims_format(int rank, const int64_t *dims, char *buf,
                           size_t size);

int64_t sq_layer_parameters(const sq_layer *layer);
/* Bytes of every layer's parameters (4 each). */
uint64_t sq_chain_weight_bytes(const sq_chain *chain);

/* True if each sample's output depends on that sample's input only, so
 * that any split of the batch into slices, each run on its own, gives the
 * same output: the batch axis is dynamic in every layer and no layer
 * normalises along it (Softmax over dim 0, say). */
bool sq_chain_samples_independent(const sq_chain *chain);

/* Arithmetic of one run at `batch`: 2 per multiply-add of a convolution or
 * linear layer, a window's elements per pooled output, one per output
 * element of any other layer. */
double sq_layer_flop(const sq_layer *layer, int64_t batch);

/* An AVGPOOL or LPPOOL whose average counts some of its padding but not all
 * (uncounted_*) runs on its input zero-padded by the counted part: true and
 * that padded input's shape (the batch as in `in`) for such a layer, false
 * for any other. */
bool sq_pool_padded_shape(const sq_layer *layer, sq_shape *out);

/* The layer's input as its computation first sees it: a CONV's input after
 * its pre-padding, a pool's after its counted padding (above), any other
 * layer's `in`. */
void sq_layer_padded_input(const sq_layer *layer, sq_shape *out);

/* 64-byte aligned allocation for weights and activations (free with free).
 * NULL on failure or overflow. With SEQRT_HUGE_PAGES=1 in the environment
 * (sq_huge_pages_wanted), an allocation of 2 MiB and more is 2 MiB aligned
 * and advised to use transparent huge pages. Opt-in, like PyTorch's
 * THP_MEM_ALLOC_ENABLE: their first touch was 3x faster than 4 KiB pages'
 * on the AMD EPYC VM (a 4096x4096 transpose: 330 -> 110 ms), but on the
 * Intel Xeon VM, whose hypervisor backs memory again after it has lain
 * free for a few seconds, 4x slower (150 MB: ~415 ms against ~100 ms),
 * and most runs were no faster on them there: only big weights that
 * every run streams move onto them (sq_collapse_huge_pages). */
#define SQ_HUGE_PAGE ((size_t)2 << 20)
bool sq_huge_pages_wanted(void);
void *sq_aligned_alloc(size_t bytes);

/* SEQRT_HUGE_PAGES=0: not even sq_collapse_huge_pages. */
bool sq_huge_pages_refused(void);

/* Move the whole 2 MiB pages inside [data, data + bytes) onto transparent
 * huge pages now, contents kept (madvise MADV_COLLAPSE, Linux 6.1 and
 * later; elsewhere nothing happens). For weights a GEMM streams on every
 * run: dnnl_sgemm on the wide MLP's 4096 x 4096 weights at 256 rows ran
 * 3% faster from them (1 thread, 124 -> 120 ms for its three layers), at
 * a one-time cost of ~2.6 ms per 2 MiB on the Intel Xeon VM, whose
 * hypervisor backs free huge pages again when they are first used. */
void sq_collapse_huge_pages(const void *data, size_t bytes);

/* Give the whole pages inside [from, to) back to the system (madvise
 * MADV_DONTNEED): an anonymous page then reads as zeros, a page of a file
 * mapping as the file again. Returns the first byte not given back, where
 * a release of the bytes that follow should start. */
const void *sq_release_pages(const void *from, const void *to);

/* Big arrays copied out of memory that is then given back are copied this
 * many bytes at a time, each slice released once copied: the source and
 * its copy are never both whole in memory. */
#define SQ_RELEASE_SLICE_BYTES ((size_t)4 << 20)

#endif
