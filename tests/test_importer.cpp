// Importer: layers, weights and shapes for the core ops.
#include <cmath>

#include "test_importer_util.h"

using onnxb::Model;
using onnxb::ramp;

namespace {

// weight[n][k] of B given as [K, N].
std::vector<float> transpose(const std::vector<float> &b, int64_t rows,
                             int64_t cols) {
  std::vector<float> t(b.size());
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) t[c * rows + r] = b[r * cols + c];
  return t;
}

std::vector<float> scaled(std::vector<float> v, float s) {
  for (float &x : v) x *= s;
  return v;
}

// ---- Linear ------------------------------------------------------------

TEST(ImporterLinear, GemmTransBFoldsAlphaBeta) {
  Model m(13);
  m.input("input", {-1, 3});
  std::vector<float> w = ramp(12), c = ramp(4, 0.5f, 1.0f);
  m.initializer("fc1.weight", {4, 3}, w);
  m.initializer("fc1.bias", {4}, c);
  m.node("Gemm", {"input", "fc1.weight", "fc1.bias"}, {"output"}, "/fc1/Gemm")
      .attr("alpha", 2.0f)
      .attr("beta", 0.5f)
      .attr("transB", 1);
  m.output("output", {-1, 4});
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 1);
  const sq_layer &l = r.layer(0);
  EXPECT_EQ(l.kind, SQ_LINEAR);
  EXPECT_STREQ(l.name, "fc1");
  EXPECT_STREQ(l.nodes, "/fc1/Gemm");
  EXPECT_STREQ(l.folded, "");
  EXPECT_EQ(dims_of(l.in), (std::vector<int64_t>{-1, 3}));
  EXPECT_EQ(dims_of(l.out), (std::vector<int64_t>{-1, 4}));
  EXPECT_EQ(dims_of(l.weight.shape), (std::vector<int64_t>{4, 3}));
  EXPECT_FLOATS_NEAR(scaled(w, 2.0f), values_of(l.weight), 1e-6);
  EXPECT_FLOATS_NEAR(scaled(c, 0.5f), values_of(l.bias), 1e-6);
  EXPECT_EQ(dims_of(r.chain->input), (std::vector<int64_t>{-1, 3}));
  EXPECT_EQ(dims_of(r.chain->output), (std::vector<int64_t>{-1, 4}));
  EXPECT_STREQ(r.chain->input_name, "input");
  EXPECT_STREQ(r.chain->output_name, "output");
  EXPECT_EQ(r.chain->input_dtype, SEQRT_FLOAT32);
  EXPECT_EQ(r.chain->opset, 13);
  EXPECT_EQ(r.chain->ir_version, 8);
  EXPECT_STREQ(r.chain->producer, "pytorch 1.13.1");
  EXPECT_STREQ(r.chain->removed, "");
}

TEST(ImporterLinear, GemmWithoutTransposeStoresOutIn) {
  Model m(11);
  m.input("x", {2, 3});
  std::vector<float> b = ramp(12); // [K=3, N=4]
  m.initializer("B", {3, 4}, b);
  m.node("Gemm", {"x", "B"}, {"y"}, "/lin/Gemm");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  const sq_layer &l = r.layer(0);
  EXPECT_EQ(dims_of(l.weight.shape), (std::vector<int64_t>{4, 3}));
  EXPECT_FLOATS_NEAR(transpose(b, 3, 4), values_of(l.weight), 1e-6);
  EXPECT_EQ(l.bias.data, nullptr);
  EXPECT_EQ(dims_of(l.out), (std::vector<int64_t>{2, 4}));
}

TEST(ImporterLinear, GemmScalarBiasBroadcasts) {
  Model m(9);
  m.input("x", {-1, 2});
  m.initializer("W", {3, 2}, ramp(6));
  m.initializer("C", {1}, {0.25f});
  m.node("Gemm", {"x", "W", "C"}, {"y"}, "/l/Gemm")
      .attr("transB", 1)
      .attr("broadcast", 1);
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_FLOATS_NEAR((std::vector<float>{0.25f, 0.25f, 0.25f}),
                     values_of(r.layer(0).bias), 1e-6);
}

// A module called twice: both Gemm nodes read the one initializer.
TEST(ImporterLinear, SharedWeightsAndASameTensorTwice) {
  Model m(13);
  m.input("x", {-1, 4});
  std::vector<float> w = ramp(16), b = ramp(4, 0.5f);
  m.initializer("0.weight", {4, 4}, w);
  m.initializer("0.bias", {4}, b);
  m.node("Gemm", {"x", "0.weight", "0.bias"}, {"a"}, "/0/Gemm")
      .attr("transB", 1);
  m.node("Gemm", {"a", "0.weight", "0.bias"}, {"c"}, "/0_1/Gemm")
      .attr("transB", 1);
  // a [1, 1] constant as scalar bias (through an Identity), then as both
  // weight and bias of one node
  m.initializer("one", {1, 1}, {3.0f});
  m.initializer("W1", {1, 4}, {1, 2, 3, 4});
  m.node("Identity", {"one"}, {"W1b"}, "Identity_0");
  m.node("Gemm", {"c", "W1", "W1b"}, {"d"}, "/2/Gemm").attr("transB", 1);
  m.node("Gemm", {"d", "one", "one"}, {"y"}, "/3/Gemm").attr("transB", 1);
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 4);
  EXPECT_STREQ(r.layer(1).name, "0_1");
  for (int k = 0; k < 2; k++) {
    EXPECT_FLOATS_NEAR(w, values_of(r.layer(k).weight), 0);
    EXPECT_FLOATS_NEAR(b, values_of(r.layer(k).bias), 0);
  }
  EXPECT_FLOATS_NEAR((std::vector<float>{3.0f}), values_of(r.layer(2).bias), 0);
  EXPECT_FLOATS_NEAR((std::vector<float>{3.0f}), values_of(r.layer(3).weight),
                     0);
  EXPECT_FLOATS_NEAR((std::vector<float>{3.0f}), values_of(r.layer(3).bias), 0);
}

TEST(ImporterLinear, GemmTransARejected) {
  Model m(13);
  m.input("x", {-1, 3});
  m.initializer("W", {3, 4}, ramp(12));
  m.node("Gemm", {"x", "W"}, {"y"}, "/l/Gemm").attr("transA", 1);
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_NE(r.error.find("transA=1"), std::string::npos) << r.error;
}

// torch's Linear on 3-D input: MatMul with a pre-transposed [in, out]
// initializer, then Add with the bias as the *first* input.
TEST(ImporterLinear, MatMulAddBiasFirstOn3dInput) {
  Model m(14);
  m.input("input", {-1, 5, 8});
  std::vector<float> w = ramp(48), b = ramp(6, 0.3f);
  m.initializer("onnx::MatMul_6", {8, 6}, w);
  m.initializer("0.bias", {6}, b);
  m.node("MatMul", {"input", "onnx::MatMul_6"}, {"/0/MatMul_output_0"},
         "/0/MatMul");
  m.node("Add", {"0.bias", "/0/MatMul_output_0"}, {"output"}, "/0/Add");
  m.output("output", {-1, 5, 6});
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 1);
  const sq_layer &l = r.layer(0);
  EXPECT_EQ(l.kind, SQ_LINEAR);
  EXPECT_STREQ(l.name, "0");
  EXPECT_STREQ(l.nodes, "/0/MatMul,/0/Add");
  EXPECT_EQ(dims_of(l.weight.shape), (std::vector<int64_t>{6, 8}));
  EXPECT_FLOATS_NEAR(transpose(w, 8, 6), values_of(l.weight), 1e-6);
  EXPECT_FLOATS_NEAR(b, values_of(l.bias), 1e-6);
  EXPECT_EQ(dims_of(l.out), (std::vector<int64_t>{-1, 5, 6}));
}

