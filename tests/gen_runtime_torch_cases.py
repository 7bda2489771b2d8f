#!/usr/bin/python3
"""Writes tests/runtime_torch_cases.inc: small PyTorch layers (input,
parameters, output) that test_runtime_kinds.cpp rebuilds as chain layers, to
check both its references and the runtime against PyTorch itself.

Run with the Python that has torch: /usr/bin/python3 tests/gen_runtime_torch_cases.py
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(7)
CASES = []


def add(name, module_or_fn, shape, scale=2.0, positive=False):
    x = (torch.rand(shape) * 2 - 1) * scale
    if positive:
        x = x.abs() + 0.1
    with torch.no_grad():
        y = module_or_fn(x)
    params = {}
    if isinstance(module_or_fn, nn.Module):
        for key in ("weight", "bias"):
            p = getattr(module_or_fn, key, None)
            if isinstance(p, torch.Tensor):
                params[key] = p.detach()
    CASES.append((name, x, params, y))


def main():
    add("convtranspose1d", nn.ConvTranspose1d(3, 4, 4, stride=3, padding=2,
                                              output_padding=1), (2, 3, 5))
    add("convtranspose2d", nn.ConvTranspose2d(4, 6, (3, 2), stride=(2, 2),
                                              padding=(1, 0),
                                              output_padding=(1, 1), groups=2,
                                              dilation=(2, 1)), (1, 4, 3, 4))
    add("lppool2d_p3", nn.LPPool2d(3, 2, stride=1), (1, 2, 4, 5))
    add("lppool1d_p2", nn.LPPool1d(2, 3, stride=2), (2, 3, 9))
    gn = nn.GroupNorm(2, 6)
    nn.init.uniform_(gn.weight, 0.5, 1.5)
    nn.init.uniform_(gn.bias, -0.5, 0.5)
    add("groupnorm", gn, (2, 6, 3, 2))
    inorm = nn.InstanceNorm2d(3, affine=True)
    nn.init.uniform_(inorm.weight, 0.5, 1.5)
    nn.init.uniform_(inorm.bias, -0.5, 0.5)
    add("instancenorm", inorm, (2, 3, 4, 3))
    ln = nn.LayerNorm([4, 5])
    nn.init.uniform_(ln.weight, 0.5, 1.5)
    nn.init.uniform_(ln.bias, -0.5, 0.5)
    add("layernorm", ln, (2, 3, 4, 5))
    add("lrn4", nn.LocalResponseNorm(4, alpha=0.1, beta=0.75, k=2.0),
        (2, 7, 3))
    add("lrn3", nn.LocalResponseNorm(3, alpha=0.3, beta=0.6, k=1.0),
        (1, 5, 2, 2))
    for mode in ("constant", "reflect", "replicate", "circular"):
        add("pad_" + mode,
            lambda x, m=mode: F.pad(x, (2, 1, 1, 2), mode=m,
                                    **({"value": 0.5} if m == "constant"
                                       else {})), (1, 2, 3, 4))
    add("nearest_x2", nn.Upsample(scale_factor=2, mode="nearest"),
        (1, 2, 3, 4))
    add("nearest_size", nn.Upsample(size=(5, 7), mode="nearest"),
        (1, 2, 3, 4))
    add("bilinear", nn.Upsample(scale_factor=2, mode="bilinear"),
        (1, 2, 3, 4))
    add("bilinear_ac", nn.Upsample(scale_factor=2, mode="bilinear",
                                   align_corners=True), (1, 2, 3, 4))
    add("linear1d_size", nn.Upsample(size=7, mode="linear"), (2, 2, 4))
    add("trilinear", nn.Upsample(scale_factor=2, mode="trilinear"),
        (1, 1, 2, 3, 2))
    add("pixelshuffle", nn.PixelShuffle(2), (1, 8, 2, 3))
    add("pixelunshuffle", nn.PixelUnshuffle(2), (1, 2, 4, 6))
    add("channelshuffle", nn.ChannelShuffle(3), (1, 6, 2, 2))
    add("glu_dim1", nn.GLU(dim=1), (2, 4, 3))
    add("glu_last", nn.GLU(dim=-1), (2, 3, 6))
    prelu = nn.PReLU(3)
    nn.init.uniform_(prelu.weight, 0.0, 0.5)
    add("prelu", prelu, (2, 3, 4))
    add("softmin", nn.Softmin(dim=1), (2, 5, 3))
    eltwise = {
        "relu6": nn.ReLU6(), "hardtanh": nn.Hardtanh(-0.5, 1.5),
        "logsigmoid": nn.LogSigmoid(), "celu": nn.CELU(0.7),
        "selu": nn.SELU(), "gelu": nn.GELU(),
        "gelu_tanh": nn.GELU(approximate="tanh"), "silu": nn.SiLU(),
        "mish": nn.Mish(), "hardsigmoid": nn.Hardsigmoid(),
        "hardswish": nn.Hardswish(), "softplus": nn.Softplus(beta=2.0),
        "softsign": nn.Softsign(), "tanhshrink": nn.Tanhshrink(),
        "softshrink": nn.Softshrink(0.5), "hardshrink": nn.Hardshrink(0.5),
        "threshold": nn.Threshold(0.3, -2.0),
    }
    for name, module in eltwise.items():
        add(name, module, (2, 3, 5), scale=4.0)
    emb = nn.Embedding(6, 4)
    idx = torch.tensor([[0, 5, 2], [3, 3, 1]])
    CASES.append(("embedding", idx.float(), {"weight": emb.weight.detach()},
                  emb(idx).detach()))
    # Conv with padding_mode: PyTorch pads the input (a true circular pad),
    # then convolves with zero padding.
    for mode in ("reflect", "replicate", "circular"):
        add("conv_" + mode, nn.Conv2d(2, 3, (3, 2), stride=(1, 2),
                                      padding=(1, 2), padding_mode=mode),
            (1, 2, 4, 5))
    # ceil_mode: the last windows hang past the padded input; PyTorch
    # averages them over the cells inside it (LPPool: avg * kernel size).
    add("avgpool1d_ceil", nn.AvgPool1d(4, stride=3, padding=1,
                                       ceil_mode=True), (2, 3, 9))
    add("avgpool2d_ceil", nn.AvgPool2d(3, stride=2, padding=1,
                                       ceil_mode=True), (2, 2, 7, 6))
    add("avgpool3d_ceil", nn.AvgPool3d(3, stride=2, padding=1,
                                       ceil_mode=True), (1, 2, 5, 6, 4))
    add("lppool2d_ceil", nn.LPPool2d(2, 3, stride=2, ceil_mode=True),
        (1, 2, 7, 8))
    add("lppool1d_ceil_p3", nn.LPPool1d(3, 2, stride=2, ceil_mode=True),
        (2, 3, 9), positive=True)
    write(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "runtime_torch_cases.inc"))


def literal(v):
    if v != v:
        return "NAN"
    text = "%.9g" % v
    return text + ("f" if any(c in text for c in ".e") else ".0f")


def floats(t):
    return "{" + ", ".join(literal(v) for v in t.flatten().tolist()) + "}"


def dims(t):
    return "{" + ", ".join(str(d) for d in t.shape) + "}"


def write(path):
    with open(path, "w") as f:
        f.write("// Generated by gen_runtime_torch_cases.py (torch %s); do "
                "not edit.\n" % torch.__version__)
        f.write("// {name, input dims, input, weight, bias, output dims, "
                "output}\n")
        for name, x, params, y in CASES:
            w = params.get("weight")
            b = params.get("bias")
            f.write("{\"%s\", %s, %s,\n %s,\n %s,\n %s, %s},\n" % (
                name, dims(x), floats(x),
                floats(w) if w is not None else "{}",
                floats(b) if b is not None else "{}", dims(y), floats(y)))


if __name__ == "__main__":
    main()
