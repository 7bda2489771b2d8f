// Every layer kind beyond the first families' basics against a naive
// double-precision reference (test_runtime_refs.h): fused and observable
// plans, batch 1 and 3, 1-D/2-D/3-D spatial shapes where the kind has them,
// standalone and after a conv (blocked layouts), layer ranges starting and
// ending inside multi-op steps, and one plan shared by four threads.
#include <memory>
#include <sstream>
#include <thread>

#include "test_runtime_util.h"

using namespace sqtest;

namespace {

// ---- layer makers ------------------------------------------------------

Window completed(Window w, size_t spatial) {
  auto fill = [spatial](Dims *d, int64_t value) {
    if (d->empty()) d->assign(spatial, value);
  };
  fill(&w.stride, 1);
  fill(&w.dilation, 1);
  fill(&w.pad_begin, 0);
  if (w.pad_end.empty()) w.pad_end = w.pad_begin;
  return w;
}

void set_window(sq_layer &l, const Window &w) {
  l.spatial = (int)w.kernel.size();
  for (size_t i = 0; i < w.kernel.size(); i++) {
    l.kernel[i] = w.kernel[i];
    l.stride[i] = w.stride[i];
    l.dilation[i] = w.dilation[i];
    l.pad_begin[i] = w.pad_begin[i];
    l.pad_end[i] = w.pad_end[i];
  }
}

void lppool(ChainMaker &m, float p, Window w, bool abs_values = false) {
  m.pool(SQ_LPPOOL, w);
  sq_layer &l = m.layer(m.size() - 1);
  l.alpha = p;
  l.lp_abs = abs_values;
}

// The last layer's average leaves the outer `begin` / `end` cells of its
// pads uncounted (chain.h): ceil_mode's overhang past the padded input, or
// an AveragePool's own pads around the zeros of a Pad.
void uncounted(ChainMaker &m, Dims begin, Dims end) {
  sq_layer &l = m.layer(m.size() - 1);
  for (size_t i = 0; i < end.size(); i++) {
    l.uncounted_begin[i] = begin.empty() ? 0 : begin[i];
    l.uncounted_end[i] = end[i];
  }
}

void group_norm(ChainMaker &m, sq_kind kind, int64_t groups, bool affine,
                float epsilon = 1e-5f) {
  int64_t c = m.shape()[1];
  sq_layer &l = m.custom(kind, m.shape());
  l.groups = groups;
  l.epsilon = epsilon;
  if (affine) {
    m.weights(&l.weight, {c}, 0.5f, 1.0f);
    m.weights(&l.bias, {c}, 0.5f);
  }
}

void layer_norm(ChainMaker &m, int axis, bool weight, bool bias) {
  Dims shape = m.shape(), norm(shape.begin() + axis, shape.end());
  sq_layer &l = m.custom(SQ_LAYERNORM, shape);
  l.axis = axis;
  l.epsilon = 1e-5f;
  if (weight) m.weights(&l.weight, norm, 0.5f, 1.0f);
  if (bias) m.weights(&l.bias, norm, 0.5f);
}

void lrn(ChainMaker &m, int64_t size, float alpha, float beta, float k) {
  sq_layer &l = m.custom(SQ_LRN, m.shape());
  l.kernel[0] = size;
  l.alpha = alpha;
  l.beta = beta;
  l.epsilon = k;
}

void eltwise2(ChainMaker &m, sq_kind kind, float alpha, float beta) {
  m.eltwise(kind, alpha);
  m.layer(m.size() - 1).beta = beta;
}

void prelu(ChainMaker &m, bool per_channel) {
  sq_layer &l = m.custom(SQ_PRELU, m.shape());
  m.weights(&l.weight, {per_channel ? m.shape()[1] : 1}, 0.3f, 0.2f);
}

void glu(ChainMaker &m, int axis) {
  Dims out = m.shape();
  out[(size_t)axis] /= 2;
  m.custom(SQ_GLU, out).axis = axis;
}

// Circular: true wrap-around unless `from` (circular_from) is given.
void pad(ChainMaker &m, sq_pad_mode mode, Dims begin, Dims end,
         float value = 0.0f, Dims from = {}) {
  Dims in = m.shape(), out = in;
  for (size_t i = 0; i < begin.size(); i++) out[2 + i] += begin[i] + end[i];
  sq_layer &l = m.custom(SQ_PAD, out);
  l.pad_mode = mode;
  l.pad_value = value;
  l.spatial = (int)begin.size();
  for (size_t i = 0; i < begin.size(); i++) {
    l.pad_begin[i] = begin[i];
    l.pad_end[i] = end[i];
    l.circular_from[i] = from.empty() ? in[2 + i] - begin[i] : from[i];
  }
}

// A CONV pre-padding its input in `mode` (padding_mode), then convolving
// with the window `w` (its own zero padding). Circular: true wrap-around
// unless `from` is given.
void prepadded_conv(ChainMaker &m, sq_pad_mode mode, Dims begin, Dims end,
                    int64_t out_ch, Window w, int64_t groups = 1,
                    Dims from = {}) {
  Dims in = m.shape(), out = in;
  size_t sp = in.size() - 2;
  w = completed(w, sp);
  out[1] = out_ch;
  int64_t fan = in[1] / groups;
  Dims wdims = {out_ch, in[1] / groups};
  for (size_t i = 0; i < sp; i++) {
    int64_t padded = in[2 + i] + begin[i] + end[i];
    int64_t span = (w.kernel[i] - 1) * w.dilation[i] + 1;
    out[2 + i] =
        (padded + w.pad_begin[i] + w.pad_end[i] - span) / w.stride[i] + 1;
    wdims.push_back(w.kernel[i]);
    fan *= w.kernel[i];
  }
  sq_layer &l = m.custom(SQ_CONV, out);
  set_window(l, w);
  l.groups = groups;
  l.pad_mode = mode;
  for (size_t i = 0; i < sp; i++) {
    l.prepad_begin[i] = begin[i];
    l.prepad_end[i] = end[i];
    l.circular_from[i] = from.empty() ? in[2 + i] - begin[i] : from[i];
  }
  m.weights(&l.weight, wdims, 1.0f / std::sqrt((float)fan));
  m.weights(&l.bias, {out_ch}, 0.5f);
}

// scales: as ONNX gives them; empty: out/in.
void upsample(ChainMaker &m, sq_resize_mode mode, sq_resize_coord coord,
              Dims out_spatial, std::vector<float> scales = {},
              sq_resize_nearest nearest = SQ_NEAREST_FLOOR) {
  Dims in = m.shape(), out = in;
  for (size_t i = 0; i < out_spatial.size(); i++) out[2 + i] = out_spatial[i];
  sq_layer &l = m.custom(SQ_UPSAMPLE, out);
  l.resize_mode = mode;
  l.resize_coord = coord;
  l.resize_nearest = nearest;
  for (size_t i = 0; i < out_spatial.size(); i++)
    l.scales[i] =
        scales.empty() ? (float)out_spatial[i] / (float)in[2 + i] : scales[i];
}

void shuffle(ChainMaker &m, sq_kind kind, int64_t block) {
  Dims out = m.shape();
  size_t r = out.size();
  if (kind == SQ_PIXELSHUFFLE) {
    out[r - 3] /= block * block;
    out[r - 2] *= block;
    out[r - 1] *= block;
  } else if (kind == SQ_PIXELUNSHUFFLE) {
    out[r - 3] *= block * block;
    out[r - 2] /= block;
    out[r - 1] /= block;
  }
  m.custom(kind, out).block = block;
}

void reduce(ChainMaker &m, sq_kind kind, const std::vector<int> &axes,
            bool keep) {
  Dims in = m.shape(), out;
  bool reduced[SQ_MAX_RANK] = {};
  for (int a : axes) reduced[a] = true;
  for (size_t d = 0; d < in.size(); d++)
    if (!reduced[d] || keep) out.push_back(reduced[d] ? 1 : in[d]);
  sq_layer &l = m.custom(kind, out);
  std::copy(reduced, reduced + SQ_MAX_RANK, l.reduced);
}

// ---- running -------------------------------------------------------------

void check_chain(ChainMaker &maker, double tol = 1e-4, float scale = 1.0f) {
  std::unique_ptr<sq_chain, ChainDeleter> chain(maker.build());
  for (int64_t batch : {1, 3})
    for (bool observable : {false, true})
      check_plan(chain.get(), batch, observable,
                 make_input(chain.get(), batch, scale), tol);
}

std::string plan_text(const sq_chain *chain, int64_t batch, bool observable) {
  sq_plan *plan = nullptr;
  EXPECT_EQ(sq_plan_create(chain, batch, observable, &plan), SEQRT_OK)
      << seqrt_last_error();
  if (!plan) return "";
  char *text = nullptr;
  size_t size = 0;
  FILE *f = open_memstream(&text, &size);
  sq_plan_print(plan, f);
  fclose(f);
  std::string s(text, size);
  free(text);
  sq_plan_free(plan);
  return s;
}

} // namespace

