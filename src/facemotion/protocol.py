"""The honest protocol: one model's probabilities on a FER2013 split, scored every way that matters.

FER2013's folder labels are noisy (FER+ relabelled every face with ten annotators and disagrees
with ~30% of them), and 280 PublicTest / 288 PrivateTest faces are pixel copies of Training
faces. :func:`protocol_report` therefore puts side by side:

- ``fer2013``: accuracy against the folder labels, on the whole split and without the faces
  that duplicate a training face (``accuracy_dedup``);
- ``ferplus7``: accuracy against the FER+ majority (a unique most-voted column that is one of
  FER2013's seven emotions; ties, unknown/not-a-face and contempt majorities left out), the
  prediction being the argmax over the seven (an 8-class model's contempt ignored), with
  per-class recall and ECE (the seven probabilities renormalized);
- ``ferplus8``: the same over FER+'s eight emotions (a 7-class model can never be right on a
  contempt face; its ECE is left out: its probabilities do not cover the eight);
- ``crowd_ce``: the mean cross-entropy -sum_k q_k log p_k from the crowd distribution q over
  the model's labels to its probabilities p: how human the probabilities are;
- ``fer2013_recall``: each emotion's recall against FER2013's labels (the expression each face
  was searched for, i.e. meant; duplicates out where known), and ``neutral_share``: the share
  of faces the model calls neutral (``neutral_share_labels``: the share FER2013 labels neutral).
  A model that agrees with the crowd can still miss most meant fear and sadness: both label
  sets, per class, say so.

On FER2013's PrivateTest the 7-class protocol scores 3,343 faces and the 8-class one 3,370
(PublicTest: 3,370 / 3,396). The FER2013 protocol holds here too: these functions read the
split their caller asks for, and only ``facemotion evaluate --split test`` and the benchmarks ask
for PrivateTest; training never calls them.

Torch-free (numpy); it sits with the datasets (it reads splits and FER+ votes).
"""

from __future__ import annotations

import os

import numpy as np

from .errors import DataError
from .labels import EMOTIONS, FERPLUS_EMOTIONS, labels_of_size
from .metrics import classification_report, expected_calibration_error

PROTOCOLS = ("fer2013", "ferplus7", "ferplus8")
# card metric names (facemotion.card.METRICS) the protocol's numbers are recorded under
CARD_METRICS = {"ferplus_test": ("ferplus7", "accuracy"), "ferplus_test_8": ("ferplus8", "accuracy"),
                "private_test_dedup": ("fer2013", "accuracy_dedup"), "ece_ferplus": ("ferplus7", "ece"),
                "crowd_ce": ("crowd_ce",)}


def labels_of(probs_or_width) -> tuple:
    """The label set (:data:`~facemotion.labels.LABEL_SETS`) with as many classes as a model outputs."""
    n = probs_or_width if isinstance(probs_or_width, int) else np.asarray(probs_or_width).shape[-1]
    try:
        return labels_of_size(n)
    except ValueError as e:
        raise DataError(f"a model's probabilities: {e}") from None


def in_labels(probs, model_labels, labels) -> np.ndarray:
    """A model's probabilities (columns = ``model_labels``) as probabilities over ``labels``:
    a label the model lacks gets 0 (a 7-class model never says contempt), labels the model has
    beyond ``labels`` are dropped and the rest renormalized (an 8-class model read as a 7-class
    one: argmax over the seven)."""
    probs = np.asarray(probs, np.float64)
    model_labels, labels = list(model_labels), list(labels)
    if probs.ndim != 2 or probs.shape[1] != len(model_labels):
        raise DataError(f"probabilities of shape {probs.shape} for a model with {len(model_labels)} labels")
    out = np.zeros((len(probs), len(labels)))
    for j, lab in enumerate(labels):
        if lab in model_labels:
            out[:, j] = probs[:, model_labels.index(lab)]
    if set(model_labels) - set(labels):
        s = out.sum(1, keepdims=True)
        out = np.divide(out, s, out=np.full_like(out, 1.0 / len(labels)), where=s > 0)
    return out


def _scored(y, probs, labels, *, ece: bool) -> dict:
    r = classification_report(y, probs, labels)
    return {"accuracy": r["accuracy"] if len(y) else None, "n": int(len(y)), "labels": list(labels),
            # a class without a face has no recall (left out, as FER2013's row leaves it blank)
            "recall": {lab: r["per_class"][lab]["recall"] for lab in labels if r["per_class"][lab]["support"]},
            "support": {lab: r["per_class"][lab]["support"] for lab in labels},
            "ece": (expected_calibration_error(y, probs) if len(y) else None) if ece else None}


