/* Shared pieces of the seqrt tool's commands. */
#ifndef SEQRT_CLI_H
#define SEQRT_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "seqrt.h"

/* Exit codes: 0 success, 1 any other error or a failed check, 2 when the
 * model cannot be imported. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_IMPORT = 2 };

#define DEFAULT_ATOL 1e-4
#define DEFAULT_RTOL 1e-4

typedef struct options {
  const char *model;
  const char *input;
  const char *output;
  const char *expect;
  int threads;
  double atol, rtol;
  int batch, iters, warmup, interval_ms; /* bench */
  int json;
  int isolated; /* verify DIR: feed each layer PyTorch's input for it */
  int profile;  /* bench: time each step */
  uint64_t memory_limit; /* --memory-limit BYTES; 0: the library default */
} options;

/* Prints "seqrt: <message>" on stderr and returns `code`. */
int error_exit(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Parses `MODEL [--flag value]... [--json]`; returns 0 or an exit code.
 * --memory-limit and --winograd also apply to every later load_model call. */
int parse_options(int argc, char **argv, options *o);

/* Loads a model; on failure prints the reason and returns EXIT_IMPORT. */
int load_model(const char *path, seqrt_model **model);

/* Writes `text` as a JSON string literal (quoted, escaped) to stdout. */
void print_json_string(const char *text);

/* Reads a .npy or .pb tensor; on failure prints the reason, returns 1. */
int read_tensor(const char *path, seqrt_tensor *t);

/* Runs `input` through a fresh context with `threads`; output->data is
 * malloc'ed (caller frees). `ms` (may be NULL) receives the run time. */
int run_model(const seqrt_model *model, const seqrt_tensor *input, int threads,
              seqrt_tensor *output, double *ms);

void format_shape(const int64_t *dims, int rank, char *buf, size_t size);
int same_shape(const seqrt_tensor *a, const seqrt_tensor *b);

typedef struct comparison {
  double max_abs, max_rel;
  size_t worst;     /* flat index of the largest absolute error */
  size_t failed;    /* elements beyond both tolerances, or non-finite */
  size_t nonfinite; /* NaN/Inf where the expectation is finite */
} comparison;

/* Compares element-wise: an element fails when both its absolute and its
 * relative error exceed the tolerances, or it is NaN/Inf where `want` is
 * finite. */
comparison compare(const float *got, const float *want, size_t n, double atol,
                   double rtol);

int cmd_bench(int argc, char **argv);
int cmd_verify(int argc, char **argv);

/* seqrt verify DIR for a folder written by models/torch_export.py. */
int verify_layers(const char *dir, const options *o);

#endif
