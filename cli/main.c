/* seqrt: the command-line tool, built on the public API only. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "npy.h"
#include "seqrt.h"
#include "tensor_file.h"

int error_exit(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("seqrt: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return code;
}

void print_json_string(const char *text) {
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
    if (*p == '"' || *p == '\\')
      printf("\\%c", *p);
    else if (*p < 0x20)
      printf("\\u%04x", *p);
    else
      putchar(*p);
  }
  putchar('"');
}

static const char usage[] =
    "usage: seqrt [COMMAND] ...\n"
    "\n"
    "Run PyTorch nn.Sequential ONNX exports on the CPU with oneDNN.\n"
    "\n"
    "  seqrt                       run every bundled example model and check "
    "it\n"
    "                              against its stored PyTorch output\n"
    "  seqrt inspect MODEL.onnx    print the chain of layers as a table\n"
    "  seqrt run MODEL.onnx --input X.npy --output Y.npy [--threads N]\n"
    "  seqrt verify MODEL.onnx --input X.npy --expect Y.npy [--atol A] "
    "[--rtol R]\n"
    "                              run and compare; an element fails only "
    "when\n"
    "                              both errors exceed their tolerance "
    "(defaults\n"
    "                              atol 1e-4, rtol 1e-4); NaN/Inf where "
    "PyTorch\n"
    "                              is finite always fails\n"
    "  seqrt verify DIR [--isolated] [--json] [--atol A] [--rtol R]\n"
    "                              DIR from models/torch_export.py: compare "
    "every\n"
    "                              layer with PyTorch and name the first "
    "that\n"
    "                              diverges; --isolated feeds each layer "
    "PyTorch's\n"
    "                              input for it. DIR may also be an ONNX "
    "backend\n"
    "                              test folder (model.onnx, "
    "test_data_set_N/)\n"
    "  seqrt bench MODEL.onnx [--batch N] [--threads N] [--iters N] "
    "[--warmup N]\n"
    "              [--interval-ms M] [--profile] [--json]\n"
    "                              time runs: p50/p90/p99 latency, "
    "throughput,\n"
    "                              load time, peak RSS, CPU time per run;\n"
    "                              --profile: time per step (the oneDNN\n"
    "                              primitive of a layer and what is fused "
    "into\n"
    "                              it), its implementation and GFLOP/s\n"
    "  seqrt --version | --help\n"
    "\n"
    "Every command that loads a model takes --memory-limit BYTES (suffix K, "
    "M\n"
    "or G): refuse a model whose weights and activations need more (default:\n"
    "16 times the file size plus 64 MiB), and --winograd: run every 3x3\n"
    "stride-1 convolution with 32+ channels as a Winograd convolution, faster\n"
    "for more memory (by default only where it costs little: kernels under\n"
    "1 MiB, scratchpads up to 8 MiB), and --batch-slices auto|off|on: on\n"
    "several threads, run a batch as one slice per thread where timing says\n"
    "it is faster and it costs no memory (auto, the default), never, or\n"
    "always; with off or on, a given --threads gives the same output bits in\n"
    "every process.\n"
    "\n"
    "Exit status: 0 success, 1 error or mismatch, 2 model cannot be "
    "imported.\n";

/* ---- option parsing ------------------------------------------------------ */

/* --memory-limit, --winograd and --batch-slices of the command line, for
 * every load_model call. */
static uint64_t load_memory_limit;
static int load_winograd;
static seqrt_batch_slices load_batch_slices = SEQRT_BATCH_SLICES_AUTO;

static int parse_batch_slices(const char *flag, const char *text,
                              seqrt_batch_slices *out) {
  static const char *const names[] = {"auto", "off", "on"};
  static const seqrt_batch_slices modes[] = {
      SEQRT_BATCH_SLICES_AUTO, SEQRT_BATCH_SLICES_OFF, SEQRT_BATCH_SLICES_ON};
  for (int i = 0; i < 3; i++)
    if (strcmp(text, names[i]) == 0) {
      *out = modes[i];
      return 0;
    }
  return error_exit(EXIT_FAIL, "%s expects auto, off or on, got '%s'", flag,
                    text);
}

static int parse_number(const char *flag, const char *text, double *out) {
  char *end;
  *out = strtod(text, &end);
  if (*text == '\0' || *end != '\0' || !(*out >= 0))
    return error_exit(EXIT_FAIL, "%s expects a non-negative number, got '%s'",
                      flag, text);
  return 0;
}

