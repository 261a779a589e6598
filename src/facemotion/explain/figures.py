"""Drawing saliency maps: coloured overlays on face crops and frames (OpenCV), the per-photo
figure and the per-emotion mean maps (matplotlib)."""

from __future__ import annotations

import warnings

import cv2
import numpy as np

from ..labels import EMOTIONS
from ..plots import _plt, save_figure
from ..preprocess import clip_box, to_gray, upright_transform

ALPHA = 0.5  # how much of the heat map covers the face
SHOWN_SIDE = 2000  # the photo in the per-photo figure, px on its long side at most (the figure is 1,100 px wide)


def colorize(saliency: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A map in [0, 1] -> a (w, h) = ``size`` BGR heat map (blue: none, red: most), upsampled smoothly."""
    s = cv2.resize(np.asarray(saliency, np.float32), size, interpolation=cv2.INTER_CUBIC)
    return cv2.applyColorMap(np.clip(s * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)


def overlay(face: np.ndarray, saliency: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """A face crop (BGR or gray) with the map blended over it, at the crop's own size."""
    face = face if face.ndim == 3 else cv2.cvtColor(face, cv2.COLOR_GRAY2BGR)
    return cv2.addWeighted(face, 1 - alpha, colorize(saliency, (face.shape[1], face.shape[0])), alpha, 0)


def overlay_in_box(image: np.ndarray, box, saliency: np.ndarray, alpha: float = ALPHA, lean: float = 0.0) -> None:
    """Blend the map over ``box`` of ``image`` in place (the part of the box inside the image);
    ``lean``: the face was turned upright by that many degrees about the box's centre before
    the map was made (an explanation's ``map_box`` and ``map_lean``), and the map is turned back
    with it, onto the face as it leans in the picture."""
    if lean:
        _overlay_turned(image, box, saliency, alpha, lean)
        return
    b = clip_box(box, image.shape[1], image.shape[0], min_side=1)
    if b is None:
        return
    x, y, w, h = b
    image[y:y + h, x:x + w] = overlay(image[y:y + h, x:x + w], saliency, alpha)


def overlay_aligned(image: np.ndarray, landmarks, saliency: np.ndarray, alpha: float = ALPHA) -> None:
    """Blend the map of a face the mesh aligned (an explanation's ``map_aligned``: the map lies
    on its mesh-aligned crop, :func:`facemotion.mesh.aligned_crop`) over ``image`` in place,
    turned back onto the face as ``landmarks`` (468 x 2 or 3, the picture's pixels) place it."""
    from ..mesh import aligned_transform

    marks = np.asarray(landmarks, np.float64)
    side = max(48, int(round(np.ptp(marks[:, 0]))))  # about the face's own size: a smooth map
    _overlay_by(image, aligned_transform(marks, side), (side, side), saliency, alpha)


def _overlay_turned(image: np.ndarray, box, saliency: np.ndarray, alpha: float, lean: float) -> None:
    m, size = upright_transform(box, lean)  # the picture -> the upright box the map is on
    _overlay_by(image, m, size, saliency, alpha)


def _overlay_by(image: np.ndarray, m: np.ndarray, size: tuple, saliency: np.ndarray, alpha: float) -> None:
    """Blend the map over the region of ``image`` that ``m`` (2 x 3: the picture's pixels -> a
    ``size`` frame the map covers) takes, in place."""
    back = cv2.invertAffineTransform(m)
    corners = np.array([[0, 0], [size[0], 0], [0, size[1]], [size[0], size[1]]], np.float64) @ back[:, :2].T + back[:, 2]
    x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int), (image.shape[1], image.shape[0]))
    if x1 <= x0 or y1 <= y0:
        return
    back[:, 2] -= (x0, y0)  # into the region of the picture the turned box covers
    heat = cv2.warpAffine(colorize(saliency, size), back, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)
    inside = cv2.warpAffine(np.ones(size[::-1], np.float32), back, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)
    region = image[y0:y1, x0:x1]
    if region.ndim == 2:
        heat = cv2.cvtColor(heat, cv2.COLOR_BGR2GRAY)
    weight = alpha * (inside[..., None] if region.ndim == 3 else inside)
    region[...] = np.round(region * (1 - weight) + heat * weight).astype(np.uint8)


def view_crop(image: np.ndarray, face: dict, min_side: int = 160) -> np.ndarray:
    """What the classifier saw of ``face`` (an explanation's record), in colour: its
    ``map_box`` turned upright by ``map_lean`` (as :func:`facemotion.preprocess.crop_faces`
    turns it), where the map lies; a face not turned is :func:`face_crop` of its box; a face the
    mesh aligned (``map_aligned``, ``EmotionRecognizer(aligned=True)``) its aligned crop."""
    if face.get("map_aligned") and face.get("landmarks") is not None:
        from ..mesh import aligned_crop

        return _enlarged(aligned_crop(image, np.asarray(face["landmarks"], float), min_side), min_side)
    box, lean = face.get("map_box", face["box"]), float(face.get("map_lean") or 0.0)
    if not lean:
        return face_crop(image, box, min_side)
    m, size = upright_transform(box, lean)
    return _enlarged(cv2.warpAffine(image, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), min_side)


