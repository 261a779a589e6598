"""FER+ crowd votes (Barsoum et al. 2016, microsoft/FERPlus, MIT licence) for FER2013's faces.

Every FER2013 face was labelled again by ten annotators, who could also answer "unknown" or
"not a face" (NF). The vote file (``ferplus_votes.csv``: shipped with the package as
``datasets/data/ferplus_votes.csv.gz``, see its README in ``docs/labels.md``) keys the votes
by the image's path in the Kaggle layout (``train/angry/Training_1.jpg``) and by the FER+
image name (``fer0000000.png``: the row of the original ``fer2013.csv``), so both FER2013
layouts get them.

Votes are kept per face in one column order, :data:`VOTE_COLUMNS`: the eight emotions of
:data:`~facemotion.labels.FERPLUS_EMOTIONS` (FER2013's seven in FER2013's order, then
contempt), then ``unknown`` and ``not_face``. What a face counts as:

- its **majority**: the emotion with the most votes, when no other column ties it and it is
  not unknown/NF (:func:`majority`); faces without one are left out of scoring, as FER+ does;
- its **crowd distribution**: the eight emotions' votes normalized (:func:`crowd_distribution`),
  the soft target of FER+'s "probability" scheme and what :func:`crowd_cross_entropy` compares
  a model's probabilities with.
"""

from __future__ import annotations

import csv
import gzip
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..labels import FERPLUS_EMOTIONS

# FER+'s own column names, in its file order, and where each goes in VOTE_COLUMNS
FERPLUS_FILE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
                        "unknown", "NF")
VOTE_COLUMNS = (*FERPLUS_EMOTIONS, "unknown", "not_face")
_TO_OURS = {"neutral": "neutral", "happiness": "happy", "surprise": "surprise", "sadness": "sad", "anger": "angry",
            "disgust": "disgust", "fear": "fear", "contempt": "contempt", "unknown": "unknown", "NF": "not_face"}
_ORDER = [FERPLUS_FILE_COLUMNS.index(next(k for k, v in _TO_OURS.items() if v == c)) for c in VOTE_COLUMNS]
N_EMOTIONS = len(FERPLUS_EMOTIONS)
TARGET_SCHEMES = ("probability", "majority")
SHIPPED = "ferplus_votes.csv.gz"


@dataclass(frozen=True)
class VoteTable:
    """The votes of one vote file: ``by_path`` (Kaggle path -> row) and ``by_name`` (FER+ image
    name -> row) index ``votes`` (rows x :data:`VOTE_COLUMNS`, float: a duplicate group's rows
    are averages)."""

    source: str
    votes: np.ndarray
    by_path: dict
    by_name: dict

    def __len__(self) -> int:
        return len(self.votes)


def shipped_votes_path() -> Path:
    return Path(str(resources.files("facemotion.datasets") / "data" / SHIPPED))


def read_votes(path: str | os.PathLike | None = None) -> VoteTable:
    """The vote file at ``path`` (``.csv`` or ``.csv.gz``; None: the shipped one), checked: the
    header must be FER+'s, every count a finite number >= 0, every row at least one vote and
    a Kaggle-layout path. A file that is not that is refused naming the file and the first bad row."""
    path = shipped_votes_path() if path is None else Path(path)
    st = path.stat() if path.exists() else None
    if st is None:
        raise DataError(f"{path}: no such vote file")
    return _read_votes(str(path.resolve()), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=4)
