"""Per-frame recognition of a video, camera or frame iterable, with tracking and smoothing.

:func:`stream` is the iterator behind ``EmotionRecognizer.stream``: one
:class:`FrameResult` per frame. It needs only the recognizer's ``detector`` and
``classify_boxes``, so it sits below the recognizer.
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


def stream(recognizer, source, *, every: int = 1, smooth: float = 0.5, iou_threshold: float = 0.01,
           max_missed: int | None = None):
    """Yield a :class:`FrameResult` per frame of ``source`` (path, camera index or iterable of frames).

    The detector runs on every ``every``-th frame, and on the first frame after a scene cut;
    in between, tracked boxes carry forward and only the (batched) classifier runs. A cut also
    retires all face ids. ``smooth`` is the EMA weight of the past (0 = off).
    """
    every = validate.integer("every", every, 1)
    smooth = validate.number("smooth", smooth, 0, 1, hi_open=True)
    tracker = IoUTracker.for_every(every, iou_threshold, max_missed, smooth)
    src = source if isinstance(source, FrameSource) else FrameSource(source)
    cut = SceneCutDetector()
    try:
        for i, t, frame in src:
            detected = i % every == 0
            if cut(frame):  # a new shot: faces near old boxes are other people; detect afresh
                tracker.reset()
                detected = True
            if detected:
                tracks = tracker.update(recognizer.detector.detect(frame))
            else:
                tracks = tracker.current()
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
            yield FrameResult(i, t, frame, faces, detected)
    finally:
        if src is not source:
            src.close()
