"""``facemotion train`` (shaped like torchvision's reference scripts: :func:`get_args_parser`
and :func:`main`; the loop is in :mod:`.engine`).

    facemotion train --model mini_xception --data fer2013.zip --epochs 80 --out runs/mx

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
from pathlib import Path

import numpy as np

from ..datasets import SPLIT_USAGE, load_training_data
from ..errors import FacemotionError, UsageError
from ..fileio import open_text, write_text
from ..validate import device, integer, json_object, number, option


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="facemotion train", add_help=add_help,
        description="Train an emotion classifier on FER2013 (or your own <class>/<images> folder). "
                    "Selects on the validation split (PublicTest); never reads the test split (PrivateTest).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--arch", "--model", dest="model", default="mini_xception", metavar="ARCH",
                   help="architecture to train (a registry name: `facemotion models` lists them; not a shipped model)")
    p.add_argument("--model-kwargs", default={}, type=option(json_object), help='JSON dict of architecture arguments, e.g. \'{"batchnorm": false}\'')
    p.add_argument("--data", required=True, help="fer2013.csv (or fer2013.tar.gz), the Kaggle folder/zip/tar, or a <class>/<images> folder")
    p.add_argument("--out", default="runs/train", help="output folder for checkpoints, log and curves")
    p.add_argument("--epochs", type=option(integer, 1), default=80)
    p.add_argument("--batch-size", type=option(integer, 1), default=128)
    p.add_argument("--lr", type=option(number, 0, lo_open=True), default=2e-3, help="peak learning rate")
    p.add_argument("--opt", choices=["adamw", "adam", "sgd"], default="adamw")
    p.add_argument("--momentum", type=option(number, 0, 1, hi_open=True), default=0.9, help="SGD momentum (Nesterov)")
    p.add_argument("--weight-decay", type=option(number, 0), default=1e-4)
    p.add_argument("--sched", choices=["cosine", "onecycle", "plateau", "none"], default="cosine")
    p.add_argument("--warmup-epochs", type=option(number, 0), default=2.0)
    p.add_argument("--label-smoothing", type=option(number, 0, 1, hi_open=True), default=0.1)
    p.add_argument("--class-weights", choices=["none", "balanced", "sqrt"], default="none",
                   help="weight the loss by inverse class frequency (helps 'disgust' recall)")
    # augmentation
    p.add_argument("--shift", type=option(number, 0, 0.5), default=0.1, help="max random translation, fraction of the side")
    p.add_argument("--zoom", type=option(number, 0, 1, hi_open=True), default=0.1, help="max random zoom in/out, fraction")
    p.add_argument("--rotate", type=option(number, 0, 180), default=10.0, help="max random rotation, degrees")
    p.add_argument("--no-flip", dest="flip", action="store_false", help="disable random horizontal flips")
    p.add_argument("--erase", type=option(number, 0, 1), default=0.0, help="probability of random erasing")
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
    p.add_argument("--patience", type=option(integer, 0), default=0, help="early stop after N epochs without val-loss improvement (0 = off)")
    p.add_argument("--val-fraction", type=option(number, 0, 1, lo_open=True, hi_open=True), default=0.1, help="held-out fraction when the data has no val split")
    p.add_argument("--eval-tta", action="store_true", help="validate with horizontal-flip averaging")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable/malformed samples and count them")
    p.add_argument("--limit", type=option(integer, 0), default=0, help="use only the first N training images (smoke tests)")
    p.add_argument("--seed", type=option(integer, 0, 2**31 - 1), default=0)
    p.add_argument("--threads", type=option(integer, 0), default=0, help="torch threads (0 = all cores)")
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
                        "run a second cosine cycle. The architecture must match --model/--model-kwargs")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    return p


def main(args) -> dict:
    """Train; under torchrun, as one of its processes (see :mod:`.distributed`)."""
    from .distributed import setup

    dist, args.device, args.threads = setup(args.device, args.threads)
    args.world_size = dist.world
    try:
        return _train(args, dist)
    finally:
        dist.close()


def _train(args, dist) -> dict:
    import torch

    from ..plots import training_curves
    from .augment import BatchAugment
    from .checkpoint import atomic_torch_save, describe, load_checkpoint
    from .distill import OnnxTeacher, cached_teacher_targets, load_teacher, load_teacher_targets
    from .ema import EMA
    from .engine import (
        build_optimizer,
        build_scheduler,
        class_weights,
        evaluate,
        to_tensors,
        train_one_epoch,
    )
    from .models import count_parameters, create_model
    from .prune import fit_to_state
    from .warmstart import init_from

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {out} is a file; give a folder for the run")
    out.mkdir(parents=True, exist_ok=True)
    say = print if dist.main else (lambda *a, **k: None)  # one process speaks for all
    args.progress = args.progress and dist.main
    if dist.main:
        for leftover in out.glob(".*.tmp*"):  # what a run killed mid-write left under a temporary name
            leftover.unlink(missing_ok=True)

    if args.teacher_targets and not args.teacher and not Path(args.teacher_targets).exists():
        raise UsageError(f"--teacher-targets: {args.teacher_targets} does not exist; make it with "
                         "`facemotion teacher-targets`, or name --teacher to compute it")
    train, val = load_train_val(args)
    if train.skipped:
        say(f"skipped {len(train.skipped)} bad training samples (first: {train.skipped[0]})", file=sys.stderr)
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device: {args.device} asked for, but this torch sees no CUDA GPU")
    x_tr, y_tr = (t.to(dev) for t in to_tensors(train))
    x_va, y_va = (t.to(dev) for t in to_tensors(val))
    if len(y_tr) // dist.world < args.batch_size:
        raise FacemotionError(f"{args.data}: only {len(y_tr)} training images, fewer than --batch-size "
                              f"{args.batch_size}{f' for each of {dist.world} processes' if dist.enabled else ''}")

    model_kwargs = json_object("--model-kwargs", args.model_kwargs)
    try:
        model = create_model(args.model, **model_kwargs)
    except KeyError as e:
        raise UsageError(f"--arch: {e.args[0]}") from None
    except TypeError as e:  # an argument the architecture does not take
        raise UsageError(f"--model-kwargs: {args.model} does not take these arguments ({e})") from None
    model = model.to(dev, memory_format=torch.channels_last)
    resume = (out / "last.pt") if args.resume == "auto" else (Path(args.resume) if args.resume else None)
    resuming = resume is not None and resume.exists()
    # a resumed --init run takes its weights (and the init's compute) from last.pt: the
    # starting checkpoint is not needed again, and may be gone by then
    init_training = init_from(model, args.init, args.model, model_kwargs, x_tr) if args.init and not resuming else None
    if args.prune and not args.init:
        raise UsageError("--prune: give the trained network to prune with --init CKPT")
    ck = load_checkpoint(resume, map_location=dev) if resuming else None
    if resuming:  # a pruned run's network is smaller than the registry's: take its shape first
        if ck.get("arch") != args.model or (ck.get("arch_kwargs") or {}) != model_kwargs:
            raise UsageError(f"--resume: {resume} is a run of {ck.get('arch')} {ck.get('arch_kwargs') or {}}, "
                             f"not of {args.model} {model_kwargs}; use another --out or the same --arch")
        pruned = ck.get("pruned") or {}
        if args.prune is not None and pruned.get("ratio") != args.prune:
            raise UsageError(f"--prune: {resume} is a run pruned by {pruned.get('ratio', 0)}, not "
                             f"{args.prune}; use another --out")
        if pruned:
            fit_to_state(model, ck["model_state"], pruned)
    elif args.prune:
        from .prune import prune_channels
        rec = prune_channels(model, args.prune, source=Path(args.init).name)
        say(f"pruned {args.prune:.0%} of the channels: {rec['mflops_before']:.0f} -> {rec['mflops_after']:.0f} "
            f"MFLOPs, {rec['parameters_before']:,} -> {rec['parameters_after']:,} parameters", file=sys.stderr)
    if getattr(model, "pruned", None):  # the rebuilt layers' tensors are not channels-last
        model = model.to(dev, memory_format=torch.channels_last)
    optimizer = build_optimizer(model, args)
    steps_per_epoch = len(y_tr) // dist.world // args.batch_size  # --batch-size is per process
    schedule = build_scheduler(optimizer, args, steps_per_epoch)
    ema = EMA(model, args.ema) if args.ema > 0 else None
    teachers = [load_teacher(t, dev) for t in args.teacher]
    if any(isinstance(t, OnnxTeacher) for t in teachers) and not args.kd_offline:
        # ONNX Runtime on every augmented batch would be slow (and CPU-only): targets once per image
        say("an ONNX teacher distils offline: turning on --kd-offline", file=sys.stderr)
        args.kd_offline = True
    teacher_targets = None
    if args.teacher_targets and Path(args.teacher_targets).exists():
        teacher_targets = load_teacher_targets(args.teacher_targets, x_tr, kd_temp=args.kd_temp,
                                               limit=args.limit, seed=args.seed)
        teachers = []
    if teachers and args.kd_offline:
        if not dist.main:
            dist.barrier()  # rank 0 computes the targets once; the others then read its cache
        teacher_targets = cached_teacher_targets(teachers, args.teacher, x_tr,
                                                 Path(args.teacher_targets or out / "teacher_targets.pt"),
                                                 kd_temp=args.kd_temp, limit=args.limit, seed=args.seed,
                                                 progress=args.progress)
        if dist.main:
            dist.barrier()
        teachers = []  # no longer needed: free their memory and skip them in the loop
    augment = BatchAugment(args.shift, args.zoom, args.rotate, args.flip, args.erase)
    cw = class_weights(y_tr, args.class_weights)

    start_epoch, step, history = 1, 0, []
    best = {"val_loss": float("inf"), "val_acc": 0.0, "epoch": 0}
    if resuming:
        model.load_state_dict(ck["model_state"])
        optimizer.load_state_dict(ck["optimizer_state"])
        schedule.load_state_dict(ck.get("scheduler_state"))
        if ema is not None and ck.get("ema_state"):
            ema.module.load_state_dict(ck["ema_state"])
        start_epoch, step = ck["epoch"] + 1, ck["step"]
        history, best = ck["history"], ck["best"]
        init_training = ck.get("init_training", init_training)
        say(f"resumed from {resume} at epoch {ck['epoch']}", file=sys.stderr)
    elif args.resume not in (None, "auto"):
        raise FacemotionError(f"{resume}: no checkpoint to resume from")

    n_params = count_parameters(model)
    ranks = f"; {dist.world} processes ({dist.backend}), each a shard" if dist.enabled else ""
    say(f"{args.model}: {n_params:,} parameters; train {len(y_tr):,} / val {len(y_va):,} images; "
        f"{steps_per_epoch} steps/epoch{ranks}; threads {torch.get_num_threads()}", file=sys.stderr)
    trained = dist.wrap(model)  # DistributedDataParallel averages the gradients; model stays the bare network
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: autotune each convolution once
    # the compiled network is used for training steps only; validation runs the plain modules
    # (their weights are the same tensors), so eval mode and the ragged last batch cause no recompile
    forward = torch.compile(trained) if args.compile else trained
    run_args = {k: v for k, v in vars(args).items() if k != "func"}
    log_path = out / "log.csv"
    # last.pt is written before the log line: a kill between the two loses that line, so the log
    # is rewritten from the checkpoint's history (the record of truth) whenever a run resumes
    if history and dist.main:
        _write_log(log_path, history)
    bad_epochs = 0 if not history else history[-1]["epoch"] - best["epoch"]
    for epoch in range(start_epoch, args.epochs + 1):
        tr_metrics, step = train_one_epoch(trained, optimizer, schedule, x_tr, y_tr, args, epoch, ema=ema,
                                           teachers=teachers, teacher_targets=teacher_targets, class_weights=cw,
                                           augment=augment, step=step, dist=dist, forward=forward)
        eval_model = ema.module if ema is not None else model
        t0 = time.perf_counter()
        dist.share_buffers(model)
        dist.share_buffers(eval_model)
        va = evaluate(eval_model, x_va, y_va, tta="flip" if args.eval_tta else "none", dist=dist)
        schedule.after_epoch(va["val_loss"])
        row = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], **tr_metrics, **va,
               "eval_time_s": time.perf_counter() - t0}
        history.append(row)
        improved = va["val_loss"] < best["val_loss"]
        if improved:
            best = {"val_loss": va["val_loss"], "val_acc": va["val_acc"], "epoch": epoch}
            bad_epochs = 0
        else:
            bad_epochs += 1
        if dist.main:  # one writer; the others wait at the barrier, so a resume finds every file
            meta = describe(model, epoch=epoch, step=step, parameters=n_params,
                            metrics={"val_loss": va["val_loss"], "val_acc": va["val_acc"],
                                     "val_split": SPLIT_USAGE["val"] if SPLIT_USAGE["val"] in str(val.sources[:1])
                                     else "val"},
                            train_args=run_args, best=best, history=history,
                            **({"init_training": init_training} if init_training else {}))
            state = {**meta, "model_state": model.state_dict(), "optimizer_state": optimizer.state_dict(),
                     "scheduler_state": schedule.state_dict(),
                     "ema_state": ema.module.state_dict() if ema is not None else None}
            if improved:
                if args.epoch_files:  # the design's naming: <model>.<epoch>-<val_acc>.pt, one file per improvement
                    atomic_torch_save(state, out / f"{args.model}.{epoch:02d}-{va['val_acc']:.2f}.pt")
                atomic_torch_save(state, out / "best.pt")
            last = epoch == args.epochs or (args.patience and bad_epochs >= args.patience)
            saving = last or epoch % args.checkpoint_every == 0
            if saving:
                atomic_torch_save(state, out / "last.pt")
            new = not log_path.exists()
            with open_text(log_path, "a") as fh:  # appended per epoch: a kill loses nothing
                w = csv.DictWriter(fh, fieldnames=list(row))
                if new:
                    w.writeheader()
                w.writerow(row)
            if saving:
                training_curves(history, out)
            print(f"epoch {epoch:3d}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}  "
                  f"val loss {va['val_loss']:.4f} acc {va['val_acc']:.4f}  {row['img_per_s']:.0f} img/s"
                  f"{'  *' if improved else ''}", file=sys.stderr, flush=True)
        dist.barrier()
        if args.patience and bad_epochs >= args.patience:
            say(f"early stop: val loss has not improved for {bad_epochs} epochs", file=sys.stderr)
            break
    summary = {"model": args.model, "parameters": n_params, "epochs_run": len(history), "best": best,
               "out": str(out)}
    if dist.main:
        write_text(out / "summary.json", json.dumps(summary, indent=2))
    return summary


def load_train_val(args):
    """The training and validation splits a run with these arguments sees (``--limit`` applied)."""
    train, val = load_training_data(args.data, val_fraction=args.val_fraction, seed=args.seed,
                                    skip_bad=args.skip_bad, progress=args.progress)
    if args.limit and args.limit < len(train):
        # a random (seeded) subset: the files are sorted by class, so a prefix would be one class
        keep = np.sort(np.random.default_rng(args.seed).permutation(len(train))[:args.limit])
        train.images, train.labels = train.images[keep], train.labels[keep]
    return train, val


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
