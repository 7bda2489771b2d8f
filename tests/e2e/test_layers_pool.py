"""Layer coverage, pooling: MaxPool1d/2d/3d (ceil_mode, dilation, padding),
AvgPool1d/2d/3d (ceil_mode, count_include_pad both ways), AdaptiveAvgPool
1d/2d/3d and AdaptiveMaxPool1d/2d (to 1 and to sizes dividing the input:
torch 1.13 refuses the others, recorded), LPPool1d/2d (ceil_mode too); each
exported at opsets 9-17 and compared with PyTorch at batch 1 and 3 (see
layer_suite.py).

ceil_mode windows that hang past the padded input are the delicate part:
PyTorch averages them over the cells inside the padded input (LPPool: that
average times the kernel size). torch 1.13 exports count_include_pad=True
as Pad -> AveragePool(ceil_mode=1) (opset 9: the overhang as the
AveragePool's own uncounted end pads), which computes the same; the sizes
below leave such windows on purpose. A single AveragePool counting its own
pads with ceil_mode=1 (what an exporter keeping the pads in the node
writes) is built with onnx.helper at opsets 10-17.
"""

import torch
import torch.nn.functional as F
from onnx import helper
from torch import nn
from torch.nn.modules.utils import _ntuple

import layer_suite as ls
from layer_suite import FormCase, L, LayerCase, seq

SEQ = (3, 16)
IMG = (3, 8, 8)
VOL = (2, 5, 6, 7)
# sizes where ceil_mode leaves partial last windows (noted per case)
SEQ_ODD = (3, 15)
IMG_ODD = (3, 6, 9)
IMG_ODD2 = (3, 7, 8)
VOL_ODD = (2, 6, 7, 8)

MAXPOOL = [
    LayerCase("maxpool1d", "MaxPool1d", seq(L(nn.MaxPool1d, 2)), SEQ),
    LayerCase("maxpool1d_stride_pad", "MaxPool1d", seq(L(nn.MaxPool1d, 3, stride=2, padding=1)), SEQ),
    LayerCase("maxpool1d_ceil", "MaxPool1d", seq(L(nn.MaxPool1d, 3, stride=2, ceil_mode=True)), SEQ),
    LayerCase("maxpool1d_dilation", "MaxPool1d", seq(L(nn.MaxPool1d, 3, stride=1, dilation=2)), SEQ),
    LayerCase("maxpool1d_ceil_pad", "MaxPool1d", seq(L(nn.MaxPool1d, 4, stride=3, padding=2, ceil_mode=True)),
              SEQ, note="the last ceil window would start in the padding: PyTorch drops it (6 outputs) while "
              "the export declares 7"),
    LayerCase("maxpool2d_after_conv", "MaxPool2d", seq(L(nn.Conv2d, 3, 4, 3, padding=1), L(nn.MaxPool2d, 2)), IMG),
    LayerCase("maxpool2d_stride_pad", "MaxPool2d", seq(L(nn.MaxPool2d, 3, stride=2, padding=1)), IMG),
    LayerCase("maxpool2d_ceil", "MaxPool2d", seq(L(nn.MaxPool2d, 3, stride=2, ceil_mode=True)), IMG),
    LayerCase("maxpool2d_dilation", "MaxPool2d", seq(L(nn.MaxPool2d, 3, stride=1, dilation=2)), IMG),
    LayerCase("maxpool2d_dil_ceil_pad", "MaxPool2d",
              seq(L(nn.MaxPool2d, 3, stride=2, padding=1, dilation=2, ceil_mode=True)), (3, 9, 9)),
    LayerCase("maxpool2d_rect", "MaxPool2d", seq(L(nn.MaxPool2d, (2, 3), stride=(2, 1), padding=(1, 1))), IMG),
    LayerCase("maxpool3d", "MaxPool3d", seq(L(nn.MaxPool3d, 2)), VOL),
    LayerCase("maxpool3d_dilation", "MaxPool3d", seq(L(nn.MaxPool3d, 2, stride=1, dilation=(1, 2, 2))), VOL),
    LayerCase("maxpool3d_ceil_pad", "MaxPool3d", seq(L(nn.MaxPool3d, 3, stride=2, padding=1, ceil_mode=True)), VOL),
]

