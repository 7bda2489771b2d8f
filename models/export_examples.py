#!/usr/bin/python3
"""Build the bundled example models and export them to ONNX for seqrt.

Each example is written to ``<out>/<name>/`` as

    model.onnx    exported with opset 14 and a dynamic batch axis
    input.npy     a deterministic float32 input with batch 2
    expected.npy  what PyTorch computes for that input (eval mode)

Weights come from fixed seeds, so running the script again rewrites the
same models; ``seqrt`` with no arguments runs every example it finds.

Usage (PyTorch is only installed for /usr/bin/python3):

    /usr/bin/python3 models/export_examples.py [--out DIR] [--only NAME ...]

The model builders are importable (``from export_examples import
EXAMPLES``) so that tests can export the same modules themselves.
"""

import argparse
import collections
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

OPSET = 14
BATCH = 2
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "examples")


class ManualFC(nn.Module):
    """A hand-written module whose forward is a straight chain."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(10, 5)
        self.fc2 = nn.Linear(5, 2)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def build_manual_fc():
    return ManualFC()


def build_sequential():
    return nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 2))


def build_ordered_dict():
    return nn.Sequential(
        collections.OrderedDict(
            [("fc1", nn.Linear(10, 5)), ("relu", nn.ReLU()), ("fc2", nn.Linear(5, 2))]
        )
    )


def build_small_convnet():
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 14 * 14, 10),
        nn.Softmax(dim=1),
    )
    warm_up_batchnorm(model, (16, 1, 28, 28))
    return model


def build_mnist_mlp():
    return nn.Sequential(
        nn.Linear(784, 512),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(512, 256),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(256, 10),
    )


class EmbeddingCNN(nn.Module):
    """A hand-written forward with tensor operations between its layers:
    input normalisation by per-channel constants, a global mean without
    keepdim, and an L2-normalised embedding."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1))
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.fc = nn.Linear(32, 8)

    def forward(self, x):
        x = self.features((x - self.mean) / self.std)
        return F.normalize(self.fc(x.mean((2, 3))), dim=1)


def build_embedding_cnn():
    model = EmbeddingCNN()
    warm_up_batchnorm(model, (16, 3, 16, 16))
    return model


class SequenceCNN(nn.Module):
    """A hand-written forward over [N, C, T] sequences that slices and
    indexes: a crop of the edges, a per-channel scale and shift (folded into
    the Conv), half the channels, every other step, then the last one."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(4, 16, 5, padding=2)
        self.register_buffer("scale", torch.rand(1, 16, 1) + 0.5)
        self.register_buffer("shift", torch.randn(1, 16, 1) * 0.1)
        self.conv2 = nn.Conv1d(8, 12, 3)
        self.fc = nn.Linear(12, 3)

    def forward(self, x):
        x = torch.relu(self.conv1(x[:, :, 2:-2]) * self.scale + self.shift)
        x = torch.maximum(self.conv2(x.chunk(2, dim=1)[1]), torch.tensor(0.1))
        return self.fc(x[:, :, ::2][:, :, -1])


def build_sequence_cnn():
    return SequenceCNN()


def warm_up_batchnorm(model, shape, steps=5):
    """Give BatchNorm non-trivial running statistics.

    A few forward passes in training mode on shifted, scaled data move the
    running mean and variance away from their 0/1 defaults, so the exported
    (folded) BatchNorm actually changes the values.
    """
    model.train()
    with torch.no_grad():
        for _ in range(steps):
            model(torch.randn(shape) * 2.0 + 0.5)
    model.eval()


# name -> (builder, per-sample input shape, weight seed). The three small
# FC models get different seeds so that a mix-up of their files shows.
EXAMPLES = collections.OrderedDict(
    [
        ("manual_fc", (build_manual_fc, (10,), 1)),
        ("sequential", (build_sequential, (10,), 2)),
        ("ordered_dict", (build_ordered_dict, (10,), 3)),
        ("small_convnet", (build_small_convnet, (1, 28, 28), 4)),
        ("mnist_mlp", (build_mnist_mlp, (784,), 5)),
        ("embedding_cnn", (build_embedding_cnn, (3, 16, 16), 6)),
        ("sequence_cnn", (build_sequence_cnn, (4, 32), 7)),
    ]
)


def seeded_model(name):
    """The example `name` built from its fixed seed, in eval mode."""
    builder, _, seed = EXAMPLES[name]
    torch.manual_seed(seed)
    return builder().eval()


def deterministic_input(sample_shape, batch=BATCH, seed=1234):
    """Standard-normal float32 input from a fixed NumPy seed."""
    rng = np.random.RandomState(seed)
    return rng.standard_normal((batch,) + tuple(sample_shape)).astype(np.float32)


def export_onnx(model, example, path, opset=OPSET):
    """Export with the settings seqrt expects: one input, dynamic batch."""
    torch.onnx.export(
        model,
        example,
        path,
        opset_version=opset,
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        do_constant_folding=True,
    )


def export_example(name, out_dir):
    model = seeded_model(name)
    sample_shape = EXAMPLES[name][1]
    x = deterministic_input(sample_shape)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy().astype(np.float32)
    target = os.path.join(out_dir, name)
    os.makedirs(target, exist_ok=True)
    export_onnx(model, torch.from_numpy(x), os.path.join(target, "model.onnx"))
    np.save(os.path.join(target, "input.npy"), x)
    np.save(os.path.join(target, "expected.npy"), expected)
    return target, x.shape, expected.shape


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    parser.add_argument("--only", nargs="+", choices=list(EXAMPLES), help="export only these examples")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # keep expected.npy independent of the machine
    for name in args.only or EXAMPLES:
        target, in_shape, out_shape = export_example(name, args.out)
        print("%-14s input %-18s output %-10s -> %s" % (name, in_shape, out_shape, target))
    return 0


if __name__ == "__main__":
    sys.exit(main())
