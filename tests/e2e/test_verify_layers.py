"""`seqrt verify DIR` on folders written by models/torch_export.py: every
layer matches PyTorch for untouched exports, and a tampered weight or
activation attribute is reported at exactly its layer, in cumulative and
isolated runs."""

import collections
import json
import os
import shutil
import unittest

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

import e2e_common as e2e
from torch_export import export_for_seqrt


def convnet():
    return nn.Sequential(
        collections.OrderedDict(
            [
                ("conv1", nn.Conv2d(1, 4, 3, padding=1)),
                ("bn1", nn.BatchNorm2d(4)),
                ("act1", nn.ReLU()),
                (
                    "features",
                    nn.Sequential(nn.MaxPool2d(2), nn.Dropout(0.3), nn.Conv2d(4, 6, 3), nn.LeakyReLU(0.1)),
                ),
                ("flat", nn.Flatten()),
                ("fc", nn.Linear(6 * 5 * 5, 8)),
                ("act2", nn.Tanh()),
                ("head", nn.Linear(8, 5)),
                ("sm", nn.LogSoftmax(dim=1)),
            ]
        )
    )


def mlp():
    return nn.Sequential(nn.Linear(20, 16), nn.ELU(), nn.Dropout(), nn.Linear(16, 16), nn.Sigmoid(), nn.Linear(16, 3))


def merged_batch():
    """Flatten(0, 1) and Flatten(0) merge the batch into the next dims: the
    layers after them see batch * K rows ([-1*4, 5, 6, 6], [-1*128])."""
    return nn.Sequential(nn.Conv3d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(0, 1), nn.Conv2d(5, 2, 3), nn.Tanh(),
                         nn.Flatten(0), nn.Softmax(dim=0))


