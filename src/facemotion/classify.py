"""Classification: 48x48 faces -> N x 7 emotion probabilities, in one batched call.

The default backend is ONNX Runtime over a model exported from our PyTorch checkpoint
(``facemotion export``), so the core install needs no torch. The ONNX file carries its own
description (labels, input size, normalization, temperature, architecture, metrics) in its
metadata, and the graph already ends in a temperature-scaled softmax.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .errors import ModelError
from .labels import EMOTIONS
from .preprocess import INPUT_SIZE, faces_to_batch

WEIGHTS_DIR = Path(__file__).with_name("weights")


def shipped_models() -> dict[str, dict]:
    """Models inside the package: name -> its entry in ``weights/models.json``."""
    index = WEIGHTS_DIR / "models.json"
    if not index.exists():
        return {}
    return json.loads(index.read_text())["models"]


def default_model_name() -> str:
    index = WEIGHTS_DIR / "models.json"
    if not index.exists():
        raise ModelError(f"{index}: the package ships no model index (broken install?)")
    return json.loads(index.read_text())["default"]


def resolve_model(model: str | os.PathLike | None) -> Path:
    """None -> the default shipped model; a shipped name -> its file; else a path."""
    if model is None:
        model = default_model_name()
    shipped = shipped_models()
    if isinstance(model, str) and model in shipped:
        return WEIGHTS_DIR / shipped[model]["file"]
    path = Path(model)
    if not path.exists():
        names = ", ".join(sorted(shipped)) or "none"
        raise ModelError(f"{path}: no such model file (shipped models: {names})")
    return path


class OnnxClassifier:
    """An exported facemotion model run by ONNX Runtime."""

    backend = "onnxruntime"

    def __init__(self, path: str | os.PathLike, threads: int | None = None):

        self.path = Path(path)
        self._threads = threads
        # A few faces (the usual photo or video frame) run fastest on one thread: waking a
        # pool costs more than the work. Large batches get a multi-threaded session, made on
        # first use.
        self.session = self._session(1)
        self._pool_session = None
        meta = self.session.get_modelmeta().custom_metadata_map
        try:
            self.meta = {k: json.loads(v) for k, v in meta.items()}
        except ValueError:
            raise ModelError(f"{self.path}: ONNX metadata is not facemotion's (re-export with `facemotion export`)") from None
        labels = self.meta.get("labels")
        if labels != list(EMOTIONS):
            raise ModelError(f"{self.path}: model labels {labels} are not facemotion's {list(EMOTIONS)}")
        self.input_size = int(self.meta.get("input_size", INPUT_SIZE))
        self.input_name = self.session.get_inputs()[0].name

    def _session(self, threads: int):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        # Don't let idle worker threads spin after a run: in a pipeline the next thing on the
        # CPU is the face detector, and spinning threads cost it ~10 ms per image on 2 cores.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            return ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise ModelError(f"{self.path}: not a loadable ONNX model ({str(e).splitlines()[0][:200]})") from None

    @property
    def name(self) -> str:
        return self.meta.get("name", self.path.stem)

    # Larger inputs run in chunks of this many faces: a whole test split in one call would
    # make ONNX Runtime hold every activation of every face at once (tens of GB for an
    # ensemble), and throughput stops growing well before this size anyway.
    max_batch = 256

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """N x 1 x S x S float32 in [-1, 1] -> N x 7 probabilities (one call per 256 faces)."""
        if len(batch) == 0:
            return np.zeros((0, len(EMOTIONS)), np.float32)
        sess = self.session
        if len(batch) > 16 and self._threads != 1:
            if self._pool_session is None:
                self._pool_session = self._session(self._threads or 0)  # 0 = one thread per core
            sess = self._pool_session
        batch = np.ascontiguousarray(batch, np.float32)
        if len(batch) <= self.max_batch:  # a photo's or a frame's faces: one call, no copy
            return sess.run(None, {self.input_name: batch})[0]
        return np.concatenate([sess.run(None, {self.input_name: batch[i:i + self.max_batch]})[0]
                               for i in range(0, len(batch), self.max_batch)])

    def classify_faces(self, faces) -> np.ndarray:
        """Face crops (list or N x H x W array, any size, gray or colour) -> N x 7, one batch."""
        return self.predict(faces_to_batch(faces, self.input_size))


class TorchClassifier:
    """A PyTorch checkpoint (needs the [train] extra); same interface as OnnxClassifier."""

    backend = "torch"

    def __init__(self, path: str | os.PathLike, tta: bool = False):
        from .checkpoint import model_from_checkpoint

        self.path = Path(path)
        self.model, ckpt = model_from_checkpoint(self.path)
        self.meta = {k: v for k, v in ckpt.items() if k not in ("model_state", "optimizer_state", "scheduler_state",
                                                                "ema_state", "history")}
        self.input_size = int(ckpt.get("input_size", INPUT_SIZE))
        self.temperature = float(ckpt.get("temperature", 1.0))
        self.tta = tta

    @property
    def name(self) -> str:
        return self.path.stem

    def predict(self, batch: np.ndarray) -> np.ndarray:
        import torch

        out = []
        with torch.no_grad():
            for i in range(0, max(len(batch), 1), OnnxClassifier.max_batch):  # bounded memory, as above
                x = torch.from_numpy(np.ascontiguousarray(batch[i:i + OnnxClassifier.max_batch], np.float32))
                z = self.model(x)
                if self.tta:
                    z = (z + self.model(torch.flip(x, dims=[3]))) / 2
                out.append(torch.softmax(z / self.temperature, 1).numpy())
        return np.concatenate(out)

    def classify_faces(self, faces) -> np.ndarray:
        return self.predict(faces_to_batch(faces, self.input_size))


def load_classifier(model=None, threads: int | None = None):
    """None / shipped name / .onnx path -> OnnxClassifier; .pt path -> TorchClassifier."""
    if model is not None and not isinstance(model, (str, os.PathLike)):
        return model  # already a classifier object
    path = resolve_model(model)
    if path.suffix == ".pt":
        return TorchClassifier(path)
    return OnnxClassifier(path, threads=threads)
