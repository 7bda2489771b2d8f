// Importer: the wire pass that keeps initializer payloads (raw_data) out of
// protobuf-c's copy (importer/wire.c), and imports that give the payloads'
// pages back as they copy them (sq_import_releasing). The reference is
// protobuf-c itself:
// the stripped bytes must be exactly what protobuf-c packs for the model
// with those raw_data fields cleared, for valid and damaged models alike,
// and chains must equal those of the copying path.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <random>

#include "test_importer_util.h"

extern "C" {
#include "importer/wire.h"
}

using onnxb::Model;
using onnxb::ramp;

namespace {

using Bytes = std::vector<uint8_t>;

// ---- protobuf-c as the reference -------------------------------------------

struct Unpacked {
  Onnx__ModelProto *model = nullptr;
  explicit Unpacked(const Bytes &bytes)
      : model(onnx__model_proto__unpack(nullptr, bytes.size(), bytes.data())) {}
  ~Unpacked() { onnx__model_proto__free_unpacked(model, nullptr); }
  Unpacked(const Unpacked &) = delete;
  Unpacked &operator=(const Unpacked &) = delete;
};

Bytes pack(const Onnx__ModelProto *m) {
  Bytes out(onnx__model_proto__get_packed_size(m));
  onnx__model_proto__pack(m, out.data());
  return out;
}

// What the wire pass must produce: the model as protobuf-c reads it, its
// initializers' raw_data removed, packed again.
Bytes packed_without_raw(Onnx__ModelProto *m) {
  std::vector<ProtobufCBinaryData> saved;
  std::vector<protobuf_c_boolean> had;
  size_t n = m->graph ? m->graph->n_initializer : 0;
  for (size_t k = 0; k < n; k++) {
    Onnx__TensorProto *t = m->graph->initializer[k];
    saved.push_back(t->raw_data);
    had.push_back(t->has_raw_data);
    t->raw_data = {0, nullptr};
    t->has_raw_data = 0;
  }
  Bytes out = pack(m);
  for (size_t k = 0; k < n; k++) {
    m->graph->initializer[k]->raw_data = saved[k];
    m->graph->initializer[k]->has_raw_data = had[k];
  }
  return out;
}

struct Stripped {
  seqrt_status status = SEQRT_OK;
  Bytes bytes;
  std::vector<sq_payload> payloads;
};

Stripped strip(const Bytes &bytes) {
  Stripped s;
  uint8_t *out = nullptr;
  size_t size = 0;
  sq_payloads p = {};
  sq_error_clear();
  s.status = sq_wire_strip(bytes.data(), bytes.size(), &out, &size, &p);
  if (s.status == SEQRT_OK) {
    s.bytes.assign(out, out + size);
    s.payloads.assign(p.items, p.items + p.count);
    EXPECT_EQ(p.base, bytes.data());
  }
  free(out);
  free(p.items);
  return s;
}

// The wire pass agrees with protobuf-c on `bytes`: both accept or both
// reject, and when they accept the stripped bytes are protobuf-c's packing
// without the payloads, each payload found where its bytes are.
void expect_agrees_with_protobuf(const Bytes &bytes, const std::string &what) {
  SCOPED_TRACE(what);
  Unpacked original(bytes);
  Stripped s = strip(bytes);
  std::unique_ptr<Unpacked> reparsed;
  if (s.status == SEQRT_OK) reparsed = std::make_unique<Unpacked>(s.bytes);
  bool ours = s.status == SEQRT_OK && reparsed->model;
  ASSERT_EQ(original.model != nullptr, ours);
  if (!ours) return;
  EXPECT_EQ(packed_without_raw(original.model), pack(reparsed->model));
  const Onnx__GraphProto *g = original.model->graph;
  ASSERT_EQ(s.payloads.size(), g ? g->n_initializer : 0);
  for (size_t k = 0; k < s.payloads.size(); k++) {
    const Onnx__TensorProto *t = g->initializer[k];
    const sq_payload &p = s.payloads[k];
    EXPECT_EQ(p.present, t->has_raw_data != 0) << "initializer " << k;
    ASSERT_EQ(p.length, t->raw_data.len) << "initializer " << k;
    ASSERT_LE(p.offset + p.length, bytes.size());
    if (p.length)
      EXPECT_EQ(
          0, std::memcmp(bytes.data() + p.offset, t->raw_data.data, p.length))
          << "initializer " << k;
    // the header is the field's own tag (0x4a) and length
    ASSERT_GE(p.offset, p.header);
    if (p.present) EXPECT_EQ(bytes[p.offset - p.header], 0x4a);
  }
  const Onnx__GraphProto *rg = reparsed->model->graph;
  for (size_t k = 0; rg && k < rg->n_initializer; k++)
    EXPECT_FALSE(rg->initializer[k]->has_raw_data);
}

// ---- hand-written wire bytes -----------------------------------------------

Bytes varint(uint64_t v, size_t min_bytes = 1) {
  Bytes out;
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    if (v || out.size() + 1 < min_bytes) b |= 0x80;
    out.push_back(b);
  } while (v || out.size() < min_bytes);
  return out;
}

