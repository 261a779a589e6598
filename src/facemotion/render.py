"""Drawing results: a box per face, the dominant emotion, and a bar per emotion.

Sizes scale with the image, so labels stay readable on a 320 px thumbnail and on 1080p.
"""

from __future__ import annotations

import cv2
import numpy as np

from .boxes import intersection

# BGR colours per emotion of every label set (colour-blind-friendly-ish palette: matplotlib's
# tab10, contempt its brown)
COLORS = {
    "angry": (40, 39, 214), "disgust": (44, 160, 44), "fear": (189, 103, 148), "happy": (14, 201, 255),
    "sad": (180, 119, 31), "surprise": (34, 189, 188), "neutral": (160, 160, 160), "contempt": (75, 86, 140),
}
FONT = cv2.FONT_HERSHEY_SIMPLEX


def text_on(bgr) -> tuple[int, int, int]:
    """Black or white, whichever reads better on ``bgr`` (WCAG's contrast of relative luminances:
    black on angry's red, sad's blue and contempt's brown fell under 4.5:1), as the page picks."""
    lin = [(c / 255) / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in bgr[::-1]]
    lum = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    return (0, 0, 0) if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else (255, 255, 255)


def _scale(image: np.ndarray) -> float:
    return float(np.clip(max(image.shape[:2]) / 1000.0, 0.7, 1.8))


def _text(img, text, org, fs, color, thick, bg=None):
    (tw, th), base = cv2.getTextSize(text, FONT, fs, thick)
    x, y = org
    if bg is not None:
        cv2.rectangle(img, (x, y - th - base), (x + tw + 2, y + base), bg, -1)
    cv2.putText(img, text, (x + 1, y), FONT, fs, color, thick, cv2.LINE_AA)
    return tw, th + base


# What --blur pixelates: each face's box widened by this share of its side all round (a detector's
# box is the face's middle; the hair, ears and jaw around it are the person's too), cut into
# about this many blocks across, each one colour: no one is known by eye, the emotion drawn beside
# it still reads. Not a guarantee against a network trained to undo it: share no picture for that.
BLUR_MARGIN = 0.2
BLUR_BLOCKS = 8


def blur_faces(image: np.ndarray, boxes) -> np.ndarray:
    """A copy of ``image`` with each of ``boxes`` (x, y, w, h; the faces found) pixelated
    (:data:`BLUR_MARGIN`, :data:`BLUR_BLOCKS`). Only the faces given: one the detector missed
    stays as it is."""
    out = image.copy()
    H, W = out.shape[:2]
    for x, y, w, h in boxes:
        m = BLUR_MARGIN * max(w, h)
        x0, y0 = max(0, int(x - m)), max(0, int(y - m))
        x1, y1 = min(W, int(np.ceil(x + w + m))), min(H, int(np.ceil(y + h + m)))
        if x1 - x0 < 1 or y1 - y0 < 1:
            continue
        block = max(1.0, (1 + 2 * BLUR_MARGIN) * max(w, h) / BLUR_BLOCKS)
        small = cv2.resize(out[y0:y1, x0:x1], (max(1, round((x1 - x0) / block)), max(1, round((y1 - y0) / block))),
                           interpolation=cv2.INTER_AREA)
        out[y0:y1, x0:x1] = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
    return out


def draw(image: np.ndarray, results: list[dict], *, bars: bool = True, ids: list | None = None,
         mesh: bool = True, blur: bool = False) -> np.ndarray:
    """Return an annotated BGR copy of ``image`` (results from ``detect_emotions``); ``mesh``:
    each face's landmarks too, where its record has them (``EmotionRecognizer(mesh=True)``,
    ``--mesh``); ``blur``: each face found pixelated first (:func:`blur_faces`)."""
    if blur:
        image = blur_faces(image, [r["box"] for r in results])
    out = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    H, W = out.shape[:2]
    s = _scale(out)
    thick = max(1, int(round(2 * s)))
    fs = 0.55 * s
    if mesh:  # under the boxes and labels: the points must not hide the text
        for r in results:
            if r.get("landmarks") is not None:
                _draw_mesh(out, r["landmarks"], COLORS.get(r["dominant_emotion"], (0, 255, 0)), s)
    # every face box and label, and every panel drawn so far: a panel goes where it covers the
    # least of them, and is left out where it would cover a face or any face's label (a group
    # photo's small faces: each one's emotion stays readable)
    faces = [tuple(int(v) for v in r["box"]) for r in results]
    heads = [_head(r, None if ids is None else ids[k], fs * 1.2, thick, H) for k, r in enumerate(results)]
    clear = faces + [label for _, _, label in heads]
    taken = list(clear)
    for r, (x, y, w, h), (head, ty, label) in zip(results, faces, heads):
        color = COLORS.get(r["dominant_emotion"], (0, 255, 0))
        cv2.rectangle(out, (x, y), (x + w, y + h), color, thick, cv2.LINE_AA)
        _text(out, head, (x, ty), fs * 1.2, text_on(color), thick, bg=color)
        if bars:  # beside the face and its label together (a label can be wider than its face)
            x0, y0 = min(x, label[0]), min(y, label[1])
            x1, y1 = max(x + w, label[0] + label[2]), max(y + h, label[1] + label[3])
            panel = _draw_bars(out, r["emotions"], (x0, y0, x1 - x0, y1 - y0), s, fs, taken, clear)
            if panel is not None:
                taken.append(panel)
    return out


