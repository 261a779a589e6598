"""facemotion: find every face in a picture or video and tell which of the 7 FER2013
emotions it shows.

    >>> import facemotion
    >>> facemotion.detect_emotions("photo.jpg")
    [{'box': (x, y, w, h), 'confidence': 0.98, 'emotions': {...}, 'dominant_emotion': 'happy'}]
"""

from pathlib import Path as _Path

__version__ = "0.2.0"

#: The bundled sample photo (NASA portrait of astronaut Eileen Collins, public domain).
SAMPLE_IMAGE = str(_Path(__file__).with_name("assets") / "astronaut.jpg")

from .errors import (  # noqa: E402
           DataError,
           FacemotionError,
           ImageError,
           ModelError,
           UsageError,
           VideoError,
)
from .labels import EMOTIONS  # noqa: E402
from .recognizer import EmotionRecognizer, detect_emotions  # noqa: E402

__all__ = ["EMOTIONS", "SAMPLE_IMAGE", "EmotionRecognizer", "detect_emotions", "FacemotionError", "ImageError", "DataError",
           "ModelError", "UsageError", "VideoError", "__version__"]
