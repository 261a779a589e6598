"""Bad and unusual image inputs give clear errors naming the file, or just work."""


import cv2
import numpy as np
import pytest
from PIL import Image

from facemotion.errors import ImageError
from facemotion.images import load_image

from conftest import faces_like


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match=r"nope\.jpg: no such file"):
        load_image(tmp_path / "nope.jpg")


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty\.jpg: empty file"):
        load_image(p)


def test_not_an_image(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("hello, I am text")
    with pytest.raises(ImageError, match=r"notes\.jpg: not an image file"):
        load_image(p)


def test_truncated_jpeg(tmp_path):
    img = cv2.resize(faces_like(1)[0], (400, 400))
    data = cv2.imencode(".jpg", img)[1].tobytes()
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"cut\.jpg: .*truncated"):
        load_image(p)


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(ImageError, match="is a folder"):
        load_image(tmp_path)


def test_decompression_bomb_guard(tmp_path, monkeypatch):
    import facemotion.images as images

    p = tmp_path / "big.png"
    Image.new("L", (3000, 2000)).save(p)
    monkeypatch.setattr(images, "MAX_PIXELS", 5_000_000)
    with pytest.raises(ImageError, match=r"big\.png: image is 3000x2000 \(6 MP\), over the 5 MP limit"):
        load_image(p)


def test_sixteen_bit_gray_and_rgba_and_palette(tmp_path):
    g16 = (faces_like(1)[0].astype(np.uint16) * 257)
    p = tmp_path / "g16.png"
    cv2.imwrite(str(p), g16)
    out = load_image(p)
    assert out.shape == (48, 48, 3) and out.dtype == np.uint8
    np.testing.assert_allclose(out[:, :, 0], faces_like(1)[0], atol=1)
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 0))  # fully transparent -> white background
    assert load_image(rgba)[0, 0].tolist() == [255, 255, 255]
    pal = Image.new("P", (5, 5))
    assert load_image(pal).shape == (5, 5, 3)
    la = Image.new("LA", (4, 4), (100, 128))  # gray with alpha, and its premultiplied form: alike
    assert load_image(la.convert("La")).tolist() == load_image(la).tolist()
    assert load_image(rgba.convert("RGBa"))[0, 0].tolist() == [255, 255, 255]  # premultiplied: on white too
    gray = tmp_path / "g.jpg"
    cv2.imwrite(str(gray), faces_like(1)[0])
    assert load_image(gray).shape == (48, 48, 3)


def test_exif_rotation_is_applied(tmp_path):
    img = Image.new("RGB", (60, 30), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    p = tmp_path / "rot.jpg"
    img.save(p, exif=exif)
    assert load_image(p).shape[:2] == (60, 30)  # displayed portrait, as the camera meant


def test_unsupported_array_shape():
    with pytest.raises(ImageError, match="unsupported array shape"):
        load_image(np.zeros((4, 4, 5), np.uint8))


def test_decodes_the_pixels_opencv_decodes(tmp_path):
    # PIL's RGB turned into OpenCV's BGR by cv2.cvtColor: no pixel may change
    rng = np.random.default_rng(0)
    arr = cv2.GaussianBlur(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8), (5, 5), 0)
    jpg, png, gray = tmp_path / "a.jpg", tmp_path / "a.png", tmp_path / "g.png"
    cv2.imwrite(str(jpg), arr)
    cv2.imwrite(str(png), arr)
    cv2.imwrite(str(gray), arr[:, :, 1])
    for p in (jpg, png):
        assert np.array_equal(load_image(p), cv2.imread(str(p)))
    assert np.array_equal(load_image(gray), cv2.imread(str(gray)))


def test_an_iphone_heic_photo_is_read_with_the_heif_extra_and_named_without_it(tmp_path):
    """HEIC, what iPhones save: read where pillow-heif is installed (the [heif] extra), the same
    face as the JPEG; without it, one line naming the photo's format and what reads it."""
    import subprocess
    import sys

    pillow_heif = pytest.importorskip("pillow_heif", reason="the [heif] extra (pip install pillow-heif)")
    import facemotion
    from facemotion import detect_emotions

    photo = tmp_path / "IMG_0001.HEIC"
    pillow_heif.from_pillow(Image.open(facemotion.SAMPLE_IMAGE)).save(str(photo), quality=90)
    (face,) = detect_emotions(photo)
    (jpeg,) = detect_emotions(facemotion.SAMPLE_IMAGE)
    assert face["dominant_emotion"] == jpeg["dominant_emotion"] == "happy"
    assert all(abs(a - b) <= 3 for a, b in zip(face["box"], jpeg["box"]))

    without = "import sys; sys.modules['pillow_heif'] = None; from facemotion.cli import main; sys.exit(main())"
    p = subprocess.run([sys.executable, "-c", without, "image", str(photo)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    line = next(x for x in p.stderr.splitlines() if x.startswith("error:"))
    assert "IMG_0001.HEIC: a HEIF/HEIC photo" in line and "pip install pillow-heif" in line


def test_pillows_own_limit_is_raised_only_while_a_picture_is_read(monkeypatch):
    """A host application's guard for its own pictures (Pillow's limit, the process's) is left as
    it was: raised to facemotion's while a picture within facemotion's limit is read, then put back."""
    import warnings

    from PIL import Image

    import facemotion
    from facemotion import EmotionRecognizer

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # the sample (512 x 512) is 262 times over it
    rec = EmotionRecognizer()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even Pillow's warning
        assert rec.read(facemotion.SAMPLE_IMAGE, max_pixels=10**10).pixels.shape == (512, 512, 3)
    assert Image.MAX_IMAGE_PIXELS == 1000
    assert len(rec.detect_emotions(facemotion.SAMPLE_IMAGE)) == 1 and Image.MAX_IMAGE_PIXELS == 1000


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork on this platform")
def test_a_forked_child_has_pillows_own_limit_back():
    """A child forked while another thread of its parent decoded a large picture: that decode is
    not the child's, and Pillow's limit is the host's again there."""
    import subprocess
    import sys

    code = """
import os, threading, time
from PIL import Image
from facemotion import decoding
started = threading.Event()
def hold():
    with decoding.pil_limit_at_least(500_000_000):
        started.set(); time.sleep(1)
threading.Thread(target=hold).start(); started.wait()
pid = os.fork()
if pid == 0:
    print(Image.MAX_IMAGE_PIXELS, decoding._PIL_NEEDS, flush=True); os._exit(0)
os.waitpid(pid, 0)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.split() == ["89478485", "[]"], r.stderr[-500:]
