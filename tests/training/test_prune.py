"""Structured pruning (`train --init CKPT --prune RATIO`): channels are removed, not masked, so
the network is smaller and cheaper everywhere, and a pruned checkpoint rebuilds, resumes and
exports like any other."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import train_args  # noqa: E402

pytest.importorskip("torch_pruning")

from facemotion.errors import UsageError  # noqa: E402
from facemotion.training.checkpoint import describe, load_checkpoint, model_from_checkpoint  # noqa: E402
from facemotion.training.models import count_parameters, create_model  # noqa: E402
from facemotion.training.prune import fit_to_state, model_cost, prune_channels  # noqa: E402
from facemotion.training.train import get_args_parser, main  # noqa: E402

# a shipped vgg_fer_s (a quad_ensemble member; docs/edge.md's pruning runs started from vgg_fer_s_gen3: docs/history/models.md)
SHIPPED = Path(__file__).resolve().parents[2] / "models" / "ferplus_vgg_s_kd300.pt"


@pytest.mark.parametrize("arch", ["vgg_fer_s", "resnet_fer_s", "mini_xception", "mobile_fer", "resnet_cbam_fer_s"])
def test_pruning_removes_channels_and_the_checkpoint_rebuilds(arch):
    torch.manual_seed(0)
    model = create_model(arch).eval()
    full_flops, full_params = model_cost(model)
    record = prune_channels(model, 0.5)
    flops, params = model_cost(model)
    # every layer keeps about half its channels (rounded to 8, and gates keep 8 at least):
    # a quarter to a half of the multiply-adds remain
    assert 0.15 < flops / full_flops < 0.55 and params == count_parameters(model) < 0.6 * full_params
    assert record["mflops_after"] == round(flops, 2) and record["parameters_before"] == full_params
    x = torch.randn(3, 1, 48, 48)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (3, 7)  # the classes are never pruned
    # what a run saves: the registry's name and kwargs plus the smaller weights; they rebuild exactly
    ck = describe(model, parameters=params) | {"model_state": model.state_dict()}
    assert ck["pruned"] == record  # the network carries its record into every checkpoint
    rebuilt, _ = model_from_checkpoint(ck)
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), y, atol=1e-5)
    # without the record the full-size network does not take these weights
    fresh = create_model(arch)
    with pytest.raises(RuntimeError):
        fresh.load_state_dict(model.state_dict())
    fit_to_state(fresh, model.state_dict(), record).load_state_dict(model.state_dict())


def test_pruned_shipped_model_keeps_most_of_its_knowledge(kaggle_zip):
    """Before any fine-tune, the L2-magnitude choice keeps the network's answers on the tiny
    archive's drawn faces for at least half of them: the channels removed are the ones it needed
    least. (On real PublicTest faces a 25% cut keeps 20-37% of the answers before the fine-tune
    that every pruning run does: docs/edge.md.)"""
    from facemotion.datasets import load_training_data
    from facemotion.preprocess import normalize

    if not SHIPPED.exists():
        pytest.skip(f"{SHIPPED} is not in this checkout")
    model, _ = model_from_checkpoint(SHIPPED)
    small, _ = model_from_checkpoint(SHIPPED)
    prune_channels(small, 0.25)
    _, val = load_training_data(kaggle_zip)
    x = normalize(torch.from_numpy(val.images).float().unsqueeze(1))
    with torch.no_grad():
        agree = (model(x).argmax(1) == small(x).argmax(1)).float().mean().item()
    assert agree >= 0.5, agree


def _args(data, out, **kw):
    return train_args(data, out, **{"epochs": 1, "arch": "mini_xception", **kw})


def test_train_prune_fine_tunes_resumes_and_exports(kaggle_zip, tiny_checkpoint, tmp_path):
    from facemotion.classify import load_classifier
    from facemotion.cli import main as cli

    out = tmp_path / "pruned"
    main(_args(kaggle_zip, out, init=tiny_checkpoint, prune=0.5, ema=0.9))
    ck = load_checkpoint(out / "last.pt")
    assert ck["pruned"]["ratio"] == 0.5 and ck["pruned"]["from"] == Path(tiny_checkpoint).name
    assert ck["parameters"] == ck["pruned"]["parameters_after"] < ck["pruned"]["parameters_before"]
    # a resume takes the pruned shape from last.pt (no second pruning)
    summary = main(_args(kaggle_zip, out, init=tiny_checkpoint, prune=0.5, ema=0.9, epochs=2, resume=True))
    last = load_checkpoint(out / "last.pt")
    assert summary["epochs_run"] == 2 and last["epoch"] == 2 and last["parameters"] == ck["parameters"]
    with pytest.raises(UsageError, match="--prune: .*last.pt is a run pruned by 0.5, not 0.3; use another --out"):
        main(_args(kaggle_zip, out, init=tiny_checkpoint, prune=0.3, epochs=3, resume=True))
    # a further fine-tune of the pruned run (--init, no --prune) stays pruned and reloads
    again = tmp_path / "again"
    main(_args(kaggle_zip, again, init=out / "best.pt"))
    assert load_checkpoint(again / "last.pt")["pruned"] == ck["pruned"]
    model_from_checkpoint(again / "last.pt")
    assert cli(["export", str(out / "best.pt"), "--to", str(tmp_path / "p.onnx")]) == 0
    clf = load_classifier(tmp_path / "p.onnx")
    p = clf.classify_faces(np.random.default_rng(0).integers(0, 255, (4, 48, 48), dtype=np.uint8))
    assert p.shape == (4, 7) and clf.card.parameters == ck["parameters"]
    # import rebuilds unpruned networks: a pruned graph is one line that says where to start from
    assert cli(["import", str(tmp_path / "p.onnx"), "-o", str(tmp_path / "imported")]) == 1


def test_prune_without_a_trained_network_is_refused(kaggle_zip, tmp_path):
    with pytest.raises(UsageError, match="--prune: give the trained network to prune with --init"):
        main(_args(kaggle_zip, tmp_path / "x", prune=0.5))
    with pytest.raises(SystemExit):
        get_args_parser().parse_args(["--data", "x", "--prune", "1.5"])
