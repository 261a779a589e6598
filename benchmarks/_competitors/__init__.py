"""The competitors the accuracy benchmarks run beside facemotion, each as its users run it:
``fer`` (in its own virtual environment, :class:`_common.FerProcess`) and face-api.js (in
headless Chromium, :mod:`.faceapi`). Each side scores a set's photos the same way: the largest
face's seven probabilities in FER2013's order, or no face."""

from __future__ import annotations

import numpy as np

from _common import FER_FACES_SIDE, FerProcess, largest_face

FER_EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def scorer(ask):
    """``score(items, whole) -> (probs, found)`` for a side whose ``ask(path, whole)`` gives a
    photo's faces as ``{"box": [x, y, w, h], "emotions": {name: p}}`` with FER2013's names."""

    def score(items, whole):
        probs = np.full((len(items), len(FER_EMOTIONS)), np.nan)
        for i, it in enumerate(items):
            if (face := largest_face(ask(str(it.path), whole))) is not None:
                probs[i] = [face["emotions"][e] for e in FER_EMOTIONS]
        return probs, ~np.isnan(probs[:, 0])

    return score


def fer_faces(python: str):
    """fer's ``FER().detect_emotions`` (its default detector, OpenCV's Haar cascade) in the
    virtual environment of ``python``: -> (``faces(path, whole=False)``, close)."""
    proc = FerProcess(python, FER_FACES_SIDE)

    def faces(path, whole=False):
        r = proc.ask(path=str(path), whole=whole)
        if isinstance(r, dict):  # {"error": ...}: never a silent miss
            raise SystemExit(f"error: fer could not read {path}")
        return r

    return faces, proc.close


def faceapi_faces():
    """face-api.js in headless Chromium (:mod:`.faceapi`): -> (``faces(path, whole=False)``, close)."""
    from .faceapi import FaceApi

    page = FaceApi()
    return page.faces, page.close


def fer_side(python: str):
    """-> (score, close): fer over a set's photos."""
    faces, close = fer_faces(python)
    return scorer(faces), close


def faceapi_side():
    """-> (score, close): face-api.js over a set's photos."""
    faces, close = faceapi_faces()
    return scorer(faces), close
