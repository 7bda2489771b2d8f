/* sq_wire_strip: a bounds-checked walk over the ModelProto, its graph and
 * the graph's initializers that copies everything but the initializers'
 * raw_data. Fields are delimited exactly as protobuf-c 1.4 delimits them,
 * so that it parses the copy into what it would have made of the original,
 * minus those payloads. */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* Field numbers in proto/onnx.proto. */
#define SQ_MODEL_GRAPH 7
#define SQ_GRAPH_INITIALIZER 5
#define SQ_TENSOR_RAW_DATA 9

#define SQ_WIRE_VARINT 0
#define SQ_WIRE_64BIT 1
#define SQ_WIRE_LENGTH 2
#define SQ_WIRE_32BIT 5

bool sq_wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
  *out = 0;
  for (int shift = 0; shift < 64 && *p < end; shift += 7) {
    uint8_t b = *(*p)++;
    *out |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

/* ---- fields ---------------------------------------------------------- */

typedef struct wire_field {
  const uint8_t *start; /* the tag */
  const uint8_t *body;  /* after the tag and, if any, the length prefix */
  const uint8_t *end;
  size_t tag_bytes;
  uint32_t number;
  int wire_type;
} wire_field;

/* A varint of at most `max_bytes` bytes (protobuf-c reads tags and length
 * prefixes of at most 5, other varints of at most 10). */
static bool limited_varint(const uint8_t **p, const uint8_t *end,
                           size_t max_bytes, uint64_t *out) {
  const uint8_t *limit = (size_t)(end - *p) > max_bytes ? *p + max_bytes : end;
  return sq_wire_varint(p, limit, out);
}

/* The field starting at p, ending at or before end; false if malformed. */
static bool next_field(const uint8_t *p, const uint8_t *end, wire_field *f) {
  const uint8_t *tag_start = p;
  uint64_t tag, value;
  if (!limited_varint(&p, end, 5, &tag)) return false;
  f->start = tag_start;
  f->tag_bytes = (size_t)(p - tag_start);
  f->number = (uint32_t)(tag >> 3);
  f->wire_type = (int)(tag & 7);
  f->body = p;
  size_t rem = (size_t)(end - p);
  switch (f->wire_type) {
  case SQ_WIRE_VARINT:
    if (!limited_varint(&p, end, 10, &value)) return false;
    f->end = p;
    return true;
  case SQ_WIRE_64BIT:
  case SQ_WIRE_32BIT: {
    size_t n = f->wire_type == SQ_WIRE_64BIT ? 8 : 4;
    if (rem < n) return false;
    f->end = p + n;
    return true;
  }
  case SQ_WIRE_LENGTH: {
    /* read as a 32-bit value, as protobuf-c does */
    if (!limited_varint(&p, end, 5, &value)) return false;
    uint32_t len = (uint32_t)value;
    if (len > (size_t)(end - p)) return false;
    f->body = p;
    f->end = p + len;
    return true;
  }
  default: return false; /* groups and invalid wire types */
  }
}

/* ---- the copy -------------------------------------------------------- */

enum { LEVEL_MODEL, LEVEL_GRAPH, LEVEL_TENSOR, LEVEL_NONE };

typedef struct strip_state {
  uint8_t *out; /* NULL: only measure */
  size_t capacity, used;
  sq_payloads *payloads; /* filled only while copying */
  size_t payload_capacity;
} strip_state;

/* Copies beyond the measured capacity are dropped (and the sizes then
 * differ: sq_wire_strip fails). */
static void emit(strip_state *s, const uint8_t *bytes, size_t n) {
  if (s->out && s->used <= s->capacity && n <= s->capacity - s->used)
    memcpy(s->out + s->used, bytes, n);
  s->used += n;
}

static void emit_varint(strip_state *s, uint64_t value) {
  uint8_t buf[10];
  size_t n = 0;
  do {
    buf[n++] = (uint8_t)((value & 0x7f) | (value > 0x7f ? 0x80 : 0));
    value >>= 7;
  } while (value);
  emit(s, buf, n);
}

/* The message a field holds when it is one the copy descends into. */
static int child_level(int level, const wire_field *f) {
  if (f->wire_type != SQ_WIRE_LENGTH) return LEVEL_NONE;
  if (level == LEVEL_MODEL && f->number == SQ_MODEL_GRAPH) return LEVEL_GRAPH;
  if (level == LEVEL_GRAPH && f->number == SQ_GRAPH_INITIALIZER)
    return LEVEL_TENSOR;
  return LEVEL_NONE;
}

static seqrt_status add_payload(strip_state *s) {
  sq_payloads *p = s->payloads;
  if (p->count == s->payload_capacity) {
    size_t capacity = s->payload_capacity ? 2 * s->payload_capacity : 16;
    sq_payload *grown = realloc(p->items, capacity * sizeof *grown);
    if (!grown)
      return sq_error(SEQRT_ERR_NOMEM, "out of memory reading the model");
    p->items = grown;
    s->payload_capacity = capacity;
  }
  p->items[p->count++] = (sq_payload){0, 0, 0, false};
  return SEQRT_OK;
}

static void record_payload(strip_state *s, const wire_field *f) {
  if (!s->out) return;
  sq_payload *item = &s->payloads->items[s->payloads->count - 1];
  item->offset = (size_t)(f->body - s->payloads->base);
  item->length = (size_t)(f->end - f->body);
  item->header = (size_t)(f->body - f->start);
  item->present = true;
}

static seqrt_status strip_message(strip_state *s, int level, const uint8_t *p,
                                  const uint8_t *end);

/* A graph or an initializer: its tag, its new length, its stripped body. */
static seqrt_status strip_child(strip_state *s, int level,
                                const wire_field *f) {
  strip_state measure = {0};
  seqrt_status st = strip_message(&measure, level, f->body, f->end);
  if (st != SEQRT_OK) return st;
  emit(s, f->start, f->tag_bytes);
  emit_varint(s, measure.used);
  if (s->out && level == LEVEL_TENSOR && (st = add_payload(s)) != SEQRT_OK)
    return st;
  return strip_message(s, level, f->body, f->end);
}

static seqrt_status strip_message(strip_state *s, int level, const uint8_t *p,
                                  const uint8_t *end) {
  while (p < end) {
    wire_field f;
    if (!next_field(p, end, &f)) return SEQRT_ERR_PARSE;
    int child = child_level(level, &f);
    seqrt_status st = SEQRT_OK;
    if (level == LEVEL_TENSOR && f.number == SQ_TENSOR_RAW_DATA &&
        f.wire_type == SQ_WIRE_LENGTH)
      record_payload(s, &f);
    else if (child != LEVEL_NONE)
      st = strip_child(s, child, &f);
    else
      emit(s, f.start, (size_t)(f.end - f.start));
    if (st != SEQRT_OK) return st;
    p = f.end;
  }
  return SEQRT_OK;
}

seqrt_status sq_wire_strip(const uint8_t *data, size_t size, uint8_t **stripped,
                           size_t *stripped_size, sq_payloads *payloads) {
  *stripped = NULL;
  *stripped_size = 0;
  payloads->base = data;
  payloads->items = NULL;
  payloads->count = 0;
  strip_state measure = {0};
  seqrt_status st = strip_message(&measure, LEVEL_MODEL, data, data + size);
  if (st != SEQRT_OK) return st;
  strip_state copy = {malloc(measure.used ? measure.used : 1), measure.used, 0,
                      payloads, 0};
  if (!copy.out)
    return sq_error(SEQRT_ERR_NOMEM, "out of memory reading the model");
  st = strip_message(&copy, LEVEL_MODEL, data, data + size);
  if (st == SEQRT_OK && copy.used != measure.used) st = SEQRT_ERR_PARSE;
  if (st != SEQRT_OK) {
    free(copy.out);
    free(payloads->items);
    payloads->items = NULL;
    payloads->count = 0;
    return st;
  }
  *stripped = copy.out;
  *stripped_size = copy.used;
  return SEQRT_OK;
}