def with_bn_stats(model):
    """Non-trivial BatchNorm statistics, so a folded BN changes the numbers."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model


class VerifyLayers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = e2e.scratch_dir("VerifyLayers")
        cls.conv_dir = os.path.join(cls.work, "convnet")
        export_for_seqrt(lambda: with_bn_stats(convnet()), (3, 1, 14, 14), cls.conv_dir, opset=14, seed=3)
        cls.mlp_dir = os.path.join(cls.work, "mlp")
        export_for_seqrt(mlp, (4, 20), cls.mlp_dir, opset=11, seed=5)
        cls.merged_dir = os.path.join(cls.work, "merged_batch")
        export_for_seqrt(merged_batch, (3, 3, 5, 6, 6), cls.merged_dir, opset=14, seed=7)

    def setUp(self):
        e2e.require_seqrt(self)

    def verify(self, folder, *flags):
        proc = e2e.seqrt("verify", folder, "--json", *flags)
        self.assertIn(proc.returncode, (0, 1), proc.stderr)
        report = json.loads(proc.stdout)
        return proc.returncode, report

    def tampered_copy(self, source, name, change):
        """A copy of the export folder with `change(model)` applied."""
        target = os.path.join(self.work, name)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)
        path = os.path.join(target, "model.onnx")
        model = onnx.load(path)
        change(model)
        onnx.save(model, path)
        return target

    def test_untouched_exports_pass_every_layer(self):
        for folder in (self.conv_dir, self.mlp_dir, self.merged_dir):
            for flags in ((), ("--isolated",)):
                code, report = self.verify(folder, *flags)
                self.assertEqual(code, 0, report)
                self.assertTrue(report["passed"])
                self.assertIsNone(report["first_divergent"])
                statuses = {layer["name"]: layer["status"] for layer in report["layers"]}
                self.assertTrue(all(s in ("ok", "removed", "folded") for s in statuses.values()), statuses)

    def test_mapping_of_folded_removed_and_nested_modules(self):
        _, report = self.verify(self.conv_dir)
        by_name = {layer["name"]: layer for layer in report["layers"]}
        self.assertEqual(by_name["conv1"]["status"], "folded")  # compared after bn1
        self.assertEqual(by_name["bn1"]["status"], "ok")
        self.assertEqual(by_name["bn1"]["kind"], "Conv")
        self.assertEqual(by_name["features.1"]["status"], "removed")  # Dropout
        self.assertEqual(by_name["features.2"]["kind"], "Conv")
        self.assertEqual(by_name["features.3"]["kind"], "LeakyReLU")
        for field in ("index", "name", "kind", "max_abs", "max_rel", "mean_abs", "status"):
            self.assertIn(field, by_name["fc"])

    def test_table_names_first_divergent_layer(self):
        folder = self.tampered_copy(self.conv_dir, "table_fc", lambda m: bump_initializer(m, "fc.weight"))
        proc = e2e.seqrt("verify", folder)
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("first divergent layer: fc", proc.stdout)
        self.assertIn("FAIL", proc.stdout)

    def test_tampered_weight_is_named_in_both_modes(self):
        cases = [
            (self.conv_dir, "fc.weight", "fc"),
            (self.conv_dir, "head.bias", "head"),
            (self.mlp_dir, "3.weight", "3"),
        ]
        for source, initializer, module in cases:
            folder = self.tampered_copy(source, "w_" + module, lambda m: bump_initializer(m, initializer))
            for flags in ((), ("--isolated",)):
                with self.subTest(initializer=initializer, flags=flags):
                    code, report = self.verify(folder, *flags)
                    self.assertEqual(code, 1)
                    self.assertFalse(report["passed"])
                    self.assertEqual(report["first_divergent"], module)
                    failing = [layer["name"] for layer in report["layers"] if layer["status"] == "FAIL"]
                    if flags:  # isolated: only the tampered layer fails
                        self.assertEqual(failing, [module])

    def test_flipped_activation_attribute_is_named(self):
        def slope(model):
            node = next(n for n in model.graph.node if n.op_type == "LeakyRelu")
            for attr in node.attribute:
                if attr.name == "alpha":
                    attr.f = 0.3

        folder = self.tampered_copy(self.conv_dir, "slope", slope)
        for flags in ((), ("--isolated",)):
            code, report = self.verify(folder, *flags)
            self.assertEqual(code, 1)
            self.assertEqual(report["first_divergent"], "features.3")

    def test_unimportable_model_exits_2(self):
        folder = self.tampered_copy(self.mlp_dir, "broken", lambda m: None)
        with open(os.path.join(folder, "model.onnx"), "wb") as f:
            f.write(b"not an onnx file")
        proc = e2e.seqrt("verify", folder)
        self.assertEqual(proc.returncode, 2)
        self.assertTrue(proc.stderr.startswith("seqrt:"), proc.stderr)


def bump_initializer(model, name):
    """Add 0.5 to the first element of initializer `name`."""
    for i, tensor in enumerate(model.graph.initializer):
        if tensor.name == name:
            array = numpy_helper.to_array(tensor).copy()
            array.flat[0] += 0.5
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(array.astype(np.float32), name))
            return
    raise AssertionError("no initializer %r in %s" % (name, [t.name for t in model.graph.initializer]))


def padding_mode_convs():
    """Convs with padding_mode reflect / replicate: each is one seqrt layer
    (its Pad inside), named after its module."""
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, padding_mode="reflect"), nn.ReLU(),
                         nn.Conv2d(4, 4, (3, 5), padding=(1, 2), padding_mode="replicate"), nn.Tanh(),
                         nn.Flatten(), nn.Linear(4 * 6 * 7, 5))


class Frozen(nn.Module):
    """FrozenBatchNorm's forward: x * scale + shift per channel."""

    def __init__(self, channels):
        super().__init__()
        self.register_buffer("scale", torch.rand(1, channels, 1, 1) + 0.5)
        self.register_buffer("shift", torch.randn(1, channels, 1, 1) * 0.2)

    def forward(self, x):
        return x * self.scale + self.shift


def frozen_module():
    return nn.Sequential(collections.OrderedDict([("conv", nn.Conv2d(2, 4, 3)), ("frozen", Frozen(4)),
                                                  ("act", nn.ReLU()), ("flat", nn.Flatten()),
                                                  ("fc", nn.Linear(4 * 4 * 4, 3))]))


