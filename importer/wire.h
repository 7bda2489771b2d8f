/* The protobuf wire format, walked by hand before protobuf-c parses a
 * model: the weights' bytes (raw_data of graph.initializer) are left out
 * of what protobuf-c copies, and read from the model's own bytes. */
#ifndef SEQRT_IMPORTER_WIRE_H
#define SEQRT_IMPORTER_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "seqrt.h"

/* A base-128 varint of at most 10 bytes ending before `end`; advances *p. */
bool sq_wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *out);

/* Where the raw_data of one graph.initializer lies in the model's bytes. */
typedef struct sq_payload {
  size_t offset; /* of its first byte */
  size_t length;
  size_t header; /* bytes of its own field's tag and length, just before it */
  bool present;  /* the tensor has raw_data (of several, the last counts) */
} sq_payload;

/* The model's bytes and the payloads of its initializers. */
typedef struct sq_payloads {
  const uint8_t *base;
  /* The pages of a payload may be given back once it is copied out
   * (sq_import_releasing). */
  bool releasable;
  sq_payload *items; /* one per graph.initializer, in order */
  size_t count;
} sq_payloads;

/* Copy the ModelProto in data[0, size) into *stripped (malloc'd,
 * *stripped_size bytes) without the raw_data fields of graph.initializer
 * entries, length prefixes re-encoded, and record those payloads in
 * payloads->items (malloc'd; payloads->base is set, releasable left as is).
 * Structural errors at the levels walked (model, graph, initializers) are
 * SEQRT_ERR_PARSE with no message set: protobuf-c rejects those bytes too.
 * SEQRT_ERR_NOMEM sets its message. */
seqrt_status sq_wire_strip(const uint8_t *data, size_t size, uint8_t **stripped,
                           size_t *stripped_size, sq_payloads *payloads);

#endif
