"""Property-based fuzzing (Hypothesis): whatever bytes, rows, archives or option values come
in, facemotion answers with a result or its own one-line error, never another exception.

CI runs a bounded slice (the "ci" profile below); `bash scripts/fuzz.sh` runs the long one.
"""

from __future__ import annotations

import io
import os
import tarfile
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_bad_inputs import hostile_tiff, png_declaring

import facemotion
from facemotion.errors import DataError, FacemotionError, ImageError
from facemotion.images import load_image, load_scaled

settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("long", max_examples=3000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _seed_images() -> list[bytes]:
    import cv2

    face = cv2.resize(cv2.imread(facemotion.SAMPLE_IMAGE), (64, 48))
    out = [cv2.imencode(ext, face)[1].tobytes() for ext in (".jpg", ".png", ".bmp", ".tiff", ".webp")]
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(face[:, :, 0]).save(buf, "GIF")
    # hostile files (test_bad_inputs.py): a TIFF whose page count makes PIL raise TypeError, and a
    # PNG header declaring 30000x30000 pixels (past PIL's own bomb guard)
    return out + [buf.getvalue(), hostile_tiff(), png_declaring(30_000, 30_000)]


SEEDS = _seed_images()


@st.composite
def mutated_image(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "zero"]))
        i = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[i] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            data = data[:i]
        elif kind == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=64))
        elif data:
            data[i:i + 16] = bytes(min(16, len(data) - i))
    return bytes(data)


@given(mutated_image(), st.sampled_from([None, 0.1]))
def test_any_mutated_image_decodes_or_is_an_image_error(data, scale):
    # scale 0.1: a JPEG is decoded at 1/8 in its DCT (load_scaled, what EmotionRecognizer.read does)
    try:
        img, (w, h) = load_scaled(data, None if scale is None else lambda *_: scale)
    except ImageError as e:
        assert "\n" not in str(e)
        return
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and img.size
    assert 0 < img.shape[1] <= w and 0 < img.shape[0] <= h


@given(st.one_of(
    st.builds(np.zeros, st.tuples(st.integers(0, 6), st.integers(0, 6)),
              st.sampled_from([np.uint8, np.uint16, np.int32, np.float32, np.float64, bool])),
    st.builds(lambda shape, v: np.full(shape, v), st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5)),
              st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6))),
))
def test_any_array_is_an_image_or_an_image_error(arr):
    try:
        img = load_image(arr)
    except ImageError:
        return
    assert img.dtype == np.uint8 and img.shape[:2] == arr.shape[:2]


CELL = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@given(st.lists(st.lists(st.one_of(CELL, st.sampled_from(["Training", "PublicTest", "3", "0 255 7 9",
                                                           "0 nan 7 9", "inf 0 0 0"])),
                         max_size=4), max_size=6),
       st.booleans())
def test_any_csv_loads_or_is_a_data_error(tmp_path, rows, skip_bad):
    import csv

    from facemotion.datasets import load_splits

    path = tmp_path / "fuzz.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["emotion", "pixels", "Usage"])
        w.writerows(rows)
    try:
        d = load_splits(path, ("train",), skip_bad=skip_bad, cache=False)
    except DataError as e:
        assert "\n" not in str(e)
        return
    assert d["train"].images.shape[1:] == (48, 48)


@given(st.lists(st.tuples(st.text(alphabet="abc/._-\\", min_size=1, max_size=20), st.sampled_from(SEEDS + [b"", b"x"])),
                max_size=5),
       st.sampled_from(["zip", "tar.gz", "garbage"]))
# a member past the 32 MiB cap (zeros: a few KB compressed; calloc'ed, never resident here)
@example([("train/happy/Training_1.jpg", SEEDS[0]), ("train/angry/Training_0.png", bytes(33 * 2**20))], "zip")
@example([("train/happy/Training_1.jpg", SEEDS[0]), ("train/angry/Training_0.png", bytes(33 * 2**20))], "tar.gz")
def test_any_archive_loads_or_is_a_data_error(tmp_path, members, kind):
    from facemotion.datasets import load_splits, write_subset

    path = tmp_path / f"fuzz.{kind if kind != 'garbage' else 'zip'}"
    if kind == "zip":
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in members:
                zf.writestr(name, data)
    elif kind == "tar.gz":
        with tarfile.open(path, "w:gz") as tf:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    else:
        path.write_bytes(b"".join(d for _, d in members)[:500] or b"PK\x03\x04")
    import warnings

    warnings.simplefilter("ignore", UserWarning)  # zipfile's own "duplicate name" while writing the input
    for call in (lambda: load_splits(path, ("train",), skip_bad=True, cache=False),
                 lambda: write_subset(path, tmp_path / "out.zip", ("train",))):
        try:
            call()
        except DataError as e:
            assert "\n" not in str(e)


def _options():
    """(command, option, takes a value) for every option of every command."""
    from facemotion.cli import build_parser

    out = []
    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, parser in sub.choices.items():
        subs = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        parsers = [(f"{name} {n}", p) for a in subs for n, p in a.choices.items()] or [(name, parser)]
        for cmd, p in parsers:
            for a in p._actions:
                if a.option_strings and a.dest != "help":
                    out.append((cmd, p, a.option_strings[-1], a.nargs != 0))
    return out


OPTIONS = _options()
VALUE = st.one_of(st.text(max_size=12), st.sampled_from(["-1", "0", "1", "nan", "inf", "1e400", "-0", "{}", "[]",
                                                          "2.5", "99999999999999999999", "cpu", "ensemble"]))


@pytest.mark.parametrize("cmd,parser,option,takes_value", OPTIONS, ids=[f"{c} {o}" for c, _, o, _ in OPTIONS])
@settings(max_examples=15)
@given(value=VALUE)
def test_every_cli_option_parses_or_is_a_usage_error(cmd, parser, option, takes_value, value):
    """Any value of any option either parses or ends in argparse's exit 2 with its message;
    nothing else escapes (the checks themselves are facemotion.validate's)."""
    positional = {"image": ["x.jpg"], "video": ["x.mp4"], "train": ["--data", "d"], "evaluate": ["m", "--data", "d"],
                  "export": ["m", "--to", "x"], "import": ["m", "-o", "x"], "data stats": ["d"],
                  "data subset": ["d", "--to", "x"]}.get(cmd, [])
    argv = positional + ([option, value] if takes_value else [option])
    try:
        parser.parse_args(argv)
    except SystemExit as e:
        assert e.code in (0, 2)


def test_the_api_answers_any_image_it_accepts():
    rec = facemotion.EmotionRecognizer()
    for data in SEEDS:
        try:
            faces = rec.detect_emotions(data)
        except FacemotionError:
            continue
        assert isinstance(faces, list)
