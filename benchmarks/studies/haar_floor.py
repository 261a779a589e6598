"""Can the Haar detector's smallest face size rise, or its pyramid coarsen (``scale_factor``,
1.1 shipped), to make small photos cheaper, without losing a face? For each candidate ``min_size``
(the shipped one is 24 px at the working size), at the photo (640) and video (400) working sizes:
faces of the shipped detector lost (no box of the candidate at IoU >= 0.5), moved (matched below IoU
0.99) or added, over every shared photo and every frame of test.mp4 and short_hamilton_clip.mp4; and
the detector's median ms on the small photos.

    python benchmarks/studies/haar_floor.py [--sizes 28 32 36 40] [--scale-factors 1.15 1.2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common and the product scripts
from facemotion.detect import HaarDetector
from facemotion.images import load_image
from facemotion.progress import progress_bar

from _common import MEDIA, machine, shared_photos, table, timeit

CLIPS = ["test.mp4", "short_hamilton_clip.mp4"]
SMALL = ["obama_small.jpg", "justin.jpg", "no-faces.jpg"]


def iou(a, b) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / (a[2] * a[3] + b[2] * b[3] - ix * iy)


def images() -> list[tuple[str, object]]:
    out = [(p.name, load_image(p)) for p in shared_photos()]
    for clip in CLIPS:
        cap = cv2.VideoCapture(str(MEDIA / clip))
        k = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            out.append((f"{clip}#{k}", frame))
            k += 1
    return out


def compare(ref, new) -> tuple[list[str], int, int]:
    lost, moved, added = [], 0, 0
    for (name, r), n in zip(ref, new):
        for box, _ in r:
            best = max((iou(box, b) for b, _ in n), default=0.0)
            if best < 0.5:
                lost.append(name)
            elif best < 0.99:
                moved += 1
        added += max(0, len(n) - len(r))
    return lost, moved, added


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[28, 32, 36, 40])
    p.add_argument("--scale-factors", type=float, nargs="*", default=[1.15, 1.2],
                   help="coarser pyramids, tried at working size 640 and min_size 24")
    p.add_argument("--repeat", type=int, default=20)
    a = p.parse_args()
    imgs = images()
    small = [(n, im) for n, im in imgs if n in SMALL]
    rows = []
    for side in (640, 400):
        trials = [(size, 1.1) for size in (24, *a.sizes)] + ([(24, f) for f in a.scale_factors] if side == 640 else [])
        for size, factor in progress_bar(trials, desc=f"working size {side}", unit="setting"):
            det = HaarDetector(max_side=side, min_size=size, scale_factor=factor)
            found = [(n, det.detect(im)) for n, im in imgs]
            if (size, factor) == (24, 1.1):
                ref = found
                smallest = min((box[2] * min(1.0, side / max(im.shape[:2])), n)
                               for (n, im), (_, r) in zip(imgs, ref) for box, _ in r)
            lost, moved, added = compare(ref, [r for _, r in found])
            ms = [f"{timeit(lambda: det.detect(im), a.repeat) * 1e3:.1f}" for _, im in small]
            rows.append([side, size, factor, sum(len(r) for _, r in found), len(lost), ", ".join(lost[:3]) or "-", moved,
                         added, *ms])
        print(f"working size {side}: smallest face found by the shipped detector {smallest[0]:.0f} px ({smallest[1]})")
    print(f"Haar minimum face size vs faces found, {len(imgs)} images (shared photos and every frame of "
          f"{', '.join(CLIPS)}), {machine()}")
    print(table(["working size", "min_size", "scale_factor", "faces", "lost", "lost in", "moved", "added",
                 *(f"{n} ms" for n, _ in small)], rows))


if __name__ == "__main__":
    main()
