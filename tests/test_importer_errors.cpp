// Importer: rejections, each with its one-line message; bad bytes never
// crash.
#include <random>

#include "test_importer_util.h"

using onnxb::Model;
using onnxb::ramp;

namespace {

TEST(ImporterErrors, BranchingSkipConnection) {
  Model m(14);
  m.input("input", {-1, 4, 8, 8});
  m.initializer("1.weight", {4, 4, 3, 3}, ramp(144));
  m.node("Relu", {"input"}, {"/0/Relu_output_0"}, "/0/Relu");
  m.node("Conv", {"/0/Relu_output_0", "1.weight"}, {"/1/Conv_output_0"},
         "/1/Conv")
      .attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  m.node("Add", {"/0/Relu_output_0", "/1/Conv_output_0"}, {"output"}, "/2/Add");
  m.output("output");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_NOT_CHAIN);
  EXPECT_EQ(r.error,
            "branching graph: tensor '/0/Relu_output_0' (from node '/0/Relu') "
            "is used by 2 nodes '/1/Conv' and '/2/Add' — skip connections and "
            "parallel paths cannot run as a chain");
}

TEST(ImporterErrors, BranchingAtInputAndAtOutput) {
  Model m(13);
  m.input("x", {-1, 4});
  m.node("Relu", {"x"}, {"a"}, "/a/Relu");
  m.node("Tanh", {"x"}, {"b"}, "/b/Tanh");
  m.node("Sigmoid", {"x"}, {"c"}, "/c/Sigmoid");
  m.output("a");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_NOT_CHAIN);
  EXPECT_EQ(r.error,
            "branching graph: tensor 'x' (the graph input) is used by 3 nodes "
            "'/a/Relu', '/b/Tanh' and '/c/Sigmoid' — skip connections and "
            "parallel paths cannot run as a chain");

  Model m2(13);
  m2.input("x", {-1, 4});
  m2.node("Relu", {"x"}, {"a"}, "/a/Relu");
  m2.node("Tanh", {"a"}, {"b"}, "/b/Tanh");
  m2.output("a");
  Imported r2;
  import_model(m2, r2);
  EXPECT_EQ(r2.status, SEQRT_ERR_NOT_CHAIN);
  EXPECT_EQ(r2.error,
            "branching graph: tensor 'a' (from node '/a/Relu') is the graph "
            "output and is also used by node '/b/Tanh' — skip connections and "
            "parallel paths cannot run as a chain");
}

TEST(ImporterErrors, SplitAndMergeIsReportedWhereItSplits) {
  Model m(13);
  m.input("x", {-1, 4});
  m.node("Relu", {"x"}, {"/a_output_0"}, "/a");
  m.node("Sigmoid", {"x"}, {"/b_output_0"}, "/b");
  m.node("Add", {"/a_output_0", "/b_output_0"}, {"y"}, "/Add");
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_NOT_CHAIN);
  /* reported where the paths split, the root cause */
  EXPECT_EQ(r.error, "branching graph: tensor 'x' (the graph input) is "
                     "used by 2 nodes '/a' and '/b' — skip connections and "
                     "parallel paths cannot run as a chain");
}

TEST(ImporterErrors, TwoInputsTwoOutputs) {
  Model m(13);
  m.input("x", {-1, 4});
  m.input("y", {-1, 4});
  m.node("Add", {"x", "y"}, {"z"}, "/Add");
  m.output("z");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_NOT_CHAIN);
  EXPECT_EQ(r.error,
            "model has 2 inputs 'x' and 'y' — seqrt runs single-input chains");

  Model m2(13);
  m2.input("x", {-1, 4});
  m2.node("Relu", {"x"}, {"a"}, "/a/Relu");
  m2.node("Tanh", {"a"}, {"b"}, "/b/Tanh");
  m2.output("a");
  m2.output("b");
  Imported r2;
  import_model(m2, r2);
  EXPECT_EQ(r2.status, SEQRT_ERR_NOT_CHAIN);
  EXPECT_EQ(r2.error,
            "model has 2 outputs 'a' and 'b' — seqrt runs single-output "
            "chains");
}

