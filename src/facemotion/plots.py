"""Figures people would rather look at than read (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .fileio import atomic_path
from .labels import EMOTIONS
from .results import labels_for


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path) -> None:
    """Write ``fig`` (its format from the suffix) atomically and free it."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
    finally:
        _plt().close(fig)


def class_distribution(counts: Sequence[int], title: str, path, labels: Sequence[str] = EMOTIONS) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    bars = ax.bar(list(labels), counts, color="#4C72B0")
    ax.bar_label(bars, labels=[f"{c:,}" for c in counts], fontsize=8)
    ax.set_ylabel("images")
    ax.set_title(title)
    save_figure(fig, path)


def training_curves(history: list[dict], out_dir) -> list[Path]:
    """Accuracy and loss curves, train vs validation (second design document, figs 6-7)."""
    plt = _plt()
    out = []
    ep = [h["epoch"] for h in history]
    for key, label in (("acc", "accuracy"), ("loss", "loss")):
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot(ep, [h[f"train_{key}"] for h in history], label="train")
        ax.plot(ep, [h[f"val_{key}"] for h in history], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
        ax.set_title(f"{label} per epoch")
        p = Path(out_dir) / f"{label}.png"
        save_figure(fig, p)
        out.append(p)
    return out


def confusion(cm, path, title: str = "confusion matrix", labels=None, columns=None) -> None:
    """``labels``: the classes of ``cm``'s rows and columns (None: the label set of its size);
    ``columns``: the columns' names where they differ (a last "no face" column, say)."""
    plt = _plt()
    cm = np.asarray(cm, float)
    labels = list(labels_for(len(cm)) if labels is None else labels)
    columns = labels if columns is None else list(columns)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.5 + 0.6 * (len(columns) - len(labels)), 5.5))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(columns)), columns, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(columns)):
            ax.text(j, i, f"{norm[i, j]:.2f}\n({int(cm[i, j])})", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    save_figure(fig, path)


def group_accuracy(report: dict, path, title: str = "accuracy by group") -> None:
    """:func:`facemotion.fairness.group_report`'s accuracy per group, one panel per attribute,
    with the 95% intervals and each group's size; the panel's title carries its gap's test."""
    plt = _plt()
    attrs = list(report["attributes"].items())
    widths = [max(2.0, 0.8 * len(v["groups"]) + 1) for _, v in attrs]
    fig, axes = plt.subplots(1, len(attrs), figsize=(sum(widths), 3.6), sharey=True, squeeze=False,
                             gridspec_kw={"width_ratios": widths})
    for ax, (a, v) in zip(axes[0], attrs):
        names = list(v["groups"])
        acc = np.array([100 * v["groups"][g]["accuracy"] for g in names])
        ci = 100 * np.array([v["groups"][g]["ci"] for g in names]).reshape(-1, 2)
        colours = ["#4C72B0" if v["groups"][g]["units"] >= report["min_group"] else "#A0B4D6" for g in names]  # pale: untested
        ax.bar(range(len(names)), acc, 0.7, color=colours, yerr=[acc - ci[:, 0], ci[:, 1] - acc], capsize=3)
        for x, g in enumerate(names):
            ax.text(x, 2, str(v["groups"][g]["units"]), ha="center", fontsize=7, color="white")
        ax.set_xticks(range(len(names)), names, rotation=30 if len(names) > 3 else 0, ha="right" if len(names) > 3 else "center",
                      fontsize=8)
        t = v["test"]
        c = (t or {}).get("at_equal_control")
        ax.set_title(a + (f"\ngap {100 * t['gap']:.0f} points, p {t['p_holm']:.3g} (Holm)" if t else "\nnot tested")
                     + (f"\nat equal {report['control']}: {100 * c['gap']:.0f} points, p {c['p_holm']:.3g}"
                        if c and "p_holm" in c else ""), fontsize=9)
        ax.set_ylim(0, 105)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel(f"accuracy (%), {report['unit']}s in white")
    fig.suptitle(title, fontsize=10, y=1.06)
    save_figure(fig, path)


def reliability(bins_before: dict, bins_after: dict | None, path, title: str = "reliability diagram") -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect")
    centers = (np.array(bins_before["edges"][:-1]) + np.array(bins_before["edges"][1:])) / 2
    for bins, lab, c in ((bins_before, "before", "#DD8452"), (bins_after, "after temperature", "#4C72B0")):
        if bins is None:
            continue
        m = np.array(bins["count"]) > 0
        ax.plot(centers[m], np.array(bins["accuracy"])[m], "o-", color=c, label=lab)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.legend()
    ax.set_title(title)
    save_figure(fig, path)


class Timelines:
    """Timelines of many faces (a clip's), each kind drawn on one figure that is reused: only its
    lines' data, time axis and title change from face to face, so a clip of many faces pays
    matplotlib's figure, axes and legend once, and a fixed layout spares the second drawing a
    tight bounding box costs (about half of each file's time). Use it as a context manager."""

    def __init__(self):
        self._figures: dict = {}

    def __enter__(self) -> "Timelines":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for fig, _, _ in self._figures.values():
            _plt().close(fig)
        self._figures.clear()

    def _figure(self, names, colors, ylabel: str, ylim=None):
        key = (tuple(names), ylabel)
        if key not in self._figures:
            fig, ax = _plt().subplots(figsize=(9, 3.2))
            lines = [ax.plot([], [], label=n, color=c, lw=1.4)[0] for n, c in zip(names, colors)]
            if ylim is None:
                ax.axhline(0, color="0.5", lw=0.8)  # a measure's rest
            else:
                ax.set_ylim(*ylim)
            ax.set_xlabel("time (s)")
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
            ax.legend(ncol=len(names), fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22))
            fig.subplots_adjust(left=0.07, right=0.985, top=0.9, bottom=0.3)
            self._figures[key] = (fig, ax, lines)
        return self._figures[key]

    @staticmethod
    def _save(figure, times_s, series, title: str, path, rescale: bool) -> None:
        fig, ax, lines = figure
        times_s = np.asarray(times_s, float)
        for line, values in zip(lines, series):
            line.set_data(times_s, values)
        lo, hi = (float(times_s.min()), float(times_s.max())) if times_s.size else (0.0, 1.0)
        ax.set_xlim(lo, hi) if hi > lo else ax.set_xlim(lo - 0.5, lo + 0.5)  # one reading: a point
        if rescale:
            ax.relim()
            ax.autoscale_view(scalex=False)
        ax.set_title(title)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, format=Path(path).suffix.lstrip(".") or "png")

    def emotions(self, times_s, probs, path, title: str = "emotions over time", labels=None) -> None:
        """Each emotion's probability over time (``probs``: T x L, in ``labels`` order; None: the
        label set of that size), in the colours the annotated frames use."""
        from .render import COLORS

        probs = np.asarray(probs)
        labels = list(labels_for(probs.shape[1]) if labels is None else labels)
        colors = [tuple(c / 255 for c in COLORS[e][::-1]) for e in labels]  # BGR -> matplotlib's RGB
        self._save(self._figure(labels, colors, "probability", (0, 1)), times_s, probs.T, title, path, rescale=False)

    def measures(self, times_s, measures, path, title: str = "facial measures over time") -> None:
        """Each facial action measure over time (``measures``: one dict per time, as the mesh gives
        them: eye distances from the neutral face, 0 at rest), the two eyes' openness as one line."""
        series = {}
        for m in measures:
            row = dict(m)
            row["eyes_open"] = (row.pop("left_eye_open") + row.pop("right_eye_open")) / 2
            for k, v in row.items():
                series.setdefault(k, []).append(v)
        colors = [f"C{i}" for i in range(len(series))]
        figure = self._figure(list(series), colors, "eye distances from neutral")
        self._save(figure, times_s, list(series.values()), title, path, rescale=True)

    def overview(self, faces, path, labels, title: str = "who shows what, when", most: int = 40,
                 span: float | None = None) -> int:
        """A clip at a glance: a row per face (``faces``: ``(face_id, times_s, probs)``, the ``most``
        seen longest, in order of appearance), coloured by its top emotion at each moment, in the
        colours of the annotated frames, over the clip's whole ``span`` (s; where faces left out
        leave time empty, it shows). Returns the number of rows drawn."""
        from .render import COLORS

        rows = sorted(faces, key=lambda f: -len(f[1]))[:most]
        rows.sort(key=lambda f: f[1][0])
        if not rows:
            return 0
        step = float(np.median(np.concatenate([np.diff(t) for _, t, _ in rows if len(t) > 1] or [[0.04]])))
        colour = {e: tuple(c / 255 for c in COLORS[e][::-1]) for e in labels}
        fig, ax = _plt().subplots(figsize=(9, 1.2 + 0.32 * len(rows)))
        for y, (_, times, probs) in enumerate(rows):
            times, top = np.asarray(times, float), np.asarray(probs).argmax(1)
            # runs of one top emotion, each drawn from its first frame to the next run's (or one step on)
            starts = np.flatnonzero(np.r_[True, (top[1:] != top[:-1]) | (np.diff(times) > 3 * step)])
            ends = np.r_[starts[1:], len(top)]
            for a, b in zip(starts, ends):
                until = times[b] if b < len(times) and times[b] - times[b - 1] <= 3 * step else times[b - 1] + step
                ax.broken_barh([(times[a], until - times[a])], (y - 0.4, 0.8), color=colour[labels[top[a]]])
        ax.set_yticks(range(len(rows)), [f"face {fid}" for fid, _, _ in rows], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("time (s)")
        if span:
            ax.set_xlim(0, span)
        ax.set_title(title + (f" (the {most} of {len(faces)} faces seen longest)" if len(faces) > most else ""))
        ax.grid(axis="x", alpha=0.3)
        handles = [_plt().Rectangle((0, 0), 1, 1, color=colour[e]) for e in labels]
        ax.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
        save_figure(fig, path)
        return len(rows)


def _annotated(ax, values, fmt, colors, vmin, vmax, cmap):
    im = ax.imshow(colors, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            if v is not None:
                ax.text(j, i, fmt(v), ha="center", va="center", fontsize=7)
    return im


def _chance(report: dict) -> float:
    """Accuracy by chance for the model of ``report``: one over its number of classes."""
    return 1 / len(report["clean"].get("recall") or EMOTIONS)


def robustness_heatmap(report: dict, path, title: str = "accuracy under corruption") -> None:
    """Accuracy of one model per corruption (rows) and severity (columns, then their mean), from
    :func:`facemotion.robustness.summarize`'s report; the colour runs from chance to clean."""
    plt = _plt()
    corr = report["corruptions"]
    sev = sorted({s for c in corr.values() for s in c["severities"]})
    rows = [[c["severities"][s]["accuracy"] if s in c["severities"] else None for s in sev] + [c["accuracy"]]
            for c in corr.values()]
    colors = np.array([[np.nan if v is None else v for v in r] for r in rows], float)
    fig, ax = plt.subplots(figsize=(1.0 * len(sev) + 3.5, 0.32 * len(rows) + 1.4))
    im = _annotated(ax, rows, lambda v: f"{v * 100:.1f}", colors, _chance(report), report["clean"]["accuracy"],
                    "RdYlGn")
    ax.set_xticks(range(len(sev) + 1), [f"severity {s}" for s in sev] + ["mean"])
    ax.set_yticks(range(len(rows)), [f"{n} ({c['family']})" for n, c in corr.items()], fontsize=8)
    ax.xaxis.tick_top()
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.05, label="accuracy (chance to clean)")
    save_figure(fig, path)


def recall_heatmap(report: dict, path, title: str = "per-class recall under corruption") -> None:
    """Each emotion's recall (columns) clean and under each corruption (rows, mean over its
    severities), coloured by the fraction of its clean recall that is left: an emotion that
    collapses under a condition is a red cell."""
    plt = _plt()
    clean = report["clean"]["recall"]
    labels = list(clean)  # the model's classes, in the report's order
    rows = [("clean", clean)] + [(n, c["recall"]) for n, c in report["corruptions"].items()]
    values = [[r[e] for e in labels] for _, r in rows]
    ratio = np.array([[np.nan if v is None or not clean[e] else v / clean[e] for v, e in zip(row, labels)]
                      for row in values], float)
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(rows) + 1.4))
    im = _annotated(ax, values, lambda v: f"{v * 100:.0f}", ratio, 0, 1, "RdYlGn")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(rows)), [n for n, _ in rows], fontsize=8)
    ax.xaxis.tick_top()
    ax.axhline(0.5, color="black", lw=1)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.05, label="recall / clean recall")
    save_figure(fig, path)


def robustness_models(reports: dict, path, title: str = "accuracy under corruption (mean over severities)") -> None:
    """Several models side by side: clean, each corruption (mean over its severities) and the
    mean corrupted accuracy, one row per model."""
    plt = _plt()
    names = list(next(iter(reports.values()))["corruptions"])
    cols = ["clean", *names, "mean corrupted"]
    rows = [[r["clean"]["accuracy"], *(r["corruptions"][n]["accuracy"] for n in names), r["mean_corrupted_accuracy"]]
            for r in reports.values()]
    fig, ax = plt.subplots(figsize=(0.62 * len(cols) + 2.5, 0.42 * len(rows) + 2.2))
    im = _annotated(ax, rows, lambda v: f"{v * 100:.0f}", np.array(rows, float),
                    min(_chance(r) for r in reports.values()), max(r[0] for r in rows), "RdYlGn")
    ax.set_xticks(range(len(cols)), cols, rotation=50, ha="left", fontsize=8)
    ax.set_yticks(range(len(rows)), list(reports), fontsize=8)
    ax.xaxis.tick_top()
    for x in (0.5, len(cols) - 1.5):
        ax.axvline(x, color="black", lw=1)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.03, label="accuracy")
    save_figure(fig, path)
