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

Each has a 95% percentile bootstrap interval (people resampled within the group, ``--resamples``
times, seeded by ``--seed`` and the group, so every model sees the same resamples). For each
attribute, the largest gap between the groups of at least ``--min-group`` people (the groups
targets apply to) is tested with a seeded two-sided permutation test written here with numpy
(group labels shuffled among those people, ``--permutations`` times; p = (1 + #{gap* >= gap}) /
(1 + permutations)); a Holm adjustment over one model's tests is printed beside it.

fer (the competitor) runs in its own virtual environment when ``--fer-python`` exists
(``FER().detect_emotions`` on the same photos, its default OpenCV detector); otherwise its rows
are skipped with the way to install it (benchmarks/_common.py FER_INSTALL).

    python benchmarks/bias.py [--models fer2013_vgg_s ...] [--int8] [--limit N] [--london PATH]
                              [--fer-python /tmp/fer-venv/bin/python] [--figures docs/bias]
                              [--utk PATH [--utk-sample N]]

With ``--utk``, UTKFace (no emotion labels) adds the faces found and the distribution of the
predicted emotions per gender, race and age band, and the demographic parity gap
(benchmarks/_utk.py says what that can and cannot show).

Prints the machine, then a table per model and the people each one misses; writes
benchmarks/results/bias.txt and bias.json (``--out`` moves them) and, with ``--figures``, the
plots happy_recall.png, neutral_as_negative.png, neutral_as_neutral.png and smile_breadth.png
(benchmarks/_smiles.py: is a group's low happy recall the model's, or are its smiles fainter?).
"""

from __future__ import annotations

import argparse
import csv
import json
import io
import os
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

import _smiles
import _utk
from _common import FER_FACES_SIDE, FER_INSTALL, SHARED, FerProcess, command_line, largest_face, machine, save_png, table, wilson
from facemotion.fairness import holm, permutation_gap

HERE = Path(__file__).resolve().parent
LONDON = SHARED / "datasets" / "london_faces"
DEFAULT_FER = Path("/tmp/fer-venv/bin/python")
FER_LABEL = "fer"
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


def facemotion_predictor(name: str):
    from facemotion import EmotionRecognizer

    rec = EmotionRecognizer(model=name)  # a shipped name or a model file (a candidate before it ships)
    return rec.detect_emotions, tuple(rec.labels), None


def fer_predictor(python: str):
    proc = FerProcess(python, FER_FACES_SIDE)

    def predict(path):
        faces = proc.ask(path=str(path))
        if isinstance(faces, dict):  # {"error": ...}: never a silent miss
            raise SystemExit(f"error: fer could not read {path}")
        return faces
    return predict, ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"), proc.close


def run(london, models: list[str], *, limit: int | None = None, seed: int = 0, resamples: int = 2000,
        permutations: int = 10000, min_group: int = 9, fer_python: str | None = None, log=None) -> dict:
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
    try:  # the repository-relative path where it is one (the default: ../shared/datasets/london_faces)
        where = os.path.relpath(london.resolve(), HERE.parent)
    except ValueError:
        where = str(london)
    report = {"machine": machine(), "data": where, "people": len(people), "limit": limit, "seed": seed,
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


def pct(v: float) -> str:
    return f"{v * 100:.1f}"


def interval(s: dict) -> tuple[float, float, bool]:
    """The bootstrap interval; where that has no width (everyone in the group scored the same),
    the Wilson interval (True: it is the Wilson one)."""
    if s["hi"] - s["lo"] < 1e-9:
        return s["wilson"][0], s["wilson"][1], True
    return s["lo"], s["hi"], False


def cell(s: dict) -> str:
    lo, hi, w = interval(s)
    return f"{pct(s['value'])}% [{pct(lo)}, {pct(hi)}]{'*' if w else ''}"


def model_table(r: dict) -> str:
    rows = [["all", "", r["overall"]["happy_recall"]["n"], "", *(cell(r["overall"][m]) for m in MEASURES)]]
    for attr, groups in r["groups"].items():
        for g, s in groups.items():
            rows.append([ATTRIBUTES[attr], g, s["n"], "yes" if s["target"] else "no",
                         *(cell(s["measures"][m]) for m in MEASURES)])
    return table(["attribute", "group", "n", "n >= min", *MEASURES.values()], rows)


def pval(p: float) -> str:
    return f"{p:.4f}" if p < 0.001 else f"{p:.3f}"


def gap_lines(r: dict) -> list[str]:
    lines = []
    for attr, gaps in r["gaps"].items():
        for m, g in gaps.items():
            if g["gap"] < 1e-12:
                lines.append(f"  {ATTRIBUTES[attr]}, {MEASURES[m]}: no gap (every group the same)")
                continue
            lines.append(f"  {ATTRIBUTES[attr]}, {MEASURES[m]}: largest gap {g['high']} - {g['low']} = "
                         f"{g['gap'] * 100:.1f} points; permutation p = {pval(g['p'])} (Holm {pval(g['p_holm'])}; "
                         f"groups {', '.join(g['groups'])})")
    return lines


def miss_lines(r: dict) -> list[str]:
    def fmt(x, key):
        extra = "" if x["said"] == "no face" else f" {x['p']:.2f}, {key.split('_')[1]} {x[key]:.2f}" \
            if x.get(key) is not None else f" {x['p']:.2f}"
        return f"{x['id']} ({x['gender']}, {x['ethnicity']}, {x['age'] if x['age'] is not None else 'age ?'}): " \
               f"{x['said']}{extra}"

    m = r["misses"]
    out = [f"  smiling photos not called happy ({len(m['smiling_not_happy'])}):"]
    out += [f"    {fmt(x, 'p_happy')}" for x in m["smiling_not_happy"]]
    out.append(f"  neutral photos not called neutral ({len(m['neutral_not_neutral'])}):")
    out += [f"    {fmt(x, 'p_neutral')}" for x in m["neutral_not_neutral"]]
    out.append(f"  photos without a face found ({len(m['no_face'])})"
               + (": " + ", ".join(f"{x['id']} {x['photo']}" for x in m["no_face"]) if m["no_face"] else ""))
    return out


def format_report(report: dict, default: str | None = None) -> str:
    buf = io.StringIO()
    with redirect_stdout(buf):
        print(report["machine"])
        print(f"Face Research Lab London Set: {report['people']} people x 2 photos"
              f"{' (seeded subset, seed %d)' % report['seed'] if report['limit'] else ''}; groups: "
              + "; ".join(f"{ATTRIBUTES[a]} " + ", ".join(f"{g} {n}" for g, n in gs.items())
                          for a, gs in report["groups"].items()))
        print(f"{report['minutes']:.1f} min; 95% percentile bootstrap intervals ({report['resamples']} resamples of "
              f"people within the group, seed {report['seed']}); largest-gap permutation tests among the groups of "
              f">= {report['min_group']} people ({report['permutations']} permutations, numpy, seeded)")
        if report.get("command"):
            print(f"command: {report['command']}")
        print("\nA photo without a face counts as not happy / not neutral / not negative. Negative = "
              + ", ".join(report["negative"]) + " (those in the model's labels). Values are % of the group's people; * marks a Wilson score interval, shown where every person of the "
              "group scored the same and the bootstrap interval has no width.")
        for name, r in report["models"].items():
            print(f"\n## {name}{' (default)' if name == default else ''}: {len(r['labels'])} labels, "
                  f"{r['seconds']:.0f} s\n")
            print(model_table(r))
            print("\nlargest gaps between groups:")
            print("\n".join(gap_lines(r)) or "  (fewer than two groups big enough)")
            print("\nhappy recall by ethnic group within gender (called happy / people; no intervals, cells "
                  "are tiny): " + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in r["happy_by_ethnicity_and_gender"].items()))
            print("\nsmiles by breadth (benchmarks/_smiles.py):")
            print("\n".join(_smiles.format_lines(r["smiles"])))
            print("\nmisses (id, group, age: what the model said, its probability, and the probability of the "
                  "right answer):")
            print("\n".join(miss_lines(r)))
        if len(report["models"]) > 1:
            every = set.intersection(*({x["id"] for x in r["misses"]["smiling_not_happy"]}
                                       for r in report["models"].values()))
            print(f"\nsmiling photos no model calls happy: {', '.join(sorted(every)) or 'none'}")
            every = set.intersection(*({x["id"] for x in r["misses"]["neutral_not_neutral"]}
                                       for r in report["models"].values()))
            print(f"neutral photos no model calls neutral: {', '.join(sorted(every)) or 'none'}")
        if report["fer"]:
            print("\n" + report["fer"])
    return buf.getvalue()


def figures(report: dict, folder: Path, default: str | None = None) -> list[Path]:
    """One PNG per measure: a panel per attribute, the groups of >= min_group (and everyone), the
    models side by side with their 95% bootstrap intervals."""
    from facemotion.plots import _plt

    plt = _plt()
    folder.mkdir(parents=True, exist_ok=True)
    models = list(report["models"])
    colours = plt.get_cmap("tab10").colors
    written = []
    for m in ("happy_recall", "neutral_as_negative", "neutral_as_neutral"):
        fig, axes = plt.subplots(1, len(ATTRIBUTES), figsize=(12, 3.6), sharey=True,
                                 gridspec_kw={"width_ratios": [3, 5, 4]})
        for ax, attr in zip(axes, ATTRIBUTES):
            first = report["models"][models[0]]
            groups = ["all"] + [g for g, s in first["groups"][attr].items() if s["target"]]
            ns = [first["overall"][m]["n"]] + [first["groups"][attr][g]["n"] for g in groups[1:]]
            width = 0.8 / len(models)
            for i, name in enumerate(models):
                r = report["models"][name]
                st = [r["overall"][m]] + [r["groups"][attr][g]["measures"][m] for g in groups[1:]]
                v = np.array([s["value"] for s in st]) * 100
                iv = [interval(s) for s in st]
                err = np.array([[s["value"] - i[0] for s, i in zip(st, iv)],
                                [i[1] - s["value"] for s, i in zip(st, iv)]]).clip(0) * 100
                x = np.arange(len(groups)) + (i - (len(models) - 1) / 2) * width
                ax.bar(x, v, width, yerr=err, capsize=2, color=colours[i % 10], error_kw={"lw": 0.8},
                       label=f"{name}{' (default)' if name == default else ''}")
            ax.set_xticks(np.arange(len(groups)), [f"{g}\nn={n}" for g, n in zip(groups, ns)], fontsize=8)
            ax.set_title(ATTRIBUTES[attr], fontsize=10)
            ax.grid(axis="y", alpha=0.3)
            ax.set_ylim(0, 105)
        axes[0].set_ylabel("% of the group's people")
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, fontsize=8, loc="lower center", ncol=len(models), frameon=False)
        fig.suptitle(f"{MEASURES[m]}, London set ({report['people']} people), 95% bootstrap intervals (Wilson where "
                     f"those have no width); groups of >= {report['min_group']} people", fontsize=10)
        fig.tight_layout(rect=(0, 0.07, 1, 1))
        path = folder / f"{m}.png"
        written.append(save_png(fig, path))
    return written


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
    p.add_argument("--limit", type=int, default=None, help="a seeded random subset of N people (a quick run)")
    p.add_argument("--seed", type=int, default=0, help="seeds the bootstrap, the permutations and --limit")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--permutations", type=int, default=10000, help="permutations per test")
    p.add_argument("--min-group", type=int, default=9, help="groups this size or larger are the ones targets apply "
                                                            "to (and the ones the gap tests compare)")
    p.add_argument("--utk", default=None, metavar="PATH",
                   help="UTKFace (delonyohan/deeplearn-agepred at b06607bf): faces found and predicted emotions per "
                        "gender, race and age band, with the demographic parity gap (benchmarks/_utk.py)")
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
                 min_group=a.min_group, fer_python=None if a.no_fer else a.fer_python,
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
