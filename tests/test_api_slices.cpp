// Batch slices: on several threads a whole run may go as one slice of the
// batch per thread, each through a one-thread plan (api/seqrt.c, "batch
// slices"). Sliced runs must give what per-sample runs give, for float and
// int64 inputs and uneven slices; a chain that mixes samples never slices;
// and the timed choice is made once per batch size and model.
// SEQRT_BATCH_SPLIT and SEQRT_PRINT_PLANS are read when a model loads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "test_api_util.h"

namespace {

using apitest::ContextPtr;
using apitest::ModelPtr;

using onnxb::ramp;

// Conv 3x3 -> ReLU -> Flatten -> Linear on [-1, 2, 6, 6].
std::vector<uint8_t> conv_net() {
  return apitest::conv_relu_linear(2, 4, 6, 5);
}

// Linear 64 -> 48 -> ReLU -> Linear 5: slices of it take no more memory
// than the whole batch, so the choice is timed.
std::vector<uint8_t> mlp() {
  onnxb::Model m(13);
  m.input("x", {-1, 64});
  m.initializer("0.weight", {48, 64}, ramp(48 * 64, 0.02f));
  m.initializer("0.bias", {48}, ramp(48, 0.1f));
  m.initializer("2.weight", {5, 48}, ramp(5 * 48, 0.03f));
  m.initializer("2.bias", {5}, ramp(5, 0.2f));
  m.node("Gemm", {"x", "0.weight", "0.bias"}, {"h"}, "/0/Gemm")
      .attr("transB", 1);
  m.node("Relu", {"h"}, {"r"}, "/1/Relu");
  m.node("Gemm", {"r", "2.weight", "2.bias"}, {"y"}, "/2/Gemm")
      .attr("transB", 1);
  m.output("y");
  return m.bytes();
}

// Embedding(20, 8) on int64 [-1, 5] -> ReLU.
std::vector<uint8_t> embedding() {
  onnxb::Model m(13);
  m.input("input", {-1, 5}, onnxb::INT64);
  m.initializer("0.weight", {20, 8}, ramp(20 * 8, 0.1f));
  m.node("Gather", {"0.weight", "input"}, {"e"}, "/0/Gather");
  m.node("Relu", {"e"}, {"y"}, "/1/Relu");
  m.output("y");
  return m.bytes();
}

// Loads `bytes` with seqrt_options_set_batch_slices(mode),
// SEQRT_BATCH_SPLIT=split (nullptr: unset) and SEQRT_PRINT_PLANS=1,
// restoring both variables after.
ModelPtr load_with(const std::vector<uint8_t> &bytes, const char *split,
                   seqrt_batch_slices mode = SEQRT_BATCH_SLICES_AUTO) {
  seqrt_options *options = nullptr;
  EXPECT_EQ(seqrt_options_create(&options), SEQRT_OK);
  EXPECT_EQ(seqrt_options_set_batch_slices(options, mode), SEQRT_OK);
  if (split)
    setenv("SEQRT_BATCH_SPLIT", split, 1);
  else
    unsetenv("SEQRT_BATCH_SPLIT");
  setenv("SEQRT_PRINT_PLANS", "1", 1);
  seqrt_model *model = nullptr;
  EXPECT_EQ(
      seqrt_model_load_buffer(bytes.data(), bytes.size(), options, &model),
      SEQRT_OK)
      << seqrt_last_error();
  unsetenv("SEQRT_BATCH_SPLIT");
  unsetenv("SEQRT_PRINT_PLANS");
  seqrt_options_free(options);
  return ModelPtr(model);
}

size_t count_of(const seqrt_shape &s) {
  size_t n = 1;
  for (int i = 0; i < s.rank; i++) n *= (size_t)s.dims[i];
  return n;
}

// Runs `batch` samples of `input` (element size `bytes`) on `threads`
// threads, as one run or, with `one_by_one`, one sample per run.
std::vector<float> run(const seqrt_model *model, const void *input,
                       size_t bytes, int batch, int threads, bool one_by_one) {
  seqrt_shape in, out;
  seqrt_dtype dtype;
  EXPECT_EQ(seqrt_model_input(model, &in, &dtype), SEQRT_OK);
  EXPECT_EQ(seqrt_model_output_shape(model, batch, &out), SEQRT_OK);
  in.dims[0] = 1;
  size_t in_n = count_of(in), out_n = count_of(out) / (size_t)batch;
  std::vector<float> y((size_t)batch * out_n, -7.0f);
  seqrt_context *raw = nullptr;
  EXPECT_EQ(seqrt_context_create(model, &raw), SEQRT_OK);
  ContextPtr ctx(raw);
  EXPECT_EQ(seqrt_context_set_threads(ctx.get(), threads), SEQRT_OK);
  int step = one_by_one ? 1 : batch;
  for (int first = 0; first < batch; first += step) {
    seqrt_tensor x = {dtype, in.rank, {}, nullptr};
    std::memcpy(x.dims, in.dims, sizeof x.dims);
    x.dims[0] = step;
    x.data = (char *)input + (size_t)first * in_n * bytes;
    seqrt_tensor t = {SEQRT_FLOAT32, 0, {}, y.data() + (size_t)first * out_n};
    EXPECT_EQ(seqrt_run(ctx.get(), &x, &t), SEQRT_OK) << seqrt_last_error();
  }
  return y;
}

void expect_near(const std::vector<float> &want, const std::vector<float> &got,
                 const std::string &what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  for (size_t i = 0; i < want.size(); i++)
    ASSERT_NEAR(want[i], got[i], 1e-5f * (1.0f + std::abs(want[i])))
        << what << ", element " << i;
}

} // namespace

