// Importer: one-node layers beyond the core set (ConvTranspose, PRelu,
// Clip, the other activations, InstanceNorm / LayerNormalization /
// GroupNormalization / LRN, Pad in every form, Resize / Upsample,
// DepthToSpace / SpaceToDepth, Embedding, LpPool, Reduce*, arithmetic with
// constants), each checked on the chain: kind, parameters, weights and
// shapes.
#include <cfloat>
#include <cmath>

#include "test_importer_util.h"

using onnxb::Model;
using onnxb::ramp;

namespace {

using dims = std::vector<int64_t>;
using floats = std::vector<float>;

// ---- ConvTranspose --------------------------------------------------------

TEST(ImporterLayers, ConvTransposeStridePadsOutputPaddingGroups) {
  for (int64_t opset : {9, 13, 17, 18}) {
    Model m(opset);
    m.input("x", {-1, 4, 5, 6});
    floats w = ramp(4 * 3 * 3 * 2), b = ramp(6, 0.5f);
    m.initializer("w", {4, 3, 3, 2}, w); // [I, O/groups, kh, kw]
    m.initializer("b", {6}, b);
    m.node("ConvTranspose", {"x", "w", "b"}, {"y"}, "/up/ConvTranspose")
        .attr("group", 2)
        .attr("strides", dims{2, 3})
        .attr("pads", dims{1, 0, 1, 1})
        .attr("output_padding", dims{1, 2})
        .attr("dilations", dims{2, 1});
    m.output("y");
    Imported r;
    import_model(m, r);
    ASSERT_TRUE(r.ok()) << r.error;
    const sq_layer &l = r.layer(0);
    EXPECT_EQ(l.kind, SQ_CONVTRANSPOSE);
    EXPECT_EQ(l.groups, 2);
    EXPECT_EQ(l.spatial, 2);
    EXPECT_EQ(l.stride[0], 2);
    EXPECT_EQ(l.stride[1], 3);
    EXPECT_EQ(l.dilation[0], 2);
    EXPECT_EQ(l.pad_begin[0], 1);
    EXPECT_EQ(l.pad_begin[1], 0);
    EXPECT_EQ(l.pad_end[0], 1);
    EXPECT_EQ(l.pad_end[1], 1);
    EXPECT_EQ(l.output_padding[0], 1);
    EXPECT_EQ(l.output_padding[1], 2);
    EXPECT_EQ(dims_of(l.weight.shape), (dims{4, 3, 3, 2}));
    EXPECT_FLOATS_NEAR(w, values_of(l.weight), 0);
    EXPECT_FLOATS_NEAR(b, values_of(l.bias), 0);
    // (in-1)*s + op + (k-1)*d + 1 - pads: H 4*2+1+5-2 = 12, W 5*3+2+2-1 = 18
    EXPECT_EQ(dims_of(l.out), (dims{-1, 6, 12, 18}));
  }
}

TEST(ImporterLayers, ConvTransposeOutputShapeAndAutoPad) {
  Model m(13);
  m.input("x", {-1, 2, 5});
  m.initializer("w", {2, 3, 3}, ramp(18));
  m.node("ConvTranspose", {"x", "w"}, {"y"}, "/up/ConvTranspose")
      .attr("strides", dims{2})
      .attr("output_shape", dims{10});
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  // full size 4*2 + 3 = 11, one too many: NOTSET puts it at the start
  EXPECT_EQ(r.layer(0).pad_begin[0], 1);
  EXPECT_EQ(r.layer(0).pad_end[0], 0);
  EXPECT_EQ(dims_of(r.layer(0).out), (dims{-1, 3, 10}));
  EXPECT_EQ(r.layer(0).bias.data, nullptr);

  Model m2(13);
  m2.input("x", {-1, 2, 5});
  m2.initializer("w", {2, 3, 3}, ramp(18));
  m2.node("ConvTranspose", {"x", "w"}, {"y"}, "/up/ConvTranspose")
      .attr("strides", dims{2})
      .attr("auto_pad", "SAME_UPPER");
  m2.output("y");
  Imported r2;
  import_model(m2, r2);
  ASSERT_TRUE(r2.ok()) << r2.error;
  EXPECT_EQ(r2.layer(0).pad_begin[0], 0);
  EXPECT_EQ(r2.layer(0).pad_end[0], 1);
  EXPECT_EQ(dims_of(r2.layer(0).out), (dims{-1, 3, 10}));
}

TEST(ImporterLayers, ConvTransposeWeightsMustFit) {
  Model m(13);
  m.input("x", {-1, 4, 5});
  m.initializer("w", {3, 3, 3}, ramp(27));
  m.node("ConvTranspose", {"x", "w"}, {"y"}, "/up/ConvTranspose");
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_INVALID_MODEL);
  EXPECT_EQ(r.error, "node '/up/ConvTranspose' (ConvTranspose): weights of "
                     "shape [3, 3, 3] do not fit the input [-1, 4, 5] with "
                     "group=1");
}

// ---- activations ------------------------------------------------------------

struct Act {
  const char *op;
  int64_t opset;
  sq_kind kind;
  float alpha, beta;
};

TEST(ImporterLayers, ActivationKindsAndParameters) {
  const Act cases[] = {
      {"Celu", 13, SQ_CELU, 1.0f, 0},
      {"Selu", 9, SQ_SELU, 1.6732632f, 1.0507010f},
      {"HardSigmoid", 9, SQ_HARDSIGMOID, 0.2f, 0.5f},
      {"HardSwish", 14, SQ_HARDSWISH, 0, 0},
      {"Softplus", 11, SQ_SOFTPLUS, 1.0f, 0},
      {"Softsign", 11, SQ_SOFTSIGN, 0, 0},
      {"Mish", 18, SQ_MISH, 0, 0},
      {"Gelu", 20, SQ_GELU, 0, 0},
      {"ThresholdedRelu", 11, SQ_THRESHOLD, 1.0f, 0},
  };
  for (const Act &c : cases) {
    Model m(c.opset);
    m.input("x", {-1, 7});
    m.node(c.op, {"x"}, {"y"}, std::string("/a/") + c.op);
    m.output("y");
    Imported r;
    import_model(m, r);
    ASSERT_TRUE(r.ok()) << c.op << ": " << r.error;
    EXPECT_EQ(r.layer(0).kind, c.kind) << c.op;
    EXPECT_NEAR(r.layer(0).alpha, c.alpha, 1e-6) << c.op;
    EXPECT_NEAR(r.layer(0).beta, c.beta, 1e-6) << c.op;
    EXPECT_STREQ(r.layer(0).name, "a");
  }
  Model m(20);
  m.input("x", {-1, 7});
  m.node("Gelu", {"x"}, {"g"}, "/g/Gelu").attr("approximate", "tanh");
  m.node("Selu", {"g"}, {"s"}, "/s/Selu")
      .attr("alpha", 2.0f)
      .attr("gamma", 3.0f);
  m.node("Celu", {"s"}, {"c"}, "/c/Celu").attr("alpha", 0.5f);
  m.node("HardSigmoid", {"c"}, {"h"}, "/h/HardSigmoid")
      .attr("alpha", 1.0f / 6)
      .attr("beta", 0.25f);
  m.node("ThresholdedRelu", {"h"}, {"y"}, "/t/ThresholdedRelu")
      .attr("alpha", 0.3f);
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.layer(0).kind, SQ_GELU_TANH);
  EXPECT_EQ(r.layer(1).alpha, 2.0f);
  EXPECT_EQ(r.layer(1).beta, 3.0f);
  EXPECT_EQ(r.layer(2).alpha, 0.5f);
  EXPECT_NEAR(r.layer(3).alpha, 1.0f / 6, 1e-7);
  EXPECT_EQ(r.layer(3).beta, 0.25f);
  EXPECT_NEAR(r.layer(4).alpha, 0.3f, 1e-7);
  EXPECT_EQ(r.layer(4).beta, 0.0f);
}

TEST(ImporterLayers, ClipIsReluReLU6OrHardtanh) {
  // opset 9: attributes; 11+: inputs (torch's ReLU6 and Hardtanh)
  Model m(9);
  m.input("x", {-1, 4});
  m.node("Clip", {"x"}, {"a"}, "/0/Clip").attr("min", 0.0f).attr("max", 6.0f);
  m.node("Clip", {"a"}, {"y"}, "/1/Clip").attr("min", -0.5f).attr("max", 0.7f);
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.layer(0).kind, SQ_RELU6);
  EXPECT_EQ(r.layer(1).kind, SQ_HARDTANH);
  EXPECT_EQ(r.layer(1).alpha, -0.5f);
  EXPECT_EQ(r.layer(1).beta, 0.7f);

  Model m2(13);
  m2.input("x", {-1, 4});
  m2.initializer("lo", {}, {0.0f});
  m2.initializer("hi", {}, {6.0f});
  m2.initializer("lo2", {}, {-1.0f});
  m2.node("Clip", {"x", "lo", "hi"}, {"a"}, "/0/Clip");
  m2.node("Clip", {"a", "lo"}, {"b"}, "/1/Clip"); // max absent: ReLU
  m2.node("Clip", {"b", "lo2", ""}, {"y"}, "/2/Clip");
  m2.output("y");
  Imported r2;
  import_model(m2, r2);
  ASSERT_TRUE(r2.ok()) << r2.error;
  EXPECT_EQ(r2.layer(0).kind, SQ_RELU6);
  EXPECT_EQ(r2.layer(0).alpha, 0.0f);
  EXPECT_EQ(r2.layer(0).beta, 6.0f);
  EXPECT_EQ(r2.layer(1).kind, SQ_RELU);
  EXPECT_EQ(r2.layer(2).kind, SQ_HARDTANH);
  EXPECT_EQ(r2.layer(2).alpha, -1.0f);
  EXPECT_EQ(r2.layer(2).beta, FLT_MAX);
}

