"""How much of a picture its largest face fills: face crops against photos of people, the measure
by which ``train``/``evaluate --crops`` tell a folder of whole photos (``facemotion.facecrops``).

For each folder, up to ``--n`` images (seeded): the share of the picture that the box of the
largest face the default detector finds fills (5th to 95th percentiles), the images with no
face found, and what the check decides on the folder (``crops``, or ``photos``: refused).
FER2013's Training faces are read from the zip.

    python benchmarks/studies/crop_fill.py --folders crops=runs/crops/muxspace_train muxspace=MUX/images \\
        london=../shared/datasets/london_faces sof="SOF/data/original images"
"""

from __future__ import annotations

import argparse
import random
import sys
import zipfile
from pathlib import Path

import numpy as np

from facemotion import EmotionRecognizer
from facemotion.facecrops import CROP_FILL, face_fill, sample_images, whole_photos
from facemotion.inputs import IMAGE_SUFFIXES

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common
from _common import ROOT, command_line, machine, table, write_results  # noqa: E402

FER = ROOT.parent / "shared" / "datasets" / "fer2013.zip"


def fer_sources(path: Path, n: int, rng) -> list[bytes]:
    with zipfile.ZipFile(path) as z:
        names = [m for m in z.namelist() if m.startswith("train/") and m.endswith(".jpg")]
        return [z.read(m) for m in rng.sample(names, min(n, len(names)))]


def folder_sources(path: Path, n: int, rng) -> list[Path]:
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    return rng.sample(files, min(n, len(files)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--folders", nargs="*", default=[], metavar="NAME=PATH", help="folders of images, at any depth")
    p.add_argument("--fer", type=Path, default=FER, help="FER2013's zip: its Training faces are one row")
    p.add_argument("--n", type=int, default=60, help="images per folder")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "crop_fill")
    a = p.parse_args(argv)
    rec = EmotionRecognizer()
    sets = [("FER2013 Training", a.fer, lambda rng: fer_sources(a.fer, a.n, rng))] if a.fer.exists() else []
    for spec in a.folders:
        name, _, path = spec.partition("=")
        sets.append((name, Path(path), lambda rng, path=Path(path): folder_sources(path, a.n, rng)))
    rows, data = [], {}
    for name, path, sources in sets:
        fills = [face_fill(rec, s) for s in sources(random.Random(0))]
        found = [f for f in fills if f is not None]
        pct = np.percentile(found, [5, 25, 50, 75, 95]) if found else [np.nan] * 5
        decided = "-"
        if path.is_dir():
            photos, sampled, _ = whole_photos(sample_images(path), rec)
            decided = "photos" if photos * 2 >= sampled else "crops"
        rows.append([name, len(fills), len(fills) - len(found), *(f"{x:.2f}" for x in pct), decided])
        data[name] = {"images": len(fills), "no_face": len(fills) - len(found), "percentiles": [float(x) for x in pct],
                      "check": decided}
    text = "\n".join([command_line(__file__, argv), machine(),
                      f"the largest face's box / the picture, default detector; a folder is 'photos' when in half of "
                      f"the images the check looks at it fills under {CROP_FILL:.0%}",
                      table(["set", "images", "no face", "p5", "p25", "median", "p75", "p95", "check"], rows)])
    print(text)
    write_results(a.out, text, {"crop_fill": CROP_FILL, "sets": data})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
