"""Face preprocessing, defined once and used by training, evaluation and inference.

FER2013 faces are tight 48x48 grayscale crops. Every model input in facemotion goes
through :func:`to_face48` (any face image -> 48x48 uint8 gray) and :func:`normalize`
(uint8 -> float in [-1, 1]), so the network sees at run time exactly what it saw in
training. Padding the crop or scaling differently is the mistake that costs other
packages ~15 accuracy points, so there is deliberately no second implementation.
"""

from __future__ import annotations

import math
import os
from typing import Sequence

import cv2
import numpy as np

from .errors import ImageError, UsageError

INPUT_SIZE = 48
# x_model = x_uint8 * SCALE + OFFSET maps 0..255 to -1..1 (the first design document's
# preprocess_input). Stored in every checkpoint and ONNX file as "normalization".
SCALE = 2.0 / 255.0
OFFSET = -1.0
NORMALIZATION = {"scale": SCALE, "offset": OFFSET, "range": [-1.0, 1.0]}

Box = tuple[int, int, int, int]  # (x, y, w, h) in pixels, top-left origin


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Any numeric image array -> uint8, brightness kept relative to the data's own depth:
    uint16/uint32 (and signed ones without negative values above 255) by the smallest bit depth
    that holds their maximum (a 12-bit sensor image in a 16-bit container is not crushed to
    black), floats in 0..1 or 0..255, bools as 0/255.
    Anything else (strings, objects, complex numbers) is a ValueError."""
    img = np.asarray(image)
    if img.dtype == np.uint8:
        return img
    if img.dtype == bool:
        return img.astype(np.uint8) * 255
    if np.issubdtype(img.dtype, np.floating):
        if img.size and not np.isfinite(img).all():
            raise ValueError("image has NaN or infinite values")
        top = 1.0 if img.size and float(img.max()) <= 1.0 else 255.0
        return (img.astype(np.float64) * (255.0 / top)).clip(0, 255).astype(np.uint8)
    deep = img.dtype.itemsize > 1 and img.size and (
        np.issubdtype(img.dtype, np.unsignedinteger)
        # a signed container of deeper data, no value below 0 (PIL's 'I' images are int32): read
        # as unsigned; clipped at 255 such a 12-bit frame was white, its faces lost
        or (np.issubdtype(img.dtype, np.signedinteger) and int(img.min()) >= 0 and int(img.max()) > 255))
    if deep:
        bits = max(8, int(img.max()).bit_length())
        return (img.astype(np.float64) * (255.0 / (2 ** bits - 1))).round().astype(np.uint8)
    if np.issubdtype(img.dtype, np.integer):
        return img.clip(0, 255).astype(np.uint8)
    raise ValueError(f"unsupported pixel type {img.dtype}")


def to_gray(image: np.ndarray) -> np.ndarray:
    """Any decoded image array (gray, gray+1, BGR, BGRA; see :func:`to_uint8`) -> 2-D uint8 gray."""
    img = to_uint8(image)
    if img.ndim == 2:
        return img
    if img.ndim == 3 and img.shape[2] == 1:
        return img[:, :, 0]
    if img.ndim == 3 and img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY)
    raise ValueError(f"unsupported image shape {img.shape}")


def clip_box(box: Sequence[float], width: int, height: int, min_side: int = 2) -> Box | None:
    """Clip an (x, y, w, h) box to the image; None when less than ``min_side`` pixels of it are
    inside across or down (a detection of a pixel or two is no face)."""
    x, y, w, h = (float(v) for v in box)
    x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
    x1, y1 = min(width, int(round(x + w))), min(height, int(round(y + h)))
    if x1 - x0 < min_side or y1 - y0 < min_side:
        return None
    return (x0, y0, x1 - x0, y1 - y0)


def _crop_box(box, width: int, height: int, i: int) -> Box:
    """Face ``i``'s box clipped to the image, or an ImageError naming it: not four finite numbers,
    or no pixel of the image in it. One pixel is enough: with ``detector="none"`` the picture is
    the face, and a picture of 1 x N pixels is one a decoder gives."""
    try:
        values = [float(v) for v in box]
    except (TypeError, ValueError):
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ImageError(f"box {i}: {box!r} is not four finite numbers (x, y, width, height)")
    clipped = clip_box(values, width, height, min_side=1)
    if clipped is None:
        shown = ", ".join(f"{v:g}" for v in values)
        raise ImageError(f"box {i}: ({shown}) holds no pixel of the {width}x{height} image")
    return clipped


def scale_box(box: Sequence[float], shape: tuple, size: tuple[int, int]) -> Box:
    """A box in an image of ``shape`` (height, width, ...) -> the same region of the picture
    at its full ``size`` (width, height), e.g. after a reduced decode."""
    (h, w), (fw, fh) = shape[:2], size
    if (w, h) == (fw, fh):
        return tuple(box)
    sx, sy = fw / w, fh / h
    x, y, bw, bh = box
    return clip_box((x * sx, y * sy, bw * sx, bh * sy), fw, fh)


# ---- shrinking by area averaging, large reductions through exact halvings first ----
#
# OpenCV's INTER_AREA runs a fast path only where a side is shrunk by a whole number; any other
# ratio walks a coverage table over every source pixel, about three times as slow. A 12 MP photo's
# 640 px working copy took 38 ms of one core that way (its decode 23), a 1,500 px face's 48 px grid
# 5 ms, a 1080p frame's 400 px copy 6.4 ms and a 4K frame's 25. So a reduction of twice ``least``
# or more a side first halves the picture (2 x 2 means: the fast path) while at least ``least``
# times is left, then averages the rest by area: 16, 0.4, 2.9 and 5.5 ms. The sides are first cut
# to multiples of 2**L for L halvings, the odd rows and columns split between the two ends (at
# most 2**L - 1 pixels). Not bit for bit the one-step average: within one grey level of it on
# 99.9% of a 12 MP photo's working copy, 96-97% of a 1080p or 4K frame's (the rest within 3);
# on 99% of a 700-1,500 px face's grid. What needs no halving (photos under 2,560 px for the 640
# copy, faces under 384 px: all of FER2013, posed_val and the London set, all but a few faces of
# muxspace and Specs on Faces) gets the one-step average, unchanged. The GPU's steps
# (facemotion.cuda.imageops.shrink) and the page's (engine.js) halve alike: the same pixels.
# ``python benchmarks/small_faces.py``, part 4, measures what it saves and what it reads (large
# photos as accurately as with the one-step averages).

# the detector's working copies: halved while twice their side is left (a 1080p frame's copy for
# video: 6.4 -> 2.9 ms, the same faces and emotions in a 1080p clip, boxes within a few pixels)
PICTURE_LEAST = 2
# the classifier's grid: a face's 48 x 48 pixels are its whole input, so the halvings stop
# earlier (at 3, a 1,500 px face's grid had 1% of pixels 8 levels off; at 4, one level)
FACE_LEAST = 4


def halvings(h: int, w: int, oh: int, ow: int, least: int) -> int:
    """How many times an ``h`` x ``w`` picture is halved before its area average to ``oh`` x
    ``ow``: as often as both sides keep at least ``least`` times the output's after it."""
    n = 0
    while least and w >> (n + 1) >= least * ow and h >> (n + 1) >= least * oh:
        n += 1
    return n


