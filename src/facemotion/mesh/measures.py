"""Facial action measures: distances between a mesh's points that move with what a face does
(a smile, an open mouth, raised brows, ...), read on the face with its pose removed.

Each measure is a geometric quantity of the frontalised mesh (:func:`facemotion.mesh.pose.frontalise`:
the rigid fit undone, so turning the head changes them little), in eye distances (the
distance between the eye centres, the midpoints of each eye's corners), less its value on the
canonical face (the London set's mean neutral face). So 0 is an average neutral face, a
positive value more of the action than that, a negative one less; :func:`neutral_values`
gives the canonical face's own values (an eye's opening is ``left_eye_open`` plus its
neutral value). "Above" and "below" are along the face's own vertical; indices are
MediaPipe's (the person's right eye is 33..133, on the image's left).

They name what they measure, not a FACS action unit: a wide mouth can be a smile or a
grimace. ``docs/mesh.md`` gives each one's separation of the London set's smiling and neutral
photos (``benchmarks/mesh.py``).
"""

from __future__ import annotations

import numpy as np

from ..results import MESH_MEASURES
from .pose import Fit, canonical, frontalise

MOUTH_CORNERS = (61, 291)          # the person's right, left
LIP_MIDDLE = (0, 13, 14, 17)       # upper lip's top, inner upper, inner lower, lower lip's bottom
RIGHT_EYE = (33, 133, 159, 145)    # outer corner, inner corner, upper lid, lower lid
LEFT_EYE = (263, 362, 386, 374)
RIGHT_BROW = (70, 105, 107)        # outer to inner
LEFT_BROW = (300, 334, 336)
NOSE_WINGS = (98, 327)             # the person's right, left

# the smile's three parts, each weighed against the mouth's width: the corners' lift, the width,
# and the lower lids' rise (the cheeks pushed up by a felt smile, FACS's "cheek raiser"). The
# weights are the discriminant (LDA) of FER2013's happy and neutral training faces over the three
# quantities (746 and 753 faces read by the mesh), rounded; the London set only checks them. The
# lift and the lids move a fraction of what the width moves, so they count several times.
SMILE_LIFT_WEIGHT = 5.3
SMILE_LIDS_WEIGHT = 3.3

# the names, once, where the records' tables name their columns
MEASURES = MESH_MEASURES

# the points each measure reads, the eye corners (its unit) included. Beyond the picture's edge
# the network guesses where a point would be: a face cut below its nose read a 'smile' of 0.34
# neutral and 0.22 smiling (London's 001). A measure with a point beyond the edge is not given
# (None): such readings move from the uncut photo's 2-4 times as far as the rest (90th
# percentile), as much a few pixels out as far out (benchmarks/studies/mesh_cut.py; docs/mesh.md,
# "Faces cut by the picture's edge")
_UNIT = (*RIGHT_EYE[:2], *LEFT_EYE[:2])
MEASURE_POINTS = {
    "smile": (*_UNIT, *LIP_MIDDLE, *MOUTH_CORNERS, RIGHT_EYE[3], LEFT_EYE[3]),
    "mouth_open": (*_UNIT, 13, 14),
    "left_eye_open": (*_UNIT, *LEFT_EYE[2:]),
    "right_eye_open": (*_UNIT, *RIGHT_EYE[2:]),
    "brow_raise": (*_UNIT, *RIGHT_BROW, *LEFT_BROW),
    "brow_furrow": (*_UNIT, RIGHT_BROW[-1], LEFT_BROW[-1]),
    "lip_press": (*_UNIT, *LIP_MIDDLE),
    "nose_wrinkle": (*_UNIT, *NOSE_WINGS),
}


def eye_distance(p: np.ndarray) -> float:
    """The distance between the eye centres (each the midpoint of its corners)."""
    r = p[list(RIGHT_EYE[:2]), :2].mean(0)
    l_ = p[list(LEFT_EYE[:2]), :2].mean(0)
    return float(np.linalg.norm(l_ - r))


