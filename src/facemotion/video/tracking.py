"""IoU face tracking and temporal smoothing of probabilities.

Each detection is matched greedily (highest IoU first) to an existing track; unmatched
detections start new tracks with fresh ids; tracks not seen for ``max_missed`` detection
rounds are dropped (a face that leaves and comes back may get a new id). Probabilities are
smoothed per track with an exponential moving average so labels do not flicker.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..boxes import iou


def match_score(a, b, reach: float = 0.5) -> float:
    """IoU, or for a face that jumped (fast motion, a detector's jittery box, frames far apart)
    a weaker score when the centres are within ``reach`` face sizes of each other and the sizes
    are similar."""
    s = iou(a, b)
    if s > 0.3:
        return s
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    size = max(aw, ah, bw, bh)
    d = ((ax + aw / 2 - bx - bw / 2) ** 2 + (ay + ah / 2 - by - bh / 2) ** 2) ** 0.5
    ratio = (aw * ah) / max(bw * bh, 1)
    if d < reach * size and 0.4 < ratio < 2.5:
        return max(s, 0.3 * (1 - d / (reach * size)) + 0.01)
    return s




@dataclass
class Track:
    id: int
    box: tuple[int, int, int, int]
    confidence: float
    probs: np.ndarray | None = None  # smoothed
    missed: int = 0
    hits: int = 1
    history: list = field(default_factory=list)
    lean: float | None = None  # degrees, read on the last frame the face was detected (upright faces)
    level: tuple | None = None  # its level box then, relative to its box (FaceCrops.levels)
    mesh: object = None  # its landmarks on the last frame (468 x 3), which place the next mesh crop


class SceneCutDetector:
    """Flags a cut when a 32x18 gray thumbnail changes by more than ``threshold`` grey levels
    on average (measured: cuts in short_hamilton_clip.mp4 score 26-30, ordinary motion <13,
    test.mp4 at most 6.3). Costs ~0.1 ms a frame (0.4 ms a 1080p frame, 0.6 a 4K one)."""

    # a block's rows read: a large frame's every k-th row, at least this many a block (a 1080p
    # frame's every third, a 4K frame's every seventh). Every row's gray conversion and average
    # took 1.5 ms of a 1080p frame and 5.1 of a 4K one, for a thumbnail pixel that averages 60 or
    # 120 rows; read so, the shared clips enlarged to 1080p and 4K score within 0.23 of it, the
    # same cuts (the clips themselves, under 576 rows, score as before to the bit)
    BLOCK_ROWS = 16

    def __init__(self, threshold: float = 20.0):
        self.threshold = threshold
        self._prev = None

    def __call__(self, frame) -> bool:
        import cv2

        # whole blocks only (the last few rows and columns left out): OpenCV's area resize runs ~8x
        # faster at a whole ratio (596 x 336: 0.45 ms -> 0.05 ms); the scores above move by 0.1 at most
        bh, bw = max(1, frame.shape[0] // 18), max(1, frame.shape[1] // 32)
        step = max(1, bh // self.BLOCK_ROWS)  # frames under 576 rows: every row, as before
        bh -= bh % step  # each block the same rows read: a whole ratio still
        rows = frame[:18 * bh:step, :32 * bw]
        gray = rows if rows.ndim == 2 else cv2.cvtColor(rows, cv2.COLOR_BGR2GRAY)
        thumb = cv2.resize(gray, (32, 18), interpolation=cv2.INTER_AREA).astype(np.float32)
        prev, self._prev = self._prev, thumb
        return prev is not None and float(np.abs(thumb - prev).mean()) > self.threshold


class IoUTracker:
    def __init__(self, iou_threshold: float = 0.01, max_missed: int = 5, smooth: float = 0.5, reach: float = 0.5):
        if not 0 <= smooth < 1:
            raise ValueError(f"smooth must be in [0, 1), got {smooth}")
        self.iou_threshold, self.max_missed, self.smooth, self.reach = iou_threshold, max_missed, smooth, reach
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, detections) -> list[Track]:
        """New detections [(box, conf), ...] -> the live tracks they belong to (same order)."""
        pairs = sorted(((match_score(t.box, d[0], self.reach), ti, di) for ti, t in enumerate(self.tracks)
                        for di, d in enumerate(detections)), reverse=True)
        used_t, used_d, match = set(), set(), {}
        for score, ti, di in pairs:
            if score < self.iou_threshold:
                break
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            match[di] = ti
        out = []
        for di, (box, conf) in enumerate(detections):
            if di in match:
                t = self.tracks[match[di]]
                t.box, t.confidence, t.missed = tuple(box), conf, 0
                t.hits += 1
            else:
                t = Track(self._next_id, tuple(box), conf)
                self._next_id += 1
                self.tracks.append(t)
            out.append(t)
        seen = {id(t) for t in out}
        for t in self.tracks:
            if id(t) not in seen:
                t.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return out

    def reset(self) -> None:
        """Forget every track (after a scene cut); ids keep counting up, so none is reused."""
        self.tracks = []

    def current(self) -> list[Track]:
        """Tracks carried forward between detections (boxes kept as last seen)."""
        return [t for t in self.tracks if t.missed == 0]

    @classmethod
    def for_every(cls, every: int, iou_threshold: float = 0.01, max_missed: int | None = None, smooth: float = 0.5,
                  reach: float = 0.5):
        """A tracker fed every ``every``-th frame: by default a face may go undetected for ~10
        frames before its id is retired."""
        return cls(iou_threshold, max_missed if max_missed is not None else max(2, -(-10 // every)), smooth, reach)

    def smooth_probs(self, track: Track, probs: np.ndarray) -> np.ndarray:
        track.probs = ema(track.probs, probs, self.smooth)
        return track.probs


def ema(past, probs, smooth: float) -> np.ndarray:
    """A face's probabilities smoothed: ``smooth`` of its ``past`` (None: its first reading) and
    the rest of these; the one rule the stream and the batch engine smooth by."""
    probs = np.asarray(probs, np.float64)
    return probs if past is None or smooth == 0 else smooth * past + (1 - smooth) * probs
