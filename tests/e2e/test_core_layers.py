"""Core layers end to end: each layer in a small chain, exported by the
installed PyTorch at opsets 9/11/13/14/17 (those torch accepts), run by
`seqrt run` at batch 1 and 3 and compared with PyTorch (atol = rtol = 1e-4).
Also runs the bundled examples (`seqrt` with no arguments)."""

import os
import unittest

import numpy as np
import torch
from torch import nn

import e2e_common as e2e
from e2e_common import Case


class ManualView(nn.Module):
    """A hand-written chain that flattens with x.view(x.size(0), -1)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 5)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        x = x.view(x.size(0), -1)
        return self.fc(x)


class ManualFCRelu(nn.Module):
    """A hand-written chain calling the functional torch.relu."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 6)
        self.fc2 = nn.Linear(6, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def L(cls, *args, **kwargs):
    """A deferred module constructor for seq()."""
    return lambda: cls(*args, **kwargs)


def seq(*factories):
    """A factory of nn.Sequential built fresh (from the seed) on each call."""
    return lambda: nn.Sequential(*[factory() for factory in factories])


VEC = (8,)  # Linear input
SEQ = (3, 16)  # Conv1d input
IMG = (3, 8, 8)  # Conv2d input
VOL = (2, 5, 6, 7)  # Conv3d input

LINEAR_CASES = [
    Case("linear", seq(L(nn.Linear, 8, 16)), VEC),
    Case("linear_nobias", seq(L(nn.Linear, 8, 16, bias=False)), VEC, note="MatMul"),
    Case("linear_3d_input", seq(L(nn.Linear, 8, 16)), (5, 8), note="MatMul -> Add"),
    Case("linear_3d_input_nobias", seq(L(nn.Linear, 8, 16, bias=False)), (5, 8)),
    Case("linear_relu_linear", seq(L(nn.Linear, 8, 16), L(nn.ReLU), L(nn.Linear, 16, 4)), VEC),
    # Widths around the batch-1 kernel's 32-column iterations and 4-row blocks.
    Case("linear_odd_widths", seq(L(nn.Linear, 8, 100), L(nn.ReLU), L(nn.Linear, 100, 37), L(nn.ReLU),
                                  L(nn.Linear, 37, 10)), VEC),
]

CONV_CASES = [
    Case("conv1d", seq(L(nn.Conv1d, 3, 4, 3)), SEQ),
    Case("conv1d_stride_pad_dil", seq(L(nn.Conv1d, 3, 6, 3, stride=2, padding=2, dilation=2)), SEQ),
    Case("conv1d_groups_nobias", seq(L(nn.Conv1d, 4, 6, 3, groups=2, bias=False)), (4, 12)),
    Case("conv2d", seq(L(nn.Conv2d, 3, 4, 3, padding=1)), IMG),
    Case("conv2d_stride_pad", seq(L(nn.Conv2d, 3, 8, 3, stride=2, padding=1)), (3, 9, 9)),
    Case("conv2d_rect", seq(L(nn.Conv2d, 3, 4, (3, 5), stride=(1, 2), padding=(1, 2))), (3, 8, 10)),
    Case("conv2d_dilation", seq(L(nn.Conv2d, 3, 4, 3, padding=2, dilation=2)), IMG),
    Case("conv2d_groups", seq(L(nn.Conv2d, 4, 6, 3, padding=1, groups=2)), (4, 8, 8)),
    Case("conv2d_depthwise", seq(L(nn.Conv2d, 4, 4, 3, padding=1, groups=4)), (4, 8, 8)),
    Case("conv2d_depthwise_mult2", seq(L(nn.Conv2d, 4, 8, 3, groups=4)), (4, 8, 8)),
    Case("conv2d_pointwise", seq(L(nn.Conv2d, 3, 6, 1)), IMG),
    Case("conv2d_nobias", seq(L(nn.Conv2d, 3, 4, 3, bias=False)), IMG),
    Case("conv3d", seq(L(nn.Conv3d, 2, 3, 3, padding=1)), VOL),
    Case("conv3d_stride_dil", seq(L(nn.Conv3d, 2, 4, 3, stride=2, padding=1, dilation=(1, 2, 1))), (2, 7, 9, 8)),
    Case("conv3d_groups_nobias", seq(L(nn.Conv3d, 2, 4, 2, groups=2, bias=False)), VOL),
]

BATCHNORM_CASES = [
    Case("batchnorm1d_after_conv1d", seq(L(nn.Conv1d, 3, 4, 3), L(nn.BatchNorm1d, 4)), SEQ, note="folded"),
    Case("batchnorm2d_after_conv2d", seq(L(nn.Conv2d, 3, 4, 3), L(nn.BatchNorm2d, 4)), IMG, note="folded"),
    Case("batchnorm2d_after_conv2d_nobias", seq(L(nn.Conv2d, 3, 4, 3, bias=False), L(nn.BatchNorm2d, 4), L(nn.ReLU)), IMG),
    Case("batchnorm3d_after_conv3d", seq(L(nn.Conv3d, 2, 3, 3), L(nn.BatchNorm3d, 3)), VOL, note="folded"),
    Case("batchnorm1d_after_linear", seq(L(nn.Linear, 8, 16), L(nn.BatchNorm1d, 16)), VEC),
    Case("batchnorm1d_alone", seq(L(nn.BatchNorm1d, 8)), VEC),
    Case("batchnorm1d_alone_3d", seq(L(nn.BatchNorm1d, 3)), SEQ),
    Case("batchnorm2d_alone", seq(L(nn.BatchNorm2d, 3)), IMG),
    Case("batchnorm3d_alone", seq(L(nn.BatchNorm3d, 2)), VOL),
]

ACTIVATIONS = [
    ("relu", L(nn.ReLU)),
    ("leakyrelu", L(nn.LeakyReLU, 0.2)),
    ("sigmoid", L(nn.Sigmoid)),
    ("tanh", L(nn.Tanh)),
    ("elu", L(nn.ELU, 0.5)),
]

ACTIVATION_CASES = (
    [Case(name + "_after_linear", seq(L(nn.Linear, 8, 16), act), VEC) for name, act in ACTIVATIONS]
    + [Case(name + "_after_conv2d", seq(L(nn.Conv2d, 3, 4, 3, padding=1), act), IMG) for name, act in ACTIVATIONS]
    + [Case(name + "_first", seq(act, L(nn.Linear, 8, 4)), VEC) for name, act in ACTIVATIONS]
    + [Case("torch_relu_in_forward", ManualFCRelu, VEC, note="functional torch.relu in forward")]
)


SOFTMAX_CASES = [
    Case("softmax_2d", seq(L(nn.Linear, 8, 16), L(nn.Softmax, dim=1)), VEC),
    Case("logsoftmax_2d", seq(L(nn.Linear, 8, 16), L(nn.LogSoftmax, dim=1)), VEC),
    Case("softmax_3d_dim_last", seq(L(nn.Conv1d, 3, 4, 3, padding=1), L(nn.Softmax, dim=-1)), SEQ),
    Case("logsoftmax_3d_dim_last", seq(L(nn.Conv1d, 3, 4, 3, padding=1), L(nn.LogSoftmax, dim=-1)), SEQ),
    Case("softmax_3d_dim1", seq(L(nn.Conv1d, 3, 4, 3, padding=1), L(nn.Softmax, dim=1)), SEQ,
         note="opset < 13: Transpose -> Softmax -> Transpose"),
    Case("logsoftmax_3d_dim1", seq(L(nn.Conv1d, 3, 4, 3, padding=1), L(nn.LogSoftmax, dim=1)), SEQ,
         note="opset < 13: Transpose -> LogSoftmax -> Transpose"),
]

POOL_CASES = [
    Case("maxpool1d", seq(L(nn.MaxPool1d, 2)), SEQ),
    Case("maxpool1d_stride_pad", seq(L(nn.MaxPool1d, 3, stride=2, padding=1)), SEQ),
    Case("maxpool1d_ceil", seq(L(nn.MaxPool1d, 3, stride=2, ceil_mode=True)), SEQ),
    Case("maxpool1d_dilation", seq(L(nn.MaxPool1d, 3, stride=1, dilation=2)), SEQ),
    Case("maxpool2d", seq(L(nn.Conv2d, 3, 4, 3, padding=1), L(nn.MaxPool2d, 2)), IMG),
    Case("maxpool2d_stride_pad", seq(L(nn.MaxPool2d, 3, stride=2, padding=1)), IMG),
    Case("maxpool2d_ceil", seq(L(nn.MaxPool2d, 3, stride=2, ceil_mode=True)), IMG),
    Case("maxpool2d_dilation", seq(L(nn.MaxPool2d, 3, stride=1, dilation=2)), IMG),
    Case("maxpool2d_dil_ceil_pad", seq(L(nn.MaxPool2d, 3, stride=2, padding=1, dilation=2, ceil_mode=True)), (3, 9, 9)),
    Case("maxpool3d", seq(L(nn.MaxPool3d, 2)), VOL),
    Case("maxpool3d_dilation", seq(L(nn.MaxPool3d, 2, stride=1, dilation=(1, 2, 2))), VOL),
    Case("maxpool3d_ceil_pad", seq(L(nn.MaxPool3d, 3, stride=2, padding=1, ceil_mode=True)), VOL),
    Case("avgpool1d_pad_excl", seq(L(nn.AvgPool1d, 3, stride=2, padding=1, count_include_pad=False)), SEQ),
    Case("avgpool2d_pad_excl", seq(L(nn.AvgPool2d, 3, stride=2, padding=1, count_include_pad=False)), IMG),
    Case("avgpool2d_ceil_pad_excl",
         seq(L(nn.AvgPool2d, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)), IMG),
    Case("avgpool3d_pad_excl", seq(L(nn.AvgPool3d, 3, stride=2, padding=1, count_include_pad=False)), VOL),
    Case("avgpool2d_default", seq(L(nn.AvgPool2d, 2)), IMG, known_unsupported=("Pad",),
         note="count_include_pad=True: the exporter emits Pad -> AveragePool"),
    Case("avgpool2d_pad_incl", seq(L(nn.AvgPool2d, 3, stride=2, padding=1)), IMG, known_unsupported=("Pad",),
         note="count_include_pad=True: the exporter emits Pad -> AveragePool"),
    Case("adaptiveavgpool2d_1",
         seq(L(nn.Conv2d, 3, 4, 3), L(nn.ReLU), L(nn.AdaptiveAvgPool2d, 1), L(nn.Flatten), L(nn.Linear, 4, 3)), IMG,
         note="GlobalAveragePool"),
    Case("adaptiveavgpool1d_1", seq(L(nn.Conv1d, 3, 4, 3), L(nn.AdaptiveAvgPool1d, 1)), SEQ, note="GlobalAveragePool"),
]

RESHAPE_CASES = [
    Case("flatten", seq(L(nn.Conv2d, 3, 4, 3), L(nn.Flatten), L(nn.Linear, 4 * 6 * 6, 5)), IMG),
    Case("flatten_3d", seq(L(nn.Conv1d, 3, 4, 3), L(nn.Flatten)), SEQ),
    Case("flatten_volume", seq(L(nn.Conv3d, 2, 2, 3), L(nn.Flatten), L(nn.Linear, 2 * 3 * 4 * 5, 3)), VOL),
    Case("view_in_forward", ManualView, IMG, note="x.view(x.size(0), -1): Shape/Gather/Concat -> Reshape"),
]

REMOVED_CASES = [
    Case("dropout_identity",
         seq(L(nn.Linear, 8, 16), L(nn.Dropout, 0.5), L(nn.ReLU), L(nn.Identity), L(nn.Linear, 16, 4)), VEC,
         note="Dropout and Identity vanish in eval mode"),
    Case("dropout2d_after_conv",
         seq(L(nn.Conv2d, 3, 4, 3), L(nn.Dropout2d, 0.3), L(nn.ReLU), L(nn.Flatten), L(nn.Dropout, 0.1),
             L(nn.Linear, 4 * 6 * 6, 5)), IMG),
]

ALL_CASES = (
    LINEAR_CASES + CONV_CASES + BATCHNORM_CASES + ACTIVATION_CASES + SOFTMAX_CASES + POOL_CASES + RESHAPE_CASES
    + REMOVED_CASES
)


class CoreLayers(unittest.TestCase):
    """One test per case; each opset is a subTest."""


e2e.add_case_tests(CoreLayers, ALL_CASES)


class BundledExamples(unittest.TestCase):
    def example_names(self):
        names = sorted(
            name for name in os.listdir(e2e.EXAMPLES_DIR)
            if os.path.exists(os.path.join(e2e.EXAMPLES_DIR, name, "model.onnx"))
        )
        self.assertGreaterEqual(len(names), 5, "bundled examples missing in " + e2e.EXAMPLES_DIR)
        return names

    def test_no_arguments_runs_every_example(self):
        e2e.require_seqrt(self)
        proc = e2e.seqrt()
        self.assertEqual(proc.returncode, 0, e2e.describe(proc))
        lines = proc.stdout.splitlines()
        for name in self.example_names():
            hits = [line for line in lines if name in line.split() or "/%s/" % name in line or line.startswith(name)]
            self.assertEqual(len(hits), 1, "expected one line for %s" % name + e2e.describe(proc))

    def test_verify_each_example(self):
        e2e.require_seqrt(self)
        for name in self.example_names():
            with self.subTest(example=name):
                folder = os.path.join(e2e.EXAMPLES_DIR, name)
                proc = e2e.seqrt("verify", os.path.join(folder, "model.onnx"),
                                 "--input", os.path.join(folder, "input.npy"),
                                 "--expect", os.path.join(folder, "expected.npy"))
                self.assertEqual(proc.returncode, 0, e2e.describe(proc))

    def test_examples_are_current(self):
        """The committed expected.npy is what the builders compute today."""
        import export_examples

        for name in export_examples.EXAMPLES:
            with self.subTest(example=name):
                folder = os.path.join(e2e.EXAMPLES_DIR, name)
                x = np.load(os.path.join(folder, "input.npy"))
                expected = np.load(os.path.join(folder, "expected.npy"))
                self.assertEqual(x.dtype, np.float32)
                self.assertEqual(x.shape[0], export_examples.BATCH)
                actual = e2e.torch_output(export_examples.seeded_model(name), x)
                self.assertIsNone(e2e.compare(actual, expected, 1e-5, 1e-5))


if __name__ == "__main__":
    e2e.main()
