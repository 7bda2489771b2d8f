/* classify: the smallest complete seqrt program. Loads an ONNX model, runs
 * the first sample of a raw float32 file through it and prints the top-1
 * class.
 *
 *   classify MODEL.onnx INPUT.f32
 */
#include <seqrt.h>
#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what) {
  fprintf(stderr, "classify: %s: %s\n", what, seqrt_last_error());
  return 1;
}

/* Reads exactly `count` floats from the start of `path`. */
static int read_floats(const char *path, float *out, size_t count) {
  FILE *file = fopen(path, "rb");
  if (!file) return 0;
  size_t got = fread(out, sizeof *out, count, file);
  fclose(file);
  return got == count;
}

static size_t element_count(const seqrt_shape *shape) {
  size_t count = 1;
  for (int i = 0; i < shape->rank; i++) count *= (size_t)shape->dims[i];
  return count;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s MODEL.onnx INPUT.f32\n", argv[0]);
    return 2;
  }
  seqrt_model *model = NULL;
  if (seqrt_model_load_file(argv[1], NULL, &model) != SEQRT_OK)
    return fail("load");

  /* One sample: the model's input shape with a batch of 1. */
  seqrt_shape in_shape, out_shape;
  seqrt_dtype dtype;
  seqrt_model_input(model, &in_shape, &dtype);
  in_shape.dims[0] = 1;
  seqrt_model_output_shape(model, 1, &out_shape);
  size_t in_count = element_count(&in_shape);
  size_t out_count = element_count(&out_shape);
  float *in = malloc(in_count * sizeof *in);
  float *out = malloc(out_count * sizeof *out);
  seqrt_context *ctx = NULL;
  int status = 1;
  if (dtype != SEQRT_FLOAT32 || !in || !out) {
    fprintf(stderr, "classify: needs a float32 model and memory\n");
  } else if (!read_floats(argv[2], in, in_count)) {
    fprintf(stderr, "classify: %s: cannot read %zu floats\n", argv[2],
            in_count);
  } else if (seqrt_context_create(model, &ctx) != SEQRT_OK) {
    fail("context");
  } else {
    seqrt_tensor input = {SEQRT_FLOAT32, in_shape.rank, {0}, in};
    for (int i = 0; i < in_shape.rank; i++) input.dims[i] = in_shape.dims[i];
    seqrt_tensor output = {.data = out};
    if (seqrt_run(ctx, &input, &output) != SEQRT_OK) {
      fail("run");
    } else {
      size_t best = 0;
      for (size_t i = 1; i < out_count; i++)
        if (out[i] > out[best]) best = i;
      printf("sample 0: class %zu (score %.6g)\n", best, out[best]);
      status = 0;
    }
  }
  seqrt_context_free(ctx);
  seqrt_model_free(model);
  free(in);
  free(out);
  return status;
}
