"""``facemotion quantize MODEL --to model_int8.onnx``: ONNX Runtime static int8 quantization.

The default scheme (:data:`DEFAULT_SCHEME`, chosen by ``benchmarks/int8.py``) computes the
same integers on every CPU ONNX Runtime targets: x86 with AVX2 only, x86 with AVX-512/VNNI
and ARM64. ONNX Runtime multiplies uint8 activations by int8 weights; on x86 without VNNI
its kernels (``vpmaddubsw``) add two such products into a saturating int16, which overflows
once ``2 * 255 * |w| > 32767``, i.e. for weights outside [-64, 64], so a model quantized with
full-range int8 weights gives other answers on such a CPU than on one with VNNI or on ARM64.
Weights quantized to 7 bits ([-64, 64], ``reduce_range``) never reach that limit.

Activation ranges are calibrated on Training faces (a seeded sample of a few thousand, never
noise and never a test split); the softmax and everything after the last linear layers (the
flip and ensemble averages, the temperature) stay float, so probabilities are not rounded
to 1/255 steps. The result is checked against the float model on PublicTest before it is
written: accuracy of both, how often they agree on the top emotion and the largest
probability change, saved beside the model as ``<out>.check.json``; the scheme and the
PublicTest accuracy go into the int8 model's card.
"""

from __future__ import annotations

import inspect
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx

from ..card import ModelCard
from ..classify import OnnxClassifier
from ..datasets import load_splits
from ..errors import FacemotionError, ModelError
from ..fileio import atomic_path, write_text
from ..preprocess import normalize
from ..progress import progress_bar
from ..zoo import resolve, shipped_models
from .export import set_metadata
from .schemes import DEFAULT_SCHEME, GRAPH_OPS, LEGACY_SCHEME, LINEAR_OPS, SCHEMES, Scheme, get_scheme

__all__ = ["DEFAULT_SCHEME", "LEGACY_SCHEME", "SCHEMES", "Scheme", "get_scheme", "quantize_model", "quantize_graph",
           "calibration_faces", "compare", "quantize_splits"]


def linear_nodes(proto) -> tuple[list[str], list[str]]:
    """The names of the graph's first linear node and of its last ones (Conv/MatMul/Gemm nodes
    from which no other linear node is reached: one per ensemble member)."""
    consumers: dict[str, list] = {}
    for n in proto.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    linear = [n for n in proto.graph.node if n.op_type in LINEAR_OPS]

    def reaches_linear(node) -> bool:
        seen, todo = set(), [o for o in node.output]
        while todo:
            t = todo.pop()
            for c in consumers.get(t, ()):
                if c.name in seen:
                    continue
                seen.add(c.name)
                if c.op_type in LINEAR_OPS:
                    return True
                todo.extend(c.output)
        return False

    return [linear[0].name] if linear else [], [n.name for n in linear if not reaches_linear(n)]


def head_nodes(proto, last: list[str]) -> list[str]:
    """Every node reached from the last linear layers (the heads: flip/ensemble averages,
    temperature, softmax), which stay float."""
    consumers: dict[str, list] = {}
    for n in proto.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    by_name = {n.name: n for n in proto.graph.node}
    seen: set[str] = set()
    todo = [o for name in last for o in by_name[name].output]
    while todo:
        t = todo.pop()
        for c in consumers.get(t, ()):
            if c.name not in seen:
                seen.add(c.name)
                todo.extend(c.output)
    return sorted(seen)


