"""Where models stand on both label sets at once: PublicTest's FER+ majority (the crowd's reading,
7 classes) against FER2013's own labels (the meant expression, duplicates of Training faces out),
with the clear-expressions targets drawn as the corner they ask for (FER+ >= 83%, FER2013 >= 66%,
every FER2013-label recall >= 35%, at most 30% of the faces called neutral).

It reads what ``facemotion evaluate MODEL --data FER --labels ferplus --split val -o DIR`` wrote
(``DIR/report.json``; a folder or the file), one ``NAME=PATH`` per model, and prints a table and
draws one picture: each model a point, annotated with its weakest FER2013-label recall.

    python benchmarks/studies/label_frontier.py default=runs/frontier/wild_reweigh_resnet_s \\
        fer2013_vgg_s=runs/frontier/fer2013_vgg_s ... --out benchmarks/results/label_frontier
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import command_line, machine, table, write_results  # noqa: E402

TARGET = {"ferplus7": 0.83, "fer2013": 0.66, "recall": 0.35, "neutral": 0.30}


def read_report(spec: str) -> tuple[str, dict]:
    """``NAME=PATH`` -> (NAME, the figures the plot needs), PATH a report.json or its folder."""
    name, sep, path = spec.rpartition("=")
    if not sep:
        raise SystemExit(f"label_frontier.py: {spec}: give NAME=PATH (a facemotion evaluate report)")
    p = Path(path)
    p = p / "report.json" if p.is_dir() else p
    if not p.is_file():
        raise SystemExit(f"label_frontier.py: {p}: no such report (run facemotion evaluate ... -o DIR first)")
    proto = json.loads(p.read_text()).get("protocol")
    if not proto or "fer2013" not in proto:
        raise SystemExit(f"label_frontier.py: {p}: no FER2013/FER+ protocol in it (evaluate with --labels ferplus)")
    recall = {k: v for k, v in proto["fer2013_recall"].items() if v is not None}  # None: no face of it
    weakest = min(recall, key=recall.get)
    return name, {"ferplus7": proto["ferplus7"]["accuracy"], "fer2013": proto["fer2013"]["accuracy_dedup"],
                  "weakest": weakest, "weakest_recall": recall[weakest], "fear": recall.get("fear"),
                  "neutral": proto["neutral_share"], "report": str(p)}


def meets(f: dict) -> bool:
    return (f["ferplus7"] >= TARGET["ferplus7"] and f["fer2013"] >= TARGET["fer2013"]
            and f["weakest_recall"] >= TARGET["recall"] and f["neutral"] <= TARGET["neutral"])


def plot(points: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 7))
    xs = [f["ferplus7"] * 100 for f in points.values()] + [TARGET["ferplus7"] * 100]
    ys = [f["fer2013"] * 100 for f in points.values()] + [TARGET["fer2013"] * 100]
    x0, x1, y0, y1 = min(xs) - 2, max(xs) + 2, min(ys) - 2, max(ys) + 2
    ax.fill_between([TARGET["ferplus7"] * 100, x1], TARGET["fer2013"] * 100, y1, color="tab:green", alpha=0.15,
                    label="the targets (and every recall >= 35%, <= 30% neutral)")
    for i, (name, f) in enumerate(points.items(), 1):
        # numbered points, their names in the legend: close points' labels would overlap
        x, y = f["ferplus7"] * 100, f["fer2013"] * 100
        ax.scatter(x, y, color="tab:green" if meets(f) else "tab:blue", zorder=3,
                   label=f"{i}  {name}: {f['ferplus7'] * 100:.1f} / {f['fer2013'] * 100:.1f}; {f['weakest']} "
                         f"{f['weakest_recall'] * 100:.0f}%, neutral {f['neutral'] * 100:.0f}%")
        ax.annotate(str(i), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="PublicTest, FER+ majority (7 classes), %",
           ylabel="PublicTest, FER2013 labels (duplicates out), %",
           title="the crowd's reading against the meant expression")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=7, frameon=False)
    fig.text(0.01, 0.005, f"facemotion evaluate on {machine()}", fontsize=6, alpha=0.7)
    fig.tight_layout()
    # the CPU in the file's own text too (a PNG tEXt chunk), not only drawn in its pixels
    fig.savefig(out.with_suffix(".png"), dpi=110, metadata={"Description": f"facemotion evaluate on {machine()}"})
    plt.close(fig)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("reports", nargs="+", metavar="NAME=PATH", help="facemotion evaluate's report.json (or its folder)")
    p.add_argument("--out", type=Path, default=None, help="write OUT.png, OUT.txt and OUT.json")
    args = p.parse_args(argv)
    points = dict(read_report(s) for s in args.reports)
    rows = [[n, f"{f['ferplus7'] * 100:.2f}%", f"{f['fer2013'] * 100:.2f}%", f"{(f['ferplus7'] + f['fer2013']) * 100:.2f}",
             f"{f['weakest']} {f['weakest_recall'] * 100:.1f}%", f"{f['fear'] * 100:.1f}%", f"{f['neutral'] * 100:.1f}%",
             "yes" if meets(f) else "no"] for n, f in points.items()]
    # the reports are facemotion evaluate's, made where this runs (their CPU decides int8's kernels)
    text = "\n".join([command_line(__file__, argv), f"the reports made on: {machine()}", "", table(
        ["model", "FER+ 7-class", "FER2013, dups out", "sum", "weakest FER2013 recall", "fear", "called neutral",
         "meets the targets"], rows)])
    print(text)
    if args.out:
        write_results(args.out, text, {"targets": TARGET, "models": points})
        plot(points, args.out)
    return points


if __name__ == "__main__":
    main()
