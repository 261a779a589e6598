"""int8 models: `facemotion quantize` (calibrated on Training faces, checked against the float
model on PublicTest) and the shipped int8 variants, selectable by name or by precision."""

import json

import numpy as np
import pytest

import facemotion
from facemotion.classify import load_classifier
from facemotion.errors import ModelError

pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def float_onnx(tiny_checkpoint, tmp_path_factory):
    """The tiny checkpoint as `facemotion export` writes it, once for the tests that quantize it
    (an export costs seconds); each test copies it as its f.onnx."""
    from facemotion.cli import main

    path = tmp_path_factory.mktemp("float") / "f.onnx"
    assert main(["export", str(tiny_checkpoint), "--to", str(path)]) == 0
    return path


def _copy(path, tmp_path):
    import shutil

    shutil.copy(path, tmp_path / "f.onnx")


def test_quantize_writes_a_checked_int8_model(float_onnx, kaggle_zip, tmp_path, capsys):
    from facemotion.cli import main

    _copy(float_onnx, tmp_path)
    assert main(["quantize", str(tmp_path / "f.onnx"), "--to", str(tmp_path / "q.onnx"), "--data", str(kaggle_zip),
                 "--calibration", "16"]) == 0
    assert "top-1 agreement" in capsys.readouterr().out
    q = load_classifier(tmp_path / "q.onnx")
    assert q.card.weights_dtype == "int8" and q.card.training["quantized_from"] == "f.onnx"
    # calibrated on Training, never a test split; the faces it had (the tiny set holds 12), not the 16 asked for
    assert q.card.training["calibration"] == "12 Training faces, seed 0"
    check = json.loads((tmp_path / "q.onnx.check.json").read_text())
    assert check["split"] == "PublicTest" and 0 <= check["top1_agreement"] <= 1
    assert check["int8_public_test"] == q.card.metrics["public_test"]
    # asked for as int8, an int8 file of one's own is what was asked for: run as it is
    assert facemotion.EmotionRecognizer(model=str(tmp_path / "q.onnx"), precision="int8").model_card.weights_dtype == "int8"
    with pytest.raises(ModelError, match="picks a variant of a shipped model by name"):
        facemotion.EmotionRecognizer(model=str(tmp_path / "f.onnx"), precision="int8")
    faces = np.random.default_rng(0).integers(0, 255, (5, 48, 48), dtype=np.uint8)
    p = q.classify_faces(faces)
    assert p.shape == (5, 7) and np.allclose(p.sum(1), 1, atol=1e-3)
    assert main(["quantize", str(tmp_path / "q.onnx"), "--to", str(tmp_path / "qq.onnx"), "--data", str(kaggle_zip)]) == 1
    assert "q.onnx: already int8" in capsys.readouterr().err and not (tmp_path / "qq.onnx").exists()