def face_crop(image: np.ndarray, box, min_side: int = 160) -> np.ndarray:
    """The box's pixels, enlarged (never shrunk) to at least ``min_side`` so small faces stay visible
    (a face of one pixel too: with ``--detector none`` a 1 x N picture is one)."""
    x, y, w, h = clip_box(box, image.shape[1], image.shape[0], min_side=1)
    return _enlarged(image[y:y + h, x:x + w], min_side)


def _enlarged(crop: np.ndarray, min_side: int) -> np.ndarray:
    """``crop`` in colour, enlarged (never shrunk) to at least ``min_side`` on its long side."""
    crop = crop if crop.ndim == 3 else cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    h, w = crop.shape[:2]
    scale = max(1.0, min_side / max(w, h))
    return cv2.resize(crop, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC) if scale > 1 else crop


def _rgb(bgr: np.ndarray) -> np.ndarray:
    return bgr[..., ::-1]


def photo_figure(image: np.ndarray, faces: list[dict], path, title: str = "", max_faces: int = 8) -> None:
    """One figure per photo: the photo with numbered boxes, then a row per face: its crop, its
    map over the crop, its probabilities (the explained emotion highlighted) and top areas."""
    from ..render import COLORS

    plt = _plt()
    shown = faces[:max_faces]
    rows = len(shown)
    fig = plt.figure(figsize=(10, 4 + 2.6 * rows))
    grid = fig.add_gridspec(1 + rows, 3, height_ratios=[4] + [2.6] * rows, width_ratios=[1, 1, 1.6])
    ax = fig.add_subplot(grid[0, :])
    # the photo at the figure's size at most: a 37 MP photo drawn whole took 2.5 GB and 10 s
    scale = min(1.0, SHOWN_SIDE / max(image.shape[:2]))
    small = image if scale == 1 else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ax.imshow(_rgb(small) if small.ndim == 3 else small, cmap="gray")
    for k, f in enumerate(shown, 1):
        x, y, w, h = (v * scale for v in f["box"])
        ax.add_patch(plt.Rectangle((x, y), w, h, fill=False, color="yellow", lw=1.5))
        ax.text(x, y - 4, str(k), color="black", fontsize=9, weight="bold",
                bbox=dict(facecolor="yellow", edgecolor="none", pad=1))
    more = f" (first {max_faces} of {len(faces)} faces)" if len(faces) > max_faces else ""
    ax.set_title((title or "") + more, fontsize=10)
    ax.axis("off")
    for k, f in enumerate(shown, 1):
        crop = view_crop(image, f)
        a = fig.add_subplot(grid[k, 0])
        a.imshow(_rgb(crop))
        a.set_title(f"face {k}", fontsize=9)
        a.axis("off")
        a = fig.add_subplot(grid[k, 1])
        a.imshow(_rgb(overlay(crop, f["saliency"])))
        a.set_title(f"{f['method']}: {f['target']}", fontsize=9)
        a.axis("off")
        a = fig.add_subplot(grid[k, 2])
        labels = list(f["emotions"])  # the model's labels, in its order
        probs = [f["emotions"][e] for e in labels]
        colors = [tuple(c / 255 for c in COLORS[e][::-1]) for e in labels]
        bars = a.barh(labels, probs, color=colors,
                      edgecolor=["black" if e == f["target"] else "none" for e in labels], linewidth=1.5)
        a.bar_label(bars, labels=[f"{p * 100:.0f}%" for p in probs], fontsize=7, padding=2)
        a.set_xlim(0, 1.15)
        a.invert_yaxis()
        a.tick_params(labelsize=8)
        top = ", ".join(f"{r['region']} {r['share'] * 100:.0f}%" for r in f["regions"][:3])
        a.set_title(f"looks at: {top}", fontsize=8)
    with warnings.catch_warnings():  # a photo of 1 x N pixels leaves the layout no room: laid out as it can be
        warnings.filterwarnings("ignore", "Tight layout not applied", UserWarning)
        fig.tight_layout()
    save_figure(fig, path)


def mean_saliency_figure(maps: np.ndarray, faces: np.ndarray, counts, path, title: str, labels=EMOTIONS) -> None:
    """A panel per emotion of ``labels``: the mean map (L x S x S) over that emotion's mean face."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(labels), figsize=(2.1 * len(labels), 2.9))
    for ax, e, m, f, n in zip(axes, labels, maps, faces, counts):
        face = cv2.cvtColor(to_gray(np.clip(f, 0, 255).astype(np.uint8)), cv2.COLOR_GRAY2BGR)
        top = float(m.max())
        ax.imshow(_rgb(overlay(cv2.resize(face, (192, 192), interpolation=cv2.INTER_CUBIC), m / top if top > 0 else m)))
        ax.set_title(f"{e}\n({n} faces)", fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
