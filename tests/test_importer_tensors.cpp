// Importer: tensor decoding (raw/typed, alignment, element types), external
// data confinement, constant and shape side-graphs.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "test_importer_util.h"

using onnxb::Model;
using onnxb::ramp;

namespace {

// ---- decoding
// -----------------------------------------------------------------

Imported *import_gemm(Model &m, Imported &r) {
  m.input("x", {-1, 3});
  m.node("Gemm", {"x", "w", "b"}, {"y"}, "/fc/Gemm").attr("transB", 1);
  m.output("y");
  import_model(m, r);
  return &r;
}

TEST(ImporterTensors, RawAndTypedDataAgree) {
  std::vector<float> w = ramp(12), b = ramp(4, 1.5f);
  Model raw(13), typed(13);
  raw.initializer("w", {4, 3}, w);
  raw.initializer("b", {4}, b);
  typed.initializer("w", {4, 3}, w, onnxb::Storage::Typed);
  typed.initializer("b", {4}, b, onnxb::Storage::Typed);
  Imported r1, r2;
  import_gemm(raw, r1);
  import_gemm(typed, r2);
  ASSERT_TRUE(r1.ok()) << r1.error;
  ASSERT_TRUE(r2.ok()) << r2.error;
  EXPECT_FLOATS_NEAR(w, values_of(r1.layer(0).weight), 0);
  EXPECT_FLOATS_NEAR(w, values_of(r2.layer(0).weight), 0);
  EXPECT_FLOATS_NEAR(b, values_of(r2.layer(0).bias), 0);
}

// The model bytes at an odd address: raw_data payloads are unaligned.
TEST(ImporterTensors, UnalignedBuffer) {
  std::vector<float> w = ramp(12, 0.37f), b = ramp(4, -2.0f);
  Model m(13);
  m.initializer("w", {4, 3}, w);
  m.initializer("b", {4}, b);
  m.input("x", {-1, 3});
  m.node("Gemm", {"x", "w", "b"}, {"y"}, "/fc/Gemm").attr("transB", 1);
  m.output("y");
  std::vector<uint8_t> bytes = m.bytes();
  for (size_t offset = 1; offset < 8; offset++) {
    std::vector<uint8_t> shifted(bytes.size() + offset);
    std::copy(bytes.begin(), bytes.end(), shifted.begin() + offset);
    Imported r;
    import_bytes(shifted.data() + offset, bytes.size(), r);
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_FLOATS_NEAR(w, values_of(r.layer(0).weight), 0);
    EXPECT_FLOATS_NEAR(b, values_of(r.layer(0).bias), 0);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(r.layer(0).weight.data) % 16, 0u);
  }
}

template <typename T> std::vector<uint8_t> le_bytes(const std::vector<T> &v) {
  std::vector<uint8_t> out(v.size() * sizeof(T));
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

// INT32 and DOUBLE constants through Cast; a BOOL training flag.
TEST(ImporterTensors, Int32DoubleBoolConstants) {
  Model m(13);
  m.input("x", {-1, 2, 3});
  m.initializer("w", {4, 6}, ramp(24));
  m.add_init(m.tensor_bytes("shape32", {2}, onnxb::INT32,
                            le_bytes(std::vector<int32_t>{0, -1})));
  m.node("Cast", {"shape32"}, {"shape64"}, "Cast_0").attr("to", 7);
  m.node("Reshape", {"x", "shape64"}, {"flat"}, "/0/Reshape");
  m.constant(
      "bias_d",
      m.tensor_bytes("", {4}, onnxb::DOUBLE,
                     le_bytes(std::vector<double>{0.5, -1.25, 2.0, 1e-3})));
  m.node("Cast", {"bias_d"}, {"bias"}, "Cast_1").attr("to", 1);
  m.node("Gemm", {"flat", "w", "bias"}, {"g"}, "/1/Gemm").attr("transB", 1);
  m.add_init(m.tensor_bytes("train", {}, onnxb::BOOL, {0}));
  m.node("Dropout", {"g", "", "train"}, {"y"}, "/2/Dropout");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 2);
  EXPECT_EQ(dims_of(r.layer(0).out), (std::vector<int64_t>{-1, 6}));
  EXPECT_FLOATS_NEAR((std::vector<float>{0.5f, -1.25f, 2.0f, 1e-3f}),
                     values_of(r.layer(1).bias), 1e-7);
  EXPECT_STREQ(r.chain->removed, "2");
}