TEST(ImporterLayers, ShrinkIsSoftshrinkOrHardshrink) {
  Model m(13);
  m.input("x", {-1, 4});
  m.node("Shrink", {"x"}, {"a"}, "/0/Shrink")
      .attr("lambd", 0.3f)
      .attr("bias", 0.3f);
  m.node("Shrink", {"a"}, {"y"}, "/1/Shrink").attr("lambd", 0.4f);
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.layer(0).kind, SQ_SOFTSHRINK);
  EXPECT_NEAR(r.layer(0).alpha, 0.3f, 1e-7);
  EXPECT_EQ(r.layer(1).kind, SQ_HARDSHRINK);
  EXPECT_NEAR(r.layer(1).alpha, 0.4f, 1e-7);

  Model m2(13);
  m2.input("x", {-1, 4});
  m2.node("Shrink", {"x"}, {"y"}, "/0/Shrink")
      .attr("lambd", 0.3f)
      .attr("bias", 0.1f);
  m2.output("y");
  Imported r2;
  import_model(m2, r2);
  EXPECT_EQ(r2.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_NE(r2.error.find("bias=0.1 and lambd=0.3"), std::string::npos)
      << r2.error;
}

TEST(ImporterLayers, PReluSlopesPerChannel) {
  // after a conv the exporter reshapes the slopes to [C, 1, 1]
  Model m(13);
  m.input("x", {-1, 4, 5, 5});
  floats s = {0.1f, 0.2f, 0.3f, 0.4f};
  m.initializer("onnx::PRelu_8", {4, 1, 1}, s);
  m.initializer("one", {1, 1, 1}, {0.25f});
  m.node("PRelu", {"x", "onnx::PRelu_8"}, {"a"}, "/1/PRelu");
  m.node("PRelu", {"a", "one"}, {"y"}, "/2/PRelu");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.layer(0).kind, SQ_PRELU);
  EXPECT_EQ(dims_of(r.layer(0).weight.shape), (dims{4}));
  EXPECT_FLOATS_NEAR(s, values_of(r.layer(0).weight), 0);
  EXPECT_EQ(dims_of(r.layer(1).weight.shape), (dims{1}));
  EXPECT_FLOATS_NEAR((floats{0.25f}), values_of(r.layer(1).weight), 0);
  EXPECT_EQ(sq_layer_parameters(&r.layer(0)), 4);

  // after a Linear: [F] on [N, F]
  Model m2(11);
  m2.input("x", {-1, 6});
  m2.initializer("1.weight", {6}, ramp(6));
  m2.node("PRelu", {"x", "1.weight"}, {"y"}, "/1/PRelu");
  m2.output("y");
  Imported r2;
  import_model(m2, r2);
  ASSERT_TRUE(r2.ok()) << r2.error;
  EXPECT_EQ(dims_of(r2.layer(0).weight.shape), (dims{6}));

  // [F] broadcast over the last dim of a 3-D input is not per channel
  Model m3(11);
  m3.input("x", {-1, 5, 6});
  m3.initializer("w", {6}, ramp(6));
  m3.node("PRelu", {"x", "w"}, {"y"}, "/1/PRelu");
  m3.output("y");
  Imported r3;
  import_model(m3, r3);
  EXPECT_EQ(r3.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_EQ(r3.error, "node '/1/PRelu' (PRelu): slopes of shape [6], not one "
                      "per channel (dim 1) of the input [-1, 5, 6], are not "
                      "supported");
}

// ---- normalisation ops ------------------------------------------------------

TEST(ImporterLayers, InstanceNormAffineOrNot) {
  Model m(13);
  m.input("x", {-1, 3, 4, 4});
  floats g = {1.5f, 0.5f, 2.0f}, b = {0.1f, -0.2f, 0.3f};
  m.initializer("1.weight", {3}, g);
  m.initializer("1.bias", {3}, b);
  m.initializer("ones", {3}, {1, 1, 1});
  m.initializer("zeros", {3}, {0, 0, 0});
  m.node("InstanceNormalization", {"x", "1.weight", "1.bias"}, {"a"},
         "/1/InstanceNormalization")
      .attr("epsilon", 1e-3f);
  m.node("InstanceNormalization", {"a", "ones", "zeros"}, {"y"},
         "/2/InstanceNormalization");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.layer(0).kind, SQ_INSTANCENORM);
  EXPECT_NEAR(r.layer(0).epsilon, 1e-3f, 1e-9);
  EXPECT_FLOATS_NEAR(g, values_of(r.layer(0).weight), 0);
  EXPECT_FLOATS_NEAR(b, values_of(r.layer(0).bias), 0);
  EXPECT_NEAR(r.layer(1).epsilon, 1e-5f, 1e-9);
  EXPECT_EQ(r.layer(1).weight.data, nullptr); // affine=False
  EXPECT_EQ(r.layer(1).bias.data, nullptr);
}

TEST(ImporterLayers, LayerNormalizationBroadcastScale) {
  for (int64_t opset : {17, 18}) {
    Model m(opset);
    m.input("x", {-1, 2, 3});
    floats g = {1, 2, 3}, b = {0.5f, 0.25f, 0.125f};
    m.initializer("g", {3}, g);
    m.initializer("b", {3}, b);
    m.node("LayerNormalization", {"x", "g", "b"}, {"y"},
           "/1/LayerNormalization")
        .attr("axis", -2)
        .attr("epsilon", 1e-6f);
    m.output("y");
    Imported r;
    import_model(m, r);
    ASSERT_TRUE(r.ok()) << r.error;
    const sq_layer &l = r.layer(0);
    EXPECT_EQ(l.kind, SQ_LAYERNORM);
    EXPECT_EQ(l.axis, 1);
    EXPECT_NEAR(l.epsilon, 1e-6f, 1e-12);
    // [3] broadcast to the normalised dims [2, 3]
    EXPECT_EQ(dims_of(l.weight.shape), (dims{2, 3}));
    EXPECT_FLOATS_NEAR((floats{1, 2, 3, 1, 2, 3}), values_of(l.weight), 0);
    EXPECT_FLOATS_NEAR((floats{0.5f, 0.25f, 0.125f, 0.5f, 0.25f, 0.125f}),
                       values_of(l.bias), 0);
  }
  // no bias input; the opset-16 model has no LayerNormalization yet
  Model m(17);
  m.input("x", {-1, 4});
  m.initializer("g", {4}, {1, 2, 3, 4});
  m.node("LayerNormalization", {"x", "g"}, {"y"}, "/1/LayerNormalization");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.layer(0).axis, 1);
  EXPECT_EQ(r.layer(0).bias.data, nullptr);
}

TEST(ImporterLayers, GroupNormalizationPerGroupThenPerChannel) {
  Model m(18); // scale/bias per group (expanded to the channels)
  m.input("x", {-1, 4, 3});
  m.initializer("g", {2}, {2.0f, 3.0f});
  m.initializer("b", {2}, {0.5f, -0.5f});
  m.node("GroupNormalization", {"x", "g", "b"}, {"y"}, "/gn/GN")
      .attr("num_groups", 2);
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.layer(0).kind, SQ_GROUPNORM);
  EXPECT_EQ(r.layer(0).groups, 2);
  EXPECT_FLOATS_NEAR((floats{2, 2, 3, 3}), values_of(r.layer(0).weight), 0);
  EXPECT_FLOATS_NEAR((floats{0.5f, 0.5f, -0.5f, -0.5f}),
                     values_of(r.layer(0).bias), 0);

  Model m2(21); // per channel
  m2.input("x", {-1, 4, 3});
  m2.initializer("g", {4}, {1, 2, 3, 4});
  m2.initializer("b", {4}, {0, 0, 1, 0});
  m2.node("GroupNormalization", {"x", "g", "b"}, {"y"}, "/gn/GN")
      .attr("num_groups", 2)
      .attr("epsilon", 1e-3f);
  m2.output("y");
  Imported r2;
  import_model(m2, r2);
  ASSERT_TRUE(r2.ok()) << r2.error;
  EXPECT_FLOATS_NEAR((floats{1, 2, 3, 4}), values_of(r2.layer(0).weight), 0);
  EXPECT_NEAR(r2.layer(0).epsilon, 1e-3f, 1e-9);
}

TEST(ImporterLayers, LrnOddSizeOnly) {
  Model m(13);
  m.input("x", {-1, 6, 4, 4});
  m.node("LRN", {"x"}, {"y"}, "/n/LRN")
      .attr("size", 5)
      .attr("alpha", 0.01f)
      .attr("beta", 0.5f)
      .attr("bias", 2.0f);
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.layer(0).kind, SQ_LRN);
  EXPECT_EQ(r.layer(0).kernel[0], 5);
  EXPECT_NEAR(r.layer(0).alpha, 0.01f, 1e-9);
  EXPECT_EQ(r.layer(0).beta, 0.5f);
  EXPECT_EQ(r.layer(0).epsilon, 2.0f);

  Model m2(13);
  m2.input("x", {-1, 6, 4, 4});
  m2.node("LRN", {"x"}, {"y"}, "/n/LRN").attr("size", 4);
  m2.output("y");
  Imported r2;
  import_model(m2, r2);
  EXPECT_EQ(r2.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_NE(r2.error.find("size 4"), std::string::npos) << r2.error;
}

// ---- Pad
// ----------------------------------------------------------------------

