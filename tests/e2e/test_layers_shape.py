"""Layer coverage, layout layers: padding (ZeroPad2d, ConstantPad,
ReflectionPad, ReplicationPad 1d/2d/3d), resizing (Upsample nearest /
linear / bilinear / trilinear with align_corners both ways, by scale factor
and by size; UpsamplingNearest2d, UpsamplingBilinear2d), PixelShuffle,
PixelUnshuffle, ChannelShuffle, permute / transpose after the batch,
slicing and indexing after the batch (x[:, :k], x[..., ::2], x.chunk,
x[:, i], x[:, [i, j]]), Flatten (any start/end dim), Unflatten,
Identity, the Dropouts (removed in eval mode), Embedding as the first layer
(int64 indices) and nested nn.Sequential; each exported at opsets 9-17 and
compared with PyTorch at batch 1 and 3 (see layer_suite.py).

torch 1.13 has no export for Unflatten and ChannelShuffle (recorded); their
ONNX forms (Reshape; Reshape -> Transpose -> Reshape) are built with
onnx.helper and compared with the PyTorch modules.
"""

import os
import unittest

import numpy as np
import torch
from onnx import helper
from torch import nn

import layer_suite as ls
from layer_suite import FormCase, L, LayerCase, seq

import e2e_common as e2e

VEC = (8,)
SEQ = (3, 16)
IMG = (3, 8, 8)
VOL = (2, 5, 6, 7)


class View(nn.Module):
    """x.reshape(*shape): exported as one Reshape with a constant target."""

    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(*self.shape)


def after_conv1d(*layers, channels=4):
    return seq(L(nn.Conv1d, 3, channels, 3, padding=1), *layers)


def after_conv(*layers, channels=4):
    return seq(L(nn.Conv2d, 3, channels, 3, padding=1), *layers)


PADDING = [
    LayerCase("zeropad2d", "ZeroPad2d", after_conv(L(nn.ZeroPad2d, (1, 2, 0, 1))), IMG),
    LayerCase("zeropad2d_2", "ZeroPad2d", seq(L(nn.ZeroPad2d, 2)), IMG),
    LayerCase("zeropad2d_crop", "ZeroPad2d", seq(L(nn.ZeroPad2d, (-1, 1, 0, -2))), IMG, note="negative pads crop"),
    LayerCase("constantpad1d", "ConstantPad1d", after_conv1d(L(nn.ConstantPad1d, (2, 1), 0.5)), SEQ),
    LayerCase("constantpad2d", "ConstantPad2d", after_conv(L(nn.ConstantPad2d, (1, 1, 1, 1), -1.5)), IMG),
    LayerCase("constantpad2d_asym", "ConstantPad2d", seq(L(nn.ConstantPad2d, (0, 3, 2, 0), 2.0)), IMG),
    LayerCase("constantpad3d", "ConstantPad3d", seq(L(nn.ConstantPad3d, (1, 0, 2, 1, 0, 1), 0.25)), VOL),
    LayerCase("reflectionpad1d", "ReflectionPad1d", after_conv1d(L(nn.ReflectionPad1d, (2, 1))), SEQ),
    LayerCase("reflectionpad2d", "ReflectionPad2d", after_conv(L(nn.ReflectionPad2d, (1, 2, 2, 1))), IMG),
    LayerCase("reflectionpad2d_3", "ReflectionPad2d", seq(L(nn.ReflectionPad2d, 3)), IMG),
    LayerCase("reflectionpad3d", "ReflectionPad3d", seq(L(nn.ReflectionPad3d, (1, 2, 0, 1, 2, 1))), VOL),
    LayerCase("replicationpad1d", "ReplicationPad1d", after_conv1d(L(nn.ReplicationPad1d, (1, 3))), SEQ),
    LayerCase("replicationpad2d", "ReplicationPad2d", after_conv(L(nn.ReplicationPad2d, 2)), IMG),
    LayerCase("replicationpad2d_asym", "ReplicationPad2d", seq(L(nn.ReplicationPad2d, (0, 1, 3, 0))), IMG),
    LayerCase("replicationpad3d", "ReplicationPad3d", seq(L(nn.ReplicationPad3d, (1, 2, 0, 1, 1, 0))), VOL),
]

