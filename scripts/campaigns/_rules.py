"""What the campaign's choice rules (docs/training-log.md) read, shared by ``rule_default.py`` and
``rule_ensemble.py``: a command run in one line on failure, PublicTest FER+ 7-class accuracy, and
the val parts' mean balanced accuracy from ``benchmarks/cross_dataset.py``'s JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

VAL_SETS = ("muxspace (val)", "Specs on Faces (val)")


def script() -> str:
    return Path(sys.argv[0]).name or "rule"


def run(what: str, *argv) -> str:
    """A command's stdout; its failure ends the script in one line, the command's last."""
    r = subprocess.run([sys.executable, *map(str, argv)], capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"{script()}: {what} failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
    return r.stdout


def facemotion(*args) -> str:
    return run(f"facemotion {args[0]}", "-m", "facemotion", *args)


def public_fer7(model: Path, fer: Path, report: Path | None = None) -> float:
    """PublicTest FER+ 7-class accuracy of an ONNX file or a shipped name. ``report`` is a
    ``facemotion evaluate -o DIR`` report.json of the same file (score_candidates.sh writes one):
    read instead of evaluating again when it is newer than the model file."""
    fresh = report is not None and report.exists() and (not model.exists()
                                                        or report.stat().st_mtime >= model.stat().st_mtime)
    if fresh:
        r = json.loads(report.read_text())
        if r.get("split") == "val" and r.get("label_source") == "ferplus":
            return float(r["protocol"]["ferplus7"]["accuracy"])
    r = json.loads(facemotion("evaluate", model, "--data", fer, "--labels", "ferplus", "--split", "val", "--json"))
    return float(r["protocol"]["ferplus7"]["accuracy"])


def val_mean(val_json: Path, model: Path) -> float:
    """The mean balanced accuracy over the val parts of muxspace and Specs on Faces, as
    ``cross_dataset.py --part val`` scored ``model`` (by its path or its file name)."""
    sets = json.loads(val_json.read_text())["sets"]
    vals = []
    for s in VAL_SETS:
        rows = sets.get(s, {}).get("models", {})
        row = next((v for k, v in rows.items() if k == str(model) or Path(k).name == model.name), None)
        if row is None:
            sys.exit(f"{script()}: {val_json}: no {s} row for {model.name} (score it with cross_dataset.py --part val)")
        vals.append(row["balanced_accuracy"])
    return sum(vals) / len(vals)
