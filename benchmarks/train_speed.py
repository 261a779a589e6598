"""Training throughput (images/s): our training step vs a plain baseline, on this CPU or a GPU.

Baseline: what most FER2013 repos do -- NCHW tensors and per-image augmentation in a
Python loop (OpenCV warpAffine + flip, like Keras' ImageDataGenerator), batch 128; on a GPU
the augmented batch is then copied to the device and the step runs in float32.
Ours: `facemotion.training.engine`'s step -- channels-last and one batched affine grid-sample.

    python benchmarks/train_speed.py [--models mini_xception gelu_cnn] [--batches 20]

On a GPU (``--device cuda``) "ours" is what ``facemotion train --device cuda --amp bf16`` runs:
``engine.train_one_epoch`` itself over the whole uint8 training set held on the GPU, with the
real recipe's augmentation (``loop.build_augment``: shift/zoom/rotation/flip, erasing 0.5, the
shipped models' corruptions at ``--corrupt``, 0.6; mixup 0.2) and EMA, timed over whole epochs
after a warm-up epoch, at each ``--batch-sizes``, and with ``--compile`` for the models named in
``--compile-models``. Each row also gives what one step costs the host, the same on any device
(``engine.HostDispatches``): the operators it dispatches and the values it reads back from the
device (each read makes the host wait for the GPU):

    python benchmarks/train_speed.py --device cuda --models vgg_fer_s vgg_fer_m resnet18_fer \
        --batch-sizes 128 512 --compile-models vgg_fer_s vgg_fer_m --json train_speed.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from facemotion.datasets import load_splits
from facemotion.preprocess import normalize
from facemotion.training.augment import BatchAugment
from facemotion.training.engine import build_optimizer, loss_fn
from facemotion.training.models import create_model
from facemotion.training.train import get_args_parser

from _common import FER_ZIP, machine, table


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


def host_augmented_batch(images, labels, bs, rng):
    """One batch augmented per image on the host (OpenCV warpAffine + flip), as most repos do."""
    idx = rng.integers(0, len(labels), bs)
    batch = np.empty((bs, 48, 48), np.float32)
    for k, j in enumerate(idx):
        ang, sc = rng.uniform(-10, 10), 1 + rng.uniform(-0.1, 0.1)
        m = cv2.getRotationMatrix2D((24, 24), ang, sc)
        m[:, 2] += rng.uniform(-4.8, 4.8, 2)
        img = cv2.warpAffine(images[j], m, (48, 48), borderMode=cv2.BORDER_REPLICATE)
        batch[k] = img[:, ::-1] if rng.random() < 0.5 else img
    return torch.from_numpy(batch).unsqueeze(1) / 127.5 - 1, torch.from_numpy(labels[idx].astype(np.int64))


def gpu_baseline(model, images, labels, dev, seconds=4.0):
    """The plain loop on a GPU: per-image augmentation on the host, the batch copied to the
    device, a float32 NCHW step (Adam, batch 128), as in most FER2013 repositories."""
    model = model.to(dev).train()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    rng = np.random.default_rng(0)

    def step():
        x, y = host_augmented_batch(images, labels, 128, rng)
        loss = torch.nn.functional.cross_entropy(model(x.to(dev)), y.to(dev))
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()  # the usual per-step logging read
    for _ in range(3):
        step()
    sync(dev)
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        step()
        n += 1
    sync(dev)
    return n * 128 / (time.perf_counter() - t)


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def gpu_ours(name, images, labels, dev, batch_size, compile_, epochs=1, warm_images=4096, corrupt=0.6, profile=None):
    """(img/s of engine.train_one_epoch -- what `facemotion train --device cuda` runs -- over
    whole epochs, after a warm-up epoch on ``warm_images`` images (cuDNN autotuning,
    compilation); warm-up s; peak GiB; host dispatches a step; device reads a step)."""
    from facemotion.training.ema import EMA
    from facemotion.training.engine import HostDispatches, build_scheduler, train_one_epoch
    from facemotion.training.loop import build_augment

    args = get_args_parser().parse_args(["--data", "x", "--batch-size", str(batch_size), "--amp", "bf16",
                                         "--opt", "sgd", "--lr", "0.2", "--erase", "0.5", "--mixup", "0.2",
                                         "--corrupt", str(corrupt), "--no-progress", "--epochs", str(epochs + 1)])
    torch.manual_seed(0)
    model = create_model(name).to(dev, memory_format=torch.channels_last)
    opt = build_optimizer(model, args)
    sched = build_scheduler(opt, args, len(labels) // batch_size)
    ema = EMA(model, 0.999)
    aug = build_augment(args)
    torch.backends.cudnn.benchmark = True
    forward = torch.compile(model) if compile_ else model
    t0 = time.perf_counter()
    n_warm = max(min(warm_images, len(labels)), batch_size)
    _, step = train_one_epoch(model, opt, sched, images[:n_warm], labels[:n_warm], args, 1, ema=ema, augment=aug,
                              forward=forward)
    warm = time.perf_counter() - t0
    rates = []
    for e in range(2, epochs + 2):
        m, step = train_one_epoch(model, opt, sched, images, labels, args, e, ema=ema, augment=aug, step=step,
                                  forward=forward)
        rates.append(m["img_per_s"])
    mem = torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda" else float("nan")
    if profile:  # where a step's device time goes: the kernels, by their own time
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as profiler

        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
        with profiler(activities=acts) as prof:
            train_one_epoch(model, opt, sched, images[:8 * batch_size], labels[:8 * batch_size], args, epochs + 2,
                            ema=ema, augment=aug, step=step, forward=forward)
            sync(dev)
        key = "self_device_time_total" if dev.type == "cuda" else "self_cpu_time_total"
        Path(profile).write_text(f"{name}, batch {batch_size}, compile {compile_}, 8 steps on {dev}:\n"
                                 + prof.key_averages().table(sort_by=key, row_limit=25) + "\n")
        print(f"profile of 8 steps written to {profile}", flush=True)
    n = 4  # more steps, counted (the loop's own code, not a copy): a whole augmentation pass of four
    with HostDispatches() as host:
        train_one_epoch(model, opt, sched, images[:n * batch_size], labels[:n * batch_size], args, epochs + 2,
                        ema=ema, augment=aug, step=step, forward=forward)
    return max(rates), warm, mem, host.ops / n, sum(host.reads.values()) / n


def main_gpu(a, images, labels):
    dev = torch.device(a.device)
    x = torch.from_numpy(images).unsqueeze(1).to(dev)
    y = torch.from_numpy(labels).to(dev)
    name_of = torch.cuda.get_device_name(dev) if dev.type == "cuda" else machine()
    # the host CPU too: the baseline's augmentation and the data loading run on it
    rows, rec = [], {"device": name_of, "host": machine(), "torch": torch.__version__, "models": {}}
    for name in a.models:
        r = rec["models"][name] = {}
        if name in a.baseline_models:
            r["baseline"] = gpu_baseline(create_model(name).train(), images, labels, dev)
        for bs in a.batch_sizes:
            for comp in ([False, True] if name in a.compile_models else [False]):
                if dev.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(dev)
                try:
                    # --profile: the first configuration's kernels (one run, written beside the figures)
                    first = a.profile and not rows
                    rate, warm, mem, ops, reads = gpu_ours(name, x, y, dev, bs, comp, corrupt=a.corrupt,
                                                           profile=a.profile if first else None)
                except Exception as e:  # noqa: BLE001  (one configuration failing must not cost the others)
                    print(f"{name} batch {bs} compile {comp}: failed: {type(e).__name__}: {str(e)[:300]}", flush=True)
                    continue
                key = f"bs{bs}{'_compile' if comp else ''}"
                r[key] = rate
                base = r.get("baseline")
                rows.append([name, f"{base:,.0f}" if base else "-", bs, "yes" if comp else "no", f"{rate:,.0f}",
                             f"{rate / base:.1f}x" if base else "-", f"{warm:.0f}", f"{mem:.1f}",
                             f"{len(labels) / rate:.2f}", f"{300 * len(labels) / rate / 60:.1f}", f"{ops:,.0f}",
                             f"{reads:.0f}"])
                r[key + "_host"] = {"ops_per_step": ops, "device_reads_per_step": reads}
                print(" | ".join(map(str, rows[-1])), flush=True)
                if a.json:  # written as it goes: a caller that stops this script early keeps what was measured
                    Path(a.json).write_text(json.dumps(rec, indent=2))
    print(f"host: {rec['host']}")
    print(f"training throughput on {rec['device']}, torch {torch.__version__}, bf16, channels-last, "
          f"{len(labels):,} images held on the device; the recipe: SGD, erasing 0.5, mixup 0.2, corruptions "
          f"{a.corrupt}, EMA; baseline: host augmentation, float32, batch 128")
    print(table(["model", "baseline img/s", "batch", "compile", "facemotion img/s", "speed-up",
                 "warm-up s", "peak GiB", "s/epoch", "min/300 epochs", "host ops/step", "device reads/step"], rows))
    if a.json:
        Path(a.json).write_text(json.dumps(rec, indent=2))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["mini_xception", "gelu_cnn"])
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="cpu")
    p.add_argument("--data", default=None, help="the training data (default: ../shared's fer2013.zip)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[512], help="GPU: batch sizes of our loop")
    p.add_argument("--compile-models", nargs="*", default=[], help="GPU: also measure these with torch.compile")
    p.add_argument("--baseline-models", nargs="*", default=["vgg_fer_s", "vgg_fer_m"],
                   help="GPU: measure the plain host-augmentation loop for these")
    p.add_argument("--json", default=None, help="GPU: also write the figures here")
    p.add_argument("--whole-epochs", action="store_true",
                   help="time whole epochs of engine.train_one_epoch (the GPU mode) on any device")
    p.add_argument("--limit", type=int, default=0, help="use only this many training images")
    p.add_argument("--corrupt", type=float, default=0.6,
                   help="GPU / --whole-epochs: the corruption share of the recipe timed (the shipped models' 0.6; 0 = none)")
    p.add_argument("--profile", default=None, metavar="TXT",
                   help="GPU / --whole-epochs: write the first configuration's top kernels over 8 steps here")
    a = p.parse_args()
    torch.manual_seed(0)
    data = Path(a.data) if a.data else FER_ZIP
    if data.exists():
        tr = load_splits(data, ("train",))["train"]
        images, labels = tr.images, tr.labels
    else:  # synthetic faces keep the script runnable anywhere; speed does not depend on content
        images = np.random.default_rng(0).integers(0, 255, (4096, 48, 48), dtype=np.uint8)
        labels = np.random.default_rng(1).integers(0, 7, 4096)
    if a.limit:
        images, labels = images[:a.limit], labels[:a.limit]
    if a.device != "cpu" or a.whole_epochs:
        return main_gpu(a, images, labels)
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
