"""The epochs of a training run: each trained (:func:`.engine.train_one_epoch`), validated,
recorded (log.csv, curves, checkpoints) and checked for early stopping; resumable from what a
checkpoint carries (:class:`RunState`)."""

from __future__ import annotations

import csv
import io
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..fileio import open_text, write_text
from ..names import count


@dataclass
class RunState:
    """What a run carries from epoch to epoch (and through a resume): step, history, best."""

    start_epoch: int = 1
    step: int = 0
    history: list = field(default_factory=list)
    best: dict = field(default_factory=lambda: {"val_loss": float("inf"), "val_acc": 0.0, "epoch": 0})
    init_training: dict | None = None

    def restore(self, ck, model, optimizer, schedule, ema, steps_per_epoch: int | None = None) -> None:
        """``ck``'s state into these objects; ``steps_per_epoch``: this run's, where a run resumed
        on another number of processes takes more or fewer steps an epoch (the schedule goes on
        from where its epochs put it, not its step count)."""
        model.load_state_dict(ck["model_state"])
        optimizer.load_state_dict(ck["optimizer_state"])
        schedule.load_state_dict(ck.get("scheduler_state"))
        if steps_per_epoch and ck["epoch"] * steps_per_epoch != ck["step"]:
            schedule.move_to(ck["epoch"] * steps_per_epoch)
        if ema is not None and ck.get("ema_state"):
            ema.module.load_state_dict(ck["ema_state"])
        self.start_epoch, self.step = ck["epoch"] + 1, ck["step"]
        self.history, self.best = ck["history"], ck["best"]
        self.init_training = ck.get("init_training", self.init_training)

    @staticmethod
    def parameters(model) -> int:
        from .models import count_parameters

        return count_parameters(model)

    def validations_since_best(self) -> int:
        """The validations since the best one: --eval-every's epochs between, whose every val
        column is NaN, are not counted; a validation whose loss is NaN (a run that diverged) is,
        its accuracy being a number."""
        return sum(1 for r in self.history if r["epoch"] > self.best["epoch"] and r.get("val_acc") == r.get("val_acc"))


def run_epochs(cfg, dist, out, data, model, optimizer, schedule, ema, teachers, targets, run, say) -> None:
    """Train, validate (the EMA weights when kept) and record each epoch; stop early on --patience."""
    import torch

    from .engine import class_weights, evaluate, train_one_epoch

    trained = dist.wrap(model)  # DistributedDataParallel averages the gradients; model stays the bare network
    if data.x_tr.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: autotune each convolution once
    # the compiled network is used for training steps only; validation runs the plain modules
    # (their weights are the same tensors), so eval mode and the ragged last batch cause no recompile
    forward = torch.compile(trained) if cfg.compile else trained
    augment = build_augment(cfg)
    cw = class_weights(data.y_tr, cfg.class_weights, len(data.labels))
    unlabelled = _consistency(cfg, data)
    # last.pt is written before the log line: a kill between the two loses that line, so the log
    # is rewritten from the checkpoint's history (the record of truth) whenever a run resumes
    if run.history and dist.main:
        _write_log(out / "log.csv", run.history)
    # --kd-skip-extra: the distillation term weighs 1 on --data's faces and 0 on --extra-data's
    kd_weight = (~data.extra_tr).float() if cfg.kd_skip_extra else None
    every, skipped = getattr(cfg, "eval_every", 1), None
    for epoch in range(run.start_epoch, cfg.epochs + 1):
        tr, run.step = train_one_epoch(trained, optimizer, schedule, data.x_tr, data.y_tr, cfg, epoch, ema=ema,
                                       targets=data.t_tr, teachers=teachers, teacher_targets=targets,
                                       class_weights=cw, augment=augment, step=run.step, dist=dist, forward=forward,
                                       num_classes=len(data.labels), unlabelled=unlabelled,
                                       kd_weight=kd_weight, sample_weight=data.w_tr)
        if unlabelled is not None:
            tr["unlabelled_sure"] = unlabelled.take_sure_rate()
        eval_model = ema.module if ema is not None else model
        t0 = time.perf_counter()
        # --eval-every: the epochs between validations log NaN (the run's first is validated, so
        # the columns are known; its last, so best.pt has seen the end)
        if skipped is None or epoch % every == 0 or epoch == cfg.epochs:
            va = _validate(cfg, dist, data, model, eval_model, schedule, evaluate)
            skipped = dict.fromkeys(va, float("nan"))
        else:
            va = skipped
        row = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], **tr, **va,
               "eval_time_s": time.perf_counter() - t0}
        run.history.append(row)
        improved = (va["val_loss"] < run.best["val_loss"] if cfg.select == "loss"
                    else va["val_acc"] > run.best["val_acc"])
        if improved:
            run.best = {"val_loss": va["val_loss"], "val_acc": va["val_acc"], "epoch": epoch}
        stop = bool(cfg.patience) and run.validations_since_best() >= cfg.patience
        if dist.main:  # one writer; the others wait at the barrier, so a resume finds every file
            _record_epoch(cfg, out, data, model, optimizer, schedule, ema, run, row, improved,
                          last=stop or epoch == cfg.epochs)
        dist.barrier()
        if stop:
            say(f"early stop: val {cfg.select} has not improved for {count(run.validations_since_best(), 'validation')}",
                file=sys.stderr)
            break


