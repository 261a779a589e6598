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
