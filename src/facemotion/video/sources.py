"""Frame sources: a video file, a camera, or any iterable of images -> (index, time_s, BGR frame)."""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ..errors import VideoError
from ..fileio import check_input_file, stream_address, without_password
from ..formats import document_kind, sniff
from ..images import as_bgr, load_image
from ..inputs import IMAGE_SUFFIXES, Stream
from ..orient import turned_view
from .files import _capture, _not_a_path, _unreadable, camera_index, matroska_cut, recorded_frames


@dataclass
class SourceInfo:
    name: str
    fps: float
    width: int
    height: int
    frame_count: int  # 0 when unknown (cameras, iterables)
    live: bool
    # whether the container records frame_count (MP4/MOV's sample tables do); where it does not
    # (Matroska, WebM) OpenCV estimates it from the duration and the rate, and the duration runs
    # past the video where the sound is longer (short_hamilton_clip's: 301 frames for 275)
    count_recorded: bool = True
    cut: bool = False  # it ends before its container does (a Matroska segment cut short)


STREAM_TIMEOUT_S = 10  # to connect, and for each frame
# a camera's stream that drops (its network, its restart) is opened again, until it has sent
# nothing for this long: then it has ended
STREAM_GONE_S = 30


def _pil_image(x) -> bool:
    pil = sys.modules.get("PIL.Image")  # never imported: no PIL image can have been made
    return pil is not None and isinstance(x, pil.Image)


def _stream_capture(url: str):
    ms = STREAM_TIMEOUT_S * 1000
    return cv2.VideoCapture(url, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])


