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

// A model from its ONNX bytes (null and a test failure if it does not
// load).
inline ModelPtr load(const std::vector<uint8_t> &bytes) {
  seqrt_model *model = nullptr;
  EXPECT_EQ(
      seqrt_model_load_buffer(bytes.data(), bytes.size(), nullptr, &model),
      SEQRT_OK)
      << seqrt_last_error();
  return ModelPtr(model);
}

// The model `m` describes, loaded from its bytes.
inline ModelPtr load(onnxb::Model &m) { return load(m.bytes()); }

// Conv 3x3 (`in` -> `out` channels, no padding) -> ReLU -> Flatten ->
// Linear to `classes` on [-1, in, size, size], as torch exports it.
inline std::vector<uint8_t> conv_relu_linear(int in, int out, int size,
                                             int classes) {
  using onnxb::ramp;
  int conv = size - 2;
  onnxb::Model m(14);
  m.input("x", {-1, in, size, size});
  m.initializer("0.weight", {out, in, 3, 3}, ramp(out * in * 9, 0.11f));
  m.initializer("0.bias", {out}, ramp(out, 0.3f, -0.1f));
  m.initializer("3.weight", {classes, out * conv * conv},
                ramp(classes * out * conv * conv, 0.01f));
  m.initializer("3.bias", {classes}, ramp(classes, 0.5f));
  m.node("Conv", {"x", "0.weight", "0.bias"}, {"c"}, "/0/Conv")
      .attr("kernel_shape", std::vector<int64_t>{3, 3});
  m.node("Relu", {"c"}, {"r"}, "/1/Relu");
  m.node("Flatten", {"r"}, {"f"}, "/2/Flatten").attr("axis", 1);
  m.node("Gemm", {"f", "3.weight", "3.bias"}, {"y"}, "/3/Gemm")
      .attr("transB", 1);
  m.output("y");
  return m.bytes();
}

// x [-1, 2, 3] -> Reshape [-1, 3]: [-1*2, 3] -> Softmax(axis 0) across
// every sample's rows.
inline std::vector<uint8_t> softmax_across_samples() {
  onnxb::Model m(13);
  m.input("x", {-1, 2, 3});
  m.initializer_i64("shape", {2}, {-1, 3});
  m.node("Reshape", {"x", "shape"}, {"r"}, "/0/Reshape");
  m.node("Softmax", {"r"}, {"y"}, "/1/Softmax").attr("axis", 0);
  m.output("y", {-1, 3});
  return m.bytes();
}

} // namespace apitest

#endif
