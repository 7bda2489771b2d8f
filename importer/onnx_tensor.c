/* TensorProto → sq_value: inline data (raw_data or typed fields) and
 * external data files confined to the model's folder. */
#define _GNU_SOURCE
#include "onnx_tensor.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

static const struct {
  int32_t dtype;
  const char *name;
  int size;
} dtype_table[] = {
    {SQ_DT_FLOAT, "FLOAT", 4},   {SQ_DT_UINT8, "UINT8", 1},
    {SQ_DT_INT8, "INT8", 1},     {SQ_DT_UINT16, "UINT16", 2},
    {SQ_DT_INT16, "INT16", 2},   {SQ_DT_INT32, "INT32", 4},
    {SQ_DT_INT64, "INT64", 8},   {8, "STRING", 0},
    {SQ_DT_BOOL, "BOOL", 1},     {10, "FLOAT16", 0},
    {SQ_DT_DOUBLE, "DOUBLE", 8}, {12, "UINT32", 0},
    {13, "UINT64", 0},           {14, "COMPLEX64", 0},
    {15, "COMPLEX128", 0},       {16, "BFLOAT16", 0},
};

const char *sq_dtype_name(int32_t dtype) {
  for (size_t k = 0; k < sizeof dtype_table / sizeof *dtype_table; k++)
    if (dtype_table[k].dtype == dtype) return dtype_table[k].name;
  return dtype == SQ_DT_UNDEFINED ? "UNDEFINED" : "unknown";
}

int sq_dtype_size(int32_t dtype) {
  for (size_t k = 0; k < sizeof dtype_table / sizeof *dtype_table; k++)
    if (dtype_table[k].dtype == dtype) return dtype_table[k].size;
  return 0;
}

bool sq_dtype_is_float(int32_t dtype) {
  return dtype == SQ_DT_FLOAT || dtype == SQ_DT_DOUBLE;
}

/* ---- values -------------------------------------------------------------- */

/* A value of `dtype` and dims without storage (not zeroed). */
static seqrt_status value_shell(int32_t dtype, int rank, const int64_t *dims,
                                sq_value **out) {
  if (rank < 0 || rank > SQ_MAX_RANK)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "constant of rank %d exceeds seqrt's maximum rank %d", rank,
                    SQ_MAX_RANK);
  int64_t count = 1;
  for (int k = 0; k < rank; k++)
    if (sq_mul_overflow(count, dims[k], &count))
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "constant size overflows (a dim is negative or the "
                      "product is too large)");
  size_t elem = sq_dtype_is_float(dtype) ? sizeof(float) : sizeof(int64_t);
  if ((uint64_t)count > SIZE_MAX / elem)
    return sq_error(SEQRT_ERR_LIMIT, "constant of %lld elements is too large",
                    (long long)count);
  sq_value *v = calloc(1, sizeof *v);
  if (!v)
    return sq_error(SEQRT_ERR_NOMEM,
                    "out of memory for a constant of %lld elements",
                    (long long)count);
  v->dtype = dtype;
  v->rank = rank;
  for (int k = 0; k < rank; k++) v->dims[k] = dims[k];
  v->count = count;
  *out = v;
  return SEQRT_OK;
}

seqrt_status sq_value_new(int32_t dtype, int rank, const int64_t *dims,
                          sq_value **out) {
  sq_value *v = NULL;
  seqrt_status st = value_shell(dtype, rank, dims, &v);
  if (st != SEQRT_OK) return st;
  size_t elem = sq_dtype_is_float(dtype) ? sizeof(float) : sizeof(int64_t);
  void *data = sq_aligned_alloc((size_t)v->count * elem);
  if (!data) {
    st = sq_error(SEQRT_ERR_NOMEM,
                  "out of memory for a constant of %lld "
                  "elements",
                  (long long)v->count);
    free(v);
    return st;
  }
  if (sq_dtype_is_float(dtype))
    v->f = data;
  else
    v->i = data;
  *out = v;
  return SEQRT_OK;
}

void sq_value_free(sq_value *value) {
  if (!value) return;
  free(value->f);
  free(value->i);
  free(value->batch);
  free(value);
}

seqrt_status sq_value_track_batch(sq_value *value) {
  if (value->batch) return SEQRT_OK;
  value->batch = calloc((size_t)(value->count ? value->count : 1), 1);
  if (!value->batch)
    return sq_error(SEQRT_ERR_NOMEM, "out of memory for shape flags");
  return SEQRT_OK;
}

bool sq_value_has_batch(const sq_value *value) {
  if (!value->batch) return false;
  for (int64_t k = 0; k < value->count; k++)
    if (value->batch[k]) return true;
  return false;
}

