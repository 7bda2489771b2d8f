"""Models in the form of the newer torch exporter (torch >= 2.9's default,
torch.onnx.export(..., dynamo=True)), built with onnx.helper because that
torch cannot be installed here.

What this form has that the TorchScript exporter's (opsets 7-17) has not:
  - opset 18 and above: ReduceMean axes as an input, Split num_outputs,
    Pad axes input (18) and mode wrap (19), Resize axes (18),
    LayerNormalization, Mish (18), Gelu (20), GroupNormalization (21);
  - onnxscript's decompositions (GELU as x * ((erf(x/sqrt2) + 1) * 0.5),
    Softplus with PyTorch's threshold as a Where);
  - weights in one external-data file `model.onnx.data` next to the model,
    each tensor at an aligned `offset` with its `length`;
  - FX-style node names ("node_Conv_0") and tensor names ("conv2d"), the
    module path in each node's metadata_props (pkg.torch.onnx.name_scopes,
    pkg.torch.onnx.class_hierarchy), IR version 10.

Each case pairs the ONNX graph with the PyTorch module it stands for; the
expected output is that module's, computed here with torch 1.13 from the
same weights.

Command line (with /usr/bin/python3, which has torch and onnx):
    make_opset18_models.py OUT_DIR [--case NAME ...] [--batch N] [--list]
writes OUT_DIR/NAME/{model.onnx, model.onnx.data, input.npy, expected.npy,
case.json} per case and prints one line per case.

Python:
    import make_opset18_models as m18
    m18.CASES                      # names, in order
    info = m18.build_case(name, out_dir, batch=2, seed=0)
    # info: {"name", "dir", "model", "input", "expected" (None when the
    #        model must be rejected), "opset", "kinds" (the seqrt layer
    #        kinds expected, e.g. ["Conv", "GELU"]), "error" (a substring of
    #        seqrt's message when the model must be rejected, else None),
    #        "note"}
"""

import argparse
import json
import os
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

DATA_FILE = "model.onnx.data"
ALIGN = 64  # the exporter aligns external tensors


def _varint(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number, payload):
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def add_metadata(node, entries):
    """NodeProto.metadata_props (field 9, onnx >= 1.16) on any onnx version:
    older python bindings keep it as an unknown field and write it back."""
    if hasattr(node, "metadata_props"):
        for key, value in entries.items():
            entry = node.metadata_props.add()
            entry.key, entry.value = key, value
        return
    extra = b"".join(
        _field(9, _field(1, k.encode()) + _field(2, v.encode()))
        for k, v in entries.items())
    node.ParseFromString(node.SerializeToString() + extra)


class Builder:
    """An ONNX graph in the newer exporter's style."""

    def __init__(self, opset, input_shape, input_type=TensorProto.FLOAT):
        self.opset = opset
        self.nodes = []
        self.inits = []  # (name, array)
        self.count = 0
        self.input = helper.make_tensor_value_info(
            "x", input_type, ["batch"] + list(input_shape[1:]))

    def weight(self, name, array):
        self.inits.append((name, np.ascontiguousarray(array)))
        return name

    def const(self, name, value, dtype=np.float32):
        return self.weight(name, np.array(value, dtype=dtype))

    def node(self, op, inputs, module, cls, target, n_out=1, **attrs):
        """A node named node_<Op>_<k> whose outputs are FX-style names; its
        module path and class go to metadata_props."""
        k = self.count
        self.count += 1
        outs = [f"{target.split('.')[1] if '.' in target else op.lower()}_{k}"
                + (f"_{i}" if i else "") for i in range(n_out)]
        n = helper.make_node(op, inputs, outs, name=f"node_{op}_{k}", **attrs)
        scopes = ["", module, target.split(".")[1] if "." in target else op]
        hierarchy = ["torch.nn.modules.container.Sequential", cls, target]
        if not module:
            scopes, hierarchy = scopes[::2], hierarchy[::2]
        add_metadata(n, {"pkg.torch.onnx.name_scopes": repr(scopes),
                         "pkg.torch.onnx.class_hierarchy": repr(hierarchy)})
        self.nodes.append(n)
        return outs if n_out > 1 else outs[0]

    def save(self, folder, output, out_shape):
        """model.onnx + model.onnx.data (every initializer external)."""
        os.makedirs(folder, exist_ok=True)
        blob = bytearray()
        tensors = []
        for name, array in self.inits:
            t = numpy_helper.from_array(array, name)
            raw = t.raw_data
            offset = (len(blob) + ALIGN - 1) // ALIGN * ALIGN
            blob.extend(b"\0" * (offset - len(blob)))
            blob.extend(raw)
            t.ClearField("raw_data")
            t.data_location = TensorProto.EXTERNAL
            for key, value in (("location", DATA_FILE), ("offset", str(offset)),
                               ("length", str(len(raw)))):
                entry = t.external_data.add()
                entry.key, entry.value = key, value
            tensors.append(t)
        out = helper.make_tensor_value_info(output, TensorProto.FLOAT,
                                            ["batch"] + list(out_shape[1:]))
        graph = helper.make_graph(self.nodes, "main_graph", [self.input], [out],
                                  tensors)
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", self.opset)],
            producer_name="pytorch", producer_version="2.9.0")
        model.ir_version = 10
        with open(os.path.join(folder, DATA_FILE), "wb") as f:
            f.write(bytes(blob))
        with open(os.path.join(folder, "model.onnx"), "wb") as f:
            f.write(model.SerializeToString())


