"""Throughput over a collection of photos: a plain loop over ``detect_emotions``, ``facemotion
batch``'s local engine, and the ``fer`` package's loop, in one run.

The collection is the shared media's photos repeated to ``--n`` inputs (distinct paths:
symlinks in a temporary folder, listed in a text file, so every input is a separate file to
the engines and nothing is copied). facemotion's two use the same detector (``--detector``, the
package default unless named) and classify 48x48 crops; fer runs its default (TFLite) backend.

    python benchmarks/batch.py --n 2000 --fer-python /tmp/fer-venv/bin/python

fer is never a facemotion dependency; it runs in its own virtual environment, measured by a
subprocess when ``--fer-python`` is given. To make one (Python 3.11):

    python3 -m venv /tmp/fer-venv
    /tmp/fer-venv/bin/pip install torch==2.13.0
    /tmp/fer-venv/bin/pip install --no-deps fer==25.10.3
    /tmp/fer-venv/bin/pip install tensorflow pandas requests tqdm matplotlib Pillow 'moviepy>=1.0.3,<2' \\
        ffmpeg-python 'opencv-contrib-python<5' 'setuptools<81'
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import MEDIA, machine, shared_photos, table

FER_LOOP = """
import json, sys, time
import cv2
from fer.fer import FER
paths = open(sys.argv[1]).read().split()
detector = FER()
detector.detect_emotions(cv2.imread(paths[0]))  # warm-up, as the others' model loading is not timed
t, c, faces = time.perf_counter(), time.process_time(), 0
for p in paths:
    faces += len(detector.detect_emotions(cv2.imread(p)))
print(json.dumps({"seconds": time.perf_counter() - t, "cpu": time.process_time() - c, "faces": faces}))
"""


def collection(folder: Path, n: int) -> Path:
    photos = shared_photos()
    paths = []
    for k in range(n):
        link = folder / f"{k:05d}_{photos[k % len(photos)].name}"
        link.symlink_to(photos[k % len(photos)])
        paths.append(str(link))
    listing = folder / "paths.txt"
    listing.write_text("\n".join(paths) + "\n")
    return listing


def plain_loop(paths, detector) -> dict:
    from facemotion import EmotionRecognizer

    rec = EmotionRecognizer(detector=detector)
    rec.detect_emotions(paths[0])
    t, c = time.perf_counter(), time.process_time()
    faces = sum(len(rec.detect_emotions(p)) for p in paths)
    return {"seconds": time.perf_counter() - t, "cpu": time.process_time() - c, "faces": faces}


def batch_engine(listing: Path, out: Path, workers, detector) -> dict:
    from facemotion.batch import JobSpec, run_batch
    from facemotion.recognizer import RecognizerOptions

    t, c = time.perf_counter(), time.process_time()
    s = run_batch([listing], out, spec=JobSpec(RecognizerOptions(detector=detector)), workers=workers, progress=False)
    return {"seconds": time.perf_counter() - t, "cpu": time.process_time() - c, "faces": s["faces"]}


def fer_loop(python: str, listing: Path) -> dict:
    r = subprocess.run([python, "-c", FER_LOOP, str(listing)], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"fer failed in {python}:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2000, help="photos in the collection")
    p.add_argument("--workers", type=int, default=None, help="batch engine threads (default: one per core)")
    p.add_argument("--fer-python", default=None, help="python of a venv with fer installed (see above)")
    p.add_argument("--detector", default=None, help="facemotion's detector (default: the package default)")
    a = p.parse_args()
    from facemotion.detect import DEFAULT_DETECTOR

    a.detector = a.detector or DEFAULT_DETECTOR
    with tempfile.TemporaryDirectory() as tmp:
        listing = collection(Path(tmp), a.n)
        paths = listing.read_text().split()
        runs = {"plain loop over detect_emotions": plain_loop(paths, a.detector),
                f"facemotion batch (local engine, {a.workers or os.cpu_count()} workers)":
                    batch_engine(listing, Path(tmp) / "out.csv", a.workers, a.detector)}
        if a.fer_python:
            runs["fer 25.10.3 loop (TFLite backend)"] = fer_loop(a.fer_python, listing)
    base = a.n / runs["plain loop over detect_emotions"]["seconds"]
    rows = [[name, a.n, r["faces"], f"{r['seconds']:.1f}", f"{a.n / r['seconds']:.1f}",
             f"{r['cpu'] / r['seconds']:.2f}", f"{a.n / r['seconds'] / base:.2f}x"] for name, r in runs.items()]
    print(f"{machine()}; {a.n} photos ({len({Path(p).name.split('_', 1)[1] for p in paths})} distinct, from "
          f"{MEDIA}), detector {a.detector}, default model")
    print(table(["method", "images", "faces", "seconds", "images/s", "cores busy", "vs plain loop"], rows))
    if not a.fer_python:
        print("fer not measured: pass --fer-python (see `python benchmarks/batch.py --help` to install it)",
              file=sys.stderr)


if __name__ == "__main__":
    main()
