"""Can a person see the smile? The London smiles by how visibly each person smiled, per model.

The protocol (docs/bias.md, "Can a person see the smile?", written before any sheet was made):

- ``sheets``: each person's neutral and smiling photos side by side, their left-right order
  drawn at random, the people shuffled and named by a random code, six pairs a sheet, no id,
  group or answer on them; the key (code -> person, which side smiles) goes to its own file,
  which the rater does not open until every pair is rated. ``--crops`` shows the recognizer's
  own 48-pixel crops instead (docs/bias.md, "At the model's 48 pixels").
- The rater writes one answer a pair, ``code,answer``: ``L``/``R`` the side that clearly
  smiles, ``l``/``r`` the side that smiles faintly, ``n`` neither visibly smiles (or the two
  cannot be told apart).
- ``label``: the answers joined with the key into ``benchmarks/data/london_smile_visibility.csv``,
  each smile **clear**, **faint**, **not_seen** (``n``) or **wrong** (the neutral photo picked).
- The run (no subcommand): for each model, in one run, happy recall on women's and men's smiles
  at each level (Wilson 95% intervals); each gender's smiles per level, with a permutation test
  of the gender difference in the share seen (clear or faint); and the gap between women and
  men over the seen smiles at equal visibility (gender shuffled within each level).
- The reading written before: the gap is the models', on smiles a person sees, if men's recall
  over the seen smiles is significantly below women's at equal visibility (p < 0.05); if not,
  the London gap is not shown beyond how visibly the men smiled. ``--compare FILE`` prints a
  second rating of the same pairs against the first, per gender.

What it cannot show: one rater's judgement, who sees each face's gender; 102 people of one lab.

    python benchmarks/studies/london_visible.py sheets --out runs/visible          # then rate, then:
    python benchmarks/studies/london_visible.py label --key runs/visible/key.csv --answers runs/visible/answers.csv
    python benchmarks/studies/london_visible.py --out benchmarks/results/london_visible --figures docs/bias
    python benchmarks/studies/london_visible.py --visibility benchmarks/data/london_smile_visibility_48.csv \
        --compare benchmarks/data/london_smile_visibility.csv --out benchmarks/results/london_visible_48
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common and the product scripts
from facemotion.fairness import gap_said, permutation_gap

from _bias import smiles as _smiles
from _bias.london import PHOTOS, read_people
from _common import (
    SHARED,
    blind_sheets,
    command_line,
    finish_panels,
    kappa,
    kappa_text,
    machine,
    proportion,
    rating_steps,
    read_answers,
    read_rows,
    share_bar,
    share_text,
    table,
    write_results,
)
from happy_offset import london_probs

HERE = Path(__file__).resolve().parents[1]  # benchmarks/: data/ and results/
LONDON = SHARED / "datasets" / "london_faces"
VISIBILITY = HERE / "data" / "london_smile_visibility.csv"
LEVELS = ("clear", "faint", "not_seen", "wrong")
SEEN = ("clear", "faint")
ANSWERS = {"L": ("L", "clear"), "R": ("R", "clear"), "l": ("L", "faint"), "r": ("R", "faint"), "n": (None, "not_seen")}
GENDERS = ("female", "male")
MIN_PEOPLE = 9  # the groups issue 44's targets apply to
MODELS = ("wild_reweigh_resnet_s", "quad_ensemble")
PAIRS_PER_SHEET, SIDE = 6, 250  # pixels a photo on the sheet: the mouth's change shows, the sheet stays small
CROP_VIEW = 240  # pixels a crop on the sheet, whatever its size: a 48-pixel crop enlarged 5x


def fail(msg: str):
    raise SystemExit(f"london_visible.py: {msg}")


# ------------------------------------------------------------------ the blind sheets

def face_crop(recognizer, path: Path, size: int | None = None, colour: bool = False, widen: float = 1.0) -> np.ndarray:
    """The recognizer's crop of the largest face in ``path``: the box it cuts (the level box of a
    face it turns upright, :meth:`~facemotion.stages.FaceCrops.crop_box`) and the same turn, cut
    by the same crop function at ``size`` pixels (default: the classifier's grid), each colour
    channel alike with ``colour`` (H x W x 3, BGR), the box widened ``widen`` times about its centre."""
    from facemotion.labelled import largest_index
    from facemotion.preprocess import crop_faces

    picture = recognizer.read(path)
    faces = recognizer.stages.detect_crops(picture.pixels)
    if not faces.boxes:
        fail(f"{path}: no face found for its crop")
    i = largest_index(faces.boxes)
    x, y, w, h = faces.crop_box(i)
    box = (x + w * (1 - widen) / 2, y + h * (1 - widen) / 2, w * widen, h * widen)
    angles = None if faces.angles is None else [faces.angles[i]]
    size = size or recognizer.stages.input_size
    if not colour:
        return crop_faces(picture.pixels, [box], size, angles)[0]
    bgr = picture.pixels  # images.Picture: BGR, OpenCV's order
    return np.dstack([crop_faces(np.ascontiguousarray(bgr[..., c]), [box], size, angles)[0] for c in range(3)])


def pair_views(london: Path, face_id: str, recognizer=None, size: int | None = None, colour: bool = False,
               widen: float = 1.0) -> list[np.ndarray]:
    """The neutral and smiling views of one person, as the sheets show them: the photos at
    :data:`SIDE` pixels, or with a ``recognizer`` its own crops (:func:`face_crop`; 48 pixels,
    or ``size``) enlarged with bicubic interpolation (no detail added) to the 240 pixels of a
    48-pixel crop enlarged 5x, so that crops of every size show alike and differ in detail alone."""
    views = []
    for kind in ("neutral", "smiling"):
        path = london / PHOTOS[kind].format(id=face_id)
        if recognizer is None:
            views.append(cv2.resize(cv2.imread(str(path)), (SIDE, SIDE), interpolation=cv2.INTER_AREA))
            continue
        big = cv2.resize(face_crop(recognizer, path, size, colour, widen), (CROP_VIEW, CROP_VIEW),
                         interpolation=cv2.INTER_CUBIC)
        views.append(big if big.ndim == 3 else cv2.cvtColor(big, cv2.COLOR_GRAY2BGR))
    return views


def make_sheets(london: Path, out: Path, seed: int, crops: bool = False, size: int | None = None,
                colour: bool = False, widen: float = 1.0) -> int:
    """The sheets and the key (out/key.csv); the codes are random, so the key is the only link."""
    people = read_people(london)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(people))
    codes = rng.choice(np.arange(100, 1000), size=len(people), replace=False)
    smile_left = rng.random(len(people)) < 0.5
    recognizer = None
    if crops:
        from facemotion import EmotionRecognizer

        recognizer = EmotionRecognizer()
    rows, tiles = [], []
    for slot, i in enumerate(order):
        p, code = people[i], int(codes[slot])
        views = pair_views(london, p["id"], recognizer, size, colour, widen)
        if smile_left[slot]:
            views.reverse()
        pair = np.hstack([views[0], np.full((views[0].shape[0], 6, 3), 255, np.uint8), views[1]])
        head = np.full((28, pair.shape[1], 3), 255, np.uint8)
        cv2.putText(head, f"{code}    L | R", (8, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2)
        tiles.append(np.vstack([head, pair]))
        rows.append({"code": code, "face_id": p["id"], "smiling_side": "L" if smile_left[slot] else "R"})
    blind_sheets(tiles, rows, out, 2, PAIRS_PER_SHEET, "pairs")
    return 0


def read_csv(path: Path, columns: tuple[str, ...]) -> list[dict]:
    return read_rows(path, columns, "london_visible.py")


def label(key: Path, answers: Path, out: Path) -> int:
    """The rater's answers joined with the key: each person's smile clear, faint, not_seen or wrong."""
    side = {r["code"].strip(): (r["face_id"].strip(), r["smiling_side"].strip())
            for r in read_csv(key, ("code", "face_id", "smiling_side"))}
    got = read_answers(answers, side, ANSWERS, "london_visible.py")
    rows = []
    for code, (face_id, smiling) in side.items():
        picked, level = ANSWERS[got[code]]
        rows.append({"face_id": face_id, "visibility": level if picked in (None, smiling) else "wrong"})
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, ["face_id", "visibility"])
        w.writeheader()
        w.writerows(sorted(rows, key=lambda r: r["face_id"]))
    counts = {lv: sum(r["visibility"] == lv for r in rows) for lv in LEVELS}
    print(f"wrote {out}: " + ", ".join(f"{lv} {c}" for lv, c in counts.items()))
    return 0


def read_visibility(path: Path, people: list[dict]) -> np.ndarray:
    """Each person's level, in ``people`` order; a file that does not fit the set is refused in one line."""
    vis = {}
    for n, r in enumerate(read_csv(path, ("face_id", "visibility")), start=2):
        if r["visibility"].strip() not in LEVELS:
            fail(f"{path}: line {n}: visibility {r['visibility']!r} is none of {', '.join(LEVELS)}")
        vis[r["face_id"].strip()] = r["visibility"].strip()
    missing = [p["id"] for p in people if p["id"] not in vis]
    if missing:
        fail(f"{path}: no visibility for face_id {missing[0]} ({len(missing)} people missing)")
    return np.array([vis[p["id"]] for p in people])


# ------------------------------------------------------------------ the run

def analyse(gender: np.ndarray, vis: np.ndarray, probs: dict[str, np.ndarray], labels: list[str], *, seed: int,
            permutations: int, ethnic: np.ndarray | None = None) -> dict:
    """One model: recall per gender and level, the share seen per gender, the gap over seen smiles;
    with ``ethnic``, recall per level for each ethnic group of at least :data:`MIN_PEOPLE` people
    (counts only: groups this small are not tested)."""
    smiling = probs["smiling"]
    found = ~np.isnan(smiling).any(1)
    hit = found & (np.nan_to_num(smiling, nan=-1).argmax(1) == labels.index("happy"))  # no face: a miss
    rng = np.random.default_rng([seed, 45])
    seen = np.isin(vis, SEEN)
    out = {"cells": {g: {lv: proportion(hit, (gender == g) & (vis == lv)) for lv in LEVELS} for g in GENDERS}}
    for g in GENDERS:
        out["cells"][g]["seen"] = proportion(hit, (gender == g) & seen)
        out["cells"][g]["all"] = proportion(hit, gender == g)
    out["share_seen"] = {g: proportion(seen, gender == g) for g in GENDERS}
    if ethnic is not None:
        out["ethnic groups"] = {e: {lv: proportion(hit, (ethnic == e) & (vis == lv)) for lv in LEVELS}
                                for e in sorted(set(ethnic)) if (ethnic == e).sum() >= MIN_PEOPLE}
    out["share_seen_test"] = permutation_gap(seen.astype(float), list(gender), rng, permutations)
    level = np.array([SEEN.index(v) if v in SEEN else -1 for v in vis])
    out["gap_seen_equal_visibility"] = _smiles.stratified_gap(hit[seen].astype(float), (gender == "female")[seen],
                                                              level[seen], rng, permutations)
    out["gap_seen"] = permutation_gap(hit[seen].astype(float), list(gender[seen]), rng, permutations)
    out["verdict"] = verdict(out)
    return out


def verdict(r: dict) -> str:
    """The reading written down before the run (the module's text)."""
    t = r["gap_seen_equal_visibility"]
    if t["gap"] is not None and t["p"] < 0.05 and t["gap"] > 0:
        return "the gap is the model's: on smiles a person sees, men's are called happy significantly less often"
    return "the London gap is not shown beyond how visibly the men smiled"


def report_lines(model: str, r: dict) -> list[str]:
    rows = [[g, *(share_text(r["cells"][g][lv]) for lv in (*LEVELS, "seen", "all"))] for g in GENDERS]
    t, o = r["gap_seen_equal_visibility"], r["gap_seen"]
    by_group = [[e, sum(c["n"] for c in cells.values()), *(f"{cells[lv]['k']}/{cells[lv]['n']}" for lv in LEVELS)]
                for e, cells in r.get("ethnic groups", {}).items()]
    return [f"## {model}: smiles called happy [95%]", "",
            table(["gender", *LEVELS, "seen (clear or faint)", "all"], rows), "",
            *([table(["ethnic group", "people", *LEVELS], by_group), ""] if by_group else []),
            f"over the seen smiles: women - men {100 * o['gap']:.1f} points ({o['high']} higher, permutation p = {o['p']:.4f}); "
            f"at equal visibility {gap_said(t)}",
            f"reading (written before the run): {r['verdict']}"]


def view_name(path: Path) -> str:
    """A rating file's view for a figure, from the names the docs give them: london_smile_visibility
    [_SIZE[c|w]][_r2] -> 'photos' or 'SIZE px[, colour|, wider]', with ', rater 2'; another name as it is."""
    import re

    m = re.fullmatch(r"london_smile_visibility(?:_(\d+)([cw]?))?(_r2)?", path.stem)
    if not m:
        return path.stem
    size, kind, second = m.groups()
    view = "photos" if size is None else f"{size} px" + {"c": ", colour", "w": ", wider", "": ""}[kind]
    return view + (", rater 2" if second else "")


def views_figure(ratings: dict, gender: np.ndarray, path: Path) -> Path:
    """Each rating's share of smiles seen (clear or faint), women and men side by side."""
    from facemotion.plots import _plt

    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.25 * len(ratings) + 1.5, 3.6))
    for j, (g, c) in enumerate(zip(GENDERS, ("tab:orange", "tab:blue"))):
        for x, vis in enumerate(ratings.values()):
            share_bar(ax, x + (j - 0.5) * 0.38, proportion(np.isin(vis, SEEN), gender == g), c, 0.36,
                      label=g if x == 0 else None)
    ax.axhline(85, color="gray", lw=0.8, ls="--")
    ax.set_xticks(range(len(ratings)), [view_name(f) for f in ratings], fontsize=8, rotation=20)
    ax.legend(fontsize=8, loc="lower left")
    return finish_panels(fig, [ax], path, ylabel="smiles seen, clear or faint (%)",
                         title="London smiles a person picks out beside the face at rest, by view (dashed: 85%)")


