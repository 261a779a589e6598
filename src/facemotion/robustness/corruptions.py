"""The corruptions: seeded, vectorised corruptions of 48x48 face crops, and their registry.

Faces in real photos, webcams and videos are small, blurred, badly lit, tilted, cropped
off-centre by the detector or partly covered. Each of these is a *corruption* here: a function
of a batch of N x 48 x 48 uint8 gray crops (what :func:`facemotion.preprocess.to_face48`
gives the network) that returns a batch of the same shape and type. Every corruption has three
severities; the parameter at each is in :data:`CORRUPTIONS` (``facemotion evaluate
--robustness`` and ``docs/robustness.md`` print the list):

=================  ===========  ======================================================  ====================
corruption         family       what it does                                            severity 1 / 2 / 3
=================  ===========  ======================================================  ====================
gamma_dark         lighting     gamma curve, shadows crushed                            gamma 1.5 / 2.2 / 3.0
gamma_bright       lighting     inverse gamma curve, shadows lifted                     gamma 1/1.5 / 1/2.2 / 1/3
brightness         lighting     offset added, highlights clip (overexposure)            +40 / +70 / +100
contrast           lighting     contrast around the face's mean scaled                  x0.6 / x0.4 / x0.25
side_light         lighting     light falls off across the face (side chosen per face)  shadow 50 / 70 / 85%
gaussian_blur      blur         out of focus                                            sigma 0.6 / 1.0 / 1.5 px
motion_blur        blur         a line kernel at an angle drawn per face                4 / 6 / 9 px
gaussian_noise     noise        sensor noise                                            sigma 10 / 20 / 30
jpeg               compression  JPEG round trip                                         quality 40 / 20 / 10
low_resolution     resolution   the face at k x k px, then enlarged back as to_face48   32 / 20 / 12 px
rotation           rotation     in-plane tilt, sign drawn per face                      10 / 20 / 30 degrees
shift              jitter       the detector's box off-centre, direction per face       5 / 10 / 15% of the box
zoom               jitter       the box too tight or too loose (drawn per face)         times or over 1.1 / 1.2 / 1.3
lower_face         occlusion    the bottom of the face covered (a mask)                 20 / 33 / 45% of rows
eye_band           occlusion    a dark band over the eyes (sunglasses)                  6 / 9 / 12 px high
hand               occlusion    a skin-toned ellipse, placed per face (a hand)          14 / 20 / 26 px wide
=================  ===========  ======================================================  ====================

Where they overlap, severity 2 or 3 is a condition of the first measurements made by hand
through the public API (gamma 2.2, contrast 0.4, noise 20, JPEG quality 10, blur 1.5, the lower
third covered, rotation 30), so those numbers stay comparable.

**Deterministic.** :func:`corrupt` draws what it draws per face (noise, directions, angles,
positions) from a generator seeded by ``(seed, corruption name, severity)``: the same crops in
the same order give the same corrupted crops on every run, and adding or removing a corruption
from a run changes no other. Geometric corruptions fill what moves into the crop with its
mirror image (``BORDER_REFLECT_101``), the closest thing to the picture around a face that a
crop still has.

**Vectorised.** Point operations (lookup tables), noise, occlusions and low resolution (the
resize weights as matrix products) are numpy over the whole batch; the blurs run OpenCV once
per 512 faces stacked as channels (motion blur once per direction); only JPEG and the per-face
affine warps loop over faces (tens of microseconds each, far below what a model costs).

**For training.** :func:`apply` takes a parameter value of the caller's own (e.g. drawn from a
range) and a generator, so augmentation can use the same operations at strengths between or
beyond the benchmark's; :func:`random_corruptions` corrupts a random part of a batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from ..errors import UsageError
from ..preprocess import INPUT_SIZE

SEVERITIES = (1, 2, 3)
FAMILIES = ("lighting", "blur", "noise", "compression", "resolution", "rotation", "jitter", "occlusion")
# Faces handed to OpenCV at once as the channels of one image (its limit is 512 channels).
_CHANNELS = 512
# Where the eyes of a FER2013 crop lie: the darkest row of the mean PublicTest face is row 17 of
# 48; the band of `eye_band` is centred there.
EYE_ROW = 17.5 / 48


@dataclass(frozen=True)
class Corruption:
    """One corruption: ``fn(images, value, rng)`` and its parameter at severities 1, 2, 3."""

    name: str
    family: str
    fn: Callable[[np.ndarray, float, np.random.Generator], np.ndarray]
    levels: tuple
    unit: str
    description: str

    def value(self, severity: int):
        if severity not in SEVERITIES:
            raise UsageError(f"severity: must be one of {', '.join(map(str, SEVERITIES))}, got {severity!r}")
        return self.levels[severity - 1]


# ---------------------------------------------------------------- helpers


def check_faces(images) -> np.ndarray:
    """N x S x S uint8 crops (a single S x S crop becomes a batch of one); anything else is a
    UsageError naming what was given."""
    x = np.asarray(images)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1] != x.shape[2] or x.dtype != np.uint8:
        raise UsageError(f"images: expected N x S x S uint8 face crops, got {x.dtype} array of shape {x.shape}")
    return x


def _clip8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _per_channel(images: np.ndarray, op: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Run an OpenCV op that treats every face alike on up to 512 faces at once, as channels."""
    out = []
    for i in range(0, len(images), _CHANNELS):
        chunk = np.ascontiguousarray(images[i:i + _CHANNELS].transpose(1, 2, 0))
        r = op(chunk)
        out.append(r.reshape(r.shape[0], r.shape[1], -1).transpose(2, 0, 1))  # one channel comes back 2-D
    return np.ascontiguousarray(np.concatenate(out)) if out else images.copy()


