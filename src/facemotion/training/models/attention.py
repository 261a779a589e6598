"""Attention for 48x48 faces: a ResNet whose blocks carry CBAM (Woo et al. 2018).

Faces are aligned only roughly by the detector, and the expressive regions (brows, eyes,
mouth) take a small share of the crop: CBAM's channel gate picks *which* features matter and
its spatial gate *where*, at a cost of a few percent more FLOPs than the plain ResNet.
``attention="se"`` keeps only the channel gate (squeeze-and-excitation, Hu et al. 2018).
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from ...labels import NUM_CLASSES
from .registry import register_model
from .resnet import BasicBlock, ResNetFER


class ChannelGate(nn.Module):
    """Squeeze (average and max pooled) -> shared MLP -> sigmoid per channel."""

    def __init__(self, c, reduction=16):
        super().__init__()
        hidden = max(8, c // reduction)
        self.mlp = nn.Sequential(nn.Conv2d(c, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, c, 1))

    def forward(self, x):
        avg = self.mlp(x.mean((2, 3), keepdim=True))
        mx = self.mlp(x.amax((2, 3), keepdim=True))
        return x * torch.sigmoid(avg + mx)


class SpatialGate(nn.Module):
    """Channel mean and max -> 7x7 conv -> sigmoid per position."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(2, 1, 7, padding=3, bias=False), nn.BatchNorm2d(1))

    def forward(self, x):
        s = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
        return x * torch.sigmoid(self.conv(s))


class AttentionBlock(BasicBlock):
    """A ResNet basic block whose residual branch is gated before the sum (as in CBAM)."""

    def __init__(self, cin, cout, stride, attention="cbam"):
        super().__init__(cin, cout, stride)
        gates = [ChannelGate(cout)] + ([SpatialGate()] if attention == "cbam" else [])
        self.gate = nn.Sequential(*gates)

    def forward(self, x):
        return self.act(self.gate(self.body(x)) + self.short(x))


class AttentionResNetFER(ResNetFER):
    def __init__(self, num_classes=NUM_CLASSES, widths=(64, 128, 256, 512), blocks=(2, 2, 2, 2),
                 dropout=0.2, attention="cbam"):
        if attention not in ("cbam", "se"):
            raise ValueError(f"attention must be 'cbam' or 'se', not {attention!r}")
        super().__init__(num_classes, widths, blocks, dropout, block=partial(AttentionBlock, attention=attention))


@register_model
def resnet18_cbam_fer(num_classes: int = NUM_CLASSES, **kw):
    """ResNet18 widths with CBAM in every block, ~11.4M parameters."""
    return AttentionResNetFER(num_classes, (64, 128, 256, 512), (2, 2, 2, 2), **kw)


@register_model
def resnet_cbam_fer_s(num_classes: int = NUM_CLASSES, **kw):
    """The <1M size (resnet_fer_s's widths) with CBAM."""
    return AttentionResNetFER(num_classes, (24, 48, 96, 192), (1, 2, 2, 1), **kw)
