/**
 * \file seqrt.hpp
 * \brief seqrt.hpp - a header-only C++17 wrapper over the C API in seqrt.h.
 *
 * \code
 *   seqrt::Model model = seqrt::Model::load_file("model.onnx");
 *   seqrt::Context context(model);          // one per thread
 *   std::vector<float> input(2 * 784);
 *   seqrt::Tensor output = context.run(input, {2, 784});
 *   // output.dims == {2, 10}, output.data.size() == 20
 * \endcode
 *
 * - Failures throw seqrt::Error, which carries the seqrt_status and the
 *   library's one-line message.
 * - Model, Context and Options own their C handle and are move-only.
 * - A Model may be shared by any number of threads (its methods are const);
 *   a Context is used by one thread at a time and must not outlive its
 *   Model.
 */
#ifndef SEQRT_HPP
#define SEQRT_HPP

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "seqrt.h"

/** The C++ API of seqrt. */
namespace seqrt {

/** A failed seqrt call: the status and the library's message. */
class Error : public std::runtime_error {
public:
  /** An error with `status` and `message` (what() returns the message). */
  Error(seqrt_status status, const std::string &message)
      : std::runtime_error(message), status_(status) {}
  /** The status the C call returned. */
  seqrt_status status() const noexcept { return status_; }
  /** A short constant name for the status, e.g. "not a chain". */
  const char *status_string() const noexcept {
    return seqrt_status_string(status_);
  }

private:
  seqrt_status status_;
};

/** Shapes: one extent per dimension, dims[0] the batch (-1: any batch). */
using Dims = std::vector<std::int64_t>;

/** A non-owning view of contiguous elements, like C++20's std::span. */
template <class T> class Span {
  template <class C>
  using element_of =
      std::remove_pointer_t<decltype(std::declval<C &>().data())>;
  template <class C>
  using if_compatible = std::enable_if_t<
      std::is_convertible_v<element_of<C> (*)[], T (*)[]> &&
      std::is_convertible_v<decltype(std::declval<C &>().size()), std::size_t>>;

public:
  /** An empty span. */
  constexpr Span() noexcept = default;
  /** `size` elements at `data`. */
  constexpr Span(T *data, std::size_t size) noexcept
      : data_(data), size_(size) {}
  /** The elements of a contiguous container (std::vector, std::array). */
  template <class C, class = if_compatible<C>>
  constexpr Span(C &container) noexcept // NOLINT: implicit like std::span
      : data_(container.data()), size_(container.size()) {}
  /** The elements of a const contiguous container. */
  template <class C, class = if_compatible<const C>>
  constexpr Span(const C &container) noexcept // NOLINT
      : data_(container.data()), size_(container.size()) {}

  /** First element. */
  constexpr T *data() const noexcept { return data_; }
  /** Number of elements. */
  constexpr std::size_t size() const noexcept { return size_; }
  /** True if there are no elements. */
  constexpr bool empty() const noexcept { return size_ == 0; }
  /** Element `i` (unchecked). */
  constexpr T &operator[](std::size_t i) const noexcept { return data_[i]; }
  /** Iterator to the first element. */
  constexpr T *begin() const noexcept { return data_; }
  /** Iterator past the last element. */
  constexpr T *end() const noexcept { return data_ + size_; }

private:
  T *data_ = nullptr;
  std::size_t size_ = 0;
};

/** An owning float tensor: what Context::run returns. */
struct Tensor {
  Dims dims;               /**< the shape, dims[0] the batch */
  std::vector<float> data; /**< row-major elements */
};

/** One layer of the chain (see seqrt_layer_info). */
struct LayerInfo {
  std::string name;                /**< module path, e.g. "features.0" */
  std::string kind;                /**< e.g. "Conv", "Linear", "ReLU" */
  std::vector<std::string> nodes;  /**< the ONNX nodes it covers */
  std::vector<std::string> folded; /**< module names folded into it */
  Dims input;                      /**< dims[0] < 0: dynamic (seqrt_shape) */
  Dims output;                     /**< dims[0] < 0: dynamic (seqrt_shape) */
  std::int64_t parameters = 0;     /**< learned values */
};

/** A layer's output as seen by a Context::run_layers callback; the data is
 * valid only during the call. */
struct LayerOutput {
  int index = 0;                     /**< the layer's index in the chain */
  std::string_view name;             /**< the layer's name (module path) */
  seqrt_dtype dtype = SEQRT_FLOAT32; /**< element type of `data` */
  Dims dims;                         /**< the output's shape */
  const void *data = nullptr;        /**< row-major elements */

