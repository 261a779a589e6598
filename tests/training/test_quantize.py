"""int8 models: `facemotion quantize` (calibrated on Training faces, checked against the float
model on PublicTest) and the shipped int8 variants, selectable by name or by precision."""

import json

import numpy as np
import pytest

import facemotion
from facemotion.classify import load_classifier
from facemotion.errors import ModelError

pytest.importorskip("onnx")


def test_quantize_writes_a_checked_int8_model(tiny_checkpoint, kaggle_zip, tmp_path, capsys):
    from facemotion.cli import main

    assert main(["export", str(tiny_checkpoint), "-o", str(tmp_path / "f.onnx")]) == 0
    assert main(["quantize", str(tmp_path / "f.onnx"), "-o", str(tmp_path / "q.onnx"), "--data", str(kaggle_zip),
                 "--calibration", "16"]) == 0
    assert "top-1 agreement" in capsys.readouterr().out
    q = load_classifier(tmp_path / "q.onnx")
    assert q.card.weights_dtype == "int8" and q.card.training["quantized_from"] == "f.onnx"
    assert "16 Training faces" in q.card.training["calibration"]  # calibrated on Training, never a test split
    check = json.loads((tmp_path / "q.onnx.check.json").read_text())
    assert check["split"] == "PublicTest" and 0 <= check["top1_agreement"] <= 1
    assert check["int8_public_test"] == q.card.metrics["public_test"]
    faces = np.random.default_rng(0).integers(0, 255, (5, 48, 48), dtype=np.uint8)
    p = q.classify_faces(faces)
    assert p.shape == (5, 7) and np.allclose(p.sum(1), 1, atol=1e-3)
    assert main(["quantize", str(tmp_path / "q.onnx"), "-o", str(tmp_path / "qq.onnx"), "--data", str(kaggle_zip)]) == 1
    assert "q.onnx: already int8" in capsys.readouterr().err and not (tmp_path / "qq.onnx").exists()


def test_shipped_int8_variants_by_name_and_by_precision(media):
    from facemotion.zoo import shipped_models

    shipped = shipped_models()
    for name in ("vgg_fer_s", "resnet_fer_s", "mini_xception"):
        f, q = shipped[name].card, shipped[f"{name}_int8"].card
        assert q.weights_dtype == "int8" and q.training["quantized_from"] == f"{name}.onnx"
        # the budget: an int8 model loses at most 0.3 points against its float original
        assert q.metrics["private_test"] >= f.metrics["private_test"] - 0.003
    a = facemotion.EmotionRecognizer(precision="int8")  # the default model's int8 variant
    assert a.classifier.card.name == "vgg_fer_s_int8"
    assert facemotion.EmotionRecognizer(model="vgg_fer_s_int8").classifier.card.name == "vgg_fer_s_int8"
    assert [f["dominant_emotion"] for f in a.detect_emotions(media / "justin.jpg")] == ["happy"]
    with pytest.raises(ModelError, match="picks a variant of a shipped model by name"):
        load_classifier(str(shipped["vgg_fer_s"].path), precision="int8")
