// The malformed-input corpus (make_corpus.py, expected.tsv): every model
// and tensor file must produce exactly its listed status and message part;
// truncations and bit flips of the bundled models and of the corpus' valid
// files must load cleanly or fail with a message, never crash. Run in the
// ASan+UBSan build by scripts/ci-robustness.sh.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" {
#include "npy.h"
#include "seqrt.h"
#include "tensor_file.h"
}

namespace {

const std::string kDir = std::string(SEQRT_SOURCE_DIR) + "/tests/malformed/";
const std::string kExamples =
    std::string(SEQRT_SOURCE_DIR) + "/models/examples/";

struct Case {
  std::string kind, path, status, message;
};

// What gtest (and so ctest's test list) shows for a case, instead of a byte
// dump of the struct.
void PrintTo(const Case &c, std::ostream *out) {
  *out << c.kind << " " << c.path;
}

std::vector<Case> read_cases() {
  std::vector<Case> cases;
  std::ifstream in(kDir + "expected.tsv");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    Case c;
    std::getline(fields, c.kind, '\t');
    std::getline(fields, c.path, '\t');
    std::getline(fields, c.status, '\t');
    std::getline(fields, c.message, '\t');
    cases.push_back(c);
  }
  return cases;
}

std::vector<uint8_t> read_bytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

const char *status_name(seqrt_status s) {
  switch (s) {
  case SEQRT_OK: return "OK";
  case SEQRT_ERR_INVALID_ARGUMENT: return "SEQRT_ERR_INVALID_ARGUMENT";
  case SEQRT_ERR_IO: return "SEQRT_ERR_IO";
  case SEQRT_ERR_PARSE: return "SEQRT_ERR_PARSE";
  case SEQRT_ERR_INVALID_MODEL: return "SEQRT_ERR_INVALID_MODEL";
  case SEQRT_ERR_UNSUPPORTED: return "SEQRT_ERR_UNSUPPORTED";
  case SEQRT_ERR_NOT_CHAIN: return "SEQRT_ERR_NOT_CHAIN";
  case SEQRT_ERR_LIMIT: return "SEQRT_ERR_LIMIT";
  case SEQRT_ERR_NOMEM: return "SEQRT_ERR_NOMEM";
  case SEQRT_ERR_BACKEND: return "SEQRT_ERR_BACKEND";
  }
  return "unknown status";
}

size_t count_of(const seqrt_shape &s) {
  size_t n = 1;
  for (int i = 0; i < s.rank; i++) n *= static_cast<size_t>(s.dims[i]);
  return n;
}

// Runs a loaded model once on zeros (batch 2 if dynamic): what a caller
// would do next with a model that loaded.
seqrt_status run_zeros(const seqrt_model *model) {
  seqrt_shape in, out;
  seqrt_dtype dtype;
  EXPECT_EQ(seqrt_model_input(model, &in, &dtype), SEQRT_OK);
  int64_t batch = in.dims[0] < 0 ? 2 : in.dims[0];
  in.dims[0] = batch;
  EXPECT_EQ(seqrt_model_output_shape(model, batch, &out), SEQRT_OK);
  if (count_of(in) > (1u << 24) || count_of(out) > (1u << 24))
    return SEQRT_OK; // keep the sweep fast; the fuzzer covers big ones
  std::vector<int64_t> input(count_of(in));
  std::vector<float> output(count_of(out));
  seqrt_tensor x = {dtype, in.rank, {}, input.data()};
  std::memcpy(x.dims, in.dims, sizeof x.dims);
  seqrt_tensor y = {SEQRT_FLOAT32, 0, {}, output.data()};
  seqrt_context *ctx = nullptr;
  seqrt_status st = seqrt_context_create(model, &ctx);
  if (st == SEQRT_OK) st = seqrt_context_set_threads(ctx, 1);
  if (st == SEQRT_OK) st = seqrt_run(ctx, &x, &y);
  seqrt_context_free(ctx);
  return st;
}

struct Outcome {
  seqrt_status status;
  std::string message;
};