TEST(ImporterErrors, UnsupportedOp) {
  Model m(14);
  m.input("x", {-1, 4});
  m.node("Relu", {"x"}, {"a"}, "/0/Relu");
  m.node("Foo", {"a"}, {"y"}, "/3/Foo");
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_EQ(r.error, "unsupported op 'Foo' in node '/3/Foo' (module '3', "
                     "opset 14)");

  Model m2(14);
  m2.input("x", {-1, 4});
  m2.node("Relu", {"x"}, {"y"}, "/0/Relu").domain("com.example");
  m2.output("y");
  Imported r2;
  import_model(m2, r2);
  EXPECT_EQ(r2.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_EQ(r2.error, "unsupported op 'Relu' (domain 'com.example') in node "
                      "'/0/Relu' (module '0', opset 14)");
}

// A GELU-like decomposition with a wrong constant is not a GELU: the
// fan-out is reported, naming the nodes and their module.
TEST(ImporterErrors, UnrecognisedDecompositionReportsTheFanOut) {
  Model m(13);
  m.input("x", {-1, 4});
  m.initializer("sqrt3", {}, {1.7320508f});
  m.initializer("one", {}, {1.0f});
  m.initializer("half", {}, {0.5f});
  m.node("Div", {"x", "sqrt3"}, {"d"}, "/1/Div");
  m.node("Erf", {"d"}, {"e"}, "/1/Erf");
  m.node("Add", {"e", "one"}, {"a"}, "/1/Add");
  m.node("Mul", {"x", "a"}, {"m"}, "/1/Mul");
  m.node("Mul", {"m", "half"}, {"y"}, "/1/Mul_1");
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_NOT_CHAIN);
  EXPECT_EQ(r.error,
            "branching graph: tensor 'x' (the graph input) is used by 2 "
            "nodes '/1/Div' and '/1/Mul'; they all belong to module '1', "
            "whose subgraph is not a layer decomposition seqrt recognises — "
            "skip connections and parallel paths cannot run as a chain");
}

// Without fan-out, an op that is only part of decompositions is reported.
TEST(ImporterErrors, LoneDecompositionOpIsUnsupported) {
  Model m(13);
  m.input("x", {-1, 4});
  m.node("Erf", {"x"}, {"y"}, "/1/Erf");
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_EQ(r.error,
            "unsupported op 'Erf' in node '/1/Erf' (module '1', opset 13)");
}

TEST(ImporterErrors, DanglingReferences) {
  Model m(13);
  m.input("x", {-1, 4});
  m.node("Gemm", {"x", "missing_weight"}, {"y"}, "/fc/Gemm");
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_INVALID_MODEL);
  EXPECT_EQ(r.error, "node '/fc/Gemm' (Gemm) reads tensor 'missing_weight', "
                     "which no node, initializer or graph input provides");

  Model m2(13);
  m2.input("x", {-1, 4});
  m2.node("Relu", {"x"}, {"y"}, "/r/Relu");
  m2.output("nowhere");
  Imported r2;
  import_model(m2, r2);
  EXPECT_EQ(r2.status, SEQRT_ERR_INVALID_MODEL);
  EXPECT_EQ(r2.error, "graph output 'nowhere' is not produced by any node, "
                      "initializer or graph input");
}

TEST(ImporterErrors, DuplicateProducers) {
  Model m(13);
  m.input("x", {-1, 4});
  m.node("Relu", {"x"}, {"y"}, "/a/Relu");
  m.node("Tanh", {"x"}, {"y"}, "/b/Tanh");
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_INVALID_MODEL);
  EXPECT_EQ(r.error, "tensor 'y' is produced twice: by node '/a/Relu' and by "
                     "node '/b/Tanh'");

  Model m2(13);
  m2.input("x", {-1, 4});
  m2.initializer("w", {1}, {1});
  m2.node("Relu", {"x"}, {"w"}, "/a/Relu");
  m2.output("w");
  Imported r2;
  import_model(m2, r2);
  EXPECT_EQ(r2.status, SEQRT_ERR_INVALID_MODEL);
  EXPECT_EQ(r2.error, "tensor 'w' is produced by node '/a/Relu' but is also an "
                      "initializer");
}

