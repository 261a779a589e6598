"""People the training data never saw: every shipped model on the Face Research Lab London Set,
per self-reported gender, ethnic group and age band (docs/bias.md).

The set (``../shared/datasets/london_faces``, ``--london`` moves it; CC BY 4.0, never copied
into the repository) holds 102 adults photographed front-on twice, neutral (``neutral/ID_03.jpg``)
and smiling (``smiling/ID_08.jpg``), 600x600, with ``london_info.csv``: face_age, face_gender,
face_eth. Each model runs as a user runs it: the whole photo through
``facemotion.EmotionRecognizer(model=NAME).detect_emotions(path)`` with its default detector,
and the largest face found is scored. A photo without a face counts as a miss (not happy, not
neutral, not negative) and is also reported on its own (faces found).

Measures, per person, then averaged over the people of a group (and over everyone):

- happy recall: the smiling photo's dominant emotion is "happy";
- neutral called negative: the neutral photo's dominant emotion is angry, disgust, fear, sad or
  contempt (whichever of these the model's own labels hold: FER+ models have eight);
- neutral called neutral: the neutral photo's dominant emotion is "neutral";
- faces found: the share of the person's two photos in which a face was found.

Each has a 95% Wilson score interval, printed and drawn (the JSON also keeps a percentile
bootstrap's, people resampled within the group ``--resamples`` times, seeded by ``--seed`` and
the group; it covered shares near 0 or 1 less than 95% of the time, so it is not shown). For each
attribute, the largest gap between the groups of at least ``--min-group`` people (the groups
targets apply to) is tested with a seeded two-sided permutation test written here with numpy
(group labels shuffled among those people, ``--permutations`` times; p = (1 + #{gap* >= gap}) /
(1 + permutations)); a Holm adjustment over one model's tests is printed beside it.

fer (the competitor) runs in its own virtual environment when ``--fer-python`` exists
(``FER().detect_emotions`` on the same photos, its default OpenCV detector); otherwise its rows
are skipped with the way to install it (benchmarks/_common.py FER_INSTALL). With ``--competitors
faceapi human``, face-api.js and Human as well, in headless Chromium (benchmarks/_competitors).

    python benchmarks/bias.py [--models fer2013_vgg_s ...] [--int8] [--limit N] [--london PATH]
                              [--fer-python /tmp/fer-venv/bin/python] [--competitors faceapi human]
                              [--figures docs/bias]
                              [--utk PATH [--utk-sample N]]

With ``--utk``, UTKFace (no emotion labels) adds the faces found and the distribution of the
predicted emotions per gender, race and age band, and the demographic parity gap
(benchmarks/_bias/utk.py says what that can and cannot show).

Prints the machine, then a table per model and the people each one misses; writes
benchmarks/results/bias.txt and bias.json (``--out`` moves them) and, with ``--figures``, the
plots happy_recall.png, neutral_as_negative.png, neutral_as_neutral.png and smile_breadth.png
(benchmarks/_bias/smiles.py: is a group's low happy recall the model's, or are its smiles fainter?).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from _bias import smiles as _smiles
from _bias import utk as _utk
from _bias.london import ATTRIBUTES, NEGATIVE, PHOTOS, misses, photo_record, read_people, summarize
from _bias.report import figures, format_report
from _common import FER_INSTALL, SHARED, command_line, machine
from _competitors import BROWSER_SIDES, FER_EMOTIONS, browser_faces, fer_faces, versions

HERE = Path(__file__).resolve().parent
LONDON = SHARED / "datasets" / "london_faces"
DEFAULT_FER = Path("/tmp/fer-venv/bin/python")
FER_LABEL = "fer"
# --competitors' names: the libraries as their users run them on photos
LIBRARIES = {n: s[0] for n, s in BROWSER_SIDES.items() if not s[2]}


def facemotion_predictor(name: str):
    from facemotion import EmotionRecognizer

    rec = EmotionRecognizer(model=name)  # a shipped name or a model file (a candidate before it ships)
    return rec.detect_emotions, tuple(rec.labels), None


def fer_predictor(python: str):
    faces, close = fer_faces(python)
    return faces, FER_EMOTIONS, close


def browser_predictor(label: str):
    faces, close, _ = browser_faces(label)
    return faces, FER_EMOTIONS, close


def run(london, models: list[str], *, limit: int | None = None, seed: int = 0, resamples: int = 2000,
        permutations: int = 10000, min_group: int = 9, fer_python: str | None = None, competitors=(),
        log=None) -> dict:
    """The benchmark's core: every model over the set (or a seeded subset of ``limit`` people)
    -> the report (what bias.json holds, less the command)."""
    london = Path(london)
    people = read_people(london)
    if limit is not None:
        keep = np.sort(np.random.default_rng(seed).choice(len(people), size=min(limit, len(people)), replace=False))
        people = [people[i] for i in keep]
    predictors = [(m, lambda m=m: facemotion_predictor(m)) for m in models]
    fer_note = None
    if fer_python is not None:
        if Path(fer_python).exists():
            predictors.append((FER_LABEL, lambda: fer_predictor(fer_python)))
        else:
            fer_note = (f"fer skipped: {fer_python} not found. Install fer in its own environment with\n"
                        f"{FER_INSTALL}and pass --fer-python /tmp/fer-venv/bin/python")
            if log:
                log(fer_note)
    predictors += [(LIBRARIES[n], lambda n=n: browser_predictor(LIBRARIES[n])) for n in competitors]
    try:  # the repository-relative path where it is one (the default: ../shared/datasets/london_faces)
        where = os.path.relpath(london.resolve(), HERE.parent)
    except ValueError:
        where = str(london)
    ran = versions([n for n, _ in predictors], fer_python if any(n == FER_LABEL for n, _ in predictors) else None)
    report = {"machine": machine() + (f"\nbeside it: {ran}" if ran else ""), "data": where, "people": len(people),
              "limit": limit, "seed": seed,
              "resamples": resamples, "permutations": permutations, "min_group": min_group,
              "negative": list(NEGATIVE), "fer": fer_note, "models": {}}
    t_all = time.perf_counter()
    widen = _smiles.widening(london, people, PHOTOS)
    report["widening"] = {p["id"]: w for p, w in zip(people, widen)}
    for name, make in predictors:
        t0 = time.perf_counter()
        predict, labels, close = make()
        try:
            records = [{k: photo_record(predict(str(london / t.format(id=p["id"])))) for k, t in PHOTOS.items()}
                       for p in people]
        finally:
            if close:
                close()
        seconds = time.perf_counter() - t0
        s = summarize(people, records, seed, resamples, permutations, min_group)
        report["models"][name] = {"labels": list(labels), "negative": [e for e in NEGATIVE if e in labels],
                                  "seconds": seconds, **s, "misses": misses(people, records),
                                  "smiles": _smiles.analyse(people, records, widen, seed=seed,
                                                            permutations=permutations),
                                  # per person what was said (not every probability: the file stays small)
                                  "people": [{"id": p["id"], **{k: {f: v for f, v in rec.items() if f != "emotions"}
                                                                for k, rec in r.items()}}
                                             for p, r in zip(people, records)]}
        if log:
            o = s["overall"]
            log(f"{name}: {2 * len(people)} photos in {seconds:.0f} s; happy recall "
                f"{o['happy_recall']['value']:.1%}, neutral called negative {o['neutral_as_negative']['value']:.1%}")
    report["groups"] = {a: {g: s["n"] for g, s in next(iter(report["models"].values()))["groups"][a].items()}
                        for a in ATTRIBUTES} if report["models"] else {}
    report["minutes"] = (time.perf_counter() - t_all) / 60
    return report


def main():
    from facemotion.fileio import write_text
    from facemotion.zoo import default_model_name, shipped_models

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--london", default=str(LONDON), help="the London set's folder")
    p.add_argument("--models", nargs="*", default=None,
                   help="shipped names (default: every shipped float model; --int8 adds the *_int8 ones)")
    p.add_argument("--int8", action="store_true", help="with the default models, the *_int8 models too")
    p.add_argument("--fer-python", default=str(DEFAULT_FER), help="python of a virtual environment with fer")
    p.add_argument("--no-fer", action="store_true", help="leave fer out")
    p.add_argument("--competitors", nargs="*", default=[], choices=sorted(LIBRARIES),
                   help="JavaScript libraries as well, in headless Chromium (benchmarks/_competitors/browser.py): "
                        "faceapi (face-api.js), faceapi-tiny (with its Tiny Face Detector), human (Human)")
    p.add_argument("--limit", type=int, default=None, help="a seeded random subset of N people (a quick run)")
    p.add_argument("--seed", type=int, default=0, help="seeds the bootstrap, the permutations and --limit")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--permutations", type=int, default=10000, help="permutations per test")
    p.add_argument("--min-group", type=int, default=9, help="groups this size or larger are the ones targets apply "
                                                            "to (and the ones the gap tests compare)")
    p.add_argument("--utk", default=None, metavar="PATH",
                   help="UTKFace (delonyohan/deeplearn-agepred at b06607bf): faces found and predicted emotions per "
                        "gender, race and age band, with the demographic parity gap (benchmarks/_bias/utk.py)")
    p.add_argument("--utk-sample", type=int, default=3000, help="a seeded sample of N UTKFace faces (0: all 23,708)")
    p.add_argument("--utk-models", nargs="*", default=None, help="models run on UTKFace (default: the default, and fer)")
    p.add_argument("--out", default=str(HERE / "results" / "bias"), help="results path without suffix")
    p.add_argument("--figures", default=None, help="folder for the plots (docs/bias)")
    a = p.parse_args()
    for opt in ("limit", "resamples", "permutations", "min_group"):
        v = getattr(a, opt)
        if v is not None and v < 1:
            p.error(f"--{opt.replace('_', '-')}: must be >= 1, got {v}")
    if not (Path(a.london) / "london_info.csv").is_file():
        p.error(f"--london: no london_info.csv in {a.london}")
    shipped = shipped_models()
    models = a.models or [m for m in shipped if a.int8 or not m.endswith("_int8")]
    unknown = [m for m in models if m not in shipped and not Path(m).is_file()]
    if unknown:
        p.error(f"--models: {', '.join(unknown)} neither shipped nor a model file (shipped: {', '.join(shipped)})")
    print(machine(), flush=True)
    report = run(a.london, models, limit=a.limit, seed=a.seed, resamples=a.resamples, permutations=a.permutations,
                 min_group=a.min_group, fer_python=None if a.no_fer else a.fer_python, competitors=a.competitors,
                 log=lambda s: print(s, file=sys.stderr, flush=True))
    report["command"] = command_line(__file__)
    report["default"] = default_model_name()
    text = format_report(report, report["default"])
    if a.utk:
        report["utk"] = run_utk(a, report["default"])
        text += "\n\n" + "\n\n".join(_utk.format_utk(n, s) for n, s in report["utk"].items())
    print(text.split("\n", 1)[1])
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out.with_suffix(".txt"), text)
    # compact: per person and model it is hundreds of records, and indenting them doubles the file
    write_text(out.with_suffix(".json"), json.dumps({"machine": report.pop("machine"), "command": report.pop("command"),
                                                     **report}, separators=(",", ":"), default=float) + "\n")
    print(f"wrote {out.with_suffix('.txt')} and .json", file=sys.stderr)
    if a.figures:
        written = figures(report, Path(a.figures), report["default"])
        written.append(_smiles.figure(report, Path(a.figures) / "smile_breadth.png",
                                      [n for n in (report["default"], FER_LABEL) if n in report["models"]]))
        written += [_utk.figure(n, s, Path(a.figures) / f"utk_{n}.png") for n, s in report.get("utk", {}).items()]
        for f in written:
            print(f"wrote {f} ({f.stat().st_size / 1024:.0f} KB)", file=sys.stderr)


def run_utk(a, default: str) -> dict:
    """UTKFace's sample through each of ``--utk-models`` (the default and fer)."""
    faces = _utk.sample(a.utk, a.utk_sample or None, a.seed)
    names = a.utk_models or [default] + ([] if a.no_fer or not Path(a.fer_python).exists() else [FER_LABEL])
    out = {}
    for name in names:
        predict, labels, close = fer_predictor(a.fer_python) if name == FER_LABEL else facemotion_predictor(name)
        try:
            preds = _utk.predict(faces, predict)
        finally:
            if close:
                close()
        out[name] = _utk.summarize(faces, preds, labels, seed=a.seed, resamples=1000, min_group=a.min_group)
        print(f"UTKFace: {name} done", file=sys.stderr, flush=True)
    return out


if __name__ == "__main__":
    main()
