"""`facemotion interpolate`: a model and its fine-tune mixed in weight space (WiSE-FT)."""

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from facemotion.errors import ModelError  # noqa: E402
from facemotion.training.checkpoint import atomic_torch_save, describe, load_checkpoint, model_from_checkpoint  # noqa: E402
from facemotion.training.interpolate import interpolate_checkpoints  # noqa: E402
from facemotion.training.models import create_model  # noqa: E402


def _checkpoint(path, arch="vgg_fer_s", seed=0, temperature=1.0):
    torch.manual_seed(seed)
    model = create_model(arch).eval()
    for m in model.modules():  # BatchNorm statistics of their own, so they are mixed too
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    atomic_torch_save({**describe(model, epoch=3, temperature=temperature,
                                  training={"epochs": 3, "cpu_hours": 0.1}),
                       "model_state": model.state_dict()}, path)
    return model


def test_the_mix_is_each_tensor_mixed_and_runs(tmp_path):
    a = _checkpoint(tmp_path / "a.pt", seed=0, temperature=1.0)
    b = _checkpoint(tmp_path / "b.pt", seed=1, temperature=0.8)
    interpolate_checkpoints(tmp_path / "a.pt", tmp_path / "b.pt", 0.75, tmp_path / "mix.pt", name="mixed")
    ck = load_checkpoint(tmp_path / "mix.pt")
    sa, sb = a.state_dict(), b.state_dict()
    for k, v in ck["model_state"].items():
        if v.is_floating_point():
            torch.testing.assert_close(v, 0.25 * sa[k] + 0.75 * sb[k])
        else:  # counters (BatchNorm's num_batches_tracked) are the fine-tune's
            assert torch.equal(v, sb[k])
    assert ck["name"] == "mixed" and ck["temperature"] == pytest.approx(0.85)
    assert ck["training"]["interpolation"]["alpha"] == 0.75 and ck["training"]["epochs"] == 3
    assert not ck.get("metrics") and ck.get("epoch") is None  # the ends' own scores are not the mix's
    model, _ = model_from_checkpoint(tmp_path / "mix.pt")
    assert model(torch.zeros(2, 1, 48, 48)).shape == (2, 7)


def test_alpha_zero_and_one_give_the_ends(tmp_path):
    a = _checkpoint(tmp_path / "a.pt", seed=0)
    b = _checkpoint(tmp_path / "b.pt", seed=1)
    for alpha, want in ((0.0, a), (1.0, b)):
        interpolate_checkpoints(tmp_path / "a.pt", tmp_path / "b.pt", alpha, tmp_path / "end.pt")
        mix = load_checkpoint(tmp_path / "end.pt")
        assert mix["name"] == "end"  # named by its file, not as the tuned model (a shipped one's name, perhaps)
        got = mix["model_state"]
        for k, v in want.state_dict().items():
            assert torch.equal(got[k], v), k


def test_different_networks_are_refused_in_one_line(tmp_path):
    _checkpoint(tmp_path / "a.pt", arch="vgg_fer_s")
    _checkpoint(tmp_path / "b.pt", arch="mini_xception")
    with pytest.raises(ModelError, match=r"differ in arch .* only a model and its own fine-tune"):
        interpolate_checkpoints(tmp_path / "a.pt", tmp_path / "b.pt", 0.5, tmp_path / "mix.pt")
    assert not (tmp_path / "mix.pt").exists()
    r = subprocess.run([sys.executable, "-m", "facemotion", "interpolate", str(tmp_path / "a.pt"),
                        str(tmp_path / "a.pt"), "--alpha", "1.5", "--to", str(tmp_path / "m.pt")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "--alpha: must be in [0, 1]" in r.stderr and "Traceback" not in r.stderr


def test_an_import_and_a_trained_checkpoint_are_refused_their_batchnorms_differ(tmp_path):
    """An import's BatchNorms are folded into its convolutions: mixed with a trained checkpoint's
    tensors it scored below either end (12.4% against 18.1%), without a word."""
    _checkpoint(tmp_path / "a.pt")
    model = _checkpoint(tmp_path / "b.pt", seed=1)
    ck = load_checkpoint(tmp_path / "b.pt")
    atomic_torch_save({**ck, "model_state": model.state_dict(),
                       "recovered_from": {"file": "b.onnx", "member": 0, "weights_dtype": "float32"}},
                      tmp_path / "imported.pt")
    with pytest.raises(ModelError, match=r"imported\.pt is rebuilt from an ONNX graph .* and .*a\.pt is not: their "
                                         r"tensors do not line up"):
        interpolate_checkpoints(tmp_path / "a.pt", tmp_path / "imported.pt", 0.5, tmp_path / "mix.pt")
    assert not (tmp_path / "mix.pt").exists()
