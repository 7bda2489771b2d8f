"""Layer coverage, the newer exporter's form (the "18+" column of the table).

torch >= 2.5's exporter (torch.onnx.export(..., dynamo=True)) writes models
unlike torch 1.13's: opset 18 and later, IR version 10, every initializer
in an external file model.onnx.data, node names from the FX graph
('node_Gemm_0', 'node_relu') instead of module scopes ('/0/Gemm'), the
module path in each node's metadata_props (pkg.torch.onnx.name_scopes,
namespace, class_hierarchy), the output named after its FX value
('linear_1'), opset-18 signatures (Pad with `axes`, ReduceMean with axes as
an input, Resize with antialias/keep_aspect_ratio_policy), Gelu at opset 20
and Pad(mode='wrap') for circular padding at opset 19.

torch 1.13 cannot write this form, so the models are built here with
onnx.helper from PyTorch modules (their weights) and compared with those
modules at batch 1 and 3; onnx_numpy first checks each built graph computes
its module. onnx 1.12's NodeProto has no metadata_props field: it is added
as the raw protobuf field 9 (kept as an unknown field, serialised as is).
"""

import collections
import os
import unittest

import numpy as np
import onnx.numpy_helper
from onnx import TensorProto, helper
from torch import nn

import e2e_common as e2e
import layer_suite as ls
from layer_suite import FormCase, L, seq

SEQUENTIAL = "torch.nn.modules.container.Sequential"
PRODUCER = ("pytorch", "2.6.0")


# ---- node metadata_props (absent from onnx 1.12's NodeProto) ---------------


def _varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number, payload):
    """A length-delimited protobuf field."""
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def add_metadata_props(node, props):
    """NodeProto.metadata_props (field 9, StringStringEntryProto key=1
    value=2), merged in as raw bytes."""
    raw = b"".join(_field(9, _field(1, key.encode()) + _field(2, value.encode())) for key, value in props.items())
    node.MergeFromString(raw)


# ---- an FX-style graph builder -------------------------------------------------


class FxGraph:
    """Builds a graph the way the newer exporter lays it out.

    call(scope, aten) opens one FX node (an ATen op of the module at
    `scope`, the nn.Sequential index); its ONNX nodes carry that module path
    in metadata_props, intermediate values are 'val_<k>' and the last one is
    named after the FX node ('linear', 'linear_1', ...).
    """

    def __init__(self, module, opset, sample_shape, in_dtype=TensorProto.FLOAT, batch="batch"):
        self.module = module
        self.opset = opset
        self.sample_shape = list(sample_shape)
        self.in_dtype = in_dtype
        self.batch = batch
        self.nodes = []
        self.initializers = []
        self.fx_names = collections.Counter()
        self.values = 0
        self.node_numbers = collections.Counter()
        self.state = {name: tensor.detach().numpy() for name, tensor in module.state_dict().items()}

    def param(self, name, dtype=np.float32):
        """The initializer of a module parameter or buffer, by its state-dict
        name ('0.weight')."""
        if not any(name == init_name for init_name, _ in self.initializers):
            self.initializers.append((name, self.state[name].astype(dtype)))
        return name

    def const(self, array):
        name = self._value()
        self.initializers.append((name, np.asarray(array)))
        return name

    def _value(self):
        self.values += 1
        return "val_%d" % self.values

    def call(self, scope, aten):
        return _AtenCall(self, scope, aten)

    def model(self, output, out_sample_shape, out_dtype=TensorProto.FLOAT):
        graph = helper.make_graph(
            self.nodes, "main_graph",
            [helper.make_tensor_value_info("input", self.in_dtype, [self.batch] + self.sample_shape)],
            [helper.make_tensor_value_info(output, out_dtype, [self.batch] + list(out_sample_shape))],
            initializer=[onnx.numpy_helper.from_array(array, name) for name, array in self.initializers],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset),
                                                        helper.make_opsetid("pkg.onnxscript.torch_lib.common", 1)],
                                  producer_name=PRODUCER[0], producer_version=PRODUCER[1])
        model.ir_version = 10
        return model


