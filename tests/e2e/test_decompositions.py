"""Layers the exporter decomposes into several ONNX nodes are one layer to
seqrt, and branches that are not a layer are still refused.

Decompositions: for each layer that torch 1.13 writes as several data nodes
(LayerNorm's nine, GELU's Div/Erf/Add/Mul/Mul, SiLU's Sigmoid/Mul with its
input read twice, GroupNorm, LocalResponseNorm with its If, LPPool, Pad ->
Conv, Slice/Concat -> Conv, ...), `seqrt inspect` must show exactly one
layer of the expected kind for that module, listing every data node of the
module's scope (found here with onnx, independently of seqrt) and no node
of another module.

Branches: a squeeze-excitation block (x * sigmoid(conv(x)), the same fan-out
shape as SiLU but with a layer inside the branch) and torch.cat([x, 2 * x])
inside one module are not layers; seqrt must refuse them (exit 2) naming the
branching tensor, its producer and its readers.
"""

import os
import unittest

import onnx
import torch
from torch import nn

import e2e_common as e2e
import layer_suite as ls
from layer_suite import L, seq

VEC = (8,)
SEQ = (3, 16)
IMG = (3, 8, 8)
OPSETS = (9, 11, 17)


def implicit_inputs(node):
    """Outer-scope tensors read inside an If/Loop body."""
    names = set()
    for attribute in node.attribute:
        graphs = list(attribute.graphs) + ([attribute.g] if attribute.HasField("g") else [])
        for graph in graphs:
            produced = {name for inner in graph.node for name in inner.output}
            for inner in graph.node:
                names |= {name for name in inner.input if name and name not in produced}
                names |= implicit_inputs(inner) - produced
    return names


def data_nodes(model_path):
    """Names of the nodes that depend on the graph input's values (not only
    on its shape through Shape), in graph order."""
    graph = onnx.load(model_path).graph
    initializers = {init.name for init in graph.initializer}
    data = {vi.name for vi in graph.input if vi.name not in initializers}
    names = []
    for node in graph.node:
        if node.op_type != "Shape" and (set(node.input) | implicit_inputs(node)) & data:
            data.update(node.output)
            names.append(node.name)
    return names


class Decomposition:
    """A module at Sequential index `index` that must show as one layer of
    one of `kinds`; the model has `layers` layers in all. The module has at
    least `data_nodes` data nodes (1: one data node plus a shape or constant
    side-graph)."""

    def __init__(self, name, factory, sample_shape, kinds, opsets=OPSETS, index=1, layers=2, data_nodes=2):
        self.name = name
        self.factory = factory
        self.sample_shape = sample_shape
        self.kinds = kinds
        self.opsets = opsets
        self.index = index
        self.layers = layers
        self.data_nodes = data_nodes


def after_linear(layer):
    return seq(L(nn.Linear, 8, 16), layer)


def after_conv(layer, channels=4):
    return seq(L(nn.Conv2d, 3, channels, 3, padding=1), layer)


