"""A plain JPEG is decoded by simplejpeg (libjpeg-turbo, the GIL released, straight into a BGR
array) and gives the very pixels Pillow's decode gives, whole, reduced in the DCT and turned as
its EXIF says; every other JPEG is left to Pillow, which names a cut file and reads a damaged one
without a word on stderr."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from facemotion import images
from facemotion.errors import ImageError
from facemotion.images import _from_pil, _open_pil, load_scaled

from conftest import MEDIA

SCALES = (None, 0.5, 0.3, 0.13, 0.01)  # whole, 1/2, 1/2, 1/4, 1/8


def _pillow(data: bytes, min_scale=None):
    """The decode without the fast path: Pillow's, as every JPEG was read before it."""
    return _from_pil(_open_pil(data, "x"), "x", None, min_scale)


@pytest.fixture
def fast_read(monkeypatch):
    """The read of a file's bytes with the fast path, or None where simplejpeg left the JPEG to
    Pillow (which may then refuse it: a cut file)."""
    decoded = []
    real = images.decode_plain_jpeg
    monkeypatch.setattr(images, "decode_plain_jpeg",
                        lambda img, data, *scans: decoded.append(real(img, data, *scans)) or decoded[-1])

    def read(data: bytes, min_scale=None):
        decoded.clear()
        try:
            out = _from_pil(_open_pil(data, "x"), "x", None, min_scale, data=data)
        except ImageError:
            out = None
        return None if decoded[-1] is None else out
    return read


def _rule(scale):
    return None if scale is None else (lambda w, h: scale)


@pytest.fixture(scope="module")
def photo():
    """A real photo (odd sides: the reduced sizes round up) as RGB pixels."""
    path = MEDIA / "two_people.jpg"
    if not path.is_file():
        pytest.skip(f"real test media not found at {MEDIA} (set FACEMOTION_SHARED to the shared/ folder)")
    img = Image.open(path).convert("RGB")
    return img.crop((0, 0, img.width - 1 - img.width % 2, img.height - img.height % 2 - 1))


def _encoded(img, **save) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, **save)
    return buf.getvalue()


def test_the_shared_jpegs_decode_to_pillows_pixels_whole_and_reduced(fast_read):
    jpegs = [p for p in sorted(MEDIA.glob("*.jp*g"))]
    if not jpegs:
        pytest.skip(f"real test media not found at {MEDIA}")
    for path in jpegs:
        data = path.read_bytes()
        for scale in SCALES:
            fast, slow = fast_read(data, _rule(scale)), _pillow(data, _rule(scale))
            assert fast is not None, path.name  # a plain JPEG: the fast path took it
            assert fast[1] == slow[1] and np.array_equal(fast[0], slow[0]), (path.name, scale)
        assert np.array_equal(load_scaled(path)[0], _pillow(data)[0])  # and it is what files get


@pytest.mark.parametrize("orientation", range(0, 9))
@pytest.mark.parametrize("mode,progressive", [("RGB", False), ("RGB", True), ("L", False)])
def test_every_exif_turn_gives_pillows_pixels_and_displayed_size(photo, orientation, mode, progressive, fast_read):
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    data = _encoded(photo.convert(mode), exif=exif, progressive=progressive)
    for scale in SCALES:
        fast, slow = fast_read(data, _rule(scale)), _pillow(data, _rule(scale))
        assert fast is not None
        assert fast[1] == slow[1] and np.array_equal(fast[0], slow[0]), scale
        assert fast[1] == (photo.size[::-1] if orientation in (5, 6, 7, 8) else photo.size)


def test_other_jpegs_are_left_to_pillow_and_read_as_before_without_noise(photo, capfd, fast_read):
    whole = _encoded(photo)
    cut = whole[: len(whole) // 2]
    damaged = bytearray(whole)
    damaged[len(whole) // 2: len(whole) // 2 + 200] = bytes(200)  # ends as a JPEG should, broken inside
    trailer = whole + b"camera maker's trailer"
    for data in (_encoded(photo.convert("CMYK")), cut, bytes(damaged), trailer):
        assert fast_read(data) is None
    assert load_scaled(bytes(damaged))[0].shape == (photo.height, photo.width, 3)  # Pillow reads what is there
    assert np.array_equal(load_scaled(trailer)[0], load_scaled(whole)[0])
    with pytest.raises(ImageError, match="truncated"):
        load_scaled(cut)
    assert capfd.readouterr().err == ""  # libjpeg's warnings are not printed


def test_a_jpeg_of_more_scans_than_encoders_write_goes_to_pillow_once(photo, fast_read):
    """simplejpeg reads libjpeg's progressive script (10 scans); a file of more than
    FAST_MAX_SCANS is unusual, and a repeated scan a warning simplejpeg (strict) refuses only after
    a whole decode: Pillow reads it, once, to Pillow's pixels."""
    from facemotion.jpeg import FAST_MAX_SCANS

    data = _encoded(photo, progressive=True)
    assert fast_read(data) is not None
    last = data.rfind(b"\xff\xda")
    many = data[:last] + data[last:-2] * (FAST_MAX_SCANS - 8) + b"\xff\xd9"  # the last scan again: 21 scans
    assert fast_read(many) is None
    np.testing.assert_array_equal(load_scaled(many)[0], _pillow(many)[0])


def test_without_simplejpeg_pillow_reads_every_jpeg_and_the_import_is_tried_once(photo, monkeypatch):
    """Where simplejpeg is not installed (pip --no-deps), a JPEG is Pillow's, pixel for pixel, and
    the missing module is looked for once: a failed import is not cached by Python, and trying
    again for every photo held the import lock that batch's decoding threads queued for."""
    import builtins
    import sys

    from facemotion import jpeg

    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    tried, real_import = [], builtins.__import__

    def counting(name, *a, **k):
        if name == "simplejpeg":
            tried.append(name)
        return real_import(name, *a, **k)

    monkeypatch.setitem(sys.modules, "simplejpeg", None)  # import simplejpeg: ImportError
    monkeypatch.setattr(jpeg, "_module", jpeg._MISSING)
    monkeypatch.setattr(builtins, "__import__", counting)
    for _ in range(3):
        got, size = _from_pil(_open_pil(data, "x"), "x", None, None, data=data)
        want, _ = _pillow(data)
        assert np.array_equal(got, want) and size == photo.size
    assert tried == ["simplejpeg"]
