// Resource limits and argument checks of the public API: the memory limit
// refuses a model before anything is allocated for it, inputs that do not
// fit the model are refused with the shape or dtype it expects, NULL
// handles are refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "seqrt.h"

namespace {

std::string example(const char *name) {
  return std::string(SEQRT_SOURCE_DIR) + "/models/examples/" + name +
         "/model.onnx";
}

seqrt_status load_with_limit(const std::string &path, uint64_t limit,
                             seqrt_model **model) {
  seqrt_options *options = nullptr;
  EXPECT_EQ(seqrt_options_create(&options), SEQRT_OK);
  EXPECT_EQ(seqrt_options_set_memory_limit(options, limit), SEQRT_OK);
  seqrt_status st = seqrt_model_load_file(path.c_str(), options, model);
  seqrt_options_free(options);
  return st;
}

// small_convnet: 1x28x28 input, a few KiB of weights. 1000 bytes cannot
// hold its weights; the activations alone need more than 8 KiB.
TEST(ApiLimits, MemoryLimitRefusesTheModel) {
  seqrt_model *model = nullptr;
  EXPECT_EQ(load_with_limit(example("small_convnet"), 1000, &model),
            SEQRT_ERR_LIMIT);
  EXPECT_EQ(model, nullptr);
  EXPECT_NE(std::strstr(seqrt_last_error(),
                        "the model's weights need more than 1000 bytes, the "
                        "memory limit"),
            nullptr)
      << seqrt_last_error();
}

TEST(ApiLimits, ActivationsCountAgainstTheLimit) {
  // mnist_mlp's weights fit in 1 MiB; the limit just under weights plus two
  // activation buffers of one sample refuses it, naming the widest layer
  seqrt_model *model = nullptr;
  ASSERT_EQ(load_with_limit(example("mnist_mlp"), 64u << 20, &model), SEQRT_OK)
      << seqrt_last_error();
  int64_t weights = 0, widest = 0;
  for (int i = 0; i < seqrt_model_layer_count(model); i++) {
    seqrt_layer_info info;
    ASSERT_EQ(seqrt_model_layer(model, i, &info), SEQRT_OK);
    weights += info.parameters * 4;
    for (const seqrt_shape *s : {&info.input, &info.output}) {
      int64_t n = 4;
      for (int k = 1; k < s->rank; k++) n *= s->dims[k];
      widest = std::max(widest, n);
    }
  }
  seqrt_model_free(model);
  uint64_t needed = static_cast<uint64_t>(weights + 2 * widest);
  model = nullptr;
  EXPECT_EQ(load_with_limit(example("mnist_mlp"), needed, &model), SEQRT_OK)
      << seqrt_last_error();
  seqrt_model_free(model);
  model = nullptr;
  EXPECT_EQ(load_with_limit(example("mnist_mlp"), needed - 1, &model),
            SEQRT_ERR_LIMIT);
  EXPECT_NE(std::strstr(seqrt_last_error(), "exceed the memory limit"), nullptr)
      << seqrt_last_error();
}

TEST(ApiLimits, DefaultLimitLoadsTheBundledModels) {
  for (const char *name : {"manual_fc", "mnist_mlp", "ordered_dict",
                           "sequential", "small_convnet"}) {
    seqrt_model *model = nullptr;
    EXPECT_EQ(seqrt_model_load_file(example(name).c_str(), nullptr, &model),
              SEQRT_OK)
        << name << ": " << seqrt_last_error();
    seqrt_model_free(model);
  }
}

class ApiInputs : public testing::Test {
protected:
  void SetUp() override {
    ASSERT_EQ(seqrt_model_load_file(example("small_convnet").c_str(), nullptr,
                                    &model_),
              SEQRT_OK)
        << seqrt_last_error();
    ASSERT_EQ(seqrt_context_create(model_, &ctx_), SEQRT_OK);
  }
  void TearDown() override {
    seqrt_context_free(ctx_);
    seqrt_model_free(model_);
  }
  seqrt_status run(seqrt_dtype dtype, std::vector<int64_t> dims) {
    seqrt_tensor x = {dtype, static_cast<int>(dims.size()), {}, in_.data()};
    for (size_t i = 0; i < dims.size() && i < SEQRT_MAX_RANK; i++)
      x.dims[i] = dims[i];
    seqrt_tensor y = {SEQRT_FLOAT32, 0, {}, out_.data()};
    return seqrt_run(ctx_, &x, &y);
  }
  seqrt_model *model_ = nullptr;
  seqrt_context *ctx_ = nullptr;
  std::vector<int64_t> in_ = std::vector<int64_t>(4 * 28 * 28);
  std::vector<float> out_ = std::vector<float>(4096);
};

TEST_F(ApiInputs, WrongShapesSayWhatTheModelExpects) {
  EXPECT_EQ(run(SEQRT_FLOAT32, {2, 1, 28, 28}), SEQRT_OK) << seqrt_last_error();
  struct {
    std::vector<int64_t> dims;
    const char *message;
  } cases[] = {
      {{2, 1, 28, 27},
       "input shape [2, 1, 28, 27] does not match the "
       "model's [-1, 1, 28, 28]"},
      {{2, 28, 28}, "input shape [2, 28, 28] does not match"},
      {{0, 1, 28, 28}, "input shape [0, 1, 28, 28] does not match"},
      {{-3, 1, 28, 28}, "input shape [-3, 1, 28, 28] does not match"},
      {{}, "input has rank 0; the model expects [-1, 1, 28, 28]"},
  };
  for (const auto &c : cases) {
    EXPECT_EQ(run(SEQRT_FLOAT32, c.dims), SEQRT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::strstr(seqrt_last_error(), c.message), nullptr)
        << seqrt_last_error();
  }
}

TEST_F(ApiInputs, WrongDtypeIsRefused) {
  EXPECT_EQ(run(SEQRT_INT64, {2, 1, 28, 28}), SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_NE(
      std::strstr(seqrt_last_error(), "dtype int64, the model expects float32"),
      nullptr)
      << seqrt_last_error();
}

TEST_F(ApiInputs, RankOutOfRangeIsRefused) {
  seqrt_tensor x = {SEQRT_FLOAT32, 1000, {}, in_.data()};
  seqrt_tensor y = {SEQRT_FLOAT32, 0, {}, out_.data()};
  EXPECT_EQ(seqrt_run(ctx_, &x, &y), SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(seqrt_last_error(), "input has rank 1000; the model "
                                            "expects [-1, 1, 28, 28]"),
            nullptr)
      << seqrt_last_error();
  x.rank = -1;
  EXPECT_EQ(seqrt_run(ctx_, &x, &y), SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(seqrt_last_error(), "input has rank -1"), nullptr);
}

// A batch whose activations could not exist is refused before any size is
// computed from it (it would overflow).
TEST_F(ApiInputs, AbsurdBatchIsRefused) {
  EXPECT_EQ(run(SEQRT_FLOAT32, {INT64_MAX / 2, 1, 28, 28}), SEQRT_ERR_LIMIT);
  EXPECT_NE(std::strstr(seqrt_last_error(), "is too large"), nullptr)
      << seqrt_last_error();
}

TEST_F(ApiInputs, LayerRangeInputsAreFloat) {
  seqrt_tensor x = {SEQRT_INT64, 4, {2, 1, 28, 28}, in_.data()};
  seqrt_tensor y = {SEQRT_FLOAT32, 0, {}, out_.data()};
  int last = seqrt_model_layer_count(model_) - 1;
  EXPECT_EQ(seqrt_run_layers(ctx_, 0, last, &x, &y, nullptr, nullptr),
            SEQRT_ERR_INVALID_ARGUMENT);
  seqrt_layer_info info;
  ASSERT_EQ(seqrt_model_layer(model_, 1, &info), SEQRT_OK);
  x.rank = info.input.rank;
  std::memcpy(x.dims, info.input.dims, sizeof x.dims);
  x.dims[0] = 1;
  EXPECT_EQ(seqrt_run_layers(ctx_, 1, last, &x, &y, nullptr, nullptr),
            SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(seqrt_last_error(), "dtype int64"), nullptr)
      << seqrt_last_error();
  x.dtype = SEQRT_FLOAT32;
  EXPECT_EQ(seqrt_run_layers(ctx_, 1, last, &x, &y, nullptr, nullptr), SEQRT_OK)
      << seqrt_last_error();
}

TEST(ApiArguments, NullHandlesAreRefused) {
  seqrt_model *model = nullptr;
  EXPECT_EQ(seqrt_model_load_file(nullptr, nullptr, &model),
            SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(seqrt_model_load_file("x.onnx", nullptr, nullptr),
            SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(seqrt_model_load_buffer(nullptr, 10, nullptr, &model),
            SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(seqrt_model_load_buffer(nullptr, 0, nullptr, &model),
            SEQRT_ERR_PARSE);
  EXPECT_EQ(seqrt_options_create(nullptr), SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(seqrt_options_set_memory_limit(nullptr, 1),
            SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(seqrt_options_set_winograd(nullptr, 1), SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(seqrt_context_create(nullptr, nullptr), SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(seqrt_run(nullptr, nullptr, nullptr), SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(seqrt_model_layer_count(nullptr), 0);
  EXPECT_EQ(seqrt_model_find_layer(nullptr, "x"), -1);
  EXPECT_STREQ(seqrt_model_removed_layers(nullptr), "");
  seqrt_model_free(nullptr);
  seqrt_context_free(nullptr);
}

TEST(ApiArguments, ModelFileThatIsNotARegularFile) {
  seqrt_model *model = nullptr;
  EXPECT_EQ(seqrt_model_load_file(SEQRT_SOURCE_DIR, nullptr, &model),
            SEQRT_ERR_IO);
  EXPECT_NE(std::strstr(seqrt_last_error(), "is not a regular file"), nullptr)
      << seqrt_last_error();
  EXPECT_EQ(seqrt_model_load_file("/no/such/model.onnx", nullptr, &model),
            SEQRT_ERR_IO);
  EXPECT_NE(std::strstr(seqrt_last_error(), "cannot open"), nullptr);
}

} // namespace
