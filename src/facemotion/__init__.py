"""facemotion: find every face in a picture or video and tell which of the 7 FER2013
emotions it shows.

    >>> import facemotion
    >>> facemotion.detect_emotions("photo.jpg")
    [{'box': (x, y, w, h), 'confidence': 0.98, 'emotions': {...}, 'dominant_emotion': 'happy'}]
"""

from .errors import DataError, FacemotionError, ImageError, ModelError, VideoError
from .labels import EMOTIONS
from .recognizer import EmotionRecognizer, detect_emotions

__version__ = "0.1.0"

__all__ = ["EMOTIONS", "EmotionRecognizer", "detect_emotions", "FacemotionError", "ImageError", "DataError",
           "ModelError", "VideoError", "__version__"]
