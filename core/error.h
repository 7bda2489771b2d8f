/* Error reporting shared by every part of the library: a status plus a
 * one-line message kept per thread (read with seqrt_last_error). */
#ifndef SEQRT_CORE_ERROR_H
#define SEQRT_CORE_ERROR_H

#include "seqrt.h"

#if defined(__GNUC__)
#define SQ_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SQ_PRINTF(a, b)
#endif

/* Record `fmt` as this thread's message and return `status`, so that
 * failure paths read `return sq_error(SEQRT_ERR_..., "...", ...);`. */
seqrt_status sq_error(seqrt_status status, const char *fmt, ...)
    SQ_PRINTF(2, 3);

/* Prefix the current message with "prefix: " (adds context on the way up). */
void sq_error_prefix(const char *fmt, ...) SQ_PRINTF(1, 2);

void sq_error_clear(void);

/* Overflow-checked *out = a * b: nonzero on overflow or a negative factor. */
int sq_mul_overflow(int64_t a, int64_t b, int64_t *out);

#endif
