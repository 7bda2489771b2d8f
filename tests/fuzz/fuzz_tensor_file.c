/* libFuzzer target: the CLI's .npy and TensorProto .pb readers. */
#include <stdint.h>
#include <stdlib.h>

#include "npy.h"
#include "tensor_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  seqrt_tensor t;
  char err[256];
  if (npy_parse(data, size, &t, err, sizeof err) == 0) free(t.data);
  if (pb_parse(data, size, &t, err, sizeof err) == 0) free(t.data);
  return 0;
}