NEAREST = "Upsample (nearest)"
FROM_11 = ls.opsets_between(11, 17)
BEFORE_11 = ls.opsets_between(9, 10)
# Before opset 11, Upsample/Resize know one coordinate transform,
# x_in = x_out / scale; torch 1.13 still exports align_corners=False
# (half-pixel centres) with it, warning that the results may differ.
ASYMMETRIC_BUG = ("torch 1.13 exports linear upsampling at opset 9/10 with the asymmetric coordinates "
                  "of Upsample/Resize-10 (x_in = x_out / scale), not PyTorch's half-pixel centres")
LINEAR = "Upsample (linear, bilinear, trilinear)"
RESIZE = [
    LayerCase("upsample_nearest", NEAREST, after_conv(L(nn.Upsample, scale_factor=2)), IMG),
    LayerCase("upsample_nearest_3", NEAREST, seq(L(nn.Upsample, scale_factor=3)), IMG),
    LayerCase("upsample_nearest_1_5", NEAREST, seq(L(nn.Upsample, scale_factor=1.5)), IMG),
    LayerCase("upsample_nearest_2x3", NEAREST, seq(L(nn.Upsample, scale_factor=(2, 3))), IMG),
    LayerCase("upsample_nearest_size", NEAREST, after_conv(L(nn.Upsample, size=(12, 16))), IMG,
              note="sizes from Shape(x)"),
    LayerCase("upsample_nearest_1d", NEAREST, after_conv1d(L(nn.Upsample, scale_factor=2)), SEQ),
    LayerCase("upsample_nearest_3d", NEAREST, seq(L(nn.Upsample, scale_factor=2)), VOL),
    LayerCase("upsample_linear1d", LINEAR, after_conv1d(L(nn.Upsample, scale_factor=2, mode="linear")), SEQ,
              opsets=FROM_11),
    LayerCase("upsample_linear1d_ac", LINEAR,
              after_conv1d(L(nn.Upsample, scale_factor=2, mode="linear", align_corners=True)), SEQ),
    LayerCase("upsample_linear1d_size", LINEAR, seq(L(nn.Upsample, size=25, mode="linear")), SEQ),
    LayerCase("upsample_bilinear", LINEAR, after_conv(L(nn.Upsample, scale_factor=2, mode="bilinear")), IMG,
              opsets=FROM_11),
    LayerCase("upsample_bilinear_ac", LINEAR,
              after_conv(L(nn.Upsample, scale_factor=2, mode="bilinear", align_corners=True)), IMG),
    LayerCase("upsample_bilinear_size", LINEAR, after_conv(L(nn.Upsample, size=(11, 13), mode="bilinear")), IMG),
    LayerCase("upsample_bilinear_size_ac", LINEAR,
              seq(L(nn.Upsample, size=(11, 13), mode="bilinear", align_corners=True)), IMG),
    LayerCase("upsample_trilinear", LINEAR, seq(L(nn.Upsample, scale_factor=2, mode="trilinear")), VOL,
              opsets=FROM_11),
    LayerCase("upsample_linear1d_asymmetric", LINEAR, after_conv1d(L(nn.Upsample, scale_factor=2, mode="linear")),
              SEQ, opsets=BEFORE_11, bug=ASYMMETRIC_BUG),
    LayerCase("upsample_bilinear_asymmetric", LINEAR, after_conv(L(nn.Upsample, scale_factor=2, mode="bilinear")),
              IMG, opsets=BEFORE_11, bug=ASYMMETRIC_BUG),
    LayerCase("upsample_trilinear_asymmetric", LINEAR, seq(L(nn.Upsample, scale_factor=2, mode="trilinear")), VOL,
              opsets=BEFORE_11, bug=ASYMMETRIC_BUG),
    LayerCase("upsamplingnearest2d", "UpsamplingNearest2d", after_conv(L(nn.UpsamplingNearest2d, scale_factor=2)),
              IMG),
    LayerCase("upsamplingnearest2d_size", "UpsamplingNearest2d", seq(L(nn.UpsamplingNearest2d, size=(12, 10))),
              IMG),
    LayerCase("upsamplingbilinear2d", "UpsamplingBilinear2d",
              after_conv(L(nn.UpsamplingBilinear2d, scale_factor=2)), IMG, note="align_corners=True"),
    LayerCase("upsamplingbilinear2d_size", "UpsamplingBilinear2d", seq(L(nn.UpsamplingBilinear2d, size=(11, 13))),
              IMG),
]

