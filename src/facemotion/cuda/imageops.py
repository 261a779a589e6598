"""OpenCV's image steps of the pipeline, on a torch device: what the batched path
(:mod:`.batched`) does to pictures already on the GPU instead of calling OpenCV on the host.

Each emulates the very arithmetic OpenCV's uint8 code runs, so a picture resized, grayed, cropped
or turned here has the pixels the CPU path's OpenCV gives, but for a rare rounding tie
(``tests/core/test_cuda_batched.py`` counts them on the shared photos):

- :func:`gray`: ``cvtColor(BGR2GRAY)``'s fixed point (coefficients of 2^-14, rounded);
- :func:`shrink`: :func:`facemotion.preprocess.shrink`'s halvings, then its area average;
- :func:`resize`: ``resize``'s ``INTER_AREA`` (its exact-ratio path: integer block sums; its
  general path: the coverage table ``computeResizeAreaTab`` builds, summed in float32) and
  ``INTER_LINEAR`` (coefficients of 1/2048, its two-stage fixed point), taps gathered per axis;
- :func:`warp_affine`: ``warpAffine``'s ``INTER_LINEAR`` with ``BORDER_REPLICATE``: source
  positions in 1/32 pixel from its 2^10 fixed point, weights of 2^-15, rounded half up.

The resize tables are built on the host with numpy (a few hundred numbers each), once per size
(kept on the device), the warp's map on the device; nothing here reads the device back.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import preprocess

AREA, LINEAR = "area", "linear"


def gray(bgr: torch.Tensor) -> torch.Tensor:
    """H x W x 3 uint8 BGR -> H x W uint8, as ``cv2.cvtColor(..., COLOR_BGR2GRAY)``."""
    x = bgr.to(torch.int32)
    return ((x[..., 0] * 1868 + x[..., 1] * 9617 + x[..., 2] * 4899 + 8192) >> 14).to(torch.uint8)


def _area_taps(ssize: int, dsize: int) -> tuple[np.ndarray, np.ndarray]:
    """``computeResizeAreaTab``'s table as taps: (dsize x K source indices, dsize x K float32 weights)."""
    scale = 1.0 / (dsize / ssize)  # as cv::resize computes it
    dx = np.arange(dsize, dtype=np.float64)
    fsx1 = dx * scale
    fsx2 = fsx1 + scale
    cell = np.minimum(scale, ssize - fsx1)
    sx1, sx2 = np.ceil(fsx1).astype(np.int64), np.floor(fsx2).astype(np.int64)
    sx2 = np.minimum(sx2, ssize - 1)
    sx1 = np.minimum(sx1, sx2)
    k = int(math.ceil(scale)) + 2
    j = sx1[:, None] - 1 + np.arange(k)[None, :]
    w = np.where((j >= sx1[:, None]) & (j < sx2[:, None]), 1.0 / cell[:, None], 0.0)
    head = sx1 - fsx1
    w[:, 0] = np.where(head > 1e-3, head / cell, 0.0)
    tail = fsx2 - sx2
    last = np.where(tail > 1e-3, np.minimum(np.minimum(tail, 1.0), cell) / cell, 0.0)
    w = np.where(j == sx2[:, None], last[:, None], w)
    return np.clip(j, 0, ssize - 1), w.astype(np.float32)


def _linear_taps(ssize: int, dsize: int, area: bool) -> tuple[np.ndarray, np.ndarray]:
    """cv::resize's two-tap table (``INTER_LINEAR``, or ``INTER_AREA`` where it enlarges an axis),
    its weights in units of 1/2048 as int32."""
    inv = dsize / ssize
    scale = 1.0 / inv
    dx = np.arange(dsize, dtype=np.float64)
    if area:
        sx = np.floor(dx * scale).astype(np.int64)
        fx = ((dx + 1) - (sx + 1) * inv).astype(np.float32)
        fx = np.where(fx <= 0, np.float32(0), fx - np.floor(fx)).astype(np.float32)
    else:
        f = ((dx + 0.5) * scale - 0.5).astype(np.float32)
        sx = np.floor(f).astype(np.int64)
        fx = (f - sx).astype(np.float32)
    low = sx < 0
    fx, sx = np.where(low, np.float32(0), fx), np.where(low, 0, sx)
    high = sx >= ssize - 1
    fx, sx = np.where(high, np.float32(0), fx), np.where(high, ssize - 1, sx)
    w0 = np.rint((np.float32(1) - fx) * np.float32(2048)).astype(np.int32)
    w1 = np.rint(fx * np.float32(2048)).astype(np.int32)
    return np.stack([sx, np.minimum(sx + 1, ssize - 1)], 1), np.stack([w0, w1], 1)


# the tables on their devices, by (kind, source side, output side, device): a collection's photos
# come in few sizes, and a table copied to the GPU for each picture cost a copy from pageable
# memory, which waits for the stream's queued work before the thread can go on
_TABLES: dict = {}