def _read_votes(path: str, size: int, mtime_ns: int) -> VoteTable:
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt", newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: not a readable vote file ({type(e).__name__}: {e})") from None
    if not rows:
        raise DataError(f"{path}: empty vote file")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in ("path", *FERPLUS_FILE_COLUMNS) if c not in header]
    if missing:
        raise DataError(f"{path}: row 1: not a FER+ vote file: missing column(s) {', '.join(missing)} "
                        f"(expected path,{','.join(FERPLUS_FILE_COLUMNS)}[,ferplus_name])")
    ip = header.index("path")
    iv = [header.index(c) for c in FERPLUS_FILE_COLUMNS]
    iname = header.index("ferplus_name") if "ferplus_name" in header else None
    votes = np.empty((len(rows) - 1, len(VOTE_COLUMNS)), np.float32)
    by_path, by_name = {}, {}
    for i, row in enumerate(rows[1:]):
        where = f"{path}: row {i + 2}"
        if len(row) < len(header):
            raise DataError(f"{where}: {len(row)} fields, expected {len(header)}")
        rel = row[ip].strip()
        parts = rel.split("/")
        if len(parts) != 3 or parts[0] not in ("train", "test") or not rel.lower().endswith((".jpg", ".png")):
            raise DataError(f"{where}: path {rel!r} is not a Kaggle-layout path (train|test/<emotion>/<image>)")
        try:
            v = np.array([float(row[j]) for j in iv], np.float64)
        except ValueError:
            raise DataError(f"{where}: a vote count is not a number ({','.join(row[j] for j in iv)})") from None
        if not np.isfinite(v).all() or (v < 0).any():
            raise DataError(f"{where}: vote counts must be finite and >= 0 ({','.join(row[j] for j in iv)})")
        if v.sum() <= 0:
            raise DataError(f"{where}: no votes")
        if rel in by_path:
            raise DataError(f"{where}: path {rel!r} appears twice")
        votes[i] = v[_ORDER]
        by_path[rel] = i
        if iname is not None:
            for name in filter(None, (n.strip() for n in row[iname].split(";"))):
                by_name.setdefault(name, i)
    return VoteTable(path, votes, by_path, by_name)


def votes_for(sources, table: VoteTable, where: str = "dataset") -> np.ndarray:
    """Votes for a split's ``sources`` (Kaggle paths, possibly inside a top folder, or a CSV's
    ``row N``); rows x :data:`VOTE_COLUMNS`, NaN where FER+ has no row for the face (FER+ left
    out some non-faces and blank images). A dataset none of whose faces the file knows is refused:
    the vote file is for another copy of FER2013."""
    out = np.full((len(sources), len(VOTE_COLUMNS)), np.nan, np.float32)
    found = 0
    for k, src in enumerate(map(str, sources)):
        i = _lookup(src, table)
        if i is not None:
            out[k] = table.votes[i]
            found += 1
    if len(sources) and found == 0:
        raise DataError(f"{where}: none of its {len(sources)} faces is in the vote file {table.source} (first: "
                        f"{str(sources[0])!r}); FER+ votes are keyed by FER2013's Kaggle paths "
                        "(train/<emotion>/Training_<id>.jpg) or fer2013.csv's rows")
    return out


def _lookup(src: str, table: VoteTable) -> int | None:
    if src.startswith("row "):  # fer2013.csv: FER+ names its images by the CSV's data row, from 0
        try:
            return table.by_name.get(f"fer{int(src[4:]) - 2:07d}.png")
        except ValueError:
            return None
    parts = src.replace("\\", "/").split("/")
    return table.by_path.get("/".join(parts[-3:])) if len(parts) >= 3 else None


def majority(votes: np.ndarray, labels=FERPLUS_EMOTIONS) -> np.ndarray:
    """Each face's majority label as an index into ``labels`` (FER2013's seven or FER+'s
    eight), or -1: the column with the most votes, when no other column ties it, it is an
    emotion (not unknown or NF) and it is in ``labels`` (under the seven, a contempt majority
    is -1: that face is left out of the 7-class protocol)."""
    votes = np.asarray(votes, np.float64)
    out = np.full(len(votes), -1, np.int64)
    ok = np.isfinite(votes).all(1)
    if not ok.any():
        return out
    v = votes[ok]
    top = v.argmax(1)
    unique = (v == v.max(1, keepdims=True)).sum(1) == 1
    keep = unique & (top < len(labels))
    idx = np.where(keep, top, -1)
    out[ok] = idx
    return out


def crowd_distribution(votes: np.ndarray, labels=FERPLUS_EMOTIONS) -> np.ndarray:
    """The votes for ``labels``' emotions (in ``labels``' order), normalized to sum 1 (unknown and
    NF dropped; NaN rows, and rows with no emotion vote, stay NaN)."""
    v = np.asarray(votes, np.float64)[:, [VOTE_COLUMNS.index(e) for e in labels]]
    s = v.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s > 0, v / s, np.nan)