class _AtenCall:
    """The ONNX nodes of one FX node; see FxGraph.call."""

    def __init__(self, graph, scope, aten):
        self.graph = graph
        self.scope = scope
        self.aten = aten
        base = aten.split(".")[1]
        count = graph.fx_names[base]
        graph.fx_names[base] += 1
        self.fx_name = base if count == 0 else "%s_%d" % (base, count)
        self.last = None

    def __enter__(self):
        return self

    def node(self, op_type, inputs, **attrs):
        graph = self.graph
        number = graph.node_numbers[op_type]
        graph.node_numbers[op_type] += 1
        output = graph._value()
        node = helper.make_node(op_type, list(inputs), [output], name="node_%s_%d" % (op_type, number), **attrs)
        module = graph.module[int(self.scope)]
        class_path = "%s.%s" % (type(module).__module__, type(module).__name__)
        add_metadata_props(node, {
            "namespace": ": %s/%s: %s/%s: %s" % (SEQUENTIAL, self.scope, class_path, self.fx_name, self.aten),
            "pkg.torch.onnx.class_hierarchy": repr([SEQUENTIAL, class_path, self.aten]),
            "pkg.torch.onnx.fx_node": "%%%s : [num_users=1] = call_function[target=torch.ops.%s]" % (
                self.fx_name, self.aten),
            "pkg.torch.onnx.name_scopes": repr(["", self.scope, self.fx_name]),
            "pkg.torch.onnx.stack_trace": 'File "model.py", line 12, in forward',
        })
        graph.nodes.append(node)
        self.last = node
        return output

    def __exit__(self, *exc):
        if exc[0] is None:  # the FX value is the call's last output
            old = self.last.output[0]
            self.last.output[0] = self.fx_name
            self.last.name = "node_%s" % self.fx_name
            for node in self.graph.nodes:
                for i, name in enumerate(node.input):
                    if name == old:
                        node.input[i] = self.fx_name
            self.result = self.fx_name
        return False


def aten(graph, scope, name, op_type, inputs, **attrs):
    """One FX node that is one ONNX node; returns its value name."""
    with graph.call(scope, name) as call:
        call.node(op_type, inputs, **attrs)
    return call.result


def linear(graph, scope, x):
    return aten(graph, scope, "aten.linear.default", "Gemm",
                [x, graph.param("%s.weight" % scope), graph.param("%s.bias" % scope)], transB=1)


def finish(graph, output, case):
    module_out = ls.output_sample_shape(graph.module, case)
    return graph.model(output, module_out)


# ---- the models ----------------------------------------------------------------


def build_mlp(module, opset, case):
    g = FxGraph(module, opset, case.sample_shape, batch="s0")
    x = linear(g, "0", "input")
    x = aten(g, "1", "aten.relu.default", "Relu", [x])
    return finish(g, linear(g, "2", x), case)


def linear_nd(g, scope, x):
    """Linear on input of rank > 2: MatMul with the weight transposed by a
    node (a constant side-graph), then Add."""
    with g.call(scope, "aten.linear.default") as call:
        weight_t = call.node("Transpose", [g.param("%s.weight" % scope)], perm=[1, 0])
        product = call.node("MatMul", [x, weight_t])
        call.node("Add", [product, g.param("%s.bias" % scope)])
    return call.result


def build_linear_3d(module, opset, case):
    g = FxGraph(module, opset, case.sample_shape)
    return finish(g, linear_nd(g, "0", "input"), case)


def build_cnn(module, opset, case):
    """Conv -> BatchNormalization (not folded) -> Relu -> MaxPool ->
    flatten as Reshape(Concat(Shape(x, end=1), [-1])) -> Gemm."""
    g = FxGraph(module, opset, case.sample_shape)
    x = aten(g, "0", "aten.conv2d.default", "Conv", ["input", g.param("0.weight"), g.param("0.bias")],
             dilations=[1, 1], group=1, pads=[1, 1, 1, 1], strides=[1, 1])
    x = aten(g, "1", "aten._native_batch_norm_legit_no_training.default", "BatchNormalization",
             [x, g.param("1.weight"), g.param("1.bias"), g.param("1.running_mean"), g.param("1.running_var")],
             epsilon=1e-5, momentum=0.9, training_mode=0)
    x = aten(g, "2", "aten.relu.default", "Relu", [x])
    x = aten(g, "3", "aten.max_pool2d.default", "MaxPool", [x], ceil_mode=0, dilations=[1, 1],
             kernel_shape=[2, 2], pads=[0, 0, 0, 0], strides=[2, 2])
    with g.call("4", "aten.flatten.using_ints") as call:
        batch = call.node("Shape", [x], start=0, end=1)
        shape = call.node("Concat", [batch, g.const(np.array([-1], np.int64))], axis=0)
        call.node("Reshape", [x, shape], allowzero=0)
    return finish(g, linear(g, "5", call.result), case)


