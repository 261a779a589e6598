"""Loading splits of a dataset (any layout :mod:`.fer2013` reads), through the cache.

:func:`load_training_data` is the FER2013 protocol's gate: training reads the train and val
(PublicTest) splits and nothing else, so no choice made in training can see PrivateTest.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import DataError
from .cache import cache_key, cache_load, cache_save
from .fer2013 import LOADERS, available_splits, detect_format
from .splits import SPLITS, Split, check_splits

LABEL_SOURCES = ("fer2013", "ferplus")


def check_label_options(args) -> None:
    """A vote file is read with ``--labels ferplus`` only: named beside FER2013's own labels it
    would be passed over in silence."""
    from ..errors import UsageError

    if getattr(args, "votes", None) and getattr(args, "labels", None) == "fer2013":
        raise UsageError("--votes: FER+'s vote file is read with --labels ferplus; add it, or leave --votes out")
    if getattr(args, "target", "probability") != "probability" and getattr(args, "labels", None) == "fer2013":
        raise UsageError(f"--vote-scheme {args.target}: how FER+'s votes become targets, with --labels ferplus; "
                         "add it, or leave --vote-scheme out")


def add_label_options(parser, default: str | None = "fer2013") -> None:
    """``--labels`` and ``--votes``, with one meaning in every command that reads a dataset
    (``default`` None: the model's own label set decides, for commands that check a model)."""
    parser.add_argument("--labels", choices=LABEL_SOURCES, default=default,
                        help="where the labels come from: the dataset's own (fer2013), or FER+'s ten-annotator "
                             "votes for FER2013's faces (ferplus: eight emotions with contempt; faces mostly voted "
                             "'unknown' or 'not a face' are left out)"
                             + ("" if default else "; default: the model's own label set"))
    parser.add_argument("--votes", default=None, metavar="CSV",
                        help="with --labels ferplus: the FER+ vote file (default: the one shipped with facemotion, "
                             "keyed by the Kaggle layout's paths and fer2013.csv's rows)")


def load_splits(path: str | os.PathLike, splits: Iterable[str] = SPLITS, *, skip_bad: bool = False,
                cache: bool = True, progress: bool = False, labels: str = "fer2013", votes=None,
                target: str = "probability", intent: float = 0.0) -> dict[str, Split]:
    """Load the requested splits of a dataset. Only those splits are read.

    ``labels``: where the labels come from: ``fer2013`` (the dataset's own folders or CSV
    column) or ``ferplus`` (the FER+ crowd votes of ``votes``, a vote file; None: the one
    shipped with facemotion), which relabels every face with eight emotions and drops the
    faces FER+ does not label (:func:`facemotion.datasets.ferplus.as_ferplus`; ``intent``: the
    share of FER2013's own label mixed into each FER+ target)."""
    if labels not in LABEL_SOURCES:
        raise DataError(f"--labels: unknown label source {labels!r}; expected one of {', '.join(LABEL_SOURCES)}")
    out = _load_splits(Path(path), splits, skip_bad=skip_bad, cache=cache, progress=progress)
    if labels == "ferplus":
        from .ferplus import as_ferplus, read_votes

        table = read_votes(votes)
        out = {s: as_ferplus(sp, table, scheme=target, where=f"{path} ({s})", intent=intent) for s, sp in out.items()}
    return out


def _load_splits(path: Path, splits: Iterable[str], *, skip_bad: bool, cache: bool, progress: bool) -> dict[str, Split]:
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
    for c in range(len(split.label_names)):
        idx = np.flatnonzero(split.labels == c)
        rng.shuffle(idx)
        val_idx.extend(idx[: int(round(len(idx) * fraction))])
    mask = np.zeros(len(split), bool)
    mask[val_idx] = True
    train, val = split.subset(~mask), split.subset(mask)
    train.name, val.name, val.skipped, val.dropped = "train", "val", [], 0
    return train, val


def load_training_data(path, *, val_fraction: float = 0.1, seed: int = 0, skip_bad: bool = False,
                       progress: bool = True, labels: str = "fer2013", votes=None,
                       target: str = "probability", intent: float = 0.0) -> tuple[Split, Split]:
    """Return (train, val). Reads ONLY the train and val splits.

    When the dataset has no val split (a user's own folder), a stratified ``val_fraction``
    of train is held out, chosen by ``seed``.
    """
    how = dict(skip_bad=skip_bad, progress=progress, labels=labels, votes=votes, target=target, intent=intent)
    if "val" in available_splits(path):
        d = load_splits(path, ("train", "val"), **how)
        return d["train"], d["val"]
    train = load_splits(path, ("train",), **how)["train"]
    return hold_out(train, val_fraction, seed)