  /** The elements as floats; throws Error if the dtype is not float32. */
  Span<const float> values() const {
    if (dtype != SEQRT_FLOAT32)
      throw Error(SEQRT_ERR_INVALID_ARGUMENT,
                  "layer '" + std::string(name) + "' output is not float32");
    std::size_t count = 1;
    for (std::int64_t d : dims) count *= static_cast<std::size_t>(d);
    return {static_cast<const float *>(data), count};
  }
};

/** Observes each layer's output in Context::run_layers; return false to
 * stop the run early. An exception it throws stops the run and is rethrown
 * by run_layers. */
using LayerCallback = std::function<bool(const LayerOutput &)>;

/** Implementation details; not part of the API. */
namespace detail {

inline void check(seqrt_status status) {
  if (status != SEQRT_OK) throw Error(status, seqrt_last_error());
}

struct ModelDeleter {
  void operator()(seqrt_model *model) const noexcept {
    seqrt_model_free(model);
  }
};
struct ContextDeleter {
  void operator()(seqrt_context *context) const noexcept {
    seqrt_context_free(context);
  }
};
struct OptionsDeleter {
  void operator()(seqrt_options *options) const noexcept {
    seqrt_options_free(options);
  }
};

inline Dims to_dims(const seqrt_shape &shape) {
  return Dims(shape.dims, shape.dims + shape.rank);
}

inline Dims to_dims(const seqrt_tensor &tensor) {
  return Dims(tensor.dims, tensor.dims + tensor.rank);
}

inline std::vector<std::string> split_commas(const char *list) {
  std::vector<std::string> items;
  std::string_view rest = list ? list : "";
  while (!rest.empty()) {
    std::size_t comma = rest.find(',');
    items.emplace_back(rest.substr(0, comma));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return items;
}

/** Number of elements of `dims` (all > 0), or throws naming `what`. */
inline std::size_t element_count(const Dims &dims, const char *what) {
  if (dims.empty() || dims.size() > SEQRT_MAX_RANK)
    throw Error(SEQRT_ERR_INVALID_ARGUMENT,
                std::string(what) + ": rank " + std::to_string(dims.size()) +
                    " is not in 1.." + std::to_string(SEQRT_MAX_RANK));
  std::size_t count = 1;
  for (std::int64_t d : dims) {
    if (d <= 0)
      throw Error(SEQRT_ERR_INVALID_ARGUMENT,
                  std::string(what) + ": dimension " + std::to_string(d) +
                      " must be > 0");
    count *= static_cast<std::size_t>(d);
  }
  return count;
}

/** A seqrt_tensor view of caller data; checks the size against the dims. */
template <class T>
seqrt_tensor input_view(Span<const T> data, const Dims &dims) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, std::int64_t>,
                "seqrt inputs are float or int64_t");
  std::size_t count = element_count(dims, "input");
  if (data.size() != count)
    throw Error(SEQRT_ERR_INVALID_ARGUMENT,
                "input has " + std::to_string(data.size()) +
                    " elements, its dims need " + std::to_string(count));
  seqrt_tensor view{};
  view.dtype = std::is_same_v<T, float> ? SEQRT_FLOAT32 : SEQRT_INT64;
  view.rank = static_cast<int>(dims.size());
  for (std::size_t i = 0; i < dims.size(); i++) view.dims[i] = dims[i];
  // The C API takes void* but only reads an input.
  view.data = const_cast<T *>(data.data());
  return view;
}

struct CallbackState {
  const LayerCallback *callback;
  std::exception_ptr error;
};

/** Calls the std::function from C; exceptions must not cross the C code. */
inline int call_layer_callback(void *user, int index, const char *name,
                               const seqrt_tensor *view) noexcept {
  auto *state = static_cast<CallbackState *>(user);
  try {
    LayerOutput output;
    output.index = index;
    output.name = name ? name : "";
    output.dtype = view->dtype;
    output.dims = to_dims(*view);
    output.data = view->data;
    return (*state->callback)(output) ? 0 : 1;
  } catch (...) {
    state->error = std::current_exception();
    return 1;
  }
}

} // namespace detail

