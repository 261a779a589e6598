"""`facemotion.compat.deepface`: deepface's `DeepFace.analyze(actions=["emotion"])` in deepface's
shape, answered by facemotion's recognizer; what deepface has and facemotion does not, refused in
one line."""

from __future__ import annotations

import base64
import io
import json

import cv2
import numpy as np
import pytest

from facemotion import EmotionRecognizer, UsageError
from facemotion.compat.deepface import DeepFace, FaceNotDetected, ImgNotFound, InvalidImage


def test_records_are_the_recognizers_answers_in_deepfaces_shape(media):
    path = media / "two_people.jpg"
    got = DeepFace.analyze(str(path), actions=["emotion"])
    want = EmotionRecognizer(fold_contempt=True).analyze(path).faces
    assert len(got) == len(want) == 2
    for g, w in zip(got, want):
        assert set(g) == {"emotion", "dominant_emotion", "region", "face_confidence"}
        assert list(g["emotion"]) == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
        assert g["emotion"] == pytest.approx({e: 100 * p for e, p in w["emotions"].items()})
        assert sum(g["emotion"].values()) == pytest.approx(100, abs=1e-3)
        assert g["dominant_emotion"] == w["dominant_emotion"]
        assert (g["region"]["x"], g["region"]["y"], g["region"]["w"], g["region"]["h"]) == tuple(w["box"])
        assert g["region"]["left_eye"] is None and g["face_confidence"] == round(w["confidence"], 2)
    json.dumps(got)  # plain Python numbers, as a web app returns them
    # every input deepface takes gives the same answer: a BGR array, a data URI, a binary stream
    data = path.read_bytes()
    for source in (cv2.imread(str(path)), "data:image/jpeg;base64," + base64.b64encode(data).decode(),
                   io.BytesIO(data)):
        assert DeepFace.analyze(source, actions=("emotion",), detector_backend="retinaface") == got
    assert DeepFace.analyze(str(path), actions="emotion", max_faces=1) == got[:1]


def test_a_list_or_a_stack_gives_a_list_per_picture(media):
    one = cv2.imread(str(media / "justin.jpg"))
    got = DeepFace.analyze([str(media / "justin.jpg"), str(media / "two_people.jpg")], actions=["emotion"])
    assert [len(r) for r in got] == [1, 2] and got[0][0]["dominant_emotion"] == "happy"
    stacked = DeepFace.analyze(np.stack([one, one]), actions=["emotion"])
    assert stacked == [got[0], got[0]]
    assert DeepFace.analyze(one[None], actions=["emotion"]) == got[0]  # a stack of one is the picture
    assert DeepFace.analyze(np.zeros((0, 8, 8, 3), np.uint8), actions=["emotion"]) == []
    assert DeepFace.analyze([], actions=["emotion"]) == []


def test_no_face_raises_as_deepface_does_or_reads_the_whole_picture(media):
    path = media / "no-faces.jpg"
    with pytest.raises(FaceNotDetected, match=r"^Face could not be detected in .*no-faces\.jpg\. .*enforce_detection"):
        DeepFace.analyze(str(path), actions=["emotion"])
    assert issubclass(FaceNotDetected, ValueError)  # what deepface programs catch
    with pytest.raises(FaceNotDetected, match=r"^Face could not be detected\. Please confirm"):  # an array: no name
        DeepFace.analyze(cv2.imread(str(path)), actions=["emotion"])
    h, w = cv2.imread(str(path)).shape[:2]
    (whole,) = DeepFace.analyze(str(path), actions=["emotion"], enforce_detection=False)
    assert whole["face_confidence"] == 0 and (whole["region"]["x"], whole["region"]["w"]) == (0, w - 1)
    want = EmotionRecognizer(detector="none", fold_contempt=True).analyze(path).faces[0]
    assert whole["dominant_emotion"] == want["dominant_emotion"]
    # "skip": the picture is the face, found or not
    (skipped,) = DeepFace.analyze(str(media / "justin.jpg"), actions=["emotion"], detector_backend="skip")
    assert skipped["face_confidence"] == 0 and skipped["region"]["x"] == 0


@pytest.mark.parametrize("kwargs, said", [
    ({}, r"actions \['age', 'gender', 'race'\]: facemotion reads emotions only"),
    ({"actions": ["emotion", "age"]}, r"actions \['age'\]: facemotion reads emotions only .*actions=\['emotion'\]"),
    ({"actions": ["smile"]}, r"Invalid action passed \('smile'\)"),
    ({"actions": ["emotion"], "detector_backend": "haar"}, "detector_backend 'haar': not one of deepface's"),
    ({"actions": ["emotion"], "expand_percentage": 10}, "expand_percentage: facemotion crops each face"),
    ({"actions": ["emotion"], "anti_spoofing": True}, "anti_spoofing: facemotion has no anti-spoofing model"),
])
def test_what_facemotion_does_not_do_is_refused_in_one_line(media, kwargs, said):
    with pytest.raises(UsageError, match=said) as e:
        DeepFace.analyze(str(media / "justin.jpg"), **kwargs)
    assert "\n" not in str(e.value) and isinstance(e.value, ValueError)