TEST(ImporterLinear, MatMulAloneIsLinearWithoutBias) {
  Model m(13);
  m.input("x", {-1, 8});
  m.initializer("onnx::MatMul_4", {8, 6}, ramp(48));
  m.node("MatMul", {"x", "onnx::MatMul_4"}, {"y"}, "/0/MatMul");
  m.node("Relu", {"y"}, {"z"}, "/1/Relu");
  m.output("z");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 2);
  EXPECT_EQ(r.layer(0).kind, SQ_LINEAR);
  EXPECT_EQ(r.layer(0).bias.data, nullptr);
  EXPECT_EQ(r.layer(1).kind, SQ_RELU);
  EXPECT_EQ(dims_of(r.layer(1).in), (std::vector<int64_t>{-1, 6}));
}

TEST(ImporterLinear, MatMulAddBiasSecondOn2dInput) {
  Model m(13);
  m.input("x", {-1, 2});
  m.initializer("W", {2, 3}, ramp(6));
  m.initializer("b", {1, 3}, {1, 2, 3});
  m.node("MatMul", {"x", "W"}, {"t"}, "/fc/MatMul");
  m.node("Add", {"t", "b"}, {"y"}, "/fc/Add");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 1);
  EXPECT_FLOATS_NEAR((std::vector<float>{1, 2, 3}), values_of(r.layer(0).bias),
                     1e-6);
}

// An Add of a constant without a MatMul before it is its own layer.
TEST(ImporterLinear, StandaloneAddOfConstantIsABinaryLayer) {
  Model m(13);
  m.input("x", {-1, 3});
  m.initializer("b", {3}, {1, 2, 3});
  m.node("Relu", {"x"}, {"r"}, "/0/Relu");
  m.node("Add", {"r", "b"}, {"y"}, "/1/Add");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 2);
  EXPECT_EQ(r.layer(1).kind, SQ_ADDCONST);
  EXPECT_EQ(dims_of(r.layer(1).weight.shape), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(r.layer(1).weight.data[2], 3.0f);
}

// ---- Conv ------------------------------------------------------------------

TEST(ImporterConv, Conv2dAttributesAndShape) {
  Model m(11);
  m.input("x", {-1, 4, 9, 10});
  std::vector<float> w = ramp(6 * 2 * 3 * 3), b = ramp(6, 0.2f);
  m.initializer("w", {6, 2, 3, 3}, w);
  m.initializer("b", {6}, b);
  m.node("Conv", {"x", "w", "b"}, {"y"}, "/features/features.0/Conv")
      .attr("group", 2)
      .attr("strides", std::vector<int64_t>{2, 1})
      .attr("dilations", std::vector<int64_t>{1, 2})
      .attr("pads", std::vector<int64_t>{1, 2, 0, 1})
      .attr("kernel_shape", std::vector<int64_t>{3, 3});
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  const sq_layer &l = r.layer(0);
  EXPECT_EQ(l.kind, SQ_CONV);
  EXPECT_STREQ(l.name, "features.0");
  EXPECT_EQ(l.spatial, 2);
  EXPECT_EQ(l.groups, 2);
  EXPECT_EQ(l.stride[0], 2);
  EXPECT_EQ(l.stride[1], 1);
  EXPECT_EQ(l.dilation[0], 1);
  EXPECT_EQ(l.dilation[1], 2);
  EXPECT_EQ(l.pad_begin[0], 1);
  EXPECT_EQ(l.pad_begin[1], 2);
  EXPECT_EQ(l.pad_end[0], 0);
  EXPECT_EQ(l.pad_end[1], 1);
  EXPECT_EQ(l.kernel[0], 3);
  EXPECT_EQ(l.kernel[1], 3);
  // H: (9 + 1 + 0 - 3) / 2 + 1 = 4; W: (10 + 2 + 1 - 5) / 1 + 1 = 9
  EXPECT_EQ(dims_of(l.out), (std::vector<int64_t>{-1, 6, 4, 9}));
  EXPECT_EQ(dims_of(l.weight.shape), (std::vector<int64_t>{6, 2, 3, 3}));
  EXPECT_FLOATS_NEAR(w, values_of(l.weight), 0);
  EXPECT_FLOATS_NEAR(b, values_of(l.bias), 0);
}

TEST(ImporterConv, KernelShapeFromWeights1dAnd3d) {
  Model m1(13);
  m1.input("x", {-1, 3, 16});
  m1.initializer("w", {4, 3, 5}, ramp(60));
  m1.node("Conv", {"x", "w"}, {"y"}, "/c/Conv");
  m1.output("y");
  Imported r1;
  import_model(m1, r1);
  ASSERT_TRUE(r1.ok()) << r1.error;
  EXPECT_EQ(r1.layer(0).spatial, 1);
  EXPECT_EQ(r1.layer(0).kernel[0], 5);
  EXPECT_EQ(r1.layer(0).bias.data, nullptr);
  EXPECT_EQ(dims_of(r1.layer(0).out), (std::vector<int64_t>{-1, 4, 12}));

  Model m3(17);
  m3.input("x", {1, 2, 4, 6, 6});
  m3.initializer("w", {3, 2, 1, 3, 3}, ramp(54));
  m3.node("Conv", {"x", "w"}, {"y"}, "/c/Conv")
      .attr("strides", std::vector<int64_t>{1, 2, 2})
      .attr("pads", std::vector<int64_t>{0, 1, 1, 0, 1, 1});
  m3.output("y");
  Imported r3;
  import_model(m3, r3);
  ASSERT_TRUE(r3.ok()) << r3.error;
  EXPECT_EQ(r3.layer(0).spatial, 3);
  EXPECT_EQ(dims_of(r3.layer(0).out), (std::vector<int64_t>{1, 3, 4, 3, 3}));
}

struct AutoPadCase {
  const char *mode;
  int64_t in, k, s;
  int64_t begin, end, out;
};

class ImporterAutoPad : public ::testing::TestWithParam<AutoPadCase> {};

TEST_P(ImporterAutoPad, ResolvedIntoExplicitPads) {
  const AutoPadCase &c = GetParam();
  Model m(11);
  m.input("x", {-1, 1, c.in});
  m.initializer("w", {1, 1, c.k}, std::vector<float>(c.k, 1.0f));
  m.node("Conv", {"x", "w"}, {"y"}, "/c/Conv")
      .attr("auto_pad", c.mode)
      .attr("strides", std::vector<int64_t>{c.s});
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.layer(0).pad_begin[0], c.begin);
  EXPECT_EQ(r.layer(0).pad_end[0], c.end);
  EXPECT_EQ(r.layer(0).out.dims[2], c.out);
}

INSTANTIATE_TEST_SUITE_P(
    Modes, ImporterAutoPad,
    ::testing::Values(AutoPadCase{"SAME_UPPER", 10, 4, 1, 1, 2, 10},
                      AutoPadCase{"SAME_LOWER", 10, 4, 1, 2, 1, 10},
                      AutoPadCase{"SAME_UPPER", 10, 3, 3, 1, 1, 4},
                      AutoPadCase{"VALID", 10, 3, 2, 0, 0, 4},
                      AutoPadCase{"NOTSET", 10, 3, 1, 0, 0, 8}));

// ---- BatchNorm -------------------------------------------------------------

