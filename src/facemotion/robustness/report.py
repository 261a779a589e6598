"""The report of a model under the corruptions, and the stratified subsets it runs on.

:func:`robustness_report` runs any ``predict`` (uint8 N x 48 x 48 -> N x 7 probabilities, e.g.
a classifier's ``classify_faces``) on the clean crops and every corruption x severity, and
reports clean accuracy, accuracy per condition, the mean corrupted accuracy (over every
corruption x severity), per-family means, the worst corruption, and per-class recall under
each corruption, with the emotions that collapse under it.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from ..errors import UsageError
from ..labels import EMOTIONS, NUM_CLASSES
from .corruptions import FAMILIES, check_faces
from .suite import CORRUPTIONS, _rounded, corrupt, names, severities

# An emotion "collapses" under a corruption when its recall, averaged over the severities,
# falls below this fraction of its clean recall, judged where it has at least COLLAPSE_FACES
# faces: 2 of 3 right clean and 1 of 3 corrupted is no collapse one can tell from chance.
COLLAPSE_RATIO = 0.5
COLLAPSE_FACES = 10

# ---------------------------------------------------------------- subsets


def stratified_subset(labels, n: int, seed: int = 0) -> np.ndarray:
    """Indices (sorted) of ``n`` faces with the classes in the proportions of ``labels`` (largest
    remainders), chosen by ``seed``; all of them when ``n`` >= their number."""
    labels = np.asarray(labels)
    if n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    counts = np.bincount(labels, minlength=NUM_CLASSES)
    quota = counts * n / len(labels)
    take = np.floor(quota).astype(int)
    for c in np.argsort(-(quota - take), kind="stable")[: n - take.sum()]:
        take[c] += 1
    idx = [rng.choice(np.flatnonzero(labels == c), take[c], replace=False) for c in range(NUM_CLASSES) if take[c]]
    return np.sort(np.concatenate(idx)) if idx else np.zeros(0, int)


# ---------------------------------------------------------------- the report


def condition_metrics(labels, pred) -> dict:
    """Accuracy, per-class recall and the share of predictions per class, from predicted labels."""
    labels, pred = np.asarray(labels), np.asarray(pred)
    support = np.bincount(labels, minlength=NUM_CLASSES)
    hits = np.bincount(labels[pred == labels], minlength=NUM_CLASSES)
    shares = np.bincount(pred, minlength=NUM_CLASSES) / max(len(pred), 1)
    return {"accuracy": float((pred == labels).mean()) if len(labels) else 0.0,
            "recall": {e: float(hits[i] / support[i]) if support[i] else None for i, e in enumerate(EMOTIONS)},
            "predicted": {e: float(shares[i]) for i, e in enumerate(EMOTIONS)}}


def _mean_dicts(ds: Sequence[dict]) -> dict:
    return {k: (None if any(d[k] is None for d in ds) else float(np.mean([d[k] for d in ds]))) for k in ds[0]}


def _read_as(labels, preds, k: int) -> str:
    """What emotion ``k``'s own faces were most often read as when wrong, over ``preds`` (a
    corruption's severities)."""
    labels = np.asarray(labels)
    wrong = np.concatenate([p[(labels == k) & (p != k)] for p in map(np.asarray, preds)])
    return EMOTIONS[int(np.bincount(wrong, minlength=NUM_CLASSES).argmax())] if len(wrong) else EMOTIONS[k]


def summarize(labels, predictions: Mapping, seed: int = 0) -> dict:
    """The report of one model from its predicted labels: ``predictions`` maps ``"clean"`` and
    ``(corruption, severity)`` to N predicted class indices."""
    clean = condition_metrics(labels, predictions["clean"])
    conds = [k for k in predictions if k != "clean"]
    corr: dict[str, dict] = {}
    for name in dict.fromkeys(n for n, _ in conds):
        sev = {str(s): {"value": _rounded(CORRUPTIONS[name].value(s)), **condition_metrics(labels, predictions[name, s])}
               for n, s in conds if n == name}
        corr[name] = {"family": CORRUPTIONS[name].family,
                      "accuracy": float(np.mean([v["accuracy"] for v in sev.values()])),
                      "recall": _mean_dicts([v["recall"] for v in sev.values()]),
                      "predicted": _mean_dicts([v["predicted"] for v in sev.values()]),
                      "severities": sev}
    counts = np.bincount(np.asarray(labels, int), minlength=NUM_CLASSES)
    report = {"n": int(len(labels)), "seed": int(seed), "faces": {e: int(n) for e, n in zip(EMOTIONS, counts)},
              "clean": clean, "corruptions": corr}
    if not corr:
        return report
    every = [v["accuracy"] for c in corr.values() for v in c["severities"].values()]
    worst = min(corr, key=lambda n: corr[n]["accuracy"])
    wname, wsev = min(((n, s) for n, c in corr.items() for s in c["severities"]),
                      key=lambda k: corr[k[0]]["severities"][k[1]]["accuracy"])
    families = {}
    for f in FAMILIES:
        accs = [v["accuracy"] for c in corr.values() if c["family"] == f for v in c["severities"].values()]
        if accs:
            families[f] = float(np.mean(accs))
    collapses, faces = [], counts
    for name, c in corr.items():
        for i, e in enumerate(EMOTIONS):
            r0, r = clean["recall"][e], c["recall"][e]
            if r0 and r is not None and r < COLLAPSE_RATIO * r0 and faces[i] >= COLLAPSE_FACES:
                collapses.append({"corruption": name, "emotion": e, "faces": int(faces[i]), "recall": r,
                                  "clean_recall": r0, "ratio": r / r0,
                                  "taken_by": _read_as(labels, [predictions[name, int(s)] for s in c["severities"]], i)})
    collapses.sort(key=lambda d: d["ratio"])
    report.update({
        "mean_corrupted_accuracy": float(np.mean(every)),
        "relative_accuracy": float(np.mean(every) / clean["accuracy"]) if clean["accuracy"] else None,
        "families": families,
        "worst": {"corruption": worst, "accuracy": corr[worst]["accuracy"]},
        "worst_condition": {"corruption": wname, "severity": int(wsev),
                            "accuracy": corr[wname]["severities"][wsev]["accuracy"]},
        "collapses": collapses,
    })
    return report


