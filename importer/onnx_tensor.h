/* ONNX TensorProto decoding: constants and weights as sq_value. */
#ifndef SEQRT_IMPORTER_ONNX_TENSOR_H
#define SEQRT_IMPORTER_ONNX_TENSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "core/chain.h"
#include "importer.h"
#include "onnx.pb-c.h"
#include "wire.h"

/* ONNX TensorProto.DataType values seqrt reads. */
enum {
  SQ_DT_UNDEFINED = 0,
  SQ_DT_FLOAT = 1,
  SQ_DT_UINT8 = 2,
  SQ_DT_INT8 = 3,
  SQ_DT_UINT16 = 4,
  SQ_DT_INT16 = 5,
  SQ_DT_INT32 = 6,
  SQ_DT_INT64 = 7,
  SQ_DT_BOOL = 9,
  SQ_DT_DOUBLE = 11
};

/* A constant tensor. Floating types are held as float in `f`, integer and
 * bool types as int64 in `i` (exactly one of the two is set). Values
 * computed from Shape may contain the symbolic batch size: then `batch` is
 * non-NULL and batch[k] != 0 marks element k as "the batch size" times
 * K, with -K in i[k] (the chain dim Shape read: -1 for the batch itself). */
typedef struct sq_value {
  int32_t dtype;
  int rank;
  int64_t dims[SQ_MAX_RANK];
  int64_t count;
  float *f;
  int64_t *i;
  uint8_t *batch;
} sq_value;

const char *sq_dtype_name(int32_t dtype);
bool sq_dtype_is_float(int32_t dtype);
/* Bytes per element in ONNX storage; 0 for types seqrt does not read. */
int sq_dtype_size(int32_t dtype);

/* A value whose storage the caller fills (not zeroed). */
seqrt_status sq_value_new(int32_t dtype, int rank, const int64_t *dims,
                          sq_value **out);
void sq_value_free(sq_value *value);
/* Allocate the per-element batch flags (all zero). */
seqrt_status sq_value_track_batch(sq_value *value);
bool sq_value_has_batch(const sq_value *value);
/* Element k as double, whatever the storage. */
double sq_value_float(const sq_value *value, int64_t k);

/* Element count of a tensor's declared dims, checking rank, signs and
 * overflow; the message names the tensor. */
seqrt_status sq_tensor_count(const Onnx__TensorProto *tensor, int64_t *count);
/* Bytes the tensor's data occupies in ONNX storage. */
seqrt_status sq_tensor_bytes(const Onnx__TensorProto *tensor, int64_t *bytes);

/* Decode a tensor (inline data or external file). External data comes
 * from the files `source` supplies in memory, else from its model_dir
 * (NULL when loaded from memory: then it is rejected). `source` may be
 * NULL. */
seqrt_status sq_tensor_decode(const Onnx__TensorProto *tensor,
                              const sq_import_options *source, sq_value **out);

/* Decode graph.initializer[index], whose raw_data the wire pass left in
 * the model's bytes (payloads, wire.h), into a value of its own; the
 * payload's whole pages are given back as it is copied when the payloads
 * are releasable. The payload is used up: a second decode fails like an
 * empty raw_data. */
seqrt_status sq_initializer_decode(const Onnx__TensorProto *tensor,
                                   const sq_import_options *source,
                                   sq_payloads *payloads, size_t index,
                                   sq_value **out);

#endif
