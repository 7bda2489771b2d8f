#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SQ_ERROR_MAX 1024

static _Thread_local char last_error[SQ_ERROR_MAX];

seqrt_status sq_error(seqrt_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return status;
}

void sq_error_prefix(const char *fmt, ...) {
  char prefix[SQ_ERROR_MAX];
  char old[SQ_ERROR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, last_error, sizeof old);
  int used = snprintf(last_error, sizeof last_error, "%.400s: ", prefix);
  snprintf(last_error + used, sizeof last_error - (size_t)used, "%.600s", old);
}

void sq_error_clear(void) { last_error[0] = '\0'; }

const char *seqrt_last_error(void) { return last_error; }

int sq_mul_overflow(int64_t a, int64_t b, int64_t *out) {
  if (a < 0 || b < 0) return 1;
  return __builtin_mul_overflow(a, b, out);
}

const char *seqrt_status_string(seqrt_status status) {
  switch (status) {
  case SEQRT_OK: return "ok";
  case SEQRT_ERR_INVALID_ARGUMENT: return "invalid argument";
  case SEQRT_ERR_IO: return "i/o error";
  case SEQRT_ERR_PARSE: return "parse error";
  case SEQRT_ERR_INVALID_MODEL: return "invalid model";
  case SEQRT_ERR_UNSUPPORTED: return "unsupported";
  case SEQRT_ERR_NOT_CHAIN: return "not a chain";
  case SEQRT_ERR_LIMIT: return "limit exceeded";
  case SEQRT_ERR_NOMEM: return "out of memory";
  case SEQRT_ERR_BACKEND: return "backend error";
  }
  return "unknown status";
}
