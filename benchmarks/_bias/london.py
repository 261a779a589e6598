"""The London set's people and what the bias benchmark measures on them (benchmarks/bias.py):
the groups (self-reported gender, ethnic group, age band), a photo's record, each person's
measures, Wilson intervals per group (and a bootstrap's, kept in the JSON) and the permutation test of the largest gap."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from facemotion.fairness import holm, permutation_gap

from _common import largest_face, wilson

NEGATIVE = ("angry", "disgust", "fear", "sad", "contempt")
PHOTOS = {"neutral": "neutral/{id}_03.jpg", "smiling": "smiling/{id}_08.jpg"}
MEASURES = {
    "happy_recall": "happy recall (smiling)",
    "neutral_as_negative": "neutral called negative",
    "neutral_as_neutral": "neutral called neutral",
    "faces_found": "faces found",
}
ATTRIBUTES = {"gender": "gender", "ethnicity": "ethnic group", "age": "age band"}
AGE_BANDS = ("<25", "25-34", "35+")
UNKNOWN = "unknown"


def age_band(age: int | None) -> str:
    if age is None:
        return UNKNOWN
    return AGE_BANDS[0] if age < 25 else AGE_BANDS[1] if age < 35 else AGE_BANDS[2]


def read_people(london: Path) -> list[dict]:
    """london_info.csv -> one dict per person: id, gender, ethnicity, age (None where NA), age band."""
    people = []
    with open(london / "london_info.csv", newline="") as f:
        for row in csv.DictReader(f):
            age = None if row["face_age"].strip().upper() in ("", "NA") else int(row["face_age"])
            people.append({"id": row["face_id"], "gender": row["face_gender"], "ethnicity": row["face_eth"],
                           "age_years": age, "age": age_band(age)})
    missing = [str(london / t.format(id=p["id"])) for p in people for t in PHOTOS.values()
               if not (london / t.format(id=p["id"])).is_file()]
    if missing:
        raise SystemExit(f"{len(missing)} photos of london_info.csv missing, e.g. {missing[0]}")
    return people


def photo_record(faces: list[dict]) -> dict:
    """What was said about one photo: its largest face's dominant emotion and probabilities."""
    f = largest_face(faces)
    if f is None:
        return {"found": False, "faces": 0, "said": None, "p": None, "emotions": None}
    em = {k: float(f"{float(v):.4g}") for k, v in f["emotions"].items()}  # 4 significant digits: tiny ones differ
    return {"found": True, "faces": len(faces), "said": f["dominant_emotion"], "p": em[f["dominant_emotion"]],
            "emotions": em, "box": [int(v) for v in f["box"]]}


def person_values(records: list[dict]) -> dict[str, np.ndarray]:
    """Per person, each measure's value (0/1, faces found 0/0.5/1), in ``records`` order."""
    def said(r, kind):
        return r[kind]["said"]

    return {
        "happy_recall": np.array([said(r, "smiling") == "happy" for r in records], float),
        "neutral_as_negative": np.array([said(r, "neutral") in NEGATIVE for r in records], float),
        "neutral_as_neutral": np.array([said(r, "neutral") == "neutral" for r in records], float),
        "faces_found": np.array([(r["neutral"]["found"] + r["smiling"]["found"]) / 2 for r in records], float),
    }


def bootstrap_means(values: dict[str, np.ndarray], rng: np.random.Generator, resamples: int) -> dict:
    """The same ``resamples`` resamples of people for every measure -> means per measure."""
    n = len(next(iter(values.values())))
    idx = rng.integers(0, n, size=(resamples, n))
    return {m: v[idx].mean(axis=1) for m, v in values.items()}