def test_quantize_takes_your_own_folder_of_crops(float_onnx, tmp_path, capsys):
    """A folder of <emotion>/<crop> without a val/ part (what `data crops` writes): calibrated on
    its faces, checked on a tenth held out (it said `missing split(s) val`)."""
    import cv2

    from facemotion.cli import main

    from conftest import faces_like

    faces = faces_like(40)
    for i, folder in enumerate(("happy", "sad", "angry", "neutral") * 10):
        (tmp_path / "faces" / folder).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / "faces" / folder / f"{i}.png"), faces[i])
    _copy(float_onnx, tmp_path)
    assert main(["quantize", str(tmp_path / "f.onnx"), "--to", str(tmp_path / "q.onnx"), "--data",
                 str(tmp_path / "faces")]) == 0
    assert "a tenth of the folder, held out: " in capsys.readouterr().out
    check = json.loads((tmp_path / "q.onnx.check.json").read_text())
    q = load_classifier(tmp_path / "q.onnx")
    assert check["faces"] == 4 and "36 training faces" in q.card.training["calibration"]
    assert q.card.metrics == {"val_acc": check["int8_public_test"]}
    # too few faces of each emotion for a tenth to hold any out: one line, no file (it was a traceback)
    for folder in (tmp_path / "faces").iterdir():  # two of each emotion: round(0.2) holds out none
        for crop in sorted(folder.iterdir())[2:]:
            crop.unlink()
    assert main(["quantize", str(tmp_path / "f.onnx"), "--to", str(tmp_path / "q2.onnx"), "--data",
                 str(tmp_path / "faces")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"error: {tmp_path / 'faces'}: no faces to check the int8 model on (a tenth of each emotion's "
                       "faces, rounded, holds out none of its 8); give 6 faces or more of an emotion, or a folder "
                       "with a val part")
    assert not (tmp_path / "q2.onnx").exists()


def _int8_weights(path):
    from onnx import TensorProto, load, numpy_helper

    return [numpy_helper.to_array(t) for t in load(str(path)).graph.initializer if t.data_type == TensorProto.INT8]


def test_default_scheme_is_exact_and_recorded_in_the_card(float_onnx, kaggle_zip, tmp_path, capsys):
    """The default: 7-bit weights (no int16 saturation on x86 without VNNI), the whole graph up to
    the last linear layer in uint8, the head float; the scheme is in the card. The scheme of
    earlier versions stays available by name."""
    import onnx

    from facemotion.cli import main
    from facemotion.training.quantize import DEFAULT_SCHEME, LEGACY_SCHEME, SCHEMES

    assert SCHEMES[DEFAULT_SCHEME].exact and not SCHEMES[LEGACY_SCHEME].exact
    _copy(float_onnx, tmp_path)
    assert main(["quantize", str(tmp_path / "f.onnx"), "--to", str(tmp_path / "q.onnx"), "--data", str(kaggle_zip),
                 "--calibration", "16"]) == 0
    got = capsys.readouterr()
    assert f"({DEFAULT_SCHEME}," in got.out and "--calibration 16: " in got.err and \
        "has 12 training faces, all of them used" in got.err  # more than there are: said
    q = load_classifier(tmp_path / "q.onnx").card.quantization
    assert q["scheme"] == DEFAULT_SCHEME and q["exact_across_cpus"] is True and q["weights"].startswith("int7")
    assert "12 Training faces" in q["activations"] and "Relu" in q["ops"]
    w = _int8_weights(tmp_path / "q.onnx")
    assert w and max(int(np.abs(a.astype(np.int32)).max()) for a in w) <= 64  # 2 * 255 * 64 fits an int16
    graph = onnx.load(str(tmp_path / "q.onnx")).graph
    made_by = {o: n.op_type for n in graph.node for o in n.output}
    softmax = [n for n in graph.node if n.op_type == "Softmax"]
    assert softmax and all(made_by.get(n.input[0]) != "DequantizeLinear" for n in softmax)  # the head stays float
    assert json.loads((tmp_path / "q.onnx.check.json").read_text())["scheme"] == DEFAULT_SCHEME

    assert main(["quantize", str(tmp_path / "f.onnx"), "--to", str(tmp_path / "old.onnx"), "--data", str(kaggle_zip),
                 "--calibration", "16", "--scheme", LEGACY_SCHEME]) == 0
    old = load_classifier(tmp_path / "old.onnx").card.quantization
    assert old["scheme"] == LEGACY_SCHEME and old["exact_across_cpus"] is False and old["ops"] == ["Conv", "MatMul", "Gemm"]
    with pytest.raises(SystemExit):
        main(["quantize", str(tmp_path / "f.onnx"), "--to", str(tmp_path / "x.onnx"), "--data", str(kaggle_zip),
              "--scheme", "u8s9"])
    assert "--scheme: invalid choice: 'u8s9'" in capsys.readouterr().err


def test_head_and_linear_layers_are_found_in_an_ensemble_graph(tiny_checkpoint, tmp_path):
    """The nodes after each member's last linear layer (averages, temperature, softmax) stay float;
    the first and last linear layers are the ones a scheme may keep float."""
    import onnx

    from facemotion.training.export import export_onnx
    from facemotion.training.quantize import head_nodes, linear_nodes

    # an ensemble graph as `export` writes one (the shipped ensemble is int8 only)
    export_onnx([tiny_checkpoint, tiny_checkpoint], tmp_path / "ens.onnx", temperature=0.8, tta=True)
    proto = onnx.load(str(tmp_path / "ens.onnx"))
    first, last = linear_nodes(proto)
    by_name = {n.name: n for n in proto.graph.node}
    assert len(first) == 1 and by_name[first[0]].op_type == "Conv"
    assert len(last) == 2 and {by_name[n].op_type for n in last} == {"Conv"}  # mini_xception's head: a conv
    head = {by_name[n].op_type for n in head_nodes(proto, last)}
    assert "Softmax" in head and not head & {"Conv", "Gemm", "MatMul"}


def test_shipped_int8_variants_by_name_and_by_precision(media, monkeypatch):
    from facemotion.zoo import shipped_models

    shipped = shipped_models()
    name = facemotion.zoo.default_model_name()
    f, q = shipped[name].card, shipped[f"{name}_int8"].card
    # the record names the file it was made from
    assert q.weights_dtype == "int8" and q.training["quantized_from"] == f"{name}.onnx"
    # the int8 budget: at most 0.5 points lost against its float original (FER+ 7-class)
    assert q.metrics["ferplus_test"] >= f.metrics["ferplus_test"] - 0.005
    a = facemotion.EmotionRecognizer(precision="int8")  # the default model's int8 variant
    assert a.model_card.name == f"{name}_int8"
    assert facemotion.EmotionRecognizer(model=f"{name}_int8").stages.classifier.card.name == f"{name}_int8"
    assert [f["dominant_emotion"] for f in a.detect_emotions(media / "justin.jpg")] == ["happy"]
    with pytest.raises(ModelError, match="picks a variant of a shipped model by name"):
        load_classifier(str(shipped["fer2013_vgg_s"].path), precision="int8")
    # the default precision ("auto"): the default model runs its int8 copy on this x86-64 CPU (the
    # rule of docs/training-log.md: within 0.5 points on PublicTest and faster), and on a CPU
    # without exact int8 kernels the float model; a named model runs as named
    default = facemotion.zoo.default_model_name()
    assert facemotion.EmotionRecognizer().model_name == f"{default}_int8"
    assert facemotion.EmotionRecognizer(precision="float32").model_name == default
    assert facemotion.EmotionRecognizer(model="quad_ensemble_int8").model_name == "quad_ensemble_int8"
    f, q = shipped[default].card.metrics, shipped[f"{default}_int8"].card.metrics
    assert q["ferplus_val"] >= f["ferplus_val"] - 0.005  # PublicTest, FER+ 7-class
    monkeypatch.setattr("platform.machine", lambda: "riscv64")
    assert facemotion.EmotionRecognizer().model_name == default
