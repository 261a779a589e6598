"""Large reductions halved first (facemotion.preprocess.shrink): what is halved, what is left as it was,
and how near the halved copies stay to OpenCV's one-step area average, on a phone-sized photo."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facemotion import SAMPLE_IMAGE, EmotionRecognizer, preprocess
from facemotion.detect import SlimefaceDetector
from facemotion.detect.base import _downscale
from facemotion.preprocess import to_face48


def _phone_photo(width: int = 4032, height: int = 3024) -> np.ndarray:
    """The sample photo enlarged to a phone's 12 MP, with a camera's grain (the detail a real
    photo has at that size, which an enlargement alone lacks)."""
    image = cv2.resize(cv2.imread(SAMPLE_IMAGE), (width, height), interpolation=cv2.INTER_CUBIC)
    grain = np.random.default_rng(0).normal(0, 4, image.shape)
    return np.clip(image + grain, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("h,w,oh,ow,least,n", [
    (3024, 4032, 480, 640, 2, 1),    # 12 MP -> 640: once (2016 px, 3.15 times left)
    (2160, 3840, 225, 400, 2, 2),    # a 4K frame -> 400: twice (960 px, 2.4 times left)
    (1080, 1920, 225, 400, 2, 1),    # a 1080p frame -> 400: once
    (1500, 1500, 48, 48, 4, 2),      # a large face -> the grid: 375, then the area average
    (383, 383, 48, 48, 4, 0),        # faces under 384 px: as they were
    (1428, 2000, 457, 640, 2, 0),    # photos under 2,560 px: as they were
    (6000, 8000, 480, 640, 2, 2),
    (6000, 8000, 480, 640, 0, 0),    # least 0: never (the benchmark's baseline)
])
def test_how_often_a_picture_is_halved(h, w, oh, ow, least, n):
    assert preprocess.halvings(h, w, oh, ow, least) == n


def test_the_region_halved_is_centred_and_divides():
    for h, w, n in [(3024, 4032, 1), (3023, 4031, 1), (1001, 999, 2), (6001, 8003, 3)]:
        y, x, rows, cols = preprocess.halved_region(h, w, n)
        q = 1 << n
        assert rows % q == 0 and cols % q == 0 and h - q < rows <= h and w - q < cols <= w
        assert y == (h - rows) // 2 and x == (w - cols) // 2


def test_small_reductions_are_opencvs_own_average():
    """Photos up to 640 px (FER2013, posed_val, London, muxspace, Specs on Faces) and faces under
    384 px are shrunk as before, to the pixel."""
    image = cv2.imread(SAMPLE_IMAGE)
    for size in [(300, 200), (200, 200), (160, 160)]:  # reductions under 4 times: no halving
        want = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        assert np.array_equal(preprocess.shrink(image, size, preprocess.PICTURE_LEAST), want)
    gray = cv2.cvtColor(cv2.resize(image, (383, 383)), cv2.COLOR_BGR2GRAY)
    assert np.array_equal(to_face48(gray), cv2.resize(gray, (48, 48), interpolation=cv2.INTER_AREA))


def test_a_phone_photos_halved_copies_stay_within_a_grey_level():
    image = _phone_photo()
    size = (640, 480)
    assert preprocess.halvings(*image.shape[:2], 480, 640, preprocess.PICTURE_LEAST) == 1
    halved = preprocess.shrink(image, size, preprocess.PICTURE_LEAST).astype(int)
    off = np.abs(halved - cv2.resize(image, size, interpolation=cv2.INTER_AREA))
    assert np.percentile(off, 99) <= 1 and off.mean() < 0.3, (np.percentile(off, 99), off.mean())
    gray = cv2.cvtColor(image[200:1700, 1000:2500], cv2.COLOR_BGR2GRAY)  # a 1,500 px face's region
    off = np.abs(to_face48(gray).astype(int) - cv2.resize(gray, (48, 48), interpolation=cv2.INTER_AREA))
    assert np.percentile(off, 99) <= 1 and off.mean() < 0.5, (np.percentile(off, 99), off.mean())


def test_a_phone_photo_is_read_as_with_one_step_averages(monkeypatch):
    """The same face, its box within a few pixels of 4,032 and the same top emotion, with the
    halvings and without them (least 0: OpenCV's one-step average everywhere)."""
    image = _phone_photo()
    rec = EmotionRecognizer()
    ours = rec.analyze(image).faces
    monkeypatch.setattr(preprocess, "PICTURE_LEAST", 0)
    monkeypatch.setattr(preprocess, "FACE_LEAST", 0)
    before = rec.analyze(image).faces
    assert len(ours) == len(before) == 1
    assert max(abs(a - b) for a, b in zip(ours[0].box, before[0].box)) <= 12
    assert ours[0].dominant_emotion == before[0].dominant_emotion
    assert max(abs(ours[0].emotions[k] - before[0].emotions[k]) for k in rec.labels) < 0.05


def test_the_detectors_working_copy_is_halved():
    image = _phone_photo()
    det = SlimefaceDetector()
    small, f = _downscale(image, det.max_side)
    assert small.shape[:2] == (480, 640) and f == 640 / 4032
    assert np.array_equal(small, preprocess.shrink(image, (640, 480), preprocess.PICTURE_LEAST))
