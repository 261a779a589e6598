"""Per-frame recognition of a video, camera or frame iterable, with tracking and smoothing.

:func:`stream` is the iterator behind ``EmotionRecognizer.stream``: one
:class:`~facemotion.results.Analysis` per frame; :class:`FaceTracking` is its per-frame step and the one rule
of detection, scene cuts and tracking that every video path follows. They need only the
recognizer's stage methods ``detect``, ``detect_crops`` and ``classify_crops``, so they sit below it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np

from .. import validate
from ..errors import UsageError, VideoError
from ..fileio import check_input_file, stream_address
from ..preprocess import clip_box
from ..results import Analysis, add_mesh, make_result
from .files import camera_index
from .scale import LaterLooks, for_clip
from .sources import FrameSource
from .tracking import IoUTracker, SceneCutDetector

# frames a batching runtime (a GPU's) takes at once from a video file: its detector's batch
BATCH_FRAMES = 16


@dataclass
class Located:
    """The faces of one analysed frame before classification: their tracks and boxes."""

    tracks: list
    boxes: list  # (x, y, w, h) in the frame, clipped to it
    detected: bool  # whether the detector ran on this frame (else boxes were carried forward)
    confidences: list | None = None  # the tracks' confidences on this frame (None: as the tracks hold them)

    def __post_init__(self):
        if self.confidences is None:  # kept: a batch of frames updates the tracks before their faces are made
            self.confidences = [t.confidence for t in self.tracks]

    @property
    def detections(self) -> list:
        """The faces as (box, confidence) pairs, as the recognizer's :meth:`detect_crops` takes them."""
        return list(zip(self.boxes, self.confidences))