def _validate(cfg, dist, data, model, eval_model, schedule, evaluate) -> dict:
    """One validation of ``eval_model`` (the EMA weights when kept), stepping a plateau schedule."""
    dist.share_buffers(model)
    dist.share_buffers(eval_model)
    va = evaluate(eval_model, data.x_va, data.y_va, tta="flip" if cfg.eval_tta else "none", dist=dist,
                  targets=data.t_va)
    schedule.after_epoch(va["val_loss"])
    return va


def _consistency(cfg, data):
    """The FixMatch loss on --unlabelled faces, or None."""
    if data.x_unl is None:
        return None
    from .consistency import Consistency

    return Consistency(data.x_unl, weight=cfg.unlabelled_weight, threshold=cfg.unlabelled_threshold,
                       shift=cfg.shift, zoom=cfg.zoom, rotate=cfg.rotate, flip=cfg.flip)


def build_augment(cfg):
    """The training images' augmentation from the command's options: the geometry and erasing
    (:class:`.augment.BatchAugment`), then the corruptions where ``--corrupt`` asks for them.
    ``benchmarks/train_speed.py`` times the same chain."""
    from .augment import BatchAugment

    augment = BatchAugment(cfg.shift, cfg.zoom, cfg.rotate, cfg.flip, cfg.erase)
    if cfg.corrupt > 0:
        from .corrupt import CorruptAugment

        augment = _chain(augment, CorruptAugment(cfg.corrupt, cfg.corrupt_mix))
    return augment


def _chain(*steps):
    def augment(x, gen):
        for step in steps:
            x = step(x, gen)
        return x
    return augment


def _record_epoch(cfg, out, data, model, optimizer, schedule, ema, run, row, improved: bool, last: bool) -> None:
    """The epoch's checkpoints (best.pt at an improvement, last.pt every --checkpoint-every
    epochs and at the end), its log line (appended: a kill loses nothing) and the curves."""
    from ..plots import training_curves
    from .checkpoint import atomic_torch_save, describe

    epoch = row["epoch"]
    # the card's views are those its metrics were measured with (--eval-tta: the mirror average too)
    meta = describe(model, epoch=epoch, step=run.step, parameters=run.parameters(model), labels=data.labels,
                    tta="flip" if cfg.eval_tta else "none",
                    metrics={"val_loss": row["val_loss"], "val_acc": row["val_acc"], "val_split": data.val_split},
                    train_args={k: v for k, v in vars(cfg).items() if k != "func"}, best=run.best,
                    history=run.history, **({"init_training": run.init_training} if run.init_training else {}))
    state = {**meta, "model_state": model.state_dict(), "optimizer_state": optimizer.state_dict(),
             "scheduler_state": schedule.state_dict(), "ema_state": ema.module.state_dict() if ema is not None else None}
    if improved:
        if cfg.epoch_files:  # the design's naming: <model>.<epoch>-<val_acc>.pt, one file per improvement
            atomic_torch_save(state, out / f"{cfg.arch}.{epoch:02d}-{row['val_acc']:.2f}.pt")
        atomic_torch_save(state, out / "best.pt")
    saving = last or epoch % cfg.checkpoint_every == 0
    if saving:
        atomic_torch_save(state, out / "last.pt")
    log_path = out / "log.csv"
    new = not log_path.exists()
    with open_text(log_path, "a") as fh:
        w = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)
    if saving:
        training_curves(run.history, out)
    print(f"epoch {epoch:3d}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}  "
          f"val loss {row['val_loss']:.4f} acc {row['val_acc']:.4f}  {row['img_per_s']:.0f} img/s"
          f"{'  *' if improved else ''}", file=sys.stderr, flush=True)


def _write_log(path: Path, history: list[dict]) -> None:
    """log.csv from a run's per-epoch history, in one atomic write."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(history[0]))
    w.writeheader()
    w.writerows(history)
    write_text(path, buf.getvalue())

