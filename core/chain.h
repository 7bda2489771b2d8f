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
  SQ_FAMILY_LINEAR,  /* fully connected over the last dim */
  SQ_FAMILY_CONV,    /* convolution 1-D/2-D/3-D */
  SQ_FAMILY_POOL,    /* max / average pooling */
  SQ_FAMILY_NORM,    /* per-channel scale and shift (inference BatchNorm) */
  SQ_FAMILY_ELTWISE, /* y = f(x) elementwise */
  SQ_FAMILY_SOFTMAX, /* softmax / log-softmax over one axis */
  SQ_FAMILY_RESHAPE  /* a view: same data, new shape */
} sq_family;

/* Every layer kind, with its display name (torchinfo-like) and family.
 * To add a kind: one row here, one case in the importer's op table, one in
 * the runtime's builder for its family. */
#define SQ_LAYER_KINDS(X)                                                      \
  X(LINEAR, "Linear", SQ_FAMILY_LINEAR)                                        \
  X(CONV, "Conv", SQ_FAMILY_CONV)                                              \
  X(MAXPOOL, "MaxPool", SQ_FAMILY_POOL)                                        \
  X(AVGPOOL, "AvgPool", SQ_FAMILY_POOL)                                        \
  X(BATCHNORM, "BatchNorm", SQ_FAMILY_NORM)                                    \
  X(RELU, "ReLU", SQ_FAMILY_ELTWISE)                                           \
  X(LEAKYRELU, "LeakyReLU", SQ_FAMILY_ELTWISE)                                 \
  X(SIGMOID, "Sigmoid", SQ_FAMILY_ELTWISE)                                     \
  X(TANH, "Tanh", SQ_FAMILY_ELTWISE)                                           \
  X(ELU, "ELU", SQ_FAMILY_ELTWISE)                                             \
  X(SOFTMAX, "Softmax", SQ_FAMILY_SOFTMAX)                                     \
  X(LOGSOFTMAX, "LogSoftmax", SQ_FAMILY_SOFTMAX)                               \
  X(FLATTEN, "Flatten", SQ_FAMILY_RESHAPE)                                     \
  X(RESHAPE, "Reshape", SQ_FAMILY_RESHAPE)

typedef enum sq_kind {
#define SQ_KIND_ENUM(id, name, family) SQ_##id,
  SQ_LAYER_KINDS(SQ_KIND_ENUM)
#undef SQ_KIND_ENUM
      SQ_KIND_COUNT
} sq_kind;

const char *sq_kind_name(sq_kind kind);
sq_family sq_kind_family(sq_kind kind);

/* dims[0] is the batch: -1 while symbolic (dynamic batch axis). */
typedef struct sq_shape {
  int rank;
  int64_t dims[SQ_MAX_RANK];
} sq_shape;

/* A dense float array owned by its layer. */
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
   * BATCHNORM: weight = scale [C], bias = shift [C]; y = x*scale + shift
   *   per channel (dim 1). */
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
  bool count_include_pad; /* AVGPOOL */

  /* ELTWISE: LEAKYRELU slope in alpha, ELU alpha in alpha. */
  float alpha;
  float beta;

  /* SOFTMAX family: the axis in `in` (0 <= axis < rank). With coerce_2d
   * (opset < 13 semantics) the input is viewed as 2-D [prod(dims[:axis]),
   * prod(dims[axis:])] and normalised over the second dim. */
  int axis;
  bool coerce_2d;
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

/* Number of elements of a shape with the batch substituted (batch > 0). */
int64_t sq_shape_count(const sq_shape *shape, int64_t batch);

/* "[-1, 3, 28, 28]"-style text into buf. */
const char *sq_shape_format(const sq_shape *shape, char *buf, size_t size);

int64_t sq_layer_parameters(const sq_layer *layer);

/* 64-byte aligned allocation for weights and activations (free with free);
 * NULL on failure or overflow. */
void *sq_aligned_alloc(size_t bytes);

#endif
