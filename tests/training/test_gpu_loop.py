"""The pieces of the device-resident training loop, on the CPU: RepVGG folding, precomputed
teacher targets, the checkpoint cadence, the multi-tensor EMA, host-drawn mixing."""

import copy
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from facemotion.errors import FacemotionError  # noqa: E402
from facemotion.training.augment import mix_batch  # noqa: E402
from facemotion.training.checkpoint import load_checkpoint, model_from_checkpoint  # noqa: E402
from facemotion.training.ema import EMA  # noqa: E402
from facemotion.training.models import create_model, mflops_per_face  # noqa: E402
from facemotion.training.train import get_args_parser, main  # noqa: E402

from conftest import train_args  # noqa: E402


def _randomize_bn(model):
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=g) - 0.5)


@pytest.mark.parametrize("name", ["repvgg_fer_s", "repvgg_fer_t", "repvgg_fer_xt"])
def test_repvgg_folds_into_a_plain_vgg_with_the_same_outputs(name):
    model = create_model(name).eval()
    _randomize_bn(model)
    x = torch.randn(8, 1, 48, 48)
    with torch.no_grad():
        before = model(x)
        folded = copy.deepcopy(model).reparameterize()
        after = folded(x)
    assert torch.allclose(before, after, atol=1e-4), (before - after).abs().max()
    convs = [m for m in folded.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.kernel_size == (3, 3) and c.bias is not None for c in convs)  # one conv per block
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())


def test_repvgg_sizes():
    # the folded network is what runs: repvgg_fer_s is vgg_fer_s's cost, the students stay under 50 MFLOPs
    assert abs(mflops_per_face(create_model("repvgg_fer_s")) - mflops_per_face(create_model("vgg_fer_s"))) < 0.5
    assert mflops_per_face(create_model("repvgg_fer_t")) <= 50
    assert mflops_per_face(create_model("repvgg_fer_xt")) <= 30


def test_repvgg_checkpoint_exports_folded(kaggle_zip, tmp_path):
    onnx = pytest.importorskip("onnx")
    from facemotion.training.export import export_onnx

    main(_args(kaggle_zip, tmp_path / "run", arch="repvgg_fer_xt", epochs=1))
    r = export_onnx(tmp_path / "run" / "best.pt", tmp_path / "m.onnx")
    assert r["max_abs_diff"] < 1e-4
    graph = onnx.load(str(tmp_path / "m.onnx")).graph
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert len(convs) == 7  # one per block: (1, 2, 2, 2), no 1x1 branch left
    assert not any(n.op_type == "BatchNormalization" for n in graph.node)
    # the unfolded checkpoint still loads and predicts as the graph does
    model, _ = model_from_checkpoint(tmp_path / "run" / "best.pt")
    assert hasattr(model, "reparameterize")


def _args(data, out, **kw):
    return train_args(data, out, **kw)


