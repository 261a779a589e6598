"""Exponential moving average of the weights (selection and shipping use the EMA weights)."""

from __future__ import annotations

import copy

import torch


class EMA:
    """Exponential moving average of weights; BatchNorm buffers are copied."""

    def __init__(self, model, decay):
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self._ema_params = list(self.module.parameters())
        self._ema_buffers = list(self.module.buffers())

    def update(self, model, step):
        # warm up the decay so early, poor weights are forgotten quickly
        d = min(self.decay, (1 + step) / (10 + step))
        with torch.no_grad():
            # one multi-tensor kernel for all parameters (a loop would launch two per tensor,
            # which on a GPU costs more than a small network's whole step)
            # (the model's own tensors, read under no_grad: a .detach() apiece would be ~100 more
            # dispatches a step on the host)
            torch._foreach_lerp_(self._ema_params, list(model.parameters()), 1 - d)
            torch._foreach_copy_(self._ema_buffers, list(model.buffers()))
