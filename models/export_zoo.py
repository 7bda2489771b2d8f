#!/usr/bin/python3
"""Export chain models beyond the benchmark suite, for checking seqrt
against PyTorch and timing it against ONNX Runtime on layers the suite
lacks (ConvTranspose decoders, InstanceNorm, GroupNorm, LayerNorm, GELU,
depthwise and grouped convolutions, Upsample, permutes, 3-D convolutions).

    /usr/bin/python3 models/export_zoo.py [--out build/zoo-models] [--only NAME ...]

Writes NAME.onnx (opset 14, dynamic batch), NAME_x.npy (a batch of 2) and
NAME_y.npy (PyTorch's output for it) per model; random weights and
BatchNorm statistics from fixed seeds. scripts/bench/zoo.py checks and
times them; tests/e2e/test_zoo.py checks them with `seqrt verify`.
"""

import argparse
import os
import sys

import numpy as np
import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "build", "zoo-models")
OPSET = 14
BATCH = 2


class Permute(nn.Module):
    def __init__(self, *dims):
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return x.permute(*self.dims)


class View(nn.Module):
    """x.view(-1, *dims): nn.Unflatten has no ONNX export in torch 1.13."""

    def __init__(self, *dims):
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return x.view(-1, *self.dims)


def separable(cin, cout, stride):
    return [nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU6(),
            nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU6()]


def mobilenet_v1():
    """MobileNet v1 at 224x224: depthwise separable convolutions, ReLU6."""
    widths = [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2)]
    widths += [(512, 512, 1)] * 5 + [(512, 1024, 2), (1024, 1024, 1)]
    layers = [nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6()]
    for w in widths:
        layers += separable(*w)
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1024, 1000))


def tcn():
    """Dilated 1-D convolutions (dilation 1 to 32) with GELU on 2048 steps."""
    layers = [nn.Conv1d(16, 64, 3, padding=1)]
    for d in (1, 2, 4, 8, 16, 32):
        layers += [nn.Conv1d(64, 64, 3, padding=d, dilation=d), nn.BatchNorm1d(64), nn.GELU()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(64, 10))


def ln_mlp():
    """MLP with LayerNorm and GELU, 1024 wide, softmax output."""
    layers = [nn.Linear(512, 1024)]
    for _ in range(4):
        layers += [nn.LayerNorm(1024), nn.GELU(), nn.Linear(1024, 1024)]
    return nn.Sequential(*layers, nn.Linear(1024, 10), nn.Softmax(-1))