TEST(ImporterTensors, Int64TypedShape) {
  Model m(13);
  m.input("x", {-1, 2, 3});
  m.initializer_i64("shape", {2}, {-1, 6}, onnxb::Storage::Typed);
  m.node("Reshape", {"x", "shape"}, {"y"}, "/0/Reshape");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(dims_of(r.layer(0).out), (std::vector<int64_t>{-1, 6}));
}

TEST(ImporterTensors, UnreadableElementType) {
  Model m(13);
  m.input("x", {-1, 3});
  m.add_init(m.tensor_bytes("w", {4, 3}, 10, std::vector<uint8_t>(24)));
  m.node("Gemm", {"x", "w"}, {"y"}, "/fc/Gemm").attr("transB", 1);
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_EQ(r.error, "tensor 'w' has element type FLOAT16 (10), which seqrt "
                     "does not read");
}

// ---- external data
// ------------------------------------------------------------

class ImporterExternal : public ::testing::Test {
protected:
  void SetUp() override {
    char tmpl[] = "/tmp/seqrt_importer_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/model";
    ASSERT_EQ(mkdir(dir_.c_str(), 0700), 0);
    weights_ = ramp(12, 0.25f);
    // 8 bytes of header, then the weights
    std::vector<uint8_t> file(8, 0xab);
    std::vector<uint8_t> data = le_bytes(weights_);
    file.insert(file.end(), data.begin(), data.end());
    write(dir_ + "/w.bin", file);
    ASSERT_EQ(mkdir((dir_ + "/sub").c_str(), 0700), 0);
    write(dir_ + "/sub/w.bin", file);
    write(root_ + "/outside.bin", file);
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + root_ + "'";
    EXPECT_EQ(system(cmd.c_str()), 0);
  }
  static void write(const std::string &path, const std::vector<uint8_t> &b) {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char *>(b.data()),
            (std::streamsize)b.size());
  }
  void run(const std::string &location, int64_t offset, int64_t length,
           Imported &r, bool from_memory = false) {
    Model m(13);
    m.add_init(m.tensor_external("w", {4, 3}, location, offset, length));
    m.input("x", {-1, 3});
    m.node("Gemm", {"x", "w"}, {"y"}, "/fc/Gemm").attr("transB", 1);
    m.output("y");
    sq_import_options options = {from_memory ? nullptr : dir_.c_str(), 0};
    import_model(m, r, &options);
  }
  std::string root_, dir_;
  std::vector<float> weights_;
};

TEST_F(ImporterExternal, ReadsOffsetAndLength) {
  for (const char *loc : {"w.bin", "sub/w.bin", "./sub/w.bin"}) {
    Imported r;
    run(loc, 8, 48, r);
    ASSERT_TRUE(r.ok()) << loc << ": " << r.error;
    EXPECT_FLOATS_NEAR(weights_, values_of(r.layer(0).weight), 0);
  }
}

