"""Layer coverage, activations and softmaxes: ReLU, ReLU6, LeakyReLU, PReLU
(1 and C slopes), ELU, CELU, SELU, GELU (both approximations), SiLU, Mish,
Sigmoid, Tanh, Hardtanh, Hardsigmoid, Hardswish, Softplus, Softsign,
Tanhshrink, Softshrink, Hardshrink, Threshold, LogSigmoid, GLU, Softmax,
LogSoftmax, Softmin (several dims), Softmax2d; each exported at opsets 9-17
and compared with PyTorch at batch 1 and 3 (see layer_suite.py). Inputs are
scaled where a layer has break points outside N(0, 1)'s bulk.

Refusals by torch 1.13 are recorded: CELU before opset 12, Threshold with a
non-zero threshold (also built as Greater -> Where with onnx.helper and
compared with PyTorch). Softplus(threshold=t) is exported without the
threshold (Softplus(beta*x)/beta everywhere); seqrt follows the ONNX file,
so those cases are checked against the graph's semantics and PyTorch is
asserted to differ from it.
"""

import copy

import numpy as np
import torch.nn.functional as F
from onnx import helper
from torch import nn

import e2e_common as e2e
import layer_suite as ls
from layer_suite import FormCase, L, LayerCase, seq

VEC = (8,)
SEQ = (3, 16)
IMG = (3, 8, 8)


def after_linear(act):
    return seq(L(nn.Linear, 8, 16), act)


def after_conv(act):
    return seq(L(nn.Conv2d, 3, 4, 3, padding=1), act)


WIDE = ls.normal(3.0)  # reaches the clip points of ReLU6, Hardtanh, Hardsigmoid...

