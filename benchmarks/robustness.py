"""Robustness: every shipped model (float and int8) and fer's emotion classifier on FER2013
PrivateTest under the seeded corruption suite (facemotion.robustness), in one run.

Each corrupted batch is made once and given to every model, so all of them see the same
crops. facemotion's models run through their own classifier (``classify_faces``: flip averaging
and temperature inside the ONNX graph), exactly as ``facemotion evaluate --robustness`` runs
them. fer runs in its own virtual environment (it is not a facemotion dependency): its
TFLite mini-Xception (``FER()._classify_emotions``) on the same 48x48 crops, resized to the
64x64 its model takes and scaled to [-1, 1] as fer's ``detect_emotions`` does. Without fer's
environment its row is skipped with the way to install it:

    python3 -m venv /tmp/fer-venv && /tmp/fer-venv/bin/pip install torch==2.13.0 && \\
      /tmp/fer-venv/bin/pip install --no-deps fer==25.10.3 && /tmp/fer-venv/bin/pip install tensorflow \\
      pandas requests tqdm matplotlib Pillow 'moviepy>=1.0.3,<2' ffmpeg-python 'opencv-contrib-python<5' 'setuptools<81'

    python benchmarks/robustness.py [--fer-python /tmp/fer-venv/bin/python] [--limit N] [--figures docs]

Prints the CPU's vector flags, then one row per model (clean, mean corrupted over every
corruption x severity, the worst corruption, the mean of each family), the accuracy per
corruption for every model, the default model per severity, and the emotions whose recall
collapses; writes benchmarks/results/robustness.txt and .json (``--out`` moves them) and,
with ``--figures``, robustness_models.png, robustness_<default>.png and recall_<default>.png.

The faces go in a seeded random order, ``--block`` at a time (every corrupted batch is made
from the whole split first, so the blocks add up to exactly one run over every face). After
each block the results so far are written, marked as partial, and the predictions kept in
``benchmarks/results/.robustness.partial.npz``: the same command, stopped, goes on from there.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import re
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

from _common import FER_INSTALL, FER_ZIP, FerProcess, command_line, machine, table

HERE = Path(__file__).resolve().parent
DEFAULT_FER = Path("/tmp/fer-venv/bin/python")
FER_LABEL = "fer (TFLite mini-Xception)"

# fer's side: crops in, probabilities out, through files (a whole split is too big for a JSON line)
FER_SIDE = r"""
import numpy as np, cv2
from fer.fer import FER
fer = FER()

def handle(r):
    faces = np.load(r["faces"])
    x = np.stack([cv2.resize(f, (64, 64), interpolation=cv2.INTER_LINEAR) for f in faces]).astype("float32")
    x = (x / 255.0 - 0.5) * 2.0  # fer's detect_emotions scaling
    np.save(r["out"], np.asarray(fer._classify_emotions(x), np.float32))
    return {"n": len(x)}
"""

# vector extensions that decide ONNX Runtime's (and int8's) speed: x86 flags, then Arm features
CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512vnni", "avx_vnni",
             "avx512_bf16", "amx_tile", "amx_int8", "neon", "asimd", "asimddp", "sve", "i8mm", "bf16")


def cpu_flags() -> list[str]:
    """The flags of :data:`CPU_FLAGS` this CPU has, from /proc/cpuinfo (or ``lscpu``)."""
    text = ""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        try:
            text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            pass
    found = set()
    for line in text.splitlines():
        if re.match(r"\s*(flags|features|Flags)\s*:", line, re.I):
            found |= set(line.split(":", 1)[1].split())
    return [f for f in CPU_FLAGS if f in found]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class FerPredictor:
    """fer's classifier in its own venv as a ``predict`` of uint8 N x 48 x 48 -> N x 7."""

    def __init__(self, python: str):
        self.proc = FerProcess(python, FER_SIDE)
        self.tmp = tempfile.TemporaryDirectory()

    def __call__(self, faces: np.ndarray) -> np.ndarray:
        src, dst = Path(self.tmp.name) / "faces.npy", Path(self.tmp.name) / "probs.npy"
        np.save(src, faces)
        self.proc.ask(faces=str(src), out=str(dst))
        return np.load(dst)

    def close(self) -> None:
        self.proc.close()
        self.tmp.cleanup()