def quantize_graph(src, dest, reader, scheme: Scheme, calibration_cache=None) -> None:
    """Quantize the (pre-processed, float32) ONNX file ``src`` into ``dest`` with ``scheme``;
    ``calibration_cache`` (a JSON file, ONNX Runtime >= 1.24) keeps the calibrated ranges so that
    several schemes of one model calibrate once."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    proto = onnx.load(str(src))
    for n in proto.graph.node:
        if not n.name:
            raise ModelError(f"{src}: graph node without a name ({n.op_type}); re-export it with `facemotion export`")
    first, last = linear_nodes(proto)
    exclude = head_nodes(proto, last)
    if "first" in scheme.float_layers:
        exclude += first
    if "last" in scheme.float_layers:
        exclude += last
    types = {"int7": QuantType.QInt8, "int8": QuantType.QInt8, "uint8": QuantType.QUInt8}
    extra = {"ActivationSymmetric": False, "WeightSymmetric": scheme.weights != "uint8"}
    kwargs = {}
    if calibration_cache is not None and "calibration_cache_path" in inspect.signature(quantize_static).parameters:
        kwargs["calibration_cache_path"] = str(calibration_cache)
    quantize_static(str(src), str(dest), reader,
                    quant_format=QuantFormat.QDQ if scheme.format == "QDQ" else QuantFormat.QOperator,
                    op_types_to_quantize=list(GRAPH_OPS if scheme.ops == "graph" else LINEAR_OPS),
                    per_channel=scheme.per_channel, reduce_range=scheme.weights == "int7",
                    activation_type=QuantType.QUInt8 if scheme.activations == "uint8" else QuantType.QInt8,
                    weight_type=types[scheme.weights], nodes_to_exclude=exclude,
                    calibrate_method=CalibrationMethod.MinMax, extra_options=extra, **kwargs)


class _FacesReader:
    """Calibration batches of normalized Training faces for ONNX Runtime's calibrator."""

    def __init__(self, images: np.ndarray, input_name: str, batch: int = 64, progress: bool = True):
        self._batches = [normalize(images[i:i + batch])[:, None] for i in range(0, len(images), batch)]
        self._input = input_name
        self._bar = progress_bar(total=len(self._batches), desc="calibrating", unit="batch", disable=not progress)
        self._i = 0

    def get_next(self):
        if self._i >= len(self._batches):
            self._bar.close()
            return None
        self._i += 1
        self._bar.update(1)
        return {self._input: self._batches[self._i - 1]}

    def rewind(self):
        self._i = 0


def label_source(card, labels: str | None) -> str:
    """The label source a model is checked with: the one asked for, else the model's own
    (FER+ for a model with contempt)."""
    return labels or ("ferplus" if "contempt" in card.labels else "fer2013")


def quantize_splits(data, labels: str = "fer2013", votes=None, seed: int = 0) -> tuple:
    """(the faces to calibrate on, the faces to check on, what the check's split is called, the
    check faces' FER+ votes or None): a dataset's Training and PublicTest, PublicTest with
    FER2013's labels and, where the file keys them, FER+'s votes (required with ``labels``
    "ferplus"), scored as ``facemotion evaluate`` scores them; your own folder of crops (no val
    part) its faces less a tenth held out for the check, as `train` holds one out, under the
    folder's names (FER+'s eight for a FER+ model: contempt/ its own class)."""
    from ..datasets import available_splits, load_training_data
    from ..protocol import protocol_inputs

    if "val" in available_splits(data):
        d = load_splits(data, ("train", "val"), progress=True)
        v, _ = protocol_inputs(d["val"], None, votes, required=labels == "ferplus", where=f"{data} (val)")
        return d["train"], d["val"], "PublicTest", v
    train, val = load_training_data(data, val_fraction=0.1, seed=seed, progress=True)
    if labels == "ferplus":
        from .data import with_eight_labels

        train, val = with_eight_labels(train), with_eight_labels(val)
    return train, val, "a tenth of the folder, held out", None


def calibration_faces(train, n: int, seed: int = 0) -> np.ndarray:
    """``n`` faces of ``train``, drawn with ``seed`` (the split is sorted by class: a prefix would
    be one emotion)."""
    pick = np.sort(np.random.default_rng(seed).permutation(len(train))[:n])
    return train.images[pick]


def _int8_name(card, src: Path, out) -> str:
    """``<name>_int8``; a shipped model's int8 name only for the file of that name (its release):
    a user's copy is titled by its own file, not as the shipped model in every record."""
    named = f"{card.name or src.stem}_int8"
    return named if named not in shipped_models() or Path(out).stem == named else Path(out).stem