ELEMENTWISE = [
    LayerCase("relu_after_linear", "ReLU", after_linear(L(nn.ReLU)), VEC),
    LayerCase("relu_after_conv", "ReLU", after_conv(L(nn.ReLU)), IMG),
    LayerCase("relu_first", "ReLU", seq(L(nn.ReLU), L(nn.Linear, 8, 4)), VEC),
    LayerCase("relu6", "ReLU6", seq(L(nn.ReLU6)), VEC, inputs=ls.normal(4.0), note="Clip"),
    LayerCase("relu6_after_conv", "ReLU6", after_conv(L(nn.ReLU6)), IMG, inputs=WIDE),
    LayerCase("leakyrelu", "LeakyReLU", after_linear(L(nn.LeakyReLU)), VEC),
    LayerCase("leakyrelu_0_2_after_conv", "LeakyReLU", after_conv(L(nn.LeakyReLU, 0.2)), IMG),
    LayerCase("prelu_1_after_linear", "PReLU", after_linear(L(nn.PReLU)), VEC),
    LayerCase("prelu_c_after_linear", "PReLU", after_linear(L(nn.PReLU, 16)), VEC),
    LayerCase("prelu_1_after_conv", "PReLU", after_conv(L(nn.PReLU)), IMG),
    LayerCase("prelu_c_after_conv", "PReLU", after_conv(L(nn.PReLU, 4)), IMG),
    LayerCase("prelu_c_after_conv1d", "PReLU", seq(L(nn.Conv1d, 3, 4, 3), L(nn.PReLU, 4)), SEQ),
    LayerCase("elu", "ELU", after_linear(L(nn.ELU)), VEC),
    LayerCase("elu_0_5_after_conv", "ELU", after_conv(L(nn.ELU, 0.5)), IMG),
    LayerCase("celu", "CELU", after_linear(L(nn.CELU)), VEC, note="opset >= 12"),
    LayerCase("celu_1_5_after_conv", "CELU", after_conv(L(nn.CELU, 1.5)), IMG, note="opset >= 12"),
    LayerCase("selu", "SELU", after_linear(L(nn.SELU)), VEC),
    LayerCase("selu_after_conv", "SELU", after_conv(L(nn.SELU)), IMG),
    LayerCase("gelu", "GELU", after_linear(L(nn.GELU)), VEC, inputs=WIDE),
    LayerCase("gelu_after_conv", "GELU", after_conv(L(nn.GELU)), IMG),
    LayerCase("gelu_tanh", "GELU (approximate='tanh')", after_linear(L(nn.GELU, approximate="tanh")), VEC,
              inputs=WIDE),
    LayerCase("gelu_tanh_after_conv", "GELU (approximate='tanh')", after_conv(L(nn.GELU, approximate="tanh")), IMG),
    LayerCase("silu", "SiLU", after_linear(L(nn.SiLU)), VEC, inputs=WIDE),
    LayerCase("silu_after_conv", "SiLU", after_conv(L(nn.SiLU)), IMG),
    LayerCase("mish", "Mish", after_linear(L(nn.Mish)), VEC, inputs=WIDE),
    LayerCase("mish_after_conv", "Mish", after_conv(L(nn.Mish)), IMG),
    LayerCase("sigmoid", "Sigmoid", after_linear(L(nn.Sigmoid)), VEC, inputs=WIDE),
    LayerCase("sigmoid_after_conv", "Sigmoid", after_conv(L(nn.Sigmoid)), IMG),
    LayerCase("tanh", "Tanh", after_linear(L(nn.Tanh)), VEC, inputs=WIDE),
    LayerCase("tanh_after_conv", "Tanh", after_conv(L(nn.Tanh)), IMG),
    LayerCase("hardtanh", "Hardtanh", seq(L(nn.Hardtanh)), VEC, inputs=WIDE, note="Clip(-1, 1)"),
    LayerCase("hardtanh_m2_3_after_conv", "Hardtanh", after_conv(L(nn.Hardtanh, -2.0, 3.0)), IMG, inputs=WIDE),
    LayerCase("hardsigmoid", "Hardsigmoid", seq(L(nn.Hardsigmoid)), VEC, inputs=ls.normal(4.0)),
    LayerCase("hardsigmoid_after_conv", "Hardsigmoid", after_conv(L(nn.Hardsigmoid)), IMG, inputs=WIDE),
    LayerCase("hardswish", "Hardswish", seq(L(nn.Hardswish)), VEC, inputs=ls.normal(4.0),
              note="HardSigmoid -> Mul before opset 14"),
    LayerCase("hardswish_after_conv", "Hardswish", after_conv(L(nn.Hardswish)), IMG, inputs=WIDE),
    LayerCase("softplus", "Softplus", after_linear(L(nn.Softplus)), VEC, inputs=WIDE),
    LayerCase("softplus_beta2", "Softplus", after_linear(L(nn.Softplus, beta=2.0)), VEC, inputs=WIDE,
              note="Mul -> Softplus -> Div; threshold 20 is beyond float precision"),
    LayerCase("softplus_after_conv", "Softplus", after_conv(L(nn.Softplus, beta=0.5)), IMG),
    LayerCase("softsign", "Softsign", after_linear(L(nn.Softsign)), VEC, inputs=WIDE),
    LayerCase("softsign_after_conv", "Softsign", after_conv(L(nn.Softsign)), IMG),
    LayerCase("tanhshrink", "Tanhshrink", after_linear(L(nn.Tanhshrink)), VEC, inputs=WIDE),
    LayerCase("tanhshrink_after_conv", "Tanhshrink", after_conv(L(nn.Tanhshrink)), IMG),
    LayerCase("softshrink", "Softshrink", after_linear(L(nn.Softshrink)), VEC),
    LayerCase("softshrink_1_after_conv", "Softshrink", after_conv(L(nn.Softshrink, 1.0)), IMG),
    LayerCase("hardshrink", "Hardshrink", after_linear(L(nn.Hardshrink)), VEC),
    LayerCase("hardshrink_1_2_after_conv", "Hardshrink", after_conv(L(nn.Hardshrink, 1.2)), IMG),
    LayerCase("threshold_0_0", "Threshold", after_linear(L(nn.Threshold, 0.0, 0.0)), VEC, note="Relu"),
    LayerCase("logsigmoid", "LogSigmoid", after_linear(L(nn.LogSigmoid)), VEC, inputs=WIDE),
    LayerCase("logsigmoid_after_conv", "LogSigmoid", after_conv(L(nn.LogSigmoid)), IMG),
    LayerCase("glu_last", "GLU", after_linear(L(nn.GLU)), VEC),
    LayerCase("glu_channels", "GLU", after_conv(L(nn.GLU, dim=1)), IMG),
    LayerCase("glu_3d_last", "GLU", seq(L(nn.Conv1d, 3, 4, 3), L(nn.GLU, dim=-1)), SEQ),
]


class NoThresholdSoftplus(nn.Module):
    """log(1 + exp(beta*x)) / beta everywhere: what the export computes."""

    def __init__(self, beta):
        super().__init__()
        self.beta = beta

    def forward(self, x):
        return F.softplus(x, self.beta, threshold=1e30)


def softplus_export_bug(module, x):
    """The module with every Softplus's threshold dropped."""
    buggy = copy.deepcopy(module)
    for name, child in list(buggy.named_children()):
        if isinstance(child, nn.Softplus):
            setattr(buggy, name, NoThresholdSoftplus(child.beta))
    return e2e.torch_output(buggy, x)


SOFTPLUS_BUG = "torch 1.13 drops Softplus(threshold=): it exports Softplus(beta*x)/beta"
SOFTPLUS_THRESHOLD = [
    LayerCase("softplus_threshold1", "Softplus (threshold != 20)", after_linear(L(nn.Softplus, 1.0, 1.0)), VEC,
              inputs=WIDE, bug=SOFTPLUS_BUG, bug_model=softplus_export_bug),
    LayerCase("softplus_beta2_threshold0_5", "Softplus (threshold != 20)",
              after_conv(L(nn.Softplus, 2.0, 0.5)), IMG, bug=SOFTPLUS_BUG, bug_model=softplus_export_bug),
]

THRESHOLD = "Threshold (threshold != 0)"
THRESHOLD_REFUSED = [
    LayerCase("threshold_0_5_m1", THRESHOLD, after_linear(L(nn.Threshold, 0.5, -1.0)), VEC, refusal_expected=True),
    LayerCase("threshold_m0_2_0", THRESHOLD, after_linear(L(nn.Threshold, -0.2, 0.0)), VEC, refusal_expected=True),
]


