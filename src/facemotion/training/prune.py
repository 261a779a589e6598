"""Structured pruning: whole channels are removed, so the network that remains is smaller and
faster in every runtime. (``torch.nn.utils.prune`` only masks weights: every multiply-add is
still done, and the exported ONNX graph is as slow as before.)

torch-pruning's dependency graph finds the layers that must shrink together (a conv's output,
its BatchNorm, the next conv's input, both sides of a residual sum), and an L2-magnitude
importance per group picks the channels to drop. A pruned network is no longer what its
registry builder makes: the network carries a ``pruned`` record (as it carries ``arch``), every
checkpoint written from it keeps that record, and :func:`fit_to_state` rebuilds the network from
the registry's full-size one and the shapes in the saved weights.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import FacemotionError
from .models.registry import count_parameters, mflops_per_face


def model_cost(model) -> tuple[float, int]:
    """(MFLOPs per 48x48 face, parameters) of ``model`` as it is now."""
    return mflops_per_face(model), count_parameters(model)


def prune_channels(model: nn.Module, ratio: float, size: int = 48, source: str | None = None) -> dict:
    """Remove ``ratio`` of the channels of every prunable layer of ``model``, in place.

    The classifier's output layer keeps its 7 classes; channel counts are rounded to multiples
    of 8, which the CPU kernels (and int8 ones most) run fastest. Returns the record the model
    then carries (``model.pruned``) and its checkpoints keep: the ratio, the cost before and
    after, and ``source``, the network it was pruned from.
    """
    try:
        import torch_pruning as tp
    except ImportError:
        raise FacemotionError("--prune needs torch-pruning: pip install 'facemotion[train]'") from None
    if not 0 < ratio < 1:
        raise FacemotionError(f"--prune: the ratio must be between 0 and 1, not {ratio}")
    was_training = model.training
    # the layer that scores the classes (a Linear, or mini_xception's last conv) keeps all 7
    outputs = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))][-1:]
    before = model_cost(model)
    model.eval()
    p = next(model.parameters())
    pruner = tp.pruner.BasePruner(
        model, torch.zeros(1, 1, size, size, device=p.device, dtype=p.dtype),
        importance=tp.importance.GroupMagnitudeImportance(p=2), pruning_ratio=ratio,
        ignored_layers=outputs, round_to=8)
    pruner.step()
    model.train(was_training)
    after = model_cost(model)
    model.pruned = {"ratio": ratio, "mflops_before": round(before[0], 2), "mflops_after": round(after[0], 2),
                    "parameters_before": before[1], "parameters_after": after[1], **({"from": source} if source else {})}
    return model.pruned


def fit_to_state(model: nn.Module, state: dict, record: dict) -> nn.Module:
    """Shrink the layers of a registry-built ``model`` to the shapes of a pruned run's weights,
    in place, so ``load_state_dict(state)`` fits, and give it the run's ``pruned`` record. Only
    channel counts change under pruning; the layers, their order and their kinds are the
    registry's."""
    model.pruned = dict(record)
    for name, m in model.named_modules():
        pre = f"{name}." if name else ""
        w = state.get(pre + "weight")
        if isinstance(m, nn.Conv2d) and w is not None:
            depthwise = m.groups > 1 and m.groups == m.in_channels == m.out_channels
            m.out_channels = w.shape[0]
            m.groups = w.shape[0] if depthwise else m.groups
            m.in_channels = w.shape[1] * m.groups
        elif isinstance(m, nn.BatchNorm2d) and w is not None:
            m.num_features = w.shape[0]
        elif isinstance(m, nn.Linear) and w is not None:
            m.out_features, m.in_features = w.shape
        else:
            continue
        for key, t in list(m.named_parameters(recurse=False)) + list(m.named_buffers(recurse=False)):
            saved = state.get(pre + key)
            if saved is None or saved.shape == t.shape:
                continue
            new = torch.empty(saved.shape, dtype=t.dtype, device=t.device)
            if isinstance(t, nn.Parameter):
                setattr(m, key, nn.Parameter(new, requires_grad=t.requires_grad))
            else:
                setattr(m, key, new)
    return model
