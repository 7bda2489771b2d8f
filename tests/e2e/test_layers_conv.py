"""Layer coverage, Linear and convolutions: Linear (Gemm, MatMul, MatMul+Add
on 3-D and 4-D input), Conv1d/2d/3d (stride, padding, dilation, groups,
depthwise, no bias, padding_mode reflect/replicate/circular, padding='same'
and 'valid') and ConvTranspose1d/2d/3d (stride, padding, output_padding,
groups, dilation), each exported at opsets 9-17 and compared with PyTorch at
batch 1 and 3 (see layer_suite.py).

torch 1.13 refuses padding='same'/'valid' (aten::_convolution_mode); those
refusals are recorded and the ONNX forms an exporter would write (Conv with
auto_pad, or explicit asymmetric pads) are built with onnx.helper instead.
padding_mode='circular' is exported off by one (the wrap slice for the
leading pad is x[-(p+1):-1] instead of x[-p:]); seqrt follows the ONNX file,
so those cases are checked against the graph's own semantics. A Conv with
padding_mode must also show as one Conv layer covering its padding nodes.
"""

import onnx
import torch
import torch.nn.functional as F
from onnx import helper
from torch import nn

import e2e_common as e2e
import layer_suite as ls
from layer_suite import FormCase, L, LayerCase, seq

VEC = (8,)
SEQ = (3, 16)
IMG = (3, 8, 8)
VOL = (2, 5, 6, 7)

LINEAR = [
    LayerCase("linear", "Linear", seq(L(nn.Linear, 8, 16)), VEC, note="Gemm"),
    LayerCase("linear_nobias", "Linear", seq(L(nn.Linear, 8, 16, bias=False)), VEC, note="MatMul"),
    LayerCase("linear_3d_input", "Linear", seq(L(nn.Linear, 8, 16)), (5, 8), note="MatMul -> Add"),
    LayerCase("linear_3d_input_nobias", "Linear", seq(L(nn.Linear, 8, 16, bias=False)), (5, 8), note="MatMul"),
    LayerCase("linear_4d_input", "Linear", seq(L(nn.Linear, 8, 6)), (2, 3, 8), note="MatMul -> Add"),
    LayerCase("linear_relu_linear", "Linear", seq(L(nn.Linear, 8, 16), L(nn.ReLU), L(nn.Linear, 16, 4)), VEC),
    LayerCase("linear_to_one", "Linear", seq(L(nn.Linear, 8, 1)), VEC),
]