struct BnParams {
  std::vector<float> gamma, beta, mean, var;
  float eps;
  void add(Model &m, const std::string &p) const {
    m.initializer(p + ".weight", {(int64_t)gamma.size()}, gamma);
    m.initializer(p + ".bias", {(int64_t)gamma.size()}, beta);
    m.initializer(p + ".running_mean", {(int64_t)gamma.size()}, mean);
    m.initializer(p + ".running_var", {(int64_t)gamma.size()}, var);
  }
  std::vector<std::string> inputs(const std::string &x,
                                  const std::string &p) const {
    return {x, p + ".weight", p + ".bias", p + ".running_mean",
            p + ".running_var"};
  }
  double scale(size_t c) const { return gamma[c] / std::sqrt(var[c] + eps); }
  double shift(size_t c) const { return beta[c] - mean[c] * scale(c); }
};

BnParams bn4() {
  return {{1.5f, 0.5f, 2.0f, 1.0f},
          {0.1f, -0.2f, 0.3f, 0.0f},
          {0.5f, -1.0f, 0.25f, 2.0f},
          {1.0f, 4.0f, 0.25f, 2.0f},
          1e-3f};
}

TEST(ImporterNorm, BatchNormFoldedIntoConv) {
  Model m(14);
  m.input("x", {-1, 2, 5, 5});
  std::vector<float> w = ramp(4 * 2 * 3 * 3), b = ramp(4, 0.4f, -0.3f);
  m.initializer("0.weight", {4, 2, 3, 3}, w);
  m.initializer("0.bias", {4}, b);
  BnParams bn = bn4();
  bn.add(m, "1");
  m.node("Conv", {"x", "0.weight", "0.bias"}, {"c"}, "/0/Conv");
  m.node("BatchNormalization", bn.inputs("c", "1"), {"y"},
         "/1/BatchNormalization")
      .attr("epsilon", bn.eps)
      .attr("momentum", 0.9f)
      .attr("training_mode", 0);
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 1);
  const sq_layer &l = r.layer(0);
  EXPECT_EQ(l.kind, SQ_CONV);
  EXPECT_STREQ(l.folded, "1");
  EXPECT_STREQ(l.nodes, "/0/Conv,/1/BatchNormalization");
  std::vector<float> fw(w.size()), fb(4);
  for (size_t o = 0; o < 4; o++) {
    for (size_t k = 0; k < 18; k++)
      fw[o * 18 + k] = w[o * 18 + k] * bn.scale(o);
    fb[o] = b[o] * bn.scale(o) + bn.shift(o);
  }
  EXPECT_FLOATS_NEAR(fw, values_of(l.weight), 1e-6);
  EXPECT_FLOATS_NEAR(fb, values_of(l.bias), 1e-6);
}

// ConvTranspose weights are [I, O/g, k...]: output channel o's are the
// rows (i, o % (O/g)) of o's group's inputs.
TEST(ImporterNorm, BatchNormFoldedIntoGroupedConvTranspose) {
  Model m(14);
  m.input("x", {-1, 4, 3, 3});
  std::vector<float> w = ramp(4 * 2 * 2 * 2), b = ramp(4, 0.4f, -0.3f);
  m.initializer("0.weight", {4, 2, 2, 2}, w);
  m.initializer("0.bias", {4}, b);
  BnParams bn = bn4();
  bn.add(m, "1");
  m.node("ConvTranspose", {"x", "0.weight", "0.bias"}, {"c"},
         "/0/ConvTranspose")
      .attr("group", int64_t{2})
      .attr("strides", std::vector<int64_t>{2, 2});
  m.node("BatchNormalization", bn.inputs("c", "1"), {"y"},
         "/1/BatchNormalization")
      .attr("epsilon", bn.eps);
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 1);
  const sq_layer &l = r.layer(0);
  EXPECT_EQ(l.kind, SQ_CONVTRANSPOSE);
  EXPECT_STREQ(l.folded, "1");
  std::vector<float> fw(w.size()), fb(4);
  for (size_t i = 0; i < 4; i++)
    for (size_t j = 0; j < 2; j++)
      for (size_t k = 0; k < 4; k++) {
        size_t o = i / 2 * 2 + j, at = (i * 2 + j) * 4 + k;
        fw[at] = w[at] * bn.scale(o);
      }
  for (size_t o = 0; o < 4; o++) fb[o] = b[o] * bn.scale(o) + bn.shift(o);
  EXPECT_FLOATS_NEAR(fw, values_of(l.weight), 1e-6);
  EXPECT_FLOATS_NEAR(fb, values_of(l.bias), 1e-6);
}

TEST(ImporterNorm, BatchNormFoldIntoConvWithoutBiasCreatesBias) {
  Model m(9);
  m.input("x", {-1, 2, 4, 4});
  m.initializer("w", {4, 2, 1, 1}, ramp(8));
  BnParams bn = bn4();
  bn.add(m, "bn");
  m.node("Conv", {"x", "w"}, {"c"}, "/conv/Conv");
  m.node("BatchNormalization", bn.inputs("c", "bn"), {"y"},
         "/bn/BatchNormalization")
      .attr("epsilon", bn.eps);
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 1);
  std::vector<float> fb(4);
  for (size_t o = 0; o < 4; o++) fb[o] = bn.shift(o);
  EXPECT_FLOATS_NEAR(fb, values_of(r.layer(0).bias), 1e-6);
}

TEST(ImporterNorm, BatchNormFoldedIntoGemm) {
  Model m(11);
  m.input("x", {-1, 3});
  std::vector<float> w = ramp(12), b = ramp(4, 0.1f, 1.0f);
  m.initializer("0.weight", {4, 3}, w);
  m.initializer("0.bias", {4}, b);
  BnParams bn = bn4();
  bn.add(m, "1");
  m.node("Gemm", {"x", "0.weight", "0.bias"}, {"g"}, "/0/Gemm")
      .attr("transB", 1);
  m.node("BatchNormalization", bn.inputs("g", "1"), {"y"},
         "/1/BatchNormalization")
      .attr("epsilon", bn.eps);
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 1);
  std::vector<float> fw(12), fb(4);
  for (size_t o = 0; o < 4; o++) {
    for (size_t k = 0; k < 3; k++) fw[o * 3 + k] = w[o * 3 + k] * bn.scale(o);
    fb[o] = b[o] * bn.scale(o) + bn.shift(o);
  }
  EXPECT_FLOATS_NEAR(fw, values_of(r.layer(0).weight), 1e-6);
  EXPECT_FLOATS_NEAR(fb, values_of(r.layer(0).bias), 1e-6);
  EXPECT_STREQ(r.layer(0).folded, "1");
}

// On a 3-D Linear output BN normalises dim 1, not the features: no fold.
TEST(ImporterNorm, BatchNormAfter3dLinearStaysALayer) {
  Model m(13);
  m.input("x", {-1, 4, 3});
  m.initializer("W", {3, 5}, ramp(15));
  BnParams bn = bn4();
  bn.add(m, "1");
  m.node("MatMul", {"x", "W"}, {"t"}, "/0/MatMul");
  m.node("BatchNormalization", bn.inputs("t", "1"), {"y"},
         "/1/BatchNormalization")
      .attr("epsilon", bn.eps);
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 2);
  const sq_layer &l = r.layer(1);
  EXPECT_EQ(l.kind, SQ_BATCHNORM);
  EXPECT_STREQ(l.name, "1");
  std::vector<float> s(4), t(4);
  for (size_t c = 0; c < 4; c++) s[c] = bn.scale(c), t[c] = bn.shift(c);
  EXPECT_FLOATS_NEAR(s, values_of(l.weight), 1e-6);
  EXPECT_FLOATS_NEAR(t, values_of(l.bias), 1e-6);
  EXPECT_EQ(dims_of(l.out), (std::vector<int64_t>{-1, 4, 5}));
}

