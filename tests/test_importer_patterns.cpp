// Importer: decompositions recognised as one layer by their structure and
// constants (GELU, SiLU, LayerNorm, GroupNorm, LocalResponseNorm, LPPool,
// GLU, circular padding, shuffles, ...) in the forms torch 1.13 exports
// at opsets 9-17 and the newer exporter at 18+, with or without node
// names; and look-alike subgraphs that must stay rejected (a
// squeeze-excitation join, torch.cat([x, 2 * x])).
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sys/stat.h>

#include "test_importer_util.h"

using onnxb::Model;
using onnxb::ramp;

namespace {

using dims = std::vector<int64_t>;
using floats = std::vector<float>;

// A one-value float initializer named `name`.
std::string scalar(Model &m, const std::string &name, float v) {
  m.initializer(name, {}, {v});
  return name;
}

void expect_one_layer(Imported &r, sq_kind kind, const char *name,
                      const char *nodes) {
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 1);
  EXPECT_EQ(r.layer(0).kind, kind) << sq_kind_name(r.layer(0).kind);
  EXPECT_STREQ(r.layer(0).name, name);
  EXPECT_STREQ(r.layer(0).nodes, nodes);
}

// ---- GELU ------------------------------------------------------------------

// torch 1.13, every opset: x * (erf(x / sqrt2) + 1) * 0.5
void torch_gelu(Model &m, const std::string &x, const std::string &y,
                const std::string &scope) {
  m.node("Div", {x, scalar(m, "sqrt2", 1.4142135381698608f)}, {"g_div"},
         scope + "Div");
  m.node("Erf", {"g_div"}, {"g_erf"}, scope + "Erf");
  m.node("Add", {"g_erf", scalar(m, "one", 1.0f)}, {"g_add"}, scope + "Add");
  m.node("Mul", {x, "g_add"}, {"g_mul"}, scope + "Mul");
  m.node("Mul", {"g_mul", scalar(m, "half", 0.5f)}, {y}, scope + "Mul_1");
}

TEST(ImporterPatterns, GeluTorchForm) {
  for (int64_t opset : {9, 11, 13, 14, 17}) {
    Model m(opset);
    m.input("x", {-1, 16});
    torch_gelu(m, "x", "y", "/1/");
    m.output("y");
    Imported r;
    import_model(m, r);
    expect_one_layer(r, SQ_GELU, "1", "/1/Div,/1/Erf,/1/Add,/1/Mul,/1/Mul_1");
    EXPECT_EQ(dims_of(r.layer(0).out), (dims{-1, 16}));
  }
}

// Names are a hint only: the same subgraph with no node names, operands
// swapped where the op commutes, and a constant shared with another use.
TEST(ImporterPatterns, GeluWithoutNamesAndSwappedOperands) {
  Model m(13);
  m.input("x", {-1, 16});
  m.initializer("w", {16, 16}, ramp(256));
  m.node("Gemm", {"x", "w", "one"}, {"h"}).attr("transB", 1);
  scalar(m, "one", 1.0f);
  m.node("Div", {"h", scalar(m, "sqrt2", 1.41421356f)}, {"d"});
  m.node("Erf", {"d"}, {"e"});
  m.node("Add", {"one", "e"}, {"a"});
  m.node("Mul", {"a", "h"}, {"p"});
  m.node("Mul", {scalar(m, "half", 0.5f), "p"}, {"y"});
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 2);
  EXPECT_EQ(r.layer(1).kind, SQ_GELU);
  EXPECT_STREQ(r.layer(1).nodes, "Div_1,Erf_2,Add_3,Mul_4,Mul_5");
  EXPECT_STREQ(r.layer(1).name, "Mul_5");
}

// onnxscript (the newer exporter) at opset 18: x * ((erf(x / sqrt2) + 1) *
// 0.5), FX-style names, the module path in the metadata.
TEST(ImporterPatterns, GeluOnnxscriptFormWithMetadataNames) {
  Model m(18);
  m.input("x", {-1, 16});
  const char *scopes = "['', 'act', 'gelu']";
  auto meta = [&](onnxb::Node &n) {
    n.metadata("pkg.torch.onnx.name_scopes", scopes)
        .metadata("pkg.torch.onnx.class_hierarchy",
                  "['torch.nn.modules.container.Sequential', "
                  "'torch.nn.modules.activation.GELU', 'aten.gelu.default']");
  };
  meta(m.node("Div", {"x", scalar(m, "c1", 1.4142135f)}, {"v1"}, "node_Div_0"));
  meta(m.node("Erf", {"v1"}, {"v2"}, "node_Erf_1"));
  meta(m.node("Add", {"v2", scalar(m, "c2", 1.0f)}, {"v3"}, "node_Add_2"));
  meta(m.node("Mul", {scalar(m, "c3", 0.5f), "v3"}, {"v4"}, "node_Mul_3"));
  meta(m.node("Mul", {"x", "v4"}, {"gelu"}, "node_Mul_4"));
  m.output("gelu");
  Imported r;
  import_model(m, r);
  expect_one_layer(r, SQ_GELU, "act",
                   "node_Div_0,node_Erf_1,node_Add_2,node_Mul_3,node_Mul_4");
}

TEST(ImporterPatterns, GeluTanhTorchAndPowForms) {
  Model m(13); // torch: x*x*x through two Muls
  m.input("x", {-1, 8});
  m.node("Mul", {"x", "x"}, {"a"}, "/1/Mul");
  m.node("Mul", {"x", "a"}, {"b"}, "/1/Mul_1");
  m.node("Mul", {scalar(m, "k", 0.044715f), "b"}, {"c"}, "/1/Mul_2");
  m.node("Add", {"x", "c"}, {"d"}, "/1/Add");
  m.node("Mul", {scalar(m, "s", 0.7978845834732056f), "d"}, {"e"}, "/1/Mul_3");
  m.node("Tanh", {"e"}, {"f"}, "/1/Tanh");
  m.node("Add", {scalar(m, "one", 1.0f), "f"}, {"g"}, "/1/Add_1");
  m.node("Mul", {"x", "g"}, {"h"}, "/1/Mul_4");
  m.node("Mul", {scalar(m, "half", 0.5f), "h"}, {"y"}, "/1/Mul_5");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 1);
  EXPECT_EQ(r.layer(0).kind, SQ_GELU_TANH);

  Model m2(18); // onnxscript: Pow(x, 3)
  m2.input("x", {-1, 8});
  m2.initializer_i64("three", {}, {3});
  m2.node("Pow", {"x", "three"}, {"a"});
  m2.node("Mul", {scalar(m2, "k", 0.044715f), "a"}, {"c"});
  m2.node("Add", {"x", "c"}, {"d"});
  m2.node("Mul", {scalar(m2, "s", 0.7978846f), "d"}, {"e"});
  m2.node("Tanh", {"e"}, {"f"});
  m2.node("Add", {"f", scalar(m2, "one", 1.0f)}, {"g"});
  m2.node("Mul", {"x", "g"}, {"h"});
  m2.node("Mul", {scalar(m2, "half", 0.5f), "h"}, {"y"});
  m2.output("y");
  Imported r2;
  import_model(m2, r2);
  ASSERT_TRUE(r2.ok()) << r2.error;
  ASSERT_EQ(r2.count(), 1);
  EXPECT_EQ(r2.layer(0).kind, SQ_GELU_TANH);
}