/** The library's version string, e.g. "0.1.0". */
inline std::string version() { return seqrt_version(); }

/** Load options (see seqrt_options); setters return *this for chaining. */
class Options {
public:
  /** Options with the defaults. */
  Options() {
    seqrt_options *options = nullptr;
    detail::check(seqrt_options_create(&options));
    handle_.reset(options);
  }
  /** Refuse models needing more than `bytes` of memory (0: the default). */
  Options &set_memory_limit(std::uint64_t bytes) {
    detail::check(seqrt_options_set_memory_limit(handle_.get(), bytes));
    return *this;
  }
  /** Winograd convolutions wherever they apply (see
   * seqrt_options_set_winograd): faster, more memory. */
  Options &set_winograd(bool enable) {
    detail::check(seqrt_options_set_winograd(handle_.get(), enable));
    return *this;
  }
  /** How batches run on several threads (see
   * seqrt_options_set_batch_slices): AUTO, OFF or ON. */
  Options &set_batch_slices(seqrt_batch_slices mode) {
    detail::check(seqrt_options_set_batch_slices(handle_.get(), mode));
    return *this;
  }
  /** Supply the bytes of external data file `location` (see
   * seqrt_options_set_external_data): `data` is not copied and must outlive
   * every load with these options. */
  Options &set_external_data(const std::string &location, const void *data,
                             std::size_t size) {
    detail::check(seqrt_options_set_external_data(
        handle_.get(), location.c_str(), data, size));
    return *this;
  }
  /** The same from a contiguous container of bytes (e.g. std::vector). */
  template <typename Bytes>
  Options &set_external_data(const std::string &location, const Bytes &bytes) {
    static_assert(sizeof(*bytes.data()) == 1, "a container of bytes");
    return set_external_data(location, bytes.data(), bytes.size());
  }
  /** The C handle, owned by this object. */
  const seqrt_options *get() const noexcept { return handle_.get(); }

private:
  std::unique_ptr<seqrt_options, detail::OptionsDeleter> handle_;
};

/** An imported model: immutable, shareable by threads (see seqrt_model). */
class Model {
public:
  /** Load an ONNX file (external data is looked up next to it). */
  static Model load_file(const std::string &path) {
    return load_file(path, nullptr);
  }
  /** Load an ONNX file with options. */
  static Model load_file(const std::string &path, const Options &options) {
    return load_file(path, options.get());
  }
  /** Load from memory; the bytes are only read during the call. */
  static Model load_buffer(const void *data, std::size_t size) {
    return load_buffer(data, size, nullptr);
  }
  /** Load from memory with options. */
  static Model load_buffer(const void *data, std::size_t size,
                           const Options &options) {
    return load_buffer(data, size, options.get());
  }
  /** Load from a contiguous container of bytes (e.g. std::vector<char>). */
  template <class Bytes> static Model load_buffer(const Bytes &bytes) {
    static_assert(sizeof(*bytes.data()) == 1, "load_buffer takes bytes");
    return load_buffer(bytes.data(), bytes.size(), nullptr);
  }
  /** Load from a contiguous container of bytes with options. */
  template <class Bytes>
  static Model load_buffer(const Bytes &bytes, const Options &options) {
    static_assert(sizeof(*bytes.data()) == 1, "load_buffer takes bytes");
    return load_buffer(bytes.data(), bytes.size(), options.get());
  }