TEST(ImporterNorm, BatchNormAloneAndWithDedupIdentityInputs) {
  Model m(13);
  m.input("x", {-1, 3, 4, 4});
  m.initializer("0.weight", {3}, {1, 1, 1});
  m.initializer("0.bias", {3}, {0, 0, 0});
  // torch deduplicates equal initializers into Identity nodes
  m.node("Identity", {"0.weight"}, {"Identity_0_out"}, "Identity_0");
  m.node("Identity", {"0.bias"}, {"Identity_1_out"}, "Identity_1");
  m.node("BatchNormalization",
         {"x", "0.weight", "0.bias", "Identity_1_out", "Identity_0_out"}, {"y"},
         "/0/BatchNormalization")
      .attr("epsilon", 1e-5f);
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 1);
  EXPECT_EQ(r.layer(0).kind, SQ_BATCHNORM);
  float s = 1.0f / std::sqrt(1.0f + 1e-5f);
  EXPECT_FLOATS_NEAR((std::vector<float>{s, s, s}),
                     values_of(r.layer(0).weight), 1e-6);
  EXPECT_STREQ(r.chain->removed, "");
}

TEST(ImporterNorm, TrainingModeAndSpatialRejected) {
  for (int variant = 0; variant < 2; variant++) {
    Model m(variant == 0 ? 14 : 8);
    m.input("x", {-1, 4, 3, 3});
    BnParams bn = bn4();
    bn.add(m, "bn");
    onnxb::Node &n = m.node("BatchNormalization", bn.inputs("x", "bn"), {"y"},
                            "/bn/BatchNormalization");
    if (variant == 0)
      n.attr("training_mode", 1);
    else
      n.attr("spatial", 0);
    m.output("y");
    Imported r;
    import_model(m, r);
    EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED) << r.error;
    EXPECT_NE(r.error.find("/bn/BatchNormalization"), std::string::npos);
  }
}

// ---- Pools
// -------------------------------------------------------------------

struct PoolCase {
  int64_t in, k, s, pad;
  int64_t ceil;
  int64_t out, pad_end;
};

class ImporterMaxPoolCeil : public ::testing::TestWithParam<PoolCase> {};

// Reference: PyTorch's pooling_output_shape.
int64_t torch_pool_out(int64_t in, int64_t k, int64_t s, int64_t p, bool ceil) {
  int64_t num = in + 2 * p - (k - 1) - 1 + (ceil ? s - 1 : 0);
  int64_t out = num / s + 1;
  if (ceil && (out - 1) * s >= in + p) out--;
  return out;
}

TEST_P(ImporterMaxPoolCeil, PadEndGivesTheCeilSize) {
  const PoolCase &c = GetParam();
  Model m(11);
  m.input("x", {-1, 2, c.in});
  m.node("MaxPool", {"x"}, {"y"}, "/1/MaxPool")
      .attr("kernel_shape", std::vector<int64_t>{c.k})
      .attr("strides", std::vector<int64_t>{c.s})
      .attr("pads", std::vector<int64_t>{c.pad, c.pad})
      .attr("ceil_mode", c.ceil);
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  const sq_layer &l = r.layer(0);
  int64_t expected = torch_pool_out(c.in, c.k, c.s, c.pad, c.ceil != 0);
  EXPECT_EQ(l.out.dims[2], expected);
  EXPECT_EQ(l.out.dims[2], c.out);
  EXPECT_EQ(l.pad_end[0], c.pad_end);
  EXPECT_EQ(l.pad_begin[0], c.pad);
  // the floor formula on the stored pads gives the same size
  EXPECT_EQ((c.in + l.pad_begin[0] + l.pad_end[0] - c.k) / c.s + 1, expected);
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, ImporterMaxPoolCeil,
    ::testing::Values(PoolCase{8, 3, 2, 0, 1, 4, 1},   // floor 3, ceil 4
                      PoolCase{8, 3, 2, 0, 0, 3, 0},   // floor
                      PoolCase{16, 3, 2, 1, 1, 9, 2},  // torch maxpool1d_ceil
                      PoolCase{5, 2, 2, 1, 1, 3, 1},   // last window rule
                      PoolCase{6, 2, 2, 0, 1, 3, 0})); // exact: no extra

TEST(ImporterPool, MaxPoolDilationOpset10) {
  Model m(10);
  m.input("x", {-1, 4, 8, 8});
  m.node("MaxPool", {"x"}, {"y"}, "/1/MaxPool")
      .attr("kernel_shape", std::vector<int64_t>{2, 2})
      .attr("dilations", std::vector<int64_t>{2, 2});
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.layer(0).kind, SQ_MAXPOOL);
  EXPECT_EQ(r.layer(0).dilation[0], 2);
  EXPECT_EQ(dims_of(r.layer(0).out), (std::vector<int64_t>{-1, 4, 6, 6}));
}

TEST(ImporterPool, MaxPoolStorageOrderAndIndicesRejected) {
  Model m(11);
  m.input("x", {-1, 4, 8, 8});
  m.node("MaxPool", {"x"}, {"y"}, "/p/MaxPool")
      .attr("kernel_shape", std::vector<int64_t>{2, 2})
      .attr("storage_order", 1);
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_NE(r.error.find("storage_order"), std::string::npos) << r.error;

  Model m2(11);
  m2.input("x", {-1, 4, 8, 8});
  m2.node("MaxPool", {"x"}, {"y", "idx"}, "/p/MaxPool")
      .attr("kernel_shape", std::vector<int64_t>{2, 2});
  m2.node("Cast", {"idx"}, {"z"}, "/p/Cast").attr("to", 1);
  m2.output("z");
  Imported r2;
  import_model(m2, r2);
  EXPECT_NE(r2.status, SEQRT_OK);
}

TEST(ImporterPool, MaxPoolIndicesOutputUsedRejected) {
  Model m(11);
  m.input("x", {-1, 4, 8, 8});
  m.node("MaxPool", {"x"}, {"y", "idx"}, "/p/MaxPool")
      .attr("kernel_shape", std::vector<int64_t>{2, 2});
  m.node("Relu", {"y"}, {"z"}, "/r/Relu");
  m.output("idx");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED) << r.error;
  EXPECT_EQ(r.error,
            "node '/p/MaxPool' (MaxPool): output 1 'idx' is used (by the "
            "graph output); seqrt uses only the first output of MaxPool");
}

