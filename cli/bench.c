/* seqrt bench: load time, latency percentiles, throughput, peak RSS and CPU
 * time per run, measured through the public API. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static double cpu_us(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 + r.ru_utime.tv_usec +
         r.ru_stime.tv_usec;
}

/* This process image's peak resident set: VmHWM. (ru_maxrss also counts
 * the parent's resident set at fork when it was larger, since Linux keeps
 * the old image's peak across exec.) */
static long peak_rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
  if (f) fclose(f);
  if (kb >= 0) return kb;
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return r.ru_maxrss;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double percentile(const double *sorted, int n, double p) {
  int i = (int)(p / 100.0 * (n - 1) + 0.5);
  return sorted[i < n ? i : n - 1];
}

/* A deterministic input of the model's shape at `batch`: floats in [-1, 1]
 * or zeros for index inputs (always a valid index). */
static int make_input(const seqrt_model *model, int batch, seqrt_tensor *t) {
  seqrt_shape shape;
  if (batch < 1) batch = 1;
  seqrt_dtype dtype;
  seqrt_model_input(model, &shape, &dtype);
  *t = (seqrt_tensor){.dtype = dtype, .rank = shape.rank};
  size_t count = 1;
  for (int i = 0; i < shape.rank; i++) {
    t->dims[i] = shape.dims[i] < 0 ? batch : shape.dims[i];
    count *= (size_t)t->dims[i];
  }
  t->data = calloc(count ? count : 1, 8);
  if (!t->data) return error_exit(EXIT_FAIL, "out of memory for the input");
  if (dtype == SEQRT_FLOAT32) {
    unsigned state = 12345;
    for (size_t i = 0; i < count; i++) {
      state = state * 1103515245u + 12345u;
      ((float *)t->data)[i] = (float)((state >> 8) & 0xffff) / 32768.0f - 1;
    }
  }
  return 0;
}

static int make_output(const seqrt_model *model, int64_t batch,
                       seqrt_tensor *t) {
  seqrt_shape shape;
  if (seqrt_model_output_shape(model, batch, &shape) != SEQRT_OK)
    return error_exit(EXIT_FAIL, "%s", seqrt_last_error());
  size_t count = 1;
  for (int i = 0; i < shape.rank; i++) count *= (size_t)shape.dims[i];
  *t = (seqrt_tensor){.data = malloc(count ? count * sizeof(float) : 1)};
  return t->data ? 0 : error_exit(EXIT_FAIL, "out of memory for the output");
}

