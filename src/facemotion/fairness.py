"""Accuracy per group of people, with intervals and a test of the gap: what
``facemotion evaluate MODEL --data FOLDER --groups CSV`` adds to a folder's report, and what
``benchmarks/bias.py`` computes on the London set.

The groups come from a CSV beside the photos: a ``file`` column (the photo's path inside the
folder, ``happy/0001.jpg``, or its file name where names are unique), an optional ``person``
column, and any other columns as attributes (``gender``, ``age band``, ...), one group per
value; an empty cell leaves the photo out of that attribute only.

Small groups are the rule in such checks, so every share comes with its 95% Wilson interval
(it stays sensible at 0% and 100%, where a bootstrap has zero width), and each attribute's
largest gap between groups gets a permutation test (the group labels shuffled among the units;
Holm-adjusted over the attributes). With a ``person`` column the unit is the person (the mean
of their photos' hits): two photos of one person are not two independent trials. Groups of
fewer than :data:`MIN_GROUP` units are shown but left out of the test.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from pathlib import Path

import numpy as np

from .errors import DataError
from .names import shown

MIN_GROUP = 5
PERMUTATIONS = 2_000


def wilson(k: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of ``k`` successes in ``n`` (95% by default)."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, min(p, c - h)), min(1.0, max(p, c + h)))  # min/max: rounding at 0% and 100%


def permutation_gap(values: np.ndarray, labels: list[str], rng: np.random.Generator, permutations: int) -> dict:
    """The largest gap between group means and a two-sided permutation test of it (labels shuffled
    among these units; the statistic max - min of the group means, so any pair counts)."""
    names = sorted(set(labels))
    codes = np.array([names.index(g) for g in labels])
    counts = np.bincount(codes, minlength=len(names)).astype(float)

    def gap(c):
        means = np.bincount(c, weights=values, minlength=len(names)) / counts
        return means.max() - means.min(), means

    obs, means = gap(codes)
    # a block of permutations at once, one row of shuffled labels each; blocks of about 4M
    # labels keep a folder of thousands of photos within memory
    block, exceed = max(1, min(permutations, 4_000_000 // max(1, len(codes)))), 0
    for start in range(0, permutations, block):
        shuffled = codes[np.argsort(rng.random((min(block, permutations - start), len(codes))), axis=1)]
        sums = np.stack([np.bincount(row, weights=values, minlength=len(names)) for row in shuffled])
        gaps = (sums / counts).max(axis=1) - (sums / counts).min(axis=1)
        exceed += int(np.sum(gaps >= obs - 1e-12))
    p = (1 + exceed) / (1 + permutations)
    return {"groups": names, "gap": float(obs), "high": names[int(means.argmax())], "low": names[int(means.argmin())],
            "p": float(p), "permutations": permutations}


def holm(ps: list[float]) -> list[float]:
    """Holm's step-down adjustment of ``ps`` (the family-wise error over several tests)."""
    order = np.argsort(ps)
    adj, running = [0.0] * len(ps), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(ps) - rank) * ps[i]))
        adj[i] = running
    return adj


def read_groups(path, root, files: list[Path]) -> tuple[dict[str, list[str | None]], list[str] | None]:
    """({attribute: each photo's group or None}, each photo's person or None) for ``files`` (paths
    inside the folder ``root``), from the CSV at ``path``; a file that does not fit is refused in
    one line naming it and the row."""
    path, root = Path(path), Path(root)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = [{(k or "").strip(): v if isinstance(v, str) else "" for k, v in r.items()} for r in reader]
            columns = [c.strip() for c in reader.fieldnames or []]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{shown(path)}: not a readable CSV ({e})") from None
    if "file" not in columns:
        raise DataError(f"{shown(path)}: no 'file' column (the photo's path inside {shown(root)}), "
                        f"columns: {', '.join(columns) or 'none'}")
    attributes = [c for c in columns if c not in ("file", "person") and c]
    if not attributes:
        raise DataError(f"{shown(path)}: no group column beside 'file' and 'person'")
    rel = [p.relative_to(root).as_posix() for p in files]
    index = {r: i for i, r in enumerate(rel)}
    count = Counter(p.name for p in files)
    unique = {p.name: i for i, p in enumerate(files) if count[p.name] == 1}
    groups = {a: [None] * len(files) for a in attributes}
    persons = [None] * len(files) if "person" in columns else None
    seen = {}
    for line, row in enumerate(rows, start=2):
        key = (row.get("file") or "").strip().replace("\\", "/").removeprefix("./")  # as Windows or a shell wrote it
        i = index.get(key, unique.get(key))
        if i is None:
            raise DataError(f"{shown(path)}: line {line}: file {key!r} is not a photo of {shown(root)}")
        if i in seen:
            raise DataError(f"{shown(path)}: line {line}: {rel[i]} already given on line {seen[i]}")
        seen[i] = line
        for a in attributes:
            groups[a][i] = (row.get(a) or "").strip() or None
        if persons is not None:
            persons[i] = (row.get("person") or "").strip() or rel[i]
    check_persons(groups, persons, shown(path))
    return groups, persons


def check_persons(groups: dict[str, list], persons: list[str] | None, where: str) -> None:
    """Refuse, in one line, a person whose photos name two groups of one attribute: a person is
    one unit with one group."""
    if persons is None:
        return
    for a, values in groups.items():
        first = {}
        for who, v in zip(persons, values):
            if v is not None and first.setdefault(who, v) != v:
                raise DataError(f"{where}: person {who!r} is in two {a!r} groups ({first[who]!r} and {v!r})")


