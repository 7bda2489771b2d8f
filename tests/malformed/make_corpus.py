#!/usr/bin/python3
"""Writes the malformed-input corpus: tests/malformed/models/*.onnx (plus the
external data files they point at), tests/malformed/inputs/*.npy and *.pb,
and tests/malformed/expected.tsv, one line per case with the status and a
part of the message it must produce.

    /usr/bin/python3 tests/malformed/make_corpus.py

The output is deterministic; it is committed, so ctest needs no Python.
tests/malformed/test_malformed.cpp replays every line (in the ASan+UBSan
build too) and adds truncations and bit flips of the bundled models.

expected.tsv columns (tab separated):
  kind     file: load the model file; buffer: load its bytes from memory;
           tensor: read the .npy/.pb file; run: run model file on tensor file
  path     relative to tests/malformed (run: MODEL|TENSOR)
  status   OK or the seqrt_status name (tensor: OK or ERROR)
  message  a part of the one-line message (case-sensitive); "" for OK
"""
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "models")
INPUTS = os.path.join(HERE, "inputs")
OPSET = 13
cases = []


def expect(kind, path, status, message=""):
    assert "\t" not in message and "\n" not in message
    cases.append((kind, path, status, message))


# ---- models ------------------------------------------------------------------


def weights():
    rng = np.random.default_rng(7)
    w = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    return w, b


def value(name, dims, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, dims)


def gemm_model(w_tensor=None, b_tensor=None, input_dims=("batch", 4),
               nodes=None, inputs=None, outputs=None, initializers=None,
               opset=OPSET):
    """x [batch, 4] -> Gemm(W [3, 4], B [3]) -> Relu -> y [batch, 3]."""
    w, b = weights()
    if initializers is None:
        initializers = [w_tensor or numpy_helper.from_array(w, "fc.weight"),
                        b_tensor or numpy_helper.from_array(b, "fc.bias")]
    if nodes is None:
        nodes = [
            helper.make_node("Gemm", ["x", "fc.weight", "fc.bias"], ["h"],
                             name="/fc/Gemm", transB=1),
            helper.make_node("Relu", ["h"], ["y"], name="/act/Relu"),
        ]
    graph = helper.make_graph(
        nodes, "g", inputs or [value("x", list(input_dims))],
        outputs or [value("y", ["batch", 3])], initializers)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)],
        producer_name="seqrt-malformed")
    model.ir_version = 8
    return model


def write(name, model_or_bytes):
    path = os.path.join(MODELS, name)
    data = (model_or_bytes if isinstance(model_or_bytes, bytes)
            else model_or_bytes.SerializeToString())
    with open(path, "wb") as f:
        f.write(data)
    return "models/" + name


def model_case(name, model, status, message, kinds=("file", "buffer")):
    path = write(name, model)
    for kind in kinds:
        expect(kind, path, status, message)


def raw_tensor(name, dims, data_type=TensorProto.FLOAT, raw=b""):
    t = TensorProto()
    t.name = name
    t.dims.extend(dims)
    t.data_type = data_type
    t.raw_data = raw
    return t