class FaceTracking:
    """The per-frame state of a stream: an IoU tracker with smoothing and a scene-cut
    detector, and the one rule for when to detect. :func:`stream` drives one over a source; a
    server that receives frames one by one (``facemotion serve``'s WebSocket) keeps one per
    client; the batch engine runs one per video (``carry=False``).

    The detector runs on every ``every``-th frame, and after a scene cut, which also retires
    all face ids. With ``carry`` (a live view or an annotated video, where every frame is shown)
    the frames in between are analysed too: tracked boxes carry forward and only the
    (batched) classifier runs, and a cut is detected afresh on its own frame; without it only
    the detector's frames are analysed and a cut takes effect on the next one.
    ``smooth`` is the EMA weight of the past (0 = off). ``min_hits`` > 1
    shows a face only once it was detected that many times: a live view then never flashes a
    one-frame false detection (a face's first ``min_hits - 1`` detections are not shown).
    ``scene_cuts=False`` for a live camera: it has no cuts, and where frames are skipped (a
    server analysing only the newest) the jump between two analysed frames can look like one.
    ``reach``: how far, in face sizes, a face may move between two detections and keep its id
    (more where frames come far apart). ``resized_is_cut``: a frame of another size than the last
    starts new ids (a server's stream: another size is another source, photos sent one by one).
    """

    def __init__(self, *, every: int = 1, smooth: float = 0.5, iou_threshold: float = 0.01,
                 max_missed: int | None = None, min_hits: int = 1, scene_cuts: bool = True, reach: float = 0.5,
                 carry: bool = True, resized_is_cut: bool = False):
        self.every = validate.integer("every", every, 1)
        smooth = validate.number("smooth", smooth, 0, 1, hi_open=True)
        iou_threshold = validate.number("iou_threshold", iou_threshold, 0, 1)
        if max_missed is not None:
            max_missed = validate.integer("max_missed", max_missed, 0)
        self.min_hits, self.carry = min_hits, carry
        self.tracker = IoUTracker.for_every(self.every, iou_threshold, max_missed, smooth, reach)
        self.cut = SceneCutDetector() if scene_cuts else (lambda frame: False)
        self._cut_pending = False
        self.resized_is_cut, self._shape = resized_is_cut, None

    def locate(self, recognizer, frame: np.ndarray, index: int) -> Located | None:
        """Where the faces of frame ``index`` are (every frame passes here: the scene-cut test
        compares consecutive frames); None when this frame is not analysed (``carry=False``
        between two detections). ``recognizer`` needs only ``detect``."""
        plan = self._plan(frame, index)
        if plan is None:
            return None
        return self._located(recognizer, frame, plan, recognizer.stages.detect(frame) if plan[0] else None)

    def _plan(self, frame: np.ndarray, index: int) -> tuple[bool, bool] | None:
        """(whether frame ``index`` is detected, whether the tracks are reset first), or None."""
        self._cut_pending |= self.cut(frame)  # a new shot: faces near old boxes are other people
        if self.resized_is_cut:
            self._cut_pending |= self._shape is not None and frame.shape[:2] != self._shape
            self._shape = frame.shape[:2]
        detect = index % self.every == 0 or (self.carry and self._cut_pending)
        if not detect and not self.carry:
            return None
        reset = detect and self._cut_pending
        if reset:
            self._cut_pending = False
        return detect, reset

    def _located(self, recognizer, frame: np.ndarray, plan, detections) -> Located:
        detect, reset = plan
        if reset:
            self.tracker.reset()
        tracks = self.tracker.update(detections) if detect else self.tracker.current()
        h, w = frame.shape[:2]
        # with detector "none" the frame is the face, whatever its size (1 x N too, as in photos)
        least = 1 if getattr(recognizer.stages, "detector_name", None) == "none" else 2
        kept = [(t, b) for t in tracks if t.hits >= self.min_hits
                and (b := clip_box(t.box, w, h, least)) is not None]  # frames may change size
        return Located([t for t, _ in kept], [b for _, b in kept], detect)

    def finish(self, located: Located, probs) -> list[dict]:
        """``located``'s faces as records with their ``face_id``, probabilities smoothed per track."""
        faces = []
        for tr, b, c, p in zip(located.tracks, located.boxes, located.confidences, probs):
            r = make_result(b, c, self.tracker.smooth_probs(tr, p))
            r["face_id"] = tr.id
            faces.append(r)
        return faces

    def __call__(self, recognizer, frame: np.ndarray, index: int) -> tuple[list[dict], bool]:
        """One frame -> (its faces: detect_emotions dicts + "face_id", whether the detector ran).
        ``recognizer`` needs only its stage methods ``detect``, ``detect_crops`` and ``classify_crops``."""
        loc = self.locate(recognizer, frame, index)
        if loc is None:
            return [], False
        if not loc.boxes:
            return [], loc.detected
        fc = self.crops(recognizer, frame, loc)
        return add_mesh(self.finish(loc, recognizer.stages.classify_crops(fc)), fc.meshes), loc.detected

    def many(self, recognizer, frames) -> list[tuple[list[dict], bool] | None]:
        """What :meth:`__call__` gives each of ``frames`` ([(index, frame)] in order), with the
        stages' work on all of them at once (:meth:`many_crops` and one classifier call);
        tracking, smoothing and the records stay frame by frame, in order, on the host. None for
        a frame not analysed."""
        found = self.many_crops(recognizer, frames)
        busy = [x[1].crops for x in found if x is not None and x[1] is not None]
        probs = recognizer.stages.classify_crops(np.concatenate(busy)) if busy else None
        out, at = [], 0
        for x in found:
            if x is None or x[1] is None:
                out.append(None if x is None else ([], x[0].detected))
                continue
            loc, fc = x
            p, at = probs[at:at + len(fc.boxes)], at + len(fc.boxes)
            out.append((add_mesh(self.finish(loc, p), fc.meshes), loc.detected))
        return out

    def many_crops(self, recognizer, frames) -> list[tuple | None]:
        """Each of ``frames`` ([(index, frame)] in order) located and its faces cropped as
        :meth:`locate` and :meth:`crops` do frame by frame, the stages' work on all of them at
        once (``detect_many``, ``crops_many``: a GPU's batched path): (Located, FaceCrops, None
        where it has no face), or None for a frame not analysed. Not with the mesh (its crops
        follow the previous frame's points, frame by frame)."""
        plans = [self._plan(f, i) for i, f in frames]
        todo = [k for k, p in enumerate(plans) if p is not None and p[0]]
        found = dict(zip(todo, recognizer.stages.detect_many([frames[k][1] for k in todo])))
        locs = [None if p is None else self._located(recognizer, f, p, found.get(k))
                for k, ((_, f), p) in enumerate(zip(frames, plans))]
        busy = [k for k, loc in enumerate(locs) if loc is not None and loc.boxes]
        tracks = {id(t): t for k in busy for t in locs[k].tracks}
        state = {key: (t.lean, t.level) for key, t in tracks.items()}
        crops = recognizer.stages.crops_many([frames[k][1] for k in busy], [locs[k].detections for k in busy],
                                             keys=[[id(t) for t in locs[k].tracks] for k in busy],
                                             carried=[not locs[k].detected for k in busy], state=state)
        for key, (lean, level) in state.items():
            tracks[key].lean, tracks[key].level = lean, level
        out = [None if loc is None else (loc, None) for loc in locs]
        for k, fc in zip(busy, crops):
            out[k] = (locs[k], fc)
        return out

    def crops(self, recognizer, frame: np.ndarray, loc):
        """The located faces' crops (``recognizer.stages.detect_crops``), with what the tracks remember:
        a face's lean is read when it is detected and the frames in between reuse it; its level
        box is reused while the lean holds. Every reader of a video (the stream, the batch
        engines) crops through here, so they crop alike."""
        known = None if loc.detected else [t.lean for t in loc.tracks]
        fc = recognizer.stages.detect_crops(frame, loc.detections, angles=known, levels=[t.level for t in loc.tracks],
                                            previous=[t.mesh for t in loc.tracks])
        for t, a in zip(loc.tracks, fc.angles or ()):
            t.lean = a
        for t, lv in zip(loc.tracks, fc.levels or ()):
            t.level = lv
        for t, m in zip(loc.tracks, fc.meshes or ()):  # a face the mesh lost is found from its box again
            t.mesh = m.landmarks if m is not None and m.present else None
        return fc