def halved_region(h: int, w: int, n: int) -> tuple[int, int, int, int]:
    """The centred region (y, x, height, width) of an ``h`` x ``w`` picture that ``n`` halvings
    read: each side cut to a multiple of ``2**n``, the odd rows and columns split between its ends."""
    q = 1 << n
    rows, cols = h // q * q, w // q * q
    return (h - rows) // 2, (w - cols) // 2, rows, cols


def shrink(image: np.ndarray, size: tuple[int, int], least: int) -> np.ndarray:
    """``image`` shrunk to ``size`` (width, height) by area averaging, as ``cv2.resize`` with
    ``INTER_AREA`` gives it where the reduction is under ``least`` times a side, else halved
    first (above)."""
    h, w = image.shape[:2]
    n = halvings(h, w, size[1], size[0], least)
    if n:
        y, x, rows, cols = halved_region(h, w, n)
        image = image[y:y + rows, x:x + cols]
        for _ in range(n):
            rows, cols = rows // 2, cols // 2
            image = cv2.resize(image, (cols, rows), interpolation=cv2.INTER_AREA)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def to_face48(face: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """A face image of any size and colour -> size x size uint8 gray (the network's input grid)."""
    gray = to_gray(face)
    how = face48_interpolation(*gray.shape, size)
    if how is None:
        return np.ascontiguousarray(gray)
    if how == "area":  # a large face halved first (shrink: 5 ms -> 0.4 for a 1,500 px face)
        return shrink(gray, (size, size), FACE_LEAST)
    return cv2.resize(gray, (size, size), interpolation=cv2.INTER_LINEAR)


def face48_interpolation(h: int, w: int, size: int = INPUT_SIZE) -> str | None:
    """How :func:`to_face48` brings an h x w face to the grid: None (it is the grid's size),
    "area" (averaging when shrinking: no aliasing) or "linear" (enlarging a small face)."""
    if (h, w) == (size, size):
        return None
    return "area" if (h > size or w > size) else "linear"


def normalize(x):
    """uint8 0..255 -> float -1..1. Works on numpy arrays and torch tensors alike."""
    if isinstance(x, np.ndarray):
        return x.astype(np.float32) * np.float32(SCALE) + np.float32(OFFSET)
    return x.float() * SCALE + OFFSET  # torch.Tensor


# a face tilted less than this is cropped as it is: FER2013's own faces lean by a few degrees,
# and a turn costs a resampling of the face
UPRIGHT_MIN_DEGREES = 5.0


def crop_faces(image: np.ndarray, boxes: Sequence[Box], size: int = INPUT_SIZE, angles=None) -> np.ndarray:
    """Tight crops of ``boxes`` from ``image`` -> N x size x size uint8 gray.

    ``angles`` (degrees, one per box: how far each face leans, :mod:`facemotion.align`): a face
    that leans by at least :data:`UPRIGHT_MIN_DEGREES` is turned upright about its box's centre
    before the crop, so the classifier sees it as FER2013's faces are, eyes level."""
    gray = to_gray(image)
    h, w = gray.shape
    out = np.empty((len(boxes), size, size), np.uint8)
    for i, box in enumerate(boxes):
        cb = _crop_box(box, w, h, i)
        angle = float(angles[i]) if angles is not None else 0.0
        if abs(angle) >= UPRIGHT_MIN_DEGREES:
            out[i] = to_face48(_upright(gray, box, angle), size)
        else:
            x, y, bw, bh = cb
            out[i] = to_face48(gray[y : y + bh, x : x + bw], size)
    return out


def _upright(gray: np.ndarray, box, angle: float) -> np.ndarray:
    """The ``box`` region of ``gray`` with a face that leans by ``angle`` degrees (counter-
    clockwise on screen for a positive angle, as :mod:`facemotion.align` reads it) turned back
    level about the box's centre, at the box's own resolution; what falls outside the picture
    repeats its border."""
    m, size = upright_transform(box, angle)
    return cv2.warpAffine(gray, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def upright_transform(box, angle: float) -> tuple[np.ndarray, tuple[int, int]]:
    """:func:`_upright`'s turn: the 2 x 3 matrix taking the picture to the turned box, and the
    box's own size (width, height) it is cut at."""
    x, y, bw, bh = (float(v) for v in box)
    cx, cy = x + bw / 2, y + bh / 2
    m = cv2.getRotationMatrix2D((cx, cy), -angle, 1.0)  # OpenCV turns counter-clockwise for positive angles
    m[:, 2] -= (x, y)  # the box's top-left corner becomes the output's origin
    return m, (max(2, int(round(bw))), max(2, int(round(bh))))


def level_patch(image: np.ndarray, box, angle: float, face_px: int, patch_px: int) -> tuple[np.ndarray, np.ndarray]:
    """The region around ``box`` turned level by ``angle`` (as :func:`crop_faces` turns it) and
    scaled so the box's side is ``face_px``: a ``patch_px`` square patch centred on the box, in
    the image's own colours, for the detector to find the levelled face in. Returns it and the
    2x3 matrix that maps its points back to the image's."""
    (x0, y0, r), k, area, m, back = level_patch_plan(box, angle, face_px, patch_px)
    h, w = image.shape[:2]
    roi = image[max(0, y0):min(h, y0 + 2 * r), max(0, x0):min(w, x0 + 2 * r)]
    roi = cv2.copyMakeBorder(roi, max(0, -y0), max(0, y0 + 2 * r - h), max(0, -x0), max(0, x0 + 2 * r - w),
                             cv2.BORDER_REPLICATE)
    if area:
        small = shrink(roi, (k, k), PICTURE_LEAST)
    else:
        small = cv2.resize(roi, (k, k), interpolation=cv2.INTER_LINEAR)
    patch = cv2.warpAffine(small, m, (patch_px, patch_px), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return patch, back


def level_patch_plan(box, angle: float, face_px: int, patch_px: int) -> tuple:
    """:func:`level_patch`'s geometry: ((x0, y0, r): the 2r square region read, its border
    repeated), k (the side it is shrunk or enlarged to), whether by area averaging, the 2 x 3
    turn of that k x k copy into the patch, and the matrix mapping patch points back."""
    x, y, bw, bh = (float(v) for v in box)
    cx, cy, side = x + bw / 2, y + bh / 2, max(bw, bh, 1.0)
    s, n = face_px / side, patch_px
    # the region first shrunk with area averaging all the way (a face of 1,000 px read at 80
    # would alias through a plain warp; a whole-factor reduction with the rest in the warp was
    # cheaper but changed one tilted face's answer on the shared photos), then turned and cut
    r = int(np.ceil(0.75 * n / s))  # the patch's corners, turned, stay within 0.71 of its side from the centre
    x0, y0 = int(np.floor(cx)) - r, int(np.floor(cy)) - r
    k = max(1, int(round(2 * r * s)))
    f = k / (2 * r)
    # image -> small: translate by -(x0, y0), scale by f; then turn about the box's centre there
    c = ((cx - x0) * f, (cy - y0) * f)
    m = cv2.getRotationMatrix2D(c, -angle, 1.0)
    m[:, 2] += (n / 2 - c[0], n / 2 - c[1])
    full = np.vstack([m, [0, 0, 1]]) @ np.array([[f, 0, -x0 * f], [0, f, -y0 * f], [0, 0, 1]])
    return (x0, y0, r), k, s < 1, m, cv2.invertAffineTransform(full[:2])


def faces_to_batch(faces, size: int = INPUT_SIZE) -> np.ndarray:
    """Face images (list of arrays of any size/colour, or an N x H x W array) -> N x 1 x size x size
    float32. One array alone, H x W gray, H x W x 1 (Keras' gray) or H x W x 3/4 colour, is one face
    (a stack of gray faces 1, 3 or 4 pixels wide would be no faces)."""
    if isinstance(faces, np.ndarray) and faces.ndim == 3 and faces.shape[1:] == (size, size) and faces.dtype == np.uint8:
        grid = faces
    elif isinstance(faces, np.ndarray) and (faces.ndim == 2 or (faces.ndim == 3 and faces.shape[2] in (1, 3, 4))):
        grid = to_face48(faces, size)[None]
    else:
        if isinstance(faces, (str, bytes, os.PathLike)) or faces is None:
            raise UsageError(f"faces: expected face images (arrays), got {type(faces).__name__}; "
                             "detect_emotions reads files")
        if isinstance(faces, np.ndarray) and faces.ndim not in (3, 4):  # a stack's first axis is its faces
            raise UsageError(f"faces: an array of shape {faces.shape}; expected a face (H x W, H x W x 3) or a "
                             "stack of them (N x H x W[ x 3])")
        try:
            items = list(faces)
        except TypeError:
            raise UsageError(f"faces: expected face images (arrays), got {type(faces).__name__}") from None
        grid = np.empty((len(items), size, size), np.uint8)
        for i, f in enumerate(items):
            if isinstance(f, (str, bytes, os.PathLike)):
                raise UsageError(f"face {i}: expected a face image (an array), got {type(f).__name__}; "
                                 "detect_emotions reads files")
            a = np.asarray(f)
            if a.ndim in (2, 3) and 0 in a.shape[:2]:  # a box cut outside its image, say
                raise ImageError(f"face {i}: an empty crop ({a.shape[0]}x{a.shape[1]} pixels); each face needs "
                                 "at least one pixel")
            try:
                grid[i] = to_face48(a, size)
            except (ValueError, TypeError) as e:
                raise ImageError(f"face {i}: {str(e).splitlines()[0]}") from None
            except cv2.error:  # OpenCV's own words name its source file, not the problem
                raise ImageError(f"face {i}: cannot be read as an image (shape {a.shape}, {a.dtype}); expected "
                                 "H x W gray or H x W x 3/4 colour pixels") from None
    return normalize(grid)[:, None, :, :]
