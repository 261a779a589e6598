"""An efficient family for the edge: inverted residual blocks (MobileNetV2, Sandler et al.
2018) sized for 48x48 faces.

Where the FLOPs go decides the speed on a CPU: at 48 px most of a plain CNN's cost is in
its first full-resolution layers, so this family halves the resolution in the stem's second
conv and keeps the expensive, wide layers at 12x12 and below. Depthwise 3x3 + pointwise 1x1
replaces the dense 3x3 convolutions (8-9x fewer multiply-adds at the same width).
"""

from __future__ import annotations

from torch import nn

from ...labels import NUM_CLASSES
from .cnn import _conv_bn
from .registry import register_model


def _cbr(cin, cout, k=3, stride=1, groups=1, act=True):
    layers = _conv_bn(cin, cout, k, stride, k // 2, groups)
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return layers


class InvertedResidual(nn.Module):
    """1x1 expand -> depthwise 3x3 -> 1x1 project (linear), with a skip when shapes allow."""

    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        layers = [] if expand == 1 else _cbr(cin, hidden, 1)
        layers += _cbr(hidden, hidden, 3, stride, groups=hidden)
        layers += _cbr(hidden, cout, 1, act=False)
        self.body = nn.Sequential(*layers)
        self.skip = stride == 1 and cin == cout
        if self.skip:  # zero-init the projection's BN: every residual block starts as identity
            nn.init.zeros_(self.body[-1].weight)

    def forward(self, x):
        return x + self.body(x) if self.skip else self.body(x)


def _round(c, mult):
    return max(8, int(c * mult + 4) // 8 * 8)


class MobileFER(nn.Module):
    # (expansion, channels, repeats, stride of the first), resolution after each stage for 48 px
    STAGES = ((1, 16, 1, 1),   # 24
              (4, 24, 2, 2),   # 12
              (4, 48, 3, 2),   # 6
              (4, 96, 3, 1),   # 6
              (4, 160, 2, 2))  # 3

    def __init__(self, num_classes=NUM_CLASSES, width=1.0, head=256, dropout=0.2, stem=16):
        super().__init__()
        stem = _round(stem, width)
        # full resolution for one cheap conv only, then down to 24x24
        self.stem = nn.Sequential(*_cbr(1, stem, 3, 1), *_cbr(stem, stem, 3, 2, groups=stem),
                                  *_cbr(stem, stem, 1))
        blocks, cin = [], stem
        for t, c, n, s in self.STAGES:
            c = _round(c, width)
            for i in range(n):
                blocks.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        self.blocks = nn.Sequential(*blocks)
        head = _round(head, max(1.0, width))
        self.head = nn.Sequential(*_cbr(cin, head, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Dropout(dropout), nn.Linear(head, num_classes))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


@register_model
def mobile_fer(num_classes: int = NUM_CLASSES, **kw):
    """Inverted residuals at 48 px; ``width`` scales every stage (1.0: ~0.4M parameters)."""
    return MobileFER(num_classes, **kw)
