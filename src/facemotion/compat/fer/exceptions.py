"""fer's exceptions (``fer.exceptions``), as facemotion's: a fer program's ``except`` clauses
keep working, and facemotion's own handlers (``except facemotion.ImageError``) catch them too."""

from __future__ import annotations

from ...errors import FacemotionError, ImageError, ModelError


class InvalidImage(ImageError):
    """An image that cannot be read: ``None`` (what ``cv2.imread`` returns for a file it cannot
    read), an empty array, a missing or undecodable file. The message is facemotion's one line,
    naming the input and the problem."""


class InvalidModelFile(ModelError):
    """Defined for fer's imports; never raised here (nor by fer 25.10.3): a model file that
    cannot be loaded raises :class:`facemotion.ModelError`."""


class FaceDetectionError(FacemotionError):
    """Defined for fer's imports; never raised here (nor by fer 25.10.3)."""


__all__ = ["FaceDetectionError", "InvalidImage", "InvalidModelFile"]
