"""A resumed run goes on as it began (the optimizer, the schedule and the step it was laid out
for are not changed under it), --patience counts validations, and the training wing's reports
and errors name what they are about."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the training wing needs torch (the [train] extra)")

from facemotion.errors import FacemotionError, UsageError  # noqa: E402
from facemotion.training.train import main  # noqa: E402

from conftest import faces_like, train_args  # noqa: E402


@pytest.mark.parametrize("flag, value, began", [("opt", "sgd", "adamw"), ("sched", "plateau", "cosine"),
                                                ("lr", 0.02, "0.002"), ("batch_size", 8, "4"),
                                                ("warmup_epochs", 0.5, "2.0"), ("weight_decay", 0.01, "0.0001")])
def test_a_resume_keeps_the_optimizer_and_schedule_it_began_with(kaggle_zip, tmp_path, flag, value, began):
    out = tmp_path / "run"
    main(train_args(kaggle_zip, out, epochs=1))
    name = "--" + flag.replace("_", "-")
    with pytest.raises(UsageError, match=rf"^--resume: .*last\.pt is a run with {name} {began}, not {value} "
                                         rf"\(its optimizer and schedule go on as they were\); continue it with "
                                         rf"{name} {began}, or start from it with --init"):
        main(train_args(kaggle_zip, out, epochs=2, resume=True, **{flag: value}))
    assert main(train_args(kaggle_zip, out, epochs=2, resume=True))["epochs_run"] == 2  # as it began: it goes on


def test_a_schedule_goes_on_from_its_epochs_when_an_epoch_takes_other_steps():
    """A run resumed on another number of processes takes more or fewer steps an epoch: its
    cosine goes on where its epochs put it (with the old step count, a larger batch's rate fell
    to 0 halfway)."""
    from types import SimpleNamespace

    from facemotion.training.engine import build_scheduler
    from facemotion.training.loop import RunState

    cfg = SimpleNamespace(epochs=4, warmup_epochs=1.0, sched="cosine", lr=0.1)

    def made(steps_per_epoch, steps):
        model = torch.nn.Linear(2, 2)
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
        schedule = build_scheduler(opt, cfg, steps_per_epoch)
        for _ in range(steps):
            opt.step()
            schedule.after_step()
        return model, opt, schedule

    model, opt, schedule = made(20, 40)  # two epochs of 20 steps
    ck = {"model_state": model.state_dict(), "optimizer_state": opt.state_dict(), "scheduler_state": schedule.state_dict(),
          "epoch": 2, "step": 40, "history": [], "best": {"val_loss": 1.0, "val_acc": 0.5, "epoch": 2}}
    model, opt, schedule = made(10, 0)  # now 10 steps an epoch
    RunState().restore(ck, model, opt, schedule, None, steps_per_epoch=10)
    _, want, _ = made(10, 20)  # two epochs of 10 steps: halfway through the cosine after warm-up
    assert math.isclose(opt.param_groups[0]["lr"], want.param_groups[0]["lr"], rel_tol=1e-9)
    assert 0.02 < opt.param_groups[0]["lr"] < 0.08


def test_patience_counts_validations_not_the_epochs_between():
    from facemotion.training.loop import RunState

    nan = float("nan")
    run = RunState(history=[{"epoch": e, "val_loss": v, "val_acc": v} for e, v in enumerate([1.0, nan, nan, nan, 1.2], 1)],
                   best={"val_loss": 1.0, "val_acc": 0.5, "epoch": 1})
    assert run.validations_since_best() == 1
    # a run that diverged: its validations' loss is NaN, their accuracy a number; they count
    run.history = [{"epoch": e, "val_loss": 1.0 if e == 1 else nan, "val_acc": 0.5 if e == 1 else 0.14}
                   for e in range(1, 6)]
    assert run.validations_since_best() == 4


def test_a_teacher_of_other_labels_is_named_by_its_file(tiny_checkpoint):
    from facemotion.training.distill import load_teacher, offline_teacher_targets

    teacher = load_teacher(str(tiny_checkpoint), "cpu")
    images = torch.from_numpy(faces_like(4)).unsqueeze(1)  # N x 1 x 48 x 48, as a run holds them
    with pytest.raises(FacemotionError) as e:
        offline_teacher_targets([teacher], images, 1.0, progress=False, classes=8)
    assert str(e.value).startswith(f"--teacher {tiny_checkpoint}: gives 7 emotions, the run learns 8")
    assert "\n" not in str(e.value)


def test_reports_name_runs_apart_and_a_checkpoint_scores_as_its_export(tiny_checkpoint, tmp_path):
    import shutil

    from facemotion.classify import load_classifier
    from facemotion.training.eval_report import distinct_names
    from facemotion.training.evaluate import model_logits
    from facemotion.training.export import export_onnx

    assert distinct_names(["runs/a/best.pt", "runs/b/best.pt"]) == ["a/best.pt", "b/best.pt"]
    run = tmp_path / "mx"
    run.mkdir()
    shutil.copy(tiny_checkpoint, run / "best.pt")
    export_onnx(str(run / "best.pt"), tmp_path / "mx.onnx", tta="none")
    assert load_classifier(str(run / "best.pt")).card.name == ""  # a run's checkpoint carries no name
    assert load_classifier(str(run / "best.pt")).name == "mx/best"
    faces = faces_like(16)
    soft = [torch.softmax(torch.from_numpy(np.asarray(model_logits(m, faces, tta="flip"), np.float64)), 1).numpy()
            for m in (str(run / "best.pt"), str(tmp_path / "mx.onnx"))]
    assert np.abs(soft[0] - soft[1]).max() < 1e-4  # views averaged alike: as logits