TEST_F(ImporterExternal, RejectsEscapes) {
  Imported abs;
  run(root_ + "/outside.bin", 8, 48, abs);
  EXPECT_EQ(abs.status, SEQRT_ERR_INVALID_MODEL);
  EXPECT_EQ(abs.error, "tensor 'w': external data location '" + root_ +
                           "/outside.bin' is an absolute path; only paths "
                           "inside the model's folder are allowed");

  Imported dots;
  run("sub/../../outside.bin", 8, 48, dots);
  EXPECT_EQ(dots.status, SEQRT_ERR_INVALID_MODEL);
  EXPECT_EQ(dots.error, "tensor 'w': external data location "
                        "'sub/../../outside.bin' contains '..'; only paths "
                        "inside the model's folder are allowed");

  ASSERT_EQ(
      symlink((root_ + "/outside.bin").c_str(), (dir_ + "/link.bin").c_str()),
      0);
  Imported link;
  run("link.bin", 8, 48, link);
  EXPECT_EQ(link.status, SEQRT_ERR_INVALID_MODEL);
  EXPECT_EQ(link.error, "tensor 'w': external data file 'link.bin' resolves "
                        "outside the model's folder (through a symbolic "
                        "link)");

  Imported memory;
  run("w.bin", 8, 48, memory, true);
  EXPECT_EQ(memory.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_EQ(memory.error,
            "tensor 'w' keeps its data in the external file 'w.bin', but the "
            "model was loaded from memory: external data needs the model's "
            "folder (load it from a file) or the file's bytes "
            "(seqrt_options_set_external_data)");
}

TEST_F(ImporterExternal, RejectsBadRanges) {
  Imported beyond;
  run("w.bin", 16, -1, beyond);
  EXPECT_EQ(beyond.status, SEQRT_ERR_INVALID_MODEL);
  EXPECT_EQ(beyond.error, "tensor 'w': external data 'w.bin' offset 16 + "
                          "length 48 is beyond the end of the file (56 "
                          "bytes)");

  Imported length;
  run("w.bin", 8, 40, length);
  EXPECT_EQ(length.status, SEQRT_ERR_INVALID_MODEL);
  EXPECT_EQ(length.error, "tensor 'w': external data length 40 does not "
                          "match the 48 bytes of its dims");

  Imported missing;
  run("nothere.bin", 0, -1, missing);
  EXPECT_EQ(missing.status, SEQRT_ERR_IO);
  EXPECT_EQ(missing.error, "tensor 'w': cannot open external data file "
                           "'nothere.bin': No such file or directory");
}

// ---- shape side-graphs
// ------------------------------------------------------------

// x.view(x.size(0), -1): Shape → Gather(0) → Unsqueeze → Concat([-1]) →
// Reshape, with the Unsqueeze axes as attribute (< 13) or input (>= 13).
void add_view_batch_flatten(Model &m, int64_t opset, const std::string &x) {
  m.node("Shape", {x}, {"/Shape_output_0"}, "/Shape");
  m.constant("/Constant_output_0", m.tensor_i64("", {}, {0}), "/Constant");
  m.node("Gather", {"/Shape_output_0", "/Constant_output_0"},
         {"/Gather_output_0"}, "/Gather")
      .attr("axis", 0);
  if (opset < 13) {
    m.node("Unsqueeze", {"/Gather_output_0"}, {"/Unsqueeze_output_0"},
           "/Unsqueeze")
        .attr("axes", std::vector<int64_t>{0});
  } else {
    m.constant("/Constant_1_output_0", m.tensor_i64("", {1}, {0}),
               "/Constant_1");
    m.node("Unsqueeze", {"/Gather_output_0", "/Constant_1_output_0"},
           {"/Unsqueeze_output_0"}, "/Unsqueeze");
  }
  m.constant("/Constant_2_output_0", m.tensor_i64("", {1}, {-1}),
             "/Constant_2");
  m.node("Concat", {"/Unsqueeze_output_0", "/Constant_2_output_0"},
         {"/Concat_output_0"}, "/Concat")
      .attr("axis", 0);
  m.node("Reshape", {x, "/Concat_output_0"}, {"/Reshape_output_0"}, "/Reshape");
}

TEST(ImporterSideGraphs, ViewBatchFlatten) {
  for (int64_t opset : {9, 11, 13, 14, 17}) {
    for (int64_t batch : {-1, 3}) {
      Model m(opset);
      m.input("x", {batch, 2, 4, 4});
      m.initializer("w", {5, 2, 3, 3}, ramp(90));
      m.node("Conv", {"x", "w"}, {"c"}, "/conv/Conv");
      add_view_batch_flatten(m, opset, "c");
      m.initializer("fw", {10, 20}, ramp(200));
      m.node("Gemm", {"/Reshape_output_0", "fw"}, {"y"}, "/fc/Gemm")
          .attr("transB", 1);
      m.output("y");
      Imported r;
      import_model(m, r);
      ASSERT_TRUE(r.ok()) << "opset " << opset << ": " << r.error;
      ASSERT_EQ(r.count(), 3);
      EXPECT_EQ(r.layer(1).kind, SQ_RESHAPE);
      EXPECT_STREQ(r.layer(1).nodes, "/Reshape");
      EXPECT_EQ(dims_of(r.layer(1).out), (std::vector<int64_t>{batch, 20}));
      EXPECT_EQ(dims_of(r.chain->output), (std::vector<int64_t>{batch, 10}));
    }
  }
}

// torch's Flatten(start_dim=2): Shape → Slice[0:2] → Concat(-1) → Reshape.
TEST(ImporterSideGraphs, FlattenStart2WithSlice) {
  for (int64_t opset : {9, 11, 13}) {
    Model m(opset);
    m.input("x", {-1, 4, 8, 8});
    m.node("Relu", {"x"}, {"r"}, "/0/Relu");
    m.node("Shape", {"r"}, {"s"}, "/1/Shape");
    if (opset < 10) {
      m.node("Slice", {"s"}, {"sl"}, "/1/Slice")
          .attr("starts", std::vector<int64_t>{0})
          .attr("ends", std::vector<int64_t>{2})
          .attr("axes", std::vector<int64_t>{0});
    } else {
      m.initializer_i64("starts", {1}, {0});
      m.initializer_i64("ends", {1}, {2});
      m.initializer_i64("axes", {1}, {0});
      m.node("Slice", {"s", "starts", "ends", "axes"}, {"sl"}, "/1/Slice");
    }
    m.initializer_i64("minus1", {1}, {-1});
    m.node("Concat", {"sl", "minus1"}, {"shape"}, "/1/Concat").attr("axis", 0);
    m.node("Reshape", {"r", "shape"}, {"y"}, "/1/Reshape");
    m.output("y");
    Imported r;
    import_model(m, r);
    ASSERT_TRUE(r.ok()) << "opset " << opset << ": " << r.error;
    ASSERT_EQ(r.count(), 2);
    EXPECT_EQ(dims_of(r.layer(1).out), (std::vector<int64_t>{-1, 4, 64}));
    EXPECT_STREQ(r.layer(1).name, "1");
  }
}

// torch's ZeroPad2d → Conv: the pads come from an unfolded constant
// side-graph ConstantOfShape → Concat → Reshape → Slice → Transpose →
// Reshape → Cast; the zero Pad folds into the Conv.
TEST(ImporterSideGraphs, TorchPadSideGraphFoldsIntoConv) {
  Model m(13);
  m.input("x", {-1, 3, 8, 8});
  // ZeroPad2d((1, 2, 0, 1)): torch order (left, right, top, bottom)
  m.initializer_i64("pad_torch", {4}, {1, 2, 0, 1});
  m.initializer_i64("four", {1}, {4});
  m.node("ConstantOfShape", {"four"}, {"zeros"}, "/1/ConstantOfShape")
      .attr("value", m.tensor_i64("", {1}, {0}));
  m.node("Concat", {"pad_torch", "zeros"}, {"cat"}, "/1/Concat")
      .attr("axis", 0);
  m.initializer_i64("shape2", {2}, {-1, 2});
  m.node("Reshape", {"cat", "shape2"}, {"pairs"}, "/1/Reshape");
  m.initializer_i64("st", {1}, {-1});
  m.initializer_i64("en", {1}, {-9223372036854775807LL});
  m.initializer_i64("ax", {1}, {0});
  m.initializer_i64("sp", {1}, {-1});
  m.node("Slice", {"pairs", "st", "en", "ax", "sp"}, {"rev"}, "/1/Slice");
  m.node("Transpose", {"rev"}, {"tr"}, "/1/Transpose")
      .attr("perm", std::vector<int64_t>{1, 0});
  m.initializer_i64("flat", {1}, {-1});
  m.node("Reshape", {"tr", "flat"}, {"pads64"}, "/1/Reshape_1");
  m.node("Cast", {"pads64"}, {"pads"}, "/1/Cast").attr("to", 7);
  m.node("Pad", {"x", "pads"}, {"p"}, "/1/Pad").attr("mode", "constant");
  m.initializer("w", {4, 3, 3, 3}, ramp(108));
  m.node("Conv", {"p", "w"}, {"y"}, "/2/Conv");
  m.output("y");
  Imported r;
  import_model(m, r);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.count(), 1);
  const sq_layer &l = r.layer(0);
  EXPECT_STREQ(l.nodes, "/1/Pad,/2/Conv");
  EXPECT_EQ(l.pad_begin[0], 0); // top
  EXPECT_EQ(l.pad_end[0], 1);   // bottom
  EXPECT_EQ(l.pad_begin[1], 1); // left
  EXPECT_EQ(l.pad_end[1], 2);   // right
  EXPECT_EQ(dims_of(l.out), (std::vector<int64_t>{-1, 4, 7, 9}));
}

