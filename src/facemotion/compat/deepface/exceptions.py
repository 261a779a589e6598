"""deepface's exceptions that its ``analyze`` raises, as facemotion's errors too: a program's
``except ValueError`` (deepface's base) and ``except facemotion.FacemotionError`` both catch them."""

from __future__ import annotations

from ...errors import FacemotionError, ImageError


class FaceNotDetected(FacemotionError, ValueError):
    """No face in the picture, with ``enforce_detection=True`` (deepface's default)."""


class InvalidImage(ImageError, ValueError):
    """A picture that cannot be read (facemotion's one-line reason)."""


class ImgNotFound(InvalidImage):
    """A path that names no file."""


__all__ = ["FaceNotDetected", "ImgNotFound", "InvalidImage"]
