"""What reading one picture may cost, bounded before and while it is decoded.

:mod:`facemotion.images` reads every picture through here: the bytes a file or a stream may hold
(:func:`max_bytes`; a stream is read in chunks against it, :func:`read_stream`), the decoding
work its pixel count does not bound, read from the file's structure before a pixel is decoded
(:func:`check_work`: a JPEG's scans, a TIFF's pages, the limits of :mod:`facemotion.formats`),
and, for a caller that must answer in time (the service), a wall-clock limit on the decode
(:func:`decode_time_limit`). benchmarks/studies/decode_costs.py measures what each bounds.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import os
import sys
import time

from .errors import DecodeTimeoutError, ImageError, ImageTooLargeError, UnsupportedFormatError, UsageError
from .formats import MAX_JPEG_SCANS, MAX_TIFF_PAGES, could_open, jpeg_scans, refusal, refused_kind, tiff_pages
from .threads import ForkSafeLock

_PIL_LOCK = ForkSafeLock()


def pixel_limit() -> int:
    """The most pixels a picture may have: ``FACEMOTION_MAX_PIXELS``, 100 MP by default."""
    raw = os.environ.get("FACEMOTION_MAX_PIXELS", "100000000")
    try:
        number = float(raw)  # "1e8" too
        if not number.is_integer():  # "1.9", "nan", "inf"
            raise ValueError
        value = int(number)
    except (ValueError, OverflowError):
        raise UsageError(f"FACEMOTION_MAX_PIXELS: expected a whole number of pixels, got {raw!r}") from None
    if value < 1:
        raise UsageError(f"FACEMOTION_MAX_PIXELS: must be >= 1, got {raw!r}")
    return value


def pixel_limit_or_none() -> int | None:
    """:func:`pixel_limit`, or None where the setting is no number (so that an import does not fail)."""
    try:
        return pixel_limit()
    except UsageError:
        return None


def too_large(name: str, pixels: int, top: int, default: bool, size=None) -> ImageTooLargeError:
    """The one line for a picture of ``pixels`` (``size``: its width and height, where known) over
    ``top``; ``default``: the limit is the environment's, which the line says how to raise."""
    # the limit with the decimals it needs (1.5 MP; a limit below 1 MP or of odd pixels, in pixels),
    # the picture with as many as it takes not to read as the limit (40.3 MP, not 40), else in pixels
    least = next((d for d in range(3) if round(top / 1e6, d) * 1e6 == top), None) if top >= 1e6 else None

    def mp(n: int) -> str:
        if n < 1e6 or least is None:
            return f"{n:,} pixels"
        digits = next((d for d in range(least, 3) if f"{n / 1e6:.{d}f}" != f"{top / 1e6:.{d}f}" or n == top), None)
        return f"{n:,} pixels" if digits is None else f"{n / 1e6:.{digits}f} MP"

    return ImageTooLargeError(f"{name}: image is {f'{size[0]}x{size[1]} ({mp(pixels)})' if size else mp(pixels)}, "
                              f"over the {mp(top)} limit (a decompression-bomb guard"
                              f"{'; raise FACEMOTION_MAX_PIXELS to allow it' if default else ''})")


_PIL_NEEDS: list = []  # the pixels of every picture opened or decoded now, on every thread
_PIL_SAVED: list = []  # Pillow's own limit while any is


def _pil_limit_in_child() -> None:
    """A forked child: the decodes of the parent's other threads are not its own; Pillow's limit
    is put back as the host set it."""
    if _PIL_NEEDS and _PIL_SAVED and "PIL.Image" in sys.modules:
        sys.modules["PIL.Image"].MAX_IMAGE_PIXELS = _PIL_SAVED[0]
    _PIL_NEEDS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_pil_limit_in_child)


@contextlib.contextmanager
def pil_limit_at_least(pixels: int):
    """Pillow's pixel limit (the process's, a host application's guard for its own pictures)
    raised to ``pixels`` while facemotion opens or decodes a picture within its own limit, then
    put back: Pillow warns above its limit (89 MP) and refuses at twice it, facemotion allows
    100 MP (``FACEMOTION_MAX_PIXELS``, ``serve --max-pixels``) and has checked the picture."""
    from PIL import Image

    with _PIL_LOCK:
        if not _PIL_NEEDS:
            _PIL_SAVED[:] = [Image.MAX_IMAGE_PIXELS]
        _PIL_NEEDS.append(pixels)
        if _PIL_SAVED[0] is not None:
            Image.MAX_IMAGE_PIXELS = max([_PIL_SAVED[0], *_PIL_NEEDS])
    try:
        yield
    finally:
        with _PIL_LOCK:
            _PIL_NEEDS.remove(pixels)
            if _PIL_SAVED[0] is not None:
                Image.MAX_IMAGE_PIXELS = max([_PIL_SAVED[0], *_PIL_NEEDS])


