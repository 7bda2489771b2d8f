// Build small ONNX models in C++ with the protobuf-c generated structs, for
// unit tests that must not depend on Python.
//
//   onnxb::Model m(13);                       // opset 13, default domain
//   m.input("x", {-1, 8});                    // -1: symbolic dim "batch"
//   m.initializer("w", {4, 8}, weights);      // FLOAT, raw_data
//   m.node("Gemm", {"x", "w"}, {"y"}, "/fc/Gemm").attr("transB", 1);
//   m.output("y", {-1, 4});
//   std::vector<uint8_t> bytes = m.bytes();
//
// Every pointer handed out stays valid for the model's lifetime, so tests
// can tweak the protobuf structs directly (e.g. shorten raw_data).
#ifndef SEQRT_TESTS_ONNX_BUILDER_H
#define SEQRT_TESTS_ONNX_BUILDER_H

#include <cstdint>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "onnx.pb-c.h"

namespace onnxb {

enum class Storage { Raw, Typed };

constexpr int32_t FLOAT = 1, INT32 = 6, INT64 = 7, BOOL = 9, DOUBLE = 11;

class Model;

// A node under construction; attributes are added with attr(...).
class Node {
public:
  Node &attr(const std::string &name, int64_t value);
  Node &attr(const std::string &name, int value) {
    return attr(name, static_cast<int64_t>(value));
  }
  Node &attr(const std::string &name, float value);
  Node &attr(const std::string &name, const std::vector<int64_t> &values);
  Node &attr(const std::string &name, const std::vector<float> &values);
  Node &attr(const std::string &name, const std::string &value);
  Node &attr(const std::string &name, const char *value) {
    return attr(name, std::string(value));
  }
  Node &attr(const std::string &name, Onnx__TensorProto *tensor);
  Node &attr(const std::string &name, Onnx__GraphProto *graph);
  Node &domain(const std::string &domain);
  // A metadata_props entry (the newer exporter's module path and class).
  Node &metadata(const std::string &key, const std::string &value);
  Onnx__NodeProto *proto() { return &proto_; }
  // The last attribute added (to corrupt its type in tests).
  Onnx__AttributeProto *last_attr() { return attrs_.back(); }

private:
  friend class Model;
  friend class Branch;
  Node(Model *model) : model_(model) {}
  Onnx__AttributeProto *new_attr(const std::string &name, int32_t type);
  void finalize();

  Model *model_;
  Onnx__NodeProto proto_ = ONNX__NODE_PROTO__INIT;
  std::vector<char *> inputs_, outputs_;
  std::vector<Onnx__AttributeProto *> attrs_;
  std::vector<Onnx__StringStringEntryProto *> metadata_;
  bool in_branch_ = false;
};

// A subgraph (an If branch): its nodes, outputs by name.
class Branch {
public:
  Node &node(const std::string &op, const std::vector<std::string> &inputs,
             const std::vector<std::string> &outputs,
             const std::string &name = "");
  Branch &output(const std::string &name);
  Onnx__GraphProto *proto() { return &proto_; }

private:
  friend class Model;
  explicit Branch(Model *model) : model_(model) {}
  void finalize();

  Model *model_;
  Onnx__GraphProto proto_ = ONNX__GRAPH_PROTO__INIT;
  std::vector<Node *> nodes_;
  std::vector<Onnx__NodeProto *> node_ptrs_;
  std::vector<Onnx__ValueInfoProto *> outputs_;
};

class Model {
public:
  explicit Model(int64_t opset = 13) {
    graph_.name = str("graph");
    model_.graph = &graph_;
    model_.has_ir_version = 1;
    model_.ir_version = 8;
    model_.producer_name = str("pytorch");
    model_.producer_version = str("1.13.1");
    if (opset > 0) add_opset("", opset);
  }
  Model(const Model &) = delete;
  Model &operator=(const Model &) = delete;

  void add_opset(const std::string &domain, int64_t version) {
    Onnx__OperatorSetIdProto *o = &opsets_.emplace_back();
    *o = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    o->domain = str(domain);
    o->has_version = 1;
    o->version = version;
    opset_ptrs_.push_back(o);
  }
  void clear_opsets() { opset_ptrs_.clear(); }
  Onnx__ModelProto &proto() { return model_; }
  Onnx__GraphProto &graph() { return graph_; }

  // ---- tensors -----------------------------------------------------------