/* BYTES, or a whole number with a K, M or G suffix (powers of 1024). */
static int parse_bytes(const char *flag, const char *text, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long n = strtoull(text, &end, 10);
  int shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0;
  if (shift) end++;
  if (!isdigit((unsigned char)*text) || *end != '\0' || errno ||
      n > (UINT64_MAX >> shift))
    return error_exit(EXIT_FAIL,
                      "%s expects a byte count such as 1000000 or 512M, got "
                      "'%s'",
                      flag, text);
  *out = (uint64_t)n << shift;
  return 0;
}

static int parse_count(const char *flag, const char *text, int *out) {
  double number;
  if (parse_number(flag, text, &number)) return EXIT_FAIL;
  if (number != (int)number)
    return error_exit(EXIT_FAIL, "%s expects a whole number, got '%s'", flag,
                      text);
  *out = (int)number;
  return 0;
}

/* The setting an option without a value switches on; NULL for others. */
static int *switch_of(options *o, const char *arg) {
  if (strcmp(arg, "--json") == 0) return &o->json;
  if (strcmp(arg, "--isolated") == 0) return &o->isolated;
  if (strcmp(arg, "--profile") == 0) return &o->profile;
  if (strcmp(arg, "--winograd") == 0) return &load_winograd;
  return NULL;
}

int parse_options(int argc, char **argv, options *o) {
  *o = (options){
      .atol = DEFAULT_ATOL, .rtol = DEFAULT_RTOL, .iters = 100, .warmup = 10};
  for (int i = 0; i < argc; i++) {
    const char *arg = argv[i];
    if (arg[0] != '-') {
      if (o->model)
        return error_exit(EXIT_FAIL, "unexpected argument '%s'", arg);
      o->model = arg;
      continue;
    }
    int *flag = switch_of(o, arg);
    if (flag) {
      *flag = 1;
      continue;
    }
    if (i + 1 >= argc) return error_exit(EXIT_FAIL, "%s needs a value", arg);
    const char *value = argv[++i];
    if (strcmp(arg, "--input") == 0)
      o->input = value;
    else if (strcmp(arg, "--output") == 0)
      o->output = value;
    else if (strcmp(arg, "--expect") == 0)
      o->expect = value;
    else if (strcmp(arg, "--threads") == 0) {
      if (parse_count(arg, value, &o->threads)) return EXIT_FAIL;
    } else if (strcmp(arg, "--batch") == 0) {
      if (parse_count(arg, value, &o->batch)) return EXIT_FAIL;
    } else if (strcmp(arg, "--iters") == 0) {
      if (parse_count(arg, value, &o->iters)) return EXIT_FAIL;
    } else if (strcmp(arg, "--warmup") == 0) {
      if (parse_count(arg, value, &o->warmup)) return EXIT_FAIL;
    } else if (strcmp(arg, "--interval-ms") == 0) {
      if (parse_count(arg, value, &o->interval_ms)) return EXIT_FAIL;
    } else if (strcmp(arg, "--memory-limit") == 0) {
      if (parse_bytes(arg, value, &o->memory_limit)) return EXIT_FAIL;
      load_memory_limit = o->memory_limit;
    } else if (strcmp(arg, "--batch-slices") == 0) {
      if (parse_batch_slices(arg, value, &load_batch_slices)) return EXIT_FAIL;
    } else if (strcmp(arg, "--atol") == 0) {
      if (parse_number(arg, value, &o->atol)) return EXIT_FAIL;
    } else if (strcmp(arg, "--rtol") == 0) {
      if (parse_number(arg, value, &o->rtol)) return EXIT_FAIL;
    } else
      return error_exit(EXIT_FAIL, "unknown option '%s' (see seqrt --help)",
                        arg);
  }
  if (!o->model) return error_exit(EXIT_FAIL, "missing MODEL.onnx");
  return 0;
}

/* ---- shared steps ----------------------------------------------------------
 */

int load_model(const char *path, seqrt_model **model) {
  seqrt_options *load_options = NULL;
  if (seqrt_options_create(&load_options) != SEQRT_OK ||
      seqrt_options_set_memory_limit(load_options, load_memory_limit) !=
          SEQRT_OK ||
      seqrt_options_set_winograd(load_options, load_winograd) != SEQRT_OK ||
      seqrt_options_set_batch_slices(load_options, load_batch_slices) !=
          SEQRT_OK) {
    seqrt_options_free(load_options);
    return error_exit(EXIT_FAIL, "%s", seqrt_last_error());
  }
  seqrt_status status = seqrt_model_load_file(path, load_options, model);
  seqrt_options_free(load_options);
  if (status != SEQRT_OK)
    return error_exit(EXIT_IMPORT, "%s", seqrt_last_error());
  return 0;
}

int read_tensor(const char *path, seqrt_tensor *t) {
  char err[512];
  if (tensor_read(path, t, err, sizeof err) != 0)
    return error_exit(EXIT_FAIL, "%s", err);
  return 0;
}

