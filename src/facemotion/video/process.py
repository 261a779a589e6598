"""Video files and webcams to files: :func:`process_video` drives :func:`~.stream.stream`
and writes, in OUTDIR:

- ``<name>_annotated.mp4``: same size and frame rate, boxes, labels, bars, face ids;
- ``<name>_faces.csv``: one row per face per frame (flushed as it goes, so an interrupted
  run keeps every row it produced);
- ``<name>_summary.json``: per face id: frames seen, mean probabilities, dominant emotion,
  share of time in each emotion;
- ``<name>_timeline_face<ID>.png``: each face's probabilities over time.

With ``explain``, each face's saliency map (``facemotion.explain``) is blended over its box in
the video, recomputed every ``explain["every"]`` frames (and on a face's first frame), and the
summary gives each face's facial areas by their share of its mean map.
"""

from __future__ import annotations

import os
import sys
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import VideoError
from ..explain import region_shares
from ..explain.figures import overlay_in_box
from ..fileio import PendingFile
from ..labels import EMOTIONS
from ..plots import emotion_timeline
from ..progress import progress_bar
from ..render import draw
from ..results import probabilities
from ..writers import FaceCSVWriter, write_json
from .sources import FrameSource
from .stream import stream


class _H264Writer:
    """H.264 in MP4 through PyAV (FFmpeg's libx264 inside the ``av`` wheel): what browsers play in
    a ``<video>``. ``yuv420p`` needs even sides, so an odd last row or column is dropped."""

    codec = "h264"
    # as fast as OpenCV's mp4v and as large (benchmarks/video_writer.py); slower presets halve
    # the file but cost 2-4x the encoding time, on every frame of a run
    preset = "ultrafast"

    def __init__(self, path: Path, fps: float, size: tuple[int, int]):
        import av

        self.size = (size[0] - size[0] % 2, size[1] - size[1] % 2)
        rate = Fraction(fps).limit_denominator(1001)
        # faststart: the index goes first, so a browser starts playing before the whole file arrives
        self.container = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
        try:
            self.stream = self.container.add_stream("libx264", rate=rate)
            self.stream.width, self.stream.height = self.size
            self.stream.pix_fmt = "yuv420p"
            self.stream.codec_context.time_base = 1 / rate
            self.stream.options = {"crf": "23", "preset": self.preset}
        except Exception:
            self.container.close()
            raise
        self.frames = 0
        self._av = av

    def write(self, frame: np.ndarray) -> None:
        w, h = self.size
        f = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:h, :w]), format="bgr24")
        f.pts = self.frames
        self.frames += 1
        self.container.mux(self.stream.encode(f))

    def release(self) -> None:
        try:
            self.container.mux(self.stream.encode(None))  # flush the frames the encoder still holds
        finally:
            self.container.close()


class _OpenCVWriter:
    """MPEG-4 Part 2 (``mp4v``) through OpenCV: in every OpenCV wheel, plays in VLC and ffmpeg
    but not inline in browsers; the fallback where H.264 is not available."""

    codec = "mp4v"

    def __init__(self, path: Path, fps: float, size: tuple[int, int]):
        self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*self.codec), fps, size)
        if not self.writer.isOpened():
            self.writer.release()
            raise OSError("OpenCV has no mp4v encoder")

    def write(self, frame: np.ndarray) -> None:
        self.writer.write(frame)

    def release(self) -> None:
        self.writer.release()


class SafeVideoWriter:
    """MP4 writer that is released on every exit path, so the file stays playable: H.264 where
    PyAV can encode it, else OpenCV's MPEG-4 Part 2 (``codec`` says which).

    Writes to a hidden temporary name and renames on close; a run that produced no frame
    leaves no file.
    """

    def __init__(self, path: Path, fps: float, size: tuple[int, int], codecs=(_H264Writer, _OpenCVWriter)):
        self.path, self.size = Path(path), size
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

    def write(self, frame: np.ndarray) -> None:
        if (frame.shape[1], frame.shape[0]) != self.size:  # frames of changing size: fit the first one's
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        self.writer.write(frame)
        self.frames += 1

    def close(self) -> Path | None:
        self.writer.release()
        if self.frames == 0:
            self._file.discard()
            return None
        return self._file.commit()