def gelu_decomposed(g, scope, x):
    """torchlib's GELU(approximate='none') before opset 20:
    x * (erf(x / sqrt 2) + 1) * 0.5, x feeding Div and Mul."""
    with g.call(scope, "aten.gelu.default") as call:
        scaled = call.node("Div", [x, g.const(np.array(1.4142135623730951, np.float32))])
        erf = call.node("Erf", [scaled])
        shifted = call.node("Add", [erf, g.const(np.array(1.0, np.float32))])
        product = call.node("Mul", [x, shifted])
        call.node("Mul", [product, g.const(np.array(0.5, np.float32))])
    return call.result


def build_layernorm_gelu(module, opset, case):
    g = FxGraph(module, opset, case.sample_shape)
    x = linear(g, "0", "input")
    x = aten(g, "1", "aten.layer_norm.default", "LayerNormalization", [x, g.param("1.weight"), g.param("1.bias")],
             axis=-1, epsilon=1e-5, stash_type=1)
    return finish(g, gelu_decomposed(g, "2", x), case)


def build_layernorm_2d(module, opset, case):
    g = FxGraph(module, opset, case.sample_shape)
    x = aten(g, "0", "aten.conv2d.default", "Conv", ["input", g.param("0.weight"), g.param("0.bias")],
             dilations=[1, 1], group=1, pads=[1, 1, 1, 1], strides=[1, 1])
    x = aten(g, "1", "aten.layer_norm.default", "LayerNormalization", [x, g.param("1.weight"), g.param("1.bias")],
             axis=-2, epsilon=1e-5, stash_type=1)
    return finish(g, x, case)


def build_gelu_op(module, opset, case):
    """Gelu is an ONNX op from opset 20."""
    g = FxGraph(module, opset, case.sample_shape)
    x = linear(g, "0", "input")
    x = aten(g, "1", "aten.gelu.default", "Gelu", [x], approximate="none")
    x = linear(g, "2", x)
    return finish(g, aten(g, "3", "aten.gelu.default", "Gelu", [x], approximate="tanh"), case)


def build_pads(module, opset, case):
    """ConstantPad2d as Pad with the opset-18 `axes` input (negative axes),
    then ReflectionPad2d with pads for every axis."""
    g = FxGraph(module, opset, case.sample_shape)
    left, right, top, bottom = module[0].padding
    x = aten(g, "0", "aten.constant_pad_nd.default", "Pad",
             ["input", g.const(np.array([top, left, bottom, right], np.int64)),
              g.const(np.array(module[0].value, np.float32)), g.const(np.array([-2, -1], np.int64))], mode="constant")
    left, right, top, bottom = module[1].padding
    x = aten(g, "1", "aten.reflection_pad2d.default", "Pad",
             [x, g.const(np.array([0, 0, top, left, 0, 0, bottom, right], np.int64))], mode="reflect")
    return finish(g, x, case)


def build_circular_conv(module, opset, case):
    """padding_mode='circular' as Pad(mode='wrap') (opset 19) -> Conv: the
    PyTorch semantics, unlike torch 1.13's Slice/Concat export."""
    g = FxGraph(module, opset, case.sample_shape)
    conv = module[0]
    spatial = len(conv.padding)
    pads = [0, 0] + list(conv.padding)
    with g.call("0", "aten.conv%dd.default" % spatial) as call:
        padded = call.node("Pad", ["input", g.const(np.array(pads + pads, np.int64))], mode="wrap")
        call.node("Conv", [padded, g.param("0.weight"), g.param("0.bias")], dilations=[1] * spatial, group=1,
                  pads=[0] * (2 * spatial), strides=list(conv.stride))
    return finish(g, call.result, case)


