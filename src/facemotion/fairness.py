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


def _standardized_means(codes: np.ndarray, values: np.ndarray, strata: np.ndarray, k: int,
                        n_strata: int) -> tuple[np.ndarray, int]:
    """(each group's mean at equal strata, the units compared): its mean within each stratum,
    weighted by the stratum's size, over the strata where every group is present (direct
    standardization)."""
    cell = strata * k + codes
    sums = np.bincount(cell, weights=values, minlength=n_strata * k).reshape(n_strata, k)
    counts = np.bincount(cell, minlength=n_strata * k).reshape(n_strata, k)
    full = (counts > 0).all(1)
    if not full.any():
        return np.full(k, np.nan), 0
    w = counts[full].sum(1)
    return (sums[full] / counts[full] * w[:, None]).sum(0) / w.sum(), int(w.sum())


def stratified_gap(values: np.ndarray, labels: list[str], strata, rng: np.random.Generator, permutations: int) -> dict:
    """The largest gap between group means **at equal strata** (each group's mean standardized to
    the strata's sizes, over the strata where every group is present) and a two-sided
    permutation test that shuffles the group labels within each stratum only: a gap that a
    covariate (smile breadth, lighting) explains does not survive it. ``strata``: each unit's
    level of the covariate (any sortable values)."""
    values = np.asarray(values, float)
    names = sorted(set(labels))
    codes = np.array([names.index(g) for g in labels])
    levels, strata = np.unique(np.asarray(strata), return_inverse=True)
    k, n_strata = len(names), len(levels)
    means, used = _standardized_means(codes, values, strata, k, n_strata)
    obs = float(np.nanmax(means) - np.nanmin(means)) if not np.isnan(means).all() else float("nan")
    members = [np.flatnonzero(strata == s) for s in range(n_strata)]
    perm, exceed = codes.copy(), 0
    for _ in range(permutations if obs == obs else 0):
        for idx in members:  # shuffled within each stratum, in the strata's sorted order
            perm[idx] = rng.permutation(codes[idx])
        m, _ = _standardized_means(perm, values, strata, k, n_strata)  # shuffling keeps each stratum's counts
        exceed += int(m.max() - m.min() >= obs - 1e-12)
    none = obs != obs  # no stratum holds every group: no gap to tell, None (JSON's null, not NaN)
    return {"groups": names, "means": {g: None if none else float(v) for g, v in zip(names, means)},
            "gap": None if none else obs, "high": None if none else names[int(np.nanargmax(means))],
            "low": None if none else names[int(np.nanargmin(means))],
            "p": None if none else (1 + exceed) / (1 + permutations), "permutations": permutations,
            "strata": [str(v) for v in levels], "units_compared": used}


def gap_said(t: dict, digits: int = 1, how: str = "stratified p") -> str:
    """A stratified gap (``facemotion.fairness.stratified_gap``) as text: its points and p, or that
    no stratum held every group (its gap is None then)."""
    if t["gap"] is None:
        return "no gap to tell (no stratum holds every group)"
    return f"{100 * t['gap']:.{digits}f} points ({how} = {t['p']:.4f})"


def holm(ps: list[float]) -> list[float]:
    """Holm's step-down adjustment of ``ps`` (the family-wise error over several tests)."""
    order = np.argsort(ps)
    adj, running = [0.0] * len(ps), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(ps) - rank) * ps[i]))
        adj[i] = running
    return adj


