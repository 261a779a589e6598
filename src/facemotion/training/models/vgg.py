"""VGG-style networks for 48x48 faces.

Plain stacks of 3x3 conv + BatchNorm + ReLU with 2x2 max-pooling between stages (the
VGG family holds several of the best published FER2013 single models). No residual
connections and max-pooling instead of strided convs: a different inductive bias from
the ResNets, which is what an ensemble member needs (models that make different errors).
Global average pooling instead of VGG's large dense layers keeps the fast size <1M.
"""

from __future__ import annotations

from torch import nn

from ...labels import NUM_CLASSES
from .registry import register_model


def conv_bn_relu(cin, cout) -> list:
    """One VGG layer: 3x3 conv (no bias: the BatchNorm has one), BatchNorm, ReLU."""
    return [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class VGGFER(nn.Module):
    """Stages of ``convs[i]`` layers of width ``widths[i]`` (``block(cin, cout)`` gives a layer's
    modules), 2x2 max-pooling between stages, global average pooling, dropout, a linear head."""

    def __init__(self, num_classes=NUM_CLASSES, widths=(32, 64, 128, 192), convs=(2, 2, 2, 2), dropout=0.3,
                 block=conv_bn_relu):
        super().__init__()
        layers, cin = [], 1
        for i, (w, n) in enumerate(zip(widths, convs)):
            if i:
                layers.append(nn.MaxPool2d(2))  # 48 -> 24 -> 12 -> 6
            for _ in range(n):
                layers += block(cin, w)
                cin = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, num_classes))

    def forward(self, x):
        return self.head(self.features(x))


@register_model
def vgg_fer_s(num_classes: int = NUM_CLASSES, **kw):
    """Fast-size VGG (<1M parameters): widths 32/64/128/192, two convs per stage."""
    return VGGFER(num_classes, (32, 64, 128, 192), (2, 2, 2, 2), **kw)


@register_model
def vgg_fer_m(num_classes: int = NUM_CLASSES, **kw):
    """Medium VGG (2.64M parameters, ~4x the fast size's compute): widths 48/96/192/384,
    two convs per stage. The largest model a 2-core CPU trains in one ~2 h session
    (~2 min/epoch); a step towards the 'accurate' size."""
    return VGGFER(num_classes, (48, 96, 192, 384), (2, 2, 2, 2), **kw)
