"""A small ONNX evaluator in numpy (and torch's convolution and pooling
kernels), independent of seqrt.

onnx 1.12 has no reference evaluator. The layer tests need one where the
ONNX file computes something else than the PyTorch module it came from (the
two torch 1.13 exporter bugs: circular padding, Softplus threshold): there
the reference is what the graph says, node by node. It also checks the
models the tests build with onnx.helper before seqrt sees them.

Only the ops those graphs use are implemented, each following the ONNX
operator spec for the model's opset; anything else raises NotImplementedError.
"""

import math

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn.functional as F

_ERF = np.vectorize(math.erf, otypes=[np.float64])


def run(model, x):
    """Evaluate `model` (a ModelProto or a path; external data is loaded
    from the model's folder) on the single input `x`; returns the single
    output as float32 (or the input's dtype for non-float graphs)."""
    if isinstance(model, str):
        model = onnx.load(model)
    opset = _default_opset(model)
    graph = model.graph
    values = {init.name: onnx.numpy_helper.to_array(init) for init in graph.initializer}
    data_inputs = [vi.name for vi in graph.input if vi.name not in values]
    if len(data_inputs) != 1:
        raise ValueError("expected one graph input, got %s" % data_inputs)
    values[data_inputs[0]] = x
    values[""] = None
    for node in graph.node:
        inputs = [values[name] if name else None for name in node.input]
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        op = _OPS.get(node.op_type)
        if op is None or node.domain not in ("", "ai.onnx"):
            raise NotImplementedError("onnx_numpy: op %s (domain '%s')" % (node.op_type, node.domain))
        outputs = op(inputs, attrs, opset)
        if not isinstance(outputs, tuple):
            outputs = (outputs,)
        for name, value in zip(node.output, outputs):
            values[name] = value
    result = values[graph.output[0].name]
    return result.astype(np.float32) if result.dtype.kind == "f" else result


def _default_opset(model):
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return entry.version
    raise ValueError("model imports no default-domain opset")


# ---- helpers -----------------------------------------------------------------


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _torch(a):
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))


def _spatial_pads(attrs, spatial, in_dims, kernel, strides, dilations):
    """Explicit (begin, end) pads per spatial axis, auto_pad resolved."""
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad in ("NOTSET", ""):
        pads = list(attrs.get("pads", [0] * (2 * spatial)))
        return [(pads[i], pads[i + spatial]) for i in range(spatial)]
    if auto_pad == "VALID":
        return [(0, 0)] * spatial
    result = []
    for i in range(spatial):
        out = -(-in_dims[i] // strides[i])
        total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - in_dims[i])
        small, large = total // 2, total - total // 2
        result.append((small, large) if auto_pad == "SAME_UPPER" else (large, small))
    return result


def _torch_pad_arg(pads):
    """F.pad's argument (last axis first) from per-axis (begin, end)."""
    arg = []
    for begin, end in reversed(pads):
        arg += [begin, end]
    return arg


# ---- ops -----------------------------------------------------------------------


def _constant(inputs, attrs, opset):
    if "value" in attrs:
        return onnx.numpy_helper.to_array(attrs["value"])
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):
        if key in attrs:
            return np.array(attrs[key], dtype=dtype)
    raise NotImplementedError("Constant with attributes %s" % sorted(attrs))


def _binary(fn):
    def op(inputs, attrs, opset):
        a, b = inputs
        result = fn(a, b)
        return result.astype(np.result_type(a, b)) if isinstance(result, np.ndarray) else result
    return op


def _unary(fn):
    def op(inputs, attrs, opset):
        return fn(_f64(inputs[0])).astype(inputs[0].dtype)
    return op


def _softplus(x):
    return np.logaddexp(0.0, x)


def _gelu(inputs, attrs, opset):
    x = _f64(inputs[0])
    approximate = attrs.get("approximate", b"none")
    if approximate in (b"tanh", "tanh"):
        y = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    else:
        y = 0.5 * x * (1 + _ERF(x / math.sqrt(2)))
    return y.astype(inputs[0].dtype)


def _hard_sigmoid(inputs, attrs, opset):
    x = _f64(inputs[0])
    alpha, beta = attrs.get("alpha", 0.2), attrs.get("beta", 0.5)
    return np.clip(alpha * x + beta, 0, 1).astype(inputs[0].dtype)