def np32(t):
    return t.detach().numpy().astype(np.float32)


# ---- cases: each returns (builder, output name, module, input, kinds) -----

def case_conv_gelu20(batch):
    conv = nn.Conv2d(3, 4, 3, padding=1)
    module = nn.Sequential(conv, nn.GELU())
    b = Builder(20, (batch, 3, 8, 8))
    y = b.node("Conv", ["x", b.weight("0.weight", np32(conv.weight)),
                        b.weight("0.bias", np32(conv.bias))],
               "0", "torch.nn.modules.conv.Conv2d", "aten.conv2d.default",
               pads=[1, 1, 1, 1], kernel_shape=[3, 3])
    y = b.node("Gelu", [y], "1", "torch.nn.modules.activation.GELU",
               "aten.gelu.default", approximate="none")
    return b, y, module, torch.randn(batch, 3, 8, 8), ["Conv", "GELU"]


def case_linear_gelu_onnxscript(batch):
    fc = nn.Linear(8, 16)
    module = nn.Sequential(fc, nn.GELU())
    b = Builder(18, (batch, 8))
    cls, tgt = "torch.nn.modules.activation.GELU", "aten.gelu.default"
    h = b.node("Gemm", ["x", b.weight("0.weight", np32(fc.weight)),
                        b.weight("0.bias", np32(fc.bias))],
               "0", "torch.nn.modules.linear.Linear", "aten.linear.default",
               transB=1)
    d = b.node("Div", [h, b.const("val_0", 1.4142135381698608)], "1", cls, tgt)
    e = b.node("Erf", [d], "1", cls, tgt)
    a = b.node("Add", [e, b.const("val_1", 1.0)], "1", cls, tgt)
    hm = b.node("Mul", [b.const("val_2", 0.5), a], "1", cls, tgt)
    y = b.node("Mul", [h, hm], "1", cls, tgt)
    return b, y, module, torch.randn(batch, 8), ["Linear", "GELU"]


def case_layernorm18(batch):
    fc = nn.Linear(8, 16)
    ln = nn.LayerNorm(16)
    with torch.no_grad():
        ln.weight.uniform_(0.5, 1.5)
        ln.bias.uniform_(-0.5, 0.5)
    module = nn.Sequential(fc, ln)
    b = Builder(18, (batch, 5, 8))
    h = b.node("MatMul", ["x", b.weight("val_0", np32(fc.weight.T))], "0",
               "torch.nn.modules.linear.Linear", "aten.linear.default")
    h = b.node("Add", [h, b.weight("0.bias", np32(fc.bias))], "0",
               "torch.nn.modules.linear.Linear", "aten.linear.default")
    y = b.node("LayerNormalization",
               [h, b.weight("1.weight", np32(ln.weight)),
                b.weight("1.bias", np32(ln.bias))],
               "1", "torch.nn.modules.normalization.LayerNorm",
               "aten.layer_norm.default", axis=-1, epsilon=1e-5)
    return b, y, module, torch.randn(batch, 5, 8), ["Linear", "LayerNorm"]


def case_layernorm_reducemean18(batch):
    """The decomposition with the axes as ReduceMean inputs (opset 18)."""
    ln = nn.LayerNorm((4, 6), elementwise_affine=False)
    module = nn.Sequential(ln)
    b = Builder(18, (batch, 3, 4, 6))
    cls, tgt = "torch.nn.modules.normalization.LayerNorm", "aten.layer_norm"
    axes = b.const("val_axes", [-2, -1], np.int64)
    m = b.node("ReduceMean", ["x", axes], "0", cls, tgt)
    s = b.node("Sub", ["x", m], "0", cls, tgt)
    p = b.node("Pow", [s, b.const("val_2", 2.0)], "0", cls, tgt)
    v = b.node("ReduceMean", [p, axes], "0", cls, tgt)
    e = b.node("Add", [v, b.const("val_eps", 1e-5)], "0", cls, tgt)
    r = b.node("Sqrt", [e], "0", cls, tgt)
    y = b.node("Div", [s, r], "0", cls, tgt)
    return b, y, module, torch.randn(batch, 3, 4, 6), ["LayerNorm"]