// ---- x * f(x) and look-alikes
// ------------------------------------------------

TEST(ImporterPatterns, SiluMishHardswishSoftsignTanhshrinkLogSigmoid) {
  Model m(13);
  m.input("x", {-1, 8});
  m.node("Sigmoid", {"x"}, {"s"}, "/0/Sigmoid");
  m.node("Mul", {"x", "s"}, {"a"}, "/0/Mul");
  m.node("Softplus", {"a"}, {"sp"}, "/1/Softplus");
  m.node("Tanh", {"sp"}, {"t"}, "/1/Tanh");
  m.node("Mul", {"a", "t"}, {"b"}, "/1/Mul");
  m.node("HardSigmoid", {"b"}, {"hs"}, "/2/HardSigmoid")
      .attr("alpha", 0.1666666716337204f);
  m.node("Mul", {"b", "hs"}, {"c"}, "/2/Mul");
  m.node("Abs", {"c"}, {"ab"}, "/3/Abs");
  m.node("Add", {"ab", scalar(m, "one", 1.0f)}, {"den"}, "/3/Add");
  m.node("Div", {"c", "den"}, {"d"}, "/3/Div");
  m.node("Tanh", {"d"}, {"td"}, "/4/Tanh");
  m.node("Sub", {"d", "td"}, {"e"}, "/4/Sub");
  m.node("Sigmoid", {"e"}, {"se"}, "/5/Sigmoid");
  m.node("Log", {"se"}, {"y"}, "/5/Log");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  const sq_kind kinds[] = {SQ_SILU,     SQ_MISH,       SQ_HARDSWISH,
                           SQ_SOFTSIGN, SQ_TANHSHRINK, SQ_LOGSIGMOID};
  ASSERT_EQ(r.count(), 6);
  for (int k = 0; k < 6; k++) {
    EXPECT_EQ(r.layer(k).kind, kinds[k]) << k;
    EXPECT_EQ(r.layer(k).name, std::to_string(k));
  }
  EXPECT_STREQ(r.layer(2).nodes, "/2/HardSigmoid,/2/Mul");
}

// A squeeze-excitation block ends in the same x * sigmoid(...) join as
// SiLU, but the sigmoid reads a branch: not SiLU, a branching graph.
TEST(ImporterPatterns, SqueezeExcitationIsNotSilu) {
  Model m(13);
  m.input("x", {-1, 4, 6, 6});
  m.node("GlobalAveragePool", {"x"}, {"p"}, "/se/GlobalAveragePool");
  m.initializer("w", {4, 4, 1, 1}, ramp(16));
  m.node("Conv", {"p", "w"}, {"c"}, "/se/fc/Conv");
  m.node("Sigmoid", {"c"}, {"s"}, "/se/Sigmoid");
  m.node("Mul", {"x", "s"}, {"y"}, "/se/Mul");
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_NOT_CHAIN);
  EXPECT_EQ(r.error, "branching graph: tensor 'x' (the graph input) is used "
                     "by 2 nodes '/se/GlobalAveragePool' and '/se/Mul'; they "
                     "all belong to module 'se', whose subgraph is not a "
                     "layer decomposition seqrt recognises — skip "
                     "connections and parallel paths cannot run as a chain");

  // the same with the sigmoid straight on x of a conv's output is SiLU
  Model m2(13);
  m2.input("x", {-1, 4, 6, 6});
  m2.initializer("w", {4, 4, 1, 1}, ramp(16));
  m2.node("Conv", {"x", "w"}, {"c"}, "/0/Conv");
  m2.node("Sigmoid", {"c"}, {"s"}, "/1/Sigmoid");
  m2.node("Mul", {"c", "s"}, {"y"}, "/1/Mul");
  m2.output("y");
  Imported r2;
  import_model(m2, r2);
  ASSERT_TRUE(r2.ok()) << r2.error;
  EXPECT_EQ(r2.layer(1).kind, SQ_SILU);
}

// torch.cat([x, 2 * x]) inside one module: both consumers are in one name
// scope, yet no layer computes that.
TEST(ImporterPatterns, ConcatOfXAndTwoXIsBranching) {
  Model m(13);
  m.input("x", {-1, 4});
  m.node("Mul", {"x", scalar(m, "two", 2.0f)}, {"d"}, "/0/Mul");
  m.node("Concat", {"x", "d"}, {"y"}, "/0/Concat").attr("axis", 1);
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_NOT_CHAIN);
  EXPECT_EQ(r.error,
            "branching graph: tensor 'x' (the graph input) is used by 2 "
            "nodes '/0/Mul' and '/0/Concat'; they all belong to module '0', "
            "whose subgraph is not a layer decomposition seqrt recognises — "
            "skip connections and parallel paths cannot run as a chain");
}

// HardSigmoid(alpha=0.2) * x is not PyTorch's Hardswish.
TEST(ImporterPatterns, HardswishNeedsTorchsSlope) {
  Model m(13);
  m.input("x", {-1, 8});
  m.node("HardSigmoid", {"x"}, {"hs"}, "/2/HardSigmoid");
  m.node("Mul", {"x", "hs"}, {"y"}, "/2/Mul");
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_NOT_CHAIN);
}

// ---- shrinks, Softplus(beta), Threshold
// ----------------------------------------

TEST(ImporterPatterns, SoftshrinkAndHardshrink) {
  Model m(13);
  m.input("x", {-1, 8});
  scalar(m, "l", 0.25f);
  scalar(m, "nl", -0.25f);
  scalar(m, "zero", 0.0f);
  m.node("Greater", {"x", "l"}, {"g"}, "/0/Greater");
  m.node("Sub", {"x", "l"}, {"s"}, "/0/Sub");
  m.node("Where", {"g", "s", "zero"}, {"w"}, "/0/Where");
  m.node("Less", {"x", "nl"}, {"lt"}, "/0/Less");
  m.node("Add", {"x", "l"}, {"a"}, "/0/Add");
  m.node("Where", {"lt", "a", "zero"}, {"w1"}, "/0/Where_1");
  m.node("Add", {"w", "w1"}, {"soft"}, "/0/Add_1");
  scalar(m, "h", 0.5f);
  scalar(m, "nh", -0.5f);
  m.node("Greater", {"soft", "h"}, {"hg"}, "/1/Greater");
  m.node("Less", {"soft", "nh"}, {"hl"}, "/1/Less");
  m.node("Cast", {"hg"}, {"c0"}, "/1/Cast").attr("to", 9);
  m.node("Cast", {"hl"}, {"c1"}, "/1/Cast_1").attr("to", 9);
  m.node("Or", {"c0", "c1"}, {"or"}, "/1/Or");
  m.node("Where", {"or", "soft", "zero"}, {"y"}, "/1/Where");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 2);
  EXPECT_EQ(r.layer(0).kind, SQ_SOFTSHRINK);
  EXPECT_EQ(r.layer(0).alpha, 0.25f);
  EXPECT_EQ(r.layer(1).kind, SQ_HARDSHRINK);
  EXPECT_EQ(r.layer(1).alpha, 0.5f);
  EXPECT_STREQ(r.layer(1).nodes,
               "/1/Greater,/1/Less,/1/Cast,/1/Cast_1,/1/Or,/1/Where");
}

