"""The annotated MP4: H.264 through PyAV (what browsers play), else OpenCV's MPEG-4 Part 2,
written under a temporary name and renamed when complete; optionally encoded on a thread of
its own, beside the analysis (PyAV's encoder releases the GIL), each frame at its time in the
source and with the source's sound (:mod:`.soundtrack`)."""

from __future__ import annotations

import os
import queue
import threading
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import VideoError
from ..fileio import PendingFile


class H264Writer:
    """H.264 in MP4 through PyAV (FFmpeg's libx264 inside the ``av`` wheel): what browsers play in
    a ``<video>``. ``yuv420p`` needs even sides, so an odd last row or column is dropped (a side
    of one pixel is repeated to two)."""

    codec = "h264"
    # as fast as OpenCV's mp4v and as large (benchmarks/studies/video_writer.py); slower presets halve
    # the file but cost 2-4x the encoding time, on every frame of a run
    preset = "ultrafast"

    def __init__(self, path: Path, fps: float, size: tuple[int, int]):
        import av

        self.size = (max(2, size[0] - size[0] % 2), max(2, size[1] - size[1] % 2))
        rate = Fraction(fps).limit_denominator(1001)
        # faststart: the index goes first, so a browser starts playing before the whole file arrives
        self.container = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
        try:
            self.stream = self.container.add_stream("libx264", rate=rate)
            self.stream.width, self.stream.height = self.size
            self.stream.pix_fmt = "yuv420p"
            # frames carry their time in the source (a phone's variable rate kept, in step with
            # its sound): a clock of 1/90,000 s, MPEG's, holds any rate's times
            self.stream.codec_context.time_base = Fraction(1, 90000)
            self.stream.options = {"crf": "23", "preset": self.preset}
        except Exception:
            self.container.close()
            raise
        self.frames, self.rate, self.last_pts = 0, rate, -1
        self._av = av

    def write(self, frame: np.ndarray, t: float | None = None) -> None:
        """One frame, shown from ``t`` s (None: the next frame at the stream's rate)."""
        w, h = self.size
        frame = frame[:h, :w]
        if frame.shape[:2] != (h, w):  # a side of one pixel
            frame = cv2.copyMakeBorder(frame, 0, h - frame.shape[0], 0, w - frame.shape[1], cv2.BORDER_REPLICATE)
        f = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="bgr24")
        pts = round((self.frames / self.rate if t is None else t) * 90000)
        f.pts = self.last_pts = max(pts, self.last_pts + 1)  # the encoder takes no step back
        self.frames += 1
        self.container.mux(self.stream.encode(f))

    def release(self, flush: bool = True) -> None:
        """Finish the file; ``flush=False`` after a failed write: muxing into a container whose
        write failed crashes FFmpeg, so the frames the encoder holds are dropped."""
        try:
            if flush:
                self.container.mux(self.stream.encode(None))  # flush the frames the encoder still holds
        finally:
            self.container.close()


class OpenCVWriter:
    """MPEG-4 Part 2 (``mp4v``) through OpenCV: in every OpenCV wheel, plays in VLC and ffmpeg
    but not inline in browsers; the fallback where H.264 is not available."""

    codec = "mp4v"

    def __init__(self, path: Path, fps: float, size: tuple[int, int]):
        self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*self.codec), fps, size)
        if not self.writer.isOpened():
            self.writer.release()
            raise OSError("OpenCV has no mp4v encoder")
        self.fps, self.frames, self.last = fps, 0, None

    def write(self, frame: np.ndarray, t: float | None = None) -> None:
        """One frame at the stream's fixed rate (OpenCV's writer takes no times): a frame due
        later than the next slot (a sampled clip's) has the one before repeated up to its time."""
        if t is not None and self.last is not None:
            for _ in range(min(int(round(t * self.fps)) - self.frames, 10_000)):
                self.writer.write(self.last)
                self.frames += 1
        self.writer.write(frame)
        self.frames += 1
        self.last = frame

    def release(self, flush: bool = True) -> None:
        self.writer.release()


