"""Loading splits of a dataset (any layout :mod:`.fer2013` reads), through the cache.

:func:`load_training_data` is the FER2013 protocol's gate: training reads the train and val
(PublicTest) splits and nothing else, so no choice made in training can see PrivateTest.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np

from ..labels import NUM_CLASSES
from .cache import cache_key, cache_load, cache_save
from .fer2013 import LOADERS, available_splits, detect_format
from .splits import SPLITS, Split, check_splits


def load_splits(path: str | os.PathLike, splits: Iterable[str] = SPLITS, *, skip_bad: bool = False,
                cache: bool = True, progress: bool = False) -> dict[str, Split]:
    """Load the requested splits of a dataset. Only those splits are read."""
    path = Path(path)
    splits = check_splits(splits)
    fmt = detect_format(path)
    if fmt == "csv" and path.is_dir():
        path = path / "fer2013.csv"
    out: dict[str, Split] = {}
    todo = []
    for s in splits:
        key = cache_key(path, s, skip_bad) if cache else None
        hit = cache_load(key, s) if key else None
        if hit is not None:
            out[s] = hit
        else:
            todo.append((s, key))
    if todo:
        fresh = LOADERS[fmt](path, [s for s, _ in todo], skip_bad, progress)
        for s, key in todo:
            out[s] = fresh[s]
            if key:
                cache_save(key, fresh[s])
    return {s: out[s] for s in splits}


def hold_out(split: Split, fraction: float, seed: int = 0) -> tuple[Split, Split]:
    """A stratified ``fraction`` of ``split`` (per class, chosen by ``seed``) as a validation split."""
    rng = np.random.default_rng(seed)
    val_idx = []
    for c in range(NUM_CLASSES):
        idx = np.flatnonzero(split.labels == c)
        rng.shuffle(idx)
        val_idx.extend(idx[: int(round(len(idx) * fraction))])
    mask = np.zeros(len(split), bool)
    mask[val_idx] = True
    return (Split("train", split.images[~mask], split.labels[~mask], split.sources[~mask], split.skipped),
            Split("val", split.images[mask], split.labels[mask], split.sources[mask], []))


def load_training_data(path, *, val_fraction: float = 0.1, seed: int = 0, skip_bad: bool = False,
                       progress: bool = True) -> tuple[Split, Split]:
    """Return (train, val). Reads ONLY the train and val splits.

    When the dataset has no val split (a user's own folder), a stratified ``val_fraction``
    of train is held out, chosen by ``seed``.
    """
    if "val" in available_splits(path):
        d = load_splits(path, ("train", "val"), skip_bad=skip_bad, progress=progress)
        return d["train"], d["val"]
    train = load_splits(path, ("train",), skip_bad=skip_bad, progress=progress)["train"]
    return hold_out(train, val_fraction, seed)
