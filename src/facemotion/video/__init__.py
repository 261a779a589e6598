"""Video files, cameras and frame iterables: sources -> tracking -> per-frame stream -> files.

    >>> for r in EmotionRecognizer().stream("clip.mp4", every=3): ...   # doctest: +SKIP
"""

from .host import has_display
from .process import process_video, summarize
from .sources import FrameSource, SourceInfo
from .stream import FaceTracking, stream

__all__ = ["FaceTracking", "FrameSource", "SourceInfo", "has_display", "process_video", "stream", "summarize"]
