"""What a video run keeps of each face and frame for its summary and plots, kept compact.

A webcam left on for a working day at 30 frames a second gives a face about a million
readings. As Python lists of floats (a list of seven per reading, and a tuple per frame) that
grew the process by about 430 bytes a frame, over a gigabyte a day; packed in typed arrays it
is about 60 bytes (``benchmarks/studies/video_memory.py`` measures it).
"""

from __future__ import annotations

from array import array

import numpy as np


class FaceRecord:
    """One face's readings through a clip: the frames it was seen in, their times (s), its
    probabilities (one row per reading, in the run's label order) and, with the mesh, its
    measures (the same names every reading)."""

    __slots__ = ("_frames", "_times", "_probs", "width", "_names", "_measure_times", "_measures")

    def __init__(self, width: int):
        self.width = width
        self._frames, self._times, self._probs = array("q"), array("d"), array("f")
        self._names: tuple[str, ...] | None = None
        self._measure_times, self._measures = array("d"), array("f")

    @classmethod
    def of(cls, frames, probs, times=None) -> FaceRecord:
        """A record from whole lists (``times``: None, the frame numbers' own)."""
        probs = np.asarray(probs, float)
        out = cls(probs.shape[1])
        for i, t, p in zip(frames, frames if times is None else times, probs):
            out.add(int(i), float(t), p)
        return out

    def add(self, index: int, time_s: float, probs, measures: dict | None = None) -> None:
        if len(probs) != self.width:
            raise ValueError(f"a reading of {len(probs)} probabilities in a record of {self.width}")
        self._frames.append(index)
        self._times.append(time_s)
        self._probs.extend(probs)
        if measures is not None:
            names = tuple(measures)
            if self._names is None:
                self._names = names
            elif names != self._names:  # one mesh per run names the same measures every time
                raise ValueError(f"measures {names} after {self._names}")
            self._measure_times.append(time_s)
            self._measures.extend(measures[k] for k in names)

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def frames(self) -> np.ndarray:
        return np.array(self._frames, dtype=np.int64)

    @property
    def times(self) -> np.ndarray:
        return np.array(self._times, dtype=float)

    @property
    def probs(self) -> np.ndarray:
        """Readings x labels, float64 (kept as float32: far below the summary's 5 decimals)."""
        return np.array(self._probs, dtype=np.float32).astype(float).reshape(-1, self.width)

    @property
    def measures(self) -> list[tuple[float, dict]]:
        """(time, {name: value}) per reading the mesh measured, in order."""
        if self._names is None:
            return []
        values = np.array(self._measures, dtype=np.float32).astype(float).reshape(-1, len(self._names))
        return [(t, dict(zip(self._names, row.tolist()))) for t, row in zip(self._measure_times, values)]


class FrameLog:
    """Every frame's (index, time) as read, for how long each is shown."""

    __slots__ = ("_index", "_times")

    def __init__(self):
        self._index, self._times = array("q"), array("d")

    def add(self, index: int, time_s: float) -> None:
        self._index.append(index)
        self._times.append(time_s)

    def __len__(self) -> int:
        return len(self._index)

    def pairs(self) -> list[tuple[int, float]]:
        return list(zip(self._index, self._times))

    @property
    def last_time(self) -> float | None:
        return self._times[-1] if self._times else None
