// The C++ wrapper (include/seqrt.hpp) against the shared libseqrt, checked
// against the C API and PyTorch's stored outputs of the bundled models.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <regex>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "seqrt.hpp"

namespace {

static_assert(!std::is_copy_constructible_v<seqrt::Model>);
static_assert(!std::is_copy_assignable_v<seqrt::Model>);
static_assert(std::is_nothrow_move_constructible_v<seqrt::Model>);
static_assert(std::is_nothrow_move_assignable_v<seqrt::Model>);
static_assert(!std::is_copy_constructible_v<seqrt::Context>);
static_assert(std::is_nothrow_move_constructible_v<seqrt::Context>);
static_assert(!std::is_copy_constructible_v<seqrt::Options>);
static_assert(std::is_nothrow_move_constructible_v<seqrt::Options>);
// A span of floats accepts float containers only.
static_assert(
    std::is_convertible_v<std::vector<float> &, seqrt::Span<const float>>);
static_assert(
    !std::is_convertible_v<std::vector<double> &, seqrt::Span<const float>>);
static_assert(
    !std::is_convertible_v<const std::vector<float> &, seqrt::Span<float>>);

const std::string kExamples = SEQRT_SOURCE_DIR "/models/examples/";

struct Array {
  seqrt::Dims dims;
  std::vector<float> values;
};

// A float32 little-endian C-order .npy file (format 1.0/2.0).
Array load_npy(const std::string &path) {
  std::ifstream file(path, std::ios::binary);
  std::vector<char> bytes{std::istreambuf_iterator<char>(file), {}};
  if (bytes.size() < 12 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0)
    throw std::runtime_error(path + ": not a .npy file");
  bool v1 = bytes[6] == 1;
  std::size_t header_len = static_cast<unsigned char>(bytes[8]) |
                           static_cast<unsigned char>(bytes[9]) << 8;
  if (!v1)
    header_len |=
        static_cast<std::size_t>(static_cast<unsigned char>(bytes[10])) << 16 |
        static_cast<std::size_t>(static_cast<unsigned char>(bytes[11])) << 24;
  std::size_t start = (v1 ? 10 : 12) + header_len;
  std::string header(bytes.data() + (v1 ? 10 : 12), header_len);
  if (header.find("'<f4'") == std::string::npos ||
      header.find("'fortran_order': False") == std::string::npos)
    throw std::runtime_error(path + ": not C-order float32");
  std::smatch shape;
  std::regex_search(header, shape, std::regex(R"('shape': \(([^)]*)\))"));
  Array array;
  std::size_t count = 1;
  std::string dims = shape[1];
  std::regex number(R"(\d+)");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), number);
       it != std::sregex_iterator(); ++it) {
    array.dims.push_back(std::stoll(it->str()));
    count *= static_cast<std::size_t>(array.dims.back());
  }
  if (bytes.size() != start + count * sizeof(float))
    throw std::runtime_error(path + ": size does not match its shape");
  array.values.resize(count);
  std::memcpy(array.values.data(), bytes.data() + start, count * sizeof(float));
  return array;
}

std::vector<char> read_bytes(const std::string &path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), {}};
}

void expect_close(const std::vector<float> &got, const std::vector<float> &want,
                  float tolerance) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); i++)
    ASSERT_NEAR(got[i], want[i], tolerance + tolerance * std::fabs(want[i]))
        << "element " << i;
}

// The same run through the C API directly.
std::vector<float> run_with_c_api(const std::string &model_path,
                                  const Array &input) {
  seqrt_model *model = nullptr;
  EXPECT_EQ(seqrt_model_load_file(model_path.c_str(), nullptr, &model),
            SEQRT_OK);
  seqrt_context *ctx = nullptr;
  EXPECT_EQ(seqrt_context_create(model, &ctx), SEQRT_OK);
  seqrt_shape out_shape{};
  seqrt_model_output_shape(model, input.dims[0], &out_shape);
  std::size_t count = 1;
  for (int i = 0; i < out_shape.rank; i++)
    count *= static_cast<std::size_t>(out_shape.dims[i]);
  std::vector<float> out(count);
  seqrt_tensor in{};
  in.dtype = SEQRT_FLOAT32;
  in.rank = static_cast<int>(input.dims.size());
  for (std::size_t i = 0; i < input.dims.size(); i++)
    in.dims[i] = input.dims[i];
  in.data = const_cast<float *>(input.values.data());
  seqrt_tensor result{};
  result.data = out.data();
  EXPECT_EQ(seqrt_run(ctx, &in, &result), SEQRT_OK) << seqrt_last_error();
  seqrt_context_free(ctx);
  seqrt_model_free(model);
  return out;
}