def _units(sel: np.ndarray, persons: list[str] | None, values: list[str | None]):
    """(unit index of each selected photo, each unit's group)."""
    idx = np.flatnonzero(sel)
    if persons is None:
        return np.arange(len(idx)), [values[i] for i in idx]
    keys, group = {}, []
    of_unit = [keys.setdefault(persons[i], len(keys)) for i in idx]
    for u, i in zip(of_unit, idx):
        if u == len(group):
            group.append(values[i])
    return np.array(of_unit), group


def _group_cells(y, pred, found, labels, of_unit, unit_group: np.ndarray, unit_hit: np.ndarray, g) -> dict:
    """One group's cell over the selected photos: units, photos, the unit-mean accuracy and its
    interval, balanced accuracy and per-class recall over its photos, faces found."""
    in_g = unit_group[of_unit] == g
    mine = unit_hit[unit_group == g]
    yy, pp = y[in_g], pred[in_g]
    recall = {labels[c]: float((pp[yy == c] == c).mean()) for c in sorted(set(yy.tolist()))}
    return {"units": len(mine), "photos": int(in_g.sum()), "accuracy": float(mine.mean()),
            "ci": list(wilson(float(mine.sum()), len(mine))),
            "balanced_accuracy": float(np.mean(list(recall.values()))), "recall": recall,
            "faces_found": int(found[in_g].sum())}


def group_report(y, pred, found, labels, groups: dict[str, list], persons: list[str] | None, *,
                 seed: int = 0, permutations: int = PERMUTATIONS) -> dict:
    """Per attribute and group: accuracy (the mean over units) with its Wilson interval, balanced
    accuracy, per-class recall and faces found; the largest gap's permutation test among the
    groups of at least :data:`MIN_GROUP` units, Holm-adjusted over the attributes. ``y``: truth
    indices; ``pred``: predicted indices, ``len(labels)`` where no face was found."""
    y, pred, found = np.asarray(y), np.asarray(pred), np.asarray(found, bool)
    check_persons(groups, persons, "groups")
    rng = np.random.default_rng([seed, 2016])
    out = {"labels": list(labels), "unit": "person" if persons is not None else "photo", "min_group": MIN_GROUP,
           "permutations": permutations, "seed": seed, "attributes": {}}
    for a, values in groups.items():
        sel = np.array([v is not None for v in values])
        of_unit, unit_group = _units(sel, persons, values)
        unit_group = np.array(unit_group, dtype=object)
        # a unit's share of hits: its photos' mean (one photo each without a person column)
        unit_hit = np.bincount(of_unit, weights=(pred == y)[sel]) / np.bincount(of_unit)
        cells = {g: _group_cells(y[sel], pred[sel], found[sel], labels, of_unit, unit_group, unit_hit, g)
                 for g in sorted(set(unit_group))}
        tested = [g for g, c in cells.items() if c["units"] >= MIN_GROUP]
        test = None
        if len(tested) >= 2:
            keep = np.isin(unit_group, tested)
            test = permutation_gap(unit_hit[keep], list(unit_group[keep]), rng, permutations)
        out["attributes"][a] = {"groups": cells, "test": test, "left_out": int((~sel).sum())}
    tests = [t for t in (v["test"] for v in out["attributes"].values()) if t]
    for t, p in zip(tests, holm([t["p"] for t in tests])):
        t["p_holm"] = p
    return out


def format_group_report(r: dict) -> str:
    """The report as text: a table per attribute and its gap."""
    unit = r["unit"]
    lines = [f"by group (accuracy over {unit}s with 95% Wilson intervals; the largest gap: permutation test, "
             f"{r['permutations']:,} permutations, Holm over the attributes; groups under {r['min_group']} "
             f"{unit}s not tested)"]
    for a, v in r["attributes"].items():
        lines.append(f"{a}" + (f" ({v['left_out']} photos without one)" if v["left_out"] else ""))
        present = {e for c in v["groups"].values() for e in c["recall"]}
        classes = [e for e in r["labels"] if e in present]
        lines.append(f"  {'group':<16}{unit + 's':>8}{'photos':>8}  {'accuracy [95%]':<24}{'balanced':>9}{'faces':>10}  "
                     + "".join(f"{e[:8]:>9}" for e in classes) + "  (recall)")
        for g, c in v["groups"].items():
            lo, hi = c["ci"]
            acc = f"{c['accuracy'] * 100:.1f}% [{lo * 100:.1f}, {hi * 100:.1f}]"
            faces = f"{c['faces_found']}/{c['photos']}"
            lines.append(f"  {g[:16]:<16}{c['units']:>8}{c['photos']:>8}  {acc:<24}{c['balanced_accuracy'] * 100:>8.1f}%"
                         f"{faces:>10}  " + "".join(f"{c['recall'][e] * 100:>8.1f}%" if e in c["recall"] else f"{'-':>9}"
                                                   for e in classes))
        t = v["test"]
        if t:
            lines.append(f"  largest gap: {t['high']} - {t['low']} {t['gap'] * 100:.1f} points, p {t['p']:.4f} "
                         f"(Holm {t['p_holm']:.4f})")
        else:
            lines.append(f"  no test: fewer than two groups of {r['min_group']} or more {unit}s")
    return "\n".join(lines)


__all__ = ["MIN_GROUP", "wilson", "permutation_gap", "holm", "read_groups", "group_report", "format_group_report"]