AVGPOOL = [
    LayerCase("avgpool1d", "AvgPool1d", seq(L(nn.AvgPool1d, 2)), SEQ, note="Pad -> AveragePool"),
    LayerCase("avgpool1d_pad_incl", "AvgPool1d", seq(L(nn.AvgPool1d, 3, stride=2, padding=1)), SEQ),
    LayerCase("avgpool1d_pad_excl", "AvgPool1d",
              seq(L(nn.AvgPool1d, 3, stride=2, padding=1, count_include_pad=False)), SEQ),
    LayerCase("avgpool1d_ceil_pad_incl", "AvgPool1d",
              seq(L(nn.AvgPool1d, 4, stride=3, padding=1, ceil_mode=True)), SEQ),
    LayerCase("avgpool2d", "AvgPool2d", seq(L(nn.AvgPool2d, 2)), IMG, note="Pad -> AveragePool"),
    LayerCase("avgpool2d_pad_incl", "AvgPool2d", seq(L(nn.AvgPool2d, 3, stride=2, padding=1)), IMG),
    LayerCase("avgpool2d_pad_excl", "AvgPool2d",
              seq(L(nn.AvgPool2d, 3, stride=2, padding=1, count_include_pad=False)), IMG),
    LayerCase("avgpool2d_ceil", "AvgPool2d", seq(L(nn.AvgPool2d, 3, stride=2, ceil_mode=True)), IMG),
    LayerCase("avgpool2d_ceil_pad_incl", "AvgPool2d",
              seq(L(nn.AvgPool2d, 3, stride=2, padding=1, ceil_mode=True)), IMG),
    LayerCase("avgpool2d_ceil_pad_excl", "AvgPool2d",
              seq(L(nn.AvgPool2d, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)), IMG),
    LayerCase("avgpool2d_rect", "AvgPool2d", seq(L(nn.AvgPool2d, (2, 4), stride=(1, 2))), IMG),
    LayerCase("avgpool3d", "AvgPool3d", seq(L(nn.AvgPool3d, 2)), VOL),
    LayerCase("avgpool3d_pad_excl", "AvgPool3d",
              seq(L(nn.AvgPool3d, 3, stride=2, padding=1, count_include_pad=False)), VOL),
    LayerCase("avgpool3d_ceil_pad_incl", "AvgPool3d",
              seq(L(nn.AvgPool3d, 3, stride=2, padding=1, ceil_mode=True)), VOL),
]

OPSET9_CEIL_BUG = (
    "torch 1.13 at opset 9 (no ceil_mode attribute) sizes the end pads that emulate ceil_mode from the input it "
    "has already zero-padded, counting the padding twice: AvgPool2d((3, 4), stride=(2, 3), padding=1, "
    "ceil_mode=True) on 6x9 becomes Pad(1) -> AveragePool(pads=[0, 0, 2, 1]), 4x3 outputs instead of PyTorch's "
    "4x4 (the last column of windows is lost)")


def avgpool_opset9_double_padding(module, x):
    """What that export computes: the Pad's zeros (counted), then an average
    over end pads of 2 rows and 1 column that are not counted."""
    padded = F.pad(torch.from_numpy(x).double(), (1, 1, 1, 1))
    ext = (0, 1, 0, 2)
    total = F.avg_pool2d(F.pad(padded, ext), (3, 4), (2, 3))
    cells = F.avg_pool2d(F.pad(torch.ones_like(padded), ext), (3, 4), (2, 3))
    return (total / cells).float().numpy()