double sq_value_float(const sq_value *value, int64_t k) {
  return value->f ? (double)value->f[k] : (double)value->i[k];
}

/* ---- sizes --------------------------------------------------------------- */

static const char *tensor_name(const Onnx__TensorProto *t) {
  return t->name && *t->name ? t->name : "(unnamed)";
}

seqrt_status sq_tensor_count(const Onnx__TensorProto *t, int64_t *count) {
  if (t->n_dims > SQ_MAX_RANK)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "tensor '%s' has rank %zu; seqrt handles up to rank %d",
                    tensor_name(t), t->n_dims, SQ_MAX_RANK);
  int64_t n = 1;
  for (size_t k = 0; k < t->n_dims; k++) {
    if (t->dims[k] < 0)
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "tensor '%s' has a negative dim %lld (dim %zu)",
                      tensor_name(t), (long long)t->dims[k], k);
    if (sq_mul_overflow(n, t->dims[k], &n))
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "tensor '%s': the element count overflows",
                      tensor_name(t));
  }
  *count = n;
  return SEQRT_OK;
}

static seqrt_status tensor_dtype(const Onnx__TensorProto *t, int *size) {
  int32_t dtype = t->has_data_type ? t->data_type : SQ_DT_UNDEFINED;
  *size = sq_dtype_size(dtype);
  if (dtype == SQ_DT_UNDEFINED)
    return sq_error(SEQRT_ERR_INVALID_MODEL, "tensor '%s' has no element type",
                    tensor_name(t));
  if (*size == 0)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "tensor '%s' has element type %s (%d), which seqrt "
                    "does not read",
                    tensor_name(t), sq_dtype_name(dtype), (int)dtype);
  return SEQRT_OK;
}

seqrt_status sq_tensor_bytes(const Onnx__TensorProto *t, int64_t *bytes) {
  int64_t count;
  int size;
  seqrt_status st = sq_tensor_count(t, &count);
  if (st == SEQRT_OK) st = tensor_dtype(t, &size);
  if (st != SEQRT_OK) return st;
  if (sq_mul_overflow(count, size, bytes))
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "tensor '%s': the byte size overflows", tensor_name(t));
  return SEQRT_OK;
}

/* ---- inline data --------------------------------------------------------- */

/* Little-endian bytes → storage. `raw` may be unaligned: every element is
 * copied with memcpy. */
static void convert_raw(sq_value *v, const uint8_t *raw) {
  int64_t n = v->count;
  switch (v->dtype) {
  case SQ_DT_FLOAT: memcpy(v->f, raw, (size_t)n * 4); break;
  case SQ_DT_DOUBLE:
    for (int64_t k = 0; k < n; k++) {
      double d;
      memcpy(&d, raw + 8 * k, 8);
      v->f[k] = (float)d;
    }
    break;
  case SQ_DT_INT64: memcpy(v->i, raw, (size_t)n * 8); break;
  case SQ_DT_INT32:
    for (int64_t k = 0; k < n; k++) {
      int32_t x;
      memcpy(&x, raw + 4 * k, 4);
      v->i[k] = x;
    }
    break;
  case SQ_DT_INT16:
  case SQ_DT_UINT16:
    for (int64_t k = 0; k < n; k++) {
      uint16_t x;
      memcpy(&x, raw + 2 * k, 2);
      v->i[k] = v->dtype == SQ_DT_INT16 ? (int64_t)(int16_t)x : (int64_t)x;
    }
    break;
  case SQ_DT_INT8:
    for (int64_t k = 0; k < n; k++) v->i[k] = (int8_t)raw[k];
    break;
  case SQ_DT_BOOL:
    for (int64_t k = 0; k < n; k++) v->i[k] = raw[k] != 0;
    break;
  default: /* UINT8 */
    for (int64_t k = 0; k < n; k++) v->i[k] = raw[k];
    break;
  }
}

static seqrt_status count_mismatch(const Onnx__TensorProto *t,
                                   const char *field, size_t got,
                                   int64_t want) {
  return sq_error(SEQRT_ERR_INVALID_MODEL,
                  "tensor '%s' has %zu values in %s, expected %lld for its "
                  "dims",
                  tensor_name(t), got, field, (long long)want);
}