TEST(ImporterPatterns, SoftshrinkWithUnequalLambdasIsRejected) {
  Model m(13);
  m.input("x", {-1, 8});
  scalar(m, "l", 0.25f);
  scalar(m, "nl", -0.5f);
  scalar(m, "zero", 0.0f);
  m.node("Greater", {"x", "l"}, {"g"}, "/0/Greater");
  m.node("Sub", {"x", "l"}, {"s"}, "/0/Sub");
  m.node("Where", {"g", "s", "zero"}, {"w"}, "/0/Where");
  m.node("Less", {"x", "nl"}, {"lt"}, "/0/Less");
  m.node("Add", {"x", "l"}, {"a"}, "/0/Add");
  m.node("Where", {"lt", "a", "zero"}, {"w1"}, "/0/Where_1");
  m.node("Add", {"w", "w1"}, {"y"}, "/0/Add_1");
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_NOT_CHAIN);
}

TEST(ImporterPatterns, SoftplusBetaAndThreshold) {
  Model m(13); // torch: softplus(2x) / 2
  m.input("x", {-1, 8});
  m.node("Mul", {"x", scalar(m, "b", 2.0f)}, {"a"}, "/1/Mul");
  m.node("Softplus", {"a"}, {"s"}, "/1/Softplus");
  m.node("Div", {"s", scalar(m, "b2", 2.0f)}, {"y"}, "/1/Div");
  m.output("y");
  Imported r;
  import_model(m, r);
  expect_one_layer(r, SQ_SOFTPLUS, "1", "/1/Mul,/1/Softplus,/1/Div");
  EXPECT_EQ(r.layer(0).alpha, 2.0f);

  // onnxscript: where(beta*x > threshold, x, softplus(beta*x)/beta)
  for (float threshold : {20.0f, 1.0f}) {
    Model m2(18);
    m2.input("x", {-1, 8});
    m2.node("Mul", {"x", scalar(m2, "b", 2.0f)}, {"a"});
    m2.node("Softplus", {"a"}, {"s"});
    m2.node("Div", {"s", scalar(m2, "b2", 2.0f)}, {"d"});
    m2.node("Greater", {"a", scalar(m2, "t", threshold)}, {"g"});
    m2.node("Where", {"g", "x", "d"}, {"y"}, "node_where");
    m2.output("y");
    Imported r2;
    import_model(m2, r2);
    if (threshold == 20.0f) {
      ASSERT_TRUE(r2.ok()) << r2.error;
      EXPECT_EQ(r2.layer(0).kind, SQ_SOFTPLUS);
      EXPECT_EQ(r2.layer(0).alpha, 2.0f);
    } else {
      EXPECT_EQ(r2.status, SEQRT_ERR_UNSUPPORTED);
      EXPECT_NE(r2.error.find("threshold=1"), std::string::npos) << r2.error;
    }
  }
}

TEST(ImporterPatterns, ThresholdAsWhere) {
  Model m(18);
  m.input("x", {-1, 8});
  m.node("LessOrEqual", {"x", scalar(m, "t", 0.1f)}, {"le"}, "node_le");
  m.node("Where", {"le", scalar(m, "v", 20.0f), "x"}, {"y"}, "node_where");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.layer(0).kind, SQ_THRESHOLD);
  EXPECT_NEAR(r.layer(0).alpha, 0.1f, 1e-7);
  EXPECT_EQ(r.layer(0).beta, 20.0f);
}

// ---- GLU
// ---------------------------------------------------------------------

TEST(ImporterPatterns, GluAcrossSplitForms) {
  for (int64_t opset : {9, 13, 18}) {
    Model m(opset);
    m.input("x", {-1, 4, 6});
    if (opset == 13) {
      m.initializer_i64("split", {2}, {2, 2});
      m.node("Split", {"x", "split"}, {"a", "b"}, "/1/Split").attr("axis", 1);
    } else if (opset == 18) {
      m.node("Split", {"x"}, {"a", "b"}, "/1/Split")
          .attr("axis", 1)
          .attr("num_outputs", 2);
    } else {
      m.node("Split", {"x"}, {"a", "b"}, "/1/Split").attr("axis", 1);
    }
    m.node("Sigmoid", {"b"}, {"s"}, "/1/Sigmoid");
    m.node("Mul", {"a", "s"}, {"y"}, "/1/Mul");
    m.output("y");
    Imported r;
    import_model(m, r);
    expect_one_layer(r, SQ_GLU, "1", "/1/Split,/1/Sigmoid,/1/Mul");
    EXPECT_EQ(r.layer(0).axis, 1);
    EXPECT_EQ(dims_of(r.layer(0).out), (dims{-1, 2, 6}));
  }
  Model m(13); // uneven halves are not GLU
  m.input("x", {-1, 4, 6});
  m.initializer_i64("split", {2}, {1, 3});
  m.node("Split", {"x", "split"}, {"a", "b"}, "/1/Split").attr("axis", 1);
  m.node("Sigmoid", {"b"}, {"s"}, "/1/Sigmoid");
  m.node("Mul", {"a", "s"}, {"y"}, "/1/Mul");
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_NE(r.status, SEQRT_OK);
}

// ---- softmax family
// -------------------------------------------------------------