TEST(ImporterErrors, Cycle) {
  Model m(13);
  m.input("x", {-1, 4});
  m.node("Relu", {"x"}, {"a"}, "/0/Relu");
  m.node("Add", {"a", "c"}, {"b"}, "/1/Add");
  m.node("Tanh", {"b"}, {"c"}, "/2/Tanh");
  m.node("Sigmoid", {"c"}, {"y"}, "/3/Sigmoid");
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_INVALID_MODEL);
  EXPECT_TRUE(r.error == "graph has a cycle through node '/1/Add' (Add)" ||
              r.error == "graph has a cycle through node '/2/Tanh' (Tanh)")
      << r.error;

  Model m2(13); // a node reading its own output
  m2.input("x", {-1, 4});
  m2.node("Add", {"x", "s"}, {"s"}, "/self/Add");
  m2.output("s");
  Imported r2;
  import_model(m2, r2);
  EXPECT_EQ(r2.error, "graph has a cycle through node '/self/Add' (Add)");
}

TEST(ImporterErrors, EmptyGraphAndNoGraph) {
  Model m(13);
  m.input("x", {-1, 4});
  m.output("x");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_INVALID_MODEL);
  EXPECT_EQ(r.error, "graph has no nodes");

  Model m2(13);
  m2.proto().graph = nullptr;
  Imported r2;
  import_model(m2, r2);
  EXPECT_EQ(r2.status, SEQRT_ERR_INVALID_MODEL);
  EXPECT_EQ(r2.error, "model has no graph");
}

TEST(ImporterErrors, OpsetOutOfRange) {
  for (int64_t opset : {0, 5}) {
    Model m(opset);
    m.input("x", {-1, 4});
    m.node("Relu", {"x"}, {"y"}, "/r/Relu");
    m.output("y");
    Imported r;
    import_model(m, r);
    EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED) << opset;
    if (opset == 0)
      EXPECT_EQ(r.error, "model imports no opset of the default ONNX domain");
    else
      EXPECT_EQ(r.error, "model uses ONNX opset 5; seqrt handles opsets 6 "
                         "and newer: export with opset_version=17");
  }
}

