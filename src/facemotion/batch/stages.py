"""The two halves of the work on one input, shared by every engine.

:func:`detect_item` decodes an input (a photo, or a video's sampled frames), finds its faces
and cuts them to the classifier's grid; :func:`classify_items` then runs the faces of *several*
inputs through the classifier in one call and makes the rows. Together they compute what
``EmotionRecognizer.analyze`` computes (the same crops, the same probabilities: the shipped
models give each face the same output whatever batch it is in), so a batch job's rows equal
``detect_emotions``'s results.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import FacemotionError
from ..images import whole_picture
from ..preprocess import crop_faces, normalize, scale_box
from ..recognizer import EmotionRecognizer
from ..render import draw
from ..results import make_result
from ..video.sources import FrameSource
from ..video.tracking import IoUTracker, SceneCutDetector
from ..writers import write_image
from .inputs import Item
from .rows import Row, error_row, face_row

SCHEMA_VERSION = 2  # 2: large JPEGs decoded reduced, Haar on gray before its resize (other rows)


@dataclass(frozen=True)
class JobSpec:
    """What decides a job's rows; a resumed run must use the same."""

    detector: str = "haar"
    model: str | None = None
    min_confidence: float | None = None
    detect_size: int | None = None
    every: int = 1  # videos: every N-th frame

    def signature(self) -> dict:
        return {"schema": SCHEMA_VERSION, **asdict(self)}

    def recognizer(self, classifier=None) -> EmotionRecognizer:
        """A recognizer for one worker: one classifier thread (the workers are the parallelism);
        ``classifier`` shares an already loaded one (detectors hold per-call state, classifiers don't)."""
        return EmotionRecognizer(detector=self.detector, model=classifier if classifier is not None else self.model,
                                 min_confidence=self.min_confidence, detect_size=self.detect_size, threads=1)


@dataclass
class Detected:
    """An input's faces before classification: where each was found and its crop."""

    item: Item
    where: list[tuple] = field(default_factory=list)  # (frame, time_s, face_id, box, confidence) per face
    crops: np.ndarray | None = None                    # N x S x S uint8, aligned with ``where``
    error: str | None = None
    image: np.ndarray | None = None                    # kept only to draw an annotated copy


def detect_item(rec: EmotionRecognizer, item: Item, *, every: int = 1, keep_image: bool = False) -> Detected:
    """Decode ``item`` and crop its faces; a failure is recorded, never raised."""
    try:
        if item.kind == "video":
            return _detect_video(rec, item, every)
        image, size = rec.read(item.path)  # what detect_emotions decodes: a large JPEG reduced
        dets = rec.detector.detect(image)
        crops = crop_faces(image, [b for b, _ in dets], rec.classifier.input_size)
        where = [(None, None, k, scale_box(box, image.shape, size), conf) for k, (box, conf) in enumerate(dets)]
        return Detected(item, where, crops, image=whole_picture(item.path, image, size) if keep_image else None)
    except FacemotionError as e:
        return Detected(item, error=str(e))
    except Exception as e:  # noqa: BLE001 - one odd file must not end a run over a whole collection
        return Detected(item, error=f"{type(e).__name__}: {e}")


def _detect_video(rec: EmotionRecognizer, item: Item, every: int) -> Detected:
    """Every ``every``-th frame: detect, follow faces with the tracker `facemotion video` uses
    (ids restart after a scene cut), crop."""
    tracker, cut, cut_since = IoUTracker.for_every(every, smooth=0.0), SceneCutDetector(), False
    where, crops = [], []
    with FrameSource(item.path) as src:
        for i, t, frame in src:
            cut_since |= cut(frame)  # on consecutive frames, which its threshold was measured on
            if i % every:
                continue
            if cut_since:
                tracker.reset()
                cut_since = False
            dets = rec.detector.detect(frame)
            tracks = tracker.update(dets)
            crops.append(crop_faces(frame, [b for b, _ in dets], rec.classifier.input_size))
            where += [(i, t, tr.id, box, conf) for tr, (box, conf) in zip(tracks, dets)]
    size = rec.classifier.input_size
    return Detected(item, where, np.concatenate(crops) if crops else np.zeros((0, size, size), np.uint8))


def classify_items(rec: EmotionRecognizer, detected: list[Detected], annotate_dir=None) -> list[list[Row]]:
    """Rows for each of ``detected``, all their faces through the classifier in one call."""
    model = rec.classifier.name
    crops = [d.crops for d in detected if d.error is None and len(d.crops)]
    probs = rec.classifier.predict(normalize(np.concatenate(crops))[:, None]) if crops else None
    out, k = [], 0
    for d in detected:
        if d.error is not None:
            out.append([error_row(d.item.path, d.error, model)])
            continue
        p, k = probs[k:k + len(d.where)] if len(d.where) else (), k + len(d.where)
        results = [make_result(box, conf, pi) for (_, _, _, box, conf), pi in zip(d.where, p)]
        out.append([face_row(d.item.path, r, model, face_id=fid, frame=frame, time_s=t)
                    for (frame, t, fid, _, _), r in zip(d.where, results)])
        if annotate_dir is not None and d.item.kind == "image":
            write_image(f"{annotate_dir}/{d.item.stem}_annotated.jpg", draw(d.image, results))
    return out
