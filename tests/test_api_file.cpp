// Models loaded from a file copy their weights out of a mapping of it whose
// pages they give back as they go (api/seqrt.c, sq_import_releasing): such
// a model runs and matches the same model loaded from a buffer and an
// independent reference, BatchNorm folding into its weights leaves the file
// on disk unchanged, a second load of the file reads it whole again (the
// Linear weight spans whole pages the first load gave back), and the model
// does not depend on the file once loaded.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "onnx_builder.h"
#include "seqrt.h"

namespace {

using onnxb::Model;
using onnxb::ramp;

constexpr int kIn = 2, kOut = 8, kSize = 8, kConv = kSize - 2, kClasses = 10;
constexpr float kEps = 1e-3f;

struct Weights {
  std::vector<float> conv_w = ramp(kOut * kIn * 9, 0.11f),
                     conv_b = ramp(kOut, 0.3f, -0.1f),
                     gamma = ramp(kOut, 0.2f, 1.0f),
                     beta = ramp(kOut, 0.1f, 0.05f),
                     mean = ramp(kOut, 0.15f, -0.2f),
                     var = ramp(kOut, 0.05f, 1.2f),
                     fc_w = ramp(kClasses * kOut * kConv * kConv, 0.01f),
                     fc_b = ramp(kClasses, 0.5f);
};

// Conv 3x3 -> BatchNorm -> ReLU -> Flatten -> Linear, as torch exports it.
std::vector<uint8_t> conv_bn_model(const Weights &w) {
  Model m(14);
  m.input("x", {-1, kIn, kSize, kSize});
  m.initializer("0.weight", {kOut, kIn, 3, 3}, w.conv_w);
  m.initializer("0.bias", {kOut}, w.conv_b);
  m.initializer("1.weight", {kOut}, w.gamma);
  m.initializer("1.bias", {kOut}, w.beta);
  m.initializer("1.running_mean", {kOut}, w.mean);
  m.initializer("1.running_var", {kOut}, w.var);
  m.initializer("4.weight", {kClasses, kOut * kConv * kConv}, w.fc_w);
  m.initializer("4.bias", {kClasses}, w.fc_b);
  m.node("Conv", {"x", "0.weight", "0.bias"}, {"c"}, "/0/Conv")
      .attr("kernel_shape", std::vector<int64_t>{3, 3});
  m.node("BatchNormalization",
         {"c", "1.weight", "1.bias", "1.running_mean", "1.running_var"}, {"n"},
         "/1/BatchNormalization")
      .attr("epsilon", kEps);
  m.node("Relu", {"n"}, {"r"}, "/2/Relu");
  m.node("Flatten", {"r"}, {"f"}, "/3/Flatten").attr("axis", 1);
  m.node("Gemm", {"f", "4.weight", "4.bias"}, {"y"}, "/4/Gemm")
      .attr("transB", 1);
  m.output("y");
  return m.bytes();
}

std::vector<float> input(int batch) {
  return ramp(static_cast<size_t>(batch) * kIn * kSize * kSize, 0.25f, -0.4f);
}

// The model computed directly, in double.
std::vector<float> reference(const Weights &w, const std::vector<float> &x,
                             int batch) {
  std::vector<float> y;
  for (int n = 0; n < batch; n++) {
    std::vector<double> f;
    for (int o = 0; o < kOut; o++)
      for (int i = 0; i < kConv; i++)
        for (int j = 0; j < kConv; j++) {
          double s = w.conv_b[o];
          for (int c = 0; c < kIn; c++)
            for (int a = 0; a < 3; a++)
              for (int b = 0; b < 3; b++)
                s += w.conv_w[((o * kIn + c) * 3 + a) * 3 + b] *
                     x[((n * kIn + c) * kSize + i + a) * kSize + j + b];
          s = (s - w.mean[o]) / std::sqrt(w.var[o] + kEps) * w.gamma[o] +
              w.beta[o];
          f.push_back(s > 0 ? s : 0);
        }
    for (int k = 0; k < kClasses; k++) {
      double s = w.fc_b[k];
      for (size_t e = 0; e < f.size(); e++)
        s += w.fc_w[k * f.size() + e] * f[e];
      y.push_back(static_cast<float>(s));
    }
  }
  return y;
}

std::vector<float> run(const seqrt_model *model, std::vector<float> x,
                       int batch) {
  std::vector<float> out(static_cast<size_t>(batch) * kClasses, -1.0f);
  seqrt_tensor in = {SEQRT_FLOAT32, 4, {batch, kIn, kSize, kSize}, x.data()};
  seqrt_tensor y = {SEQRT_FLOAT32, 0, {}, out.data()};
  seqrt_context *ctx = nullptr;
  seqrt_status st = seqrt_context_create(model, &ctx);
  if (st == SEQRT_OK) st = seqrt_run(ctx, &in, &y);
  seqrt_context_free(ctx);
  EXPECT_EQ(st, SEQRT_OK) << seqrt_last_error();
  return out;
}

void expect_near(const std::vector<float> &expected,
                 const std::vector<float> &actual, double tol) {
  ASSERT_EQ(expected.size(), actual.size());
  for (size_t k = 0; k < expected.size(); k++)
    EXPECT_NEAR(expected[k], actual[k], tol * (1 + std::fabs(expected[k])))
        << "at " << k;
}

std::vector<uint8_t> read_bytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string &path, const std::vector<uint8_t> &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char *>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

// FNV-1a of the file's bytes.
uint64_t checksum(const std::string &path) {
  uint64_t h = 1469598103934665603ull;
  for (uint8_t b : read_bytes(path)) h = (h ^ b) * 1099511628211ull;
  return h;
}

class ApiFile : public testing::Test {
protected:
  void SetUp() override {
    char pattern[] = "/tmp/seqrt-file-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/model.onnx";
    bytes_ = conv_bn_model(weights_);
    write_bytes(path_, bytes_);
  }
  void TearDown() override {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }

