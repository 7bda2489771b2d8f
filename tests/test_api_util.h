// Helpers of the public-API tests that build their models with
// onnx_builder.h: owning handles and loading a built model.
#ifndef SEQRT_TEST_API_UTIL_H
#define SEQRT_TEST_API_UTIL_H

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "onnx_builder.h"
#include "seqrt.h"

namespace apitest {

struct ModelDeleter {
  void operator()(seqrt_model *m) const { seqrt_model_free(m); }
};
struct ContextDeleter {
  void operator()(seqrt_context *c) const { seqrt_context_free(c); }
};
using ModelPtr = std::unique_ptr<seqrt_model, ModelDeleter>;
using ContextPtr = std::unique_ptr<seqrt_context, ContextDeleter>;

// The model `m` describes, loaded from its bytes (null and a test failure
// if it does not load).
inline ModelPtr load(onnxb::Model &m) {
  std::vector<uint8_t> bytes = m.bytes();
  seqrt_model *model = nullptr;
  EXPECT_EQ(
      seqrt_model_load_buffer(bytes.data(), bytes.size(), nullptr, &model),
      SEQRT_OK)
      << seqrt_last_error();
  return ModelPtr(model);
}

} // namespace apitest

#endif
