"""Several runs' PublicTest accuracy per epoch in one figure, read from each run's ``log.csv``
or from a checkpoint's own history (a run brought back from the GPU machine has no log here
beyond its last ship, but its ``best.pt`` carries every epoch up to the one it was written at).

    python scripts/plot_runs.py --out docs/training/campaign3_publictest.png \\
        "f_vggs, CPU=runs/cpu_f_vggs/log.csv" "f_ress, GPU (partial)=runs/gpu3/f_ress_partial.pt"

The accuracy is the log's ``val_acc``: the run's own PublicTest reading each epoch (its faces, its
labels, flip-averaged where the run evaluated so), the number ``--select acc`` chose by; it is not
``facemotion evaluate``'s FER+ protocol, so compare runs with one another here, not with a table.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def history(path: Path) -> list[tuple[int, float]]:
    """(epoch, val_acc) of every epoch ``path`` (a log.csv or a checkpoint) records."""
    if path.suffix == ".csv":
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        if rows and not {"epoch", "val_acc"} <= rows[0].keys():
            raise ValueError("has no epoch and val_acc columns")
    else:  # the whole run's history: a best.pt's own, or its sibling last.pt's where longer
        from facemotion.errors import ModelError
        from facemotion.training.checkpoint import run_history

        try:
            rows = run_history(path)
        except ModelError as e:  # it names the file and says what is wrong, in one line
            raise ValueError(str(e).removeprefix(f"{path}: ")) from None
    out = [(int(r["epoch"]), float(r["val_acc"])) for r in rows if r.get("val_acc") not in (None, "")]
    if not out:
        raise ValueError("records no epoch")
    return out




def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="NAME=PATH, PATH a run's log.csv or a checkpoint (.pt)")
    p.add_argument("--out", required=True, help="the figure (.png or .svg)")
    p.add_argument("--title", default="PublicTest accuracy per epoch (each run's own reading)")
    a = p.parse_args(argv)
    curves = []
    for spec in a.runs:  # every run is read before anything is drawn; a bad one is named in one line
        name, sep, path = spec.rpartition("=")
        if not sep or not name or not path:
            sys.exit(f"plot_runs.py: {spec!r}: write a run as NAME=PATH")
        if not Path(path).is_file():
            sys.exit(f"plot_runs.py: {path}: no such file")
        try:
            curves.append((name, history(Path(path))))
        except (ValueError, KeyError, OSError) as e:
            sys.exit(f"plot_runs.py: {path}: {e}")
    from facemotion.fileio import atomic_path
    from facemotion.plots import _plt, save_figure

    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for name, points in curves:
        ep, acc = zip(*points)
        best = max(range(len(acc)), key=acc.__getitem__)
        line, = ax.plot(ep, [100 * x for x in acc], lw=1.2, label=f"{name}: best {100 * acc[best]:.2f}% at {ep[best]}")
        ax.plot(ep[best], 100 * acc[best], "o", color=line.get_color(), ms=4)
    ax.set_xlabel("epoch")
    ax.set_ylabel("PublicTest accuracy (%)")
    lo = min(100 * x for _, pts in curves for _, x in pts[len(pts) // 4:])  # the warm-up's low start cut off
    hi = max(100 * x for _, pts in curves for _, x in pts)
    ax.set_ylim(lo - 1, hi + 0.8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(a.title, fontsize=10)
    save_figure(fig, a.out)
    if a.out.lower().endswith(".png"):  # a few flat colours: a 64-colour palette keeps it a third the size
        from PIL import Image

        with Image.open(a.out) as im:
            small = im.convert("RGB").quantize(64)
        with atomic_path(a.out) as tmp:
            small.save(tmp, format="PNG", optimize=True)
    for name, points in curves:
        print(f"{name}: {len(points)} epochs, best {100 * max(x for _, x in points):.2f}%")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
