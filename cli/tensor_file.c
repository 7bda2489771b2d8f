#include "tensor_file.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };
enum { ONNX_FLOAT = 1, ONNX_INT64 = 7 };

static int has_suffix(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

typedef struct reader {
  const unsigned char *p, *end;
} reader;

static int read_varint(reader *r, uint64_t *out) {
  uint64_t value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (r->p >= r->end) return -1;
    unsigned char b = *r->p++;
    value |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = value;
      return 0;
    }
  }
  return -1;
}

/* The parts of a TensorProto seqrt reads; others are skipped. */
typedef struct pb_tensor {
  int64_t dims[SEQRT_MAX_RANK];
  int rank;
  int64_t data_type;
  reader raw, floats, int64s; /* packed payloads (or empty) */
  size_t n_unpacked;          /* unpacked repeated values are not supported */
} pb_tensor;

static int skip_field(reader *r, int wire) {
  uint64_t len;
  switch (wire) {
  case PB_VARINT: return read_varint(r, &len);
  case PB_I64:
    if (r->end - r->p < 8) return -1;
    r->p += 8;
    return 0;
  case PB_I32:
    if (r->end - r->p < 4) return -1;
    r->p += 4;
    return 0;
  case PB_LEN:
    if (read_varint(r, &len) || len > (uint64_t)(r->end - r->p)) return -1;
    r->p += len;
    return 0;
  }
  return -1;
}

static int read_len(reader *r, reader *field) {
  uint64_t len;
  if (read_varint(r, &len) || len > (uint64_t)(r->end - r->p)) return -1;
  *field = (reader){r->p, r->p + len};
  r->p += len;
  return 0;
}

static int add_dim(pb_tensor *t, uint64_t dim) {
  if (t->rank == SEQRT_MAX_RANK || dim > INT32_MAX) return -1;
  t->dims[t->rank++] = (int64_t)dim;
  return 0;
}

static int read_field(reader *r, pb_tensor *t) {
  uint64_t key, value;
  if (read_varint(r, &key)) return -1;
  int field = (int)(key >> 3), wire = (int)(key & 7);
  if (field == 1 && wire == PB_VARINT)
    return read_varint(r, &value) || add_dim(t, value);
  if (field == 1 && wire == PB_LEN) {
    reader packed;
    if (read_len(r, &packed)) return -1;
    while (packed.p < packed.end)
      if (read_varint(&packed, &value) || add_dim(t, value)) return -1;
    return 0;
  }
  if (field == 2 && wire == PB_VARINT) {
    if (read_varint(r, &value)) return -1;
    t->data_type = (int64_t)value;
    return 0;
  }
  if (field == 9 && wire == PB_LEN) return read_len(r, &t->raw);
  if (field == 4 && wire == PB_LEN) return read_len(r, &t->floats);
  if (field == 7 && wire == PB_LEN) return read_len(r, &t->int64s);
  if (field == 4 || field == 7) t->n_unpacked++;
  return skip_field(r, wire);
}

/* Decodes packed int64 varints into `out` (count values). */
static int unpack_int64(reader packed, int64_t *out, size_t count) {
  for (size_t i = 0; i < count; i++) {
    uint64_t v;
    if (read_varint(&packed, &v)) return -1;
    out[i] = (int64_t)v;
  }
  return packed.p == packed.end ? 0 : -1;
}

