"""Upright faces: the roll network reads how far a real face leans, and the recognizer's crop
turns it back level (the sign matters: turning the wrong way doubles the lean)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import facemotion
from facemotion.align import RollEstimator, roll_estimator
from facemotion.errors import ModelError


@pytest.fixture(scope="module")
def sample():
    img = cv2.imread(facemotion.SAMPLE_IMAGE)
    (box, _), = facemotion.EmotionRecognizer().detect(img)
    return img, box


def _turned(img, box, angle):
    """The picture turned counter-clockwise by ``angle`` degrees about the face's centre."""
    x, y, w, h = box
    m = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), angle, 1.0)
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("angle", [-25, -15, 15, 25])
def test_the_roll_network_reads_a_faces_lean_and_its_side(sample, angle):
    img, box = sample
    rec = facemotion.EmotionRecognizer(upright=False)
    base = roll_estimator().estimate(rec.crop(img, [box]))[0]
    lean = roll_estimator().estimate(rec.crop(_turned(img, box, angle), [box]))[0]
    assert abs((lean - base) - angle) < 6, (angle, base, lean)


def test_a_leaning_face_is_cropped_level(sample):
    img, box = sample
    turned = _turned(img, box, 20)
    upright = facemotion.EmotionRecognizer().detect_crops(turned, [(box, 1.0)])
    plain = facemotion.EmotionRecognizer(upright=False).detect_crops(turned, [(box, 1.0)])
    level = facemotion.EmotionRecognizer(upright=False).crop(img, [box])[0].astype(float)
    assert plain.angles is None and upright.angles[0] > 10
    # the turned-back crop is much closer to the upright photo's crop than the leaning one
    err_upright = np.abs(upright.crops[0] - level).mean()
    err_plain = np.abs(plain.crops[0] - level).mean()
    assert err_upright < 0.6 * err_plain, (err_upright, err_plain)
    # and the lean it read afterwards is small
    assert abs(roll_estimator().estimate(upright.crops)[0]) < 8


def test_upright_faces_change_nothing_for_a_level_face(sample):
    img, box = sample
    a = facemotion.EmotionRecognizer().detect_crops(img, [(box, 1.0)])
    b = facemotion.EmotionRecognizer(upright=False).detect_crops(img, [(box, 1.0)])
    if abs(a.angles[0]) < facemotion.preprocess.UPRIGHT_MIN_DEGREES:
        np.testing.assert_array_equal(a.crops, b.crops)


def test_a_damaged_roll_model_is_one_line(tmp_path):
    bad = tmp_path / "roll.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match=r"roll.onnx: not a loadable roll model"):
        RollEstimator(bad)


def test_a_tracked_faces_lean_is_read_when_it_is_detected(sample, monkeypatch):
    """Between two detections a tracked face keeps the lean read when it was detected: the roll
    network runs on the detector's frames only, and every frame's crop is turned alike."""
    from facemotion.video.stream import FaceTracking

    img, box = sample
    turned = _turned(img, box, 20)
    calls = []
    real = RollEstimator.estimate
    monkeypatch.setattr(RollEstimator, "estimate", lambda self, crops: calls.append(len(crops)) or real(self, crops))
    rec, track = facemotion.EmotionRecognizer(), FaceTracking(every=3, smooth=0)
    faces = [track(rec, turned, i)[0] for i in range(6)]
    assert calls == [1, 1]  # frames 0 and 3
    assert all(len(f) == 1 for f in faces) and track.tracker.current()[0].lean > 10
