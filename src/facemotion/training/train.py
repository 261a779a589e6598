"""``facemotion train`` (shaped like torchvision's reference scripts: :func:`get_args_parser`
and :func:`main`; the loop is in :mod:`.engine`).

    facemotion train --arch mini_xception --data fer2013.zip --epochs 80 --out runs/mx

Protocol: the model learns on the ``train`` split and is selected on ``val`` (FER2013's
PublicTest). The ``test`` split (PrivateTest) is never loaded here -- see
:func:`facemotion.datasets.load_training_data` -- so no choice made during training can peek
at it.

This module imports torch only inside :func:`main`: the CLI builds its parser on the core
install too.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..datasets import SPLIT_USAGE, load_training_data
from ..datasets.loading import add_label_options
from ..errors import FacemotionError, UsageError
from ..labels import NUM_CLASSES
from ..fileio import open_text, write_text
from ..validate import deprecated_alias, device, integer, json_object, number, option
from ..validate import threads as validate_threads


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="facemotion train", add_help=add_help,
        description="Train an emotion classifier on FER2013 (or your own <class>/<images> folder). "
                    "Selects on the validation split (PublicTest); never reads the test split (PrivateTest).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--arch", dest="arch", default="mini_xception", metavar="ARCH",
                   help="architecture to train (a registry name: `facemotion models` lists them; not a shipped model)")
    p.add_argument("--model", dest="arch", metavar="ARCH", action=deprecated_alias("--arch"), help=argparse.SUPPRESS)
    p.add_argument("--model-kwargs", default={}, type=option(json_object), help='JSON dict of architecture arguments, e.g. \'{"batchnorm": false}\'')
    p.add_argument("--data", required=True, help="fer2013.csv (or fer2013.tar.gz), the Kaggle folder/zip/tar, or a <class>/<images> folder")
    add_label_options(p)
    p.add_argument("--extra-data", nargs="+", default=[], metavar="FOLDER",
                   help="<emotion>/<face crop> folders added to the training split only (e.g. the crops "
                        "benchmarks/public_sets.py writes); their faces get one-hot targets in the run's labels")
    p.add_argument("--target", dest="target", choices=["probability", "majority"], action=deprecated_alias("--vote-scheme"),
                   default="probability", help=argparse.SUPPRESS)  # explain's --target names an emotion
    p.add_argument("--vote-scheme", dest="target", choices=["probability", "majority"], default="probability",
                   help="with --labels ferplus, what the network learns: the crowd's vote distribution "
                        "(FER+'s 'probability' scheme) or its majority emotion")
    p.add_argument("--out", default="runs/train", help="output folder for checkpoints, log and curves")
    p.add_argument("--epochs", type=option(integer, 1), default=80)
    p.add_argument("--batch-size", type=option(integer, 1), default=128)
    p.add_argument("--lr", type=option(number, 0, lo_open=True), default=2e-3, help="peak learning rate")
    p.add_argument("--opt", choices=["adamw", "adam", "sgd"], default="adamw")
    p.add_argument("--momentum", type=option(number, 0, 1, hi_open=True), default=0.9, help="SGD momentum (Nesterov)")
    p.add_argument("--weight-decay", type=option(number, 0), default=1e-4)
    p.add_argument("--sched", choices=["cosine", "onecycle", "plateau", "none"], default="cosine")
    p.add_argument("--warmup-epochs", type=option(number, 0), default=2.0)
    p.add_argument("--label-smoothing", type=option(number, 0, 1, hi_open=True), default=0.1,
                   help="mix this much of a uniform distribution into every target (soft vote targets included)")
    p.add_argument("--class-weights", choices=["none", "balanced", "sqrt"], default="none",
                   help="weight the loss by inverse class frequency (helps 'disgust' recall)")
    # augmentation
    p.add_argument("--shift", type=option(number, 0, 0.5), default=0.1, help="max random translation, fraction of the side")
    p.add_argument("--zoom", type=option(number, 0, 1, hi_open=True), default=0.1, help="max random zoom in/out, fraction")
    p.add_argument("--rotate", type=option(number, 0, 180), default=10.0, help="max random rotation, degrees")
    p.add_argument("--no-flip", dest="flip", action="store_false", help="disable random horizontal flips")
    p.add_argument("--erase", type=option(number, 0, 1), default=0.0, help="probability of random erasing")
    p.add_argument("--corrupt", type=option(number, 0, 1), default=0.0, metavar="P",
                   help="share of faces given a corruption users' faces come with (low resolution, blur, noise, "
                        "JPEG, lighting, tilt, occlusion; training/corrupt.py): robustness training, 0 = off")
    p.add_argument("--corrupt-mix", type=option(number, 0, 1), default=0.5, metavar="P",
                   help="share of corrupted faces blended back with the clean face (AugMix-style)")
    p.add_argument("--mixup", type=option(number, 0), default=0.0, help="mixup alpha (0 = off)")
    p.add_argument("--cutmix", type=option(number, 0), default=0.0, help="cutmix alpha (0 = off)")
    # knowledge distillation
    p.add_argument("--teacher", nargs="*", default=[],
                   help="teacher(s): .pt checkpoints, exported .onnx files or shipped model names (e.g. 'ensemble'); "
                        "their averaged soft targets are distilled. ONNX teachers imply --kd-offline")
    p.add_argument("--kd-alpha", type=option(number, 0, 1), default=0.7, help="weight of the distillation loss")
    p.add_argument("--kd-temp", type=option(number, 0, lo_open=True), default=4.0, help="distillation temperature")
    p.add_argument("--kd-offline", action="store_true",
                   help="compute the teachers' (flip-averaged) soft targets once per training image instead of "
                        "running every teacher on every batch: an ensemble teacher then costs nothing per step")
    p.add_argument("--teacher-targets", default=None, metavar="FILE",
                   help="offline soft targets made beforehand by `facemotion teacher-targets` (checked "
                        "against these training images and --kd-temp): distil without the teachers' files, "
                        "e.g. on a GPU machine that holds only the data")
    # selection and bookkeeping
    p.add_argument("--ema", type=option(number, 0, 1, hi_open=True), default=0.0, help="EMA decay of weights (e.g. 0.999; 0 = off); selection uses EMA weights")
    p.add_argument("--select", choices=["loss", "acc"], default="loss",
                   help="which validation epoch best.pt keeps: the lowest loss, or the highest accuracy (long "
                        "runs with mixup grow less confident while their accuracy still rises: there the lowest "
                        "loss comes hundreds of epochs before the most accurate weights)")
    p.add_argument("--patience", type=option(integer, 0), default=0, help="early stop after N epochs without improvement (of --select's measure; 0 = off)")
    p.add_argument("--val-fraction", type=option(number, 0, 1, lo_open=True, hi_open=True), default=0.1, help="held-out fraction when the data has no val split")
    p.add_argument("--eval-tta", action="store_true", help="validate with horizontal-flip averaging")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable/malformed samples and count them")
    p.add_argument("--limit", type=option(integer, 0), default=0, help="use only the first N training images (smoke tests)")
    p.add_argument("--seed", type=option(integer, 0, 2**31 - 1), default=0)
    p.add_argument("--threads", type=option(validate_threads), default=0,
                   help="torch's threads (0: one per core; auto: the cores other programs leave idle when the run starts)")
    p.add_argument("--device", default="cpu", type=option(device), help="cpu, cuda, cuda:1, ... (data and augmentation live there too)")
    p.add_argument("--amp", choices=["none", "bf16"], default="none",
                   help="bfloat16 autocast (1.3x for gelu_cnn on AVX-512 BF16 CPUs; use on GPUs)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the training step's network (fuses BatchNorm/activations; pays on GPUs "
                        "after a compile of ~1 min; docs/benchmarks.md#training-speed)")
    p.add_argument("--checkpoint-every", type=option(integer, 1), default=1, metavar="N",
                   help="write last.pt and the curves every N epochs (and at the end); best.pt is written at "
                        "every improvement regardless. On a GPU an epoch can take a second: saving it each time costs more")
    p.add_argument("--no-epoch-files", dest="epoch_files", action="store_false",
                   help="do not keep a <arch>.<epoch>-<val_acc>.pt copy of every improvement (best.pt is kept)")
    p.add_argument("--resume", nargs="?", const="auto", default=None,
                   help="resume from a checkpoint (default: OUT/last.pt)")
    p.add_argument("--prune", type=option(number, 0, 1, lo_open=True, hi_open=True), default=None, metavar="RATIO",
                   help="remove this fraction of the channels of every layer of the --init network (structured "
                        "pruning, torch-pruning), then train the smaller network: use with --init and --teacher")
    p.add_argument("--init", default=None, metavar="CKPT",
                   help="start from this checkpoint's weights (its EMA weights when it has them) with a fresh "
                        "optimizer and schedule: fine-tune a shipped model on your own data, or give a finished "
                        "run a second cosine cycle. The architecture must match --arch/--model-kwargs")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    return p


def main(args) -> dict:
    """Train; under torchrun, as one of its processes (see :mod:`.distributed`). ``args`` (from
    :func:`get_args_parser`) is not changed: the run works on a copy completed with what the
    process setup decided (device, threads, processes)."""
    from .distributed import setup

    threads = args.threads
    if threads == "auto":
        from ..threads import auto_threads

        threads = auto_threads()
    dist, device, threads = setup(args.device, threads)
    cfg = argparse.Namespace(**{**vars(args), "device": device, "threads": threads, "world_size": dist.world,
                                "progress": args.progress and dist.main})
    try:
        return _train(cfg, dist)
    finally:
        dist.close()


def _train(cfg, dist) -> dict:
    """The steps of a run: output folder, data, network, where it starts from, distillation
    targets, then the epochs (each trained, validated and recorded)."""
    import torch

    from .ema import EMA
    from .engine import build_optimizer, build_scheduler

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    say = print if dist.main else (lambda *a, **k: None)  # one process speaks for all
    out = _prepare_out(cfg, dist)
    data = _load_data(cfg, dist, say)
    model, model_kwargs = _build_model(cfg, data.x_tr.device, len(data.labels))
    ck, model, init_training = _starting_point(cfg, model, model_kwargs, data.x_tr, out, say)
    optimizer = build_optimizer(model, cfg)
    steps_per_epoch = len(data.y_tr) // dist.world // cfg.batch_size  # --batch-size is per process
    schedule = build_scheduler(optimizer, cfg, steps_per_epoch)
    ema = EMA(model, cfg.ema) if cfg.ema > 0 else None
    teachers, targets = _distillation(cfg, data.x_tr, out, dist, say)
    run = _RunState(init_training=init_training)
    if ck is not None:
        run.restore(ck, model, optimizer, schedule, ema)
        say(f"resumed from {ck['_path']} at epoch {ck['epoch']}", file=sys.stderr)
    ranks = f"; {dist.world} processes ({dist.backend}), each a shard" if dist.enabled else ""
    say(f"{cfg.arch}: {run.parameters(model):,} parameters; train {len(data.y_tr):,} / val {len(data.y_va):,} images; "
        f"{steps_per_epoch} steps/epoch{ranks}; threads {torch.get_num_threads()}", file=sys.stderr)
    _epochs(cfg, dist, out, data, model, optimizer, schedule, ema, teachers, targets, run, say)
    summary = {"model": cfg.arch, "parameters": run.parameters(model), "epochs_run": len(run.history),
               "best": run.best, "out": str(out)}
    if dist.main:
        write_text(out / "summary.json", json.dumps(summary, indent=2))
    return summary


def _prepare_out(cfg, dist) -> Path:
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {out} is a file; give a folder for the run")
    out.mkdir(parents=True, exist_ok=True)
    if dist.main:
        for leftover in out.glob(".*.tmp*"):  # what a run killed mid-write left under a temporary name
            leftover.unlink(missing_ok=True)
    if cfg.teacher_targets and not cfg.teacher and not Path(cfg.teacher_targets).exists():
        raise UsageError(f"--teacher-targets: {cfg.teacher_targets} does not exist; make it with "
                         "`facemotion teacher-targets`, or name --teacher to compute it")
    if cfg.prune and not cfg.init:
        raise UsageError("--prune: give the trained network to prune with --init CKPT")
    return out


@dataclass
class _Data:
    x_tr: object
    y_tr: object
    x_va: object
    y_va: object
    val_split: str  # what the validation split is called in the records ("PublicTest" for FER2013)
    labels: tuple = ()     # the label set the network learns (the card's labels)
    t_tr: object = None    # soft targets (FER+ vote distributions), or None: one-hot labels
    t_va: object = None


def _load_data(cfg, dist, say) -> _Data:
    """The training and validation images, uint8, on the training device (a GPU holds them all)."""
    import torch

    from .engine import to_tensors

    train, val = load_train_val(cfg)
    if train.skipped:
        say(f"skipped {len(train.skipped)} bad training samples (first: {train.skipped[0]})", file=sys.stderr)
    dev = torch.device(cfg.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device: {cfg.device} asked for, but this torch sees no CUDA GPU")
    x_tr, y_tr = (t.to(dev) for t in to_tensors(train))
    x_va, y_va = (t.to(dev) for t in to_tensors(val))
    t_tr, t_va = ((torch.from_numpy(sp.targets).to(dev) if sp.targets is not None else None) for sp in (train, val))
    if train.dropped or val.dropped:
        say(f"--labels {cfg.labels}: left out {train.dropped} training and {val.dropped} validation faces "
            "(no FER+ votes, or mostly 'unknown' / 'not a face')", file=sys.stderr)
    if len(y_tr) // dist.world < cfg.batch_size:
        raise FacemotionError(f"{cfg.data}: only {len(y_tr)} training images, fewer than --batch-size "
                              f"{cfg.batch_size}{f' for each of {dist.world} processes' if dist.enabled else ''}")
    name = SPLIT_USAGE["val"] if SPLIT_USAGE["val"] in str(val.sources[:1]) else "val"
    return _Data(x_tr, y_tr, x_va, y_va, name, tuple(train.label_names), t_tr, t_va)


def _build_model(cfg, dev, num_classes: int):
    import torch

    from .models import create_model

    model_kwargs = json_object("--model-kwargs", cfg.model_kwargs)
    if num_classes != NUM_CLASSES:  # FER+'s eight: the output layer is sized by the labels, and the card says so
        model_kwargs = {**model_kwargs, "num_classes": num_classes}
    try:
        model = create_model(cfg.arch, **model_kwargs)
    except KeyError as e:
        raise UsageError(f"--arch: {e.args[0]}") from None
    except TypeError as e:  # an argument the architecture does not take
        raise UsageError(f"--model-kwargs: {cfg.arch} does not take these arguments ({e})") from None
    return model.to(dev, memory_format=torch.channels_last), model_kwargs


def _starting_point(cfg, model, model_kwargs, x_tr, out: Path, say):
    """Where the weights start: the run's own checkpoint (--resume), another's (--init), pruned
    (--prune) or fresh. Returns (the checkpoint resumed or None, the network, the --init record)."""
    import torch

    from .checkpoint import load_checkpoint
    from .prune import fit_to_state, prune_channels
    from .warmstart import init_from

    resume = (out / "last.pt") if cfg.resume == "auto" else (Path(cfg.resume) if cfg.resume else None)
    if resume is None or not resume.exists():
        if cfg.resume not in (None, "auto"):
            raise FacemotionError(f"{resume}: no checkpoint to resume from")
        init_training = init_from(model, cfg.init, cfg.arch, model_kwargs, x_tr) if cfg.init else None
        if cfg.prune:
            rec = prune_channels(model, cfg.prune, source=Path(cfg.init).name)
            say(f"pruned {cfg.prune:.0%} of the channels: {rec['mflops_before']:.0f} -> {rec['mflops_after']:.0f} "
                f"MFLOPs, {rec['parameters_before']:,} -> {rec['parameters_after']:,} parameters", file=sys.stderr)
            model = model.to(memory_format=torch.channels_last)  # the rebuilt layers' tensors are not
        return None, model, init_training
    # a resumed --init run takes its weights (and the init's compute) from last.pt: the
    # starting checkpoint is not needed again, and may be gone by then
    ck = load_checkpoint(resume, map_location=x_tr.device)
    if ck.get("arch") != cfg.arch or (ck.get("arch_kwargs") or {}) != model_kwargs:
        raise UsageError(f"--resume: {resume} is a run of {ck.get('arch')} {ck.get('arch_kwargs') or {}}, "
                         f"not of {cfg.arch} {model_kwargs}; use another --out or the same --arch")
    if not ck.get("optimizer_state"):
        raise UsageError(f"--resume: {resume} holds weights only (a shipped or slimmed checkpoint), not a "
                         "run to continue; start from it with --init instead")
    pruned = ck.get("pruned") or {}
    if cfg.prune is not None and pruned.get("ratio") != cfg.prune:
        raise UsageError(f"--prune: {resume} is a run pruned by {pruned.get('ratio', 0)}, not {cfg.prune}; "
                         "use another --out")
    if pruned:  # a pruned run's network is smaller than the registry's: take its shape first
        fit_to_state(model, ck["model_state"], pruned)
        model = model.to(memory_format=torch.channels_last)
    ck["_path"] = resume
    return ck, model, None


def _distillation(cfg, x_tr, out: Path, dist, say):
    """(teachers run on every batch, or none; soft targets per training image, or None)."""
    from .distill import OnnxTeacher, cached_teacher_targets, load_teacher, load_teacher_targets

    if cfg.teacher_targets and Path(cfg.teacher_targets).exists():
        return [], load_teacher_targets(cfg.teacher_targets, x_tr, kd_temp=cfg.kd_temp, limit=cfg.limit,
                                        seed=cfg.seed)
    teachers = [load_teacher(t, x_tr.device) for t in cfg.teacher]
    offline = cfg.kd_offline
    if any(isinstance(t, OnnxTeacher) for t in teachers) and not offline:
        # ONNX Runtime on every augmented batch would be slow (and CPU-only): targets once per image
        say("an ONNX teacher distils offline: turning on --kd-offline", file=sys.stderr)
        offline = True
    if not teachers or not offline:
        return teachers, None
    if not dist.main:
        dist.barrier()  # rank 0 computes the targets once; the others then read its cache
    targets = cached_teacher_targets(teachers, cfg.teacher, x_tr, Path(cfg.teacher_targets or out / "teacher_targets.pt"),
                                     kd_temp=cfg.kd_temp, limit=cfg.limit, seed=cfg.seed, progress=cfg.progress)
    if dist.main:
        dist.barrier()
    return [], targets  # the teachers are no longer needed: their memory goes


@dataclass
class _RunState:
    """What a run carries from epoch to epoch (and through a resume): step, history, best."""

    start_epoch: int = 1
    step: int = 0
    history: list = field(default_factory=list)
    best: dict = field(default_factory=lambda: {"val_loss": float("inf"), "val_acc": 0.0, "epoch": 0})
    init_training: dict | None = None

    def restore(self, ck, model, optimizer, schedule, ema) -> None:
        model.load_state_dict(ck["model_state"])
        optimizer.load_state_dict(ck["optimizer_state"])
        schedule.load_state_dict(ck.get("scheduler_state"))
        if ema is not None and ck.get("ema_state"):
            ema.module.load_state_dict(ck["ema_state"])
        self.start_epoch, self.step = ck["epoch"] + 1, ck["step"]
        self.history, self.best = ck["history"], ck["best"]
        self.init_training = ck.get("init_training", self.init_training)

    @staticmethod
    def parameters(model) -> int:
        from .models import count_parameters

        return count_parameters(model)

    def bad_epochs(self) -> int:
        return self.history[-1]["epoch"] - self.best["epoch"] if self.history else 0


def _epochs(cfg, dist, out, data, model, optimizer, schedule, ema, teachers, targets, run, say) -> None:
    """Train, validate (the EMA weights when kept) and record each epoch; stop early on --patience."""
    import torch

    from .augment import BatchAugment
    from .engine import class_weights, evaluate, train_one_epoch

    trained = dist.wrap(model)  # DistributedDataParallel averages the gradients; model stays the bare network
    if data.x_tr.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: autotune each convolution once
    # the compiled network is used for training steps only; validation runs the plain modules
    # (their weights are the same tensors), so eval mode and the ragged last batch cause no recompile
    forward = torch.compile(trained) if cfg.compile else trained
    augment = BatchAugment(cfg.shift, cfg.zoom, cfg.rotate, cfg.flip, cfg.erase)
    if cfg.corrupt > 0:
        from .corrupt import CorruptAugment

        augment = _chain(augment, CorruptAugment(cfg.corrupt, cfg.corrupt_mix))
    cw = class_weights(data.y_tr, cfg.class_weights, len(data.labels))
    # last.pt is written before the log line: a kill between the two loses that line, so the log
    # is rewritten from the checkpoint's history (the record of truth) whenever a run resumes
    if run.history and dist.main:
        _write_log(out / "log.csv", run.history)
    for epoch in range(run.start_epoch, cfg.epochs + 1):
        tr, run.step = train_one_epoch(trained, optimizer, schedule, data.x_tr, data.y_tr, cfg, epoch, ema=ema,
                                       targets=data.t_tr, teachers=teachers, teacher_targets=targets,
                                       class_weights=cw, augment=augment, step=run.step, dist=dist, forward=forward,
                                       num_classes=len(data.labels))
        eval_model = ema.module if ema is not None else model
        t0 = time.perf_counter()
        dist.share_buffers(model)
        dist.share_buffers(eval_model)
        va = evaluate(eval_model, data.x_va, data.y_va, tta="flip" if cfg.eval_tta else "none", dist=dist,
                      targets=data.t_va)
        schedule.after_epoch(va["val_loss"])
        row = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], **tr, **va,
               "eval_time_s": time.perf_counter() - t0}
        run.history.append(row)
        improved = (va["val_loss"] < run.best["val_loss"] if cfg.select == "loss"
                    else va["val_acc"] > run.best["val_acc"])
        if improved:
            run.best = {"val_loss": va["val_loss"], "val_acc": va["val_acc"], "epoch": epoch}
        stop = bool(cfg.patience) and run.bad_epochs() >= cfg.patience
        if dist.main:  # one writer; the others wait at the barrier, so a resume finds every file
            _record_epoch(cfg, out, data, model, optimizer, schedule, ema, run, row, improved,
                          last=stop or epoch == cfg.epochs)
        dist.barrier()
        if stop:
            say(f"early stop: val {cfg.select} has not improved for {run.bad_epochs()} epochs", file=sys.stderr)
            break


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
    meta = describe(model, epoch=epoch, step=run.step, parameters=run.parameters(model), labels=data.labels,
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


def load_train_val(args):
    """The training and validation splits a run with these arguments sees (``--limit`` applied)."""
    train, val = load_training_data(args.data, val_fraction=args.val_fraction, seed=args.seed,
                                    skip_bad=args.skip_bad, progress=args.progress,
                                    labels=getattr(args, "labels", "fer2013"), votes=getattr(args, "votes", None),
                                    target=getattr(args, "target", "probability"))
    for extra in getattr(args, "extra_data", None) or ():
        train = with_extra_faces(train, extra, skip_bad=args.skip_bad, progress=args.progress)
    if args.limit and args.limit < len(train):
        # a random (seeded) subset: the files are sorted by class, so a prefix would be one class
        keep = np.sort(np.random.default_rng(args.seed).permutation(len(train))[:args.limit])
        dropped = train.dropped
        train = train.subset(keep)
        train.dropped = dropped
    return train, val


def with_extra_faces(train, folder, *, skip_bad: bool = False, progress: bool = True):
    """``train`` with the faces of an <emotion>/<image> folder appended, their labels mapped by
    name into ``train``'s label set and, where ``train`` has soft targets (FER+ votes), one-hot
    targets: a student's single label is a crowd of one. The vote records stay FER2013's
    alone (``votes`` is dropped for the mixed split; nothing in training reads it)."""
    from ..datasets import Split, load_splits
    from ..labels import EMOTIONS, canonical_emotion

    extra = load_splits(folder, ("train",), skip_bad=skip_bad, progress=progress)["train"]
    names = tuple(train.label_names)
    try:  # by folder name, so a contempt folder stays contempt where the run has FER+'s eight labels
        y = np.array([names.index(canonical_emotion(Path(str(src)).parent.name or EMOTIONS[k], names))
                      for src, k in zip(extra.sources, extra.labels)], np.int64)
    except ValueError as e:
        raise FacemotionError(f"--extra-data {folder}: {e}") from None
    targets = None
    if train.targets is not None:
        targets = np.concatenate([train.targets, np.eye(len(names), dtype=train.targets.dtype)[y]])
    return Split(train.name, np.concatenate([train.images, extra.images]), np.concatenate([train.labels, y]),
                 np.concatenate([train.sources.astype(str), extra.sources.astype(str)]),
                 train.skipped + extra.skipped, targets, None, names, train.dropped)


def teacher_targets_main(args) -> dict:
    """``facemotion teacher-targets``: the offline soft targets of ``--teacher`` on the training
    images a run with the same --data/--limit/--seed/--val-fraction sees, written to ``-o`` for
    a later ``train --teacher-targets`` (on a machine that lacks the teachers' files)."""
    import torch

    from .distill import cached_teacher_targets, load_teacher
    from .engine import to_tensors

    if not args.teacher:
        raise UsageError("--teacher: name at least one teacher")
    train, _ = load_train_val(args)
    x_tr, _ = to_tensors(train)
    teachers = [load_teacher(t, torch.device("cpu")) for t in args.teacher]
    targets = cached_teacher_targets(teachers, args.teacher, x_tr, Path(args.out), kd_temp=args.kd_temp,
                                     limit=args.limit, seed=args.seed, progress=args.progress)
    acc = float((targets.argmax(1) == torch.from_numpy(train.labels)).float().mean())
    return {"out": args.out, "images": len(x_tr), "teacher_train_acc": acc}


def _write_log(path: Path, history: list[dict]) -> None:
    """log.csv from a run's per-epoch history, in one atomic write."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(history[0]))
    w.writeheader()
    w.writerows(history)
    write_text(path, buf.getvalue())


if __name__ == "__main__":  # pragma: no cover
    main(get_args_parser().parse_args())