TEST(ImporterPool, AveragePoolCeilCountIncludePad) {
  // pads 0: the ceil extension is excluded either way
  Model m(11);
  m.input("x", {-1, 2, 8, 8});
  m.node("AveragePool", {"x"}, {"y"}, "/1/AveragePool")
      .attr("kernel_shape", std::vector<int64_t>{3, 3})
      .attr("strides", std::vector<int64_t>{2, 2})
      .attr("ceil_mode", 1)
      .attr("count_include_pad", 1);
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.layer(0).kind, SQ_AVGPOOL);
  EXPECT_FALSE(r.layer(0).count_include_pad);
  EXPECT_EQ(r.layer(0).pad_end[0], 1);
  EXPECT_EQ(dims_of(r.layer(0).out), (std::vector<int64_t>{-1, 2, 4, 4}));

  // counted padding plus an uncounted ceil extension (torch's newer
  // exporter's AvgPool(3, 2, padding=1, ceil_mode=True)): the overhang is
  // uncounted padding
  Model m2(11);
  m2.input("x", {-1, 2, 8, 8});
  m2.node("AveragePool", {"x"}, {"y"}, "/1/AveragePool")
      .attr("kernel_shape", std::vector<int64_t>{3, 3})
      .attr("strides", std::vector<int64_t>{2, 2})
      .attr("pads", std::vector<int64_t>{1, 1, 1, 1})
      .attr("ceil_mode", 1)
      .attr("count_include_pad", 1);
  m2.output("y");
  Imported r2;
  import_model(m2, r2);
  ASSERT_TRUE(r2.ok()) << r2.error;
  const sq_layer &l = r2.layer(0);
  EXPECT_TRUE(l.count_include_pad);
  EXPECT_EQ(l.pad_begin[0], 1);
  EXPECT_EQ(l.pad_end[0], 2);
  EXPECT_EQ(l.uncounted_begin[1], 0);
  EXPECT_EQ(l.uncounted_end[0], 1);
  EXPECT_EQ(l.uncounted_end[1], 1);
  EXPECT_EQ(dims_of(l.out), (std::vector<int64_t>{-1, 2, 5, 5}));

  // without count_include_pad nothing is counted: no uncounted padding
  Model m3(11);
  m3.input("x", {-1, 2, 8, 8});
  m3.node("AveragePool", {"x"}, {"y"}, "/1/AveragePool")
      .attr("kernel_shape", std::vector<int64_t>{3, 3})
      .attr("strides", std::vector<int64_t>{2, 2})
      .attr("pads", std::vector<int64_t>{1, 1, 1, 1})
      .attr("ceil_mode", 1);
  m3.output("y");
  Imported r3;
  import_model(m3, r3);
  ASSERT_TRUE(r3.ok()) << r3.error;
  EXPECT_FALSE(r3.layer(0).count_include_pad);
  EXPECT_EQ(r3.layer(0).pad_end[0], 2);
  EXPECT_EQ(r3.layer(0).uncounted_end[0], 0);
}

// Counted padding and an uncounted overhang: the runtime pads the input
// explicitly (1024 + 1 + 1 cells), a buffer the memory limit counts.
TEST(ImporterPool, ExplicitlyPaddedPoolInputCountsAgainstTheLimit) {
  Model m(13);
  m.input("x", {-1, 1, 1, 1024});
  m.node("AveragePool", {"x"}, {"y"}, "/1/AveragePool")
      .attr("kernel_shape", std::vector<int64_t>{1, 4})
      .attr("strides", std::vector<int64_t>{1, 4})
      .attr("pads", std::vector<int64_t>{0, 1, 0, 1})
      .attr("ceil_mode", 1)
      .attr("count_include_pad", 1);
  m.output("y");
  sq_import_options options = {};
  options.memory_limit = 2 * 1026 * 4;
  Imported ok;
  import_model(m, ok, &options);
  ASSERT_TRUE(ok.ok()) << ok.error;
  EXPECT_EQ(ok.layer(0).uncounted_end[1], 2); // 257 windows reach 1024 + 3
  EXPECT_EQ(dims_of(ok.layer(0).out), (std::vector<int64_t>{-1, 1, 1, 257}));
  options.memory_limit = 2 * 1026 * 4 - 1;
  Imported r;
  import_model(m, r, &options);
  EXPECT_EQ(r.status, SEQRT_ERR_LIMIT) << r.error;
}

// Opset 9 has no ceil_mode: torch pads the end generously instead. An end
// pad as wide as the window is trimmed to what the last window reaches.
TEST(ImporterPool, UnreachableEndPaddingTrimmed) {
  Model m(9);
  m.input("x", {-1, 4, 8, 8});
  m.node("AveragePool", {"x"}, {"y"}, "/2/AveragePool")
      .attr("kernel_shape", std::vector<int64_t>{3, 3})
      .attr("strides", std::vector<int64_t>{2, 2})
      .attr("pads", std::vector<int64_t>{1, 1, 3, 3});
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  const sq_layer &l = r.layer(0);
  EXPECT_EQ(dims_of(l.out), (std::vector<int64_t>{-1, 4, 5, 5}));
  EXPECT_EQ(l.pad_begin[0], 1);
  EXPECT_EQ(l.pad_end[0], 2); // last window: starts at 4*2-1=7, ends at 9
  EXPECT_EQ((8 + l.pad_begin[0] + l.pad_end[0] - 3) / 2 + 1, 5);
  EXPECT_FALSE(l.count_include_pad);
}

// torch's AvgPool2d(3, 2, padding=1) (count_include_pad=True) is an explicit
// zero Pad followed by AveragePool(pads=0).
TEST(ImporterPool, ZeroPadFoldedIntoAveragePool) {
  Model m(13);
  m.input("x", {-1, 4, 8, 8});
  m.initializer_i64("pads", {8}, {0, 0, 1, 1, 0, 0, 1, 1});
  m.node("Pad", {"x", "pads"}, {"p"}, "/1/Pad").attr("mode", "constant");
  m.node("AveragePool", {"p"}, {"y"}, "/1/AveragePool")
      .attr("kernel_shape", std::vector<int64_t>{3, 3})
      .attr("strides", std::vector<int64_t>{2, 2})
      .attr("pads", std::vector<int64_t>{0, 0, 0, 0})
      .attr("ceil_mode", 0);
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 1);
  const sq_layer &l = r.layer(0);
  EXPECT_EQ(l.kind, SQ_AVGPOOL);
  EXPECT_TRUE(l.count_include_pad);
  EXPECT_STREQ(l.nodes, "/1/Pad,/1/AveragePool");
  EXPECT_EQ(l.pad_begin[0], 1);
  EXPECT_EQ(l.pad_end[1], 1);
  EXPECT_EQ(dims_of(l.out), (std::vector<int64_t>{-1, 4, 4, 4}));
}

TEST(ImporterPool, GlobalAveragePoolKernelIsSpatialSize) {
  Model m(13);
  m.input("x", {-1, 4, 7, 5});
  m.node("GlobalAveragePool", {"x"}, {"y"}, "/pool/GlobalAveragePool");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  const sq_layer &l = r.layer(0);
  EXPECT_EQ(l.kind, SQ_AVGPOOL);
  EXPECT_EQ(l.kernel[0], 7);
  EXPECT_EQ(l.kernel[1], 5);
  EXPECT_EQ(l.stride[0], 1);
  EXPECT_EQ(l.pad_end[1], 0);
  EXPECT_EQ(dims_of(l.out), (std::vector<int64_t>{-1, 4, 1, 1}));
}

// ---- Activations and softmax ------------------------------------------------