def case_glu18(batch):
    module = nn.Sequential(nn.GLU(dim=1))
    b = Builder(18, (batch, 6, 5))
    cls, tgt = "torch.nn.modules.activation.GLU", "aten.glu.default"
    a, c = b.node("Split", ["x"], "0", cls, tgt, n_out=2, axis=1,
                  num_outputs=2)
    s = b.node("Sigmoid", [c], "0", cls, tgt)
    y = b.node("Mul", [a, s], "0", cls, tgt)
    return b, y, module, torch.randn(batch, 6, 5), ["GLU"]


def case_pad18_reflect_conv(batch):
    conv = nn.Conv2d(2, 3, 3)
    module = nn.Sequential(nn.ReflectionPad2d((1, 2, 2, 1)), conv)
    b = Builder(18, (batch, 2, 6, 7))
    # axes input (opset 18): pads for H then W
    p = b.node("Pad", ["x", b.const("val_pads", [2, 1, 1, 2], np.int64), "",
                       b.const("val_axes", [2, 3], np.int64)],
               "0", "torch.nn.modules.padding.ReflectionPad2d",
               "aten.reflection_pad2d.default", mode="reflect")
    y = b.node("Conv", [p, b.weight("1.weight", np32(conv.weight)),
                        b.weight("1.bias", np32(conv.bias))],
               "1", "torch.nn.modules.conv.Conv2d", "aten.conv2d.default",
               kernel_shape=[3, 3])
    return b, y, module, torch.randn(batch, 2, 6, 7), ["Pad", "Conv"]


class CircularPad(nn.Module):
    def forward(self, x):
        return nn.functional.pad(x, (2, 1, 1, 1), mode="circular")


def case_pad19_wrap(batch):
    """Mode wrap (opset 19): a true circular pad, as PyTorch computes."""
    module = nn.Sequential(CircularPad())
    b = Builder(19, (batch, 2, 5, 6))
    y = b.node("Pad", ["x", b.const("val_pads", [0, 0, 1, 2, 0, 0, 1, 1],
                                    np.int64)],
               "0", "__main__.CircularPad", "aten.pad.default", mode="wrap")
    return b, y, module, torch.randn(batch, 2, 5, 6), ["Pad"]


def case_resize18(batch):
    module = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear"),
                           nn.Upsample(scale_factor=2, mode="nearest"))
    b = Builder(18, (batch, 3, 4, 5))
    scales = b.const("val_scales", [2.0, 2.0])
    h = b.node("Resize", ["x", "", scales], "0",
               "torch.nn.modules.upsampling.Upsample",
               "aten.upsample_bilinear2d.vec", axes=[2, 3], mode="linear",
               coordinate_transformation_mode="half_pixel")
    y = b.node("Resize", [h, "", scales], "1",
               "torch.nn.modules.upsampling.Upsample",
               "aten.upsample_nearest2d.vec", axes=[2, 3], mode="nearest",
               coordinate_transformation_mode="asymmetric",
               nearest_mode="floor")
    return b, y, module, torch.randn(batch, 3, 4, 5), ["Upsample", "Upsample"]


def case_mish18_softplus_threshold(batch):
    module = nn.Sequential(nn.Mish(), nn.Softplus(beta=2.0, threshold=20.0))
    b = Builder(18, (batch, 16))
    cls, tgt = "torch.nn.modules.activation.Softplus", "aten.softplus.default"
    h = b.node("Mish", ["x"], "0", "torch.nn.modules.activation.Mish",
               "aten.mish.default")
    s = b.node("Mul", [h, b.const("val_beta", 2.0)], "1", cls, tgt)
    sp = b.node("Softplus", [s], "1", cls, tgt)
    d = b.node("Div", [sp, b.const("val_beta_1", 2.0)], "1", cls, tgt)
    g = b.node("Greater", [s, b.const("val_thr", 20.0)], "1", cls, tgt)
    y = b.node("Where", [g, h, d], "1", cls, tgt)
    return b, y, module, torch.randn(batch, 16) * 4, ["Mish", "Softplus"]


