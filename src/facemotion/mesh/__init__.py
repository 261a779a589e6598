"""The face mesh: MediaPipe's 468-point face landmark network (``weights/face_mesh.onnx``, Apache-2.0,
``weights/face_mesh.LICENSE.txt``) on ONNX Runtime, with head pose and facial action measures.

    mesh = FaceMesh()
    for r in mesh.run(image_bgr, boxes):      # one batched network call per pass for all faces
        r.landmarks, r.present, r.pose["yaw"], r.measures["smile"]

``aligned_crop`` cuts a face from its mesh the way FER2013's faces are framed (eyes level, at
FER2013's mean eye and mouth positions), for the emotion classifier. ``docs/mesh.md`` gives the
conventions, each measure's definition and the accuracy measured.
"""

from __future__ import annotations

import cv2
import numpy as np

from .measures import MEASURE_POINTS, MEASURES, action_measures, neutral_values
from .model import MESH_MODEL, MIN_FACE_PX, MIN_INSIDE, PRESENCE_THRESHOLD, FaceMesh, MeshResult
from .pose import frontalise, head_pose, rigid_fit

__all__ = ["FaceMesh", "MeshResult", "head_pose", "action_measures", "aligned_crop", "aligned_transform",
           "fer_anchors", "frontalise", "rigid_fit", "neutral_values", "MEASURES", "MEASURE_POINTS", "MESH_MODEL",
           "MIN_FACE_PX", "MIN_INSIDE", "PRESENCE_THRESHOLD", "FER_EYES", "FER_MOUTH"]

# FER2013's mean eye centres (the person's right eye, on the image's left, then the left) and
# mouth centre in its 48x48 faces (pixel coordinates: 0 the first pixel's centre), measured with
# this mesh by scripts/make_mesh_canonical.py: 1,713 of 2,000 training faces (a seeded sample
# over all emotions) read with presence over 0.5, each upsampled to 192 px and taken as the
# network's crop; an eye centre is the midpoint of its corners (33/133, 362/263), the mouth
# centre the mean of 61, 291, 13 and 14
FER_EYES = ((15.65, 18.37), (31.60, 18.19))
FER_MOUTH = (23.80, 33.59)
_EYES = ((33, 133), (362, 263))
_MOUTH = (61, 291, 13, 14)


def face_anchors(landmarks: np.ndarray) -> np.ndarray:
    """The right eye's, the left eye's and the mouth's centres (3 x 2, image pixels) of a mesh."""
    p = np.asarray(landmarks, np.float64)[:, :2]
    return np.stack([p[list(_EYES[0])].mean(0), p[list(_EYES[1])].mean(0), p[list(_MOUTH)].mean(0)])


def fer_anchors(size: int = 48) -> np.ndarray:
    """Where :func:`aligned_crop` puts the eye and mouth centres in a ``size`` crop: FER2013's
    means made level and symmetric (the eyes at their mean height and distance about their
    midpoint, the mouth under it at its mean height)."""
    (rx, ry), (lx, ly) = FER_EYES
    cx, ey, half = (rx + lx) / 2, (ry + ly) / 2, (lx - rx) / 2
    pts = np.array([[cx - half, ey], [cx + half, ey], [cx, FER_MOUTH[1]]])
    return (pts + 0.5) * (size / 48) - 0.5  # pixel centres of a 48 grid -> of a size grid


def aligned_transform(landmarks: np.ndarray, size: int = 48) -> np.ndarray:
    """The 2x3 similarity taking image pixels to a ``size`` crop framed as FER2013's faces: the
    eye line level, then scale and shift the least-squares fit of the eye and mouth centres to
    :func:`fer_anchors` (a turned head's eyes draw closer than its eye-mouth line shortens:
    both count)."""
    src, dst = face_anchors(landmarks), fer_anchors(size)
    d = src[1] - src[0]
    a = -np.arctan2(d[1], d[0])  # the turn that levels the eyes
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    x = (src - src.mean(0)) @ rot.T
    y = dst - dst.mean(0)
    scale = float((x * y).sum() / (x ** 2).sum())
    return np.hstack([scale * rot, (dst.mean(0) - scale * rot @ src.mean(0))[:, None]])


def aligned_crop(image: np.ndarray, mesh_result, size: int = 48) -> np.ndarray:
    """The face of ``mesh_result`` (a :class:`MeshResult` or its 468 x 3 landmarks) cut from
    ``image`` (gray or colour, as given) as a ``size`` x ``size`` crop framed as FER2013's faces
    (:func:`aligned_transform`: eyes level, eye and mouth centres at FER2013's mean places);
    borders beyond the picture replicated."""
    from ..validate import integer

    size = integer("size", size, 1)  # (0 made the pyramid below halve the picture forever)
    marks = getattr(mesh_result, "landmarks", mesh_result)
    m = aligned_transform(marks, size)
    # a large face shrinks many times: take it from a pyramid level first, as linear
    # interpolation alone would skip pixels (aliasing)
    scale = float(np.hypot(*m[:, 0]))
    while 0 < scale < 0.5:  # (landmarks all in one point give 0: no pyramid level helps)
        image = cv2.pyrDown(image)  # pixel x of the half-size image is 2x + 0.5 of this one
        m = np.hstack([2 * m[:, :2], (m[:, 2] + 0.5 * m[:, :2].sum(1))[:, None]])
        scale *= 2
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
