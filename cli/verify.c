/* seqrt verify: run a model and compare with PyTorch's outputs, for one
 * input/expected pair, a folder of bundled form (model.onnx, input.npy,
 * expected.npy) or the ONNX backend-test form (test_data_set_N/). */
#define _GNU_SOURCE
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "npy.h"
#include "tensor_file.h"

/* ---- comparison -------------------------------------------------------------
 */

comparison compare(const float *got, const float *want, size_t n, double atol,
                   double rtol) {
  comparison c = {0};
  for (size_t i = 0; i < n; i++) {
    double g = got[i], w = want[i];
    if (!isfinite(g) || !isfinite(w)) {
      int same = (isnan(g) && isnan(w)) || g == w; /* same NaN or Inf */
      if (!same) {
        c.nonfinite += isfinite(w) != 0;
        c.failed++;
        c.worst = i;
        c.max_abs = INFINITY;
      }
      continue;
    }
    double abs_err = fabs(g - w);
    double rel_err = abs_err / fmax(fabs(w), 1e-30);
    if (abs_err > atol && rel_err > rtol) c.failed++;
    if (abs_err > c.max_abs) {
      c.max_abs = abs_err;
      c.worst = i;
    }
    /* relative error only where |expected| >= atol, so that values near
     * zero do not drown the figure */
    if (fabs(w) >= atol && rel_err > c.max_rel) c.max_rel = rel_err;
  }
  return c;
}

static void format_index(size_t flat, const seqrt_tensor *t, char *buf,
                         size_t size) {
  int64_t idx[SEQRT_MAX_RANK];
  for (int i = t->rank - 1; i >= 0; i--) {
    idx[i] = t->dims[i] ? (int64_t)(flat % (size_t)t->dims[i]) : 0;
    flat = t->dims[i] ? flat / (size_t)t->dims[i] : 0;
  }
  format_shape(idx, t->rank, buf, size);
}

int same_shape(const seqrt_tensor *a, const seqrt_tensor *b) {
  if (a->rank != b->rank) return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return 0;
  return 1;
}

static int report_comparison(const seqrt_tensor *got, const seqrt_tensor *want,
                             const options *o) {
  comparison c =
      compare(got->data, want->data, tensor_count(got), o->atol, o->rtol);
  char where[128];
  format_index(c.worst, got, where, sizeof where);
  printf("max abs error %.3g at %s (got %.7g, expected %.7g)\n", c.max_abs,
         where, ((float *)got->data)[c.worst], ((float *)want->data)[c.worst]);
  printf("max rel error %.3g (where |expected| >= atol)\n", c.max_rel);
  if (c.nonfinite)
    printf("%zu elements are NaN or Inf where PyTorch is finite\n",
           c.nonfinite);
  printf("%zu of %zu elements beyond atol %g and rtol %g: %s\n", c.failed,
         tensor_count(got), o->atol, o->rtol, c.failed ? "FAIL" : "PASS");
  return c.failed ? EXIT_FAIL : EXIT_OK;
}

/* Runs `input_path` through the model and compares with `expect_path`. */
static int verify_pair(const seqrt_model *model, const char *input_path,
                       const char *expect_path, const options *o) {
  seqrt_tensor input = {0}, want = {0}, got = {0};
  int rc;
  if (!(rc = read_tensor(input_path, &input)) &&
      !(rc = read_tensor(expect_path, &want)) &&
      !(rc = run_model(model, &input, o->threads, &got, NULL))) {
    char a[128], b[128];
    format_shape(got.dims, got.rank, a, sizeof a);
    format_shape(want.dims, want.rank, b, sizeof b);
    if (want.dtype != SEQRT_FLOAT32 || !same_shape(&got, &want))
      rc = error_exit(EXIT_FAIL,
                      "output %s float32 does not match expected %s %s", a, b,
                      want.dtype == SEQRT_FLOAT32 ? "float32" : "int64");
    else
      rc = report_comparison(&got, &want, o);
  }
  free(input.data);
  free(want.data);
  free(got.data);
  return rc;
}

static int is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int data_set_filter(const struct dirent *e) {
  return strncmp(e->d_name, "test_data_set_", 14) == 0;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strverscmp((*a)->d_name, (*b)->d_name);
}

/* ONNX backend-test layout: DIR/test_data_set_N/{input_0,output_0}.pb. */
static int verify_data_sets(const seqrt_model *model, const char *dir,
                            const options *o) {
  struct dirent **sets;
  int n = scandir(dir, &sets, data_set_filter, by_name);
  if (n <= 0) {
    if (n == 0) free(sets);
    return error_exit(EXIT_FAIL,
                      "'%s' has neither input.npy/expected.npy nor "
                      "test_data_set_*/ folders",
                      dir);
  }
  int rc = EXIT_OK;
  for (int i = 0; i < n; i++) {
    char in[4096], out[4096];
    snprintf(in, sizeof in, "%s/%s/input_0.pb", dir, sets[i]->d_name);
    snprintf(out, sizeof out, "%s/%s/output_0.pb", dir, sets[i]->d_name);
    printf("%s:\n", sets[i]->d_name);
    int set_rc = verify_pair(model, in, out, o);
    if (set_rc > rc) rc = set_rc;
    free(sets[i]);
  }
  free(sets);
  return rc;
}

static int verify_dir(const options *o) {
  char path[4096], input[4096], expect[4096];
  snprintf(path, sizeof path, "%s/manifest.json", o->model);
  if (is_file(path)) return verify_layers(o->model, o);
  snprintf(path, sizeof path, "%s/model.onnx", o->model);
  seqrt_model *model = NULL;
  int rc = load_model(path, &model);
  if (rc) return rc;
  snprintf(input, sizeof input, "%s/input.npy", o->model);
  snprintf(expect, sizeof expect, "%s/expected.npy", o->model);
  if (is_file(input) && is_file(expect))
    rc = verify_pair(model, input, expect, o);
  else
    rc = verify_data_sets(model, o->model, o);
  seqrt_model_free(model);
  return rc;
}

int cmd_verify(int argc, char **argv) {
  options o;
  int rc = parse_options(argc, argv, &o);
  if (rc) return rc;
  if (is_dir(o.model)) return verify_dir(&o);
  if (!o.input || !o.expect)
    return error_exit(EXIT_FAIL,
                      "verify needs --input X.npy and --expect Y.npy, or a "
                      "folder");
  seqrt_model *model = NULL;
  if ((rc = load_model(o.model, &model))) return rc;
  rc = verify_pair(model, o.input, o.expect, &o);
  seqrt_model_free(model);
  return rc;
}
