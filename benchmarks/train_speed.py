"""Training throughput (images/s) on this CPU: our training step vs a plain baseline.

Baseline: what most FER2013 repos do -- NCHW tensors and per-image augmentation in a
Python loop (OpenCV warpAffine + flip, like Keras' ImageDataGenerator).
Ours: `facemotion.training.engine`'s step -- channels-last and one batched affine grid-sample.

    python benchmarks/train_speed.py [--models mini_xception gelu_cnn] [--batches 20]
"""

from __future__ import annotations

import argparse
import math
import time

import cv2
import numpy as np
import torch

from _common import FER_ZIP, machine, table
from facemotion.datasets import load_splits
from facemotion.training.models import create_model
from facemotion.preprocess import normalize
from facemotion.training.augment import BatchAugment
from facemotion.training.engine import build_optimizer, loss_fn
from facemotion.training.train import get_args_parser


def baseline_step_factory(model, images, labels, bs, rng):
    opt = torch.optim.Adam(model.parameters(), 1e-3)

    def step(i):
        idx = rng.integers(0, len(labels), bs)
        batch = np.empty((bs, 48, 48), np.float32)
        for k, j in enumerate(idx):  # per-image Python work, as ImageDataGenerator does
            img = images[j]
            ang, sc = rng.uniform(-10, 10), 1 + rng.uniform(-0.1, 0.1)
            m = cv2.getRotationMatrix2D((24, 24), ang, sc)
            m[:, 2] += rng.uniform(-4.8, 4.8, 2)
            img = cv2.warpAffine(img, m, (48, 48), borderMode=cv2.BORDER_REPLICATE)
            if rng.random() < 0.5:
                img = img[:, ::-1]
            batch[k] = img
        x = torch.from_numpy(batch).unsqueeze(1) / 127.5 - 1
        y = torch.from_numpy(labels[idx])
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def ours_step_factory(model, images, labels, bs, rng):
    args = get_args_parser().parse_args(["--data", "x"])
    model = model.to(memory_format=torch.channels_last)
    opt = build_optimizer(model, args)
    aug = BatchAugment()
    x_all = torch.from_numpy(images).unsqueeze(1)
    y_all = torch.from_numpy(labels)
    gen = torch.Generator().manual_seed(0)

    def step(i):
        idx = torch.randint(0, len(y_all), (bs,), generator=gen)
        x = aug(normalize(x_all[idx]), gen).contiguous(memory_format=torch.channels_last)
        y = torch.nn.functional.one_hot(y_all[idx], 7).float() * 0.9 + 0.1 / 7
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def measure(step, batches, bs):
    for i in range(3):
        step(i)
    t = time.perf_counter()
    for i in range(batches):
        step(i)
    return batches * bs / (time.perf_counter() - t)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["mini_xception", "gelu_cnn"])
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=128)
    a = p.parse_args()
    torch.manual_seed(0)
    if FER_ZIP.exists():
        tr = load_splits(FER_ZIP, ("train",))["train"]
        images, labels = tr.images, tr.labels
    else:  # synthetic faces keep the script runnable anywhere; speed does not depend on content
        images = np.random.default_rng(0).integers(0, 255, (4096, 48, 48), dtype=np.uint8)
        labels = np.random.default_rng(1).integers(0, 7, 4096)
    rows = []
    for name in a.models:
        nb = a.batches if name == "mini_xception" else max(3, a.batches // 5)
        res = {}
        for label, factory in (("baseline", baseline_step_factory), ("facemotion", ours_step_factory)):
            model = create_model(name).train()
            res[label] = measure(factory(model, images, labels, a.batch_size, np.random.default_rng(0)), nb,
                                 a.batch_size)
        epoch_min = len(labels) / res["facemotion"] / 60 if len(labels) > 10000 else math.nan
        rows.append([name, f"{res['baseline']:.0f}", f"{res['facemotion']:.0f}",
                     f"{res['facemotion'] / res['baseline']:.2f}x", f"{epoch_min:.1f}"])
    print(f"training throughput, batch {a.batch_size}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{machine()}")
    print(table(["model", "baseline img/s", "facemotion img/s", "speed-up", "min/epoch (28,709 imgs)"], rows))


if __name__ == "__main__":
    main()