def max_bytes(max_pixels: int) -> int:
    """The most bytes an image file or stream may hold: what a picture of ``max_pixels`` takes
    uncompressed at 16 bits a channel with alpha (8 bytes a pixel), and 16 MiB of metadata beyond
    (816 MiB at 100 MP). A larger file is refused from its size, unread; a stream is read in
    chunks up to it."""
    return 8 * max_pixels + 16 * 2**20


# -- a wall-clock limit on decoding, for callers that must answer in time (the service) -----------

_DEADLINE: contextvars.ContextVar = contextvars.ContextVar("facemotion_decode_deadline", default=None)


@contextlib.contextmanager
def decode_time_limit(seconds: float | None):
    """Within this block (on this thread), a decode still running ``seconds`` after the block began
    stops with :class:`~facemotion.errors.DecodeTimeoutError`. Decoders run in C and cannot be
    stopped midway: the time is checked each time one asks for more of the file (every 64 KiB) and
    between a read's steps, so a decode overruns by at most one step, which the limits of
    :mod:`facemotion.formats` keep short. None: no limit."""
    token = _DEADLINE.set(None if seconds is None else (time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def in_time(name: str) -> None:
    """A :class:`~facemotion.errors.DecodeTimeoutError` naming ``name`` once the block's time is up."""
    limit = _DEADLINE.get()
    if limit is not None and time.monotonic() > limit[0]:
        raise DecodeTimeoutError(f"{name}: decoding took longer than the {limit[1]:g} s allowed; stopped")


class _TimedBytes(io.BytesIO):
    """Encoded bytes as Pillow reads them, the time limit checked at each read (Pillow feeds its
    decoders 64 KiB at a time)."""

    def __init__(self, data: bytes, name: str):
        super().__init__(data)
        self._name = name

    def read(self, size=-1):
        in_time(self._name)
        return super().read(size)


def encoded(data: bytes, name: str) -> io.BytesIO:
    """``data`` as the file Pillow opens: the time limit checked at each read, within one."""
    return io.BytesIO(data) if _DEADLINE.get() is None else _TimedBytes(data, name)


# -- streams -------------------------------------------------------------------------------------

STREAM_CHUNK = 2**20  # bytes a stream is read in


def read_stream(source, name: str, limit: int) -> bytes:
    """A binary stream (an open file, ``io.BytesIO``, an upload) -> its remaining bytes, read in
    chunks of ``STREAM_CHUNK`` up to ``limit`` (:func:`max_bytes`). Its first bytes are checked as
    soon as they arrive: a stream that is no image (``/dev/zero``) is refused then, not read to
    its end. A reader's own failure, whatever its type, is an ImageError naming ``name``."""
    parts: list[bytes] = []
    size, checked = 0, False
    while True:
        try:
            part = source.read(min(STREAM_CHUNK, limit + 1 - size))
        except Exception as e:  # noqa: BLE001  (the reader's own failure, whatever its type: this input's)
            if isinstance(e, UnicodeDecodeError):  # open(path) rather than open(path, "rb")
                raise ImageError(f"{name}: the stream is open as text; open the file in binary mode ('rb')") from None
            why = (str(e).splitlines() or [""])[0][:200]
            raise ImageError(f"{name}: cannot read the stream ({type(e).__name__}{': ' * bool(why)}{why})") from None
        if part is None:  # a non-blocking stream with nothing ready
            raise ImageError(f"{name}: the stream has no data ready (non-blocking?); read it and pass the bytes")
        if not isinstance(part, (bytes, bytearray, memoryview)):
            raise ImageError(f"{name}: the stream gave {type(part).__name__}, not bytes; open the file in binary "
                             "mode ('rb')")
        if not part:
            break
        parts.append(bytes(part))
        size += len(part)
        if size > limit:
            raise ImageTooLargeError(f"{name}: the stream holds more than {limit / 2**20:.0f} MiB, more than a picture "
                                     "within the pixel limit takes; not read further")
        if not checked and size >= 16:
            checked = True
            head = b"".join(parts)[:64]
            if not could_open(head):
                raise (UnsupportedFormatError if refused_kind(head) else ImageError)(refusal(name, head))
    if not size:
        raise ImageError(f"{name}: the stream is empty (already read to its end?)")
    return b"".join(parts)


# -- the work a picture's structure says its decode will take -------------------------------------

def check_work(img, name: str, data: bytes | None) -> int:
    """Refuse, before decoding, a picture whose structure means more work than any real one of its
    size (the limits of :mod:`facemotion.formats`): a JPEG of more than ``MAX_JPEG_SCANS`` scans
    (never handed to a decoder, so never decoded twice either), a TIFF of more pages than are
    worth counting. ``img``: the picture as Pillow opened it, ``data`` its bytes (None: read from a
    caller's lazily opened image). Returns a JPEG's scans (1 for other pictures)."""
    fmt = img.format
    if fmt not in ("JPEG", "MPO", "TIFF"):
        return 1
    if data is None:
        data = _unread_bytes(img)
    if fmt == "TIFF":
        _quiet_libtiff()
        if data is not None and tiff_pages(data) > MAX_TIFF_PAGES:
            raise ImageError(f"{name}: holds more than {MAX_TIFF_PAGES} pages; facemotion reads one picture per "
                             "file (save each page as a file of its own)")
        return 1
    scans = 1 if data is None else jpeg_scans(data)
    if scans > MAX_JPEG_SCANS:
        raise ImageTooLargeError(f"{name}: a JPEG of more than {MAX_JPEG_SCANS} scans, each a pass over the whole "
                                 "picture (encoders write at most a few dozen); refused before decoding")
    return scans


def _unread_bytes(img) -> bytes | None:
    """The encoded bytes of a caller's PIL image not decoded yet (opened lazily), or None."""
    fp = getattr(img, "fp", None)
    if fp is None or not getattr(img, "tile", None):
        return None
    try:
        at = fp.tell()
        fp.seek(0)
        data = fp.read()
        fp.seek(at)
    except Exception:  # noqa: BLE001  (a stream that cannot seek: its decoder has the last word)
        return None
    return data if isinstance(data, bytes) else None


_libtiff_quiet: list = []


def _quiet_libtiff() -> None:
    """libtiff prints its warnings and errors on stderr ("LZWDecode: Using code not yet in table")
    where Pillow decodes a damaged TIFF, beside the one line Pillow's error becomes in
    :mod:`facemotion.images`. Its handlers are cleared, once, in the libtiff copies this process
    has loaded (found in /proc/self/maps, or Pillow's own on macOS); where none is found (Windows:
    linked into Pillow) nothing changes."""
    if _libtiff_quiet:
        return
    _libtiff_quiet.append(True)
    import ctypes
    import glob

    from PIL import Image

    paths: set[str] = set()
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "libtiff" in line.rsplit("/", 1)[-1] and "/" in line}
    except OSError:
        paths = set(glob.glob(os.path.join(os.path.dirname(Image.__file__), ".dylibs", "libtiff*.dylib")))
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            lib.TIFFSetWarningHandler(None)
            lib.TIFFSetErrorHandler(None)
        except (OSError, AttributeError):
            pass


def misread_source(source) -> str | None:
    """What a source handed in for one picture is instead, in words that say what to do, or None:
    the None ``cv2.imread`` gives for a file it cannot read, several pictures at once, base64
    without its data URI's prefix (it would be read as a file's name)."""
    if source is None:
        return "None, not an image (cv2.imread gives None for a file it cannot read: check its path)"
    if isinstance(source, (list, tuple)):
        return (f"a {type(source).__name__} of {len(source)}: one image a call; for many, call once per image "
                "(a list comprehension), or facemotion.batch.run_batch(paths, 'results.csv') for a table")
    shape = getattr(source, "shape", ())
    if len(shape) == 4 and shape[3] in (1, 3, 4) and min(shape[1:3]) > 4:  # N x H x W x C: pictures stacked
        if shape[0] == 1:
            return f"an array of shape {shape}: one image in a stack of one; pass arr[0]"
        return (f"an array of shape {shape}: a stack of {shape[0]} images, one image a call; call once per image "
                "(rec.classify_faces takes a stack of face crops)")
    if isinstance(source, str) and len(source) > 512 and _base64_picture(source):
        try:
            os.stat(source)  # a long name that reads so may still be a file's
            return None
        except (OSError, ValueError):
            return (f"{source[:20]}...({len(source)} characters): base64 data, not a path; give it as a data URI "
                    "(data:image/jpeg;base64,...)")
    return None


def _base64_picture(text: str) -> bool:
    """Whether ``text`` begins as base64 (standard or URL-safe) of a picture: its first bytes a
    JPEG's, PNG's, GIF's, WebP's, BMP's or TIFF's signature."""
    import base64
    import binascii

    head = text[:32].strip().replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(head[:len(head) // 4 * 4], validate=True)
    except (binascii.Error, ValueError):
        return False
    return raw.startswith((b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"RIFF", b"BM", b"II*\x00", b"MM\x00*"))


def data_uri_bytes(uri: str, error: type[Exception] = ImageError) -> bytes:
    """A ``data:image/...;base64,`` URI's bytes (a web page's or an API's picture; its base64 may
    be wrapped over lines), or ``error`` naming the URI's start."""
    import base64
    import binascii

    head, _, data = uri.partition(",")
    try:
        if not head.lower().endswith(";base64"):
            raise ValueError
        raw = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        raise error(f"{uri[:40]}...: a data URI without base64 image data") from None
    if not raw:
        raise error(f"{uri[:40]}: a data URI with no image data")
    return raw
