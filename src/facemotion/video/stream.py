"""Per-frame recognition of a video, camera or frame iterable, with tracking and smoothing.

:func:`stream` is the iterator behind ``EmotionRecognizer.stream``: one
:class:`FrameResult` per frame; :class:`FaceTracking` is its per-frame step. They need only
the recognizer's ``detector`` and ``classify_boxes``, so they sit below the recognizer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import validate
from ..preprocess import clip_box
from ..results import make_result
from .sources import FrameSource
from .tracking import IoUTracker, SceneCutDetector


@dataclass
class FrameResult:
    index: int
    time_s: float
    frame: np.ndarray
    faces: list[dict] = field(default_factory=list)  # detect_emotions dicts + "face_id"
    detected: bool = True  # False when boxes were carried forward (--every N)


class FaceTracking:
    """The per-frame state of a stream: an IoU tracker with smoothing and a scene-cut
    detector. :func:`stream` drives one over a source; a server that receives frames one by
    one (``facemotion serve``'s WebSocket) keeps one per client and calls it per frame.

    The detector runs on every ``every``-th frame, and on the first frame after a scene cut;
    in between, tracked boxes carry forward and only the (batched) classifier runs. A cut also
    retires all face ids. ``smooth`` is the EMA weight of the past (0 = off). ``min_hits`` > 1
    shows a face only once it was detected that many times: a live view then never flashes a
    one-frame false detection (a face's first ``min_hits - 1`` detections are not shown).
    ``scene_cuts=False`` for a live camera: it has no cuts, and where frames are skipped (a
    server analysing only the newest) the jump between two analysed frames can look like one.
    ``reach``: how far, in face sizes, a face may move between two detections and keep its id
    (more where frames come far apart).
    """

    def __init__(self, *, every: int = 1, smooth: float = 0.5, iou_threshold: float = 0.01,
                 max_missed: int | None = None, min_hits: int = 1, scene_cuts: bool = True, reach: float = 0.5):
        self.every = validate.integer("every", every, 1)
        smooth = validate.number("smooth", smooth, 0, 1, hi_open=True)
        self.min_hits = min_hits
        self.tracker = IoUTracker.for_every(self.every, iou_threshold, max_missed, smooth, reach)
        self.cut = SceneCutDetector() if scene_cuts else (lambda frame: False)

    def __call__(self, recognizer, frame: np.ndarray, index: int) -> tuple[list[dict], bool]:
        """One frame -> (its faces: detect_emotions dicts + "face_id", whether the detector ran).
        ``recognizer`` needs only ``detector`` and ``classify_boxes``."""
        tracker = self.tracker
        detected = index % self.every == 0
        if self.cut(frame):  # a new shot: faces near old boxes are other people; detect afresh
            tracker.reset()
            detected = True
        tracks = tracker.update(recognizer.detector.detect(frame)) if detected else tracker.current()
        tracks = [t for t in tracks if t.hits >= self.min_hits]
        faces = []
        if tracks:
            h, w = frame.shape[:2]
            boxes = [clip_box(tr.box, w, h) for tr in tracks]  # frames may change size
            keep = [k for k, b in enumerate(boxes) if b is not None]
            tracks = [tracks[k] for k in keep]
            boxes = [boxes[k] for k in keep]
            if boxes:
                probs = recognizer.classify_boxes(frame, boxes)
                for tr, b, p in zip(tracks, boxes, probs):
                    r = make_result(b, tr.confidence, tracker.smooth_probs(tr, p))
                    r["face_id"] = tr.id
                    faces.append(r)
        return faces, detected


def stream(recognizer, source, *, every: int = 1, smooth: float = 0.5, iou_threshold: float = 0.01,
           max_missed: int | None = None):
    """Yield a :class:`FrameResult` per frame of ``source`` (path, camera index or iterable of
    frames), tracked and smoothed by a :class:`FaceTracking`."""
    track = FaceTracking(every=every, smooth=smooth, iou_threshold=iou_threshold, max_missed=max_missed)
    src = source if isinstance(source, FrameSource) else FrameSource(source)
    try:
        for i, t, frame in src:
            faces, detected = track(recognizer, frame, i)
            yield FrameResult(i, t, frame, faces, detected)
    finally:
        if src is not source:
            src.close()