CONV = [
    LayerCase("conv1d", "Conv1d", seq(L(nn.Conv1d, 3, 4, 3)), SEQ),
    LayerCase("conv1d_stride_pad_dil", "Conv1d", seq(L(nn.Conv1d, 3, 6, 3, stride=2, padding=2, dilation=2)), SEQ),
    LayerCase("conv1d_groups", "Conv1d", seq(L(nn.Conv1d, 4, 6, 3, groups=2)), (4, 12)),
    LayerCase("conv1d_depthwise", "Conv1d", seq(L(nn.Conv1d, 4, 4, 3, padding=1, groups=4)), (4, 12)),
    LayerCase("conv1d_nobias", "Conv1d", seq(L(nn.Conv1d, 3, 4, 5, padding=2, bias=False)), SEQ),
    LayerCase("conv2d", "Conv2d", seq(L(nn.Conv2d, 3, 4, 3, padding=1)), IMG),
    LayerCase("conv2d_stride_pad", "Conv2d", seq(L(nn.Conv2d, 3, 8, 3, stride=2, padding=1)), (3, 9, 9)),
    # 3x3, stride 1, >= 32 channels: the runtime's Winograd convolution
    LayerCase("conv2d_winograd", "Conv2d", seq(L(nn.Conv2d, 32, 48, 3, padding=1), L(nn.ReLU),
                                               L(nn.Conv2d, 48, 32, 3, padding=1)), (32, 12, 12)),
    LayerCase("conv2d_rect", "Conv2d", seq(L(nn.Conv2d, 3, 4, (3, 5), stride=(1, 2), padding=(1, 2))), (3, 8, 10)),
    LayerCase("conv2d_dilation", "Conv2d", seq(L(nn.Conv2d, 3, 4, 3, padding=2, dilation=2)), IMG),
    LayerCase("conv2d_stride_over_kernel", "Conv2d", seq(L(nn.Conv2d, 3, 4, 2, stride=3)), IMG),
    LayerCase("conv2d_groups", "Conv2d", seq(L(nn.Conv2d, 4, 6, 3, padding=1, groups=2)), (4, 8, 8)),
    LayerCase("conv2d_depthwise", "Conv2d", seq(L(nn.Conv2d, 4, 4, 3, padding=1, groups=4)), (4, 8, 8)),
    LayerCase("conv2d_depthwise_mult2", "Conv2d", seq(L(nn.Conv2d, 4, 8, 3, groups=4)), (4, 8, 8)),
    LayerCase("conv2d_pointwise", "Conv2d", seq(L(nn.Conv2d, 3, 6, 1)), IMG),
    LayerCase("conv2d_nobias", "Conv2d", seq(L(nn.Conv2d, 3, 4, 3, bias=False)), IMG),
    LayerCase("conv2d_chain", "Conv2d",
              seq(L(nn.Conv2d, 3, 4, 3, padding=1), L(nn.ReLU), L(nn.Conv2d, 4, 4, 3, stride=2, groups=2)), IMG),
    # <= 4 channels in, <= 8 out, stride 1: seqrt's few-channel kernel,
    # with the ReLU and a 2x2 stride-2 MaxPool after it in one step
    LayerCase("conv2d_few_channels_pool", "Conv2d",
              seq(L(nn.Conv2d, 1, 6, 5), L(nn.ReLU), L(nn.MaxPool2d, 2)), (1, 32, 32)),
    LayerCase("conv2d_few_channels_padded", "Conv2d",
              seq(L(nn.Conv2d, 3, 8, 3, padding=1), L(nn.ReLU), L(nn.MaxPool2d, 2),
                  L(nn.Conv2d, 8, 4, (3, 5), padding=(0, 2)), L(nn.Conv2d, 4, 2, 1)), (3, 9, 37)),
    LayerCase("conv1d_few_channels", "Conv1d",
              seq(L(nn.Conv1d, 2, 5, 7, padding=3), L(nn.ReLU), L(nn.Conv1d, 5, 3, 4)), (2, 50)),
    LayerCase("conv3d", "Conv3d", seq(L(nn.Conv3d, 2, 3, 3, padding=1)), VOL),
    LayerCase("conv3d_stride_dil", "Conv3d",
              seq(L(nn.Conv3d, 2, 4, 3, stride=2, padding=1, dilation=(1, 2, 1))), (2, 7, 9, 8)),
    LayerCase("conv3d_groups_nobias", "Conv3d", seq(L(nn.Conv3d, 2, 4, 2, groups=2, bias=False)), VOL),
    LayerCase("conv3d_depthwise", "Conv3d", seq(L(nn.Conv3d, 2, 2, 3, padding=1, groups=2)), VOL),
]

def input_dependent_nodes(model_path):
    """The ONNX nodes that read the input's values (not only its shape)."""
    graph = onnx.load(model_path).graph
    data = {value.name for value in graph.input} - {init.name for init in graph.initializer}
    nodes = []
    for node in graph.node:
        if node.op_type != "Shape" and set(node.input) & data:
            data.update(node.output)
            nodes.append(node)
    return nodes


def one_conv_layer(test, model_path):
    """A padding_mode Conv is one layer: `seqrt inspect` shows a single Conv
    row named after the module, listing the padding's nodes (Pad, or
    torch's Slice/Concat for circular) with the Conv's."""
    proc = e2e.seqrt("inspect", model_path)
    test.assertEqual(proc.returncode, 0, ls.seqrt_message(proc))
    rows = ls.inspect_rows(proc.stdout)
    test.assertEqual([(row.name, row.kind) for row in rows], [("0", "Conv")], proc.stdout)
    nodes = input_dependent_nodes(model_path)
    padding = [node.name for node in nodes if node.op_type in ("Pad", "Slice", "Concat")]
    test.assertTrue(padding, "no padding nodes in %s" % model_path)
    test.assertEqual(sorted(set(node.name for node in nodes) - set(rows[0].nodes)), [], proc.stdout)


PAD_MODE = "Conv1d/2d/3d padding_mode='reflect'/'replicate'"
CONV_PAD_MODES = [
    LayerCase("conv1d_reflect", PAD_MODE, seq(L(nn.Conv1d, 3, 4, 3, padding=1, padding_mode="reflect")), SEQ,
              note="Pad(reflect) -> Conv"),
    LayerCase("conv1d_replicate", PAD_MODE, seq(L(nn.Conv1d, 3, 4, 5, padding=2, padding_mode="replicate")), SEQ,
              note="Pad(edge) -> Conv"),
    LayerCase("conv2d_reflect", PAD_MODE, seq(L(nn.Conv2d, 3, 4, 3, padding=1, padding_mode="reflect")), IMG,
              note="Pad(reflect) -> Conv"),
    LayerCase("conv2d_reflect_rect_stride", PAD_MODE,
              seq(L(nn.Conv2d, 3, 4, (3, 5), stride=2, padding=(1, 2), padding_mode="reflect")), IMG),
    LayerCase("conv2d_replicate", PAD_MODE, seq(L(nn.Conv2d, 3, 4, 3, padding=1, padding_mode="replicate")), IMG,
              note="Pad(edge) -> Conv"),
    LayerCase("conv3d_reflect", PAD_MODE, seq(L(nn.Conv3d, 2, 3, 3, padding=1, padding_mode="reflect")), VOL),
    LayerCase("conv3d_replicate", PAD_MODE, seq(L(nn.Conv3d, 2, 3, 3, padding=1, padding_mode="replicate")), VOL),
]