/* The typed repeated fields (float_data, int64_data, ...). */
static seqrt_status convert_typed(const Onnx__TensorProto *t, sq_value *v) {
  int64_t n = v->count;
  switch (v->dtype) {
  case SQ_DT_FLOAT:
    if ((int64_t)t->n_float_data != n)
      return count_mismatch(t, "float_data", t->n_float_data, n);
    if (n) memcpy(v->f, t->float_data, (size_t)n * sizeof(float));
    return SEQRT_OK;
  case SQ_DT_DOUBLE:
    if ((int64_t)t->n_double_data != n)
      return count_mismatch(t, "double_data", t->n_double_data, n);
    for (int64_t k = 0; k < n; k++) v->f[k] = (float)t->double_data[k];
    return SEQRT_OK;
  case SQ_DT_INT64:
    if ((int64_t)t->n_int64_data != n)
      return count_mismatch(t, "int64_data", t->n_int64_data, n);
    if (n) memcpy(v->i, t->int64_data, (size_t)n * sizeof(int64_t));
    return SEQRT_OK;
  default: /* INT32, INT16, INT8, UINT16, UINT8, BOOL live in int32_data */
    if ((int64_t)t->n_int32_data != n)
      return count_mismatch(t, "int32_data", t->n_int32_data, n);
    for (int64_t k = 0; k < n; k++)
      v->i[k] = v->dtype == SQ_DT_BOOL ? t->int32_data[k] != 0
                                       : (int64_t)t->int32_data[k];
    return SEQRT_OK;
  }
}

/* ---- external data ------------------------------------------------------- */

typedef struct external_ref {
  const char *location;
  int64_t offset;
  int64_t length; /* -1: not given */
} external_ref;

static seqrt_status parse_size(const Onnx__TensorProto *t, const char *key,
                               const char *text, int64_t *out) {
  char *end = NULL;
  errno = 0;
  long long v = text ? strtoll(text, &end, 10) : -1;
  if (!text || !*text || *end || errno || v < 0)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "tensor '%s': external data %s '%s' is not a "
                    "non-negative integer",
                    tensor_name(t), key, text ? text : "");
  *out = v;
  return SEQRT_OK;
}

static seqrt_status read_external_ref(const Onnx__TensorProto *t,
                                      external_ref *ref) {
  ref->location = NULL;
  ref->offset = 0;
  ref->length = -1;
  for (size_t k = 0; k < t->n_external_data; k++) {
    const Onnx__StringStringEntryProto *e = t->external_data[k];
    if (!e->key) continue;
    seqrt_status st = SEQRT_OK;
    if (strcmp(e->key, "location") == 0)
      ref->location = e->value;
    else if (strcmp(e->key, "offset") == 0)
      st = parse_size(t, "offset", e->value, &ref->offset);
    else if (strcmp(e->key, "length") == 0)
      st = parse_size(t, "length", e->value, &ref->length);
    if (st != SEQRT_OK) return st;
  }
  if (!ref->location || !*ref->location)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "tensor '%s' is marked external but has no location",
                    tensor_name(t));
  return SEQRT_OK;
}

/* A relative path with no ".." component (either separator counts). */
static seqrt_status check_location(const Onnx__TensorProto *t,
                                   const char *loc) {
  if (loc[0] == '/' || loc[0] == '\\' ||
      (loc[0] && loc[1] == ':' && (loc[2] == '/' || loc[2] == '\\')))
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "tensor '%s': external data location '%s' is an "
                    "absolute path; only paths inside the model's folder are "
                    "allowed",
                    tensor_name(t), loc);
  const char *p = loc;
  while (*p) {
    size_t len = strcspn(p, "/\\");
    if (len == 2 && p[0] == '.' && p[1] == '.')
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "tensor '%s': external data location '%s' contains "
                      "'..'; only paths inside the model's folder are "
                      "allowed",
                      tensor_name(t), loc);
    p += len;
    if (*p) p++;
  }
  return SEQRT_OK;
}

/* realpath of model_dir/location, which must stay inside model_dir. */
static seqrt_status resolve_location(const Onnx__TensorProto *t,
                                     const char *model_dir, const char *loc,
                                     char **out) {
  char *dir = realpath(model_dir, NULL);
  if (!dir)
    return sq_error(SEQRT_ERR_IO,
                    "tensor '%s': cannot resolve the model "
                    "folder '%s': %s",
                    tensor_name(t), model_dir, strerror(errno));
  size_t n = strlen(dir) + strlen(loc) + 2;
  char *joined = malloc(n);
  if (!joined) {
    free(dir);
    return sq_error(SEQRT_ERR_NOMEM, "out of memory");
  }
  snprintf(joined, n, "%s/%s", dir, loc);
  char *real = realpath(joined, NULL);
  int err = errno;
  free(joined);
  if (!real) {
    free(dir);
    return sq_error(SEQRT_ERR_IO,
                    "tensor '%s': cannot open external data file '%s': %s",
                    tensor_name(t), loc, strerror(err));
  }
  size_t dlen = strlen(dir);
  /* the folder itself ("." or "sub/") is refused later as not a file */
  bool inside = strcmp(dir, "/") == 0 || strcmp(real, dir) == 0 ||
                (strncmp(real, dir, dlen) == 0 && real[dlen] == '/');
  free(dir);
  if (!inside) {
    free(real);
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "tensor '%s': external data file '%s' resolves outside "
                    "the model's folder (through a symbolic link)",
                    tensor_name(t), loc);
  }
  *out = real;
  return SEQRT_OK;
}

