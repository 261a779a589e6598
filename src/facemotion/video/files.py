"""Video files as OpenCV and PyAV read them: one opened under any name, the frame count its
container records, and what a file (or an object) that is no video is, in one line."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import VideoError
from ..formats import refused_kind


def _unreadable(path: Path, head: bytes) -> str | None:
    """What a file FFmpeg reads no frame of is, where that can be said: another kind of file (a
    web page, a zip), or sound alone."""
    kind = refused_kind(head, "video")
    if kind and not kind.startswith("a video"):
        return f"{kind}, not a video"
    if head[4:8] == b"ftyp" and (why := _mp4_cut(path)):
        return why
    if head[:4] == b"\x1a\x45\xdf\xa3" and matroska_cut(path):  # EBML: Matroska or WebM
        return "a Matroska/WebM file cut short before its first whole frame, as a download broken off leaves one"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":  # FFmpeg reads no animated WebP
        return ("a WebP picture (an animated one is not read as a video: convert it to MP4 or GIF; "
                "facemotion image reads its first frame)")
    try:
        import av

        with av.open(str(path)) as c:
            if not c.streams.video:
                return "sound only, no video stream" if c.streams.audio else "no video stream"
    except Exception:  # noqa: BLE001 - PyAV cannot read it either: the caller's words stand
        return None
    return None


def _mp4_cut(path: Path) -> str | None:
    """Why an MP4 or MOV (its top-level boxes walked) cannot be read where it is cut short: a box
    that runs past the file's end, or no index (``moov``: written last unless ``faststart``)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            at, boxes, walked = 0, set(), 0
            while at + 8 <= size and walked < 1000:  # a real file's top level holds a handful
                walked += 1
                fh.seek(at)
                head = fh.read(16)
                length, kind = int.from_bytes(head[:4], "big"), head[4:8]
                if length == 1 and len(head) == 16:  # a 64-bit size follows
                    length = int.from_bytes(head[8:16], "big")
                elif length == 0:  # to the end of the file
                    length = size - at
                if length < 8:
                    return None  # not boxes after all: FFmpeg's word stands
                boxes.add(kind)
                at += length
    except OSError:
        return None
    if b"moov" not in boxes:
        return "an MP4 without its index (moov): cut short, as a download broken off leaves one"
    return None


def _capture(path: Path):
    """``cv2.VideoCapture`` of a file, also one whose name is not UTF-8 (OpenCV crashes the
    process on such a name: it is opened through a link with a plain name, removed once open);
    an animated GIF87a, of which FFmpeg reads the first frame alone, through Pillow. FFmpeg's
    reader alone: where it cannot open a file, OpenCV's own AVI reader, tried next, prints what
    it cannot parse of a damaged one to the process's stderr ("Unexpected element ...")."""
    if (gif := _PillowGif.open(path)) is not None:
        return gif
    name = str(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="facemotion-") as tmp:
            link = os.path.join(tmp, "video" + "".join(c for c in path.suffix if c.isascii()))
            os.symlink(os.path.abspath(path), link)
            return cv2.VideoCapture(link, cv2.CAP_FFMPEG)  # FFmpeg holds the file open: the link may go
    return cv2.VideoCapture(name, cv2.CAP_FFMPEG)