RESIZE_ATTRS = dict(antialias=0, cubic_coeff_a=-0.75, exclude_outside=0, extrapolation_value=0.0,
                    keep_aspect_ratio_policy="stretch")


def build_upsample(module, opset, case):
    """Bilinear by scales (pytorch_half_pixel), then nearest by sizes
    computed from Shape(x): the opset-18 Resize with its new attributes."""
    g = FxGraph(module, opset, case.sample_shape)
    x = aten(g, "0", "aten.conv2d.default", "Conv", ["input", g.param("0.weight"), g.param("0.bias")],
             dilations=[1, 1], group=1, pads=[1, 1, 1, 1], strides=[1, 1])
    x = aten(g, "1", "aten.upsample_bilinear2d.vec", "Resize",
             [x, "", g.const(np.array([1.0, 1.0, 2.0, 2.0], np.float32))], mode="linear",
             coordinate_transformation_mode="pytorch_half_pixel", nearest_mode="floor", **RESIZE_ATTRS)
    with g.call("2", "aten.upsample_nearest2d.vec") as call:
        leading = call.node("Shape", [x], start=0, end=2)
        sizes = call.node("Concat", [leading, g.const(np.array(module[2].size, np.int64))], axis=0)
        call.node("Resize", [x, "", "", sizes], mode="nearest", coordinate_transformation_mode="asymmetric",
                  nearest_mode="floor", **RESIZE_ATTRS)
    return finish(g, call.result, case)


def build_softmax(module, opset, case):
    g = FxGraph(module, opset, case.sample_shape)
    x = linear(g, "0", "input")
    x = aten(g, "1", "aten._softmax.default", "Softmax", [x], axis=-1)
    x = linear(g, "2", x)
    return finish(g, aten(g, "3", "aten._log_softmax.default", "LogSoftmax", [x], axis=1), case)


def build_embedding(module, opset, case):
    g = FxGraph(module, opset, case.sample_shape, in_dtype=TensorProto.INT64, batch="s0")
    x = aten(g, "0", "aten.embedding.default", "Gather", [g.param("0.weight"), "input"], axis=0)
    return finish(g, linear_nd(g, "1", x), case)


def build_silu_hardswish(module, opset, case):
    g = FxGraph(module, opset, case.sample_shape)
    x = linear(g, "0", "input")
    with g.call("1", "aten.silu.default") as call:
        gate = call.node("Sigmoid", [x])
        call.node("Mul", [x, gate])
    x = linear(g, "2", call.result)
    return finish(g, aten(g, "3", "aten.hardswish.default", "HardSwish", [x]), case)


def build_avgpool(module, opset, case):
    g = FxGraph(module, opset, case.sample_shape)
    x = aten(g, "0", "aten.conv2d.default", "Conv", ["input", g.param("0.weight"), g.param("0.bias")],
             dilations=[1, 1], group=1, pads=[0, 0, 0, 0], strides=[1, 1])
    x = aten(g, "1", "aten.avg_pool2d.default", "AveragePool", [x], ceil_mode=0, count_include_pad=1,
             kernel_shape=[2, 2], pads=[0, 0, 0, 0], strides=[2, 2])
    return finish(g, x, case)


def build_avgpool_ceil(module, opset, case):
    """AvgPool2d(3, 2, padding=1, ceil_mode=True): one AveragePool counting
    its own pads, the last windows hanging past them (not counted)."""
    g = FxGraph(module, opset, case.sample_shape)
    x = aten(g, "0", "aten.conv2d.default", "Conv", ["input", g.param("0.weight"), g.param("0.bias")],
             dilations=[1, 1], group=1, pads=[0, 0, 0, 0], strides=[1, 1])
    x = aten(g, "1", "aten.avg_pool2d.default", "AveragePool", [x], ceil_mode=1, count_include_pad=1,
             kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])
    return finish(g, x, case)