TEST(ApiSlices, SlicedRunsMatchPerSampleRuns) {
  std::vector<uint8_t> m = conv_net();
  ModelPtr whole = load_with(m, "0");
  ModelPtr sliced = load_with(m, "1");
  ASSERT_TRUE(whole && sliced);
  for (int threads : {2, 3}) {
    for (int batch : {2, 3, 5, 7}) {
      std::vector<float> x = ramp((size_t)batch * 2 * 36, 0.05f);
      std::string what = "batch " + std::to_string(batch) + ", " +
                         std::to_string(threads) + " threads";
      std::vector<float> want = run(whole.get(), x.data(), 4, batch, 1, true);
      testing::internal::CaptureStderr();
      std::vector<float> got =
          run(sliced.get(), x.data(), 4, batch, threads, false);
      std::string log = testing::internal::GetCapturedStderr();
      int slices = batch < threads ? batch : threads;
      EXPECT_NE(log.find("in " + std::to_string(slices) + " slices"),
                std::string::npos)
          << what << ": " << log;
      expect_near(want, got, what);
    }
  }
}

TEST(ApiSlices, Int64InputsSliceByWholeSamples) {
  std::vector<uint8_t> m = embedding();
  ModelPtr whole = load_with(m, "0");
  ModelPtr sliced = load_with(m, "1");
  ASSERT_TRUE(whole && sliced);
  const int batch = 5;
  std::vector<int64_t> ids(batch * 5);
  for (size_t i = 0; i < ids.size(); i++) ids[i] = (int64_t)((i * 3) % 20);
  std::vector<float> want = run(whole.get(), ids.data(), 8, batch, 1, true);
  std::vector<float> got = run(sliced.get(), ids.data(), 8, batch, 2, false);
  expect_near(want, got, "embedding, batch 5");
}

TEST(ApiSlices, ChainMixingSamplesRunsWhole) {
  std::vector<uint8_t> m = apitest::softmax_across_samples();
  ModelPtr model = load_with(m, "1");
  ASSERT_TRUE(model);
  const int batch = 4;
  std::vector<float> x = ramp(batch * 6, 0.2f);
  testing::internal::CaptureStderr();
  std::vector<float> y = run(model.get(), x.data(), 4, batch, 2, false);
  std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(log.find("slices"), std::string::npos) << log;
  // Every column sums to 1 over all batch * 2 rows, not over a slice's.
  for (int c = 0; c < 3; c++) {
    double sum = 0;
    for (int r = 0; r < batch * 2; r++) sum += y[(size_t)r * 3 + c];
    EXPECT_NEAR(sum, 1.0, 1e-5) << "column " << c;
  }
}

TEST(ApiSlices, TimedChoiceMadeOncePerBatchSize) {
  std::vector<uint8_t> m = mlp();
  ModelPtr reference = load_with(m, "0");
  ModelPtr model = load_with(m, nullptr);
  ASSERT_TRUE(reference && model);
  const int batch = 6;
  std::vector<float> x = ramp((size_t)batch * 64, 0.05f);
  std::vector<float> want = run(reference.get(), x.data(), 4, batch, 1, true);
  testing::internal::CaptureStderr();
  for (int context = 0; context < 3; context++)
    expect_near(want, run(model.get(), x.data(), 4, batch, 2, false),
                "context " + std::to_string(context));
  std::string log = testing::internal::GetCapturedStderr();
  size_t first = log.find("batch 6 on 2 threads: ");
  ASSERT_NE(first, std::string::npos) << log;
  EXPECT_NE(log.find("(timed: whole "), std::string::npos) << log;
  EXPECT_EQ(log.find("batch 6 on 2 threads: ", first + 1), std::string::npos)
      << "decided more than once:\n"
      << log;
}

