"""``facemotion import MODEL -o DIR``: an exported ONNX file (a shipped model or one of
:mod:`.export`'s) rebuilt as facemotion checkpoint(s), one per ensemble member, checked against
the graph: the inverse of the export, so a shipped model can be fine-tuned, distilled from or
evaluated in torch again."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from ..card import ModelCard
from ..errors import ModelError, UsageError
from .checkpoint import describe

# the export's own probe and parity check: an import is checked exactly as an export is
from .export import _probe_inputs, _run_onnx, _wrapper, check_parity
from .models import create_model


def checkpoints_from_onnx(path, check: bool = True) -> tuple[list[dict], dict]:
    """The inverse of :func:`export_onnx`: rebuild each member of an exported file as a
    facemotion checkpoint (a dict, as ``load_checkpoint`` returns).

    The exporter folds every BatchNorm into the conv before it (``<conv>.weight`` and
    ``<conv>.weight_bias`` in the graph); the rebuilt network keeps its BatchNorm as the
    identity plus that bias (weight 1, mean 0, variance 1 - eps), which computes the same
    function in eval mode, so the checkpoint evaluates, teaches and re-exports like the
    original; to train from it, :func:`~.warmstart.restore_batchnorm_statistics` (which ``train --init``
    applies) gives those layers statistics first. Weights
    stored in float16 come back rounded to it. A single model keeps the file's name, temperature,
    views and metrics (measured with those views); an ensemble member's own temperature and metrics are not in the graph (an ensemble
    has one temperature): it gets T = 1, no metrics, and the file's views.

    With ``check``, the rebuilt members run through the same wrapper as the export (flip
    TTA, ensemble average, temperature) and must match ONNX Runtime on random inputs to
    1e-4; returns (checkpoints, {"max_abs_diff": ...}).
    """
    path = Path(path)
    try:
        proto = onnx.load(str(path))
    except Exception as e:
        raise ModelError(f"{path}: not a loadable ONNX file ({str(e).splitlines()[0][:200]})") from None
    try:
        meta = {p.key: json.loads(p.value) for p in proto.metadata_props}
    except ValueError:
        meta = {}
    card = ModelCard.from_dict(meta, str(path))
    if card.adopted is not None:
        raise ModelError(f"{path}: adopted from {card.adopted.get('source', 'a graph made elsewhere')} "
                         "(`facemotion adopt`); import rebuilds facemotion's own networks, and it is none of them")
    if card.weights_dtype == "int8":
        raise ModelError(f"{path}: an int8 model; import rebuilds checkpoints from float weights (import the float "
                         "file it was quantized from; a retired one: docs/history/models.md)")
    inits = {}
    for init in proto.graph.initializer:
        name = init.name[:-len("__fp16")] if init.name.endswith("__fp16") else init.name
        inits[name] = numpy_helper.to_array(init).astype(np.float32)
    members = card.members or [{"arch": card.arch, "arch_kwargs": card.arch_kwargs, "epoch": card.epoch,
                                "source": path.name}]
    models, ckpts = [], []
    for i, m in enumerate(members):
        try:
            model = create_model(m["arch"], **m.get("arch_kwargs", {})).eval()
        except (KeyError, TypeError) as e:  # an architecture this version does not register
            raise ModelError(f"{path}: member {i}: cannot build {m.get('arch')!r} ({e})") from None
        state = _member_state(model, inits, i, f"{path}: member {i} ({m['arch']})")
        model.load_state_dict(state)
        models.append(model)
        ckpts.append(_member_checkpoint(model, card, m, i, path))
    info = {}
    if check:
        x = _probe_inputs(card.input_size)
        with torch.no_grad():
            p_torch = _wrapper(models, card.temperature, card.tta, len(card.labels))(torch.from_numpy(x)).numpy()
        info["max_abs_diff"] = check_parity(_run_onnx(path, x), p_torch, 1e-4, f"{path}: the rebuilt members disagree with the graph")
    return ckpts, info


def _member_checkpoint(model, card, m: dict, i: int, path: Path) -> dict:
    """Member ``i`` (``m``: its record in the card) of the file ``path`` as a checkpoint: the
    file's labels (a FER+ member keeps contempt; a member with fewer, its own), input and views are every member's; a single
    model's name, temperature and metrics are its own (an ensemble's temperature is the average's)."""
    own = {} if card.members else {"temperature": card.temperature, "name": card.name, "metrics": dict(card.metrics)}
    return {**describe(model, epoch=m.get("epoch"), labels=m.get("labels", card.labels), input_size=card.input_size,
                       channels=card.channels, normalization=card.normalization, tta=card.tta, **own,
                       recovered_from={"file": path.name, "member": i, "source": m.get("source"),
                                       "weights_dtype": card.weights_dtype}),
            "model_state": model.state_dict()}


