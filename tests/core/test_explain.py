"""Explanations without torch: occlusion and RISE on the shipped ONNX model, the facial areas,
and the faithfulness measures, on real faces."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from facemotion import EmotionRecognizer
from facemotion.classify import Classifier, load_classifier
from facemotion.errors import ModelError
from facemotion.explain import REGIONS, get_explainer, region_shares
from facemotion.explain.faithfulness import auc, deletion_insertion, random_order, rank_correlation, salient_order
from facemotion.explain.regions import region_map
from facemotion.images import load_image
from facemotion.preprocess import crop_faces, normalize


class CountingClassifier(Classifier):
    """The shipped default model, recording the size of every ``predict`` call."""

    def __init__(self):
        self.inner = load_classifier(None)
        self.card, self.path, self.backend = self.inner.card, self.inner.path, self.inner.backend
        self.calls: list[int] = []

    def predict(self, batch):
        self.calls.append(len(batch))
        return self.inner.predict(batch)


@pytest.fixture(scope="module")
def shipped():
    return load_classifier(None)


def faces_of(rec, path):
    image = load_image(path)
    boxes = [b for b, _ in rec.stages.detect(image)]
    return normalize(crop_faces(image, boxes))[:, None]


def test_occlusion_maps_and_batched_calls(media):
    clf = CountingClassifier()
    rec = EmotionRecognizer(model=clf)
    (face,) = rec.explain(media / "justin.jpg")
    assert face["method"] == "occlusion" and face["target"] == face["dominant_emotion"] == "happy"
    m = face["saliency"]
    assert m.shape == (48, 48) and m.dtype == np.float32 and m.min() >= 0 and m.max() == pytest.approx(1.0)
    # 225 occluded copies + the face itself: one call, not 226 single ones (the first call is
    # the recognizer's own prediction of the face)
    assert clf.calls == [1, 226]
    assert face["regions"][0]["region"] == "mouth"  # a smile: the mouth carries the evidence
    assert sum(r["share"] for r in face["regions"]) == pytest.approx(1.0, abs=1e-3)

    clf.calls.clear()
    faces = rec.explain(media / "two_people.jpg")
    assert len(faces) == 2 and clf.calls == [2, 256, 196]  # both faces' copies share calls


def test_rise_and_a_chosen_target(media):
    clf = CountingClassifier()
    rec = EmotionRecognizer(model=clf)
    (face,) = rec.explain(media / "justin.jpg", target="sad", method="rise")
    assert face["target"] == "sad" and face["dominant_emotion"] == "happy" and face["method"] == "rise"
    assert clf.calls == [1, 256, 256]  # 512 masks in two calls
    m = face["saliency"]
    assert m.shape == (48, 48) and m.min() == 0 and m.max() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown emotion 'joy'; use one of angry"):
        rec.explain(media / "justin.jpg", target="joy")


def test_unknown_or_unusable_method_is_one_clear_error(shipped):
    with pytest.raises(ModelError, match="unknown explanation method 'lime'; available: gradcam, gradcam\\+\\+, "
                                         "occlusion, rise"):
        get_explainer("lime", shipped)
    with pytest.raises(ModelError, match=r"^model .+: gradcam needs a torch checkpoint"):
        get_explainer("gradcam", shipped)
    # another method's option: one line (it was a TypeError's traceback from `explain --layer`)
    from facemotion.errors import UsageError

    with pytest.raises(UsageError, match=r"^layer \(--layer\): not an option of the occlusion method \(it takes patch, stride\); "
                                         r"layer is Grad-CAM's \(--method gradcam, a \.pt model\)$"):
        get_explainer(None, shipped, layer="features")
    with pytest.raises(UsageError, match=r"^masks: not an option of the occlusion method"):
        get_explainer("occlusion", shipped, masks=5)


def test_regions_partition_the_grid():
    grid = region_map()
    assert set(np.unique(grid)) == set(range(len(REGIONS)))
    mouth = (grid == REGIONS.index("mouth")).astype(np.float32)
    shares = region_shares(mouth)
    assert shares[0] == {"region": "mouth", "share": 1.0, "area": round(float(mouth.mean()), 4)}
    assert region_map(96).shape == (96, 96)
    assert region_shares(np.zeros((48, 48)))[0]["share"] == 0  # no evidence: no share, no division by zero


def test_faithfulness_measures_on_a_real_face(media, shipped):
    a = np.random.default_rng(0).random((48, 48))
    assert rank_correlation(a, a) == pytest.approx(1) and rank_correlation(a, -a) == pytest.approx(-1)
    assert rank_correlation(np.zeros((48, 48)), a) == 0

    # the faces of the shared photos through Haar, justin.jpg's first (the crop these bounds were set on)
    batch = np.concatenate([faces_of(EmotionRecognizer(detector="haar"), media / name)
                            for name in ("justin.jpg", "two_people.jpg", "obama_and_biden.jpg")])
    probs = shipped.predict(batch)
    t = probs.argmax(1)
    maps = get_explainer("occlusion", shipped).explain(batch, t)
    d, i = deletion_insertion(shipped.predict, batch, t, salient_order(maps), steps=10)
    dr, ir = deletion_insertion(shipped.predict, batch, t, random_order(len(batch), 48 * 48), steps=10)
    assert d.shape == i.shape == (len(batch), 11)
    assert d[0, 0] == pytest.approx(probs[0, t[0]], abs=1e-5) and i[0, -1] == pytest.approx(probs[0, t[0]], abs=1e-5)
    # removing what occlusion found first kills justin's smile faster than removing pixels at random
    assert auc(d)[0] < 0.7 * auc(dr)[0], (auc(d), auc(dr))
    # ... and putting it back first restores an answer faster: it closes at least half of the room
    # random order leaves below the whole face's probability. Insertion starts from a blurred
    # face, and how much room that leaves depends on the model and the face (the default reads
    # this broad smile in the blurred copy alone): it is read on the face of the shared photos
    # whose blurred copy leaves the most room, chosen by that room, not by the curves compared
    room = probs[np.arange(len(batch)), t] - auc(ir)
    k = int(room.argmax())
    assert room[k] > 0.05 and auc(i)[k] - auc(ir)[k] > 0.5 * room[k], (k, auc(i), auc(ir), room)


def test_explanations_need_no_torch(media):
    code = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "captum"):
                    raise ImportError(f"No module named {{name!r}}", name=name)
        sys.meta_path.insert(0, Block())
        from facemotion import EmotionRecognizer
        from facemotion.errors import ModelError
        rec = EmotionRecognizer()
        (face,) = rec.explain({str(media / "justin.jpg")!r})
        assert face["method"] == "occlusion" and face["saliency"].shape == (48, 48)
        try:
            rec.explain({str(media / "justin.jpg")!r}, method="gradcam")
        except ModelError as e:
            # the model, not the missing extra, is what stops it: the [train] extra would not help
            assert "gradcam needs a torch checkpoint (.pt)" in str(e), e
        else:
            raise AssertionError("gradcam ran without torch")
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]


def test_the_docs_python_blocks_run(tmp_path, monkeypatch):
    import re
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "explain.md"
    blocks = re.findall(r"^```python\n(.*?)^```", doc.read_text(), flags=re.S | re.M)
    assert blocks
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__doc__"}
    for i, block in enumerate(blocks, 1):
        exec(compile(block, f"docs/explain.md python block {i}", "exec"), namespace)


def test_rise_reads_the_model_not_its_masks(media):
    """Where a smile's probability hardly moves under the masks, the plain RISE sum was the masks'
    own coverage (rank correlation 0.998): the map now weighs how much higher the probability is
    over the masks that kept a pixel, and follows the model, as occlusion does."""
    from facemotion.explain.perturb import Rise

    rec = EmotionRecognizer()
    rise = Rise(rec.stages.classifier)
    coverage = rise.keep.sum(0)
    (face,) = rec.explain(media / "obama.jpg", method="rise")
    assert abs(rank_correlation(face["saliency"], coverage)) < 0.5
    (occluded,) = rec.explain(media / "obama.jpg", method="occlusion")
    assert rank_correlation(face["saliency"], occluded["saliency"]) > 0.3
    shares = {r["region"]: r["share"] / r["area"] for r in face["regions"]}
    assert shares["mouth"] > 1.2 and shares["other"] < 1  # on the smile more than its area, off the edges


def test_perturbation_options_are_checked(media):
    """Options that left pixels without a value (a stride past the patch: NaN), a map of zeros
    (keep_prob 1) or a numpy error (masks 0) are one line naming the option."""
    from facemotion.errors import UsageError

    rec = EmotionRecognizer()
    for method, opts, name in [("occlusion", {"patch": 8, "stride": 9}, "stride"),
                               ("occlusion", {"patch": 2.5}, "patch"), ("occlusion", {"patch": 0}, "patch"),
                               ("rise", {"keep_prob": 1}, "keep_prob"), ("rise", {"keep_prob": 0}, "keep_prob"),
                               ("rise", {"masks": 0}, "masks"), ("rise", {"grid": 0}, "grid")]:
        with pytest.raises(UsageError, match=f"^{name}: "):
            rec.explain(media / "obama.jpg", method=method, **opts)


def test_a_wrong_method_or_target_is_said_without_a_face_too(media):
    """A photo without a face answered [] to a misspelt method or target (and a face's photo
    raised): both say it; an index is a whole number (True explained disgust, 2.7 fear)."""
    from facemotion.errors import UsageError

    rec = EmotionRecognizer()
    with pytest.raises(ModelError, match="unknown explanation method 'bogus'"):
        rec.explain(media / "no-faces.jpg", method="bogus")
    for target in ("bogus", True, 2.7, 99):
        with pytest.raises(UsageError, match="target"):
            rec.explain(media / "no-faces.jpg", target=target)
    assert rec.explain(media / "no-faces.jpg", target="sad") == []
    assert rec.explain(media / "obama.jpg", target=rec.labels.index("sad"))[0]["target"] == "sad"


def test_a_leaning_faces_map_lies_where_the_classifier_looked(media, tmp_path):
    """A face turned 30 degrees is read upright: its map is on the upright crop, so the crop
    written beside it is that crop (its mouth level, where the map's evidence is), and a video's
    overlay turns the map back onto the face as it leans (the detector's box is not where it lies)."""
    import cv2

    from facemotion.explain.figures import overlay_in_box, view_crop
    from facemotion.photos import explain_images

    image = load_image(media / "obama.jpg")
    h, w = image.shape[:2]
    turned = cv2.warpAffine(image, cv2.getRotationMatrix2D((w / 2, h / 3), 30, 1.0), (w, h),
                            borderMode=cv2.BORDER_REPLICATE)
    path = tmp_path / "turned.png"
    cv2.imwrite(str(path), turned)
    rec = EmotionRecognizer()
    (upright,) = rec.explain(image)
    (face,) = rec.explain(path)
    assert upright["map_lean"] == 0.0 and upright["map_box"] == upright["box"]
    assert 25 < abs(face["map_lean"]) < 35 and face["map_box"] != face["box"]
    # the crop shown is the one the map was made on: as upright as the photo's own face
    view = cv2.cvtColor(view_crop(turned, face), cv2.COLOR_BGR2GRAY)
    crop48 = cv2.resize(view, (48, 48), interpolation=cv2.INTER_AREA)
    straight = cv2.resize(cv2.cvtColor(view_crop(image, upright), cv2.COLOR_BGR2GRAY), (48, 48),
                          interpolation=cv2.INTER_AREA)
    skew = cv2.resize(cv2.cvtColor(view_crop(turned, {"box": face["box"]}), cv2.COLOR_BGR2GRAY), (48, 48),
                      interpolation=cv2.INTER_AREA)
    assert rank_correlation(crop48, straight) > rank_correlation(skew, straight) + 0.1
    (photo,) = explain_images(rec, [path], tmp_path / "out")
    written = cv2.imread(str(tmp_path / "out" / "turned_face1_crop.png"))
    assert written.shape == view.shape + (3,)
    # the overlay in the frame: the map's hottest point lands on the hottest point turned back
    heat = np.zeros((48, 48), np.float32)
    heat[40, 24] = 1  # the mouth's middle, low in the upright crop
    blank = np.zeros_like(turned)
    overlay_in_box(blank, face["map_box"], cv2.GaussianBlur(heat, (0, 0), 2) / 0.08, alpha=1.0, lean=face["map_lean"])
    red = blank[..., 2].astype(float)
    y, x = np.unravel_index(red.argmax(), red.shape)
    m = cv2.getRotationMatrix2D((w / 2, h / 3), 30, 1.0)
    mouth = m @ np.array([upright["box"][0] + upright["box"][2] / 2, upright["box"][1] + upright["box"][3] * 40 / 48, 1])
    assert np.hypot(x - mouth[0], y - mouth[1]) < 0.15 * face["box"][2]


def test_a_rerun_of_explain_leaves_no_other_answers_files(media, tmp_path):
    """Explaining a photo again after it changed (3 faces, then none) leaves the files of that
    answer only; a photo whose outputs cannot be written fails alone, and the next is explained."""
    import shutil

    from facemotion.photos import explain_images

    rec = EmotionRecognizer()
    photo, out = tmp_path / "pic.jpg", tmp_path / "out"
    shutil.copy(media / "obama_and_biden.jpg", photo)
    list(explain_images(rec, [photo], out))
    assert (out / "pic_face2_crop.png").exists() and (out / "pic_saliency.npy").exists()
    shutil.copy(media / "no-faces.jpg", photo)
    list(explain_images(rec, [photo], out))
    assert sorted(p.name for p in out.iterdir()) == ["pic_explain.json", "pic_explain.png"]
    (out / "obama_explain.json").mkdir()
    first, second = explain_images(rec, [media / "obama.jpg", media / "justin.jpg"], out)
    assert first.error and "obama_explain.json: cannot write" in first.error
    assert second.error is None and (out / "justin_explain.json").exists()


def test_an_aligned_faces_map_is_drawn_on_its_aligned_crop(media):
    """With aligned=True the classifier reads the mesh-aligned crop: the record says so, and the
    crop drawn with the map is that crop (to the landmarks' rounding)."""
    import cv2

    from facemotion.explain.figures import view_crop
    from facemotion.mesh import aligned_crop

    image = load_image(media / "obama.jpg")
    (face,) = EmotionRecognizer(aligned=True).explain(image)
    assert face["map_aligned"] is True
    seen = cv2.resize(cv2.cvtColor(view_crop(image, face), cv2.COLOR_BGR2GRAY), (48, 48), interpolation=cv2.INTER_AREA)
    read = aligned_crop(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), np.asarray(face["landmarks"], float), 48)
    assert np.abs(seen.astype(int) - read.astype(int)).mean() < 6
    assert "map_aligned" not in EmotionRecognizer().explain(image)[0]


def test_a_videos_aligned_map_is_drawn_on_the_aligned_crop(media):
    """`video --explain` with aligned=True: the overlay lies where the mesh-aligned crop the map was
    made on lies in the frame (the hottest point of a map lands on that crop's point), and moves
    with the face's box."""
    import cv2

    from facemotion.mesh import aligned_transform
    from facemotion.video.saliency import SaliencyKeeper

    image = load_image(media / "obama.jpg")
    rec = EmotionRecognizer(aligned=True)
    (face,) = rec.analyze(image).faces
    face = {**face, "face_id": 1}
    keeper = SaliencyKeeper(rec, {"every": 1})
    keeper.update(0, image, [face])
    heat = np.zeros((48, 48), np.float32)
    heat[40, 12] = 1  # low and to the left in the aligned crop
    keeper.latest[1] = (cv2.GaussianBlur(heat, (0, 0), 2) / 0.08, keeper.latest[1][1])
    moved = {**face, "box": (face["box"][0] + 30, face["box"][1] - 20, *face["box"][2:])}
    for f, shift in ((face, (0, 0)), (moved, (30, -20))):
        drawn = keeper.overlay(np.zeros_like(image), [f])[..., 2].astype(float)
        y, x = np.unravel_index(drawn.argmax(), drawn.shape)
        m = aligned_transform(np.asarray(face["landmarks"], float), 48)
        want = cv2.invertAffineTransform(m) @ np.array([12.5, 40.5, 1.0]) + shift
        assert np.hypot(x - want[0], y - want[1]) < 0.06 * face["box"][2], (x, y, want)