TEST(ImporterLayers, PadModesAsAttributesBeforeOpset11) {
  Model m(9);
  m.input("x", {-1, 2, 5, 6});
  m.node("Pad", {"x"}, {"a"}, "/0/Pad")
      .attr("mode", "reflect")
      .attr("pads", dims{0, 0, 1, 2, 0, 0, 3, 0});
  m.node("Pad", {"a"}, {"b"}, "/1/Pad")
      .attr("mode", "edge")
      .attr("pads", dims{0, 0, 0, 1, 0, 0, 2, 1});
  m.node("Pad", {"b"}, {"y"}, "/2/Pad")
      .attr("pads", dims{0, 0, 1, -1, 0, 0, 1, 0})
      .attr("value", 0.5f);
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 3);
  EXPECT_EQ(r.layer(0).kind, SQ_PAD);
  EXPECT_EQ(r.layer(0).pad_mode, SQ_PAD_REFLECT);
  EXPECT_EQ(r.layer(0).spatial, 2);
  EXPECT_EQ(r.layer(0).pad_begin[0], 1);
  EXPECT_EQ(r.layer(0).pad_begin[1], 2);
  EXPECT_EQ(r.layer(0).pad_end[0], 3);
  EXPECT_EQ(r.layer(0).pad_end[1], 0);
  EXPECT_EQ(dims_of(r.layer(0).out), (dims{-1, 2, 9, 8}));
  EXPECT_EQ(r.layer(1).pad_mode, SQ_PAD_REPLICATE);
  EXPECT_EQ(dims_of(r.layer(1).out), (dims{-1, 2, 11, 10}));
  EXPECT_EQ(r.layer(2).pad_mode, SQ_PAD_CONSTANT);
  EXPECT_EQ(r.layer(2).pad_value, 0.5f);
  EXPECT_EQ(r.layer(2).pad_begin[1], -1); // cropping
  EXPECT_EQ(dims_of(r.layer(2).out), (dims{-1, 2, 13, 9}));
}

TEST(ImporterLayers, PadInputsAxesAndWrap) {
  // opset 11: pads and value as inputs
  Model m(11);
  m.input("x", {-1, 2, 5});
  m.initializer_i64("pads", {6}, {0, 0, 2, 0, 0, 1});
  m.initializer("value", {}, {-1.5f});
  m.node("Pad", {"x", "pads", "value"}, {"y"}, "/1/Pad");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.layer(0).pad_value, -1.5f);
  EXPECT_EQ(dims_of(r.layer(0).out), (dims{-1, 2, 8}));
  EXPECT_STREQ(r.layer(0).name, "1");

  // opset 19: axes input and wrap (a true circular pad)
  Model m2(19);
  m2.input("x", {-1, 2, 5, 6});
  m2.initializer_i64("pads", {4}, {1, 2, 3, 1});
  m2.initializer_i64("axes", {2}, {-1, 2});
  m2.node("Pad", {"x", "pads", "", "axes"}, {"y"}, "node_pad")
      .attr("mode", "wrap");
  m2.output("y");
  Imported r2;
  import_model(m2, r2);
  ASSERT_TRUE(r2.ok()) << r2.error;
  const sq_layer &l = r2.layer(0);
  EXPECT_EQ(l.pad_mode, SQ_PAD_CIRCULAR);
  EXPECT_EQ(l.pad_begin[0], 2); // axis 2
  EXPECT_EQ(l.pad_end[0], 1);
  EXPECT_EQ(l.pad_begin[1], 1); // axis 3 (-1)
  EXPECT_EQ(l.pad_end[1], 3);
  EXPECT_EQ(l.circular_from[0], 5 - 2);
  EXPECT_EQ(l.circular_from[1], 6 - 1);
  EXPECT_EQ(dims_of(l.out), (dims{-1, 2, 8, 10}));
}

TEST(ImporterLayers, PadRejections) {
  struct Case {
    dims shape, pads;
    const char *mode;
    const char *message;
  };
  const Case cases[] = {
      {{-1, 4},
       {0, 1, 0, 1},
       "constant",
       "node '/p/Pad' (Pad) pads a rank-2 input [-1, 4], which is not "
       "supported; seqrt pads the 1 to 3 spatial dims of [N, C, ...] "
       "inputs"},
      {{-1, 2, 5},
       {0, 1, 0, 0, 1, 0},
       "constant",
       "node '/p/Pad' (Pad) pads dim 1 (channels) of [-1, 2, 5], which is "
       "not supported; seqrt pads only the spatial dims"},
      {{-1, 2, 5},
       {0, 0, 5, 0, 0, 0},
       "reflect",
       "node '/p/Pad' (Pad): padding 5/0 of spatial dim 0 (size 5) is not "
       "supported in this mode"},
  };
  for (const Case &c : cases) {
    Model m(13);
    m.input("x", c.shape);
    m.initializer_i64("pads", {(int64_t)c.pads.size()}, c.pads);
    m.node("Pad", {"x", "pads"}, {"y"}, "/p/Pad").attr("mode", c.mode);
    m.output("y");
    Imported r;
    import_model(m, r);
    EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED) << c.message;
    EXPECT_EQ(r.error, c.message);
  }
}

// Zero padding folds into a Conv (ops test) or a counting AveragePool, but
// not into a MaxPool, which pads with -inf: there it stays a PAD layer.
TEST(ImporterLayers, ZeroPadBeforeMaxPoolStaysALayer) {
  Model m(13);
  m.input("x", {-1, 2, 6, 6});
  m.initializer_i64("pads", {8}, {0, 0, 1, 1, 0, 0, 1, 1});
  m.initializer("zero", {}, {0.0f});
  m.node("Pad", {"x", "pads", "zero"}, {"p"}, "/1/1.0/Pad");
  m.node("MaxPool", {"p"}, {"y"}, "/1/1.1/MaxPool")
      .attr("kernel_shape", dims{2, 2})
      .attr("strides", dims{2, 2});
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 2);
  EXPECT_EQ(r.layer(0).kind, SQ_PAD);
  EXPECT_STREQ(r.layer(0).name, "1.0");
  EXPECT_EQ(r.layer(1).kind, SQ_MAXPOOL);
  EXPECT_EQ(r.layer(1).pad_begin[0], 0);
  EXPECT_EQ(dims_of(r.layer(1).out), (dims{-1, 2, 4, 4}));
}

// AvgPool(3, 2, padding=1, ceil_mode=True) with the padding counted: the
// Pad's zeros count but the ceil overhang past them does not; one AVGPOOL
// layer says so with uncounted_end (opset 10+: ceil_mode=1; opset 9: the
// AveragePool's own generous end pads, count_include_pad=0).
TEST(ImporterLayers, PadBeforeCeilAveragePoolFoldsTheOverhangUncounted) {
  for (int64_t opset : {9, 13}) {
    Model m(opset);
    m.input("x", {-1, 4, 8, 8});
    if (opset < 11) {
      m.node("Pad", {"x"}, {"p"}, "/1/Pad")
          .attr("mode", "constant")
          .attr("pads", dims{0, 0, 1, 1, 0, 0, 1, 1});
    } else {
      m.initializer_i64("pads", {8}, {0, 0, 1, 1, 0, 0, 1, 1});
      m.node("Pad", {"x", "pads"}, {"p"}, "/1/Pad").attr("mode", "constant");
    }
    auto &pool = m.node("AveragePool", {"p"}, {"y"}, "/1/AveragePool")
                     .attr("kernel_shape", dims{3, 3})
                     .attr("strides", dims{2, 2});
    if (opset < 10) // torch: the ceil overhang as the node's own end pads
      pool.attr("pads", dims{0, 0, 1, 1});
    else
      pool.attr("ceil_mode", 1);
    m.output("y");
    Imported r;
    import_model(m, r);
    ASSERT_TRUE(r.ok()) << opset << ": " << r.error;
    ASSERT_EQ(r.count(), 1) << opset;
    const sq_layer &l = r.layer(0);
    EXPECT_EQ(l.kind, SQ_AVGPOOL);
    EXPECT_STREQ(l.name, "1");
    EXPECT_STREQ(l.nodes, "/1/Pad,/1/AveragePool");
    EXPECT_TRUE(l.count_include_pad);
    EXPECT_EQ(l.pad_begin[0], 1);
    EXPECT_EQ(l.pad_end[1], 2); // the Pad's 1 and the overhang of 1
    EXPECT_EQ(l.uncounted_begin[0], 0);
    EXPECT_EQ(l.uncounted_end[0], 1);
    EXPECT_EQ(l.uncounted_end[1], 1);
    EXPECT_EQ(dims_of(l.out), (dims{-1, 4, 5, 5}));
  }
}

// ---- Conv padding_mode: the module's Pad merged into its Conv
// ----------------------------------------------------------------

// torch 1.13's Conv2d(2, 3, 3, padding=(1, 2), padding_mode=...): a Pad in
// the Conv's module, then the Conv without pads, after a ReLU module; its
// output is "y".
void conv_with_pad(Model &m, int64_t opset, const char *mode) {
  m.input("x", {-1, 2, 5, 6});
  m.node("Relu", {"x"}, {"r"}, "/0/Relu");
  const dims pads = {0, 0, 1, 2, 0, 0, 1, 2};
  if (opset < 11) {
    m.node("Pad", {"r"}, {"p"}, "/1/Pad").attr("mode", mode).attr("pads", pads);
  } else {
    m.initializer_i64("pads", {8}, pads);
    m.node("Pad", {"r", "pads"}, {"p"}, "/1/Pad").attr("mode", mode);
  }
  m.initializer("w", {3, 2, 3, 3}, ramp(54));
  m.initializer("b", {3}, ramp(3, 0.5f));
  m.node("Conv", {"p", "w", "b"}, {"y"}, "/1/Conv")
      .attr("kernel_shape", dims{3, 3})
      .attr("pads", dims{0, 0, 0, 0});
}