def external_tensor(name, dims, entries):
    t = TensorProto()
    t.name = name
    t.dims.extend(dims)
    t.data_type = TensorProto.FLOAT
    t.data_location = TensorProto.EXTERNAL
    for key, val in entries:
        e = t.external_data.add()
        e.key = key
        e.value = val
    return t


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number, wire, payload):
    key = varint(number << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def deep_nesting(depth):
    """graph > node > attribute.g > node > attribute.g > ... `depth` deep."""
    inner = b""
    for _ in range(depth):
        attr = field(1, 2, b"body") + field(6, 2, inner)  # AttributeProto.g
        node = field(4, 2, b"Loop") + field(5, 2, attr)   # NodeProto
        inner = field(1, 2, node)                         # GraphProto.node
    return field(7, 2, inner)                             # ModelProto.graph


def models():
    os.makedirs(MODELS, exist_ok=True)
    w, b = weights()
    good = gemm_model()
    model_case("valid.onnx", good, "OK", "")
    data = good.SerializeToString()

    # Bytes that are not a model.
    model_case("empty.onnx", b"", "SEQRT_ERR_PARSE", "empty")
    model_case("text.onnx", b"this is not an ONNX model\n", "SEQRT_ERR_PARSE",
               "do not parse as an ONNX ModelProto")
    model_case("truncated_half.onnx", data[:len(data) // 2], "SEQRT_ERR_PARSE",
               "truncated or corrupt")
    model_case("truncated_last_byte.onnx", data[:-1], "SEQRT_ERR_PARSE",
               "truncated or corrupt")
    model_case("nested_200_deep.onnx", deep_nesting(200), "SEQRT_ERR_PARSE",
               "nested more than 100 deep")
    # Unknown fields (ModelProto field 99, NodeProto field 77) are skipped.
    node_unknown = gemm_model()
    model_case("unknown_fields.onnx",
               node_unknown.SerializeToString() + field(99, 2, b"surprise"),
               "OK", "")

    # Model-level fields.
    no_graph = onnx.ModelProto()
    no_graph.ir_version = 8
    no_graph.opset_import.add().version = OPSET
    model_case("no_graph.onnx", no_graph, "SEQRT_ERR_INVALID_MODEL",
               "model has no graph")
    no_opset = gemm_model()
    del no_opset.opset_import[:]
    model_case("no_opset.onnx", no_opset, "SEQRT_ERR_UNSUPPORTED",
               "imports no opset of the default ONNX domain")
    model_case("opset_5.onnx", gemm_model(opset=5), "SEQRT_ERR_UNSUPPORTED",
               "opset 5")

    # Graph structure.
    model_case("empty_graph.onnx", gemm_model(nodes=[], initializers=[]),
               "SEQRT_ERR_INVALID_MODEL", "graph has no nodes")
    cycle = [
        helper.make_node("Relu", ["x", "b_out"], ["a_out"], name="node_a"),
        helper.make_node("Relu", ["a_out"], ["b_out"], name="node_b"),
        helper.make_node("Relu", ["b_out"], ["y"], name="node_c"),
    ]
    model_case("cycle.onnx", gemm_model(nodes=cycle, initializers=[]),
               "SEQRT_ERR_INVALID_MODEL", "cycle")
    dangling = [
        helper.make_node("Gemm", ["x", "fc.weight", "fc.bias"], ["h"],
                         name="/fc/Gemm", transB=1),
        helper.make_node("Add", ["h", "no_such_tensor"], ["y"],
                         name="/add/Add"),
    ]
    model_case("dangling_reference.onnx", gemm_model(nodes=dangling),
               "SEQRT_ERR_INVALID_MODEL", "no_such_tensor")
    duplicate_producer = [
        helper.make_node("Gemm", ["x", "fc.weight", "fc.bias"], ["h"],
                         name="/fc/Gemm", transB=1),
        helper.make_node("Relu", ["h"], ["h"], name="/act/Relu"),
        helper.make_node("Relu", ["h"], ["y"], name="/act2/Relu"),
    ]
    model_case("duplicate_tensor_name.onnx",
               gemm_model(nodes=duplicate_producer),
               "SEQRT_ERR_INVALID_MODEL", "'h'")
    dup_init = gemm_model(initializers=[
        numpy_helper.from_array(w, "fc.weight"),
        numpy_helper.from_array(w, "fc.weight"),
        numpy_helper.from_array(b, "fc.bias")])
    model_case("duplicate_initializer.onnx", dup_init,
               "SEQRT_ERR_INVALID_MODEL", "fc.weight")
    unknown_op = [helper.make_node("FrobnicateV2", ["x"], ["y"],
                                   name="/mystery/Frob")]
    model_case("unknown_op.onnx",
               gemm_model(nodes=unknown_op, initializers=[]),
               "SEQRT_ERR_UNSUPPORTED", "/mystery/Frob")
    branch = [
        helper.make_node("Relu", ["x"], ["a"], name="/left/Relu"),
        helper.make_node("Sigmoid", ["x"], ["c"], name="/right/Sigmoid"),
        helper.make_node("Add", ["a", "c"], ["y"], name="/join/Add"),
    ]
    model_case("branch.onnx", gemm_model(nodes=branch, initializers=[],
                                         outputs=[value("y", ["batch", 4])]),
               "SEQRT_ERR_NOT_CHAIN", "")

    # Graph input shapes.
    model_case("input_zero_dim.onnx", gemm_model(input_dims=("batch", 0)),
               "SEQRT_ERR_INVALID_MODEL", "every dim must be positive")
    model_case("input_negative_dim.onnx", gemm_model(input_dims=("batch", -4)),
               "SEQRT_ERR_INVALID_MODEL", "every dim must be positive")
    model_case("input_rank_9.onnx",
               gemm_model(input_dims=["batch"] + [1] * 7 + [4]),
               "SEQRT_ERR_UNSUPPORTED", "rank 9")
    model_case("input_double.onnx",
               gemm_model(inputs=[value("x", ["batch", 4], TensorProto.DOUBLE)]),
               "SEQRT_ERR_UNSUPPORTED", "element type DOUBLE")
    no_shape = gemm_model(inputs=[helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, None)])
    model_case("input_without_shape.onnx", no_shape,
               "SEQRT_ERR_INVALID_MODEL", "has no tensor shape")
    # A declared activation of 2^32 floats per sample: refused at load
    # (the memory limit), not when a run allocates it.
    big = [helper.make_node("Relu", ["x"], ["y"], name="/act/Relu")]
    model_case("activation_over_limit.onnx",
               gemm_model(nodes=big, initializers=[],
                          input_dims=("batch", 65536, 65536),
                          outputs=[value("y", ["batch", 65536, 65536])]),
               "SEQRT_ERR_LIMIT",
               "layer 'act' (ReLU) needs activation buffers of 17179869184 "
               "bytes per sample")

    # Initializers: ranks, dims, sizes, types.
    model_case("weight_rank_9.onnx",
               gemm_model(w_tensor=raw_tensor("fc.weight", [1] * 9)),
               "SEQRT_ERR_UNSUPPORTED", "tensor 'fc.weight' has rank 9")
    model_case("weight_negative_dim.onnx",
               gemm_model(w_tensor=raw_tensor("fc.weight", [3, -4])),
               "SEQRT_ERR_INVALID_MODEL", "tensor 'fc.weight' has a negative dim")
    model_case("weight_count_overflow.onnx",
               gemm_model(w_tensor=raw_tensor("fc.weight", [1 << 31] * 3)),
               "SEQRT_ERR_INVALID_MODEL",
               "tensor 'fc.weight': the element count overflows")
    model_case("weight_over_limit.onnx",
               gemm_model(w_tensor=raw_tensor("fc.weight", [1 << 20, 1 << 12])),
               "SEQRT_ERR_LIMIT", "memory limit")
    model_case("weight_zero_dim.onnx",
               gemm_model(w_tensor=raw_tensor("fc.weight", [3, 0])),
               "SEQRT_ERR_INVALID_MODEL",
               "node '/fc/Gemm' (Gemm): weights of shape [3, 0]")
    model_case("raw_data_too_short.onnx",
               gemm_model(w_tensor=raw_tensor("fc.weight", [3, 4],
                                              raw=w.tobytes()[:40])),
               "SEQRT_ERR_INVALID_MODEL",
               "tensor 'fc.weight' has 40 bytes of raw_data, expected 48")
    model_case("raw_data_too_long.onnx",
               gemm_model(w_tensor=raw_tensor("fc.weight", [3, 4],
                                              raw=w.tobytes() + b"\0" * 4)),
               "SEQRT_ERR_INVALID_MODEL",
               "tensor 'fc.weight' has 52 bytes of raw_data, expected 48")
    typed = raw_tensor("fc.weight", [3, 4])
    typed.ClearField("raw_data")
    typed.float_data.extend(w.flatten()[:5].tolist())
    model_case("float_data_count.onnx", gemm_model(w_tensor=typed),
               "SEQRT_ERR_INVALID_MODEL",
               "tensor 'fc.weight' has 5 values in float_data, expected 12")
    model_case("weight_no_type.onnx",
               gemm_model(w_tensor=raw_tensor("fc.weight", [3, 4], 0,
                                              w.tobytes())),
               "SEQRT_ERR_INVALID_MODEL", "tensor 'fc.weight' has no element type")
    strings = raw_tensor("fc.weight", [3, 4], TensorProto.STRING)
    model_case("weight_string_type.onnx", gemm_model(w_tensor=strings),
               "SEQRT_ERR_UNSUPPORTED", "element type STRING")
    # data_location 7 (not in the enum): spliced in as raw wire bytes.
    bad_location = TensorProto()
    bad_location.ParseFromString(
        raw_tensor("fc.weight", [3, 4], raw=w.tobytes()).SerializeToString() +
        field(14, 0, varint(7)))
    model_case("data_location_unknown.onnx", gemm_model(w_tensor=bad_location),
               "SEQRT_ERR_INVALID_MODEL", "unknown data_location 7")
    segmented = raw_tensor("fc.weight", [3, 4], raw=w.tobytes())
    segmented.segment.begin = 0
    segmented.segment.end = 12
    model_case("segmented_tensor.onnx", gemm_model(w_tensor=segmented),
               "SEQRT_ERR_UNSUPPORTED", "segmented")

    # Attributes: wrong types, unknown names, oversized values.
    wrong_type = gemm_model()
    wrong_type.graph.node[0].attribute[0].type = onnx.AttributeProto.FLOAT
    model_case("attribute_wrong_type.onnx", wrong_type,
               "SEQRT_ERR_INVALID_MODEL", "/fc/Gemm")
    unknown_attr = gemm_model()
    unknown_attr.graph.node[1].attribute.extend(
        [helper.make_attribute("not_an_onnx_attribute", 42)])
    model_case("attribute_unknown.onnx", unknown_attr, "OK", "")
    conv = [helper.make_node("Conv", ["x", "k"], ["y"], name="/conv/Conv",
                             kernel_shape=[1] * 40)]
    model_case("attribute_kernel_rank_40.onnx",
               gemm_model(nodes=conv, initializers=[
                   numpy_helper.from_array(np.ones((1, 1, 1), np.float32),
                                           "k")],
                   input_dims=("batch", 1, 8),
                   outputs=[value("y", ["batch", 1, 8])]),
               "SEQRT_ERR_INVALID_MODEL", "/conv/Conv")
    long_string = [helper.make_node("Conv", ["x", "k"], ["y"],
                                    name="/conv/Conv",
                                    auto_pad="X" * 65536)]
    model_case("attribute_string_64k.onnx",
               gemm_model(nodes=long_string, initializers=[
                   numpy_helper.from_array(np.ones((1, 1, 1), np.float32),
                                           "k")],
                   input_dims=("batch", 1, 8),
                   outputs=[value("y", ["batch", 1, 8])]),
               "SEQRT_ERR_INVALID_MODEL",
               "node '/conv/Conv' (Conv): attribute 'auto_pad' is not a short")
    long_name = gemm_model()
    long_name.graph.node[1].name = "/" + "n" * 100000 + "/Relu"
    model_case("node_name_100k.onnx", long_name, "OK", "")

    # External data: confined to the model's folder, checked against the
    # file; a model loaded from memory has no folder.
    with open(os.path.join(MODELS, "weights.bin"), "wb") as f:
        f.write(b"\0" * 16 + w.tobytes())
    ext = lambda entries: gemm_model(  # noqa: E731
        w_tensor=external_tensor("fc.weight", [3, 4], entries))
    path = write("external_ok.onnx",
                 ext([("location", "weights.bin"), ("offset", "16"),
                      ("length", "48")]))
    expect("file", path, "OK")
    expect("buffer", path, "SEQRT_ERR_UNSUPPORTED", "loaded from memory")
    model_case("external_absolute.onnx",
               ext([("location", "/etc/passwd")]),
               "SEQRT_ERR_INVALID_MODEL", "absolute path", kinds=("file",))
    model_case("external_dotdot.onnx",
               ext([("location", "../malformed/models/weights.bin")]),
               "SEQRT_ERR_INVALID_MODEL", "contains '..'", kinds=("file",))
    model_case("external_dotdot_inner.onnx",
               ext([("location", "sub/../../weights.bin")]),
               "SEQRT_ERR_INVALID_MODEL", "contains '..'", kinds=("file",))
    model_case("external_no_location.onnx", ext([("offset", "0")]),
               "SEQRT_ERR_INVALID_MODEL", "has no location")
    model_case("external_missing_file.onnx",
               ext([("location", "no_such_weights.bin")]),
               "SEQRT_ERR_IO", "no_such_weights.bin", kinds=("file",))
    model_case("external_offset_beyond.onnx",
               ext([("location", "weights.bin"), ("offset", "4096")]),
               "SEQRT_ERR_INVALID_MODEL", "beyond the end of the file",
               kinds=("file",))
    model_case("external_length_wrong.onnx",
               ext([("location", "weights.bin"), ("length", "44")]),
               "SEQRT_ERR_INVALID_MODEL",
               "external data length 44 does not match", kinds=("file",))
    model_case("external_offset_text.onnx",
               ext([("location", "weights.bin"), ("offset", "12abc")]),
               "SEQRT_ERR_INVALID_MODEL", "offset '12abc'", kinds=("file",))
    model_case("external_offset_negative.onnx",
               ext([("location", "weights.bin"), ("offset", "-16")]),
               "SEQRT_ERR_INVALID_MODEL", "offset '-16'", kinds=("file",))
    model_case("external_offset_huge.onnx",
               ext([("location", "weights.bin"),
                    ("offset", "9223372036854775807")]),
               "SEQRT_ERR_INVALID_MODEL", "beyond the end of the file",
               kinds=("file",))
    model_case("external_folder.onnx", ext([("location", ".")]),
               "SEQRT_ERR_IO", "not a regular file", kinds=("file",))


# ---- run-time inputs -----------------------------------------------------------


def npy_bytes(header, payload, version=1):
    header = header + " " * ((64 - (len(header) + 11) % 64) % 64) + "\n"
    if version == 1:
        pre = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header))
    else:
        pre = b"\x93NUMPY\x02\x00" + struct.pack("<I", len(header))
    return pre + header.encode("latin1") + payload


