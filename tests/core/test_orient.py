"""Sideways and upside-down photos (facemotion.orient): a photo saved turned without its EXIF
orientation gives the faces, emotions and boxes of the upright photo, in its own pixels, on
every path that reads photos (the API, `image`, `batch`, `explain`, the GPU's batched path on
torch's CPU device); upright photos are left as they are."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from facemotion import EmotionRecognizer
from facemotion.detect import Detection
from facemotion.orient import QuarterTurns, back_detection, back_points, turned_view

ASSET = Path(__file__).resolve().parents[2] / "src" / "facemotion" / "assets" / "astronaut.jpg"


@pytest.fixture(scope="module")
def rec():
    return EmotionRecognizer()


def _into(box, k: int, shape) -> np.ndarray:
    """The centre of ``box`` of an upright picture of ``shape`` in ``np.rot90(picture, k)``."""
    h, w = shape[:2]
    x, y = box[0] + box[2] / 2, box[1] + box[3] / 2
    return np.array([(x, y), (y, w - x), (w - x, h - y), (h - y, x)][k % 4])


def _same_faces(rec, image: np.ndarray, k: int):
    """The upright picture's faces and those of it turned k quarters counter-clockwise, paired
    by where their centres fall."""
    base = rec.detect_emotions(image)
    turned = rec.detect_emotions(np.rot90(image, k).copy())
    assert len(turned) == len(base)
    for f in base:
        c = _into(f["box"], k, image.shape)
        g = min(turned, key=lambda g: np.hypot(*(np.add(g["box"][:2], np.divide(g["box"][2:], 2)) - c)))
        yield f, g, c


@pytest.mark.parametrize("k", [1, 2, 3])
def test_a_turned_photo_reads_as_the_upright_one(rec, k):
    image = cv2.imread(str(ASSET))
    for f, g, c in _same_faces(rec, image, k):
        centre = np.add(g["box"][:2], np.divide(g["box"][2:], 2))
        assert np.hypot(*(centre - c)) < 0.05 * f["box"][2]  # the same face, in the turned photo's pixels
        assert abs(g["box"][2] * g["box"][3] - f["box"][2] * f["box"][3]) < 0.1 * f["box"][2] * f["box"][3]
        assert g["dominant_emotion"] == f["dominant_emotion"]
        assert abs(g["emotions"][f["dominant_emotion"]] - f["emotions"][f["dominant_emotion"]]) < 0.15


@pytest.mark.parametrize("k", [1, 2, 3])
def test_the_shared_photos_turned_keep_their_faces_and_emotions(rec, media, k):
    agree = total = 0
    for path in sorted(media.glob("*.jpg")):
        image = cv2.imread(str(path))
        for f, g, _ in _same_faces(rec, image, k):
            total += 1
            agree += g["dominant_emotion"] == f["dominant_emotion"]
    assert total >= 8 and agree >= total - 1, (agree, total)


def test_without_upright_a_sideways_face_is_misread(rec):
    upright = rec.detect_emotions(ASSET)[0]["dominant_emotion"]
    image = np.rot90(cv2.imread(str(ASSET)), 1).copy()
    assert [f["dominant_emotion"] for f in EmotionRecognizer(upright=False).detect_emotions(image)] != [upright]
    assert [f["dominant_emotion"] for f in rec.detect_emotions(image)] == [upright]


def test_upright_photos_are_not_turned(rec, media):
    pictures = [cv2.imread(str(p)) for p in sorted(media.glob("*.jpg"))] + [cv2.imread(str(ASSET))]
    for image in pictures:
        assert not any(d.turn for d in rec.stages.detect_picture(image))


def test_upright_london_and_posed_photos_are_not_turned(rec):
    from conftest import SHARED

    folders = [SHARED / "datasets" / "london_faces", SHARED / "datasets" / "posed_val"]
    photos = [p for f in folders if f.is_dir() for p in sorted(f.rglob("*.jpg"))[::12]]
    if not photos:
        pytest.skip(f"London and posed_val photos not found under {SHARED / 'datasets'}")
    turned = [p.name for p in photos if any(d.turn for d in rec.stages.detect_picture(rec.read(p).pixels))]
    assert turned == [], f"{len(turned)} of {len(photos)} upright photos turned"


def test_points_and_detections_map_back_to_the_picture():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (37, 53), np.uint8)
    for k in range(4):
        view = turned_view(image, k)
        for _ in range(20):
            vy, vx = rng.integers(0, view.shape[0]), rng.integers(0, view.shape[1])
            # a pixel's centre in the view is that same pixel's centre in the picture
            x, y = back_points([(vx + 0.5, vy + 0.5)], k, image.shape)[0] - 0.5
            assert view[vy, vx] == image[int(round(y)), int(round(x))]
        d = back_detection(Detection((10, 5, 8, 6), 0.9, ((12.0, 7.0),) * 5), k, image.shape)
        assert d[1] == 0.9 and d.turn == [0.0, 90.0, 180.0, -90.0][k]
        assert sorted(d[0][2:]) == [6.0, 8.0]
        assert d.landmarks[0] == tuple(back_points([(12.5, 7.5)], k, image.shape)[0] - 0.5)


def test_a_detection_keeps_its_turn_through_a_pickle():
    import pickle

    d = pickle.loads(pickle.dumps(Detection((1, 2, 3, 4), 0.5, None, turn=90.0)))
    assert d.turn == 90.0 and d == ((1, 2, 3, 4), 0.5)


def test_another_model_file_is_refused_in_one_line():
    from facemotion.align import ROLL_MODEL
    from facemotion.errors import ModelError

    with pytest.raises(ModelError, match="not a facemotion quarter-turn model"):
        QuarterTurns(ROLL_MODEL)


def test_explain_draws_a_sideways_face_turned(rec):
    image = np.rot90(cv2.imread(str(ASSET)), 1).copy()
    (face,) = rec.explain(image)
    assert abs(face["map_lean"] - 90) < 20
    (upright,) = rec.explain(cv2.imread(str(ASSET)))
    assert face["target"] == upright["target"]


def test_image_and_batch_read_a_sideways_photo_as_the_api(rec, tmp_path):
    from facemotion.cli import main

    image = np.rot90(cv2.imread(str(ASSET)), 3).copy()
    photos = tmp_path / "in"
    photos.mkdir()
    cv2.imwrite(str(photos / "sideways.jpg"), image)
    cv2.imwrite(str(photos / "upright.jpg"), cv2.imread(str(ASSET)))
    want = {p.name: [f["dominant_emotion"] for f in rec.detect_emotions(p)] for p in photos.iterdir()}
    assert want["sideways.jpg"] == want["upright.jpg"] and len(want["upright.jpg"]) == 1
    assert main(["image", str(photos), "-o", str(tmp_path / "out")]) == 0
    record = json.loads((tmp_path / "out" / "sideways.json").read_text())
    assert [f["dominant_emotion"] for f in record["faces"]] == want["sideways.jpg"]
    assert main(["batch", str(photos), "--to", str(tmp_path / "rows.csv"), "--no-progress"]) == 0
    import pandas as pd

    rows = pd.read_csv(tmp_path / "rows.csv")
    got = {Path(p).name: list(g["dominant_emotion"]) for p, g in rows.groupby("path")}
    assert got == want


def test_the_gpu_batched_path_reads_a_sideways_photo_as_the_cpu(tmp_path):
    pytest.importorskip("torch", reason="the torch runtime needs torch (the [train] extra)")
    from facemotion.batch.inputs import Item
    from facemotion.batch.stages import detect_read, read_item
    from facemotion.cuda import torch_runtime

    dev = EmotionRecognizer(precision="float32")
    dev.stages.use_runtime(torch_runtime("cpu", autocast=False))
    paths = []
    for k in (0, 1, 2):
        paths.append(tmp_path / f"turned{k}.jpg")
        cv2.imwrite(str(paths[-1]), np.rot90(cv2.imread(str(ASSET)), k).copy())
    read = [read_item(dev, Item(i, str(p), "image", p.stem)) for i, p in enumerate(paths)]
    found = detect_read(dev, read)
    assert [d.n_faces for d in found] == [1, 1, 1]
    cpu = EmotionRecognizer(precision="float32")  # the same model on ONNX Runtime
    for d, path in zip(found, paths):
        (want,) = cpu.detect_emotions(path)
        assert np.abs(np.subtract(d.faces.boxes[0], want["box"])).max() <= 1, (path.name, d.faces.boxes, want["box"])
        probs = dev.stages.classify_crops(d.faces)[0]
        assert np.abs(probs - [want["emotions"][e] for e in dev.labels]).max() < 2e-3, path.name


def test_photos_found_together_are_those_found_one_by_one(tmp_path):
    """batch's batching path (detect_read: all photos' faces at once, a sideways one cropped on
    the host) gives each photo's faces, boxes and mesh points as the photo-by-photo path
    (detect_item) does, also for a large JPEG decoded reduced."""
    from facemotion.batch.inputs import Item
    from facemotion.batch.stages import detect_item, detect_read, read_item

    rec = EmotionRecognizer(detector="haar", mesh=True)  # Haar: a 26 MP photo is decoded at 1/4
    big = cv2.resize(cv2.imread(str(ASSET)), None, fx=10, fy=10, interpolation=cv2.INTER_CUBIC)
    paths = []
    for name, image in (("big.jpg", big), ("big_sideways.jpg", np.rot90(big, 1)), ("small.jpg", cv2.imread(str(ASSET)))):
        paths.append(tmp_path / name)
        cv2.imwrite(str(paths[-1]), np.ascontiguousarray(image))
    items = [Item(i, str(p), "image", p.stem) for i, p in enumerate(paths)]
    assert rec.read(paths[0]).reduced
    together = detect_read(rec, [read_item(rec, it) for it in items])
    for it, d in zip(items, together):
        alone = detect_item(rec, it)
        assert d.n_faces == alone.n_faces == 1, it.path
        assert np.allclose(d.faces.boxes, alone.faces.boxes)
        assert np.allclose(d.faces.meshes[0].landmarks, alone.faces.meshes[0].landmarks, atol=1e-3), it.path
        assert np.array_equal(d.faces.crops, alone.faces.crops)
        x, y, w, h = d.faces.boxes[0]  # the points in the full photo's pixels, as the box
        cx, cy = d.faces.meshes[0].landmarks[:, :2].mean(0)
        assert x < cx < x + w and y < cy < y + h, (it.path, d.faces.boxes[0], cx, cy)