// ---- ConvTranspose -------------------------------------------------------

TEST(RuntimeConvTranspose, OneDOutputPaddingAndNoBias) {
  ChainMaker m({-1, 3, 9});
  m.conv_transpose(8, {{3}, {2}, {1}, {1}, {}}, {1});
  m.conv_transpose(4, {{4}, {3}, {2}, {0}, {2}}, {1}, 1, false);
  check_chain(m);
}

TEST(RuntimeConvTranspose, TwoDGroupsDilationAfterConv) {
  ChainMaker m({-1, 3, 7, 6});
  m.conv(16, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}}).eltwise(SQ_RELU);
  m.conv_transpose(8, {{3, 2}, {2, 2}, {2, 1}, {1, 0}, {0, 1}}, {1, 1}, 4);
  m.conv_transpose(6, {{2, 2}, {2, 2}}, {}, 2);
  m.conv(4, {{1, 1}});
  check_chain(m);
}

// Fewer than 16 output channels and one group: seqrt's kernel (sgemm and
// gather), with every window parameter.
TEST(RuntimeConvTranspose, TwoDFewOutputChannels) {
  ChainMaker m({-1, 5, 6, 7});
  m.conv_transpose(3, {{3, 4}, {2, 3}, {2, 1}, {1, 2}, {0, 1}}, {1, 2});
  m.conv_transpose(1, {{4, 4}, {2, 2}, {}, {1, 1}, {}}, {}, 1, false);
  check_chain(m);
}

TEST(RuntimeConvTranspose, ThreeDAndFusedRecipes) {
  ChainMaker m({-1, 4, 3, 4, 3});
  m.conv_transpose(6, {{2, 3, 2}, {2, 1, 2}, {1, 1, 1}, {0, 1, 1}, {}},
                   {1, 0, 0});
  eltwise2(m, SQ_SELU, 1.6732632f, 1.0507009f);
  m.eltwise(SQ_GELU);
  m.conv_transpose(3, {{3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {}}, {});
  eltwise2(m, SQ_HARDSIGMOID, 1.0f / 6.0f, 0.5f);
  check_chain(m);
}

// ---- LPPool --------------------------------------------------------------

// ---- average pools over uncounted padding --------------------------------

// PyTorch's AvgPool(count_include_pad=True, ceil_mode=True): the last
// windows hang past the padded input and divide by the padded cells they
// cover. Some padding counted and some not: the input is padded explicitly
// (a kernel into the spare buffer, then the pool excluding the rest); only
// uncounted: the pool excludes it. First layer (the caller's input), after
// a conv (blocked layouts), 1-D, 2-D, 3-D, uncounted begin pads too.
TEST(RuntimePool, UncountedPaddingOneTwoThreeD) {
  ChainMaker m({-1, 3, 9});
  m.pool(SQ_AVGPOOL, {{4}, {3}, {1}, {1}, {3}}, true); // AvgPool1d(4, 3, 1)
  uncounted(m, {}, {2});
  m.pool(SQ_AVGPOOL, {{3}, {2}, {1}, {0}, {1}}, true); // 4: overhang only
  uncounted(m, {}, {1});
  check_chain(m);
  { // one step; the padded copy (3 x 3 x 11 floats at batch 3) in a buffer
    ChainMaker one({-1, 3, 9});
    one.pool(SQ_AVGPOOL, {{4}, {3}, {1}, {1}, {3}}, true);
    uncounted(one, {}, {2});
    std::unique_ptr<sq_chain, ChainDeleter> chain(one.build());
    sq_plan *raw = nullptr;
    ASSERT_EQ(sq_plan_create(chain.get(), 3, false, &raw), SEQRT_OK)
        << seqrt_last_error();
    std::unique_ptr<sq_plan, PlanDeleter> plan(raw);
    sq_plan_stats stats;
    sq_plan_get_stats(plan.get(), &stats);
    EXPECT_EQ(stats.steps, 1);
    EXPECT_GE(stats.activation_bytes, 3u * 3 * 11 * sizeof(float));
  }
  ChainMaker m2({-1, 3, 7, 6});
  m2.conv(16, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}});
  m2.pool(SQ_AVGPOOL, {{3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 2}}, true);
  uncounted(m2, {}, {0, 1});
  m2.pool(SQ_AVGPOOL, {{2, 3}, {1, 2}, {1, 1}, {2, 1}, {1, 2}}, true);
  uncounted(m2, {1, 0}, {0, 1}); // own pads around a Pad's counted zeros
  check_chain(m2);
  ChainMaker m3({-1, 2, 5, 6, 4});
  m3.pool(SQ_AVGPOOL, {{3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}, {1, 2, 2}},
          true);
  uncounted(m3, {}, {0, 1, 1});
  check_chain(m3);
}

TEST(RuntimeLPPool, TwoDAfterConvAndFirst) {
  ChainMaker m({-1, 3, 9, 8});
  lppool(m, 2.0f, {{2, 2}, {2, 2}});
  m.conv(16, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}});
  lppool(m, 3.0f, {{3, 2}, {2, 1}, {1, 1}, {1, 0}, {1, 1}});
  check_chain(m);
}

TEST(RuntimeLPPool, OddPowersNegativeInputsOneDAndThreeD) {
  ChainMaker m({-1, 2, 11});
  lppool(m, 3.0f, {{3}, {2}}); // PyTorch: (sum of x^3)^(1/3), NaN if < 0
  lppool(m, 1.0f, {{2}, {1}});
  check_chain(m);
  ChainMaker a({-1, 2, 11});
  lppool(a, 3.0f, {{3}, {2}}, true); // ONNX LpPool: |x|
  lppool(a, 1.0f, {{2}, {1}}, true);
  lppool(a, 1.5f, {{2}, {1}, {1}, {1}, {}}, true);
  check_chain(a);
  ChainMaker m3({-1, 3, 4, 5, 6});
  m3.conv(8, {{1, 1, 1}}).eltwise(SQ_SIGMOID);
  lppool(m3, 2.5f, {{2, 2, 3}, {2, 2, 2}});
  check_chain(m3);
}

// A window over uncounted padding scales its sum by kernel / counted cells
// (PyTorch's LPPool with ceil_mode). Only uncounted padding: the pool
// excludes it; some padding counted too: the input is padded explicitly
// and the powers run on that copy (with |x|: pad, abs, pow, pool).
TEST(RuntimeLPPool, UncountedPaddingScalesTheSum) {
  ChainMaker m({-1, 2, 7, 8});
  lppool(m, 2.0f, {{3, 3}, {2, 2}, {1, 1}, {0, 0}, {0, 1}}); // 7x8 -> 3x4
  uncounted(m, {}, {0, 1});
  lppool(m, 3.0f, {{2, 2}, {1, 2}, {1, 1}, {1, 1}, {1, 2}}, true);
  uncounted(m, {}, {0, 1});
  check_chain(m);
  ChainMaker m1({-1, 3, 9}); // p = 1: the pool reads the padded copy
  m1.conv(8, {{3}, {1}, {1}, {1}, {}}).eltwise(SQ_RELU);
  lppool(m1, 1.0f, {{2}, {2}, {1}, {1}, {2}}); // last window: 9 counted, 10 not
  uncounted(m1, {}, {1});
  check_chain(m1);
}

// ---- normalisations ------------------------------------------------------

TEST(RuntimeNorms, InstanceNormOneTwoThreeD) {
  ChainMaker m({-1, 3, 17});
  group_norm(m, SQ_INSTANCENORM, 0, true);
  group_norm(m, SQ_INSTANCENORM, 0, false);
  check_chain(m, 1e-4, 3.0f);
  ChainMaker m2({-1, 3, 6, 7});
  m2.conv(16, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}});
  group_norm(m2, SQ_INSTANCENORM, 0, true, 1e-3f);
  m2.eltwise(SQ_RELU); // fused into the normalisation in fused plans
  m2.conv(8, {{3, 3}});
  check_chain(m2);
  ChainMaker m3({-1, 2, 3, 4, 5});
  group_norm(m3, SQ_INSTANCENORM, 0, true);
  check_chain(m3);
}

TEST(RuntimeNorms, GroupNormGroups) {
  for (int64_t groups : {1, 2, 4, 8}) {
    SCOPED_TRACE(::testing::Message() << groups << " groups");
    ChainMaker m({-1, 3, 5, 6});
    m.conv(8, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}});
    group_norm(m, SQ_GROUPNORM, groups, true);
    m.eltwise(SQ_RELU);
    group_norm(m, SQ_GROUPNORM, groups, false);
    check_chain(m);
  }
  ChainMaker m1({-1, 6, 10});
  group_norm(m1, SQ_GROUPNORM, 3, true);
  m1.eltwise(SQ_SILU);
  check_chain(m1);
}