def build_global_mean(module, opset, case):
    """AdaptiveAvgPool2d(1) as the mean over the spatial axes: ReduceMean
    with its axes as an input (opset 18)."""
    g = FxGraph(module, opset, case.sample_shape)
    x = aten(g, "0", "aten.conv2d.default", "Conv", ["input", g.param("0.weight"), g.param("0.bias")],
             dilations=[1, 1], group=1, pads=[0, 0, 0, 0], strides=[1, 1])
    x = aten(g, "1", "aten.mean.dim", "ReduceMean", [x, g.const(np.array([-1, -2], np.int64))], keepdims=1)
    return finish(g, x, case)


VEC = (8,)
IMG = (3, 8, 8)
NEWER = dict(newer_exporter=True)

CASES = [
    FormCase("mlp", ("Linear", "ReLU"), seq(L(nn.Linear, 8, 16), L(nn.ReLU), L(nn.Linear, 16, 4)), VEC, build_mlp,
             opsets=(18, 21), **NEWER),
    FormCase("linear_3d_input", "Linear", seq(L(nn.Linear, 8, 16)), (5, 8), build_linear_3d, opsets=(18,),
             note="Transpose(weight) -> MatMul -> Add", **NEWER),
    FormCase("cnn", ("Conv2d", "BatchNorm1d/2d/3d (standalone)", "MaxPool2d", "Flatten"),
             seq(L(nn.Conv2d, 3, 4, 3, padding=1), L(nn.BatchNorm2d, 4), L(nn.ReLU), L(nn.MaxPool2d, 2),
                 L(nn.Flatten), L(nn.Linear, 64, 5)), IMG, build_cnn, opsets=(18,), **NEWER),
    FormCase("layernorm_gelu", ("LayerNorm", "GELU"),
             seq(L(nn.Linear, 8, 16), L(nn.LayerNorm, 16), L(nn.GELU)), VEC, build_layernorm_gelu, opsets=(18,),
             note="LayerNormalization; GELU as Div/Erf/Add/Mul/Mul", **NEWER),
    FormCase("layernorm_2d", "LayerNorm", seq(L(nn.Conv2d, 3, 4, 3, padding=1), L(nn.LayerNorm, (8, 8))), IMG,
             build_layernorm_2d, opsets=(18,), **NEWER),
    FormCase("gelu_op", ("GELU", "GELU (approximate='tanh')"),
             seq(L(nn.Linear, 8, 16), L(nn.GELU), L(nn.Linear, 16, 6), L(nn.GELU, approximate="tanh")), VEC,
             build_gelu_op, opsets=(20,), note="Gelu op", **NEWER),
    FormCase("pads", ("ConstantPad2d", "ReflectionPad2d"),
             seq(L(nn.ConstantPad2d, (1, 2, 0, 1), 0.5), L(nn.ReflectionPad2d, (2, 1, 1, 2))), IMG, build_pads,
             opsets=(18,), note="Pad with axes", **NEWER),
    FormCase("conv2d_circular", "Conv1d/2d/3d padding_mode='circular'",
             seq(L(nn.Conv2d, 3, 4, 3, padding=1, padding_mode="circular")), IMG, build_circular_conv,
             opsets=(19,), note="Pad(wrap) -> Conv", **NEWER),
    FormCase("conv1d_circular", "Conv1d/2d/3d padding_mode='circular'",
             seq(L(nn.Conv1d, 3, 4, 5, stride=2, padding=2, padding_mode="circular")), (3, 16),
             build_circular_conv, opsets=(19,), note="Pad(wrap) -> Conv", **NEWER),
    FormCase("upsample", ("Upsample (linear, bilinear, trilinear)", "Upsample (nearest)"),
             seq(L(nn.Conv2d, 3, 4, 3, padding=1), L(nn.Upsample, scale_factor=2, mode="bilinear"),
                 L(nn.Upsample, size=(20, 24))), IMG, build_upsample, opsets=(18,), **NEWER),
    FormCase("softmax", ("Softmax", "LogSoftmax"),
             seq(L(nn.Linear, 8, 16), L(nn.Softmax, dim=-1), L(nn.Linear, 16, 5), L(nn.LogSoftmax, dim=1)), VEC,
             build_softmax, opsets=(18,), **NEWER),
    FormCase("embedding", "Embedding (first layer)", seq(L(nn.Embedding, 20, 8), L(nn.Linear, 8, 4)), (5,),
             build_embedding, opsets=(18,), inputs=ls.indices(20), **NEWER),
    FormCase("silu_hardswish", ("SiLU", "Hardswish"),
             seq(L(nn.Linear, 8, 16), L(nn.SiLU), L(nn.Linear, 16, 6), L(nn.Hardswish)), VEC, build_silu_hardswish,
             opsets=(18,), inputs=ls.normal(3.0), **NEWER),
    FormCase("avgpool", "AvgPool2d", seq(L(nn.Conv2d, 3, 4, 1), L(nn.AvgPool2d, 2)), IMG, build_avgpool,
             opsets=(18,), **NEWER),
    FormCase("avgpool_ceil_pad", "AvgPool2d",
             seq(L(nn.Conv2d, 3, 4, 1), L(nn.AvgPool2d, 3, stride=2, padding=1, ceil_mode=True)), IMG,
             build_avgpool_ceil, opsets=(18,), note="AveragePool(ceil_mode=1, count_include_pad=1, pads)", **NEWER),
    FormCase("global_mean", "AdaptiveAvgPool2d", seq(L(nn.Conv2d, 3, 4, 1), L(nn.AdaptiveAvgPool2d, 1)), IMG,
             build_global_mean, opsets=(18,), note="ReduceMean with axes input", **NEWER),
]

