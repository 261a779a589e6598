"""The named corruptions (the registry: name, family, three severities, unit), how a command
line picks them, and the seeded ways to apply them: one condition (:func:`corrupt`), a
random one per face for training (:func:`random_corruptions`), a strength between levels
(:func:`interpolate`) and the whole table (:func:`suite`). The operations are
:mod:`.corruptions`'."""

from __future__ import annotations

import zlib

import numpy as np

from ..errors import UsageError
from ..preprocess import INPUT_SIZE
from .corruptions import (
    FAMILIES,
    SEVERITIES,
    Corruption,
    brightness,
    check_faces,
    contrast,
    eye_band,
    gamma,
    gaussian_blur,
    gaussian_noise,
    hand,
    jpeg,
    low_resolution,
    lower_face,
    motion_blur,
    rotation,
    shift,
    side_light,
    zoom,
)


def _c(name, family, fn, levels, unit, description):
    return name, Corruption(name, family, fn, tuple(levels), unit, description)


CORRUPTIONS: dict[str, Corruption] = dict([
    _c("gamma_dark", "lighting", gamma, (1.5, 2.2, 3.0), "gamma", "gamma curve, shadows crushed"),
    _c("gamma_bright", "lighting", gamma, (1 / 1.5, 1 / 2.2, 1 / 3.0), "gamma", "inverse gamma, shadows lifted"),
    _c("brightness", "lighting", brightness, (40, 70, 100), "gray levels added", "overexposed, highlights clip"),
    _c("contrast", "lighting", contrast, (0.6, 0.4, 0.25), "contrast factor", "flat light, low contrast"),
    _c("side_light", "lighting", side_light, (0.5, 0.7, 0.85), "shadow depth", "light from one side"),
    _c("gaussian_blur", "blur", gaussian_blur, (0.6, 1.0, 1.5), "sigma (px)", "out of focus"),
    _c("motion_blur", "blur", motion_blur, (4, 6, 9), "length (px)", "moving face or camera"),
    _c("gaussian_noise", "noise", gaussian_noise, (10, 20, 30), "sigma (gray levels)", "sensor noise"),
    _c("jpeg", "compression", jpeg, (40, 20, 10), "JPEG quality", "JPEG compression"),
    _c("low_resolution", "resolution", low_resolution, (32, 20, 12), "face size (px)", "a small face enlarged"),
    _c("rotation", "rotation", rotation, (10, 20, 30), "degrees (+ or -)", "tilted head"),
    _c("shift", "jitter", shift, (0.05, 0.10, 0.15), "fraction of the box", "box off-centre"),
    _c("zoom", "jitter", zoom, (0.10, 0.20, 0.30), "scale change (in or out)", "box too tight or loose"),
    _c("lower_face", "occlusion", lower_face, (0.20, 0.33, 0.45), "fraction of rows", "face mask"),
    _c("eye_band", "occlusion", eye_band, (6, 9, 12), "band height (px)", "sunglasses"),
    _c("hand", "occlusion", hand, (14, 20, 26), "ellipse width (px)", "a hand over the face"),
])


def check_corruptions(name: str, value) -> list[str]:
    """Corruption names in the registry's order from a comma-separated string or a list of
    corruption and family names (``"blur,jpeg"``: both blurs and JPEG); None or "all" = all. Anything
    unknown is a UsageError naming ``name`` and listing what is known."""
    if value is None or value == "all":
        return list(CORRUPTIONS)
    items = value.split(",") if isinstance(value, str) else list(value)
    wanted = set()
    for item in (str(i).strip() for i in items):
        if item in CORRUPTIONS:
            wanted.add(item)
        elif item in FAMILIES:
            wanted |= {n for n, c in CORRUPTIONS.items() if c.family == item}
        elif item:
            raise UsageError(f"{name}: unknown corruption {item!r}; known: {', '.join(CORRUPTIONS)} "
                             f"(or a family: {', '.join(FAMILIES)})")
    if not wanted:
        raise UsageError(f"{name}: no corruption named")
    return [n for n in CORRUPTIONS if n in wanted]