def _warp(images: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Each face through its own 2 x 3 affine matrix (output pixel -> the same grid)."""
    s = images.shape[1]
    out = np.empty_like(images)
    for i, (img, m) in enumerate(zip(images, matrices)):
        out[i] = cv2.warpAffine(img, m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return out


def _signs(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(np.array([-1.0, 1.0]), n)


# ---------------------------------------------------------------- lighting


def gamma(images, value, rng=None):
    """out = 255 (x / 255) ^ value: > 1 darkens the shadows, < 1 lifts them."""
    lut = _clip8(255.0 * (np.arange(256) / 255.0) ** float(value))
    return lut[images]


def brightness(images, value, rng=None):
    lut = _clip8(np.arange(256) + float(value))
    return lut[images]


def contrast(images, value, rng=None):
    mean = images.reshape(len(images), -1).mean(1)[:, None, None]
    return _clip8((images - mean) * float(value) + mean)


def side_light(images, value, rng):
    """The brightness falls linearly from 1 on the lit side to ``1 - value`` on the other; the lit
    side (left or right) is drawn per face."""
    s = images.shape[1]
    ramp = np.linspace(1.0, 1.0 - float(value), s)
    gains = np.where(_signs(rng, len(images))[:, None] > 0, ramp, ramp[::-1])[:, None, :]
    return _clip8(images * gains)


# ---------------------------------------------------------------- blur, noise, compression, resolution


def gaussian_blur(images, value, rng=None):
    sigma = float(value)
    return _per_channel(images, lambda c: cv2.GaussianBlur(c, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101))


# Motion directions are drawn from 12 angles (15 degrees apart), so faces with the same kernel
# are filtered together.
_MOTION_ANGLES = 12


def _line_kernel(length: float, angle_deg: float) -> np.ndarray:
    """A centred line ``length`` px long (first to last pixel) at ``angle_deg``, drawn by
    splatting points along it bilinearly (antialiased at any angle; OpenCV's antialiased lines
    are for 8-bit images only), summing to 1."""
    half = (float(length) - 1) / 2
    size = 2 * int(math.ceil(half)) + 1
    k = np.zeros((size + 1, size + 1))  # a spare row and column for the right/bottom neighbours
    t = np.linspace(-half, half, max(2, int(math.ceil(length * 8))))
    c = (size - 1) / 2
    x = c + t * math.cos(math.radians(angle_deg))
    y = c + t * math.sin(math.radians(angle_deg))
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    for dy, dx, w in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)), (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(k, (y0 + dy, x0 + dx), w)
    k = k[:size, :size]
    return (k / k.sum()).astype(np.float32)


def motion_blur(images, value, rng):
    angles = rng.integers(0, _MOTION_ANGLES, len(images))
    out = np.empty_like(images)
    for a in np.unique(angles):
        k = _line_kernel(float(value), 180.0 * a / _MOTION_ANGLES)
        idx = np.flatnonzero(angles == a)
        out[idx] = _per_channel(images[idx], lambda c: cv2.filter2D(c, -1, k, borderType=cv2.BORDER_REFLECT_101))
    return out


def gaussian_noise(images, value, rng):
    return _clip8(images + rng.normal(0.0, float(value), images.shape))


def jpeg(images, value, rng=None):
    params = [cv2.IMWRITE_JPEG_QUALITY, int(value)]
    out = np.empty_like(images)
    for i, img in enumerate(images):
        ok, buf = cv2.imencode(".jpg", img, params)
        out[i] = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return out


def _resize_matrix(src: int, dst: int, interpolation: int) -> np.ndarray:
    """dst x src weights of OpenCV's resize along one axis (area and linear resizing are
    separable): resizing the identity gives them."""
    return cv2.resize(np.eye(src, dtype=np.float32), (src, dst), interpolation=interpolation).astype(np.float64)


def low_resolution(images, value, rng=None):
    """The face at ``value`` x ``value`` px (of a 48 px crop; scaled for other sizes), averaged
    down as a camera's sensor does (8-bit), then enlarged back with the interpolation
    :func:`~facemotion.preprocess.to_face48` uses for small faces. OpenCV's area resize takes at
    most 4 channels, so both steps are its separable weights as matrix products over the batch."""
    s = images.shape[1]
    k = max(2, int(round(float(value) * s / INPUT_SIZE)))
    down = _resize_matrix(s, k, cv2.INTER_AREA)
    up = _resize_matrix(k, s, cv2.INTER_LINEAR)
    small = _clip8(down @ images @ down.T)
    return _clip8(up @ small @ up.T)


# ---------------------------------------------------------------- geometry (the detector's box)


def _about_centre(s: int, scale: np.ndarray, angle_deg: np.ndarray, shift: np.ndarray) -> np.ndarray:
    c = (s - 1) / 2
    return np.stack([np.asarray(cv2.getRotationMatrix2D((c, c), float(a), float(z))) + [[0, 0, dx], [0, 0, dy]]
                     for a, z, (dx, dy) in zip(angle_deg, scale, shift)]).astype(np.float32)


def rotation(images, value, rng):
    n, s = len(images), images.shape[1]
    return _warp(images, _about_centre(s, np.ones(n), _signs(rng, n) * float(value), np.zeros((n, 2))))


def shift(images, value, rng):
    """The face moved by ``value`` x the crop size in a direction drawn per face."""
    n, s = len(images), images.shape[1]
    theta = rng.uniform(0, 2 * np.pi, n)
    d = float(value) * s * np.stack([np.cos(theta), np.sin(theta)], 1)
    return _warp(images, _about_centre(s, np.ones(n), np.zeros(n), d))


def zoom(images, value, rng):
    """The box ``value`` too loose (the face shrinks by 1 + value) or too tight (it grows by
    1 + value), drawn per face."""
    n, s = len(images), images.shape[1]
    z = (1.0 + float(value)) ** _signs(rng, n)
    return _warp(images, _about_centre(s, z, np.zeros(n), np.zeros((n, 2))))


# ---------------------------------------------------------------- occlusion


def lower_face(images, value, rng):
    """The bottom ``value`` of the rows covered by a flat, light surface (a surgical mask: its
    gray level drawn per face)."""
    s = images.shape[1]
    top = int(round(s * (1.0 - float(value))))
    out = images.copy()
    out[:, top:, :] = rng.integers(150, 236, len(images)).astype(np.uint8)[:, None, None]
    return out


def eye_band(images, value, rng):
    """A dark band ``value`` px high (of 48) across the eyes (sunglasses; gray level per face)."""
    s = images.shape[1]
    h = float(value) * s / INPUT_SIZE
    y0 = int(round(EYE_ROW * s - h / 2))
    out = images.copy()
    out[:, max(0, y0):y0 + int(round(h)), :] = rng.integers(10, 46, len(images)).astype(np.uint8)[:, None, None]
    return out


def hand(images, value, rng):
    """An upright ellipse ``value`` px wide (of 48) and 1.3 times as tall, centred anywhere in the
    middle 40% of the crop, filled with the face's median gray (a hand is about the colour of
    the face it covers)."""
    n, s = len(images), images.shape[1]
    a = float(value) * s / INPUT_SIZE / 2
    b = 1.3 * a
    cx, cy = (rng.uniform(0.3, 0.7, (2, n)) * (s - 1))[:, :, None, None]
    yy, xx = np.mgrid[0:s, 0:s]
    mask = ((xx - cx) / a) ** 2 + ((yy - cy) / b) ** 2 <= 1.0
    fill = np.median(images.reshape(n, -1), axis=1).astype(np.uint8)[:, None, None]
    return np.where(mask, fill, images)
