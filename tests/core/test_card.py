"""One model-card schema: written by every writer, checked by every reader, and a model whose
card disagrees with its graph (or with facemotion's preprocessing) is a clear error."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facemotion.card import FORMAT, ModelCard
from facemotion.classify import OnnxClassifier, load_classifier
from facemotion.errors import ModelError
from facemotion.labels import EMOTIONS
from facemotion.preprocess import NORMALIZATION

onnx = pytest.importorskip("onnx")


QUANT = {"scheme": "u8s7", "format": "QDQ", "weights": "int7 per-channel", "activations": "uint8 per-tensor"}


def tiny_graph(path, *, side: int = 48, classes: int = 7, card: dict | None = None) -> None:
    """A real (tiny) classifier graph: mean-pool the face, a 1 x classes linear layer, softmax;
    its metadata is ``card`` (default: a valid card for a 48 px, 7-class model)."""
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.linspace(-1, 1, classes, dtype=np.float32)[None], "w")
    nodes = [helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"]),
             helper.make_node("MatMul", ["flat", "w"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probs"], axis=1)]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, side, side])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", classes])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    for k, v in (card if card is not None else ModelCard(arch="tiny", name="tiny").to_dict()).items():
        model.metadata_props.add(key=k, value=json.dumps(v))
    onnx.save(model, str(path))


def test_a_valid_card_loads_and_round_trips(tmp_path):
    tiny_graph(tmp_path / "ok.onnx")
    clf = load_classifier(tmp_path / "ok.onnx")
    assert clf.card.arch == "tiny" and clf.card.labels == EMOTIONS and clf.input_size == 48
    assert clf.classify_faces(np.zeros((3, 60, 50), np.uint8)).shape == (3, 7)
    d = clf.card.to_dict()
    assert d["format"] == FORMAT and ModelCard.from_dict(json.loads(json.dumps(d))) == clf.card


def test_a_quantization_record_is_optional_and_kept(tmp_path):
    """int8 cards record their scheme; cards written before the record (the first int8 models)
    still load, with ``quantization`` None."""
    tiny_graph(tmp_path / "q.onnx", card=ModelCard(arch="tiny", weights_dtype="int8", quantization=QUANT).to_dict())
    assert load_classifier(tmp_path / "q.onnx").card.quantization == QUANT
    old = {k: v for k, v in ModelCard(arch="tiny", weights_dtype="int8").to_dict().items() if k != "quantization"}
    tiny_graph(tmp_path / "old.onnx", card=old)
    assert load_classifier(tmp_path / "old.onnx").card.quantization is None


@pytest.mark.parametrize("side,classes,card,message", [
    (64, 7, None, "graph input is 64x64 but its card says 48x48"),
    (48, 5, None, r"graph output has shape \['N', 5\], but its card lists 7 labels"),
    (48, 7, {"labels": list(reversed(EMOTIONS))}, "model labels .* are none of facemotion's label sets"),
    (48, 7, {"labels": list(EMOTIONS[:6])}, "model labels .* are none of facemotion's label sets"),
    (48, 7, {"input_size": 64}, "model input size 64 differs from the 48 px faces"),
    (48, 7, {"normalization": {"scale": 1 / 255, "offset": 0.0}}, "model normalization scale=0.0039.* differs"),
    (48, 7, {"normalization": {"scale": NORMALIZATION["scale"], "offset": 0.0}}, "model normalization offset=0.0 differs"),
    (48, 7, {"channels": 3}, "model expects 3 channels"),
    (48, 7, {"temperature": 0}, "temperature 0 is not a positive number"),
    (48, 7, {"tta": "mirror"}, "model tta 'mirror' is not one of"),
    (48, 7, {"metrics": {"private_test_tta2": 0.7}}, "unknown metric name"),
    (48, 7, {"format": "something-else/1"}, "not a facemotion model"),
    (48, 7, {"weights_dtype": "int8", "quantization": "u8s7"}, "model quantization 'u8s7' is not a record"),
    (48, 7, {"weights_dtype": "int8", "quantization": {"scheme": "u8s7", "format": "QDQ", "weights": ""}},
     "is not a record with the text fields scheme, format, weights, activations"),
    (48, 7, {"quantization": QUANT}, "has a quantization record but weights_dtype 'float32'"),
])
def test_a_card_that_disagrees_is_a_clear_error(tmp_path, side, classes, card, message):
    path = tmp_path / "bad.onnx"
    tiny_graph(path, side=side, classes=classes, card={**ModelCard(arch="tiny").to_dict(), **(card or {})})
    with pytest.raises(ModelError, match=message) as e:
        OnnxClassifier(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_legacy_layouts_are_read_through_one_upgrade():
    """Files written before the card (format facemotion-onnx/1, -checkpoint/1) name two things
    differently; the card reads them under the current names."""
    old = {"format": "facemotion-onnx/1", "arch": "vgg_fer_s", "labels": list(EMOTIONS), "input_size": 48,
           "normalization": dict(NORMALIZATION), "weights": "float16",
           "metrics": {"public_test_tta": 0.69, "private_test_tta": 0.71}}
    card = ModelCard.from_dict(old)
    assert card.weights_dtype == "float16" and card.metrics == {"public_test": 0.69, "private_test": 0.71}
    assert card.tta == "flip"  # those numbers were measured with the mirror average
    assert card.to_dict()["format"] == FORMAT


def test_every_shipped_model_and_checkpoint_has_a_valid_card():
    from facemotion.zoo import shipped_models

    for name, entry in shipped_models().items():
        clf = load_classifier(name)  # the file's card is checked against its graph and the index
        assert clf.card.name == name and clf.card.accuracy == entry.card.accuracy
        assert {"public_test", "private_test"} <= set(entry.card.accuracy) <= {"public_test", "private_test", "private_test_mean_corrupted"}


def test_index_and_file_must_describe_the_same_model(tmp_path, monkeypatch):
    import facemotion.zoo as zoo

    tiny_graph(tmp_path / "tiny.onnx", card=ModelCard(arch="tiny", name="tiny", temperature=0.9).to_dict())
    zoo.write_index("tiny", {"tiny": ("tiny.onnx", ModelCard(arch="tiny", name="tiny", temperature=0.8))},
                    tmp_path / "models.json")
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(zoo, "INDEX", tmp_path / "models.json")
    with pytest.raises(ModelError, match="its card says temperature=0.9 but the index .* says 0.8"):
        load_classifier("tiny")
    assert load_classifier(tmp_path / "tiny.onnx").card.temperature == 0.9  # the file alone is fine


def test_a_checkpoint_card_is_checked_on_load(tmp_path):
    torch = pytest.importorskip("torch")
    from facemotion.training.checkpoint import describe, load_checkpoint
    from facemotion.training.models import create_model

    model = create_model("mini_xception")
    good = {**describe(model, epoch=1), "model_state": model.state_dict()}
    assert good["format"] == FORMAT and good["parameters"] == sum(p.numel() for p in model.parameters())
    torch.save({**good, "labels": ["happy", "sad"]}, tmp_path / "bad.pt")
    with pytest.raises(ModelError, match="bad.pt: model labels"):
        load_checkpoint(tmp_path / "bad.pt")
    torch.save({**good, "input_size": 64}, tmp_path / "big.pt")
    with pytest.raises(ModelError, match="big.pt: model input size 64"):
        load_classifier(tmp_path / "big.pt")


def test_every_shipped_file_carries_its_index_card():
    """A shipped model opened by its path (or a copy of it) is the model its name opens: the
    same card, name included."""
    from pathlib import Path

    import facemotion

    weights = Path(facemotion.__file__).with_name("weights")
    for name, entry in json.loads((weights / "models.json").read_text())["models"].items():
        model = onnx.load(str(weights / entry["file"]), load_external_data=False)
        assert {p.key: json.loads(p.value) for p in model.metadata_props} == entry["card"], name
        assert load_classifier(str(weights / entry["file"])).name == name
