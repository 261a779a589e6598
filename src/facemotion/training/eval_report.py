"""``facemotion evaluate``'s report: its files in ``-o`` and its text.

Every number is given where it is defined and said to be missing where it is not (a class no face
shows has no recall, a model without contempt no likelihood on FER+'s eight).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..protocol import format_protocol


def undefined_as_none(report: dict) -> dict:
    """A class no face shows has no recall or F1, and one never answered no precision: None, not
    the 0 of a class read wrong every time."""
    for pc in report["per_class"].values():
        if not pc["support"]:
            pc["recall"] = pc["f1"] = None
    for j, pc in enumerate(report["per_class"].values()):
        if not sum(row[j] for row in report["confusion_matrix"]):
            pc["precision"] = None
    return report


# what evaluate writes in OUT; a rerun removes those of its own files this run does not write
OUTPUTS = ("confusion.png", "reliability.png", "groups.png")
REPORT = "robustness.json"  # evaluate --robustness's report, beside its figures (training.robustness)


def write_report(out: Path, report: dict, label_names, bins_before, bins_after, title: str) -> None:
    """confusion.png, reliability.png (where the probabilities cover the labels) and, last,
    report.json in ``out``: a run cut short leaves the last run's report, never a report beside
    another run's figures; figures this run does not draw are removed."""
    from ..plots import confusion, reliability
    from ..writers import write_json

    out.mkdir(parents=True, exist_ok=True)
    drawn = [out / "confusion.png"]
    confusion(report["confusion_matrix"], drawn[0],
              title=f"{title}: accuracy {report['accuracy'] * 100:.1f}%", labels=label_names)
    if bins_before is not None:
        after = f" -> {report['calibration']['ece_after']:.3f}" if "calibration" in report else ""
        drawn.append(out / "reliability.png")
        reliability(bins_before, bins_after, drawn[-1], title=f"{report['split']}: ECE {report['ece']:.3f}{after}")
    remove_stale(out, drawn)
    write_json(out / "report.json", report)


def remove_stale(out: Path, written) -> None:
    """:data:`OUTPUTS` in ``out`` that this run did not write, where an earlier evaluate wrote
    (its report.json is there): figures of other data; and an earlier ``--robustness`` run's
    report and figures (a folder holds one run's outputs). A folder of the user's own keeps its files."""
    if (out / REPORT).is_file():
        for p in figures_of(out / REPORT) | {out / REPORT}:
            p.unlink(missing_ok=True)
    if not (out / "report.json").is_file():
        return
    for name in OUTPUTS:
        if out / name not in written:
            (out / name).unlink(missing_ok=True)


def _num(v, fmt: str, scale: float = 1.0, width: int = 0, unit: str = "") -> str:
    """``v`` formatted, or "-" where it is undefined (None), right-aligned in ``width``."""
    return (f"{v * scale:{fmt}}{unit}" if v is not None else "-").rjust(width)


def distinct_names(paths) -> list[str]:
    """Each of ``paths`` by as few of its last parts as tell them apart (``int3/best.pt``,
    ``int5/best.pt``; a shipped name as it is)."""
    parts = [Path(str(p)).parts or (str(p),) for p in paths]
    for depth in range(1, max((len(p) for p in parts), default=1) + 1):
        names = ["/".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    return [str(p) for p in paths]


def format_report(r: dict) -> str:
    lines = [f"{', '.join(distinct_names(r['models']))} on {r['split']} ({r['n']} faces)"
             f"{' with ' + r['tta'] + ' TTA' if r['tta'] not in (None, False, 'none') else ''}"
             + (f", FER+ majority labels ({r.get('left_out', 0)} faces without one left out)"
                if r.get("label_source") == "ferplus" else ""),
             *([f"members chosen on val from {len(r['ensemble_candidates'])} models"]
               if "ensemble_candidates" in r else []),
             *([f"in the graph itself: {'; '.join(f'{m}: {g}' for m, g in r['in_graph'].items())}"]
               if r.get("in_graph") else []),
             f"accuracy {r['accuracy'] * 100:.2f}%   macro-F1 {r['macro_f1'] * 100:.2f}%   NLL {_num(r['nll'], '.4f')}   "
             f"ECE {_num(r['ece'], '.4f')}",
             *([f"({r['calibration_skipped']})"] if r.get("calibration_skipped") else []),
             *([f"{len(r['skipped']):,} unreadable file{'s' if len(r['skipped']) != 1 else ''} skipped (--skip-bad), "
                f"not scored: {r['skipped'][0]}"] if r.get("skipped") else [])]
    if "calibration" in r:
        c = r["calibration"]
        lines.append(f"temperature {c['temperature']:.3f} (fitted on val): ECE {c['ece_before']:.4f} -> "
                     f"{c['ece_after']:.4f}, NLL {c['nll_before']:.4f} -> {c['nll_after']:.4f}")
    lines.append(f"{'class':<10}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}")
    for e, pc in r["per_class"].items():
        lines.append(f"{e:<10}" + "".join(_num(pc[k], ".1f", 100, 10, "%") for k in ("precision", "recall", "f1"))
                     + f"{pc['support']:>9}")
    if r.get("protocol"):
        from ..datasets.splits import split_title

        lines += ["", format_protocol(r["protocol"], f"protocol on {split_title(r['split'])}"
                                      f"{' with ' + r['tta'] + ' TTA' if r['tta'] not in (None, False, 'none') else ''}")]
    return "\n".join(lines)


def figure_stem(label: str) -> str:
    """A model's label (a shipped name or a path) -> a file-name-safe stem."""
    stem = Path(label).stem if label.endswith((".onnx", ".pt")) else label
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._") or "model"


def figures_of(report: Path) -> set[Path]:
    """The figures the run that wrote ``report`` drew (none where there is no such report)."""
    import json

    try:
        labels = list(json.loads(report.read_text())["models"])
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    stems = [figure_stem(m) for m in labels]
    stems += [f"{s}_{k}" for k, s in enumerate(stems)]  # a stem two models shared
    return {report.with_name(f"{kind}_{s}.png") for s in stems for kind in ("robustness", "recall")} | {
        report.with_name("robustness_models.png")}
