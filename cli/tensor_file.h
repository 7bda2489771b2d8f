/* Tensor files for the CLI: NumPy .npy, or ONNX TensorProto .pb (the ONNX
 * backend-test format), chosen by the file name's extension. */
#ifndef SEQRT_CLI_TENSOR_FILE_H
#define SEQRT_CLI_TENSOR_FILE_H

#include <stddef.h>

#include "seqrt.h"

/* Read `path` (.pb: TensorProto; otherwise .npy). out->data is malloc'ed;
 * returns 0, or -1 with a one-line reason in `err`. */
int tensor_read(const char *path, seqrt_tensor *out, char *err,
                size_t err_size);

/* Write float32/int64 `t` to `path` (.pb or .npy). 0, or -1 with `err`. */
int tensor_write(const char *path, const seqrt_tensor *t, char *err,
                 size_t err_size);

/* Parse an in-memory TensorProto (float32 or int64 data). */
int pb_parse(const unsigned char *bytes, size_t size, seqrt_tensor *out,
             char *err, size_t err_size);

#endif
