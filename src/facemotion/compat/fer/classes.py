"""fer's ``Video`` (``fer.classes.Video``, fer 25.10.3) over facemotion's video module.

``analyze`` returns what fer's returns (``output="csv"``: a dict per frame with a face, as
``data.csv`` holds them; ``"pandas"``: a DataFrame) and writes where fer writes: the analysed
frames as ``<outdir>/<video_id or name><frame>.jpg`` (zipped into ``<outdir>/images.zip``), the
annotated video as ``<outdir>/<name>_output.mp4`` (with ``include_audio``, its sound in it and
the same file as ``<name>_output_audio.mp4``, fer's name for it), ``data.csv`` in the working
folder. The frames come from facemotion's :class:`~facemotion.video.FrameSource` (decoded ahead
on a thread), the faces from a :class:`~facemotion.video.FaceTracking` (the one detect /
scene-cut / track rule of every facemotion video path; each frame's faces in the order of their
tracks, oldest first, numbered ``0``, ``1``... within the frame as fer numbers them), the video
from facemotion's H.264 writer, the drawing from facemotion's.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import sys
from pathlib import Path
from zipfile import ZipFile

import cv2

from ... import EmotionRecognizer, validate
from ...errors import UsageError, VideoError
from ...fileio import atomic_path, check_input_file, write_text
from ...names import text
from ...progress import progress_bar
from ...render import draw
from ...video import FaceTracking, FrameSource, has_display
from ...writers import write_image
from ...writers.video import SafeVideoWriter
from .fer import FER, fer_record

_BOX_KEYS = ("x_min", "x_max", "y_min", "y_max")


class Video:
    """A video file for :meth:`analyze` (fer's arguments; ``tempfile`` changes nothing: the
    annotated video is always written under a temporary name and renamed when complete). A
    missing or unreadable file raises :class:`facemotion.VideoError` (fer: an AssertionError)."""

    def __init__(self, video_file: str, outdir: str = "output", first_face_only: bool = True,
                 tempfile: str | None = None):
        path = check_input_file(video_file, VideoError, "a video")
        FrameSource(path.resolve()).close()  # a file OpenCV cannot decode fails here, naming it
        self.outdir = validate.output_folder("outdir", outdir)
        os.makedirs(self.outdir, exist_ok=True)
        self.first_face_only = bool(first_face_only)
        self.tempfile = tempfile
        self.filepath = os.fspath(video_file)
        self.filename = os.path.basename(self.filepath)

    @staticmethod
    def get_max_faces(data: list) -> int:
        """The most faces in one frame of ``analyze``'s per-frame lists of faces."""
        return max((len(frame) for frame in data), default=0)

    @staticmethod
    def _to_dict(data: list) -> list:
        """Per-frame lists of faces -> a dict per frame: ``box0``, ``angry0``, ... ``box1``...
        (rows already in that form are returned as they are)."""
        if not data or isinstance(data[0], dict):
            return list(data)
        emotions = list(data[0][0]["emotions"]) if data[0] else []
        rows = []
        for frame in data:
            row = {}
            for i, face in enumerate(frame):
                row[f"box{i}"] = face["box"]
                row.update({f"{e}{i}": face["emotions"][e] for e in emotions})
            rows.append(row)
        return rows

    def to_pandas(self, data):
        """``analyze``'s result as a DataFrame (a column per face and value: ``box0``,
        ``angry0``...; with ``first_face_only``, the first face's columns without the number)."""
        pd = _pandas()
        if isinstance(data, pd.DataFrame):
            return data
        if not len(data):
            return pd.DataFrame()
        df = pd.DataFrame(self._to_dict(data))
        return self.get_first_face(df) if self.first_face_only else df

    @staticmethod
    def get_first_face(df):
        """The columns of face 0 (``box0``, ``angry0``...), named without the number; a frame
        already of one face is returned as it is."""
        pd = _pandas()
        if not isinstance(df, pd.DataFrame):
            raise UsageError(f"get_first_face: expected a pandas DataFrame, got {type(df).__name__}")
        if df.empty or not str(df.columns[0])[-1:].isdigit():
            return df
        columns = [c for c in df.columns if re.fullmatch(r"\D+0", str(c))]
        return df[columns].set_axis([c[:-1] for c in columns], axis=1)

    @staticmethod
    def get_emotions(df):
        """The emotion columns of ``df`` (every column but the boxes)."""
        return df[[c for c in df.columns if "box" not in str(c)]]

    def to_csv(self, data, filename: str = "data.csv") -> list:
        """Write ``data`` (``analyze``'s per-frame faces, or its rows) to ``filename`` (fer writes
        ``data.csv`` in the working folder whatever the name; the default is the same file), a
        column per face and value sorted by name, then face; returns the rows."""
        rows = self._to_dict(data)
        columns = sorted(set().union(*(r.keys() for r in rows)), key=_column_key)
        buf = io.StringIO()
        if columns:
            writer = csv.DictWriter(buf, columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        write_text(filename, buf.getvalue())
        return rows

    def to_format(self, data, format: str):
        """``data`` as ``format``: "csv" (:meth:`to_csv`) or "pandas" (:meth:`to_pandas`)."""
        write = {"csv": self.to_csv, "pandas": self.to_pandas}
        return write[validate.choice("output", format, tuple(write))](data)

    def analyze(self, detector, display: bool = False, output: str = "csv", frequency: int | None = None,
                max_results: int | None = None, save_fps: int | None = None, video_id: str | None = None,
                save_frames: bool = True, save_video: bool = True, annotate_frames: bool = True,
                zip_images: bool = True, detection_box: dict | None = None, lang: str = "en",
                include_audio: bool = False, size_multiplier: int = 1, batch_size: int = 1,
                use_async_io: bool = True, *, smooth: float = 0.0) -> list:
        """The video's faces, every ``frequency``-th frame (or ``fps // save_fps``-th), at most
        ``max_results`` frames, with ``detector`` (a :class:`FER`, or an EmotionRecognizer).

        fer's arguments, as fer reads them: ``display`` (a window; q stops), ``save_frames``,
        ``annotate_frames`` (facemotion's drawing), ``save_video``, ``zip_images`` (the frames
        this run saved, moved into ``images.zip``), ``video_id`` (the frames' names),
        ``detection_box`` ({x_min, x_max, y_min, y_max}: faces are looked for there, their boxes
        given in the whole frame, which is what is saved). ``batch_size`` and ``use_async_io``
        (fer's speed settings) change nothing: frames are decoded ahead and the video encoded
        on threads of their own. ``include_audio`` puts the source's sound in the annotated
        video (over the frames it holds). ``lang`` other than "en" and a ``size_multiplier``
        other than 1 raise :class:`facemotion.UsageError`.
        facemotion's own: ``smooth``, the weight of a face's past probabilities in each frame's
        (0, the default: each frame's own reading, as fer gives).
        """
        recognizer, keeps = _recognizer(detector)
        validate.choice("output", output, ("csv", "pandas"))
        if lang != "en":
            raise UsageError(f"lang={lang!r}: facemotion labels its drawings in English only; leave lang out")
        if size_multiplier != 1:
            raise UsageError(f"size_multiplier={size_multiplier!r}: facemotion sizes its labels to the frame; "
                             "leave size_multiplier out")
        validate.integer("batch_size", batch_size, 1)
        validate.number("smooth", smooth, 0, 1, hi_open=True)
        every = 1 if frequency is None else validate.integer("frequency", frequency, 1)
        rate = None if save_fps is None else validate.number("save_fps", save_fps, 0, lo_open=True)
        limit = None if max_results is None else validate.integer("max_results", max_results, 1)
        crop = _detection_box(detection_box)
        run = _Analysis(self, recognizer, keeps, smooth=smooth, display=bool(display), video_id=video_id,
                        save_frames=bool(save_frames), save_video=bool(save_video), annotate=bool(annotate_frames),
                        crop=crop, sound=bool(include_audio))
        frames = run.frames(every if rate is None else max(1, int(run.fps // rate)), limit)
        if save_frames and zip_images:
            run.zip_frames()
        return self.to_format(frames, output)


class _Analysis:
    """One :meth:`Video.analyze`: the source's frames through a FaceTracking, into fer's outputs."""

    def __init__(self, video: Video, recognizer, keeps, *, smooth, display, video_id, save_frames, save_video,
                 annotate, crop, sound=False):
        self.rec, self.keeps, self.smooth, self.crop = recognizer, keeps, smooth, crop
        self.outdir = Path(video.outdir)
        self.root = os.path.splitext(os.path.basename(video.filepath))[0]
        self.stem = video_id or self.root
        self.save_frames, self.save_video, self.annotate = save_frames, save_video, annotate
        self.display = display and has_display()
        if display and not self.display:
            print("note: display=True, but OpenCV can open no window here; analysing without one", file=sys.stderr)
        self.src = FrameSource(Path(video.filepath).resolve())
        self.sound_from = Path(video.filepath).resolve() if sound else None  # include_audio
        self.fps = self.src.info.fps
        self.saved: list[Path] = []
        self.writer = None

    def frames(self, every: int, limit: int | None) -> list:
        """Every ``every``-th frame's faces (fer's records, a list per frame with a face), the
        frames saved, drawn and shown as asked."""
        track = FaceTracking(every=every, smooth=self.smooth, carry=False)  # carry=False: only every-th frames
        total = -(-self.src.info.frame_count // every) or None  # 0: the container does not say
        bar = progress_bar(total=min(total, limit) if total and limit else total or limit, unit="frames")
        out, n = [], 0
        try:
            for i, _, frame in self.src:
                faces, analysed = track(self.rec, self._view(frame), i)
                if not analysed:
                    continue
                faces = sorted((self._placed(f) for f in faces if self.keeps(f["box"])), key=lambda f: f["face_id"])
                stop = self._outputs(frame, i, faces, every)
                if faces:
                    out.append([fer_record(f) for f in faces])
                n += 1
                bar.update(1)
                if stop or (limit and n >= limit):
                    break
        except BaseException:
            if self.writer is not None:
                self.writer.abort()  # no half-written video under the output's name
            raise
        finally:
            self.src.close()
            bar.close()
            if self.display:
                cv2.destroyWindow("Video")
        if self.writer is not None:
            written = self.writer.close()
            if self.sound_from is not None and written is not None:
                # fer writes the video with its sound under a name of its own: programs open that one
                _same_file(written, written.with_name(f"{self.root}_output_audio.mp4"))
        return out

    def _view(self, frame):
        """The part of ``frame`` faces are looked for in (``detection_box``; else all of it)."""
        if self.crop is None:
            return frame
        x0, x1, y0, y1 = self.crop
        view = frame[y0:y1, x0:x1]
        if view.size == 0:
            h, w = frame.shape[:2]
            raise UsageError(f"detection_box: {self.crop} (x_min, x_max, y_min, y_max) holds no pixel of the {w}x{h} "
                             "frame")
        return view

    def _placed(self, face: dict) -> dict:
        """``face`` with its box in the whole frame (found in ``detection_box``'s part of it)."""
        if self.crop is None:
            return face
        x, y, w, h = face["box"]
        return type(face)({**face, "box": (x + self.crop[0], y + self.crop[2], w, h)})

    def _outputs(self, frame, index: int, faces: list, every: int) -> bool:
        """Frame ``index`` drawn, saved, written and shown as asked; True when q was pressed."""
        if not (self.save_frames or self.save_video or self.display):
            return False
        drawn = draw(frame, faces, ids=[f["face_id"] for f in faces]) if self.annotate else frame
        if self.save_frames:
            path = self.outdir / f"{self.stem}{index}.jpg"
            write_image(path, drawn)
            self.saved.append(path)
        if self.save_video:
            if self.writer is None:  # the analysed frames at the rate they were taken: the video lasts as long
                h, w = frame.shape[:2]
                self.writer = SafeVideoWriter(self.outdir / f"{self.root}_output.mp4", self.fps / every, (w, h),
                                              threaded=True, sound_from=self.sound_from)
            self.writer.write(drawn)
        if self.display:
            cv2.imshow("Video", drawn)
            return (cv2.waitKey(1) & 0xFF) == ord("q")
        return False

    def zip_frames(self) -> None:
        """The frames this run saved, moved into ``<outdir>/images.zip``."""
        if not self.saved:
            return
        with atomic_path(self.outdir / "images.zip") as tmp, ZipFile(tmp, "w") as archive:
            for path in self.saved:  # a member's name is text: bytes that are not UTF-8 as \xNN
                archive.write(path, arcname=text(path.name))
        for path in self.saved:
            path.unlink(missing_ok=True)


def _recognizer(detector):
    """The recognizer ``analyze`` answers with, and which faces it reports."""
    if isinstance(detector, FER):
        return detector.recognizer, detector.keeps
    if isinstance(detector, EmotionRecognizer):
        return detector, lambda box: True
    raise UsageError(f"detector: expected a facemotion.compat.fer.FER or a facemotion.EmotionRecognizer, got "
                     f"{type(detector).__name__}")


def _detection_box(box: dict | None):
    """fer's ``detection_box`` as (x0, x1, y0, y1) slice bounds (a missing key: the frame's edge)."""
    if box is None:
        return None
    if not isinstance(box, dict) or set(box) - set(_BOX_KEYS):
        raise UsageError(f"detection_box: expected a dict of {', '.join(_BOX_KEYS)}, got {box!r}")
    get = {k: None if box.get(k) is None else validate.integer(f"detection_box[{k!r}]", box[k], 0) for k in _BOX_KEYS}
    return get["x_min"] or 0, get["x_max"], get["y_min"] or 0, get["y_max"]


def _column_key(column: str):
    """fer's column order: by name, then by face (``angry0``, ``angry1``, ``box0``...)."""
    m = re.fullmatch(r"(\D+)(\d+)", column)
    return (m.group(1), int(m.group(2))) if m else (column, -1)


def _pandas():
    import pandas

    return pandas


__all__ = ["Video"]


def _same_file(path: Path, alias: Path) -> None:
    """``alias`` holding ``path``'s bytes: a hard link where the file system makes one, else a copy."""
    alias.unlink(missing_ok=True)
    try:
        os.link(path, alias)
    except OSError:
        shutil.copyfile(path, alias)