TEST(ImporterPatterns, SoftminAndTransposedSoftmax) {
  Model m(13); // Softmin(dim=1) on 3-D
  m.input("x", {-1, 3, 5});
  m.node("Neg", {"x"}, {"n"}, "/1/Neg");
  m.node("Softmax", {"n"}, {"y"}, "/1/Softmax").attr("axis", 1);
  m.output("y");
  Imported r;
  import_model(m, r);
  expect_one_layer(r, SQ_SOFTMIN, "1", "/1/Neg,/1/Softmax");
  EXPECT_EQ(r.layer(0).axis, 1);
  EXPECT_FALSE(r.layer(0).coerce_2d);

  // opset 11: a softmax over a non-last axis is Transpose/Softmax/Transpose
  const char *ops[] = {"Softmax", "LogSoftmax"};
  const sq_kind kinds[] = {SQ_SOFTMAX, SQ_LOGSOFTMAX};
  for (int k = 0; k < 2; k++) {
    Model m2(11);
    m2.input("x", {-1, 3, 5});
    m2.node("Transpose", {"x"}, {"t"}, "/1/Transpose")
        .attr("perm", dims{0, 2, 1});
    m2.node(ops[k], {"t"}, {"s"}, std::string("/1/") + ops[k]).attr("axis", 2);
    m2.node("Transpose", {"s"}, {"y"}, "/1/Transpose_1")
        .attr("perm", dims{0, 2, 1});
    m2.output("y");
    Imported r2;
    import_model(m2, r2);
    ASSERT_TRUE(r2.ok()) << r2.error;
    ASSERT_EQ(r2.count(), 1);
    EXPECT_EQ(r2.layer(0).kind, kinds[k]);
    EXPECT_EQ(r2.layer(0).axis, 1);
    EXPECT_FALSE(r2.layer(0).coerce_2d);
  }

  Model m3(11); // Softmin(dim=1) at opset 11: Neg then the transposes
  m3.input("x", {-1, 3, 5});
  m3.node("Neg", {"x"}, {"n"}, "/1/Neg");
  m3.node("Transpose", {"n"}, {"t"}, "/1/Transpose")
      .attr("perm", dims{0, 2, 1});
  m3.node("Softmax", {"t"}, {"s"}, "/1/Softmax").attr("axis", 2);
  m3.node("Transpose", {"s"}, {"y"}, "/1/Transpose_1")
      .attr("perm", dims{0, 2, 1});
  m3.output("y");
  Imported r3;
  import_model(m3, r3);
  ASSERT_TRUE(r3.ok()) << r3.error;
  EXPECT_EQ(r3.layer(0).kind, SQ_SOFTMIN);
  EXPECT_EQ(r3.layer(0).axis, 1);

  Model m4(11); // transposes that do not undo each other are layers
  m4.input("x", {-1, 3, 5, 2});
  m4.node("Transpose", {"x"}, {"t"}, "/1/Transpose")
      .attr("perm", dims{0, 3, 1, 2});
  m4.node("Softmax", {"t"}, {"s"}, "/1/Softmax").attr("axis", 3);
  m4.node("Transpose", {"s"}, {"y"}, "/1/Transpose_1")
      .attr("perm", dims{0, 3, 1, 2});
  m4.output("y");
  Imported r4;
  import_model(m4, r4);
  ASSERT_TRUE(r4.ok()) << r4.error;
  ASSERT_EQ(r4.count(), 3);
  EXPECT_EQ(r4.layer(0).kind, SQ_TRANSPOSE);
  EXPECT_EQ(r4.layer(1).kind, SQ_SOFTMAX);
  EXPECT_EQ(r4.layer(2).kind, SQ_TRANSPOSE);
  EXPECT_EQ(dims_of(r4.layer(2).out), (dims{-1, 5, 2, 3}));
}

// ---- LayerNorm
// ------------------------------------------------------------------

// torch below opset 17: (x - mean) / sqrt(var + eps) [* g [+ b]]
void torch_layernorm(Model &m, const std::string &x, const std::string &y,
                     const dims &axes, bool axes_input, int affine) {
  auto mean = [&](const std::string &in, const std::string &out,
                  const std::string &name) {
    if (axes_input) {
      m.initializer_i64(name + "_axes", {(int64_t)axes.size()}, axes);
      m.node("ReduceMean", {in, name + "_axes"}, {out}, name);
    } else {
      m.node("ReduceMean", {in}, {out}, name).attr("axes", axes);
    }
  };
  mean(x, "rm", "/ln/ReduceMean");
  m.node("Sub", {x, "rm"}, {"sub"}, "/ln/Sub");
  m.node("Pow", {"sub", scalar(m, "two", 2.0f)}, {"pow"}, "/ln/Pow");
  mean("pow", "var", "/ln/ReduceMean_1");
  m.node("Add", {"var", scalar(m, "eps", 1e-5f)}, {"ve"}, "/ln/Add");
  m.node("Sqrt", {"ve"}, {"sd"}, "/ln/Sqrt");
  m.node("Div", {"sub", "sd"}, {affine ? "norm" : y}, "/ln/Div");
  if (affine >= 1)
    m.node("Mul", {"norm", "gamma"}, {affine == 2 ? "scaled" : y}, "/ln/Mul");
  if (affine == 2) m.node("Add", {"scaled", "beta"}, {y}, "/ln/Add_1");
}

TEST(ImporterPatterns, LayerNormDecompositions) {
  for (int64_t opset : {9, 13, 14, 18}) {
    Model m(opset);
    m.input("x", {-1, 5, 4});
    floats g = {1, 2, 3, 4}, b = {0.1f, 0.2f, 0.3f, 0.4f};
    m.initializer("gamma", {4}, g);
    m.initializer("beta", {4}, b);
    torch_layernorm(m, "x", "y", {-1}, opset >= 18, 2);
    m.output("y");
    Imported r;
    import_model(m, r);
    expect_one_layer(r, SQ_LAYERNORM, "ln",
                     "/ln/ReduceMean,/ln/Sub,/ln/Pow,/ln/ReduceMean_1,/ln/"
                     "Add,/ln/Sqrt,/ln/Div,/ln/Mul,/ln/Add_1");
    EXPECT_EQ(r.layer(0).axis, 2);
    EXPECT_NEAR(r.layer(0).epsilon, 1e-5f, 1e-10);
    EXPECT_FLOATS_NEAR(g, values_of(r.layer(0).weight), 0);
    EXPECT_FLOATS_NEAR(b, values_of(r.layer(0).bias), 0);
  }
  // LayerNorm((4, 16)) without affine: two trailing dims, 7 nodes
  Model m(13);
  m.input("x", {-1, 4, 16});
  torch_layernorm(m, "x", "y", {-2, -1}, false, 0);
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 1);
  EXPECT_EQ(r.layer(0).axis, 1);
  EXPECT_EQ(r.layer(0).weight.data, nullptr);
  EXPECT_EQ(r.layer(0).bias.data, nullptr);
}

TEST(ImporterPatterns, LayerNormOverNonTrailingAxesRejected) {
  Model m(13);
  m.input("x", {-1, 4, 16});
  torch_layernorm(m, "x", "y", {1}, false, 0);
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_EQ(r.error, "node '/ln/ReduceMean' (ReduceMean): a LayerNorm must "
                     "normalise trailing dims after the batch; 1 axes from 1 "
                     "of [-1, 4, 16] are not");
}

// ---- GroupNorm
// --------------------------------------------------------------------

