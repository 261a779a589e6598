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
from .models import create_model


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

    @classmethod
    def from_model(cls, model, card, tta_mode: str | None = None, path: str = "<in memory>") -> "TorchClassifier":
        """A network already in memory (with the card it should be read with) as a classifier."""
        self = cls.__new__(cls)
        self.path, self.model, self.card, self._threads = Path(path), model.eval(), card, None
        self.tta = tta.mode_name(card.tta if tta_mode is None else tta_mode)
        return self

    def with_random_weights(self, seed: int = 0) -> "TorchClassifier":
        """The same architecture, card and views with freshly initialised weights: the model
        randomisation test of an explanation method (Adebayo et al. 2018) compares its maps with
        this model's."""
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = create_model(self.card.arch, **self.card.arch_kwargs)
        return TorchClassifier.from_model(model, self.card, self.tta, f"{self.path} (random weights)")

    def predict(self, batch: np.ndarray) -> np.ndarray:
        out = []
        with torch.no_grad():
            for i in range(0, max(len(batch), 1), MAX_BATCH):  # bounded memory, as ONNX Runtime's
                x = torch.from_numpy(np.ascontiguousarray(batch[i:i + MAX_BATCH], np.float32))
                z = tta.apply(self.model, x, self.tta)
                out.append(torch.softmax(z / self.card.temperature, 1).numpy())
        return np.concatenate(out)