static void pause_ms(int ms) {
  struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

typedef struct bench_result {
  double load_ms, plan_ms, p50, p90, p99, mean, cpu_per_run, busy_ratio;
  double throughput;
  long peak_rss_kb;
  int threads; /* the runs' (--threads, or the OpenMP default) */
} bench_result;

/* Times `o->iters` runs after `o->warmup` untimed ones. */
static int time_runs(seqrt_context *ctx, const seqrt_tensor *in,
                     seqrt_tensor *out, const options *o, bench_result *r) {
  double *samples = malloc((size_t)o->iters * sizeof *samples);
  if (!samples) return error_exit(EXIT_FAIL, "out of memory");
  for (int i = 0; i < o->warmup; i++)
    if (seqrt_run(ctx, in, out) != SEQRT_OK) {
      free(samples);
      return error_exit(EXIT_FAIL, "%s", seqrt_last_error());
    }
  if (o->profile && seqrt_context_set_profiling(ctx, 1) != SEQRT_OK) {
    free(samples);
    return error_exit(EXIT_FAIL, "%s", seqrt_last_error());
  }
  int progress = isatty(STDERR_FILENO);
  double start = now_us(), last_report = start, cpu0 = cpu_us(), busy = 0;
  for (int i = 0; i < o->iters; i++) {
    if (o->interval_ms) pause_ms(o->interval_ms);
    double t0 = now_us();
    seqrt_status status = seqrt_run(ctx, in, out);
    double t1 = now_us();
    if (status != SEQRT_OK) {
      free(samples);
      return error_exit(EXIT_FAIL, "%s", seqrt_last_error());
    }
    samples[i] = t1 - t0;
    busy += samples[i];
    if (progress && t1 - start > 1e6 && t1 - last_report > 2.5e5) {
      fprintf(stderr, "\rseqrt bench: run %d of %d", i + 1, o->iters);
      last_report = t1;
    }
  }
  double cpu = cpu_us() - cpu0;
  if (progress && now_us() - start > 1e6) fprintf(stderr, "\r\033[K");
  qsort(samples, (size_t)o->iters, sizeof *samples, by_value);
  r->p50 = percentile(samples, o->iters, 50);
  r->p90 = percentile(samples, o->iters, 90);
  r->p99 = percentile(samples, o->iters, 99);
  r->mean = busy / o->iters;
  r->throughput = in->dims[0] * 1e6 / r->mean;
  r->cpu_per_run = cpu / o->iters;
  r->threads = seqrt_context_threads(ctx);
  r->busy_ratio = cpu / (busy * r->threads);
  free(samples);
  return 0;
}

/* ---- per-step profile ---- */

typedef struct step_row {
  const seqrt_step_profile *step;
  const char *name; /* its first layer's */
  char kinds[64];   /* "Conv+ReLU" */
  double mean_us, share, gflops, weight_gbps;
} step_row;

static void kinds_of(const seqrt_model *model, const seqrt_step_profile *p,
                     char *buf, size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  for (int k = p->first_layer; k <= p->last_layer && used < size; k++) {
    seqrt_layer_info info;
    if (seqrt_model_layer(model, k, &info) != SEQRT_OK) continue;
    used += (size_t)snprintf(buf + used, size - used, "%s%s",
                             k > p->first_layer ? "+" : "", info.kind);
  }
}

/* The rows of the context's profile; NULL (message printed) on failure. */
static step_row *profile_rows(const seqrt_model *model, seqrt_context *ctx,
                              int *count, double *sum_us) {
  const seqrt_step_profile *steps = NULL;
  if (seqrt_context_profile(ctx, &steps, count) != SEQRT_OK) {
    error_exit(EXIT_FAIL, "%s", seqrt_last_error());
    return NULL;
  }
  step_row *rows = calloc((size_t)*count + 1, sizeof *rows);
  if (!rows) {
    error_exit(EXIT_FAIL, "out of memory");
    return NULL;
  }
  *sum_us = 0.0;
  for (int i = 0; i < *count; i++) {
    step_row *row = &rows[i];
    seqrt_layer_info info;
    row->step = &steps[i];
    row->name =
        seqrt_model_layer(model, steps[i].first_layer, &info) == SEQRT_OK
            ? info.name
            : "";
    kinds_of(model, &steps[i], row->kinds, sizeof row->kinds);
    row->mean_us = steps[i].runs ? steps[i].total_us / steps[i].runs : 0.0;
    if (row->mean_us > 0) {
      row->gflops = steps[i].flop / row->mean_us / 1e3;
      row->weight_gbps = steps[i].weight_bytes / row->mean_us / 1e3;
    }
    *sum_us += row->mean_us;
  }
  for (int i = 0; i < *count; i++)
    rows[i].share = *sum_us > 0 ? rows[i].mean_us / *sum_us : 0.0;
  return rows;
}

static void print_profile_json(const step_row *rows, int count) {
  printf(", \"steps\": [");
  for (int i = 0; i < count; i++) {
    const seqrt_step_profile *p = rows[i].step;
    printf("%s{\"step\": %d, \"first_layer\": %d, \"last_layer\": %d, "
           "\"name\": ",
           i ? ", " : "", i, p->first_layer, p->last_layer);
    print_json_string(rows[i].name);
    printf(", \"kinds\": ");
    print_json_string(rows[i].kinds);
    printf(", \"impl\": ");
    print_json_string(p->impl);
    /* Rates to 4 significant digits: a tiny layer's must not print as 0. */
    printf(", \"threads\": %d, \"runs\": %lld, \"mean_us\": %.3f, "
           "\"share\": %.4f, \"flop\": %.0f, \"gflops\": %.4g, "
           "\"weight_bytes\": %.0f, \"weight_gbps\": %.4g}",
           p->threads, (long long)p->runs, rows[i].mean_us, rows[i].share,
           p->flop, rows[i].gflops, p->weight_bytes, rows[i].weight_gbps);
  }
  printf("]");
}

/* GFLOP/s of the step's arithmetic, GB/s of its weights ("-": none). */
static void print_profile_table(const step_row *rows, int count,
                                double sum_us) {
  printf("profile    %d steps, mean per run; they sum to %.1f us\n", count,
         sum_us);
  printf("  %4s  %-9s %-14s %-20s %-30s %3s %11s %6s %8s %8s\n", "step",
         "layers", "first layer", "kinds", "implementation", "thr", "time",
         "share", "GFLOP/s", "wt GB/s");
  for (int i = 0; i < count; i++) {
    const seqrt_step_profile *p = rows[i].step;
    char layers[24], gbps[16] = "-";
    snprintf(layers, sizeof layers, "%d..%d", p->first_layer, p->last_layer);
    if (p->weight_bytes > 0)
      snprintf(gbps, sizeof gbps, "%.1f", rows[i].weight_gbps);
    printf("  %4d  %-9s %-14.14s %-20.20s %-30.30s %3d %8.2f us %5.1f%% "
           "%8.1f %8s\n",
           i, layers, rows[i].name, rows[i].kinds, p->impl, p->threads,
           rows[i].mean_us, 100.0 * rows[i].share, rows[i].gflops, gbps);
  }
}

/* ---- results ---- */

static void print_result(const options *o, const seqrt_tensor *in,
                         const bench_result *r, const step_row *rows,
                         int n_rows, double rows_us) {
  if (o->json) {
    printf("{\"model\": ");
    print_json_string(o->model);
    printf(", \"batch\": %lld, \"threads\": %d, "
           "\"iters\": %d, \"warmup\": %d, \"interval_ms\": %d, "
           "\"load_ms\": %.3f, \"plan_ms\": %.3f, \"p50_us\": %.2f, "
           "\"p90_us\": %.2f, \"p99_us\": %.2f, \"mean_us\": %.2f, "
           "\"throughput_per_s\": %.2f, \"peak_rss_kb\": %ld, "
           "\"cpu_us_per_run\": %.2f, \"cpu_busy_ratio\": %.3f",
           (long long)in->dims[0], r->threads, o->iters, o->warmup,
           o->interval_ms, r->load_ms, r->plan_ms, r->p50, r->p90, r->p99,
           r->mean, r->throughput, r->peak_rss_kb, r->cpu_per_run,
           r->busy_ratio);
    if (rows) print_profile_json(rows, n_rows);
    printf("}\n");
    return;
  }
  printf("model      %s\n", o->model);
  printf("batch      %lld, threads %d%s, %d runs after %d warm-up\n",
         (long long)in->dims[0], r->threads, o->threads ? "" : " (default)",
         o->iters, o->warmup);
  printf("load       %.2f ms (first run with plan creation %.2f ms)\n",
         r->load_ms, r->plan_ms);
  printf("latency    p50 %.1f us  p90 %.1f us  p99 %.1f us\n", r->p50, r->p90,
         r->p99);
  printf("throughput %.1f samples/s\n", r->throughput);
  printf("cpu        %.1f us per run (%.2f of runtime x threads)\n",
         r->cpu_per_run, r->busy_ratio);
  printf("peak RSS   %ld kB\n", r->peak_rss_kb);
  if (rows) print_profile_table(rows, n_rows, rows_us);
}

/* libgomp reads its environment once, at start-up. By default an idle
 * worker spins for 300000 pause instructions (milliseconds) after each
 * parallel region before it sleeps, so runs a few ms apart keep a core
 * busy, and in this VM a long spin also gets the vCPU descheduled (runs
 * 10 ms apart took 40 ms). Passive workers sleep at once, and waking one
 * costs 10-25 us per parallel step. 1000 spins bridge the gaps between
 * the steps of one run but not the pauses between runs: CIFAR VGG at
 * batch 1 on 2 threads 270 us back to back (passive: 360 us), and 0.53 of
 * the CPU time of the runs with 10 ms pauses. Unless the user chose a
 * policy (OMP_WAIT_POLICY or GOMP_SPINCOUNT), bench re-executes itself
 * once with GOMP_SPINCOUNT=1000; the README has the measurements. */
static void exec_with_openmp_env(int argc, char **argv) {
  if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
  char **args = calloc((size_t)argc + 3, sizeof *args);
  if (!args || setenv("GOMP_SPINCOUNT", "1000", 1) != 0) {
    free(args);
    return;
  }
  args[0] = "seqrt";
  args[1] = "bench";
  for (int i = 0; i < argc; i++) args[i + 2] = argv[i];
  execv("/proc/self/exe", args);
  /* Not re-executed: run with libgomp's defaults. */
  unsetenv("GOMP_SPINCOUNT");
  free(args);
}

int cmd_bench(int argc, char **argv) {
  options o;
  int rc = parse_options(argc, argv, &o);
  if (rc) return rc;
  exec_with_openmp_env(argc, argv);
  if (o.iters < 1) return error_exit(EXIT_FAIL, "--iters must be at least 1");
  bench_result r = {0};
  double t0 = now_us();
  seqrt_model *model = NULL;
  if ((rc = load_model(o.model, &model))) return rc;
  r.load_ms = (now_us() - t0) / 1e3;
  seqrt_tensor in = {0}, out = {0};
  seqrt_context *ctx = NULL;
  rc = o.input ? read_tensor(o.input, &in) : make_input(model, o.batch, &in);
  if (!rc && o.input && o.batch > 0 && in.dims[0] != o.batch)
    rc = error_exit(EXIT_FAIL, "--batch %d but %s has batch %lld", o.batch,
                    o.input, (long long)in.dims[0]);
  if (!rc && !(rc = make_output(model, in.dims[0], &out))) {
    if (seqrt_context_create(model, &ctx) != SEQRT_OK ||
        seqrt_context_set_threads(ctx, o.threads) != SEQRT_OK)
      rc = error_exit(EXIT_FAIL, "%s", seqrt_last_error());
  }
  if (!rc) {
    t0 = now_us();
    if (seqrt_run(ctx, &in, &out) != SEQRT_OK)
      rc = error_exit(EXIT_FAIL, "%s", seqrt_last_error());
    r.plan_ms = (now_us() - t0) / 1e3;
  }
  if (!rc) rc = time_runs(ctx, &in, &out, &o, &r);
  step_row *rows = NULL;
  int n_rows = 0;
  double rows_us = 0.0;
  if (!rc && o.profile && !(rows = profile_rows(model, ctx, &n_rows, &rows_us)))
    rc = EXIT_FAIL;
  if (!rc) {
    r.peak_rss_kb = peak_rss_kb();
    print_result(&o, &in, &r, rows, n_rows, rows_us);
  }
  free(rows);
  seqrt_context_free(ctx);
  free(in.data);
  free(out.data);
  seqrt_model_free(model);
  return rc;
}
