"""Where the CPU work runs: a FIFO queue in front of a few inference threads.

Every decode, detection, classification and JPEG encode of the service goes through
:meth:`InferencePool.run`, so at most ``workers`` images are decoded or analysed at once
(memory stays bounded) and requests are served in arrival order (latency stays even under
load). :meth:`InferencePool.admit` bounds how many requests may hold a place at all; the
next one gets a 503 at once instead of a long wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
from concurrent.futures import ThreadPoolExecutor

from .limits import RequestError


class InferencePool:
    def __init__(self, make_recognizer, workers: int = 1, max_pending: int = 64):
        # one recognizer per thread: OpenCV's cascade and the detectors keep per-call state
        self._recognizers: queue.SimpleQueue = queue.SimpleQueue()
        self.recognizer = make_recognizer()
        self._recognizers.put(self.recognizer)
        for _ in range(workers - 1):
            self._recognizers.put(make_recognizer())
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="facemotion-inference")
        self.workers, self.max_pending = workers, max_pending
        self.pending = 0  # touched only on the event loop's thread

    @contextlib.contextmanager
    def admit(self):
        """Hold one of ``max_pending`` places for a request's whole life, or raise a 503."""
        if self.pending >= self.max_pending:
            raise RequestError(503, f"server busy: {self.pending} requests in progress; retry shortly")
        self.pending += 1
        try:
            yield
        finally:
            self.pending -= 1

    async def run(self, fn, *args):
        """``fn(recognizer, *args)`` on an inference thread, in arrival order."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, fn, args)

    def _call(self, fn, args):
        rec = self._recognizers.get()
        try:
            return fn(rec, *args)
        finally:
            self._recognizers.put(rec)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
