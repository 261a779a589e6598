"""The interface every explanation method implements, and the scale maps are given on."""

from __future__ import annotations

import numpy as np


class Explainer:
    """What every method provides: ``explain(batch, targets)``: normalized N x 1 x S x S faces
    and N class indices -> N x S x S float32 maps in [0, 1]."""

    name = "?"

    def __init__(self, classifier):
        self.classifier = classifier

    def explain(self, batch: np.ndarray, targets) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


def unit_maps(maps: np.ndarray) -> np.ndarray:
    """Each map clipped at 0 and divided by its maximum, so maps compare across faces and
    methods; a map with no positive evidence stays all zeros."""
    maps = np.maximum(np.asarray(maps, np.float32), 0)
    top = maps.reshape(len(maps), -1).max(1) if len(maps) else np.zeros(0, np.float32)
    return maps / np.where(top > 0, top, 1)[:, None, None]
