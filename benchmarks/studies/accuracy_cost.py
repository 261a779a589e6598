"""Accuracy against cost: checkpoints (pruned, distilled, small architectures) side by side with
the shipped models they are meant to replace, in one table and one plot.

For each checkpoint: parameters, MFLOPs per face (the network once), PublicTest and PrivateTest
accuracy without and with flip averaging (which doubles the cost). Choices are made on
PublicTest; PrivateTest is reported.

    python benchmarks/studies/accuracy_cost.py models/vgg_fer_s.pt models/mini_xception.pt \\
        runs/prune/vgg_fer_s_p30/best.pt runs/prune/vgg_fer_s_p50/best.pt runs/prune/vgg_fer_s_p70/best.pt \\
        runs/gpu/s_mob050/best.pt runs/gpu/s_mob075/best.pt runs/gpu/s_mob100/best.pt --plot docs/accuracy_vs_mflops.png

(The pruned runs are made by the commands in docs/edge.md#pruning, the mobile_fer ones by
scripts/campaigns/gpu_campaign.sh: docs/training-log.md#gpu-runs-teachers-an-attention-model-efficient-students.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common and the product scripts
from facemotion.datasets import load_splits
from facemotion.progress import progress_bar

from _common import FER_ZIP, machine, table


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", help="torch checkpoints (.pt)")
    p.add_argument("--data", default=str(FER_ZIP))
    p.add_argument("--plot", default=None, help="write accuracy against MFLOPs to this PNG")
    a = p.parse_args()

    from facemotion.training.checkpoint import load_checkpoint, model_from_checkpoint
    from facemotion.training.evaluate import model_logits
    from facemotion.training.prune import model_cost

    d = load_splits(a.data, ("val", "test"))
    rows, points = [], []
    for ck_path in progress_bar(a.checkpoints, desc="models", unit="model"):
        ck = load_checkpoint(ck_path)
        model, _ = model_from_checkpoint(ck)
        mflops, params = model_cost(model)
        acc = {(s, t): float((model_logits(ck_path, d[s].images, tta=t).argmax(1) == d[s].labels).mean())
               for s in ("val", "test") for t in ("none", "flip")}
        path = Path(ck_path)
        name = ck.get("name") or (path.parent.name if path.stem in ("best", "last") else path.stem)
        how = f"pruned {ck['pruned']['ratio']:.0%}" if ck.get("pruned") else ck["arch"]
        rows.append([name, how, f"{params:,}", f"{mflops:.0f}", *(f"{acc[k] * 100:.2f}%" for k in
                     (("val", "none"), ("val", "flip"), ("test", "none"), ("test", "flip")))])
        points.append((name, mflops, acc[("test", "none")], 2 * mflops, acc[("test", "flip")]))
    print(f"accuracy against cost (torch, float32), {machine()}")
    print(table(["model", "what", "params", "MFLOPs", "PublicTest", "PublicTest flip", "PrivateTest",
                 "PrivateTest flip"], rows))
    if a.plot:
        from facemotion.plots import _plt, save_figure

        plt = _plt()
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for name, f1, a1, f2, a2 in points:
            ax.plot([f1, f2], [a1 * 100, a2 * 100], "-o", ms=4, label=name)
        ax.set_xscale("log")
        ax.set_xlabel("MFLOPs per face (log; the second point: with flip averaging)")
        ax.set_ylabel("PrivateTest accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        save_figure(fig, a.plot)
        print(f"wrote {a.plot}")


if __name__ == "__main__":
    main()