def threshold_form(module, opset, case):
    """Threshold(t, v) as Where(Greater(x, t), x, v), the form of torch's
    later exporters (torchlib's aten_threshold)."""
    threshold = module[0]
    nodes = [
        helper.make_node("Greater", ["input", "/0/threshold"], ["/0/Greater_output_0"], name="/0/Greater"),
        helper.make_node("Where", ["/0/Greater_output_0", "input", "/0/value"], ["output"], name="/0/Where"),
    ]
    initializers = [("/0/threshold", np.array(threshold.threshold, np.float32)),
                    ("/0/value", np.array(threshold.value, np.float32))]
    return ls.make_model(nodes, initializers, case.sample_shape, case.sample_shape, opset)


THRESHOLD_FORMS = [
    FormCase("threshold_0_5_m1_form", THRESHOLD, seq(L(nn.Threshold, 0.5, -1.0)), VEC, threshold_form,
             note="Greater -> Where"),
    FormCase("threshold_m0_2_0_form", THRESHOLD, seq(L(nn.Threshold, -0.2, 0.0)), (4, 6, 6), threshold_form),
]

SOFTMAX = [
    LayerCase("softmax_2d", "Softmax", after_linear(L(nn.Softmax, dim=1)), VEC, inputs=WIDE),
    LayerCase("softmax_2d_dim_last", "Softmax", after_linear(L(nn.Softmax, dim=-1)), VEC),
    LayerCase("softmax_3d_dim1", "Softmax", seq(L(nn.Conv1d, 3, 4, 3, padding=1), L(nn.Softmax, dim=1)), SEQ,
              note="opset < 13: Transpose -> Softmax -> Transpose"),
    LayerCase("softmax_3d_dim2", "Softmax", seq(L(nn.Conv1d, 3, 4, 3, padding=1), L(nn.Softmax, dim=2)), SEQ),
    LayerCase("softmax_4d_dim1", "Softmax", after_conv(L(nn.Softmax, dim=1)), IMG),
    LayerCase("softmax_4d_dim2", "Softmax", after_conv(L(nn.Softmax, dim=2)), IMG),
    LayerCase("softmax_4d_dim_last", "Softmax", after_conv(L(nn.Softmax, dim=-1)), IMG),
    LayerCase("softmax2d", "Softmax2d", after_conv(L(nn.Softmax2d)), IMG),
    LayerCase("logsoftmax_2d", "LogSoftmax", after_linear(L(nn.LogSoftmax, dim=1)), VEC, inputs=WIDE),
    LayerCase("logsoftmax_3d_dim1", "LogSoftmax", seq(L(nn.Conv1d, 3, 4, 3, padding=1), L(nn.LogSoftmax, dim=1)),
              SEQ),
    LayerCase("logsoftmax_3d_dim_last", "LogSoftmax",
              seq(L(nn.Conv1d, 3, 4, 3, padding=1), L(nn.LogSoftmax, dim=-1)), SEQ),
    LayerCase("logsoftmax_4d_dim2", "LogSoftmax", after_conv(L(nn.LogSoftmax, dim=2)), IMG),
    LayerCase("softmin_2d", "Softmin", after_linear(L(nn.Softmin, dim=1)), VEC, note="Neg -> Softmax"),
    LayerCase("softmin_3d_dim1", "Softmin", seq(L(nn.Conv1d, 3, 4, 3, padding=1), L(nn.Softmin, dim=1)), SEQ),
    LayerCase("softmin_4d_dim_last", "Softmin", after_conv(L(nn.Softmin, dim=-1)), IMG),
    # dim 0 is the batch: each element is normalised across the samples
    # (trivially 1 at batch 1; batch 3 is the test)
    LayerCase("softmax_2d_dim0", "Softmax", after_linear(L(nn.Softmax, dim=0)), VEC, inputs=WIDE,
              note="across the batch"),
    LayerCase("softmax_4d_dim0", "Softmax", after_conv(L(nn.Softmax, dim=0)), IMG),
    LayerCase("logsoftmax_2d_dim0", "LogSoftmax", after_linear(L(nn.LogSoftmax, dim=0)), VEC, inputs=WIDE),
    LayerCase("logsoftmax_4d_dim0", "LogSoftmax", after_conv(L(nn.LogSoftmax, dim=0)), IMG),
    LayerCase("softmin_2d_dim0", "Softmin", after_linear(L(nn.Softmin, dim=0)), VEC),
    LayerCase("softmin_4d_dim0", "Softmin", after_conv(L(nn.Softmin, dim=0)), IMG),
]

ALL_CASES = ELEMENTWISE + SOFTPLUS_THRESHOLD + THRESHOLD_REFUSED + THRESHOLD_FORMS + SOFTMAX

LayersActivation = ls.make_test_class("LayersActivation", ALL_CASES, "Activations and softmaxes.")

if __name__ == "__main__":
    ls.main()
