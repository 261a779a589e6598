"""The architectures. All take N x 1 x 48 x 48 inputs in [-1, 1] and return logits N x 7.

Softmax is not part of the networks: training uses logits with cross-entropy, and the
ONNX export appends softmax (after temperature scaling) so inference gets probabilities.
"""

from __future__ import annotations

from torch import nn

from ...labels import NUM_CLASSES
from .registry import register_model


def _conv_bn(cin, cout, k=3, stride=1, padding=1, groups=1):
    return [nn.Conv2d(cin, cout, k, stride, padding, groups=groups, bias=False), nn.BatchNorm2d(cout)]


class SeparableConv(nn.Sequential):
    """Depthwise 3x3 then pointwise 1x1 (Keras' SeparableConv2D, no bias)."""

    def __init__(self, cin, cout):
        super().__init__(nn.Conv2d(cin, cin, 3, 1, 1, groups=cin, bias=False), nn.Conv2d(cin, cout, 1, bias=False))


class XceptionBlock(nn.Module):
    """One of mini-Xception's residual depthwise-separable blocks (halves the resolution)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.residual = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=2, bias=False), nn.BatchNorm2d(cout))
        self.body = nn.Sequential(
            SeparableConv(cin, cout), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            SeparableConv(cout, cout), nn.BatchNorm2d(cout),
            nn.MaxPool2d(3, stride=2, padding=1),
        )

    def forward(self, x):
        return self.body(x) + self.residual(x)


class MiniXception(nn.Module):
    """Arriaga et al. 2017, "Real-time CNNs for emotion and gender classification".

    Two plain 3x3 convs (8 filters, no padding as in the original), four residual
    depthwise-separable blocks of 16/32/64/128 filters, a 3x3 conv to one map per class,
    global average pooling. No fully connected layer; ~58k parameters.
    """

    def __init__(self, num_classes: int = NUM_CLASSES, widths=(16, 32, 64, 128), stem: int = 8):
        super().__init__()
        self.stem = nn.Sequential(
            *_conv_bn(1, stem, padding=0), nn.ReLU(inplace=True),
            *_conv_bn(stem, stem, padding=0), nn.ReLU(inplace=True),
        )
        blocks, cin = [], stem
        for w in widths:
            blocks.append(XceptionBlock(cin, w))
            cin = w
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Conv2d(cin, num_classes, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        return self.pool(self.head(self.blocks(self.stem(x)))).flatten(1)


@register_model
def mini_xception(num_classes: int = NUM_CLASSES, **kw):
    return MiniXception(num_classes, **kw)


class GeluCNN(nn.Module):
    """The second design document's network.

    Four 3x3 conv layers (128, 256, 512, 512 filters; 'valid' padding as Keras' default)
    each followed by GELU, 2x2 max-pooling and dropout 0.4; flatten; dense 256 and 512 with
    GELU; a 7-way output. ``batchnorm=True`` adds BatchNorm after each conv and dense layer,
    the variant that document compares against.
    """

    def __init__(self, num_classes: int = NUM_CLASSES, batchnorm: bool = False, dropout: float = 0.4,
                 widths=(128, 256, 512, 512), dense=(256, 512)):
        super().__init__()
        layers, cin, side = [], 1, 48
        for w in widths:
            layers.append(nn.Conv2d(cin, w, 3, bias=not batchnorm))
            if batchnorm:
                layers.append(nn.BatchNorm2d(w))
            layers += [nn.GELU(), nn.MaxPool2d(2), nn.Dropout(dropout)]
            cin, side = w, (side - 2) // 2
        self.features = nn.Sequential(*layers)
        fc, fin = [nn.Flatten()], cin * side * side
        for d in dense:
            fc.append(nn.Linear(fin, d, bias=not batchnorm))
            if batchnorm:
                fc.append(nn.BatchNorm1d(d))
            fc += [nn.GELU(), nn.Dropout(dropout)]
            fin = d
        fc.append(nn.Linear(fin, num_classes))
        self.classifier = nn.Sequential(*fc)

    def forward(self, x):
        return self.classifier(self.features(x))


@register_model
def gelu_cnn(num_classes: int = NUM_CLASSES, batchnorm: bool = True, **kw):
    return GeluCNN(num_classes, batchnorm=batchnorm, **kw)