class ExampleModel : public ::testing::TestWithParam<std::string> {
protected:
  std::string dir() const { return kExamples + GetParam() + "/"; }
};

TEST(Hpp, VersionMatchesHeaderAndProject) {
  EXPECT_EQ(seqrt::version(), SEQRT_VERSION_STRING);
  EXPECT_EQ(seqrt::version(), SEQRT_PROJECT_VERSION);
}

TEST(Hpp, MissingFileThrowsIoErrorNamingThePath) {
  try {
    seqrt::Model::load_file("/nonexistent/model.onnx");
    FAIL() << "no exception";
  } catch (const seqrt::Error &error) {
    EXPECT_EQ(error.status(), SEQRT_ERR_IO);
    EXPECT_NE(std::string(error.what()).find("/nonexistent/model.onnx"),
              std::string::npos)
        << error.what();
    EXPECT_STREQ(error.status_string(), seqrt_status_string(SEQRT_ERR_IO));
  }
}

TEST(Hpp, GarbageBufferThrows) {
  std::vector<char> garbage(64, '\xff');
  try {
    seqrt::Model::load_buffer(garbage);
    FAIL() << "no exception";
  } catch (const seqrt::Error &error) {
    EXPECT_NE(error.status(), SEQRT_OK);
    EXPECT_STRNE(error.what(), "");
  }
}

TEST(Hpp, TinyMemoryLimitIsRefused) {
  seqrt::Options options;
  options.set_memory_limit(1);
  try {
    seqrt::Model::load_file(kExamples + "mnist_mlp/model.onnx", options);
    FAIL() << "no exception";
  } catch (const seqrt::Error &error) {
    EXPECT_EQ(error.status(), SEQRT_ERR_LIMIT) << error.what();
  }
}

TEST(Hpp, BatchSlicesModeIsChecked) {
  seqrt::Options options;
  options.set_batch_slices(SEQRT_BATCH_SLICES_OFF)
      .set_batch_slices(SEQRT_BATCH_SLICES_ON);
  EXPECT_THROW(options.set_batch_slices(static_cast<seqrt_batch_slices>(-1)),
               seqrt::Error);
  seqrt::Model model = seqrt::Model::load_file(
      kExamples + "mnist_mlp/model.onnx",
      seqrt::Options().set_batch_slices(SEQRT_BATCH_SLICES_OFF));
  EXPECT_EQ(model.input_shape().size(), 2u);
}

// external_ok.onnx is valid.onnx with its Gemm weight at offset 16 of
// weights.bin: from memory, it runs only with the file's bytes supplied.
TEST(Hpp, ExternalDataSuppliedInMemory) {
  const std::string corpus = SEQRT_SOURCE_DIR "/tests/malformed/models/";
  std::vector<char> model = read_bytes(corpus + "external_ok.onnx");
  std::vector<char> weights = read_bytes(corpus + "weights.bin");
  ASSERT_FALSE(model.empty());
  ASSERT_FALSE(weights.empty());
  EXPECT_THROW(seqrt::Model::load_buffer(model), seqrt::Error);
  seqrt::Options options;
  options.set_external_data("weights.bin", weights);
  seqrt::Model external = seqrt::Model::load_buffer(model, options);
  seqrt::Model valid = seqrt::Model::load_file(corpus + "valid.onnx");
  seqrt::Dims dims = valid.input_shape();
  dims[0] = 2;
  int64_t count = 1;
  for (int64_t d : dims) count *= d;
  std::vector<float> input(static_cast<size_t>(count));
  for (size_t i = 0; i < input.size(); i++) input[i] = 0.25f * float(i) - 1;
  seqrt::Context a(external), b(valid);
  EXPECT_EQ(a.run(input, dims).data, b.run(input, dims).data);
}