def test_checkpoint_cadence_and_no_epoch_files(kaggle_zip, tmp_path):
    out = tmp_path / "run"
    main(_args(kaggle_zip, out, epochs=3, checkpoint_every=2, no_epoch_files=True))
    assert not list(out.glob("mini_xception.*-*.pt"))
    assert (out / "best.pt").exists() and (out / "accuracy.png").exists()
    assert load_checkpoint(out / "last.pt")["epoch"] == 3  # the last epoch is always written
    # a resume continues from the last written epoch and the log keeps every epoch once
    main(_args(kaggle_zip, out, epochs=4, checkpoint_every=2, no_epoch_files=True, resume=True))
    lines = (out / "log.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in lines[1:]] == [1, 2, 3, 4]


def test_eval_every_validates_the_first_every_nth_and_the_last_epoch(kaggle_zip, tmp_path):
    import csv
    import math

    out = tmp_path / "run"
    main(_args(kaggle_zip, out, epochs=5, eval_every=3, no_epoch_files=True))
    rows = list(csv.DictReader(open(out / "log.csv")))
    validated = [int(r["epoch"]) for r in rows if not math.isnan(float(r["val_loss"]))]
    assert validated == [1, 3, 5] and len(rows) == 5  # every epoch logged, the others NaN
    assert load_checkpoint(out / "best.pt")["epoch"] in validated  # chosen among the validated ones


def test_teacher_targets_made_beforehand_are_checked_and_used(kaggle_zip, tmp_path, tiny_checkpoint, capsys):
    from facemotion.cli import main as cli

    targets = tmp_path / "t.pt"
    assert cli(["teacher-targets", "--data", str(kaggle_zip), "--teacher", str(tiny_checkpoint), "--kd-temp", "3",
                "--to", str(targets), "--no-progress"]) == 0
    assert "wrote" in capsys.readouterr().out
    ck = torch.load(targets, weights_only=True)
    # the same command again keeps the file: the same teachers' targets for the same images
    stamp = targets.stat().st_mtime_ns
    assert cli(["teacher-targets", "--data", str(kaggle_zip), "--teacher", str(tiny_checkpoint), "--kd-temp", "3",
                "--to", str(targets), "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith(f"kept {targets}: soft targets of") and targets.stat().st_mtime_ns == stamp
    # ... and another temperature writes it anew
    assert cli(["teacher-targets", "--data", str(kaggle_zip), "--teacher", str(tiny_checkpoint), "--kd-temp", "2",
                "--to", str(targets), "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith("wrote")
    assert cli(["teacher-targets", "--data", str(kaggle_zip), "--teacher", str(tiny_checkpoint), "--kd-temp", "3",
                "--to", str(targets), "--no-progress"]) == 0
    assert ck["targets"].shape[1] == 7 and torch.allclose(ck["targets"].sum(1), torch.ones(len(ck["targets"])))
    # a run distils from the file alone (no --teacher): the same targets as computing them
    s = main(_args(kaggle_zip, tmp_path / "a", epochs=1, teacher_targets=targets, kd_temp=3))
    assert s["epochs_run"] == 1
    main(_args(kaggle_zip, tmp_path / "b", epochs=1, teacher=tiny_checkpoint, kd_offline=True, kd_temp=3))
    a = json.loads((tmp_path / "a" / "summary.json").read_text())["best"]
    b = json.loads((tmp_path / "b" / "summary.json").read_text())["best"]
    assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)
    # made at another temperature, or for other images: refused in one line naming the file
    with pytest.raises(FacemotionError, match=r"t\.pt: made at --kd-temp 3"):
        main(_args(kaggle_zip, tmp_path / "c", epochs=1, teacher_targets=targets, kd_temp=4))
    with pytest.raises(FacemotionError, match=r"t\.pt: made for other training images"):
        main(_args(kaggle_zip, tmp_path / "d", epochs=1, teacher_targets=targets, kd_temp=3, limit=5))
    assert cli(["train", "--data", str(kaggle_zip), "--out", str(tmp_path / "e"), "--teacher-targets",
                str(tmp_path / "missing.pt"), "--no-progress"]) == 2
    assert "missing.pt does not exist" in capsys.readouterr().err


def test_teacher_targets_follow_the_runs_extra_faces(kaggle_zip, tmp_path, tiny_checkpoint):
    """Targets for a run with --extra-data crops are made with the same folders, in the same order:
    that run distils from them, and a run without the crops refuses them in one line."""
    import cv2

    from facemotion.cli import main as cli

    from conftest import faces_like

    extra = tmp_path / "crops"
    for k, img in enumerate(faces_like(5, seed=9)):
        (extra / ("disgust" if k % 2 else "sad")).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(extra / ("disgust" if k % 2 else "sad") / f"{k}.png"), img)
    targets = tmp_path / "t.pt"
    assert cli(["teacher-targets", "--data", str(kaggle_zip), "--extra-data", str(extra), str(extra),
                "--teacher", str(tiny_checkpoint), "--to", str(targets), "--no-progress"]) == 0
    from facemotion.training.data import load_train_val

    plain, _ = load_train_val(_args(kaggle_zip, tmp_path / "plain"))
    assert len(torch.load(targets, weights_only=True)["targets"]) == len(plain) + 10
    argv = ["--data", str(kaggle_zip), "--epochs", "1", "--batch-size", "4", "--no-progress", "--threads", "1",
            "--teacher-targets", str(targets), "--kd-skip-extra", "--extra-data", str(extra)]
    s = main(get_args_parser().parse_args(argv + [str(extra), "--out", str(tmp_path / "a")]))
    assert s["epochs_run"] == 1
    with pytest.raises(FacemotionError, match=r"t\.pt: made for other training images"):
        main(get_args_parser().parse_args(argv + ["--out", str(tmp_path / "b")]))


def test_ema_update_is_the_moving_average():
    model = create_model("vgg_fer_s")
    ema = EMA(model, 0.9)
    ref = [p.detach().clone() for p in ema.module.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        model.features[1].running_mean.add_(3.0)
    ema.update(model, step=1000)  # past the warm-up: decay 0.9
    for r, e, p in zip(ref, ema.module.parameters(), model.parameters()):
        assert torch.allclose(e, 0.9 * r + 0.1 * p, atol=1e-6)
    assert torch.equal(ema.module.features[1].running_mean, model.features[1].running_mean)  # buffers copied


def test_mixing_is_seeded_and_keeps_targets_normalised():
    args = get_args_parser().parse_args(["--data", "x", "--mixup", "0.2", "--cutmix", "1.0"])
    x = torch.randn(16, 1, 48, 48)
    y = torch.nn.functional.one_hot(torch.arange(16) % 7, 7).float()
    runs = [mix_batch(x, y, args, torch.Generator().manual_seed(0), np.random.default_rng(1)) for _ in range(2)]
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
    assert torch.allclose(runs[0][1].sum(1), torch.ones(16))


def test_corruption_augment_is_seeded_bounded_and_changes_only_the_chosen_faces():
    from facemotion.training.corrupt import CorruptAugment

    from conftest import faces_like

    x = torch.from_numpy(faces_like(64)).unsqueeze(1).float() / 127.5 - 1
    aug = CorruptAugment(p=0.5, mix=0.5)
    a, b = (aug(x, torch.Generator().manual_seed(3)) for _ in range(2))
    assert torch.equal(a, b) and a.shape == x.shape and a.min() >= -1 and a.max() <= 1
    changed = (a - x).abs().flatten(1).amax(1) > 1e-6
    assert 0.2 < changed.float().mean() < 0.8  # about half the faces
    assert torch.equal(CorruptAugment(p=0.0)(x, torch.Generator().manual_seed(3)), x)
    g = torch.Generator().manual_seed(0)
    rand = lambda *s: torch.rand(*s, generator=g)  # noqa: E731
    for name in CorruptAugment.FAMILIES:  # every condition changes a face and keeps it finite
        y = getattr(CorruptAugment, "_" + name)(x[:8], rand)
        assert y.shape == x[:8].shape and torch.isfinite(y).all() and not torch.allclose(y, x[:8]), name


def test_training_with_corruptions_runs(kaggle_zip, tmp_path):
    s = main(_args(kaggle_zip, tmp_path / "run", epochs=1, corrupt=0.5))
    assert s["epochs_run"] == 1


def test_a_training_step_never_waits_for_the_device():
    """The whole recipe of the shipped models' runs (geometry, erasing, corruptions, mixup, label
    smoothing, class weights, EMA) reads nothing back from the device in its steps: on a GPU a read
    stalls the host until the queue drains. Counted on the CPU, where the same operators dispatch.
    (SGD: the unfused Adam of a CPU reads its step counter, a host tensor there; on a GPU the
    optimizer is fused and reads nothing.)"""
    from facemotion.training.engine import HostDispatches, build_optimizer, build_scheduler, train_one_epoch
    from facemotion.training.loop import build_augment

    bs = 16
    args = get_args_parser().parse_args(["--data", "x", "--batch-size", str(bs), "--erase", "0.5", "--mixup", "0.2",
                                         "--opt", "sgd", "--corrupt", "0.9", "--label-smoothing", "0.1", "--no-progress"])
    model = create_model("mini_xception").to(memory_format=torch.channels_last)
    opt = build_optimizer(model, args)
    sched = build_scheduler(opt, args, 4)
    ema = EMA(model, 0.999)
    x = torch.randint(0, 255, (bs * 4, 1, 48, 48), dtype=torch.uint8)
    y = torch.randint(0, 7, (bs * 4,))
    cw = torch.ones(7)
    per_run = []
    for nb in (2, 4):
        with HostDispatches() as h:
            train_one_epoch(model, opt, sched, x[:bs * nb], y[:bs * nb], args, nb, ema=ema, augment=build_augment(args),
                            class_weights=cw)
        assert h.reads == {}, h.reads
        per_run.append(h.ops)
    assert per_run[1] > per_run[0] > 0  # the counter sees the steps
