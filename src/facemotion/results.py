"""The one result record every output uses: the API's dicts, JSON, CSV rows and drawings.

A record's ``emotions`` hold the model's labels in the model's order (FER2013's seven, or
FER+'s eight with contempt last), so every writer follows the model by reading the record.
"""

from __future__ import annotations

import numpy as np

from .labels import labels_of_size

def labels_for(probs) -> tuple[str, ...]:
    """The label set whose size is the length of ``probs`` (one face's probabilities), or ``probs``
    itself when it is a number of classes (:func:`facemotion.labels.labels_of_size`)."""
    return labels_of_size(probs if isinstance(probs, (int, np.integer)) else len(probs))


def make_result(box, confidence: float, probs, labels=None) -> dict:
    """``{box, confidence, emotions, dominant_emotion}`` for one face (``probs``: one value per
    label, in ``labels`` order; ``labels`` None: the label set of that size)."""
    probs = np.asarray(probs, np.float64)
    labels = labels_for(probs) if labels is None else labels
    emotions = {e: float(p) for e, p in zip(labels, probs)}
    return {"box": tuple(int(v) for v in box), "confidence": float(confidence), "emotions": emotions,
            "dominant_emotion": labels[int(probs.argmax())]}


def probabilities(result: dict, labels=None) -> list[float]:
    """A result's probabilities in ``labels`` order (None: the record's own, the model's)."""
    return [result["emotions"][e] for e in (result["emotions"] if labels is None else labels)]
