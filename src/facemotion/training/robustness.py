"""``facemotion evaluate --robustness``: models on a dataset split under the seeded corruption
suite of :mod:`facemotion.robustness`.

Each model runs through its own classifier (:func:`facemotion.classify.load_classifier`, so an
ONNX model's flip averaging and temperature happen inside its graph, and a checkpoint averages
the views its card names), on the clean crops and on every corruption x severity. Each model
is reported on its own: comparing them under the same corrupted crops is the point, and an
ensemble is a model of its own (``ensemble``). Nothing here imports torch unless a ``.pt``
model is given.

Protocol: the report names its split; PrivateTest (``test``, the default) is for reporting,
and a choice (a robust fine-tune, its augmentation strength) is made on ``val`` (PublicTest).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import robustness as rb
from ..classify import load_classifier
from ..datasets import load_splits
from ..errors import UsageError
from ..labels import EMOTIONS, NUM_CLASSES
from .eval_report import OUTPUTS, REPORT, figure_stem, figures_of

FORMAT = "facemotion-robustness/1"


def load_faces(data, split: str = "test", *, limit: int | None = None, seed: int = 0,
               skip_bad: bool = False, labels: str = "fer2013", votes=None) -> tuple[np.ndarray, np.ndarray]:
    """(images N x 48 x 48 uint8, labels) of ``split``; with ``limit``, a stratified subset of
    that many faces chosen by ``seed`` (:func:`facemotion.robustness.stratified_subset`).

    ``labels="ferplus"``: the faces whose FER+ majority is one of FER2013's seven emotions (the
    7-class protocol of docs/labels.md), labelled by it; a model is then scored by its most
    probable of the seven (:func:`seven`)."""
    s = load_splits(data, [split], skip_bad=skip_bad)[split]
    if labels == "ferplus":
        from ..datasets.ferplus import majority, read_votes, votes_for
        m = majority(votes_for(s.sources, read_votes(votes), f"{data} ({split})"), EMOTIONS)
        s = s.subset(m >= 0)
        s.labels = m[m >= 0]
    if limit is None:
        return s.images, s.labels
    idx = rb.stratified_subset(s.labels, int(limit), seed)
    return s.images[idx], s.labels[idx]


def seven(predict):
    """A predictor's probabilities of FER2013's seven emotions only: a FER+ model's contempt is
    not an answer under 7-class labels (its other columns keep FER2013's order)."""
    return lambda faces: np.asarray(predict(faces))[:, :NUM_CLASSES]


def predictors(models, threads: int | None = None) -> dict:
    """label -> ``classify_faces`` of each model (a shipped name, an .onnx or .pt file): the
    classify path every other command uses, flip averaging included."""
    out = {}
    for m in models:
        label = str(m)
        if label in out:
            raise UsageError(f"models: {label} is given twice")
        out[label] = seven(load_classifier(label, threads=threads).classify_faces)
    return out


def evaluate_robustness(models, data, split: str = "test", *, limit: int | None = None, seed: int = 0,
                        corruptions=None, severities=None, skip_bad: bool = False, out=None,
                        progress: bool = True, threads: int | None = None) -> dict:
    """Every model in ``models`` on ``split`` of ``data``, clean and under each corruption x
    severity; returns ``{"format", "split", "data", "n", "limit", "seed", "suite", "models":
    {label: report}}`` (a report is :func:`facemotion.robustness.summarize`'s). ``out``: a folder
    for robustness.json and the figures (:func:`write_outputs`)."""
    names = rb.names(corruptions)
    levels = rb.severities(severities)
    preds = predictors(models, threads)
    images, labels = load_faces(data, split, limit=limit, seed=seed, skip_bad=skip_bad)
    if len(images) == 0:
        raise UsageError(f"{data}: the {split} split has no faces")
    reports = rb.robustness_report(preds, images, labels, corruptions=names, levels=levels, seed=seed,
                                   progress=progress)
    result = {"format": FORMAT, "split": split, "data": str(data), "n": int(len(labels)), "limit": limit,
              "seed": int(seed), "collapse_ratio": rb.COLLAPSE_RATIO, "suite": rb.suite(names, levels),
              "models": reports}
    if out is not None:
        result["files"] = [str(p) for p in write_outputs(result, out)]
    return result


def write_outputs(result: dict, out) -> list[Path]:
    """robustness.json, and per model robustness_<model>.png (corruption x severity) and
    recall_<model>.png (per-class recall), plus robustness_models.png when there are several:
    each written whole (atomic)."""
    from ..writers import write_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    before = figures_of(out / REPORT)
    written = _figures(result, out) if any(r["corruptions"] for r in result["models"].values()) else []
    # the figures an earlier run drew here (its report names its models) that this one does not go;
    # the report comes last, so that a run cut short leaves no report beside another run's figures
    for p in before - set(written):
        p.unlink(missing_ok=True)
    if (out / "report.json").is_file():  # an earlier evaluate's report and figures: a folder holds one run's
        for name in ("report.json", *OUTPUTS):
            (out / name).unlink(missing_ok=True)
    write_json(out / REPORT, {k: v for k, v in result.items() if k != "files"})
    return [*written, out / REPORT]


def _figures(result: dict, out: Path) -> list[Path]:
    from ..plots import recall_heatmap, robustness_heatmap, robustness_models

    written, stems = [], {}
    for label in result["models"]:
        stem = figure_stem(label)
        stems[label] = stem if stem not in stems.values() else f"{stem}_{len(stems)}"
    where = f"{result['split']}, {result['n']} faces"
    shown = _shown_names(result["models"])
    for label, r in result["models"].items():
        head = (f"{shown[label]}, {where}: clean {r['clean']['accuracy'] * 100:.1f}%, mean corrupted "
                f"{r['mean_corrupted_accuracy'] * 100:.1f}%")
        p = out / f"robustness_{stems[label]}.png"
        robustness_heatmap(r, p, title=head)
        q = out / f"recall_{stems[label]}.png"
        recall_heatmap(r, q, title=f"{shown[label]}, {where}: recall (%) by emotion, mean over severities")
        written += [p, q]
    if len(result["models"]) > 1:
        p = out / "robustness_models.png"
        robustness_models({shown[k]: v for k, v in result["models"].items()}, p,
                          title=f"{where}: accuracy (%) per corruption, mean over severities")
        written.append(p)
    return written


def format_result(result: dict) -> str:
    n, limit = result["n"], result["limit"]
    subset = ("" if not limit else f" (all of it: --limit {limit} is more)" if n < limit
              else f" (a stratified subset chosen by seed {result['seed']})")
    head = f"{result['split']} split, {n} face{'s' if n != 1 else ''}{subset}; corruptions seeded with {result['seed']}"
    shown = _shown_names(result["models"])
    return "\n\n".join([head, *(rb.format_report(shown[m], r) for m, r in result["models"].items())])


def _shown_names(models) -> dict:
    """Each model as few of its path's last parts as tell them apart (a/best.pt, b/best.pt)."""
    from .eval_report import distinct_names

    return dict(zip(models, distinct_names(list(models))))


# --robustness's own options and their values when not given
ROBUSTNESS_ONLY = {"limit": 0, "corruptions": rb.names(), "severities": rb.severities(), "seed": 0}


def check_args(args) -> None:
    """--robustness takes the models as their classifiers run them: the options that change
    that (or choose an ensemble) do not apply, and its own options need it."""
    if not args.robustness:
        given = [o for o, default in ROBUSTNESS_ONLY.items() if getattr(args, o, default) != default]
        if given:
            raise UsageError(f"--{given[0]}: goes with --robustness")
        return
    if args.tta not in (None, "none"):
        raise UsageError("--tta: not with --robustness (each model averages the views it was shipped with)")
    if args.calibrate:
        raise UsageError("--calibrate: not with --robustness (each model keeps its own temperature)")
    if args.choose_ensemble or args.ensemble_max_params is not None:
        raise UsageError("--choose-ensemble: not with --robustness (each model is reported on its own)")


def main(args) -> tuple[dict, str, str]:
    """``evaluate --robustness``: (the result, its text, what was written) for evaluate's output."""
    r = evaluate_robustness(args.models, args.data, args.split, limit=args.limit or None, seed=args.seed,
                            corruptions=args.corruptions, severities=args.severities, skip_bad=args.skip_bad,
                            out=args.out)
    return r, format_result(r), f"wrote {', '.join(Path(p).name for p in r.get('files', []))} to {args.out}"