TEST(Hpp, ThreadsFollowSetThreads) {
  seqrt::Model model =
      seqrt::Model::load_file(kExamples + "small_convnet/model.onnx");
  seqrt::Context context(model);
  int fallback = context.threads();
  EXPECT_GE(fallback, 1);
  EXPECT_EQ(context.set_threads(2).threads(), 2);
  EXPECT_EQ(context.set_threads(0).threads(), fallback);
  EXPECT_THROW(context.set_threads(-1), seqrt::Error);
}

TEST(Hpp, ProfileListsTheStepsOfTheLastProfiledRun) {
  const std::string dir = kExamples + "small_convnet/";
  seqrt::Model model = seqrt::Model::load_file(dir + "model.onnx");
  seqrt::Context context(model);
  EXPECT_THROW(context.profile(), seqrt::Error);
  Array input = load_npy(dir + "input.npy");
  context.set_profiling(true).run(input.values, input.dims);
  context.run(input.values, input.dims);
  std::vector<seqrt_step_profile> steps = context.profile();
  ASSERT_FALSE(steps.empty());
  EXPECT_EQ(steps.front().first_layer, 0);
  EXPECT_EQ(steps.back().last_layer, model.layer_count() - 1);
  for (const seqrt_step_profile &step : steps) {
    EXPECT_EQ(step.runs, 2);
    EXPECT_GT(step.flop, 0.0);
  }
  context.set_profiling(false).run(input.values, input.dims);
  EXPECT_THROW(context.profile(), seqrt::Error);
}

TEST_P(ExampleModel, RunMatchesPyTorchAndTheCApi) {
  Array input = load_npy(dir() + "input.npy");
  Array expected = load_npy(dir() + "expected.npy");
  seqrt::Model model = seqrt::Model::load_file(dir() + "model.onnx");
  seqrt::Context context(model);
  seqrt::Tensor output = context.run(input.values, input.dims);
  EXPECT_EQ(output.dims, expected.dims);
  expect_close(output.data, expected.values, 1e-4f);
  EXPECT_EQ(output.data, run_with_c_api(dir() + "model.onnx", input));
}

TEST_P(ExampleModel, BufferLoadDescribesTheSameModelAsFileLoad) {
  seqrt::Model from_file = seqrt::Model::load_file(dir() + "model.onnx");
  seqrt::Model from_buffer =
      seqrt::Model::load_buffer(read_bytes(dir() + "model.onnx"));
  ASSERT_GT(from_file.layer_count(), 0);
  ASSERT_EQ(from_file.layer_count(), from_buffer.layer_count());
  std::vector<seqrt::LayerInfo> layers = from_file.layers();
  for (int i = 0; i < from_file.layer_count(); i++) {
    seqrt_layer_info info{};
    ASSERT_EQ(seqrt_model_layer(from_file.get(), i, &info), SEQRT_OK);
    EXPECT_EQ(layers[i].name, info.name);
    EXPECT_EQ(layers[i].kind, info.kind);
    EXPECT_EQ(layers[i].parameters, info.parameters);
    EXPECT_EQ(
        layers[i].output,
        seqrt::Dims(info.output.dims, info.output.dims + info.output.rank));
    EXPECT_EQ(from_buffer.layer(i).name, layers[i].name);
    EXPECT_EQ(from_file.find_layer(layers[i].name), i);
  }
  EXPECT_EQ(from_file.find_layer("no.such.layer"), std::nullopt);
  EXPECT_EQ(from_file.input_shape(), from_buffer.input_shape());
  EXPECT_EQ(from_file.input_dtype(), SEQRT_FLOAT32);
  seqrt::Dims last_output = layers.back().output;
  last_output.front() = 5;
  EXPECT_EQ(from_file.output_shape(5), last_output);
}

TEST_P(ExampleModel, RunIntoCallerBufferChecksItsSize) {
  Array input = load_npy(dir() + "input.npy");
  Array expected = load_npy(dir() + "expected.npy");
  seqrt::Model model = seqrt::Model::load_file(dir() + "model.onnx");
  seqrt::Context context(model);
  std::vector<float> small(expected.values.size() - 1);
  try {
    context.run(input.values, input.dims, small);
    FAIL() << "no exception";
  } catch (const seqrt::Error &error) {
    EXPECT_EQ(error.status(), SEQRT_ERR_INVALID_ARGUMENT);
  }
  std::vector<float> exact(expected.values.size());
  EXPECT_EQ(context.run(input.values, input.dims, exact), expected.dims);
  expect_close(exact, expected.values, 1e-4f);
}

