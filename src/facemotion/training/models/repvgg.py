"""Re-parameterisable VGGs (RepVGG, Ding et al. 2021) for 48x48 faces: the students.

During training every 3x3 conv + BatchNorm has two companions summed into it, a 1x1 conv +
BatchNorm and, where the shapes allow, a BatchNorm of the input itself (the identity
branch). The extra branches make a plain stack train like a ResNet; being linear, they fold
afterwards into the 3x3 kernel and a bias (:meth:`RepVGGFER.reparameterize`, done by the
ONNX export), so inference runs a plain VGG: the cost of ``vgg_fer_*`` at the same widths,
with nothing of the training form left.

The layout is :class:`~.vgg.VGGFER`'s (stages of 3x3 blocks, 2x2 max-pooling between them,
global average pooling): ``repvgg_fer_s`` folds into exactly vgg_fer_s's network; the
narrower sizes are the efficient students (issue of ≤ 50 MFLOPs per face).
"""

from __future__ import annotations

import torch
from torch import nn

from ...labels import NUM_CLASSES
from .registry import register_model
from .vgg import VGGFER


def _fold_bn(kernel, bn):
    """(kernel, bias) of conv-without-bias followed by ``bn`` in eval mode."""
    std = (bn.running_var + bn.eps).sqrt()
    t = bn.weight / std
    return kernel * t.reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * t


class RepBlock(nn.Module):
    """3x3 conv+BN + 1x1 conv+BN (+ BN identity) -> ReLU; after :meth:`fuse`, one 3x3 conv -> ReLU."""

    def __init__(self, cin, cout):
        super().__init__()
        self.cin, self.cout = cin, cout
        self.conv3 = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.conv1 = nn.Conv2d(cin, cout, 1, 1, 0, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.bn_id = nn.BatchNorm2d(cout) if cin == cout else None
        self.fused = None
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        if self.fused is not None:
            return self.act(self.fused(x))
        y = self.bn3(self.conv3(x)) + self.bn1(self.conv1(x))
        if self.bn_id is not None:
            y = y + self.bn_id(x)
        return self.act(y)

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold the three branches into one 3x3 conv with bias (exact up to float rounding)."""
        if self.fused is not None:
            return
        k, b = _fold_bn(self.conv3.weight, self.bn3)
        k1, b1 = _fold_bn(self.conv1.weight, self.bn1)
        k = k + nn.functional.pad(k1, [1, 1, 1, 1])
        b = b + b1
        if self.bn_id is not None:
            ident = torch.zeros_like(self.conv3.weight)
            ident[torch.arange(self.cout), torch.arange(self.cin), 1, 1] = 1
            ki, bi = _fold_bn(ident, self.bn_id)
            k, b = k + ki, b + bi
        conv = nn.Conv2d(self.cin, self.cout, 3, 1, 1, bias=True).to(k.device, k.dtype)
        conv.weight.copy_(k)
        conv.bias.copy_(b)
        self.fused = conv
        del self.conv3, self.bn3, self.conv1, self.bn1, self.bn_id


class RepVGGFER(VGGFER):
    """:class:`~.vgg.VGGFER`'s layout with a :class:`RepBlock` for each conv layer."""

    def __init__(self, num_classes=NUM_CLASSES, widths=(32, 64, 128, 192), convs=(2, 2, 2, 2), dropout=0.3):
        super().__init__(num_classes, widths, convs, dropout, block=lambda cin, cout: [RepBlock(cin, cout)])

    def reparameterize(self):
        """Switch to the inference form in place (one conv per block); returns self."""
        for m in self.modules():
            if isinstance(m, RepBlock):
                m.fuse()
        return self


@register_model
def repvgg_fer_s(num_classes: int = NUM_CLASSES, **kw):
    """vgg_fer_s's network (<1M parameters after folding, 211 MFLOPs) trained with RepVGG branches."""
    return RepVGGFER(num_classes, (32, 64, 128, 192), (2, 2, 2, 2), **kw)


@register_model
def repvgg_fer_t(num_classes: int = NUM_CLASSES, **kw):
    """A student of 48 MFLOPs per face (folded; 292k parameters): widths 16/32/64/128, one conv at 48 px."""
    return RepVGGFER(num_classes, (16, 32, 64, 128), (1, 2, 2, 2), **kw)


@register_model
def repvgg_fer_xt(num_classes: int = NUM_CLASSES, **kw):
    """A student of 27 MFLOPs per face (folded; 164k parameters): widths 12/24/48/96."""
    return RepVGGFER(num_classes, (12, 24, 48, 96), (1, 2, 2, 2), **kw)
