"""The one result record every output uses: the API's dicts, JSON, CSV rows and drawings.

A record's ``emotions`` hold the model's labels in the model's order (FER2013's seven, or
FER+'s eight with contempt last), so every writer follows the model by reading the record.
"""

from __future__ import annotations

import numpy as np

from .labels import LABEL_SETS

# facemotion's label sets differ in size (the card refuses any other labels), so a row of
# probabilities names its own labels; a caller that knows them passes them anyway
_BY_SIZE = {len(ls): ls for ls in LABEL_SETS.values()}


def labels_for(probs) -> tuple[str, ...]:
    """The label set whose size is the length of ``probs`` (one face's probabilities), or ``probs``
    itself when it is a number of classes."""
    n = probs if isinstance(probs, (int, np.integer)) else len(probs)
    if n not in _BY_SIZE:
        raise ValueError(f"{n} probabilities match none of facemotion's label sets "
                         f"({', '.join(f'{k}: {len(v)}' for k, v in LABEL_SETS.items())})")
    return _BY_SIZE[n]


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
