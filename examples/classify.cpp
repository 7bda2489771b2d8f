// classify_cpp: the C++ wrapper (seqrt.hpp). Loads a model from memory with
// options, lists its layers, classifies every sample of a raw float32 file
// in one batch, then shows each layer's output range for the first sample.
//
//   classify_cpp MODEL.onnx INPUT.f32
#include <seqrt.hpp>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::vector<char> read_bytes(const std::string &path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("cannot open " + path);
  return {std::istreambuf_iterator<char>(file), {}};
}

std::vector<float> read_floats(const std::string &path) {
  std::vector<char> bytes = read_bytes(path);
  std::vector<float> floats(bytes.size() / sizeof(float));
  std::copy_n(bytes.data(), floats.size() * sizeof(float),
              reinterpret_cast<char *>(floats.data()));
  return floats;
}

std::string format(const seqrt::Dims &dims) {
  std::ostringstream text;
  text << '[';
  for (std::size_t i = 0; i < dims.size(); i++)
    text << (i ? ", " : "") << dims[i];
  text << ']';
  return text.str();
}

} // namespace

int main(int argc, char **argv) try {
  if (argc != 3) {
    std::cerr << "usage: " << argv[0] << " MODEL.onnx INPUT.f32\n";
    return 2;
  }
  seqrt::Options options;
  options.set_memory_limit(std::uint64_t{1} << 30);
  seqrt::Model model = seqrt::Model::load_buffer(read_bytes(argv[1]), options);

  std::cout << "seqrt " << seqrt::version() << ", input "
            << format(model.input_shape()) << "\n";
  for (const seqrt::LayerInfo &layer : model.layers())
    std::cout << "layer " << layer.name << ": " << layer.kind << " -> "
              << format(layer.output) << ", " << layer.parameters
              << " parameters\n";

  // Every sample of the file in one batch.
  std::vector<float> samples = read_floats(argv[2]);
  seqrt::Dims dims = model.input_shape();
  std::size_t per_sample = 1;
  for (std::size_t i = 1; i < dims.size(); i++)
    per_sample *= static_cast<std::size_t>(dims[i]);
  if (samples.empty() || samples.size() % per_sample != 0)
    throw std::runtime_error(std::string(argv[2]) + " does not hold whole " +
                             format(dims) + " samples");
  dims[0] = static_cast<std::int64_t>(samples.size() / per_sample);

  seqrt::Context context(model);
  seqrt::Tensor output = context.run(samples, dims);
  std::size_t classes = output.data.size() / static_cast<std::size_t>(dims[0]);
  for (std::int64_t i = 0; i < dims[0]; i++) {
    const float *row = output.data.data() + i * classes;
    std::size_t best = std::max_element(row, row + classes) - row;
    std::cout << "sample " << i << ": class " << best << " (score " << row[best]
              << ")\n";
  }

  // Watch every layer's output for the first sample.
  if (model.layer_count() > 0) {
    seqrt::Dims one = dims;
    one[0] = 1;
    seqrt::Span<const float> first(samples.data(), per_sample);
    context.run_layers(0, model.layer_count() - 1, first, one,
                       [](const seqrt::LayerOutput &layer) {
                         seqrt::Span<const float> values = layer.values();
                         auto [low, high] =
                             std::minmax_element(values.begin(), values.end());
                         std::cout << "  after " << layer.name << " "
                                   << format(layer.dims) << ": " << *low
                                   << " .. " << *high << "\n";
                         return true;
                       });
  }
  return 0;
} catch (const seqrt::Error &error) {
  std::cerr << "classify_cpp: " << error.what() << " (" << error.status_string()
            << ")\n";
  return 1;
} catch (const std::exception &error) {
  std::cerr << "classify_cpp: " << error.what() << "\n";
  return 1;
}
