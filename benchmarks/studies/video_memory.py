"""What a long video run keeps in memory for its summary and plots, per frame: the per-face
readings as lists of Python floats and a tuple per frame (the layout before
``facemotion.video.record``) against the typed arrays it keeps now, for the same readings; and
a whole ``process_video`` over a camera-like stream of a face (no MP4), its Python memory
growth per frame from frame 2,500 to the last (tracemalloc; Python's free lists of small
tuples fill up to 2,000 each in the first frames, which is no growth); and the peak of the
summary made at the end, through a dict of a frame each and through the arrays.

    python benchmarks/studies/video_memory.py [--readings 1000000] [--frames 5000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import tracemalloc
from pathlib import Path

import cv2

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common and the product scripts
from _common import MEDIA, command_line, machine, table, write_results

START = 2500


def held(build) -> int:
    """Bytes that ``build()``'s result keeps (tracemalloc, the result alive)."""
    tracemalloc.start()
    kept = build()
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    return size


def layouts(readings: int, measures: bool) -> tuple[int, int]:
    """Bytes for one face's ``readings`` (seven probabilities, with the mesh's measures or not)
    and a row per frame, kept as lists (before) and as typed arrays (now)."""
    from facemotion.results import MESH_MEASURES as names
    from facemotion.video.record import FaceRecord, FrameLog

    probs = [0.01, 0.02, 0.03, 0.81, 0.05, 0.04, 0.04]

    def lists():
        acc, frames = {"frames": [], "times": [], "probs": [], "measures": []}, []
        for i in range(readings):
            t = i / 30
            acc["frames"].append(i)
            acc["times"].append(t)
            acc["probs"].append([p + i * 1e-9 for p in probs])  # each reading its own floats, as a run's are
            if measures:
                acc["measures"].append((t, {k: 0.1 + i * 1e-9 for k in names}))
            frames.append((i, t))
        return acc, frames

    def arrays():
        acc, frames = FaceRecord(len(probs)), FrameLog()
        for i in range(readings):
            t = i / 30
            acc.add(i, t, [p + i * 1e-9 for p in probs], {k: 0.1 + i * 1e-9 for k in names} if measures else None)
            frames.add(i, t)
        return acc, frames

    return held(lists), held(arrays)


def summary_peak(readings: int) -> tuple[int, int]:
    """Peak bytes of the summary over one face's ``readings``: through a dict and lists of a
    frame each (:func:`~facemotion.video.record.frame_durations`, as before) and through the
    arrays as kept (:func:`~facemotion.video.record.held_times`, as now)."""
    from facemotion.video.record import FaceRecord, FrameLog, frame_durations, held_times, summarize

    rec, log = FaceRecord(7), FrameLog()
    for i in range(readings):
        rec.add(i, i / 30, [0.01, 0.02, 0.03, 0.81 - i * 1e-9, 0.05, 0.04, 0.04 + i * 1e-9])
        log.add(i, i / 30)
    peaks = []
    for old in (True, False):
        tracemalloc.start()
        index, times = log.arrays()
        durations = frame_durations(list(zip(index.tolist(), times.tolist())), 30.0) if old else \
            (index, held_times(times, 30.0))
        summarize({1: rec}, readings, 30.0, durations=durations)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        del durations
    return peaks[0], peaks[1]


def whole_run(n_frames: int) -> tuple[float, int]:
    """Python memory growth per frame of ``process_video`` over ``n_frames`` frames of one face
    (obama.jpg at 320 px wide), from frame ``START`` to the last, and the faces read."""
    from facemotion import EmotionRecognizer
    from facemotion.video import process_video

    image = cv2.imread(str(MEDIA / "obama.jpg"))
    image = cv2.resize(image, (320, round(image.shape[0] * 320 / image.shape[1])))
    marks = {}

    def frames():
        for i in range(n_frames):
            if i in (START, n_frames - 1):  # the last before the summary and its plots
                marks[i] = tracemalloc.get_traced_memory()[0]
            yield image

    rec = EmotionRecognizer()
    with tempfile.TemporaryDirectory() as out:
        tracemalloc.start()
        summary = process_video(rec, frames(), out, write_video=False, progress=False)
        tracemalloc.stop()
    faces = sum(f["frames_seen"] for f in summary["faces"].values())
    return (marks[n_frames - 1] - marks[START]) / (n_frames - 1 - START), faces


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--readings", type=int, default=1_000_000, help="readings of one face for the layouts")
    ap.add_argument("--frames", type=int, default=5000, help="frames of the whole run (0: none)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/video_memory"))
    args = ap.parse_args(argv)
    rows, data = [], {"readings": args.readings}
    for measures in (False, True):
        before, now = layouts(args.readings, measures)
        what = "with --mesh" if measures else "default"
        rows.append([what, f"{before / args.readings:.0f} B", f"{now / args.readings:.0f} B", f"{before / now:.1f}x"])
        data[what] = {"lists_bytes": before, "arrays_bytes": now}
    before, now = summary_peak(args.readings)
    data["summary_peak"] = {"lists_bytes": before, "arrays_bytes": now}
    rows.append(["the summary at the end (peak)", f"{before / args.readings:.0f} B", f"{now / args.readings:.0f} B",
                 f"{before / now:.1f}x"])
    text = "\n".join([command_line(__file__, argv), machine(), "",
                      f"one face seen in {args.readings:,} frames: what the run keeps per frame",
                      table(["outputs", "lists (before)", "typed arrays (now)", "lists / arrays"], rows)])
    if args.frames > START + 1:
        per_frame, faces = whole_run(args.frames)
        data["whole_run"] = {"frames": args.frames, "faces": faces, "bytes_per_frame": per_frame}
        text += (f"\n\nprocess_video over {args.frames:,} frames of one face (no MP4): Python memory grew "
                 f"{per_frame:.0f} B a frame from frame {START:,} on ({faces:,} face readings)")
    print(text)
    write_results(args.out, text, data)


if __name__ == "__main__":
    main()