TEST(ImporterLayers, ConvPaddingModeIsOneConvLayer) {
  const struct {
    const char *mode;
    sq_pad_mode want;
  } modes[] = {{"reflect", SQ_PAD_REFLECT}, {"edge", SQ_PAD_REPLICATE}};
  for (int64_t opset : {9, 11, 13, 17})
    for (const auto &c : modes) {
      SCOPED_TRACE(::testing::Message() << c.mode << " opset " << opset);
      Model m(opset);
      conv_with_pad(m, opset, c.mode);
      m.output("y");
      Imported r;
      import_model(m, r);
      ASSERT_TRUE(r.ok()) << r.error;
      ASSERT_EQ(r.count(), 2);
      EXPECT_EQ(r.layer(0).kind, SQ_RELU);
      const sq_layer &l = r.layer(1);
      EXPECT_EQ(l.kind, SQ_CONV);
      EXPECT_STREQ(l.name, "1");
      EXPECT_STREQ(l.nodes, "/1/Pad,/1/Conv");
      EXPECT_EQ(l.pad_mode, c.want);
      EXPECT_EQ(l.prepad_begin[0], 1);
      EXPECT_EQ(l.prepad_begin[1], 2);
      EXPECT_EQ(l.prepad_end[0], 1);
      EXPECT_EQ(l.prepad_end[1], 2);
      EXPECT_EQ(l.pad_begin[0], 0); // the convolution's own zero padding
      EXPECT_EQ(l.pad_end[1], 0);
      EXPECT_EQ(dims_of(l.in), (dims{-1, 2, 5, 6}));  // before the padding
      EXPECT_EQ(dims_of(l.out), (dims{-1, 3, 5, 8})); // 7x10 padded, 3x3
      EXPECT_FLOATS_NEAR(ramp(54), values_of(l.weight), 0);
      EXPECT_FLOATS_NEAR(ramp(3, 0.5f), values_of(l.bias), 0);
    }
}

// Opset 19's Pad(mode='wrap') with axes, as the newer exporter writes
// padding_mode='circular': a true circular pre-padding.
TEST(ImporterLayers, ConvAfterItsWrapPadIsOneConvLayer) {
  Model m(19);
  m.input("x", {-1, 2, 5, 6});
  m.initializer_i64("pads", {4}, {1, 2, 1, 2});
  m.initializer_i64("axes", {2}, {2, 3});
  m.node("Pad", {"x", "pads", "", "axes"}, {"p"}, "/conv/Pad")
      .attr("mode", "wrap");
  m.initializer("w", {3, 2, 3, 3}, ramp(54));
  m.node("Conv", {"p", "w"}, {"y"}, "/conv/Conv").attr("strides", dims{2, 2});
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 1);
  const sq_layer &l = r.layer(0);
  EXPECT_EQ(l.kind, SQ_CONV);
  EXPECT_STREQ(l.name, "conv");
  EXPECT_STREQ(l.nodes, "/conv/Pad,/conv/Conv");
  EXPECT_EQ(l.pad_mode, SQ_PAD_CIRCULAR);
  EXPECT_EQ(l.prepad_begin[0], 1);
  EXPECT_EQ(l.prepad_end[1], 2);
  EXPECT_EQ(l.circular_from[0], 5 - 1);
  EXPECT_EQ(l.circular_from[1], 6 - 2);
  EXPECT_EQ(l.stride[0], 2);
  EXPECT_EQ(dims_of(l.out), (dims{-1, 3, 3, 4})); // 7x10 padded, stride 2
}

// nn.ReflectionPad2d then nn.Conv2d: two modules, two layers; and a zero
// constant Pad still folds into the Conv's own padding.
TEST(ImporterLayers, PadOfAnotherModuleStaysALayer) {
  Model m(13);
  m.input("x", {-1, 2, 5, 6});
  m.initializer_i64("pads", {8}, {0, 0, 1, 1, 0, 0, 1, 1});
  m.node("Pad", {"x", "pads"}, {"p"}, "/0/Pad").attr("mode", "reflect");
  m.initializer("w", {3, 2, 3, 3}, ramp(54));
  m.node("Conv", {"p", "w"}, {"c"}, "/1/Conv");
  m.initializer_i64("zeros", {8}, {0, 0, 1, 1, 0, 0, 1, 1});
  m.node("Pad", {"c", "zeros"}, {"q"}, "/2/Pad");
  m.initializer("w2", {3, 3, 3, 3}, ramp(81));
  m.node("Conv", {"q", "w2"}, {"y"}, "/2/Conv");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 3);
  EXPECT_EQ(r.layer(0).kind, SQ_PAD);
  EXPECT_STREQ(r.layer(0).name, "0");
  EXPECT_EQ(r.layer(1).kind, SQ_CONV);
  EXPECT_STREQ(r.layer(1).name, "1");
  EXPECT_STREQ(r.layer(1).nodes, "/1/Conv");
  EXPECT_EQ(r.layer(1).prepad_begin[0], 0);
  EXPECT_EQ(dims_of(r.layer(1).in), (dims{-1, 2, 7, 8}));
  const sq_layer &folded = r.layer(2);
  EXPECT_EQ(folded.kind, SQ_CONV);
  EXPECT_STREQ(folded.nodes, "/2/Pad,/2/Conv");
  EXPECT_EQ(folded.pad_begin[0], 1); // zero padding: the convolution's own
  EXPECT_EQ(folded.prepad_begin[0], 0);
  EXPECT_EQ(folded.prepad_end[1], 0);
  EXPECT_EQ(dims_of(folded.out), (dims{-1, 3, 5, 6}));
}

// A BatchNorm after the merged Conv still folds into it.
TEST(ImporterLayers, BatchNormFoldsIntoAPrepaddedConv) {
  Model m(13);
  conv_with_pad(m, 13, "reflect");
  m.initializer("s", {3}, {1, 2, 3});
  m.initializer("t", {3}, {0, 0, 0});
  m.initializer("mean", {3}, {0, 0, 0});
  m.initializer("var", {3}, {1, 1, 1});
  m.node("BatchNormalization", {"y", "s", "t", "mean", "var"}, {"z"},
         "/2/BatchNormalization")
      .attr("epsilon", 0.0f);
  m.output("z");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 2);
  const sq_layer &l = r.layer(1);
  EXPECT_EQ(l.kind, SQ_CONV);
  EXPECT_STREQ(l.nodes, "/1/Pad,/1/Conv,/2/BatchNormalization");
  EXPECT_STREQ(l.folded, "2");
  EXPECT_EQ(l.pad_mode, SQ_PAD_REFLECT);
  EXPECT_EQ(l.prepad_begin[1], 2);
}

// ---- Resize / Upsample
// --------------------------------------------------------

TEST(ImporterLayers, ResizeScalesModesPerOpset) {
  Model m(11); // opset 11: roi and scales as (empty) constants
  m.input("x", {-1, 3, 4, 5});
  m.initializer("roi", {0}, {});
  m.initializer("scales", {4}, {1, 1, 2, 3});
  m.node("Resize", {"x", "roi", "scales"}, {"y"}, "/1/Resize")
      .attr("mode", "nearest")
      .attr("coordinate_transformation_mode", "asymmetric")
      .attr("nearest_mode", "floor");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  const sq_layer &l = r.layer(0);
  EXPECT_EQ(l.kind, SQ_UPSAMPLE);
  EXPECT_EQ(l.resize_mode, SQ_RESIZE_NEAREST);
  EXPECT_EQ(l.resize_coord, SQ_COORD_ASYMMETRIC);
  EXPECT_EQ(l.resize_nearest, SQ_NEAREST_FLOOR);
  EXPECT_EQ(l.scales[0], 2.0f);
  EXPECT_EQ(l.scales[1], 3.0f);
  EXPECT_EQ(dims_of(l.out), (dims{-1, 3, 8, 15}));

  Model m2(13); // empty names for the unused inputs; linear align_corners
  m2.input("x", {-1, 3, 4});
  m2.initializer("scales", {3}, {1, 1, 2.5f});
  m2.node("Resize", {"x", "", "scales"}, {"y"}, "/1/Resize")
      .attr("mode", "linear")
      .attr("coordinate_transformation_mode", "align_corners");
  m2.output("y");
  Imported r2;
  import_model(m2, r2);
  ASSERT_TRUE(r2.ok()) << r2.error;
  EXPECT_EQ(r2.layer(0).resize_mode, SQ_RESIZE_LINEAR);
  EXPECT_EQ(r2.layer(0).resize_coord, SQ_COORD_ALIGN_CORNERS);
  EXPECT_EQ(r2.layer(0).resize_nearest, SQ_NEAREST_ROUND_PREFER_FLOOR);
  EXPECT_EQ(dims_of(r2.layer(0).out), (dims{-1, 3, 10}));
}

// Upsample(size=(12, 16)): sizes = Shape(x)[0:2] ++ [12, 16]
TEST(ImporterLayers, ResizeSizesFromShapeSideGraph) {
  for (int64_t opset : {11, 13, 18}) {
    Model m(opset);
    m.input("x", {-1, 3, 8, 8});
    m.node("Shape", {"x"}, {"s"}, "/1/Shape");
    m.initializer_i64("st", {1}, {0});
    m.initializer_i64("en", {1}, {2});
    m.initializer_i64("ax", {1}, {0});
    m.node("Slice", {"s", "st", "en", "ax"}, {"nc"}, "/1/Slice");
    m.initializer_i64("hw", {2}, {12, 16});
    m.node("Concat", {"nc", "hw"}, {"sizes"}, "/1/Concat").attr("axis", 0);
    m.node("Resize", {"x", "", "", "sizes"}, {"y"}, "/1/Resize")
        .attr("mode", "linear")
        .attr("coordinate_transformation_mode", "pytorch_half_pixel");
    m.output("y");
    Imported r;
    import_model(m, r);
    ASSERT_TRUE(r.ok()) << opset << ": " << r.error;
    EXPECT_EQ(dims_of(r.layer(0).out), (dims{-1, 3, 12, 16}));
    EXPECT_EQ(r.layer(0).scales[0], 1.5f);
    EXPECT_EQ(r.layer(0).scales[1], 2.0f);
    EXPECT_EQ(r.layer(0).resize_coord, SQ_COORD_PYTORCH_HALF_PIXEL);
  }
}

