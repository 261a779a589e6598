"""What float16 weight storage costs: the same checkpoints exported twice, float32 (baseline)
and ``--weights float16``, compared on file size, PublicTest accuracy, probability change and
ONNX Runtime speed (faces/s, the two files timed in alternation so a busy CPU hits both).

    mkdir -p runs && git show a7411fb:models/vgg_fer_m.pt > runs/vgg_fer_m_r2.pt
    python benchmarks/studies/fp16_weights.py models/vgg_fer_s_gen2.pt models/vgg_fer_m.pt \\
        runs/vgg_fer_m_r2.pt models/vgg_fer_m_r4.pt

(the shipped ensemble's members; one checkpoint works too). PublicTest only: this measures
storage, not a model choice, and PrivateTest is not read.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common and the product scripts
from facemotion.classify import OnnxClassifier
from facemotion.datasets import load_splits
from facemotion.training.export import export_onnx

from _common import FER_ZIP, machine, table, timeit


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--data", default=str(FER_ZIP))
    p.add_argument("--rounds", type=int, default=5, help="alternating timing rounds per batch size (median)")
    a = p.parse_args()
    val = load_splits(a.data, ("val",))["val"]
    ckpts = a.checkpoints if len(a.checkpoints) > 1 else a.checkpoints[0]
    with tempfile.TemporaryDirectory() as tmp:
        runs = {w: export_onnx(ckpts, Path(tmp) / f"{w}.onnx", tta=True, weights=w, check_images=val.images[:256])
                for w in ("float32", "float16")}
        clfs = {w: OnnxClassifier(r["path"]) for w, r in runs.items()}
        probs = {w: c.classify_faces(val.images) for w, c in clfs.items()}
        acc = {w: float((p.argmax(1) == val.labels).mean()) for w, p in probs.items()}
        x = np.random.default_rng(0).uniform(-1, 1, (64, 1, 48, 48)).astype(np.float32)
        speed = {w: {b: [] for b in (1, 8, 64)} for w in clfs}
        for c in clfs.values():
            c.predict(x)  # warm both sessions
        for r in range(a.rounds):
            order = list(clfs) if r % 2 == 0 else list(clfs)[::-1]
            for w in order:
                for b in speed[w]:
                    speed[w][b].append(b / timeit(lambda: clfs[w].predict(x[:b]), repeat=10, warmup=1))
    med = {w: {b: float(np.median(v)) for b, v in s.items()} for w, s in speed.items()}
    dp = float(np.abs(probs["float16"] - probs["float32"]).max())
    same = float((probs["float16"].argmax(1) == probs["float32"].argmax(1)).mean())
    rows = []
    for w in ("float32", "float16"):
        rows.append([w + (" (baseline)" if w == "float32" else ""), f"{runs[w]['bytes'] / 1e6:.1f}",
                     f"{acc[w] * 100:.2f}"] + [f"{med[w][b]:,.0f}" for b in (1, 8, 64)])
    rows.append(["float16 / float32", f"{runs['float16']['bytes'] / runs['float32']['bytes']:.2f}×",
                 f"{(acc['float16'] - acc['float32']) * 100:+.2f}"]
                + [f"{med['float16'][b] / med['float32'][b]:.2f}×" for b in (1, 8, 64)])
    print(f"float16 weight storage, {len(a.checkpoints)} checkpoint(s), flip TTA; {machine()}")
    print(table(["weights", "MB", "PublicTest %", "faces/s, batch 1", "batch 8", "batch 64"], rows))
    print(f"\nPublicTest ({len(val.labels)} faces): max |dp| float16 vs float32 {dp:.1e}; same top-1 on {same * 100:.2f}%")


if __name__ == "__main__":
    main()