TEST_P(ExampleModel, InputOfTheWrongSizeThrows) {
  Array input = load_npy(dir() + "input.npy");
  seqrt::Model model = seqrt::Model::load_file(dir() + "model.onnx");
  seqrt::Context context(model);
  input.values.pop_back();
  EXPECT_THROW(context.run(input.values, input.dims), seqrt::Error);
  seqrt::Dims bad = input.dims;
  bad.push_back(1); // right count, wrong rank: the library refuses it
  input.values.push_back(0);
  try {
    context.run(input.values, bad);
    FAIL() << "no exception";
  } catch (const seqrt::Error &error) {
    EXPECT_EQ(error.status(), SEQRT_ERR_INVALID_ARGUMENT);
  }
}

TEST_P(ExampleModel, RunLayersCallbackSeesEveryLayer) {
  Array input = load_npy(dir() + "input.npy");
  seqrt::Model model = seqrt::Model::load_file(dir() + "model.onnx");
  seqrt::Context context(model);
  seqrt::Tensor whole = context.run(input.values, input.dims);
  int last = model.layer_count() - 1;
  std::vector<std::string> names;
  std::vector<float> last_seen;
  seqrt::Tensor layered = context.run_layers(
      0, last, input.values, input.dims, [&](const seqrt::LayerOutput &layer) {
        EXPECT_EQ(layer.index, static_cast<int>(names.size()));
        names.emplace_back(layer.name);
        seqrt::Span<const float> values = layer.values();
        last_seen.assign(values.begin(), values.end());
        return true;
      });
  ASSERT_EQ(static_cast<int>(names.size()), model.layer_count());
  for (int i = 0; i <= last; i++) EXPECT_EQ(names[i], model.layer(i).name);
  EXPECT_EQ(layered.dims, whole.dims);
  expect_close(layered.data, whole.data, 1e-5f);
  expect_close(last_seen, layered.data, 0.0f);
}

TEST_P(ExampleModel, RunLayersCallbackCanStopAndThrow) {
  Array input = load_npy(dir() + "input.npy");
  seqrt::Model model = seqrt::Model::load_file(dir() + "model.onnx");
  seqrt::Context context(model);
  int last = model.layer_count() - 1;
  int calls = 0;
  context.run_layers(0, last, input.values, input.dims,
                     [&](const seqrt::LayerOutput &) {
                       calls++;
                       return false;
                     });
  EXPECT_EQ(calls, 1);
  calls = 0;
  EXPECT_THROW(context.run_layers(0, last, input.values, input.dims,
                                  [&](const seqrt::LayerOutput &) -> bool {
                                    calls++;
                                    throw std::out_of_range("from callback");
                                  }),
               std::out_of_range);
  EXPECT_EQ(calls, 1);
  // The context is still usable after the exception.
  Array expected = load_npy(dir() + "expected.npy");
  expect_close(context.run(input.values, input.dims).data, expected.values,
               1e-4f);
}

TEST_P(ExampleModel, MovedHandlesKeepWorking) {
  Array input = load_npy(dir() + "input.npy");
  Array expected = load_npy(dir() + "expected.npy");
  seqrt::Model first = seqrt::Model::load_file(dir() + "model.onnx");
  const seqrt_model *handle = first.get();
  seqrt::Model model = std::move(first);
  EXPECT_EQ(model.get(), handle);
  EXPECT_EQ(first.get(), nullptr); // NOLINT: checking the moved-from state
  EXPECT_THROW(first.input_shape(), seqrt::Error);
  seqrt::Context original(model);
  seqrt::Context context = std::move(original);
  expect_close(context.run(input.values, input.dims).data, expected.values,
               1e-4f);
}

INSTANTIATE_TEST_SUITE_P(Bundled, ExampleModel,
                         ::testing::Values("mnist_mlp", "small_convnet"));

} // namespace