TEST(ImporterActivation, KindsAndDefaults) {
  Model m(13);
  m.input("x", {-1, 6});
  m.node("Relu", {"x"}, {"a"}, "/0/Relu");
  m.node("LeakyRelu", {"a"}, {"b"}, "/1/LeakyRelu");
  m.node("LeakyRelu", {"b"}, {"c"}, "/2/LeakyRelu").attr("alpha", 0.2f);
  m.node("Sigmoid", {"c"}, {"d"}, "/3/Sigmoid");
  m.node("Tanh", {"d"}, {"e"}, "/4/Tanh");
  m.node("Elu", {"e"}, {"f"}, "/5/Elu");
  m.node("Elu", {"f"}, {"g"}, "/6/Elu").attr("alpha", 0.7f);
  m.output("g");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 7);
  sq_kind kinds[] = {SQ_RELU, SQ_LEAKYRELU, SQ_LEAKYRELU, SQ_SIGMOID,
                     SQ_TANH, SQ_ELU,       SQ_ELU};
  for (int k = 0; k < 7; k++) {
    EXPECT_EQ(r.layer(k).kind, kinds[k]);
    EXPECT_EQ(r.layer(k).name, std::to_string(k));
    EXPECT_EQ(dims_of(r.layer(k).out), (std::vector<int64_t>{-1, 6}));
  }
  EXPECT_FLOAT_EQ(r.layer(1).alpha, 0.01f);
  EXPECT_FLOAT_EQ(r.layer(2).alpha, 0.2f);
  EXPECT_FLOAT_EQ(r.layer(5).alpha, 1.0f);
  EXPECT_FLOAT_EQ(r.layer(6).alpha, 0.7f);
}

struct SoftmaxCase {
  int64_t opset;
  bool has_axis;
  int64_t axis;
  int expected_axis;
  bool coerce;
};

class ImporterSoftmax : public ::testing::TestWithParam<SoftmaxCase> {};

TEST_P(ImporterSoftmax, AxisSemanticsPerOpset) {
  const SoftmaxCase &c = GetParam();
  for (const char *op : {"Softmax", "LogSoftmax"}) {
    Model m(c.opset);
    m.input("x", {-1, 3, 16});
    onnxb::Node &n = m.node(op, {"x"}, {"y"}, std::string("/1/") + op);
    if (c.has_axis) n.attr("axis", c.axis);
    m.output("y");
    Imported r;
    import_model(m, r);
    ASSERT_TRUE(r.ok()) << r.error;
    const sq_layer &l = r.layer(0);
    EXPECT_EQ(l.kind,
              std::string(op) == "Softmax" ? SQ_SOFTMAX : SQ_LOGSOFTMAX);
    EXPECT_EQ(l.axis, c.expected_axis) << op << " opset " << c.opset;
    EXPECT_EQ(l.coerce_2d, c.coerce) << op << " opset " << c.opset;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Opsets, ImporterSoftmax,
    ::testing::Values(SoftmaxCase{11, false, 0, 1, true},  // default 1, 2-D
                      SoftmaxCase{11, true, 2, 2, false},  // last: agree
                      SoftmaxCase{11, true, -1, 2, false}, // negative
                      SoftmaxCase{9, true, 1, 1, true},
                      SoftmaxCase{13, false, 0, 2, false}, // default -1
                      SoftmaxCase{13, true, 1, 1, false},  // one axis
                      SoftmaxCase{17, true, -2, 1, false}));

// ---- Views
// --------------------------------------------------------------------

TEST(ImporterShape, FlattenAndReshape) {
  Model m(14);
  m.input("x", {-1, 3, 4, 4});
  m.initializer_i64("shape", {3}, {0, 6, -1});
  m.node("Reshape", {"x", "shape"}, {"r"}, "/0/Reshape").attr("allowzero", 0);
  m.node("Flatten", {"r"}, {"y"}, "/1/Flatten").attr("axis", 1);
  m.output("y", {-1, 48});
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 2);
  EXPECT_EQ(r.layer(0).kind, SQ_RESHAPE);
  EXPECT_EQ(dims_of(r.layer(0).out), (std::vector<int64_t>{-1, 6, 8}));
  EXPECT_EQ(r.layer(1).kind, SQ_FLATTEN);
  EXPECT_EQ(dims_of(r.layer(1).out), (std::vector<int64_t>{-1, 48}));
}

TEST(ImporterShape, ReshapeInferredBatch) {
  Model m(13);
  m.input("x", {-1, 4, 4, 2});
  m.initializer_i64("shape", {2}, {-1, 32});
  m.node("Reshape", {"x", "shape"}, {"y"}, "/0/Reshape");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(dims_of(r.layer(0).out), (std::vector<int64_t>{-1, 32}));
}

// A dynamic batch may merge with the dims after it: dims[0] = -K is the
// batch times K. The input [-1, 4, 4] is reshaped to `first`, then to
// `second`; `mid` and `out` are the resulting chain shapes (`out` empty:
// the second is refused with `error`).
struct MergeCase {
  std::vector<int64_t> first, mid, second, out;
  const char *error;
};

class ImporterMergedBatch : public ::testing::TestWithParam<MergeCase> {};

TEST_P(ImporterMergedBatch, ReshapeArithmetic) {
  const MergeCase &c = GetParam();
  Model m(13);
  m.input("x", {-1, 4, 4});
  m.initializer_i64("first", {(int64_t)c.first.size()}, c.first);
  m.node("Reshape", {"x", "first"}, {"a"}, "/0/Reshape");
  m.initializer_i64("second", {(int64_t)c.second.size()}, c.second);
  m.node("Reshape", {"a", "second"}, {"y"}, "/1/Reshape");
  m.output("y");
  Imported r;
  import_model(m, r);
  if (c.out.empty()) {
    EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED) << r.error;
    EXPECT_NE(r.error.find(c.error), std::string::npos) << r.error;
    return;
  }
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 2);
  EXPECT_EQ(dims_of(r.layer(0).out), c.mid);
  EXPECT_EQ(dims_of(r.layer(1).out), c.out);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ImporterMergedBatch,
    ::testing::Values(
        MergeCase{{-1}, {-16}, {-1, 2}, {-8, 2}, ""},
        MergeCase{{-1, 4}, {-4, 4}, {-1, 2, 2}, {-4, 2, 2}, ""},
        MergeCase{{-1, 4}, {-4, 4}, {0, 2, 2}, {-4, 2, 2}, ""},
        MergeCase{{-1, 4}, {-4, 4}, {-1, 16}, {-1, 16}, ""},
        MergeCase{{-1, 4}, {-4, 4}, {-1, 2, 4, 2}, {-1, 2, 4, 2}, ""},
        MergeCase{{0, 2, 8}, {-1, 2, 8}, {-1, 8}, {-2, 8}, ""},
        MergeCase{{-1, 4},
                  {-4, 4},
                  {4, -1},
                  {},
                  "cannot reshape [-1*4, 4] to [4, -1]: the batch dim must "
                  "stay first"},
        MergeCase{{-1, 4}, {-4, 4}, {-1, 3}, {}, "-1 cannot be inferred"},
        MergeCase{{-1, 4}, {-4, 4}, {2, 8}, {}, "the element count changes"},
        MergeCase{{-1, 4}, {-4, 4}, {0, 4, 0}, {}, "0 copies a dim"}));