TEST(ImporterLayers, ResizeOpset18AxesAndAntialias) {
  Model m(18);
  m.input("x", {-1, 3, 4, 4});
  m.initializer("scales", {2}, {2, 2});
  m.node("Resize", {"x", "", "scales"}, {"y"}, "node_upsample")
      .attr("axes", dims{2, 3})
      .attr("antialias", 1) // no effect when upsampling
      .attr("mode", "nearest")
      .attr("nearest_mode", "round_prefer_ceil");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(dims_of(r.layer(0).out), (dims{-1, 3, 8, 8}));
  EXPECT_EQ(r.layer(0).resize_coord, SQ_COORD_HALF_PIXEL);
  EXPECT_EQ(r.layer(0).resize_nearest, SQ_NEAREST_ROUND_PREFER_CEIL);

  Model m2(18);
  m2.input("x", {-1, 3, 4, 4});
  m2.initializer("scales", {2}, {0.5f, 0.5f});
  m2.node("Resize", {"x", "", "scales"}, {"y"}, "node_down")
      .attr("axes", dims{2, 3})
      .attr("antialias", 1)
      .attr("mode", "linear");
  m2.output("y");
  Imported r2;
  import_model(m2, r2);
  EXPECT_EQ(r2.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_EQ(r2.error, "node 'node_down' (Resize) downsamples with "
                      "antialias=1, which is not supported");
}

TEST(ImporterLayers, ResizeRejections) {
  Model m(13);
  m.input("x", {-1, 3, 4, 4});
  m.initializer("scales", {4}, {1, 1, 2, 2});
  m.node("Resize", {"x", "", "scales"}, {"y"}, "/1/Resize")
      .attr("mode", "cubic");
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_EQ(r.error, "node '/1/Resize' (Resize) has mode='cubic', which "
                     "is not supported");

  Model m2(13);
  m2.input("x", {-1, 3, 4, 4});
  m2.initializer("scales", {4}, {1, 2, 2, 2});
  m2.node("Resize", {"x", "", "scales"}, {"y"}, "/1/Resize");
  m2.output("y");
  Imported r2;
  import_model(m2, r2);
  EXPECT_EQ(r2.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_EQ(r2.error, "node '/1/Resize' (Resize) resizes dim 1 (channels), "
                      "which is not supported; seqrt resizes only the "
                      "spatial dims");
}

// Opsets 7-9: Upsample (asymmetric coordinates, floor for nearest).
TEST(ImporterLayers, UpsampleOpsets7And9) {
  Model m(7);
  m.input("x", {-1, 2, 3, 3});
  m.node("Upsample", {"x"}, {"y"}, "/1/Upsample")
      .attr("scales", floats{1, 1, 2, 2})
      .attr("mode", "nearest");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.layer(0).resize_coord, SQ_COORD_ASYMMETRIC);
  EXPECT_EQ(r.layer(0).resize_nearest, SQ_NEAREST_FLOOR);
  EXPECT_EQ(dims_of(r.layer(0).out), (dims{-1, 2, 6, 6}));

  Model m2(9);
  m2.input("x", {-1, 2, 3});
  m2.initializer("scales", {3}, {1, 1, 2});
  m2.node("Upsample", {"x", "scales"}, {"y"}, "/1/Upsample")
      .attr("mode", "linear");
  m2.output("y");
  Imported r2;
  import_model(m2, r2);
  ASSERT_TRUE(r2.ok()) << r2.error;
  EXPECT_EQ(r2.layer(0).resize_mode, SQ_RESIZE_LINEAR);
  EXPECT_EQ(r2.layer(0).resize_coord, SQ_COORD_ASYMMETRIC);
  EXPECT_EQ(dims_of(r2.layer(0).out), (dims{-1, 2, 6}));
}

// ---- DepthToSpace / SpaceToDepth
// ---------------------------------------------

TEST(ImporterLayers, DepthToSpaceCrdIsPixelShuffle) {
  Model m(13);
  m.input("x", {-1, 8, 3, 3});
  m.node("DepthToSpace", {"x"}, {"y"}, "/1/DepthToSpace")
      .attr("blocksize", 2)
      .attr("mode", "CRD");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.layer(0).kind, SQ_PIXELSHUFFLE);
  EXPECT_EQ(r.layer(0).block, 2);
  EXPECT_EQ(dims_of(r.layer(0).out), (dims{-1, 2, 6, 6}));

  Model m2(13); // DCR with two output channels orders them differently
  m2.input("x", {-1, 8, 3, 3});
  m2.node("DepthToSpace", {"x"}, {"y"}, "/1/DepthToSpace").attr("blocksize", 2);
  m2.output("y");
  Imported r2;
  import_model(m2, r2);
  EXPECT_EQ(r2.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_EQ(r2.error, "node '/1/DepthToSpace' (DepthToSpace) in mode DCR "
                      "with 2 output channels is not supported; seqrt runs "
                      "PixelShuffle's CRD order");

  Model m3(13); // one input channel: SpaceToDepth is PixelUnshuffle
  m3.input("x", {-1, 1, 4, 6});
  m3.node("SpaceToDepth", {"x"}, {"y"}, "/1/SpaceToDepth").attr("blocksize", 2);
  m3.output("y");
  Imported r3;
  import_model(m3, r3);
  ASSERT_TRUE(r3.ok()) << r3.error;
  EXPECT_EQ(r3.layer(0).kind, SQ_PIXELUNSHUFFLE);
  EXPECT_EQ(dims_of(r3.layer(0).out), (dims{-1, 4, 2, 3}));
}

// ---- Embedding
// -------------------------------------------------------------------

TEST(ImporterLayers, EmbeddingTakesInt64Indices) {
  for (int64_t opset : {9, 13, 17, 18}) {
    Model m(opset);
    m.input("input", {-1, 5}, onnxb::INT64);
    floats table = ramp(20 * 8);
    m.initializer("0.weight", {20, 8}, table);
    m.node("Gather", {"0.weight", "input"}, {"e"}, "/0/Gather");
    m.node("Relu", {"e"}, {"y"}, "/1/Relu");
    m.output("y");
    Imported r;
    import_model(m, r);
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.chain->input_dtype, SEQRT_INT64);
    EXPECT_EQ(r.layer(0).kind, SQ_EMBEDDING);
    EXPECT_EQ(dims_of(r.layer(0).in), (dims{-1, 5}));
    EXPECT_EQ(dims_of(r.layer(0).out), (dims{-1, 5, 8}));
    EXPECT_EQ(dims_of(r.layer(0).weight.shape), (dims{20, 8}));
    EXPECT_FLOATS_NEAR(table, values_of(r.layer(0).weight), 0);
    EXPECT_EQ(dims_of(r.chain->output), (dims{-1, 5, 8}));
  }
}

// A constant table looked up with something else than the model input.
TEST(ImporterLayers, GatherOtherThanEmbeddingRejected) {
  Model m(13);
  m.input("x", {-1, 5});
  m.initializer("table", {4, 2}, floats(8, 1.0f));
  m.node("Relu", {"x"}, {"r"}, "/r/Relu");
  m.node("Gather", {"table", "r"}, {"y"}, "/0/Gather");
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_EQ(r.error, "node '/0/Gather' (Gather) is not supported: seqrt runs "
                     "Gather only as an Embedding, the first layer, looking "
                     "up rows (axis 0) of a constant table with the int64 "
                     "model input");
}

// ---- LpPool
// ----------------------------------------------------------------------

TEST(ImporterLayers, LpPoolIsOnnxLpNorm) {
  Model m(13);
  m.input("x", {-1, 2, 8});
  m.node("LpPool", {"x"}, {"a"}, "/1/LpPool")
      .attr("kernel_shape", dims{2})
      .attr("strides", dims{2})
      .attr("p", 3);
  m.node("GlobalLpPool", {"a"}, {"y"}, "/2/GlobalLpPool");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.layer(0).kind, SQ_LPPOOL);
  EXPECT_EQ(r.layer(0).alpha, 3.0f);
  EXPECT_TRUE(r.layer(0).lp_abs);
  EXPECT_EQ(dims_of(r.layer(0).out), (dims{-1, 2, 4}));
  EXPECT_EQ(r.layer(1).kernel[0], 4);
  EXPECT_EQ(r.layer(1).alpha, 2.0f);
  EXPECT_EQ(dims_of(r.layer(1).out), (dims{-1, 2, 1}));
}

// ---- Transpose ------------------------------------------------------------

TEST(ImporterLayers, TransposeKeepsTheBatchFirst) {
  Model m(13);
  m.input("x", {-1, 3, 4, 5});
  m.node("Transpose", {"x"}, {"a"}, "/a/Transpose")
      .attr("perm", dims{0, 2, 3, 1});
  m.node("Transpose", {"a"}, {"y"}, "/b/Transpose")
      .attr("perm", dims{0, 1, 2, 3});
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 1); // the identity is removed
  EXPECT_STREQ(r.chain->removed, "b");
  EXPECT_EQ(r.layer(0).kind, SQ_TRANSPOSE);
  EXPECT_EQ(std::vector<int>(r.layer(0).perm, r.layer(0).perm + 4),
            (std::vector<int>{0, 2, 3, 1}));
  EXPECT_EQ(dims_of(r.layer(0).out), (dims{-1, 4, 5, 3}));
}

