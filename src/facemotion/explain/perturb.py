"""Model-agnostic explanations: perturb the face, watch the prediction.

Both methods only call the classifier's ``predict`` on normalized N x 1 x S x S batches, so
they explain any model (ONNX, torch, an ensemble) without gradients. Every perturbed copy of
every face goes through ``predict`` in batches of :data:`BATCH` rows: a face costs one or two large
calls (occlusion: 226 rows, 1 call; RISE: 512 rows, 2 calls), not hundreds of single ones.

- ``occlusion`` (Zeiler & Fergus 2014): a gray ``patch`` x ``patch`` square slides over the face
  by ``stride`` pixels; a pixel's saliency is the mean drop of the target's probability over
  the squares covering it.
- ``rise`` (Petsiuk et al. 2018): ``masks`` random smooth masks keep about half the face each;
  a pixel's saliency is how much higher the target's probability is, on average, over the masks
  that kept it (weighted by how much of it each kept) than over all the masks. The plain RISE
  sum, the probability weighted by each mask, is mostly the masks' own coverage where the
  probability hardly moves (a clear smile's 0.99 under every mask): its map followed the fixed
  masks (rank correlation 0.998 with their coverage), not the model.
"""

from __future__ import annotations

import cv2
import numpy as np

from .. import validate
from .base import Explainer

BATCH = 256
FILL = 0.0  # what a removed pixel becomes: mid-gray, normalize(127.5)
# faces perturbed together: bounds the perturbed copies held at once (~40 MB of float32)
ROWS_IN_MEMORY = 4096


def predict_rows(predict, rows: np.ndarray, batch: int = BATCH) -> np.ndarray:
    """``predict`` over ``rows`` in calls of at most ``batch`` rows."""
    return np.concatenate([predict(rows[i:i + batch]) for i in range(0, len(rows), batch)])


class _Perturbation(Explainer):
    """Shared loop: ``keep`` (K x S x S, 1 = the face's pixel, 0 = ``fill``) applied to groups of
    faces, their probabilities, then ``_combine`` per face."""

    keep: np.ndarray
    fill = FILL
    with_original = False

    def __init__(self, classifier, batch_size: int = BATCH):
        super().__init__(classifier)
        self.batch_size = batch_size

    def explain(self, batch: np.ndarray, targets) -> np.ndarray:
        targets = np.asarray(targets)
        s = batch.shape[-1]
        keep = self.keep
        if self.with_original:
            keep = np.concatenate([np.ones((1, s, s), np.float32), keep])
        per = max(1, ROWS_IN_MEMORY // len(keep))
        out = np.empty((len(batch), s, s), np.float32)
        for i in range(0, len(batch), per):
            x = np.asarray(batch[i:i + per, 0], np.float32)
            rows = x[:, None] * keep[None] + self.fill * (1 - keep[None])
            probs = predict_rows(self.classifier.predict, rows.reshape(-1, 1, s, s), self.batch_size)
            probs = probs.reshape(len(x), len(keep), -1)
            t = targets[i:i + per]
            out[i:i + per] = self._combine(probs[np.arange(len(x)), :, t]).reshape(len(x), s, s)
        return out

    def _combine(self, p: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        """Target probabilities (faces x rows) -> maps (faces x S*S)."""
        raise NotImplementedError


class Occlusion(_Perturbation):
    name = "occlusion"
    with_original = True

    def __init__(self, classifier, patch: int = 8, stride: int = 3, batch_size: int = BATCH):
        super().__init__(classifier, batch_size)
        s = classifier.input_size
        patch = validate.integer("patch", patch, 1, s)
        # squares further apart than their size would leave pixels no square covers (no saliency)
        stride = validate.integer("stride", stride, 1, patch)
        offsets = sorted(set(range(0, s - patch + 1, stride)) | {s - patch})  # the far edge is always covered
        keep = np.ones((len(offsets) ** 2, s, s), np.float32)
        for k, (y, x) in enumerate((y, x) for y in offsets for x in offsets):
            keep[k, y:y + patch, x:x + patch] = 0
        self.keep = keep
        cover = 1 - keep.reshape(len(keep), -1)
        self._cover = cover / cover.sum(0, keepdims=True)  # mean over the squares covering each pixel

    def _combine(self, p):
        return (p[:, :1] - p[:, 1:]) @ self._cover


class Rise(_Perturbation):
    name = "rise"

    def __init__(self, classifier, masks: int = 512, grid: int = 6, keep_prob: float = 0.5, seed: int = 0,
                 batch_size: int = BATCH):
        super().__init__(classifier, batch_size)
        s = classifier.input_size
        masks = validate.integer("masks", masks, 2)
        grid = validate.integer("grid", grid, 1, s)
        keep_prob = validate.number("keep_prob", keep_prob, 0, 1, lo_open=True, hi_open=True)
        rng = np.random.default_rng(seed)
        cell = -(-s // grid)
        up = (grid + 1) * cell
        keep = np.empty((masks, s, s), np.float32)
        for k in range(masks):
            # a coarse random grid, smoothly upsampled and shifted by a random sub-cell offset, so
            # mask edges fall anywhere, not on a fixed lattice
            small = (rng.random((grid + 1, grid + 1)) < keep_prob).astype(np.float32)
            big = cv2.resize(small, (up, up), interpolation=cv2.INTER_LINEAR)
            dy, dx = rng.integers(0, cell, 2)
            keep[k] = big[dy:dy + s, dx:dx + s]
        self.keep = keep
        kept = keep.reshape(masks, -1)
        # each pixel's masks weighed by how much of it they kept, summing to 1 per pixel
        self._weights = kept / np.maximum(kept.sum(0, keepdims=True), 1e-6)

    def _combine(self, p):
        return (p - p.mean(1, keepdims=True)) @ self._weights

