// External data through the public API: confined to the model's folder
// (symbolic links leading out are refused, links inside are followed), and
// supplied in memory with seqrt_options_set_external_data, which is the only
// way a model loaded from memory reads external data. The model is
// tests/malformed/models/external_ok.onnx: the weight of valid.onnx's Gemm
// stored at offset 16 of weights.bin; outputs are compared with valid.onnx.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "seqrt.h"

namespace {

const std::string kCorpus =
    std::string(SEQRT_SOURCE_DIR) + "/tests/malformed/models/";

std::vector<uint8_t> read_bytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string &path, const std::vector<uint8_t> &bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char *>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

// Runs `model` on a fixed [2, 4] input; empty on failure.
std::vector<float> outputs(const seqrt_model *model) {
  float in[8] = {0.5f, -1.0f, 2.0f, 0.25f, -0.75f, 1.5f, -2.0f, 1.0f};
  std::vector<float> out(6, -1.0f);
  seqrt_tensor x = {SEQRT_FLOAT32, 2, {2, 4}, in};
  seqrt_tensor y = {SEQRT_FLOAT32, 0, {}, out.data()};
  seqrt_context *ctx = nullptr;
  seqrt_status st = seqrt_context_create(model, &ctx);
  if (st == SEQRT_OK) st = seqrt_run(ctx, &x, &y);
  seqrt_context_free(ctx);
  EXPECT_EQ(st, SEQRT_OK) << seqrt_last_error();
  return st == SEQRT_OK ? out : std::vector<float>();
}

std::vector<float> reference_outputs() {
  seqrt_model *model = nullptr;
  EXPECT_EQ(
      seqrt_model_load_file((kCorpus + "valid.onnx").c_str(), nullptr, &model),
      SEQRT_OK)
      << seqrt_last_error();
  std::vector<float> out = model ? outputs(model) : std::vector<float>();
  seqrt_model_free(model);
  return out;
}

class ApiExternalData : public testing::Test {
protected:
  void SetUp() override {
    char pattern[] = "/tmp/seqrt-external-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    root_ = pattern;
    model_dir_ = root_ + "/model";
    outside_ = root_ + "/outside";
    ASSERT_EQ(mkdir(model_dir_.c_str(), 0700), 0);
    ASSERT_EQ(mkdir(outside_.c_str(), 0700), 0);
    model_bytes_ = read_bytes(kCorpus + "external_ok.onnx");
    weights_ = read_bytes(kCorpus + "weights.bin");
    ASSERT_FALSE(model_bytes_.empty());
    ASSERT_EQ(weights_.size(), 16u + 48u);
    write_bytes(model_dir_ + "/model.onnx", model_bytes_);
  }
  void TearDown() override {
    std::string command = "rm -rf '" + root_ + "'";
    EXPECT_EQ(std::system(command.c_str()), 0);
  }

  seqrt_status load_file(seqrt_model **model,
                         const seqrt_options *options = nullptr) {
    return seqrt_model_load_file((model_dir_ + "/model.onnx").c_str(), options,
                                 model);
  }

