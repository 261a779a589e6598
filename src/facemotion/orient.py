"""Sideways and upside-down photos: which way up a picture's faces are, and finding them there.

A photo saved turned without its EXIF orientation (a scan, a screenshot, a phone photo re-saved
by a tool that drops EXIF) shows every face on its side or upside down. The detectors, trained
on upright faces, miss most such faces, and read the ones they find as other emotions (an
upside-down smile reads sad). A small network (``weights/orient.onnx``,
``scripts/train_orient.py``) reads from a face's crop which quarter turn it shows, and
:func:`orient` uses it on a picture's detections:

- faces found that mostly show one quarter turn: the picture is searched again turned upright
  that way, and the faces found there are kept (turned back to the picture's pixels) where
  they are at least as many as those found, the detector is at least as sure of them, and
  they mostly read upright;
- no face found: the picture is searched turned 90 degrees each way, and the turn whose faces
  the detector is fairly sure of and mostly read upright wins (the more faces, then the more
  upright).

An upright photo's faces read upright, so it costs one pass of the network over their crops;
a photo without faces pays two more detector passes. Each face found so carries its quarter turn
(:attr:`facemotion.detect.Detection.turn`), and :func:`facemotion.align.upright` turns its crop
by it before reading what it leans beyond it: boxes, landmarks, maps and drawings stay in the
picture's own pixels. ``EmotionRecognizer(upright=False)`` (``--no-upright``) turns it off with
the lean correction. A video file's turn is found once, for all its frames
(:mod:`facemotion.video.upright`); its frames are then searched as they come.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .align import CropNetwork, shared_network, wrap_degrees
from .detect import Detection
from .preprocess import crop_faces, to_gray

ORIENT_MODEL = Path(__file__).with_name("weights") / "orient.onnx"
# the detections' mean probability (weighted by the detector's confidence) of one quarter turn
# before the picture is searched again turned that way
TURN_SHARE = 0.5
# and the faces found in the turned picture are kept where their mean probability of standing
# upright there (weighted as above) is at least this, and the detector's mean confidence in them
# at least its confidence in the faces found as the picture is (none found: MIN_CONFIDENCE).
# Chosen on the upright photos of the shared photos, posed_val, London and 400 of each of
# muxspace's and Specs on Faces' val parts, and their turned copies: none of those photos turned
# by mistake, then the most turned right (docs/robustness.md, "Sideways and upside-down photos")
UPRIGHT_SHARE = 0.5
MIN_CONFIDENCE = 0.7


class QuarterTurns(CropNetwork):
    """Face crops (N x S x S uint8 gray, the classifier's grid) -> N x 4 probabilities of the
    quarter turn each face shows: upright, turned 90 degrees counter-clockwise on screen, upside
    down, turned 90 clockwise."""

    task = "quarter_turn"

    def __init__(self, path: str | Path = ORIENT_MODEL):
        super().__init__(path)

    def probabilities(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, 4), np.float32)
        z = self.run(crops).astype(np.float64)
        e = np.exp(z - z.max(1, keepdims=True))
        return (e / e.sum(1, keepdims=True)).astype(np.float32)


def quarter_turns() -> QuarterTurns:
    """The shipped quarter-turn model, loaded once per process (its session is safe to share)."""
    return shared_network("quarter_turns", QuarterTurns)


# cv2.rotate's codes for 1, 2 and 3 quarters clockwise: the pixels of np.rot90(image, -k), made
# several times faster (a 1920 x 1440 photo: 10 ms through numpy's strided copy)
_CLOCKWISE = {1: cv2.ROTATE_90_CLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_COUNTERCLOCKWISE}


def turned_view(image: np.ndarray, k: int) -> np.ndarray:
    """``image`` turned so that a face showing quarter turn ``k`` (counter-clockwise) stands
    upright: turned ``k`` quarters clockwise."""
    k %= 4
    return image.copy() if k == 0 else cv2.rotate(np.ascontiguousarray(image), _CLOCKWISE[k])


def back_points(points, k: int, shape) -> np.ndarray:
    """Points (x, y) in :func:`turned_view` ``(image, k)`` -> the same points in ``image``
    (``shape``: its array shape), in continuous pixel coordinates (0 at a pixel's edge)."""
    p = np.asarray(points, np.float64).reshape(-1, 2)
    h, w = shape[:2]
    x, y = p[:, 0], p[:, 1]
    k %= 4
    if k == 1:  # turned a quarter clockwise: (x, y) -> (h - y, x)
        return np.stack([y, h - x], 1)
    if k == 2:
        return np.stack([w - x, h - y], 1)
    if k == 3:  # a quarter counter-clockwise: (x, y) -> (y, w - x)
        return np.stack([w - y, x], 1)
    return p


def back_detection(d, k: int, shape) -> Detection:
    """A detection in :func:`turned_view` ``(image, k)`` -> the same face in ``image``: its box
    (the turned box's corners' bounds), its landmarks, and ``turn`` (degrees in (-180, 180]:
    how far the face leans counter-clockwise there)."""
    (x, y, w, h), conf = d
    corners = back_points([(x, y), (x + w, y + h)], k, shape)
    (x0, y0), (x1, y1) = corners.min(0), corners.max(0)
    marks = getattr(d, "landmarks", None)
    if marks is not None:
        # a landmark is a pixel's centre: moved as the points half a pixel on, then back
        marks = tuple(map(tuple, back_points(np.asarray(marks, np.float64) + 0.5, k, shape) - 0.5))
    return Detection((float(x0), float(y0), float(x1 - x0), float(y1 - y0)), conf, marks,
                     turn=wrap_degrees(90.0 * k))


def turn_shares(grays: list, founds: list, net: QuarterTurns, size: int) -> list[np.ndarray]:
    """Per picture of ``grays``, the mean probability of each quarter turn over its faces
    ``founds`` (none empty), weighted by the detector's confidence (a faint false detection weighs
    little): every face of every picture through the network at once."""
    if not founds:
        return []
    crops = np.concatenate([crop_faces(g, [b for b, _ in f], size) for g, f in zip(grays, founds)])
    probs, out, at = net.probabilities(crops), [], 0
    for f in founds:
        conf = np.array([max(float(c), 1e-3) for _, c in f])
        out.append((probs[at:at + len(f)] * conf[:, None]).sum(0) / conf.sum())
        at += len(f)
    return out


def orient(detect, image: np.ndarray, found: list, *, size: int = 48, net: QuarterTurns | None = None,
           gray: np.ndarray | None = None) -> list:
    """The faces of ``image`` given ``found``, its detections as it is (``detect``: the detector's
    ``detect``): as they are where they stand upright; else as found in the picture turned upright
    (see the module's notes), each with its :attr:`~facemotion.detect.Detection.turn`. ``gray``:
    the picture in gray, where made already."""
    return orient_many(lambda views: [detect(v) for v in views], [image], [found], size=size, net=net,
                       grays=None if gray is None else [gray])[0]


def orient_many(detect_many, images: list, founds: list, *, size: int = 48, net: QuarterTurns | None = None,
                grays: list | None = None) -> list[list]:
    """:func:`orient` of many pictures: their faces through the network at once, and the turned
    pictures searched again in one ``detect_many`` call (a GPU's batch)."""
    net = net or quarter_turns()
    grays = [to_gray(im) for im in images] if grays is None else grays
    had = [i for i, f in enumerate(founds) if f]
    todo = []  # (picture, quarter turn) searched again
    for i, share in zip(had, turn_shares([grays[i] for i in had], [founds[i] for i in had], net, size)):
        k = int(share.argmax())
        if k != 0 and share[k] >= TURN_SHARE:
            todo.append((i, k))
    todo += [(i, k) for i, f in enumerate(founds) if not f for k in (1, 3)]
    if not todo:
        return list(founds)
    again = detect_many([turned_view(images[i], k) for i, k in todo])
    # the detector's own word: it finds upright faces more surely than turned ones
    least = [float(np.mean([c for _, c in f])) if f else MIN_CONFIDENCE for f in founds]
    kept = [j for j, (i, _) in enumerate(todo) if again[j] and len(again[j]) >= len(founds[i])
            and float(np.mean([c for _, c in again[j]])) >= least[i]]
    ups = turn_shares([turned_view(grays[todo[j][0]], todo[j][1]) for j in kept], [again[j] for j in kept], net, size)
    out, scores = list(founds), {}
    for j, share in zip(kept, ups):
        (i, k), score = todo[j], (len(again[j]), float(share[0]))
        if score[1] >= UPRIGHT_SHARE and (i not in scores or score > scores[i]):
            out[i], scores[i] = [back_detection(d, k, images[i].shape) for d in again[j]], score
    return out