def raw_measures(q: np.ndarray) -> dict:
    """The quantities behind the measures, on a frontal mesh ``q`` (x right, y down) in eye
    distances; each grows with its action."""
    y = q[:, 1]
    rc, lc = MOUTH_CORNERS
    # smile: the corners lifted above the line through the lips' middle points (a neutral
    # mouth's corners sit about level with it), the mouth's width, and the lower lids risen
    # towards their eye's corners (SMILE_LIFT_WEIGHT, SMILE_LIDS_WEIGHT)
    lift = float(y[list(LIP_MIDDLE)].mean() - y[[rc, lc]].mean())
    width = float(np.linalg.norm(q[lc, :2] - q[rc, :2]))
    # an eye's corners' mean height: the line its lids and brow are measured from
    r_eye, l_eye = y[list(RIGHT_EYE[:2])].mean(), y[list(LEFT_EYE[:2])].mean()
    lids = float((r_eye - y[RIGHT_EYE[3]] + l_eye - y[LEFT_EYE[3]]) / 2)
    # the inner brows: their distance apart (less: drawn together) and height over the inner
    # eye corners (less: lowered)
    inner_apart = float(q[LEFT_BROW[-1], 0] - q[RIGHT_BROW[-1], 0])
    inner_height = float((y[RIGHT_EYE[1]] - y[RIGHT_BROW[-1]] + y[LEFT_EYE[1]] - y[LEFT_BROW[-1]]) / 2)
    # the lips' red: the outer mouth's height less the opening between the lips (thinner when pressed)
    lips = float((y[17] - y[0]) - (y[14] - y[13]))
    # the nose wings' height below the inner eye corners (shorter when the nose wrinkles)
    wings = float((y[NOSE_WINGS[0]] - y[RIGHT_EYE[1]] + y[NOSE_WINGS[1]] - y[LEFT_EYE[1]]) / 2)
    return {
        "smile": SMILE_LIFT_WEIGHT * lift + width + SMILE_LIDS_WEIGHT * lids,
        "mouth_open": float(y[14] - y[13]),
        "left_eye_open": float(y[LEFT_EYE[3]] - y[LEFT_EYE[2]]),
        "right_eye_open": float(y[RIGHT_EYE[3]] - y[RIGHT_EYE[2]]),
        "brow_raise": float((r_eye - y[list(RIGHT_BROW)].mean() + l_eye - y[list(LEFT_BROW)].mean()) / 2),
        "brow_furrow": -inner_apart - inner_height,
        "lip_press": -lips,
        "nose_wrinkle": -wings,
    }


_neutral: dict = {}


def neutral_values() -> dict:
    """The quantities of :func:`raw_measures` on the canonical face (what each measure is
    counted from)."""
    if not _neutral:
        c = canonical()
        _neutral.update(raw_measures(c / eye_distance(c)))  # as a mesh is read (float16 stored: not exactly 1)
    return dict(_neutral)


def outside(landmarks: np.ndarray, size) -> np.ndarray:
    """Per point, whether it lies beyond a picture of ``size`` (width, height): past its edge
    pixels' outer edges (pixel x covers x - 0.5 .. x + 0.5)."""
    p = np.asarray(landmarks, np.float64)[:, :2]
    return ((p < -0.5) | (p > np.asarray(size, np.float64) - 0.5)).any(axis=1)


def action_measures(landmarks: np.ndarray, fit: Fit | None = None, size=None) -> dict:
    """A mesh's measures (468 x 3, image pixels): ``MEASURES`` -> float, eye distances from the
    canonical neutral face (the module says each one). ``size``: the picture's (width, height);
    a measure reading a point beyond it is None (:data:`MEASURE_POINTS`)."""
    q = frontalise(landmarks, fit)
    q = q / eye_distance(q)
    base = neutral_values()
    out = {k: v - base[k] for k, v in raw_measures(q).items()}
    if size is not None:
        off = outside(landmarks, size)
        out = {k: None if off[list(MEASURE_POINTS[k])].any() else v for k, v in out.items()}
    return out