static seqrt_status read_file_range(const Onnx__TensorProto *t,
                                    const char *path, const char *loc,
                                    const external_ref *ref, int64_t bytes,
                                    uint8_t *buf) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return sq_error(SEQRT_ERR_IO,
                    "tensor '%s': cannot open external data file '%s': %s",
                    tensor_name(t), loc, strerror(errno));
  struct stat st;
  seqrt_status status = SEQRT_OK;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
    status = sq_error(SEQRT_ERR_IO,
                      "tensor '%s': external data '%s' is not a regular file",
                      tensor_name(t), loc);
  else if (ref->offset > st.st_size || bytes > st.st_size - ref->offset)
    status = sq_error(SEQRT_ERR_INVALID_MODEL,
                      "tensor '%s': external data '%s' offset %lld + length "
                      "%lld is beyond the end of the file (%lld bytes)",
                      tensor_name(t), loc, (long long)ref->offset,
                      (long long)bytes, (long long)st.st_size);
  else if (bytes > 0 && (fseeko(f, (off_t)ref->offset, SEEK_SET) != 0 ||
                         fread(buf, 1, (size_t)bytes, f) != (size_t)bytes))
    status =
        sq_error(SEQRT_ERR_IO,
                 "tensor '%s': cannot read %lld bytes at offset %lld "
                 "of external data '%s'",
                 tensor_name(t), (long long)bytes, (long long)ref->offset, loc);
  fclose(f);
  return status;
}

/* The file the caller supplied in memory under exactly `loc`, or NULL. */
static const sq_external_blob *supplied_file(const sq_import_options *source,
                                             const char *loc) {
  for (size_t k = 0; source && k < source->n_external; k++)
    if (strcmp(source->external[k].location, loc) == 0)
      return &source->external[k];
  return NULL;
}

static seqrt_status read_blob_range(const Onnx__TensorProto *t,
                                    const sq_external_blob *blob,
                                    const external_ref *ref, int64_t bytes,
                                    uint8_t *buf) {
  if ((uint64_t)ref->offset > blob->size ||
      (uint64_t)bytes > blob->size - (uint64_t)ref->offset)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "tensor '%s': external data '%s' offset %lld + length "
                    "%lld is beyond the end of the supplied data (%zu bytes)",
                    tensor_name(t), blob->location, (long long)ref->offset,
                    (long long)bytes, blob->size);
  if (bytes > 0)
    memcpy(buf, (const uint8_t *)blob->data + ref->offset, (size_t)bytes);
  return SEQRT_OK;
}

static seqrt_status decode_external(const Onnx__TensorProto *t,
                                    const sq_import_options *source,
                                    int64_t bytes, sq_value *v) {
  external_ref ref;
  seqrt_status st = read_external_ref(t, &ref);
  if (st != SEQRT_OK) return st;
  if ((st = check_location(t, ref.location)) != SEQRT_OK) return st;
  const sq_external_blob *blob = supplied_file(source, ref.location);
  const char *model_dir = source ? source->model_dir : NULL;
  if (!blob && !model_dir)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "tensor '%s' keeps its data in the external file '%s', "
                    "but the model was loaded from memory: external data "
                    "needs the model's folder (load it from a file) or the "
                    "file's bytes (seqrt_options_set_external_data)",
                    tensor_name(t), ref.location);
  if (ref.length >= 0 && ref.length != bytes)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "tensor '%s': external data length %lld does not match "
                    "the %lld bytes of its dims",
                    tensor_name(t), (long long)ref.length, (long long)bytes);
  char *path = NULL;
  if (!blob &&
      (st = resolve_location(t, model_dir, ref.location, &path)) != SEQRT_OK)
    return st;
  /* FLOAT and INT64 storage is the file's layout: read in place */
  bool direct = v->dtype == SQ_DT_FLOAT || v->dtype == SQ_DT_INT64;
  uint8_t *raw = direct ? (v->f ? (uint8_t *)v->f : (uint8_t *)v->i)
                        : malloc((size_t)(bytes ? bytes : 1));
  if (!raw) {
    free(path);
    return sq_error(SEQRT_ERR_NOMEM, "out of memory reading '%s'",
                    ref.location);
  }
  st = blob ? read_blob_range(t, blob, &ref, bytes, raw)
            : read_file_range(t, path, ref.location, &ref, bytes, raw);
  free(path);
  if (st == SEQRT_OK && !direct) convert_raw(v, raw);
  if (!direct) free(raw);
  return st;
}

