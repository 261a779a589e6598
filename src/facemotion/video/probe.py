"""A video file's first seconds, decoded once for the choices made before its first frame is read:
which way up its faces stand (:mod:`facemotion.video.upright`) and what size its frames are
searched at (:mod:`facemotion.video.scale`)."""

from __future__ import annotations

from .files import _capture

PROBE_FRAMES = 5
# (the frames up to the last probe are decoded: a clip without faces pays them, 300 at 60 frames/s)
PROBE_SECONDS = 5.0


def probe_frames(src, n: int = PROBE_FRAMES, seconds: float = PROBE_SECONDS):
    """Up to ``n`` frames of a video file's first ``seconds``, evenly spread, the first one first:
    read by a capture of their own (the source's reading is not moved), decoded only where taken."""
    yield src.first_frame
    total = src.info.frame_count or round(src.info.fps * seconds)
    span = min(total, round(src.info.fps * seconds))
    step = max(1, span // n)
    if n < 2 or span <= step:
        return
    cap = _capture(src.path)
    try:
        for i in range(1, span):
            if not cap.grab():
                return
            if i % step == 0:
                ok, frame = cap.retrieve()
                if ok and frame is not None:
                    yield frame
                    n -= 1
                    if n <= 1:
                        return
    finally:
        cap.release()


class Probe:
    """:func:`probe_frames` of ``src`` (as decoded, not turned), each decoded when first asked for
    and kept, so that each choice reads them in turn without decoding the clip's first seconds
    again (a 4K clip's 150 frames take 1.6 s on 2 cores); a reader that stops early leaves the rest
    undecoded. Use as a context manager: leaving it lets the frames go."""

    def __init__(self, src, n: int = PROBE_FRAMES, seconds: float = PROBE_SECONDS):
        self._new, self._kept = probe_frames(src, n, seconds), []

    def __iter__(self):
        i = 0
        while True:
            if i == len(self._kept):
                frame = next(self._new, None)
                if frame is None:
                    return
                self._kept.append(frame)
            yield self._kept[i]
            i += 1

    def close(self) -> None:
        self._new.close()
        self._kept = []

    def __enter__(self) -> "Probe":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
