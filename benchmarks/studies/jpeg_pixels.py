"""simplejpeg's decode against Pillow's on public photos: the same pixels? and the time of each.

Every JPEG under the folders (a seeded sample of ``--n``) is read as files are read
(``facemotion.images``), once with the plain-JPEG path (simplejpeg) and once as before it
(Pillow, then the copy to numpy), whole and at each reduction the decoder offers (1/2, 1/4,
1/8); the two arrays and the picture's displayed size must be equal. Files the fast path leaves
to Pillow (CMYK, cut, damaged, a trailer after the picture) are counted. One thread: the times
are a photo's decode alone, not what the threads gain without the GIL
(``benchmarks/studies/gpu_batch_threads.sh`` samples that).

    python benchmarks/studies/jpeg_pixels.py /data/muxspace /data/sof /data/utk \\
        ../shared/datasets/london_faces ../shared/media --n 1500
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common

from facemotion.images import _from_pil, _open_pil
from facemotion.jpeg import decode_plain_jpeg

from _common import machine

SCALES = {"whole": None, "1/2": 0.5, "1/4": 0.25, "1/8": 0.125}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", type=Path)
    p.add_argument("--n", type=int, default=1500, help="JPEGs sampled from all the folders (seed 0)")
    a = p.parse_args()
    for folder in a.folders:
        if not folder.is_dir():
            raise SystemExit(f"error: {folder}: not a folder")
    paths = sorted(f for d in a.folders for f in d.rglob("*") if f.suffix.lower() in (".jpg", ".jpeg"))
    random.Random(0).shuffle(paths)
    paths = paths[: a.n]
    print(machine())
    reads = same = left = 0
    seconds = {"pillow": 0.0, "simplejpeg": 0.0}
    differ = []
    for path in paths:
        data = path.read_bytes()
        plain = decode_plain_jpeg(_open_pil(data, path.name), data) is not None  # else Pillow reads it
        for name, scale in SCALES.items():
            rule = None if scale is None else (lambda w, h, s=scale: s)
            t = time.perf_counter()
            try:
                before = _from_pil(_open_pil(data, path.name), path.name, None, rule)
            except Exception:  # noqa: BLE001 - a file Pillow refuses is not compared
                continue
            seconds["pillow"] += time.perf_counter() - t
            t = time.perf_counter()
            now = _from_pil(_open_pil(data, path.name), path.name, None, rule, data=data)
            seconds["simplejpeg"] += time.perf_counter() - t
            reads += 1
            left += not plain
            if now[1] == before[1] and np.array_equal(now[0], before[0]):
                same += 1
            else:
                differ.append(f"{path} at {name}")
    print(f"{len(paths)} JPEGs from {', '.join(map(str, a.folders))}; {reads} reads (whole, 1/2, 1/4, 1/8)")
    print(f"{same} of {reads} identical to Pillow's, {len(differ)} not; simplejpeg decoded "
          f"{reads - left} of them, {left} left to Pillow")
    for line in differ[:20]:
        print(f"  differs: {line}")
    print(f"one thread, header and EXIF included: Pillow {seconds['pillow']:.1f} s, with simplejpeg "
          f"{seconds['simplejpeg']:.1f} s ({seconds['pillow'] / max(seconds['simplejpeg'], 1e-9):.2f}x)")


if __name__ == "__main__":
    main()