/* ---- decode -------------------------------------------------------------- */

static const char *format_dims(const sq_value *v, char *buf, size_t size) {
  sq_shape shape = {.rank = v->rank};
  for (int k = 0; k < v->rank; k++) shape.dims[k] = v->dims[k];
  return sq_shape_format(&shape, buf, size);
}

/* Inline raw_data: from the protobuf, or left in the model's bytes by the
 * wire pass. */
typedef struct raw_bytes {
  const uint8_t *data;
  size_t len;
  bool present;
  bool release; /* give its pages back once copied (sq_payloads) */
} raw_bytes;

/* FLOAT bytes a slice at a time, each slice's source pages given back once
 * copied (VGG-11's first classifier weight has 411 MB). */
static void copy_releasing(float *to, const uint8_t *from, size_t bytes) {
  const void *released = from;
  for (size_t done = 0, n; done < bytes; done += n) {
    n = bytes - done < SQ_RELEASE_SLICE_BYTES ? bytes - done
                                              : SQ_RELEASE_SLICE_BYTES;
    memcpy((uint8_t *)to + done, from + done, n);
    released = sq_release_pages(released, from + done + n);
  }
}

static seqrt_status decode_into(const Onnx__TensorProto *t,
                                const sq_import_options *source, int64_t bytes,
                                const raw_bytes *raw, sq_value *v) {
  if (t->segment)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "tensor '%s' is segmented, which seqrt does not read",
                    tensor_name(t));
  int32_t location = t->has_data_location ? t->data_location : 0;
  if (location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
    return decode_external(t, source, bytes, v);
  if (location != ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "tensor '%s' has an unknown data_location %d",
                    tensor_name(t), (int)location);
  if (raw->present) {
    char dims[160];
    if ((int64_t)raw->len != bytes)
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "tensor '%s' has %zu bytes of raw_data, expected "
                      "%lld for %s %s",
                      tensor_name(t), raw->len, (long long)bytes,
                      sq_dtype_name(v->dtype),
                      format_dims(v, dims, sizeof dims));
    if (raw->release && v->dtype == SQ_DT_FLOAT) {
      copy_releasing(v->f, raw->data, raw->len);
    } else if (bytes) {
      convert_raw(v, raw->data);
      if (raw->release) sq_release_pages(raw->data, raw->data + raw->len);
    }
    return SEQRT_OK;
  }
  return convert_typed(t, v);
}

static seqrt_status decode_raw(const Onnx__TensorProto *t,
                               const sq_import_options *source,
                               const raw_bytes *raw, sq_value **out) {
  int64_t bytes;
  seqrt_status st = sq_tensor_bytes(t, &bytes);
  if (st != SEQRT_OK) return st;
  sq_value *v = NULL;
  if ((st = sq_value_new(t->data_type, (int)t->n_dims, t->dims, &v)) !=
      SEQRT_OK)
    return st;
  if ((st = decode_into(t, source, bytes, raw, v)) != SEQRT_OK) {
    sq_value_free(v);
    return st;
  }
  *out = v;
  return SEQRT_OK;
}

seqrt_status sq_tensor_decode(const Onnx__TensorProto *t,
                              const sq_import_options *source, sq_value **out) {
  raw_bytes raw = {t->raw_data.data, t->raw_data.len,
                   t->has_raw_data || t->raw_data.len > 0, false};
  return decode_raw(t, source, &raw, out);
}

/* ---- initializers ------------------------------------------------------ */

seqrt_status sq_initializer_decode(const Onnx__TensorProto *t,
                                   const sq_import_options *source,
                                   sq_payloads *payloads, size_t index,
                                   sq_value **out) {
  sq_payload *item =
      payloads && index < payloads->count ? &payloads->items[index] : NULL;
  if (!item || !item->present) return sq_tensor_decode(t, source, out);
  raw_bytes raw = {payloads->base + item->offset, item->length, true,
                   payloads->releasable};
  seqrt_status st = decode_raw(t, source, &raw, out);
  if (st != SEQRT_OK) return st;
  item->length = 0;
  return SEQRT_OK;
}