# what a video's frames are searched at, without --detect-size: on test.mp4, 400 px finds the
# faces 640 finds, at a third of the cost (the video command's, the API's stream and
# analyze_video's, so that both read a clip alike)
VIDEO_DETECT_SIZE = 400


def stream(recognizer, source, *, every: int = 1, smooth: float = 0.5, iou_threshold: float = 0.01,
           max_missed: int | None = None, frame_step: int = 1):
    """An iterator of :class:`~facemotion.results.Analysis`, one per frame of ``source`` (path, camera
    index or iterable of frames), tracked and smoothed by a :class:`FaceTracking`; with
    ``frame_step`` N, one per N-th frame (0, N, 2N, ...: every one of them detected), the frames
    between read but not analysed, as ``batch --frame-step`` samples a clip. The options and a
    file's path are checked now, in the call; the source is opened at the first frame asked for."""
    frame_step = validate.integer("frame_step", frame_step, 1)
    if frame_step > 1 and validate.integer("every", every, 1) > 1:
        # sampling already detects on each frame it keeps: a second rhythm on top would be two meanings
        raise UsageError(f"every={every} with frame_step={frame_step}: give one (frame_step keeps "
                                  "every N-th frame and detects on each; every detects on every N-th and tracks "
                                  "between, analysing all)")
    # sampled: the frames between are not analysed (carry=False), a face's id kept across the gap
    track = FaceTracking(every=frame_step if frame_step > 1 else every, smooth=smooth, iou_threshold=iou_threshold,
                         max_missed=max_missed, carry=frame_step == 1)
    if isinstance(source, (str, os.PathLike)) and not str(source).isdigit() and not stream_address(str(source)):
        check_input_file(Path(source), VideoError, "a video")  # a missing file or a folder: said here
    elif isinstance(source, int) or (isinstance(source, str) and source.isdigit() and not Path(source).is_file()):
        camera_index(source)  # out of range, or a bool: refused in one line
    return _frames(recognizer, source, track)


def _frames(recognizer, source, track):
    src = source if isinstance(source, FrameSource) else FrameSource(source)
    # a file's first seconds choose: a sideways file's frames turned upright as read, a 4K clip's small faces
    # searched; its later frames, looked at now and then, may raise the size (a crowd that walks in)
    looks = LaterLooks(recognizer, src)
    recognizer = for_clip(recognizer, src)
    # a file's frames go BATCH_FRAMES at a time where the stages batch them (a GPU's); a live
    # source (a camera) frame by frame, as soon as each arrives
    n = BATCH_FRAMES if getattr(recognizer.stages, "batched", None) is not None and not src.info.live else 1
    # a file's or a stream's address as the frames' ``file`` (a password in it masked)
    file = src.info.name if isinstance(source, (str, os.PathLike)) else None
    model = getattr(recognizer, "model_name", None)  # each frame's record names it, as a photo's does
    try:
        frames = iter(src)
        while chunk := list(islice(frames, n)):
            recognizer = looks(recognizer, chunk[0][2], chunk[0][1])
            done = track.many(recognizer, [(i, f) for i, _, f in chunk]) if n > 1 else \
                [track(recognizer, chunk[0][2], chunk[0][0])]
            for (i, t, frame), d in zip(chunk, done):
                if not track.carry and (d is None or not d[1]):
                    continue  # a frame between two sampled ones (frame_step): read, not analysed
                faces, detected = d or ([], False)
                yield Analysis(faces, frame.shape[1], frame.shape[0], file=file, index=i, time_s=t, detected=detected,
                               frame=frame, detector=recognizer.detector_name, labels=getattr(recognizer, "labels", None),
                               mesh=getattr(recognizer.stages, "mesh", None) is not None, model=model)
    finally:
        if src is not source:
            src.close()


def frame_table(results, labels, *, max_frames: int | None = None, mesh: bool = False):
    """Per-frame rows of :func:`stream`'s results, in the columns of ``facemotion video``'s CSV
    (frame, time_s, face_id, box, confidence, a probability per label, dominant_emotion; with
    ``mesh``, the mesh's pose and measures), as a pandas DataFrame. A frame without a face has no row."""
    from contextlib import closing
    from itertools import islice

    from ..results import MESH_COLUMNS, mesh_columns
    from ..writers import face_csv_columns

    cols = face_csv_columns(labels, mesh)
    with closing(results):  # a video left before its end is closed now, not when collected
        rows = [(r.index, round(r.time_s, 4), f["face_id"], *(int(v) for v in f["box"]), f["confidence"],
                 *(f["emotions"][e] for e in labels), f["dominant_emotion"],
                 *((mesh_columns(f).get(c) for c in MESH_COLUMNS) if mesh else ()))
                for r in islice(results, max_frames) for f in r.faces]
    import pandas as pd

    # the same types with faces or without (a clip without faces concatenates into numeric columns)
    ints = {"frame", "face_id", "x", "y", "w", "h"}
    return pd.DataFrame(rows, columns=cols).astype(
        {c: "int64" if c in ints else object if c == "dominant_emotion" else "float64" for c in cols})