class FrameSource:
    """Iterate ``(index, time_s, frame)``; ``info`` describes the stream. Use as a context manager."""

    path = None  # a file's
    turn = 0  # quarter turns clockwise a file's frames are given as read (turn_upright)
    searched_at = None  # the detector's working size its frames chose (video.scale; None: the run's)
    searched_from = None  # the time (s) the frames were first searched at it (0: from the first)

    def __init__(self, source, *, camera_size: tuple[int, int] | None = None):
        self._cap = self._iter = self._t0 = None
        self._stop = threading.Event()
        if isinstance(source, Stream) or (isinstance(source, str) and stream_address(source)):
            self._open_stream(source.url if isinstance(source, Stream) else stream_address(source))
        elif isinstance(source, (str, os.PathLike)) and (not str(source).isdigit() or Path(source).is_file()):
            self._open_file(Path(source))  # a file named "7" is that file; "7" alone, camera 7
        elif isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
            self._open_camera(camera_index(source), camera_size)
        elif isinstance(source, (bytes, bytearray, memoryview)) or callable(getattr(source, "read", None)):
            raise VideoError(_not_a_path(source))
        else:
            # one picture (an array of one frame's shape, a PIL image) is a clip of one frame: an
            # array's rows would otherwise be read as its frames
            if _pil_image(source) or (isinstance(source, np.ndarray) and (source.ndim == 2 or (
                    source.ndim == 3 and source.shape[-1] in (3, 4)))):
                source = [source]
            try:
                self._iter = iter(source)
            except TypeError:
                raise VideoError(f"{type(source).__name__}: not a video: give a video's path, a camera's "
                                 "index or stream address, or an iterable of frames") from None
            self.info = SourceInfo("<frames>", 30.0, 0, 0, 0, False)

    def _open_file(self, path: Path) -> None:
        check_input_file(path, VideoError, "a video")
        try:
            with open(path, "rb") as fh:
                head = fh.read(64)
        except OSError as e:
            raise VideoError(f"{path}: cannot read ({e.strerror or e})") from None
        if kind := document_kind(head):  # FFmpeg would not run it, but says no more than "no frames": name what it is
            raise VideoError(f"{path}: {kind}, not a video")
        # a photo, named as one (an IP camera's MJPEG file begins as a JPEG too): FFmpeg would read a
        # clip of one frame
        if path.suffix.lower() in IMAGE_SUFFIXES and (still := sniff(head)) in ("JPEG", "PNG", "BMP", "TIFF", "PPM"):
            raise VideoError(f"{path}: a {still} photo, not a video (facemotion image reads photos; rec.analyze in "
                             "Python)")
        cap = _capture(path)
        if not cap.isOpened():
            cap.release()
            why = _unreadable(path, head) or "not a readable video (unknown container or codec, or not a video file)"
            raise VideoError(f"{path}: {why}")
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise VideoError(f"{path}: {_unreadable(path, head) or 'no decodable frames (corrupt video or unsupported codec)'}")
        fps = cap.get(cv2.CAP_PROP_FPS)
        if not fps or fps != fps or fps <= 0 or fps > 1000:
            fps = 30.0  # some containers carry no rate; 30 is the common default
        self._first = self.first_frame = first
        self._cap, self.path = cap, path
        self._last_t = -1.0
        self._first_t = self._time(cap, 0, fps)
        count = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        recorded = count > 0 and recorded_frames(path) > 0
        self.info = SourceInfo(str(path), float(fps), first.shape[1], first.shape[0], count, False,
                               count_recorded=recorded, cut=not recorded and matroska_cut(path))
        self.frames_read = 1  # the first frame, read above

    # what a file gave: frames decoded and frames that could not be (a damaged or cut file)
    frames_read = 0
    decode_errors = 0
    frames_lost = 0  # of those failures, the frames they cost (the frames' times say; else one each)
    last_time = 0.0  # the time of the last frame given

    @property
    def missing_frames(self) -> int:
        """Frames the container records that were not decoded; where it records no count (its
        duration, and so OpenCV's estimate, can run past the video's end), the frames that failed
        to decode with a frame after them, and where the file ends before its container does (a
        Matroska download broken off), those its duration held beyond the frames read."""
        if self.info.count_recorded:
            return max(0, self.info.frame_count - self.frames_read) if self.info.frame_count else 0
        if self.info.cut:  # cut short: what its duration says it held (OpenCV's estimate), at least one
            return max(1, self.info.frame_count - self.frames_read - self.frames_lost) + self.frames_lost
        return self.frames_lost

    def turn_upright(self, k: int) -> None:
        """Give a file's frames turned ``k`` quarters clockwise (:mod:`facemotion.video.upright`)."""
        self.turn = k % 4
        if k % 2:
            self.info.width, self.info.height = self.info.height, self.info.width

    def _open_camera(self, index: int, size) -> None:
        cap = cv2.VideoCapture(index)
        if size:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        ok, first = (cap.read() if cap.isOpened() else (False, None))
        if not ok or first is None:
            cap.release()
            raise VideoError(f"camera {index}: cannot be opened (no such device, in use by another program, "
                             "or no permission); try another camera index (--camera N)")
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        self._first = self.first_frame = first
        self._cap = cap
        self.info = SourceInfo(f"camera {index}", float(fps), first.shape[1], first.shape[0], 0, True)

    def _open_stream(self, url: str) -> None:
        shown, began = without_password(url), time.monotonic()
        cap = _stream_capture(url)
        ok, first = (cap.read() if cap.isOpened() else (False, None))
        if not ok or first is None:
            cap.release()
            if time.monotonic() - began < STREAM_TIMEOUT_S / 2:  # an answer, not a silence
                raise VideoError(f"{shown}: the stream could not be opened (the connection was refused, the address "
                                 "has no stream, or it sends no video FFmpeg reads)")
            raise VideoError(f"{shown}: no video from this stream within {STREAM_TIMEOUT_S} s (nothing answers there, "
                             "or it sends no video FFmpeg reads)")
        fps = cap.get(cv2.CAP_PROP_FPS)
        self._first, self.first_frame, self._cap, self._url = first, first, cap, url
        self.info = SourceInfo(shown, float(fps) if 0 < fps <= 1000 else 30.0, first.shape[1], first.shape[0], 0, True)
        self._latest = threading.Condition()

    drops = 0  # times a stream stopped sending and came back
    gone_after = None  # seconds a stream that stopped for good was waited for

    def _grab_newest(self, box: list) -> None:
        """A stream's frames as they come, only the newest kept (``box``: [frame, fresh]): a
        slower analysis skips frames rather than falling behind the stream, as with a camera.
        A stream that drops is opened again, every second, until STREAM_GONE_S pass without a
        frame; however the reading ends, the reader is told (``None``)."""
        def hand(frame) -> None:
            with self._latest:
                box[:] = [frame, True]
                self._latest.notify()

        # silence is timed from the last frame: a stalled connection's read waits STREAM_TIMEOUT_S
        # before it fails
        silent_since, last = None, time.monotonic()
        try:
            while not self._stop.is_set():
                ok, frame = self._cap.read()
                if ok:
                    if silent_since is not None:  # back after a drop
                        silent_since, self.drops = None, self.drops + 1
                    last = time.monotonic()
                    hand(frame)
                    continue
                silent_since = silent_since or last
                if self._stop.is_set():  # the consumer stopped it (Ctrl-C) while the read waited
                    return
                if time.monotonic() - silent_since >= STREAM_GONE_S:
                    self.gone_after = time.monotonic() - silent_since
                    return
                if self._stop.wait(1.0):
                    return
                self._cap.release()
                self._cap = _stream_capture(self._url)
        finally:
            hand(None)
            if self._stop.is_set():  # the consumer is gone (close() may not have waited): the capture is ours
                cap, self._cap = self._cap, None
                if cap is not None:
                    cap.release()

    def _stream_frames(self) -> Iterator[tuple[int, float, np.ndarray]]:
        box, i, frame = [None, False], 0, self._first
        self._reader = threading.Thread(target=self._grab_newest, args=(box,), daemon=True)
        self._reader.start()
        while frame is not None:
            yield i, time.perf_counter() - self._t0, frame
            i += 1
            with self._latest:
                self._latest.wait_for(lambda: box[1])
                frame, box[1] = box[0], False

    def __iter__(self) -> Iterator[tuple[int, float, np.ndarray]]:
        if self._iter is not None:
            for i, frame in enumerate(self._iter):
                if frame is None or isinstance(frame, (str, bytes, os.PathLike)):
                    raise VideoError(f"frame {i}: {type(frame).__name__}, not a frame: an iterable of frames holds "
                                     "pixel arrays (a photo's: rec.read(path).pixels); a video is given by its path")
                # a PIL image is RGB: read as every picture is (channels, alpha on white, EXIF)
                img = load_image(frame) if _pil_image(frame) else as_bgr(np.asarray(frame), f"frame {i}")
                if i == 0:
                    self.info.width, self.info.height = img.shape[1], img.shape[0]
                self.last_time = i / self.info.fps
                yield i, self.last_time, img
            return
        self._t0 = time.perf_counter()
        if getattr(self, "_latest", None) is not None:
            yield from self._stream_frames()
            return
        if self.info.live:  # a camera: read on demand, so frames are as fresh as possible
            cap, i, frame = self._cap, 0, self._first
            while frame is not None:
                yield i, time.perf_counter() - self._t0, frame
                i += 1
                ok, frame = cap.read()
                frame = frame if ok else None
            return
        # a file: a reader thread decodes ahead (OpenCV releases the GIL while decoding), so
        # decoding overlaps detection on another core
        yield 0, self._first_t, turned_view(self._first, self.turn) if self.turn else self._first
        self._stop = threading.Event()
        q: queue.Queue = queue.Queue(maxsize=8)
        reader = self._reader = threading.Thread(target=self._read_ahead, args=(q,), daemon=True)
        self._queue = q
        reader.start()
        try:
            while True:
                item = q.get()
                if item is None:
                    break
                i, t, frame = item  # frames that could not be decoded leave gaps in the index
                self.last_time = t  # where a sampled run's last frame stops being shown
                yield i, t, frame
        finally:
            self._join_reader()

    def _join_reader(self, limit: float | None = None) -> bool:
        """Stop the reader thread and wait for it (at most ``limit`` s); whether it has ended."""
        self._stop.set()
        reader, began = getattr(self, "_reader", None), time.monotonic()
        while reader is not None and reader.is_alive():  # unblock a reader waiting on a full queue
            if limit is not None and time.monotonic() - began > limit:
                return False
            if getattr(self, "_queue", None) is not None:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
            reader.join(timeout=0.05)
        return True

    # A damaged stretch of a file makes OpenCV's read() fail frame after frame and then decode
    # again; give up only after this many failures in a row (or at the container's frame count).
    MAX_BAD_RUN = 25

    def _read_ahead(self, q) -> None:
        cap, i, bad_run = self._cap, 1, 0
        total, recorded = self.info.frame_count, self.info.count_recorded
        last = (0, self._first_t)  # the last frame read: its index and time
        try:
            while not self._stop.is_set():
                ok, frame = cap.read()
                if ok:
                    t, lost = self._time(cap, i, self.info.fps), bad_run
                    if bad_run and self._stamped:
                        # failed reads need not have cost a frame each (a decoder that stumbles
                        # at a cut, then gives the frames it held): the timestamps say how many
                        # were lost, and the index follows them, as the frames' times do
                        lost = min(bad_run, max(0, round((t - last[1]) * self.info.fps) - 1))
                        i = last[0] + 1 + lost
                    self._put(q, (i, t, turned_view(frame, self.turn) if self.turn else frame))
                    last = (i, t)
                    self.frames_read += 1
                    self.decode_errors += bad_run  # failures a frame followed: damage, not the end
                    self.frames_lost += lost
                    bad_run = 0
                elif bad_run < self.MAX_BAD_RUN and (i < total or not recorded):
                    bad_run += 1  # where the container records no count, only a frame after says
                else:
                    break
                i += 1
        finally:
            self._put(q, None)  # end of stream

    def _time(self, cap, i: int, fps: float) -> float:
        """The frame just read's time in the video, s: its timestamp (from the video's start),
        which a variable frame rate, as phones record, takes away from ``i / fps``; that where
        the container gives none, or one that does not move forward."""
        ms = cap.get(cv2.CAP_PROP_POS_MSEC)
        self._stamped = ms == ms and ms >= 0 and ms / 1000 > self._last_t  # the container's, not i / fps
        t = ms / 1000 if self._stamped else i / fps
        t = max(t, self._last_t + 1e-6)
        self._last_t = t
        return t

    def _put(self, q, item) -> None:
        """Block until there is room, but give up as soon as the consumer has stopped."""
        while not self._stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        # never release the capture under a thread that is reading it; a stream's reader may wait
        # up to STREAM_TIMEOUT_S on a stalled connection: it is left to release its own capture,
        # so that Ctrl-C is not held up that long
        if not self._join_reader(1.0 if getattr(self, "_latest", None) is not None else None):
            return
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