# ceil_mode with windows past the padded input (the overhang in cells).
AVGPOOL_CEIL = [
    LayerCase("avgpool1d_ceil", "AvgPool1d", seq(L(nn.AvgPool1d, 2, stride=2, ceil_mode=True)), SEQ_ODD,
              note="15: the 8th window 1 wide"),
    LayerCase("avgpool1d_ceil_pad_incl_k3", "AvgPool1d",
              seq(L(nn.Conv1d, 3, 4, 3, padding=1), L(nn.AvgPool1d, 3, stride=2, padding=1, ceil_mode=True)), SEQ,
              note="16 + 2: the 9th window hangs 1 past the padding"),
    LayerCase("avgpool1d_ceil_pad_excl", "AvgPool1d",
              seq(L(nn.AvgPool1d, 4, stride=3, padding=1, ceil_mode=True, count_include_pad=False)), SEQ),
    LayerCase("avgpool2d_ceil_pad_incl_rect", "AvgPool2d",
              seq(L(nn.AvgPool2d, (3, 4), stride=(2, 3), padding=1, ceil_mode=True)), IMG_ODD,
              opsets=ls.opsets_between(10, 17), note="6x9 + 2: overhangs 1 and 2"),
    LayerCase("avgpool2d_ceil_pad_incl_rect_opset9", "AvgPool2d",
              seq(L(nn.AvgPool2d, (3, 4), stride=(2, 3), padding=1, ceil_mode=True)), IMG_ODD,
              opsets=ls.opsets_between(9, 9), bug=OPSET9_CEIL_BUG, bug_model=avgpool_opset9_double_padding),
    LayerCase("avgpool2d_ceil_pad_incl_after_conv", "AvgPool2d",
              seq(L(nn.Conv2d, 3, 16, 3, padding=1), L(nn.ReLU),
                  L(nn.AvgPool2d, 3, stride=2, padding=1, ceil_mode=True)), IMG_ODD),
    LayerCase("avgpool2d_ceil_pad_excl_rect", "AvgPool2d",
              seq(L(nn.AvgPool2d, (3, 4), stride=(2, 3), padding=1, ceil_mode=True, count_include_pad=False)),
              IMG_ODD),
    LayerCase("avgpool3d_ceil_pad_incl_odd", "AvgPool3d",
              seq(L(nn.AvgPool3d, 3, stride=2, padding=1, ceil_mode=True)), VOL_ODD,
              note="6x7x8 + 2: overhangs 1, 0, 1"),
    LayerCase("avgpool3d_ceil_pad_excl", "AvgPool3d",
              seq(L(nn.AvgPool3d, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)), VOL_ODD),
    LayerCase("avgpool3d_ceil", "AvgPool3d", seq(L(nn.AvgPool3d, (2, 3, 3), stride=2, ceil_mode=True)), VOL_ODD),
]


def avgpool_own_pads_form(module, opset, case):
    """The AvgPool as one AveragePool counting its own pads
    (count_include_pad=1) with ceil_mode=1, as an exporter keeping the pads
    in the AveragePool writes it (torch 1.13 writes Pad -> AveragePool)."""
    pool = module[0]
    spatial = len(case.sample_shape) - 1
    tuple_of = _ntuple(spatial)
    node = helper.make_node("AveragePool", ["input"], ["output"], name="/0/AveragePool",
                            kernel_shape=list(tuple_of(pool.kernel_size)), strides=list(tuple_of(pool.stride)),
                            pads=list(tuple_of(pool.padding)) * 2, ceil_mode=1, count_include_pad=1)
    return ls.make_model([node], [], case.sample_shape, ls.output_sample_shape(module, case), opset)


CEIL_OPSETS = ls.opsets_between(10, 17)  # ceil_mode exists from opset 10

AVGPOOL_OWN_PADS = [
    FormCase("avgpool1d_ceil_own_pads_form", "AvgPool1d",
             seq(L(nn.AvgPool1d, 4, stride=3, padding=1, ceil_mode=True)), SEQ, avgpool_own_pads_form,
             opsets=CEIL_OPSETS, note="AveragePool(pads, count_include_pad=1, ceil_mode=1)"),
    FormCase("avgpool2d_ceil_own_pads_form", "AvgPool2d",
             seq(L(nn.AvgPool2d, (3, 4), stride=(2, 3), padding=1, ceil_mode=True)), IMG_ODD,
             avgpool_own_pads_form, opsets=CEIL_OPSETS, note="AveragePool(pads, count_include_pad=1, ceil_mode=1)"),
    FormCase("avgpool3d_ceil_own_pads_form", "AvgPool3d",
             seq(L(nn.AvgPool3d, 3, stride=2, padding=1, ceil_mode=True)), VOL_ODD, avgpool_own_pads_form,
             opsets=CEIL_OPSETS, note="AveragePool(pads, count_include_pad=1, ceil_mode=1)"),
]

