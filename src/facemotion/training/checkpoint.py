"""Self-describing checkpoints: a :class:`~facemotion.card.ModelCard`'s fields beside the
weights (and, for a run's own checkpoints, the optimizer, schedule, EMA and history).

Everything in a checkpoint is a tensor, number, string, list or dict, so it loads with
``torch.load(..., weights_only=True)``: opening a checkpoint never executes code.
"""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

import torch

from ..card import ModelCard
from ..errors import ModelError, UsageError
from ..fileio import atomic_path
from .models import count_parameters, create_model
from .prune import fit_to_state

CARD_FIELDS = {f.name for f in fields(ModelCard)}
# what a run's checkpoint holds besides its card; shipped (slim) checkpoints keep only the weights
RUN_STATE = ("optimizer_state", "scheduler_state", "ema_state", "rng_state", "history")


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """Write to a temporary file then rename: a kill never leaves a half-written checkpoint.
    torch reports a failed write (a full disk) as a RuntimeError of its zip writer: it becomes
    the OSError it is, naming the file, and the temporary file goes."""
    with atomic_path(path) as tmp:
        try:
            torch.save(obj, tmp)
        except RuntimeError as e:
            # torch.save's RuntimeErrors come from its zip writer, i.e. the disk ("unexpected pos
            # 64 vs 0", "basic_ios::clear", "file write failed"); pickling fails with other types
            import errno

            if "error code 28" in str(e) or "No space" in str(e) or _disk_full(tmp):
                raise OSError(errno.ENOSPC, "cannot write the checkpoint: the disk is full (no space left on "
                                            "device); free some space or write the run elsewhere", str(path)) from None
            reason = (str(e).strip().splitlines() or ["write failed"])[0][:120]
            raise OSError(errno.EIO, f"cannot write the checkpoint ({reason})", str(path)) from None


def _disk_full(tmp: Path) -> bool:
    """Whether the disk holding ``tmp`` (the part written so far still on it) has under 1 MiB
    left: torch's zip writer reports a full disk only as "unexpected pos N vs M"."""
    try:
        st = os.statvfs(tmp.parent)
    except (OSError, AttributeError):  # no statvfs (Windows): the writer's own words stand
        return False
    return st.f_bavail * st.f_frsize < 2**20


def describe(model, **extra) -> dict:
    """The metadata block every checkpoint carries: the model's card (its fields from ``extra``
    where given) followed by the other ``extra`` entries (run state: step, history, ...)."""
    card = {k: v for k, v in extra.items() if k in CARD_FIELDS}
    card.setdefault("parameters", count_parameters(model))
    meta = ModelCard(arch=model.arch, **{**card, "arch_kwargs": dict(model.arch_kwargs)}).validate().to_dict()
    if getattr(model, "pruned", None):  # a pruned network is rebuilt from this record (prune.py)
        meta["pruned"] = dict(model.pruned)
    meta.update({k: v for k, v in extra.items() if k not in CARD_FIELDS})
    return meta


def card_of(ckpt: dict, where: str = "checkpoint") -> ModelCard:
    return ModelCard.from_dict(ckpt, where)


def unloadable(path: Path, e: Exception, made_by: str = "a .pt file written by facemotion train or import") -> str:
    """Why torch.load refused a file, in one line: torch's own message runs to a paragraph;
    ``made_by``: what writes the files it should have been."""
    with open(path, "rb") as f:
        head = f.read(4)
    # torch.save writes a zip (PK..) or, before 1.6, a pickle (protocol byte 0x80)
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
        return f"not a PyTorch checkpoint ({made_by})"
    import re

    refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
    if refused:  # intact, but it would import and run code to load: only weights are read here
        return (f"holds Python objects ({refused.group(1)}), not only weights; facemotion loads weights only and "
                "does not run a file's code (write it with facemotion train, export or import)")
    first = (str(e).strip().splitlines() or [""])[0].split(". ")[0]  # torch's first sentence says what broke
    return f"not a loadable facemotion checkpoint, truncated or corrupt? ({first[:160]})"


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """A checkpoint file as a dict, its card checked and in the current layout."""
    path = Path(path)
    if not path.is_file():
        from ..zoo import no_checkpoint

        raise ModelError(no_checkpoint(path))
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # corrupt, truncated, or pickled code
        raise ModelError(f"{path}: {unloadable(path, e)}") from None
    if not isinstance(ckpt, dict) or "model_state" not in ckpt:
        raise ModelError(f"{path}: not a facemotion checkpoint (no model_state)")
    # the card, validated (labels, input, normalization), in the current layout
    ckpt.update(card_of(ckpt, str(path)).to_dict())
    return ckpt


def model_from_checkpoint(path_or_ckpt, use_ema: bool = True):
    """Rebuild the network a checkpoint describes, in eval mode. Returns (model, ckpt)."""
    ckpt = path_or_ckpt if isinstance(path_or_ckpt, dict) else load_checkpoint(path_or_ckpt)
    where = "checkpoint" if isinstance(path_or_ckpt, dict) else str(path_or_ckpt)
    try:
        model = create_model(ckpt["arch"], **ckpt.get("arch_kwargs", {}))
    except (KeyError, TypeError) as e:
        raise ModelError(f"{where}: cannot build its architecture {ckpt.get('arch')!r} ({e})") from None
    state = ckpt.get("ema_state") if use_ema and ckpt.get("ema_state") else ckpt["model_state"]
    if ckpt.get("pruned"):  # channels removed (train --prune): the registry builds the full size
        fit_to_state(model, state, ckpt["pruned"])
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        # torch's first line only names the module ("Error(s) in loading state_dict for X:"); the next says which
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        raise ModelError(f"{where}: weights do not fit {ckpt['arch']}: {(lines[1:] or lines or ['?'])[0][:200]}") from None
    model.eval()
    with torch.no_grad():  # the card's labels name the outputs: as many of them as the network has
        n_out = model(torch.zeros(1, 1, ckpt.get("input_size", 48), ckpt.get("input_size", 48))).shape[-1]
    if n_out != len(ckpt.get("labels") or ()):
        raise ModelError(f"{where}: the network has {n_out} outputs but its card lists {len(ckpt.get('labels') or ())} "
                         f"labels ({', '.join(ckpt.get('labels') or ())})")
    return model, ckpt


