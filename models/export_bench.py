#!/usr/bin/python3
"""Export the benchmark models (random weights, fixed seeds) to ONNX.

Each model goes to ``<out>/<name>.onnx`` (opset 14, dynamic batch axis,
input ``input``, output ``output``) together with ``<name>.json`` that
records its per-sample input shape, the batch sizes it is benchmarked at,
its parameter count, its FLOPs per sample (multiply-adds x 2 of the
convolutions and linear layers, the only layers that matter) and its
largest activation per sample (elements).

The default folder, ``build/bench-models/``, is git-ignored: the wide MLP
alone is 150 MB and VGG-11 530 MB, so the files are regenerated rather
than committed. Re-running skips the ONNX files that are already there
unless ``--force`` is given (a forced export rewrites the same weights).

Usage (PyTorch is only installed for /usr/bin/python3):

    /usr/bin/python3 models/export_bench.py [--out DIR] [--only NAME ...] [--force]
"""

import argparse
import json
import os
import sys

import torch
from torch import nn

OPSET = 14
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(os.path.dirname(HERE), "build", "bench-models")


def mnist_mlp():
    return nn.Sequential(
        nn.Linear(784, 512), nn.ReLU(),
        nn.Linear(512, 256), nn.ReLU(),
        nn.Linear(256, 10))


def wide_mlp():
    return nn.Sequential(
        nn.Linear(4096, 4096), nn.ReLU(),
        nn.Linear(4096, 4096), nn.ReLU(),
        nn.Linear(4096, 1000))


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10))


def conv_bn_relu(cin, cout, dims=2, **kw):
    conv = nn.Conv2d if dims == 2 else nn.Conv1d
    norm = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
    return [conv(cin, cout, **kw), norm(cout), nn.ReLU()]


def cifar_vgg():
    layers = []
    cin = 3
    for cout in (32, 32, "M", 64, 64, "M", 128, 128, "M"):
        if cout == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += conv_bn_relu(cin, cout, kernel_size=3, padding=1)
            cin = cout
    layers += [nn.Flatten(), nn.Linear(128 * 4 * 4, 256), nn.ReLU(),
               nn.Dropout(0.5), nn.Linear(256, 10)]
    return nn.Sequential(*layers)


def alexnet():
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Flatten(), nn.Dropout(),
        nn.Linear(256 * 6 * 6, 4096), nn.ReLU(), nn.Dropout(),
        nn.Linear(4096, 4096), nn.ReLU(),
        nn.Linear(4096, 1000))


def vgg11():
    layers = []
    cin = 3
    for cout in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"):
        if cout == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]
            cin = cout
    layers += [nn.Flatten(),
               nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(),
               nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(),
               nn.Linear(4096, 1000)]
    return nn.Sequential(*layers)


def audio_m5():
    """M5-style 1-D CNN (32 channels) on 8000 raw samples, 35 classes."""
    layers = conv_bn_relu(1, 32, dims=1, kernel_size=80, stride=4)
    layers.append(nn.MaxPool1d(4))
    for cin, cout in ((32, 32), (32, 64), (64, 64)):
        layers += conv_bn_relu(cin, cout, dims=1, kernel_size=3)
        layers.append(nn.MaxPool1d(4))
    layers += [nn.AvgPool1d(7), nn.Flatten(), nn.Linear(64, 35),
               nn.LogSoftmax(dim=1)]
    return nn.Sequential(*layers)


# name -> (builder, per-sample input shape, benchmark batches, seed)
MODELS = {
    "mnist_mlp": (mnist_mlp, (784,), (1, 256), 101),
    "wide_mlp": (wide_mlp, (4096,), (1, 256), 102),
    "lenet5": (lenet5, (1, 32, 32), (1, 64), 103),
    "cifar_vgg": (cifar_vgg, (3, 32, 32), (1, 32), 104),
    "alexnet": (alexnet, (3, 224, 224), (1,), 105),
    "vgg11": (vgg11, (3, 224, 224), (1,), 106),
    "audio_m5": (audio_m5, (1, 8000), (1, 16), 107),
}


def randomise_batchnorm(model, generator):
    """Give BatchNorm non-trivial statistics so folding it is exercised."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            with torch.no_grad():
                m.running_mean.normal_(0.0, 0.1, generator=generator)
                m.running_var.uniform_(0.5, 1.5, generator=generator)
                m.weight.uniform_(0.5, 1.5, generator=generator)
                m.bias.normal_(0.0, 0.1, generator=generator)


def profile(model, shape):
    """(FLOPs, largest activation in elements) for one sample: FLOPs are
    2 x multiply-adds of every Conv and Linear; activations are the input
    and every leaf module's output."""
    flops = [0]
    largest = [1]
    for d in shape:
        largest[0] *= d

    def hook(module, inputs, output):
        largest[0] = max(largest[0], output[0].numel())
        if isinstance(module, nn.Linear):
            flops[0] += 2 * module.in_features * module.out_features
        elif isinstance(module, (nn.Conv1d, nn.Conv2d)):
            kernel = module.weight[0].numel()  # (Cin / groups) x k...
            flops[0] += 2 * output[0].numel() * kernel

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if not list(m.children())]
    with torch.inference_mode():
        model(torch.zeros((1,) + tuple(shape)))
    for h in handles:
        h.remove()
    return flops[0], largest[0]


def export(name, out_dir, force=False):
    builder, shape, batches, seed = MODELS[name]
    path = os.path.join(out_dir, name + ".onnx")
    meta_path = os.path.join(out_dir, name + ".json")
    torch.manual_seed(seed)
    model = builder()
    randomise_batchnorm(model, torch.Generator().manual_seed(seed))
    model.eval()
    if force or not os.path.exists(path):
        example = torch.zeros((batches[0],) + tuple(shape))
        tmp = path + ".tmp"
        torch.onnx.export(model, example, tmp, opset_version=OPSET,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        os.replace(tmp, path)
    flops, largest = profile(model, shape)
    meta = {
        "name": name,
        "input_shape": list(shape),
        "batches": list(batches),
        "parameters": sum(p.numel() for p in model.parameters()),
        "flops_per_sample": flops,
        "largest_activation_per_sample": largest,
        "seed": seed,
        "opset": OPSET,
    }
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--only", nargs="+", choices=sorted(MODELS))
    parser.add_argument("--force", action="store_true",
                        help="rewrite models that already exist")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for name in args.only or MODELS:
        print(export(name, args.out, args.force))
    return 0


if __name__ == "__main__":
    sys.exit(main())
