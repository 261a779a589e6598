"""Consistency training on unlabelled faces (FixMatch, Sohn et al. 2020), ``train --unlabelled``.

Real photos without labels are plentiful (UTKFace's 20,000 faces), labelled ones are not. For
each labelled batch the loop draws as many unlabelled faces; the network, without gradient,
answers on a lightly augmented view (a flip and a small shift), and where it is sure (top
probability at least ``threshold``) that answer is the target for a strongly augmented view
of the same face (geometry, erasing and the corruptions of :mod:`.corrupt`). The network so
learns to give a real face the same answer however it is photographed, and its sure answers
on real faces spread to the faces it is not yet sure of. Unsure faces count as zero in the
mean (FixMatch's normalisation), so the loss fades where the network knows little.

The strong view goes through the network in the same forward pass as the labelled batch, so
BatchNorm sees one batch of both kinds, as FixMatch's interleaving does. The weak view's pass
normalises by its own batch's statistics too (the network answers as in training) but leaves
BatchNorm's running statistics alone: a second update a step, from unlabelled faces only,
would pull what evaluation normalises by away from the labelled faces.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UsageError
from ..inputs import IMAGE_SUFFIXES
from ..preprocess import normalize
from .augment import BatchAugment
from .corrupt import CorruptAugment


def load_unlabelled(folder, *, skip_bad: bool = False, progress: bool = True) -> np.ndarray:
    """Every image under ``folder`` (a folder, zip or tar; sub-folders and their names ignored)
    as N x 48 x 48 uint8 faces, decoded as the training faces are."""
    from ..datasets.archives import list_members
    from ..datasets.fer2013 import decode_members

    path = Path(folder)
    if not path.exists():
        raise UsageError(f"--unlabelled: {folder} does not exist")
    names = [n for n in list_members(path)
             if Path(n).suffix.lower() in IMAGE_SUFFIXES and not Path(n).name.startswith(".")]
    if not names:
        raise UsageError(f"--unlabelled: {folder} holds no images")
    faces, errors = decode_members(path, names, skip_bad=skip_bad, desc="unlabelled" if progress else None)
    bad = [e for e in errors if e is not None]
    if bad:
        print(f"--unlabelled: skipped {len(bad)} bad images (first: {bad[0]})", file=sys.stderr)
    return faces[[e is None for e in errors]]


@contextmanager
def running_stats_frozen(model):
    """BatchNorm layers still normalise by the batch's statistics (train mode) but do not
    update their running statistics (momentum 0 leaves them as they are)."""
    layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in layers]
    for m in layers:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(layers, saved):
            m.momentum = momentum


class Consistency:
    """The unlabelled pool on the training device and the FixMatch loss on it. The count of
    sure faces is summed on the device and read once per epoch (:meth:`take_sure_rate`)."""

    def __init__(self, images: torch.Tensor, *, weight: float = 1.0, threshold: float = 0.95,
                 shift: float = 0.1, zoom: float = 0.1, rotate: float = 10.0, flip: bool = True):
        self.images, self.weight, self.threshold = images, weight, threshold
        self.weak = BatchAugment(shift=0.0625, zoom=0.0, rotate=0.0, flip=flip)
        # the strong view: the labelled faces' geometry plus erasing and always a corruption
        self.strong = (BatchAugment(shift, zoom, rotate, flip, erase=0.5), CorruptAugment(1.0, 0.5))
        self._sure, self._drawn = torch.zeros((), device=images.device, dtype=torch.float64), 0

    def views(self, forward, n: int, gen, model=None):
        """``n`` unlabelled faces drawn with ``gen``: (their strong views, the weak views'
        answers, the mask of the sure ones). ``model``: the network whose BatchNorm statistics
        the weak pass must not move (``forward`` itself when None)."""
        idx = torch.randint(len(self.images), (n,), generator=gen, device=self.images.device)
        u = normalize(self.images[idx])
        with torch.no_grad(), running_stats_frozen(forward if model is None else model):
            p = torch.softmax(forward(self.weak(u, gen).contiguous(memory_format=torch.channels_last)).float(), 1)
        conf, answer = p.max(1)
        sure = (conf >= self.threshold).float()
        strong = u
        for step in self.strong:
            strong = step(strong, gen)
        self._sure += sure.sum().double()  # summed on the device: no wait for it each step
        self._drawn += n
        return strong, answer, sure

    def loss(self, logits, answer, sure):
        return self.weight * (F.cross_entropy(logits.float(), answer, reduction="none") * sure).mean()

    def take_sure_rate(self) -> float:
        """The share of drawn faces that were sure since the last call."""
        sure, drawn = self._sure.item(), self._drawn
        self._sure.zero_()
        self._drawn = 0
        return sure / drawn if drawn else float("nan")
