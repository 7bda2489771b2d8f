// Shapes through the public API when a layer merged the dynamic batch with
// the dims after it (Flatten(0), Reshape [-1, ...]): dims[0] = -K is the
// batch times K in layer descriptions, output shapes, runs and layer
// ranges. A model with a fixed batch has concrete shapes throughout.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "test_api_util.h"

namespace {

using apitest::ContextPtr;
using apitest::load;
using apitest::ModelPtr;

std::vector<int64_t> dims_of(const seqrt_shape &s) {
  return std::vector<int64_t>(s.dims, s.dims + s.rank);
}

std::vector<int64_t> dims_of(const seqrt_tensor &t) {
  return std::vector<int64_t>(t.dims, t.dims + t.rank);
}

std::vector<float> ramp(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; i++) v[i] = 0.25f * (float)((i * 7) % 11) - 1.0f;
  return v;
}

// Softmax over dim 0 of a [rows, cols] array.
std::vector<float> softmax_rows(const std::vector<float> &x, size_t rows,
                                size_t cols) {
  std::vector<float> y(x.size());
  for (size_t c = 0; c < cols; c++) {
    double sum = 0;
    for (size_t r = 0; r < rows; r++) sum += std::exp(x[r * cols + c]);
    for (size_t r = 0; r < rows; r++)
      y[r * cols + c] = (float)(std::exp(x[r * cols + c]) / sum);
  }
  return y;
}

void expect_near(const std::vector<float> &want, const float *got) {
  for (size_t i = 0; i < want.size(); i++)
    EXPECT_NEAR(want[i], got[i], 1e-5) << "element " << i;
}

ModelPtr merged_softmax() { return load(apitest::softmax_across_samples()); }

} // namespace

TEST(ApiShapes, MergedBatchDescribedAsMinusK) {
  ModelPtr model = merged_softmax();
  ASSERT_TRUE(model);
  seqrt_layer_info info;
  ASSERT_EQ(seqrt_model_layer(model.get(), 0, &info), SEQRT_OK);
  EXPECT_EQ(dims_of(info.input), (std::vector<int64_t>{-1, 2, 3}));
  EXPECT_EQ(dims_of(info.output), (std::vector<int64_t>{-2, 3}));
  ASSERT_EQ(seqrt_model_layer(model.get(), 1, &info), SEQRT_OK);
  EXPECT_EQ(dims_of(info.input), (std::vector<int64_t>{-2, 3}));
  seqrt_shape out;
  ASSERT_EQ(seqrt_model_output_shape(model.get(), 3, &out), SEQRT_OK);
  EXPECT_EQ(dims_of(out), (std::vector<int64_t>{6, 3}));
  ASSERT_EQ(seqrt_model_output_shape(model.get(), 1, &out), SEQRT_OK);
  EXPECT_EQ(dims_of(out), (std::vector<int64_t>{2, 3}));
}

TEST(ApiShapes, RunAndLayerRangeOnTheMergedBatch) {
  ModelPtr model = merged_softmax();
  ASSERT_TRUE(model);
  seqrt_context *raw = nullptr;
  ASSERT_EQ(seqrt_context_create(model.get(), &raw), SEQRT_OK);
  ContextPtr ctx(raw);
  for (int64_t batch : {1, 3}) {
    SCOPED_TRACE(::testing::Message() << "batch " << batch);
    std::vector<float> x = ramp((size_t)batch * 6), y(x.size(), NAN);
    std::vector<float> want = softmax_rows(x, (size_t)batch * 2, 3);
    seqrt_tensor in = {SEQRT_FLOAT32, 3, {batch, 2, 3}, x.data()};
    seqrt_tensor out = {SEQRT_FLOAT32, 0, {}, y.data()};
    ASSERT_EQ(seqrt_run(ctx.get(), &in, &out), SEQRT_OK) << seqrt_last_error();
    EXPECT_EQ(dims_of(out), (std::vector<int64_t>{2 * batch, 3}));
    expect_near(want, y.data());
    // layer 1 alone takes [batch * 2, 3]
    std::fill(y.begin(), y.end(), NAN);
    seqrt_tensor rows = {SEQRT_FLOAT32, 2, {2 * batch, 3}, x.data()};
    ASSERT_EQ(seqrt_run_layers(ctx.get(), 1, 1, &rows, &out, nullptr, nullptr),
              SEQRT_OK)
        << seqrt_last_error();
    EXPECT_EQ(dims_of(out), (std::vector<int64_t>{2 * batch, 3}));
    expect_near(want, y.data());
  }
  // an odd number of rows is no batch of [-1*2, 3]
  std::vector<float> x(15), y(15);
  seqrt_tensor odd = {SEQRT_FLOAT32, 2, {5, 3}, x.data()};
  seqrt_tensor out = {SEQRT_FLOAT32, 0, {}, y.data()};
  EXPECT_EQ(seqrt_run_layers(ctx.get(), 1, 1, &odd, &out, nullptr, nullptr),
            SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(seqrt_last_error(),
                        "input shape [5, 3] does not match the model's "
                        "[-1*2, 3]"),
            nullptr)
      << seqrt_last_error();
}

// x [2, 3] (fixed batch) → Reshape [-1]: [6] → Linear 6 → 4 on the vector.
TEST(ApiShapes, FixedBatchVectorLayers) {
  onnxb::Model m(13);
  m.input("x", {2, 3});
  m.initializer_i64("flat", {1}, {-1});
  m.node("Reshape", {"x", "flat"}, {"v"}, "/0/Reshape");
  std::vector<float> w = ramp(24), b = {0.5f, -0.5f, 1.0f, 0.0f};
  m.initializer("w", {6, 4}, w);
  m.initializer("b", {4}, b);
  m.node("MatMul", {"v", "w"}, {"mm"}, "/1/MatMul");
  m.node("Add", {"mm", "b"}, {"y"}, "/1/Add");
  m.output("y", {4});
  ModelPtr model = load(m);
  ASSERT_TRUE(model);
  seqrt_shape shape;
  ASSERT_EQ(seqrt_model_output_shape(model.get(), 2, &shape), SEQRT_OK);
  EXPECT_EQ(dims_of(shape), (std::vector<int64_t>{4}));
  std::vector<float> x = ramp(6), want(4), y(4, NAN);
  for (int o = 0; o < 4; o++) {
    double acc = b[(size_t)o];
    for (int k = 0; k < 6; k++) acc += x[(size_t)k] * w[(size_t)(k * 4 + o)];
    want[(size_t)o] = (float)acc;
  }
  seqrt_context *raw = nullptr;
  ASSERT_EQ(seqrt_context_create(model.get(), &raw), SEQRT_OK);
  ContextPtr ctx(raw);
  seqrt_tensor in = {SEQRT_FLOAT32, 2, {2, 3}, x.data()};
  seqrt_tensor out = {SEQRT_FLOAT32, 0, {}, y.data()};
  ASSERT_EQ(seqrt_run(ctx.get(), &in, &out), SEQRT_OK) << seqrt_last_error();
  EXPECT_EQ(dims_of(out), (std::vector<int64_t>{4}));
  expect_near(want, y.data());
  // the Linear alone on the [6] vector: the model's fixed batch of 2 runs
  std::fill(y.begin(), y.end(), NAN);
  seqrt_tensor vector = {SEQRT_FLOAT32, 1, {6}, x.data()};
  ASSERT_EQ(seqrt_run_layers(ctx.get(), 1, 1, &vector, &out, nullptr, nullptr),
            SEQRT_OK)
      << seqrt_last_error();
  expect_near(want, y.data());
}