def circular_export_bug(module, x):
    """What torch 1.13's export of padding_mode='circular' computes: per
    spatial axis, in order, concat(x[-(p+1):-1], x, x[:p]) (PyTorch wraps
    x[-p:]), then the convolution without padding."""
    conv = module[0]
    t = torch.from_numpy(x).double()
    for axis, pad in enumerate(conv.padding, start=2):
        if pad:
            size = t.shape[axis]
            t = torch.cat([t.narrow(axis, size - pad - 1, pad), t, t.narrow(axis, 0, pad)], dim=axis)
    conv_fn = (F.conv1d, F.conv2d, F.conv3d)[len(conv.padding) - 1]
    bias = None if conv.bias is None else conv.bias.detach().double()
    with torch.no_grad():
        y = conv_fn(t, conv.weight.detach().double(), bias, conv.stride, 0, conv.dilation, conv.groups)
    return y.float().numpy()


CIRCULAR_BUG = "torch 1.13 exports the leading circular pad as x[-(p+1):-1] instead of x[-p:]"
CIRCULAR = "Conv1d/2d/3d padding_mode='circular'"
CONV_CIRCULAR = [
    LayerCase("conv1d_circular", CIRCULAR, seq(L(nn.Conv1d, 3, 4, 5, padding=2, padding_mode="circular")), SEQ,
              bug=CIRCULAR_BUG, bug_model=circular_export_bug, note="Slice/Slice/Concat -> Conv"),
    LayerCase("conv2d_circular", CIRCULAR,
              seq(L(nn.Conv2d, 3, 4, 3, padding=(1, 2), padding_mode="circular")), IMG,
              bug=CIRCULAR_BUG, bug_model=circular_export_bug),
    LayerCase("conv2d_circular_stride", CIRCULAR,
              seq(L(nn.Conv2d, 3, 4, 3, stride=2, padding=1, bias=False, padding_mode="circular")), IMG,
              bug=CIRCULAR_BUG, bug_model=circular_export_bug),
    LayerCase("conv3d_circular", CIRCULAR, seq(L(nn.Conv3d, 2, 3, 3, padding=1, padding_mode="circular")), VOL,
              bug=CIRCULAR_BUG, bug_model=circular_export_bug),
]

SAME = "Conv1d/2d/3d padding='same'"
VALID = "Conv1d/2d/3d padding='valid'"
CONV_SAME_REFUSED = [
    LayerCase("conv1d_same", SAME, seq(L(nn.Conv1d, 3, 4, 4, padding="same")), SEQ, refusal_expected=True),
    LayerCase("conv2d_same", SAME, seq(L(nn.Conv2d, 3, 4, 3, padding="same", dilation=2)), IMG,
              refusal_expected=True),
    LayerCase("conv3d_same", SAME, seq(L(nn.Conv3d, 2, 3, 3, padding="same")), VOL, refusal_expected=True),
    LayerCase("conv2d_valid", VALID, seq(L(nn.Conv2d, 3, 4, 3, padding="valid")), IMG, refusal_expected=True),
]