Outcome load(const Case &c) {
  seqrt_model *model = nullptr;
  seqrt_status st;
  if (c.kind == "file") {
    st = seqrt_model_load_file((kDir + c.path).c_str(), nullptr, &model);
  } else {
    std::vector<uint8_t> bytes = read_bytes(kDir + c.path);
    // an exact-size heap copy so that ASan sees any read past the end
    uint8_t *exact = static_cast<uint8_t *>(std::malloc(bytes.size() + 1));
    if (!bytes.empty()) std::memcpy(exact, bytes.data(), bytes.size());
    st = seqrt_model_load_buffer(exact, bytes.size(), nullptr, &model);
    std::free(exact);
  }
  Outcome out{st, seqrt_last_error()};
  if (st == SEQRT_OK) {
    EXPECT_NE(model, nullptr);
    seqrt_status run = run_zeros(model);
    EXPECT_EQ(run, SEQRT_OK) << seqrt_last_error();
  } else {
    EXPECT_EQ(model, nullptr);
  }
  seqrt_model_free(model);
  return out;
}

Outcome read_tensor(const Case &c) {
  seqrt_tensor t;
  char err[512] = "";
  int rc = tensor_read((kDir + c.path).c_str(), &t, err, sizeof err);
  if (rc == 0) std::free(t.data);
  return {rc == 0 ? SEQRT_OK : SEQRT_ERR_INVALID_ARGUMENT, err};
}

Outcome run_on(const Case &c) {
  std::string model_path = c.path.substr(0, c.path.find('|'));
  std::string tensor_path = c.path.substr(c.path.find('|') + 1);
  seqrt_model *model = nullptr;
  seqrt_status st =
      seqrt_model_load_file((kDir + model_path).c_str(), nullptr, &model);
  EXPECT_EQ(st, SEQRT_OK) << seqrt_last_error();
  if (st != SEQRT_OK) return {st, seqrt_last_error()};
  seqrt_tensor x;
  char err[512];
  EXPECT_EQ(tensor_read((kDir + tensor_path).c_str(), &x, err, sizeof err), 0)
      << err;
  std::vector<float> output(1024);
  seqrt_tensor y = {SEQRT_FLOAT32, 0, {}, output.data()};
  seqrt_context *ctx = nullptr;
  st = seqrt_context_create(model, &ctx);
  if (st == SEQRT_OK) st = seqrt_run(ctx, &x, &y);
  Outcome out{st, seqrt_last_error()};
  seqrt_context_free(ctx);
  std::free(x.data);
  seqrt_model_free(model);
  return out;
}

class Corpus : public testing::TestWithParam<Case> {};

TEST_P(Corpus, ProducesItsListedError) {
  const Case &c = GetParam();
  Outcome out = c.kind == "tensor" ? read_tensor(c)
                : c.kind == "run"  ? run_on(c)
                                   : load(c);
  if (c.kind == "tensor") {
    EXPECT_EQ(out.status == SEQRT_OK ? "OK" : "ERROR", c.status)
        << c.path << ": " << out.message;
  } else {
    EXPECT_STREQ(status_name(out.status), c.status.c_str())
        << c.path << ": " << out.message;
  }
  if (c.status != "OK") {
    EXPECT_FALSE(out.message.empty()) << c.path;
    EXPECT_NE(out.message.find(c.message), std::string::npos)
        << c.path << "\n  message: " << out.message
        << "\n  expected to contain: " << c.message;
  }
}

