"""fer's ``fer.utils`` (fer 25.10.3, MIT License, Copyright (c) 2018 Justin Shenk): its helpers,
answered by facemotion's reading and drawing. ``draw_annotations`` and ``draw_scores`` draw as
facemotion draws (a box, a label and a bar per emotion), in English; ``load_image`` reads what
the recognizer reads, and refuses a web address (facemotion runs offline)."""

from __future__ import annotations

import cv2
import numpy as np

from ... import decoding
from ...errors import ImageError, UsageError
from ...images import load_image as _load
from ...render import draw
from .exceptions import InvalidImage


def _english(lang: str, size_multiplier: int) -> None:
    if lang != "en" or size_multiplier != 1:
        raise UsageError(f"lang={lang!r}, size_multiplier={size_multiplier}: facemotion draws its labels in English, "
                         "sized to the picture; leave both out")


def draw_annotations(frame: np.ndarray, faces: list, boxes: bool = True, scores: bool = True,
                     color: tuple = (0, 155, 255), lang: str = "en", size_multiplier: int = 1) -> np.ndarray:
    """``frame`` with each face of ``faces`` (records with ``box`` and ``emotions``) drawn on it,
    in place, as fer does (``scores``: the emotion bars too; ``boxes`` and ``color``: facemotion
    always draws its box, in the top emotion's colour)."""
    _english(lang, size_multiplier)
    if not len(faces):
        return frame
    records = [{**f, "dominant_emotion": f.get("dominant_emotion") or max(f["emotions"], key=f["emotions"].get)}
               for f in faces]
    drawn = draw(frame, records, bars=scores, mesh=False)
    # a gray frame (fer draws on one) takes the drawing's gray: it is changed in place, as fer's
    frame[...] = cv2.cvtColor(drawn, cv2.COLOR_BGR2GRAY).reshape(frame.shape) if drawn.ndim > frame.ndim \
        or drawn.shape[-1] != frame.shape[-1] else drawn
    return frame


def draw_scores(frame: np.ndarray, emotions: dict, bounding_box, lang: str = "en",
                size_multiplier: int = 1) -> np.ndarray:
    """One face's emotions drawn at ``bounding_box`` (x, y, w, h), in place."""
    return draw_annotations(frame, [{"box": tuple(bounding_box), "emotions": emotions}], lang=lang,
                            size_multiplier=size_multiplier)


def loadBase64Img(uri: str) -> np.ndarray:  # noqa: N802 - fer's name
    """A ``data:image/...;base64,`` URI -> the BGR picture."""
    return load_image(data_uri_bytes(uri))


def data_uri_bytes(uri: str) -> bytes:
    """A ``data:image/...;base64,`` URI's bytes, or InvalidImage naming the URI."""
    return decoding.data_uri_bytes(uri, InvalidImage)


def pil_to_bgr(pil_image) -> np.ndarray:
    return cv2.cvtColor(np.array(pil_image.convert("RGB")), cv2.COLOR_RGB2BGR)


def load_image(img) -> np.ndarray:
    """A BGR picture from a numpy array, a path, bytes or a base64 data URI (fer also fetched web
    addresses: facemotion runs offline, so a URL is refused in one line); what cannot be read
    raises :class:`InvalidImage`."""
    if img is None:
        raise InvalidImage("Image not valid.")
    if isinstance(img, str) and img.startswith("data:image/"):
        return loadBase64Img(img)
    if isinstance(img, str) and img.startswith(("http://", "https://")):
        raise InvalidImage(f"{img[:80]}: facemotion reads no URLs (it runs offline); download the picture and pass "
                           "its path or its bytes")
    try:
        return _load(img)
    except ImageError as e:
        raise InvalidImage(str(e)) from None


__all__ = ["draw_annotations", "draw_scores", "loadBase64Img", "pil_to_bgr", "load_image"]