// torch: Reshape(x, [0, G, -1]) → InstanceNormalization(1s, 0s) →
// Reshape(Shape(x)) → Mul(gamma [C,1,1]) → Add(beta [C,1,1])
TEST(ImporterPatterns, GroupNormWithShapeSideGraph) {
  for (int64_t opset : {9, 13, 14, 17}) {
    Model m(opset);
    m.input("x", {-1, 4, 3, 3});
    m.initializer_i64("grp", {3}, {0, 2, -1});
    m.node("Reshape", {"x", "grp"}, {"r"}, "/1/Reshape");
    m.initializer("ones", {2}, {1, 1});
    m.initializer("zeros", {2}, {0, 0});
    m.node("InstanceNormalization", {"r", "ones", "zeros"}, {"n"},
           "/1/InstanceNormalization")
        .attr("epsilon", 1e-4f);
    m.node("Shape", {"x"}, {"s"}, "/1/Shape");
    m.node("Reshape", {"n", "s"}, {"back"}, "/1/Reshape_1");
    floats g = {1, 2, 3, 4}, b = {-1, 0, 1, 2};
    m.initializer("onnx::Mul_19", {4, 1, 1}, g);
    m.initializer("onnx::Add_20", {4, 1, 1}, b);
    m.node("Mul", {"back", "onnx::Mul_19"}, {"mu"}, "/1/Mul");
    m.node("Add", {"mu", "onnx::Add_20"}, {"y"}, "/1/Add");
    m.output("y");
    Imported r;
    import_model(m, r);
    expect_one_layer(r, SQ_GROUPNORM, "1",
                     "/1/Reshape,/1/InstanceNormalization,/1/Reshape_1,/1/"
                     "Mul,/1/Add");
    EXPECT_EQ(r.layer(0).groups, 2);
    EXPECT_NEAR(r.layer(0).epsilon, 1e-4f, 1e-10);
    EXPECT_EQ(dims_of(r.layer(0).weight.shape), (dims{4}));
    EXPECT_FLOATS_NEAR(g, values_of(r.layer(0).weight), 0);
    EXPECT_FLOATS_NEAR(b, values_of(r.layer(0).bias), 0);
  }
}

// GroupNorm(affine=False): the Mul/Add by 1 and 0 carry no parameters.
TEST(ImporterPatterns, GroupNormWithoutAffine) {
  Model m(13);
  m.input("x", {-1, 4, 5});
  m.initializer_i64("grp", {3}, {0, 2, -1});
  m.node("Reshape", {"x", "grp"}, {"r"}, "/1/Reshape");
  m.initializer("ones", {2}, {1, 1});
  m.initializer("zeros", {2}, {0, 0});
  m.node("InstanceNormalization", {"r", "ones", "zeros"}, {"n"},
         "/1/InstanceNormalization");
  m.node("Shape", {"x"}, {"s"}, "/1/Shape");
  m.node("Reshape", {"n", "s"}, {"back"}, "/1/Reshape_1");
  m.initializer("one", {1, 1}, {1});
  m.initializer("zero", {1, 1}, {0});
  m.node("Mul", {"back", "one"}, {"mu"}, "/1/Mul");
  m.node("Add", {"mu", "zero"}, {"y"}, "/1/Add");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.layer(0).kind, SQ_GROUPNORM);
  EXPECT_EQ(r.layer(0).weight.data, nullptr);
  EXPECT_EQ(r.layer(0).bias.data, nullptr);
  EXPECT_EQ(sq_layer_parameters(&r.layer(0)), 0);
}

// ---- LPPool
// ----------------------------------------------------------------------

TEST(ImporterPatterns, LPPoolDecomposition) {
  Model m(13);
  m.input("x", {-1, 4, 8, 8});
  m.node("Pow", {"x", scalar(m, "p", 2.0f)}, {"pw"}, "/1/Pow");
  m.initializer_i64("pads", {8}, {0, 0, 0, 0, 0, 0, 0, 0});
  m.node("Pad", {"pw", "pads"}, {"pd"}, "/1/Pad").attr("mode", "constant");
  m.node("AveragePool", {"pd"}, {"ap"}, "/1/AveragePool")
      .attr("kernel_shape", dims{3, 3})
      .attr("strides", dims{2, 2})
      .attr("ceil_mode", 0);
  m.node("Sign", {"ap"}, {"sg"}, "/1/Sign");
  m.node("Abs", {"ap"}, {"ab"}, "/1/Abs");
  m.node("Relu", {"ab"}, {"rl"}, "/1/Relu");
  m.node("Mul", {"sg", "rl"}, {"m0"}, "/1/Mul");
  m.node("Mul", {"m0", scalar(m, "k", 9.0f)}, {"m1"}, "/1/Mul_1");
  m.node("Pow", {"m1", scalar(m, "inv", 0.5f)}, {"y"}, "/1/Pow_1");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 1);
  const sq_layer &l = r.layer(0);
  EXPECT_EQ(l.kind, SQ_LPPOOL);
  EXPECT_EQ(l.alpha, 2.0f);
  EXPECT_FALSE(l.lp_abs);
  EXPECT_EQ(l.kernel[0], 3);
  EXPECT_EQ(l.stride[1], 2);
  EXPECT_EQ(dims_of(l.out), (dims{-1, 4, 3, 3}));
  EXPECT_EQ(std::string(l.nodes).substr(0, 16), "/1/Pow,/1/Pad,/1");
}

// torch 1.13's LPPool2d(2, 3, stride=2, ceil_mode=True) on 8x8: the last
// windows hang one cell past the input and the average divides by the
// cells inside, so PyTorch scales their sum by 9 / 6 (or 9 / 4): the
// overhang is uncounted padding. Opset 9 has no ceil_mode: the exporter
// gives the AveragePool end pads of 2 instead (count_include_pad=0).
TEST(ImporterPatterns, LPPoolCeilModeOverhangIsUncounted) {
  for (int64_t opset : {9, 13}) {
    Model m(opset);
    m.input("x", {-1, 4, 8, 8});
    m.node("Pow", {"x", scalar(m, "p", 2.0f)}, {"pw"}, "/1/Pow");
    if (opset < 11) {
      m.node("Pad", {"pw"}, {"pd"}, "/1/Pad")
          .attr("mode", "constant")
          .attr("pads", dims{0, 0, 0, 0, 0, 0, 0, 0});
    } else {
      m.initializer_i64("pads", {8}, {0, 0, 0, 0, 0, 0, 0, 0});
      m.node("Pad", {"pw", "pads"}, {"pd"}, "/1/Pad").attr("mode", "constant");
    }
    auto &pool = m.node("AveragePool", {"pd"}, {"ap"}, "/1/AveragePool")
                     .attr("kernel_shape", dims{3, 3})
                     .attr("strides", dims{2, 2});
    if (opset < 10)
      pool.attr("pads", dims{0, 0, 2, 2});
    else
      pool.attr("ceil_mode", 1);
    m.node("Sign", {"ap"}, {"sg"}, "/1/Sign");
    m.node("Abs", {"ap"}, {"ab"}, "/1/Abs");
    m.node("Relu", {"ab"}, {"rl"}, "/1/Relu");
    m.node("Mul", {"sg", "rl"}, {"m0"}, "/1/Mul");
    m.node("Mul", {"m0", scalar(m, "k", 9.0f)}, {"m1"}, "/1/Mul_1");
    m.node("Pow", {"m1", scalar(m, "inv", 0.5f)}, {"y"}, "/1/Pow_1");
    m.output("y");
    Imported r;
    import_model(m, r);
    ASSERT_TRUE(r.ok()) << opset << ": " << r.error;
    ASSERT_EQ(r.count(), 1);
    const sq_layer &l = r.layer(0);
    EXPECT_EQ(l.kind, SQ_LPPOOL);
    EXPECT_FALSE(l.lp_abs);
    int64_t overhang = opset < 10 ? 2 : 1;
    EXPECT_EQ(l.pad_begin[0], 0);
    EXPECT_EQ(l.pad_end[0], overhang);
    EXPECT_EQ(l.uncounted_begin[1], 0);
    EXPECT_EQ(l.uncounted_end[0], overhang);
    EXPECT_EQ(l.uncounted_end[1], overhang);
    EXPECT_EQ(dims_of(l.out), (dims{-1, 4, 4, 4}));
  }
}