class _PillowGif:
    """The frames of an animated GIF87a (the first GIF, of several pictures but no delays: Pillow
    writes one where none is given) as ``cv2.VideoCapture`` gives a video's. FFmpeg reads its
    first picture alone, so the rest would be counted as frames that could not be decoded.
    Browsers show such a GIF's pictures in turn; each is given FFmpeg's delay for a GIF that
    sets none, 0.1 s."""

    DELAY_MS = 100

    def __init__(self, im):
        self._im, self._at, self._ms = im, -1, 0.0
        self._count = int(getattr(im, "n_frames", 1))

    @classmethod
    def open(cls, path: Path):
        """Its reader where ``path`` is an animated GIF87a, else None (OpenCV reads it)."""
        try:
            with open(path, "rb") as fh:
                if fh.read(6) != b"GIF87a":
                    return None
            from PIL import Image

            im = Image.open(path)
        except (OSError, ValueError):
            return None  # OpenCV's reading says what is wrong with it
        if not getattr(im, "is_animated", False):
            im.close()
            return None
        return cls(im)

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's names, which the readers call
        return self._im is not None

    def grab(self) -> bool:
        if self._im is None or self._at + 1 >= self._count:
            return False
        try:
            self._im.seek(self._at + 1)
        except (OSError, EOFError, ValueError):
            return False
        self._at += 1
        self._ms = self._at * self.DELAY_MS
        return True

    def retrieve(self):
        if self._im is None or self._at < 0:
            return False, None
        rgb = np.asarray(self._im.convert("RGB"))
        return True, np.ascontiguousarray(rgb[:, :, ::-1])

    def read(self):
        return self.retrieve() if self.grab() else (False, None)

    def get(self, prop: int) -> float:
        return {cv2.CAP_PROP_FPS: 1000 / self.DELAY_MS, cv2.CAP_PROP_FRAME_COUNT: float(self._count),
                cv2.CAP_PROP_POS_MSEC: self._ms}.get(prop, 0.0)

    def release(self) -> None:
        if self._im is not None:
            self._im.close()
            self._im = None


def recorded_frames(path: Path) -> int:
    """The video stream's frame count as its container records it (0 where it records none, or
    where FFmpeg through PyAV cannot say): an opened file, so any name works."""
    try:
        import av

        with open(path, "rb") as fh, av.open(fh) as container:
            streams = container.streams.video
            return int(streams[0].frames or 0) if streams else 0
    except Exception:  # noqa: BLE001 - a probe: OpenCV, which reads the frames, has the last word
        return 0


MAX_CAMERA = 255  # the highest camera index (webcam --camera's range)


def camera_index(source) -> int:
    """A camera's index, 0 to :data:`MAX_CAMERA` (OpenCV crashes the process on -1 on some
    systems; ``True`` is an int to Python, not a camera to a user)."""
    if isinstance(source, bool) or not 0 <= int(source) <= MAX_CAMERA:
        raise VideoError(f"camera {source!r}: a camera's index is a whole number, 0 to {MAX_CAMERA}")
    return int(source)


def _vint(data: bytes, at: int, keep_marker: bool) -> tuple[int | None, int]:
    """An EBML variable-length integer at ``at`` -> (its value, or None where all its bits are set:
    an unknown size; the offset after it). (None, -1) where the bytes hold none."""
    if at >= len(data) or data[at] == 0:
        return None, -1
    n = 9 - data[at].bit_length()  # the leading zeros say how many bytes follow
    if at + n > len(data):
        return None, -1
    value = int.from_bytes(data[at:at + n], "big")
    if not keep_marker:
        value &= (1 << (7 * n)) - 1
        if value == (1 << (7 * n)) - 1:
            return None, at + n
    return value, at + n


def matroska_cut(path: Path) -> bool:
    """Whether a Matroska or WebM file ends before its Segment does (its size written at the start,
    as a download broken off leaves it): such a file records no frame count, so the frames it
    lacks cannot be counted, but that it lacks some can be said. False for any other file, and
    for a segment of unknown size (a live recording)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
        size = os.path.getsize(path)
    except OSError:
        return False
    ebml, at = _vint(head, 0, True)
    if ebml != 0x1A45DFA3:
        return False
    length, at = _vint(head, at, False)
    if length is None or at < 0:
        return False
    at += length  # the EBML header's body
    segment, at = _vint(head, at, True)
    if segment != 0x18538067:
        return False
    length, at = _vint(head, at, False)
    return length is not None and at >= 0 and at + length > size


def _not_a_path(source) -> str:
    """The one line that refuses a video given as bytes or an open stream: OpenCV reads videos from
    files (and cameras); what to pass instead."""
    name = getattr(source, "name", None)
    if isinstance(name, (str, os.PathLike)) and os.path.isfile(name):
        return f"{name}: a video is read from its path, not an open file; pass the path ({str(name)!r})"
    what = "bytes" if isinstance(source, (bytes, bytearray, memoryview)) else f"a {type(source).__name__} stream"
    return (f"<{type(source).__name__}>: a video is read from a file path, a camera index or an iterable of frames, "
            f"not {what}; write it to a file first and pass the path")