// An opset newer than seqrt knows loads when every op is known; otherwise
// the error names the op, the opset and the fix.
TEST(ImporterErrors, NewerOpsetLoadsWhenEveryOpIsKnown) {
  Model m(99);
  m.proto().ir_version = 99;
  m.input("x", {-1, 4});
  m.node("Relu", {"x"}, {"y"}, "/r/Relu");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.chain->opset, 99);
  EXPECT_EQ(r.chain->ir_version, 99);

  Model m2(99);
  m2.input("x", {-1, 4});
  m2.node("Swish", {"x"}, {"y"}, "/s/Swish");
  m2.output("y");
  Imported r2;
  import_model(m2, r2);
  EXPECT_EQ(r2.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_EQ(r2.error,
            "unsupported op 'Swish' in node '/s/Swish' (module 's', opset "
            "99); the model's opset is newer than the newest seqrt knows "
            "(23): export it with opset_version=17");

  // an op whose row ends before the model's opset (Upsample left at 10)
  Model m3(11);
  m3.input("x", {-1, 1, 4, 4});
  m3.initializer("scales", {4}, {1, 1, 2, 2});
  m3.node("Upsample", {"x", "scales"}, {"y"}, "/u/Upsample");
  m3.output("y");
  Imported r3;
  import_model(m3, r3);
  EXPECT_EQ(r3.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_EQ(r3.error, "op 'Upsample' in node '/u/Upsample' is supported for "
                      "opsets 7 to 9, not at opset 11; export with "
                      "opset_version=17");

  // and one that is newer than the model's opset
  Model m4(13);
  m4.input("x", {-1, 4});
  m4.node("Mish", {"x"}, {"y"}, "/m/Mish");
  m4.output("y");
  Imported r4;
  import_model(m4, r4);
  EXPECT_EQ(r4.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_EQ(r4.error, "op 'Mish' in node '/m/Mish' is supported from opset "
                      "18, not at opset 13; export with a newer "
                      "opset_version");
}

TEST(ImporterErrors, AiOnnxDomainIsTheDefault) {
  Model m(0);
  m.add_opset("ai.onnx.ml", 3);
  m.add_opset("ai.onnx", 12);
  m.input("x", {-1, 4});
  m.node("Relu", {"x"}, {"y"}, "/r/Relu").domain("ai.onnx");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.chain->opset, 12);
}

TEST(ImporterErrors, GarbageAndTruncatedBytes) {
  const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x08, 0x80};
  Imported r;
  import_bytes(garbage, sizeof garbage, r);
  EXPECT_EQ(r.status, SEQRT_ERR_PARSE);
  EXPECT_EQ(r.error, "not an ONNX model: the 7 bytes do not parse as an ONNX "
                     "ModelProto (truncated or corrupt?)");

  Imported empty;
  import_bytes(garbage, 0, empty);
  EXPECT_EQ(empty.status, SEQRT_ERR_PARSE);

  Model m(13);
  m.input("x", {-1, 3, 8, 8});
  m.initializer("w", {4, 3, 3, 3}, ramp(108));
  m.node("Conv", {"x", "w"}, {"c"}, "/0/Conv");
  m.node("Relu", {"c"}, {"y"}, "/1/Relu");
  m.output("y");
  std::vector<uint8_t> bytes = m.bytes();
  int parse_errors = 0;
  for (size_t n = 1; n < bytes.size(); n++) {
    Imported t;
    import_bytes(bytes.data(), n, t);
    EXPECT_NE(t.status, SEQRT_OK) << "prefix of " << n << " bytes";
    EXPECT_FALSE(t.error.empty());
    parse_errors += t.status == SEQRT_ERR_PARSE;
  }
  EXPECT_GT(parse_errors, 0);
}

// Random byte flips: any status is fine, a crash or a hang is not (the
// sanitizer build catches bad reads).
TEST(ImporterErrors, CorruptedBytesNeverCrash) {
  Model m(11);
  m.input("x", {-1, 3, 8, 8});
  m.initializer("w", {4, 3, 3, 3}, ramp(108));
  m.initializer_i64("shape", {2}, {0, -1});
  m.node("Conv", {"x", "w"}, {"c"}, "/0/Conv")
      .attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  m.node("MaxPool", {"c"}, {"p"}, "/1/MaxPool")
      .attr("kernel_shape", std::vector<int64_t>{2, 2})
      .attr("strides", std::vector<int64_t>{2, 2});
  m.node("Reshape", {"p", "shape"}, {"y"}, "/2/Reshape");
  m.output("y");
  std::vector<uint8_t> bytes = m.bytes();
  std::mt19937 rng(1234);
  int ok = 0;
  for (int trial = 0; trial < 3000; trial++) {
    std::vector<uint8_t> copy = bytes;
    int flips = 1 + trial % 4;
    for (int f = 0; f < flips; f++)
      copy[rng() % copy.size()] = static_cast<uint8_t>(rng());
    Imported r;
    import_bytes(copy.data(), copy.size(), r);
    if (r.status == SEQRT_OK) {
      ok++;
      ASSERT_NE(r.chain, nullptr);
      ASSERT_GT(r.chain->n_layers, 0);
    } else {
      EXPECT_FALSE(r.error.empty());
    }
  }
  EXPECT_GT(ok, 0); // some flips land in harmless places
}

std::vector<uint8_t> varint(uint64_t n) {
  std::vector<uint8_t> out;
  do {
    uint8_t b = n & 0x7f;
    n >>= 7;
    out.push_back(n ? (b | 0x80) : b);
  } while (n);
  return out;
}