def check_severities(name: str, value) -> list[int]:
    """Severities (sorted) from a comma-separated string or a list of 1, 2, 3; None = all."""
    if value is None:
        return list(SEVERITIES)
    items = str(value).split(",") if isinstance(value, (str, int)) else list(value)
    out = set()
    for item in items:
        try:
            v = int(str(item).strip())
        except ValueError:
            v = None
        if v not in SEVERITIES:
            raise UsageError(f"{name}: expected some of {', '.join(map(str, SEVERITIES))}, got {str(item).strip()!r}")
        out.add(v)
    return sorted(out)


def names(corruptions=None) -> list[str]:
    return check_corruptions("corruptions", corruptions)


def severities(levels=None) -> list[int]:
    return check_severities("severities", levels)


def get(name: str) -> Corruption:
    if name not in CORRUPTIONS:
        raise UsageError(f"corruption: unknown {name!r}; known: {', '.join(CORRUPTIONS)}")
    return CORRUPTIONS[name]


def rng_for(seed: int, name: str, severity: int) -> np.random.Generator:
    """The generator of one condition: depends on nothing but the seed, the name and the severity."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode()), int(severity)])


def apply(images, name: str, value, rng: np.random.Generator | None = None) -> np.ndarray:
    """``images`` (N x S x S uint8, or one S x S crop) with corruption ``name`` at parameter
    ``value`` (any value, e.g. one drawn for augmentation; see :data:`CORRUPTIONS` for what it
    means). Same shape and type as given."""
    single = np.asarray(images).ndim == 2
    x = check_faces(images)
    out = get(name).fn(x, value, rng if rng is not None else np.random.default_rng(0)) if len(x) else x.copy()
    return out[0] if single else out


def corrupt(images, name: str, severity: int, seed: int = 0) -> np.ndarray:
    """``images`` with corruption ``name`` at ``severity`` (1-3): deterministic given ``seed``."""
    c = get(name)
    return apply(images, name, c.value(severity), rng_for(seed, name, severity))


def random_corruptions(images, rng: np.random.Generator, p: float = 0.5, corruptions=None,
                       severity_range: tuple[float, float] = (0.0, 3.0)) -> np.ndarray:
    """For augmentation: each face, with probability ``p``, gets one corruption drawn from
    ``corruptions`` (default all) at a strength drawn uniformly from ``severity_range`` and
    rounded to a quarter (0 = close to none, 1-3 = the suite's severities, linear in between:
    :func:`interpolate`). Faces drawn the same corruption and strength are corrupted together."""
    x = check_faces(images)
    todo = names(corruptions)
    out = x.copy()
    hit = np.flatnonzero(rng.random(len(x)) < p)
    which = rng.integers(0, len(todo), len(hit))
    strength = np.round(rng.uniform(*severity_range, len(hit)) * 4) / 4
    for k, q in sorted(set(zip(which.tolist(), strength.tolist()))):
        idx = hit[(which == k) & (strength == q)]
        out[idx] = apply(x[idx], todo[k], interpolate(CORRUPTIONS[todo[k]], q), rng)
    return out


_IDENTITY = {"gamma": 1.0, "brightness": 0.0, "contrast": 1.0, "side_light": 0.0, "gaussian_blur": 0.3,
             "motion_blur": 1.0, "gaussian_noise": 0.0, "jpeg": 95, "low_resolution": INPUT_SIZE, "rotation": 0.0,
             "shift": 0.0, "zoom": 0.0, "lower_face": 0.0, "eye_band": 0.0, "hand": 2.0}


def interpolate(c: Corruption, strength: float):
    """The parameter of ``c`` at a fractional severity: 0 = (close to) no change, 1/2/3 = the
    suite's levels, linear in between (and beyond 3, continued from the last step)."""
    points = [_IDENTITY[c.fn.__name__], *c.levels]
    s = max(0.0, float(strength))
    i = min(int(s), len(points) - 2)
    v = points[i] + (points[i + 1] - points[i]) * (s - i)
    return int(round(v)) if c.fn is jpeg else v


def suite(corruptions=None, levels=None) -> list[dict]:
    """The suite as data: name, family, description, unit and the parameter at each severity."""
    return [{"name": n, "family": c.family, "description": c.description, "unit": c.unit,
             "severities": {str(s): _rounded(c.value(s)) for s in severities(levels)}}
            for n, c in ((n, CORRUPTIONS[n]) for n in names(corruptions))]


def _rounded(v):
    return round(v, 4) if isinstance(v, float) else v