def npy_header(descr="<f4", fortran=False, shape=(2, 4)):
    shape_text = "(" + "".join("%d, " % d for d in shape).rstrip(" ") + ")"
    if len(shape) > 1:
        shape_text = shape_text.replace(",)", ")")
    return "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, fortran, shape_text)


def write_input(name, data):
    with open(os.path.join(INPUTS, name), "wb") as f:
        f.write(data)
    return "inputs/" + name


def tensor_case(name, data, status, message):
    expect("tensor", write_input(name, data), status, message)


def pb_tensor(dims, data_type, raw=None, floats=None):
    t = TensorProto()
    t.dims.extend(dims)
    t.data_type = data_type
    if raw is not None:
        t.raw_data = raw
    if floats is not None:
        t.float_data.extend(floats)
    return t.SerializeToString()


def inputs():
    os.makedirs(INPUTS, exist_ok=True)
    x = np.arange(8, dtype=np.float32).reshape(2, 4) / 8
    good = npy_bytes(npy_header(), x.tobytes())
    tensor_case("valid.npy", good, "OK", "")
    tensor_case("valid_v2.npy", npy_bytes(npy_header(), x.tobytes(), 2),
                "OK", "")
    tensor_case("empty.npy", b"", "ERROR", "bad magic")
    tensor_case("bad_magic.npy", b"\x93NUMPZ" + good[6:], "ERROR", "bad magic")
    tensor_case("truncated_header.npy", good[:40], "ERROR",
                "truncated .npy header")
    tensor_case("truncated_data.npy", good[:-5], "ERROR",
                "truncated data: header declares 32 bytes, file has 27")
    tensor_case("version_9.npy", good[:6] + b"\x09" + good[7:], "ERROR",
                "format version 9 is not supported")
    tensor_case("big_endian.npy",
                npy_bytes(npy_header(">f4"), x.byteswap().tobytes()), "ERROR",
                "big-endian")
    tensor_case("float64.npy",
                npy_bytes(npy_header("<f8"), x.astype(np.float64).tobytes()),
                "ERROR", "expected little-endian float32 ('<f4') or int64")
    tensor_case("fortran_order.npy",
                npy_bytes(npy_header(fortran=True), x.T.tobytes()), "ERROR",
                "Fortran-order data is not supported")
    tensor_case("no_descr.npy",
                npy_bytes("{'fortran_order': False, 'shape': (2, 4), }",
                          x.tobytes()), "ERROR", "header has no 'descr'")
    tensor_case("no_shape.npy",
                npy_bytes("{'descr': '<f4', 'fortran_order': False, }",
                          x.tobytes()), "ERROR", "header has no 'shape'")
    tensor_case("shape_garbage.npy",
                npy_bytes("{'descr': '<f4', 'fortran_order': False, "
                          "'shape': (2, x), }", x.tobytes()),
                "ERROR", "malformed 'shape'")
    tensor_case("rank_9.npy",
                npy_bytes(npy_header(shape=(1,) * 9), b"\0" * 4), "ERROR",
                "rank exceeds 8")
    tensor_case("huge_dims.npy",
                npy_bytes(npy_header(shape=(2147483647, 2147483647, 2147483647)),
                          b""), "ERROR", "array too large")
    tensor_case("dim_out_of_range.npy",
                npy_bytes(npy_header(shape=(99999999999,)), b""), "ERROR",
                "dimension out of range")

    tensor_case("valid.pb", pb_tensor([2, 4], 1, raw=x.tobytes()), "OK", "")
    tensor_case("valid_float_data.pb",
                pb_tensor([2, 4], 1, floats=x.flatten().tolist()), "OK", "")
    tensor_case("truncated.pb", pb_tensor([2, 4], 1, raw=x.tobytes())[:-3],
                "ERROR", "malformed TensorProto")
    tensor_case("double.pb",
                pb_tensor([2, 4], 11, raw=x.astype(np.float64).tobytes()),
                "ERROR", "data_type 11 is not supported: expected FLOAT (1)")
    tensor_case("size_mismatch.pb", pb_tensor([2, 5], 1, raw=x.tobytes()),
                "ERROR", "10 elements of float32 need 40 bytes, the data has 32")
    tensor_case("huge_dims.pb",
                pb_tensor([2147483647, 2147483647], 1, raw=b""),
                "ERROR", "TensorProto")
    tensor_case("huge_dims_int64.pb",
                pb_tensor([1 << 20, 1 << 20], 7, raw=None), "ERROR",
                "TensorProto")

    # Well-formed tensors the model does not take: the run says what the
    # model expects.
    wrong = write_input("shape_2x5.npy",
                        npy_bytes(npy_header(shape=(2, 5)), b"\0" * 40))
    expect("run", "models/valid.onnx|" + wrong, "SEQRT_ERR_INVALID_ARGUMENT",
           "input shape [2, 5] does not match the model's [-1, 4]")
    rank3 = write_input("rank3.npy",
                        npy_bytes(npy_header(shape=(2, 4, 1)), b"\0" * 32))
    expect("run", "models/valid.onnx|" + rank3, "SEQRT_ERR_INVALID_ARGUMENT",
           "input shape [2, 4, 1] does not match the model's [-1, 4]")
    ints = write_input("int64.npy",
                       npy_bytes(npy_header("<i8"), b"\0" * 64))
    expect("run", "models/valid.onnx|" + ints, "SEQRT_ERR_INVALID_ARGUMENT",
           "dtype int64, the model expects float32")
    expect("run", "models/valid.onnx|inputs/valid.npy", "OK")


def main():
    models()
    inputs()
    with open(os.path.join(HERE, "expected.tsv"), "w") as f:
        f.write("# kind\tpath\tstatus\tmessage (written by make_corpus.py)\n")
        for case in cases:
            f.write("\t".join(case) + "\n")
    print("%d cases written to %s" % (len(cases), HERE))


if __name__ == "__main__":
    sys.exit(main())
