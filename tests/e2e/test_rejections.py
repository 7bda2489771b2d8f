"""Models that are not a chain are rejected at import (exit 2) with a
message naming the branching tensor and its producer: a residual block
inside nn.Sequential, a torch.cat of two paths, a model with two inputs.
So are layers that would compute over a dynamic batch merged into another
dim by Flatten(0): a Linear summing over it, a GLU splitting it."""

import os
import re
import unittest

import numpy as np
import torch
from torch import nn

import e2e_common as e2e


class Residual(nn.Module):
    """x + conv(x): the block's input feeds both the conv and the Add."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return x + self.conv(x)


class TwoPaths(nn.Module):
    """torch.cat of two linear paths over the same input."""

    def __init__(self):
        super().__init__()
        self.left = nn.Linear(16, 4)
        self.right = nn.Linear(16, 4)

    def forward(self, x):
        return torch.cat([self.left(x), self.right(x)], dim=1)


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x, y):
        return torch.relu(self.fc(x)) * y


BRANCHING = re.compile(
    r"branching graph: tensor '(?P<tensor>[^']+)' \(from node '(?P<node>[^']+)'\) is used by (?P<count>\d+) nodes"
)


class Rejections(unittest.TestCase):
    def setUp(self):
        e2e.require_seqrt(self)
        self.work = e2e.scratch_dir("Rejections", self.id().split(".")[-1])

    def export(self, model, example, input_names=("input",)):
        path = os.path.join(self.work, "model.onnx")
        torch.manual_seed(0)
        e2e.export_onnx(model, example, path, 14, input_names)
        return path

    def assert_rejected(self, path, *fragments):
        """run, verify and inspect all exit 2 with the fragments in the one
        'seqrt:' line."""
        x = os.path.join(self.work, "x.npy")
        out = os.path.join(self.work, "y.npy")
        np.save(x, np.zeros((1, 8), np.float32))
        for args in (("inspect", path), ("run", path, "--input", x, "--output", out),
                     ("verify", path, "--input", x, "--expect", x)):
            with self.subTest(command=args[0]):
                proc = e2e.seqrt(*args)
                self.assertEqual(proc.returncode, 2, e2e.describe(proc))
                e2e.assert_error_line(self, proc)
                for fragment in fragments:
                    self.assertIn(fragment, proc.stderr, e2e.describe(proc))
                self.assertFalse(os.path.exists(out))
        return proc.stderr

    def assert_branching(self, path):
        """The message names the one fan-out tensor of the graph, its
        producer and its number of readers, as found with onnx."""
        fan_outs = e2e.fan_out_tensors(path)
        self.assertEqual(len(fan_outs), 1, "test model should branch exactly once: %s" % fan_outs)
        tensor, producer, readers = fan_outs[0]
        self.assertIsNotNone(producer)
        expected = "branching graph: tensor '%s' (from node '%s') is used by %d nodes" % (
            tensor, producer, len(readers))
        readers = ["'%s'" % reader for reader in readers]
        stderr = self.assert_rejected(path, expected, "cannot run as a chain", *readers)
        match = BRANCHING.search(stderr)
        self.assertIsNotNone(match)
        self.assertEqual(match.group("tensor"), tensor)

    def test_residual_block_in_sequential(self):
        model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), Residual(4), nn.ReLU())
        path = self.export(model, torch.zeros(1, 3, 8, 8))
        self.assert_branching(path)

    def test_residual_after_linear(self):
        class LinearResidual(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(16, 16)

            def forward(self, x):
                return x + torch.tanh(self.fc(x))

        model = nn.Sequential(nn.Linear(8, 16), LinearResidual(), nn.Linear(16, 2))
        path = self.export(model, torch.zeros(1, 8))
        self.assert_branching(path)

    def test_residual_at_the_input(self):
        """The graph input itself feeds two nodes: no producer to name."""
        model = nn.Sequential(Residual(3), nn.ReLU())
        path = self.export(model, torch.zeros(1, 3, 8, 8))
        self.assert_rejected(path, "branching graph: tensor 'input'", "'/0/conv/Conv'", "'/0/Add'",
                             "cannot run as a chain")

    def test_cat_of_two_paths(self):
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), TwoPaths(), nn.Linear(8, 2))
        path = self.export(model, torch.zeros(1, 8))
        self.assert_branching(path)

    def test_two_inputs(self):
        path = self.export(TwoInputs(), (torch.zeros(1, 8), torch.zeros(1, 4)), ("input", "mask"))
        self.assert_rejected(path, "2 inputs", "'input'", "'mask'")

    def test_linear_over_the_merged_batch(self):
        """Traced at batch 2, Linear(8) sums over the 2 samples' features:
        with a dynamic batch its weights cannot fit [-1*4]."""
        model = nn.Sequential(nn.Linear(8, 4), nn.Flatten(0), nn.Linear(8, 3))
        path = self.export(model, torch.zeros(2, 8))
        self.assert_rejected(path, "node '/2/MatMul' (MatMul)", "[-1*4]", "sum over the dynamic batch",
                             "Flatten(0)")

    def test_glu_over_the_merged_batch(self):
        model = nn.Sequential(nn.Linear(8, 4), nn.Flatten(0), nn.GLU(dim=0))
        path = self.export(model, torch.zeros(2, 8))
        self.assert_rejected(path, "GLU over axis 0 of [-1*4]", "non-batch axis")


if __name__ == "__main__":
    e2e.main()