def quantize_model(model, out, *, data, calibration: int = 2000, seed: int = 0, name: str | None = None,
                   progress: bool = True, scheme: str | Scheme = DEFAULT_SCHEME, calibration_cache=None,
                   check: bool = True, labels: str | None = None, votes=None) -> dict:
    """Quantize a shipped model (by name) or an exported ``.onnx`` file with ``scheme`` (a name
    in :data:`SCHEMES`); returns the PublicTest check (``check=False``: none is made or saved,
    for callers that measure the file themselves, like benchmarks/int8.py)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    scheme = get_scheme(scheme)
    src, _ = resolve(model)
    if src.suffix.lower() != ".onnx":
        raise ModelError(f"{src}: quantize takes an ONNX model (export a checkpoint first: facemotion export)")
    float_clf = OnnxClassifier(src)
    if why := float_clf.odd_input():  # calibration feeds it batches of float32 faces
        raise ModelError(f"{src}: {why}; quantize reads graphs that take any number of float32 faces (export it so)")
    card = float_clf.card
    if card.weights_dtype == "int8":
        raise ModelError(f"{src}: already int8")
    out = Path(out)
    labels = label_source(card, labels)
    train, val, val_name, val_votes = quantize_splits(data, labels, votes, seed)
    if check and not len(val):  # the file is written only once it has been checked
        raise FacemotionError(f"{data}: no faces to check the int8 model on (a tenth of each emotion's faces, "
                              f"rounded, holds out none of its {len(train):,}); give 6 faces or more of an emotion, "
                              "or a folder with a val part")
    faces = calibration_faces(train, calibration, seed)
    if calibration > len(faces):
        print(f"--calibration {calibration}: {data} has {len(faces):,} training faces, all of them used", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        prepped = Path(tmp) / "prepped.onnx"
        # float16-stored weights come back to float32 first: the quantizer reads initializers
        proto = onnx.load(str(src))
        if card.weights_dtype == "float16":
            from onnx import numpy_helper

            _unfold_fp16(proto, numpy_helper)
        onnx.save(proto, str(Path(tmp) / "float32.onnx"))
        quant_pre_process(str(Path(tmp) / "float32.onnx"), str(prepped), skip_symbolic_shape=True)
        with atomic_path(out) as dest:
            quantize_graph(prepped, dest, _FacesReader(faces, float_clf.input_name, progress=progress), scheme,
                           calibration_cache)
            result = compare(float_clf, dest, val, labels, val_name, val_votes) if check else {}
            q = onnx.load(str(dest))
            own = val_name != "PublicTest"  # your own folder of crops
            calibrated = f"{min(calibration, len(train))} {'training' if own else 'Training'} faces, seed {seed}"
            measured = {"val_acc" if own else "public_test": result.get("int8_public_test"),
                        "ferplus_val": result.get("int8_ferplus_val")}  # the card's names (card.METRICS)
            int8 = ModelCard(**{**card.__dict__, "name": name or _int8_name(card, src, out),
                                "weights_dtype": "int8",
                                "metrics": {k: v for k, v in measured.items() if v is not None} if check else {},
                                "quantization": scheme.card(calibrated),
                                "training": {**card.training, "quantized_from": src.name, "calibration": calibrated}})
            del q.metadata_props[:]
            set_metadata(q, int8.validate(str(out)).to_dict())
            onnx.save(q, str(dest))
    result.update(scheme=scheme.name, file=str(out), bytes=out.stat().st_size, float_file=str(src),
                  float_bytes=src.stat().st_size)
    if check:
        write_text(out.with_name(out.name + ".check.json"), json.dumps(result, indent=2) + "\n")
    return result


def _unfold_fp16(proto, numpy_helper) -> None:
    """Undo :func:`~.export.store_fp16`: each ``<name>__fp16`` initializer and its Cast become
    the float32 initializer ``<name>`` again."""
    casts = {n.output[0]: n for n in proto.graph.node if n.op_type == "Cast" and n.input[0].endswith("__fp16")}
    inits = {i.name: i for i in proto.graph.initializer}
    for name, node in casts.items():
        half = inits.pop(node.input[0])
        inits[name] = numpy_helper.from_array(numpy_helper.to_array(half).astype(np.float32), name)
        proto.graph.node.remove(node)
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(inits.values())


def compare(float_clf, int8_path, val, labels: str = "fer2013", split: str = "PublicTest", votes=None) -> dict:
    """The float and int8 models on the faces of ``val`` (PublicTest: ``split`` names it):
    accuracy against ``val``'s labels (FER2013's on PublicTest, and with ``votes`` FER+'s 7-class
    majority as ``facemotion evaluate`` scores it: ``*_ferplus_val``), top-1 agreement, max |dp|."""
    import onnxruntime as ort

    from ..protocol import protocol_report

    # the int8 file gets its card after this check: run it as a bare graph
    sess = ort.InferenceSession(str(int8_path), providers=["CPUExecutionProvider"])
    x = normalize(val.images)[:, None]
    p_float = float_clf.predict(x)
    p_int8 = np.concatenate([sess.run(None, {float_clf.input_name: x[i:i + 256]})[0] for i in range(0, len(x), 256)])
    out = {"split": split, "labels": labels, "faces": int(len(val)),
           "float_public_test": float((p_float.argmax(1) == val.labels).mean()),
           "int8_public_test": float((p_int8.argmax(1) == val.labels).mean()),
           "top1_agreement": float((p_float.argmax(1) == p_int8.argmax(1)).mean()),
           "max_abs_prob_diff": float(np.abs(p_float - p_int8).max())}
    if votes is not None:
        for kind, p in (("float", p_float), ("int8", p_int8)):
            r = protocol_report(p, float_clf.card.labels, val.labels, votes)["ferplus7"]
            out[f"{kind}_ferplus_val"], out["ferplus_faces"] = r["accuracy"], r["n"]
    return out