def summarize(per_face: dict[int, dict], n_frames: int, fps: float) -> dict:
    faces = {}
    for fid, acc in sorted(per_face.items()):
        probs = np.asarray(acc["probs"])
        mean = probs.mean(0)
        dom_counts = np.bincount(probs.argmax(1), minlength=len(EMOTIONS))
        faces[str(fid)] = {
            "frames_seen": int(len(probs)),
            "first_frame": acc["frames"][0], "last_frame": acc["frames"][-1],
            "seconds_seen": round(len(probs) / fps, 3),
            "mean_probabilities": {e: round(float(p), 5) for e, p in zip(EMOTIONS, mean)},
            "dominant_emotion": EMOTIONS[int(mean.argmax())],
            "time_share": {e: round(float(c) / len(probs), 5) for e, c in zip(EMOTIONS, dom_counts)},
        }
    return {"frames": n_frames, "fps": fps, "faces": faces}


def process_video(recognizer, source, out_dir, *, every: int = 1, smooth: float = 0.5, write_video: bool = True,
                  progress: bool = True, display: bool = False, max_frames: int | None = None,
                  name: str | None = None, bars: bool = True, explain: dict | None = None) -> dict:
    """Run a video or camera through the recognizer and write the outputs; returns the summary.

    ``explain``: ``{"every": N, "method": ..., other explainer options}`` to overlay saliency maps."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    src = FrameSource(source)
    info = src.info
    stem = name or (Path(str(source)).stem if not info.live else f"camera{source}")
    _restart_note(out_dir, stem)
    csv_w = FaceCSVWriter(out_dir / f"{stem}_faces.csv")
    writer = None  # opened on the first frame: iterables and cameras reveal their size only then
    per_face: dict[int, dict] = {}
    n = 0
    status = "complete"
    stopped_early = False
    total = info.frame_count or None
    if max_frames:
        total = min(total or max_frames, max_frames)
    bar = progress_bar(total=total, desc=Path(info.name).name, unit="frame", disable=not progress)
    t0 = time.perf_counter()
    window = "facemotion (q quits)" if display else None
    maps = _SaliencyKeeper(recognizer, explain) if explain else None
    try:
        for res in stream(recognizer, src, every=every, smooth=smooth):
            if maps is not None:
                maps.update(res.index, res.frame, res.faces)
            for f in res.faces:
                csv_w.write(res.index, res.time_s, f["face_id"], f["box"], f["confidence"], f["emotions"],
                            f["dominant_emotion"])
                acc = per_face.setdefault(f["face_id"], {"frames": [], "probs": []})
                acc["frames"].append(res.index)
                acc["probs"].append(probabilities(f))
            csv_w.flush()
            if write_video or window:
                frame = maps.overlay(res.frame, res.faces) if maps is not None else res.frame
                annotated = draw(frame, res.faces, bars=bars, ids=[f["face_id"] for f in res.faces])
                if write_video:
                    if writer is None:
                        h, w = res.frame.shape[:2]
                        writer = SafeVideoWriter(out_dir / f"{stem}_annotated.mp4", info.fps, (w, h))
                    writer.write(annotated)
                if window:
                    cv2.imshow(window, annotated)
                    if (cv2.waitKey(1) & 0xFF) == ord("q"):
                        status = "stopped by user"
                        break
            n += 1
            bar.update(1)
            if n % 10 == 0:
                bar.set_postfix(fps=f"{n / (time.perf_counter() - t0):.0f}", faces=len(res.faces))
            if max_frames and n >= max_frames:
                stopped_early = True
                break
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (the CLI turns it into this)
        status = f"interrupted after {n} frames"
    finally:
        shield = _SignalShield()  # a second Ctrl-C must not cost the MP4's end or the summary
        bar.close()
        csv_w.close()
        video_path = writer.close() if writer is not None else None
        src.close()
        if window:
            try:
                cv2.destroyWindow(window)
            except cv2.error:
                pass
    try:
        elapsed = time.perf_counter() - t0
        missing = src.missing_frames if status == "complete" and not stopped_early else 0
        if missing:
            status = f"incomplete: {missing} of {info.frame_count} frames could not be decoded"
        summary = summarize(per_face, n, info.fps)
        summary.update({"source": info.name, "width": info.width, "height": info.height, "every": every,
                        "smooth": smooth, "detector": recognizer.detector.name, "status": status,
                        "processing_fps": round(n / elapsed, 2) if elapsed > 0 else None,
                        "outputs": {"csv": str(csv_w.path), "video": str(video_path) if video_path else None}})
        timelines = []
        for fid, acc in per_face.items():
            p = out_dir / f"{stem}_timeline_face{fid}.png"
            emotion_timeline(np.asarray(acc["frames"]) / info.fps, acc["probs"], p, title=f"face {fid}: emotions over time")
            timelines.append(str(p))
        summary["outputs"]["timelines"] = timelines
        summary["decode_errors"] = src.decode_errors
        if maps is not None:
            summary["explain"] = maps.summary()
            for fid, regions in maps.regions().items():
                summary["faces"][str(fid)]["regions"] = regions
        write_json(out_dir / f"{stem}_summary.json", summary)
        summary["outputs"]["summary"] = str(out_dir / f"{stem}_summary.json")
    finally:
        shield.release()
    return summary


def _restart_note(out_dir: Path, stem: str) -> None:
    """A rerun after an interrupted or killed run starts over: say so, and clear what a killed
    run left under temporary names."""
    for leftover in out_dir.glob(f".{stem}_annotated.tmp*"):
        leftover.unlink(missing_ok=True)
    csv_path, summary = out_dir / f"{stem}_faces.csv", out_dir / f"{stem}_summary.json"
    if csv_path.exists():
        import json

        try:
            done = json.loads(summary.read_text()).get("status") == "complete"
        except (OSError, ValueError):
            done = False
        if not done:
            print(f"note: {csv_path} is from an earlier run that did not finish; starting this video over",
                  file=sys.stderr)


class _SignalShield:
    """Ignore SIGINT/SIGTERM until :meth:`release` (the main thread only; elsewhere a no-op)."""

    def __init__(self):
        import signal
        import threading

        self._saved = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._saved[sig] = signal.signal(sig, signal.SIG_IGN)

    def release(self) -> None:
        import signal

        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        self._saved = {}


class _SaliencyKeeper:
    """Each face id's latest saliency map (recomputed every ``every`` frames, and on the frame
    a face first appears) and the sum of its maps, for the summary."""

    def __init__(self, recognizer, explain: dict):
        opts = dict(explain)
        self.every = max(1, int(opts.pop("every", 10)))
        self.recognizer, self.opts = recognizer, opts
        self.latest: dict = {}
        self.total: dict = {}
        self.computed = 0

    def update(self, index: int, frame, faces) -> None:
        todo = [f for f in faces if index % self.every == 0 or f["face_id"] not in self.latest]
        if not todo:
            return
        done = self.recognizer.explain_boxes(frame, [(f["box"], f["confidence"]) for f in todo], **self.opts)
        for f, e in zip(todo, done):
            self.latest[f["face_id"]] = e["saliency"]
            self.total[f["face_id"]] = self.total.get(f["face_id"], 0) + e["saliency"]
        self.computed += len(todo)
        self.method = done[0]["method"]

    def overlay(self, frame, faces):
        out = frame.copy()
        for f in faces:
            if f["face_id"] in self.latest:
                overlay_in_box(out, f["box"], self.latest[f["face_id"]])
        return out

    def regions(self) -> dict:
        return {fid: region_shares(total)[:3] for fid, total in self.total.items()}

    def summary(self) -> dict:
        return {"every": self.every, "method": getattr(self, "method", None), "maps": self.computed,
                **{k: v for k, v in self.opts.items() if k != "method"}}


def has_display() -> bool:
    """True when OpenCV can open a window (a GUI build and a display)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        cv2.namedWindow("facemotion-probe", cv2.WINDOW_AUTOSIZE)
        cv2.destroyWindow("facemotion-probe")
        return True
    except cv2.error:
        return False
