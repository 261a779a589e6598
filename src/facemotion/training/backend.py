"""The torch backend of :func:`facemotion.classify.load_classifier`: a ``.pt`` checkpoint
behaves like a shipped ONNX model (registered for ``.pt`` through the ``facemotion.backends``
entry point, so the core never imports this module itself)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .. import tta
from ..classify import MAX_BATCH, Classifier
from .checkpoint import card_of, model_from_checkpoint


class TorchClassifier(Classifier):
    """A PyTorch checkpoint; the same interface as :class:`~facemotion.classify.OnnxClassifier`.

    ``tta``: the views to average (default: the checkpoint card's own, the one its recorded
    accuracy was measured with).
    """

    backend = "torch"

    def __init__(self, path: str | os.PathLike, threads: int | None = None, tta_mode: str | None = None):
        self.path = Path(path)
        self.model, ckpt = model_from_checkpoint(self.path)
        self.card = card_of(ckpt, str(self.path))
        self.tta = tta.mode_name(self.card.tta if tta_mode is None else tta_mode)
        self._threads = threads

    def predict(self, batch: np.ndarray) -> np.ndarray:
        out = []
        with torch.no_grad():
            for i in range(0, max(len(batch), 1), MAX_BATCH):  # bounded memory, as ONNX Runtime's
                x = torch.from_numpy(np.ascontiguousarray(batch[i:i + MAX_BATCH], np.float32))
                z = tta.apply(self.model, x, self.tta)
                out.append(torch.softmax(z / self.card.temperature, 1).numpy())
        return np.concatenate(out)