  Onnx__TensorProto *tensor(const std::string &name,
                            const std::vector<int64_t> &dims,
                            const std::vector<float> &values,
                            Storage storage = Storage::Raw) {
    Onnx__TensorProto *t = new_tensor(name, dims, FLOAT);
    if (storage == Storage::Raw) {
      set_raw(t, values.data(), values.size() * sizeof(float));
    } else {
      t->n_float_data = values.size();
      t->float_data = floats_.emplace_back(values).data();
    }
    return t;
  }
  Onnx__TensorProto *tensor_i64(const std::string &name,
                                const std::vector<int64_t> &dims,
                                const std::vector<int64_t> &values,
                                Storage storage = Storage::Raw) {
    Onnx__TensorProto *t = new_tensor(name, dims, INT64);
    if (storage == Storage::Raw) {
      set_raw(t, values.data(), values.size() * sizeof(int64_t));
    } else {
      t->n_int64_data = values.size();
      t->int64_data = ints_.emplace_back(values).data();
    }
    return t;
  }
  // Any element type, from raw little-endian bytes.
  Onnx__TensorProto *tensor_bytes(const std::string &name,
                                  const std::vector<int64_t> &dims,
                                  int32_t dtype,
                                  const std::vector<uint8_t> &bytes) {
    Onnx__TensorProto *t = new_tensor(name, dims, dtype);
    set_raw(t, bytes.data(), bytes.size());
    return t;
  }
  // Data in an external file: location/offset/length entries.
  Onnx__TensorProto *tensor_external(const std::string &name,
                                     const std::vector<int64_t> &dims,
                                     const std::string &location,
                                     int64_t offset = -1, int64_t length = -1) {
    Onnx__TensorProto *t = new_tensor(name, dims, FLOAT);
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    std::vector<Onnx__StringStringEntryProto *> &entries =
        entry_lists_.emplace_back();
    entries.push_back(entry("location", location));
    if (offset >= 0) entries.push_back(entry("offset", std::to_string(offset)));
    if (length >= 0) entries.push_back(entry("length", std::to_string(length)));
    t->n_external_data = entries.size();
    t->external_data = entries.data();
    return t;
  }
  void set_raw(Onnx__TensorProto *t, const void *data, size_t size) {
    std::vector<uint8_t> &bytes = bytes_.emplace_back(size);
    if (size) std::memcpy(bytes.data(), data, size);
    t->has_raw_data = 1;
    t->raw_data.len = size;
    t->raw_data.data = bytes.data();
  }

  // Initializers: the tensor is added to graph.initializer.
  Onnx__TensorProto *initializer(const std::string &name,
                                 const std::vector<int64_t> &dims,
                                 const std::vector<float> &values,
                                 Storage storage = Storage::Raw) {
    return add_init(tensor(name, dims, values, storage));
  }
  Onnx__TensorProto *initializer_i64(const std::string &name,
                                     const std::vector<int64_t> &dims,
                                     const std::vector<int64_t> &values,
                                     Storage storage = Storage::Raw) {
    return add_init(tensor_i64(name, dims, values, storage));
  }
  Onnx__TensorProto *add_init(Onnx__TensorProto *t) {
    init_ptrs_.push_back(t);
    return t;
  }

  // ---- nodes
  // -----------------------------------------------------------------

  Node &node(const std::string &op, const std::vector<std::string> &inputs,
             const std::vector<std::string> &outputs,
             const std::string &name = "") {
    nodes_.push_back(Node(this));
    Node &n = nodes_.back();
    n.proto_.op_type = str(op);
    if (!name.empty()) n.proto_.name = str(name);
    for (const std::string &s : inputs) n.inputs_.push_back(str(s));
    for (const std::string &s : outputs) n.outputs_.push_back(str(s));
    return n;
  }
  // A subgraph for an If's then_branch / else_branch attribute.
  Branch &branch(const std::string &name) {
    Branch &b = branches_.emplace_back(Branch(this));
    b.proto_.name = str(name);
    return b;
  }

  // A Constant node holding `t`.
  Node &constant(const std::string &output, Onnx__TensorProto *t,
                 const std::string &name = "") {
    return node("Constant", {}, {output}, name).attr("value", t);
  }

  // ---- graph inputs and outputs ---------------------------------------------

  // dims: -1 → dim_param "batch"; -2 → a dim with neither value nor param.
  // No dims at all with shape=false → no shape.
  Onnx__ValueInfoProto *input(const std::string &name,
                              const std::vector<int64_t> &dims,
                              int32_t elem = FLOAT, bool shape = true) {
    Onnx__ValueInfoProto *v = value_info(name, dims, elem, shape);
    input_ptrs_.push_back(v);
    return v;
  }
  Onnx__ValueInfoProto *output(const std::string &name,
                               const std::vector<int64_t> &dims = {},
                               int32_t elem = FLOAT) {
    Onnx__ValueInfoProto *v = value_info(name, dims, elem, !dims.empty());
    output_ptrs_.push_back(v);
    return v;
  }

