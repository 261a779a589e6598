"""The two halves of the work on one input, shared by every engine.

:func:`detect_item` decodes an input (a photo, or a video's sampled frames), finds its faces
and cuts them to the classifier's grid; :func:`classify_items` then runs the faces of *several*
inputs through the classifier in one call and makes the rows. Together they compute what
``EmotionRecognizer.analyze`` computes, through its stage methods (the same crops, the same probabilities: the shipped
models give each face the same output whatever batch it is in), so a batch job's rows equal
``detect_emotions``'s results.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..detect import DEFAULT_DETECTOR
from ..errors import FacemotionError
from ..images import Picture
from ..recognizer import EmotionRecognizer, FaceCrops
from ..render import draw
from ..video.sources import FrameSource
from ..video.stream import FaceTracking
from ..writers import write_image
from .inputs import Item
from ..labels import EMOTIONS
from .rows import Row, error_row, face_row

# 2: large JPEGs decoded reduced, Haar on gray before its resize (other rows); 3: video faces
# follow `facemotion video`'s tracking rule whole (boxes clipped to the frame)
SCHEMA_VERSION = 3


@dataclass(frozen=True)
class JobSpec:
    """What decides a job's rows; a resumed run must use the same."""

    detector: str = DEFAULT_DETECTOR
    model: str | None = None
    min_confidence: float | None = None
    detect_size: int | None = None
    every: int = 1  # videos: every N-th frame
    upright: bool = True  # leaning faces turned level before their crop
    fold_contempt: bool = False  # a FER+ model's contempt added to disgust: FER2013's seven columns
    precision: str | None = None  # "int8": the shipped model's int8 variant (other probabilities)
    threads: int | str | None = None  # each worker's ONNX Runtime + OpenCV threads (None: 1; the workers
                                      # are the parallelism), as EmotionRecognizer(threads=...)

    # options added after outputs were first written: left out of the signature at their
    # defaults, so those outputs still resume
    LATER = {"fold_contempt": False, "precision": None, "threads": None}

    def signature(self) -> dict:
        sig = {"schema": SCHEMA_VERSION, **asdict(self)}
        for key, default in self.LATER.items():
            if sig[key] == default:
                del sig[key]
        return sig

    def check(self) -> str:
        """Fail as a worker would on a bad --model or --detector, without loading the model
        (the driver of a cluster job needs none); the model's name as known without opening it."""
        return EmotionRecognizer.check(self.detector, self.model, min_confidence=self.min_confidence,
                                       detect_size=self.detect_size, precision=self.precision)

    def recognizer(self) -> EmotionRecognizer:
        """The recognizer of one worker: one classifier thread (the workers are the parallelism).
        Threads of one process share its classifier through ``EmotionRecognizer.for_thread``."""
        return EmotionRecognizer(detector=self.detector, model=self.model, min_confidence=self.min_confidence,
                                 detect_size=self.detect_size, upright=self.upright,
                                 threads=1 if self.threads is None else self.threads,
                                 precision=self.precision, fold_contempt=self.fold_contempt)

    def labels(self) -> tuple:
        """The emotions the job's rows carry (the output's probability columns), known on a
        cluster's driver too, which loads no model: a shipped model's card says them."""
        if self.fold_contempt:
            return EMOTIONS
        from ..zoo import resolve

        _, entry = resolve(self.model, self.precision)
        if entry is not None:
            return tuple(entry.card.labels)
        return tuple(EmotionRecognizer(detector="none", model=self.model, threads=1, precision=self.precision).labels)


@dataclass
class Detected:
    """An input's faces before classification: where each was found and its crop."""

    item: Item
    where: list[tuple] = field(default_factory=list)  # (frame, time_s, face_id, box, confidence) per face
    crops: np.ndarray | None = None                    # N x S x S uint8, aligned with ``where``
    error: str | None = None
    picture: Picture | None = None                     # kept only to draw an annotated copy


def detect_item(rec: EmotionRecognizer, item: Item, *, every: int = 1, keep_image: bool = False) -> Detected:
    """Decode ``item`` and crop its faces (the recognizer's read, detect and crop stages); a
    failure is recorded, never raised."""
    try:
        if item.kind == "video":
            return _detect_video(rec, item, every)
        pic = rec.read(item.path)  # what detect_emotions decodes: a large JPEG reduced
        faces = rec.detect_crops(pic.pixels)
        where = [(None, None, k, pic.full_box(b), c) for k, (b, c) in enumerate(zip(faces.boxes, faces.confidences))]
        if keep_image:
            pic.whole()  # decoded here, in the worker, for the annotated copy
        return Detected(item, where, faces.crops, picture=pic if keep_image else None)
    except FacemotionError as e:
        return Detected(item, error=str(e))
    except Exception as e:  # noqa: BLE001 - one odd file must not end a run over a whole collection
        return Detected(item, error=f"{type(e).__name__}: {e}")


def _detect_video(rec: EmotionRecognizer, item: Item, every: int) -> Detected:
    """Every ``every``-th frame: faces found and followed by the tracking `facemotion video`
    uses (:class:`~facemotion.video.FaceTracking`: ids restart after a scene cut), cropped."""
    tracking = FaceTracking(every=every, smooth=0.0, carry=False)
    where, crops = [], []
    with FrameSource(item.path) as src:
        for i, t, frame in src:
            loc = tracking.locate(rec, frame, i)
            if loc is None:
                continue
            crops.append(tracking.crops(rec, frame, loc).crops)
            where += [(i, t, tr.id, box, tr.confidence) for tr, box in zip(loc.tracks, loc.boxes)]
    size = rec.input_size
    return Detected(item, where, np.concatenate(crops) if crops else np.zeros((0, size, size), np.uint8))


def classify_items(rec: EmotionRecognizer, detected: list[Detected], annotate_dir=None) -> list[list[Row]]:
    """Rows for each of ``detected``, all their faces through the classifier in one call."""
    model = rec.model_name
    crops = [d.crops for d in detected if d.error is None and len(d.crops)]
    probs = rec.classify_crops(np.concatenate(crops)) if crops else None
    out, k = [], 0
    for d in detected:
        if d.error is not None:
            out.append([error_row(d.item.path, d.error, model, rec.labels)])
            continue
        p, k = probs[k:k + len(d.where)] if len(d.where) else (), k + len(d.where)
        faces = FaceCrops([w[3] for w in d.where], [w[4] for w in d.where], d.crops)
        results = rec.results(faces, p)
        out.append([face_row(d.item.path, r, model, face_id=fid, frame=frame, time_s=t)
                    for (frame, t, fid, _, _), r in zip(d.where, results)])
        if annotate_dir is not None and d.item.kind == "image":
            write_image(f"{annotate_dir}/{d.item.stem}_annotated.jpg", draw(d.picture.whole(), results))
    return out
