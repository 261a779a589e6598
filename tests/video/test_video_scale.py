"""A large video file's small faces (facemotion.video.scale): where its first seconds, or its
later frames, show faces too small for the 400 px a video's frames are searched at, every path
that reads the file (the API's stream, `facemotion video`, `batch`) searches its frames at the
size they need, and says so; a clip whose faces 400 px shows, a small clip, Haar and an
asked-for size are read as before."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from facemotion import EmotionRecognizer
from facemotion.batch import JobSpec, read_rows, run_batch
from facemotion.cli import main
from facemotion.video.probe import Probe
from facemotion.video.scale import LOOK_SECONDS, LaterLooks, clip_side
from facemotion.video.sources import FrameSource

from conftest import group_clip


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return group_clip(tmp_path_factory.mktemp("scale") / "group.mp4", 40)


def video(clip: Path, out: Path, *extra) -> dict:
    assert main(["video", str(clip), "-o", str(out), "--no-video", "--no-progress", *extra]) == 0
    return json.loads((out / f"{clip.stem}_summary.json").read_text())


def test_a_large_clips_small_faces_are_found_on_every_path(small, tmp_path, capsys):
    # 40 px faces in 1080p: under what a 400 px copy shows (about 48 px there), found at 800
    rec = EmotionRecognizer()
    assert [len(r.faces) for r in rec.stream(small)] == [8] * 8
    capsys.readouterr()
    s = video(small, tmp_path / "ours")
    assert (s["detect_size"], s["detect_size_chosen"], len(s["faces"])) == (800, True, 8)
    assert "searched at 800 px: its first frames showed faces too small for 400" in capsys.readouterr().out
    assert all(f["frames_seen"] == 8 for f in s["faces"].values())
    # asked for, the size stands: what the command found before a clip could choose
    s = video(small, tmp_path / "asked", "--detect-size", "400")
    assert (s["detect_size"], s["detect_size_chosen"], len(s["faces"])) == (400, False, 0)
    assert "searched at" not in capsys.readouterr().out
    # batch reads the clip's frames as `facemotion video` does
    run_batch([small], tmp_path / "v.csv", spec=JobSpec(every=4), progress=False)
    frames = [r[1] for r in read_rows(tmp_path / "v.csv")]
    assert sorted(frames) == [0] * 8 + [4] * 8


def test_a_cameras_first_frame_chooses_alone(small, tmp_path, monkeypatch):
    """A camera's or a live stream's frames cannot be looked at ahead: the first frame, read as
    the camera opened, chooses (here a 1080p camera over a group, the clip standing in for it)."""
    import facemotion.video.sources as sources

    real = cv2.VideoCapture
    monkeypatch.setattr(sources.cv2, "VideoCapture", lambda index, *a: real(str(small)))
    monkeypatch.delenv("DISPLAY", raising=False)
    out = tmp_path / "cam"
    assert main(["webcam", "--camera", "0", "-o", str(out), "--max-frames", "4", "--no-video"]) == 0
    (summary,) = out.glob("webcam0_*_summary.json")
    s = json.loads(summary.read_text())
    assert (s["detect_size"], s["detect_size_chosen"], len(s["faces"])) == (800, True, 8)


def test_faces_that_come_later_are_looked_for(tmp_path, capsys):
    """A clip whose first seconds show nobody (a title card, an empty room) and then a group of
    small faces: looked at again every LOOK_SECONDS, two looks in a row that gain faces raise the
    size for the rest of the clip, on every path; the summary and the first line say from when."""
    late = group_clip(tmp_path / "late.mp4", 40, frames=30, lead=30, fps=5)  # faces from 6 s to 12 s
    # looks at 5 s (nobody), 7 s and 9 s (both gain at 800): the frames from 9 s on are searched at 800
    counts = [len(r.faces) for r in EmotionRecognizer().stream(late)]
    assert counts == [0] * 45 + [8] * 15
    s = video(late, tmp_path / "out")
    assert (s["detect_size"], s["detect_size_chosen"], s["detect_size_from_s"], len(s["faces"])) == (800, True, 9.0, 8)
    assert "searched at 800 px from 9.0 s on: faces too small for 400 appeared then" in capsys.readouterr().out
    run_batch([late], tmp_path / "v.csv", spec=JobSpec(every=5), progress=False)
    assert sorted(r[1] for r in read_rows(tmp_path / "v.csv")) == [45] * 8 + [50] * 8 + [55] * 8


class Info:
    def __init__(self, live):
        self.live = live


class Source:
    def __init__(self, live, path=None):
        self.info, self.path, self.searched_at, self.searched_from = Info(live), path, None, None


def test_later_looks_follow_their_rule(tmp_path):
    """A live source's looks begin after its first frame, a file's after its probe's seconds; one
    look that gains is not enough, nor two apart; the size goes no further than two doublings,
    and nothing is looked at where the size was asked for or with Haar."""
    group = cv2.VideoCapture(str(group_clip(tmp_path / "g.mp4", 40, frames=1)))
    ok, faces = group.read()
    assert ok
    empty = np.full_like(faces, (130, 110, 90))
    rec = EmotionRecognizer().for_video()
    src = Source(live=True)
    looks = LaterLooks(rec, src)
    seen = [looks(rec, f, t) for f, t in ((faces, 0.0), (faces, 1.0), (faces, LOOK_SECONDS), (empty, 4.0),
                                          (faces, 6.0))]
    assert all(r is rec for r in seen) and src.searched_at is None  # too early, too early, gains, nobody, gains
    raised = looks(rec, faces, 8.0)
    assert (raised.stages.detect_size, src.searched_at, src.searched_from) == (800, 800, 8.0)
    assert looks(raised, faces, 8.5) is raised  # the next look waits LOOK_SECONDS
    file_looks = LaterLooks(rec, Source(live=False, path="clip.mp4"))
    assert file_looks(rec, faces, 4.9) is rec and file_looks.asked is None  # the probe's seconds: not looked at
    given = LaterLooks(rec, Source(live=False))  # frames given one by one: nothing looked at them ahead
    assert given(rec, faces, 0.0) is rec and given.asked == 800
    for asked in (EmotionRecognizer(detect_size=400).for_video(), EmotionRecognizer("haar").for_video()):
        off = LaterLooks(asked, Source(live=True))
        assert all(off(asked, faces, t) is asked for t in (2.0, 4.0, 6.0)) and off.asked is None


class Unread:
    def __iter__(self):
        raise AssertionError("the probe's frames were read")


def test_clips_that_400_px_serves_are_read_as_before(tmp_path, media):
    rec = EmotionRecognizer().for_video()
    # faces of 90 px in 1080p: found at 400 near its smallest, searched at 800 as well, which adds none
    large = group_clip(tmp_path / "large.mp4", 90, frames=3)
    with FrameSource(large) as src, Probe(src) as probe:
        assert clip_side(rec.stages, src, probe) is None
    assert video(large, tmp_path / "out")["detect_size"] == 400
    # a clip under 800 px a side (every shared clip) and an asked-for size: nothing read; Haar (not
    # searched in more detail on photos either): the first frame, decoded as the file was opened
    asked = EmotionRecognizer(detect_size=400).for_video()
    for stages, clip in ((rec.stages, media / "test.mp4"), (asked.stages, large)):
        with FrameSource(clip) as src:
            assert clip_side(stages, src, Unread()) is None
    with FrameSource(large) as src:
        assert clip_side(EmotionRecognizer("haar").for_video().stages, src, [src.first_frame]) is None