def _member_state(model, inits: dict, i: int, where: str) -> dict:
    """Member ``i``'s weights as ``model``'s state dict, from the graph's initializers ``inits``."""
    state = model.state_dict()
    # exports made before ensembles existed named a single model's weights "model.*"
    prefix = next((pre for pre in (f"members.{i}.", "model.") if any(pre + k in inits for k in state)), "")

    def weight(key):
        # the exporter keeps one copy of equal weights and one of equal computations: a member
        # that repeats an earlier one's layers (the same checkpoint twice, a shared frozen
        # backbone) reads them under the earlier member's name; the parity check confirms it
        for pre in (prefix, *(f"members.{j}." for j in range(i))):
            if pre + key in inits:
                return inits[pre + key]
        return None

    loaded = set()
    for key in state:
        if (value := weight(key)) is not None:
            if value.size != state[key].numel():  # channels removed (train --prune)
                raise ModelError(f"{where}: {key} holds {value.size} weights where the architecture has "
                                 f"{state[key].numel()} (a pruned network?); import rebuilds unpruned networks: start "
                                 "from the pruned run's .pt checkpoint")
            state[key] = torch.from_numpy(value).reshape(state[key].shape)
            loaded.add(key)
    # a BatchNorm folded into the conv before it: identity plus the folded bias
    conv = None
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Conv2d):
            conv = name
        elif isinstance(mod, torch.nn.BatchNorm2d) and f"{name}.weight" not in loaded and conv is not None:
            bias = weight(f"{conv}.weight_bias")
            if bias is None:
                continue
            state[f"{name}.weight"] = torch.ones(mod.num_features)
            state[f"{name}.bias"] = torch.from_numpy(bias)
            state[f"{name}.running_mean"] = torch.zeros(mod.num_features)
            state[f"{name}.running_var"] = torch.full((mod.num_features,), 1.0 - mod.eps)
            loaded |= {f"{name}.{k}" for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")}
            conv = None
    missing = [k for k in state if k not in loaded and not k.endswith("num_batches_tracked")]
    if missing:
        raise ModelError(f"{where}: cannot recover {', '.join(missing[:3])}"
                         f"{' ...' if len(missing) > 3 else ''} from the graph")
    return state


def import_checkpoints(model, out_dir) -> tuple[list[tuple[Path, dict]], dict]:
    """``facemotion import``: a shipped name or an exported ``.onnx`` file -> one checkpoint per
    member in ``out_dir``, named after the member's source checkpoint (a single model: after the
    file); members whose sources share a name are numbered instead. Returns ((path, checkpoint)
    per member, the parity info of :func:`checkpoints_from_onnx` with ``file``)."""
    from ..zoo import resolve_model
    from .checkpoint import atomic_torch_save

    path = resolve_model(model)
    ckpts, info = checkpoints_from_onnx(path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stems = [Path(ck["recovered_from"]["source"]).stem if ck["recovered_from"].get("source") and len(ckpts) > 1
             else path.stem for ck in ckpts]
    # members exported from two runs' best.pt files share a name: number them instead
    dests = [out / f"{stem if stems.count(stem) == 1 else f'{path.stem}_member{i}'}.pt" for i, stem in enumerate(stems)]
    for dest in dests:  # all checked before any is written
        _refuse_replacing(dest)
    written = []
    for dest, ck in zip(dests, ckpts):
        atomic_torch_save(ck, dest)
        written.append((dest, ck))
    return written, {**info, "file": path.name}


def _refuse_replacing(dest: Path) -> None:
    """An import replaces an earlier import (its checkpoint names the file it was recovered from),
    never a trained checkpoint (``mx.pt`` beside the ``mx.onnx`` exported from it) or another file."""
    if not dest.is_file():
        return
    try:
        held = torch.load(dest, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - not a file torch reads: not ours to replace either
        held = None
    if isinstance(held, dict) and held.get("recovered_from"):  # (a trained one carries None there)
        return
    what = "a trained checkpoint" if isinstance(held, dict) and "model_state" in held else "another file"
    raise UsageError(f"-o {dest.parent}: {dest} holds {what}, which this import would replace; give another -o")
