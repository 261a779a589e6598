"""Where a run's weights start: its own last checkpoint (``--resume``, which goes on only as the
run began), another run's weights (``--init``), those pruned (``--prune``), or fresh."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

from ..errors import FacemotionError, UsageError
from ..names import count


def starting_point(cfg, model, model_kwargs, x_tr, out: Path, say):
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
        if cfg.resume == "auto":
            say(f"--resume: no {resume} yet; the run starts", file=sys.stderr)
        init_training = init_from(model, cfg.init, cfg.arch, model_kwargs, x_tr) if cfg.init else None
        if cfg.prune:
            rec = prune_channels(model, cfg.prune, source=Path(cfg.init).name)
            say(f"pruned {cfg.prune:.0%} of the channels: {rec['mflops_before']:.0f} -> {rec['mflops_after']:.0f} "
                f"MFLOPs, {rec['parameters_before']:,} -> {rec['parameters_after']:,} parameters", file=sys.stderr)
            model = model.to(memory_format=torch.channels_last)  # the rebuilt layers' tensors are not
        return None, model, init_training
    if resume.is_dir():  # a run's folder: its last.pt goes on where it stopped (best.pt would rewind it)
        last = f"; give {resume / 'last.pt'}" if (resume / "last.pt").is_file() else ""
        raise UsageError(f"--resume: {resume} is a folder, not a checkpoint{last} (--resume alone continues "
                         "the run in --out)")
    # a resumed --init run takes its weights (and the init's compute) from last.pt: the
    # starting checkpoint is not needed again, and may be gone by then
    ck = load_checkpoint(resume, map_location=x_tr.device)
    if not ck.get("optimizer_state"):
        raise UsageError(f"--resume: {resume} holds weights only (a shipped or slimmed checkpoint), not a "
                         "run to continue; start from it with --init instead")
    # another network is refused before anything is said of the schedule it would go on with; another
    # --labels changes the network's outputs too, which _same_run names as such
    advice = (f"give --arch {ck.get('arch')} to continue it" if cfg.resume != "auto" else
              f"continue it with --arch {ck.get('arch')}, or start another run in another --out")
    if ck.get("arch") != cfg.arch:
        raise UsageError(f"--resume: {resume} is a run of {ck.get('arch')} {ck.get('arch_kwargs') or {}}, "
                         f"not of {cfg.arch} {model_kwargs}; {advice}")
    _same_run(cfg, ck, resume, say)
    if (ck.get("arch_kwargs") or {}) != model_kwargs:
        raise UsageError(f"--resume: {resume} is a run of {ck.get('arch')} {ck.get('arch_kwargs') or {}}, "
                         f"not of {cfg.arch} {model_kwargs}; give its --model-kwargs to continue it")
    pruned = ck.get("pruned") or {}
    if cfg.prune is not None and pruned.get("ratio") != cfg.prune:
        raise UsageError(f"--prune: {resume} is a run pruned by {pruned.get('ratio', 0)}, not {cfg.prune}; "
                         "use another --out")
    if pruned:  # a pruned run's network is smaller than the registry's: take its shape first
        fit_to_state(model, ck["model_state"], pruned)
        model = model.to(memory_format=torch.channels_last)
    ck["_path"] = resume
    return ck, model, None


def _same_run(cfg, ck: dict, resume: Path, say) -> None:
    """A resumed run goes on as it began, on the same data and labels; one resumed to another
    --epochs than its schedule was laid out for says what becomes of its learning rate (a
    one-cycle schedule cannot be stretched: OneCycleLR refuses steps past its total)."""
    was = ck.get("train_args") or {}
    for key, flag in (("data", "--data"), ("labels", "--labels"), ("extra_data", "--extra-data")):
        old, new = was.get(key), getattr(cfg, key, None)
        if key in was and not _same_inputs(old, new):
            raise UsageError(f"--resume: {resume} is a run with {flag} {_shown(old)}, not {_shown(new)}; continue it "
                             f"with the same {flag}, or start from it with --init CKPT and another --out")
    # these choose which faces train and which hold out: another value would train on faces the
    # first epochs were validated on, and compare epochs on other validation faces
    for key, flag in (("seed", "--seed"), ("val_fraction", "--val-fraction"), ("limit", "--limit")):
        old, new = was.get(key), getattr(cfg, key, None)
        if key in was and old != new:
            raise UsageError(f"--resume: {resume} is a run with {flag} {_shown(old)}, not {_shown(new)} (it chooses "
                             f"the faces that train and those held out); continue it with {flag} {_shown(old)}")
    # these lay out the optimizer and the schedule whose state goes on: another optimizer cannot
    # take the state (AdamW's moments are no SGD's momentum), and another rate, warm-up or step
    # size would be read against a step count laid out for the first (a larger batch: the rate
    # fell to 0 halfway)
    for key, flag in (("opt", "--opt"), ("sched", "--sched"), ("lr", "--lr"), ("batch_size", "--batch-size"),
                      ("warmup_epochs", "--warmup-epochs"), ("weight_decay", "--weight-decay")):
        old, new = was.get(key), getattr(cfg, key, None)
        if key in was and old != new:
            raise UsageError(f"--resume: {resume} is a run with {flag} {_shown(old)}, not {_shown(new)} (its optimizer "
                             f"and schedule go on as they were); continue it with {flag} {_shown(old)}, or start "
                             f"from it with --init CKPT and another --out")
    epochs, warm = was.get("epochs"), float(was.get("warmup_epochs") or 0)
    if was.get("sched") == "cosine" and epochs and cfg.epochs != epochs and ck.get("epoch", 0) < cfg.epochs:
        # LambdaLR keeps its step count, not its length: the rate jumps to the new cosine's value there
        done = ck.get("epoch", 0)
        at = 0.5 * (1 + math.cos(math.pi * min(1.0, max(0.0, (done - warm) / max(1e-9, cfg.epochs - warm)))))
        say(f"--epochs {cfg.epochs}: {resume}'s cosine schedule was laid out for {epochs} "
            f"epoch{'s' if epochs != 1 else ''}; it goes on as one of {cfg.epochs}, the learning rate at {at:.0%} "
            f"of --lr after epoch {done} (a new cycle: --init CKPT with another --out, which warms up first)",
            file=sys.stderr)
    elif was.get("sched") == "onecycle" and epochs and cfg.epochs != epochs:
        raise UsageError(f"--epochs {cfg.epochs}: {resume} is a one-cycle run of {epochs} "
                         f"epoch{'s' if epochs != 1 else ''}, whose schedule cannot be stretched; resume it with "
                         f"--epochs {epochs}, or give it another cycle with --init CKPT and another --out")
    began, now = was.get("world_size") or 1, getattr(cfg, "world_size", 1) or 1
    if began != now and was.get("sched") == "onecycle":
        raise UsageError(f"--resume: {resume} is a one-cycle run on {count(began, 'process', 'processes')}; its "
                         f"schedule's steps cannot be laid out again for {now}: resume it on {began}")
    if began != now:  # --batch-size is each process's: the step's batch changes with their number
        say(f"--resume: {resume} began on {began} process{'es' if began > 1 else ''}, it goes on on {now}: a step "
            f"now takes {now * cfg.batch_size} faces, not {began * cfg.batch_size}", file=sys.stderr)
    if ck.get("epoch", 0) >= cfg.epochs:
        say(f"--resume: {resume} is at epoch {ck.get('epoch', 0)}, --epochs {cfg.epochs}: nothing to train, the run's "
            "files left as they are (more epochs: --init CKPT with another --out)", file=sys.stderr)


def _same_inputs(old, new) -> bool:
    """Whether ``new`` names the data ``old`` named: the same path, the same file, or a file of the
    same name and size (a dataset copied or carried to another machine; the run began where the
    old path may not exist)."""
    olds, news = ([] if v is None else [v] if isinstance(v, str) else list(v) for v in (old, new))
    return len(olds) == len(news) and all(_same_input(a, b) for a, b in zip(olds, news))


def _same_input(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        if os.path.samefile(a, b):
            return True
    except OSError:
        pass
    if Path(a).name != Path(b).name:
        return False
    try:
        return not Path(a).exists() or (Path(a).is_file() and os.path.getsize(a) == os.path.getsize(b))
    except OSError:
        return False


def _shown(value) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return "none" if not value else value if isinstance(value, str) else " ".join(map(str, value))
