/* libFuzzer target: load a model from memory, import it, build its plans
 * and run it: at batch 1 and 2, whole-chain (fused plan) and layer by layer
 * (observable plan). External data named "weights.bin" is supplied from
 * memory, every other reference must be refused. The same bytes are also
 * imported releasing (payload pages given back as they are copied, as for
 * a model file), which must succeed or fail alike. Any crash, leak, hang or
 * sanitizer report is a bug; errors are expected. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "importer/importer.h"
#include "seqrt.h"

/* Elements of `shape` with the batch substituted, or 0 when too many to
 * run quickly. */
static size_t elements(const seqrt_shape *shape, int64_t batch) {
  size_t n = 1;
  for (int i = 0; i < shape->rank; i++) {
    int64_t d = shape->dims[i] < 0 ? batch : shape->dims[i];
    if (d <= 0 || (size_t)d > ((size_t)1 << 22) / n) return 0;
    n *= (size_t)d;
  }
  return n;
}

static int count_layers(void *user, int index, const char *name,
                        const seqrt_tensor *view) {
  (void)index;
  (void)name;
  (void)view;
  ++*(int *)user;
  return 0;
}

static void run_once(const seqrt_model *model, int64_t batch, int layers) {
  seqrt_shape in_shape, out_shape;
  seqrt_dtype dtype;
  if (seqrt_model_input(model, &in_shape, &dtype) != SEQRT_OK) return;
  if (in_shape.rank > 0 && in_shape.dims[0] >= 0) batch = in_shape.dims[0];
  if (seqrt_model_output_shape(model, batch, &out_shape) != SEQRT_OK) return;
  size_t n_in = elements(&in_shape, batch);
  size_t n_out = elements(&out_shape, batch);
  if (!n_in || !n_out) return;
  seqrt_tensor input = {dtype, in_shape.rank, {0}, calloc(n_in, 8)};
  for (int i = 0; i < in_shape.rank; i++)
    input.dims[i] = in_shape.dims[i] < 0 ? batch : in_shape.dims[i];
  seqrt_tensor output = {.data = calloc(n_out, sizeof(float))};
  seqrt_context *ctx = NULL;
  if (input.data && output.data &&
      seqrt_context_create(model, &ctx) == SEQRT_OK &&
      seqrt_context_set_threads(ctx, 1) == SEQRT_OK) {
    if (!layers) {
      seqrt_run(ctx, &input, &output);
    } else {
      int seen = 0;
      int n = seqrt_model_layer_count(model);
      if (seqrt_run_layers(ctx, 0, n - 1, &input, &output, count_layers,
                           &seen) == SEQRT_OK &&
          seen != n)
        abort(); /* every layer must be observed */
    }
  }
  seqrt_context_free(ctx);
  free(input.data);
  free(output.data);
}

/* The import of a model file: releasing, on a copy of the bytes. */
static seqrt_status import_releasing(const uint8_t *data, size_t size,
                                     const sq_external_blob *blob) {
  uint8_t *copy = malloc(size ? size : 1);
  if (!copy) return SEQRT_ERR_NOMEM;
  if (size) memcpy(copy, data, size);
  sq_import_options options = {NULL, 64u << 20, blob, 1};
  sq_chain *chain = NULL;
  seqrt_status status = sq_import_releasing(copy, size, &options, &chain);
  sq_chain_free(chain);
  free(copy);
  return status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static float weights[1024];
  seqrt_options *options = NULL;
  if (seqrt_options_create(&options) != SEQRT_OK) return 0;
  seqrt_options_set_memory_limit(options, 64u << 20);
  seqrt_options_set_external_data(options, "weights.bin", weights,
                                  sizeof weights);
  seqrt_model *model = NULL;
  seqrt_status status = seqrt_model_load_buffer(data, size, options, &model);
  if (status == SEQRT_OK) {
    for (int i = 0; i < seqrt_model_layer_count(model); i++) {
      seqrt_layer_info info;
      if (seqrt_model_layer(model, i, &info) != SEQRT_OK ||
          seqrt_model_find_layer(model, info.name) < 0)
        abort(); /* a layer's own name must find a layer */
    }
    run_once(model, 1, 0);
    run_once(model, 2, 0);
    run_once(model, 2, 1);
  } else if (model || !*seqrt_last_error()) {
    abort(); /* a failure leaves no model and says why */
  }
  seqrt_model_free(model);
  seqrt_options_free(options);
  sq_external_blob blob = {"weights.bin", weights, sizeof weights};
  if (status != SEQRT_ERR_NOMEM &&
      import_releasing(data, size, &blob) != status)
    abort(); /* giving pages back changes nothing else */
  return 0;
}
