"""``haar``: OpenCV's frontal-face Haar cascade (the design's detector)."""

from __future__ import annotations

import math
import threading

import cv2
import numpy as np

from ..errors import ModelError
from .base import DETECTORS, PHOTO_DETECT_SIZE, Detection, _downscale, _finish, _working_scale, decode_scale


@DETECTORS.register("haar")
class HaarDetector:
    name = "haar"

    def __init__(self, min_confidence: float = 0.5, max_side: int = PHOTO_DETECT_SIZE, scale_factor: float = 1.1,
                 min_neighbors: int = 5, min_size: int = 24, min_face_ratio: float = 1 / 12):
        # OpenCV's cascade keeps per-call state: one recognizer shared by threads (a web app's
        # thread pool) gets a cascade per thread, loaded on its first call
        self._local = threading.local()
        self.cascade  # noqa: B018 - loaded now: a missing file fails here, not at the first photo
        self.min_confidence, self.max_side = min_confidence, max_side
        self.scale_factor, self.min_neighbors, self.min_size = scale_factor, min_neighbors, min_size
        # faces under 1/12 of the short side are skipped: the cascade's cost is in its smallest
        # scales, and such faces are too small to classify well (measured: 1.3x faster, same faces)
        self.min_face_ratio = min_face_ratio

    @property
    def cascade(self):
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
                # OpenCV 5 has no cascades: another package's cv2 (opencv-python 5) took the place of ours
                raise ModelError(f"the Haar detector needs OpenCV 4, this cv2 is {getattr(cv2, '__version__', '?')} "
                                 "without cascades (another package replaced opencv-python-headless): pip install "
                                 "--force-reinstall 'opencv-python-headless<5', or 'opencv-python<5' for windows")
            path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
            cascade = self._local.cascade = cv2.CascadeClassifier(path)
            if cascade.empty():
                raise RuntimeError(f"cannot load the Haar cascade {path}; install opencv-python-headless<5")
        return cascade

    def decode_scale(self, width: int, height: int, grid: int) -> float:
        """See :func:`decode_scale`; the cascade's smallest face is min_size, or 1/12 of the
        working copy's short side where that is larger."""
        f = _working_scale(width, height, self.max_side)
        smallest = max(self.min_size, int(round(min(width, height) * f) * self.min_face_ratio))
        return decode_scale(f, smallest, grid)

    def detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        # gray first: the area resize then moves a third of the bytes (2x faster on a 1080p photo)
        gray, f = _downscale(image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), self.max_side)
        ms = max(self.min_size, int(min(gray.shape[:2]) * self.min_face_ratio))
        boxes, _, weights = self.cascade.detectMultiScale3(
            gray, self.scale_factor, self.min_neighbors, minSize=(ms, ms), outputRejectLevels=True)
        weights = np.asarray(weights).ravel()
        # last-stage weights run ~4-12 on real faces and <3 on most false positives
        raw = [(tuple(map(float, b)), 1 / (1 + math.exp(-(float(wt) - 3.0) / 1.5))) for b, wt in zip(boxes, weights)]
        return _finish(raw, f, w, h, self.min_confidence)


