"""JPEG photos decoded the fast way: simplejpeg (libjpeg-turbo's TurboJPEG) with the GIL released,
straight into the BGR array the pipeline reads, the very pixels Pillow gives. Everything else
about reading a picture (the formats allowed, the size guard, the errors) is
:mod:`facemotion.images`'s, which calls this once Pillow has read a file's header."""

from __future__ import annotations

import numpy as np

# A JPEG of more scans than this goes to Pillow at once. libjpeg's progressive script writes 10,
# and the most any of 40,360 photos of the shared media and the public sets holds is 14
# (benchmarks/studies/decode_costs.py); a file of more (up to formats.MAX_JPEG_SCANS, each scan a
# pass over the picture) is unusual, and a repeated scan is a libjpeg warning, which simplejpeg
# (strict) refuses after a whole decode, and Pillow then decodes it again: decoded once instead.
FAST_MAX_SCANS = 20


_MISSING = object()
_module = _MISSING


def _simplejpeg():
    """simplejpeg, or None where it is not installed (a dependency, but where no wheel installs:
    pip --no-deps, Pyodide; Pillow then reads every JPEG). Looked for once: a failed import is not
    kept in ``sys.modules``, and trying again for every photo searched the path each time, under
    the import lock that ``batch``'s decoding threads then queued for."""
    global _module
    if _module is _MISSING:
        try:
            import simplejpeg
        except ImportError:
            simplejpeg = None
        _module = simplejpeg
    return _module


def decode_plain_jpeg(img, data: bytes, scans: int = 1) -> np.ndarray | None:
    """The pixels of ``img``, a JPEG Pillow has opened from ``data`` (its header read, perhaps
    :meth:`~PIL.Image.Image.draft`-ed to a DCT reduction), as Pillow would decode them at
    ``img.size``, but decoded by simplejpeg (libjpeg-turbo's TurboJPEG) straight into a BGR
    array; not turned (the EXIF turn is the caller's, :func:`turned`).

    Why: the decoding releases the GIL and makes no copy on the way to numpy. Pillow's copy
    (``tobytes``) and its buffers hold the GIL, and ``batch``'s threads queue for it: on the shared
    photos a worker held it 11.2 ms a photo with Pillow's decode, 5.1 ms with this
    (benchmarks/results/batch_gil_simplejpeg.txt). Only a plain JPEG (RGB or gray, whole: its
    last bytes the end-of-image marker); ``None`` leaves the file to Pillow: another kind of
    JPEG, a cut or damaged one (libjpeg's warnings raise here, ``strict``; Pillow names a cut file
    and reads a damaged one quietly, as before), a trailer after the picture, more than
    ``FAST_MAX_SCANS`` ``scans`` (:func:`facemotion.formats.jpeg_scans`)."""
    if (img.format != "JPEG" or img.mode not in ("RGB", "L") or not data.endswith(b"\xff\xd9")
            or scans > FAST_MAX_SCANS):
        return None
    simplejpeg = _simplejpeg()
    if simplejpeg is None:
        return None
    w, h = img.size
    try:
        # asked for at least the drafted size, TurboJPEG picks that very reduction (1/2, 1/4, 1/8)
        arr = simplejpeg.decode_jpeg(data, "BGR", fastdct=False, fastupsample=False, min_width=w, min_height=h,
                                     strict=True)
    except ValueError:
        return None
    return arr if arr.shape[:2] == (h, w) else None


def turned(arr: np.ndarray, orientation) -> np.ndarray:
    """Decoded pixels turned to display as EXIF ``orientation`` says, as
    PIL.ImageOps.exif_transpose turns them (2 mirrored, 3 upside down, 6 turned 90 degrees
    clockwise, ...)."""
    import cv2

    if orientation == 2:
        return cv2.flip(arr, 1)
    if orientation == 3:
        return cv2.rotate(arr, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(arr, 0)
    if orientation == 5:
        return cv2.transpose(arr)
    if orientation == 6:
        return cv2.rotate(arr, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.rotate(cv2.transpose(arr), cv2.ROTATE_180)
    if orientation == 8:
        return cv2.rotate(arr, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return arr