def read_groups(path, root, files: list[Path], control: str | None = None):
    """({attribute: each photo's group or None}, each photo's person or None, each photo's
    ``control`` value or None; None without ``control``) for ``files`` (paths inside the folder
    ``root``), from the CSV at ``path``; a file that does not fit is refused in one line naming
    it and the row. The ``control`` column is a covariate, not an attribute."""
    path, root = Path(path), Path(root)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f, restkey="\0extra")
            raw = list(reader)
            rows = [{(k or "").strip(): v if isinstance(v, str) else "" for k, v in r.items()} for r in raw]
            columns = [c.strip() for c in reader.fieldnames or []]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{shown(path)}: not a readable CSV ({e})") from None
    if twice := sorted({c for c in columns if c and columns.count(c) > 1}):  # the last would win, silently
        raise DataError(f"{shown(path)}: column {', '.join(map(repr, twice))} given twice")
    if long := next((k for k, r in enumerate(raw, 2) if any(v.strip() for v in r.get("\0extra", ()))), None):
        raise DataError(f"{shown(path)}, line {long}: more cells than the header's {len(columns)} columns")
    if "file" not in columns:
        raise DataError(f"{shown(path)}: no 'file' column (the photo's path inside {shown(root)}), "
                        f"columns: {', '.join(columns) or 'none'}")
    if control is not None and control not in columns:
        raise DataError(f"{shown(path)}: no {control!r} column for --control (columns: {', '.join(columns)})")
    attributes = [c for c in columns if c not in ("file", "person", control) and c]
    if not attributes:
        raise DataError(f"{shown(path)}: no group column beside 'file' and 'person'"
                        + (f" (and the control {control!r})" if control else ""))
    rel = [p.relative_to(root).as_posix() for p in files]
    index = {r: i for i, r in enumerate(rel)}
    count = Counter(p.name for p in files)
    unique = {p.name: i for i, p in enumerate(files) if count[p.name] == 1}
    groups = {a: [None] * len(files) for a in [*attributes, *([control] if control else [])]}
    persons = [None] * len(files) if "person" in columns else None
    seen = {}
    for line, row in enumerate(rows, start=2):
        key = (row.get("file") or "").strip().replace("\\", "/").removeprefix("./")  # as Windows or a shell wrote it
        i = index.get(key, unique.get(key))
        if i is None and count.get(key, 0) > 1:  # a name two photos have: which one, the path inside says
            where = ", ".join(rel[k] for k, p in enumerate(files) if p.name == key)
            raise DataError(f"{shown(path)}: line {line}: file {key!r} names {count[key]} photos of {shown(root)} "
                            f"({where}); give its path inside the folder")
        if i is None:
            raise DataError(f"{shown(path)}: line {line}: file {key!r} is not a photo of {shown(root)}")
        if i in seen:
            raise DataError(f"{shown(path)}: line {line}: {rel[i]} already given on line {seen[i]}")
        seen[i] = line
        for a in groups:
            groups[a][i] = (row.get(a) or "").strip() or None
        if persons is not None:
            persons[i] = (row.get("person") or "").strip() or rel[i]
    check_persons(groups, persons, shown(path))  # a person has one control value too
    return groups, persons, groups.pop(control) if control else None


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


def _controlled(hit: np.ndarray, values: list, control: list, persons, tested: list[str], rng, permutations: int) -> dict:
    """An attribute's gap at equal ``control`` (:func:`stratified_gap` over the units with both a
    group among ``tested`` and a control value) and each control level's accuracy per group."""
    sel = np.array([v in tested and c is not None for v, c in zip(values, control)])
    of_unit, unit_group = _units(sel, persons, values)
    _, unit_level = _units(sel, persons, control)  # the same units: a person has one control value
    unit_hit = np.bincount(of_unit, weights=hit[sel]) / np.bincount(of_unit)
    unit_group, unit_level = np.array(unit_group, dtype=object), np.array(unit_level, dtype=object)
    levels = {}
    for lv in sorted(set(unit_level.tolist())):
        cell = {g: unit_hit[(unit_level == lv) & (unit_group == g)] for g in tested}
        levels[lv] = {g: {"units": len(h), "accuracy": float(h.mean()) if len(h) else None} for g, h in cell.items()}
    test = stratified_gap(unit_hit, list(unit_group), unit_level.astype(str), rng, permutations)
    return {**test, "levels": levels, "left_out": int(np.isin(values, tested).sum() - sel.sum())}