// ---- LocalResponseNorm
// ---------------------------------------------------------------

// dim d of Shape(t) as a 1-element tensor
std::string shape_dim(Model &m, const std::string &t, int64_t d,
                      const std::string &tag) {
  m.node("Shape", {t}, {tag + "_s"});
  m.initializer_i64(tag + "_i", {}, {d});
  m.node("Gather", {tag + "_s", tag + "_i"}, {tag + "_g"}).attr("axis", 0);
  m.initializer_i64(tag + "_ax", {1}, {0});
  m.node("Unsqueeze", {tag + "_g", tag + "_ax"}, {tag + "_u"});
  return tag + "_u";
}

// torch 1.13 at opset 13, LocalResponseNorm(size) on [N, C, H, W]: the
// squares seen as [N, 1, C, H, W*], padded along C, averaged, the squeeze
// of the unsqueezed axis in an If on its size, back to x's shape.
void torch_lrn(Model &m, int64_t size, int64_t before, int64_t after) {
  m.node("Mul", {"x", "x"}, {"sq"}, "/1/Mul");
  m.initializer_i64("ax1", {1}, {1});
  m.node("Unsqueeze", {"sq", "ax1"}, {"un"}, "/1/Unsqueeze");
  m.initializer_i64("one_i", {1}, {1});
  m.initializer_i64("minus1", {1}, {-1});
  std::string n = shape_dim(m, "x", 0, "n"), c = shape_dim(m, "x", 1, "c"),
              h = shape_dim(m, "x", 2, "h"), w = shape_dim(m, "x", 3, "w");
  m.node("Concat", {n, "one_i", c, h, "minus1"}, {"t5"}).attr("axis", 0);
  m.node("Reshape", {"un", "t5"}, {"r5"}, "/1/Reshape");
  m.initializer_i64("pads", {10}, {0, 0, before, 0, 0, 0, 0, after, 0, 0});
  m.node("Pad", {"r5", "pads", ""}, {"p0"}, "/1/Pad").attr("mode", "constant");
  m.initializer_i64("pads0", {10}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  m.node("Pad", {"p0", "pads0"}, {"p1"}, "/1/Pad_1").attr("mode", "constant");
  m.node("AveragePool", {"p1"}, {"ap"}, "/1/AveragePool")
      .attr("kernel_shape", dims{size, 1, 1})
      .attr("strides", dims{1, 1, 1})
      .attr("pads", dims{0, 0, 0, 0, 0, 0})
      .attr("ceil_mode", 0);
  std::string d1 = shape_dim(m, "ap", 1, "apd");
  m.node("Equal", {d1, "one_i"}, {"cond"});
  onnxb::Branch &then_b = m.branch("then");
  then_b.node("Constant", {}, {"sq_axes"})
      .attr("value", m.tensor_i64("", {1}, {1}));
  then_b.node("Squeeze", {"ap", "sq_axes"}, {"squeezed"});
  then_b.output("squeezed");
  onnxb::Branch &else_b = m.branch("else");
  else_b.node("Identity", {"ap"}, {"same"});
  else_b.output("same");
  m.node("If", {"cond"}, {"if"}, "/1/If")
      .attr("then_branch", then_b.proto())
      .attr("else_branch", else_b.proto());
  std::string n2 = shape_dim(m, "x", 0, "n2"), c2 = shape_dim(m, "x", 1, "c2"),
              h2 = shape_dim(m, "x", 2, "h2"), w2 = shape_dim(m, "x", 3, "w2");
  m.node("Concat", {n2, c2, h2, w2}, {"t4"}).attr("axis", 0);
  m.node("Reshape", {"if", "t4"}, {"back"}, "/1/Reshape_3");
  m.node("Mul", {"back", scalar(m, "alpha", 1e-4f)}, {"ma"}, "/1/Mul_1");
  m.node("Add", {"ma", scalar(m, "k", 2.0f)}, {"mk"}, "/1/Add");
  m.node("Pow", {"mk", scalar(m, "beta", 0.75f)}, {"den"}, "/1/Pow");
  m.node("Div", {"x", "den"}, {"y"}, "/1/Div");
}

TEST(ImporterPatterns, LocalResponseNormWithIf) {
  for (int64_t size : {3, 2}) {
    Model m(13);
    m.input("x", {-1, 6, 4, 5});
    torch_lrn(m, size, size / 2, (size - 1) / 2);
    m.output("y");
    Imported r;
    import_model(m, r);
    ASSERT_TRUE(r.ok()) << size << ": " << r.error;
    ASSERT_EQ(r.count(), 1);
    const sq_layer &l = r.layer(0);
    EXPECT_EQ(l.kind, SQ_LRN);
    EXPECT_STREQ(l.name, "1");
    EXPECT_EQ(l.kernel[0], size);
    EXPECT_NEAR(l.alpha, 1e-4f, 1e-10);
    EXPECT_EQ(l.beta, 0.75f);
    EXPECT_EQ(l.epsilon, 2.0f);
    EXPECT_EQ(dims_of(l.out), (dims{-1, 6, 4, 5}));
    EXPECT_STREQ(l.nodes, "/1/Mul,/1/Unsqueeze,/1/Reshape,/1/Pad,/1/Pad_1,"
                          "/1/AveragePool,/1/If,/1/Reshape_3,/1/Mul_1,"
                          "/1/Add,/1/Pow,/1/Div");
  }
  // a window centred otherwise is not PyTorch's LocalResponseNorm
  Model m(13);
  m.input("x", {-1, 6, 4, 5});
  torch_lrn(m, 2, 0, 1);
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_EQ(r.error, "node '/1/AveragePool' (AveragePool): not PyTorch's "
                     "LocalResponseNorm: the channels must be padded by "
                     "size/2 before and (size-1)/2 after");
}

// Opset 9, 3-D input: no reshapes, a plain Squeeze.
TEST(ImporterPatterns, LocalResponseNorm3dOpset9) {
  Model m(9);
  m.input("x", {-1, 4, 7});
  m.node("Mul", {"x", "x"}, {"sq"}, "/1/Mul");
  m.node("Unsqueeze", {"sq"}, {"un"}, "/1/Unsqueeze").attr("axes", dims{1});
  m.node("Pad", {"un"}, {"p0"}, "/1/Pad")
      .attr("mode", "constant")
      .attr("pads", dims{0, 0, 1, 0, 0, 0, 1, 0});
  m.node("AveragePool", {"p0"}, {"ap"}, "/1/AveragePool")
      .attr("kernel_shape", dims{3, 1})
      .attr("strides", dims{1, 1});
  m.node("Squeeze", {"ap"}, {"s"}, "/1/Squeeze").attr("axes", dims{1});
  m.node("Mul", {"s", scalar(m, "alpha", 1e-4f)}, {"ma"}, "/1/Mul_1");
  m.node("Add", {"ma", scalar(m, "k", 1.0f)}, {"mk"}, "/1/Add");
  m.node("Pow", {"mk", scalar(m, "beta", 0.75f)}, {"den"}, "/1/Pow");
  m.node("Div", {"x", "den"}, {"y"}, "/1/Div");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 1);
  EXPECT_EQ(r.layer(0).kind, SQ_LRN);
  EXPECT_EQ(r.layer(0).kernel[0], 3);
  EXPECT_EQ(r.layer(0).epsilon, 1.0f);
}