def _head(r: dict, face_id, fs: float, thick: int, H: int) -> tuple[str, int, tuple[int, int, int, int]]:
    """A face's label: its text ("#id emotion NN%"), its baseline's y (above the box, or below it
    at the picture's top) and its background's rectangle (x, y, w, h)."""
    x, y, w, h = (int(v) for v in r["box"])
    dom = r["dominant_emotion"]
    head = ("" if face_id is None else f"#{face_id} ") + f"{dom} {r['emotions'][dom] * 100:.0f}%"
    (tw, th), base = cv2.getTextSize(head, FONT, fs, thick)
    ty = y - 4 if y - th - base - 4 >= 0 else min(H - base, y + h + th + 4)
    return head, ty, (x, ty - th - base, tw + 2, th + 2 * base)


def _draw_mesh(out: np.ndarray, landmarks, color, s: float) -> None:
    """The 468 points as small square dots, set in one numpy assignment (468 circle calls cost a
    video frame ~3 ms a face)."""
    pts = np.round(np.asarray(landmarks, np.float64)[:, :2]).astype(np.int64)
    r = max(1, int(round(s)))
    dx, dy = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1))
    xs, ys = (pts[:, 0, None] + dx.ravel()).ravel(), (pts[:, 1, None] + dy.ravel()).ravel()
    keep = (xs >= 0) & (xs < out.shape[1]) & (ys >= 0) & (ys < out.shape[0])
    out[ys[keep], xs[keep]] = color


def _overlap(a, b) -> int:
    return intersection(a, b)


def _place_panel(pw: int, ph: int, box, W: int, H: int, taken) -> tuple[int, int]:
    """Top-left corner for a pw x ph panel beside ``box``: right, left, below or above it
    (kept inside the image), whichever covers the least of the faces and panels in ``taken``;
    ties keep that order of preference. Two faces side by side otherwise get panels drawn
    over each other."""
    x, y, w, h = box
    cands = [(x + w + 6, y), (x - 6 - pw, y), (x, y + h + 6), (x, y - 6 - ph)]
    cands = [(int(np.clip(cx, 0, max(0, W - pw))), int(np.clip(cy, 0, max(0, H - ph)))) for cx, cy in cands]
    # min() keeps the first of equal costs, hence the order of preference
    return min(cands, key=lambda c: sum(_overlap((c[0], c[1], pw, ph), t) for t in taken))


# a panel that would cover any face or label, or more than this share of itself with panels,
# is left out: a group photo shows its faces, not a wall of panels over them (every number is
# in the JSON)
PANEL_COVER = 0.1


def _draw_bars(img, probs: dict, box, s: float, fs: float, taken=(), clear=()) -> tuple[int, int, int, int] | None:
    """Draw the per-emotion panel (a row per label of ``probs``, the model's, in its order) beside
    ``box``; returns its rectangle (x, y, w, h), or None where every place beside the face would
    cover a face or a label (of ``clear``) or too much of ``taken``'s panels (PANEL_COVER)."""
    H, W = img.shape[:2]
    row = int(round(17 * s))
    labels = list(probs)
    gap = max(4, int(round(6 * s)))  # between the longest label and the bars (its last letter's anti-aliasing)
    label_w = max(cv2.getTextSize(e, FONT, fs * 0.8, 1)[0][0] for e in labels) + 3 + gap
    pct_w = cv2.getTextSize("100%", FONT, fs * 0.7, 1)[0][0] + 8
    bar_w = int(round(80 * s))
    pw, ph = label_w + bar_w + pct_w, row * len(labels) + 6
    px, py = _place_panel(pw, ph, box, W, H, taken)
    panel = (px, py, pw, ph)
    if any(_overlap(panel, c) for c in clear) or sum(_overlap(panel, t) for t in taken) > PANEL_COVER * pw * ph:
        return None
    roi = img[py:py + ph, px:px + pw]
    if roi.size:
        roi[:] = (roi * 0.35).astype(np.uint8)  # darken behind the panel for contrast
    for i, e in enumerate(labels):
        p = float(probs[e])
        cy = py + 3 + i * row
        cv2.putText(img, e, (px + 3, cy + row - 4), FONT, fs * 0.8, (255, 255, 255), 1, cv2.LINE_AA)
        bx = px + label_w
        cv2.rectangle(img, (bx, cy + 3), (bx + max(1, int(bar_w * p)), cy + row - 3), COLORS[e], -1)
        cv2.putText(img, f"{p * 100:.0f}%", (bx + bar_w + 3, cy + row - 4), FONT, fs * 0.7, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return px, py, pw, ph