int pb_parse(const unsigned char *bytes, size_t size, seqrt_tensor *out,
             char *err, size_t err_size) {
  pb_tensor t = {0};
  reader r = {bytes, bytes + size};
  while (r.p < r.end)
    if (read_field(&r, &t))
      return set_error(err, err_size,
                       "malformed TensorProto (truncated or bad field)");
  if (t.n_unpacked)
    return set_error(
        err, err_size,
        "TensorProto with unpacked repeated data is not supported");
  if (t.data_type != ONNX_FLOAT && t.data_type != ONNX_INT64)
    return set_error(err, err_size,
                     "TensorProto data_type %lld is not supported: expected "
                     "FLOAT (1) or INT64 (7)",
                     (long long)t.data_type);
  memset(out, 0, sizeof *out);
  out->dtype = t.data_type == ONNX_FLOAT ? SEQRT_FLOAT32 : SEQRT_INT64;
  out->rank = t.rank;
  memcpy(out->dims, t.dims, sizeof t.dims);
  size_t count = 1, item = t.data_type == ONNX_FLOAT ? 4 : 8;
  for (int i = 0; i < t.rank; i++) {
    if (t.dims[i] && count > ((size_t)1 << 40) / (size_t)t.dims[i])
      return set_error(err, err_size, "TensorProto too large");
    count *= (size_t)t.dims[i];
  }
  size_t nbytes = count * item;
  const reader *payload = t.raw.p                       ? &t.raw
                          : out->dtype == SEQRT_FLOAT32 ? &t.floats
                                                        : &t.int64s;
  size_t have = (size_t)(payload->end - payload->p);
  /* Checked before allocating, so that a few bytes cannot claim terabytes;
   * packed int64 varints take at least one byte each. */
  if (payload == &t.int64s ? have < count : have != nbytes)
    return set_error(err, err_size,
                     "TensorProto data size does not match its shape: %zu "
                     "elements of %s need %s%zu bytes, the data has %zu",
                     count, out->dtype == SEQRT_FLOAT32 ? "float32" : "int64",
                     payload == &t.int64s ? "at least " : "",
                     payload == &t.int64s ? count : nbytes, have);
  out->data = malloc(nbytes ? nbytes : 1);
  if (!out->data) return set_error(err, err_size, "out of memory");
  int ok;
  if (t.raw.p)
    ok = (size_t)(t.raw.end - t.raw.p) == nbytes;
  else if (out->dtype == SEQRT_FLOAT32)
    ok = (size_t)(t.floats.end - t.floats.p) == nbytes;
  else
    ok = unpack_int64(t.int64s, out->data, count) == 0;
  if (ok && t.raw.p)
    memcpy(out->data, t.raw.p, nbytes);
  else if (ok && out->dtype == SEQRT_FLOAT32 && nbytes)
    memcpy(out->data, t.floats.p, nbytes);
  if (!ok) {
    free(out->data);
    out->data = NULL;
    return set_error(err, err_size,
                     "TensorProto data size does not match its shape (%zu "
                     "elements)",
                     count);
  }
  return 0;
}

static int read_file(const char *path, unsigned char **bytes, size_t *size,
                     char *err, size_t err_size) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return set_error(err, err_size, "cannot open '%s': %s", path,
                     strerror(errno));
  long len = -1;
  if (fseek(f, 0, SEEK_END) == 0) len = ftell(f);
  *bytes = len >= 0 && fseek(f, 0, SEEK_SET) == 0
               ? malloc(len ? (size_t)len : 1)
               : NULL;
  int ok = *bytes && fread(*bytes, 1, (size_t)len, f) == (size_t)len;
  fclose(f);
  if (!ok) {
    free(*bytes);
    return set_error(err, err_size, "cannot read '%s'", path);
  }
  *size = (size_t)len;
  return 0;
}

int tensor_read(const char *path, seqrt_tensor *out, char *err,
                size_t err_size) {
  unsigned char *bytes = NULL;
  size_t size = 0;
  if (read_file(path, &bytes, &size, err, err_size)) return -1;
  int rc = has_suffix(path, ".pb") ? pb_parse(bytes, size, out, err, err_size)
                                   : npy_parse(bytes, size, out, err, err_size);
  free(bytes);
  if (rc) {
    char reason[512];
    snprintf(reason, sizeof reason, "%s", err);
    set_error(err, err_size, "%s: %s", path, reason);
  }
  return rc;
}

static void put_varint(FILE *f, uint64_t v) {
  while (v >= 0x80) {
    fputc((int)(v & 0x7f) | 0x80, f);
    v >>= 7;
  }
  fputc((int)v, f);
}

static int pb_write(const char *path, const seqrt_tensor *t, char *err,
                    size_t err_size) {
  FILE *f = fopen(path, "wb");
  if (!f)
    return set_error(err, err_size, "cannot write '%s': %s", path,
                     strerror(errno));
  for (int i = 0; i < t->rank; i++) {
    put_varint(f, 1 << 3 | PB_VARINT);
    put_varint(f, (uint64_t)t->dims[i]);
  }
  put_varint(f, 2 << 3 | PB_VARINT);
  put_varint(f, t->dtype == SEQRT_INT64 ? ONNX_INT64 : ONNX_FLOAT);
  size_t nbytes = tensor_count(t) * (t->dtype == SEQRT_INT64 ? 8 : 4);
  put_varint(f, 9 << 3 | PB_LEN);
  put_varint(f, nbytes);
  int ok = fwrite(t->data, 1, nbytes, f) == nbytes;
  if (fclose(f) != 0) ok = 0;
  return ok ? 0 : set_error(err, err_size, "cannot write '%s'", path);
}

int tensor_write(const char *path, const seqrt_tensor *t, char *err,
                 size_t err_size) {
  return has_suffix(path, ".pb") ? pb_write(path, t, err, err_size)
                                 : npy_write(path, t, err, err_size);
}
