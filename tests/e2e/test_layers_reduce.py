"""Layer coverage, reductions in a forward: x.mean / x.sum / x.amax /
x.amin / x.max(dim).values / x.prod over non-batch dims (with and without
keepdim, negative dims), x.norm(p=1) and the 2-norm (exported as Mul,
ReduceSum, Sqrt), sums of squares ((x * x).sum, x.pow(2).sum) and
F.normalize (p = 1 or 2, over one or more dims); each
exported at opsets 9-17 and compared with PyTorch at batch 1 and 3 (see
layer_suite.py). A reduction over the batch dim is refused with its reason.
"""

import os
import unittest

import torch
import torch.nn.functional as F
from torch import nn

import layer_suite as ls
from layer_suite import L, LayerCase, seq

import e2e_common as e2e

SEQ = (3, 16)
IMG = (3, 8, 8)
VOL = (2, 4, 5, 6)


class Reduce(nn.Module):
    """x.<method>(*args, **kwargs), or fn(x) for the forms without one."""

    def __init__(self, method, *args, fn=None, **kwargs):
        super().__init__()
        self.method, self.args, self.kwargs, self.fn = method, args, kwargs, fn

    def forward(self, x):
        if self.fn:
            return self.fn(x)
        return getattr(x, self.method)(*self.args, **self.kwargs)


def after_conv(*layers, channels=4):
    return seq(L(nn.Conv2d, 3, channels, 3, padding=1), *layers)


def after_conv1d(*layers, channels=4):
    return seq(L(nn.Conv1d, 3, channels, 3, padding=1), *layers)


def values_of(method, dim):
    """x.max(dim).values / x.min(dim).values (torch exports ReduceMax /
    ReduceMin and drops the unused indices)."""
    return L(Reduce, "", fn=lambda x: getattr(x, method)(dim=dim).values)


MEAN = "x.mean(dim)"
SUM = "x.sum(dim)"
AMAX = "x.amax(dim), x.max(dim).values"
AMIN = "x.amin(dim), x.min(dim).values"
PROD = "x.prod(dim)"
NORM1 = "x.norm(p=1, dim)"
NORM2 = "x.norm(dim) (p=2)"
SQUARES = "(x * x).sum(dim), x.pow(2).sum(dim)"
NORMALIZE = "F.normalize(x, p, dim)"

CASES = [
    LayerCase("mean_spatial", MEAN, after_conv(L(Reduce, "mean", (2, 3)), L(nn.Linear, 4, 5)), IMG,
              note="global average pool without keepdim"),
    LayerCase("mean_spatial_keepdim", MEAN, after_conv(L(Reduce, "mean", (-2, -1), keepdim=True), L(nn.Flatten)),
              IMG, note="runs as a global average pool"),
    LayerCase("mean_channels", MEAN, after_conv(L(Reduce, "mean", 1)), IMG),
    LayerCase("mean_time", MEAN, after_conv1d(L(Reduce, "mean", -1), L(nn.Linear, 4, 3)), SEQ),
    LayerCase("mean_tokens", MEAN, seq(L(nn.Embedding, 20, 8), L(Reduce, "mean", 1), L(nn.Linear, 8, 3)), (6,),
              inputs=ls.indices(20), note="bag of embeddings"),
    LayerCase("mean_size_one", MEAN, after_conv(L(Reduce, "", fn=lambda x: x.unsqueeze(2).mean(2))), IMG,
              note="over a dim of size 1: each value alone"),
    LayerCase("mean_3d", MEAN, seq(L(Reduce, "mean", (1, 3), keepdim=True)), VOL),
    LayerCase("sum_spatial", SUM, after_conv(L(Reduce, "sum", (2, 3))), IMG),
    LayerCase("sum_keepdim", SUM, after_conv(L(Reduce, "sum", 1, keepdim=True)), IMG),
    LayerCase("sum_last", SUM, seq(L(nn.Linear, 16, 6), L(Reduce, "sum", -1)), SEQ, note="[N, 3] out"),
    LayerCase("amax_spatial", AMAX, after_conv(L(Reduce, "amax", (2, 3)), L(nn.Linear, 4, 5)), IMG,
              note="global max pool without keepdim"),
    LayerCase("amax_keepdim", AMAX, after_conv1d(L(Reduce, "amax", 1, keepdim=True)), SEQ),
    LayerCase("max_values", AMAX, after_conv1d(values_of("max", -1)), SEQ, note="ReduceMax; the indices unused"),
    LayerCase("amin_channels", AMIN, after_conv(L(Reduce, "amin", 1)), IMG),
    LayerCase("min_values", AMIN, after_conv(values_of("min", 2)), IMG),
    LayerCase("prod_last", PROD, seq(L(nn.Tanh), L(Reduce, "prod", -1)), SEQ),
    LayerCase("prod_keepdim", PROD, seq(L(nn.Sigmoid), L(Reduce, "prod", 2, keepdim=True)), IMG),
    LayerCase("norm1_spatial", NORM1, after_conv(L(Reduce, "norm", p=1, dim=(2, 3))), IMG),
    LayerCase("norm1_keepdim", NORM1, after_conv1d(L(Reduce, "norm", p=1, dim=1, keepdim=True)), SEQ),
    LayerCase("norm2_channels", NORM2, after_conv(L(Reduce, "norm", dim=1)), IMG, note="Mul, ReduceSum, Sqrt"),
    LayerCase("norm2_keepdim", NORM2, after_conv(L(Reduce, "norm", dim=(2, 3), keepdim=True)), IMG),
    LayerCase("square_sum", SQUARES, after_conv(L(Reduce, "", fn=lambda x: (x * x).sum(1))), IMG),
    LayerCase("pow_sum", SQUARES, after_conv1d(L(Reduce, "", fn=lambda x: x.pow(2).sum(-1, keepdim=True))), SEQ),
]