TEST(ImporterLayers, TransposeRejections) {
  struct Case {
    dims perm;
    seqrt_status status;
    const char *error;
  } cases[] = {
      {{},
       SEQRT_ERR_UNSUPPORTED,
       "node '/t/Transpose' (Transpose) moves the batch dim (perm [2, 1, 0]), "
       "which is not supported: seqrt keeps the batch first"},
      {{0, 2, 2},
       SEQRT_ERR_INVALID_MODEL,
       "node '/t/Transpose' (Transpose): perm [0, 2, 2] is not a permutation "
       "of the 3 dims of [-1, 3, 4]"},
      {{0, 1},
       SEQRT_ERR_INVALID_MODEL,
       "node '/t/Transpose' (Transpose): perm [0, 1] is not a permutation of "
       "the 3 dims of [-1, 3, 4]"},
  };
  for (const Case &c : cases) {
    Model m(13);
    m.input("x", {-1, 3, 4});
    auto &node = m.node("Transpose", {"x"}, {"y"}, "/t/Transpose");
    if (!c.perm.empty()) node.attr("perm", c.perm);
    m.output("y");
    Imported r;
    import_model(m, r);
    EXPECT_EQ(r.status, c.status);
    EXPECT_EQ(r.error, c.error);
  }
}

// ---- Slice, Split, Gather on the activation ------------------------------

std::vector<int64_t> vec(const int64_t *v, int n) {
  return std::vector<int64_t>(v, v + n);
}

// torch's x[:, :, 1:-1] then x[..., ::2]: two Slices, run as one layer.
TEST(ImporterLayers, SlicesAfterTheBatchAreOneLayer) {
  Model m(13);
  m.input("x", {-1, 3, 8, 10});
  m.initializer_i64("s0", {1}, {1});
  m.initializer_i64("e0", {1}, {-1});
  m.initializer_i64("a0", {1}, {2});
  m.initializer_i64("s1", {2}, {0, 1});
  m.initializer_i64("e1", {2}, {INT64_MAX, INT64_MAX});
  m.initializer_i64("a1", {2}, {0, -1});
  m.initializer_i64("st1", {2}, {1, 2});
  m.node("Slice", {"x", "s0", "e0", "a0"}, {"a"}, "/Slice");
  m.node("Slice", {"a", "s1", "e1", "a1", "st1"}, {"y"}, "/Slice_1");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 1);
  const sq_layer &l = r.layer(0);
  EXPECT_EQ(l.kind, SQ_SLICE);
  EXPECT_STREQ(l.nodes, "/Slice,/Slice_1");
  EXPECT_EQ(vec(l.slice_start, 4), (dims{0, 0, 1, 1}));
  EXPECT_EQ(vec(l.slice_step, 4), (dims{1, 1, 1, 2}));
  EXPECT_EQ(vec(l.slice_len, 4), (dims{-1, 3, 6, 5}));
  EXPECT_EQ(dims_of(l.in), (dims{-1, 3, 8, 10}));
  EXPECT_EQ(dims_of(l.out), (dims{-1, 3, 6, 5}));
}

// Opset 9: starts/ends/axes are attributes; the whole range is removed.
TEST(ImporterLayers, SliceAttributesAndIdentity) {
  Model m(9);
  m.input("x", {-1, 6});
  m.node("Slice", {"x"}, {"a"}, "/Slice")
      .attr("starts", dims{2})
      .attr("ends", dims{5})
      .attr("axes", dims{1});
  m.node("Slice", {"a"}, {"y"}, "/Slice_1")
      .attr("starts", dims{0, 0})
      .attr("ends", dims{INT64_MAX, 100});
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 1);
  EXPECT_STREQ(r.chain->removed, "/Slice_1");
  EXPECT_EQ(vec(r.layer(0).slice_start, 2), (dims{0, 2}));
  EXPECT_EQ(dims_of(r.layer(0).out), (dims{-1, 3}));
}

// x[:, i] drops the dim; x[:, [1, 3, 5]] keeps it, a slice of step 2.
TEST(ImporterLayers, GatherOfConstantIndicesIsASlice) {
  struct Case {
    dims index_dims, indices;
    int64_t axis, start, step, len;
    dims out;
  } cases[] = {
      {{}, {-1}, 2, 4, 1, 1, {-1, 3}},
      {{}, {0}, 1, 0, 1, 1, {-1, 5}},
      {{3}, {0, 2, 4}, -1, 0, 2, 3, {-1, 3, 3}},
      {{1}, {2}, 2, 2, 1, 1, {-1, 3, 1}},
  };
  for (const Case &c : cases) {
    Model m(13);
    m.input("x", {-1, 3, 5});
    m.initializer_i64("i", c.index_dims, c.indices);
    m.node("Gather", {"x", "i"}, {"y"}, "/Gather").attr("axis", c.axis);
    m.output("y");
    Imported r;
    import_model(m, r);
    ASSERT_TRUE(r.ok()) << r.error;
    ASSERT_EQ(r.count(), 1);
    const sq_layer &l = r.layer(0);
    int axis = c.axis < 0 ? 3 + (int)c.axis : (int)c.axis;
    EXPECT_EQ(l.kind, SQ_SLICE);
    EXPECT_EQ(l.slice_start[axis], c.start);
    EXPECT_EQ(l.slice_step[axis], c.step);
    EXPECT_EQ(l.slice_len[axis], c.len);
    EXPECT_EQ(l.dropped[axis], c.index_dims.empty());
    EXPECT_EQ(dims_of(l.out), c.out);
  }
}

// x.chunk(3, 1)[2], x.split([2, 4], 1)[1], and opset 18's num_outputs
// that does not divide the dim (the last part smaller): the used output.
TEST(ImporterLayers, SplitWithOneOutputUsedIsASlice) {
  struct Case {
    int64_t opset, size;
    dims split;
    int outputs, used;
    int64_t start, len;
  } cases[] = {
      {9, 6, {}, 3, 2, 4, 2},      {11, 6, {2, 4}, 2, 1, 2, 4},
      {13, 6, {2, 4}, 2, 1, 2, 4}, {13, 6, {}, 2, 0, 0, 3},
      {18, 7, {}, 4, 3, 6, 1},
  };
  for (const Case &c : cases) {
    Model m(c.opset);
    m.input("x", {-1, c.size});
    std::vector<std::string> in = {"x"}, out;
    if (c.opset >= 13 && !c.split.empty()) {
      m.initializer_i64("split", {(int64_t)c.split.size()}, c.split);
      in.push_back("split");
    }
    for (int k = 0; k < c.outputs; k++)
      out.push_back(k == c.used ? "y" : "unused" + std::to_string(k));
    auto &node = m.node("Split", in, out, "/Split").attr("axis", 1);
    if (c.opset < 13 && !c.split.empty()) node.attr("split", c.split);
    if (c.opset == 18) node.attr("num_outputs", c.outputs);
    m.output("y");
    Imported r;
    import_model(m, r);
    ASSERT_TRUE(r.ok()) << "opset " << c.opset << ": " << r.error;
    ASSERT_EQ(r.count(), 1);
    EXPECT_EQ(r.layer(0).kind, SQ_SLICE);
    EXPECT_EQ(r.layer(0).slice_start[1], c.start);
    EXPECT_EQ(dims_of(r.layer(0).out), (dims{-1, c.len}));
  }
}

TEST(ImporterLayers, SplitRejections) {
  struct Case {
    int64_t opset;
    dims split;
    int outputs;
  } cases[] = {
      {13, {INT64_MAX, INT64_MAX}, 2}, // the sum would overflow
      {13, {7, -1}, 2},
      {13, {2, 2}, 2}, // 4 of 6
      {13, {6}, 2},    // fewer sizes than outputs
      {13, {}, 4},     // 6 in 4 equal parts
      {18, {}, 5},     // 6 in ceil parts of 2: the fourth would be empty
  };
  for (const Case &c : cases) {
    Model m(c.opset);
    m.input("x", {-1, 6});
    std::vector<std::string> in = {"x"}, out;
    if (!c.split.empty()) {
      m.initializer_i64("split", {(int64_t)c.split.size()}, c.split);
      in.push_back("split");
    }
    for (int k = 0; k < c.outputs; k++)
      out.push_back(k == 1 ? "y" : "unused" + std::to_string(k));
    auto &node = m.node("Split", in, out, "/Split").attr("axis", 1);
    if (c.opset == 18) node.attr("num_outputs", c.outputs);
    m.output("y");
    Imported r;
    import_model(m, r);
    EXPECT_EQ(r.status, SEQRT_ERR_INVALID_MODEL) << r.error;
    EXPECT_NE(r.error.find("node '/Split' (Split): "), std::string::npos)
        << r.error;
  }
}

TEST(ImporterLayers, SliceRejections) {
  struct Case {
    const char *op;
    dims starts, ends, axes, steps;
    seqrt_status status;
    const char *error;
  } cases[] = {
      {"Slice",
       {1},
       {INT64_MAX},
       {0},
       {1},
       SEQRT_ERR_UNSUPPORTED,
       "node '/s' (Slice) takes part of the batch dim of [-1, 3, 4], which "
       "is not supported: seqrt keeps every sample of the batch"},
      {"Slice",
       {-1},
       {INT64_MIN},
       {2},
       {-1},
       SEQRT_ERR_UNSUPPORTED,
       "node '/s' (Slice) reverses dim 2 of [-1, 3, 4] (step -1, x.flip), "
       "which is not supported"},
      {"Slice",
       {-1},
       {0},
       {2},
       {INT64_MIN},
       SEQRT_ERR_UNSUPPORTED,
       "node '/s' (Slice) reverses dim 2 of [-1, 3, 4] (step "
       "-9223372036854775808, x.flip), which is not supported"},
      {"Slice",
       {3},
       {1},
       {1},
       {1},
       SEQRT_ERR_INVALID_MODEL,
       "node '/s' (Slice) takes nothing of dim 1 of [-1, 3, 4] (start 3, "
       "end 1)"},
      {"Gather",
       {2, 0},
       {},
       {},
       {},
       SEQRT_ERR_UNSUPPORTED,
       "node '/s' (Gather) takes indices [2, 0] of dim 1; seqrt takes only "
       "evenly spaced increasing indices (a slice)"},
      {"Gather",
       {3},
       {},
       {},
       {},
       SEQRT_ERR_INVALID_MODEL,
       "node '/s' (Gather): index 3 is outside dim 1 of [-1, 3, 4]"},
      {"Gather",
       {0},
       {},
       {0},
       {},
       SEQRT_ERR_UNSUPPORTED,
       "node '/s' (Gather) takes part of the batch dim of [-1, 3, 4], which "
       "is not supported: seqrt keeps every sample of the batch"},
  };
  for (const Case &c : cases) {
    Model m(13);
    m.input("x", {-1, 3, 4});
    if (std::string(c.op) == "Slice") {
      m.initializer_i64("s", {1}, c.starts);
      m.initializer_i64("e", {1}, c.ends);
      m.initializer_i64("a", {1}, c.axes);
      m.initializer_i64("st", {1}, c.steps);
      m.node("Slice", {"x", "s", "e", "a", "st"}, {"y"}, "/s");
    } else {
      m.initializer_i64("i", {(int64_t)c.starts.size()}, c.starts);
      m.node("Gather", {"x", "i"}, {"y"}, "/s")
          .attr("axis", c.axes.empty() ? 1 : (int)c.axes[0]);
    }
    m.output("y");
    Imported r;
    import_model(m, r);
    EXPECT_EQ(r.status, c.status) << c.error;
    EXPECT_EQ(r.error, c.error);
  }
}