LayersOpset18 = ls.make_test_class("LayersOpset18", CASES, "Models in the newer exporter's form.")


class NewerExporterForm(unittest.TestCase):
    """What the form itself implies beyond the numbers."""

    def build(self, case, opset):
        work = e2e.scratch_dir("NewerExporterForm", case.name)
        path = os.path.join(work, "model.onnx")
        ls.save_model(case.build(case.module(), opset, case), path, external_data=True)
        return work, path

    def test_weights_live_in_model_onnx_data(self):
        """The test models really are external-data models, and seqrt needs
        the .data file: without it the model is refused, naming the file."""
        e2e.require_seqrt(self)
        case = CASES[0]
        work, path = self.build(case, 18)
        data = path + ".data"
        self.assertTrue(os.path.exists(data))
        self.assertLess(os.path.getsize(path), 2048, "initializers were not externalised")
        self.assertGreater(os.path.getsize(data), 4 * (8 * 16 + 16 * 4))
        proc = e2e.seqrt("inspect", path)
        self.assertEqual(proc.returncode, 0, e2e.describe(proc))
        os.rename(data, data + ".moved")
        proc = e2e.seqrt("inspect", path)
        self.assertNotEqual(proc.returncode, 0, e2e.describe(proc))
        e2e.assert_error_line(self, proc)
        self.assertIn("model.onnx.data", proc.stderr, e2e.describe(proc))

    def test_layer_names_from_metadata(self):
        """Node names say nothing of the module ('node_Gemm_0'); the layer
        names come from pkg.torch.onnx.name_scopes: the Sequential indices."""
        e2e.require_seqrt(self)
        case = next(c for c in CASES if c.name == "cnn")
        _, path = self.build(case, 18)
        proc = e2e.seqrt("inspect", path)
        self.assertEqual(proc.returncode, 0, e2e.describe(proc))
        names = [row.name for row in ls.inspect_rows(proc.stdout)]
        self.assertTrue(names, e2e.describe(proc))
        self.assertTrue(set(names) <= {"0", "1", "2", "3", "4", "5"}, "layer names %s%s" % (names, e2e.describe(proc)))
        self.assertIn("0", names)
        self.assertIn("5", names)

    def test_circular_conv_is_one_layer(self):
        """Pad(mode='wrap') -> Conv inside the Conv's module (from its
        metadata) is one Conv layer named after the module, covering both."""
        e2e.require_seqrt(self)
        for name in ("conv2d_circular", "conv1d_circular"):
            with self.subTest(case=name):
                case = next(c for c in CASES if c.name == name)
                _, path = self.build(case, 19)
                proc = e2e.seqrt("inspect", path)
                self.assertEqual(proc.returncode, 0, e2e.describe(proc))
                rows = ls.inspect_rows(proc.stdout)
                self.assertEqual([(row.name, row.kind) for row in rows], [("0", "Conv")], e2e.describe(proc))
                ops = {node.name: node.op_type for node in onnx.load(path).graph.node}
                self.assertEqual(sorted(ops[node] for node in rows[0].nodes if node in ops), ["Conv", "Pad"],
                                 e2e.describe(proc))

    def test_metadata_is_in_the_file(self):
        """The raw metadata_props field survives saving (a check of this
        file's builder, independent of seqrt)."""
        case = CASES[0]
        _, path = self.build(case, 18)
        with open(path, "rb") as stream:
            raw = stream.read()
        self.assertIn(b"pkg.torch.onnx.name_scopes", raw)
        scopes = raw.split(b"pkg.torch.onnx.name_scopes")[1]
        self.assertIn(repr(["", "0", "linear"]).encode(), scopes[:60])