  // ---- packing
  // ------------------------------------------------------------------

  std::vector<uint8_t> bytes() {
    finalize();
    std::vector<uint8_t> out(onnx__model_proto__get_packed_size(&model_));
    onnx__model_proto__pack(&model_, out.data());
    return out;
  }

  char *str(const std::string &s) { return &strings_.emplace_back(s)[0]; }

private:
  friend class Node;
  friend class Branch;

  Onnx__TensorProto *new_tensor(const std::string &name,
                                const std::vector<int64_t> &dims,
                                int32_t dtype) {
    Onnx__TensorProto *t = &tensors_.emplace_back();
    *t = ONNX__TENSOR_PROTO__INIT;
    t->name = str(name);
    t->has_data_type = 1;
    t->data_type = dtype;
    std::vector<int64_t> &d = ints_.emplace_back(dims);
    t->n_dims = d.size();
    t->dims = d.data();
    return t;
  }

  Onnx__StringStringEntryProto *entry(const std::string &key,
                                      const std::string &value) {
    Onnx__StringStringEntryProto *e = &entries_.emplace_back();
    *e = ONNX__STRING_STRING_ENTRY_PROTO__INIT;
    e->key = str(key);
    e->value = str(value);
    return e;
  }

  Onnx__ValueInfoProto *value_info(const std::string &name,
                                   const std::vector<int64_t> &dims,
                                   int32_t elem, bool with_shape) {
    Onnx__ValueInfoProto *v = &value_infos_.emplace_back();
    *v = ONNX__VALUE_INFO_PROTO__INIT;
    v->name = str(name);
    Onnx__TypeProto *type = &types_.emplace_back();
    *type = ONNX__TYPE_PROTO__INIT;
    Onnx__TypeProto__Tensor *tt = &tensor_types_.emplace_back();
    *tt = ONNX__TYPE_PROTO__TENSOR__INIT;
    tt->has_elem_type = 1;
    tt->elem_type = elem;
    type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type->tensor_type = tt;
    v->type = type;
    if (!with_shape) return v;
    Onnx__TensorShapeProto *shape = &shapes_.emplace_back();
    *shape = ONNX__TENSOR_SHAPE_PROTO__INIT;
    std::vector<Onnx__TensorShapeProto__Dimension *> &list =
        dim_lists_.emplace_back();
    for (int64_t d : dims) {
      Onnx__TensorShapeProto__Dimension *dim = &dims_.emplace_back();
      *dim = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
      if (d == -1) {
        dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
        dim->dim_param = str("batch");
      } else if (d != -2) {
        dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        dim->dim_value = d;
      }
      list.push_back(dim);
    }
    shape->n_dim = list.size();
    shape->dim = list.data();
    tt->shape = shape;
    return v;
  }

  void finalize() {
    for (Node &n : nodes_) n.finalize();
    for (Branch &b : branches_) b.finalize();
    node_ptrs_.clear();
    for (Node &n : nodes_)
      if (!n.in_branch_) node_ptrs_.push_back(&n.proto_);
    graph_.n_node = node_ptrs_.size();
    graph_.node = node_ptrs_.data();
    graph_.n_initializer = init_ptrs_.size();
    graph_.initializer = init_ptrs_.data();
    graph_.n_input = input_ptrs_.size();
    graph_.input = input_ptrs_.data();
    graph_.n_output = output_ptrs_.size();
    graph_.output = output_ptrs_.data();
    model_.n_opset_import = opset_ptrs_.size();
    model_.opset_import = opset_ptrs_.data();
  }

