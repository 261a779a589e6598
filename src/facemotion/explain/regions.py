"""Named facial areas on the 48x48 grid, and how a saliency map splits among them.

Faces reach the network as tight, upright crops (FER2013's own, or a detector's box), so the
parts of a face fall at roughly fixed places on the grid. The rectangles below were placed on
the mean face of FER2013's PublicTest (eyes at rows 15-21, mouth at rows 32-40); they are a
partition: every pixel belongs to exactly one area, ``other`` being hair, ears and background,
so the shares of a map add up to 1.
"""

from __future__ import annotations

import numpy as np

from ..preprocess import INPUT_SIZE

# (top, bottom, left, right) on the 48x48 grid, painted in this order: a later area takes the
# pixels it shares with an earlier one (the nose cuts through the cheeks and between the eyes)
_RECTS = {
    "forehead": [(2, 10, 10, 38)],
    "brows": [(10, 15, 7, 41)],
    "eyes": [(15, 22, 7, 41)],
    "cheeks": [(22, 41, 6, 42)],
    "nose": [(15, 26, 21, 27), (26, 32, 18, 30)],
    "mouth": [(32, 41, 13, 35)],
    "chin": [(41, 48, 14, 34)],
}
REGIONS = (*_RECTS, "other")


def region_map(size: int = INPUT_SIZE) -> np.ndarray:
    """size x size int array: the index in :data:`REGIONS` of each pixel's area."""
    grid = np.full((INPUT_SIZE, INPUT_SIZE), REGIONS.index("other"), np.int64)
    for k, rects in enumerate(_RECTS.values()):
        for t, b, left, r in rects:
            grid[t:b, left:r] = k
    if size != INPUT_SIZE:  # another grid: each pixel takes the area under its centre
        idx = ((np.arange(size) + 0.5) * INPUT_SIZE / size).astype(int)
        grid = grid[np.ix_(idx, idx)]
    return grid


def region_shares(saliency: np.ndarray) -> list[dict]:
    """One map -> ``[{region, share, area}]``, largest share first: ``share`` is the area's part
    of the map's total saliency, ``area`` its part of the grid (a share above its area means
    the map concentrates there)."""
    saliency = np.asarray(saliency, np.float64)
    grid = region_map(saliency.shape[-1])
    sums = np.bincount(grid.ravel(), saliency.ravel(), minlength=len(REGIONS))
    areas = np.bincount(grid.ravel(), minlength=len(REGIONS)) / grid.size
    total = sums.sum()
    shares = sums / total if total > 0 else np.zeros(len(REGIONS))
    out = [{"region": r, "share": round(float(s), 4), "area": round(float(a), 4)}
           for r, s, a in zip(REGIONS, shares, areas)]
    return sorted(out, key=lambda d: -d["share"])
