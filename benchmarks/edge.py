"""Edge speed: every shipped model, float and int8, against fer's TFLite mini-Xception, in one run.

Columns: model, precision, parameters, MFLOPs per face (the network once; flip averaging runs
it twice), file size, PrivateTest (recorded in the model's card by scripts/ship_model.py, on
the file itself, flip averaging included), classifier faces/s at batch 1 and 256 (ONNX
Runtime, one process, the same PublicTest faces), and the ratio of batch-256 faces/s to fer's.

fer is timed in its own virtual environment (it is not a facemotion dependency), on the same
faces resized 48 -> 64 px as fer's model expects, before and after ours (the mean is used, so a
busy machine hits both). Install it once:

    python3 -m venv /tmp/fer-venv && /tmp/fer-venv/bin/pip install torch==2.13.0 && \\
      /tmp/fer-venv/bin/pip install --no-deps fer==25.10.3 && /tmp/fer-venv/bin/pip install tensorflow \\
      pandas requests tqdm matplotlib Pillow 'moviepy>=1.0.3,<2' ffmpeg-python 'opencv-contrib-python<5' 'setuptools<81'

    python benchmarks/edge.py [--fer-python /tmp/fer-venv/bin/python] [--faces 256]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from facemotion.classify import load_classifier
from facemotion.datasets import load_splits
from facemotion.preprocess import normalize
from facemotion.zoo import shipped_models

from _common import FER_ZIP, machine, table, timeit

FER_TIMER = r"""
import sys, time, numpy as np, cv2
from fer.fer import FER
faces = np.load(sys.argv[1])
x = np.stack([cv2.resize(f, (64, 64), interpolation=cv2.INTER_LINEAR) for f in faces]).astype("float32")
x = (x / 255.0 - 0.5) * 2.0
clf = FER()
clf._classify_emotions(x[:8])
ts = []
for _ in range(3):
    t = time.perf_counter(); clf._classify_emotions(x); ts.append(time.perf_counter() - t)
print(len(x) / sorted(ts)[1])
"""


def fer_faces_per_s(python: str, faces: np.ndarray) -> float | None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "faces.npy"
        np.save(path, faces)
        r = subprocess.run([python, "-c", FER_TIMER, str(path)], capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        print(f"fer could not be timed with {python}: {r.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return float(r.stdout.strip().splitlines()[-1])


def mflops(card) -> str:
    try:
        from facemotion.training.models import create_model, mflops_per_face
    except ImportError:
        return "-"
    if card.arch == "ensemble":
        return f"{sum(mflops_per_face(create_model(m['arch'], **m.get('arch_kwargs', {}))) for m in card.members):.0f}"
    return f"{mflops_per_face(create_model(card.arch, **card.arch_kwargs)):.0f}"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(FER_ZIP))
    p.add_argument("--fer-python", default=None, help="python of a virtual environment with fer installed")
    p.add_argument("--faces", type=int, default=256, help="batch size of the large-batch column")
    p.add_argument("--models", nargs="*", default=None, help="shipped names (default: all)")
    a = p.parse_args()
    faces = load_splits(a.data, ("val",))["val"].images[:a.faces]
    fer_before = fer_faces_per_s(a.fer_python, faces) if a.fer_python else None
    rows = []
    for name, entry in shipped_models().items():
        if a.models and name not in a.models:
            continue
        clf = load_classifier(name)
        x = normalize(faces)[:, None]
        one = x[:1]
        b1 = 1 / timeit(lambda: clf.predict(one), 40)
        big = len(x) / timeit(lambda: clf.predict(x), 5, warmup=1)
        c = entry.card
        rows.append([name, c.weights_dtype, f"{c.parameters:,}", mflops(c), f"{entry.path.stat().st_size / 2**20:.1f} MB",
                     f"{c.metrics.get('private_test', float('nan')) * 100:.2f}%", f"{b1:,.0f}", f"{big:,.0f}", big])
    fer_after = fer_faces_per_s(a.fer_python, faces) if a.fer_python else None
    fer = (fer_before + fer_after) / 2 if fer_before and fer_after else None
    for r in rows:
        r[-1] = f"{r[-1] / fer:.2f}x" if fer else "-"
    if fer:
        rows.append(["fer (TFLite mini-Xception)", "int8", "-", "-", "-", "-", "-", f"{fer:,.0f}", "1.00x"])
    print(f"classifier speed, {a.faces} PublicTest faces, {machine()}")
    print(table(["model", "precision", "params", "MFLOPs/face", "file", "PrivateTest", "faces/s batch 1",
                 f"faces/s batch {a.faces}", "vs fer"], rows))
    if not a.fer_python:
        print("(fer not timed: give --fer-python; see this script's docstring for the install)")


if __name__ == "__main__":
    main()