// A length-delimited field: tag (number << 3 | 2), length, payload.
std::vector<uint8_t> field(int number, const std::vector<uint8_t> &payload) {
  std::vector<uint8_t> out = varint(static_cast<uint64_t>(number) << 3 | 2);
  std::vector<uint8_t> len = varint(payload.size());
  out.insert(out.end(), len.begin(), len.end());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

// Graph → Node → Attribute.g → Graph ... nested 1000 times: protobuf-c
// would recurse that deep; the importer refuses before unpacking.
TEST(ImporterErrors, DeeplyNestedMessagesRejected) {
  std::vector<uint8_t> graph;
  for (int level = 0; level < 1000; level++)
    graph = field(1, field(5, field(6, graph))); // node.attribute.g
  std::vector<uint8_t> model = field(7, graph);
  Imported r;
  import_bytes(model.data(), model.size(), r);
  EXPECT_EQ(r.status, SEQRT_ERR_PARSE);
  EXPECT_EQ(r.error, "not a usable ONNX model: messages are nested more than "
                     "100 deep");
}

// Many empty nodes (2 bytes each) would unpack into ~100x their size.
TEST(ImporterErrors, MessageFloodStopsAtTheLimit) {
  std::vector<uint8_t> graph;
  for (int k = 0; k < 400000; k++) {
    graph.push_back(0x0a); // GraphProto.node, length 0
    graph.push_back(0x00);
  }
  std::vector<uint8_t> model = field(7, graph);
  Imported r;
  import_bytes(model.data(), model.size(), r);
  EXPECT_EQ(r.status, SEQRT_ERR_LIMIT);
  EXPECT_NE(r.error.find("protobuf messages"), std::string::npos) << r.error;
}

TEST(ImporterErrors, NegativeDimsAndRawDataSize) {
  Model m(13);
  m.input("x", {-1, 3});
  Onnx__TensorProto *w = m.initializer("w", {4, 3}, ramp(12));
  w->dims[1] = -3;
  m.node("Gemm", {"x", "w"}, {"y"}, "/fc/Gemm").attr("transB", 1);
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_INVALID_MODEL);
  EXPECT_EQ(r.error, "tensor 'w' has a negative dim -3 (dim 1)");

  Model m2(13);
  m2.input("x", {-1, 3});
  Onnx__TensorProto *w2 = m2.initializer("w", {4, 3}, ramp(12));
  w2->raw_data.len -= 2;
  m2.node("Gemm", {"x", "w"}, {"y"}, "/fc/Gemm").attr("transB", 1);
  m2.output("y");
  Imported r2;
  import_model(m2, r2);
  EXPECT_EQ(r2.status, SEQRT_ERR_INVALID_MODEL);
  EXPECT_EQ(r2.error, "tensor 'w' has 46 bytes of raw_data, expected 48 for "
                      "FLOAT [4, 3]");

  Model m3(13);
  m3.input("x", {-1, 3});
  m3.initializer("w", {4, 3}, ramp(11), onnxb::Storage::Typed);
  m3.node("Gemm", {"x", "w"}, {"y"}, "/fc/Gemm").attr("transB", 1);
  m3.output("y");
  Imported r3;
  import_model(m3, r3);
  EXPECT_EQ(r3.status, SEQRT_ERR_INVALID_MODEL);
  EXPECT_EQ(r3.error, "tensor 'w' has 11 values in float_data, expected 12 "
                      "for its dims");
}

TEST(ImporterErrors, RankAboveMaximum) {
  Model m(13);
  m.input("x", {-1, 3});
  m.initializer("w", {1, 1, 1, 1, 1, 1, 1, 1, 1}, {1});
  m.node("Gemm", {"x", "w"}, {"y"}, "/fc/Gemm");
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_EQ(r.error, "tensor 'w' has rank 9; seqrt handles up to rank 8");
}

TEST(ImporterErrors, WrongAttributeType) {
  Model m(13);
  m.input("x", {-1, 4, 5, 5});
  m.initializer("w", {4, 4, 1, 1}, ramp(16));
  m.node("Conv", {"x", "w"}, {"y"}, "/0/Conv").attr("group", 1.0f);
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_INVALID_MODEL);
  EXPECT_EQ(r.error, "node '/0/Conv' (Conv): attribute 'group' has type FLOAT, "
                     "expected INT");
}

