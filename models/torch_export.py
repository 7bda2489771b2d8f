#!/usr/bin/python3
"""Export any PyTorch chain model for seqrt, with every layer's output.

    /usr/bin/python3 models/torch_export.py --module PATH.py:FACTORY \\
        --shape 3,1,28,28 --out DIR [--opset N] [--seed S] [--dtype float32|int64]

FACTORY is a function in PATH.py returning an nn.Module. The script seeds
torch with S, builds the module, puts it in eval mode, makes a
deterministic input of the given shape (batch first) and writes

    DIR/model.onnx                 ONNX export, dynamic batch axis,
                                   input 'input', output 'output'
    DIR/input.npy                  the input
    DIR/expected.npy               the module's output
    DIR/layers/NNN_<module>.npy    each leaf module's output, in execution
                                   order (nested nn.Sequential included)
    DIR/manifest.json              index -> module name, class, input and
                                   output shapes, file

so that seqrt's output and each of its layers can be compared with
PyTorch's (`seqrt verify DIR/model.onnx --input DIR/input.npy --expect
DIR/expected.npy`).

A model that is not a chain is refused with a clear error (exit 2): a
module called twice (shared or reused module) or a tuple output.

As a library:

    from torch_export import export_for_seqrt
    manifest = export_for_seqrt(model, (3, 1, 28, 28), "out/")
"""

import argparse
import importlib.util
import json
import os
import re
import shutil
import sys

import numpy as np
import torch
from torch import nn

DEFAULT_OPSET = 14
LAYERS_DIR = "layers"


class NotAChainError(ValueError):
    """The module's forward is not a straight chain of layers."""


# ---- loading the factory ---------------------------------------------------


def load_factory(spec):
    """'path/to/file.py:FACTORY' -> the callable FACTORY."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name:
        raise ValueError("--module expects PATH.py:FACTORY, got '%s'" % spec)
    if not os.path.isfile(path):
        raise ValueError("module file '%s' does not exist" % path)
    module_name = "seqrt_user_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(loader_spec)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        loader_spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    factory = getattr(module, name, None)
    if not callable(factory):
        raise ValueError("'%s' has no callable '%s'" % (path, name))
    return factory


# ---- inputs ------------------------------------------------------------------


def deterministic_input(model, shape, seed, dtype):
    """Standard normal float32, or int64 indices valid for every Embedding."""
    rng = np.random.RandomState(seed)
    if dtype == "float32":
        return rng.standard_normal(shape).astype(np.float32)
    if dtype == "int64":
        sizes = [m.num_embeddings for m in model.modules() if isinstance(m, nn.Embedding)]
        return rng.randint(0, min(sizes) if sizes else 2, size=shape).astype(np.int64)
    raise ValueError("--dtype must be float32 or int64, got '%s'" % dtype)


# ---- recording layer outputs -------------------------------------------------


def leaf_modules(model):
    """(qualified name, module) for every module without children, so that
    nested nn.Sequential and hand-written containers are walked through."""
    leaves = [(name, m) for name, m in model.named_modules() if not list(m.children())]
    if not leaves or leaves == [("", model)]:
        return [(type(model).__name__, model)]
    return leaves


class LayerRecorder:
    """Forward hooks on the leaf modules that keep each output in call order
    and refuse what cannot be a chain."""

    def __init__(self, model):
        self.records = []
        self.called = set()
        self.handles = [m.register_forward_hook(self.hook_for(name)) for name, m in leaf_modules(model)]

    def hook_for(self, name):
        def hook(module, inputs, output):
            if name in self.called:
                raise NotAChainError(
                    "module '%s' (%s) is called twice: a reused module is not a chain" % (name, type(module).__name__)
                )
            self.called.add(name)
            if not isinstance(output, torch.Tensor):
                raise NotAChainError(
                    "module '%s' (%s) returns a %s, not one tensor: not a chain"
                    % (name, type(module).__name__, type(output).__name__)
                )
            first = next((t for t in inputs if isinstance(t, torch.Tensor)), None)
            self.records.append(
                {
                    "name": name,
                    "class": type(module).__name__,
                    "input_shape": list(first.shape) if first is not None else None,
                    "output_shape": list(output.shape),
                    "output": output.detach().cpu().numpy().copy(),
                }
            )

        return hook

    def remove(self):
        for handle in self.handles:
            handle.remove()


def run_recorded(model, x):
    """The model's output and the records of its leaf modules."""
    recorder = LayerRecorder(model)
    try:
        with torch.no_grad():
            output = model(torch.from_numpy(x))
    finally:
        recorder.remove()
    if not isinstance(output, torch.Tensor):
        raise NotAChainError("the model returns a %s, not one tensor: not a chain" % type(output).__name__)
    return output.detach().cpu().numpy(), recorder.records


