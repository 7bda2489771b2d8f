/* NumPy .npy files (format 1.0/2.0/3.0, little-endian, C order): float32
 * and int64 arrays, read and written whole. */
#ifndef SEQRT_CLI_NPY_H
#define SEQRT_CLI_NPY_H

#include <stddef.h>

#include "seqrt.h"

/* Parse an in-memory .npy image into `out` (out->data malloc'ed, caller
 * frees). Returns 0 on success; otherwise -1 with a one-line reason in
 * `err`. Files are read through tensor_read (tensor_file.h). */
int npy_parse(const unsigned char *bytes, size_t size, seqrt_tensor *out,
              char *err, size_t err_size);

/* Write `t` (float32 or int64) to `path`. 0 on success, -1 with `err`. */
int npy_write(const char *path, const seqrt_tensor *t, char *err,
              size_t err_size);

/* `err` = the formatted one-line reason; returns -1 (the readers' and
 * writers' failure value). */
int set_error(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Elements of a tensor (product of dims). */
size_t tensor_count(const seqrt_tensor *t);

#endif
