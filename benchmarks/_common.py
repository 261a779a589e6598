"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEMOTION_SHARED", ROOT.parent / "shared"))
MEDIA = SHARED / "media"
FER_ZIP = SHARED / "datasets" / "fer2013.zip"


def baseline_checkpoint(model: str | None) -> str:
    """The committed torch checkpoint of a shipped model (default: the package default), so a
    plain-PyTorch baseline runs the same network facemotion runs."""
    from facemotion.zoo import default_model_name

    return str(ROOT / "models" / f"{model or default_model_name()}.pt")


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def timeit(fn, repeat: int = 20, warmup: int = 3) -> float:
    """Median seconds per call."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def table(headers, rows) -> str:
    cols = [[str(h)] + [str(r[i]) for r in rows] for i, h in enumerate(headers)]
    widths = [max(len(c) for c in col) for col in cols]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(str(r[i]).ljust(w) for i, w in enumerate(widths)) + " |" for r in rows]
    return "\n".join([line, sep, *body])
