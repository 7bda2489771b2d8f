// Helpers for the runtime tests: build sq_chains by hand, naive reference
// implementations of every layer family, and comparisons.
#ifndef SEQRT_TEST_RUNTIME_UTIL_H
#define SEQRT_TEST_RUNTIME_UTIL_H

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

extern "C" {
#include "core/chain.h"
#include "runtime/runtime.h"
}

namespace sqtest {

using Dims = std::vector<int64_t>;

inline int64_t count_of(const Dims &dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

// Deterministic values in [-scale, scale).
inline void fill_random(float *data, int64_t n, uint32_t seed, float scale) {
  uint32_t state = seed * 2654435761u + 12345u;
  for (int64_t i = 0; i < n; i++) {
    state = state * 1664525u + 1013904223u;
    data[i] = scale * ((float)(state >> 8) / (float)(1u << 24) * 2.0f - 1.0f);
  }
}

inline std::vector<float> random_vector(int64_t n, uint32_t seed,
                                        float scale = 1.0f) {
  std::vector<float> v((size_t)n);
  fill_random(v.data(), n, seed, scale);
  return v;
}

inline sq_shape make_shape(const Dims &dims) {
  sq_shape s{};
  s.rank = (int)dims.size();
  for (size_t i = 0; i < dims.size(); i++) s.dims[i] = dims[i];
  return s;
}

// A chain shape at `batch`: a dynamic dims[0] of -K is batch * K.
inline Dims shape_dims(const sq_shape &s, int64_t batch) {
  Dims d;
  for (int i = 0; i < s.rank; i++)
    d.push_back(i == 0 ? sq_dim_size(s.dims[0], batch) : s.dims[i]);
  return d;
}

struct Window {
  Dims kernel, stride, dilation, pad_begin, pad_end;
};

// Builds an sq_chain layer by layer, inferring each output shape. The batch
// is -1 (dynamic) unless `batch` is given.
class ChainMaker {
public:
  explicit ChainMaker(Dims input) : shape_(std::move(input)) {
    input_ = shape_;
  }
  ~ChainMaker() {
    for (sq_layer &l : layers_) {
      free(l.name);
      free(l.nodes);
      free(l.folded);
      free(l.weight.data);
      free(l.bias.data);
    }
  }

  ChainMaker &linear(int64_t out, bool bias = true) {
    int64_t in = shape_.back();
    Dims out_shape = shape_;
    out_shape.back() = out;
    sq_layer &l = add(SQ_LINEAR, out_shape);
    set_weights(&l.weight, {out, in}, 1.0f / std::sqrt((float)in));
    if (bias) set_weights(&l.bias, {out}, 0.5f);
    return *this;
  }

  ChainMaker &conv(int64_t out_ch, Window w, int64_t groups = 1,
                   bool bias = true) {
    int spatial = (int)shape_.size() - 2;
    complete(&w, spatial);
    Dims out_shape = window_out(w, spatial);
    out_shape[1] = out_ch;
    int64_t in_ch = shape_[1];
    sq_layer &l = add(SQ_CONV, out_shape);
    set_window(&l, w, spatial);
    l.groups = groups;
    Dims wdims = {out_ch, in_ch / groups};
    int64_t fan_in = in_ch / groups;
    for (int64_t k : w.kernel) {
      wdims.push_back(k);
      fan_in *= k;
    }
    set_weights(&l.weight, wdims, 1.0f / std::sqrt((float)fan_in));
    if (bias) set_weights(&l.bias, {out_ch}, 0.5f);
    return *this;
  }

  // ConvTranspose with `out_pad` (empty: none) as its output_padding.
  ChainMaker &conv_transpose(int64_t out_ch, Window w, Dims out_pad,
                             int64_t groups = 1, bool bias = true) {
    int spatial = (int)shape_.size() - 2;
    complete(&w, spatial);
    if (out_pad.empty()) out_pad.assign((size_t)spatial, 0);
    Dims out_shape = shape_;
    out_shape[1] = out_ch;
    int64_t fan_in = shape_[1] / groups;
    Dims wdims = {shape_[1], out_ch / groups};
    for (int i = 0; i < spatial; i++) {
      out_shape[2 + i] = (shape_[2 + i] - 1) * w.stride[i] - w.pad_begin[i] -
                         w.pad_end[i] + (w.kernel[i] - 1) * w.dilation[i] + 1 +
                         out_pad[i];
      wdims.push_back(w.kernel[i]);
      fan_in *= w.kernel[i];
    }
    sq_layer &l = add(SQ_CONVTRANSPOSE, out_shape);
    set_window(&l, w, spatial);
    l.groups = groups;
    for (int i = 0; i < spatial; i++) l.output_padding[i] = out_pad[i];
    set_weights(&l.weight, wdims, 1.0f / std::sqrt((float)fan_in));
    if (bias) set_weights(&l.bias, {out_ch}, 0.5f);
    return *this;
  }

  ChainMaker &pool(sq_kind kind, Window w, bool include_pad = false) {
    int spatial = (int)shape_.size() - 2;
    complete(&w, spatial);
    Dims out_shape = window_out(w, spatial);
    sq_layer &l = add(kind, out_shape);
    set_window(&l, w, spatial);
    l.count_include_pad = include_pad;
    return *this;
  }

  ChainMaker &batchnorm(bool scale = true, bool shift = true) {
    int64_t c = shape_[1];
    sq_layer &l = add(SQ_BATCHNORM, shape_);
    if (scale) set_weights(&l.weight, {c}, 2.0f);
    if (shift) set_weights(&l.bias, {c}, 1.0f);
    return *this;
  }

  ChainMaker &eltwise(sq_kind kind, float alpha = 0.0f) {
    sq_layer &l = add(kind, shape_);
    l.alpha = alpha;
    return *this;
  }

  ChainMaker &softmax(sq_kind kind, int axis, bool coerce_2d = false) {
    sq_layer &l = add(kind, shape_);
    l.axis = axis;
    l.coerce_2d = coerce_2d;
    return *this;
  }

  ChainMaker &flatten() {
    int64_t rest = 1;
    for (size_t i = 1; i < shape_.size(); i++) rest *= shape_[i];
    add(SQ_FLATTEN, {shape_[0], rest});
    return *this;
  }

  ChainMaker &reshape(Dims out) {
    add(SQ_RESHAPE, out);
    return *this;
  }

  // Any kind: the caller gives the output shape and sets the parameters on
  // the returned layer (valid until the next layer is added).
  sq_layer &custom(sq_kind kind, const Dims &out_shape) {
    return add(kind, out_shape);
  }
  // Deterministic weights in [-scale, scale) (+ offset) into `w`.
  void weights(sq_weights *w, const Dims &dims, float scale,
               float offset = 0.0f) {
    set_weights(w, dims, scale);
    for (int64_t i = 0; i < w->count; i++) w->data[i] += offset;
  }
  const Dims &shape() const { return shape_; }
  // The chain's input dtype (int64 for an Embedding first layer).
  seqrt_dtype input_dtype = SEQRT_FLOAT32;

  // Direct access to tweak a layer before build().
  sq_layer &layer(int i) { return layers_[(size_t)i]; }
  int size() const { return (int)layers_.size(); }

  // The caller owns the result (sq_chain_free). The maker is left empty.
  sq_chain *build() {
    sq_chain *c = (sq_chain *)calloc(1, sizeof *c);
    c->n_layers = (int)layers_.size();
    c->layers = (sq_layer *)calloc(layers_.size(), sizeof(sq_layer));
    std::memcpy(c->layers, layers_.data(), layers_.size() * sizeof(sq_layer));
    layers_.clear();
    c->input = make_shape(input_);
    c->input_dtype = input_dtype;
    c->output = make_shape(shape_);
    c->input_name = strdup("input");
    c->output_name = strdup("output");
    c->removed = strdup("");
    c->producer = strdup("test");
    return c;
  }

private:
  sq_layer &add(sq_kind kind, const Dims &out_shape) {
    sq_layer l{};
    l.kind = kind;
    std::string name =
        std::string(sq_kind_name(kind)) + "_" + std::to_string(layers_.size());
    l.name = strdup(name.c_str());
    l.nodes = strdup(name.c_str());
    l.folded = strdup("");
    l.in = make_shape(shape_);
    l.out = make_shape(out_shape);
    l.groups = 1;
    shape_ = out_shape;
    layers_.push_back(l);
    return layers_.back();
  }

  void set_weights(sq_weights *w, const Dims &dims, float scale) {
    w->count = count_of(dims);
    w->shape = make_shape(dims);
    w->data = (float *)sq_aligned_alloc((size_t)w->count * sizeof(float));
    fill_random(w->data, w->count, seed_++, scale);
  }

  static void complete(Window *w, int spatial) {
    auto fill = [spatial](Dims *d, int64_t value) {
      if (d->empty()) d->assign((size_t)spatial, value);
    };
    fill(&w->stride, 1);
    fill(&w->dilation, 1);
    fill(&w->pad_begin, 0);
    if (w->pad_end.empty()) w->pad_end = w->pad_begin;
  }

  Dims window_out(const Window &w, int spatial) const {
    Dims out = shape_;
    for (int i = 0; i < spatial; i++) {
      int64_t ext = (w.kernel[i] - 1) * w.dilation[i] + 1;
      out[2 + i] =
          (shape_[2 + i] + w.pad_begin[i] + w.pad_end[i] - ext) / w.stride[i] +
          1;
    }
    return out;
  }

  static void set_window(sq_layer *l, const Window &w, int spatial) {
    l->spatial = spatial;
    for (int i = 0; i < spatial; i++) {
      l->kernel[i] = w.kernel[i];
      l->stride[i] = w.stride[i];
      l->dilation[i] = w.dilation[i];
      l->pad_begin[i] = w.pad_begin[i];
      l->pad_end[i] = w.pad_end[i];
    }
  }

  Dims input_, shape_;
  std::vector<sq_layer> layers_;
  uint32_t seed_ = 1;
};

// ---- naive references (double accumulation) --------------------------------

struct Tensor {
  Dims dims;
  std::vector<float> data;
};

// Spatial dims padded to 3 so 1-D/2-D/3-D share one loop nest.
struct Spatial3 {
  int64_t in[3], out[3], k[3], s[3], d[3], p[3];
  // Cells an average counts along each dim: [lo, hi), the input and the
  // padding less the uncounted part (chain.h: uncounted_*).
  int64_t lo[3], hi[3];
};

inline Spatial3 spatial3(const sq_layer &l, const Dims &in, const Dims &out) {
  Spatial3 s;
  int sp = l.spatial;
  for (int i = 0; i < 3; i++) {
    int j = i - (3 - sp); // index into the layer's spatial arrays
    bool real = j >= 0;
    s.in[i] = real ? in[2 + j] : 1;
    s.out[i] = real ? out[2 + j] : 1;
    s.k[i] = real ? l.kernel[j] : 1;
    s.s[i] = real ? l.stride[j] : 1;
    s.d[i] = real ? l.dilation[j] : 1;
    s.p[i] = real ? l.pad_begin[j] : 0;
    s.lo[i] = real ? l.uncounted_begin[j] - l.pad_begin[j] : 0;
    s.hi[i] = real ? s.in[i] + l.pad_end[j] - l.uncounted_end[j] : 1;
  }
  return s;
}

// The window cells of output (od, oh, ow) within [lo, hi) on every dim.
inline int64_t counted_cells(const Spatial3 &s, int64_t od, int64_t oh,
                             int64_t ow) {
  int64_t o[3] = {od, oh, ow}, n = 1;
  for (int i = 0; i < 3; i++) {
    int64_t inside = 0;
    for (int64_t k = 0; k < s.k[i]; k++) {
      int64_t at = o[i] * s.s[i] - s.p[i] + k * s.d[i];
      inside += at >= s.lo[i] && at < s.hi[i];
    }
    n *= inside;
  }
  return n;
}

inline void ref_linear(const sq_layer &l, const Tensor &x, Tensor *y) {
  int64_t k = x.dims.back(), n = y->dims.back(), rows = count_of(x.dims) / k;
  for (int64_t r = 0; r < rows; r++)
    for (int64_t o = 0; o < n; o++) {
      double acc = l.bias.data ? l.bias.data[o] : 0.0;
      for (int64_t i = 0; i < k; i++)
        acc += (double)x.data[(size_t)(r * k + i)] * l.weight.data[o * k + i];
      y->data[(size_t)(r * n + o)] = (float)acc;
    }
}

inline void ref_conv(const sq_layer &l, const Tensor &x, Tensor *y) {
  Spatial3 s = spatial3(l, x.dims, y->dims);
  int64_t n_batch = x.dims[0], c_in = x.dims[1], c_out = y->dims[1];
  int64_t g = l.groups, cig = c_in / g, cog = c_out / g;
  int64_t in_sp = s.in[0] * s.in[1] * s.in[2];
  int64_t out_sp = s.out[0] * s.out[1] * s.out[2];
  int64_t ksz = s.k[0] * s.k[1] * s.k[2];
  for (int64_t n = 0; n < n_batch; n++)
    for (int64_t oc = 0; oc < c_out; oc++)
      for (int64_t od = 0; od < s.out[0]; od++)
        for (int64_t oh = 0; oh < s.out[1]; oh++)
          for (int64_t ow = 0; ow < s.out[2]; ow++) {
            double acc = l.bias.data ? l.bias.data[oc] : 0.0;
            int64_t grp = oc / cog;
            for (int64_t ic = 0; ic < cig; ic++)
              for (int64_t kd = 0; kd < s.k[0]; kd++)
                for (int64_t kh = 0; kh < s.k[1]; kh++)
                  for (int64_t kw = 0; kw < s.k[2]; kw++) {
                    int64_t id = od * s.s[0] - s.p[0] + kd * s.d[0];
                    int64_t ih = oh * s.s[1] - s.p[1] + kh * s.d[1];
                    int64_t iw = ow * s.s[2] - s.p[2] + kw * s.d[2];
                    if (id < 0 || id >= s.in[0] || ih < 0 || ih >= s.in[1] ||
                        iw < 0 || iw >= s.in[2])
                      continue;
                    int64_t c = grp * cig + ic;
                    double xv =
                        x.data[(size_t)(((n * c_in + c) * in_sp) +
                                        (id * s.in[1] + ih) * s.in[2] + iw)];
                    double wv = l.weight.data[((oc * cig + ic) * ksz) +
                                              (kd * s.k[1] + kh) * s.k[2] + kw];
                    acc += xv * wv;
                  }
            y->data[(size_t)((n * c_out + oc) * out_sp +
                             (od * s.out[1] + oh) * s.out[2] + ow)] =
                (float)acc;
          }
}

inline void ref_pool(const sq_layer &l, const Tensor &x, Tensor *y) {
  Spatial3 s = spatial3(l, x.dims, y->dims);
  int64_t planes = x.dims[0] * x.dims[1];
  int64_t in_sp = s.in[0] * s.in[1] * s.in[2];
  int64_t out_sp = s.out[0] * s.out[1] * s.out[2];
  int64_t ksz = s.k[0] * s.k[1] * s.k[2];
  for (int64_t p = 0; p < planes; p++)
    for (int64_t od = 0; od < s.out[0]; od++)
      for (int64_t oh = 0; oh < s.out[1]; oh++)
        for (int64_t ow = 0; ow < s.out[2]; ow++) {
          double best = -INFINITY, sum = 0.0;
          int64_t valid = 0;
          for (int64_t kd = 0; kd < s.k[0]; kd++)
            for (int64_t kh = 0; kh < s.k[1]; kh++)
              for (int64_t kw = 0; kw < s.k[2]; kw++) {
                int64_t id = od * s.s[0] - s.p[0] + kd * s.d[0];
                int64_t ih = oh * s.s[1] - s.p[1] + kh * s.d[1];
                int64_t iw = ow * s.s[2] - s.p[2] + kw * s.d[2];
                if (id < 0 || id >= s.in[0] || ih < 0 || ih >= s.in[1] ||
                    iw < 0 || iw >= s.in[2])
                  continue;
                double v = x.data[(size_t)(p * in_sp +
                                           (id * s.in[1] + ih) * s.in[2] + iw)];
                best = std::max(best, v);
                sum += v;
                valid++;
              }
          double r;
          if (l.kind == SQ_MAXPOOL)
            r = best;
          else if (l.count_include_pad)
            r = sum / (double)counted_cells(s, od, oh, ow);
          else
            r = sum / (double)valid;
          y->data[(size_t)(p * out_sp + (od * s.out[1] + oh) * s.out[2] + ow)] =
              (float)r;
        }
}

inline void ref_norm(const sq_layer &l, const Tensor &x, Tensor *y) {
  int64_t c = x.dims[1], inner = count_of(x.dims) / x.dims[0] / c;
  for (size_t i = 0; i < x.data.size(); i++) {
    int64_t ch = ((int64_t)i / inner) % c;
    double scale = l.weight.data ? l.weight.data[ch] : 1.0;
    double shift = l.bias.data ? l.bias.data[ch] : 0.0;
    y->data[i] = (float)(x.data[i] * scale + shift);
  }
}

inline double ref_eltwise_value(const sq_layer &l, double v) {
  switch (l.kind) {
  case SQ_RELU: return v > 0 ? v : 0;
  case SQ_LEAKYRELU: return v > 0 ? v : l.alpha * v;
  case SQ_SIGMOID: return 1.0 / (1.0 + std::exp(-v));
  case SQ_TANH: return std::tanh(v);
  case SQ_ELU: return v > 0 ? v : l.alpha * (std::exp(v) - 1.0);
  default: ADD_FAILURE() << "not an eltwise kind"; return 0;
  }
}

inline void ref_softmax(const sq_layer &l, const Tensor &x, Tensor *y) {
  const Dims &d = x.dims;
  int axis = l.axis;
  int64_t outer = 1, len = 1, inner = 1;
  for (int i = 0; i < (int)d.size(); i++) {
    if (i < axis)
      outer *= d[(size_t)i];
    else if (i == axis || l.coerce_2d)
      len *= d[(size_t)i];
    else
      inner *= d[(size_t)i];
  }
  for (int64_t o = 0; o < outer; o++)
    for (int64_t in = 0; in < inner; in++) {
      auto at = [&](int64_t j) { return (size_t)((o * len + j) * inner + in); };
      double mx = -INFINITY, sum = 0;
      for (int64_t j = 0; j < len; j++)
        mx = std::max(mx, (double)x.data[at(j)]);
      for (int64_t j = 0; j < len; j++) sum += std::exp(x.data[at(j)] - mx);
      for (int64_t j = 0; j < len; j++) {
        double z = x.data[at(j)] - mx;
        y->data[at(j)] = (float)(l.kind == SQ_LOGSOFTMAX ? z - std::log(sum)
                                                         : std::exp(z) / sum);
      }
    }
}

#include "test_runtime_refs.h"

inline Tensor ref_layer(const sq_layer &l, const Tensor &x, int64_t batch) {
  Tensor y;
  y.dims = shape_dims(l.out, batch);
  y.data.assign((size_t)count_of(y.dims), 0.0f);
  if (ref_other_kind(l, x, &y)) return y;
  switch (sq_kind_family(l.kind)) {
  case SQ_FAMILY_LINEAR: ref_linear(l, x, &y); break;
  case SQ_FAMILY_CONV: ref_conv(l, x, &y); break;
  case SQ_FAMILY_POOL: ref_pool(l, x, &y); break;
  case SQ_FAMILY_NORM: ref_norm(l, x, &y); break;
  case SQ_FAMILY_ELTWISE:
    for (size_t i = 0; i < x.data.size(); i++)
      y.data[i] = (float)ref_eltwise_value(l, x.data[i]);
    break;
  case SQ_FAMILY_SOFTMAX: ref_softmax(l, x, &y); break;
  case SQ_FAMILY_RESHAPE: y.data = x.data; break;
  default: ADD_FAILURE() << "no reference for " << sq_kind_name(l.kind);
  }
  return y;
}

// Every layer's output, [0] being the chain's input.
inline std::vector<Tensor> ref_chain(const sq_chain *c, int64_t batch,
                                     const std::vector<float> &input) {
  std::vector<Tensor> acts(1);
  acts[0].dims = shape_dims(c->layers[0].in, batch);
  acts[0].data = input;
  for (int i = 0; i < c->n_layers; i++)
    acts.push_back(ref_layer(c->layers[i], acts.back(), batch));
  return acts;
}

// ---- comparisons
// --------------------------------------------------------------

inline ::testing::AssertionResult all_close(const float *actual,
                                            const std::vector<float> &expected,
                                            double tol = 1e-4) {
  for (size_t i = 0; i < expected.size(); i++) {
    double a = actual[i], e = expected[i];
    if (std::isnan(e) && std::isnan(a)) continue; // NaN where PyTorch has it
    if (!(std::fabs(a - e) <= tol + tol * std::fabs(e)))
      return ::testing::AssertionFailure()
             << "element " << i << " of " << expected.size() << ": got " << a
             << ", expected " << e;
  }
  return ::testing::AssertionSuccess();
}

// ---- running
// ------------------------------------------------------------------

struct PlanDeleter {
  void operator()(sq_plan *p) const { sq_plan_free(p); }
};
struct ExecDeleter {
  void operator()(sq_exec *e) const { sq_exec_free(e); }
};
struct ChainDeleter {
  void operator()(sq_chain *c) const { sq_chain_free(c); }
};

// Every layer's output, seen through the run callback, against the
// reference (tolerance tol).
struct Observed {
  const std::vector<Tensor> *ref;
  double tol;
  int calls = 0;
  std::vector<std::string> failures;
};

inline int check_layer(void *user, int index, const char *name,
                       const seqrt_tensor *view) {
  Observed *o = static_cast<Observed *>(user);
  const Tensor &want = (*o->ref)[(size_t)index + 1];
  o->calls++;
  if (view->dtype != SEQRT_FLOAT32 || view->rank != (int)want.dims.size() ||
      !std::equal(want.dims.begin(), want.dims.end(), view->dims)) {
    o->failures.push_back(std::string(name) + ": wrong view shape");
    return 0;
  }
  auto r = all_close(static_cast<const float *>(view->data), want.data, o->tol);
  if (!r) o->failures.push_back(std::string(name) + ": " + r.message());
  return 0;
}

inline std::vector<float> make_input(const sq_chain *chain, int64_t batch,
                                     float scale) {
  return random_vector(count_of(shape_dims(chain->layers[0].in, batch)),
                       1000 + (uint32_t)batch, scale);
}

// Runs `chain` whole on a fresh plan and compares the output (observable:
// and every layer's output) with the reference. `run_input` is what the
// runtime reads (default: `input`).
inline void check_plan(const sq_chain *chain, int64_t batch, bool observable,
                       const std::vector<float> &input, double tol,
                       const void *run_input = nullptr) {
  SCOPED_TRACE(::testing::Message() << "batch " << batch << ", "
                                    << (observable ? "observable" : "fused"));
  sq_plan *raw_plan = nullptr;
  ASSERT_EQ(sq_plan_create(chain, batch, observable, &raw_plan), SEQRT_OK)
      << seqrt_last_error();
  std::unique_ptr<sq_plan, PlanDeleter> plan(raw_plan);
  sq_exec *raw_exec = nullptr;
  ASSERT_EQ(sq_exec_create(plan.get(), &raw_exec), SEQRT_OK)
      << seqrt_last_error();
  std::unique_ptr<sq_exec, ExecDeleter> exec(raw_exec);
  std::vector<Tensor> ref = ref_chain(chain, batch, input);
  std::vector<float> output(ref.back().data.size(), NAN);
  Observed seen{&ref, tol};
  sq_run_args args{};
  args.last = chain->n_layers - 1;
  args.input = run_input ? run_input : input.data();
  args.output = output.data();
  if (observable) {
    args.callback = check_layer;
    args.user = &seen;
  }
  for (int run = 0; run < 2; run++) {
    seen = Observed{&ref, tol};
    std::fill(output.begin(), output.end(), NAN);
    ASSERT_EQ(sq_exec_run(exec.get(), &args), SEQRT_OK) << seqrt_last_error();
    EXPECT_TRUE(all_close(output.data(), ref.back().data, tol));
    if (observable) {
      EXPECT_EQ(seen.calls, chain->n_layers);
      for (const std::string &f : seen.failures) ADD_FAILURE() << f;
    }
  }
}

} // namespace sqtest

#endif