TEST(RuntimeNorms, LayerNormAxesAndAffine) {
  ChainMaker m({-1, 4, 10});
  m.linear(12);
  layer_norm(m, 2, true, true);
  layer_norm(m, 1, true, true);
  layer_norm(m, 2, true, false);
  layer_norm(m, 2, false, true);
  layer_norm(m, 2, false, false);
  check_chain(m, 1e-4, 2.0f);
  ChainMaker c({-1, 3, 6, 5});
  c.conv(16, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}});
  layer_norm(c, 2, true, true);
  layer_norm(c, 3, true, false);
  check_chain(c);
}

TEST(RuntimeNorms, LocalResponseNormSizes) {
  for (int64_t size : {1, 2, 3, 4, 5}) {
    SCOPED_TRACE(::testing::Message() << "size " << size);
    ChainMaker m({-1, 3, 6, 5});
    m.conv(16, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}});
    lrn(m, size, 0.5f, 0.75f, 2.0f);
    m.conv(4, {{1, 1}});
    lrn(m, size, 1e-2f, 0.6f, 1.0f);
    check_chain(m, 1e-4, 2.0f);
  }
  ChainMaker m1({-1, 7, 9});
  lrn(m1, 3, 0.1f, 0.75f, 1.0f);
  lrn(m1, 4, 0.1f, 0.75f, 1.0f);
  check_chain(m1, 1e-4, 2.0f);
  ChainMaker m2({-1, 10});
  lrn(m2, 5, 0.3f, 0.75f, 1.0f);
  check_chain(m2, 1e-4, 2.0f);
  ChainMaker m5({-1, 5, 2, 3, 4});
  lrn(m5, 3, 0.2f, 0.5f, 1.5f);
  lrn(m5, 2, 0.2f, 0.5f, 1.5f);
  check_chain(m5, 1e-4, 2.0f);
}

// ---- eltwise -------------------------------------------------------------

struct EltwiseCase {
  sq_kind kind;
  float alpha, beta;
};

const EltwiseCase kEltwiseCases[] = {
    {SQ_RELU6, 0.0f, 6.0f},
    {SQ_HARDTANH, -0.5f, 1.5f},
    {SQ_LOGSIGMOID, 0.0f, 0.0f},
    {SQ_CELU, 1.0f, 0.0f},
    {SQ_CELU, 0.7f, 0.0f},
    {SQ_SELU, 1.6732632f, 1.0507009f},
    {SQ_GELU, 0.0f, 0.0f},
    {SQ_GELU_TANH, 0.0f, 0.0f},
    {SQ_SILU, 0.0f, 0.0f},
    {SQ_MISH, 0.0f, 0.0f},
    {SQ_HARDSIGMOID, 1.0f / 6.0f, 0.5f},
    {SQ_HARDSIGMOID, 0.2f, 0.5f},
    {SQ_HARDSWISH, 0.0f, 0.0f},
    {SQ_SOFTPLUS, 1.0f, 0.0f},
    {SQ_SOFTPLUS, 2.0f, 0.0f},
    {SQ_SOFTSIGN, 0.0f, 0.0f},
    {SQ_TANHSHRINK, 0.0f, 0.0f},
    {SQ_SOFTSHRINK, 0.5f, 0.0f},
    {SQ_HARDSHRINK, 0.5f, 0.0f},
    {SQ_THRESHOLD, 0.3f, -2.0f},
};

std::string case_name(const EltwiseCase &c) {
  std::ostringstream s;
  s << sq_kind_name(c.kind) << "(" << c.alpha << ", " << c.beta << ")";
  return s.str();
}

TEST(RuntimeEltwiseKinds, EveryKindStandalone) {
  for (const EltwiseCase &c : kEltwiseCases) {
    SCOPED_TRACE(case_name(c));
    ChainMaker m({-1, 2, 3, 7});
    eltwise2(m, c.kind, c.alpha, c.beta);
    check_chain(m, 1e-5, 4.0f);
    ChainMaker twice({-1, 19});
    eltwise2(twice, c.kind, c.alpha, c.beta);
    eltwise2(twice, c.kind, c.alpha, c.beta);
    check_chain(twice, 1e-5, 3.0f);
  }
}

TEST(RuntimeEltwiseKinds, EveryKindAfterConvAndLinear) {
  for (const EltwiseCase &c : kEltwiseCases) {
    SCOPED_TRACE(case_name(c));
    ChainMaker m({-1, 3, 6, 5});
    m.conv(16, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}});
    eltwise2(m, c.kind, c.alpha, c.beta);
    m.eltwise(SQ_TANH);
    m.conv(8, {{3, 3}}).flatten().linear(12);
    eltwise2(m, c.kind, c.alpha, c.beta);
    check_chain(m, 1e-4, 2.0f);
  }
}

TEST(RuntimeEltwiseKinds, PReLU) {
  ChainMaker m({-1, 3, 6, 5});
  prelu(m, true);
  m.conv(16, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}});
  prelu(m, true);
  m.eltwise(SQ_GELU);
  prelu(m, false);
  m.flatten().linear(7);
  prelu(m, true);
  prelu(m, false);
  check_chain(m, 1e-4);
  ChainMaker m1({-1, 4, 9});
  prelu(m1, true);
  check_chain(m1, 1e-5);
}

// A fused plan joins a conv and the recipes after it into one step; it
// stops at a kind without one, and before an algorithm already in the
// chain with other parameters (oneDNN 2.6 would reuse the first's).
TEST(RuntimeEltwiseKinds, FusionStopsAtKernelsAndRepeatedAlgorithms) {
  ChainMaker m({-1, 3, 8, 8});
  m.conv(16, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}});
  eltwise2(m, SQ_CELU, 0.7f, 0.0f);     // linear, elu, pow
  eltwise2(m, SQ_SOFTPLUS, 2.0f, 0.0f); // linear again: a new step
  m.eltwise(SQ_SOFTSIGN);
  m.eltwise(SQ_MISH);
  m.conv(8, {{3, 3}});
  m.eltwise(SQ_LEAKYRELU, 0.1f);
  m.eltwise(SQ_LEAKYRELU, 0.5f); // relu with another slope: a new step
  m.eltwise(SQ_LEAKYRELU, 0.5f);
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  std::string text = plan_text(chain.get(), 2, false);
  for (const char *step :
       {"layers 0..1 Conv_0", "layers 2..2 Softplus_2",
        "layers 3..3 Softsign_3 (Softsign) threads=1 impl=kernel",
        "layers 4..4 Mish_4", "layers 5..6 Conv_5", "layers 7..7 LeakyReLU_7",
        "layers 8..8 LeakyReLU_8"})
    EXPECT_NE(text.find(step), std::string::npos) << step << "\n" << text;
  for (bool observable : {false, true})
    check_plan(chain.get(), 2, observable, make_input(chain.get(), 2, 1.0f),
               1e-4);
}

// ---- softmin, GLU --------------------------------------------------------

TEST(RuntimeSoftmin, AxesCoerceAndAfterConv) {
  for (int axis = 0; axis < 4; axis++)
    for (bool coerce : {false, true}) {
      SCOPED_TRACE(::testing::Message()
                   << "axis " << axis << " coerce " << coerce);
      ChainMaker m({-1, 3, 4, 5});
      m.softmax(SQ_SOFTMIN, axis, coerce);
      check_chain(m, 1e-5, 3.0f);
    }
  ChainMaker c({-1, 3, 6, 6});
  c.conv(16, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}}).softmax(SQ_SOFTMIN, 1);
  c.softmax(SQ_SOFTMIN, 3);
  check_chain(c);
}

TEST(RuntimeGLU, AxesAndAfterConv) {
  ChainMaker m({-1, 6, 4, 10});
  glu(m, 3);
  glu(m, 1);
  glu(m, 2);
  check_chain(m, 1e-5, 3.0f);
  ChainMaker c({-1, 3, 6, 6});
  c.conv(16, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}});
  glu(c, 1);
  c.flatten().linear(8);
  glu(c, 1);
  check_chain(c);
}

// ---- pad -----------------------------------------------------------------

TEST(RuntimePad, EveryModeOneTwoThreeD) {
  for (sq_pad_mode mode :
       {SQ_PAD_CONSTANT, SQ_PAD_REFLECT, SQ_PAD_REPLICATE, SQ_PAD_CIRCULAR}) {
    SCOPED_TRACE(::testing::Message() << "mode " << mode);
    ChainMaker m1({-1, 2, 7});
    pad(m1, mode, {3}, {2}, 1.5f);
    pad(m1, mode, {-2}, {4}, -0.5f); // crop the front
    check_chain(m1);
    ChainMaker m2({-1, 3, 5, 6});
    m2.conv(16, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}});
    pad(m2, mode, {1, 2}, {2, 0}, 0.25f);
    pad(m2, mode, {0, -1}, {-2, 1});
    m2.conv(4, {{3, 3}});
    check_chain(m2);
    ChainMaker m3({-1, 2, 3, 4, 5});
    pad(m3, mode, {1, 2, 0}, {2, 1, 3}, 2.0f);
    check_chain(m3);
  }
}

