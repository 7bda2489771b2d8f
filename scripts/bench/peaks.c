/* The machine's practical limits, measured the way the benchmark targets
 * define them:
 *   peaks sgemm THREADS        oneDNN's dnnl_sgemm at 2048^3: "GFLOPS x"
 *   peaks bw BYTES THREADS     best streaming read of a BYTES buffer: "GBPS x"
 * Built and run by scripts/bench/compare.py. */
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int sgemm_peak(int threads) {
  const int n = 2048;
  float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n),
        *c = malloc(sizeof(float) * n * n);
  if (!a || !b || !c) return 1;
  for (long i = 0; i < (long)n * n; i++) {
    a[i] = (float)(i % 13) * 0.01f;
    b[i] = (float)(i % 7) * 0.02f;
  }
  memset(c, 0, sizeof(float) * n * n);
  omp_set_num_threads(threads);
  double best = 1e9;
  for (int r = 0; r < 6; r++) {
    double t = now();
    if (dnnl_sgemm('N', 'N', n, n, n, 1.0f, a, n, b, n, 0.0f, c, n) !=
        dnnl_success)
      return 1;
    t = now() - t;
    if (r > 0 && t < best) best = t; /* the first run warms up */
  }
  printf("GFLOPS %.1f\n", 2.0 * n * n * n / best / 1e9);
  free(a);
  free(b);
  free(c);
  return 0;
}

static int read_bandwidth(size_t bytes, int threads) {
  size_t n = (bytes / sizeof(float) + 63) / 64 * 64;
  float *a = aligned_alloc(64, n * sizeof(float));
  if (!a) return 1;
  omp_set_num_threads(threads);
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) a[i] = (float)(i & 1023) * 1e-6f;
  int reps = (int)(3e9 / (n * 4.0)) + 3;
  double best = 1e9, sink = 0;
  for (int r = 0; r < reps; r++) {
    double t = now();
    float s = 0;
#pragma omp parallel for simd schedule(static) reduction(+ : s)
    for (size_t i = 0; i < n; i++) s += a[i];
    t = now() - t;
    sink += s;
    if (t < best) best = t;
  }
  printf("GBPS %.1f (%g)\n", n * sizeof(float) / best / 1e9, sink);
  free(a);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "sgemm") == 0)
    return sgemm_peak(atoi(argv[2]));
  if (argc == 4 && strcmp(argv[1], "bw") == 0)
    return read_bandwidth(strtoull(argv[2], NULL, 10), atoi(argv[3]));
  fprintf(stderr, "usage: peaks sgemm THREADS | peaks bw BYTES THREADS\n");
  return 2;
}