// An If outside a recognised layer is not run.
TEST(ImporterPatterns, IfOutsideALayerIsUnsupported) {
  Model m(13);
  m.input("x", {-1, 4});
  m.initializer_i64("c", {}, {1});
  m.node("Cast", {"c"}, {"cond"}).attr("to", 9);
  onnxb::Branch &t = m.branch("then");
  t.node("Relu", {"x"}, {"a"});
  t.output("a");
  onnxb::Branch &e = m.branch("else");
  e.node("Tanh", {"x"}, {"b"});
  e.output("b");
  m.node("If", {"cond"}, {"y"}, "/0/If")
      .attr("then_branch", t.proto())
      .attr("else_branch", e.proto());
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_EQ(r.error, "unsupported op 'If' in node '/0/If' (module '0', opset "
                     "13)");
}

// ---- circular padding
// ---------------------------------------------------------------

// torch 1.13, Conv2d(padding=1, padding_mode='circular'): per spatial dim
// Concat(Slice(x, -(p+1), -1), x, Slice(x, 0, p)) — the begin slice is off
// by one (an exporter bug); seqrt computes what the file says.
void torch_circular(Model &m, int64_t opset, const std::string &x, int axis,
                    int64_t p, const std::string &out, const std::string &tag) {
  auto slice = [&](int64_t start, int64_t end, const std::string &o,
                   const std::string &name) {
    if (opset < 10) {
      m.node("Slice", {x}, {o}, name)
          .attr("starts", dims{start})
          .attr("ends", dims{end})
          .attr("axes", dims{axis});
      return;
    }
    m.initializer_i64(o + "_s", {1}, {start});
    m.initializer_i64(o + "_e", {1}, {end});
    m.initializer_i64(o + "_a", {1}, {axis});
    m.node("Slice", {x, o + "_s", o + "_e", o + "_a"}, {o}, name);
  };
  slice(-(p + 1), -1, tag + "l", "/0/Slice" + tag);
  slice(0, p, tag + "r", "/0/Slice_r" + tag);
  m.node("Concat", {tag + "l", x, tag + "r"}, {out}, "/0/Concat" + tag)
      .attr("axis", axis);
}

// The padding is the Conv module's own: one CONV layer named after the
// module, pre-padding circularly, listing the Slice/Concat nodes first.
TEST(ImporterPatterns, CircularPaddingFollowsTheGraph) {
  for (int64_t opset : {9, 11, 13, 17}) {
    Model m(opset);
    m.input("x", {-1, 3, 8, 6});
    torch_circular(m, opset, "x", 2, 1, "c0", "");
    torch_circular(m, opset, "c0", 3, 2, "c1", "_1");
    m.initializer("w", {4, 3, 3, 3}, ramp(108));
    m.node("Conv", {"c1", "w"}, {"y"}, "/0/Conv");
    m.output("y");
    Imported r;
    import_model(m, r);
    ASSERT_TRUE(r.ok()) << opset << ": " << r.error;
    ASSERT_EQ(r.count(), 1);
    const sq_layer &c = r.layer(0);
    EXPECT_EQ(c.kind, SQ_CONV);
    EXPECT_STREQ(c.name, "0");
    EXPECT_EQ(c.pad_mode, SQ_PAD_CIRCULAR);
    EXPECT_EQ(c.prepad_begin[0], 1);
    EXPECT_EQ(c.prepad_end[0], 1);
    EXPECT_EQ(c.prepad_begin[1], 2);
    EXPECT_EQ(c.prepad_end[1], 2);
    // the begin padding copies [size - p - 1, size - 1): torch's off-by-one
    EXPECT_EQ(c.circular_from[0], 8 - 1 - 1);
    EXPECT_EQ(c.circular_from[1], 6 - 2 - 1);
    // the convolution itself pads nothing: 10x10 padded, 3x3 kernel
    EXPECT_EQ(c.pad_begin[0], 0);
    EXPECT_EQ(c.pad_end[1], 0);
    EXPECT_EQ(dims_of(c.in), (dims{-1, 3, 8, 6}));
    EXPECT_EQ(dims_of(c.out), (dims{-1, 4, 8, 8}));
    EXPECT_STREQ(c.nodes, "/0/Slice,/0/Slice_r,/0/Concat,/0/Slice_1,"
                          "/0/Slice_r_1,/0/Concat_1,/0/Conv");
  }
}

TEST(ImporterPatterns, CircularPaddingOfTheChannelsRejected) {
  Model m(13);
  m.input("x", {-1, 3, 8});
  torch_circular(m, 13, "x", 1, 1, "y", "");
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_EQ(r.error, "node '/0/Concat' (Concat): circular padding along axis "
                     "1 (a non-spatial or repeated axis)");
}

// ---- Reshape / Transpose / Reshape shuffles
// ------------------------------------------

void reshape_transpose_reshape(Model &m, const dims &first, const dims &perm,
                               const dims &second) {
  m.initializer_i64("t1", {(int64_t)first.size()}, first);
  m.initializer_i64("t2", {(int64_t)second.size()}, second);
  m.node("Reshape", {"x", "t1"}, {"a"}, "/1/Reshape");
  m.node("Transpose", {"a"}, {"b"}, "/1/Transpose").attr("perm", perm);
  m.node("Reshape", {"b", "t2"}, {"y"}, "/1/Reshape_1");
}

