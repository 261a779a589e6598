"""Class offsets: a constant added to each emotion's logit, fitted on choosing sets and folded
into a network's last layer.

A network trained on FER+'s crowd learns the crowd's prior along with its reading: ten people
looking at a 48-px face call it neutral wherever the expression is faint, so the network says
neutral for a third of FER2013's faces and for half of the posed angry and sad photos of
people it never saw. Adding ``b_k`` to the logit of emotion ``k`` exchanges that prior for
another (logit adjustment; Menon et al. 2021) without touching what the network reads.
The offsets are chosen on validation sets only (:func:`search_offsets`: one emotion at a time,
under floors the caller states) and then written into the network (:func:`fold_offsets`), so
the shipped file needs nothing new at run time: ONNX export, int8 quantization and the browser
run it as any other network.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from ..errors import ModelError
from .checkpoint import model_from_checkpoint, training_compute

# a step of the search changes one emotion's offset by this much, coarse to fine
STEPS = (0.5, 0.25, 0.1)
# no offset beyond this: past it the offset, not the network, makes the answer
BOUND = 2.0


def search_offsets(objective: Callable[[np.ndarray], tuple[float, float]], n: int, *,
                   steps: Sequence[float] = STEPS, bound: float = BOUND) -> tuple[np.ndarray, tuple[float, float]]:
    """Coordinate search for ``n`` offsets from zero. ``objective(offsets)`` returns
    ``(shortfall, value)``: how far the floors are missed (0 when they all hold) and what to
    maximize. A step is taken when it lowers the shortfall, or keeps it at 0 and raises the
    value: from a start that misses a floor the search first closes the gap. Returns the
    offsets and their ``(shortfall, value)``."""
    def better(a, b):
        return a[0] < b[0] - 1e-12 or (a[0] <= b[0] + 1e-12 and a[0] == 0 and a[1] > b[1] + 1e-12)

    b = np.zeros(n)
    best = objective(b)
    for step in steps:
        moved = True
        while moved:
            moved = False
            for k in range(n):
                for d in (step, -step):
                    c = b.copy()
                    c[k] = round(c[k] + d, 6)
                    if abs(c[k]) > bound + 1e-9:
                        continue
                    v = objective(c)
                    if better(v, best):
                        b, best, moved = c, v, True
    return b, best


def apply_offsets(probs: np.ndarray, offsets: Sequence[float]) -> np.ndarray:
    """Probabilities re-weighted by ``exp(offsets)`` and renormalized: what a network with the
    offsets folded into its logits answers (exactly so without test-time augmentation)."""
    lp = np.log(np.clip(np.asarray(probs, np.float64), 1e-12, 1.0)) + np.asarray(offsets, np.float64)
    lp -= lp.max(1, keepdims=True)
    p = np.exp(lp)
    return p / p.sum(1, keepdims=True)


def _last_layer(model: torch.nn.Module, n: int):
    """The last Linear or Conv2d module with ``n`` outputs and a bias: the layer whose outputs
    are the logits (a convolutional head averaged afterwards adds its bias to each logit too)."""
    last = None
    for m in model.modules():
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)) and m.bias is not None:
            if (m.out_features if isinstance(m, torch.nn.Linear) else m.out_channels) == n:
                last = m
    return last


def fold_offsets(ckpt: dict, offsets: dict[str, float], where: str = "checkpoint") -> dict:
    """A copy of ``ckpt`` whose network answers ``softmax((logits + b) / T)`` where it answered
    ``softmax(logits / T)`` (``b = offsets * T``, so each offset is on the log-probability scale
    the search used, whatever the card's temperature). Both the weights and the EMA weights get
    them; the card's ``training`` records them (added to any offsets folded before) beside the
    run's compute. The fold is
    checked on random inputs: a network whose last layer does not give its logits is refused."""
    labels = list(ckpt.get("labels") or ())
    unknown = sorted(set(offsets) - set(labels))
    if unknown:
        raise ModelError(f"{where}: offsets for {', '.join(unknown)}: the model's labels are {', '.join(labels)}")
    t = float(ckpt.get("temperature") or 1.0)
    b = torch.tensor([float(offsets.get(k, 0.0)) * t for k in labels])
    out = dict(ckpt)
    for key in ("model_state", "ema_state"):
        if not ckpt.get(key):
            continue
        model, _ = model_from_checkpoint({**ckpt, "model_state": ckpt[key], "ema_state": None}, use_ema=False)
        layer = _last_layer(model, len(labels))
        if layer is None:
            raise ModelError(f"{where}: no last layer with {len(labels)} outputs and a bias to fold offsets into")
        x = torch.randn(8, ckpt.get("channels", 1), ckpt.get("input_size", 48), ckpt.get("input_size", 48))
        with torch.no_grad():
            before = model(x)
            layer.bias += b.to(layer.bias.dtype)
            after = model(x)
        if not torch.allclose(after - before, b.expand_as(before), atol=1e-4):
            raise ModelError(f"{where}: the network's outputs are not its last layer's: offsets cannot be folded in")
        out[key] = {k: v.clone() for k, v in model.state_dict().items()}
    done = dict((ckpt.get("training") or {}).get("class_offsets") or {})
    total = {k: round(done.get(k, 0.0) + float(offsets.get(k, 0.0)), 6) for k in labels}
    # a card's ``training`` is its compute record: a run's checkpoint has none yet, so the epochs
    # and hours its history (and its --init's) add up to are written beside the offsets
    out["training"] = {**training_compute(ckpt), "class_offsets": total}
    return out


__all__ = ["STEPS", "BOUND", "search_offsets", "apply_offsets", "fold_offsets"]
