// Per-step profiles through the public API (seqrt_context_set_profiling,
// seqrt_context_profile): the steps cover the chain in order, count every
// profiled run, carry the layers' arithmetic at the run's batch, and the
// profile belongs to the last run only when that run was profiled.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "test_api_util.h"

namespace {

using onnxb::ramp;

constexpr int kIn = 2, kOut = 8, kSize = 8, kConv = kSize - 2, kClasses = 10;

using apitest::ContextPtr;
using apitest::ModelPtr;

// Conv 3x3 -> ReLU -> Flatten -> Linear.
ModelPtr conv_model() {
  return apitest::load(apitest::conv_relu_linear(kIn, kOut, kSize, kClasses));
}

// Conv: 2 per multiply-add; ReLU and Flatten: 1 per output; Linear: 2 per
// multiply-add.
double model_flop(int batch) {
  double conv_out = double(batch) * kOut * kConv * kConv;
  return 2.0 * conv_out * kIn * 9 + 2.0 * conv_out +
         2.0 * batch * kClasses * kOut * kConv * kConv;
}

class ApiProfile : public ::testing::Test {
protected:
  void SetUp() override {
    model_ = conv_model();
    ASSERT_TRUE(model_);
    seqrt_context *ctx = nullptr;
    ASSERT_EQ(seqrt_context_create(model_.get(), &ctx), SEQRT_OK);
    ctx_.reset(ctx);
  }

  void run(int batch) {
    std::vector<float> x = ramp(size_t(batch) * kIn * kSize * kSize, 0.25f);
    std::vector<float> y(size_t(batch) * kClasses);
    seqrt_tensor in = {SEQRT_FLOAT32, 4, {batch, kIn, kSize, kSize}, x.data()};
    seqrt_tensor out = {SEQRT_FLOAT32, 0, {}, y.data()};
    ASSERT_EQ(seqrt_run(ctx_.get(), &in, &out), SEQRT_OK) << seqrt_last_error();
  }

  std::vector<seqrt_step_profile> profile() {
    const seqrt_step_profile *steps = nullptr;
    int count = -1;
    EXPECT_EQ(seqrt_context_profile(ctx_.get(), &steps, &count), SEQRT_OK)
        << seqrt_last_error();
    if (!steps || count <= 0) return {};
    return std::vector<seqrt_step_profile>(steps, steps + count);
  }

