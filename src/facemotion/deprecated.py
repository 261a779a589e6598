"""Members of the 0.1 recognizer that moved to its stages: they keep working for a release,
saying once what replaced them (:meth:`EmotionRecognizer.__getattr__
<facemotion.recognizer.EmotionRecognizer>` reaches here only for names the class does not have)."""

from __future__ import annotations

import warnings


def moved(rec, name: str):
    if name not in _MOVED or name == "stages":
        raise AttributeError(f"{type(rec).__name__!r} object has no attribute {name!r}")
    get, instead = _MOVED[name]
    if name not in _warned:
        _warned.add(name)
        warnings.warn(f"EmotionRecognizer.{name} is deprecated and will be removed in 0.3; use {instead}",
                      DeprecationWarning, stacklevel=3)
    return get(rec)


def _detect_faces(rec):
    def detect_faces(image):
        pic = rec.read(image)
        return [(pic.full_box(b), c) for b, c in rec.stages.detect(pic.pixels)]
    return detect_faces


def _classify_boxes(rec):
    def classify_boxes(image, boxes):
        return rec.stages.classify_crops(rec.stages.detect_crops(image, [(b, 1.0) for b in boxes]))
    return classify_boxes


def _stage(name):
    return lambda rec: getattr(rec.stages, name)


# public members removed from EmotionRecognizer since 0.1.0 (git history): how to get each now
_MOVED = {
    "detect_faces": (_detect_faces, "[(f.box, f.confidence) for f in rec.analyze(image).faces], or "
                                    "rec.stages.detect(rec.read(image).pixels) for boxes alone"),
    "classify_boxes": (_classify_boxes, "rec.stages.classify_crops(rec.stages.detect_crops(image, [(box, 1.0), ...]))"),
    "LEVEL_REUSE_DEGREES": (lambda rec: _align_reuse(), "facemotion.align.LEVEL_REUSE_DEGREES"),
    **{name: (_stage(name), f"rec.stages.{name}") for name in (
        "detector", "classifier", "upright", "detect", "crop", "detect_crops", "level_box", "classify_crops",
        "results", "input_size", "detector_options", "model_path", "explainer", "explain_boxes")},
}
_warned: set[str] = set()


def _align_reuse():
    from .align import LEVEL_REUSE_DEGREES

    return LEVEL_REUSE_DEGREES