  /** The input's declared shape (dims[0] == -1 for a dynamic batch). */
  Dims input_shape() const {
    seqrt_shape shape{};
    detail::check(seqrt_model_input(get(), &shape, nullptr));
    return detail::to_dims(shape);
  }
  /** The input's element type. */
  seqrt_dtype input_dtype() const {
    seqrt_dtype dtype = SEQRT_FLOAT32;
    detail::check(seqrt_model_input(get(), nullptr, &dtype));
    return dtype;
  }
  /** The output shape for `batch` samples. */
  Dims output_shape(std::int64_t batch) const {
    seqrt_shape shape{};
    detail::check(seqrt_model_output_shape(get(), batch, &shape));
    return detail::to_dims(shape);
  }

  /** Number of layers in the chain. */
  int layer_count() const { return seqrt_model_layer_count(get()); }
  /** Layer `index` (0-based). */
  LayerInfo layer(int index) const {
    seqrt_layer_info info{};
    detail::check(seqrt_model_layer(get(), index, &info));
    LayerInfo layer;
    layer.name = info.name;
    layer.kind = info.kind;
    layer.nodes = detail::split_commas(info.nodes);
    layer.folded = detail::split_commas(info.folded);
    layer.input = detail::to_dims(info.input);
    layer.output = detail::to_dims(info.output);
    layer.parameters = info.parameters;
    return layer;
  }
  /** Every layer, in order. */
  std::vector<LayerInfo> layers() const {
    std::vector<LayerInfo> all;
    for (int i = 0; i < layer_count(); i++) all.push_back(layer(i));
    return all;
  }
  /** The index of a layer by module path or folded module name. */
  std::optional<int> find_layer(const std::string &name) const {
    int index = seqrt_model_find_layer(get(), name.c_str());
    if (index < 0) return std::nullopt;
    return index;
  }
  /** The modules the exporter removed (Dropout, Identity). */
  std::vector<std::string> removed_layers() const {
    return detail::split_commas(seqrt_model_removed_layers(get()));
  }

  /** The C handle, owned by this object. */
  const seqrt_model *get() const noexcept { return handle_.get(); }

private:
  explicit Model(seqrt_model *model) : handle_(model) {}

  static Model load_file(const std::string &path,
                         const seqrt_options *options) {
    seqrt_model *model = nullptr;
    detail::check(seqrt_model_load_file(path.c_str(), options, &model));
    return Model(model);
  }
  static Model load_buffer(const void *data, std::size_t size,
                           const seqrt_options *options) {
    seqrt_model *model = nullptr;
    detail::check(seqrt_model_load_buffer(data, size, options, &model));
    return Model(model);
  }

  std::unique_ptr<seqrt_model, detail::ModelDeleter> handle_;
};

/** Per-run state of a Model for one thread at a time (see seqrt_context).
 * The Model must outlive the Context. */
class Context {
public:
  /** A context running `model`. */
  explicit Context(const Model &model) : model_(model.get()) {
    seqrt_context *context = nullptr;
    detail::check(seqrt_context_create(model_, &context));
    handle_.reset(context);
  }
  /** A context must not outlive its model, so a temporary one is refused. */
  explicit Context(Model &&) = delete;

  /** Threads oneDNN uses for this context's runs (0: the OpenMP default). */
  Context &set_threads(int threads) {
    detail::check(seqrt_context_set_threads(handle_.get(), threads));
    return *this;
  }
  /** Threads the next run uses (set_threads, or the OpenMP default). */
  int threads() const { return seqrt_context_threads(handle_.get()); }

  /** Run the whole chain on `input` of shape `dims`; returns the output. */
  Tensor run(Span<const float> input, const Dims &dims) {
    return run_into_new<float>(input, dims);
  }
  /** Run on int64 indices (models starting with an embedding). */
  Tensor run(Span<const std::int64_t> input, const Dims &dims) {
    return run_into_new<std::int64_t>(input, dims);
  }
  /** Run into a caller-provided buffer of output_shape(batch) elements;
   * returns the output's dims. Allocates nothing once the batch's plan
   * exists. */
  Dims run(Span<const float> input, const Dims &dims, Span<float> output) {
    return run_into<float>(input, dims, output);
  }
  /** Run on int64 indices into a caller-provided buffer. */
  Dims run(Span<const std::int64_t> input, const Dims &dims,
           Span<float> output) {
    return run_into<std::int64_t>(input, dims, output);
  }