// The timed choice frees the buffers of the way it is not running, but
// never a profiled exec: its steps stay readable for the context's life.
TEST(ApiSlices, ProfileOutlivesTheTimedChoice) {
  std::vector<uint8_t> m = mlp();
  ModelPtr model = load_with(m, nullptr);
  ASSERT_TRUE(model);
  seqrt_context *raw = nullptr;
  ASSERT_EQ(seqrt_context_create(model.get(), &raw), SEQRT_OK);
  ContextPtr ctx(raw);
  ASSERT_EQ(seqrt_context_set_threads(ctx.get(), 2), SEQRT_OK);
  const int batch = 4;
  std::vector<float> x = ramp((size_t)batch * 64, 0.05f), y(batch * 5);
  seqrt_tensor in = {SEQRT_FLOAT32, 2, {batch, 64}, x.data()};
  seqrt_tensor out = {SEQRT_FLOAT32, 0, {}, y.data()};
  ASSERT_EQ(seqrt_context_set_profiling(ctx.get(), 1), SEQRT_OK);
  testing::internal::CaptureStderr();
  ASSERT_EQ(seqrt_run(ctx.get(), &in, &out), SEQRT_OK) << seqrt_last_error();
  const seqrt_step_profile *steps = nullptr;
  int count = 0;
  ASSERT_EQ(seqrt_context_profile(ctx.get(), &steps, &count), SEQRT_OK);
  ASSERT_GT(count, 0);
  ASSERT_EQ(seqrt_context_set_profiling(ctx.get(), 0), SEQRT_OK);
  ASSERT_EQ(seqrt_run(ctx.get(), &in, &out), SEQRT_OK) << seqrt_last_error();
  std::string log = testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("batch 4 on 2 threads: "), std::string::npos) << log;
  EXPECT_NE(log.find("(timed: whole "), std::string::npos) << log;
  EXPECT_EQ(steps[0].runs, 1);
  EXPECT_STRNE(steps[0].impl, "");
}

// Slices that would need more memory than the whole batch are not timed:
// the whole plan runs, and what the slices' plans added is freed again.
// At batch 40 the MLP's Linear layers run as matmuls on blocked weights
// (from 32 rows), its slices of 20 as inner products on another layout.
TEST(ApiSlices, SlicesThatCostMemoryAreNotTried) {
  std::vector<uint8_t> m = mlp();
  ModelPtr model = load_with(m, nullptr);
  ModelPtr reference = load_with(m, "0");
  ASSERT_TRUE(model && reference);
  const int batch = 40;
  std::vector<float> x = ramp((size_t)batch * 64, 0.05f);
  std::vector<float> want = run(reference.get(), x.data(), 4, batch, 1, true);
  testing::internal::CaptureStderr();
  expect_near(want, run(model.get(), x.data(), 4, batch, 2, false), "first");
  expect_near(want, run(model.get(), x.data(), 4, batch, 2, false), "again");
  std::string log = testing::internal::GetCapturedStderr();
  size_t at = log.find("batch 40 on 2 threads: whole (2 slices would take ");
  EXPECT_NE(at, std::string::npos) << log;
  EXPECT_EQ(log.find("batch 40 on 2 threads: ", at + 1), std::string::npos)
      << log;
  // The slices' plans were freed: none is printed again as being built,
  // and a 1-thread run of batch 20 builds its plan anew.
  testing::internal::CaptureStderr();
  expect_near(std::vector<float>(want.begin(), want.begin() + 20 * 5),
              run(model.get(), x.data(), 4, 20, 1, false), "batch 20");
  log = testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("plan: batch 20, fused"), std::string::npos) << log;
}

// seqrt_options_set_batch_slices: OFF and ON hold whatever
// SEQRT_BATCH_SPLIT says; AUTO follows it.
TEST(ApiSlices, OptionOverridesTheEnvironment) {
  std::vector<uint8_t> m = conv_net();
  ModelPtr reference = load_with(m, "0");
  ModelPtr off = load_with(m, "1", SEQRT_BATCH_SLICES_OFF);
  ModelPtr on = load_with(m, "0", SEQRT_BATCH_SLICES_ON);
  ModelPtr automatic = load_with(m, "1", SEQRT_BATCH_SLICES_AUTO);
  ASSERT_TRUE(reference && off && on && automatic);
  const int batch = 4;
  std::vector<float> x = ramp((size_t)batch * 2 * 36, 0.05f);
  std::vector<float> want = run(reference.get(), x.data(), 4, batch, 1, true);
  struct {
    const seqrt_model *model;
    bool slices;
    const char *what;
  } cases[] = {{off.get(), false, "OFF under SEQRT_BATCH_SPLIT=1"},
               {on.get(), true, "ON under SEQRT_BATCH_SPLIT=0"},
               {automatic.get(), true, "AUTO under SEQRT_BATCH_SPLIT=1"}};
  for (const auto &c : cases) {
    testing::internal::CaptureStderr();
    std::vector<float> got = run(c.model, x.data(), 4, batch, 2, false);
    std::string log = testing::internal::GetCapturedStderr();
    EXPECT_EQ(log.find("in 2 slices (always)") != std::string::npos, c.slices)
        << c.what << ":\n"
        << log;
    expect_near(want, got, c.what);
  }
}

TEST(ApiSlices, UnknownOptionModeIsRefused) {
  seqrt_options *options = nullptr;
  ASSERT_EQ(seqrt_options_create(&options), SEQRT_OK);
  EXPECT_EQ(seqrt_options_set_batch_slices(options, (seqrt_batch_slices)3),
            SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(seqrt_last_error()).find("batch slices mode 3"),
            std::string::npos)
      << seqrt_last_error();
  EXPECT_EQ(seqrt_options_set_batch_slices(nullptr, SEQRT_BATCH_SLICES_OFF),
            SEQRT_ERR_INVALID_ARGUMENT);
  seqrt_options_free(options);
}
