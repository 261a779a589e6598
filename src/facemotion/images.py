"""Reading images from whatever users have: a path, bytes, a binary stream, a numpy array or a PIL image.

Everything becomes a BGR uint8 ``H x W x 3`` array (OpenCV's convention), with EXIF orientation applied,
alpha composited on white, 16-bit scaled to 8-bit. Problems raise :class:`ImageError` naming the file.

What a decode may cost is bounded before it starts: the pixels from the header (``MAX_PIXELS``), the bytes
read (:func:`max_bytes`: a stream is read in chunks against it), and the work that the pixels do not bound
(a JPEG's scans, a TIFF's pages); a caller that must answer in time (the service) adds a wall-clock limit:
:mod:`facemotion.decoding`.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import warnings

import numpy as np

from . import decoding
from .decoding import check_work, in_time
from .errors import ImageError, ImageTooLargeError, UnsupportedFormatError
from .fileio import check_input_file
from .formats import FIRST_FRAME, decode_failure, format_refused, pil_formats, refusal, shown
from .jpeg import decode_plain_jpeg, turned
from .preprocess import to_uint8

# Decompression-bomb guard: no image over this many pixels (100 MP; FACEMOTION_MAX_PIXELS), read from the header
MAX_PIXELS = decoding.pixel_limit_or_none()  # None where the setting is no number: said when a picture is read


def _limit(limit: int | None = None) -> int:
    """``limit``, or (None) ``MAX_PIXELS``, the environment's (its one-line error where it is no number)."""
    return limit if limit is not None else MAX_PIXELS or decoding.pixel_limit()


def max_bytes(max_pixels: int | None = None) -> int:
    """:func:`facemotion.decoding.max_bytes` of ``max_pixels`` (default ``MAX_PIXELS``)."""
    return decoding.max_bytes(_limit(max_pixels))