TEST(RuntimePad, WideReflectAndCircular) {
  // Pads wider than the input (ONNX allows them; PyTorch does not).
  ChainMaker m({-1, 2, 3, 4});
  pad(m, SQ_PAD_REFLECT, {5, 4}, {6, 7});
  pad(m, SQ_PAD_CIRCULAR, {9, 1}, {2, 13});
  check_chain(m);
}

TEST(RuntimePad, CircularAsTorchExportsIt) {
  // torch 1.13's Conv(padding_mode='circular') copies one element early.
  ChainMaker m({-1, 3, 6, 7});
  pad(m, SQ_PAD_CIRCULAR, {2, 1}, {2, 1}, 0.0f, {6 - 2 - 1, 7 - 1 - 1});
  m.conv(4, {{3, 3}});
  pad(m, SQ_PAD_CIRCULAR, {1, 0}, {0, 2}, 0.0f, {0, 5});
  check_chain(m);
  // By hand: rows begin at row 1 (true wrap-around), columns at column 2
  // (one early), the end wraps to the start.
  ChainMaker h({1, 1, 2, 5});
  pad(h, SQ_PAD_CIRCULAR, {1, 2}, {0, 1}, 0.0f, {1, 2});
  std::unique_ptr<sq_chain, ChainDeleter> chain(h.build());
  Tensor x{{1, 1, 2, 5}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}};
  std::vector<float> want = {7, 8, 5, 6, 7, 8, 9, 5, 2, 3, 0, 1,
                             2, 3, 4, 0, 7, 8, 5, 6, 7, 8, 9, 5};
  EXPECT_EQ(ref_layer(chain->layers[0], x, 1).data, want);
  check_plan(chain.get(), 1, false, x.data, 0.0);
}

// ---- conv with padding_mode ------------------------------------------------

// One step: the padding kernel into the spare buffer, then the convolution
// (after a blocked conv: an in-reorder; before a ReLU: a fused post-op).
TEST(RuntimePrepaddedConv, EveryModeOneTwoThreeD) {
  for (sq_pad_mode mode :
       {SQ_PAD_REFLECT, SQ_PAD_REPLICATE, SQ_PAD_CIRCULAR, SQ_PAD_CONSTANT}) {
    SCOPED_TRACE(::testing::Message() << "mode " << mode);
    ChainMaker m1({-1, 3, 11});
    prepadded_conv(m1, mode, {2}, {2}, 4, {{5}});
    prepadded_conv(m1, mode, {1}, {3}, 6, {{3}, {2}, {1}, {2}}, 2);
    check_chain(m1);
    ChainMaker m2({-1, 3, 6, 7});
    m2.conv(16, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}});
    prepadded_conv(m2, mode, {1, 2}, {1, 2}, 8, {{3, 5}, {2, 1}});
    m2.eltwise(SQ_RELU);
    prepadded_conv(m2, mode, {1, 0}, {2, 1}, 8, {{3, 3}, {1, 1}, {1, 1}},
                   8); // depthwise, with zero padding of its own too
    check_chain(m2);
    ChainMaker m3({-1, 2, 4, 5, 6});
    prepadded_conv(m3, mode, {1, 1, 1}, {1, 1, 1}, 3, {{3, 3, 3}});
    check_chain(m3);
  }
}

TEST(RuntimePrepaddedConv, CircularAsTorchExportsIt) {
  // torch 1.13's export wraps one element early; the layer says where from.
  ChainMaker m({-1, 3, 6, 7});
  prepadded_conv(m, SQ_PAD_CIRCULAR, {2, 1}, {2, 1}, 4, {{3, 3}}, 1,
                 {6 - 2 - 1, 7 - 1 - 1});
  check_chain(m);
}

// The observable plan has one step for the layer, and its callback sees
// only the convolution's output (check_plan counts one call per layer).
TEST(RuntimePrepaddedConv, OneStepPerLayer) {
  ChainMaker m({-1, 3, 8, 8});
  prepadded_conv(m, SQ_PAD_REFLECT, {1, 1}, {1, 1}, 4, {{3, 3}});
  m.eltwise(SQ_RELU);
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  for (bool observable : {false, true}) {
    sq_plan *raw = nullptr;
    ASSERT_EQ(sq_plan_create(chain.get(), 2, observable, &raw), SEQRT_OK)
        << seqrt_last_error();
    std::unique_ptr<sq_plan, PlanDeleter> plan(raw);
    sq_plan_stats stats;
    sq_plan_get_stats(plan.get(), &stats);
    EXPECT_EQ(stats.steps, observable ? 2 : 1); // the ReLU fuses
    // the padded input [2, 3, 10, 10] lives in a ping-pong buffer
    EXPECT_GE(stats.activation_bytes, (size_t)2 * 3 * 10 * 10 * 4);
  }
  // the padding kernel, then the convolution primitive
  std::string text = plan_text(chain.get(), 2, false);
  EXPECT_NE(text.find("impl=kernel+"), std::string::npos) << text;
  check_plan(chain.get(), 2, true, make_input(chain.get(), 2, 1.0f), 1e-4);
}

// ---- upsample ------------------------------------------------------------

struct ResizeCase {
  sq_resize_mode mode;
  sq_resize_coord coord;
  sq_resize_nearest nearest;
};

TEST(RuntimeUpsample, EveryModeOneTwoThreeD) {
  const ResizeCase cases[] = {
      {SQ_RESIZE_NEAREST, SQ_COORD_ASYMMETRIC, SQ_NEAREST_FLOOR},
      {SQ_RESIZE_NEAREST, SQ_COORD_ASYMMETRIC, SQ_NEAREST_CEIL},
      {SQ_RESIZE_NEAREST, SQ_COORD_HALF_PIXEL, SQ_NEAREST_ROUND_PREFER_FLOOR},
      {SQ_RESIZE_NEAREST, SQ_COORD_ALIGN_CORNERS, SQ_NEAREST_ROUND_PREFER_CEIL},
      {SQ_RESIZE_NEAREST, SQ_COORD_ASYMMETRIC, SQ_NEAREST_ROUND_PREFER_FLOOR},
      {SQ_RESIZE_NEAREST, SQ_COORD_PYTORCH_HALF_PIXEL,
       SQ_NEAREST_ROUND_PREFER_CEIL},
      {SQ_RESIZE_LINEAR, SQ_COORD_HALF_PIXEL, SQ_NEAREST_FLOOR},
      {SQ_RESIZE_LINEAR, SQ_COORD_PYTORCH_HALF_PIXEL, SQ_NEAREST_FLOOR},
      {SQ_RESIZE_LINEAR, SQ_COORD_ALIGN_CORNERS, SQ_NEAREST_FLOOR},
      {SQ_RESIZE_LINEAR, SQ_COORD_ASYMMETRIC, SQ_NEAREST_FLOOR},
  };
  for (const ResizeCase &c : cases) {
    SCOPED_TRACE(::testing::Message() << "mode " << c.mode << " coord "
                                      << c.coord << " nearest " << c.nearest);
    ChainMaker m1({-1, 2, 5});
    upsample(m1, c.mode, c.coord, {10}, {}, c.nearest);
    upsample(m1, c.mode, c.coord, {13}, {}, c.nearest); // x1.3
    upsample(m1, c.mode, c.coord, {4}, {}, c.nearest);  // down
    upsample(m1, c.mode, c.coord, {1}, {}, c.nearest);
    check_chain(m1);
    ChainMaker m2({-1, 3, 4, 5});
    m2.conv(16, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}});
    upsample(m2, c.mode, c.coord, {8, 15}, {}, c.nearest);
    upsample(m2, c.mode, c.coord, {12, 15}, {1.5f, 1.0f}, c.nearest);
    m2.conv(4, {{3, 3}});
    check_chain(m2);
    ChainMaker m3({-1, 2, 3, 4, 2});
    upsample(m3, c.mode, c.coord, {6, 8, 5}, {2.0f, 2.0f, 2.5f}, c.nearest);
    check_chain(m3);
  }
}

TEST(RuntimeUpsample, ScalesApartFromSizes) {
  // ONNX computes coordinates from the given scales: 7 -> 17 with scale 2.5.
  ChainMaker m({-1, 2, 7});
  upsample(m, SQ_RESIZE_LINEAR, SQ_COORD_HALF_PIXEL, {17}, {2.5f});
  upsample(m, SQ_RESIZE_NEAREST, SQ_COORD_ASYMMETRIC, {42}, {2.5f});
  check_chain(m);
}

TEST(RuntimeUpsample, OneDNNWhereItMatchesKernelElsewhere) {
  ChainMaker m({-1, 3, 4, 5});
  upsample(m, SQ_RESIZE_NEAREST, SQ_COORD_ASYMMETRIC, {8, 10}); // PyTorch
  upsample(m, SQ_RESIZE_LINEAR, SQ_COORD_HALF_PIXEL, {16, 20});
  upsample(m, SQ_RESIZE_LINEAR, SQ_COORD_ALIGN_CORNERS, {20, 25});
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  std::string text = plan_text(chain.get(), 1, true);
  std::istringstream lines(text);
  std::string line;
  std::vector<std::string> impls;
  while (std::getline(lines, line))
    if (line.find("impl=") != std::string::npos)
      impls.push_back(line.substr(line.find("impl=") + 5, 6));
  ASSERT_EQ(impls.size(), 3u) << text;
  EXPECT_NE(impls[0], "kernel") << text;
  EXPECT_NE(impls[1], "kernel") << text;
  EXPECT_EQ(impls[2], "kernel") << text;
}