def soft_targets(votes: np.ndarray, scheme: str = "probability") -> np.ndarray:
    """Training targets over the eight emotions: FER+'s ``probability`` scheme (the crowd
    distribution; a single vote among ten is taken as noise and dropped, as FER+'s code does,
    unless it is the face's only emotion vote) or ``majority`` (one-hot of :func:`majority`)."""
    if scheme not in TARGET_SCHEMES:
        raise ValueError(f"unknown target scheme {scheme!r}; expected one of {', '.join(TARGET_SCHEMES)}")
    v = np.asarray(votes, np.float64)[:, :N_EMOTIONS]
    if scheme == "majority":
        m = majority(votes)
        out = np.zeros_like(v)
        out[m >= 0, m[m >= 0]] = 1.0
        return out.astype(np.float32)
    pruned = np.where(v <= 1.0 + 1e-6, 0.0, v)
    v = np.where(pruned.sum(1, keepdims=True) > 0, pruned, v)
    return (v / v.sum(1, keepdims=True)).astype(np.float32)


def trainable(votes: np.ndarray) -> np.ndarray:
    """Faces that can be trained on: FER+ has votes for them and their most-voted column is an
    emotion (FER+ leaves out faces whose votes are mostly unknown or not-a-face)."""
    v = np.asarray(votes, np.float64)
    ok = np.isfinite(v).all(1)
    out = np.zeros(len(v), bool)
    out[ok] = v[ok, :N_EMOTIONS].max(1) > v[ok, N_EMOTIONS:].max(1)
    return out


# a FER2013 image's part, by its Kaggle path in the vote file
_PART = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}


def check_csv_rows(split, table: VoteTable, where: str) -> None:
    """FER+ keys a CSV's faces by their row in the original fer2013.csv: a CSV whose rows were
    renumbered (a subset of PublicTest or PrivateTest rows) would read Training faces' votes.
    Refused where a row's vote belongs to another part than the split being read."""
    rows = [str(s) for s in split.sources[:200] if str(s).startswith("row ")]
    if not rows:
        return
    path_of = {i: p for p, i in table.by_path.items()}
    for src in rows:
        i = _lookup(src, table)
        part = next((v for k, v in _PART.items() if k in path_of.get(i, "")), None) if i is not None else None
        if part is not None and part != split.name:
            raise DataError(f"{where}: its {src} is, in fer2013.csv, a {part} face: FER+'s votes are keyed by the "
                            "original file's rows, which this CSV does not keep (a `data subset` of it?); relabel "
                            "the original fer2013.csv, or a zip of the Kaggle image folders")


def as_ferplus(split, table: VoteTable, *, scheme: str = "probability", where: str = "dataset",
               intent: float = 0.0):
    """A FER2013 :class:`~facemotion.datasets.splits.Split` relabelled by FER+: faces FER+ cannot
    train on dropped (:func:`trainable`), ``labels`` the majority over the eight emotions (ties
    -> the first most-voted emotion, for accuracy during training), ``targets`` the soft targets
    of ``scheme``, ``votes`` the raw votes.

    ``intent`` (0..1): this much of each face's own FER2013 label (the expression it was searched
    for: what the person meant to show) mixed into its target. The crowd, at 48 px, calls many
    meant expressions neutral; a network trained on the crowd alone learns to say neutral
    wherever the evidence is weak (docs/labels.md)."""
    from .splits import Split

    if not 0.0 <= intent <= 1.0:
        raise ValueError(f"intent: must be in [0, 1], got {intent}")
    check_csv_rows(split, table, where)
    votes = votes_for(split.sources, table, where)
    keep = trainable(votes)
    v = votes[keep]
    labels = v[:, :N_EMOTIONS].argmax(1).astype(np.int64)
    dropped = int((~keep).sum())
    targets = soft_targets(v, scheme)
    if intent > 0:
        # FER2013's seven are FER+'s first seven, in the same order
        meant = np.eye(N_EMOTIONS, dtype=np.float32)[np.asarray(split.labels)[keep]]
        targets = ((1.0 - intent) * targets + intent * meant).astype(np.float32)
    return Split(split.name, split.images[keep], labels, split.sources[keep], split.skipped,
                 targets=targets, votes=v, label_names=FERPLUS_EMOTIONS, dropped=dropped)


__all__ = ["VOTE_COLUMNS", "TARGET_SCHEMES", "VoteTable", "read_votes", "votes_for", "majority",
           "crowd_distribution", "soft_targets", "trainable", "as_ferplus", "shipped_votes_path"]