class Permute(nn.Module):
    """x.permute(*dims): one Transpose."""

    def __init__(self, *dims):
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return x.permute(*self.dims)


PERMUTE = "x.permute(0, ...), x.transpose(i, j) (batch first)"
PERMUTES = [
    LayerCase("transpose_conv1d", PERMUTE,
              seq(L(Permute, 0, 2, 1), L(nn.Conv1d, 3, 4, 3), L(nn.ReLU), L(Permute, 0, 2, 1), L(nn.Linear, 4, 2)),
              (9, 3), note="[N, T, C] sequences around a Conv1d"),
    LayerCase("text_cnn", PERMUTE,
              seq(L(nn.Embedding, 20, 6), L(Permute, 0, 2, 1), L(nn.Conv1d, 6, 4, 3), L(nn.ReLU),
                  L(nn.AdaptiveMaxPool1d, 1), L(nn.Flatten), L(nn.Linear, 4, 2)),
              (7,), inputs=ls.indices(20), note="Embedding -> permute -> Conv1d"),
    LayerCase("permute_nhwc", PERMUTE, seq(L(nn.Conv2d, 3, 4, 3, padding=1), L(Permute, 0, 2, 3, 1), L(nn.Linear, 4, 3)), IMG,
              note="channels last, then a Linear over them"),
    LayerCase("permute_5d", PERMUTE, seq(L(Permute, 0, 3, 1, 4, 2)), VOL),
]

