"""What the annotated MP4 costs: SafeVideoWriter's H.264 (PyAV's libx264, CRF 23, its preset
and slower ones) against the OpenCV mp4v it replaced, on test.mp4's frames at their size and
scaled to 1080p.

    python benchmarks/studies/video_writer.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common and the product scripts
from _common import MEDIA, machine, table


def encode(frames, fps, codecs, path) -> tuple[float, int, str]:
    from facemotion.writers.video import SafeVideoWriter

    h, w = frames[0].shape[:2]
    t = time.perf_counter()
    writer = SafeVideoWriter(path, fps, (w, h), codecs=codecs)
    for f in frames:
        writer.write(f)
    out = writer.close()
    return len(frames) / (time.perf_counter() - t), out.stat().st_size, writer.codec


def main():
    from facemotion.writers.video import H264Writer, OpenCVWriter

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", default=str(MEDIA / "test.mp4"))
    p.add_argument("--repeat", type=int, default=3, help="best of N runs")
    p.add_argument("--presets", nargs="+", default=[H264Writer.preset, "superfast", "veryfast"],
                   help="x264 presets to compare (the first is the writer's)")
    a = p.parse_args()
    cap = cv2.VideoCapture(a.video)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25
    frames = []
    while (f := cap.read()[1]) is not None:
        frames.append(f)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, clip in (("native", frames), ("1080p", [cv2.resize(f, (1920, 1080)) for f in frames[:60]])):
            h, w = clip[0].shape[:2]
            base = None
            writers = [(OpenCVWriter, "mp4v")] + [
                (type("Writer", (H264Writer,), {"preset": preset}), f"h264 {preset}") for preset in a.presets]
            for writer, name in writers:
                runs = [encode(clip, fps, (writer,), Path(tmp) / "v.mp4") for _ in range(a.repeat)]
                speed, size, _ = max(runs)
                base = base or speed
                rows.append([f"{label} {w}x{h}", name, len(clip), f"{speed:.0f}", f"{1000 / speed:.1f}",
                             f"{speed / base:.2f}x", f"{size / len(clip) / 1024:.1f}"])
    print(f"{Path(a.video).name} on {machine()}, best of {a.repeat}")
    print(table(["frames", "writer", "n", "frames/s", "ms/frame", "speed vs mp4v", "KiB/frame"], rows))


if __name__ == "__main__":
    main()