def figure(results: dict, path: Path, rating: str) -> Path:
    """Smiles called happy per visibility level, women and men side by side, each model a panel."""
    from facemotion.plots import _plt

    plt = _plt()
    fig, axes = plt.subplots(1, len(results), figsize=(4.6 * len(results), 3.4), sharey=True, squeeze=False)
    shown = ("clear", "faint", "not_seen")
    for ax, (model, r) in zip(axes[0], results.items()):
        for j, (g, c) in enumerate(zip(GENDERS, ("tab:orange", "tab:blue"))):
            for x, lv in enumerate(shown):
                share_bar(ax, x + (j - 0.5) * 0.38, r["cells"][g][lv], c, 0.36, label=g if x == 0 else None)
        t = r["gap_seen_equal_visibility"]
        ax.set_xticks(range(len(shown)), ["clear smile", "faint smile", "not seen"], fontsize=8)
        ax.set_title(f"{model}\nseen smiles, women - men at equal visibility {gap_said(t, 0, 'p')}", fontsize=8)
    axes[0][0].legend(fontsize=8, loc="upper right")
    return finish_panels(fig, axes[0], path, ylabel="smiles called happy (%)",
                         title=f"London smiles by how visibly each person smiled ({rating}, blind pairs)")


def compare_lines(vis: np.ndarray, other: np.ndarray, gender: np.ndarray, name: str, other_name: str,
                  seed: int = 0) -> list[str]:
    """The two ratings against each other: Cohen's kappa over the four levels and over seen or not
    (bootstrap intervals over people), then per gender rows this file's levels, columns the other's."""
    rng = np.random.default_rng([seed, 2])
    out = [f"agreement of {name} with {other_name}, Cohen's kappa [95% bootstrap]: "
           f"levels {kappa_text(kappa(vis, other, rng))}; "
           f"seen or not {kappa_text(kappa(np.isin(vis, SEEN), np.isin(other, SEEN), rng))}; "
           f"the same level for {int((vis == other).sum())} of {len(vis)} people", ""]
    for g in GENDERS:
        rows = [[f"{g}, {lv}", *(int(((gender == g) & (vis == lv) & (other == o)).sum()) for o in LEVELS)]
                for lv in LEVELS if ((gender == g) & (vis == lv)).any()]
        out += [table([f"{name} \\ {other_name}", *LEVELS], rows), ""]
    return out