def conditions(corruptions=None, levels=None) -> list:
    """``"clean"`` then every (corruption, severity) of a run, in the order they are evaluated."""
    return ["clean", *((n, s) for n in names(corruptions) for s in severities(levels))]


def condition_predictions(predictors: Mapping[str, Callable[[np.ndarray], np.ndarray]], images, *,
                          corruptions=None, levels=None, seed: int = 0, subset=None,
                          progress: bool = True) -> dict[str, dict]:
    """Predicted classes of every predictor on the clean crops and on each corruption x severity
    (each corrupted batch made once and given to all of them): name -> {condition: labels}.

    ``subset``: indices of the faces to predict. Each condition still corrupts all of ``images``
    first, so a face gets the same corruption whatever the subset: predictions made block by
    block and concatenated are those of one run over every face (a long run can report as it
    goes, or stop and go on).
    """
    x = check_faces(images)
    idx = np.arange(len(x)) if subset is None else np.asarray(subset)
    todo = conditions(corruptions, levels)
    preds: dict[str, dict] = {m: {} for m in predictors}
    steps = todo
    if progress:
        from ..progress import progress_bar

        steps = progress_bar(todo, desc="robustness", unit="condition")
    for cond in steps:
        batch = (x if cond == "clean" else corrupt(x, cond[0], cond[1], seed))[idx]
        for m, predict in predictors.items():
            p = np.asarray(predict(batch))
            if p.shape != (len(idx), NUM_CLASSES):
                raise UsageError(f"{m}: predict gave shape {p.shape}, expected ({len(idx)}, {NUM_CLASSES})")
            preds[m][cond] = p.argmax(1)
    return preds


def robustness_report(predictors: Mapping[str, Callable[[np.ndarray], np.ndarray]], images, labels, *,
                      corruptions=None, levels=None, seed: int = 0, progress: bool = True) -> dict[str, dict]:
    """Every predictor on the clean crops and on each corruption x severity
    (:func:`condition_predictions`): name -> :func:`summarize`'s report.

    A predictor maps uint8 N x 48 x 48 crops to N x 7 probabilities (or scores) in
    :data:`~facemotion.labels.EMOTIONS` order; pass a classifier's ``classify_faces`` so the
    model runs exactly as it does everywhere else (its flip averaging, temperature, backend).
    """
    x = check_faces(images)
    y = np.asarray(labels)
    if len(y) != len(x):
        raise UsageError(f"labels: {len(y)} labels for {len(x)} images")
    preds = condition_predictions(predictors, x, corruptions=corruptions, levels=levels, seed=seed,
                                  progress=progress)
    return {m: summarize(y, p, seed) for m, p in preds.items()}


def format_report(name: str, r: dict, max_collapses: int = 8) -> str:
    """One model's report as text: a corruption x severity table, the summary, the worst
    ``max_collapses`` collapses."""
    pct = lambda v: f"{v * 100:5.1f}%"  # noqa: E731
    sev = sorted({s for c in r["corruptions"].values() for s in c["severities"]})
    lines = [f"{name}: clean {pct(r['clean']['accuracy'])} on {r['n']} faces"]
    if not r["corruptions"]:
        return lines[0]
    lines[0] += (f", mean corrupted {pct(r['mean_corrupted_accuracy'])}, worst {r['worst']['corruption']} "
                 f"{pct(r['worst']['accuracy'])}")
    lines.append(f"{'corruption':<16}{'family':<13}" + "".join(f"{'sev ' + s:>8}" for s in sev) + f"{'mean':>8}")
    for n, c in r["corruptions"].items():
        cells = "".join(f"{pct(c['severities'][s]['accuracy']) if s in c['severities'] else '-':>8}" for s in sev)
        lines.append(f"{n:<16}{c['family']:<13}{cells}{pct(c['accuracy']):>8}")
    lines.append("families: " + ", ".join(f"{f} {pct(a).strip()}" for f, a in r["families"].items()))
    if r["collapses"]:
        shown = r["collapses"][:max_collapses]
        more = len(r["collapses"]) - len(shown)
        lines.append(f"recall below {COLLAPSE_RATIO:.0%} of clean (worst first; its faces, and what they were read "
                     "as most when wrong): " + "; ".join(
                         f"{d['emotion']} ({d['faces']}) under {d['corruption']} {d['clean_recall'] * 100:.0f}% -> "
                         f"{d['recall'] * 100:.0f}% (as {d['taken_by']})" for d in shown)
                     + (f"; {more} more in the JSON report" if more else ""))
    if few := [f"{e} {n}" for e, n in r.get("faces", {}).items() if 0 < n < COLLAPSE_FACES]:
        lines.append(f"not judged for collapse (under {COLLAPSE_FACES} faces): {', '.join(few)}")
    return "\n".join(lines)