def _table(kind: str, ssize: int, dsize: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    key = (kind, ssize, dsize, str(device))
    if (t := _TABLES.get(key)) is None:
        if len(_TABLES) >= 512:
            _TABLES.clear()
        idx, w = _area_taps(ssize, dsize) if kind == AREA else _linear_taps(ssize, dsize, kind == "enlarging")
        t = _TABLES[key] = (torch.from_numpy(idx).to(device), torch.from_numpy(w).to(device))
    return t


def _taps(x: torch.Tensor, axis: int, i: torch.Tensor, wt: torch.Tensor) -> torch.Tensor:
    """``sum_k w[o, k] * x[..., idx[o, k], ...]`` along ``axis``: (.., S, ..) -> (.., O, ..)."""
    wt = wt.to(x.dtype)
    g = x.index_select(axis, i.reshape(-1))
    shape = list(x.shape)
    shape[axis:axis + 1] = list(i.shape)
    g = g.reshape(shape)
    view = [1] * len(shape)
    view[axis:axis + 2] = list(i.shape)
    return (g * wt.reshape(view)).sum(axis + 1)


def resize(img: torch.Tensor, size: tuple[int, int], interpolation: str = AREA) -> torch.Tensor:
    """An H x W (x C) uint8 picture -> ``size`` (width, height), as ``cv2.resize`` with
    ``INTER_AREA`` or ``INTER_LINEAR`` gives it."""
    h, w = img.shape[:2]
    ow, oh = size
    if (ow, oh) == (w, h):
        return img
    sx, sy = w / ow, h / oh
    ix, iy = int(round(sx)), int(round(sy))
    fast = abs(sx - ix) < 2.2e-16 and abs(sy - iy) < 2.2e-16
    if interpolation == LINEAR and fast and ix == iy == 2:
        interpolation = AREA  # cv::resize's own switch
    if interpolation == AREA and sx >= 1 and sy >= 1:
        if fast:  # integer block sums, times a float 1/area, rounded (2 x 2: (sum + 2) >> 2)
            x = img.to(torch.int32)
            x = x[:oh * iy, :ow * ix].reshape(oh, iy, ow, ix, *img.shape[2:]).sum((1, 3))
            if ix == iy == 2:
                return ((x + 2) >> 2).to(torch.uint8)
            return torch.round(x.to(torch.float32) * np.float32(1.0 / (ix * iy))).clamp(0, 255).to(torch.uint8)
        x = _taps(img.to(torch.float32), 1, *_table(AREA, w, ow, img.device))
        x = _taps(x, 0, *_table(AREA, h, oh, img.device))
        return torch.round(x).clamp(0, 255).to(torch.uint8)
    kind = "enlarging" if interpolation == AREA else LINEAR  # INTER_AREA enlarging: its own taps
    x = _taps(img.to(torch.int32), 1, *_table(kind, w, ow, img.device))  # scaled by 2048
    iy_, wy = _table(kind, h, oh, img.device)
    i0, i1 = iy_[:, 0].contiguous(), iy_[:, 1].contiguous()
    view = (-1,) + (1,) * (x.dim() - 1)
    b0, b1 = wy[:, 0].reshape(view), wy[:, 1].reshape(view)
    v = ((b0 * (x.index_select(0, i0) >> 4)) >> 16) + ((b1 * (x.index_select(0, i1) >> 4)) >> 16)
    return ((v + 2) >> 2).clamp(0, 255).to(torch.uint8)


def shrink(img: torch.Tensor, size: tuple[int, int], least: int) -> torch.Tensor:
    """An H x W (x C) uint8 picture shrunk to ``size`` (width, height) as
    :func:`facemotion.preprocess.shrink` shrinks it: the same halvings (2 x 2 sums, ``(sum + 2) >> 2``)
    of the same centred region, then the area average."""
    h, w = img.shape[:2]
    n = preprocess.halvings(h, w, size[1], size[0], least)
    if n:
        y, x, rows, cols = preprocess.halved_region(h, w, n)
        img = img[y:y + rows, x:x + cols]
        for _ in range(n):
            rows, cols = rows // 2, cols // 2
            img = resize(img, (cols, rows), AREA)
    return resize(img, size, AREA)


def _source_points(xs, ys, m00, m01, m02, m10, m11, m12):
    """Each output pixel's source: (x0, y0, fx, fy), its top-left source pixel and its position
    between pixels in 1/32, from output columns ``xs`` and rows ``ys`` (float64, broadcasting) and
    the inverse map's six numbers (floats, or one per job broadcasting). warpAffine's fixed point:
    10 fractional bits, then 5, rounded to nearest; float64 products and sums one step each, as
    numpy's, rounded half to even as np.rint: the very positions."""
    ax, ay = torch.round(xs * m00 * 1024).long(), torch.round(xs * m10 * 1024).long()
    bx = torch.round((ys * m01 + m02) * 1024).long() + 16
    by = torch.round((ys * m11 + m12) * 1024).long() + 16
    X, Y = (bx + ax) >> 5, (by + ay) >> 5
    return X >> 5, Y >> 5, X & 31, Y & 31


def warp_affine(img: torch.Tensor, inverse: np.ndarray, size: tuple[int, int], *,
                stacked: bool = False) -> torch.Tensor:
    """``cv2.warpAffine(img, m, size, flags=INTER_LINEAR, borderMode=BORDER_REPLICATE)`` for an
    H x W (x C) uint8 picture (``stacked``: N of them, N x H x W (x C), each turned alike), given
    ``inverse``, the 2 x 3 map from output to source pixels (``cv2.invertAffineTransform(m)``,
    as warpAffine inverts ``m``; ``m`` itself under ``WARP_INVERSE_MAP``)."""
    batched = stacked
    h, w = img.shape[1:3] if batched else img.shape[:2]
    ow, oh = size
    m = [[float(v) for v in row] for row in np.asarray(inverse, np.float64)]
    # the map made on the device, from the six numbers: nothing copied there per face (a copy
    # from pageable memory waits for the stream's queued work)
    dev = img.device
    xs = torch.arange(ow, dtype=torch.float64, device=dev)[None, :]
    ys = torch.arange(oh, dtype=torch.float64, device=dev)[:, None]
    x0, y0, fx, fy = _source_points(xs, ys, *m[0], *m[1])
    out = 0
    for dy, wy in ((0, 32 - fy), (1, fy)):
        for dx, wx in ((0, 32 - fx), (1, fx)):
            yi, xi = (y0 + dy).clamp(0, h - 1), (x0 + dx).clamp(0, w - 1)
            k = (wy * wx * 32).to(torch.int32)
            v = img[:, yi, xi] if batched else img[yi, xi]
            k = k.reshape(k.shape + (1,) * (v.dim() - k.dim() - (1 if batched else 0)))
            out = out + v.to(torch.int32) * k
    return ((out + 16384) >> 15).clamp(0, 255).to(torch.uint8)


# the most output pixels one pass of warp_many makes (its maps are int64 per output pixel)
WARP_MANY_PIXELS = 1 << 24


def warp_many(sources: list[torch.Tensor], jobs: list[tuple[int, np.ndarray, tuple[int, int]]]) -> list[torch.Tensor]:
    """:func:`warp_affine` for many pictures in a few passes: each job (its source's index in
    ``sources``, the inverse map, (width, height)) gives the pixels ``warp_affine`` gives it.
    One face's warp took about ninety small device steps; on a GPU each is a launch and a return
    to Python, so a batch's faces now share them. The sources (H x W (x C) uint8, alike in C) are
    laid end to end; each job's maps are made at the largest job's size and cut to its own."""
    out: list = []
    i = 0
    while i < len(jobs):  # passes within WARP_MANY_PIXELS (a large face's crop can be 1,000 px a side)
        # a pass's maps are its jobs times its widest width times its tallest height
        j, (w, h) = i + 1, jobs[i][2]
        while j < len(jobs) and (j + 1 - i) * max(w, jobs[j][2][0]) * max(h, jobs[j][2][1]) <= WARP_MANY_PIXELS:
            w, h = max(w, jobs[j][2][0]), max(h, jobs[j][2][1])
            j += 1
        out += _warp_pass(sources, jobs[i:j])
        i = j
    return out


def _warp_pass(sources, jobs) -> list[torch.Tensor]:
    dev = sources[jobs[0][0]].device
    used = sorted({s for s, _, _ in jobs})
    tail = tuple(sources[used[0]].shape[2:])
    flat = torch.cat([sources[s].reshape(-1, *tail) for s in used])  # every source's pixels, end to end
    start, at = {}, 0
    for s in used:
        start[s], at = at, at + sources[s].shape[0] * sources[s].shape[1]
    ow, oh = max(w for _, _, (w, _) in jobs), max(h for _, _, (_, h) in jobs)
    # per job: the map's six numbers (float64, as warp_affine takes them), its source's sides and start
    rows = [[*np.asarray(m, np.float64).ravel(), sources[s].shape[0], sources[s].shape[1], start[s]]
            for s, m, _ in jobs]
    p = torch.tensor(rows, dtype=torch.float64, device=dev)[:, :, None, None]  # one copy to the device
    m00, m01, m02, m10, m11, m12 = (p[:, k] for k in range(6))
    h, w, first = (p[:, k].long() for k in (6, 7, 8))
    xs = torch.arange(ow, dtype=torch.float64, device=dev)[None, None, :]
    ys = torch.arange(oh, dtype=torch.float64, device=dev)[None, :, None]
    x0, y0, fx, fy = _source_points(xs, ys, m00, m01, m02, m10, m11, m12)  # warp_affine's, per job
    acc = 0
    for dy, wy in ((0, 32 - fy), (1, fy)):
        for dx, wx in ((0, 32 - fx), (1, fx)):
            yi = torch.minimum((y0 + dy).clamp(min=0), h - 1)
            xi = torch.minimum((x0 + dx).clamp(min=0), w - 1)
            v = flat[first + yi * w + xi]
            k = (wy * wx * 32).to(torch.int32).reshape((*v.shape[:3],) + (1,) * len(tail))
            acc = acc + v.to(torch.int32) * k
    done = ((acc + 16384) >> 15).clamp(0, 255).to(torch.uint8)
    return [done[n, :hh, :ww] for n, (_, _, (ww, hh)) in enumerate(jobs)]