/* Runs `input` through a fresh context; output->data is malloc'ed. */
int run_model(const seqrt_model *model, const seqrt_tensor *input, int threads,
              seqrt_tensor *output, double *ms) {
  seqrt_shape shape;
  if (input->rank < 1 ||
      seqrt_model_output_shape(model, input->dims[0], &shape) != SEQRT_OK)
    return error_exit(EXIT_FAIL, "input has no batch dimension");
  size_t count = 1;
  for (int i = 0; i < shape.rank; i++) count *= (size_t)shape.dims[i];
  *output = (seqrt_tensor){.dtype = SEQRT_FLOAT32};
  output->data = malloc(count ? count * sizeof(float) : 1);
  seqrt_context *ctx = NULL;
  if (!output->data || seqrt_context_create(model, &ctx) != SEQRT_OK ||
      seqrt_context_set_threads(ctx, threads) != SEQRT_OK) {
    seqrt_context_free(ctx);
    return error_exit(EXIT_FAIL, "%s", seqrt_last_error());
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  seqrt_status status = seqrt_run(ctx, input, output);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  seqrt_context_free(ctx);
  if (ms) *ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
  if (status != SEQRT_OK)
    return error_exit(EXIT_FAIL, "%s", seqrt_last_error());
  return 0;
}

/* A dynamic dims[0] of -K (K > 1) is the batch times K: "-1*K". */
void format_shape(const int64_t *dims, int rank, char *buf, size_t size) {
  size_t used = (size_t)snprintf(buf, size, "[");
  for (int i = 0; i < rank && used < size; i++) {
    const char *sep = i ? ", " : "";
    if (i == 0 && dims[0] < -1)
      used += (size_t)snprintf(buf + used, size - used, "%s-1*%lld", sep,
                               (long long)-dims[0]);
    else
      used += (size_t)snprintf(buf + used, size - used, "%s%lld", sep,
                               (long long)dims[i]);
  }
  if (used < size) snprintf(buf + used, size - used, "]");
}

/* ---- commands
 * ---------------------------------------------------------------- */

static int cmd_run(int argc, char **argv) {
  options o;
  int rc = parse_options(argc, argv, &o);
  if (rc) return rc;
  if (!o.input || !o.output)
    return error_exit(EXIT_FAIL, "run needs --input X.npy and --output Y.npy");
  seqrt_model *model = NULL;
  if ((rc = load_model(o.model, &model))) return rc;
  seqrt_tensor input = {0}, output = {0};
  char err[512];
  if (!(rc = read_tensor(o.input, &input)) &&
      !(rc = run_model(model, &input, o.threads, &output, NULL)) &&
      tensor_write(o.output, &output, err, sizeof err) != 0)
    rc = error_exit(EXIT_FAIL, "%s", err);
  free(input.data);
  free(output.data);
  seqrt_model_free(model);
  return rc;
}

static int cmd_inspect(int argc, char **argv) {
  options o;
  int rc = parse_options(argc, argv, &o);
  if (rc) return rc;
  seqrt_model *model = NULL;
  if ((rc = load_model(o.model, &model))) return rc;
  seqrt_shape in;
  seqrt_dtype dtype;
  seqrt_model_input(model, &in, &dtype);
  char shape[128];
  format_shape(in.dims, in.rank, shape, sizeof shape);
  printf("Model: %s\nInput: %s %s (-1 = any batch)\n", o.model, shape,
         dtype == SEQRT_INT64 ? "int64" : "float32");
  int n = seqrt_model_layer_count(model);
  int name_width = 5;
  for (int i = 0; i < n; i++) {
    seqrt_layer_info info;
    seqrt_model_layer(model, i, &info);
    int len = (int)strlen(info.name);
    if (len > name_width) name_width = len;
  }
  printf("%3s  %-*s  %-12s  %-20s  %10s  %s\n", "#", name_width, "Layer",
         "Kind", "Output shape", "Param #", "ONNX nodes");
  int64_t total = 0;
  for (int i = 0; i < n; i++) {
    seqrt_layer_info info;
    seqrt_model_layer(model, i, &info);
    format_shape(info.output.dims, info.output.rank, shape, sizeof shape);
    printf("%3d  %-*s  %-12s  %-20s  %10lld  %s%s%s%s\n", i, name_width,
           info.name, info.kind, shape, (long long)info.parameters, info.nodes,
           *info.folded ? "  (folded: " : "", info.folded,
           *info.folded ? ")" : "");
    total += info.parameters;
  }
  printf("Total params: %lld\n", (long long)total);
  const char *removed = seqrt_model_removed_layers(model);
  if (*removed) printf("Removed at import: %s\n", removed);
  seqrt_model_free(model);
  return EXIT_OK;
}

/* One bundled example: DIR/model.onnx, input.npy, expected.npy. */
static int check_example(const char *dir, const char *name) {
  char model_path[4096], input_path[4096], expect_path[4096];
  snprintf(model_path, sizeof model_path, "%s/%s/model.onnx", dir, name);
  snprintf(input_path, sizeof input_path, "%s/%s/input.npy", dir, name);
  snprintf(expect_path, sizeof expect_path, "%s/%s/expected.npy", dir, name);
  seqrt_model *model = NULL;
  if (seqrt_model_load_file(model_path, NULL, &model) != SEQRT_OK) {
    printf("FAIL  %-16s %s\n", name, seqrt_last_error());
    return 0;
  }
  seqrt_tensor input = {0}, want = {0}, got = {0};
  char err[512] = "";
  double ms = 0;
  int ok = tensor_read(input_path, &input, err, sizeof err) == 0 &&
           tensor_read(expect_path, &want, err, sizeof err) == 0;
  if (ok && run_model(model, &input, 0, &got, &ms) != 0) {
    snprintf(err, sizeof err, "%s", "run failed (see above)");
    ok = 0;
  }
  if (ok && !same_shape(&got, &want)) {
    snprintf(err, sizeof err, "%s", "output shape differs from expected.npy");
    ok = 0;
  }
  if (ok) {
    comparison c = compare(got.data, want.data, tensor_count(&got),
                           DEFAULT_ATOL, DEFAULT_RTOL);
    char shape[64];
    format_shape(got.dims, got.rank, shape, sizeof shape);
    ok = c.failed == 0;
    printf("%s  %-16s %d layers  output %-10s max abs error %.2g  %.3f ms\n",
           ok ? "ok  " : "FAIL", name, seqrt_model_layer_count(model), shape,
           c.max_abs, ms);
  } else {
    printf("FAIL  %-16s %s\n", name, err);
  }
  free(input.data);
  free(want.data);
  free(got.data);
  seqrt_model_free(model);
  return ok;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

/* The bundled models: $SEQRT_MODELS_DIR, else those installed beside the
 * tool (<prefix>/share/seqrt/examples for <prefix>/bin/seqrt), else the
 * source tree's, for a tool run from its build folder. */
static const char *examples_dir(char *buf, size_t size) {
  const char *dir = getenv("SEQRT_MODELS_DIR");
  if (dir) return dir;
  if (SEQRT_INSTALL_EXAMPLES[0] == '/') return SEQRT_INSTALL_EXAMPLES;
  char exe[1024];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    struct stat st;
    if (slash) *slash = '\0';
    snprintf(buf, size, "%s/../" SEQRT_INSTALL_EXAMPLES, exe);
    if (slash && stat(buf, &st) == 0 && S_ISDIR(st.st_mode)) return buf;
  }
  return SEQRT_MODELS_DIR;
}

static int cmd_examples(void) {
  char installed[1100];
  const char *dir = examples_dir(installed, sizeof installed);
  struct dirent **entries;
  int n = scandir(dir, &entries, NULL, by_name);
  if (n < 0)
    return error_exit(EXIT_FAIL, "cannot read the examples folder '%s'", dir);
  int total = 0, passed = 0;
  for (int i = 0; i < n; i++) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s/model.onnx", dir, entries[i]->d_name);
    if (entries[i]->d_name[0] != '.' && stat(path, &st) == 0) {
      total++;
      passed += check_example(dir, entries[i]->d_name);
    }
    free(entries[i]);
  }
  free(entries);
  printf("%d of %d bundled models match PyTorch (atol %g, rtol %g)\n", passed,
         total, DEFAULT_ATOL, DEFAULT_RTOL);
  return total > 0 && passed == total ? EXIT_OK : EXIT_FAIL;
}

int main(int argc, char **argv) {
  if (argc < 2) return cmd_examples();
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
      strcmp(cmd, "help") == 0) {
    fputs(usage, stdout);
    return EXIT_OK;
  }
  if (strcmp(cmd, "--version") == 0) {
    printf("seqrt %s\n", seqrt_version());
    return EXIT_OK;
  }
  if (strcmp(cmd, "run") == 0) return cmd_run(argc - 2, argv + 2);
  if (strcmp(cmd, "verify") == 0) return cmd_verify(argc - 2, argv + 2);
  if (strcmp(cmd, "inspect") == 0) return cmd_inspect(argc - 2, argv + 2);
  if (strcmp(cmd, "bench") == 0) return cmd_bench(argc - 2, argv + 2);
  fprintf(stderr, "%s", usage);
  return error_exit(EXIT_FAIL, "unknown command '%s'", cmd);
}