def group_report(y, pred, found, labels, groups: dict[str, list], persons: list[str] | None, *,
                 control: list | None = None, control_name: str | None = None,
                 seed: int = 0, permutations: int = PERMUTATIONS) -> dict:
    """Per attribute and group: accuracy (the mean over units) with its Wilson interval, balanced
    accuracy, per-class recall and faces found; the largest gap's permutation test among the
    groups of at least :data:`MIN_GROUP` units, Holm-adjusted over the attributes. ``y``: truth
    indices; ``pred``: predicted indices, ``len(labels)`` where no face was found. With
    ``control`` (each photo's level of a covariate, None where unknown), the same gap is also
    tested at equal control (:func:`stratified_gap`; its own Holm family)."""
    y, pred, found = np.asarray(y), np.asarray(pred), np.asarray(found, bool)
    check_persons({**groups, **({control_name or "control": control} if control else {})}, persons, "groups")
    rng = np.random.default_rng([seed, 2016])
    rng_control = np.random.default_rng([seed, 2016, 1])  # its own stream: the plain tests do not move with it
    out = {"labels": list(labels), "unit": "person" if persons is not None else "photo", "min_group": MIN_GROUP,
           "permutations": permutations, "seed": seed, "attributes": {}}
    if control is not None:
        out["control"] = control_name or "control"
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
        if control is not None and test:
            test["at_equal_control"] = _controlled((pred == y).astype(float), values, control, persons,
                                                   tested, rng_control, permutations)
    plain = [v["test"] for v in out["attributes"].values() if v["test"]]
    controlled = [c for c in (t.get("at_equal_control") for t in plain) if c and c["p"] is not None]
    for family in (plain, controlled):
        for t, p in zip(family, holm([t["p"] for t in family])):
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
        per_unit = unit != "photo"  # a units column beside the photos only where they differ
        lines.append(f"  {'group':<16}" + (f"{unit + 's':>8}" if per_unit else "") + f"{'photos':>8}  "
                     f"{'accuracy [95%]':<24}{'balanced':>9}{'faces':>10}  " + "".join(f"{e[:8]:>9}" for e in classes)
                     + "  (recall)")
        for g, c in v["groups"].items():
            lo, hi = c["ci"]
            acc = f"{c['accuracy'] * 100:.1f}% [{lo * 100:.1f}, {hi * 100:.1f}]"
            faces = f"{c['faces_found']}/{c['photos']}"
            lines.append(f"  {g[:16]:<16}" + (f"{c['units']:>8}" if per_unit else "")
                         + f"{c['photos']:>8}  {acc:<24}{c['balanced_accuracy'] * 100:>8.1f}%"
                         f"{faces:>10}  " + "".join(f"{c['recall'][e] * 100:>8.1f}%" if e in c["recall"] else f"{'-':>9}"
                                                   for e in classes))
        t = v["test"]
        if t:
            lines.append(f"  largest gap: {t['high']} - {t['low']} {t['gap'] * 100:.1f} points, p {t['p']:.4f} "
                         f"(Holm {t['p_holm']:.4f})")
            if "at_equal_control" in t:
                lines += _controlled_lines(t["at_equal_control"], r["control"], unit)
        else:
            lines.append(f"  no test: fewer than two groups of {r['min_group']} or more {unit}s")
    return "\n".join(lines)


def _controlled_lines(c: dict, name: str, unit: str) -> list[str]:
    if c["gap"] is None:  # no level holds every group
        return [f"  at equal {name}: no level has {unit}s of every tested group"]
    cells = "; ".join(f"{lv}: " + ", ".join(f"{g} {100 * x['accuracy']:.1f}% ({x['units']})" if x["units"] else f"{g} -"
                                           for g, x in by.items()) for lv, by in c["levels"].items())
    return [f"  at equal {name}: {c['high']} - {c['low']} {c['gap'] * 100:.1f} points, p {c['p']:.4f} "
            f"(Holm {c['p_holm']:.4f}), {c['units_compared']} {unit}s"
            + (f", {c['left_out']} photos without a {name}" if c["left_out"] else ""),
            f"    per {name}: {cells}"]


__all__ = ["MIN_GROUP", "wilson", "permutation_gap", "stratified_gap", "gap_said", "holm", "read_groups", "group_report",
           "format_group_report"]