TEST(ImporterErrors, InputShapes) {
  struct Case {
    std::vector<int64_t> dims;
    seqrt_status status;
    const char *message;
  } cases[] = {
      {{-1, -1},
       SEQRT_ERR_UNSUPPORTED,
       "graph input 'x' has a symbolic dim 1 ('batch'); seqrt needs fixed "
       "dims except the batch (dim 0)"},
      {{-1, 0},
       SEQRT_ERR_INVALID_MODEL,
       "graph input 'x' has dim 1 of size 0; every dim must be positive"},
      {{0, 4},
       SEQRT_ERR_INVALID_MODEL,
       "graph input 'x' has dim 0 of size 0; every dim must be positive"},
  };
  for (const Case &c : cases) {
    Model m(13);
    m.input("x", c.dims);
    m.node("Relu", {"x"}, {"y"}, "/r/Relu");
    m.output("y");
    Imported r;
    import_model(m, r);
    EXPECT_EQ(r.status, c.status);
    EXPECT_EQ(r.error, c.message);
  }
  Model m(13); // batch with neither value nor param: dynamic
  m.input("x", {-2, 4});
  m.node("Relu", {"x"}, {"y"}, "/r/Relu");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.chain->input.dims[0], -1);

  Model m2(13);
  m2.input("x", {-1, 4}, onnxb::INT64);
  m2.node("Relu", {"x"}, {"y"}, "/r/Relu");
  m2.output("y");
  Imported r2;
  import_model(m2, r2);
  EXPECT_EQ(r2.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_EQ(r2.error, "graph input 'x' is INT64, which seqrt accepts only as "
                      "the indices of an Embedding (Gather) that comes "
                      "first; node '/r/Relu' (Relu) reads it");
}

TEST(ImporterErrors, WeightsDoNotFit) {
  Model m(13);
  m.input("x", {-1, 5});
  m.initializer("w", {4, 3}, ramp(12));
  m.node("Gemm", {"x", "w"}, {"y"}, "/fc/Gemm").attr("transB", 1);
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_INVALID_MODEL);
  EXPECT_EQ(r.error, "node '/fc/Gemm' (Gemm): weights of shape [4, 3] do not "
                     "fit the input [-1, 5]");
}

TEST(ImporterErrors, MemoryLimit) {
  Model m(13);
  m.input("x", {-1, 64});
  m.initializer("w", {64, 64}, ramp(64 * 64));
  m.node("Gemm", {"x", "w"}, {"y"}, "/fc/Gemm").attr("transB", 1);
  m.output("y");
  sq_import_options options = {nullptr, 1000};
  Imported r;
  import_model(m, r, &options);
  EXPECT_EQ(r.status, SEQRT_ERR_LIMIT);
  EXPECT_EQ(r.error, "the model's weights need more than 1000 bytes, the "
                     "memory limit (initializer 'w' passes it)");
  /* the weights and two activation buffers of one sample fit */
  options.memory_limit = 64 * 64 * 4 + 2 * 64 * 4;
  Imported ok;
  import_model(m, ok, &options);
  EXPECT_TRUE(ok.ok()) << ok.error;
}

// A constant side-graph may not allocate beyond the limit either.
TEST(ImporterErrors, ConstantOfShapeBombStopsAtTheLimit) {
  Model m(13);
  m.input("x", {-1, 4});
  m.initializer_i64("huge", {2}, {1 << 30, 1 << 30});
  m.node("ConstantOfShape", {"huge"}, {"big"}, "/bomb/ConstantOfShape");
  m.node("Add", {"x", "big"}, {"y"}, "/0/Add");
  m.output("y");
  m.initializer("w", {4, 4}, ramp(16));
  m.node("Relu", {"x"}, {"unused"}, "/u/Relu");
  Imported r;
  import_model(m, r);
  EXPECT_NE(r.status, SEQRT_OK);

  Model m2(13); // the bomb feeds a Reshape: evaluation must refuse
  m2.input("x", {-1, 4});
  m2.initializer_i64("huge", {2}, {1 << 30, 1 << 30});
  m2.node("ConstantOfShape", {"huge"}, {"big"}, "/bomb/ConstantOfShape");
  m2.node("Shape", {"big"}, {"s"}, "/bomb/Shape");
  m2.node("Reshape", {"x", "s"}, {"y"}, "/0/Reshape");
  m2.output("y");
  Imported r2;
  import_model(m2, r2);
  EXPECT_EQ(r2.status, SEQRT_ERR_LIMIT);
  EXPECT_NE(r2.error.find("/bomb/ConstantOfShape"), std::string::npos)
      << r2.error;
}

