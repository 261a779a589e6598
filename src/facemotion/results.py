"""The one result record every output uses: the API's dicts, JSON, CSV rows and drawings."""

from __future__ import annotations

import numpy as np

from .labels import EMOTIONS


def make_result(box, confidence: float, probs) -> dict:
    """``{box, confidence, emotions, dominant_emotion}`` for one face (``probs``: 7 values in
    :data:`EMOTIONS` order)."""
    probs = np.asarray(probs, np.float64)
    emotions = {e: float(p) for e, p in zip(EMOTIONS, probs)}
    return {"box": tuple(int(v) for v in box), "confidence": float(confidence), "emotions": emotions,
            "dominant_emotion": EMOTIONS[int(probs.argmax())]}


def probabilities(result: dict) -> list[float]:
    """A result's probabilities in :data:`EMOTIONS` order."""
    return [result["emotions"][e] for e in EMOTIONS]