// ---- arithmetic with constants ------------------------------------------

// x op c (or c op x) on a [-1, 3] or [-1, 5] activation.
void binary_model(Model &m, const char *op, const dims &c_dims, const floats &c,
                  bool constant_first) {
  m.input("x", {-1, c.size() == 1 ? 5 : 3});
  m.initializer("c", c_dims, c);
  std::vector<std::string> in = {"x", "c"};
  if (constant_first) std::swap(in[0], in[1]);
  m.node(op, in, {"y"}, std::string("/") + op);
  m.output("y");
}

// A scalar constant on either side: alpha * x + beta, or alpha * x^beta.
TEST(ImporterLayers, ScalarArithmeticIsAffineOrPow) {
  struct Case {
    const char *op;
    bool constant_first;
    sq_kind kind;
    float alpha, beta;
  } cases[] = {
      {"Add", false, SQ_AFFINE, 1.0f, 4.0f},
      {"Add", true, SQ_AFFINE, 1.0f, 4.0f},
      {"Sub", false, SQ_AFFINE, 1.0f, -4.0f},
      {"Sub", true, SQ_AFFINE, -1.0f, 4.0f},
      {"Mul", true, SQ_AFFINE, 4.0f, 0.0f},
      {"Div", false, SQ_AFFINE, 0.25f, 0.0f},
      {"Div", true, SQ_POW, 4.0f, -1.0f},
      {"Pow", false, SQ_POW, 1.0f, 4.0f},
  };
  for (const Case &c : cases) {
    Model m(13);
    binary_model(m, c.op, {}, {4.0f}, c.constant_first);
    Imported r;
    import_model(m, r);
    ASSERT_TRUE(r.ok()) << c.op << ": " << r.error;
    EXPECT_EQ(r.layer(0).kind, c.kind) << c.op << c.constant_first;
    EXPECT_EQ(r.layer(0).alpha, c.alpha) << c.op << c.constant_first;
    EXPECT_EQ(r.layer(0).beta, c.beta) << c.op << c.constant_first;
  }
}

// x + x is 2x, x * x is x^2; Sub and Div of x by itself stay refused.
TEST(ImporterLayers, ActivationReadTwice) {
  struct Case {
    const char *op;
    sq_kind kind;
    float alpha, beta;
  } cases[] = {
      {"Add", SQ_AFFINE, 2.0f, 0.0f},
      {"Mul", SQ_POW, 1.0f, 2.0f},
      {"Sub", SQ_KIND_COUNT, 0.0f, 0.0f},
  };
  for (const Case &c : cases) {
    Model m(13);
    m.input("x", {-1, 5});
    m.node(c.op, {"x", "x"}, {"y"}, "/op");
    m.output("y");
    Imported r;
    import_model(m, r);
    if (c.kind == SQ_KIND_COUNT) {
      EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED);
      EXPECT_EQ(r.error, "node '/op' (Sub) is not supported: seqrt runs it "
                         "on the activation and one constant");
      continue;
    }
    ASSERT_TRUE(r.ok()) << c.op << ": " << r.error;
    EXPECT_EQ(r.layer(0).kind, c.kind) << c.op;
    EXPECT_EQ(r.layer(0).alpha, c.alpha) << c.op;
    EXPECT_EQ(r.layer(0).beta, c.beta) << c.op;
  }
}

// torch.maximum(x, c) / torch.minimum(x, c): a one-sided clip.
TEST(ImporterLayers, MaxMinWithAScalarClip) {
  struct Case {
    const char *op;
    floats c;
    sq_kind kind;
    float alpha, beta;
  } cases[] = {
      {"Max", {0.0f}, SQ_RELU, 0.0f, 0.0f},
      {"Max", {0.5f}, SQ_HARDTANH, 0.5f, FLT_MAX},
      {"Min", {-1.0f}, SQ_HARDTANH, -FLT_MAX, -1.0f},
      {"Max", {1.0f, 2.0f, 3.0f}, SQ_KIND_COUNT, 0.0f, 0.0f},
  };
  for (const Case &c : cases) {
    Model m(13);
    binary_model(m, c.op, c.c.size() == 1 ? dims{} : dims{3}, c.c, true);
    Imported r;
    import_model(m, r);
    if (c.kind == SQ_KIND_COUNT) {
      EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED);
      EXPECT_EQ(r.error, "node '/Max' (Max) with a constant of shape [3] is "
                         "not supported: seqrt runs it with a scalar");
      continue;
    }
    ASSERT_TRUE(r.ok()) << c.op << ": " << r.error;
    EXPECT_EQ(r.layer(0).kind, c.kind) << c.op;
    EXPECT_EQ(r.layer(0).alpha, c.alpha) << c.op;
    EXPECT_EQ(r.layer(0).beta, c.beta) << c.op;
  }
}

TEST(ImporterLayers, UnaryMathIsEltwise) {
  Model m(13);
  m.input("x", {-1, 5});
  m.node("Neg", {"x"}, {"a"}, "/Neg");
  m.node("Abs", {"a"}, {"b"}, "/Abs");
  m.node("Sqrt", {"b"}, {"c"}, "/Sqrt");
  m.node("Exp", {"c"}, {"d"}, "/Exp");
  m.node("Log", {"d"}, {"e"}, "/Log");
  m.node("Reciprocal", {"e"}, {"y"}, "/Reciprocal");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  const sq_kind kinds[] = {SQ_AFFINE, SQ_ABS, SQ_SQRT, SQ_EXP, SQ_LOG, SQ_POW};
  ASSERT_EQ(r.count(), 6);
  for (int k = 0; k < 6; k++) EXPECT_EQ(r.layer(k).kind, kinds[k]) << k;
  EXPECT_EQ(r.layer(0).alpha, -1.0f);
  EXPECT_EQ(r.layer(5).beta, -1.0f);
}

// (x - mean) / std with [3, 1, 1] constants: per-channel binary layers,
// the division as a product with the reciprocal.
TEST(ImporterLayers, TensorConstantsBroadcastPerChannel) {
  Model m(13);
  m.input("x", {-1, 3, 4, 4});
  m.initializer("mean", {3, 1, 1}, {0.5f, 0.25f, 1.0f});
  m.initializer("std", {1, 3, 1, 1}, {2.0f, 4.0f, 0.5f});
  m.node("Sub", {"x", "mean"}, {"a"}, "/Sub");
  m.node("Div", {"a", "std"}, {"y"}, "/Div");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.layer(0).kind, SQ_ADDCONST);
  EXPECT_EQ(dims_of(r.layer(0).weight.shape), (dims{1, 3, 1, 1}));
  EXPECT_EQ(
      std::vector<float>(r.layer(0).weight.data, r.layer(0).weight.data + 3),
      (floats{-0.5f, -0.25f, -1.0f}));
  EXPECT_EQ(r.layer(1).kind, SQ_MULCONST);
  EXPECT_EQ(
      std::vector<float>(r.layer(1).weight.data, r.layer(1).weight.data + 3),
      (floats{0.5f, 0.25f, 2.0f}));
}

// Conv, then x * scale + shift per channel (FrozenBatchNorm's forward):
// folded into the Conv's weights and bias, as BatchNorm. A per-position
// constant after it stays a binary layer.
TEST(ImporterLayers, PerChannelConstantsFoldIntoTheConvBefore) {
  Model m(13);
  m.input("x", {-1, 1, 3, 3});
  m.initializer("w", {2, 1, 1, 1}, {1.0f, 2.0f});
  m.initializer("b", {2}, {0.5f, -1.0f});
  m.initializer("scale", {2, 1, 1}, {3.0f, 0.5f});
  m.initializer("shift", {1, 2, 1, 1}, {1.0f, 4.0f});
  m.initializer("mask", {3, 3}, floats(9, 2.0f));
  m.node("Conv", {"x", "w", "b"}, {"c"}, "/conv/Conv");
  m.node("Mul", {"c", "scale"}, {"s"}, "/frozen/Mul");
  m.node("Sub", {"s", "shift"}, {"t"}, "/frozen/Sub");
  m.node("Mul", {"t", "mask"}, {"y"}, "/mask/Mul");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 2);
  const sq_layer &conv = r.layer(0);
  EXPECT_EQ(conv.kind, SQ_CONV);
  EXPECT_STREQ(conv.nodes, "/conv/Conv,/frozen/Mul,/frozen/Sub");
  EXPECT_STREQ(conv.folded, "frozen");
  EXPECT_EQ(std::vector<float>(conv.weight.data, conv.weight.data + 2),
            (floats{3.0f, 1.0f}));
  // b * scale - shift
  EXPECT_EQ(std::vector<float>(conv.bias.data, conv.bias.data + 2),
            (floats{0.5f, -4.5f}));
  EXPECT_EQ(r.layer(1).kind, SQ_MULCONST);
}

