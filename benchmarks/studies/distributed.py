"""One process vs ``torchrun --nproc_per_node=N`` training the same model on the same slice of
FER2013, with the same global batch (``--batch-size`` is per process: B in one process, B/N in
each of N), in one run: PublicTest accuracy, throughput and wall time.

    python benchmarks/studies/distributed.py --nproc 2 --limit 4096 --epochs 3

On one CPU machine N processes share the same cores (torch threads are split among them), so
this shows that the distributed run learns what the single one learns; the speed-up comes
from more devices (GPUs, nodes), which one process cannot use.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common and the product scripts
from _common import FER_ZIP, machine, table


def run(cmd: list[str], out: Path) -> dict:
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr[-3000:]}")
    wall = time.perf_counter() - t
    import torch

    last = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    h = last["history"]
    return {"val_acc": h[-1]["val_acc"], "val_loss": h[-1]["val_loss"], "wall": wall,
            "img_s": sum(r["img_per_s"] for r in h[1:]) / max(1, len(h) - 1) if len(h) > 1 else h[0]["img_per_s"],
            "files": sorted(p.name for p in out.iterdir())}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(FER_ZIP))
    p.add_argument("--model", default="mini_xception")
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--limit", type=int, default=4096)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64, help="global batch (one process: all of it)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    a = p.parse_args()
    common = ["train", "--data", a.data, "--arch", a.model, "--limit", str(a.limit), "--epochs", str(a.epochs),
              "--no-progress"]
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in a.seeds:
            for n in (1, a.nproc):
                out = Path(tmp) / f"n{n}_s{seed}"
                launcher = [sys.executable, "-m", "facemotion"] if n == 1 else \
                    [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}", "-m",
                     "facemotion"]
                cmd = launcher + common + ["--out", str(out), "--seed", str(seed), "--batch-size", str(a.batch_size // n)]
                r = results[(n, seed)] = run(cmd, out)
                rows.append([f"{n} process{'es' if n > 1 else ''}", seed, f"{a.batch_size // n} x {n}",
                             f"{r['val_acc'] * 100:.2f}", f"{r['val_loss']:.4f}", f"{r['img_s']:.0f}", f"{r['wall']:.1f}"])
    print(f"{machine()}; {a.model}, {a.limit} FER2013 training faces, {a.epochs} epochs, PublicTest after the last")
    print(table(["run", "seed", "batch", "val acc %", "val loss", "train img/s", "wall s"], rows))
    diffs = [results[(a.nproc, s)]["val_acc"] - results[(1, s)]["val_acc"] for s in a.seeds]
    print(f"val acc, {a.nproc} processes minus 1, per seed: " + ", ".join(f"{d * 100:+.2f}" for d in diffs) + " points")
    print(json.dumps({"files_of_a_distributed_run": results[(a.nproc, a.seeds[0])]["files"]}))


if __name__ == "__main__":
    main()