class Index(nn.Module):
    """fn(x): tensor indexing in a forward (Slice, Gather)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


SLICE = "x[:, a:b], x[..., a:b:step], x.chunk(n, dim)[k], x.split(s, dim)[k]"
INDEX = "x[:, i], x[:, [i, j, ...]] (constant indices)"
SLICES = [
    LayerCase("slice_channels", SLICE, after_conv(L(Index, lambda x: x[:, :2]), L(nn.Conv2d, 2, 3, 3)), IMG),
    LayerCase("slice_crop", SLICE, after_conv(L(Index, lambda x: x[:, :, 1:-1, 2:])), IMG,
              note="one Slice per dim, run as one layer"),
    LayerCase("slice_step", SLICE, after_conv1d(L(Index, lambda x: x[..., 1::2])), SEQ),
    LayerCase("slice_features", SLICE, seq(L(nn.Linear, 8, 16), L(Index, lambda x: x[:, 4:12]), L(nn.Linear, 8, 3)),
              VEC),
    LayerCase("chunk_second", SLICE, after_conv(L(Index, lambda x: x.chunk(2, dim=1)[1]), L(nn.ReLU)), IMG,
              note="Split at opsets 9-10, Slice from 11"),
    LayerCase("split_sizes", SLICE, seq(L(nn.Linear, 8, 10), L(Index, lambda x: x.split([3, 5, 2], dim=1)[1])), VEC),
    LayerCase("slice_5d", SLICE, seq(L(nn.Conv3d, 2, 4, 3, padding=1), L(Index, lambda x: x[:, 1:3, :, 2:5])), VOL),
    LayerCase("index_first_channel", INDEX, after_conv1d(L(Index, lambda x: x[:, 0]), L(nn.Linear, 16, 3)), SEQ),
    LayerCase("index_last_step", INDEX, after_conv1d(L(Index, lambda x: x[:, :, -1]), L(nn.Linear, 4, 2)), SEQ,
              note="the last time step of a sequence"),
    LayerCase("index_list", INDEX, after_conv(L(Index, lambda x: x[:, [1, 3]])), IMG),
    LayerCase("index_then_slice", INDEX, after_conv(L(Index, lambda x: x[:, 2, 1:5])), IMG),
]

SHUFFLE = [
    LayerCase("pixelshuffle", "PixelShuffle", after_conv(L(nn.PixelShuffle, 2), channels=8), (3, 6, 6),
              note="DepthToSpace(CRD)"),
    LayerCase("pixelshuffle_3", "PixelShuffle", after_conv(L(nn.PixelShuffle, 3), channels=18), (3, 4, 5)),
    LayerCase("pixelunshuffle", "PixelUnshuffle", after_conv(L(nn.PixelUnshuffle, 2)), IMG,
              note="Reshape -> Transpose -> Reshape"),
    LayerCase("pixelunshuffle_4", "PixelUnshuffle", seq(L(nn.PixelUnshuffle, 4)), IMG),
    LayerCase("channelshuffle", "ChannelShuffle", after_conv(L(nn.ChannelShuffle, 2)), IMG, refusal_expected=True),
]


def channel_shuffle_form(module, opset, case):
    """ChannelShuffle(g) on [N, C, H, W]: Reshape [-1, g, C/g, H, W] ->
    Transpose(0, 2, 1, 3, 4) -> Reshape [-1, C, H, W]."""
    groups = module[0].groups
    channels, height, width = case.sample_shape
    nodes = [
        helper.make_node("Reshape", ["input", "/0/shape5"], ["/0/Reshape_output_0"], name="/0/Reshape"),
        helper.make_node("Transpose", ["/0/Reshape_output_0"], ["/0/Transpose_output_0"], name="/0/Transpose",
                         perm=[0, 2, 1, 3, 4]),
        helper.make_node("Reshape", ["/0/Transpose_output_0", "/0/shape4"], ["output"], name="/0/Reshape_1"),
    ]
    initializers = [("/0/shape5", np.array([-1, groups, channels // groups, height, width], np.int64)),
                    ("/0/shape4", np.array([-1, channels, height, width], np.int64))]
    return ls.make_model(nodes, initializers, case.sample_shape, case.sample_shape, opset)


def unflatten_form(batch_dim):
    """Unflatten as one Reshape with a constant target: batch_dim is -1 or 0
    (0 copies the input's batch)."""

    def build(module, opset, case):
        out_shape = ls.output_sample_shape(module, case)
        node = helper.make_node("Reshape", ["input", "/0/shape"], ["output"], name="/0/Reshape")
        shape = np.array([batch_dim] + out_shape, np.int64)
        return ls.make_model([node], [("/0/shape", shape)], case.sample_shape, out_shape, opset)

    return build


def unflatten_from_shape_form(module, opset, case):
    """Unflatten of the last dim with the target computed from Shape(x), as
    torch writes Flatten(start_dim > 1): Concat(Shape(x)[:-1], sizes)."""
    unflatten = module[0]
    rank = len(case.sample_shape) + 1
    nodes = [
        helper.make_node("Shape", ["input"], ["/0/Shape_output_0"], name="/0/Shape"),
        helper.make_node("Slice", ["/0/Shape_output_0", "/0/starts", "/0/ends", "/0/axes"], ["/0/Slice_output_0"],
                         name="/0/Slice") if opset >= 10 else
        helper.make_node("Slice", ["/0/Shape_output_0"], ["/0/Slice_output_0"], name="/0/Slice", starts=[0],
                         ends=[rank - 1], axes=[0]),
        helper.make_node("Concat", ["/0/Slice_output_0", "/0/sizes"], ["/0/Concat_output_0"], name="/0/Concat",
                         axis=0),
        helper.make_node("Reshape", ["input", "/0/Concat_output_0"], ["output"], name="/0/Reshape"),
    ]
    initializers = [("/0/sizes", np.array(unflatten.unflattened_size, np.int64))]
    if opset >= 10:
        initializers += [("/0/starts", np.array([0], np.int64)), ("/0/ends", np.array([rank - 1], np.int64)),
                         ("/0/axes", np.array([0], np.int64))]
    return ls.make_model(nodes, initializers, case.sample_shape, ls.output_sample_shape(module, case), opset)


SHUFFLE_FORMS = [
    FormCase("channelshuffle_form", "ChannelShuffle", seq(L(nn.ChannelShuffle, 2)), (4, 6, 6), channel_shuffle_form,
             note="Reshape -> Transpose -> Reshape"),
    FormCase("channelshuffle_3_form", "ChannelShuffle", seq(L(nn.ChannelShuffle, 3)), (6, 4, 5),
             channel_shuffle_form),
]

FLATTEN = [
    LayerCase("flatten", "Flatten", after_conv(L(nn.Flatten)), IMG, note="Flatten(axis=1)"),
    LayerCase("flatten_then_linear", "Flatten",
              seq(L(nn.Conv2d, 3, 4, 3), L(nn.Flatten), L(nn.Linear, 4 * 6 * 6, 5)), IMG),
    LayerCase("flatten_3d", "Flatten", after_conv1d(L(nn.Flatten)), SEQ),
    LayerCase("flatten_volume", "Flatten", seq(L(nn.Conv3d, 2, 2, 3), L(nn.Flatten)), VOL),
    LayerCase("flatten_start2", "Flatten", after_conv(L(nn.Flatten, 2)), IMG, note="Reshape from Shape(x)"),
    LayerCase("flatten_1_2", "Flatten", after_conv(L(nn.Flatten, 1, 2)), IMG),
    LayerCase("flatten_end_m2", "Flatten", seq(L(nn.Flatten, 1, -2)), VOL),
]

# Over the batch (start_dim=0): the output's first dim is the batch times
# the merged dims (inspect shows [-1*K, ...]); the layers after it see
# batch*K rows. Batch 3 shows that rows of different samples mix right
# (Softmax(dim=0) normalises across them).
FLATTEN_OVER_BATCH = [
    LayerCase("flatten_0", "Flatten", after_conv(L(nn.Flatten, 0)), IMG, note="Reshape [-1]: [-1*256]"),
    LayerCase("flatten_0_1", "Flatten", after_conv(L(nn.Flatten, 0, 1)), IMG, note="[-1*4, 8, 8]"),
    LayerCase("flatten_0_m2", "Flatten", seq(L(nn.Flatten, 0, -2)), VOL, note="Flatten(axis=4): [-1*60, 7]"),
    LayerCase("flatten_0_tanh", "Flatten", seq(L(nn.Conv2d, 3, 4, 3), L(nn.Flatten, 0), L(nn.Tanh)), IMG),
    LayerCase("flatten_0_softmax_0", "Flatten", seq(L(nn.Linear, 8, 6), L(nn.Flatten, 0), L(nn.Softmax, dim=0)),
              VEC, note="softmax over every sample's features together"),
    LayerCase("flatten_0_1_softmax_0", "Flatten", after_conv1d(seq(L(nn.Flatten, 0, 1), L(nn.LogSoftmax, dim=0))),
              SEQ, note="Flatten(axis=2): [-1*4, 16]"),
    LayerCase("flatten_0_1_conv", "Flatten",
              seq(L(nn.Flatten, 0, 1), L(nn.Conv2d, 5, 3, 3), L(nn.BatchNorm2d, 3), L(nn.ReLU), L(nn.MaxPool2d, 2)),
              VOL, note="[-1*2, 5, 6, 7] as a batch of images"),
    LayerCase("flatten_0_1_linear", "Flatten", after_conv1d(seq(L(nn.Flatten, 0, 1), L(nn.Linear, 16, 5))), SEQ,
              note="Linear over the last dim of [-1*4, 16]"),
    LayerCase("flatten_0_1_twice", "Flatten", seq(L(nn.Flatten, 0, 1), L(nn.Flatten, 0, 1), L(nn.Sigmoid)), VOL,
              note="the second reads Shape of [-1*2, 5, 6, 7]"),
    LayerCase("flatten_0_1_then_view", "Flatten", seq(L(nn.Flatten, 0, 1), L(View, -1, 2, 5, 6, 7)), VOL,
              note="Reshape [-1, 2, 5, 6, 7] splits the batch out again"),
]

UNFLATTEN = [
    LayerCase("unflatten", "Unflatten", seq(L(nn.Linear, 8, 16), L(nn.Unflatten, 1, (2, 8))), VEC,
              refusal_expected=True),
    LayerCase("unflatten_last", "Unflatten", after_conv1d(L(nn.Unflatten, 2, (4, 4))), SEQ, refusal_expected=True),
]

UNFLATTEN_FORMS = [
    FormCase("unflatten_reshape", "Unflatten", seq(L(nn.Unflatten, 1, (2, 8))), (16,), unflatten_form(-1),
             note="Reshape [-1, 2, 8]"),
    FormCase("unflatten_reshape_copy_batch", "Unflatten", seq(L(nn.Unflatten, 2, (4, 4))), SEQ, unflatten_form(0),
             note="Reshape [0, 3, 4, 4]"),
    FormCase("unflatten_shape_concat", "Unflatten", seq(L(nn.Unflatten, 2, (2, 8))), SEQ,
             unflatten_from_shape_form, note="Reshape(Concat(Shape(x)[:2], [2, 8]))"),
]

REMOVED = [
    LayerCase("identity_in_chain", "Identity", seq(L(nn.Linear, 8, 16), L(nn.Identity), L(nn.ReLU)), VEC),
    LayerCase("identity_alone", "Identity", seq(L(nn.Identity)), IMG, note="one Identity node"),
    LayerCase("dropout", "Dropout", seq(L(nn.Linear, 8, 16), L(nn.Dropout, 0.5), L(nn.Linear, 16, 4)), VEC),
    LayerCase("dropout_alone", "Dropout", seq(L(nn.Dropout)), VEC),
    LayerCase("dropout1d", "Dropout1d", after_conv1d(L(nn.Dropout1d, 0.3)), SEQ),
    LayerCase("dropout2d", "Dropout2d",
              seq(L(nn.Conv2d, 3, 4, 3), L(nn.Dropout2d, 0.3), L(nn.ReLU), L(nn.Flatten), L(nn.Dropout, 0.1),
                  L(nn.Linear, 4 * 6 * 6, 5)), IMG),
    LayerCase("dropout3d", "Dropout3d", seq(L(nn.Conv3d, 2, 3, 3), L(nn.Dropout3d)), VOL),
    LayerCase("alphadropout", "AlphaDropout", seq(L(nn.Linear, 8, 16), L(nn.SELU), L(nn.AlphaDropout, 0.2)), VEC),
    LayerCase("featurealphadropout", "AlphaDropout", after_conv(L(nn.FeatureAlphaDropout, 0.2)), IMG),
]

EMBEDDING = "Embedding (first layer)"
TOKENS = ls.indices(20)
EMBEDDINGS = [
    LayerCase("embedding", EMBEDDING, seq(L(nn.Embedding, 20, 8)), (5,), inputs=TOKENS, note="Gather"),
    LayerCase("embedding_linear", EMBEDDING, seq(L(nn.Embedding, 20, 8), L(nn.Linear, 8, 4)), (5,), inputs=TOKENS),
    LayerCase("embedding_flatten_linear", EMBEDDING,
              seq(L(nn.Embedding, 20, 6), L(nn.Flatten), L(nn.ReLU), L(nn.Linear, 30, 3)), (5,), inputs=TOKENS),
    LayerCase("embedding_padding_idx", EMBEDDING, seq(L(nn.Embedding, 20, 8, padding_idx=0)), (7,),
              inputs=TOKENS),
    LayerCase("embedding_one_token", EMBEDDING, seq(L(nn.Embedding, 20, 4), L(nn.Flatten)), (1,), inputs=TOKENS),
]

NESTED = "nn.Sequential (nested)"
NESTED_SEQUENTIAL = [
    LayerCase("nested_sequential", NESTED,
              seq(L(nn.Linear, 8, 6), seq(L(nn.ReLU), L(nn.Linear, 6, 6), seq(L(nn.Tanh)))), VEC,
              note="/1/1.2/1.2.0/Tanh"),
    LayerCase("nested_conv_blocks", NESTED,
              seq(seq(L(nn.Conv2d, 3, 4, 3, padding=1), L(nn.BatchNorm2d, 4), L(nn.ReLU)),
                  seq(L(nn.Conv2d, 4, 4, 3, stride=2), L(nn.ReLU), seq(L(nn.MaxPool2d, 2))),
                  L(nn.Flatten), L(nn.Linear, 4 * 1 * 1, 3)), IMG),
]

ALL_CASES = (PADDING + RESIZE + SHUFFLE + SHUFFLE_FORMS + FLATTEN + FLATTEN_OVER_BATCH + UNFLATTEN + UNFLATTEN_FORMS
             + REMOVED + EMBEDDINGS + NESTED_SEQUENTIAL + PERMUTES + SLICES)

LayersShape = ls.make_test_class("LayersShape", ALL_CASES, "Padding, resizing, shuffles, reshapes, embedding.")


class FlattenOverTheBatch(unittest.TestCase):
    """Flatten(start_dim=0) merges the batch into the dims after it: with a
    dynamic batch `seqrt inspect` shows the first dim as -1*K; with a fixed
    batch every shape is concrete, so even a Linear over the merged vector
    runs."""

    def setUp(self):
        e2e.require_seqrt(self)
        self.work = e2e.scratch_dir("FlattenOverTheBatch", self.id().split(".")[-1])

    def test_inspect_shows_batch_times_k(self):
        model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(0, 1), nn.Flatten(0), nn.Softmax(dim=0))
        path = e2e.export_onnx(model, torch.zeros(2, 3, 8, 8), os.path.join(self.work, "model.onnx"), opset=14)
        proc = e2e.seqrt("inspect", path)
        self.assertEqual(proc.returncode, 0, e2e.describe(proc))
        shapes = [row.shape for row in ls.inspect_rows(proc.stdout)]
        self.assertEqual(shapes, ["[-1, 4, 8, 8]", "[-1*4, 8, 8]", "[-1*256]", "[-1*256]"], proc.stdout)

    def test_fixed_batch_flatten_0_then_linear(self):
        for batch in (1, 2):
            with self.subTest(batch=batch):
                torch.manual_seed(batch)
                model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(0), nn.Linear(batch * 2 * 6 * 6, 5),
                                      nn.ReLU()).eval()
                x = e2e.seeded_input(IMG, batch, seed=batch)
                path = os.path.join(self.work, "batch%d.onnx" % batch)
                e2e.export_onnx(model, torch.from_numpy(x), path, opset=14, dynamic_batch=False)
                proc, actual = e2e.run_model(path, x, self.work, "batch%d" % batch)
                self.assertEqual(proc.returncode, 0, e2e.describe(proc))
                self.assertIsNone(e2e.compare(actual, e2e.torch_output(model, x)))
                inspect = e2e.seqrt("inspect", path)
                shapes = [row.shape for row in ls.inspect_rows(inspect.stdout)]
                self.assertEqual(shapes[-2:], ["[5]", "[5]"], inspect.stdout)


