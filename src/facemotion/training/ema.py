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

    def update(self, model, step):
        # warm up the decay so early, poor weights are forgotten quickly
        d = min(self.decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(self.module.parameters(), model.parameters()):
                e.mul_(d).add_(p.detach(), alpha=1 - d)
            for e, b in zip(self.module.buffers(), model.buffers()):
                e.copy_(b)
