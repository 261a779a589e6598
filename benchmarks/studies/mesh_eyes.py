"""Where the face mesh is not given (docs/mesh.md, "When the mesh is not given"): how far the
mesh's eye centres lie from the detector's eye points (``facemotion.mesh.model.eyes_off``, in the
mesh's eye distances) on whole faces (London's photos upright, turned +-25 degrees and upside
down, posed_val's), and on the shared photos cut above the eyes, with how far the points slid
there against the uncut photo's: the numbers behind ``EYES_AGREE``.

    python benchmarks/studies/mesh_eyes.py [--out benchmarks/results/mesh_eyes]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common and the product scripts
from _common import MEDIA, SHARED, command_line, machine, table, write_results

LONDON = SHARED / "datasets" / "london_faces"
POSED = SHARED / "datasets" / "posed_val"


def turned(img, centre, angle):
    m = cv2.getRotationMatrix2D(centre, angle, 1.0)
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REPLICATE)


def eyes_gate() -> tuple[str, dict]:
    """How far the mesh's eyes lie from the detector's (``eyes_off``, eye distances)
    on whole faces, and on faces cut above the eyes, where the points slide down the face."""
    from facemotion import EmotionRecognizer
    from facemotion.mesh.model import EYES_AGREE, eyes_off

    stages = EmotionRecognizer(mesh=True).stages

    def read(image):  # (detection, mesh) of each face the mesh reads
        found = stages.detect(image)
        meshes = stages.detect_crops(image, found).meshes if found else []
        return [(d, m) for d, m in zip(found, meshes) if m is not None and m.presence >= 0.5]

    sets = {"London, upright": (sorted(LONDON.glob("*/*.jpg")), 0),
            "London, turned -25 degrees": (sorted(LONDON.glob("*/*.jpg")), -25),
            "London, turned +25 degrees": (sorted(LONDON.glob("*/*.jpg")), 25),
            "London, upside down": (sorted(LONDON.glob("*/*.jpg")), 180),
            "posed_val, upright": (sorted(POSED.glob("*/*.jpg")), 0)}
    rows, data = [], {}
    for name, (files, angle) in sets.items():
        off = []
        for f in files:
            img = cv2.imread(str(f))
            if angle == 180:
                img = cv2.rotate(img, cv2.ROTATE_180)
            elif angle:
                img = turned(img, (img.shape[1] / 2, img.shape[0] / 2), angle)
            off += [eyes_off(m.landmarks, d.landmarks[:2]) for d, m in read(img)]
        v = np.asarray(off)
        data[name] = {"faces": len(v), "median": float(np.median(v)), "p99": float(np.percentile(v, 99)),
                      "max": float(v.max()), "not_given": int((v > EYES_AGREE).sum())}
        rows.append([name, len(v), f"{np.median(v):.3f}", f"{np.percentile(v, 99):.3f}", f"{v.max():.3f}",
                     data[name]["not_given"]])
    text = (f"the mesh's eyes against the detector's (eyes_off, eye distances; over {EYES_AGREE} the mesh is not given)\n"
            + table(["faces", "n", "median", "99th percentile", "max", "not given"], rows))
    cut_rows = []
    for photo in ("obama.jpg", "justin.jpg", "biden.jpg"):
        img = cv2.imread(str(MEDIA / photo))
        (d0, whole), = read(img)[:1]
        apart = float(np.linalg.norm(whole.landmarks[263, :2] - whole.landmarks[33, :2]))
        eyes_y = float(whole.landmarks[[33, 263], 1].mean())
        for share in (0.6, 0.4, 0.25, 0.15, 0.08):
            top = int(eyes_y - share * apart)
            found = read(np.ascontiguousarray(img[top:]))
            if not found:
                continue
            d, m = found[0]
            moved = float(np.abs(m.landmarks[:, :2] + [0, top] - whole.landmarks[:, :2]).mean() / apart)
            off = eyes_off(m.landmarks, d.landmarks[:2])
            data[f"{photo} cut {share}"] = {"moved": moved, "eyes_off": off}
            cut_rows.append([photo, f"{share:.2f}", f"{m.presence:.2f}", f"{moved:.3f}", f"{off:.3f}",
                             "no" if off > EYES_AGREE else "yes"])
    text += ("\n\nfaces cut above the eyes (the cut's distance to the eyes in eye distances; points moved: mean, "
             "eye distances, against the uncut photo's)\n"
             + table(["photo", "cut above the eyes", "presence", "points moved", "eyes_off", "given"], cut_rows))
    return text, data


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, help="write OUT.txt and OUT.json too")
    a = p.parse_args()
    if not LONDON.is_dir() or not POSED.is_dir():
        sys.exit(f"error: {LONDON} and {POSED} are needed (set FACEMOTION_SHARED to the shared/ folder)")
    text, data = eyes_gate()
    report = "\n\n".join([command_line(__file__), machine(), text])
    print(report)
    if a.out:
        write_results(a.out, report, {"eyes": data})


if __name__ == "__main__":
    main()