// ---- shuffles ------------------------------------------------------------

TEST(RuntimeShuffle, PixelShuffleAndUnshuffle) {
  ChainMaker m({-1, 8, 3, 6});
  shuffle(m, SQ_PIXELSHUFFLE, 2);
  shuffle(m, SQ_PIXELUNSHUFFLE, 2);
  shuffle(m, SQ_PIXELUNSHUFFLE, 3);
  shuffle(m, SQ_PIXELSHUFFLE, 3);
  check_chain(m);
  ChainMaker c({-1, 3, 6, 6});
  c.conv(18, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}});
  shuffle(c, SQ_PIXELSHUFFLE, 3);
  c.conv(4, {{3, 3}});
  shuffle(c, SQ_PIXELUNSHUFFLE, 2);
  check_chain(c);
}

TEST(RuntimeShuffle, ChannelShuffleRanks) {
  ChainMaker m2({-1, 12});
  shuffle(m2, SQ_CHANNELSHUFFLE, 3);
  shuffle(m2, SQ_CHANNELSHUFFLE, 4);
  check_chain(m2);
  ChainMaker m4({-1, 3, 5, 4});
  m4.conv(16, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}});
  shuffle(m4, SQ_CHANNELSHUFFLE, 4);
  m4.conv(6, {{1, 1}});
  shuffle(m4, SQ_CHANNELSHUFFLE, 2);
  check_chain(m4);
}

// ---- reductions ----------------------------------------------------------

const sq_kind reduce_kinds[] = {SQ_REDUCEMEAN, SQ_REDUCESUM,      SQ_REDUCEMAX,
                                SQ_REDUCEMIN,  SQ_REDUCEPROD,     SQ_REDUCEL1,
                                SQ_REDUCEL2,   SQ_REDUCESUMSQUARE};

TEST(RuntimeReduce, EveryKindKeptOrDropped) {
  for (sq_kind kind : reduce_kinds)
    for (bool keep : {true, false}) {
      SCOPED_TRACE(std::string(sq_kind_name(kind)) + (keep ? " kept" : ""));
      ChainMaker m({-1, 4, 5, 6});
      // a product of few values, so that it stays well within float
      reduce(m, kind,
             kind == SQ_REDUCEPROD ? std::vector<int>{3}
                                   : std::vector<int>{1, 3},
             keep);
      check_chain(m);
    }
}

TEST(RuntimeReduce, AfterConvBeforeLinear) {
  ChainMaker m({-1, 3, 6, 6});
  m.conv(8, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}}).eltwise(SQ_RELU);
  reduce(m, SQ_REDUCEMAX, {2, 3}, false);
  m.linear(5);
  reduce(m, SQ_REDUCEL2, {1}, true);
  check_chain(m);
}

void normalize(ChainMaker &m, const std::vector<int> &axes, float p,
               float eps) {
  sq_layer &l = m.custom(SQ_NORMALIZE, m.shape());
  for (int a : axes) l.reduced[a] = true;
  l.alpha = p;
  l.epsilon = eps;
}

// First (reading the caller's input), in the middle and last; norms below
// epsilon are clipped to it.
TEST(RuntimeReduce, NormalizeAnywhereInTheChain) {
  for (float p : {2.0f, 1.0f}) {
    SCOPED_TRACE(p);
    ChainMaker m({-1, 6});
    normalize(m, {1}, p, 1e-12f);
    m.linear(5);
    normalize(m, {1}, p, 0.5f);
    check_chain(m, 1e-4, 0.2f);
    ChainMaker c({-1, 3, 4, 5});
    c.conv(4, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}});
    normalize(c, {1, 3}, p, 1e-12f);
    check_chain(c);
  }
}

// Reducing only dims of size 1 leaves each value alone: an eltwise op,
// as oneDNN refuses a reduction that reduces nothing.
TEST(RuntimeReduce, SizeOneDimsEachValueAlone) {
  for (sq_kind kind : reduce_kinds) {
    SCOPED_TRACE(sq_kind_name(kind));
    ChainMaker m({-1, 4, 1, 6});
    reduce(m, kind, {2}, false);
    check_chain(m);
  }
}

// ---- arithmetic with constants ------------------------------------------

void binary(ChainMaker &m, sq_kind kind, const Dims &weight_dims) {
  sq_layer &l = m.custom(kind, m.shape());
  m.weights(&l.weight, weight_dims, 1.0f, kind == SQ_MULCONST ? 1.5f : 0.0f);
}

TEST(RuntimeArith, ScalarAffineAndPowFuseAfterConv) {
  ChainMaker m({-1, 3, 6, 6});
  m.conv(8, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}});
  eltwise2(m, SQ_AFFINE, 0.5f, -0.25f);
  m.eltwise(SQ_ABS);
  eltwise2(m, SQ_POW, 2.0f, 3.0f);
  check_chain(m);
  ChainMaker n({-1, 5});
  n.eltwise(SQ_ABS);
  eltwise2(n, SQ_AFFINE, 1.0f, 1.0f);
  eltwise2(n, SQ_POW, 3.0f, -1.0f); // 3 / x
  check_chain(n);
}

TEST(RuntimeArith, UnaryMath) {
  ChainMaker m({-1, 4, 5});
  m.eltwise(SQ_ABS).eltwise(SQ_SQRT).eltwise(SQ_EXP).eltwise(SQ_LOG);
  check_chain(m);
}

TEST(RuntimeArith, ConstantsBroadcastPerChannelPositionOrWhole) {
  ChainMaker m({-1, 3, 5, 6});
  binary(m, SQ_ADDCONST, {1, 3, 1, 1});
  binary(m, SQ_MULCONST, {1, 3, 1, 1});
  m.conv(8, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}});
  binary(m, SQ_MULCONST, {1, 1, 5, 6});
  binary(m, SQ_ADDCONST, {1, 8, 5, 6});
  check_chain(m);
  ChainMaker v({-1, 7});
  v.linear(4);
  binary(v, SQ_ADDCONST, {1, 4});
  binary(v, SQ_MULCONST, {1, 1});
  check_chain(v);
}

void transpose(ChainMaker &m, const std::vector<int> &perm) {
  Dims in = m.shape(), out;
  for (int p : perm) out.push_back(in[(size_t)p]);
  sq_layer &l = m.custom(SQ_TRANSPOSE, out);
  std::copy(perm.begin(), perm.end(), l.perm);
}

TEST(RuntimeShuffle, TransposeAnyRankAroundConv) {
  ChainMaker m({-1, 5, 3});
  transpose(m, {0, 2, 1});
  m.conv(4, {{3}, {1}, {1}, {1}, {}}).eltwise(SQ_RELU);
  transpose(m, {0, 2, 1});
  m.linear(6);
  check_chain(m);
  ChainMaker v({-1, 2, 3, 4, 5});
  transpose(v, {0, 3, 1, 4, 2});
  transpose(v, {0, 1, 2, 4, 3});
  check_chain(v);
}

// Take len[d] elements from start[d] by step[d] along each dim after the
// batch; dims in `drop` (length 1) leave the output.
void slice(ChainMaker &m, const Dims &start, const Dims &step, const Dims &len,
           const std::vector<int> &drop = {}) {
  Dims out = {m.shape()[0]};
  for (size_t d = 1; d < len.size(); d++)
    if (std::find(drop.begin(), drop.end(), (int)d) == drop.end())
      out.push_back(len[d]);
  sq_layer &l = m.custom(SQ_SLICE, out);
  for (size_t d = 0; d < len.size(); d++) {
    l.slice_start[d] = start[d];
    l.slice_step[d] = step[d];
    l.slice_len[d] = len[d];
  }
  for (int d : drop) l.dropped[d] = true;
}

TEST(RuntimeShuffle, SliceAfterBlockedConvAndIndexing) {
  ChainMaker m({-1, 3, 9, 8});
  m.conv(16, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}}).eltwise(SQ_RELU);
  slice(m, {0, 2, 1, 0}, {1, 3, 2, 1}, {-1, 5, 4, 8}); // x[:, 2::3, 1::2]
  m.conv(4, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}});
  slice(m, {0, 1, 0, 7}, {1, 1, 1, 1}, {-1, 1, 4, 1}, {1, 3}); // x[:, 1, :, 7]
  m.linear(3);
  check_chain(m);
  ChainMaker v({-1, 10});
  v.linear(12);
  slice(v, {0, 11}, {1, 1}, {-1, 1}, {}); // the last feature, kept
  check_chain(v);
}

// ---- embedding -----------------------------------------------------------

struct EmbeddingChain {
  std::unique_ptr<sq_chain, ChainDeleter> chain;
  int64_t rows;
};