def conv_form(auto_pad=None):
    """The Conv node of module[0] with auto_pad, or (auto_pad None) with the
    explicit pads PyTorch's padding='same' uses (the extra one at the end)."""

    def build(module, opset, case):
        conv = module[0]
        spatial = len(conv.kernel_size)
        attrs = {"kernel_shape": list(conv.kernel_size), "dilations": list(conv.dilation),
                 "strides": list(conv.stride), "group": conv.groups}
        if auto_pad:
            attrs["auto_pad"] = auto_pad
        else:
            totals = [d * (k - 1) for k, d in zip(conv.kernel_size, conv.dilation)]
            attrs["pads"] = [t // 2 for t in totals] + [t - t // 2 for t in totals]
        inputs = ["input", "0.weight"]
        initializers = [("0.weight", ls.param(conv.weight))]
        if conv.bias is not None:
            inputs.append("0.bias")
            initializers.append(("0.bias", ls.param(conv.bias)))
        node = helper.make_node("Conv", inputs, ["output"], name="/0/Conv", **attrs)
        assert spatial == len(case.sample_shape) - 1
        return ls.make_model([node], initializers, case.sample_shape, ls.output_sample_shape(module, case), opset)

    return build


CONV_SAME_FORMS = [
    FormCase("conv1d_same_auto_pad", SAME, seq(L(nn.Conv1d, 3, 4, 4, padding="same")), SEQ,
             conv_form("SAME_UPPER"), note="Conv(auto_pad=SAME_UPPER), even kernel"),
    FormCase("conv2d_same_auto_pad", SAME, seq(L(nn.Conv2d, 3, 4, 3, padding="same", dilation=2)), IMG,
             conv_form("SAME_UPPER"), note="Conv(auto_pad=SAME_UPPER), dilation 2"),
    FormCase("conv2d_same_auto_pad_even", SAME, seq(L(nn.Conv2d, 3, 4, (4, 2), padding="same", groups=1)), IMG,
             conv_form("SAME_UPPER"), note="Conv(auto_pad=SAME_UPPER), kernel 4x2"),
    FormCase("conv3d_same_auto_pad", SAME, seq(L(nn.Conv3d, 2, 3, 3, padding="same", bias=False)), VOL,
             conv_form("SAME_UPPER")),
    FormCase("conv2d_same_explicit_pads", SAME, seq(L(nn.Conv2d, 4, 4, 4, padding="same", groups=2)), (4, 8, 8),
             conv_form(None), note="Conv with asymmetric pads [1, 1, 2, 2]"),
    FormCase("conv2d_valid_auto_pad", VALID, seq(L(nn.Conv2d, 3, 4, 3, padding="valid")), IMG,
             conv_form("VALID")),
]

CONV_TRANSPOSE = [
    LayerCase("convtranspose1d", "ConvTranspose1d", seq(L(nn.ConvTranspose1d, 3, 4, 3)), SEQ),
    LayerCase("convtranspose1d_stride_outpad", "ConvTranspose1d",
              seq(L(nn.ConvTranspose1d, 3, 4, 3, stride=2, padding=1, output_padding=1)), SEQ),
    LayerCase("convtranspose1d_groups_dil", "ConvTranspose1d",
              seq(L(nn.ConvTranspose1d, 4, 6, 3, groups=2, dilation=2, bias=False)), (4, 12)),
    LayerCase("convtranspose2d", "ConvTranspose2d", seq(L(nn.ConvTranspose2d, 3, 4, 3, padding=1)), IMG),
    LayerCase("convtranspose2d_k2s2", "ConvTranspose2d", seq(L(nn.ConvTranspose2d, 3, 4, 2, stride=2)), IMG),
    LayerCase("convtranspose2d_stride_pad_outpad", "ConvTranspose2d",
              seq(L(nn.ConvTranspose2d, 3, 4, 3, stride=2, padding=1, output_padding=1)), IMG),
    LayerCase("convtranspose2d_rect", "ConvTranspose2d",
              seq(L(nn.ConvTranspose2d, 3, 4, (3, 5), stride=(2, 3), padding=(1, 2), output_padding=(0, 2))), IMG),
    LayerCase("convtranspose2d_groups_dil", "ConvTranspose2d",
              seq(L(nn.ConvTranspose2d, 4, 6, 3, stride=2, groups=2, dilation=2, output_padding=1)), (4, 6, 6)),
    LayerCase("convtranspose2d_depthwise_nobias", "ConvTranspose2d",
              seq(L(nn.ConvTranspose2d, 4, 4, 3, padding=1, groups=4, bias=False)), (4, 6, 6)),
    LayerCase("convtranspose3d", "ConvTranspose3d", seq(L(nn.ConvTranspose3d, 2, 3, 3, padding=1)), VOL),
    LayerCase("convtranspose3d_stride_outpad", "ConvTranspose3d",
              seq(L(nn.ConvTranspose3d, 2, 3, 3, stride=2, padding=1, output_padding=(1, 0, 1))), VOL),
    LayerCase("convtranspose3d_groups_dil", "ConvTranspose3d",
              seq(L(nn.ConvTranspose3d, 2, 4, 2, groups=2, dilation=(1, 2, 2))), VOL),
]

for _case in CONV_PAD_MODES + CONV_CIRCULAR:
    _case.check_model = one_conv_layer

ALL_CASES = LINEAR + CONV + CONV_PAD_MODES + CONV_CIRCULAR + CONV_SAME_REFUSED + CONV_SAME_FORMS + CONV_TRANSPOSE

LayersConv = ls.make_test_class("LayersConv", ALL_CASES, "Linear, Conv and ConvTranspose layers.")

if __name__ == "__main__":
    ls.main()
