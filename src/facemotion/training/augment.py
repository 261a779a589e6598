"""Training augmentation on whole batches, as tensor ops (no per-image Python in the hot loop).

:class:`BatchAugment`: random shift/zoom/rotation/flip as one affine grid-sample per batch,
and random erasing as masks. :func:`mix_batch`: Mixup or CutMix with soft targets. Both draw
from the epoch's generator, so a resumed run sees the augmentations it would have seen.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


class BatchAugment:
    """Random shift/zoom/rotation/flip (one affine grid-sample per batch) and random erasing."""

    def __init__(self, shift=0.1, zoom=0.1, rotate=10.0, flip=True, erase=0.0):
        self.shift, self.zoom, self.rotate, self.flip, self.erase = shift, zoom, rotate, flip, erase

    def __call__(self, x, gen):
        n, dev = x.shape[0], x.device
        rand = lambda *shape: torch.rand(*shape, generator=gen, device=dev)  # noqa: E731
        u = lambda: rand(n) * 2 - 1  # noqa: E731  uniform in [-1, 1]
        ang = u() * math.radians(self.rotate)
        scale = 1 + u() * self.zoom
        tx, ty = u() * self.shift * 2, u() * self.shift * 2  # grid coords span 2 per side
        sx = torch.where(rand(n) < 0.5, -1.0, 1.0) if self.flip else torch.ones(n, device=dev)
        cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
        theta = torch.stack([torch.stack([cos * sx, -sin, tx], 1), torch.stack([sin * sx, cos, ty], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        if self.erase > 0:
            h, w = x.shape[-2:]
            area = (rand(n) * 0.18 + 0.02) * h * w
            ratio = torch.exp((rand(n) * 2 - 1) * math.log(3))
            eh = (area * ratio).sqrt().clamp(1, h)
            ew = (area / ratio).sqrt().clamp(1, w)
            y0 = rand(n) * (h - eh)
            x0 = rand(n) * (w - ew)
            ys = torch.arange(h, device=dev).view(1, h, 1)
            xs = torch.arange(w, device=dev).view(1, 1, w)
            m = ((ys >= y0.view(-1, 1, 1)) & (ys < (y0 + eh).view(-1, 1, 1)) &
                 (xs >= x0.view(-1, 1, 1)) & (xs < (x0 + ew).view(-1, 1, 1)))
            m &= (rand(n) < self.erase).view(-1, 1, 1)
            noise = rand(*x.shape) * 2 - 1
            x = torch.where(m.unsqueeze(1), noise, x)
        return x


def mix_batch(x, y_soft, args, gen, host_rng=None):
    """Mixup or CutMix on a batch (soft targets).

    The pairing (a permutation) is drawn on the batch's device from ``gen``; the scalars that
    decide the mix (which of the two, its weight, CutMix's box) from ``host_rng``, a NumPy
    generator, so that nothing here waits for the device.
    """
    rng = host_rng if host_rng is not None else np.random.default_rng(
        int(torch.randint(0, 2**31, (1,), generator=gen, device=gen.device)))
    use_cutmix = args.cutmix > 0 and (args.mixup <= 0 or rng.random() < 0.5)
    alpha = args.cutmix if use_cutmix else args.mixup
    lam = float(rng.beta(alpha, alpha))
    perm = torch.randperm(x.shape[0], generator=gen, device=x.device)
    if use_cutmix:
        h, w = x.shape[-2:]
        rh, rw = int(h * math.sqrt(1 - lam)), int(w * math.sqrt(1 - lam))
        cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
        y0, y1 = max(cy - rh // 2, 0), min(cy + rh // 2, h)
        x0, x1 = max(cx - rw // 2, 0), min(cx + rw // 2, w)
        x = x.clone()
        x[:, :, y0:y1, x0:x1] = x[perm, :, y0:y1, x0:x1]
        lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)
    else:
        x = lam * x + (1 - lam) * x[perm]
    return x, lam * y_soft + (1 - lam) * y_soft[perm]