DECOMPOSITIONS = [
    Decomposition("layernorm", after_linear(L(nn.LayerNorm, 16)), VEC, ("LayerNorm",), opsets=(9, 11, 14)),
    Decomposition("layernorm_last2", after_conv(L(nn.LayerNorm, (8, 8))), IMG, ("LayerNorm",), opsets=(9, 13)),
    Decomposition("gelu", after_linear(L(nn.GELU)), VEC, ("GELU",)),
    Decomposition("gelu_tanh", after_linear(L(nn.GELU, approximate="tanh")), VEC, ("GELU(tanh)",)),
    Decomposition("silu", after_linear(L(nn.SiLU)), VEC, ("SiLU",)),
    Decomposition("mish", after_linear(L(nn.Mish)), VEC, ("Mish",)),
    Decomposition("hardswish", after_linear(L(nn.Hardswish)), VEC, ("Hardswish",), opsets=(9, 11, 13)),
    Decomposition("softsign", after_linear(L(nn.Softsign)), VEC, ("Softsign",)),
    Decomposition("tanhshrink", after_linear(L(nn.Tanhshrink)), VEC, ("Tanhshrink",)),
    Decomposition("softshrink", after_linear(L(nn.Softshrink)), VEC, ("Softshrink",)),
    Decomposition("hardshrink", after_linear(L(nn.Hardshrink)), VEC, ("Hardshrink",)),
    Decomposition("logsigmoid", after_linear(L(nn.LogSigmoid)), VEC, ("LogSigmoid",)),
    Decomposition("softmin", after_linear(L(nn.Softmin, dim=1)), VEC, ("Softmin",)),
    Decomposition("softplus_beta2", after_linear(L(nn.Softplus, beta=2.0)), VEC, ("Softplus",)),
    Decomposition("glu", after_linear(L(nn.GLU)), VEC, ("GLU",)),
    Decomposition("groupnorm", after_conv(L(nn.GroupNorm, 2, 4)), IMG, ("GroupNorm",)),
    Decomposition("localresponsenorm", after_conv(L(nn.LocalResponseNorm, 3), channels=6), IMG,
                  ("LocalResponseNorm",)),
    Decomposition("lppool2d", after_conv(L(nn.LPPool2d, 2, 2)), IMG, ("LPPool",)),
    Decomposition("pixelunshuffle", after_conv(L(nn.PixelUnshuffle, 2)), IMG, ("PixelUnshuffle",)),
    Decomposition("avgpool2d_pad", after_conv(L(nn.AvgPool2d, 3, stride=2, padding=1)), IMG, ("AvgPool",)),
    Decomposition("avgpool2d_ceil_pad", after_conv(L(nn.AvgPool2d, 3, stride=2, padding=1, ceil_mode=True)), IMG,
                  ("AvgPool",)),
    Decomposition("lppool2d_ceil", after_conv(L(nn.LPPool2d, 2, 3, stride=2, ceil_mode=True)), IMG, ("LPPool",)),
    Decomposition("linear_3d_input", seq(L(nn.ReLU), L(nn.Linear, 8, 16)), (5, 8), ("Linear",)),
    Decomposition("softmax_dim1", seq(L(nn.Conv1d, 3, 4, 3, padding=1), L(nn.Softmax, dim=1)), SEQ, ("Softmax",),
                  opsets=(9, 11)),
    Decomposition("logsoftmax_dim1", seq(L(nn.Conv1d, 3, 4, 3, padding=1), L(nn.LogSoftmax, dim=1)), SEQ,
                  ("LogSoftmax",), opsets=(9, 11)),
    Decomposition("flatten_start2", after_conv(L(nn.Flatten, 2)), IMG, ("Flatten", "Reshape"), data_nodes=1),
    Decomposition("upsample_size", after_conv(L(nn.Upsample, size=(12, 16))), IMG, ("Upsample",), opsets=(11, 17),
                  data_nodes=1),
    Decomposition("zeropad2d", after_conv(L(nn.ZeroPad2d, (1, 2, 0, 1))), IMG, ("Pad",), data_nodes=1),
]


def check_decomposition(test, case):
    e2e.require_seqrt(test)
    for opset in case.opsets:
        with test.subTest(opset=opset):
            work = e2e.scratch_dir("Decompositions", case.name, "opset%d" % opset)
            path = os.path.join(work, "model.onnx")
            torch.manual_seed(0)
            example = torch.from_numpy(e2e.seeded_input(case.sample_shape, e2e.TRACE_BATCH))
            e2e.export_onnx(case.factory(), example, path, opset)
            scope = "/%d/" % case.index
            expected = [name for name in data_nodes(path) if name.startswith(scope)]
            test.assertGreaterEqual(len(expected), case.data_nodes, "%s at opset %d: data nodes %s" % (
                case.name, opset, expected))
            proc = e2e.seqrt("inspect", path)
            test.assertEqual(proc.returncode, 0, "%s opset %d: %s" % (case.name, opset, ls.seqrt_message(proc)))
            rows = ls.inspect_rows(proc.stdout)
            covering = [row for row in rows if any(node.startswith(scope) for node in row.nodes)]
            context = "%s opset %d (data nodes %s)%s" % (case.name, opset, expected, e2e.describe(proc))
            test.assertEqual(len(covering), 1, "module %d is not one layer: %s" % (case.index, context))
            layer = covering[0]
            test.assertIn(layer.kind, case.kinds, context)
            test.assertEqual(layer.name, str(case.index), context)
            test.assertEqual(sorted(set(expected) - set(layer.nodes)), [], "data nodes not listed: " + context)
            foreign = [node for node in layer.nodes if node.startswith("/") and not node.startswith(scope)]
            test.assertEqual(foreign, [], "nodes of other modules listed: " + context)
            test.assertEqual(len(rows), case.layers, context)