def protocol_report(probs, model_labels, fer_labels, votes=None, duplicate=None) -> dict:
    """Score one model's probabilities (N x len(``model_labels``), a FER2013 or FER+ label set)
    on a split's N faces. ``fer_labels``: the FER2013 folder labels (indices into
    :data:`~facemotion.labels.EMOTIONS`); ``votes``: the faces' FER+ votes (N x 10,
    :data:`~facemotion.datasets.ferplus.VOTE_COLUMNS`, NaN rows where FER+ has none), None where
    FER+ is unavailable; ``duplicate``: mask of the faces that copy a training face, or None.

    Returns ``{"labels", "fer2013": {accuracy, n, accuracy_dedup, n_dedup}, "ferplus7": {accuracy,
    n, recall, support, ece}, "ferplus8": {...}, "crowd_ce", "crowd_n", "ferplus"}`` (the FER+
    entries None and ``ferplus`` False without votes)."""
    from .datasets.ferplus import crowd_distribution, majority

    model_labels = tuple(model_labels)
    probs = np.asarray(probs, np.float64)
    fer_labels = np.asarray(fer_labels, np.int64)
    if len(probs) != len(fer_labels):
        raise DataError(f"{len(probs)} predictions for {len(fer_labels)} faces")
    if not all(e in model_labels for e in EMOTIONS):
        raise DataError(f"model labels {', '.join(model_labels)} do not hold FER2013's seven emotions")
    p7 = in_labels(probs, model_labels, EMOTIONS)
    correct = p7.argmax(1) == fer_labels if len(probs) else np.zeros(0, bool)
    fer = {"accuracy": float(correct.mean()) if len(correct) else None, "n": int(len(correct)),
           "accuracy_dedup": None, "n_dedup": None, "n_duplicates": None}
    if duplicate is not None:
        keep = ~np.asarray(duplicate, bool)
        if len(keep) != len(correct):
            raise DataError(f"duplicate mask of {len(keep)} for {len(correct)} faces")
        fer.update(accuracy_dedup=float(correct[keep].mean()) if keep.any() else None, n_dedup=int(keep.sum()),
                   n_duplicates=int((~keep).sum()))
    # the meant expressions read per class (FER2013's labels, duplicates out where known), and how
    # often the model says neutral: a crowd-trained network says it wherever evidence is weak
    keep = np.ones(len(correct), bool) if duplicate is None else ~np.asarray(duplicate, bool)
    said = p7.argmax(1) if len(probs) else np.zeros(0, np.int64)
    fer_recall = {e: (float((said[keep & (fer_labels == k)] == k).mean()) if (keep & (fer_labels == k)).any()
                      else None) for k, e in enumerate(EMOTIONS)}
    neutral = EMOTIONS.index("neutral")
    out = {"labels": list(model_labels), "fer2013": fer, "ferplus": votes is not None, "ferplus7": None,
           "ferplus8": None, "crowd_ce": None, "crowd_n": None, "fer2013_recall": fer_recall,
           "neutral_share": float((said == neutral).mean()) if len(said) else None,
           "neutral_share_labels": float((fer_labels == neutral).mean()) if len(said) else None}
    if votes is None:
        return out
    votes = np.asarray(votes, np.float64)
    if len(votes) != len(probs):
        raise DataError(f"{len(votes)} vote rows for {len(probs)} faces")
    m7 = majority(votes, EMOTIONS)
    k7 = m7 >= 0
    out["ferplus7"] = _scored(m7[k7], p7[k7], EMOTIONS, ece=True)
    m8 = majority(votes, FERPLUS_EMOTIONS)
    k8 = m8 >= 0
    eight = "contempt" in model_labels
    out["ferplus8"] = _scored(m8[k8], in_labels(probs, model_labels, FERPLUS_EMOTIONS)[k8], FERPLUS_EMOTIONS,
                              ece=eight)
    q = crowd_distribution(votes, model_labels)
    ok = np.isfinite(q).all(1)
    if ok.any():
        ce = -(q[ok] * np.log(np.clip(probs[ok], 1e-12, 1))).sum(1)
        out["crowd_ce"], out["crowd_n"] = float(ce.mean()), int(ok.sum())
    return out


def card_metrics(report: dict) -> dict:
    """The protocol's numbers under the card's metric names (:data:`CARD_METRICS`), where measured."""
    out = {}
    for name, path in CARD_METRICS.items():
        v = report
        for k in path:
            v = v.get(k) if isinstance(v, dict) else None
        if v is not None:
            out[name] = v
    return out


