"""Faces cut by the picture's edge (docs/mesh.md, "Faces cut by the picture's edge"): how far
each action measure moves from the uncut photo's when the points it reads lie beyond the edge,
by how far beyond (in eye distances). London's photos, cut from below (through the mouth and
nose) and from the side (through an eye), at 95% to 50% of the detector's box: the numbers
behind ``facemotion.mesh.measures.MEASURE_POINTS``' rule (a measure reading a point beyond the
edge is not given).

    python benchmarks/studies/mesh_cut.py [--n 20] [--out benchmarks/results/mesh_cut]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common and the product scripts
from _common import SHARED, command_line, machine, table, write_results

LONDON = SHARED / "datasets" / "london_faces"
# how far beyond the edge a measure's farthest point lies, in eye distances: the bins reported
BINS = ((None, 0.0), (0.0, 0.02), (0.02, 0.05), (0.05, 0.1), (0.1, 0.2), (0.2, 0.4), (0.4, np.inf))


def cuts(image, box):
    """The photo cut from below and from the image's left, keeping 95% .. 50% of the face's box."""
    x, y, w, h = box
    for keep in np.arange(0.95, 0.49, -0.05):
        yield image[: int(y + h * keep)]
        yield image[:, int(x + w * (1 - keep)):]


def readings(n: int) -> list[tuple[float, float]]:
    """(farthest point beyond the edge, |measure - the uncut photo's|) per cut face and measure."""
    from facemotion import EmotionRecognizer
    from facemotion.mesh import rigid_fit
    from facemotion.mesh.measures import MEASURE_POINTS, action_measures, eye_distance
    from facemotion.progress import progress_bar

    rec = EmotionRecognizer(mesh=True)
    photos = [p for d in ("neutral", "smiling") for p in sorted((LONDON / d).glob("*.jpg"))[:n]]
    out = []
    for path in progress_bar(photos, desc="cut photos"):
        image = cv2.imread(str(path))
        whole = rec.detect_emotions(image)[0]
        for cut in cuts(image, whole["box"]):
            faces = rec.detect_emotions(cut)
            if not faces or faces[0]["landmarks"] is None:
                continue
            p = np.asarray(faces[0]["landmarks"], np.float64)
            h, w = cut.shape[:2]
            beyond = np.max([-0.5 - p[:, 0], -0.5 - p[:, 1], p[:, 0] - (w - 0.5), p[:, 1] - (h - 0.5)], axis=0)
            beyond = beyond / eye_distance(p)
            m = action_measures(p, rigid_fit(p))  # every measure, as if no point were beyond the edge
            out += [(float(beyond[list(idx)].max()), abs(m[k] - whole["measures"][k]))
                    for k, idx in MEASURE_POINTS.items()]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=20, help="photos of each expression (neutral, smiling)")
    p.add_argument("--out", type=Path, help="write OUT.txt and OUT.json too")
    a = p.parse_args()
    if not LONDON.is_dir():
        sys.exit(f"error: {LONDON} is needed (set FACEMOTION_SHARED to the shared/ folder)")
    r = np.array(readings(a.n))
    rows, data = [], []
    for lo, hi in BINS:
        sel = r[:, 0] <= 0 if lo is None else (r[:, 0] > lo) & (r[:, 0] <= hi)
        if not sel.any():
            continue
        err = r[sel, 1]
        name = "inside the picture" if lo is None else f"{lo:g} to {hi:g}"
        given = "yes" if lo is None else "no"
        rows.append([name, int(sel.sum()), f"{np.median(err):.3f}", f"{np.quantile(err, 0.9):.3f}", given])
        data.append({"beyond": [lo, None if hi == np.inf else hi], "n": int(sel.sum()),
                     "median": float(np.median(err)), "p90": float(np.quantile(err, 0.9))})
    text = (f"London, {a.n} neutral and {a.n} smiling photos, each cut from below and from the side at 95%..50% "
            f"of its face's box; |a measure - the uncut photo's|, by its farthest point beyond the edge "
            "(eye distances)\n\n"
            + table(["farthest point beyond the edge", "readings", "median", "90th percentile", "given"], rows))
    report = "\n\n".join([command_line(__file__), machine(), text])
    print(report)
    if a.out:
        write_results(a.out, report, {"cut": data})


if __name__ == "__main__":
    main()
