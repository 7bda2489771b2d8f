"""Layer coverage, normalisation: BatchNorm1d/2d/3d (folded into the
preceding Conv by the exporter or into a ConvTranspose by seqrt, and
standalone), InstanceNorm1d/2d/3d,
GroupNorm, LayerNorm (over one or several trailing dims, with and without
affine), LocalResponseNorm; each exported at opsets 9-17 and compared with
PyTorch at batch 1 and 3 (see layer_suite.py). Norm parameters and running
statistics are random so that a dropped or misplaced one shows.

LayerNorm(elementwise_affine=False) at opset 17 makes torch 1.13 write an
invalid LayerNormalization (empty scale input) that its own checker refuses;
recorded as a refusal.
"""

from torch import nn

import layer_suite as ls
from layer_suite import L, LayerCase, seq

VEC = (8,)
SEQ = (3, 16)
IMG = (3, 8, 8)
VOL = (2, 5, 6, 7)

FOLDED = "BatchNorm1d/2d/3d (folded into Conv)"
FOLDED_T = "BatchNorm1d/2d (folded into ConvTranspose)"
STANDALONE = "BatchNorm1d/2d/3d (standalone)"
BATCHNORM = [
    LayerCase("batchnorm1d_after_conv1d", FOLDED, seq(L(nn.Conv1d, 3, 4, 3), L(nn.BatchNorm1d, 4)), SEQ),
    LayerCase("batchnorm2d_after_conv2d", FOLDED, seq(L(nn.Conv2d, 3, 4, 3), L(nn.BatchNorm2d, 4)), IMG),
    LayerCase("batchnorm2d_after_conv2d_nobias_relu", FOLDED,
              seq(L(nn.Conv2d, 3, 4, 3, bias=False), L(nn.BatchNorm2d, 4), L(nn.ReLU)), IMG),
    LayerCase("batchnorm3d_after_conv3d", FOLDED, seq(L(nn.Conv3d, 2, 3, 3), L(nn.BatchNorm3d, 3)), VOL),
    LayerCase("batchnorm1d_after_convtranspose1d", FOLDED_T,
              seq(L(nn.ConvTranspose1d, 3, 4, 3, stride=2), L(nn.BatchNorm1d, 4)), SEQ),
    LayerCase("batchnorm2d_after_convtranspose2d_groups_relu", FOLDED_T,
              seq(L(nn.ConvTranspose2d, 4, 6, 3, stride=2, groups=2, bias=False), L(nn.BatchNorm2d, 6), L(nn.ReLU)),
              (4, 5, 5)),
    LayerCase("batchnorm1d_alone", STANDALONE, seq(L(nn.BatchNorm1d, 8)), VEC),
    LayerCase("batchnorm1d_alone_3d", STANDALONE, seq(L(nn.BatchNorm1d, 3)), SEQ),
    LayerCase("batchnorm1d_after_linear", STANDALONE, seq(L(nn.Linear, 8, 16), L(nn.BatchNorm1d, 16)), VEC),
    LayerCase("batchnorm2d_alone", STANDALONE, seq(L(nn.BatchNorm2d, 3)), IMG),
    LayerCase("batchnorm2d_after_relu", STANDALONE,
              seq(L(nn.Conv2d, 3, 4, 3), L(nn.ReLU), L(nn.BatchNorm2d, 4)), IMG, note="not foldable"),
    LayerCase("batchnorm2d_no_affine", STANDALONE, seq(L(nn.BatchNorm2d, 3, affine=False)), IMG),
    LayerCase("batchnorm2d_default_stats", STANDALONE, seq(L(nn.ReLU), L(nn.BatchNorm2d, 3)), IMG, randomize=False,
              note="equal initializers deduplicated into Identity nodes"),
    LayerCase("batchnorm3d_alone", STANDALONE, seq(L(nn.BatchNorm3d, 2, eps=1e-3)), VOL),
]

