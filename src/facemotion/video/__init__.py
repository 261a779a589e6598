"""Video files, cameras and frame iterables: sources -> tracking -> per-frame stream -> files.

    >>> for r in EmotionRecognizer().stream("clip.mp4", every=3): ...   # doctest: +SKIP
"""

from .process import has_display, process_video, summarize
from .sources import FrameSource, SourceInfo
from .stream import FaceTracking, FrameResult, stream

__all__ = ["FaceTracking", "FrameResult", "FrameSource", "SourceInfo", "has_display", "process_video", "stream", "summarize"]