Bytes field(uint32_t number, const Bytes &body, size_t min_len_bytes = 1) {
  Bytes out = varint((uint64_t)number << 3 | 2);
  Bytes len = varint(body.size(), min_len_bytes);
  out.insert(out.end(), len.begin(), len.end());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes &p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes float_bytes(const std::vector<float> &v) {
  Bytes out(v.size() * 4);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

// A Gemm model: weight [4, 3] (transB) and bias [4], at opset 13.
void gemm_model(Model &m, const std::vector<float> &w,
                const std::vector<float> &b) {
  m.input("x", {-1, 3});
  m.initializer("w", {4, 3}, w);
  m.initializer("b", {4}, b);
  m.node("Gemm", {"x", "w", "b"}, {"y"}, "/fc/Gemm").attr("transB", 1);
  m.output("y");
}

// The TensorProto fields of a FLOAT initializer other than raw_data.
Bytes tensor_head(const std::string &name, std::vector<int64_t> dims) {
  Bytes out;
  for (int64_t d : dims) {
    Bytes v = varint((uint64_t)d);
    out.push_back(1 << 3); // dims, varint
    out.insert(out.end(), v.begin(), v.end());
  }
  out.push_back(2 << 3); // data_type = FLOAT
  out.push_back(1);
  Bytes n = field(8, Bytes(name.begin(), name.end()));
  out.insert(out.end(), n.begin(), n.end());
  return out;
}

// The gemm model's bytes with the graph's initializers replaced by
// `initializers` (whole graph.initializer fields) and the graph's length
// prefix written with at least `graph_len_bytes` bytes.
Bytes gemm_with_initializers(const Bytes &initializers,
                             size_t graph_len_bytes = 1) {
  Model m(13);
  m.input("x", {-1, 3});
  m.node("Gemm", {"x", "w", "b"}, {"y"}, "/fc/Gemm").attr("transB", 1);
  m.output("y");
  Unpacked base(m.bytes());
  Onnx__GraphProto *g = base.model->graph;
  Bytes graph(onnx__graph_proto__get_packed_size(g));
  onnx__graph_proto__pack(g, graph.data());
  base.model->graph = nullptr;
  Bytes model = pack(base.model);
  base.model->graph = g;
  graph.insert(graph.end(), initializers.begin(), initializers.end());
  return cat({model, field(7, graph, graph_len_bytes)});
}

std::vector<float> run_weight(const Bytes &bytes, Imported &r) {
  import_bytes(bytes.data(), bytes.size(), r);
  EXPECT_TRUE(r.ok()) << r.error;
  return r.ok() ? values_of(r.layer(0).weight) : std::vector<float>();
}

// ---- the stripped bytes ----------------------------------------------------

// Several initializers: a weight whose tensor and graph length prefixes
// shrink from 3 bytes to 1 when its payload goes, an INT64 one, a typed
// one (no raw_data), an empty one (raw_data of 0 bytes).
TEST(ImporterWire, StrippedBytesAreProtobufsWithoutPayloads) {
  Model m(13);
  m.input("x", {-1, 5000});
  m.initializer("big", {1, 5000}, ramp(5000));
  m.initializer("bias", {1}, {0.5f});
  m.initializer_i64("shape", {2}, {-1, 5000});
  m.initializer("typed", {3}, {1.0f, 2.0f, 3.0f}, onnxb::Storage::Typed);
  m.initializer("empty", {0}, {});
  m.node("Gemm", {"x", "big", "bias"}, {"y"}, "/fc/Gemm").attr("transB", 1);
  m.output("y");
  Bytes bytes = m.bytes();
  expect_agrees_with_protobuf(bytes, "built");
  Stripped s = strip(bytes);
  ASSERT_EQ(s.status, SEQRT_OK);
  ASSERT_EQ(s.payloads.size(), 5u);
  EXPECT_EQ(s.payloads[0].length, 20000u);
  EXPECT_EQ(s.payloads[0].header, 4u); // tag + 3-byte length
  EXPECT_EQ(s.payloads[2].length, 16u);
  EXPECT_FALSE(s.payloads[3].present);
  EXPECT_TRUE(s.payloads[4].present);
  EXPECT_EQ(s.payloads[4].length, 0u);
  EXPECT_LT(s.bytes.size() + 20000, bytes.size());
}

// Length prefixes written longer than needed (valid protobuf) are
// re-encoded; the payload is found all the same.
TEST(ImporterWire, OverlongLengthPrefixes) {
  std::vector<float> w = ramp(12, 0.3f), b = ramp(4, -0.5f);
  Bytes inits = cat(
      {field(5, cat({tensor_head("w", {4, 3}), field(9, float_bytes(w), 4)}),
             5),
       field(5, cat({tensor_head("b", {4}), field(9, float_bytes(b), 3)}))});
  Bytes bytes = gemm_with_initializers(inits, 5);
  expect_agrees_with_protobuf(bytes, "overlong");
  Imported r;
  EXPECT_FLOATS_NEAR(w, run_weight(bytes, r), 0);
  EXPECT_FLOATS_NEAR(b, values_of(r.layer(0).bias), 0);
}

// Of two raw_data fields the last counts, as for protobuf-c.
TEST(ImporterWire, LastRawDataCounts) {
  std::vector<float> first = ramp(12, 9.0f), w = ramp(12, 0.3f);
  Bytes inits = cat(
      {field(5, cat({tensor_head("w", {4, 3}), field(9, float_bytes(first)),
                     field(9, float_bytes(w))})),
       field(5, cat({tensor_head("b", {4}), field(9, float_bytes(ramp(4)))}))});
  Bytes bytes = gemm_with_initializers(inits);
  expect_agrees_with_protobuf(bytes, "two raw_data");
  Imported r;
  EXPECT_FLOATS_NEAR(w, run_weight(bytes, r), 0);
}

// A graph given in two parts is merged by protobuf-c, its initializers
// concatenated in wire order.
TEST(ImporterWire, GraphInTwoParts) {
  std::vector<float> w = ramp(12, 0.7f), b = ramp(4, 0.2f, 1.0f);
  Bytes first = field(
      7, field(5, cat({tensor_head("w", {4, 3}), field(9, float_bytes(w))})));
  Bytes rest = gemm_with_initializers(
      field(5, cat({tensor_head("b", {4}), field(9, float_bytes(b))})));
  Bytes bytes = cat({first, rest});
  expect_agrees_with_protobuf(bytes, "two parts");
  Imported r;
  EXPECT_FLOATS_NEAR(w, run_weight(bytes, r), 0);
  EXPECT_FLOATS_NEAR(b, values_of(r.layer(0).bias), 0);
}

void expect_parse_error(const Bytes &bytes, const std::string &what) {
  SCOPED_TRACE(what);
  expect_agrees_with_protobuf(bytes, what);
  Imported r;
  import_bytes(bytes.data(), bytes.size(), r);
  EXPECT_EQ(r.status, SEQRT_ERR_PARSE);
  EXPECT_NE(r.error.find("do not parse as an ONNX ModelProto"),
            std::string::npos)
      << r.error;
  Bytes copy = bytes;
  sq_chain *chain = nullptr;
  EXPECT_EQ(sq_import_releasing(copy.data(), copy.size(), nullptr, &chain),
            SEQRT_ERR_PARSE);
  EXPECT_EQ(chain, nullptr);
}

TEST(ImporterWire, TruncatedPayload) {
  Model m(13);
  gemm_model(m, ramp(12), ramp(4));
  Bytes bytes = m.bytes();
  Stripped s = strip(bytes);
  ASSERT_EQ(s.status, SEQRT_OK);
  // cut in the middle of the weight's payload
  bytes.resize(s.payloads[0].offset + s.payloads[0].length / 2);
  expect_parse_error(bytes, "truncated");
}

TEST(ImporterWire, PayloadLengthPastItsTensor) {
  Bytes raw = float_bytes(ramp(12));
  // raw_data claims 200 bytes; its tensor (and the file) holds 48
  Bytes tensor =
      cat({tensor_head("w", {4, 3}), varint(9 << 3 | 2), varint(200), raw});
  expect_parse_error(gemm_with_initializers(field(5, tensor)), "in tensor");
  // a graph length beyond the end of the file
  Bytes bytes = gemm_with_initializers(
      field(5, cat({tensor_head("w", {4, 3}), field(9, raw)})));
  bytes.resize(bytes.size() - 1);
  expect_parse_error(bytes, "graph");
}

TEST(ImporterWire, GroupsAndBadWireTypesAreRefused) {
  Model m(13);
  gemm_model(m, ramp(12), ramp(4));
  Bytes bytes = m.bytes();
  Stripped s = strip(bytes);
  ASSERT_EQ(s.status, SEQRT_OK);
  // the raw_data tag as a start-group (3) or wire type 7
  for (uint8_t tag : {uint8_t(9 << 3 | 3), uint8_t(9 << 3 | 7)}) {
    Bytes bad = bytes;
    size_t at = s.payloads[0].offset - s.payloads[0].header;
    ASSERT_EQ(bad[at], 0x4a);
    bad[at] = tag;
    expect_parse_error(bad, "tag " + std::to_string(tag));
  }
}

// Truncations and bit flips: the wire pass and protobuf-c agree on every
// one, and the importer fails with a message or loads, never crashes.
TEST(ImporterWire, DamagedModelsAgreeWithProtobuf) {
  Model m(13);
  m.input("x", {-1, 40});
  m.initializer("w", {20, 40}, ramp(800));
  m.initializer("b", {20}, ramp(20));
  m.initializer_i64("shape", {2}, {-1, 20});
  m.node("Gemm", {"x", "w", "b"}, {"h"}, "/fc/Gemm").attr("transB", 1);
  m.node("Reshape", {"h", "shape"}, {"y"}, "/r/Reshape");
  m.output("y");
  Bytes bytes = m.bytes();
  for (size_t n = 0; n < bytes.size(); n += (n < 300 ? 1 : 97))
    expect_agrees_with_protobuf(Bytes(bytes.begin(), bytes.begin() + n),
                                "truncated to " + std::to_string(n));
  std::mt19937 rng(7);
  for (int k = 0; k < 3000; k++) {
    Bytes bad = bytes;
    // most flips in the metadata, where they change the structure
    size_t at = rng() % (k % 4 ? 400 : bad.size());
    bad[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
    expect_agrees_with_protobuf(bad, "flip at " + std::to_string(at));
    if (HasFatalFailure()) return;
    Imported r;
    import_bytes(bad.data(), bad.size(), r);
    EXPECT_TRUE(r.ok() || !r.error.empty());
    sq_chain *chain = nullptr;
    seqrt_status st =
        sq_import_releasing(bad.data(), bad.size(), nullptr, &chain);
    EXPECT_EQ(st, r.status) << r.error;
    sq_chain_free(chain);
  }
}

// ---- releasing imports -----------------------------------------------------

// Page-aligned anonymous memory holding a copy of some bytes.
struct AnonymousCopy {
  uint8_t *data = nullptr;
  size_t size = 0;
  explicit AnonymousCopy(const Bytes &bytes) : size(bytes.size()) {
    void *m = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return;
    data = static_cast<uint8_t *>(m);
    std::memcpy(data, bytes.data(), size);
  }
  ~AnonymousCopy() {
    if (data) munmap(data, size);
  }
  AnonymousCopy(const AnonymousCopy &) = delete;
  AnonymousCopy &operator=(const AnonymousCopy &) = delete;
};

// A releasing import makes the same chain as a copying one, its weights
// 64-byte aligned and of its own, and gives back the whole pages of every
// payload it copied (anonymous pages given back read as zeros): one
// payload in several 4 MiB slices, and one too small to span a page. The
// bytes around the payloads are left alone.
TEST(ImporterWire, ReleasingImportGivesPayloadPagesBack) {
  Model m(13);
  std::vector<float> w = ramp(3000 * 1000, 0.37f), w2 = ramp(3000 * 3, -0.2f);
  m.input("x", {-1, 1000});
  m.initializer("w", {3000, 1000}, w);
  m.initializer("b", {3000}, ramp(3000, 0.1f));
  m.initializer("w2", {3000, 3}, w2);
  m.node("Gemm", {"x", "w", "b"}, {"h"}, "/fc/Gemm").attr("transB", 1);
  m.node("Gemm", {"h", "w2"}, {"y"}, "/fc2/Gemm");
  m.output("y");
  Bytes bytes = m.bytes();
  Stripped s = strip(bytes);
  ASSERT_EQ(s.status, SEQRT_OK);
  ASSERT_EQ(s.payloads.size(), 3u);
  Imported copied;
  import_bytes(bytes.data(), bytes.size(), copied);
  ASSERT_TRUE(copied.ok()) << copied.error;
  AnonymousCopy anon(bytes);
  ASSERT_NE(anon.data, nullptr);
  sq_chain *chain = nullptr;
  ASSERT_EQ(sq_import_releasing(anon.data, anon.size, nullptr, &chain),
            SEQRT_OK)
      << seqrt_last_error();
  std::unique_ptr<sq_chain, decltype(&sq_chain_free)> owned(chain,
                                                            sq_chain_free);
  ASSERT_EQ(chain->n_layers, 2);
  for (int k = 0; k < 2; k++) {
    const sq_layer &l = chain->layers[k];
    EXPECT_EQ(reinterpret_cast<uintptr_t>(l.weight.data) % 64, 0u);
    EXPECT_FALSE(reinterpret_cast<const uint8_t *>(l.weight.data) >=
                     anon.data &&
                 reinterpret_cast<const uint8_t *>(l.weight.data) <
                     anon.data + anon.size);
    EXPECT_FLOATS_NEAR(values_of(copied.layer(k).weight), values_of(l.weight),
                       0);
    EXPECT_FLOATS_NEAR(values_of(copied.layer(k).bias), values_of(l.bias), 0);
  }
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t released = 0, kept = 0;
  std::vector<bool> in_payload(bytes.size(), false);
  for (const sq_payload &p : s.payloads) {
    if (!p.present) continue;
    size_t lo = (p.offset + page - 1) / page * page;
    size_t hi = (p.offset + p.length) / page * page;
    for (size_t at = p.offset; at < p.offset + p.length; at++)
      in_payload[at] = true;
    for (size_t at = lo; at < hi; at++) {
      if (anon.data[at] != 0) {
        ADD_FAILURE() << "payload byte " << at << " was not given back";
        break;
      }
      released++;
    }
  }
  for (size_t at = 0; at < bytes.size(); at++)
    if (!in_payload[at]) {
      ASSERT_EQ(anon.data[at], bytes[at]) << "byte " << at;
      kept++;
    }
  EXPECT_GT(released, w.size() * 4 - 2 * page);
  EXPECT_GT(kept, 0u);
}

// BatchNorm folds into the Conv weights a releasing import copied.
TEST(ImporterWire, BatchNormFoldsIntoReleasedWeights) {
  Model m(14);
  m.input("x", {-1, 2, 5, 5});
  std::vector<float> w = ramp(4 * 2 * 3 * 3), b = ramp(4, 0.4f, -0.3f);
  std::vector<float> gamma = {1.5f, 0.5f, 2.0f, 1.0f},
                     beta = {0.1f, -0.2f, 0.3f, 0.0f},
                     mean = {0.5f, -1.0f, 0.25f, 2.0f},
                     var = {1.0f, 4.0f, 0.25f, 2.0f};
  m.initializer("0.weight", {4, 2, 3, 3}, w);
  m.initializer("0.bias", {4}, b);
  m.initializer("1.weight", {4}, gamma);
  m.initializer("1.bias", {4}, beta);
  m.initializer("1.running_mean", {4}, mean);
  m.initializer("1.running_var", {4}, var);
  m.node("Conv", {"x", "0.weight", "0.bias"}, {"c"}, "/0/Conv");
  m.node("BatchNormalization",
         {"c", "1.weight", "1.bias", "1.running_mean", "1.running_var"}, {"y"},
         "/1/BatchNormalization")
      .attr("epsilon", 1e-3f);
  m.output("y");
  Bytes bytes = m.bytes();
  Bytes copy = bytes;
  sq_chain *chain = nullptr;
  ASSERT_EQ(sq_import_releasing(copy.data(), copy.size(), nullptr, &chain),
            SEQRT_OK)
      << seqrt_last_error();
  ASSERT_EQ(chain->n_layers, 1);
  const sq_layer &l = chain->layers[0];
  EXPECT_STREQ(l.folded, "1");
  std::vector<float> fw(w.size()), fb(4);
  for (size_t o = 0; o < 4; o++) {
    double scale = gamma[o] / std::sqrt(var[o] + 1e-3);
    for (size_t k = 0; k < 18; k++) fw[o * 18 + k] = w[o * 18 + k] * scale;
    fb[o] = b[o] * scale + beta[o] - mean[o] * scale;
  }
  EXPECT_FLOATS_NEAR(fw, values_of(l.weight), 1e-6);
  EXPECT_FLOATS_NEAR(fb, values_of(l.bias), 1e-6);
  sq_chain_free(chain);
}

} // namespace