class Timed:
    """A predictor that adds up the seconds spent in it."""

    def __init__(self, fn):
        self.fn, self.seconds, self.faces = fn, 0.0, 0

    def __call__(self, x):
        t = time.perf_counter()
        out = self.fn(x)
        self.seconds += time.perf_counter() - t
        self.faces += len(x)
        return out


def pct(v) -> str:
    return "-" if v is None else f"{v * 100:.1f}%"


def summary_rows(reports: dict, precision: dict, families: list[str]) -> list[list]:
    rows = []
    for name, r in reports.items():
        w = r["worst"]
        rows.append([name, precision[name], pct(r["clean"]["accuracy"]), pct(r["mean_corrupted_accuracy"]),
                     f"{w['corruption']} {pct(w['accuracy'])}", *(pct(r["families"].get(f)) for f in families)])
    return rows


def versus(reports: dict, model: str, other: str) -> str:
    a, b = reports[model]["corruptions"], reports[other]["corruptions"]
    behind = [n for n in a if a[n]["accuracy"] <= b[n]["accuracy"]]
    cond = [(n, s) for n in a for s in a[n]["severities"]
            if a[n]["severities"][s]["accuracy"] <= b[n]["severities"][s]["accuracy"]]
    return (f"{model} vs {other}: ahead on {len(a) - len(behind)} of {len(a)} corruptions (mean over severities)"
            f"{' (not on ' + ', '.join(behind) + ')' if behind else ''}, on "
            f"{sum(len(c['severities']) for c in a.values()) - len(cond)} of "
            f"{sum(len(c['severities']) for c in a.values())} conditions"
            f"{' (not on ' + ', '.join(f'{n} {s}' for n, s in cond) + ')' if cond else ''}")