TEST(ImporterErrors, OutputDoesNotDependOnInput) {
  Model m(13);
  m.input("x", {-1, 4});
  m.initializer("c", {4}, {1, 2, 3, 4});
  m.node("Relu", {"c"}, {"y"}, "/r/Relu");
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_NOT_CHAIN);
  EXPECT_EQ(r.error, "graph output 'y' does not depend on the values of the "
                     "graph input 'x'");
}

TEST(ImporterErrors, DeadEnd) {
  Model m(13);
  m.input("x", {-1, 4});
  m.node("Relu", {"x"}, {"a"}, "/a/Relu");
  m.node("Tanh", {"a"}, {"b"}, "/b/Tanh");
  m.initializer("c", {4}, {1, 2, 3, 4});
  m.node("Sigmoid", {"x"}, {"s"}, "/s/Sigmoid");
  m.output("b");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_NOT_CHAIN);

  Model m2(13); // the output sits on a side path the chain never reaches
  m2.input("x", {-1, 4});
  m2.node("Shape", {"x"}, {"s"}, "/s/Shape");
  m2.node("Relu", {"x"}, {"a"}, "/a/Relu");
  m2.node("Tanh", {"a"}, {"b"}, "/b/Tanh");
  m2.node("Sigmoid", {"b"}, {"c"}, "/c/Sigmoid");
  m2.output("b");
  Imported r2;
  import_model(m2, r2);
  EXPECT_EQ(r2.status, SEQRT_ERR_NOT_CHAIN);
  EXPECT_EQ(r2.error,
            "branching graph: tensor 'b' (from node '/b/Tanh') is the graph "
            "output and is also used by node '/c/Sigmoid' — skip connections "
            "and parallel paths cannot run as a chain");
}

TEST(ImporterErrors, DeclaredOutputShapeMismatch) {
  Model m(13);
  m.input("x", {-1, 3});
  m.initializer("w", {4, 3}, ramp(12));
  m.node("Gemm", {"x", "w"}, {"y"}, "/fc/Gemm").attr("transB", 1);
  m.output("y", {-1, 4, 1});
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_INVALID_MODEL);
  EXPECT_EQ(r.error, "graph output 'y' is declared with 3 dims, but the "
                     "layers compute [-1, 4]");
}

/* Declared sizes are hints: torch 1.13 declares a ceil_mode MaxPool's size
 * with the old formula; the computed shape wins. */
TEST(ImporterErrors, DeclaredOutputSizeIsNotTrusted) {
  Model m(13);
  m.input("x", {-1, 3});
  m.initializer("w", {4, 3}, ramp(12));
  m.node("Gemm", {"x", "w"}, {"y"}, "/fc/Gemm").attr("transB", 1);
  m.output("y", {-1, 5});
  Imported r;
  import_model(m, r);
  ASSERT_EQ(r.status, SEQRT_OK) << r.error;
  EXPECT_EQ(r.chain->output.dims[1], 4);
}

TEST(ImporterErrors, NullArguments) {
  sq_chain *chain = nullptr;
  EXPECT_EQ(sq_import(nullptr, 4, nullptr, &chain), SEQRT_ERR_INVALID_ARGUMENT);
  uint8_t byte = 0;
  EXPECT_EQ(sq_import(&byte, 1, nullptr, nullptr), SEQRT_ERR_INVALID_ARGUMENT);
}

} // namespace
