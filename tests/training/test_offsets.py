"""Class offsets: searched under floors, folded into the last layer, and the same answers from
the exported graph as from the offsets applied to the probabilities."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from facemotion.errors import ModelError  # noqa: E402
from facemotion.labels import FERPLUS_EMOTIONS  # noqa: E402
from facemotion.training.checkpoint import atomic_torch_save, describe, load_checkpoint, model_from_checkpoint  # noqa: E402
from facemotion.training.models import create_model  # noqa: E402
from facemotion.training.offsets import apply_offsets, fold_offsets, search_offsets  # noqa: E402


def _checkpoint(path, arch="vgg_fer_s", temperature=1.0, ema=False, labels=None):
    torch.manual_seed(0)
    model = create_model(arch, **({"num_classes": len(labels)} if labels else {})).eval()
    extra = {"labels": tuple(labels)} if labels else {}
    ck = {**describe(model, temperature=temperature, **extra), "model_state": model.state_dict()}
    if ema:
        ck["ema_state"] = {k: v.clone() for k, v in model.state_dict().items()}
    atomic_torch_save(ck, path)
    return path


@pytest.mark.parametrize("arch", ["vgg_fer_s", "mini_xception", "resnet_fer_s"])
def test_folded_offsets_add_to_each_logit_at_the_cards_temperature(tmp_path, arch):
    ck = load_checkpoint(_checkpoint(tmp_path / "a.pt", arch, temperature=0.8, ema=True))
    offsets = {"angry": 0.5, "fear": 1.25, "neutral": -0.75}
    folded = fold_offsets(ck, offsets)
    x = torch.randn(5, 1, 48, 48)
    for use_ema in (False, True):
        before, _ = model_from_checkpoint(ck, use_ema=use_ema)
        after, _ = model_from_checkpoint(folded, use_ema=use_ema)
        with torch.no_grad():
            d = after(x) - before(x)
        want = torch.tensor([offsets.get(k, 0.0) * 0.8 for k in ck["labels"]]).expand_as(d)
        torch.testing.assert_close(d, want, atol=1e-4, rtol=0)
    assert folded["training"]["class_offsets"]["fear"] == 1.25
    assert folded["training"]["epochs"] == 0  # the compute record kept beside them (no history here)
    # a second fold adds to the record, and the original is untouched
    again = fold_offsets(folded, {"fear": -0.25})
    assert again["training"]["class_offsets"]["fear"] == 1.0
    assert "class_offsets" not in (ck.get("training") or {})


def test_the_exported_graph_answers_as_the_offsets_applied_to_its_probabilities(tmp_path):
    from facemotion import EmotionRecognizer
    from facemotion.training.export import export_onnx

    path = _checkpoint(tmp_path / "a.pt", "vgg_fer_s", temperature=1.3)
    offsets = {"disgust": 2.0, "happy": -1.0, "sad": 0.5}
    folded = tmp_path / "folded.pt"
    atomic_torch_save(fold_offsets(load_checkpoint(path), offsets), folded)
    export_onnx(path, tmp_path / "a.onnx")
    export_onnx(folded, tmp_path / "folded.onnx")
    faces = np.random.default_rng(0).integers(0, 256, (16, 48, 48), dtype=np.uint8)
    plain = EmotionRecognizer(model=str(tmp_path / "a.onnx"), detector="none").stages.classify_crops(faces)
    moved = EmotionRecognizer(model=str(tmp_path / "folded.onnx"), detector="none").stages.classify_crops(faces)
    b = [offsets.get(k, 0.0) for k in EmotionRecognizer(model=str(tmp_path / "a.onnx"), detector="none").labels]
    np.testing.assert_allclose(moved, apply_offsets(plain, b), atol=1e-5)


def test_offsets_for_labels_the_model_lacks_are_refused(tmp_path):
    ck = load_checkpoint(_checkpoint(tmp_path / "a.pt"))
    with pytest.raises(ModelError, match="contempt"):
        fold_offsets(ck, {"contempt": 1.0})


def test_an_eight_label_model_takes_contempt(tmp_path):
    ck = load_checkpoint(_checkpoint(tmp_path / "a.pt", labels=FERPLUS_EMOTIONS))
    folded = fold_offsets(ck, {"contempt": -1.0})
    assert folded["training"]["class_offsets"]["contempt"] == -1.0


def test_the_search_closes_a_floor_first_then_climbs_within_the_floors():
    # three classes; the "value" rewards offset 0 large, the floor wants offset 1 >= 0.5 and
    # offset 0 <= 1.0: the search must meet the floor, then stop at the floor's edge
    def objective(b):
        shortfall = max(0.0, 0.5 - b[1]) + max(0.0, b[0] - 1.0)
        return shortfall, b[0] - abs(b[2])
    b, (short, value) = search_offsets(objective, 3)
    assert short == 0 and b[1] >= 0.5 and b[0] == pytest.approx(1.0) and b[2] == 0
    # nothing beyond the bound
    b, _ = search_offsets(lambda b: (0.0, b.sum()), 2, bound=1.0)
    assert np.all(b == pytest.approx(1.0))


def test_offsets_move_the_probabilities_as_a_prior_does():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    q = apply_offsets(p, [0.0, np.log(4.0), 0.0])
    np.testing.assert_allclose(q[0], np.array([0.7, 0.8, 0.1]) / 1.6)
    np.testing.assert_allclose(q.sum(1), 1.0)