TEST(ImporterLayers, ArithmeticRejections) {
  struct Case {
    const char *op;
    dims shape;
    bool constant_first;
    const char *error;
  } cases[] = {
      {"Add",
       {2, 3},
       false,
       "node '/Add' (Add): its constant of shape [2, 3] does not broadcast to "
       "the activation [-1, 3] without changing its shape or the batch; not "
       "supported"},
      {"Mul",
       {4, 1},
       false,
       "node '/Mul' (Mul): its constant of shape [4, 1] does not broadcast to "
       "the activation [-1, 3] without changing its shape or the batch; not "
       "supported"},
      {"Mul",
       {1, 1, 1},
       false,
       "node '/Mul' (Mul): its constant of shape [1, 1, 1] does not "
       "broadcast to the activation [-1, 5] without changing its shape or "
       "the batch; not supported"},
      {"Sub",
       {3},
       true,
       "node '/Sub' (Sub) has a constant tensor first and the activation "
       "second; seqrt runs that form only with a scalar constant"},
      {"Pow",
       {3},
       false,
       "node '/Pow' (Pow) is not supported: seqrt runs x ** p with a "
       "constant scalar exponent p"},
  };
  for (const Case &c : cases) {
    int64_t count = 1;
    for (int64_t d : c.shape) count *= d;
    Model m(13);
    binary_model(m, c.op, c.shape, ramp(count), c.constant_first);
    Imported r;
    import_model(m, r);
    EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED) << c.op;
    EXPECT_EQ(r.error, c.error);
  }
}

// ---- Reduce* ----------------------------------------------------------------

std::vector<bool> reduced_of(const sq_layer &layer) {
  return std::vector<bool>(layer.reduced, layer.reduced + layer.in.rank);
}

TEST(ImporterLayers, ReduceKindsAxesAndKeepdims) {
  Model m(13);
  m.input("x", {-1, 4, 5, 6});
  m.node("ReduceMax", {"x"}, {"a"}, "/a/ReduceMax")
      .attr("axes", dims{-1})
      .attr("keepdims", 0);
  m.node("ReduceL1", {"a"}, {"b"}, "/b/ReduceL1").attr("axes", dims{1});
  m.initializer_i64("axes", {1}, {2});
  m.node("ReduceSum", {"b", "axes"}, {"y"}, "/c/ReduceSum").attr("keepdims", 0);
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 3);
  EXPECT_EQ(r.layer(0).kind, SQ_REDUCEMAX);
  EXPECT_EQ(reduced_of(r.layer(0)), (std::vector<bool>{0, 0, 0, 1}));
  EXPECT_EQ(dims_of(r.layer(0).out), (dims{-1, 4, 5}));
  EXPECT_EQ(r.layer(1).kind, SQ_REDUCEL1);
  EXPECT_EQ(reduced_of(r.layer(1)), (std::vector<bool>{0, 1, 0}));
  EXPECT_EQ(dims_of(r.layer(1).out), (dims{-1, 1, 5}));
  EXPECT_EQ(r.layer(2).kind, SQ_REDUCESUM); // axes as an input from opset 13
  EXPECT_EQ(reduced_of(r.layer(2)), (std::vector<bool>{0, 0, 1}));
  EXPECT_EQ(dims_of(r.layer(2).out), (dims{-1, 1}));
}

TEST(ImporterLayers, ReduceOpset18AxesInputAndNoop) {
  Model m(18);
  m.input("x", {-1, 3, 4});
  m.node("Relu", {"x"}, {"r"}, "/r/Relu");
  m.node("ReduceProd", {"r"}, {"p"}, "/p/ReduceProd")
      .attr("noop_with_empty_axes", 1);
  m.initializer_i64("axes", {2}, {1, -1});
  m.node("ReduceL2", {"p", "axes"}, {"y"}, "/n/ReduceL2");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 2); // the no-op ReduceProd is removed
  EXPECT_STREQ(r.chain->removed, "p");
  EXPECT_EQ(r.layer(1).kind, SQ_REDUCEL2);
  EXPECT_EQ(reduced_of(r.layer(1)), (std::vector<bool>{0, 1, 1}));
  EXPECT_EQ(dims_of(r.layer(1).out), (dims{-1, 1, 1}));
}

TEST(ImporterLayers, ReduceMeanOverSpatialDimsKeptIsAGlobalPool) {
  for (int64_t keep : {1, 0}) {
    Model m(13);
    m.input("x", {-1, 4, 5, 6});
    m.node("ReduceMean", {"x"}, {"y"}, "/m/ReduceMean")
        .attr("axes", dims{3, 2})
        .attr("keepdims", keep);
    m.output("y");
    Imported r;
    import_model(m, r);
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.layer(0).kind, keep ? SQ_AVGPOOL : SQ_REDUCEMEAN);
    EXPECT_EQ(dims_of(r.layer(0).out),
              keep ? (dims{-1, 4, 1, 1}) : (dims{-1, 4}));
  }
}

TEST(ImporterLayers, ReduceOverTheBatchRefused) {
  const char *ops[] = {"ReduceMean", "ReduceMin"};
  for (const char *op : ops) {
    for (bool all : {false, true}) {
      Model m(13);
      m.input("x", {-1, 4});
      auto &node = m.node(op, {"x"}, {"y"}, std::string("/0/") + op);
      if (!all) node.attr("axes", dims{-2});
      m.output("y");
      Imported r;
      import_model(m, r);
      EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED) << op;
      EXPECT_EQ(r.error, std::string("node '/0/") + op + "' (" + op +
                             ") reduces over the batch dim (axis 0 of [-1, "
                             "4]), which is not supported: seqrt keeps the "
                             "batch first");
    }
  }
}

// F.normalize as torch exports it: x / Expand(Clip(ReduceL2(x), eps)).
TEST(ImporterLayers, NormalizeDecompositionIsOneLayer) {
  for (int64_t opset : {9, 13}) {
    Model m(opset);
    m.input("x", {-1, 3, 4});
    m.node("ReduceL2", {"x"}, {"n"}, "/ReduceL2")
        .attr("axes", dims{1})
        .attr("keepdims", 1);
    if (opset < 11) {
      m.node("Clip", {"n"}, {"c"}, "/Clip").attr("min", 1e-12f);
    } else {
      m.initializer("eps", {}, {1e-12f});
      m.node("Clip", {"n", "eps"}, {"c"}, "/Clip");
    }
    m.node("Shape", {"x"}, {"s"}, "/Shape");
    m.node("Expand", {"c", "s"}, {"e"}, "/Expand");
    m.node("Div", {"x", "e"}, {"y"}, "/Div");
    m.output("y");
    Imported r;
    import_model(m, r);
    ASSERT_TRUE(r.ok()) << opset << ": " << r.error;
    ASSERT_EQ(r.count(), 1);
    EXPECT_EQ(r.layer(0).kind, SQ_NORMALIZE);
    EXPECT_EQ(reduced_of(r.layer(0)), (std::vector<bool>{0, 1, 0}));
    EXPECT_EQ(r.layer(0).alpha, 2.0f);
    EXPECT_FLOAT_EQ(r.layer(0).epsilon, 1e-12f);
    EXPECT_EQ(dims_of(r.layer(0).out), (dims{-1, 3, 4}));
  }
}

TEST(ImporterLayers, SquaresSummedAreNormOrSumSquare) {
  for (bool root : {true, false}) {
    Model m(11);
    m.input("x", {-1, 3, 4});
    m.node("Mul", {"x", "x"}, {"sq"}, "/Mul");
    m.node("ReduceSum", {"sq"}, {root ? "s" : "y"}, "/ReduceSum")
        .attr("axes", dims{1})
        .attr("keepdims", 0);
    if (root) m.node("Sqrt", {"s"}, {"y"}, "/Sqrt");
    m.output("y");
    Imported r;
    import_model(m, r);
    ASSERT_TRUE(r.ok()) << r.error;
    ASSERT_EQ(r.count(), 1);
    EXPECT_EQ(r.layer(0).kind, root ? SQ_REDUCEL2 : SQ_REDUCESUMSQUARE);
    EXPECT_STREQ(r.layer(0).nodes,
                 root ? "/Mul,/ReduceSum,/Sqrt" : "/Mul,/ReduceSum");
    EXPECT_EQ(dims_of(r.layer(0).out), (dims{-1, 4}));
  }
}

} // namespace

namespace {

// A Pad whose pads are computed from Shape(x): at the chain check (before
// any shape is known) they cannot be read, so the Pad is not folded; read
// again once the shapes are known, it becomes a PAD layer.
TEST(ImporterLayers, PadsFromShapeEvaluatedWhenKnown) {
  Model m(13);
  m.input("x", {-1, 2, 6});
  m.node("Shape", {"x"}, {"s"});
  m.initializer_i64("one", {1}, {1});
  m.initializer_i64("two", {1}, {2});
  m.node("Slice", {"s", "one", "two"}, {"c"});
  m.node("Sub", {"c", "c"}, {"z"});
  m.node("Concat", {"z", "z", "one", "z", "z", "one"}, {"pads"})
      .attr("axis", 0);
  m.node("Pad", {"x", "pads"}, {"p"}, "/0/Pad");
  m.initializer("w", {3, 2, 3}, ramp(18));
  m.node("Conv", {"p", "w"}, {"y"}, "/1/Conv");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 2);
  EXPECT_EQ(r.layer(0).kind, SQ_PAD);
  EXPECT_EQ(r.layer(0).pad_begin[0], 1);
  EXPECT_EQ(r.layer(0).pad_end[0], 1);
  EXPECT_EQ(dims_of(r.layer(1).out), (std::vector<int64_t>{-1, 3, 6}));
}

} // namespace