class Decompositions(unittest.TestCase):
    """One test per decomposed layer; each opset is a subTest."""

    def test_conv_with_padding_mode_is_one_conv_layer(self):
        """A Conv with padding_mode reflect/replicate/circular is one Conv
        layer under the module's name, covering its Pad (or Slice/Concat)
        nodes: the runtime pre-pads with a C kernel (oneDNN pads with zeros
        only) inside the layer, so that `verify DIR` compares the module's
        output at that layer."""
        e2e.require_seqrt(self)
        for mode in ("reflect", "replicate", "circular"):
            for opset in (9, 11, 17):
                with self.subTest(mode=mode, opset=opset):
                    work = e2e.scratch_dir("Decompositions", "conv_" + mode, "opset%d" % opset)
                    path = os.path.join(work, "model.onnx")
                    model = seq(L(nn.ReLU), L(nn.Conv2d, 3, 4, 3, padding=1, padding_mode=mode))()
                    example = torch.from_numpy(e2e.seeded_input(IMG, e2e.TRACE_BATCH))
                    e2e.export_onnx(model, example, path, opset)
                    expected = [name for name in data_nodes(path) if name.startswith("/1/")]
                    proc = e2e.seqrt("inspect", path)
                    self.assertEqual(proc.returncode, 0, ls.seqrt_message(proc))
                    rows = ls.inspect_rows(proc.stdout)
                    self.assertEqual([(row.name, row.kind) for row in rows], [("0", "ReLU"), ("1", "Conv")],
                                     proc.stdout)
                    self.assertEqual(sorted(set(expected) - set(rows[1].nodes)), [], proc.stdout)


for _case in DECOMPOSITIONS:
    setattr(Decompositions, "test_" + _case.name, lambda self, case=_case: check_decomposition(self, case))


class SqueezeExcite(nn.Module):
    """x * sigmoid(conv(x)): SiLU's fan-out shape with a layer in the branch."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.conv(x))


class PooledSqueezeExcite(nn.Module):
    """The usual SE block: x * sigmoid(conv(avgpool(x)))."""

    def __init__(self, channels):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.conv(self.pool(x)))


class CatDouble(nn.Module):
    """torch.cat([x, 2 * x]) inside one module."""

    def forward(self, x):
        return torch.cat([x, 2 * x], dim=1)


class Branches(unittest.TestCase):
    def setUp(self):
        e2e.require_seqrt(self)

    def assert_branching(self, name, model, sample_shape, opset=14):
        work = e2e.scratch_dir("Branches", name)
        path = os.path.join(work, "model.onnx")
        torch.manual_seed(0)
        e2e.export_onnx(model, torch.from_numpy(e2e.seeded_input(sample_shape, e2e.TRACE_BATCH)), path, opset)
        fan_outs = e2e.fan_out_tensors(path)
        self.assertEqual(len(fan_outs), 1, "test model should branch exactly once: %s" % fan_outs)
        tensor, producer, readers = fan_outs[0]
        expected = "branching graph: tensor '%s' (from node '%s') is used by %d nodes" % (
            tensor, producer, len(readers))
        x = os.path.join(work, "x.npy")
        e2e.np.save(x, e2e.seeded_input(sample_shape, 1))
        out = os.path.join(work, "y.npy")
        for args in (("inspect", path), ("run", path, "--input", x, "--output", out)):
            with self.subTest(command=args[0]):
                proc = e2e.seqrt(*args)
                self.assertEqual(proc.returncode, 2, e2e.describe(proc))
                e2e.assert_error_line(self, proc)
                self.assertIn(expected, proc.stderr, e2e.describe(proc))
                self.assertIn("cannot run as a chain", proc.stderr, e2e.describe(proc))
                for reader in readers:
                    self.assertIn("'%s'" % reader, proc.stderr, e2e.describe(proc))
                self.assertFalse(os.path.exists(out))

    def test_squeeze_excitation(self):
        model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), SqueezeExcite(4), nn.ReLU())
        self.assert_branching("squeeze_excitation", model, IMG)

    def test_squeeze_excitation_pooled(self):
        model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), PooledSqueezeExcite(4), nn.ReLU())
        self.assert_branching("squeeze_excitation_pooled", model, IMG)

    def test_cat_of_x_and_2x(self):
        model = nn.Sequential(nn.Linear(8, 16), CatDouble(), nn.Linear(32, 4))
        self.assert_branching("cat_of_x_and_2x", model, VEC)

    def test_squeeze_excitation_at_opset_11(self):
        model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), SqueezeExcite(4))
        self.assert_branching("squeeze_excitation_opset11", model, IMG, opset=11)


if __name__ == "__main__":
    e2e.main()