# ---- export ------------------------------------------------------------------


def layer_file_name(index, name):
    return "%03d_%s.npy" % (index, re.sub(r"[^\w.-]+", "_", name))


def export_onnx(model, x, path, opset):
    torch.onnx.export(
        model,
        torch.from_numpy(x),
        path,
        opset_version=opset,
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        do_constant_folding=True,
    )


def export_for_seqrt(model, shape, out_dir, opset=DEFAULT_OPSET, seed=0, dtype="float32"):
    """Write model.onnx, input.npy, expected.npy, layers/ and manifest.json
    into out_dir for `model` (an nn.Module, or a factory called after
    seeding torch with `seed`). Returns the manifest as a dict.

    Raises NotAChainError when the model is not a chain of layers."""
    torch.manual_seed(seed)
    if not isinstance(model, nn.Module):
        model = model()
    if not isinstance(model, nn.Module):
        raise ValueError("the factory returned an object of type %s, not an nn.Module" % type(model).__name__)
    shape = tuple(int(d) for d in shape)
    if len(shape) < 1 or min(shape) < 1:
        raise ValueError("--shape needs positive dims, batch first, got %s" % (shape,))
    model.eval()
    x = deterministic_input(model, shape, seed, dtype)
    expected, records = run_recorded(model, x)

    os.makedirs(out_dir, exist_ok=True)
    layers_dir = os.path.join(out_dir, LAYERS_DIR)
    shutil.rmtree(layers_dir, ignore_errors=True)  # no stale layers from an earlier export
    os.makedirs(layers_dir)
    export_onnx(model, x, os.path.join(out_dir, "model.onnx"), opset)
    np.save(os.path.join(out_dir, "input.npy"), x)
    np.save(os.path.join(out_dir, "expected.npy"), expected.astype(np.float32))

    layers = []
    for index, record in enumerate(records):
        file_name = os.path.join(LAYERS_DIR, layer_file_name(index, record["name"]))
        np.save(os.path.join(out_dir, file_name), record["output"])
        layers.append(
            {
                "index": index,
                "name": record["name"],
                "class": record["class"],
                "input_shape": record["input_shape"],
                "output_shape": record["output_shape"],
                "file": file_name,
            }
        )
    manifest = {
        "model": "model.onnx",
        "input": "input.npy",
        "expected": "expected.npy",
        "input_shape": list(shape),
        "input_dtype": dtype,
        "output_shape": list(expected.shape),
        "opset": opset,
        "seed": seed,
        "torch_version": torch.__version__,
        "layers": layers,
    }
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return manifest


# ---- command line ----------------------------------------------------------------


def parse_shape(text):
    try:
        return tuple(int(d) for d in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("--shape expects comma-separated integers, e.g. 3,1,28,28")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--module", required=True, help="PATH.py:FACTORY, a function returning an nn.Module")
    parser.add_argument("--shape", required=True, type=parse_shape, help="input shape, batch first: 3,1,28,28")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and input (default %(default)s)")
    parser.add_argument("--dtype", choices=("float32", "int64"), default="float32", help="input dtype")
    args = parser.parse_args(argv)
    try:
        factory = load_factory(args.module)
        manifest = export_for_seqrt(factory, args.shape, args.out, args.opset, args.seed, args.dtype)
    except NotAChainError as exc:
        print("torch_export: %s" % exc, file=sys.stderr)
        return 2
    except Exception as exc:  # the factory and the exporter raise anything
        print("torch_export: %s: %s" % (type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else ""),
              file=sys.stderr)
        return 1
    print("%s: %d layers, input %s, output %s" % (
        args.out, len(manifest["layers"]), manifest["input_shape"], manifest["output_shape"]))
    for layer in manifest["layers"]:
        print("  %3d  %-24s %-16s %s" % (layer["index"], layer["name"], layer["class"], layer["output_shape"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
