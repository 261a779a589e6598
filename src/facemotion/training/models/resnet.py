"""ResNet-style networks for 48x48 faces (the family behind the best published FER2013
single models: ResNet18/VGG variants at 72-73%).

The stem keeps full resolution (a 7x7/stride-2 stem plus max-pool, as in ImageNet
ResNets, throws away most of a 48 px face); stages halve the resolution 48 -> 24 -> 12 -> 6.
"""

from __future__ import annotations

from torch import nn

from ...labels import NUM_CLASSES
from .registry import register_model


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
        )
        self.short = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.body(x) + self.short(x))


class ResNetFER(nn.Module):
    def __init__(self, num_classes=NUM_CLASSES, widths=(64, 128, 256, 512), blocks=(2, 2, 2, 2), dropout=0.2,
                 block=BasicBlock):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.ReLU(inplace=True))
        layers, cin = [], widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                layers.append(block(cin, w, 2 if (j == 0 and i > 0) else 1))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, num_classes))
        for m in self.modules():
            if isinstance(m, BasicBlock):  # zero-init the last BN: each block starts as identity
                nn.init.zeros_(m.body[-1].weight)

    def forward(self, x):
        return self.head(self.layers(self.stem(x)))


@register_model
def resnet18_fer(num_classes: int = NUM_CLASSES, **kw):
    """The 'accurate' size: ResNet18 widths, ~11.2M parameters."""
    return ResNetFER(num_classes, (64, 128, 256, 512), (2, 2, 2, 2), **kw)


@register_model
def resnet_fer_s(num_classes: int = NUM_CLASSES, **kw):
    """The 'fast' size (<1M parameters: 899k): widths 24/48/96/192, 1/2/2/1 blocks, 256 MFLOPs."""
    return ResNetFER(num_classes, (24, 48, 96, 192), (1, 2, 2, 1), **kw)