  std::string root_, model_dir_, outside_;
  std::vector<uint8_t> model_bytes_, weights_;
};

TEST_F(ApiExternalData, FileInTheModelsFolderIsRead) {
  write_bytes(model_dir_ + "/weights.bin", weights_);
  seqrt_model *model = nullptr;
  ASSERT_EQ(load_file(&model), SEQRT_OK) << seqrt_last_error();
  EXPECT_EQ(outputs(model), reference_outputs());
  seqrt_model_free(model);
}

TEST_F(ApiExternalData, SymlinkInsideTheFolderIsFollowed) {
  ASSERT_EQ(mkdir((model_dir_ + "/data").c_str(), 0700), 0);
  write_bytes(model_dir_ + "/data/real.bin", weights_);
  ASSERT_EQ(symlink("data/real.bin", (model_dir_ + "/weights.bin").c_str()), 0);
  seqrt_model *model = nullptr;
  ASSERT_EQ(load_file(&model), SEQRT_OK) << seqrt_last_error();
  EXPECT_EQ(outputs(model), reference_outputs());
  seqrt_model_free(model);
}

TEST_F(ApiExternalData, SymlinkLeadingOutIsRefused) {
  write_bytes(outside_ + "/weights.bin", weights_);
  ASSERT_EQ(
      symlink("../outside/weights.bin", (model_dir_ + "/weights.bin").c_str()),
      0);
  seqrt_model *model = nullptr;
  EXPECT_EQ(load_file(&model), SEQRT_ERR_INVALID_MODEL);
  EXPECT_EQ(model, nullptr);
  EXPECT_NE(std::strstr(seqrt_last_error(),
                        "tensor 'fc.weight': external data file "
                        "'weights.bin' resolves outside the model's folder"),
            nullptr)
      << seqrt_last_error();
}

TEST_F(ApiExternalData, AbsoluteSymlinkLeadingOutIsRefused) {
  ASSERT_EQ(symlink("/etc/hostname", (model_dir_ + "/weights.bin").c_str()), 0);
  seqrt_model *model = nullptr;
  EXPECT_EQ(load_file(&model), SEQRT_ERR_INVALID_MODEL);
  EXPECT_NE(std::strstr(seqrt_last_error(), "resolves outside"), nullptr)
      << seqrt_last_error();
}

TEST_F(ApiExternalData, FileTooShortForOffsetAndLength) {
  write_bytes(model_dir_ + "/weights.bin",
              std::vector<uint8_t>(weights_.begin(), weights_.end() - 1));
  seqrt_model *model = nullptr;
  EXPECT_EQ(load_file(&model), SEQRT_ERR_INVALID_MODEL);
  EXPECT_NE(std::strstr(seqrt_last_error(),
                        "offset 16 + length 48 is beyond the end of the file "
                        "(63 bytes)"),
            nullptr)
      << seqrt_last_error();
}

TEST_F(ApiExternalData, FromMemoryWithoutTheDataIsRefused) {
  seqrt_model *model = nullptr;
  EXPECT_EQ(seqrt_model_load_buffer(model_bytes_.data(), model_bytes_.size(),
                                    nullptr, &model),
            SEQRT_ERR_UNSUPPORTED);
  EXPECT_NE(std::strstr(seqrt_last_error(),
                        "tensor 'fc.weight' keeps its data in the external "
                        "file 'weights.bin', but the model was loaded from "
                        "memory"),
            nullptr)
      << seqrt_last_error();
  // data supplied under another name does not count
  seqrt_options *options = nullptr;
  ASSERT_EQ(seqrt_options_create(&options), SEQRT_OK);
  ASSERT_EQ(seqrt_options_set_external_data(options, "other.bin",
                                            weights_.data(), weights_.size()),
            SEQRT_OK);
  EXPECT_EQ(seqrt_model_load_buffer(model_bytes_.data(), model_bytes_.size(),
                                    options, &model),
            SEQRT_ERR_UNSUPPORTED);
  seqrt_options_free(options);
}

TEST_F(ApiExternalData, FromMemoryWithSuppliedData) {
  seqrt_options *options = nullptr;
  ASSERT_EQ(seqrt_options_create(&options), SEQRT_OK);
  ASSERT_EQ(seqrt_options_set_external_data(options, "weights.bin",
                                            weights_.data(), weights_.size()),
            SEQRT_OK);
  seqrt_model *model = nullptr;
  ASSERT_EQ(seqrt_model_load_buffer(model_bytes_.data(), model_bytes_.size(),
                                    options, &model),
            SEQRT_OK)
      << seqrt_last_error();
  seqrt_options_free(options); // the model no longer needs them
  EXPECT_EQ(outputs(model), reference_outputs());
  seqrt_model_free(model);
}

TEST_F(ApiExternalData, SuppliedDataTooShort) {
  seqrt_options *options = nullptr;
  ASSERT_EQ(seqrt_options_create(&options), SEQRT_OK);
  ASSERT_EQ(seqrt_options_set_external_data(options, "weights.bin",
                                            weights_.data(), 40),
            SEQRT_OK);
  seqrt_model *model = nullptr;
  EXPECT_EQ(seqrt_model_load_buffer(model_bytes_.data(), model_bytes_.size(),
                                    options, &model),
            SEQRT_ERR_INVALID_MODEL);
  EXPECT_NE(std::strstr(seqrt_last_error(),
                        "offset 16 + length 48 is beyond the end of the "
                        "supplied data (40 bytes)"),
            nullptr)
      << seqrt_last_error();
  seqrt_options_free(options);
}

// Supplied data wins over the folder's file, and supplying a location again
// replaces its bytes: zero weights leave relu(bias).
TEST_F(ApiExternalData, SuppliedDataTakesPrecedenceAndCanBeReplaced) {
  write_bytes(model_dir_ + "/weights.bin", weights_);
  std::vector<uint8_t> zeros(weights_.size(), 0);
  seqrt_options *options = nullptr;
  ASSERT_EQ(seqrt_options_create(&options), SEQRT_OK);
  ASSERT_EQ(seqrt_options_set_external_data(options, "weights.bin",
                                            weights_.data(), weights_.size()),
            SEQRT_OK);
  ASSERT_EQ(seqrt_options_set_external_data(options, "weights.bin",
                                            zeros.data(), zeros.size()),
            SEQRT_OK);
  seqrt_model *model = nullptr;
  ASSERT_EQ(load_file(&model, options), SEQRT_OK) << seqrt_last_error();
  std::vector<float> out = outputs(model);
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(out[0], out[3]); // both samples: the same relu(bias)
  EXPECT_EQ(out[1], out[4]);
  EXPECT_EQ(out[2], out[5]);
  EXPECT_NE(out, reference_outputs());
  seqrt_model_free(model);
  seqrt_options_free(options);
}

TEST(ApiExternalDataArguments, NullArgumentsAreRefused) {
  seqrt_options *options = nullptr;
  ASSERT_EQ(seqrt_options_create(&options), SEQRT_OK);
  uint8_t byte = 0;
  EXPECT_EQ(seqrt_options_set_external_data(nullptr, "w.bin", &byte, 1),
            SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(seqrt_options_set_external_data(options, nullptr, &byte, 1),
            SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(seqrt_options_set_external_data(options, "w.bin", nullptr, 1),
            SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(seqrt_options_set_external_data(options, "w.bin", nullptr, 0),
            SEQRT_OK); // an empty file
  seqrt_options_free(options);
  seqrt_options_free(nullptr);
}

} // namespace