  /** Run layers first..last (inclusive): `input` is layer `first`'s input
   * with a batch; returns layer `last`'s output. `callback`, if set, sees
   * each layer's output (an unfused plan is used then). */
  Tensor run_layers(int first, int last, Span<const float> input,
                    const Dims &dims, const LayerCallback &callback = {}) {
    return run_layers_impl<float>(first, last, input, dims, callback);
  }
  /** run_layers on int64 indices. */
  Tensor run_layers(int first, int last, Span<const std::int64_t> input,
                    const Dims &dims, const LayerCallback &callback = {}) {
    return run_layers_impl<std::int64_t>(first, last, input, dims, callback);
  }

  /** Time each step of later runs, or stop (seqrt_context_set_profiling;
   * switching on clears the times so far). */
  Context &set_profiling(bool enable) {
    detail::check(seqrt_context_set_profiling(handle_.get(), enable));
    return *this;
  }
  /** The last run's steps with their times (seqrt_context_profile), copied;
   * the strings live as long as the context. */
  std::vector<seqrt_step_profile> profile() const {
    const seqrt_step_profile *steps = nullptr;
    int count = 0;
    detail::check(seqrt_context_profile(handle_.get(), &steps, &count));
    return std::vector<seqrt_step_profile>(steps, steps + count);
  }

  /** The C handle, owned by this object. */
  seqrt_context *get() const noexcept { return handle_.get(); }

private:
  template <class T>
  Dims run_into(Span<const T> input, const Dims &dims, Span<float> output) {
    seqrt_tensor in = detail::input_view(input, dims);
    std::size_t needed =
        detail::element_count(model_output(dims.front()), "output");
    if (output.size() < needed)
      throw Error(SEQRT_ERR_INVALID_ARGUMENT,
                  "output buffer has " + std::to_string(output.size()) +
                      " elements, the output needs " + std::to_string(needed));
    seqrt_tensor out{};
    out.data = output.data();
    detail::check(seqrt_run(handle_.get(), &in, &out));
    return detail::to_dims(out);
  }

  template <class T>
  Tensor run_into_new(Span<const T> input, const Dims &dims) {
    detail::element_count(dims, "input");
    Tensor result;
    result.data.resize(
        detail::element_count(model_output(dims.front()), "output"));
    result.dims = run_into<T>(input, dims, result.data);
    return result;
  }

  template <class T>
  Tensor run_layers_impl(int first, int last, Span<const T> input,
                         const Dims &dims, const LayerCallback &callback) {
    seqrt_tensor in = detail::input_view(input, dims);
    seqrt_layer_info from{}, info{};
    detail::check(seqrt_model_layer(model_, first, &from));
    detail::check(seqrt_model_layer(model_, last, &info));
    Dims out_dims = detail::to_dims(info.output);
    if (!out_dims.empty() && out_dims.front() < 0 && !dims.empty()) {
      // a dynamic dims[0] of -K holds the batch times K (seqrt_shape)
      std::int64_t k_in = from.input.rank > 0 && from.input.dims[0] < 0
                              ? -from.input.dims[0]
                              : 1;
      out_dims.front() = dims[0] / k_in * -out_dims.front();
    }
    Tensor result;
    result.data.resize(detail::element_count(out_dims, "output"));
    seqrt_tensor out{};
    out.data = result.data.data();
    detail::CallbackState state{&callback, nullptr};
    seqrt_status status = seqrt_run_layers(
        handle_.get(), first, last, &in, &out,
        callback ? detail::call_layer_callback : nullptr, &state);
    if (state.error) std::rethrow_exception(state.error);
    detail::check(status);
    result.dims = detail::to_dims(out);
    return result;
  }

  Dims model_output(std::int64_t batch) const {
    seqrt_shape shape{};
    detail::check(seqrt_model_output_shape(model_, batch, &shape));
    return detail::to_dims(shape);
  }

  const seqrt_model *model_;
  std::unique_ptr<seqrt_context, detail::ContextDeleter> handle_;
};

} // namespace seqrt

#endif /* SEQRT_HPP */