def slim(ckpt: dict, use_ema: bool = True) -> dict:
    """A copy for shipping: weights (EMA weights when present) and metadata, no optimizer state."""
    out = {k: v for k, v in ckpt.items() if k not in RUN_STATE}
    if use_ema and ckpt.get("ema_state"):
        out["model_state"] = ckpt["ema_state"]
    return out


def checkpoint_compute(path: str | os.PathLike) -> dict:
    """``training_compute`` of the checkpoint file at ``path``, counting its whole run.

    A run's best.pt stops its history at its own epoch, but the epochs after it were spent
    too (and a second cycle started from best.pt followed them): when the run's last.pt sits
    beside it, its longer history is the one charged.
    """
    ck = load_checkpoint(path)
    return training_compute(ck, run_history(path, ck))


def run_history(path: str | os.PathLike, ck: dict | None = None) -> list:
    """The per-epoch history of the whole run the checkpoint at ``path`` (already loaded: ``ck``)
    belongs to: its sibling last.pt's when that is the same run and longer, else its own."""
    ck = load_checkpoint(path) if ck is None else ck
    hist = ck.get("history", [])
    last = Path(path).with_name("last.pt")
    if last.exists() and last.resolve() != Path(path).resolve():
        lk = load_checkpoint(last)
        same_run = (lk.get("train_args") or {}).get("out") == (ck.get("train_args") or {}).get("out")
        if same_run and len(lk.get("history", [])) >= len(hist):
            hist = lk["history"]
    return hist


def training_compute(ck: dict, history: list | None = None) -> dict:
    """Epochs and CPU hours behind a checkpoint's weights.

    A shipped checkpoint records them (``training``); a run's own is summed from its per-epoch
    ``history`` (or the one given, e.g. last.pt's), plus the checkpoint it was ``--init``-ed
    from: a second cosine cycle is charged the first cycle's compute too. That one is read from
    ``init_training``, recorded at training time; older checkpoints without it fall back to
    following the ``--init`` path (recursively), which resolves from the current directory.
    """
    if (ck.get("training") or {}).get("epochs") is not None:
        return dict(ck["training"])
    hist = ck.get("history", []) if history is None else history
    tr = {"epochs": len(hist), "epochs_by_run": [len(hist)],
          "cpu_hours": sum(h.get("train_time_s", 0) + h.get("eval_time_s", 0) for h in hist) / 3600}
    dev = (ck.get("train_args") or {}).get("device", "cpu")
    if dev != "cpu":  # the hours are wall-clock hours of whatever ran it: say when that was not the CPU
        tr["device"] = dev
    world = (ck.get("train_args") or {}).get("world_size", 1)
    if world > 1:  # ... and of how many processes (torchrun), each with its device or share of the cores
        tr["processes"] = world
    init = (ck.get("train_args") or {}).get("init")
    prev = ck.get("init_training")
    # a record without epochs holds only class offsets folded in (training.offsets): no compute
    if (prev is None or prev.get("epochs") is None) and init and Path(init).exists():
        prev = checkpoint_compute(init)
    if prev is not None and prev.get("epochs") is not None:
        tr.update(epochs=prev["epochs"] + tr["epochs"],
                  epochs_by_run=prev.get("epochs_by_run", [prev["epochs"]]) + tr["epochs_by_run"],
                  cpu_hours=prev["cpu_hours"] + tr["cpu_hours"], init=str(init))
    return tr


def refuse_non_onnx(path, option: str) -> None:
    """Refuse ``path`` as an ONNX output where it holds a file that is no ONNX model (notes named
    ``.onnx`` by mistake); an ONNX model there is replaced, as a re-export replaces the last one."""
    if not Path(path).is_file():
        return
    import onnx

    try:
        onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - whatever it is, it is no ONNX model
        raise UsageError(f"{option} {path}: holds another file (no ONNX model), which this would replace; give "
                         "another file name") from None


def refuse_other_kind(path, option: str, kind: str) -> None:
    """Refuse ``path`` as an output of ``kind`` ("checkpoint", "teacher targets") where it holds a
    file of another kind: a trained checkpoint is not written over by teacher targets, nor these
    by an interpolated checkpoint, without a word."""
    if not Path(path).is_file():
        return
    try:
        held = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - not a file torch reads: not ours to replace either
        held = None
    what = ("checkpoint" if isinstance(held, dict) and "model_state" in held else
            "teacher targets" if isinstance(held, dict) and {"key", "targets"} <= set(held) else None)
    if what != kind:
        raise UsageError(f"{option} {path}: holds {'a ' + what if what == 'checkpoint' else what or 'another file'}, "
                         f"which this would replace with {'a ' + kind if kind == 'checkpoint' else kind}; "
                         "give another file name")
