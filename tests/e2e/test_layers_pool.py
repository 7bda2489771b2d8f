"""Layer coverage, pooling: MaxPool1d/2d/3d (ceil_mode, dilation, padding),
AvgPool1d/2d/3d (ceil_mode, count_include_pad both ways), AdaptiveAvgPool
1d/2d/3d and AdaptiveMaxPool1d/2d (to 1 and to sizes dividing the input:
torch 1.13 refuses the others, recorded), LPPool1d/2d; each exported at
opsets 9-17 and compared with PyTorch at batch 1 and 3 (see layer_suite.py).
"""

from torch import nn

import layer_suite as ls
from layer_suite import L, LayerCase, seq

SEQ = (3, 16)
IMG = (3, 8, 8)
VOL = (2, 5, 6, 7)

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
]

ALL_CASES = MAXPOOL + AVGPOOL + ADAPTIVE + LPPOOL

LayersPool = ls.make_test_class("LayersPool", ALL_CASES, "Max, average, adaptive and Lp pooling.")

if __name__ == "__main__":
    ls.main()