def case_groupnorm21(batch):
    gn = nn.GroupNorm(2, 4)
    with torch.no_grad():
        gn.weight.uniform_(0.5, 1.5)
        gn.bias.uniform_(-0.5, 0.5)
    module = nn.Sequential(gn)
    b = Builder(21, (batch, 4, 3, 3))
    y = b.node("GroupNormalization",
               ["x", b.weight("0.weight", np32(gn.weight)),
                b.weight("0.bias", np32(gn.bias))],
               "0", "torch.nn.modules.normalization.GroupNorm",
               "aten.group_norm.default", num_groups=2, epsilon=1e-5)
    return b, y, module, torch.randn(batch, 4, 3, 3), ["GroupNorm"]


def case_embedding18(batch):
    emb = nn.Embedding(20, 8)
    module = nn.Sequential(emb, nn.ReLU())
    b = Builder(18, (batch, 5), TensorProto.INT64)
    h = b.node("Gather", [b.weight("0.weight", np32(emb.weight)), "x"], "0",
               "torch.nn.modules.sparse.Embedding", "aten.embedding.default")
    y = b.node("Relu", [h], "1", "torch.nn.modules.activation.ReLU",
               "aten.relu.default")
    return b, y, module, torch.randint(0, 20, (batch, 5)), ["Embedding", "ReLU"]


def case_newer_opset_known_ops(batch):
    """Opset 30 (newer than seqrt knows) using only known ops: loads."""
    fc = nn.Linear(8, 4)
    module = nn.Sequential(fc, nn.Tanh())
    b = Builder(30, (batch, 8))
    h = b.node("Gemm", ["x", b.weight("0.weight", np32(fc.weight)),
                        b.weight("0.bias", np32(fc.bias))],
               "0", "torch.nn.modules.linear.Linear", "aten.linear.default",
               transB=1)
    y = b.node("Tanh", [h], "1", "torch.nn.modules.activation.Tanh",
               "aten.tanh.default")
    return b, y, module, torch.randn(batch, 8), ["Linear", "Tanh"]


def case_newer_opset_unknown_op(batch):
    """Opset 30 with an op seqrt does not know: rejected, naming the op,
    the opset and the fix."""
    module = nn.Sequential(nn.SiLU())
    b = Builder(30, (batch, 8))
    y = b.node("Swish", ["x"], "0", "torch.nn.modules.activation.SiLU",
               "aten.silu.default")
    return b, y, module, torch.randn(batch, 8), []


CASES = {
    "conv_gelu20": (case_conv_gelu20, None),
    "linear_gelu_onnxscript": (case_linear_gelu_onnxscript, None),
    "layernorm18": (case_layernorm18, None),
    "layernorm_reducemean18": (case_layernorm_reducemean18, None),
    "glu18": (case_glu18, None),
    "pad18_reflect_conv": (case_pad18_reflect_conv, None),
    "pad19_wrap": (case_pad19_wrap, None),
    "resize18": (case_resize18, None),
    "mish18_softplus_threshold": (case_mish18_softplus_threshold, None),
    "groupnorm21": (case_groupnorm21, None),
    "embedding18": (case_embedding18, None),
    "newer_opset_known_ops": (case_newer_opset_known_ops, None),
    "newer_opset_unknown_op": (case_newer_opset_unknown_op,
                               "unsupported op 'Swish' in node 'node_Swish_0'"),
}


def build_case(name, out_dir, batch=2, seed=0):
    """Write case `name` into out_dir/name; return its description."""
    make, error = CASES[name]
    torch.manual_seed(seed)
    builder, output, module, x, kinds = make(batch)
    module.eval()
    folder = os.path.join(out_dir, name)
    with torch.no_grad():
        want = module(x)
    builder.save(folder, output, tuple(want.shape))
    np.save(os.path.join(folder, "input.npy"), x.numpy())
    expected = None
    if error is None:
        expected = os.path.join(folder, "expected.npy")
        np.save(expected, want.numpy().astype(np.float32))
    info = {"name": name, "dir": folder,
            "model": os.path.join(folder, "model.onnx"),
            "input": os.path.join(folder, "input.npy"),
            "expected": expected, "opset": builder.opset, "kinds": kinds,
            "error": error,
            "note": (make.__doc__ or "").strip().replace("\n", " ")}
    with open(os.path.join(folder, "case.json"), "w") as f:
        json.dump(info, f, indent=1)
    return info


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", nargs="?")
    parser.add_argument("--case", action="append", choices=sorted(CASES))
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(CASES))
        return 0
    if not args.out_dir:
        parser.error("OUT_DIR is needed")
    for name in args.case or list(CASES):
        info = build_case(name, args.out_dir, args.batch)
        print(f"{name}: opset {info['opset']}, kinds {info['kinds']}"
              + (f", rejected: {info['error']}" if info["error"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