def _hard_swish(inputs, attrs, opset):
    x = _f64(inputs[0])
    return (x * np.clip(x / 6 + 0.5, 0, 1)).astype(inputs[0].dtype)


def _matmul(inputs, attrs, opset):
    return np.matmul(_f64(inputs[0]), _f64(inputs[1])).astype(inputs[0].dtype)


def _gemm(inputs, attrs, opset):
    a, b = _f64(inputs[0]), _f64(inputs[1])
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError("Gemm needs 2-D inputs, got %s and %s" % (a.shape, b.shape))
    if attrs.get("transA", 0):
        a = a.T
    if attrs.get("transB", 0):
        b = b.T
    y = attrs.get("alpha", 1.0) * (a @ b)
    if len(inputs) > 2 and inputs[2] is not None:
        y = y + attrs.get("beta", 1.0) * _f64(inputs[2])
    return y.astype(inputs[0].dtype)


def _conv(inputs, attrs, opset):
    x, w = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    spatial = x.ndim - 2
    kernel = list(attrs.get("kernel_shape", w.shape[2:]))
    strides = list(attrs.get("strides", [1] * spatial))
    dilations = list(attrs.get("dilations", [1] * spatial))
    pads = _spatial_pads(attrs, spatial, x.shape[2:], kernel, strides, dilations)
    padded = F.pad(_torch(x), _torch_pad_arg(pads))
    conv = (F.conv1d, F.conv2d, F.conv3d)[spatial - 1]
    y = conv(padded, _torch(w), None if bias is None else _torch(bias), stride=strides,
             dilation=dilations, groups=attrs.get("group", 1))
    return y.numpy().astype(x.dtype)


def _pool(kind):
    def op(inputs, attrs, opset):
        x = inputs[0]
        spatial = x.ndim - 2
        kernel = list(attrs["kernel_shape"])
        strides = list(attrs.get("strides", [1] * spatial))
        dilations = list(attrs.get("dilations", [1] * spatial))
        pads = _spatial_pads(attrs, spatial, x.shape[2:], kernel, strides, dilations)
        if attrs.get("ceil_mode", 0):
            raise NotImplementedError("onnx_numpy: %s with ceil_mode" % kind)
        t = _torch(x)
        if any(b != e for b, e in pads):
            return _asymmetric_pool(kind, t, pads, kernel, strides, dilations, attrs).numpy().astype(x.dtype)
        padding = [b for b, _ in pads]
        if kind == "MaxPool":
            pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[spatial - 1]
            y = pool(t, kernel, strides, padding, dilations)
        else:
            if any(d != 1 for d in dilations):
                raise NotImplementedError("onnx_numpy: dilated AveragePool")
            pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[spatial - 1]
            y = pool(t, kernel, strides, padding, count_include_pad=bool(attrs.get("count_include_pad", 0)))
        return y.numpy().astype(x.dtype)
    return op


def _asymmetric_pool(kind, t, pads, kernel, strides, dilations, attrs):
    """A pool with unequal begin/end pads: padded explicitly (-inf for max;
    zeros for average, which divides by the padded cells only with
    count_include_pad)."""
    spatial = t.dim() - 2
    arg = _torch_pad_arg(pads)
    if kind == "MaxPool":
        pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[spatial - 1]
        return pool(F.pad(t, arg, value=-float("inf")), kernel, strides, 0, dilations)
    if any(d != 1 for d in dilations):
        raise NotImplementedError("onnx_numpy: dilated AveragePool")
    pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[spatial - 1]
    total = pool(F.pad(t.double(), arg), kernel, strides)
    if attrs.get("count_include_pad", 0):
        return total.float()
    cells = pool(F.pad(torch.ones_like(t, dtype=torch.float64), arg), kernel, strides)
    return (total / cells).float()


def _global_average_pool(inputs, attrs, opset):
    x = inputs[0]
    return _f64(x).mean(axis=tuple(range(2, x.ndim)), keepdims=True).astype(x.dtype)


def _batch_norm(inputs, attrs, opset):
    x, scale, bias, mean, var = (_f64(a) for a in inputs[:5])
    shape = (1, -1) + (1,) * (x.ndim - 2)
    eps = attrs.get("epsilon", 1e-5)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * scale.reshape(shape) + bias.reshape(shape)
    return y.astype(inputs[0].dtype)


