"""The table users choose a model from (``facemotion models``, README.md): each shipped model's
row measured again and written into the index (``weights/models.json``, each entry's ``guide``).

For every shipped model, ``facemotion evaluate NAME --data FER --split test --json`` (PrivateTest,
the file itself) gives the recall of each class on the FER+ majority (7 classes) and on FER2013's
labels without the copies of Training faces, and the share of the faces called neutral; ``facemotion
evaluate NAME --data POSED --json`` its balanced accuracy on posed_val's photos (people no training
read, whole photos through the default detector); the faces a second are the batch-1 column of
``benchmarks/results/pipeline_classifiers.txt`` (``python benchmarks/pipeline.py
--classifier-only``, which times every shipped model in one run). What each model is for
(``use``) is written by hand in the index and kept. The measured rows also go to
``benchmarks/results/zoo.json`` with the command that made them.

    python scripts/zoo_table.py [--data ../shared/datasets/fer2013.zip] [--posed ../shared/datasets/posed_val]
    python scripts/zoo_table.py --check     # README.md's table is the index's (what a test checks)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEED = ROOT / "benchmarks" / "results" / "pipeline_classifiers.txt"
OUT = ROOT / "benchmarks" / "results" / "zoo.json"


def batch1_speeds(path: Path = SPEED) -> dict[str, int]:
    """model -> faces/s at batch 1, from the classifier-speed table."""
    rows = {}
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"[\d,]+", cells[2] or "x"):
            rows[cells[0]] = int(cells[2].replace(",", ""))
    return rows


def evaluate(name: str, data: str) -> dict:
    """One shipped model on PrivateTest as ``facemotion evaluate`` scores it."""
    cmd = [sys.executable, "-m", "facemotion", "evaluate", name, "--data", data, "--split", "test", "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if r.returncode:
        sys.exit(f"{' '.join(cmd)}: {r.stderr.strip().splitlines()[-1:]}")
    proto = json.loads(r.stdout)["protocol"]
    return {"ferplus7": proto["ferplus7"]["accuracy"], "fer2013_dedup": proto["fer2013"]["accuracy_dedup"],
            "ferplus_recall": proto["ferplus7"]["recall"], "fer2013_recall": proto["fer2013_recall"],
            "neutral_share": proto["neutral_share"]}


def posed(name: str, folder: str) -> float:
    """One shipped model's balanced accuracy on a folder of posed photos, as ``facemotion evaluate`` scores it."""
    cmd = [sys.executable, "-m", "facemotion", "evaluate", name, "--data", folder, "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if r.returncode:
        sys.exit(f"{' '.join(cmd)}: {r.stderr.strip().splitlines()[-1:]}")
    return json.loads(r.stdout)["balanced_accuracy"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "datasets" / "fer2013.zip"))
    p.add_argument("--posed", default=str(ROOT.parent / "shared" / "datasets" / "posed_val"))
    p.add_argument("--check", action="store_true", help="only compare README.md's table with the index's")
    a = p.parse_args()
    from facemotion import zoo

    if a.check:
        table = zoo.guide_table(markdown=True)
        ok = table in (ROOT / "README.md").read_text()
        print("README.md's model table is the index's" if ok else f"README.md's model table differs; it is now:\n{table}")
        return 0 if ok else 1
    speeds = batch1_speeds()
    shipped = zoo.shipped_models()
    default = zoo.default_model_name()
    order = [default, f"{default}_int8"] + [n for n in shipped if n not in (default, f"{default}_int8")]
    rows, guides = {}, {}
    for name in (n for n in order if n in shipped):
        m = evaluate(name, a.data) | {"posed_balanced": posed(name, a.posed)}
        rows[name] = m | {"faces_per_s": speeds.get(name)}
        guides[name] = shipped[name].guide | {
            "ferplus_recall": {k: round(v, 4) for k, v in m["ferplus_recall"].items()},
            "fer2013_recall": {k: round(v, 4) for k, v in m["fer2013_recall"].items()},
            "neutral_share": round(m["neutral_share"], 4), "posed_balanced": round(m["posed_balanced"], 4),
            "faces_per_s": speeds.get(name), "faces_per_s_cpu": _speed_cpu().split(";")[0]}
        print(f"{name}: FER+ 7-class {m['ferplus7'] * 100:.2f}%, FER2013 labels (duplicates out) "
              f"{m['fer2013_dedup'] * 100:.2f}%, posed photos {m['posed_balanced'] * 100:.2f}%, "
              f"{speeds.get(name)} faces/s", flush=True)
    zoo.write_index(default, {n: (shipped[n].path.name, shipped[n].card) for n in guides}, guides=guides)
    from facemotion.cpu import cpu_summary

    # the accuracies were measured here (int8 answers depend on the CPU's instruction sets); the
    # speeds come from the named file, which names its own CPU
    OUT.write_text(json.dumps({"command": "python scripts/zoo_table.py", "machine": cpu_summary(),
                               "speed": "benchmarks/results/pipeline_classifiers.txt, batch 1 (its CPU: "
                               + _speed_cpu() + ")", "models": rows}, indent=2) + "\n")
    print(zoo.guide_table(markdown=True))
    return 0


def _speed_cpu() -> str:
    """The CPU line of the speed file (the faces/s column's machine)."""
    lines = (Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "pipeline_classifiers.txt").read_text()
    return next((ln.split("faces/s, ", 1)[1] for ln in lines.splitlines() if "faces/s, " in ln), "not named")


if __name__ == "__main__":
    sys.exit(main())