def test_unreadable_pictures_and_other_functions(media, tmp_path):
    with pytest.raises(ImgNotFound, match="nope.jpg: no such file"):
        DeepFace.analyze(str(tmp_path / "nope.jpg"), actions=["emotion"])
    (tmp_path / "cut.jpg").write_bytes((media / "justin.jpg").read_bytes()[:500])
    with pytest.raises(InvalidImage, match="cut.jpg: image file is truncated") as e:
        DeepFace.analyze(str(tmp_path / "cut.jpg"), actions=["emotion"])
    assert isinstance(e.value, ValueError)
    with pytest.raises(AttributeError, match="DeepFace.verify: facemotion reads emotions only"):
        DeepFace.verify  # noqa: B018


def test_extract_faces_gives_deepfaces_records_cut_from_the_picture(media, tmp_path):
    """extract_faces: analyze's faces in its order, each cut from the picture at its box (RGB 0-1
    by default; BGR, gray, 0-255 as asked), widened as deepface widens it; a leaning face comes
    level; no face raises as analyze does, or gives the whole picture."""
    path = media / "two_people.jpg"
    image = cv2.imread(str(path))
    got = DeepFace.extract_faces(str(path))
    regions = [r["region"] for r in DeepFace.analyze(str(path), actions=["emotion"])]
    assert [g["facial_area"] for g in got] == regions and len(got) == 2
    for g in got:
        assert set(g) == {"face", "facial_area", "confidence"} and 0 < g["confidence"] <= 1
        x, y, w, h = (g["facial_area"][k] for k in "xywh")
        face = g["face"]
        assert face.dtype == np.float64 and face.min() >= 0 and face.max() <= 1 and face.shape[2] == 3
    # the level face (the other leans, and comes turned from its level box): its box's own pixels, RGB
    assert got[1]["face"].shape[:2] == (173, 173) and got[0]["face"].shape[:2] != (184, 184)
    x, y, w, h = (got[1]["facial_area"][k] for k in "xywh")
    assert np.array_equal(got[1]["face"], image[y:y + h, x:x + w, ::-1] / 255)
    assert [g["face"].shape[:2] for g in DeepFace.extract_faces(str(path), align=False)] == [(184, 184), (173, 173)]
    (bgr,) = DeepFace.extract_faces(str(media / "justin.jpg"), color_face="bgr", normalize_face=False)
    (gray,) = DeepFace.extract_faces(cv2.imread(str(media / "justin.jpg")), color_face="gray", normalize_face=False)
    assert bgr["face"].dtype == np.uint8 and gray["face"].ndim == 2
    assert np.array_equal(gray["face"], cv2.cvtColor(bgr["face"], cv2.COLOR_BGR2GRAY))
    (wide,) = DeepFace.extract_faces(str(media / "justin.jpg"), expand_percentage=20)
    a, b = bgr["facial_area"], wide["facial_area"]
    assert b["w"] > a["w"] * 1.15 and b["x"] < a["x"] and abs((b["x"] + b["w"] / 2) - (a["x"] + a["w"] / 2)) <= 1.5
    with pytest.raises(UsageError, match="The color_face can be rgb, bgr or gray, but it is hsv"):
        DeepFace.extract_faces(str(media / "justin.jpg"), color_face="hsv")
    assert [len(r) for r in DeepFace.extract_faces([str(media / "justin.jpg"), str(path)])] == [1, 2]
    # a face that leans 20 degrees comes level, as the face upright looks (and unlike its tilted cut)
    sample = cv2.imread(str(media / "justin.jpg"))
    hh, ww = sample.shape[:2]
    turned = cv2.warpAffine(sample, cv2.getRotationMatrix2D((ww / 2, hh / 2), 20, 1), (ww, hh),
                            borderMode=cv2.BORDER_REPLICATE)
    (upright,), (level,), (tilted,) = (DeepFace.extract_faces(sample), DeepFace.extract_faces(turned),
                                        DeepFace.extract_faces(turned, align=False))

    def likeness(a, b):
        return np.corrcoef(a.ravel(), cv2.resize(b, a.shape[1::-1]).ravel())[0, 1]
    assert likeness(upright["face"], level["face"]) > likeness(upright["face"], tilted["face"]) + 0.15
    with pytest.raises(FaceNotDetected, match=r"^Face could not be detected in .*no-faces\.jpg"):
        DeepFace.extract_faces(str(media / "no-faces.jpg"))
    (whole,) = DeepFace.extract_faces(str(media / "no-faces.jpg"), enforce_detection=False, normalize_face=False)
    picture = cv2.imread(str(media / "no-faces.jpg"))
    assert whole["confidence"] == 0 and np.array_equal(whole["face"], picture[:, :, ::-1])
    with pytest.raises(UsageError, match="anti_spoofing: facemotion has no anti-spoofing model"):
        DeepFace.extract_faces(str(path), anti_spoofing=True)
