"""``facemotion train`` (shaped like torchvision's reference scripts: :func:`get_args_parser`
and :func:`main`; what the run reads is :mod:`.data`, its epochs :mod:`.loop`, one epoch
:mod:`.engine`).

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
import json
import re
import sys
from pathlib import Path

from ..cuda import resolve_device
from ..datasets.loading import add_label_options, check_label_options
from ..errors import FacemotionError, UsageError
from ..fileio import check_writable, made_folders_kept_on_success, refuse_inside, write_text
from ..labels import NUM_CLASSES
from ..names import count
from ..validate import HelpFormatter, deprecated_alias, device, integer, json_object, number, option, output_folder
from ..validate import threads as validate_threads
from .data import load_data
from .idle_options import refuse_idle_options
from .loop import RunState, run_epochs


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="facemotion train", add_help=add_help,
        description="Train an emotion classifier on FER2013 (or your own <class>/<face crop> folder: `facemotion "
                    "data crops` makes one from photos). "
                    "Selects on the validation split (PublicTest); never reads the test split (PrivateTest).",
        formatter_class=HelpFormatter)
    p.add_argument("--arch", dest="arch", default="mini_xception", metavar="ARCH",
                   help="architecture to train (a registry name: `facemotion models` lists them; not a shipped model)")
    p.add_argument("--model", dest="arch", metavar="ARCH", action=deprecated_alias("--arch"), help=argparse.SUPPRESS)
    p.add_argument("--model-kwargs", default={}, type=option(json_object),
                   help='JSON dict of architecture arguments, e.g. \'{"batchnorm": false}\'')
    p.add_argument("--data", required=True,
                   help="fer2013.csv (or fer2013.tar.gz), the Kaggle folder/zip/tar, or a <class>/<face crop> folder "
                        "(`facemotion data crops` makes one from photos)")
    add_label_options(p)
    p.add_argument("--extra-data", nargs="+", default=[], metavar="FOLDER",
                   help="<emotion>/<face crop> folders added to the training split only (e.g. the crops "
                        "`facemotion data crops` writes); their faces get one-hot targets in the run's labels")
    p.add_argument("--unlabelled", default=None, metavar="FOLDER",
                   help="a folder (zip, tar) of unlabelled face crops learnt by consistency (FixMatch): the "
                        "network's sure answer on a light view of a face is the target for a strong view of it")
    p.add_argument("--unlabelled-weight", type=option(number, 0), default=1.0,
                   help="with --unlabelled, the weight of the consistency loss")
    p.add_argument("--unlabelled-threshold", type=option(number, 0, 1), default=0.95,
                   help="with --unlabelled, the top probability at which an answer becomes a target")
    p.add_argument("--target", dest="target", choices=["probability", "majority"], action=deprecated_alias("--vote-scheme"),
                   default="probability", help=argparse.SUPPRESS)  # explain's --target names an emotion
    p.add_argument("--vote-scheme", dest="target", choices=["probability", "majority"], default="probability",
                   help="with --labels ferplus, what the network learns: the crowd's vote distribution "
                        "(FER+'s 'probability' scheme) or its majority emotion")
    p.add_argument("--intent-weight", type=option(number, 0, 1), default=0.0, metavar="W",
                   help="with --labels ferplus, mix this much of each face's FER2013 label (the expression it "
                        "was searched for) into its crowd target: a network that reads both the crowd and "
                        "the meant expression (0: the crowd alone)")
    p.add_argument("-o", "--out", type=option(output_folder), default="runs/train", help="output folder for checkpoints, log and curves")
    p.add_argument("--epochs", type=option(integer, 1), default=80, help="passes over the training images")
    p.add_argument("--batch-size", type=option(integer, 1), default=128, help="images a step")
    p.add_argument("--lr", type=option(number, 0, lo_open=True), default=2e-3, help="peak learning rate")
    p.add_argument("--opt", choices=["adamw", "adam", "sgd"], default="adamw", help="optimizer")
    p.add_argument("--momentum", type=option(number, 0, 1, hi_open=True), default=0.9, help="SGD momentum (Nesterov)")
    p.add_argument("--weight-decay", type=option(number, 0), default=1e-4, help="weight decay (decoupled, for adamw)")
    p.add_argument("--sched", choices=["cosine", "onecycle", "plateau", "none"], default="cosine",
                   help="learning-rate schedule after the warm-up")
    p.add_argument("--warmup-epochs", type=option(number, 0), default=2.0, help="epochs of linear warm-up")
    p.add_argument("--label-smoothing", type=option(number, 0, 1, hi_open=True), default=0.1,
                   help="mix this much of a uniform distribution into every target (soft vote targets included)")
    p.add_argument("--class-weights", choices=["none", "balanced", "sqrt"], default="none",
                   help="weight the loss by inverse class frequency (helps 'disgust' recall)")
    p.add_argument("--balance-groups", default=None, metavar="CSV",
                   help="weigh each face so that every group of people (the file's 'group' or 'p_female' "
                        "column per 'source') sees the same mix of emotions (reweighing; "
                        "scripts/fer_gender.py writes one)")
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
                   help="teacher(s): .pt checkpoints, exported .onnx files or shipped model names (e.g. 'quad_ensemble_int8'); "
                        "their averaged soft targets are distilled. ONNX teachers imply --kd-offline")
    p.add_argument("--kd-alpha", type=option(number, 0, 1), default=0.7, help="weight of the distillation loss")
    p.add_argument("--kd-temp", type=option(number, 0, lo_open=True), default=4.0, help="distillation temperature")
    p.add_argument("--kd-offline", action="store_true",
                   help="compute the teachers' (flip-averaged) soft targets once per training image instead of "
                        "running every teacher on every batch: an ensemble teacher then costs nothing per step")
    p.add_argument("--kd-skip-extra", action="store_true",
                   help="distil on --data's faces only: the --extra-data faces learn their own labels alone "
                        "(a teacher that never saw such faces would pull them back to its answers)")
    p.add_argument("--teacher-targets", default=None, metavar="FILE",
                   help="offline soft targets made beforehand by `facemotion teacher-targets` (checked "
                        "against these training images and --kd-temp): distil without the teachers' files, "
                        "e.g. on a GPU machine that holds only the data")
    # selection and bookkeeping
    p.add_argument("--ema", type=option(number, 0, 1, hi_open=True), default=0.0,
                   help="EMA decay of weights (e.g. 0.999; 0 = off); selection uses EMA weights")
    p.add_argument("--select", choices=["loss", "acc"], default="loss",
                   help="which validation epoch best.pt keeps: the lowest loss, or the highest accuracy (long "
                        "runs with mixup grow less confident while their accuracy still rises: there the lowest "
                        "loss comes hundreds of epochs before the most accurate weights)")
    p.add_argument("--patience", type=option(integer, 0), default=0,
                   help="early stop after N validations without improvement (of --select's measure; with "
                        "--eval-every, the epochs between are not counted; 0 = off)")
    p.add_argument("--val-fraction", type=option(number, 0, 1, lo_open=True, hi_open=True), default=0.1,
                   help="held-out fraction when the data has no val split")
    p.add_argument("--eval-tta", action="store_true", help="validate with horizontal-flip averaging")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable/malformed samples and count them")
    p.add_argument("--limit", type=option(integer, 0), default=0,
                   help="train on N of --data's training images, drawn with --seed (smoke tests; --extra-data's "
                        "are added whole; 0: all)")
    p.add_argument("--seed", type=option(integer, 0, 2**31 - 1), default=0,
                   help="seeds the split, the --limit draw, the initial weights and the augmentation")
    p.add_argument("--threads", type=option(validate_threads), default=0,
                   help="torch's threads (0: one per core, at most 256; auto: the cores other programs leave idle when the "
                        "run starts)")
    p.add_argument("--device", default="cpu", type=option(device),
                   help="cpu, cuda, cuda:1, ..., auto: cuda where torch sees a GPU, else cpu (data and augmentation "
                        "live there too)")
    p.add_argument("--amp", choices=["none", "bf16"], default="none",
                   help="bfloat16 autocast (1.3x for gelu_cnn on AVX-512 BF16 CPUs; use on GPUs)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the training step's network (fuses BatchNorm/activations; pays on GPUs "
                        "after a compile of ~1 min; docs/benchmarks.md#training-speed)")
    p.add_argument("--eval-every", type=option(integer, 1), default=1, metavar="N",
                   help="validate every N epochs, the run's first and its last (best.pt is chosen among those; "
                        "the plateau schedule counts validations). On a GPU the validation is a large share of an epoch")
    p.add_argument("--checkpoint-every", type=option(integer, 1), default=1, metavar="N",
                   help="write last.pt and the curves every N epochs (and at the end); best.pt is written at "
                        "every improvement regardless. On a GPU an epoch can take a second: saving it each time costs more")
    p.add_argument("--no-epoch-files", dest="epoch_files", action="store_false",
                   help="do not keep a <arch>.<epoch>-<val_acc>.pt copy of every improvement (best.pt is kept)")
    p.add_argument("--resume", nargs="?", const="auto", default=None,
                   help="resume from a checkpoint (default: OUT/last.pt; none there yet: the run starts, so one "
                        "command both starts and continues it)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run --out holds (a new run into a folder that holds one is refused)")
    p.add_argument("--prune", type=option(number, 0, 1, lo_open=True, hi_open=True), default=None, metavar="RATIO",
                   help="remove this fraction of the channels of every layer of the --init network (structured "
                        "pruning, torch-pruning), then train the smaller network: use with --init and --teacher")
    p.add_argument("--init", default=None, metavar="CKPT",
                   help="start from this checkpoint's weights (its EMA weights when it has them) with a fresh "
                        "optimizer and schedule: fine-tune a shipped model on your own data, or give a finished "
                        "run a second cosine cycle. The architecture must match --arch/--model-kwargs")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
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
    dist, device, threads = setup(resolve_device(args.device, "--device") if args.device == "auto" else args.device,
                                  threads)
    cfg = argparse.Namespace(**{**vars(args), "device": device, "threads": threads, "world_size": dist.world,
                                "progress": args.progress and dist.main})
    try:
        summary = _train(cfg, dist)
        # every process reaches destroy_process_group together, as PyTorch's shutdown notes ask:
        # without this a rank that finished first tore its gloo group down while rank 0 still
        # wrote summary.json, and once, under CPU load, such a rank aborted (exit -6)
        dist.barrier()
        return summary
    finally:
        dist.close()


def _train(cfg, dist) -> dict:
    """The steps of a run: output folder, data, network, where it starts from, distillation
    targets, then the epochs (each trained, validated and recorded)."""
    import torch

    from .ema import EMA
    from .engine import build_optimizer, build_scheduler
    from .resume import starting_point

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    say = print if dist.main else (lambda *a, **k: None)  # one process speaks for all
    # refused or stopped before it began: no empty folder left where a run would be looked for
    with made_folders_kept_on_success(cfg.out if dist.main else "."):
        out = _prepare_out(cfg, dist)
        data = load_data(cfg, dist, say)
        model, model_kwargs = _build_model(cfg, data.x_tr.device, len(data.labels))
        ck, model, init_training = starting_point(cfg, model, model_kwargs, data.x_tr, out, say)
        optimizer = build_optimizer(model, cfg)
        steps_per_epoch = len(data.y_tr) // dist.world // cfg.batch_size  # --batch-size is per process
        schedule = build_scheduler(optimizer, cfg, steps_per_epoch)
        ema = EMA(model, cfg.ema) if cfg.ema > 0 else None
        teachers, targets = _distillation(cfg, data.x_tr, out, dist, say, len(data.labels))
    run = RunState(init_training=init_training)
    if ck is not None:
        run.restore(ck, model, optimizer, schedule, ema, steps_per_epoch)
        if run.start_epoch > cfg.epochs:  # said by starting_point; its log and summary are not rewritten
            return {"model": cfg.arch, "parameters": run.parameters(model), "epochs_run": 0, "best": run.best,
                    "out": str(out)}
        say(f"resumed from {ck['_path']} at epoch {ck['epoch']}", file=sys.stderr)
    ranks = f"; {dist.world} processes ({dist.backend}), each a shard" if dist.enabled else ""
    say(f"{cfg.arch}: {run.parameters(model):,} parameters; train {len(data.y_tr):,} / val {len(data.y_va):,} images; "
        f"{count(steps_per_epoch, 'step')}/epoch{ranks}; threads {torch.get_num_threads()}", file=sys.stderr)
    run_epochs(cfg, dist, out, data, model, optimizer, schedule, ema, teachers, targets, run, say)
    summary = {"model": cfg.arch, "parameters": run.parameters(model), "epochs_run": len(run.history),
               "best": run.best, "out": str(out)}
    if dist.main:
        write_text(out / "summary.json", json.dumps(summary, indent=2))
    return summary


# what a run writes into --out (teacher_targets.pt, a cache of the teachers' answers, is not the run's)
RUN_FILES = {"last.pt", "best.pt", "log.csv", "summary.json", "accuracy.png", "loss.png"}
EPOCH_FILE = re.compile(r".+\.\d{2,}-\d\.\d\d\.pt")  # <arch>.<epoch>-<val_acc>.pt


def _prepare_out(cfg, dist) -> Path:
    check_label_options(cfg)  # --votes beside FER2013's own labels is refused, not passed over
    refuse_idle_options(cfg, get_args_parser())  # before --overwrite empties a run's folder
    if cfg.resume and cfg.overwrite:  # one would be passed over
        raise UsageError("--resume, --overwrite: the one continues the run in --out, the other replaces it; give one")
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {out} is a file; give a folder for the run")
    refuse_inside(out, "--out", [("--data", cfg.data), *(("--extra-data", x) for x in cfg.extra_data or [])])
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a file on its way (afile/run), no permission: the option named (exit 1, as any output's)
        raise FacemotionError(f"--out: cannot make the folder {out} ({e.strerror or e})") from None
    check_writable(out, "--out")  # now, not at the first epoch's checkpoint
    # a new run into a run's folder would replace its checkpoints and append to its log.csv
    held = sorted(f for f in out.iterdir() if f.name in RUN_FILES or EPOCH_FILE.fullmatch(f.name))
    if held and cfg.resume is None:
        if not cfg.overwrite:
            raise UsageError(f"--out {out}: holds a run ({', '.join(f.name for f in held[:3])}"
                             f"{', ...' if len(held) > 3 else ''}); --resume continues it, --overwrite replaces it, "
                             "or give another --out")
        if dist.main:
            for f in held:
                f.unlink(missing_ok=True)
    if dist.main:
        for leftover in out.glob(".*.tmp*"):  # what a run killed mid-write left under a temporary name
            leftover.unlink(missing_ok=True)
    if cfg.teacher_targets and not cfg.teacher and not Path(cfg.teacher_targets).exists():
        raise UsageError(f"--teacher-targets: {cfg.teacher_targets} does not exist; make it with "
                         "`facemotion teacher-targets`, or name --teacher to compute it")
    if cfg.prune and not cfg.init:
        raise UsageError("--prune: give the trained network to prune with --init CKPT")
    if getattr(cfg, "intent_weight", 0) and cfg.labels != "ferplus":
        raise UsageError("--intent-weight: mixes FER2013's labels into FER+'s crowd targets, so it needs "
                         "--labels ferplus")
    if cfg.kd_skip_extra and not ((cfg.teacher or cfg.teacher_targets) and cfg.extra_data):
        raise UsageError("--kd-skip-extra: distils on --data's faces alone, so it needs a teacher (--teacher or "
                         "--teacher-targets) and --extra-data folders")
    return out


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


def _distillation(cfg, x_tr, out: Path, dist, say, classes: int):
    """(teachers run on every batch, or none; soft targets per training image, or None), fitted
    to the run's ``classes`` emotions (a FER+ teacher's contempt folded into disgust for seven)."""
    import torch

    from .distill import (
        FoldedTeacher,
        OnnxTeacher,
        cached_teacher_targets,
        fit_targets,
        load_teacher,
        load_teacher_targets,
        read_cached_targets,
        targets_key,
    )

    if cfg.teacher_targets and Path(cfg.teacher_targets).exists():
        if cfg.teacher and read_cached_targets(Path(cfg.teacher_targets), targets_key(
                cfg.teacher, x_tr, kd_temp=cfg.kd_temp, limit=cfg.limit, seed=cfg.seed), "cpu") is None:
            # the file teaches: one made by other teachers would be used in --teacher's name
            raise UsageError(f"--teacher-targets {cfg.teacher_targets}: not made by --teacher {' '.join(cfg.teacher)} "
                             "for these images; give another path (it is made there), or leave --teacher out")
        return [], fit_targets(load_teacher_targets(cfg.teacher_targets, x_tr, kd_temp=cfg.kd_temp, limit=cfg.limit,
                                                    seed=cfg.seed), classes, f"--teacher-targets {cfg.teacher_targets}")
    teachers = [load_teacher(t, x_tr.device) for t in cfg.teacher]
    for i, (t, name) in enumerate(zip(teachers, cfg.teacher)):
        if isinstance(t, OnnxTeacher):  # offline: its targets are fitted below
            continue
        with torch.no_grad():  # a checkpoint of FER+'s eight for a run of seven: folded; of seven for eight: refused
            probe = torch.softmax(t(torch.zeros(1, 1, 48, 48, device=x_tr.device)).float(), 1)
        if probe.shape[1] != classes:
            fit_targets(probe, classes, f"--teacher {name}")
            teachers[i] = FoldedTeacher(t, f"--teacher {name}", cfg.kd_temp)
    offline = cfg.kd_offline
    if any(isinstance(t, OnnxTeacher) for t in teachers) and not offline:
        # ONNX Runtime on every augmented batch would be slow (and CPU-only): targets once per image
        say("an ONNX teacher distils offline: turning on --kd-offline", file=sys.stderr)
        offline = True
    if not teachers or not offline:
        return teachers, None
    if not dist.main:
        dist.barrier()  # rank 0 computes the targets once; the others then read its cache
    targets, _ = cached_teacher_targets(lambda: teachers, cfg.teacher, x_tr,
                                        Path(cfg.teacher_targets or out / "teacher_targets.pt"), kd_temp=cfg.kd_temp,
                                        limit=cfg.limit, seed=cfg.seed, progress=cfg.progress, classes=classes)
    if dist.main:
        dist.barrier()
    return [], fit_targets(targets, classes, "--teacher")  # the teachers are no longer needed: their memory goes


if __name__ == "__main__":  # pragma: no cover
    main(get_args_parser().parse_args())