def run(a) -> int:
    if not (a.london / "london_info.csv").is_file():
        fail(f"{a.london}: no london_info.csv there")
    people = read_people(a.london)
    vis = read_visibility(a.visibility, people)
    gender = np.array([p["gender"] for p in people])
    results = {}
    for m in a.models:
        _, probs, labels = london_probs(m, a.london)
        results[m] = analyse(gender, vis, probs, labels, seed=a.seed, permutations=a.permutations,
                             ethnic=np.array([p["ethnicity"] for p in people]))
    command = command_line(__file__, a.argv)
    counts = [[g, *(int(((gender == g) & (vis == lv)).sum()) for lv in LEVELS),
               share_text(results[a.models[0]]["share_seen"][g])] for g in GENDERS]
    # the rating beside the landmarks' measure of breadth (benchmarks/_bias/smiles.py): do they agree?
    widen = np.array([np.nan if w is None else w for w in _smiles.widening(a.london, people, PHOTOS)])
    breadth = {lv: {g: float(np.nanmedian(widen[(vis == lv) & (gender == g)])) for g in GENDERS
                    if ((vis == lv) & (gender == g)).any()} for lv in LEVELS if (vis == lv).any()}
    s = results[a.models[0]]["share_seen_test"]
    lines = [machine(), command, "", f"London set: {len(people)} people; visibility from {a.visibility.name}", "",
             table(["gender", *LEVELS, "seen (clear or faint)"], counts),
             f"share seen, women - men: {100 * s['gap']:.1f} points ({s['high']} higher, permutation p = {s['p']:.4f})",
             "mouth widening (smiling over neutral, landmarks), median: "
             + "; ".join(f"{lv}: " + ", ".join(f"{g} {v:.3f}" for g, v in by.items()) for lv, by in breadth.items()), ""]
    others = {f: read_visibility(f, people) for f in a.compare or ()}
    if others:
        lines += ["smiles seen (clear or faint), each rating's own [95%]:",
                  table(["rating", *GENDERS], [[f.name, *(share_text(proportion(np.isin(v, SEEN), gender == g))
                                                         for g in GENDERS)]
                                               for f, v in {a.visibility: vis, **others}.items()]), ""]
        for f, other in others.items():
            lines += compare_lines(vis, other, gender, a.visibility.name, f.name, a.seed)
    for m, r in results.items():
        lines += report_lines(m, r) + [""]
    text = "\n".join(lines).rstrip()
    print(text)
    if a.out:
        write_results(a.out, text, {"machine": machine(), "command": command, "widening_median": breadth,
                                    "models": results})
    if a.figures:
        a.figures.mkdir(parents=True, exist_ok=True)
        if others:  # a figure of the ratings side by side; the models' figure stays the first rating's
            print(f"wrote {views_figure({a.visibility: vis, **others}, gender, a.figures / 'london_visible_views.png')}")
        else:
            print(f"wrote {figure(results, a.figures / 'london_visible.png', view_name(a.visibility))}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--london", type=Path, default=LONDON)
    s = rating_steps(p, "L, R, l, r or n", "benchmarks/data/london_smile_visibility.csv")
    s.add_argument("--crops", action="store_true", help="show the recognizer's 48-pixel crops, not the photos")
    s.add_argument("--crop-size", type=int, default=None, help="with --crops: cut them at this many pixels (16-240)")
    s.add_argument("--colour", action="store_true", help="with --crop-size: the crops in colour")
    s.add_argument("--widen", type=float, default=1.0, help="with --crop-size: the box widened this many times "
                   "about its centre (1-3)")
    p.add_argument("--models", nargs="+", default=list(MODELS), help="shipped names or ONNX files")
    p.add_argument("--visibility", type=Path, default=VISIBILITY, help="face_id,visibility (clear, faint, not_seen, wrong)")
    p.add_argument("--compare", type=Path, nargs="+", default=None, help="other ratings of the same pairs (as "
                   "--visibility): each one's share seen, and each against the first per gender")
    p.add_argument("--permutations", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="write OUT.txt and OUT.json")
    p.add_argument("--figures", type=Path, default=None, help="folder for london_visible.png (docs/bias); with "
                   "--compare, london_visible_views.png: the ratings side by side")
    a = p.parse_args(argv)
    a.argv = argv
    if a.step == "sheets":
        if a.crop_size is not None and not (a.crops and 16 <= a.crop_size <= CROP_VIEW):
            fail(f"--crop-size {a.crop_size}: needs --crops and a size of 16 to {CROP_VIEW} pixels")
        if (a.colour or a.widen != 1.0) and a.crop_size is None:
            fail("--colour and --widen need --crop-size")
        if not 1.0 <= a.widen <= 3.0:
            fail(f"--widen {a.widen}: expected 1 to 3")
        return make_sheets(a.london, a.out, a.seed, a.crops, a.crop_size, a.colour, a.widen)
    if a.step == "label":
        return label(a.key, a.answers, a.to or VISIBILITY)
    return run(a)


if __name__ == "__main__":
    sys.exit(main())
