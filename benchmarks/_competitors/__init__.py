"""The competitors the accuracy benchmarks run beside facemotion, each as its users run it:
``fer`` (in its own virtual environment, :class:`_common.FerProcess`), face-api.js and Human (in
headless Chromium, :mod:`.browser`). Each side scores a set's photos the same way: the largest
face's seven probabilities in FER2013's order, or no face."""

from __future__ import annotations

import numpy as np

from _common import FER_FACES_SIDE, FerProcess, largest_face

FER_EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
# the JavaScript sides by the name a benchmark's --competitors gives them -> (the row's label, the
# library's, every photo read as one face: face-api.js's expression network alone, for sets of
# tight face crops where its detector finds no face)
BROWSER_SIDES = {"faceapi": ("face-api.js", "face-api.js", False),
                 "faceapi-whole": ("face-api.js (whole)", "face-api.js", True),
                 "faceapi-tiny": ("face-api.js (tiny)", "face-api.js (tiny)", False),
                 "human": ("Human", "Human", False)}


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


def browser_faces(label: str):
    """``label``'s library (a name of :data:`.browser.LIBRARIES`: ``"face-api.js"``, ``"Human"``, ...)
    in headless Chromium
    (:mod:`.browser`): -> (``faces(path, whole=False)``, close, whether it reads a face given whole)."""
    import signal
    import sys

    from .browser import LIBRARIES, BrowserLibrary

    # a run stopped with SIGTERM (kill, a job's timeout) unwinds as Ctrl-C does, through the
    # callers' finally blocks that close the browsers, rather than leaving Chromium running
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    page = BrowserLibrary(LIBRARIES[label])
    return page.faces, page.close, page.library.whole


def fer_side(python: str):
    """-> (score, close, True): fer over a set's photos."""
    faces, close = fer_faces(python)
    return scorer(faces), close, True


def browser_side(name: str):
    """-> (the row's label, (score, close, reads a face given whole)): a JavaScript library over
    a set's photos, by its name in :data:`BROWSER_SIDES`."""
    label, library, as_face = BROWSER_SIDES[name]
    faces, close, whole = browser_faces(library)
    ask = (lambda path, _whole: faces(path, True)) if as_face else faces
    return label, (scorer(ask), close, whole)


def versions(rows, fer_python: str | None = None) -> str:
    """What ran beside facemotion, for a results file's header ('' for nothing): fer's installed
    version (``fer_python``'s), and for the rows of :data:`BROWSER_SIDES` among ``rows`` their
    libraries' pinned packages and the Chromium that ran them."""
    import subprocess

    out = []
    if fer_python:
        r = subprocess.run([fer_python, "-c", "import importlib.metadata as m; print(m.version('fer'))"],
                           capture_output=True, text=True, timeout=120)
        out.append(f"fer {r.stdout.strip() or '(version unknown)'}")
    libraries = {lib for row, lib, _ in BROWSER_SIDES.values() if row in rows}
    if libraries:
        from .browser import LIBRARIES
        from web_fps import _test_helpers, browser_version

        packages = dict.fromkeys(f"{p.name} {p.version}" for lb in sorted(libraries) for p in LIBRARIES[lb].packages)
        out.append(f"{', '.join(packages)} in headless Chromium {browser_version(_test_helpers())}")
    return "; ".join(out)