class SliceRefusals(unittest.TestCase):
    """Slicing seqrt does not run is refused with the reason."""

    def setUp(self):
        e2e.require_seqrt(self)
        self.work = e2e.scratch_dir("SliceRefusals", self.id().split(".")[-1])

    def refusal(self, fn, name, sample=(4, 6)):
        model = nn.Sequential(nn.Linear(sample[-1], sample[-1]), Index(fn)).eval()
        path = e2e.export_onnx(model, torch.zeros((2,) + sample), os.path.join(self.work, name + ".onnx"), opset=13)
        proc = e2e.seqrt("inspect", path)
        self.assertEqual(proc.returncode, 2, e2e.describe(proc))
        return proc.stderr

    def test_reversing_a_dim_is_refused(self):
        self.assertIn("reverses dim 2 of [-1, 4, 6] (step -1, x.flip), which is not supported",
                      self.refusal(lambda x: x.flip(-1), "flip"))

    def test_taking_part_of_the_batch_is_refused(self):
        self.assertIn("takes part of the batch dim of [-1, 4, 6], which is not supported",
                      self.refusal(lambda x: x[1:], "batch"))

    def test_indices_out_of_order_are_refused(self):
        self.assertIn("takes indices [2, 0] of dim 1; seqrt takes only evenly spaced increasing indices",
                      self.refusal(lambda x: x[:, [2, 0]], "order"))


if __name__ == "__main__":
    ls.main()
