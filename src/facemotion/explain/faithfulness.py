"""Do the maps mean anything? Two checks from the literature, used by ``benchmarks/explain.py``
and the tests.

- Model randomisation (Adebayo et al. 2018, "Sanity checks for saliency maps"): a method
  whose maps hardly change when the network's weights are replaced by random ones explains
  the image, not the model. :func:`rank_correlation` compares two maps.
- Deletion and insertion (Petsiuk et al. 2018): remove the most salient pixels first (to
  gray) and the target's probability should fall faster than when removing them in random
  order; put them back first into a blurred face and it should rise faster.
  :func:`deletion_insertion` returns those curves, :func:`auc` their areas.
"""

from __future__ import annotations

import cv2
import numpy as np

from .perturb import BATCH, FILL, ROWS_IN_MEMORY, predict_rows

BLUR_SIGMA = 5.0  # insertion starts from the face blurred this much: no detail, same light


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 with ties sharing their mean rank (maps clipped at 0 have many ties)."""
    order = np.argsort(x, kind="stable")
    sx = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sx)) + 1]
    ends = np.r_[starts[1:], len(x)]
    ranks = np.empty(len(x), np.float64)
    ranks[order] = np.repeat((starts + ends - 1) / 2, ends - starts)
    return ranks


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation between two maps (1: same order of pixels, 0: unrelated)."""
    ra, rb = _ranks(np.ravel(a)), _ranks(np.ravel(b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else 0.0


def salient_order(maps: np.ndarray) -> np.ndarray:
    """N x S*S pixel indices, most salient first (ties in pixel order, so it is deterministic)."""
    return np.argsort(-maps.reshape(len(maps), -1), axis=1, kind="stable")


def random_order(n: int, pixels: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(pixels) for _ in range(n)])


def deletion_insertion(predict, batch: np.ndarray, targets, orders: np.ndarray, steps: int = 20,
                       batch_size: int = BATCH) -> tuple[np.ndarray, np.ndarray]:
    """Target probabilities N x (steps + 1) as 0, 1/steps, ..., all pixels are deleted (set to
    gray) and inserted (copied into a blurred face), in each face's ``orders`` row."""
    per = max(1, ROWS_IN_MEMORY // (2 * (steps + 1)))  # faces whose altered copies are held at once
    parts = [_curves(predict, batch[i:i + per], np.asarray(targets)[i:i + per], orders[i:i + per], steps, batch_size)
             for i in range(0, len(batch), per)]
    return np.concatenate([d for d, _ in parts]), np.concatenate([ins for _, ins in parts])


def _curves(predict, batch, targets, orders, steps, batch_size):
    n, s = len(batch), batch.shape[-1]
    px = s * s
    cuts = np.linspace(0, px, steps + 1).round().astype(int)
    # rank of each pixel in its face's order; pixel p is changed at step k when rank < cuts[k]
    rank = np.empty((n, px), np.int64)
    rank[np.arange(n)[:, None], orders] = np.arange(px)
    changed = (rank[:, None, :] < cuts[None, :, None]).astype(np.float32)  # N x K x P
    x = batch.reshape(n, 1, px).astype(np.float32)
    blurred = np.stack([cv2.GaussianBlur(f[0], (0, 0), BLUR_SIGMA) for f in batch.astype(np.float32)])
    blurred = blurred.reshape(n, 1, px)
    deleted = x * (1 - changed) + FILL * changed
    inserted = blurred * (1 - changed) + x * changed
    rows = np.concatenate([deleted, inserted], 1).reshape(-1, 1, s, s)
    probs = predict_rows(predict, rows, batch_size).reshape(n, 2, steps + 1, -1)
    curves = probs[np.arange(n), :, :, targets]  # N x 2 x K
    return curves[:, 0], curves[:, 1]


def auc(curves: np.ndarray) -> np.ndarray:
    """Area under each curve over the fraction of pixels changed (0..1), trapezoidal."""
    k = curves.shape[-1]
    return (curves[..., 1:] + curves[..., :-1]).sum(-1) / (2 * (k - 1))
