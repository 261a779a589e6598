"""Video files and webcams to files: :func:`process_video` drives :func:`~.stream.stream`
and writes, in OUTDIR:

- ``<name>_annotated.mp4``: same size and frame rate, boxes, labels, bars, face ids;
- ``<name>_faces.csv``: one row per face per frame (flushed as it goes, so an interrupted
  run keeps every row it produced);
- ``<name>_summary.json``: per face id: frames seen, mean probabilities, dominant emotion,
  share of time in each emotion;
- ``<name>_timeline_face<ID>.png``: the probabilities over time of each face seen for at
  least a second;
- ``<name>_overview.png``: a row per face, its top emotion at each moment.

With ``explain``, each face's saliency map (``facemotion.explain``) is blended over its box in
the video, recomputed every ``explain["every"]`` frames (and on a face's first frame), and the
summary gives each face's facial areas by their share of its mean map.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from .. import validate
from ..labels import EMOTIONS
from ..names import json_fields, shown
from ..plots import Timelines
from ..progress import progress_bar
from ..render import blur_faces, draw
from ..results import probabilities
from ..writers import FaceCSVWriter, write_json
from ..writers.video import SafeVideoWriter
from .host import SignalShield
from .outputs import Claim, _output_stem, live_name, session_name
from .record import FaceRecord, FrameLog, frame_durations, held_times, live_rate, summarize  # noqa: F401 (the API's)
from .saliency import SaliencyKeeper
from .sources import FrameSource
from .stream import stream

TIMELINE_S = 1.0  # a face gets a timeline when seen this long (its glimpses are in the CSV)
TIMELINE_MOST = 50  # and at most this many faces do, those seen longest
@dataclass
class VideoOptions:
    """What :func:`process_video` does with a video: ``every`` (detect on every N-th frame),
    ``frame_step`` (analyse only every N-th frame: the outputs hold those, each shown until the
    next; ``max_frames`` counts them), ``smooth`` (EMA weight of a face's past probabilities), ``write_video`` (the annotated MP4),
    ``progress``, ``display`` (a live window; q quits), ``max_frames``, ``name`` (the outputs'
    stem), ``bars`` (emotion bars on the boxes), ``blur`` (each face found pixelated, under its
    saliency map) and ``explain`` (``{"every": N, "method": ..., other explainer options}`` to
    overlay saliency maps)."""

    every: int = 1
    smooth: float = 0.5
    write_video: bool = True
    progress: bool = True
    display: bool = False
    max_frames: int | None = None
    name: str | None = None
    bars: bool = True
    blur: bool = False
    explain: dict | None = None
    frame_step: int = 1


def process_video(recognizer, source, out_dir, options: VideoOptions | None = None, **kwargs) -> dict:
    """Run a video or camera through the recognizer and write the outputs; returns the summary.
    ``options`` (or its fields as keywords): see :class:`VideoOptions`."""
    run = _VideoRun(recognizer, source, Path(out_dir), options or VideoOptions(**kwargs))
    try:
        try:
            run.frames()
            run.close()  # the CSV's last rows and the MP4's end may still meet a full disk
        except Exception as e:
            # a full disk, say: no partial MP4 left under its name, and the CSV's rows so far kept
            # under a summary that says the run failed (where there is room left to write it)
            run.close(failed=True)
            run.status = f"failed after {run.n} frames: {e}"
            with contextlib.suppress(Exception):
                run.summary()
            raise
        return run.summary()
    finally:
        run.lock.release()  # the outputs are another run's to write now


class _VideoRun:
    """One video through the recognizer: its outputs opened, fed frame by frame, closed, summarised."""

    def __init__(self, recognizer, source, out_dir: Path, opts: VideoOptions):
        # checked before it sizes the progress bar and the MP4's rate (the stream checks the rest)
        opts = replace(opts, frame_step=validate.integer("frame_step", opts.frame_step, 1))
        # frames searched as the API's stream searches them (400 px where no size was asked for)
        self.rec = recognizer.for_video() if hasattr(recognizer, "for_video") else recognizer
        self.opts, self.out_dir = opts, out_dir
        self.src = FrameSource(source)  # first: a source that cannot be read leaves no empty folder
        self.lock = None
        try:
            self._open(source, out_dir, opts)
        except BaseException:
            self.src.close()
            if self.lock is not None:
                self.lock.release()
            raise

    def _open(self, source, out_dir: Path, opts: VideoOptions) -> None:
        """The outputs held for this run and opened, the progress bar, the GPU's warm-up."""
        out_dir.mkdir(parents=True, exist_ok=True)
        self.info = info = self.src.info
        # a file's sound goes into the annotated MP4 (a camera's stream has none we read)
        self.sound_from = Path(source) if isinstance(source, (str, os.PathLike)) and not info.live else None
        self.stem = _output_stem(opts.name or (Path(str(source)).stem if not info.live
                                               else session_name(live_name(source), out_dir)))
        self.lock = Claim(out_dir, self.stem, opts.write_video)
        # every column and summary follows the model's labels (FER2013's for a recognizer-like
        # object that names none)
        self.labels = tuple(getattr(self.rec, "labels", EMOTIONS))
        stages = getattr(self.rec, "stages", None)
        self.csv = FaceCSVWriter(out_dir / f"{self.stem}_faces.csv", self.labels,
                                 mesh=getattr(stages, "mesh", None) is not None)
        self._closed = False
        self.writer = None  # opened on the first frame: iterables and cameras reveal their size only then
        self.video_path, self.sound, self.shown = None, None, None
        self.per_face: dict[int, FaceRecord] = {}
        self.frame_times = FrameLog()  # every frame's (index, time): how long each is shown
        self.n, self.status, self.stopped_early = 0, "complete", False
        total = -(-info.frame_count // opts.frame_step) if info.frame_count else None  # the frames analysed
        if opts.max_frames:
            total = min(total or opts.max_frames, opts.max_frames)
        self.bar = progress_bar(total=total, desc=Path(info.name).name, unit="frame", disable=not opts.progress)
        self.window = "facemotion (q quits)" if opts.display else None
        self.maps = SaliencyKeeper(self.rec, opts.explain, opts.frame_step) if opts.explain else None
        if getattr(stages, "batched", None) is not None and not info.live:
            stages.warm()  # a GPU's plans for its batch of frames, made with the models, before the clock starts
        self.t0 = time.perf_counter()

    def frames(self) -> None:
        """Every frame of the source through the stream, into the outputs, until it ends (or
        the user quits, ``max_frames`` is reached, or Ctrl-C / SIGTERM)."""
        try:
            for res in stream(self.rec, self.src, every=self.opts.every, smooth=self.opts.smooth,
                              frame_step=self.opts.frame_step):
                if not self._frame(res):
                    break
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (the CLI turns it into this)
            self.status = f"interrupted after {self.n} frames"

    def _frame(self, res) -> bool:
        """One analysed frame into the MP4, the CSV, the per-face record and the window; False
        to stop. The slow part (drawing) comes first, and the frame's MP4 write, rows and count
        follow each other at once: a Ctrl-C lands before them (no trace of the frame) or after
        (in every output), so the CSV, the MP4 and the summary hold the same frames."""
        if self.maps is not None:
            self.maps.update(res.index, res.frame, res.faces)
        annotated = self._draw(res) if (self.opts.write_video or self.window) else None
        if self.opts.write_video:
            if self.writer is None:
                h, w = res.frame.shape[:2]
                # sampled (frame_step): each frame is shown from its own time until the next
                self.writer = SafeVideoWriter(self.out_dir / f"{self.stem}_annotated.mp4", self.info.fps, (w, h),
                                              threaded=True, sound_from=self.sound_from)
            self.writer.write(annotated, res.time_s)
            self.shown = annotated  # a sampled clip's last frame is shown again at its end (close)
        for f in res.faces:
            self.csv.write(res.index, res.time_s, f["face_id"], f["box"], f["confidence"], f["emotions"],
                           f["dominant_emotion"], f)
            if (acc := self.per_face.get(f["face_id"])) is None:
                acc = self.per_face[f["face_id"]] = FaceRecord(len(self.labels))
            # with --mesh: the face's measures too, for their timeline
            acc.add(res.index, res.time_s, probabilities(f, self.labels), f.get("measures"))
        self.csv.flush()
        self.frame_times.add(res.index, res.time_s)
        self.n += 1
        self.bar.update(1)
        if self.window:
            cv2.imshow(self.window, annotated)
            if (cv2.waitKey(1) & 0xFF) == ord("q"):
                self.status = "stopped by user"
                return False
        if self.n % 10 == 0:
            self.bar.set_postfix(fps=f"{self.n / (time.perf_counter() - self.t0):.0f}", faces=len(res.faces))
        if self.opts.max_frames and self.n >= self.opts.max_frames:
            self.stopped_early = True
            return False
        return True

    def _draw(self, res) -> np.ndarray:
        """The frame with its boxes, labels (and saliency maps) drawn."""
        frame = blur_faces(res.frame, [f["box"] for f in res.faces]) if self.opts.blur else res.frame
        frame = self.maps.overlay(frame, res.faces) if self.maps is not None else frame
        return draw(frame, res.faces, bars=self.opts.bars, ids=[f["face_id"] for f in res.faces])

    def close(self, failed: bool = False) -> None:
        """Close every output (a second Ctrl-C meanwhile must not cost the MP4's end or the
        summary: signals wait until :meth:`summary` is written). A failed run leaves no MP4, and
        its CSV's rows so far under a name that says so. A close that fails itself (the disk
        refuses the last rows or the MP4's end) raises; the run then closes again, failed."""
        if self._closed:  # a close that failed part-way: what is left is to say so
            if failed:
                self._mark_incomplete()
                self.shield.release()
            return
        self._closed = True
        self.shield = SignalShield()
        self.bar.close()
        error = None
        try:
            try:
                self.csv.close()
            except OSError as e:  # a failed run's own error is the one to report
                if not failed:
                    error, failed = OSError(e.errno, e.strerror or str(e), str(self.csv.path)), True
            if failed:
                self._mark_incomplete()
            if self.writer is not None:
                if failed:
                    self.writer.abort()
                else:
                    end = self.sampled_end()
                    if end is not None and self.shown is not None and end - 1.0 / self.info.fps > \
                            self.frame_times.last_time + 1e-9:  # held to the clip's end, not a step past it
                        self.writer.write(self.shown, end - 1.0 / self.info.fps)
                    self.video_path = self.writer.close()  # on failure it leaves no file and raises
                    self.sound = self.writer.sound
        finally:
            self.src.close()
            if self.window:
                try:
                    cv2.destroyWindow(self.window)
                except cv2.error:
                    pass
            if failed:
                self.shield.release()
        if error is not None:
            raise error

    def sampled_end(self) -> float | None:
        """A sampled run's (``frame_step``) end: when its last frame analysed stops being shown,
        at the clip's end (the last frame read, and its own time), or a step after it where
        ``max_frames`` stopped the run; None unsampled (each frame held until the next)."""
        if self.opts.frame_step == 1 or self.info.live or not self.n:
            return None
        last = self.frame_times.last_time
        if self.stopped_early:
            return last + self.opts.frame_step / self.info.fps
        return max(self.src.last_time, last) + 1.0 / self.info.fps

    def _mark_incomplete(self) -> None:
        """The CSV's rows so far, under a name that says the run did not finish (a rename
        needs no room on a full disk; the summary may not be written at all)."""
        if self.csv.path.exists() and not self.csv.path.name.endswith(".incomplete.csv"):
            done = self.csv.path.with_name(f"{self.stem}_faces.incomplete.csv")
            os.replace(self.csv.path, done)
            self.csv.path = done

    def summary(self) -> dict:
        """Write ``<stem>_summary.json`` and the timelines; returns the summary."""
        try:
            elapsed, info = time.perf_counter() - self.t0, self.info
            missing = self.src.missing_frames if self.status == "complete" and not self.stopped_early else 0
            if missing:
                self.status = f"incomplete: {missing} of {info.frame_count} frames could not be decoded"
            index, times = self.frame_times.arrays()
            fps = (live_rate(times) or info.fps) if info.live else info.fps
            held = held_times(times, info.fps, live=info.live, end=self.sampled_end())
            self.span = float(held.sum())  # the seconds the frames analysed stand for
            summary = summarize(self.per_face, self.n, fps, self.labels, (index, held))
            stages = getattr(self.rec, "stages", None)  # (a recognizer-like object may have none)
            if self.status == "complete" and getattr(self.src, "gone_after", None) is not None:  # stopped for good
                self.status = f"ended: the stream sent nothing for {self.src.gone_after:.0f} s"
                elapsed -= self.src.gone_after  # the wait is no processing time
            summary.update({**json_fields("source", info.name), "width": info.width, "height": info.height,
                            "turned": 90 * self.src.turn,  # degrees clockwise: a sideways file's frames read upright
                            # the working size, whether the clip's frames chose it, and from when (video.scale)
                            "detect_size": self.src.searched_at or getattr(stages, "detect_size", None),
                            "detect_size_chosen": bool(self.src.searched_at),
                            "detect_size_from_s": self.src.searched_from,
                            "every": self.opts.every, "frame_step": self.opts.frame_step,
                            "smooth": self.opts.smooth, "detector": self.rec.detector_name,
                            "model": getattr(self.rec, "model_name", None),
                            "status": self.status,
                            "processing_fps": round(self.n / elapsed, 2) if elapsed > 0 else None,
                            "outputs": {"csv": str(self.csv.path),
                                        "video": str(self.video_path) if self.video_path else None,
                                        "video_sound": self.sound}})
            if self.stopped_early:  # complete as asked: the frames up to --max-frames
                summary["max_frames"] = self.opts.max_frames
            summary["outputs"]["timelines"] = self._timelines(summary)
            summary["decode_errors"] = self.src.decode_errors
            if self.src.drops:  # a camera's stream that stopped sending and was opened again
                summary["status"] += f" (the stream dropped {self.src.drops} time{'s' if self.src.drops > 1 else ''} " \
                                     "and was opened again)"
            if self.maps is not None:
                summary["explain"] = self.maps.summary()
                for fid, regions in self.maps.regions().items():
                    summary["faces"][str(fid)]["regions"] = regions
            path = self.out_dir / f"{self.stem}_summary.json"
            write_json(path, summary)
            summary["outputs"]["summary"] = str(path)
        finally:
            self.shield.release()
        return summary

    def _timelines(self, summary: dict) -> list[str]:
        """A timeline per face seen for at least TIMELINE_S seconds (half the clip, in a clip
        shorter than twice that), the TIMELINE_MOST seen longest: a face glimpsed for a few
        frames has no course to plot, and an hour of a crowd would add a file a face (every face
        is in the CSV, the summary and the overview)."""
        out = []
        least = min(TIMELINE_S, self.span / 2)
        seen = {fid: summary["faces"][str(fid)]["seconds_seen"] for fid, acc in self.per_face.items()
                if len(acc) >= 2 and summary["faces"][str(fid)]["seconds_seen"] >= least}
        drawn = sorted(sorted(seen, key=lambda fid: -seen[fid])[:TIMELINE_MOST])
        summary["timelines_for"] = (f"faces seen for at least {least:.2f} s"
                                    + (f", the {TIMELINE_MOST} seen longest" if len(seen) > TIMELINE_MOST else ""))
        with Timelines() as draw:
            for fid in drawn:
                acc = self.per_face[fid]
                p = self.out_dir / f"{self.stem}_timeline_face{fid}.png"
                draw.emotions(acc.times, acc.probs, p, title=f"face {fid}: emotions over time", labels=self.labels)
                out.append(str(p))
                if measures := acc.measures:
                    p = self.out_dir / f"{self.stem}_measures_face{fid}.png"
                    times, values = zip(*measures)
                    draw.measures(times, values, p,
                                  title=f"face {fid}: facial measures over time (docs/mesh.md)")
                    out.append(str(p))
            if self.per_face:  # the clip at a glance: every face, its top emotion moment by moment
                p = self.out_dir / f"{self.stem}_overview.png"
                draw.overview([(fid, acc.times, acc.probs) for fid, acc in self.per_face.items()], p, self.labels,
                              title=f"{shown(Path(self.info.name).name)}: who shows what, when".replace("$", r"\$"),
                              span=self.frame_times.last_time)
                summary["outputs"]["overview"] = str(p)
        return out
