"""Head pose from a face mesh: a similarity fit (Umeyama's: scale, rotation, shift) of the canonical
face onto the mesh's rigid points, and the fit's rotation as yaw, pitch and roll.

The canonical face (``weights/face_mesh_canonical.npy``, 468 x 3, built by
``scripts/make_mesh_canonical.py``) is the mean mesh of the London set's 102 neutral frontal
photos, made exactly left-right symmetric: zero yaw and roll are a symmetric face seen
straight on, zero pitch is how those people held their heads when told to look at the camera.
Its frame is the image's (x right, y down, z away from the camera), its origin midway between
the eye centres, its unit the distance between the eye centres.

Only :data:`RIGID` points enter the fit: those that moved least between each London person's
neutral and smiling photo, away from the brows and eyelids (which move with expressions the
London set does not hold). So a smile, an open mouth or raised brows barely move the pose.

Angles, in degrees, as the person's head turns seen from the camera:

- yaw: positive when the person turns to their left (the nose points to the image's right);
- pitch: positive when the person looks up;
- roll: positive when the head leans counter-clockwise on screen (the person's left eye, on
  the image's right, higher): :mod:`facemotion.align`'s sign, so a mesh's roll is a lean
  :func:`facemotion.preprocess.crop_faces` turns back.

Rotation = Rz(-roll) @ Ry(-yaw) @ Rx(-pitch) in the image's frame: roll last, so a picture
turned in its plane changes roll alone, and a mirrored picture changes the signs of yaw and roll.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..errors import ModelError

CANONICAL = Path(__file__).parents[1] / "weights" / "face_mesh_canonical.npy"

# the points the pose is fitted on: scripts/make_mesh_canonical.py chose them (its --print-rigid
# writes this list): in the steadier half between each London person's neutral and smiling
# photos, and farther than 0.25 eye distances from every brow and eyelid point
RIGID = (
    1, 3, 4, 5, 10, 19, 20, 36, 44, 45, 48, 49, 51, 59, 60, 64, 67, 75, 79, 94, 97, 99, 100, 101, 102,
    108, 109, 115, 118, 125, 126, 129, 131, 134, 141, 142, 151, 166, 174, 195, 198, 209, 217, 218, 219,
    220, 235, 236, 237, 238, 239, 240, 241, 242, 248, 250, 266, 274, 275, 278, 279, 281, 289, 290, 294,
    297, 305, 309, 326, 328, 329, 330, 331, 337, 338, 344, 347, 354, 355, 358, 360, 363, 370, 371, 392,
    399, 420, 429, 437, 438, 439, 440, 455, 456, 457, 458, 459, 460, 461, 462,
)

_cache: dict = {}


def canonical() -> np.ndarray:
    """The canonical face, 468 x 3 float64 (loaded once)."""
    if "canonical" not in _cache:
        try:
            c = np.load(CANONICAL).astype(np.float64)
        except (OSError, ValueError) as e:
            raise ModelError(f"{CANONICAL}: not a loadable canonical face ({e}); reinstall facemotion") from None
        if c.shape != (468, 3):
            raise ModelError(f"{CANONICAL}: holds {c.shape}, not 468 x 3 points; reinstall facemotion")
        _cache["canonical"] = c
    return _cache["canonical"]


@dataclasses.dataclass(frozen=True)
class Fit:
    """``points ~= scale * canonical @ rotation.T + shift`` (image pixels)."""

    scale: float
    rotation: np.ndarray
    shift: np.ndarray


def umeyama(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """The similarity (scale, rotation, shift) taking ``src`` (N x D) closest to ``dst`` in least
    squares (Umeyama 1991), never a reflection."""
    w = np.ones(len(src)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    ms, md = w @ src, w @ dst
    a, b = src - ms, dst - md
    u, sig, vt = np.linalg.svd((b * w[:, None]).T @ a)
    flip = np.ones(len(sig))
    flip[-1] = np.sign(np.linalg.det(u @ vt)) or 1.0
    rot = (u * flip) @ vt
    scale = float((sig * flip).sum() / (w @ (a ** 2).sum(1)))
    return scale, rot, md - scale * rot @ ms


def rigid_fit(landmarks: np.ndarray) -> Fit:
    """The canonical face fitted onto a mesh's :data:`RIGID` points (image pixels)."""
    idx = list(RIGID)
    s, r, t = umeyama(canonical()[idx], np.asarray(landmarks, np.float64)[idx])
    return Fit(s, r, t)


def frontalise(landmarks: np.ndarray, fit: Fit | None = None) -> np.ndarray:
    """A mesh with its pose removed: 468 x 3 in the canonical frame and units (the fit undone)."""
    fit = fit or rigid_fit(landmarks)
    return (np.asarray(landmarks, np.float64) - fit.shift) @ fit.rotation / fit.scale


def rotation_angles(rotation: np.ndarray) -> dict:
    """{yaw, pitch, roll} in degrees of a rotation (canonical -> image frame), as the module says."""
    r = rotation
    # r = Rz(c) @ Ry(b) @ Rx(a): its last row is Ry @ Rx's, free of the roll
    b = np.arcsin(np.clip(-r[2, 0], -1.0, 1.0))
    a = np.arctan2(r[2, 1], r[2, 2])
    c = np.arctan2(r[1, 0], r[0, 0])
    return {"yaw": float(-np.degrees(b)), "pitch": float(-np.degrees(a)), "roll": float(-np.degrees(c))}


def head_pose(landmarks: np.ndarray, fit: Fit | None = None) -> dict:
    """{yaw, pitch, roll} in degrees of a mesh (468 x 3, image pixels; the module says the signs)."""
    return rotation_angles((fit or rigid_fit(landmarks)).rotation)


def euler_rotation(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """The rotation :func:`rotation_angles` reads as these angles (tests and scripts turn faces by it)."""
    a, b, c = np.radians([-pitch, -yaw, -roll])
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx
