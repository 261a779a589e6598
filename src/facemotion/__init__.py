"""facemotion: find every face in a picture or video and tell which emotion it shows (FER2013's
seven, and contempt for the FER+ models such as the default).

    >>> import facemotion
    >>> facemotion.detect_emotions("photo.jpg")
    [{'box': (x, y, w, h), 'confidence': 0.98, 'emotions': {...}, 'dominant_emotion': 'happy'}]
"""

import os as _os
from pathlib import Path as _Path

__version__ = "0.2.0"

# facemotion runs offline: ONNX Runtime (imported when a model is loaded) sends no telemetry, and
# does not warn on every start that it cannot store a telemetry id where the home folder is
# read-only (a user's own setting of the variable is kept)
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


def _quiet_interrupts_while_starting() -> None:
    """The command line's process (``facemotion ...``, ``python -m facemotion``): a Ctrl-C while
    its modules import (a fifth of a second) stops it in one line, not an import's traceback;
    the command sets its own handlers as it starts (:mod:`facemotion.cli.process`)."""
    import signal
    import sys
    import threading

    started = _os.path.basename(sys.argv[0]) if sys.argv else ""
    if started == "facemotion" or sys.argv[:1] == ["-m"] or _os.path.normpath(sys.argv[0] if sys.argv else "").endswith(
            _os.path.join("facemotion", "__main__.py")):
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is \
                signal.default_int_handler:
            signal.signal(signal.SIGINT, lambda *_: (_os.write(2, b"interrupted\n"), _os._exit(130)))


_quiet_interrupts_while_starting()

try:  # OpenCV 4, whole: another package's OpenCV installed over it (5.x) or removed from under it
    import cv2 as _cv2  # (an empty cv2 folder) leaves a cv2 without what every stage needs

    _cv2.cvtColor, _cv2.FONT_HERSHEY_SIMPLEX  # noqa: B018
except (ImportError, AttributeError) as _e:
    raise ImportError(f"facemotion needs OpenCV 4, and cv2 cannot be used ({str(_e).splitlines()[0][:160]}): another "
                      "package's OpenCV installed over it or removed from under it, or a library it needs missing; "
                      "pip install --force-reinstall 'opencv-python-headless>=4.8,<5'") from None

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