  Weights weights_;
  std::string dir_, path_;
  std::vector<uint8_t> bytes_;
};

TEST_F(ApiFile, FileModelMatchesBufferModelAndLeavesTheFileAlone) {
  uint64_t before = checksum(path_);
  seqrt_model *from_file = nullptr, *from_buffer = nullptr;
  ASSERT_EQ(seqrt_model_load_file(path_.c_str(), nullptr, &from_file), SEQRT_OK)
      << seqrt_last_error();
  ASSERT_EQ(seqrt_model_load_buffer(bytes_.data(), bytes_.size(), nullptr,
                                    &from_buffer),
            SEQRT_OK)
      << seqrt_last_error();
  // the BatchNorm was folded into the Conv's weights
  seqrt_layer_info conv;
  ASSERT_EQ(seqrt_model_layer(from_file, 0, &conv), SEQRT_OK);
  EXPECT_STREQ(conv.kind, "Conv");
  EXPECT_STREQ(conv.folded, "1");
  EXPECT_EQ(checksum(path_), before);
  for (int batch : {1, 3}) {
    std::vector<float> x = input(batch);
    std::vector<float> file_out = run(from_file, x, batch);
    expect_near(run(from_buffer, x, batch), file_out, 1e-6);
    expect_near(reference(weights_, x, batch), file_out, 1e-4);
  }
  seqrt_model_free(from_file);
  seqrt_model_free(from_buffer);
  EXPECT_EQ(checksum(path_), before);
  EXPECT_EQ(read_bytes(path_), bytes_);
}

// Once loaded, the model reads nothing from the file: overwriting or
// truncating it changes nothing.
TEST_F(ApiFile, ModelOutlivesItsFile) {
  seqrt_model *a = nullptr, *b = nullptr;
  ASSERT_EQ(seqrt_model_load_file(path_.c_str(), nullptr, &a), SEQRT_OK)
      << seqrt_last_error();
  ASSERT_EQ(seqrt_model_load_file(path_.c_str(), nullptr, &b), SEQRT_OK)
      << seqrt_last_error();
  write_bytes(path_, std::vector<uint8_t>(bytes_.size(), 0));
  std::vector<float> x = input(2);
  std::vector<float> expected = reference(weights_, x, 2);
  expect_near(expected, run(a, x, 2), 1e-4);
  write_bytes(path_, {});
  seqrt_model_free(a);
  expect_near(expected, run(b, x, 2), 1e-4);
  seqrt_model_free(b);
}

} // namespace
