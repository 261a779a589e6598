"""The architecture registry, like timm's: ``@register_model`` on a builder function,
``create_model(name, **kwargs)`` to build one. A checkpoint stores the name and the keyword
arguments, so :func:`~facemotion.training.checkpoint.model_from_checkpoint` rebuilds exactly
the network that was trained."""

from __future__ import annotations

from typing import Callable

from ...registry import Registry

# the one registry idiom (facemotion.registry), under timm's names
MODELS = Registry("model", sort=True, error=KeyError, unknown="unknown model {name!r}; available: {names}")


def register_model(fn: Callable) -> Callable:
    """``@register_model`` on a builder function: its name is the architecture's."""
    return MODELS.register(fn)


def list_models() -> list[str]:
    return MODELS.names()


def create_model(name: str, **kwargs):
    model = MODELS.create(name, **kwargs)
    model.arch = name
    model.arch_kwargs = dict(kwargs)
    return model


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def mflops_per_face(model) -> float:
    """Multiply-adds x 2 for one 48x48 face (torch's FLOP counter), of the network as it runs
    for inference (a re-parameterisable one folded first, as its export is)."""
    import copy

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    if hasattr(model, "reparameterize"):
        model = copy.deepcopy(model).eval().reparameterize()
    p = next(model.parameters())
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model.eval()(torch.zeros(1, 1, 48, 48, device=p.device, dtype=p.dtype))
    return fc.get_total_flops() / 1e6
