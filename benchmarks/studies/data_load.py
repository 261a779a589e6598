"""Loading FER2013 (35,887 faces from the Kaggle zip): cold, then from the decoded-array cache.

Baseline: decoding every JPEG with PIL in a Python loop into a list (the common approach).

    python benchmarks/studies/data_load.py
"""

from __future__ import annotations

import io
import resource
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common and the product scripts
from _common import FER_ZIP, machine, table


def main():
    import os

    from PIL import Image

    t = time.perf_counter()
    with zipfile.ZipFile(FER_ZIP) as zf:
        base = [np.asarray(Image.open(io.BytesIO(zf.read(n))).convert("L")) for n in zf.namelist()
                if n.endswith(".jpg")]
    t_base = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as cache:
        os.environ["FACEMOTION_CACHE"] = cache
        from facemotion.datasets import load_splits

        t = time.perf_counter()
        d = load_splits(FER_ZIP)
        t_cold = time.perf_counter() - t
        t = time.perf_counter()
        load_splits(FER_ZIP)
        t_warm = time.perf_counter() - t
    n = sum(len(s) for s in d.values())
    assert n == len(base)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"loading {n:,} FER2013 faces from {FER_ZIP.name}, {machine()}")
    print(table(["loader", "seconds", "vs baseline"], [
        ["PIL loop (baseline)", f"{t_base:.2f}", "1.0x"],
        ["facemotion, cold", f"{t_cold:.2f}", f"{t_base / t_cold:.1f}x"],
        ["facemotion, cached", f"{t_warm:.2f}", f"{t_base / t_warm:.0f}x"],
    ]))
    print(f"peak memory of this whole script: {peak:.0f} MB; arrays: "
          f"{sum(s.images.nbytes for s in d.values()) / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
