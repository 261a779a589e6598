"""The one label order used everywhere in facemotion (FER2013's own indices)."""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(EMOTIONS)

# Names people use for the same seven classes in folder layouts and other datasets
# (Kaggle's FER2013 uses "angry", others "anger", "scared", "happiness", ...).
ALIASES: dict[str, str] = {
    "anger": "angry",
    "angry": "angry",
    "mad": "angry",
    "disgust": "disgust",
    "disgusted": "disgust",
    "contempt": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "scared": "fear",
    "afraid": "fear",
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "sad": "sad",
    "sadness": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
    "neutral": "neutral",
    "calm": "neutral",
}


class UnknownLabelError(ValueError):
    """A class name that maps to none of the seven emotions."""


def label_index(name: str | int) -> int:
    """Map a class name (case-insensitive, with aliases) or an index to the canonical index."""
    if isinstance(name, (int,)) and not isinstance(name, bool):
        if 0 <= name < NUM_CLASSES:
            return int(name)
        raise UnknownLabelError(f"label index {name} is outside 0..{NUM_CLASSES - 1}")
    key = str(name).strip().lower()
    if key.isdigit():
        return label_index(int(key))
    if key not in ALIASES:
        raise UnknownLabelError(
            f"unknown emotion class {name!r}; expected one of {', '.join(EMOTIONS)} "
            f"(or an alias such as {', '.join(sorted(k for k in ALIASES if k not in EMOTIONS)[:6])})"
        )
    return EMOTIONS.index(ALIASES[key])