std::string case_name(const testing::TestParamInfo<Case> &info) {
  std::string name = info.param.kind + "_" + info.param.path;
  for (char &ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Malformed, Corpus, testing::ValuesIn(read_cases()),
                         case_name);

TEST(MalformedCorpus, IsNotEmpty) { EXPECT_GT(read_cases().size(), 100u); }

// ---- sweeps
// ------------------------------------------------------------------

// Loads `bytes` from memory; on success plans and runs it. Either way the
// outcome must be clean: a known status, a message on failure.
void load_cleanly(const std::vector<uint8_t> &bytes, size_t size,
                  const std::string &what) {
  uint8_t *exact = static_cast<uint8_t *>(std::malloc(size ? size : 1));
  if (size) std::memcpy(exact, bytes.data(), size);
  seqrt_options *options = nullptr;
  ASSERT_EQ(seqrt_options_create(&options), SEQRT_OK);
  ASSERT_EQ(seqrt_options_set_memory_limit(options, 256u << 20), SEQRT_OK);
  seqrt_model *model = nullptr;
  seqrt_status st = seqrt_model_load_buffer(exact, size, options, &model);
  std::free(exact);
  seqrt_options_free(options);
  if (st == SEQRT_OK) {
    seqrt_status run = run_zeros(model);
    if (run != SEQRT_OK) EXPECT_NE(std::string(seqrt_last_error()), "") << what;
  } else {
    EXPECT_EQ(model, nullptr) << what;
    EXPECT_NE(std::string(seqrt_last_error()), "") << what;
    EXPECT_STRNE(status_name(st), "unknown status") << what;
  }
  seqrt_model_free(model);
}

std::vector<std::string> sweep_models() {
  return {kExamples + "manual_fc/model.onnx",
          kExamples + "mnist_mlp/model.onnx",
          kExamples + "ordered_dict/model.onnx",
          kExamples + "sequential/model.onnx",
          kExamples + "small_convnet/model.onnx",
          kDir + "models/valid.onnx"};
}

// Every prefix for the first 512 bytes (headers, names, opsets), then 400
// offsets spread over the rest.
TEST(MalformedSweep, TruncationsAtManyOffsets) {
  for (const std::string &path : sweep_models()) {
    std::vector<uint8_t> bytes = read_bytes(path);
    ASSERT_FALSE(bytes.empty()) << path;
    std::vector<size_t> offsets;
    for (size_t k = 0; k < bytes.size() && k < 512; k++) offsets.push_back(k);
    for (size_t k = 1; k <= 400; k++)
      offsets.push_back(
          512 + (bytes.size() - std::min<size_t>(512, bytes.size())) * k / 401);
    for (size_t offset : offsets) {
      if (offset >= bytes.size()) continue;
      load_cleanly(bytes, offset, path + " cut at " + std::to_string(offset));
      if (HasFailure()) return;
    }
  }
}

// Single and multiple bit flips and byte overwrites at random positions
// (fixed seed: the same files every run).
TEST(MalformedSweep, BitFlipsAndByteOverwrites) {
  std::mt19937_64 rng(20240611);
  for (const std::string &path : sweep_models()) {
    const std::vector<uint8_t> original = read_bytes(path);
    ASSERT_FALSE(original.empty()) << path;
    for (int trial = 0; trial < 250; trial++) {
      std::vector<uint8_t> bytes = original;
      int edits = 1 + static_cast<int>(rng() % 4);
      std::string what = path + " with";
      for (int e = 0; e < edits; e++) {
        size_t at = rng() % bytes.size();
        if (rng() % 2) {
          bytes[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
        } else {
          static const uint8_t interesting[] = {0x00, 0x01, 0x7f, 0x80,
                                                0xff, 0x08, 0x12, 0x3a};
          bytes[at] = interesting[rng() % sizeof interesting];
        }
        what += " edit@" + std::to_string(at);
      }
      load_cleanly(bytes, bytes.size(), what);
      if (HasFailure()) return;
    }
  }
}

// Every prefix of the valid tensor files fails with a reason; bit flips
// never crash.
TEST(MalformedSweep, TensorFileTruncationsAndFlips) {
  std::mt19937_64 rng(7);
  for (const char *name : {"inputs/valid.npy", "inputs/valid_v2.npy",
                           "inputs/valid.pb", "inputs/valid_float_data.pb"}) {
    const std::vector<uint8_t> original = read_bytes(kDir + name);
    ASSERT_FALSE(original.empty()) << name;
    bool pb = std::strstr(name, ".pb") != nullptr;
    for (size_t cut = 0; cut < original.size(); cut++) {
      std::vector<uint8_t> prefix(original.begin(), original.begin() + cut);
      seqrt_tensor t;
      char err[512] = "";
      int rc = pb ? pb_parse(prefix.data(), cut, &t, err, sizeof err)
                  : npy_parse(prefix.data(), cut, &t, err, sizeof err);
      EXPECT_EQ(rc, -1) << name << " cut at " << cut;
      EXPECT_STRNE(err, "") << name << " cut at " << cut;
      if (rc == 0) std::free(t.data);
    }
    for (int trial = 0; trial < 2000; trial++) {
      std::vector<uint8_t> bytes = original;
      bytes[rng() % bytes.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
      seqrt_tensor t;
      char err[512] = "";
      int rc = pb ? pb_parse(bytes.data(), bytes.size(), &t, err, sizeof err)
                  : npy_parse(bytes.data(), bytes.size(), &t, err, sizeof err);
      if (rc == 0)
        std::free(t.data);
      else
        EXPECT_STRNE(err, "") << name;
    }
  }
}

} // namespace