  Onnx__ModelProto model_ = ONNX__MODEL_PROTO__INIT;
  Onnx__GraphProto graph_ = ONNX__GRAPH_PROTO__INIT;
  std::deque<std::string> strings_;
  std::deque<std::vector<float>> floats_;
  std::deque<std::vector<int64_t>> ints_;
  std::deque<std::vector<uint8_t>> bytes_;
  std::deque<Onnx__TensorProto> tensors_;
  std::deque<Onnx__StringStringEntryProto> entries_;
  std::deque<std::vector<Onnx__StringStringEntryProto *>> entry_lists_;
  std::deque<Onnx__OperatorSetIdProto> opsets_;
  std::deque<Onnx__AttributeProto> attrs_;
  std::deque<Onnx__ValueInfoProto> value_infos_;
  std::deque<Onnx__TypeProto> types_;
  std::deque<Onnx__TypeProto__Tensor> tensor_types_;
  std::deque<Onnx__TensorShapeProto> shapes_;
  std::deque<Onnx__TensorShapeProto__Dimension> dims_;
  std::deque<std::vector<Onnx__TensorShapeProto__Dimension *>> dim_lists_;
  std::deque<Node> nodes_;
  std::deque<Branch> branches_;
  std::vector<Onnx__NodeProto *> node_ptrs_;
  std::vector<Onnx__TensorProto *> init_ptrs_;
  std::vector<Onnx__ValueInfoProto *> input_ptrs_, output_ptrs_;
  std::vector<Onnx__OperatorSetIdProto *> opset_ptrs_;
};

inline Onnx__AttributeProto *Node::new_attr(const std::string &name,
                                            int32_t type) {
  Onnx__AttributeProto *a = &model_->attrs_.emplace_back();
  *a = ONNX__ATTRIBUTE_PROTO__INIT;
  a->name = model_->str(name);
  a->has_type = 1;
  a->type = type;
  attrs_.push_back(a);
  return a;
}

inline Node &Node::attr(const std::string &name, int64_t value) {
  Onnx__AttributeProto *a =
      new_attr(name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
  a->has_i = 1;
  a->i = value;
  return *this;
}

inline Node &Node::attr(const std::string &name, float value) {
  Onnx__AttributeProto *a =
      new_attr(name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
  a->has_f = 1;
  a->f = value;
  return *this;
}

inline Node &Node::attr(const std::string &name,
                        const std::vector<int64_t> &values) {
  Onnx__AttributeProto *a =
      new_attr(name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
  std::vector<int64_t> &v = model_->ints_.emplace_back(values);
  a->n_ints = v.size();
  a->ints = v.data();
  return *this;
}

inline Node &Node::attr(const std::string &name,
                        const std::vector<float> &values) {
  Onnx__AttributeProto *a =
      new_attr(name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
  std::vector<float> &v = model_->floats_.emplace_back(values);
  a->n_floats = v.size();
  a->floats = v.data();
  return *this;
}

inline Node &Node::attr(const std::string &name, const std::string &value) {
  Onnx__AttributeProto *a =
      new_attr(name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
  a->has_s = 1;
  a->s.len = value.size();
  a->s.data = reinterpret_cast<uint8_t *>(model_->str(value));
  return *this;
}

inline Node &Node::attr(const std::string &name, Onnx__TensorProto *tensor) {
  Onnx__AttributeProto *a =
      new_attr(name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
  a->t = tensor;
  return *this;
}

inline Node &Node::attr(const std::string &name, Onnx__GraphProto *graph) {
  Onnx__AttributeProto *a =
      new_attr(name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH);
  a->g = graph;
  return *this;
}

inline Node &Node::metadata(const std::string &key, const std::string &value) {
  metadata_.push_back(model_->entry(key, value));
  return *this;
}

inline Node &Branch::node(const std::string &op,
                          const std::vector<std::string> &inputs,
                          const std::vector<std::string> &outputs,
                          const std::string &name) {
  Node &n = model_->node(op, inputs, outputs, name);
  n.in_branch_ = true;
  nodes_.push_back(&n);
  return n;
}

inline Branch &Branch::output(const std::string &name) {
  outputs_.push_back(model_->value_info(name, {}, FLOAT, false));
  return *this;
}

inline void Branch::finalize() {
  node_ptrs_.clear();
  for (Node *n : nodes_) node_ptrs_.push_back(&n->proto_);
  proto_.n_node = node_ptrs_.size();
  proto_.node = node_ptrs_.data();
  proto_.n_output = outputs_.size();
  proto_.output = outputs_.data();
}

inline Node &Node::domain(const std::string &domain) {
  proto_.domain = model_->str(domain);
  return *this;
}

inline void Node::finalize() {
  proto_.n_input = inputs_.size();
  proto_.input = inputs_.data();
  proto_.n_output = outputs_.size();
  proto_.output = outputs_.data();
  proto_.n_attribute = attrs_.size();
  proto_.attribute = attrs_.data();
  proto_.n_metadata_props = metadata_.size();
  proto_.metadata_props = metadata_.data();
}

// 0, 1, 2, ... scaled: handy distinct weights.
inline std::vector<float> ramp(size_t n, float scale = 0.1f,
                               float offset = 0.0f) {
  std::vector<float> v(n);
  for (size_t k = 0; k < n; k++)
    v[k] = offset + scale * static_cast<float>((k * 7) % 13) -
           scale * static_cast<float>(k % 3);
  return v;
}

} // namespace onnxb

#endif
