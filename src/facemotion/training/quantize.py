"""``facemotion quantize MODEL -o model_int8.onnx``: ONNX Runtime static int8 quantization.

QDQ format, int8 weights per output channel, uint8 activations whose ranges are calibrated
on Training faces (a seeded sample of a few thousand, never noise and never a test split);
convolutions and matrix products only, so the output probabilities stay float.
The result is checked against the float model on PublicTest before it is written: accuracy
of both, how often they agree on the top emotion and the largest probability change, saved
beside the model as ``<out>.check.json`` and in the int8 model's card.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import onnx

from ..card import ModelCard
from ..classify import OnnxClassifier
from ..datasets import load_splits
from ..errors import ModelError
from ..fileio import atomic_path, write_text
from ..preprocess import normalize
from ..progress import progress_bar
from ..zoo import resolve
from .export import set_metadata


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


def calibration_faces(data, n: int, seed: int = 0) -> np.ndarray:
    """``n`` Training faces, drawn with ``seed`` (the split is sorted by class: a prefix would be
    one emotion)."""
    train = load_splits(data, ("train",), progress=True)["train"]
    pick = np.sort(np.random.default_rng(seed).permutation(len(train))[:n])
    return train.images[pick]


def quantize_model(model, out, *, data, calibration: int = 2000, seed: int = 0, name: str | None = None,
                   progress: bool = True) -> dict:
    """Quantize a shipped model (by name) or an exported ``.onnx`` file; returns the check."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, _ = resolve(model)
    if src.suffix.lower() != ".onnx":
        raise ModelError(f"{src}: quantize takes an ONNX model (export a checkpoint first: facemotion export)")
    float_clf = OnnxClassifier(src)
    card = float_clf.card
    if card.weights_dtype == "int8":
        raise ModelError(f"{src}: already int8")
    out = Path(out)
    faces = calibration_faces(data, calibration, seed)
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
            quantize_static(str(prepped), str(dest), _FacesReader(faces, float_clf.input_name, progress=progress),
                            quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
                            # the compute-heavy ops only: the softmax and the ensemble/TTA averages
                            # stay float, so probabilities are not rounded to 1/255 steps
                            op_types_to_quantize=["Conv", "MatMul", "Gemm"])
            check = compare(float_clf, dest, data)
            q = onnx.load(str(dest))
            int8 = ModelCard(**{**card.__dict__, "name": name or f"{card.name or src.stem}_int8",
                                "weights_dtype": "int8", "metrics": {"public_test": check["int8_public_test"]},
                                "training": {**card.training, "quantized_from": src.name,
                                             "calibration": f"{calibration} Training faces, seed {seed}"}})
            del q.metadata_props[:]
            set_metadata(q, int8.to_dict())
            onnx.save(q, str(dest))
    check.update(file=str(out), bytes=out.stat().st_size, float_file=str(src), float_bytes=src.stat().st_size)
    write_text(out.with_name(out.name + ".check.json"), json.dumps(check, indent=2) + "\n")
    return check


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


def compare(float_clf, int8_path, data) -> dict:
    """The float and int8 models on PublicTest: accuracy, top-1 agreement, max |dp|."""
    import onnxruntime as ort

    val = load_splits(data, ("val",))["val"]
    # the int8 file gets its card after this check: run it as a bare graph
    sess = ort.InferenceSession(str(int8_path), providers=["CPUExecutionProvider"])
    x = normalize(val.images)[:, None]
    p_float = float_clf.predict(x)
    p_int8 = np.concatenate([sess.run(None, {float_clf.input_name: x[i:i + 256]})[0] for i in range(0, len(x), 256)])
    return {"split": "PublicTest", "faces": int(len(val)),
            "float_public_test": float((p_float.argmax(1) == val.labels).mean()),
            "int8_public_test": float((p_int8.argmax(1) == val.labels).mean()),
            "top1_agreement": float((p_float.argmax(1) == p_int8.argmax(1)).mean()),
            "max_abs_prob_diff": float(np.abs(p_float - p_int8).max())}