def group_stats(values: dict[str, np.ndarray], rng: np.random.Generator, resamples: int) -> dict:
    n = len(next(iter(values.values())))
    boot = bootstrap_means(values, rng, resamples)
    out = {}
    for m, v in values.items():
        lo, hi = np.percentile(boot[m], [2.5, 97.5])
        entry = {"value": float(v.mean()), "lo": float(lo), "hi": float(hi), "k": float(v.sum()), "n": n}
        # faces found: over the 2n photos
        entry["wilson"] = list(wilson(2 * float(v.sum()), 2 * n) if m == "faces_found" else wilson(float(v.sum()), n))
        out[m] = entry
    return out


def summarize(people: list[dict], records: list[dict], seed: int, resamples: int, permutations: int,
              min_group: int) -> dict:
    """Per attribute and group (and overall): each measure with its interval; per attribute and
    measure: the permutation test of the largest gap between the groups of >= ``min_group``."""
    values = person_values(records)
    out = {"overall": group_stats(values, np.random.default_rng([seed, 0, 0]), resamples), "groups": {}, "gaps": {}}
    for a_i, attr in enumerate(ATTRIBUTES, start=1):
        groups = sorted({p[attr] for p in people}, key=lambda g: (g == UNKNOWN, AGE_BANDS.index(g) if g in AGE_BANDS
                                                                  else -sum(q[attr] == g for q in people), g))
        out["groups"][attr] = {}
        for g_i, g in enumerate(groups, start=1):
            sel = np.array([p[attr] == g for p in people])
            # seeded by the group's name, so a group draws the same resamples whichever groups exist
            rng = np.random.default_rng([seed, a_i, *g.encode()])
            stats = group_stats({m: v[sel] for m, v in values.items()}, rng, resamples)
            out["groups"][attr][g] = {"n": int(sel.sum()), "target": bool(sel.sum() >= min_group and g != UNKNOWN),
                                      "measures": stats}
        targets = [g for g, s in out["groups"][attr].items() if s["target"]]
        out["gaps"][attr] = {}
        if len(targets) < 2:
            continue
        sel = np.array([p[attr] in targets for p in people])
        labels = [p[attr] for p in people if p[attr] in targets]
        for m_i, (m, v) in enumerate(values.items()):
            out["gaps"][attr][m] = permutation_gap(v[sel], labels, np.random.default_rng([seed, a_i, 1000 + m_i]),
                                                   permutations)
    # the groups overlap: happy recall per ethnic group within each gender (counts only; cells are tiny)
    out["happy_by_ethnicity_and_gender"] = {
        f"{e} / {g}": [int(values["happy_recall"][sel].sum()), int(sel.sum())]
        for e in out["groups"]["ethnicity"] for g in out["groups"]["gender"]
        if (sel := np.array([p["ethnicity"] == e and p["gender"] == g for p in people])).any()}
    tests = [(a, m) for a in out["gaps"] for m in out["gaps"][a]]
    for (a, m), adj in zip(tests, holm([out["gaps"][a][m]["p"] for a, m in tests])):
        out["gaps"][a][m]["p_holm"] = adj
    return out


def misses(people: list[dict], records: list[dict]) -> dict:
    """Who is missed and what was said instead (ids and groups only)."""
    def who(p, r, kind):
        said = r[kind]["said"]
        return {"id": p["id"], "gender": p["gender"], "ethnicity": p["ethnicity"], "age": p["age_years"],
                "said": said if said else "no face", "p": r[kind]["p"],
                "p_happy" if kind == "smiling" else "p_neutral": (r[kind]["emotions"] or {}).get(
                    "happy" if kind == "smiling" else "neutral")}

    pairs = list(zip(people, records))
    return {
        "smiling_not_happy": [who(p, r, "smiling") for p, r in pairs if r["smiling"]["said"] != "happy"],
        "neutral_not_neutral": [who(p, r, "neutral") for p, r in pairs if r["neutral"]["said"] != "neutral"],
        "no_face": [{"id": p["id"], "photo": k} for p, r in pairs for k in PHOTOS if not r[k]["found"]],
    }