class SafeVideoWriter:
    """MP4 writer that is released on every exit path, so the file stays playable: H.264 where
    PyAV can encode it, else OpenCV's MPEG-4 Part 2 (``codec`` says which).

    Writes to a hidden temporary name and renames on :meth:`close`; a run that produced no
    frame leaves no file, and :meth:`abort` (a failed run) leaves none either.

    ``threaded``: frames are encoded on a thread of their own, beside the caller's analysis of
    the next ones (PyAV's encoder and OpenCV's writer release the GIL); at most ``queue``
    frames wait, so a slow encoder slows the caller instead of filling memory. An encoder
    error is raised by the next :meth:`write` or by :meth:`close`.
    """

    def __init__(self, path: Path, fps: float, size: tuple[int, int], codecs=(H264Writer, OpenCVWriter),
                 *, threaded: bool = False, queue_size: int = 8, sound_from: Path | None = None):
        self.path, self.size, self.sound_from = Path(path), size, sound_from
        self.sound: str | None = None  # what became of the source's sound (close says)
        self._file = PendingFile(self.path)
        self.tmp = self._file.tmp
        self.frames = 0
        problems = []
        for kind in codecs:
            try:
                self.writer = kind(self.tmp, fps, size)
                self.codec = kind.codec
                break
            except Exception as e:  # ImportError (no PyAV), or an FFmpeg build without the encoder
                problems.append(f"{kind.codec}: {e}")
                self._file.discard()
        else:
            raise VideoError(f"{self.path}: no MP4 encoder available ({'; '.join(problems)})")
        self._error: BaseException | None = None
        self._queue = self._thread = None
        if threaded:
            self._queue = queue.Queue(queue_size)
            self._thread = threading.Thread(target=self._encode, name="facemotion-mp4", daemon=True)
            self._thread.start()

    def _encode(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:  # after a failure, frames are drained unencoded
                try:
                    self.writer.write(*item)
                except BaseException as e:  # noqa: BLE001  (handed to the caller's thread)
                    self._error = e

    def _raise(self) -> None:
        """The encoder's error, naming the output rather than its hidden temporary file. It stays
        set: a failed container is never written to again (FFmpeg would crash)."""
        e = self._error
        if e is None:
            return
        if isinstance(e, OSError) and (e.filename is None or str(self.tmp) in str(e.filename)):
            raise OSError(e.errno, e.strerror or str(e), str(self.path)) from None
        raise e

    def write(self, frame: np.ndarray, t: float | None = None) -> None:
        """One frame, shown from ``t`` s in the source (None: the next at the stream's rate)."""
        if (frame.shape[1], frame.shape[0]) != self.size:  # frames of changing size: fit the first one's
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        self._raise()
        if self._queue is not None:
            self._queue.put((frame, t))
        else:
            try:
                self.writer.write(frame, t)
            except BaseException as e:
                self._error = e
                self._raise()
        self.frames += 1

    def _stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        try:
            self.writer.release(flush=self._error is None)
        except BaseException as e:  # noqa: BLE001  (the last frames did not fit: the same error as a write's)
            self._error = self._error or e

    def close(self) -> Path | None:
        """Finish the file and give it its name (None when no frame was written)."""
        try:
            self._stop()
            self._raise()
        except BaseException:
            self._file.discard()
            raise
        if self.frames == 0:
            self._file.discard()
            return None
        if self.sound_from is not None:
            self._add_sound()
        return self._file.commit()

    def _add_sound(self) -> None:
        """The source's sound into the finished file, where it has one; a sound that cannot be
        carried leaves the MP4 silent and says why in :attr:`sound`."""
        from .soundtrack import mux_soundtrack, source_audio

        found = source_audio(self.sound_from)
        if found is None:
            return
        if self.codec != H264Writer.codec:
            self.sound = f"left out: the {self.codec} fallback writes no sound"
            return
        with_sound = self.tmp.with_name(f"{self.tmp.stem}-sound{self.tmp.suffix}")  # a restart's cleanup finds it
        try:
            self.sound = mux_soundtrack(self.tmp, self.sound_from, with_sound, found)
            os.replace(with_sound, self.tmp)
        except Exception as e:  # noqa: BLE001 - the annotated video stands without its sound
            self.sound = f"left out: {e}"
        finally:
            with_sound.unlink(missing_ok=True)

    def abort(self) -> None:
        """Stop and leave no file (a run that failed)."""
        try:
            self._stop()
        except Exception:  # noqa: BLE001  (the run's own error is the one to report)
            pass
        finally:
            self._file.discard()