EmbeddingChain embedding_chain(Dims input, int64_t rows, int64_t dim,
                               bool more) {
  ChainMaker m(input);
  m.input_dtype = SEQRT_INT64;
  Dims out = input;
  out.push_back(dim);
  sq_layer &l = m.custom(SQ_EMBEDDING, out);
  m.weights(&l.weight, {rows, dim}, 1.0f);
  if (more) {
    layer_norm(m, 2, true, true);
    m.linear(5).eltwise(SQ_GELU);
  }
  return {std::unique_ptr<sq_chain, ChainDeleter>(m.build()), rows};
}

std::vector<int64_t> indices(int64_t count, int64_t rows, uint32_t seed) {
  std::vector<int64_t> idx((size_t)count);
  for (int64_t i = 0; i < count; i++)
    idx[(size_t)i] = (int64_t)(i * 7 + seed) % rows;
  return idx;
}

TEST(RuntimeEmbedding, LookupThenLayers) {
  for (bool more : {false, true}) {
    EmbeddingChain e = embedding_chain({-1, 6}, 11, 8, more);
    for (int64_t batch : {1, 3})
      for (bool observable : {false, true}) {
        std::vector<int64_t> idx = indices(batch * 6, e.rows, 3);
        std::vector<float> as_float(idx.begin(), idx.end());
        check_plan(e.chain.get(), batch, observable, as_float, 1e-4,
                   idx.data());
      }
  }
  EmbeddingChain e3 = embedding_chain({-1, 2, 3}, 5, 4, false);
  std::vector<int64_t> idx = indices(2 * 6, 5, 1);
  std::vector<float> as_float(idx.begin(), idx.end());
  check_plan(e3.chain.get(), 2, true, as_float, 1e-4, idx.data());
}

TEST(RuntimeEmbedding, BadIndexIsAnErrorNamingIt) {
  EmbeddingChain e = embedding_chain({-1, 4}, 10, 3, true);
  for (bool observable : {false, true}) {
    sq_plan *raw = nullptr;
    ASSERT_EQ(sq_plan_create(e.chain.get(), 2, observable, &raw), SEQRT_OK)
        << seqrt_last_error();
    std::unique_ptr<sq_plan, PlanDeleter> plan(raw);
    sq_exec *exec = nullptr;
    ASSERT_EQ(sq_exec_create(plan.get(), &exec), SEQRT_OK);
    std::unique_ptr<sq_exec, ExecDeleter> guard(exec);
    std::vector<float> output(2 * 4 * 5);
    for (int64_t bad : std::initializer_list<int64_t>{10, -1, INT64_MAX}) {
      std::vector<int64_t> idx = {0, 1, 2, 3, 4, bad, 6, 7};
      sq_run_args args{};
      args.last = e.chain->n_layers - 1;
      args.input = idx.data();
      args.output = output.data();
      EXPECT_EQ(sq_exec_run(exec, &args), SEQRT_ERR_INVALID_ARGUMENT);
      std::string msg = seqrt_last_error();
      EXPECT_NE(msg.find("layer 'Embedding_0' (Embedding): index " +
                         std::to_string(bad) +
                         " at position 5 is out of range [0, 10)"),
                std::string::npos)
          << msg;
      // The exec still works afterwards.
      idx[5] = 9;
      EXPECT_EQ(sq_exec_run(exec, &args), SEQRT_OK) << seqrt_last_error();
    }
  }
}

TEST(RuntimeEmbedding, OnlyAsTheFirstLayer) {
  ChainMaker m({-1, 4});
  m.linear(4);
  Dims out = {-1, 4, 3};
  m.weights(&m.custom(SQ_EMBEDDING, out).weight, {10, 3}, 1.0f);
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  sq_plan *plan = nullptr;
  EXPECT_EQ(sq_plan_create(chain.get(), 1, false, &plan),
            SEQRT_ERR_UNSUPPORTED);
  EXPECT_NE(std::string(seqrt_last_error()).find("must be the first layer"),
            std::string::npos)
      << seqrt_last_error();
}

// ---- PyTorch itself -------------------------------------------------------

struct TorchCase {
  const char *name;
  Dims in;
  std::vector<float> input, weight, bias;
  Dims out;
  std::vector<float> output;
};

const TorchCase kTorchCases[] = {
#include "runtime_torch_cases.inc"
};

void set_values(sq_weights *w, const std::vector<float> &values) {
  if (values.empty()) return;
  w->count = (int64_t)values.size();
  w->shape = make_shape({w->count});
  w->data = (float *)malloc(values.size() * sizeof(float));
  std::copy(values.begin(), values.end(), w->data);
}

void set_window(sq_layer &l, Dims k, Dims s, Dims p, Dims d) {
  l.spatial = (int)k.size();
  for (size_t i = 0; i < k.size(); i++) {
    l.kernel[i] = k[i];
    l.stride[i] = s[i];
    l.pad_begin[i] = l.pad_end[i] = p[i];
    l.dilation[i] = d[i];
  }
}

// ceil_mode=True: pad_end grows by the overhang of the last windows past
// the padded input, which the average does not count.
void set_ceil_window(sq_layer &l, Dims k, Dims s, Dims p, Dims overhang) {
  set_window(l, k, s, p, Dims(k.size(), 1));
  for (size_t i = 0; i < k.size(); i++) {
    l.pad_end[i] += overhang[i];
    l.uncounted_end[i] = overhang[i];
  }
  l.count_include_pad = l.kind == SQ_AVGPOOL;
}

