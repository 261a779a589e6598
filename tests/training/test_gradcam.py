"""Grad-CAM and Grad-CAM++ on the committed torch checkpoints, and the model randomisation
sanity check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("captum")

from facemotion import EmotionRecognizer  # noqa: E402
from facemotion.classify import load_classifier  # noqa: E402
from facemotion.errors import ModelError, ModelOptionError  # noqa: E402
from facemotion.explain import get_explainer  # noqa: E402
from facemotion.explain.faithfulness import rank_correlation  # noqa: E402
from facemotion.images import load_image  # noqa: E402
from facemotion.preprocess import crop_faces, normalize  # noqa: E402
from facemotion.training.gradcam import default_layer  # noqa: E402
from facemotion.training.models import create_model, list_models  # noqa: E402

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture
def real_faces(media):
    rec = EmotionRecognizer()
    crops = []
    for name in ("justin.jpg", "two_people.jpg", "obama.jpg"):
        image = load_image(media / name)
        crops.append(crop_faces(image, [b for b, _ in rec.stages.detect(image)]))
    return normalize(np.concatenate(crops))[:, None]


@pytest.mark.parametrize("name,layer", [("vgg_fer_s", "features"), ("mini_xception", "blocks.3")])
def test_gradcam_on_the_committed_checkpoints(media, name, layer):
    rec = EmotionRecognizer(model=MODELS / f"{name}.pt")
    assert rec.stages.explainer().layer_name == layer
    (face,) = rec.explain(media / "justin.jpg")  # a .pt model is explained with Grad-CAM by default
    assert face["method"] == "gradcam" and face["target"] == "happy"
    m = face["saliency"]
    assert m.shape == (48, 48) and m.dtype == np.float32 and m.min() >= 0 and m.max() == pytest.approx(1.0)
    (pp,) = rec.explain(media / "justin.jpg", method="gradcam++", target="sad")
    assert pp["method"] == "gradcam++" and pp["target"] == "sad" and pp["saliency"].max() == pytest.approx(1.0)


def test_maps_of_random_weights_differ(real_faces):
    trained = load_classifier(MODELS / "vgg_fer_s.pt")
    random = trained.with_random_weights(seed=0)
    assert random.card.arch == "vgg_fer_s" and random.tta == trained.tta
    targets = trained.predict(real_faces).argmax(1)
    a = get_explainer("gradcam", trained).explain(real_faces, targets)
    b = get_explainer("gradcam", random).explain(real_faces, targets)
    rho = np.mean([rank_correlation(x, y) for x, y in zip(a, b)])
    assert len(real_faces) >= 4 and abs(rho) < 0.3, rho  # the map explains the model, not the picture


def test_every_architecture_has_a_default_layer():
    for name in list_models():
        model = create_model(name)
        assert model.get_submodule(default_layer(model)) is not None, name


def test_bad_layer_or_model_is_one_clear_error():
    clf = load_classifier(MODELS / "vgg_fer_s.pt")
    with pytest.raises(ModelOptionError, match="no layer 'eyes' in vgg_fer_s of .*vgg_fer_s.pt \\(top-level layers: features, head"):
        get_explainer("gradcam", clf, layer="eyes")
    # a layer whose output is no grid of maps (the head's 7 logits): said, not a traceback from inside Captum
    for method in ("gradcam", "gradcam++"):
        with pytest.raises(ModelOptionError, match="'head' of vgg_fer_s gives 7, not maps of a grid"):
            get_explainer(method, clf, layer="head")
    with pytest.raises(ModelOptionError, match="no layer ''"):
        get_explainer("gradcam", clf, layer="")
    with pytest.raises(ModelError, match="gradcam\\+\\+ needs a torch checkpoint"):
        get_explainer("gradcam++", load_classifier("fer2013_mini_xception"))
