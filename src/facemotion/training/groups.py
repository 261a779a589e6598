"""``train --balance-groups``: every group of people sees the same mix of emotions.

A data set in which one group's faces are mostly labelled one emotion (FER2013's women happy more
often than its men, say) lets a network learn the group as a cue for the emotion, which then
decides the near-ties: a man's faint smile falls to neutral. Reweighing (Kamiran & Calders 2012,
"Data preprocessing techniques for classification without discrimination") gives each face of
group g and label y the weight P(g) P(y) / P(g, y): under the weights, the label is independent of
the group, and the weights sum to the number of faces, so the loss keeps its scale. Faces without
a group (``--extra-data`` crops not named in the file) weigh 1.

The file is a CSV with a ``source`` column (the face's name as the training split lists it,
e.g. ``train/happy/Training_10019449.jpg``) and a ``group`` column, or a ``p_female`` column
(``scripts/fer_gender.py``'s output), which is read as the group ``female`` at 0.5 or more,
``male`` below.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import DataError, UsageError


def read_groups(path) -> dict[str, str]:
    """``source -> group`` from a --balance-groups file; a malformed file is refused in one line
    naming it and its first bad row."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--balance-groups: {path} " + ("is a folder; give the CSV of each training source's group"
                                                         if path.is_dir() else "does not exist"))
    out: dict[str, str] = {}
    with open(path, newline="") as f:
        rows = csv.DictReader(f)
        cols = set(rows.fieldnames or ())
        if "source" not in cols or not cols & {"group", "p_female"}:
            raise DataError(f"{path}: a --balance-groups file needs a 'source' column and a 'group' or "
                            f"'p_female' column; it has {', '.join(sorted(cols)) or 'none'}")
        for n, row in enumerate(rows, start=2):  # line 1 is the header
            source, group = (row.get("source") or "").strip(), (row.get("group") or "").strip()
            if not group and "p_female" in cols:
                try:
                    p = float(row["p_female"])
                except (TypeError, ValueError):
                    p = float("nan")
                if not 0.0 <= p <= 1.0:
                    raise DataError(f"{path}: line {n}: p_female {row.get('p_female')!r} is not a probability")
                group = "female" if p >= 0.5 else "male"
            if not source or not group:
                raise DataError(f"{path}: line {n}: an empty source or group")
            out[source] = group
    if not out:
        raise DataError(f"{path}: no rows")
    return out


def reweigh(sources, labels, groups: dict[str, str]) -> tuple[np.ndarray, dict]:
    """Per-face weights P(g) P(y) / P(g, y) for the faces ``groups`` names (1 for the others),
    and a summary: faces matched, and per group its size and the weight range."""
    labels = np.asarray(labels)
    g = np.array([groups.get(str(s), "") for s in sources], dtype=object)
    have = g != ""
    w = np.ones(len(labels), np.float32)
    if not have.any():
        raise DataError("--balance-groups: none of the training faces is named in the file "
                        f"(the split's first source: {str(sources[0]) if len(sources) else 'none'!r})")
    gs, ys = g[have], labels[have]
    n = len(ys)
    names = sorted(set(gs))
    p_y = np.bincount(ys, minlength=labels.max() + 1) / n
    wh = np.empty(n, np.float32)
    summary = {"matched": int(n), "faces": len(labels), "groups": {}}
    for name in names:
        m = gs == name
        p_gy = np.bincount(ys[m], minlength=len(p_y)) / n
        ratio = np.where(p_gy > 0, (m.mean() * p_y) / np.maximum(p_gy, 1e-12), 0.0)
        wh[m] = ratio[ys[m]]
        summary["groups"][name] = {"faces": int(m.sum()), "min_weight": float(wh[m].min()),
                                   "max_weight": float(wh[m].max())}
    w[have] = wh
    return w, summary
