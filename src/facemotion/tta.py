"""Test-time augmentation, defined once for every backend.

A model is averaged over *views* of its input batch (N x C x H x W, a numpy array or a torch
tensor: the views are made by indexing, which both understand the same way, so this module
needs neither torch nor a second implementation):

- ``none``: the image;
- ``flip``: the image and its mirror;
- ``tencrop``: five crops of the image padded by 3 px with its edge pixels (centre and
  corners, i.e. +-3 px shifts) and their mirrors.

Training's validation (``--eval-tta``), ``facemotion evaluate --tta``, the torch
classifier and the ONNX export (``--tta``, baked into the graph) all call :func:`apply`, so
an exported model averages exactly what evaluation averaged.
"""

from __future__ import annotations

MODES = ("none", "flip", "tencrop")
PAD = 3  # tencrop's shift in pixels


def mode_name(mode) -> str:
    """None/False -> 'none', True -> 'flip', or one of :data:`MODES` (else ValueError)."""
    if mode in (None, False):
        return "none"
    if mode is True:
        return "flip"
    if mode not in MODES:
        raise ValueError(f"unknown TTA mode {mode!r}; use {', '.join(MODES)}")
    return mode


def _flip(x):
    """The mirror image (last axis reversed), by indexing: the same code for numpy and torch."""
    return x[..., list(range(x.shape[-1] - 1, -1, -1))]


def _shifted(x, dy: int, dx: int):
    """``x`` moved by (dy, dx) pixels with its edge pixels repeated into the gap (what a crop of
    the edge-padded image is), by indexing: the same code for numpy and torch."""
    h, w = x.shape[-2:]
    rows = [min(max(i + dy, 0), h - 1) for i in range(h)]
    cols = [min(max(j + dx, 0), w - 1) for j in range(w)]
    return x[..., rows, :][..., cols]


def views(x, mode) -> list:
    """The views of batch ``x`` that ``mode`` averages over (see the module docstring)."""
    mode = mode_name(mode)
    if mode == "none":
        return [x]
    if mode == "flip":
        return [x, _flip(x)]
    crops = [x] + [_shifted(x, dy, dx) for dy in (-PAD, PAD) for dx in (-PAD, PAD)]
    return crops + [_flip(c) for c in crops]


def apply(fn, x, mode, *, concat=None):
    """Mean of ``fn`` over the views of ``x``.

    With ``concat`` (``torch.cat``, ``np.concatenate``) all views run as one batch of V x N:
    one call, what an exported graph wants (one model invocation); without it, one call per
    view, which bounds memory for large batches of many views.
    """
    vs = views(x, mode)
    if len(vs) == 1:
        return fn(x)
    if concat is None:
        return sum(fn(v) for v in vs) / len(vs)
    out = fn(concat(vs))
    n = x.shape[0]
    return sum(out[i * n:(i + 1) * n] for i in range(len(vs))) / len(vs)
