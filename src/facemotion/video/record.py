"""What a video run keeps of each face and frame for its summary and plots, kept compact, and
the summary made of it (:func:`summarize`: each face's time seen and share of each emotion).

A webcam left on for a working day at 30 frames a second gives a face about a million
readings. As Python lists of floats (a list of seven per reading, and a tuple per frame) that
grew the process by about 430 bytes a frame, over a gigabyte a day; packed in typed arrays it
is about 60 bytes (``benchmarks/studies/video_memory.py`` measures it), and the summary reads
the arrays as they are (no dict or list of a frame each).
"""

from __future__ import annotations

import math
from array import array

import numpy as np

from ..labels import EMOTIONS


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
            # a measure not given (its points beyond the frame) is a gap in its line: NaN
            self._measures.extend(math.nan if measures[k] is None else measures[k] for k in names)

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def frames(self) -> np.ndarray:
        return np.array(self._frames, dtype=np.int64)

    @property
    def times(self) -> np.ndarray:
        return np.array(self._times, dtype=float)

    @property
    def probs32(self) -> np.ndarray:
        """Readings x labels as kept (float32): a long run's summary doubles nothing."""
        return np.array(self._probs, dtype=np.float32).reshape(-1, self.width)

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

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(indices, times), in the order read."""
        return np.array(self._index, dtype=np.int64), np.array(self._times, dtype=float)

    @property
    def last_time(self) -> float | None:
        return self._times[-1] if self._times else None


LIVE_HOLD = 4  # a live frame counts at most this many usual waits, or a second (frame_durations)


def frame_durations(frames: list[tuple[int, float]], fps: float, live: bool = False) -> dict[int, float]:
    """How long each frame of a clip is shown, s (``frames``: (index, time) as read): until the
    next frame read, the last as long as the one before (a lone frame: 1 / ``fps``). At a fixed
    rate each is the same; a variable rate (a phone's, which can fall from 30 frames a second to
    10 in dim light) gives each its own. ``live``: a camera's stream, where a long wait for the
    next frame is the stream stalled, not the frame on screen: a frame counts at most
    :data:`LIVE_HOLD` times the usual wait, and a second."""
    if not frames:
        return {}
    index, times = zip(*frames)
    return dict(zip(index, held_times(np.asarray(times, float), fps, live).tolist()))


def held_times(times: np.ndarray, fps: float, live: bool = False, end: float | None = None) -> np.ndarray:
    """:func:`frame_durations` as an array, for frames read at ``times`` (in order): a long run's
    summary keeps no dict of a million frames. ``end``: when the last one stops being shown (a
    sampled clip's last frame read, and its own time); None: as long as the one before it."""
    if len(times) < 2:
        return np.full(len(times), 1.0 / fps if end is None or not len(times) else max(end - times[0], 1.0 / fps))
    held = np.diff(times)
    if live:
        held = np.minimum(held, max(LIVE_HOLD * float(np.median(held)), 1.0))
    last = held[-1] if end is None else max(end - times[-1], 1.0 / fps)
    return np.r_[held, last]


def live_rate(times) -> float | None:
    """A live source's frames per second as they came (its usual wait between two frames read at
    ``times``), or None with fewer than two: a stream's own rate (FFmpeg's 25 for MJPEG) is often
    a placeholder."""
    if len(times) < 2:
        return None
    wait = float(np.median(np.diff(np.asarray(times, float))))
    return round(1.0 / wait, 2) if wait > 0 else None


def summarize(per_face: dict[int, FaceRecord], n_frames: int, fps: float, labels=EMOTIONS,
              durations=None) -> dict:
    """The video's summary: per face, its mean probability, the time it was seen and its share
    of that time per label of ``labels`` (the model's, in the order of ``per_face``'s ``probs``
    columns), each of its frames weighed by the time it is shown (``durations``:
    :func:`frame_durations`, or (the frames' indices in order, :func:`held_times`); None: 1 /
    ``fps`` each)."""
    faces = {}
    for fid, acc in sorted(per_face.items()):
        probs, frames = acc.probs32, acc.frames
        mean = probs.mean(0, dtype=np.float64)
        if isinstance(durations, tuple):
            index, each = durations
            at = np.minimum(np.searchsorted(index, frames), max(len(index) - 1, 0))
            # a frame not among those read to the end (a run that failed while writing it): 1 / fps
            known = (at < len(index)) & (index[at] == frames) if len(index) else np.zeros(len(frames), bool)
            held = np.where(known, each[at] if len(index) else 0.0, 1.0 / fps)
        else:
            held = np.array([durations.get(int(i), 1.0 / fps) if durations else 1.0 / fps for i in frames])
        dom_time = np.bincount(probs.argmax(1), weights=held, minlength=len(labels))
        faces[str(fid)] = {
            "frames_seen": int(len(probs)),
            "first_frame": int(frames[0]), "last_frame": int(frames[-1]),
            "seconds_seen": round(float(held.sum()), 3),
            "mean_probabilities": {e: round(float(p), 5) for e, p in zip(labels, mean)},
            "dominant_emotion": labels[int(mean.argmax())],
            "time_share": {e: round(float(c / held.sum()), 5) for e, c in zip(labels, dom_time)},
        }
    return {"frames": n_frames, "fps": fps, "faces": faces}