def main():
    from facemotion import robustness as rb
    from facemotion.classify import load_classifier
    from facemotion.errors import UsageError
    from facemotion.training.robustness import load_faces, seven
    from facemotion.zoo import default_model_name, shipped_models

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(FER_ZIP), help="FER2013 (the Kaggle zip)")
    p.add_argument("--split", default="test", choices=("test", "val"), help="test = PrivateTest, val = PublicTest")
    p.add_argument("--labels", choices=("fer2013", "ferplus"), default="fer2013",
                   help="score against FER2013's labels, or FER+'s majority (the faces whose majority is one of "
                        "the seven: docs/labels.md); FER+ models answer with their most probable of the seven")
    p.add_argument("--models", nargs="*", default=None, help="shipped names (default: every shipped model)")
    p.add_argument("--fer-python", default=str(DEFAULT_FER), help="python of a virtual environment with fer")
    p.add_argument("--no-fer", action="store_true", help="leave fer out")
    p.add_argument("--limit", type=int, default=None, help="a stratified subset of N faces (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seeds the corruptions (and the --limit subset)")
    p.add_argument("--corruptions", default=None, help="comma-separated corruptions or families (default: all)")
    p.add_argument("--severities", default=None, help="comma-separated severities (default: 1,2,3)")
    p.add_argument("--out", default=str(HERE / "results" / "robustness"),
                   help="results path without suffix (.txt and .json are written)")
    p.add_argument("--block", type=int, default=500,
                   help="faces per block: the results so far are written after each, and a stopped run goes on "
                        "from the last one")
    p.add_argument("--figures", default=None, help="folder for robustness_models.png and the default's figures")
    a = p.parse_args()
    if a.limit is not None and a.limit < 1:
        p.error(f"--limit: must be >= 1, got {a.limit}")
    if a.block < 1:
        p.error(f"--block: must be >= 1, got {a.block}")
    try:
        names, levels = rb.names(a.corruptions), rb.severities(a.severities)
    except UsageError as e:
        p.error(str(e))

    shipped = shipped_models()
    models = a.models or list(shipped)
    unknown = [m for m in models if m not in shipped]
    if unknown:
        p.error(f"--models: {', '.join(unknown)} not shipped (shipped: {', '.join(shipped)})")
    default = default_model_name()
    flags = cpu_flags()
    head = [f"CPU: {cpu_name()}; {machine()}",
            f"CPU flags: {' '.join(flags) or 'none of ' + ', '.join(CPU_FLAGS)}"]
    print("\n".join(head), flush=True)

    predictors = {m: Timed(seven(load_classifier(m).classify_faces)) for m in models}
    precision = {m: shipped[m].card.weights_dtype for m in models}
    fer = None
    fer_note = None
    if not a.no_fer:
        if Path(a.fer_python).exists():
            fer = FerPredictor(a.fer_python)
            predictors[FER_LABEL] = Timed(fer)
            precision[FER_LABEL] = "int8 (TFLite)"
        else:
            fer_note = (f"fer skipped: {a.fer_python} not found. Install fer in its own environment with\n"
                        f"{FER_INSTALL}and pass --fer-python /tmp/fer-venv/bin/python")
            print(fer_note, file=sys.stderr, flush=True)

    images, labels = load_faces(a.data, a.split, limit=a.limit, seed=a.seed, labels=a.labels)
    conds = rb.conditions(names, levels)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial.npz")
    key = json.dumps({"data": Path(a.data).name, "split": a.split, "labels": a.labels, "n": len(labels), "seed": a.seed,
                      "models": list(predictors), "conditions": [cond_key(c) for c in conds]})
    # faces in a seeded random order, in blocks: after each block the results so far are written
    # (on a random part of the split) and kept in `partial`, from which a stopped run goes on
    order = np.random.default_rng(a.seed).permutation(len(labels))
    done, preds, before = resume(partial, key, predictors, conds)
    if done:
        print(f"going on from {partial} ({done} of {len(labels)} faces done)", file=sys.stderr, flush=True)
    t0 = time.perf_counter() - before  # minutes count the runs a stopped one went on from

    def report() -> dict:
        idx = order[:done]
        reports = {m: rb.summarize(labels[idx], preds[m], a.seed) for m in predictors}
        write_results(a, out, reports, precision, models, names, levels, done, len(labels),
                      time.perf_counter() - t0, fer_note, predictors, flags, head, final=done == len(labels))
        return reports

    try:
        while done < len(labels):
            block = order[done:done + a.block]
            new = rb.condition_predictions(predictors, images, corruptions=names, levels=levels, seed=a.seed,
                                           subset=block)
            for m in predictors:
                for c in conds:
                    preds[m][c] = np.concatenate([preds[m][c], new[m][c]])
            done += len(block)
            save_partial(partial, key, done, preds, time.perf_counter() - t0)
            if done < len(labels):
                report()
    finally:
        if fer is not None:
            fer.close()
    reports = report()
    partial.unlink(missing_ok=True)
    if a.figures:
        from facemotion.plots import recall_heatmap, robustness_heatmap, robustness_models

        fig = Path(a.figures)
        where = f"{'FER+ majority' if a.labels == 'ferplus' else 'FER2013'} {SPLIT_NAMES[a.split]}, {len(labels)} faces"
        robustness_models(reports, fig / "robustness_models.png",
                          title=f"{where}: accuracy (%) per corruption, mean over severities")
        default = default if default in reports else models[0]
        r = reports[default]
        robustness_heatmap(r, fig / f"robustness_{default}.png",
                           title=f"{default}, {where}: clean {pct(r['clean']['accuracy'])}, mean corrupted "
                                 f"{pct(r['mean_corrupted_accuracy'])}")
        recall_heatmap(r, fig / f"recall_{default}.png",
                       title=f"{default}, {where}: recall (%) by emotion, mean over severities")
        print(f"wrote robustness_models.png, robustness_{default}.png, recall_{default}.png to {fig}", file=sys.stderr)


SPLIT_NAMES = {"test": "PrivateTest", "val": "PublicTest"}


def cond_key(c) -> str:
    return c if c == "clean" else f"{c[0]}@{c[1]}"