def autoencoder():
    """Strided Conv encoder, ConvTranspose decoder ending in 3 channels."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
        nn.Conv2d(64, 128, 3, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(32, 3, 4, 2, 1), nn.Sigmoid())


def upsample_decoder():
    """Nearest and bilinear Upsample between convolutions."""
    return nn.Sequential(
        nn.Conv2d(64, 64, 3, 1, 1), nn.LeakyReLU(0.2), nn.Upsample(scale_factor=2),
        nn.Conv2d(64, 32, 3, 1, 1), nn.LeakyReLU(0.2), nn.Upsample(scale_factor=2, mode="bilinear"),
        nn.Conv2d(32, 3, 3, 1, 1), nn.Tanh())


def grouped():
    """Grouped 3x3 convolutions (8 groups) with BatchNorm."""
    layers = [nn.Conv2d(3, 64, 3, 1, 1), nn.ReLU()]
    for i in range(4):
        layers += [nn.Conv2d(128 if i else 64, 128, 3, 1, 1, groups=8), nn.BatchNorm2d(128), nn.ReLU()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))


def tanh_mlp():
    return nn.Sequential(nn.Linear(256, 256), nn.Tanh(), nn.Linear(256, 256), nn.Sigmoid(), nn.Linear(256, 8))


def style_encoder():
    """Reflection padding, a 9x9 convolution and InstanceNorm (style
    transfer's encoder, without its residual blocks)."""
    return nn.Sequential(
        nn.ReflectionPad2d(4), nn.Conv2d(3, 32, 9), nn.InstanceNorm2d(32, affine=True), nn.ReLU(),
        nn.Conv2d(32, 64, 3, 2, 1), nn.InstanceNorm2d(64, affine=True), nn.ReLU(),
        nn.Conv2d(64, 128, 3, 2, 1), nn.InstanceNorm2d(128, affine=True), nn.ReLU())


def convnext_block():
    """A ConvNeXt block without its residual: 7x7 depthwise, channels-last
    LayerNorm and MLP between permutes."""
    return nn.Sequential(
        nn.Conv2d(3, 96, 4, 4), nn.Conv2d(96, 96, 7, 1, 3, groups=96), Permute(0, 2, 3, 1), nn.LayerNorm(96),
        nn.Linear(96, 384), nn.GELU(), nn.Linear(384, 96), Permute(0, 3, 1, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(96, 10))


def mixer_block():
    """An MLP-Mixer block without residuals: token and channel MLPs."""
    return nn.Sequential(
        nn.Conv2d(3, 128, 16, 16), nn.Flatten(2), nn.LayerNorm(196), nn.Linear(196, 256), nn.GELU(),
        nn.Linear(256, 196), Permute(0, 2, 1), nn.LayerNorm(128), nn.Linear(128, 512), nn.GELU(),
        nn.Linear(512, 128), nn.Flatten(), nn.Linear(196 * 128, 10))


def video_cnn():
    return nn.Sequential(
        nn.Conv3d(3, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool3d(2), nn.Conv3d(32, 64, 3, 1, 1), nn.ReLU(),
        nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(64, 10))


def silu_cnn():
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.SiLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.BatchNorm2d(64),
        nn.SiLU(), nn.Conv2d(64, 128, 3, 2, 1), nn.BatchNorm2d(128), nn.Hardswish(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(), nn.Linear(128, 10), nn.LogSoftmax(1))


def dcgan_generator():
    """DCGAN's generator (nz 100, ngf 64): ConvTranspose, BatchNorm, ReLU."""
    layers, cin = [], 100
    for i, cout in enumerate((512, 256, 128, 64)):
        layers += [nn.ConvTranspose2d(cin, cout, 4, 1 if i == 0 else 2, 0 if i == 0 else 1, bias=False),
                   nn.BatchNorm2d(cout), nn.ReLU()]
        cin = cout
    return nn.Sequential(*layers, nn.ConvTranspose2d(64, 3, 4, 2, 1, bias=False), nn.Tanh())


def dcgan_discriminator():
    layers = [nn.Conv2d(3, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
    for cin in (64, 128, 256):
        layers += [nn.Conv2d(cin, cin * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(cin * 2), nn.LeakyReLU(0.2)]
    return nn.Sequential(*layers, nn.Conv2d(512, 1, 4, 1, 0, bias=False), nn.Sigmoid())


def vae_decoder():
    return nn.Sequential(
        nn.Linear(32, 1024), nn.ReLU(), View(64, 4, 4), nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 1, 4, 2, 1), nn.Sigmoid())


def audio_decoder():
    """ConvTranspose1d upsampling x16 to a waveform."""
    return nn.Sequential(
        nn.ConvTranspose1d(64, 32, 8, 4, 2), nn.ELU(), nn.ConvTranspose1d(32, 16, 8, 4, 2), nn.ELU(),
        nn.Conv1d(16, 1, 7, padding=3), nn.Tanh())


# name -> (builder, per-sample input shape, seed)
MODELS = {
    "mobilenet_v1": (mobilenet_v1, (3, 224, 224), 201),
    "tcn": (tcn, (16, 2048), 202),
    "ln_mlp": (ln_mlp, (512,), 203),
    "autoencoder": (autoencoder, (3, 128, 128), 204),
    "upsample_decoder": (upsample_decoder, (64, 32, 32), 205),
    "grouped": (grouped, (3, 56, 56), 206),
    "tanh_mlp": (tanh_mlp, (256,), 207),
    "style_encoder": (style_encoder, (3, 128, 128), 208),
    "convnext_block": (convnext_block, (3, 224, 224), 209),
    "mixer_block": (mixer_block, (3, 224, 224), 210),
    "video_cnn": (video_cnn, (3, 16, 64, 64), 211),
    "silu_cnn": (silu_cnn, (3, 160, 160), 212),
    "dcgan_generator": (dcgan_generator, (100, 1, 1), 213),
    "dcgan_discriminator": (dcgan_discriminator, (3, 64, 64), 214),
    "vae_decoder": (vae_decoder, (32,), 215),
    "audio_decoder": (audio_decoder, (64, 256), 216),
}


def randomise_batchnorm(model, generator):
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            with torch.no_grad():
                m.running_mean.uniform_(-0.2, 0.2, generator=generator)
                m.running_var.uniform_(0.5, 1.5, generator=generator)


def export(name, out_dir):
    builder, shape, seed = MODELS[name]
    torch.manual_seed(seed)
    model = builder()
    randomise_batchnorm(model, torch.Generator().manual_seed(seed))
    model.eval()
    x = torch.randn((BATCH,) + tuple(shape), generator=torch.Generator().manual_seed(seed))
    path = os.path.join(out_dir, name + ".onnx")
    torch.onnx.export(model, x, path, opset_version=OPSET, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    with torch.inference_mode():
        y = model(x)
    np.save(os.path.join(out_dir, name + "_x.npy"), x.numpy())
    np.save(os.path.join(out_dir, name + "_y.npy"), y.numpy())
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--only", nargs="+", choices=sorted(MODELS))
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for name in args.only or MODELS:
        print(export(name, args.out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