INSTANCENORM = [
    LayerCase("instancenorm1d", "InstanceNorm1d", seq(L(nn.InstanceNorm1d, 3)), SEQ),
    LayerCase("instancenorm1d_affine", "InstanceNorm1d", seq(L(nn.Conv1d, 3, 4, 3), L(nn.InstanceNorm1d, 4,
                                                                                      affine=True)), SEQ),
    LayerCase("instancenorm2d", "InstanceNorm2d", seq(L(nn.InstanceNorm2d, 3)), IMG),
    LayerCase("instancenorm2d_affine", "InstanceNorm2d", seq(L(nn.InstanceNorm2d, 3, affine=True, eps=1e-3)), IMG),
    LayerCase("instancenorm2d_running_stats", "InstanceNorm2d (track_running_stats=True)",
              seq(L(nn.InstanceNorm2d, 3, affine=True, track_running_stats=True)), IMG, refusal_expected=True,
              note="torch 1.13 refuses it with a dynamic batch"),
    LayerCase("instancenorm3d", "InstanceNorm3d", seq(L(nn.InstanceNorm3d, 2)), VOL),
    LayerCase("instancenorm3d_affine", "InstanceNorm3d", seq(L(nn.InstanceNorm3d, 2, affine=True)), VOL),
]

GROUPNORM = [
    LayerCase("groupnorm_2of4", "GroupNorm", seq(L(nn.Conv2d, 3, 4, 3, padding=1), L(nn.GroupNorm, 2, 4)), IMG),
    LayerCase("groupnorm_1group", "GroupNorm", seq(L(nn.Conv2d, 3, 4, 3, padding=1), L(nn.GroupNorm, 1, 4)), IMG),
    LayerCase("groupnorm_per_channel", "GroupNorm", seq(L(nn.GroupNorm, 3, 3)), IMG),
    LayerCase("groupnorm_no_affine", "GroupNorm", seq(L(nn.Conv2d, 3, 6, 1), L(nn.GroupNorm, 3, 6, affine=False)),
              IMG),
    LayerCase("groupnorm_3d_input", "GroupNorm", seq(L(nn.Conv1d, 3, 4, 3), L(nn.GroupNorm, 2, 4)), SEQ),
    LayerCase("groupnorm_5d_input", "GroupNorm", seq(L(nn.Conv3d, 2, 4, 1), L(nn.GroupNorm, 2, 4, eps=1e-3)), VOL),
]

LAYERNORM = [
    LayerCase("layernorm_last", "LayerNorm", seq(L(nn.Linear, 8, 16), L(nn.LayerNorm, 16)), VEC),
    LayerCase("layernorm_last_3d", "LayerNorm", seq(L(nn.Linear, 8, 16), L(nn.LayerNorm, 16)), (5, 8)),
    LayerCase("layernorm_last2", "LayerNorm", seq(L(nn.Conv2d, 3, 4, 3, padding=1), L(nn.LayerNorm, (8, 8))), IMG),
    LayerCase("layernorm_last3", "LayerNorm", seq(L(nn.LayerNorm, (3, 8, 8), eps=1e-3)), IMG),
    LayerCase("layernorm_first", "LayerNorm", seq(L(nn.LayerNorm, 8), L(nn.Linear, 8, 4)), VEC),
    LayerCase("layernorm_noaffine", "LayerNorm (elementwise_affine=False)",
              seq(L(nn.Linear, 8, 16), L(nn.LayerNorm, 16, elementwise_affine=False)), VEC),
    LayerCase("layernorm_noaffine_last2", "LayerNorm (elementwise_affine=False)",
              seq(L(nn.LayerNorm, (8, 8), elementwise_affine=False)), IMG),
]

LRN = "LocalResponseNorm"
LOCAL_RESPONSE_NORM = [
    LayerCase("localresponsenorm", LRN, seq(L(nn.Conv2d, 3, 6, 3, padding=1), L(nn.LocalResponseNorm, 3)), IMG),
    LayerCase("localresponsenorm_size2", LRN, seq(L(nn.Conv2d, 3, 6, 3, padding=1), L(nn.LocalResponseNorm, 2)),
              IMG),
    LayerCase("localresponsenorm_params", LRN,
              seq(L(nn.LocalResponseNorm, 5, alpha=0.01, beta=0.5, k=2.0)), (6, 5, 5), inputs=ls.normal(3.0)),
    LayerCase("localresponsenorm_3d_input", LRN, seq(L(nn.Conv1d, 3, 5, 3), L(nn.LocalResponseNorm, 3)), SEQ),
]

ALL_CASES = BATCHNORM + INSTANCENORM + GROUPNORM + LAYERNORM + LOCAL_RESPONSE_NORM

LayersNorm = ls.make_test_class("LayersNorm", ALL_CASES, "Batch, instance, group, layer and local response norms.")

if __name__ == "__main__":
    ls.main()
