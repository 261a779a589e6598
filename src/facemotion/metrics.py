"""Classification metrics in plain numpy (shared by training, evaluation and benchmarks)."""

from __future__ import annotations

import numpy as np

from .labels import EMOTIONS, labels_of_size


def confusion_matrix(y_true, y_pred, n: int = len(EMOTIONS)) -> np.ndarray:
    cm = np.zeros((n, n), np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def classification_report(y_true, probs, labels=None) -> dict:
    """Accuracy, per-class precision/recall/F1/support, macro-F1 (over the classes present), NLL and
    ECE from probabilities.

    ``labels`` names the columns of ``probs`` (and the classes of ``y_true``): FER2013's seven
    (:data:`~facemotion.labels.EMOTIONS`), FER+'s eight, ...; None: the label set with as many
    classes as ``probs`` has columns (EMOTIONS for seven)."""
    y_true = np.asarray(y_true, np.int64)
    probs = np.asarray(probs, np.float64)
    if probs.ndim != 2:
        raise ValueError(f"probabilities must be N x classes, got shape {probs.shape}")
    if labels is None:
        try:
            labels = labels_of_size(probs.shape[1])
        except ValueError:  # some other classifier: its classes by number
            labels = tuple(str(i) for i in range(probs.shape[1]))
    labels = tuple(labels)
    if len(labels) != probs.shape[1]:
        raise ValueError(f"{len(labels)} label names for {probs.shape[1]} columns of probabilities")
    if len(y_true) and (y_true.min() < 0 or y_true.max() >= len(labels)):
        raise ValueError(f"true labels must be indices into the {len(labels)} labels")
    pred = probs.argmax(1)
    cm = confusion_matrix(y_true, pred, probs.shape[1])
    support = cm.sum(1)
    precision, recall, f1 = precision_recall_f1(np.diag(cm), support, cm.sum(0))
    return {
        "n": int(len(y_true)),
        "labels": list(labels),
        "accuracy": float((pred == y_true).mean()) if len(y_true) else 0.0,
        # over the classes the faces show: a class no face has would count as an F1 of 0
        "macro_f1": float(f1[support > 0].mean()) if (support > 0).any() else 0.0,
        "nll": negative_log_likelihood(y_true, probs),
        "ece": expected_calibration_error(y_true, probs),
        "per_class": {
            lab: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "support": int(support[i])}
            for i, lab in enumerate(labels)
        },
        "confusion_matrix": cm.tolist(),
    }


def precision_recall_f1(tp, support, predicted) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per class: precision (of the ``predicted`` answers of each class, the ``tp`` right ones),
    recall (of its ``support`` faces) and F1; 0 where a class has none."""
    tp = np.asarray(tp, np.float64)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=np.asarray(predicted) > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=np.asarray(support) > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=(precision + recall) > 0)
    return precision, recall, f1


def negative_log_likelihood(y_true, probs) -> float:
    """The mean of -log p(true class) (0 for no faces)."""
    y_true = np.asarray(y_true, np.int64)
    if not len(y_true):
        return 0.0
    return float(-np.log(np.clip(np.asarray(probs)[np.arange(len(y_true)), y_true], 1e-12, 1)).mean())


def expected_calibration_error(y_true, probs, n_bins: int = 15) -> float:
    """ECE with equal-width confidence bins (Guo et al. 2017)."""
    bins = reliability_bins(y_true, probs, n_bins)
    n = len(y_true)
    return float(sum(c * abs(a - f) for c, a, f in zip(bins["count"], bins["accuracy"], bins["confidence"]) if c) / max(n, 1))


def reliability_bins(y_true, probs, n_bins: int = 15) -> dict:
    probs = np.asarray(probs)
    conf = probs.max(1)
    correct = probs.argmax(1) == np.asarray(y_true)
    edges = np.linspace(0, 1, n_bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    count, acc, cf = [], [], []
    for b in range(n_bins):
        m = idx == b
        count.append(int(m.sum()))
        acc.append(float(correct[m].mean()) if m.any() else 0.0)
        cf.append(float(conf[m].mean()) if m.any() else 0.0)
    return {"edges": edges.tolist(), "count": count, "accuracy": acc, "confidence": cf}


def softmax(logits, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, np.float64) / temperature
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def fit_temperature(logits, y_true) -> float:
    """Temperature minimising NLL (golden-section search on log T; 1-D and convex enough)."""
    y_true = np.asarray(y_true)

    def nll(log_t):
        p = softmax(logits, float(np.exp(log_t)))
        return -np.log(np.clip(p[np.arange(len(y_true)), y_true], 1e-12, 1)).mean()

    lo, hi = np.log(0.05), np.log(20.0)
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(b)
    return float(np.exp((lo + hi) / 2))
