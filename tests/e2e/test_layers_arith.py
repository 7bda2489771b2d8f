"""Layer coverage, arithmetic in a forward: x + c, x - c, c - x, x * c,
x / c, c / x with a scalar c; per-channel, per-position and whole-tensor
constants ((x - mean) / std, x * mask); x * x, x + x; torch.maximum /
minimum with a scalar; x ** p; -x, x.abs(), x.sqrt(),
x.exp(), x.log(), x.reciprocal(); each exported at opsets 9-17 and
compared with PyTorch at batch 1 and 3 (see layer_suite.py). What seqrt
refuses (a constant that would grow the activation) is refused with the
reason.
"""

import os
import unittest

import torch
from torch import nn

import layer_suite as ls
from layer_suite import L, LayerCase, seq

import e2e_common as e2e

VEC = (8,)
IMG = (3, 6, 6)


class Fn(nn.Module):
    """fn(x, *constants): the constants become ONNX initializers."""

    def __init__(self, fn, *shapes):
        super().__init__()
        self.fn = fn
        for k, shape in enumerate(shapes):
            self.register_buffer("c%d" % k, torch.rand(shape) + 0.5)

    def forward(self, x):
        return self.fn(x, *[getattr(self, "c%d" % k) for k in range(len(self._buffers))])


def after_conv(*layers, channels=4):
    return seq(L(nn.Conv2d, 3, channels, 3, padding=1), *layers)


def positive():
    """Inputs in [0.5, 1.5): defined for sqrt, log and x ** 0.5."""

    def make(sample_shape, batch, seed):
        gen = torch.Generator().manual_seed(seed)
        return (torch.rand((batch,) + tuple(sample_shape), generator=gen) + 0.5).numpy()

    return make


ADD = "x + c, x - c, c - x (scalar c)"
MUL = "x * c, x / c, c / x (scalar c)"
TENSOR = "x + t, x - t, x * t, x / t (constant tensor t)"
POW = "x ** p"
UNARY = "-x, x.abs(), x.sqrt(), x.exp(), x.log(), x.reciprocal()"
TWICE = "x * x, torch.square(x), x + x"
MINMAX = "torch.maximum(x, c), torch.minimum(x, c) (scalar c)"

CASES = [
    LayerCase("add_scalar", ADD, after_conv(L(Fn, lambda x: x + 0.5)), IMG),
    LayerCase("sub_scalar", ADD, seq(L(Fn, lambda x: x - 0.5), L(nn.Linear, 8, 3)), VEC),
    LayerCase("rsub_scalar", ADD, after_conv(L(nn.Sigmoid), L(Fn, lambda x: 1 - x)), IMG),
    LayerCase("normalize_scalar", ADD, seq(L(Fn, lambda x: (x - 0.5) / 0.25), L(nn.Conv2d, 3, 4, 3)), IMG),
    LayerCase("mul_scalar", MUL, after_conv(L(nn.ReLU), L(Fn, lambda x: x * 3.0)), IMG,
              note="fused into the Conv"),
    LayerCase("div_scalar", MUL, seq(L(nn.Linear, 8, 5), L(Fn, lambda x: x / 4.0)), VEC),
    LayerCase("rdiv_scalar", MUL, seq(L(Fn, lambda x: 2.0 / x)), VEC, inputs=positive()),
    LayerCase("normalize_per_channel", TENSOR,
              seq(L(Fn, lambda x, m, s: (x - m) / s, (3, 1, 1), (3, 1, 1)), L(nn.Conv2d, 3, 4, 3)), IMG,
              note="(x - mean) / std before the first Conv"),
    LayerCase("mul_per_position", TENSOR, after_conv(L(Fn, lambda x, w: x * w, (6, 6))), IMG),
    LayerCase("add_whole", TENSOR, after_conv(L(Fn, lambda x, w: x + w, (4, 6, 6))), IMG),
    LayerCase("frozen_batchnorm", TENSOR,
              after_conv(L(Fn, lambda x, s, b: x * s + b, (1, 4, 1, 1), (1, 4, 1, 1)), L(nn.ReLU)), IMG,
              note="per channel after a Conv: folded into it"),
    LayerCase("linear_scale", TENSOR, seq(L(nn.Linear, 8, 5), L(Fn, lambda x, s: x / s, (5,))), VEC,
              note="folded into the Linear"),
    LayerCase("add_vector", TENSOR, seq(L(nn.Linear, 8, 5), L(Fn, lambda x, w: w + x, (5,))), VEC),
    LayerCase("square", POW, after_conv(L(Fn, lambda x: x ** 2)), IMG),
    LayerCase("cube", POW, seq(L(Fn, lambda x: x.pow(3))), VEC),
    LayerCase("root", POW, seq(L(Fn, lambda x: x ** 0.5)), VEC, inputs=positive()),
    LayerCase("neg_abs", UNARY, after_conv(L(Fn, lambda x: -x), L(Fn, lambda x: x.abs())), IMG),
    LayerCase("sqrt_log", UNARY, seq(L(Fn, lambda x: x.sqrt().log())), VEC, inputs=positive()),
    LayerCase("exp_reciprocal", UNARY, seq(L(nn.Tanh), L(Fn, lambda x: x.exp().reciprocal())), VEC),
    LayerCase("x_times_x", TWICE, after_conv(L(Fn, lambda x: x * x)), IMG, note="Mul(x, x)"),
    LayerCase("torch_square", TWICE, seq(L(nn.Linear, 8, 6), L(Fn, lambda x: torch.square(x))), VEC),
    LayerCase("x_plus_x", TWICE, seq(L(nn.Linear, 8, 6), L(Fn, lambda x: x + x)), VEC),
    LayerCase("maximum_zero", MINMAX, after_conv(L(Fn, lambda x: torch.maximum(x, torch.tensor(0.0)))), IMG,
              note="a ReLU"),
    LayerCase("maximum_scalar", MINMAX, seq(L(Fn, lambda x: torch.maximum(x, torch.tensor(0.25)))), VEC),
    LayerCase("minimum_scalar", MINMAX, seq(L(nn.Linear, 8, 6), L(Fn, lambda x: torch.minimum(x, torch.tensor(-0.1)))),
              VEC),
]

LayersArith = ls.make_test_class("LayersArith", CASES, "Arithmetic with constants.")


class ArithmeticRefusals(unittest.TestCase):
    """What seqrt refuses, with the reason."""

    def setUp(self):
        e2e.require_seqrt(self)
        self.work = e2e.scratch_dir("ArithmeticRefusals", self.id().split(".")[-1])

    def test_a_constant_that_grows_the_activation_is_refused(self):
        model = nn.Sequential(nn.Linear(4, 3), Fn(lambda x, w: x + w, (2, 3))).eval()
        path = e2e.export_onnx(model, torch.zeros(2, 4), os.path.join(self.work, "grow.onnx"), opset=13)
        proc = e2e.seqrt("inspect", path)
        self.assertEqual(proc.returncode, 2, e2e.describe(proc))
        self.assertIn("its constant of shape [2, 3] does not broadcast to the activation [-1, 3]", proc.stderr)


if __name__ == "__main__":
    ls.main()