def _describe(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    if _is_stream(source) and isinstance(getattr(source, "name", None), str):
        return source.name  # an open file
    return f"<{type(source).__name__}>"


def _is_stream(source) -> bool:
    return callable(getattr(source, "read", None)) and not isinstance(source, (str, bytes, os.PathLike))


def _too_large(name: str, pixels: int, limit: int | None, size=None) -> ImageTooLargeError:
    return decoding.too_large(name, pixels, _limit(limit), limit is None, size)


def _check_pixels(size, name: str, limit: int | None) -> None:
    w, h = size
    if w * h > _limit(limit):
        raise _too_large(name, w * h, limit, (w, h))


@contextlib.contextmanager
def _decoding(name: str, head: bytes = b"", limit: int | None = None):
    """PIL's ways of failing on a bad file -> one ImageError naming it (and, for a file no
    allowed format opens, what its first bytes ``head`` say it is). ``limit``: the pixels the
    caller allows (None: ``MAX_PIXELS``), named when PIL's own guard refuses a picture."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # our own MAX_PIXELS guard runs on the header; PIL's (89 MP) must not override it
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # broken EXIF costs only the orientation (see _from_pil): nothing to tell the user
            warnings.filterwarnings("ignore", r"(?i)(possibly )?corrupt exif", UserWarning)
            yield
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise (UnsupportedFormatError if format_refused(head) else ImageError)(refusal(name, head)) from None
    except Image.DecompressionBombError as e:
        # PIL's own guard, past twice its limit (raised to ours by _open_pil): too many pixels, as
        # ours says, with the size PIL read (413 from the service)
        found = re.search(r"\((\d+) pixels\)", str(e))
        if found:
            raise _too_large(name, int(found.group(1)), limit) from None
        raise ImageTooLargeError(f"{name}: image is too large (a decompression-bomb guard)") from None
    except MemoryError:
        raise ImageError(f"{name}: not enough memory to decode this image") from None
    except Exception as e:  # noqa: BLE001  (OSError, and a decoder's odd failures on damaged files:
        # TypeError, IndexError, struct.error, ... -- always this file's problem, named in one line)
        raise ImageError(decode_failure(name, e)) from None


def _from_pil(img, name: str, max_pixels: int | None = None, min_scale=None,
              own: bool = True, data: bytes | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """-> (BGR image, the picture's full (width, height) as displayed); see :func:`load_scaled`
    for ``min_scale``. ``own``: ``img`` was opened here and may be changed. ``data``: the
    encoded bytes ``img`` was opened from (a plain JPEG's are then decoded by
    :func:`~facemotion.jpeg.decode_plain_jpeg`)."""
    from PIL import ImageOps

    _check_pixels(img.size, name, max_pixels)
    w, h = img.size
    if w < 1 or h < 1:
        raise ImageError(f"{name}: image is empty ({w}x{h} pixels)")
    scans = check_work(img, name, data)
    # an animation's or an MPO's first frame is the picture: its frames are not counted (a GIF's
    # count walks the whole file); a TIFF's pages are, once check_work found no more than
    # formats.MAX_TIFF_PAGES
    if img.format not in FIRST_FRAME:
        with _decoding(name):  # counting a damaged file's frames can fail too (a fuzzed TIFF: TypeError)
            frames = getattr(img, "n_frames", 1)
        if frames > 1:
            raise ImageError(f"{name}: holds {frames} pages; facemotion reads one picture per file (save each "
                             "page as a file of its own)")
    with _decoding(name), decoding.pil_limit_at_least(w * h):  # within ours (may be above Pillow's)
        if min_scale is not None and img.format in ("JPEG", "MPO") and 0 < (scale := min_scale(w, h)) <= 0.5:
            # libjpeg scales in the DCT (1/2, 1/4, 1/8), never below the requested size: a 12 MP
            # photo decodes ~4-7x faster at 1/4 than whole and then resized
            img.draft(None, (max(1, math.ceil(w * scale)), max(1, math.ceil(h * scale))))
        raw = img.size
        # a plain JPEG opened here: decoded without the GIL, the same pixels (facemotion.jpeg)
        fast = None if data is None else decode_plain_jpeg(img, data, scans)
        if fast is None:
            in_time(name)  # a JPEG simplejpeg refused (damaged) is decoded again only within the time left
            img.load()  # decode now (a lazily opened PIL image too): truncated files fail here, not later
        orientation, pixels = None, (img.im if fast is None else None)
        try:
            orientation = img.getexif().get(0x0112)
            # phone photos: rotate as the camera meant; in place (no copy) only on an image opened
            # here: a caller's PIL image stays as it was
            if fast is not None:
                fast = turned(fast, orientation)
            elif own:
                ImageOps.exif_transpose(img, in_place=True)
            else:
                img = ImageOps.exif_transpose(img)
        except Exception:  # broken EXIF must not cost the picture
            pass
        if fast is not None:
            return fast, ((h, w) if orientation in (5, 6, 7, 8) else (w, h))
        if raw == (w, h):  # decoded whole: its size is the picture's
            full = img.size
        else:  # reduced (only ever an image opened here): a quarter turn swaps the sides, also
            # when the EXIF rewrite failed after the pixels were turned
            full = (h, w) if orientation in (5, 6, 7, 8) and img.im is not pixels else (w, h)
    return _to_bgr(img, name), full


def _to_bgr(img, name: str) -> np.ndarray:
    import cv2
    from PIL import Image

    with _decoding(name):
        mode = img.mode
        if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
            arr = np.asarray(img)
            if mode == "I" and arr.size and arr.min() >= 0:
                arr = arr.astype(np.uint32)  # 32-bit PNG/TIFF: scaled by its depth like 16-bit
            try:
                gray = to_uint8(arr)
            except ValueError as e:
                raise ImageError(f"{name}: {e}") from None
            return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
        if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in img.info):
            rgba = (img.convert("LA") if mode == "La" else img).convert("RGBA")  # La: premultiplied, PIL goes via LA
            bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(bg, rgba).convert("RGB")
        elif mode == "L":
            return cv2.cvtColor(np.asarray(img), cv2.COLOR_GRAY2BGR)
        elif mode != "RGB":
            img = img.convert("RGB")
        # cvtColor, not a reversed numpy view copied: the same pixels, 10x faster on a 2 MP photo
        return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


def _open_pil(data: bytes, name: str, limit: int | None = None):
    """Encoded bytes -> a PIL image of an allowed format (:mod:`~facemotion.formats`: Pillow
    tries no other plugin, so PostScript never reaches Ghostscript), its header read only:
    _from_pil checks the size before decoding against ``limit`` (None: ``MAX_PIXELS``)."""
    from PIL import Image

    # PIL refuses at open a picture of more than twice its own limit (179 MP): where ours is
    # higher (FACEMOTION_MAX_PIXELS, serve --max-pixels), PIL's is raised to it
    top = _limit(limit)
    with _decoding(name, data[:64], limit), decoding.pil_limit_at_least(top):
        return Image.open(decoding.encoded(data, name), formats=pil_formats())


def _check_pil_format(img, name: str) -> None:
    """A caller's PIL image read from a file must be of an allowed format: decoding an EPS
    that PIL opened lazily would run Ghostscript here."""
    from PIL import ImageFile

    fmt = getattr(img, "format", None)
    if isinstance(img, ImageFile.ImageFile) and fmt not in (*pil_formats(), "MPO"):
        raise UnsupportedFormatError(f"{name}: a PIL image of format {fmt}, which facemotion does not decode "
                                     f"({shown()}); decode it yourself if you trust it and pass its pixels "
                                     "(numpy.asarray(img))")
    if (core := getattr(img, "_im", True)) is None and getattr(img, "fp", True) is None or \
            type(core).__name__ == "DeferredError":  # (Pillow's mark of a closed image)
        raise ImageError(f"{name}: closed before its pixels were read (img.close(), a with block left); pass it open")


def load_image(source, *, max_pixels: int | None = None) -> np.ndarray:
    """Path, bytes, binary stream, numpy array (gray, BGR or BGRA) or PIL image -> BGR uint8 H x W x 3.

    ``max_pixels`` (default ``MAX_PIXELS``) is checked from the file's header, before decoding:
    a larger image raises :class:`ImageTooLargeError` having cost no more than its header."""
    return load_scaled(source, max_pixels=max_pixels)[0]


def load_scaled(source, min_scale=None, *, max_pixels: int | None = None,
                name: str | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """:func:`load_image`, but a JPEG file or bytes may be decoded smaller: at 1/2, 1/4 or 1/8 of
    its size, by the decoder itself, when ``min_scale(width, height)`` (the smallest fraction of
    its full size the caller can use, 0..1) allows it. Returns the image and the picture's full
    (width, height), to map coordinates back. Other sources and formats come whole. ``name``:
    what messages call the source (default: its path, or its kind and size)."""
    if isinstance(source, str) and source[:11].lower() == "data:image/":  # a web page's picture, inline
        source, name = decoding.data_uri_bytes(source), name or f"{source[:30]}..."
    if why := decoding.misread_source(source):  # None from cv2.imread, a list, base64 without its prefix
        raise ImageError(why)
    name = name or _describe(source)
    if isinstance(source, np.ndarray):
        img = as_bgr(source, name)
        _check_pixels((img.shape[1], img.shape[0]), name, max_pixels)  # as every other kind of picture is
        return img, (img.shape[1], img.shape[0])
    if isinstance(source, (str, os.PathLike)):
        path = check_input_file(source, ImageError, "an image")
        limit = max_bytes(max_pixels)
        try:
            if (size := path.stat().st_size) > limit:
                raise ImageTooLargeError(f"{name}: a file of {size / 2**20:.0f} MiB, more than a picture within the "
                                         f"pixel limit takes ({limit / 2**20:.0f} MiB); not read")
            data = path.read_bytes()
        except OSError as e:  # permission denied, an I/O error
            raise ImageError(f"{path}: cannot read ({e.strerror or e})") from None
        return _from_pil(_open_pil(data, name, max_pixels), name, max_pixels, min_scale, data=data)
    if _is_stream(source):
        source = decoding.read_stream(source, name, max_bytes(max_pixels))
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageError(f"{name}: empty image data")
        data = bytes(source)
        return _from_pil(_open_pil(data, name, max_pixels), name, max_pixels, min_scale, data=data)
    from PIL import Image

    if isinstance(source, Image.Image):
        _check_pil_format(source, name)
        return _from_pil(source, name, max_pixels, own=False)
    raise ImageError(f"{name}: unsupported image type; pass a path, bytes, a binary stream, a numpy array or a "
                     "PIL image")


class Picture:
    """An image as read for analysis: its ``pixels`` (a large JPEG possibly decoded reduced, see
    :func:`load_scaled`), the picture's full ``size`` (width, height) and what it was read from.

    The one place that knows whether a picture was decoded reduced: :meth:`to_full` maps what was found in
    ``pixels`` to the picture's pixels, :meth:`whole` gives the whole picture to draw on (decoding it again
    only when it was reduced). Unpacks as ``pixels, size``."""

    __slots__ = ("pixels", "size", "source", "max_pixels", "_whole")

    def __init__(self, pixels: np.ndarray, size: tuple[int, int], source=None, max_pixels: int | None = None):
        self.pixels, self.size, self.source, self.max_pixels = pixels, tuple(size), source, max_pixels
        self._whole = None if self.reduced else pixels

    def __iter__(self):
        return iter((self.pixels, self.size))

    @property
    def reduced(self) -> bool:
        return self.pixels.shape[:2] != (self.size[1], self.size[0])

    def full_box(self, box):
        """A box found in ``pixels`` -> the same region in the full picture's pixels."""
        from .preprocess import scale_box

        return scale_box(box, self.pixels.shape, self.size) if self.reduced else tuple(box)

    def full_points(self, points) -> np.ndarray:
        """Points (N x 2 or N x 3: x, y[, z]) found in ``pixels`` -> the full picture's pixels
        (z scaled as x)."""
        p = np.array(points, np.float64)
        if self.reduced:
            h, w = self.pixels.shape[:2]
            p[:, 0] *= self.size[0] / w
            p[:, 1] *= self.size[1] / h
            if p.shape[1] > 2:
                p[:, 2] *= self.size[0] / w
        return p

    def to_full(self, records: list[dict]) -> list[dict]:
        """Result records found in ``pixels`` with their boxes (and landmarks) in the full
        picture's pixels."""
        if not self.reduced:
            return records
        out = []
        for r in records:
            new = {**r, "box": self.full_box(r["box"])}
            if "map_box" in r:  # explain's: a leaning face's level box, unclipped (it may pass the edge)
                m = np.round(self.full_points(np.reshape(r["map_box"], (2, 2))), 1).ravel()
                new["map_box"] = tuple(m.tolist()) if r.get("map_lean") else new["box"]
            if r.get("landmarks") is not None:
                new["landmarks"] = np.round(self.full_points(r["landmarks"]), 1).tolist()
            out.append(type(r)(new))
        return out

    def whole(self) -> np.ndarray:
        """The whole picture (decoded once more, whole, only if ``pixels`` is reduced)."""
        if self._whole is None:
            self._whole = load_image(self.source, max_pixels=self.max_pixels)
        return self._whole


def read_picture(source, min_scale=None, *, max_pixels: int | None = None) -> Picture:
    """:func:`load_scaled` as a :class:`Picture`."""
    name = _describe(source)
    if _is_stream(source):  # read once: a reduced picture's whole() decodes its source again
        source = decoding.read_stream(source, name, max_bytes(max_pixels))
    pixels, size = load_scaled(source, min_scale, max_pixels=max_pixels, name=name)
    return Picture(pixels, size, source, max_pixels)


def as_bgr(arr: np.ndarray, name: str = "<array>") -> np.ndarray:
    """A numpy image in OpenCV conventions (gray / BGR / BGRA; any numeric dtype, see
    :func:`~facemotion.preprocess.to_uint8`) -> BGR uint8."""
    import cv2

    a = np.asarray(arr)
    if a.size == 0 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
        raise ImageError(f"{name}: unsupported array shape {a.shape}; expected H x W, H x W x 3 or H x W x 4")
    try:
        a = to_uint8(a)
    except ValueError as e:
        raise ImageError(f"{name}: {e}; expected numbers (uint8, uint16, float or bool)") from None
    if a.ndim == 2:
        return cv2.cvtColor(a, cv2.COLOR_GRAY2BGR)
    if a.shape[2] == 1:
        return cv2.cvtColor(a[:, :, 0], cv2.COLOR_GRAY2BGR)
    if a.shape[2] == 4:
        alpha = a[:, :, 3:4].astype(np.float32) / 255.0
        return np.round(a[:, :, :3] * alpha + 255.0 * (1 - alpha)).astype(np.uint8)  # rounded, as Pillow blends
    return np.ascontiguousarray(a)