// The merged dim read back through Shape carries its K: Flatten(0, 1) of
// [-1, 2, 3, 4] twice, as torch writes it (Concat(Shape(x)[:0], [-1],
// Shape(x)[2:])): [-1*2, 3, 4], then [-1*6, 4]; then back to the batch with
// Shape of the graph input: [-1, 24].
TEST(ImporterShape, MergedBatchThroughShape) {
  Model m(13);
  m.input("x", {-1, 2, 3, 4});
  m.initializer_i64("zero", {1}, {0});
  m.initializer_i64("one", {1}, {1});
  m.initializer_i64("two", {1}, {2});
  m.initializer_i64("big", {1}, {8});
  m.initializer_i64("minus1", {1}, {-1});
  const char *in[2] = {"x", "a"}, *out[2] = {"a", "b"};
  for (int k = 0; k < 2; k++) {
    std::string p = "/" + std::to_string(k) + "/";
    m.node("Shape", {in[k]}, {p + "s"}, p + "Shape");
    m.node("Slice", {p + "s", "two", "big", "zero"}, {p + "tail"}, p + "Slice");
    m.node("Concat", {"minus1", p + "tail"}, {p + "target"}, p + "Concat")
        .attr("axis", 0);
    m.node("Reshape", {in[k], p + "target"}, {out[k]}, p + "Reshape");
  }
  // [Shape(x)[0], -1]: the batch alone, from the graph input's shape
  m.node("Shape", {"x"}, {"xs"}, "/2/Shape");
  m.node("Slice", {"xs", "zero", "one", "zero"}, {"batch"}, "/2/Slice");
  m.node("Concat", {"batch", "minus1"}, {"t2"}, "/2/Concat").attr("axis", 0);
  m.node("Reshape", {"b", "t2"}, {"c"}, "/2/Reshape");
  // Equal(Shape(b)[0], Shape(b)[0]) style checks compare the batch factors
  m.node("Relu", {"c"}, {"y"}, "/3/Relu");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 4);
  EXPECT_EQ(dims_of(r.layer(0).out), (std::vector<int64_t>{-2, 3, 4}));
  EXPECT_EQ(dims_of(r.layer(1).out), (std::vector<int64_t>{-6, 4}));
  EXPECT_EQ(dims_of(r.layer(2).out), (std::vector<int64_t>{-1, 24}));
}

// Equal on Shape values: the batch times K equals only the batch times the
// same K. The target [-1, 1 + (Sa == Sa) + (Sa == Sx)] with Sa = Shape(a)[0]
// (a: [-1*2, 3]) and Sx = Shape(x)[0] is [-1, 2]: a becomes [-1*3, 2].
TEST(ImporterShape, EqualComparesTheBatchFactor) {
  Model m(13);
  m.input("x", {-1, 2, 3});
  m.initializer_i64("flat", {2}, {-1, 3});
  m.node("Reshape", {"x", "flat"}, {"a"}, "/0/Reshape");
  m.initializer_i64("zero", {1}, {0});
  m.initializer_i64("one", {1}, {1});
  m.initializer_i64("minus1", {1}, {-1});
  m.node("Shape", {"a"}, {"sa_all"}, "/1/Shape");
  m.node("Slice", {"sa_all", "zero", "one"}, {"sa"}, "/1/Slice");
  m.node("Shape", {"x"}, {"sx_all"}, "/1/Shape_1");
  m.node("Slice", {"sx_all", "zero", "one"}, {"sx"}, "/1/Slice_1");
  m.node("Equal", {"sa", "sa"}, {"same"}, "/1/Equal");
  m.node("Equal", {"sa", "sx"}, {"other"}, "/1/Equal_1");
  m.node("Cast", {"same"}, {"same_i"}, "/1/Cast").attr("to", (int64_t)7);
  m.node("Cast", {"other"}, {"other_i"}, "/1/Cast_1").attr("to", (int64_t)7);
  m.node("Add", {"same_i", "other_i"}, {"sum"}, "/1/Add");
  m.node("Add", {"sum", "one"}, {"last"}, "/1/Add_1");
  m.node("Concat", {"minus1", "last"}, {"target"}, "/1/Concat").attr("axis", 0);
  m.node("Reshape", {"a", "target"}, {"y"}, "/1/Reshape");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 2);
  EXPECT_EQ(dims_of(r.layer(0).out), (std::vector<int64_t>{-2, 3}));
  EXPECT_EQ(dims_of(r.layer(1).out), (std::vector<int64_t>{-3, 2}));
}

// ONNX Flatten(axis) merges the batch into its first part; axis 0 would
// put it in dim 1 ([1, N]), which a dynamic batch cannot do.
TEST(ImporterShape, FlattenMergesTheDynamicBatch) {
  struct {
    int64_t batch, axis;
    std::vector<int64_t> out;
  } cases[] = {{-1, 2, {-3, 20}},  {2, 2, {6, 20}},   {-1, 4, {-60, 1}},
               {-1, -1, {-12, 5}}, {-1, 1, {-1, 60}}, {2, 0, {1, 120}},
               {-1, 0, {}}};
  for (const auto &c : cases) {
    Model m(11);
    m.input("x", {c.batch, 3, 4, 5});
    m.node("Flatten", {"x"}, {"y"}, "/f/Flatten").attr("axis", c.axis);
    m.output("y");
    Imported r;
    import_model(m, r);
    if (c.out.empty()) {
      EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED) << r.error;
      EXPECT_NE(
          r.error.find("node '/f/Flatten' (Flatten) with axis=0 on "
                       "[-1, 3, 4, 5] moves the dynamic batch into dim 1"),
          std::string::npos)
          << r.error;
      continue;
    }
    ASSERT_TRUE(r.ok()) << "axis " << c.axis << ": " << r.error;
    EXPECT_EQ(dims_of(r.layer(0).out), c.out) << "axis " << c.axis;
  }
}

// A Linear (MatMul) on a vector: with a fixed batch the shapes are concrete
// and it imports; with a dynamic batch its one dim holds the batch.
TEST(ImporterShape, LinearOnTheMergedBatch) {
  for (int64_t batch : {2, -1}) {
    Model m(13);
    m.input("x", {batch, 3});
    m.initializer_i64("flat", {1}, {-1});
    m.node("Reshape", {"x", "flat"}, {"v"}, "/0/Reshape");
    m.initializer("w", {6, 4}, std::vector<float>(24, 0.5f));
    m.initializer("b", {4}, {1, 2, 3, 4});
    m.node("MatMul", {"v", "w"}, {"mm"}, "/1/MatMul");
    m.node("Add", {"mm", "b"}, {"y"}, "/1/Add");
    m.output("y");
    Imported r;
    import_model(m, r);
    if (batch < 0) {
      EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED);
      EXPECT_NE(r.error.find("node '/1/MatMul' (MatMul): a Linear layer on "
                             "[-1*3] would sum over the dynamic batch"),
                std::string::npos)
          << r.error;
      continue;
    }
    ASSERT_TRUE(r.ok()) << r.error;
    ASSERT_EQ(r.count(), 2);
    EXPECT_EQ(dims_of(r.layer(0).out), (std::vector<int64_t>{6}));
    EXPECT_EQ(r.layer(1).kind, SQ_LINEAR);
    EXPECT_EQ(dims_of(r.layer(1).out), (std::vector<int64_t>{4}));
    EXPECT_EQ(values_of(r.layer(1).bias), (std::vector<float>{1, 2, 3, 4}));
  }
}

TEST(ImporterShape, MergedBatchFormatAndCount) {
  sq_shape merged = {3, {-6, 4, 5}}, plain = {2, {-1, 7}}, fixed = {1, {9}};
  char buf[64];
  EXPECT_STREQ(sq_shape_format(&merged, buf, sizeof buf), "[-1*6, 4, 5]");
  EXPECT_STREQ(sq_shape_format(&plain, buf, sizeof buf), "[-1, 7]");
  EXPECT_STREQ(sq_shape_format(&fixed, buf, sizeof buf), "[9]");
  // a list of sizes (a Reshape target, pads) shows negative values as is
  EXPECT_STREQ(sq_dims_format(3, merged.dims, buf, sizeof buf), "[-6, 4, 5]");
  EXPECT_EQ(sq_shape_count(&merged, 1), 120);
  EXPECT_EQ(sq_shape_count(&merged, 3), 360);
  EXPECT_EQ(sq_shape_count(&plain, 3), 21);
  EXPECT_EQ(sq_shape_count(&fixed, 3), 9);
  EXPECT_EQ(sq_dim_size(-6, 3), 18);
  EXPECT_EQ(sq_dim_size(-1, 3), 3);
  EXPECT_EQ(sq_dim_size(4, 3), 4);
}