// The chain layer that computes what the PyTorch module of `c` computes.
void torch_layer(ChainMaker &m, const TorchCase &c) {
  const std::string name = c.name;
  struct Eltwise {
    const char *name;
    sq_kind kind;
    float alpha, beta;
  };
  const Eltwise eltwise[] = {
      {"relu6", SQ_RELU6, 0.0f, 6.0f},
      {"hardtanh", SQ_HARDTANH, -0.5f, 1.5f},
      {"logsigmoid", SQ_LOGSIGMOID, 0, 0},
      {"celu", SQ_CELU, 0.7f, 0},
      {"selu", SQ_SELU, 1.6732632423543772f, 1.0507009873554805f},
      {"gelu", SQ_GELU, 0, 0},
      {"gelu_tanh", SQ_GELU_TANH, 0, 0},
      {"silu", SQ_SILU, 0, 0},
      {"mish", SQ_MISH, 0, 0},
      {"hardsigmoid", SQ_HARDSIGMOID, 1.0f / 6.0f, 0.5f},
      {"hardswish", SQ_HARDSWISH, 0, 0},
      {"softplus", SQ_SOFTPLUS, 2.0f, 0},
      {"softsign", SQ_SOFTSIGN, 0, 0},
      {"tanhshrink", SQ_TANHSHRINK, 0, 0},
      {"softshrink", SQ_SOFTSHRINK, 0.5f, 0},
      {"hardshrink", SQ_HARDSHRINK, 0.5f, 0},
      {"threshold", SQ_THRESHOLD, 0.3f, -2.0f},
      {"prelu", SQ_PRELU, 0, 0},
  };
  for (const Eltwise &e : eltwise)
    if (name == e.name) {
      sq_layer &l = m.custom(e.kind, c.out);
      l.alpha = e.alpha;
      l.beta = e.beta;
      set_values(&l.weight, c.weight);
      return;
    }
  sq_kind kind = name.rfind("convtranspose", 0) == 0 ? SQ_CONVTRANSPOSE
                 : name.rfind("conv_", 0) == 0       ? SQ_CONV
                 : name.rfind("lppool", 0) == 0      ? SQ_LPPOOL
                 : name.rfind("avgpool", 0) == 0     ? SQ_AVGPOOL
                 : name == "groupnorm"               ? SQ_GROUPNORM
                 : name == "instancenorm"            ? SQ_INSTANCENORM
                 : name == "layernorm"               ? SQ_LAYERNORM
                 : name.rfind("lrn", 0) == 0         ? SQ_LRN
                 : name.rfind("pad_", 0) == 0        ? SQ_PAD
                 : name == "pixelshuffle"            ? SQ_PIXELSHUFFLE
                 : name == "pixelunshuffle"          ? SQ_PIXELUNSHUFFLE
                 : name == "channelshuffle"          ? SQ_CHANNELSHUFFLE
                 : name.rfind("glu", 0) == 0         ? SQ_GLU
                 : name == "softmin"                 ? SQ_SOFTMIN
                 : name == "embedding"               ? SQ_EMBEDDING
                                                     : SQ_UPSAMPLE;
  sq_layer &l = m.custom(kind, c.out);
  set_values(&l.weight, c.weight);
  set_values(&l.bias, c.bias);
  l.epsilon = 1e-5f;
  if (name == "convtranspose1d") {
    set_window(l, {4}, {3}, {2}, {1});
    l.output_padding[0] = 1;
  } else if (name == "convtranspose2d") {
    set_window(l, {3, 2}, {2, 2}, {1, 0}, {2, 1});
    l.output_padding[0] = l.output_padding[1] = 1;
    l.groups = 2;
  } else if (kind == SQ_CONV) { // Conv2d(2, 3, (3, 2), (1, 2), (1, 2))
    set_window(l, {3, 2}, {1, 2}, {0, 0}, {1, 1});
    l.pad_mode = name == "conv_reflect"     ? SQ_PAD_REFLECT
                 : name == "conv_replicate" ? SQ_PAD_REPLICATE
                                            : SQ_PAD_CIRCULAR;
    for (int i = 0; i < 2; i++) {
      l.prepad_begin[i] = l.prepad_end[i] = i + 1;
      l.circular_from[i] = c.in[2 + (size_t)i] - l.prepad_begin[i];
    }
  } else if (name == "lppool2d_p3") {
    set_window(l, {2, 2}, {1, 1}, {0, 0}, {1, 1});
    l.alpha = 3.0f;
  } else if (name == "lppool1d_p2") {
    set_window(l, {3}, {2}, {0}, {1});
    l.alpha = 2.0f;
  } else if (name == "lppool2d_ceil") { // 7x8: 3x4 windows, the last 3 wide
    set_ceil_window(l, {3, 3}, {2, 2}, {0, 0}, {0, 1});
    l.alpha = 2.0f;
  } else if (name == "lppool1d_ceil_p3") { // 9: the 5th window 1 wide
    set_ceil_window(l, {2}, {2}, {0}, {1});
    l.alpha = 3.0f;
  } else if (name == "avgpool1d_ceil") { // 9 + 2: the 4th window 2 wide
    set_ceil_window(l, {4}, {3}, {1}, {2});
  } else if (name == "avgpool2d_ceil") {
    set_ceil_window(l, {3, 3}, {2, 2}, {1, 1}, {0, 1});
  } else if (name == "avgpool3d_ceil") {
    set_ceil_window(l, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {0, 1, 1});
  } else if (kind == SQ_GROUPNORM) {
    l.groups = 2;
  } else if (kind == SQ_LAYERNORM) {
    l.axis = 2;
  } else if (kind == SQ_LRN) {
    bool four = name == "lrn4";
    l.kernel[0] = four ? 4 : 3;
    l.alpha = four ? 0.1f : 0.3f;
    l.beta = four ? 0.75f : 0.6f;
    l.epsilon = four ? 2.0f : 1.0f;
  } else if (kind == SQ_PAD) {
    l.pad_mode = name == "pad_constant"    ? SQ_PAD_CONSTANT
                 : name == "pad_reflect"   ? SQ_PAD_REFLECT
                 : name == "pad_replicate" ? SQ_PAD_REPLICATE
                                           : SQ_PAD_CIRCULAR;
    l.pad_value = 0.5f;
    l.pad_begin[0] = 1, l.pad_end[0] = 2; // F.pad(x, (2, 1, 1, 2))
    l.pad_begin[1] = 2, l.pad_end[1] = 1;
    for (int i = 0; i < 2; i++)
      l.circular_from[i] = c.in[2 + (size_t)i] - l.pad_begin[i];
  } else if (kind == SQ_PIXELSHUFFLE || kind == SQ_PIXELUNSHUFFLE) {
    l.block = 2;
  } else if (kind == SQ_CHANNELSHUFFLE) {
    l.block = 3;
  } else if (kind == SQ_GLU) {
    l.axis = name == "glu_dim1" ? 1 : 2;
  } else if (kind == SQ_SOFTMIN) {
    l.axis = 1;
  } else if (kind == SQ_UPSAMPLE) {
    // The exporter: nearest is asymmetric + floor, linear half_pixel or
    // align_corners.
    bool nearest = name.rfind("nearest", 0) == 0;
    l.resize_mode = nearest ? SQ_RESIZE_NEAREST : SQ_RESIZE_LINEAR;
    l.resize_nearest = SQ_NEAREST_FLOOR;
    l.resize_coord = nearest                 ? SQ_COORD_ASYMMETRIC
                     : name == "bilinear_ac" ? SQ_COORD_ALIGN_CORNERS
                                             : SQ_COORD_HALF_PIXEL;
    for (size_t i = 2; i < c.in.size(); i++)
      l.scales[i - 2] = (float)c.out[i] / (float)c.in[i];
  }
}

TEST(RuntimeKindsTorch, ReferencesAndRuntimeMatchPyTorch) {
  for (const TorchCase &c : kTorchCases) {
    SCOPED_TRACE(c.name);
    ChainMaker m(c.in);
    bool indices = std::string(c.name) == "embedding";
    if (indices) m.input_dtype = SEQRT_INT64;
    torch_layer(m, c);
    std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
    Tensor x{c.in, c.input};
    EXPECT_TRUE(all_close(ref_layer(chain->layers[0], x, c.in[0]).data.data(),
                          c.output, 1e-5))
        << "reference";
    std::vector<int64_t> idx(c.input.begin(), c.input.end());
    for (bool observable : {false, true})
      check_plan(chain.get(), c.in[0], observable, c.input, 1e-4,
                 indices ? (const void *)idx.data() : nullptr);
    // The runtime against PyTorch directly.
    sq_plan *raw = nullptr;
    ASSERT_EQ(sq_plan_create(chain.get(), c.in[0], false, &raw), SEQRT_OK);
    std::unique_ptr<sq_plan, PlanDeleter> plan(raw);
    sq_exec *exec = nullptr;
    ASSERT_EQ(sq_exec_create(plan.get(), &exec), SEQRT_OK);
    std::unique_ptr<sq_exec, ExecDeleter> guard(exec);
    std::vector<float> output(c.output.size(), NAN);
    sq_run_args args{};
    args.input = indices ? (const void *)idx.data() : c.input.data();
    args.output = output.data();
    ASSERT_EQ(sq_exec_run(exec, &args), SEQRT_OK) << seqrt_last_error();
    EXPECT_TRUE(all_close(output.data(), c.output, 1e-4)) << "runtime";
  }
}

// ---- plans of multi-op and kernel steps ----------------------------------

// Kernel steps and multi-op steps (LPPool uses the spare buffer, GroupNorm
// two primitives, Softmin two, Upsample a kernel, a pre-padded Conv a
// kernel then a primitive) between oneDNN steps.
sq_chain *mixed_chain() {
  ChainMaker m({-1, 3, 10, 9});
  pad(m, SQ_PAD_REFLECT, {1, 2}, {1, 0});
  m.conv(16, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}});
  prepadded_conv(m, SQ_PAD_REPLICATE, {1, 1}, {1, 1}, 16, {{3, 3}});
  lppool(m, 2.0f, {{2, 2}, {2, 2}});
  m.pool(SQ_AVGPOOL, {{3, 3}, {2, 2}, {1, 1}, {1, 1}, {2, 2}}, true);
  uncounted(m, {}, {1, 1}); // padded explicitly: a kernel, then the pool
  group_norm(m, SQ_GROUPNORM, 4, true);
  m.eltwise(SQ_SOFTSIGN);
  upsample(m, SQ_RESIZE_LINEAR, SQ_COORD_ALIGN_CORNERS, {9, 8});
  glu(m, 1);
  m.conv(6, {{3, 3}});
  eltwise2(m, SQ_CELU, 0.5f, 0.0f);
  shuffle(m, SQ_CHANNELSHUFFLE, 2);
  lppool(m, 3.0f, {{2, 2}, {1, 1}, {1, 1}, {1, 1}, {}}, true);
  m.flatten().linear(10).softmax(SQ_SOFTMIN, 1);
  return m.build();
}

TEST(RuntimeKindsPlan, MixedChainWhole) {
  std::unique_ptr<sq_chain, ChainDeleter> chain(mixed_chain());
  for (int64_t batch : {1, 3})
    for (bool observable : {false, true})
      check_plan(chain.get(), batch, observable,
                 make_input(chain.get(), batch, 1.0f), 1e-4);
}

struct RangeSeen {
  const std::vector<Tensor> *ref;
  std::vector<int> indices;
  std::vector<std::string> failures;
};

int record_layer(void *user, int index, const char *name,
                 const seqrt_tensor *view) {
  RangeSeen *s = static_cast<RangeSeen *>(user);
  s->indices.push_back(index);
  auto r = all_close(static_cast<const float *>(view->data),
                     (*s->ref)[(size_t)index + 1].data);
  if (!r) s->failures.push_back(std::string(name) + ": " + r.message());
  return 0;
}

