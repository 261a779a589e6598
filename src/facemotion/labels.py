"""The label sets facemotion's models may have, defined once.

A model's labels are its card's (:class:`facemotion.card.ModelCard`); there are two sets, and
the second extends the first, so a FER2013 emotion has the same index in both:

- ``fer2013``: FER2013's seven emotions in FER2013's own indices (:data:`EMOTIONS`);
- ``ferplus``: the same seven followed by FER+'s ``contempt`` (:data:`FERPLUS_EMOTIONS`).
"""

from __future__ import annotations

import unicodedata

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(EMOTIONS)
# FER+ adds contempt after the seven, so the first seven keep their order (and their indices)
FERPLUS_EMOTIONS: tuple[str, ...] = (*EMOTIONS, "contempt")
LABEL_SETS: dict[str, tuple[str, ...]] = {"fer2013": EMOTIONS, "ferplus": FERPLUS_EMOTIONS}


def labels_of_size(n: int) -> tuple[str, ...]:
    """The label set with ``n`` labels (the sets differ in size, so a model's number of outputs
    names its labels); ValueError for any other size."""
    for ls in LABEL_SETS.values():
        if len(ls) == n:
            return ls
    raise ValueError(f"{n} outputs match none of facemotion's label sets "
                     f"({', '.join(f'{k}: {len(v)}' for k, v in LABEL_SETS.items())})")


def label_set_name(labels) -> str | None:
    """'fer2013' or 'ferplus' for a model's labels (a sequence of names); None for anything else."""
    return next((name for name, ls in LABEL_SETS.items() if list(ls) == list(labels)), None)

# Names people use for the same seven classes in folder layouts and other datasets
# (Kaggle's FER2013 uses "angry", others "anger", "scared", "happiness", ...).
ALIASES: dict[str, str] = {
    "anger": "angry",
    "angry": "angry",
    "mad": "angry",
    "disgust": "disgust",
    "disgusted": "disgust",
    "contempt": "contempt",  # FER+'s eighth; FER2013 filed it under disgust (canonical_emotion)
    "contemptuous": "contempt",
    "fear": "fear",
    "fearful": "fear",
    "scared": "fear",
    "afraid": "fear",
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "smile": "happy",
    "smiling": "happy",
    "sad": "sad",
    "sadness": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
    "neutral": "neutral",
    "calm": "neutral",
}


class UnknownLabelError(ValueError):
    """A class name that maps to none of the seven emotions."""


def _key(name) -> str:
    # a folder name as file systems and archives give it: decomposed accents (macOS), full-width
    # letters, upper case, padding spaces or a BOM all name the same class
    return unicodedata.normalize("NFKC", str(name)).strip().strip("\ufeff\u200b").strip().casefold()


def canonical_emotion(name: str, labels=EMOTIONS) -> str:
    """A class name as people write it (case-insensitive, with the aliases of :data:`ALIASES`)
    -> the emotion's name in ``labels``: contempt stays contempt where ``labels`` has it (FER+),
    and is FER2013's disgust where it does not. UnknownLabelError for anything else."""
    emotion = ALIASES.get(_key(name))
    if emotion is None:
        raise UnknownLabelError(
            f"{name!r} names no emotion; expected one of {', '.join(FERPLUS_EMOTIONS)} "
            f"(or an alias such as {', '.join(sorted(k for k in ALIASES if k not in FERPLUS_EMOTIONS)[:6])})"
        )
    return "disgust" if emotion == "contempt" and emotion not in labels else emotion


def label_index(name: str | int) -> int:
    """Map a class name (case-insensitive, with aliases) or an index to the canonical index."""
    if isinstance(name, (int,)) and not isinstance(name, bool):
        if 0 <= name < NUM_CLASSES:
            return int(name)
        raise UnknownLabelError(f"label index {name} is outside 0..{NUM_CLASSES - 1}")
    key = _key(name)
    if key.isdecimal():  # isdigit() also takes "²", which int() refuses
        return label_index(int(key))
    if key in ALIASES:  # FER2013's seven: contempt is disgust, by canonical_emotion's one rule
        return EMOTIONS.index(canonical_emotion(key))
    raise UnknownLabelError(
        f"unknown emotion class {name!r}; expected one of {', '.join(EMOTIONS)} "
        f"(or an alias such as {', '.join(sorted(k for k in ALIASES if k not in EMOTIONS)[:6])})")