# ---- the importer's generator (tests/e2e/make_opset18_models.py) ----------------

try:
    import make_opset18_models as m18
except ImportError:  # written by the importer work; absent in older trees
    m18 = None

# Table rows of the generator's cases; cases not listed run but count in no
# row (they test something other than a layer, e.g. an unknown op).
GENERATED_ROWS = {
    "conv_gelu20": ("Conv2d", "GELU"),
    "linear_gelu_onnxscript": ("Linear", "GELU"),
    "layernorm18": ("Linear", "LayerNorm"),
    "layernorm_reducemean18": ("LayerNorm (elementwise_affine=False)",),
    "glu18": ("GLU",),
    "pad18_reflect_conv": ("ReflectionPad2d", "Conv2d"),
    "resize18": ("Upsample (linear, bilinear, trilinear)", "Upsample (nearest)"),
    "mish18_softplus_threshold": ("Mish", "Softplus"),
    "groupnorm21": ("GroupNorm",),
    "embedding18": ("Embedding (first layer)", "ReLU"),
    "newer_opset_known_ops": ("Linear", "Tanh"),
}


class GeneratedCase:
    """A generator case as layer_suite.record sees it."""

    def __init__(self, name, index):
        self.name = "generated_" + name
        self.layer = GENERATED_ROWS.get(name, ())
        self.index = len(CASES) + index
        self.note = "tests/e2e/make_opset18_models.py"


def check_generated(test, name, index):
    """Each batch of e2e.BATCHES: the generator's model and input at that
    batch, seqrt's output against the PyTorch module's (or the rejection
    the generator expects), then the layer kinds `seqrt inspect` shows."""
    e2e.require_seqrt(test)
    case = GeneratedCase(name, index)
    work = e2e.scratch_dir("GeneratedOpset18", name)
    problem = None
    for batch in e2e.BATCHES:
        info = m18.build_case(name, os.path.join(work, "batch%d" % batch), batch=batch)
        output = os.path.join(info["dir"], "seqrt_output.npy")
        proc = e2e.seqrt("run", info["model"], "--input", info["input"], "--output", output)
        if info["error"]:
            if proc.returncode != 2 or info["error"] not in proc.stderr:
                problem = "expected exit 2 with '%s', got %s" % (info["error"], ls.seqrt_message(proc))
        elif proc.returncode != 0:
            problem = ls.seqrt_message(proc)
        else:
            compared = e2e.compare(np.load(output), np.load(info["expected"]))
            problem = compared and "batch %d: %s" % (batch, compared)
        if problem:
            break
    ls.record(case, info["opset"], ls.FAIL if problem else ls.PASS, problem or "")
    if problem:
        test.fail("%s (opset %d): %s" % (name, info["opset"], problem))
    if info["kinds"]:
        proc = e2e.seqrt("inspect", info["model"])
        kinds = [row.kind for row in ls.inspect_rows(proc.stdout)]
        test.assertEqual(kinds, info["kinds"], e2e.describe(proc))


class GeneratedOpset18(unittest.TestCase):
    """The importer's own opset-18+ models, end to end."""

    def test_generator_present(self):
        if m18 is None:
            self.skipTest("tests/e2e/make_opset18_models.py is not in this tree")
        self.assertTrue(m18.CASES)


if m18 is not None:
    for _index, _name in enumerate(m18.CASES):
        setattr(GeneratedOpset18, "test_" + _name,
                lambda self, name=_name, index=_index: check_generated(self, name, index))


if __name__ == "__main__":
    ls.main()