ADAPTIVE = [
    LayerCase("adaptiveavgpool1d_1", "AdaptiveAvgPool1d", seq(L(nn.Conv1d, 3, 4, 3), L(nn.AdaptiveAvgPool1d, 1)),
              SEQ, note="GlobalAveragePool"),
    LayerCase("adaptiveavgpool1d_4", "AdaptiveAvgPool1d", seq(L(nn.AdaptiveAvgPool1d, 4)), SEQ),
    LayerCase("adaptiveavgpool2d_1", "AdaptiveAvgPool2d",
              seq(L(nn.Conv2d, 3, 4, 3), L(nn.ReLU), L(nn.AdaptiveAvgPool2d, 1), L(nn.Flatten), L(nn.Linear, 4, 3)),
              IMG, note="GlobalAveragePool"),
    LayerCase("adaptiveavgpool2d_2x4", "AdaptiveAvgPool2d", seq(L(nn.AdaptiveAvgPool2d, (2, 4))), IMG),
    LayerCase("adaptiveavgpool3d_1", "AdaptiveAvgPool3d", seq(L(nn.AdaptiveAvgPool3d, 1)), VOL),
    LayerCase("adaptiveavgpool3d_1x3x7", "AdaptiveAvgPool3d", seq(L(nn.AdaptiveAvgPool3d, (1, 3, 7))), VOL),
    LayerCase("adaptivemaxpool1d_1", "AdaptiveMaxPool1d", seq(L(nn.AdaptiveMaxPool1d, 1)), SEQ),
    LayerCase("adaptivemaxpool1d_4", "AdaptiveMaxPool1d", seq(L(nn.AdaptiveMaxPool1d, 4)), SEQ),
    LayerCase("adaptivemaxpool2d_1", "AdaptiveMaxPool2d", seq(L(nn.AdaptiveMaxPool2d, 1)), IMG),
    LayerCase("adaptivemaxpool2d_2x4", "AdaptiveMaxPool2d", seq(L(nn.AdaptiveMaxPool2d, (2, 4))), IMG),
    LayerCase("adaptiveavgpool2d_3_nondivisor", "AdaptiveAvgPool2d (size not dividing the input)",
              seq(L(nn.AdaptiveAvgPool2d, 3)), IMG, refusal_expected=True),
]

LPPOOL = [
    LayerCase("lppool1d_p2", "LPPool1d", seq(L(nn.LPPool1d, 2, 3, stride=2)), SEQ),
    LayerCase("lppool1d_p3_after_relu", "LPPool1d", seq(L(nn.ReLU), L(nn.LPPool1d, 3, 2)), SEQ,
              note="odd p: PyTorch is NaN for a negative window sum, hence the ReLU"),
    LayerCase("lppool2d_p2", "LPPool2d", seq(L(nn.LPPool2d, 2, 2)), IMG),
    LayerCase("lppool2d_k3s2", "LPPool2d", seq(L(nn.Conv2d, 3, 4, 3, padding=1), L(nn.LPPool2d, 2, 3, stride=2)),
              IMG),
    LayerCase("lppool2d_p1_rect", "LPPool2d", seq(L(nn.ReLU), L(nn.LPPool2d, 1, (2, 3))), IMG),
    # ceil_mode: PyTorch scales a partial window's sum by kernel size / the
    # cells it covers (avg_pool * kernel size); the export computes the same
    LayerCase("lppool1d_ceil", "LPPool1d", seq(L(nn.LPPool1d, 2, 3, stride=2, ceil_mode=True)), SEQ,
              note="16: the 8th window 2 wide"),
    LayerCase("lppool1d_ceil_p3_after_relu", "LPPool1d",
              seq(L(nn.ReLU), L(nn.LPPool1d, 3, 2, stride=2, ceil_mode=True)), SEQ_ODD),
    LayerCase("lppool2d_ceil", "LPPool2d", seq(L(nn.LPPool2d, 2, 3, stride=2, ceil_mode=True)), IMG),
    LayerCase("lppool2d_ceil_after_conv", "LPPool2d",
              seq(L(nn.Conv2d, 3, 8, 3, padding=1), L(nn.LPPool2d, 2, 3, stride=2, ceil_mode=True)), IMG_ODD2),
    LayerCase("lppool2d_ceil_p1_rect", "LPPool2d",
              seq(L(nn.ReLU), L(nn.LPPool2d, 1, (2, 3), stride=2, ceil_mode=True)), IMG_ODD2,
              note="7x8: overhangs 1 and 1"),
]

ALL_CASES = MAXPOOL + AVGPOOL + AVGPOOL_CEIL + AVGPOOL_OWN_PADS + ADAPTIVE + LPPOOL

LayersPool = ls.make_test_class("LayersPool", ALL_CASES, "Max, average, adaptive and Lp pooling.")

if __name__ == "__main__":
    ls.main()