def resume(partial: Path, key: str, predictors, conds) -> tuple[int, dict, float]:
    empty = {m: {c: np.zeros(0, np.int64) for c in conds} for m in predictors}
    if not partial.exists():
        return 0, empty, 0.0
    try:
        z = np.load(partial)
        if str(z["key"]) != key:
            print(f"{partial}: from another configuration, starting afresh", file=sys.stderr)
            return 0, empty, 0.0
        return (int(z["done"]), {m: {c: z[f"{i}|{cond_key(c)}"] for c in conds} for i, m in enumerate(predictors)},
                float(z["seconds"]))
    except (OSError, KeyError, ValueError) as e:
        print(f"{partial}: unreadable ({e}), starting afresh", file=sys.stderr)
        return 0, empty, 0.0


def save_partial(partial: Path, key: str, done: int, preds: dict, seconds: float) -> None:
    from facemotion.fileio import atomic_path

    arrays = {f"{i}|{cond_key(c)}": v for i, (m, p) in enumerate(preds.items()) for c, v in p.items()}
    with atomic_path(partial) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, key=np.array(key), done=np.array(done), seconds=np.array(seconds), **arrays)


def write_results(a, out: Path, reports, precision, models, names, levels, done, n, wall, fer_note, predictors,
                  flags, head, final: bool) -> None:
    from facemotion import robustness as rb
    from facemotion.fileio import write_text
    from facemotion.writers import write_json
    from facemotion.zoo import default_model_name

    split = SPLIT_NAMES[a.split]
    command = command_line(__file__)
    families = [f for f in rb.FAMILIES if any(c["family"] == f for c in rb.suite(names, levels))]
    default = default_model_name()
    faces = (f"{done} faces" if final else f"{done} of {n} faces so far (a seeded random part; the run goes on)")
    buf = io.StringIO()
    with redirect_stdout(buf):
        print("\n".join(head))
        labelled = "FER+ majority (7-class protocol)" if a.labels == "ferplus" else "FER2013 labels"
        print(f"FER2013 {split}, {labelled}, {faces}{' (stratified subset, seed %d)' % a.seed if a.limit else ''}; "
              f"{len(names)} corruptions x {len(levels)} severities, seed {a.seed}; {wall / 60:.1f} min")
        print(f"command: {command.strip()}\n")
        print("mean corrupted = the mean accuracy over every corruption x severity; worst = the corruption with "
              "the lowest mean over its severities; the family columns are means over their corruptions x "
              "severities.\n")
        print(table(["model", "precision", "clean", "mean corrupted", "worst corruption", *families],
                    summary_rows(reports, precision, families)))
        print("\naccuracy per corruption (mean over severities):\n")
        order = list(reports)
        print(table(["corruption", "family", *order],
                    [[n_, rb.CORRUPTIONS[n_].family, *(pct(reports[m]["corruptions"][n_]["accuracy"]) for m in order)]
                     for n_ in names]))
        if FER_LABEL in reports:
            print()
            for m in models:
                print(versus(reports, m, FER_LABEL))
        for m in ([default] if default in reports else []) + ([FER_LABEL] if FER_LABEL in reports else []):
            print()
            print(rb.format_report(m, reports[m], max_collapses=12))
        if fer_note:
            print("\n" + fer_note)
    text = buf.getvalue()
    if final:
        print(text.split("\n", len(head))[-1])
    write_text(out.with_suffix(".txt"), text)
    write_json(out.with_suffix(".json"), {
        "command": command.strip(), "cpu": cpu_name(), "cpu_flags": flags, "machine": machine(),
        "data": str(a.data), "split": a.split, "n": done, "of": n, "complete": final, "limit": a.limit,
        "seed": a.seed, "minutes": wall / 60, "suite": rb.suite(names, levels), "collapse_ratio": rb.COLLAPSE_RATIO,
        "faces_per_s": {m: t.faces / t.seconds for m, t in predictors.items() if t.seconds},
        "fer": None if fer_note is None else "skipped: no fer environment", "models": reports})
    print(f"{'wrote' if final else f'{done}/{n} faces:'} {out.with_suffix('.txt')} and .json", file=sys.stderr,
          flush=True)


if __name__ == "__main__":
    main()
