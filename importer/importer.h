/* ONNX → chain. The only part of seqrt that sees protobuf-c structures. */
#ifndef SEQRT_IMPORTER_H
#define SEQRT_IMPORTER_H

#include <stddef.h>
#include <stdint.h>

#include "../core/chain.h"

/* The bytes of an external data file, supplied by the caller. */
typedef struct sq_external_blob {
  const char *location; /* as written in the model's external_data */
  const void *data;
  size_t size;
} sq_external_blob;

typedef struct sq_import_options {
  /* Folder of the model file, for external data; NULL when loaded from
   * memory (external references are then rejected unless supplied). */
  const char *model_dir;
  /* Refuse models whose weights would need more bytes than this (0: a
   * default multiple of the buffer size). */
  uint64_t memory_limit;
  /* External data files supplied in memory, looked up by location before
   * the model's folder. */
  const sq_external_blob *external;
  size_t n_external;
} sq_import_options;

/* Parse an ONNX ModelProto from `data` and turn it into a chain. On failure
 * returns the status and sets the thread's message (core/error.h) naming the
 * node/tensor and the reason. The buffer is not retained. */
seqrt_status sq_import(const uint8_t *data, size_t size,
                       const sq_import_options *options, sq_chain **out);

/* The same, from bytes that are not needed once imported (a private
 * mapping of the model file, or the caller's own copy of it): the whole
 * pages of each initializer's payload are given back to the system
 * (sq_release_pages) as it is copied out, a few MiB at a time, so that the
 * weights are never held twice. The bytes must stay mapped until this
 * returns; afterwards the payloads read as zeros (anonymous memory) or as
 * the file again (a mapping of it). */
seqrt_status sq_import_releasing(const uint8_t *data, size_t size,
                                 const sq_import_options *options,
                                 sq_chain **out);

#endif
