"""Split names, defined once, and the :class:`Split` every loader returns.

facemotion's splits are ``train``, ``val`` and ``test``; FER2013 calls them Training,
PublicTest and PrivateTest (its CSV's ``Usage`` column). The protocol: learn on train,
choose everything on val, report test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from ..errors import DataError
from ..labels import EMOTIONS

SPLIT_USAGE = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
SPLITS = tuple(SPLIT_USAGE)
USAGE_TO_SPLIT = {usage.lower(): split for split, usage in SPLIT_USAGE.items()}
# folder names people use for each split in <split>/<class>/<image> trees
SPLIT_DIRS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
              "test": "test", "testing": "test"}


def split_title(split: str) -> str:
    """'val' -> 'val (PublicTest)'."""
    return f"{split} ({SPLIT_USAGE[split]})" if split in SPLIT_USAGE else split


def check_splits(splits: Iterable[str]) -> tuple[str, ...]:
    """Split names, de-duplicated in order; an unknown or empty list is a DataError."""
    splits = tuple(dict.fromkeys(splits))
    bad = [s for s in splits if s not in SPLITS]
    if bad or not splits:
        raise DataError(f"unknown split(s) {', '.join(map(str, bad)) or '(none)'}; expected some of {', '.join(SPLITS)}")
    return splits


@dataclass
class Split:
    """One split: ``images`` N x 48 x 48 uint8, ``labels`` N int64 (indices into ``label_names``),
    ``sources`` N names. Relabelled by FER+ (:func:`facemotion.datasets.ferplus.as_ferplus`), it
    also has ``targets`` (N x 8 soft targets), ``votes`` (N x 10 crowd votes) and ``dropped``
    (faces left out: no FER+ row, or mostly unknown / not-a-face votes). A training split joined by
    face folders (``train --extra-data``) marks their faces in ``from_extra``."""

    name: str
    images: np.ndarray
    labels: np.ndarray
    sources: np.ndarray
    skipped: list[str] = field(default_factory=list)
    targets: np.ndarray | None = None
    votes: np.ndarray | None = None
    label_names: tuple = EMOTIONS
    dropped: int = 0
    from_extra: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(self.label_names))

    def subset(self, keep) -> "Split":
        """The faces selected by ``keep`` (a mask or indices), every per-face array alike."""
        def pick(a):
            return None if a is None else a[keep]

        return Split(self.name, self.images[keep], self.labels[keep], self.sources[keep], self.skipped,
                     pick(self.targets), pick(self.votes), self.label_names, self.dropped, pick(self.from_extra))