TEST(ImporterSideGraphs, ArithmeticOnSymbolicBatchRejected) {
  Model m(13);
  m.input("x", {-1, 4, 4});
  m.node("Shape", {"x"}, {"s"}, "/Shape");
  m.initializer_i64("two", {1}, {2});
  m.node("Mul", {"s", "two"}, {"s2"}, "/Mul");
  m.node("Reshape", {"x", "s2"}, {"y"}, "/Reshape");
  m.output("y");
  Imported r;
  import_model(m, r);
  EXPECT_EQ(r.status, SEQRT_ERR_UNSUPPORTED);
  EXPECT_EQ(r.error, "node '/Mul' (Mul) does arithmetic on the symbolic batch "
                     "size, which seqrt does not support");
}

TEST(ImporterSideGraphs, IntegerArithmeticOnStaticDims) {
  Model m2(11);
  m2.input("x", {-1, 4, 6});
  m2.node("Shape", {"x"}, {"s"}, "/Shape");
  m2.initializer_i64("i1", {}, {1});
  m2.initializer_i64("i2", {}, {2});
  m2.node("Gather", {"s", "i1"}, {"d1"}, "/Gather_1");
  m2.node("Gather", {"s", "i2"}, {"d2"}, "/Gather_2");
  m2.node("Mul", {"d1", "d2"}, {"prod"}, "/Mul");
  m2.initializer_i64("three", {}, {3});
  m2.node("Div", {"prod", "three"}, {"q"}, "/Div");
  m2.node("Sub", {"q", "three"}, {"q2"}, "/Sub");
  m2.node("Add", {"q2", "three"}, {"q3"}, "/Add");
  m2.node("Unsqueeze", {"q3"}, {"u"}, "/Unsqueeze")
      .attr("axes", std::vector<int64_t>{0});
  m2.initializer_i64("three1", {1}, {3});
  m2.node("Concat", {"three1", "u"}, {"shape"}, "/Concat").attr("axis", 0);
  m2.node("Reshape", {"x", "shape"}, {"y"}, "/Reshape");
  m2.node("Relu", {"y"}, {"z"}, "/Relu");
  m2.output("z");
  Imported r2;
  import_model(m2, r2);
  // [3, 8] has no batch dim although the input's batch is dynamic
  EXPECT_EQ(r2.status, SEQRT_ERR_UNSUPPORTED) << r2.error;

  Model m3(11);
  m3.input("x", {2, 4, 6});
  m3.node("Shape", {"x"}, {"s"}, "/Shape");
  m3.initializer_i64("i1", {}, {1});
  m3.initializer_i64("i2", {}, {2});
  m3.node("Gather", {"s", "i1"}, {"d1"}, "/Gather_1");
  m3.node("Gather", {"s", "i2"}, {"d2"}, "/Gather_2");
  m3.node("Mul", {"d1", "d2"}, {"prod"}, "/Mul");
  m3.initializer_i64("three", {}, {3});
  m3.node("Div", {"prod", "three"}, {"q"}, "/Div");
  m3.node("Sub", {"q", "three"}, {"q2"}, "/Sub");
  m3.node("Add", {"q2", "three"}, {"q3"}, "/Add");
  m3.node("Unsqueeze", {"q3"}, {"u"}, "/Unsqueeze")
      .attr("axes", std::vector<int64_t>{0});
  m3.initializer_i64("neg", {1}, {-1});
  m3.node("Concat", {"neg", "u"}, {"shape"}, "/Concat").attr("axis", 0);
  m3.node("Reshape", {"x", "shape"}, {"y"}, "/Reshape");
  m3.output("y");
  Imported r3;
  import_model(m3, r3);
  ASSERT_TRUE(r3.ok()) << r3.error;
  EXPECT_EQ(dims_of(r3.layer(0).out), (std::vector<int64_t>{6, 8}));
}

} // namespace