  ModelPtr model_;
  ContextPtr ctx_;
};

TEST_F(ApiProfile, StepsCoverTheChainInOrderAndCountEveryRun) {
  ASSERT_EQ(seqrt_context_set_profiling(ctx_.get(), 1), SEQRT_OK);
  for (int i = 0; i < 3; i++) run(2);
  std::vector<seqrt_step_profile> steps = profile();
  ASSERT_FALSE(steps.empty());
  int next = 0;
  double flop = 0, bytes = 0;
  for (const seqrt_step_profile &s : steps) {
    EXPECT_EQ(s.first_layer, next);
    EXPECT_GE(s.last_layer, s.first_layer);
    next = s.last_layer + 1;
    EXPECT_EQ(s.runs, 3);
    EXPECT_GT(s.total_us, 0.0);
    EXPECT_GE(s.threads, 1);
    ASSERT_NE(s.impl, nullptr);
    EXPECT_GT(std::strlen(s.impl), 0u);
    flop += s.flop;
    bytes += s.weight_bytes;
  }
  EXPECT_EQ(next, seqrt_model_layer_count(model_.get()));
  EXPECT_DOUBLE_EQ(flop, model_flop(2));
  EXPECT_DOUBLE_EQ(bytes, 4.0 * (kOut * kIn * 9 + kOut +
                                 kClasses * kOut * kConv * kConv + kClasses));
  // The convolution (and its fused ReLU) runs on a oneDNN primitive.
  EXPECT_STRNE(steps.front().impl, "view");
}

TEST_F(ApiProfile, TheProfileFollowsTheLastRunsBatch) {
  ASSERT_EQ(seqrt_context_set_profiling(ctx_.get(), 1), SEQRT_OK);
  run(1);
  run(1);
  run(4);
  std::vector<seqrt_step_profile> steps = profile();
  double flop = 0;
  for (const seqrt_step_profile &s : steps) {
    EXPECT_EQ(s.runs, 1);
    flop += s.flop;
  }
  EXPECT_DOUBLE_EQ(flop, model_flop(4));
  run(1);
  for (const seqrt_step_profile &s : profile()) EXPECT_EQ(s.runs, 3);
}

TEST_F(ApiProfile, SwitchingOnAgainClearsTheTimes) {
  ASSERT_EQ(seqrt_context_set_profiling(ctx_.get(), 1), SEQRT_OK);
  run(2);
  run(2);
  ASSERT_EQ(seqrt_context_set_profiling(ctx_.get(), 1), SEQRT_OK);
  run(2);
  for (const seqrt_step_profile &s : profile()) EXPECT_EQ(s.runs, 3);
  ASSERT_EQ(seqrt_context_set_profiling(ctx_.get(), 0), SEQRT_OK);
  ASSERT_EQ(seqrt_context_set_profiling(ctx_.get(), 1), SEQRT_OK);
  run(2);
  for (const seqrt_step_profile &s : profile()) EXPECT_EQ(s.runs, 1);
}

TEST_F(ApiProfile, AnUnprofiledLastRunHasNoProfile) {
  const seqrt_step_profile *steps = nullptr;
  int count = -1;
  EXPECT_EQ(seqrt_context_profile(ctx_.get(), &steps, &count),
            SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(seqrt_last_error(), "not profiled"), nullptr)
      << seqrt_last_error();
  EXPECT_EQ(count, 0);
  ASSERT_EQ(seqrt_context_set_profiling(ctx_.get(), 1), SEQRT_OK);
  run(2);
  ASSERT_EQ(seqrt_context_set_profiling(ctx_.get(), 0), SEQRT_OK);
  run(2);
  EXPECT_EQ(seqrt_context_profile(ctx_.get(), &steps, &count),
            SEQRT_ERR_INVALID_ARGUMENT);
}

// seqrt_context_threads: the count set, or the OpenMP default when it is 0;
// the profile shows no step on more threads than that.
TEST_F(ApiProfile, ThreadsAreTheCountRunsUse) {
  int fallback = seqrt_context_threads(ctx_.get());
  EXPECT_GE(fallback, 1);
  ASSERT_EQ(seqrt_context_set_threads(ctx_.get(), 3), SEQRT_OK);
  EXPECT_EQ(seqrt_context_threads(ctx_.get()), 3);
  ASSERT_EQ(seqrt_context_set_threads(ctx_.get(), 1), SEQRT_OK);
  EXPECT_EQ(seqrt_context_threads(ctx_.get()), 1);
  ASSERT_EQ(seqrt_context_set_profiling(ctx_.get(), 1), SEQRT_OK);
  run(4);
  for (const seqrt_step_profile &step : profile()) EXPECT_EQ(step.threads, 1);
  ASSERT_EQ(seqrt_context_set_threads(ctx_.get(), 0), SEQRT_OK);
  EXPECT_EQ(seqrt_context_threads(ctx_.get()), fallback);
  run(4);
  for (const seqrt_step_profile &step : profile()) {
    EXPECT_GE(step.threads, 1);
    EXPECT_LE(step.threads, fallback);
  }
  EXPECT_EQ(seqrt_context_threads(nullptr), 0);
}

TEST_F(ApiProfile, NullArgumentsAreRefused) {
  const seqrt_step_profile *steps = nullptr;
  int count = 0;
  EXPECT_EQ(seqrt_context_set_profiling(nullptr, 1),
            SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(seqrt_context_profile(nullptr, &steps, &count),
            SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(seqrt_context_profile(ctx_.get(), nullptr, &count),
            SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(seqrt_context_profile(ctx_.get(), &steps, nullptr),
            SEQRT_ERR_INVALID_ARGUMENT);
}

} // namespace
