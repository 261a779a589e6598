"""Test-time augmentation, defined once for every backend.

A model is averaged over *views* of its input batch (N x C x H x W, a numpy array or a torch
tensor, both handled here):

- ``none``: the image;
- ``flip``: the image and its mirror;
- ``tencrop``: five crops of the image padded by 3 px (centre and corners, i.e. +-3 px
  shifts) and their mirrors.

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


def _is_numpy(x) -> bool:
    return type(x).__module__ == "numpy"


def _flip(x):
    if _is_numpy(x):
        return x[..., ::-1]
    import torch

    return torch.flip(x, dims=[x.ndim - 1])


def _pad(x, p: int):
    if _is_numpy(x):
        import numpy as np

        return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(p, p), (p, p)], mode="edge")
    import torch.nn.functional as F

    return F.pad(x, (p, p, p, p), mode="replicate")


def views(x, mode) -> list:
    """The views of batch ``x`` that ``mode`` averages over (see the module docstring)."""
    mode = mode_name(mode)
    if mode == "none":
        return [x]
    if mode == "flip":
        return [x, _flip(x)]
    h, w = x.shape[-2:]
    p = _pad(x, PAD)
    crops = [p[..., dy:dy + h, dx:dx + w] for dy, dx in ((PAD, PAD), (0, 0), (0, 2 * PAD), (2 * PAD, 0), (2 * PAD, 2 * PAD))]
    return crops + [_flip(c) for c in crops]


def apply(fn, x, mode, *, stacked: bool = False):
    """Mean of ``fn`` over the views of ``x``.

    ``stacked`` runs all views as one batch of V x N (one call: what an exported graph wants,
    with one model invocation); otherwise one call per view, which bounds memory for large
    batches of many views.
    """
    vs = views(x, mode)
    if len(vs) == 1:
        return fn(x)
    if not stacked:
        return sum(fn(v) for v in vs) / len(vs)
    if _is_numpy(x):
        import numpy as np

        out = fn(np.ascontiguousarray(np.concatenate(vs)))
    else:
        import torch

        out = fn(torch.cat(vs))
    n = x.shape[0]
    return sum(out[i * n:(i + 1) * n] for i in range(len(vs))) / len(vs)