TEST(ImporterPatterns, PixelUnshuffleShuffleAndChannelShuffle) {
  Model m(14); // PixelUnshuffle(2) on [N, 4, 8, 8]
  m.input("x", {-1, 4, 8, 8});
  reshape_transpose_reshape(m, {-1, 4, 4, 2, 4, 2}, {0, 1, 3, 5, 2, 4},
                            {-1, 16, 4, 4});
  m.output("y");
  Imported r;
  import_model(m, r);
  expect_one_layer(r, SQ_PIXELUNSHUFFLE, "1",
                   "/1/Reshape,/1/Transpose,/1/Reshape_1");
  EXPECT_EQ(r.layer(0).block, 2);
  EXPECT_EQ(dims_of(r.layer(0).out), (dims{-1, 16, 4, 4}));

  Model m2(9); // PixelShuffle(2) at opset 9 on [N, 8, 3, 3]
  m2.input("x", {-1, 8, 3, 3});
  reshape_transpose_reshape(m2, {-1, 2, 2, 2, 3, 3}, {0, 1, 4, 2, 5, 3},
                            {-1, 2, 6, 6});
  m2.output("y");
  Imported r2;
  import_model(m2, r2);
  ASSERT_TRUE(r2.ok()) << r2.error;
  EXPECT_EQ(r2.layer(0).kind, SQ_PIXELSHUFFLE);
  EXPECT_EQ(r2.layer(0).block, 2);

  Model m3(17); // ChannelShuffle(3) on [N, 6, 2, 2], batch from Shape
  m3.input("x", {-1, 6, 2, 2});
  m3.node("Shape", {"x"}, {"s"});
  m3.initializer_i64("i0", {1}, {0});
  m3.node("Gather", {"s", "i0"}, {"n"}).attr("axis", 0);
  m3.initializer_i64("rest1", {4}, {3, 2, 2, 2});
  m3.node("Concat", {"n", "rest1"}, {"t1"}).attr("axis", 0);
  m3.initializer_i64("rest2", {3}, {6, 2, 2});
  m3.node("Concat", {"n", "rest2"}, {"t2"}).attr("axis", 0);
  m3.node("Reshape", {"x", "t1"}, {"a"}, "/shuf/Reshape");
  m3.node("Transpose", {"a"}, {"b"}, "/shuf/Transpose")
      .attr("perm", dims{0, 2, 1, 3, 4});
  m3.node("Reshape", {"b", "t2"}, {"y"}, "/shuf/Reshape_1");
  m3.output("y");
  Imported r3;
  import_model(m3, r3);
  ASSERT_TRUE(r3.ok()) << r3.error;
  EXPECT_EQ(r3.layer(0).kind, SQ_CHANNELSHUFFLE);
  EXPECT_EQ(r3.layer(0).block, 3);
  EXPECT_EQ(dims_of(r3.layer(0).out), (dims{-1, 6, 2, 2}));
}

TEST(ImporterPatterns, OtherReshapeTransposeReshapeRejected) {
  Model m(13); // a transpose of H and W through the unshuffle perm's shape
  m.input("x", {-1, 4, 8, 8});
  reshape_transpose_reshape(m, {-1, 4, 2, 4, 2, 4}, {0, 1, 3, 5, 2, 4},
                            {-1, 4, 8, 8});
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_EQ(r.error, "nodes '/1/Reshape', '/1/Transpose' and '/1/Reshape_1' "
                     "(Reshape, Transpose, Reshape) turn [-1, 4, 8, 8] into "
                     "[-1, 4, 8, 8] through [-1, 4, 2, 4, 2, 4], which is not "
                     "a pixel shuffle, pixel unshuffle or channel shuffle");
}

// ---- the newer exporter: names from metadata, external data
// -------------------------

TEST(ImporterPatterns, ModulePathFromMetadata) {
  Model m(18);
  m.input("x", {-1, 3, 8, 8});
  m.initializer("features.0.weight", {4, 3, 3, 3}, ramp(108));
  m.node("Conv", {"x", "features.0.weight"}, {"conv2d"}, "node_Conv_0")
      .metadata("pkg.torch.onnx.name_scopes",
                "['', 'features', 'features.0', 'conv2d']");
  // scopes given one component each are joined into the path
  m.node("Relu", {"conv2d"}, {"relu"}, "node_Relu_1")
      .metadata("pkg.torch.onnx.name_scopes", "['', 'features', '1', 'relu']");
  m.node("Flatten", {"relu"}, {"flatten"}, "node_Flatten_2")
      .metadata("pkg.torch.onnx.name_scopes", "['', 'flatten']");
  m.output("flatten");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 3);
  EXPECT_STREQ(r.layer(0).name, "features.0");
  EXPECT_STREQ(r.layer(0).nodes, "node_Conv_0");
  EXPECT_STREQ(r.layer(1).name, "features.1");
  // a node at the root scope keeps its own name
  EXPECT_STREQ(r.layer(2).name, "node_Flatten_2");
}

std::vector<uint8_t> le_floats(const floats &v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// Weights in model.onnx.data next to the model, at offsets with lengths,
// as the newer exporter writes them.
TEST(ImporterPatterns, ExternalDataFileNextToTheModel) {
  char tmpl[] = "/tmp/seqrt_patterns_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  floats w = ramp(4 * 3 * 3 * 3), b = ramp(4, 0.5f, 1.0f);
  std::vector<uint8_t> file = le_floats(w), tail = le_floats(b);
  file.resize(512, 0); // the exporter aligns tensors
  file.insert(file.end(), tail.begin(), tail.end());
  {
    std::ofstream f(dir + "/model.onnx.data", std::ios::binary);
    f.write(reinterpret_cast<const char *>(file.data()),
            (std::streamsize)file.size());
  }
  Model m(18);
  m.add_init(m.tensor_external("conv.weight", {4, 3, 3, 3}, "model.onnx.data",
                               0, (int64_t)w.size() * 4));
  m.add_init(m.tensor_external("conv.bias", {4}, "model.onnx.data", 512, 16));
  m.input("x", {-1, 3, 5, 5});
  m.node("Conv", {"x", "conv.weight", "conv.bias"}, {"conv2d"}, "node_Conv_0")
      .metadata("pkg.torch.onnx.name_scopes", "['', 'conv', 'conv2d']");
  m.output("conv2d");
  sq_import_options options = {};
  options.model_dir = dir.c_str();
  Imported r;
  import_model(m, r, &options);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_STREQ(r.layer(0).name, "conv");
  EXPECT_FLOATS_NEAR(w, values_of(r.layer(0).weight), 0);
  EXPECT_FLOATS_NEAR(b, values_of(r.layer(0).bias), 0);
  EXPECT_EQ(r.chain->opset, 18);
  std::string cmd = "rm -rf '" + dir + "'";
  EXPECT_EQ(system(cmd.c_str()), 0);
}

} // namespace