NORMALIZES = [
    LayerCase("normalize_features", NORMALIZE,
              seq(L(nn.Linear, 16, 8), L(Reduce, "", fn=lambda x: F.normalize(x, dim=1))), (16,),
              note="embedding models' last layer"),
    LayerCase("normalize_p1_channels", NORMALIZE, after_conv(L(Reduce, "", fn=lambda x: F.normalize(x, p=1, dim=1))),
              IMG),
    LayerCase("normalize_first_eps", NORMALIZE,
              seq(L(Reduce, "", fn=lambda x: F.normalize(x, dim=-1, eps=3.0)), L(nn.Linear, 16, 4)), SEQ,
              note="eps above some norms: they are clipped"),
]

LayersReduce = ls.make_test_class("LayersReduce", CASES + NORMALIZES, "Reductions over non-batch dims.")


class ReductionRefusals(unittest.TestCase):
    """What seqrt refuses, with the reason."""

    def setUp(self):
        e2e.require_seqrt(self)
        self.work = e2e.scratch_dir("ReductionRefusals", self.id().split(".")[-1])

    def test_reducing_the_batch_dim_is_refused(self):
        for name, fn in (("mean_batch", lambda x: x.mean(0)), ("sum_all", lambda x: x.sum())):
            with self.subTest(name=name):
                model = nn.Sequential(nn.Linear(4, 3), Reduce("", fn=fn)).eval()
                path = e2e.export_onnx(model, torch.zeros(2, 4), os.path.join(self.work, name + ".onnx"), opset=13)
                proc = e2e.seqrt("inspect", path)
                self.assertEqual(proc.returncode, 2, e2e.describe(proc))
                self.assertIn("reduces over the batch dim (axis 0 of [-1, 3]), which is not supported",
                              proc.stderr)

    def test_inspect_names_the_reduction(self):
        model = nn.Sequential(nn.Conv2d(3, 4, 3), Reduce("norm", dim=1), Reduce("amax", -1)).eval()
        path = e2e.export_onnx(model, torch.zeros(1, *IMG), os.path.join(self.work, "model.onnx"), opset=13)
        proc = e2e.seqrt("inspect", path)
        self.assertEqual(proc.returncode, 0, e2e.describe(proc))
        rows = ls.inspect_rows(proc.stdout)
        self.assertEqual([(row.kind, row.shape) for row in rows],
                         [("Conv", "[-1, 4, 6, 6]"), ("Norm(p=2)", "[-1, 6, 6]"), ("Amax", "[-1, 6]")],
                         proc.stdout)
        self.assertEqual(rows[1].nodes, ["/1/Mul", "/1/ReduceSum", "/1/Sqrt"], proc.stdout)


if __name__ == "__main__":
    ls.main()