class ScaledForward(nn.Module):
    """The same scale and shift written in the forward: no module has the
    scaled output, yet seqrt folds it into conv1."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3)
        self.register_buffer("scale", torch.rand(1, 4, 1, 1) + 0.5)
        self.register_buffer("shift", torch.randn(1, 4, 1, 1) * 0.2)
        self.conv2 = nn.Conv2d(4, 3, 3)

    def forward(self, x):
        return self.conv2(torch.relu(self.conv1(x) * self.scale + self.shift))


class VerifyFoldedConstants(unittest.TestCase):
    """A per-channel scale and shift folded into the Conv before it: as a
    module it is compared like a folded BatchNorm; as forward code, the
    Conv's own module has no output seqrt computes, so it is reported as
    folded and the next layer's comparison covers it."""

    @classmethod
    def setUpClass(cls):
        cls.work = e2e.scratch_dir("VerifyFoldedConstants")
        cls.module_dir = os.path.join(cls.work, "module")
        export_for_seqrt(frozen_module, (3, 2, 6, 6), cls.module_dir, opset=13, seed=13)
        cls.forward_dir = os.path.join(cls.work, "forward")
        export_for_seqrt(ScaledForward, (3, 2, 7, 7), cls.forward_dir, opset=13, seed=17)

    def setUp(self):
        e2e.require_seqrt(self)

    def statuses(self, folder, flags):
        proc = e2e.seqrt("verify", folder, "--json", *flags)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        report = json.loads(proc.stdout)
        self.assertTrue(report["passed"], report)
        return {layer["name"]: (layer["kind"], layer["status"]) for layer in report["layers"]}

    def test_a_scale_module_is_compared_at_its_output(self):
        for flags in ((), ("--isolated",)):
            by_name = self.statuses(self.module_dir, flags)
            self.assertEqual(by_name["conv"], ("Conv", "folded"), by_name)
            self.assertEqual(by_name["frozen"], ("Conv", "ok"), by_name)
            self.assertEqual(by_name["fc"][1], "ok", by_name)

    def test_scale_in_the_forward_leaves_the_conv_uncompared(self):
        for flags in ((), ("--isolated",)):
            by_name = self.statuses(self.forward_dir, flags)
            self.assertEqual(by_name["conv1"], ("Conv", "folded"), by_name)
            self.assertEqual(by_name["conv2"], ("Conv", "ok"), by_name)


class VerifyPaddingModeConvs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = e2e.scratch_dir("VerifyPaddingModeConvs")
        cls.dir = os.path.join(cls.work, "convs")
        export_for_seqrt(padding_mode_convs, (3, 2, 6, 7), cls.dir, opset=13, seed=11)

    def setUp(self):
        e2e.require_seqrt(self)

    def verify(self, folder, *flags):
        proc = e2e.seqrt("verify", folder, "--json", *flags)
        self.assertIn(proc.returncode, (0, 1), proc.stderr)
        return proc.returncode, json.loads(proc.stdout)

    def test_each_conv_is_compared_at_its_module(self):
        for flags in ((), ("--isolated",)):
            code, report = self.verify(self.dir, *flags)
            self.assertEqual(code, 0, report)
            by_name = {layer["name"]: layer for layer in report["layers"]}
            for module in ("0", "2"):
                self.assertEqual(by_name[module]["kind"], "Conv", report)
                self.assertEqual(by_name[module]["status"], "ok", report)

    def test_tampered_conv_weight_is_named(self):
        target = os.path.join(self.work, "tampered")
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(self.dir, target)
        path = os.path.join(target, "model.onnx")
        model = onnx.load(path)
        bump_initializer(model, "2.weight")
        onnx.save(model, path)
        for flags in ((), ("--isolated",)):
            code, report = self.verify(target, *flags)
            self.assertEqual(code, 1, report)
            self.assertEqual(report["first_divergent"], "2", report)
            if flags:  # isolated: only the tampered layer fails
                failing = [layer["name"] for layer in report["layers"] if layer["status"] == "FAIL"]
                self.assertEqual(failing, ["2"], report)


if __name__ == "__main__":
    unittest.main()