// Squeeze/Unsqueeze: axes attribute before opset 13, an input from 13.
TEST(ImporterShape, SqueezeUnsqueezeAxesAttributeVsInput) {
  for (int64_t opset : {11, 13}) {
    Model m(opset);
    m.input("x", {-1, 4, 1, 5});
    if (opset < 13) {
      m.node("Squeeze", {"x"}, {"s"}, "/0/Squeeze")
          .attr("axes", std::vector<int64_t>{2});
      m.node("Unsqueeze", {"s"}, {"y"}, "/1/Unsqueeze")
          .attr("axes", std::vector<int64_t>{-1});
    } else {
      m.initializer_i64("ax2", {1}, {2});
      m.initializer_i64("axm1", {1}, {-1});
      m.node("Squeeze", {"x", "ax2"}, {"s"}, "/0/Squeeze");
      m.node("Unsqueeze", {"s", "axm1"}, {"y"}, "/1/Unsqueeze");
    }
    m.output("y");
    Imported r;
    import_model(m, r);
    ASSERT_TRUE(r.ok()) << "opset " << opset << ": " << r.error;
    ASSERT_EQ(r.count(), 2);
    EXPECT_EQ(r.layer(0).kind, SQ_RESHAPE);
    EXPECT_EQ(dims_of(r.layer(0).out), (std::vector<int64_t>{-1, 4, 5}));
    EXPECT_EQ(dims_of(r.layer(1).out), (std::vector<int64_t>{-1, 4, 5, 1}));
  }
}

TEST(ImporterShape, SqueezeOfBatchRejected) {
  Model m(11);
  m.input("x", {-1, 4});
  m.node("Squeeze", {"x"}, {"y"}, "/0/Squeeze")
      .attr("axes", std::vector<int64_t>{0});
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_NE(r.error.find("batch"), std::string::npos) << r.error;
}

// ---- removed and names
// ------------------------------------------------------------

TEST(ImporterRemoved, DropoutAndIdentityLeaveTheChain) {
  for (int64_t opset : {7, 11, 12, 13}) {
    Model m(opset);
    m.input("x", {-1, 4});
    m.node("Relu", {"x"}, {"a"}, "/0/Relu");
    if (opset >= 12) {
      onnxb::Node &n =
          m.node("Dropout", {"a", "", "mode"}, {"b", "mask"}, "/drop/Dropout");
      (void)n;
      m.add_init(m.tensor_bytes("mode", {}, onnxb::BOOL, {0}));
    } else {
      m.node("Dropout", {"a"}, {"b"}, "/drop/Dropout").attr("ratio", 0.5f);
    }
    m.node("Identity", {"b"}, {"c"}, "/id/Identity");
    m.node("Tanh", {"c"}, {"y"}, "/3/Tanh");
    m.output("y");
    Imported r;
    import_model(m, r);
    ASSERT_TRUE(r.ok()) << "opset " << opset << ": " << r.error;
    ASSERT_EQ(r.count(), 2);
    EXPECT_STREQ(r.chain->removed, "drop,id");
    EXPECT_EQ(r.layer(1).kind, SQ_TANH);
  }
}

TEST(ImporterRemoved, DropoutMaskUsedOrTrainingRejected) {
  Model m(13);
  m.input("x", {-1, 4});
  m.node("Dropout", {"x"}, {"y", "mask"}, "/d/Dropout");
  m.node("Cast", {"mask"}, {"z"}, "/d/Cast").attr("to", 1);
  m.node("Relu", {"y"}, {"w"}, "/r/Relu");
  m.output("w");
  Imported r;
  import_model(m, r);
  EXPECT_NE(r.status, SEQRT_OK);

  Model m2(13);
  m2.input("x", {-1, 4});
  m2.add_init(m2.tensor_bytes("train", {}, onnxb::BOOL, {1}));
  m2.node("Dropout", {"x", "", "train"}, {"y"}, "/d/Dropout");
  m2.output("y");
  Imported r2;
  import_model(m2, r2);
  EXPECT_EQ(r2.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_NE(r2.error.find("training mode"), std::string::npos) << r2.error;
}

TEST(ImporterRemoved, IdentityOnlyModelKeepsOneLayer) {
  Model m(13);
  m.input("input", {-1, 8});
  m.node("Identity", {"input"}, {"output"}, "Identity_0");
  m.output("output");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 1);
  EXPECT_EQ(r.layer(0).kind, SQ_RESHAPE);
  EXPECT_STREQ(r.layer(0).name, "Identity_0");
  EXPECT_EQ(dims_of(r.layer(0).out), (std::vector<int64_t>{-1, 8}));
  EXPECT_STREQ(r.chain->removed, "");
}

TEST(ImporterNames, ModulePathFromNodeName) {
  Model m(13);
  m.input("x", {-1, 4});
  m.node("Relu", {"x"}, {"a"}, "/features/features.0/Relu");
  m.node("Tanh", {"a"}, {"b"}, "/1/1.2/1.2.0/Tanh");
  m.node("Relu", {"b"}, {"c"}, "/Relu");
  m.node("Sigmoid", {"c"}, {"d"}); // unnamed: <OpType>_<index>
  m.node("Relu", {"d"}, {"e"}, "/fc1/Relu");
  m.output("e");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 5);
  EXPECT_STREQ(r.layer(0).name, "features.0");
  EXPECT_STREQ(r.layer(1).name, "1.2.0");
  EXPECT_STREQ(r.layer(2).name, "/Relu");
  EXPECT_STREQ(r.layer(3).name, "Sigmoid_3");
  EXPECT_STREQ(r.layer(3).nodes, "Sigmoid_3");
  EXPECT_STREQ(r.layer(4).name, "fc1");
}

// Old exporters list the initializers among graph.input too.
TEST(ImporterGraph, InitializersListedAsInputsAreWeights) {
  Model m(9);
  m.input("x", {-1, 3});
  m.input("W", {4, 3});
  m.input("B", {4});
  m.initializer("W", {4, 3}, ramp(12));
  m.initializer("B", {4}, ramp(4));
  m.node("Gemm", {"x", "W", "B"}, {"y"}, "/fc/Gemm").attr("transB", 1);
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_STREQ(r.chain->input_name, "x");
}

TEST(ImporterGraph, ConstantNodesAsWeights) {
  Model m(13);
  m.input("x", {-1, 2});
  std::vector<float> w = ramp(6);
  m.constant("W", m.tensor("", {3, 2}, w), "Constant_0");
  m.node("Constant", {}, {"B"}, "Constant_1")
      .attr("value_floats", std::vector<float>{1, 2, 3});
  m.node("Gemm", {"x", "W", "B"}, {"g"}, "/fc/Gemm").attr("transB", 1);
  m.node("Constant", {}, {"S"}, "Constant_2")
      .attr("value_ints", std::vector<int64_t>{-1, 3, 1});
  m.node("Reshape", {"g", "S"}, {"y"}, "/r/Reshape");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 2);
  EXPECT_FLOATS_NEAR(w, values_of(r.layer(0).weight), 0);
  EXPECT_FLOATS_NEAR((std::vector<float>{1, 2, 3}), values_of(r.layer(0).bias),
                     0);
  EXPECT_EQ(dims_of(r.layer(1).out), (std::vector<int64_t>{-1, 3, 1}));
}

} // namespace
