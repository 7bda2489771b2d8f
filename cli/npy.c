#include "npy.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_MAX_HEADER (1 << 20)
#define NPY_MAX_BYTES ((size_t)1 << 40)

int set_error(char *err, size_t err_size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_size, fmt, ap);
  va_end(ap);
  return -1;
}

size_t tensor_count(const seqrt_tensor *t) {
  size_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= (size_t)t->dims[i];
  return n;
}

/* Finds `'key':` in the header dict and returns the text after the colon. */
static const char *dict_value(const char *header, const char *key) {
  char quoted[32];
  snprintf(quoted, sizeof quoted, "'%s'", key);
  const char *p = strstr(header, quoted);
  if (!p) return NULL;
  p += strlen(quoted);
  while (isspace((unsigned char)*p)) p++;
  if (*p != ':') return NULL;
  p++;
  while (isspace((unsigned char)*p)) p++;
  return p;
}

static int parse_descr(const char *header, seqrt_tensor *out, size_t *item,
                       char *err, size_t err_size) {
  const char *v = dict_value(header, "descr");
  if (!v || *v != '\'')
    return set_error(err, err_size, "header has no 'descr'");
  if (strncmp(v, "'<f4'", 5) == 0) {
    out->dtype = SEQRT_FLOAT32;
    *item = 4;
  } else if (strncmp(v, "'<i8'", 5) == 0) {
    out->dtype = SEQRT_INT64;
    *item = 8;
  } else {
    const char *end = strchr(v + 1, '\'');
    int len = end ? (int)(end - v - 1) : 0;
    return set_error(err, err_size,
                     "dtype '%.*s' is not supported: expected little-endian "
                     "float32 ('<f4') or int64 ('<i8')%s",
                     len, v + 1, v[1] == '>' ? " (big-endian data)" : "");
  }
  return 0;
}

static int parse_shape(const char *header, seqrt_tensor *out, char *err,
                       size_t err_size) {
  const char *p = dict_value(header, "shape");
  if (!p || *p != '(') return set_error(err, err_size, "header has no 'shape'");
  p++;
  out->rank = 0;
  for (;;) {
    while (isspace((unsigned char)*p) || *p == ',') p++;
    if (*p == ')') break;
    if (!isdigit((unsigned char)*p))
      return set_error(err, err_size, "malformed 'shape' in header");
    if (out->rank == SEQRT_MAX_RANK)
      return set_error(err, err_size, "rank exceeds %d", SEQRT_MAX_RANK);
    errno = 0;
    char *end;
    long long dim = strtoll(p, &end, 10);
    if (errno || dim < 0 || dim > INT32_MAX)
      return set_error(err, err_size, "dimension out of range in 'shape'");
    out->dims[out->rank++] = dim;
    p = end;
  }
  return 0;
}

static int parse_header(const char *header, seqrt_tensor *out, size_t *item,
                        char *err, size_t err_size) {
  if (parse_descr(header, out, item, err, err_size)) return -1;
  const char *order = dict_value(header, "fortran_order");
  if (!order) return set_error(err, err_size, "header has no 'fortran_order'");
  if (strncmp(order, "False", 5) != 0)
    return set_error(
        err, err_size,
        "Fortran-order data is not supported: save a C-order array "
        "(numpy.ascontiguousarray)");
  return parse_shape(header, out, err, err_size);
}

int npy_parse(const unsigned char *bytes, size_t size, seqrt_tensor *out,
              char *err, size_t err_size) {
  memset(out, 0, sizeof *out);
  if (size < 10 || memcmp(bytes, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
    return set_error(err, err_size, "not a .npy file (bad magic)");
  unsigned major = bytes[6];
  size_t header_len, offset;
  if (major == 1) {
    header_len = bytes[8] | (size_t)bytes[9] << 8;
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) return set_error(err, err_size, "truncated .npy header");
    header_len = bytes[8] | (size_t)bytes[9] << 8 | (size_t)bytes[10] << 16 |
                 (size_t)bytes[11] << 24;
    offset = 12;
  } else {
    return set_error(err, err_size, ".npy format version %u is not supported",
                     major);
  }
  if (header_len > NPY_MAX_HEADER || offset + header_len > size)
    return set_error(err, err_size, "truncated .npy header");
  char *header = malloc(header_len + 1);
  if (!header) return set_error(err, err_size, "out of memory");
  memcpy(header, bytes + offset, header_len);
  header[header_len] = '\0';
  size_t item = 0;
  int rc = parse_header(header, out, &item, err, err_size);
  free(header);
  if (rc) return rc;
  size_t count = 1;
  for (int i = 0; i < out->rank; i++) {
    if (out->dims[i] && count > NPY_MAX_BYTES / (size_t)out->dims[i])
      return set_error(err, err_size, "array too large");
    count *= (size_t)out->dims[i];
  }
  size_t nbytes = count * item;
  size_t data_offset = offset + header_len;
  if (nbytes > NPY_MAX_BYTES || size - data_offset < nbytes)
    return set_error(err, err_size,
                     "truncated data: header declares %zu bytes, file has %zu",
                     nbytes, size - data_offset);
  out->data = malloc(nbytes ? nbytes : 1);
  if (!out->data) return set_error(err, err_size, "out of memory");
  memcpy(out->data, bytes + data_offset, nbytes);
  return 0;
}

int npy_write(const char *path, const seqrt_tensor *t, char *err,
              size_t err_size) {
  char header[256], shape[160] = "";
  size_t used = 0;
  for (int i = 0; i < t->rank; i++)
    used += (size_t)snprintf(shape + used, sizeof shape - used, "%lld,%s",
                             (long long)t->dims[i], i + 1 < t->rank ? " " : "");
  if (t->rank > 1) shape[used - 1] = '\0'; /* drop the trailing comma */
  int len = snprintf(header, sizeof header,
                     "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                     t->dtype == SEQRT_INT64 ? "<i8" : "<f4", shape);
  int total = 10 + len + 1;
  int pad = (64 - total % 64) % 64; /* data starts 64-byte aligned */
  FILE *f = fopen(path, "wb");
  if (!f)
    return set_error(err, err_size, "cannot write '%s': %s", path,
                     strerror(errno));
  unsigned short hlen = (unsigned short)(len + pad + 1);
  unsigned char preamble[10] = {0x93,
                                'N',
                                'U',
                                'M',
                                'P',
                                'Y',
                                1,
                                0,
                                (unsigned char)(hlen & 0xff),
                                (unsigned char)(hlen >> 8)};
  size_t item = t->dtype == SEQRT_INT64 ? 8 : 4;
  size_t count = tensor_count(t);
  int ok = fwrite(preamble, 1, 10, f) == 10 &&
           fwrite(header, 1, (size_t)len, f) == (size_t)len;
  for (int i = 0; ok && i < pad; i++) ok = fputc(' ', f) != EOF;
  ok = ok && fputc('\n', f) != EOF && fwrite(t->data, item, count, f) == count;
  if (fclose(f) != 0) ok = 0;
  return ok ? 0 : set_error(err, err_size, "cannot write '%s'", path);
}
