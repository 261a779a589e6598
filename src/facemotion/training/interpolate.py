"""Weight-space interpolation of a model and its fine-tune (WiSE-FT, Wortsman et al. 2022).

A robust fine-tune moves the weights away from where the clean accuracy peaked; the straight
line between the two checkpoints often holds a point that keeps most of the robustness and
most of the clean accuracy, because both ends lie in one basin (the fine-tune started from the
first). ``facemotion interpolate BASE.pt TUNED.pt --alpha A`` writes
``(1 - A) * BASE + A * TUNED``: every floating-point tensor, BatchNorm's running statistics
included (both ends' statistics are averages over the same kind of faces, so their mix is a
fair estimate for the mixed network; integer counters come from TUNED). Choose ``A`` on
PublicTest (``facemotion evaluate ... --split val``, with ``--robustness`` for the corrupted
faces), never on PrivateTest.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import ModelError
from .checkpoint import atomic_torch_save, load_checkpoint, slim

# card fields that describe one run's weights, wrong for the mix: dropped rather than kept
_RUN_FIELDS = ("metrics", "best", "epoch", "step", "recovered_from", "quantization")


def interpolate_states(base: dict, tuned: dict, alpha: float, where: str = "checkpoints") -> dict:
    """``(1 - alpha) * base + alpha * tuned`` for each floating tensor; others from ``tuned``."""
    if set(base) != set(tuned):
        missing = sorted(set(base) ^ set(tuned))[:3]
        raise ModelError(f"{where}: the two networks differ (tensors {missing} in only one)")
    out = {}
    for k, b in base.items():
        t = tuned[k]
        if b.shape != t.shape:
            raise ModelError(f"{where}: tensor {k} has shape {tuple(b.shape)} in one and {tuple(t.shape)} in the other")
        out[k] = torch.lerp(b.float(), t.float(), alpha).to(t.dtype) if t.is_floating_point() else t.clone()
    return out


def interpolate_checkpoints(base: str | os.PathLike, tuned: str | os.PathLike, alpha: float, out: str | os.PathLike,
                            name: str | None = None, temperature: float | None = None) -> dict:
    """Write the interpolated checkpoint to ``out`` and return it. Its card is ``tuned``'s
    (architecture, labels, preprocessing) under ``name`` (default: ``out``'s stem), its
    temperature the mix of the two unless given
    (refit it with ``facemotion evaluate ... --calibrate``), its training record ``tuned``'s
    with the interpolation added."""
    if not 0.0 <= alpha <= 1.0:
        raise ModelError(f"--alpha {alpha}: must lie in [0, 1] (0 = {base}, 1 = {tuned})")
    a, b = load_checkpoint(base), load_checkpoint(tuned)
    for key in ("arch", "arch_kwargs", "labels", "input_size", "channels", "normalization", "pruned"):
        if a.get(key) != b.get(key):
            raise ModelError(f"{base} and {tuned} differ in {key} ({a.get(key)!r} vs {b.get(key)!r}): "
                             "only a model and its own fine-tune can be interpolated")
    if bool(a.get("recovered_from")) != bool(b.get("recovered_from")):
        # an import's BatchNorms are the identity plus a bias, folded into its convolutions; a trained
        # one's hold statistics: the same function, other tensors, whose mix is neither network
        imported, trained = (base, tuned) if a.get("recovered_from") else (tuned, base)
        raise ModelError(f"{imported} is rebuilt from an ONNX graph (facemotion import), its BatchNorms folded into "
                         f"its convolutions, and {trained} is not: their tensors do not line up; interpolate the "
                         "checkpoints themselves (a run's best.pt and its fine-tune)")
    # slim: the EMA weights where a run kept them, as a shipped checkpoint holds them
    ck = {k: v for k, v in slim(b).items() if k not in _RUN_FIELDS}
    ck["model_state"] = interpolate_states(slim(a)["model_state"], ck["model_state"], alpha, f"{base} and {tuned}")
    ta, tb = a.get("temperature", 1.0), b.get("temperature", 1.0)
    ck["temperature"] = float(temperature if temperature is not None else (1 - alpha) * ta + alpha * tb)
    # a mix is a model of its own: named as asked, else by its file (the tuned model's name, a
    # shipped one's perhaps, would title the user's file as that model in every record)
    ck["name"] = name or Path(out).stem
    training = dict(ck.get("training") or {})
    training["interpolation"] = {"base": str(base), "tuned": str(tuned), "alpha": float(alpha)}
    ck["training"] = training
    atomic_torch_save(ck, out)
    return ck