def protocol_inputs(split, train=None, votes=None, *, required: bool = False, where: str = "dataset"):
    """(votes or None, duplicate mask or None) for a FER2013-labelled ``split``: the FER+ votes of
    its faces from the vote file ``votes`` (None: the shipped one) when the file keys them (a
    FER2013 copy in the Kaggle layout or ``fer2013.csv``; otherwise None, or a DataError when
    ``required``), and which faces copy a face of ``train``."""
    from .datasets.duplicates import training_duplicates
    from .datasets.ferplus import check_csv_rows, read_votes, votes_for

    v = None
    try:
        table = read_votes(votes)
        # a CSV renumbered would read other faces' votes: none are given (refused where required)
        check_csv_rows(split, table, where)
        v = votes_for(split.sources, table, where)
    except DataError:
        if required or votes is not None:
            raise
    dup = training_duplicates(split, train) if train is not None and train is not split else None
    return v, dup


def load_protocol_split(data: str | os.PathLike, split: str, votes=None, *, skip_bad: bool = False,
                        required: bool = False):
    """(the ``split`` of ``data`` with FER2013 labels, its FER+ votes or None, its duplicate
    mask or None). Reads ``split`` and, for the duplicates, ``train`` (where ``data`` has one);
    PrivateTest only when the caller asks for ``split="test"``."""
    from .datasets import available_splits, load_splits

    names = [split] + (["train"] if split != "train" and "train" in available_splits(data) else [])
    d = load_splits(data, names, skip_bad=skip_bad)
    v, dup = protocol_inputs(d[split], d.get("train"), votes, required=required, where=f"{data} ({split})")
    return d[split], v, dup


def _pct(x) -> str:
    return "-" if x is None else f"{x * 100:.2f}%"


def format_protocol(report: dict, title: str | None = None) -> str:
    """The protocol as a small table (``facemotion evaluate`` prints it beside its own report)."""
    r = report
    nlab = len(r["labels"])
    lines = [title or f"protocol ({nlab}-class model)"]
    rows = []
    if r.get("ferplus"):
        f7, f8 = r["ferplus7"], r["ferplus8"]
        rows.append(("FER+ majority, 7 classes", f7["n"], f7["accuracy"], f7["ece"]))
        rows.append(("FER+ majority, 8 classes", f8["n"], f8["accuracy"], f8["ece"]))
    f = r["fer2013"]
    rows.append(("FER2013 labels", f["n"], f["accuracy"], None))
    if f.get("n_dedup") is not None:
        rows.append((f"FER2013, {f['n_duplicates']} train duplicates out", f["n_dedup"], f["accuracy_dedup"], None))
    lines.append(f"  {'':<36}{'faces':>7}{'accuracy':>10}{'ECE':>8}")
    for name, n, acc, ece in rows:
        lines.append(f"  {name:<36}{n:>7,}{_pct(acc):>10}{'-' if ece is None else f'{ece:.4f}':>8}")
    labs = FERPLUS_EMOTIONS
    recall_head = f"  {'recall of':<20}" + "".join(f"{lab[:8]:>9}" for lab in labs)
    if r.get("fer2013_recall"):
        dedup = " (dups out)" if f.get("n_dedup") is not None else ""
        lines.append(recall_head)
        lines.append(f"  {'FER2013' + dedup:<20}" + "".join(
            f"{r['fer2013_recall'][lab] * 100:>8.1f}%" if r["fer2013_recall"].get(lab) is not None else f"{'':>9}"
            for lab in labs))
    if r.get("neutral_share") is not None:
        lines.append(f"  called neutral: {_pct(r['neutral_share'])} of the faces (FER2013 labels neutral: "
                     f"{_pct(r['neutral_share_labels'])})")
    if not r.get("ferplus"):
        lines.append("  FER+: unavailable (the vote file keys none of these faces: FER2013 in the Kaggle layout "
                     "or fer2013.csv only)")
        return "\n".join(lines)
    if r.get("crowd_ce") is not None:
        lines.append(f"  crowd cross-entropy {r['crowd_ce']:.4f} ({r['crowd_n']:,} faces; -sum q log p, q = the "
                     f"FER+ vote distribution over the model's {nlab} labels)")
    if not r.get("fer2013_recall"):
        lines.append(recall_head)
    for key, name in (("ferplus7", "FER+ 7"), ("ferplus8", "FER+ 8")):
        rec = r[key]["recall"]
        lines.append(f"  {name:<20}" + "".join(f"{rec[lab] * 100:>8.1f}%" if lab in rec else f"{'':>9}"
                                              for lab in labs))
    return "\n".join(lines)


__all__ = ["PROTOCOLS", "CARD_METRICS", "labels_of", "in_labels", "protocol_report", "card_metrics",
           "protocol_inputs", "load_protocol_split", "format_protocol"]