// Every range starts (the caller's input) and ends (the caller's output)
// somewhere: inside kernel and multi-op steps too.
TEST(RuntimeKindsPlan, EveryLayerRange) {
  std::unique_ptr<sq_chain, ChainDeleter> chain(mixed_chain());
  const int n = chain->n_layers;
  const int64_t batch = 2;
  sq_plan *raw = nullptr;
  ASSERT_EQ(sq_plan_create(chain.get(), batch, true, &raw), SEQRT_OK)
      << seqrt_last_error();
  std::unique_ptr<sq_plan, PlanDeleter> plan(raw);
  sq_exec *exec = nullptr;
  ASSERT_EQ(sq_exec_create(plan.get(), &exec), SEQRT_OK);
  std::unique_ptr<sq_exec, ExecDeleter> guard(exec);
  std::vector<Tensor> ref =
      ref_chain(chain.get(), batch, make_input(chain.get(), batch, 1.0f));
  for (int first = 0; first < n; first++)
    for (int last = first; last < n; last++) {
      SCOPED_TRACE(::testing::Message() << "layers " << first << ".." << last);
      RangeSeen seen{&ref};
      std::vector<float> output(ref[(size_t)last + 1].data.size(), NAN);
      sq_run_args args{};
      args.first = first;
      args.last = last;
      args.input = ref[(size_t)first].data.data();
      args.output = output.data();
      args.callback = (first + last) % 2 ? record_layer : nullptr;
      args.user = &seen;
      ASSERT_EQ(sq_exec_run(exec, &args), SEQRT_OK) << seqrt_last_error();
      EXPECT_TRUE(all_close(output.data(), ref[(size_t)last + 1].data));
      for (const std::string &f : seen.failures) ADD_FAILURE() << f;
    }
}

TEST(RuntimeKindsPlan, OnePlanFourThreads) {
  std::unique_ptr<sq_chain, ChainDeleter> chain(mixed_chain());
  const int64_t batch = 2;
  const int n_threads = 4, n_runs = 30;
  for (bool observable : {false, true}) {
    sq_plan *raw = nullptr;
    ASSERT_EQ(sq_plan_create(chain.get(), batch, observable, &raw), SEQRT_OK)
        << seqrt_last_error();
    std::unique_ptr<sq_plan, PlanDeleter> plan(raw);
    std::vector<std::vector<float>> inputs, expected;
    for (int t = 0; t < n_threads; t++) {
      inputs.push_back(random_vector(
          count_of(shape_dims(chain->layers[0].in, batch)), 50 + (uint32_t)t));
      expected.push_back(
          ref_chain(chain.get(), batch, inputs.back()).back().data);
    }
    std::vector<int> mismatches(n_threads, 0), failures(n_threads, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < n_threads; t++)
      threads.emplace_back([&, t] {
        sq_exec *exec = nullptr;
        if (sq_exec_create(plan.get(), &exec) != SEQRT_OK) {
          failures[(size_t)t]++;
          return;
        }
        std::vector<float> output(expected[(size_t)t].size());
        for (int run = 0; run < n_runs; run++) {
          std::fill(output.begin(), output.end(), NAN);
          sq_run_args args{};
          args.last = chain->n_layers - 1;
          args.input = inputs[(size_t)t].data();
          args.output = output.data();
          if (sq_exec_run(exec, &args) != SEQRT_OK) failures[(size_t)t]++;
          if (!all_close(output.data(), expected[(size_t)t]))
            mismatches[(size_t)t]++;
        }
        sq_exec_free(exec);
      });
    for (std::thread &th : threads) th.join();
    for (int t = 0; t < n_threads; t++) {
      EXPECT_EQ(failures[(size_t)t], 0) << "thread " << t;
      EXPECT_EQ(mismatches[(size_t)t], 0) << "thread " << t;
    }
  }
}

// ---- errors --------------------------------------------------------------

void expect_plan_error(ChainMaker &m, seqrt_status status,
                       const std::string &text) {
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  for (bool observable : {false, true}) {
    sq_plan *plan = nullptr;
    EXPECT_EQ(sq_plan_create(chain.get(), 2, observable, &plan), status);
    EXPECT_EQ(plan, nullptr);
    EXPECT_NE(std::string(seqrt_last_error()).find(text), std::string::npos)
        << seqrt_last_error();
  }
}

TEST(RuntimeKindsErrors, BadParametersNameTheLayer) {
  ChainMaker g({-1, 6, 4});
  group_norm(g, SQ_GROUPNORM, 4, true);
  expect_plan_error(g, SEQRT_ERR_INVALID_MODEL,
                    "layer 'GroupNorm_0' (GroupNorm): 4 groups do not divide "
                    "6 channels");
  ChainMaker p({-1, 2, 5});
  pad(p, SQ_PAD_CONSTANT, {1}, {1});
  p.layer(0).out.dims[2] = 8;
  expect_plan_error(p, SEQRT_ERR_INVALID_MODEL,
                    "layer 'Pad_0' (Pad): output dim 2 is 8, the pads give 7");
  ChainMaker c({-1, 2, 5});
  c.conv_transpose(4, {{3}, {2}, {1}, {1}, {}}, {1});
  c.layer(0).output_padding[0] = 0; // out no longer matches
  expect_plan_error(c, SEQRT_ERR_INVALID_MODEL,
                    "layer 'ConvTranspose_0' (ConvTranspose): output size 10 "
                    "along spatial dim 0, expected 9");
  ChainMaker cg({-1, 4, 6});
  cg.conv(6, {{3}, {1}, {1}, {1}, {1}}, 2);
  cg.layer(0).groups = 4; // divides 4 inputs, not 6 outputs
  expect_plan_error(cg, SEQRT_ERR_INVALID_MODEL,
                    "layer 'Conv_0' (Conv): 4 groups do not divide 4 input "
                    "and 6 output channels");
  ChainMaker tg({-1, 4, 5});
  tg.conv_transpose(6, {{3}, {2}, {1}, {1}, {}}, {1}, 2);
  tg.layer(0).groups = 3;
  expect_plan_error(tg, SEQRT_ERR_INVALID_MODEL,
                    "layer 'ConvTranspose_0' (ConvTranspose): 3 groups do not "
                    "divide 4 input and 6 output channels");
  ChainMaker tw({-1, 4, 5});
  tw.conv_transpose(6, {{3}, {2}, {1}, {1}, {}}, {1}, 2);
  tw.layer(0).groups = 1; // the weights hold 4 x 3 x 3, not 4 x 6 x 3
  expect_plan_error(
      tw, SEQRT_ERR_INVALID_MODEL,
      "layer 'ConvTranspose_0' (ConvTranspose): weight has 36 values, "
      "expected 72");
  ChainMaker s({-1, 6, 3, 3});
  shuffle(s, SQ_PIXELSHUFFLE, 2);
  expect_plan_error(s, SEQRT_ERR_INVALID_MODEL, "(PixelShuffle): needs");
  ChainMaker l({-1, 4, 3});
  lppool(l, 0.0f, {{2}, {1}});
  expect_plan_error(l, SEQRT_ERR_INVALID_MODEL,
                    "layer 'LPPool_0' (LPPool): p = 0");
  ChainMaker a({-1, 2, 7});
  a.pool(SQ_AVGPOOL, {{3}, {2}, {1}, {1}, {1}}, true);
  uncounted(a, {}, {2}); // more than the pad
  expect_plan_error(a, SEQRT_ERR_INVALID_MODEL,
                    "layer 'AvgPool_0' (AvgPool): uncounted padding 0/2 of "
                    "spatial dim 0 is not within its pads 1/1");
  ChainMaker e({-1, 4});
  eltwise2(e, SQ_CELU, 0.0f, 0.0f);
  expect_plan_error(e, SEQRT_ERR_INVALID_MODEL,
                    "layer 'CELU_0' (CELU): alpha must not be 0");
  ChainMaker bc({-1, 2, 4});
  binary(bc, SQ_ADDCONST, {1, 4});
  expect_plan_error(bc, SEQRT_ERR_INVALID_MODEL,
                    "layer 'Add_0' (Add): its constant does not broadcast to "
                    "[-1, 2, 4]");
  ChainMaker t({-1, 2, 4});
  transpose(t, {0, 2, 1});
  t.layer(0).perm[1] = 1; // {0, 1, 1}
  expect_plan_error(t, SEQRT_ERR_INVALID_MODEL,
                    "layer 'Permute_0' (Permute): needs a permutation of the "
                    "dims after the batch, and the output in its order");
  ChainMaker sl({-1, 2, 6});
  slice(sl, {0, 0, 4}, {1, 1, 2}, {-1, 2, 2}); // indices 4 and 6 of 6
  expect_plan_error(sl, SEQRT_ERR_INVALID_MODEL,
                    "layer 'Slice_0' (Slice): needs slices within the input "
                    "after the batch, and the output of their lengths");
  ChainMaker r({-1, 2, 4});
  reduce(r, SQ_REDUCESUM, {2}, false);
  r.layer(0).reduced[0] = true;
  expect_plan_error(r, SEQRT_ERR_INVALID_MODEL,
                    "layer 'Sum_0' (Sum): its reduced dims do not turn [-1, "
                    "2, 4] into [-1, 2]");
  ChainMaker u({-1, 2, 4});
  upsample(u, SQ_RESIZE_LINEAR, SQ_COORD_HALF_PIXEL, {8}, {-2.0f});
  expect_plan_error(u, SEQRT_ERR_INVALID_MODEL,
                    "layer 'Upsample_0' (Upsample): scale -2");
}
