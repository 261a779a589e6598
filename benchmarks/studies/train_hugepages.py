"""`facemotion train` on a CPU with and without huge pages for its tensors, in one run.

A training step at batch 512 allocates activations of hundreds of MB, and glibc hands every
freed block over 32 MB back to the kernel and maps a new one on the next step (mmap, munmap):
each step faults in every 4 KiB page again, and the kernel zeroes each one first. With
``THP_MEM_ALLOC_ENABLE=1`` (read once, at torch's first allocation) PyTorch asks the kernel
for 2 MiB pages for its blocks of 2 MB or more (``madvise(MADV_HUGEPAGE)``): far fewer faults,
but each block aligned to 2 MiB, and the kernel may compact memory to find the pages. Whether
that is faster depends on the network and the batch, so facemotion leaves the setting to the
user (docs/training.md) and this script measures it. Baseline: ``THP_MEM_ALLOC_ENABLE=0``,
PyTorch's default; ours: ``1``. Each run is the CLI as a user runs it, in a fresh process;
the figure is the last epoch's images/s from its ``log.csv`` (the first epoch warms up), the
page faults those of the whole process.

    python benchmarks/studies/train_hugepages.py [--limit 10240] [--epochs 2] [--repeat 2]

It needs the kernel's transparent huge pages in ``madvise`` or ``always`` mode
(``/sys/kernel/mm/transparent_hugepage/enabled``); under ``never`` both columns are the same.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common and the product scripts
from _common import FER_ZIP, machine, table

THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
# (what, the options after --data): the defaults a user gets, the campaign's batch, then its
# network size and augmentation (the CPU runs of docs/training-log.md), in float32 and bfloat16
CASES = [("defaults (mini_xception, batch 128)", []),
         ("mini_xception, batch 512", ["--batch-size", "512"]),
         ("vgg_fer_s, batch 512, --corrupt 0.6 --mixup 0.2", ["--arch", "vgg_fer_s", "--batch-size", "512",
                                                                 "--corrupt", "0.6", "--mixup", "0.2"]),
         ("... and --amp bf16", ["--arch", "vgg_fer_s", "--batch-size", "512", "--corrupt", "0.6", "--mixup", "0.2",
                                 "--amp", "bf16"])]


def run(data: str, opts: list[str], *, thp: str, limit: int, epochs: int) -> tuple[float, int]:
    """One ``facemotion train`` process: (the last epoch's images/s, its minor page faults)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "facemotion", "train", "--data", data, *opts, "--limit", str(limit),
               "--epochs", str(epochs), "--out", out, "--no-progress", "--no-epoch-files"]
        r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "THP_MEM_ALLOC_ENABLE": thp})
        if r.returncode:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
        with open(Path(out) / "log.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    return float(rows[-1]["img_per_s"]), resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt - before


def bf16_flags() -> str:
    """The CPU's bfloat16 instructions (what --amp bf16 runs on), from /proc/cpuinfo."""
    try:
        flags = set(next(ln for ln in open("/proc/cpuinfo") if ln.startswith("flags")).split())
    except (OSError, StopIteration):
        return "bfloat16 instructions: unknown"
    return "bfloat16 instructions: " + ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in ("avx512_bf16", "amx_bf16"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(FER_ZIP), help="FER2013 (the Kaggle zip or its folder)")
    p.add_argument("--limit", type=int, default=10240, help="training images an epoch")
    p.add_argument("--epochs", type=int, default=2, help="epochs a run (the last one is timed)")
    p.add_argument("--repeat", type=int, default=2, help="runs of each setting, alternated (the median is shown)")
    a = p.parse_args(argv)
    print(machine())
    print(bf16_flags())
    print(f"transparent huge pages: {THP.read_text().strip() if THP.exists() else 'not available'}; "
          f"{a.limit:,} images an epoch, the last of {a.epochs} epochs timed, median of {a.repeat} runs")
    rows = []
    for what, opts in CASES:
        runs = {"0": [], "1": []}
        for _ in range(a.repeat):  # alternated, so a slow spell of the machine falls on both
            for thp in runs:
                runs[thp].append(run(a.data, opts, thp=thp, limit=a.limit, epochs=a.epochs))
        (base, base_faults), (ours, ours_faults) = (map(statistics.median, zip(*runs[k])) for k in "01")
        rows.append([what, f"{base:.0f}", f"{ours:.0f}", f"{ours / base:.2f}x",
                     f"{base_faults / 1e6:.1f}M", f"{ours_faults / 1e6:.2f}M"])
    print(table(["facemotion train", "img/s baseline", "img/s ours", "ratio", "page faults baseline",
                 "page faults ours"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