def _layer_norm(inputs, attrs, opset):
    x = _f64(inputs[0])
    axis = attrs.get("axis", -1) % x.ndim
    axes = tuple(range(axis, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + attrs.get("epsilon", 1e-5))
    if len(inputs) > 1 and inputs[1] is not None:
        y = y * _f64(inputs[1])
    if len(inputs) > 2 and inputs[2] is not None:
        y = y + _f64(inputs[2])
    return y.astype(inputs[0].dtype)


def _reduce_mean(inputs, attrs, opset):
    x = inputs[0]
    if opset >= 18:
        axes = inputs[1] if len(inputs) > 1 else None
    else:
        axes = attrs.get("axes")
    axes = tuple(range(x.ndim)) if axes is None or len(axes) == 0 else tuple(int(a) % x.ndim for a in axes)
    return _f64(x).mean(axis=axes, keepdims=bool(attrs.get("keepdims", 1))).astype(x.dtype)


def _softmax(log):
    def op(inputs, attrs, opset):
        x = _f64(inputs[0])
        axis = attrs.get("axis", -1 if opset >= 13 else 1) % x.ndim
        if opset < 13:  # coerced to 2-D at `axis`
            shape = x.shape
            x = x.reshape(int(np.prod(shape[:axis])), -1)
            axis = 1
        shifted = x - x.max(axis=axis, keepdims=True)
        logsum = np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        y = shifted - logsum if log else np.exp(shifted - logsum)
        if opset < 13:
            y = y.reshape(shape)
        return y.astype(inputs[0].dtype)
    return op


def _slice(inputs, attrs, opset):
    x = inputs[0]
    if opset < 10:
        starts, ends = attrs["starts"], attrs["ends"]
        axes = attrs.get("axes", list(range(len(starts))))
        steps = [1] * len(starts)
    else:
        starts, ends = list(inputs[1]), list(inputs[2])
        axes = list(inputs[3]) if len(inputs) > 3 and inputs[3] is not None else list(range(len(starts)))
        steps = list(inputs[4]) if len(inputs) > 4 and inputs[4] is not None else [1] * len(starts)
    index = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis, step = int(axis) % x.ndim, int(step)
        dim = x.shape[axis]
        start, end = _slice_bound(start, dim, step), _slice_bound(end, dim, step)
        index[axis] = slice(start, None if end < 0 else end, step)
    return x[tuple(index)]


def _slice_bound(value, dim, step):
    """An ONNX Slice start/end: negatives count from the end, then clamped
    to [0, dim] (step > 0) or [-1, dim - 1] (step < 0)."""
    value = int(value)
    if value < 0:
        value += dim
    return max(0, min(dim, value)) if step > 0 else max(-1, min(dim - 1, value))


def _concat(inputs, attrs, opset):
    return np.concatenate(inputs, axis=attrs["axis"])


def _reshape(inputs, attrs, opset):
    x, shape = inputs[0], [int(d) for d in inputs[1]]
    if not attrs.get("allowzero", 0):
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return x.reshape(shape)


def _flatten(inputs, attrs, opset):
    x = inputs[0]
    axis = attrs.get("axis", 1)
    axis = axis + x.ndim if axis < 0 else axis  # ONNX: axis in [-r, r]
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


def _transpose(inputs, attrs, opset):
    return np.transpose(inputs[0], attrs.get("perm"))


def _shape(inputs, attrs, opset):
    """Shape, with the start/end attributes of opset 15."""
    shape = inputs[0].shape
    rank = len(shape)

    def bound(value):
        return max(0, min(rank, value + rank if value < 0 else value))

    return np.array(shape[bound(attrs.get("start", 0)):bound(attrs.get("end", rank))], dtype=np.int64)


def _gather(inputs, attrs, opset):
    return np.take(inputs[0], inputs[1], axis=attrs.get("axis", 0))


def _unsqueeze(inputs, attrs, opset):
    axes = attrs["axes"] if opset < 13 else list(inputs[1])
    x = inputs[0]
    rank = x.ndim + len(axes)
    for axis in sorted(int(a) % rank for a in axes):
        x = np.expand_dims(x, axis)
    return x


def _where(inputs, attrs, opset):
    condition, a, b = inputs
    return np.where(condition, a, b).astype(np.result_type(a, b))


def _pad(inputs, attrs, opset):
    x = inputs[0]
    if opset < 11:
        pads, value = list(attrs["pads"]), attrs.get("value", 0.0)
    else:
        pads = [int(p) for p in inputs[1]]
        value = inputs[2].item() if len(inputs) > 2 and inputs[2] is not None else 0.0
    axes = list(range(x.ndim))
    if opset >= 18 and len(inputs) > 3 and inputs[3] is not None:
        axes = [int(a) % x.ndim for a in inputs[3]]
    width = [(0, 0)] * x.ndim
    for i, axis in enumerate(axes):
        width[axis] = (pads[i], pads[i + len(axes)])
    if any(b < 0 or e < 0 for b, e in width):
        raise NotImplementedError("onnx_numpy: negative pads")
    mode = attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    numpy_mode = {"constant": "constant", "reflect": "reflect", "edge": "edge", "wrap": "wrap"}[mode]
    if numpy_mode == "constant":
        return np.pad(x, width, mode="constant", constant_values=value)
    return np.pad(x, width, mode=numpy_mode)


def _upsample_asymmetric(inputs, attrs, opset):
    """Upsample (opset 9) and Resize (opset 10): x_in = x_out / scale on
    every axis (no other coordinate transform exists before opset 11);
    'nearest' takes floor(x_in), 'linear' interpolates between the two
    neighbours, clamped to the last element."""
    x, scales = inputs[0], inputs[1]
    mode = attrs.get("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    y = _f64(x)
    for axis, scale in enumerate(scales):
        size = y.shape[axis]
        out = int(np.floor(size * scale))
        coords = np.arange(out) / scale
        low = np.minimum(np.floor(coords).astype(np.int64), size - 1)
        if mode == "nearest":
            y = np.take(y, low, axis=axis)
            continue
        high = np.minimum(low + 1, size - 1)
        weight_shape = [1] * y.ndim
        weight_shape[axis] = out
        weight = np.minimum(coords - low, 1.0).reshape(weight_shape)
        y = np.take(y, low, axis=axis) * (1 - weight) + np.take(y, high, axis=axis) * weight
    return y.astype(x.dtype)


def _resize(inputs, attrs, opset):
    if opset >= 11:
        raise NotImplementedError("onnx_numpy: Resize from opset 11")
    return _upsample_asymmetric(inputs, attrs, opset)


_OPS = {
    "Constant": _constant,
    "Identity": lambda inputs, attrs, opset: inputs[0],
    "Add": _binary(np.add),
    "Sub": _binary(np.subtract),
    "Mul": _binary(np.multiply),
    "Div": _binary(np.divide),
    "Pow": _binary(np.power),
    "Greater": lambda inputs, attrs, opset: np.greater(inputs[0], inputs[1]),
    "Less": lambda inputs, attrs, opset: np.less(inputs[0], inputs[1]),
    "Where": _where,
    "Neg": _unary(np.negative),
    "Abs": _unary(np.abs),
    "Sqrt": _unary(np.sqrt),
    "Exp": _unary(np.exp),
    "Log": _unary(np.log),
    "Erf": _unary(_ERF),
    "Relu": _unary(lambda x: np.maximum(x, 0)),
    "Sigmoid": _unary(lambda x: 1 / (1 + np.exp(-x))),
    "Tanh": _unary(np.tanh),
    "Softplus": _unary(_softplus),
    "Gelu": _gelu,
    "HardSigmoid": _hard_sigmoid,
    "HardSwish": _hard_swish,
    "MatMul": _matmul,
    "Gemm": _gemm,
    "Conv": _conv,
    "MaxPool": _pool("MaxPool"),
    "AveragePool": _pool("AveragePool"),
    "GlobalAveragePool": _global_average_pool,
    "BatchNormalization": _batch_norm,
    "LayerNormalization": _layer_norm,
    "ReduceMean": _reduce_mean,
    "Softmax": _softmax(log=False),
    "LogSoftmax": _softmax(log=True),
    "Slice": _slice,
    "Concat": _concat,
    "Reshape": _reshape,
    "Flatten": _flatten,
    "Transpose": _transpose,
    "Shape": _shape,
    "Gather": _gather,
    "Unsqueeze": _unsqueeze,
    "Pad": _pad,
    "Upsample": _upsample_asymmetric,
    "Resize": _resize,
}
