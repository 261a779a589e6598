"""Corruption augmentation: the conditions users' faces come in, as batched tensor ops.

:class:`CorruptAugment` gives a share of each batch the faces of real photos, webcams and
videos -- small (down to 12 px and back), blurred (Gaussian, motion), noisy, JPEG-compressed,
badly lit (gamma, brightness, contrast, a light from the side), tilted further than the
geometric augmentation goes, and partly covered (a mask, sunglasses, a hand) -- one or two
conditions chained at a random strength, and, AugMix-style, often blended back with the clean
face, so the network sees the whole range between clean and badly corrupted.

Everything runs on whole batches on the batch's device (a GPU keeps it there) and draws from
the epoch's generator, like :mod:`.augment`; which faces get which condition is drawn on the host,
from a stream seeded by that generator, so nothing waits for the device. The evaluation suite (``facemotion evaluate
--robustness``) is written separately, in numpy/OpenCV: training does not copy its exact
corruptions, so the benchmark measures generalisation to conditions, not memorised ones.
Inputs and outputs are normalized faces (N x 1 x H x W in [-1, 1]).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def _to_device(a: np.ndarray, dev: torch.device) -> torch.Tensor:
    """A host array on ``dev`` without waiting: pinned and copied asynchronously on a GPU."""
    t = torch.from_numpy(a)
    return t.pin_memory().to(dev, non_blocking=True) if dev.type == "cuda" else t


# the JPEG standard's luminance quantization table (quality 50)
_JPEG_Q50 = torch.tensor([
    [16, 11, 10, 16, 24, 40, 51, 61], [12, 12, 14, 19, 26, 58, 60, 55], [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62], [18, 22, 37, 56, 68, 109, 103, 77], [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101], [72, 92, 95, 98, 112, 100, 103, 99]], dtype=torch.float32)


def _dct_matrix(n: int = 8) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float32)
    m = torch.cos(math.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * math.sqrt(2 / n)
    m[0] /= math.sqrt(2)
    return m


_DCT = _dct_matrix()


class CorruptAugment:
    """With probability ``p`` per face: a chain of one or two random conditions (see the
    module's docstring), blended back with the clean face with probability ``mix`` (weight of
    the corrupted face uniform in [0.3, 1])."""

    FAMILIES = ("lowres", "blur", "motion", "noise", "jpeg", "gamma", "contrast", "sidelight", "rotate", "occlude")

    def __init__(self, p: float = 0.5, mix: float = 0.5):
        self.p, self.mix = p, mix
        self._hosts: list = []  # (generator, its host stream), the last eight

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n, dev = x.shape[0], x.device
        rand = lambda *s: torch.rand(*s, generator=gen, device=dev)  # noqa: E731
        # Which faces, which conditions and how much of each is kept are drawn on the host: a
        # choice drawn on a GPU would have to be read back (``.any()``, ``nonzero``) before the
        # faces could be picked, and each read stalls the host until the device catches up --
        # about forty a batch, which left a GPU step waiting on the host. The conditions'
        # strengths still come from the device generator.
        host = self._host_rng(gen)
        chosen = host.random(n) < self.p
        if not chosen.any():
            return x
        picks, parts = [], []  # (condition, start, length) in one index array per batch
        for link in range(2):  # the second link of the chain for about half of them
            fam = host.integers(0, len(self.FAMILIES), n)
            active = chosen & (host.random(n) < (1.0 if link == 0 else 0.5))
            for k, name in enumerate(self.FAMILIES):
                sel = np.flatnonzero(active & (fam == k))
                if len(sel):
                    picks.append((name, sum(map(len, parts)), len(sel)))
                    parts.append(sel)
        keep = np.where(host.random(n) < self.mix, 0.3 + 0.7 * host.random(n), 1.0) * chosen
        idx_all = _to_device(np.concatenate(parts).astype(np.int64), dev)
        w = _to_device(keep.astype(np.float32), dev).to(x.dtype).view(-1, 1, 1, 1)
        out = x
        for name, start, length in picks:
            idx = idx_all[start:start + length]
            kw = {"size": int(host.integers(3, 10)) * 4} if name == "lowres" else {}  # 12, 16, ..., 36 px
            faces = getattr(self, "_" + name)(out.index_select(0, idx), rand, **kw)
            out = out.index_copy(0, idx, faces.clamp(-1, 1))
        return x + w * (out - x)  # the corrupted faces blended back with the clean ones (w = 0: untouched)

    def _host_rng(self, gen: torch.Generator) -> np.random.Generator:
        """The host's draws for the batches of ``gen`` (the epoch's generator): a stream of its
        own, seeded from the generator's seed (a host value: nothing is read from the device), so
        a resumed epoch, or the same seed again, draws what it drew before."""
        for g, host in self._hosts:
            if g is gen:
                return host
        host = np.random.default_rng([gen.initial_seed(), 0xC0])
        self._hosts = [*self._hosts[-7:], (gen, host)]
        return host

    # -- the conditions: each takes the chosen faces and the generator's uniform draws ---------

    @staticmethod
    def _lowres(x, rand, size: int = 24):
        """The face at ``size`` px (12-36, one size for a batch's low-res faces, drawn on the
        host), then back to the grid (area down, bilinear up: a small face in a photo, enlarged
        by the crop)."""
        small = F.interpolate(x, size=(size, size), mode="area")
        return F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)

    @staticmethod
    def _filter(x, kernels):
        """Each face convolved with its own kernel (N x k x k), borders replicated."""
        n, _, h, w = x.shape
        k = kernels.shape[-1]
        padded = F.pad(x.view(1, n, h, w), [k // 2] * 4, mode="replicate")
        return F.conv2d(padded, kernels.unsqueeze(1), groups=n).view(n, 1, h, w)

    @classmethod
    def _blur(cls, x, rand, k=11):
        sigma = (0.6 + 2.0 * rand(len(x))).view(-1, 1)  # 0.6-2.6 px
        t = torch.arange(k, device=x.device, dtype=x.dtype) - k // 2
        g = torch.exp(-t[None] ** 2 / (2 * sigma ** 2))
        g = g / g.sum(1, keepdim=True)
        return cls._filter(x, g[:, :, None] * g[:, None, :])

    @classmethod
    def _motion(cls, x, rand, k=9):
        """A straight streak 3-9 px long at a random angle (a moving head or camera)."""
        n = len(x)
        length = 3 + 6 * rand(n)
        angle = math.pi * rand(n)
        t = torch.arange(k, device=x.device, dtype=x.dtype) - k // 2
        yy, xx = torch.meshgrid(t, t, indexing="ij")
        c, s = torch.cos(angle).view(-1, 1, 1), torch.sin(angle).view(-1, 1, 1)
        along, across = xx * c + yy * s, -xx * s + yy * c
        ker = ((along.abs() <= length.view(-1, 1, 1) / 2) & (across.abs() <= 0.5)).to(x.dtype)
        return cls._filter(x, ker / ker.sum((1, 2), keepdim=True))

    @staticmethod
    def _noise(x, rand):
        sigma = (0.03 + 0.22 * rand(len(x))).view(-1, 1, 1, 1)  # 4-28 grey levels
        u1, u2 = rand(*x.shape).clamp(min=1e-7), rand(*x.shape)
        z = torch.sqrt(-2 * torch.log(u1)) * torch.cos(2 * math.pi * u2)  # Gaussian, from the epoch's generator
        return x + sigma * z

    @staticmethod
    def _jpeg(x, rand):
        """Real JPEG quantization of the 8x8 block DCT (the luminance table at quality 5-40)."""
        n, _, h, w = x.shape
        q = 5 + 35 * rand(n)
        scale = torch.where(q < 50, 50 / q, 2 - q / 50).view(-1, 1, 1, 1, 1, 1)
        table = (_JPEG_Q50.to(x.device) * scale).clamp(min=1)
        d = _DCT.to(x.device, x.dtype)
        hb, wb = h // 8 * 8, w // 8 * 8
        px = (x[..., :hb, :wb] + 1) * 127.5 - 128
        blocks = px.reshape(n, 1, hb // 8, 8, wb // 8, 8).permute(0, 1, 2, 4, 3, 5)
        coef = d @ blocks @ d.T
        coef = torch.round(coef / table) * table
        back = (d.T @ coef @ d).permute(0, 1, 2, 4, 3, 5).reshape(n, 1, hb, wb)
        out = x.clone()
        out[..., :hb, :wb] = (torch.round(back + 128).clamp(0, 255)) / 127.5 - 1
        return out

    @staticmethod
    def _gamma(x, rand):
        g = torch.exp((rand(len(x)) * 2 - 1) * math.log(2.5)).view(-1, 1, 1, 1)  # 0.4-2.5: bright to dark
        return ((x + 1) / 2).clamp(0, 1) ** g * 2 - 1

    @staticmethod
    def _contrast(x, rand):
        n = len(x)
        c = (0.25 + 1.0 * rand(n)).view(-1, 1, 1, 1)
        b = ((rand(n) * 2 - 1) * 0.5).view(-1, 1, 1, 1)
        m = x.mean((2, 3), keepdim=True)
        return (x - m) * c + m + b

    @staticmethod
    def _sidelight(x, rand):
        """Light from one side: the face's brightness falls off along a random direction."""
        n, _, h, w = x.shape
        a = (math.pi * 2 * rand(n)).view(-1, 1, 1, 1)
        yy = torch.linspace(-1, 1, h, device=x.device).view(1, 1, h, 1)
        xx = torch.linspace(-1, 1, w, device=x.device).view(1, 1, 1, w)
        ramp = (torch.cos(a) * xx + torch.sin(a) * yy + 1) / 2  # 0 on the dark side, 1 on the lit one
        strength = (0.4 + 0.5 * rand(n)).view(-1, 1, 1, 1)
        return ((x + 1) / 2 * (1 - strength * (1 - ramp))) * 2 - 1

    @staticmethod
    def _rotate(x, rand):
        """In-plane tilt of 15-35 degrees either way (beyond the geometric augmentation's 10)."""
        n = len(x)
        ang = torch.deg2rad(15 + 20 * rand(n)) * torch.where(rand(n) < 0.5, -1.0, 1.0)
        z = torch.zeros(n, device=x.device)
        theta = torch.stack([torch.stack([torch.cos(ang), -torch.sin(ang), z], 1),
                             torch.stack([torch.sin(ang), torch.cos(ang), z], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    @staticmethod
    def _occlude(x, rand):
        """A mask over the lower third, a band over the eyes, or a hand-sized patch, in a flat grey."""
        n, _, h, w = x.shape
        ys = torch.arange(h, device=x.device).view(1, h, 1).float() / h
        xs = torch.arange(w, device=x.device).view(1, 1, w).float() / w
        kind = (rand(n) * 3).long().view(-1, 1, 1)
        lower = ys >= 0.62 + 0.08 * rand(n).view(-1, 1, 1)
        top = 0.22 + 0.12 * rand(n).view(-1, 1, 1)
        eyes = (ys >= top) & (ys < top + 0.2)
        cy, cx = rand(n).view(-1, 1, 1), rand(n).view(-1, 1, 1)
        side = 0.3 + 0.2 * rand(n).view(-1, 1, 1)
        patch = ((ys - cy).abs() < side / 2) & ((xs - cx).abs() < side / 2)
        m = torch.where(kind == 0, lower, torch.where(kind == 1, eyes, patch)).unsqueeze(1)
        fill = (rand(n) * 2 - 1).view(-1, 1, 1, 1)
        return torch.where(m, fill, x)
