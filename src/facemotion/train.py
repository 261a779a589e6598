"""Training: ``facemotion train`` (shaped like torchvision's reference scripts).

    facemotion train --model mini_xception --data fer2013.zip --epochs 80 --out runs/mx

Protocol: the model learns on the ``train`` split and is selected on ``val`` (FER2013's
PublicTest). The ``test`` split (PrivateTest) is never loaded here -- see
:func:`load_training_data` -- so no choice made during training can peek at it.

Everything per-image happens on whole batches as tensor ops (affine grid sampling for
shift/zoom/rotation/flip, masks for random erasing), so the hot loop has no per-image
Python work; the network runs channels-last, which is what oneDNN's CPU kernels like.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from .checkpoint import atomic_torch_save, checkpoint_compute, describe, load_checkpoint, model_from_checkpoint
from .data import load_splits
from .errors import FacemotionError
from .labels import NUM_CLASSES
from .preprocess import normalize
from .progress import progress_bar


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="facemotion train", add_help=add_help,
        description="Train an emotion classifier on FER2013 (or your own <class>/<images> folder). "
                    "Selects on the validation split (PublicTest); never reads the test split (PrivateTest).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default="mini_xception", help="architecture name (see `facemotion models`)")
    p.add_argument("--model-kwargs", default="{}", help='JSON dict of architecture arguments, e.g. \'{"batchnorm": false}\'')
    p.add_argument("--data", required=True, help="fer2013.csv (or fer2013.tar.gz), the Kaggle folder/zip/tar, or a <class>/<images> folder")
    p.add_argument("--out", default="runs/train", help="output folder for checkpoints, log and curves")
    p.add_argument("--epochs", type=int, default=80)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    p.add_argument("--opt", choices=["adamw", "adam", "sgd"], default="adamw")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (Nesterov)")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--sched", choices=["cosine", "onecycle", "plateau", "none"], default="cosine")
    p.add_argument("--warmup-epochs", type=float, default=2.0)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--class-weights", choices=["none", "balanced", "sqrt"], default="none",
                   help="weight the loss by inverse class frequency (helps 'disgust' recall)")
    # augmentation
    p.add_argument("--shift", type=float, default=0.1, help="max random translation, fraction of the side")
    p.add_argument("--zoom", type=float, default=0.1, help="max random zoom in/out, fraction")
    p.add_argument("--rotate", type=float, default=10.0, help="max random rotation, degrees")
    p.add_argument("--no-flip", dest="flip", action="store_false", help="disable random horizontal flips")
    p.add_argument("--erase", type=float, default=0.0, help="probability of random erasing")
    p.add_argument("--mixup", type=float, default=0.0, help="mixup alpha (0 = off)")
    p.add_argument("--cutmix", type=float, default=0.0, help="cutmix alpha (0 = off)")
    # knowledge distillation
    p.add_argument("--teacher", nargs="*", default=[],
                   help="teacher(s): .pt checkpoints, exported .onnx files or shipped model names (e.g. 'ensemble'); "
                        "their averaged soft targets are distilled. ONNX teachers imply --kd-offline")
    p.add_argument("--kd-alpha", type=float, default=0.7, help="weight of the distillation loss")
    p.add_argument("--kd-temp", type=float, default=4.0, help="distillation temperature")
    p.add_argument("--kd-offline", action="store_true",
                   help="compute the teachers' (flip-averaged) soft targets once per training image instead of "
                        "running every teacher on every batch: an ensemble teacher then costs nothing per step")
    # selection and bookkeeping
    p.add_argument("--ema", type=float, default=0.0, help="EMA decay of weights (e.g. 0.999; 0 = off); selection uses EMA weights")
    p.add_argument("--patience", type=int, default=0, help="early stop after N epochs without val-loss improvement (0 = off)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="held-out fraction when the data has no val split")
    p.add_argument("--eval-tta", action="store_true", help="validate with horizontal-flip averaging")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable/malformed samples and count them")
    p.add_argument("--limit", type=int, default=0, help="use only the first N training images (smoke tests)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (data and augmentation live there too)")
    p.add_argument("--amp", choices=["none", "bf16"], default="none",
                   help="bfloat16 autocast (1.3x for gelu_cnn on AVX-512 BF16 CPUs; use on GPUs)")
    p.add_argument("--resume", nargs="?", const="auto", default=None,
                   help="resume from a checkpoint (default: OUT/last.pt)")
    p.add_argument("--init", default=None, metavar="CKPT",
                   help="start from this checkpoint's weights (its EMA weights when it has them) with a fresh "
                        "optimizer and schedule: fine-tune a shipped model on your own data, or give a finished "
                        "run a second cosine cycle. The architecture must match --model/--model-kwargs")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    return p


# ----------------------------------------------------------------------------- data


def load_training_data(path, *, val_fraction: float = 0.1, seed: int = 0, skip_bad: bool = False,
                       progress: bool = True):
    """Return (train_split, val_split). Reads ONLY the train and val splits.

    When the dataset has no val split (a user's own folder), a stratified ``val_fraction``
    of train is held out, chosen by ``seed``.
    """
    from .data import available_splits

    have = available_splits(path)
    if "val" in have:
        d = load_splits(path, ("train", "val"), skip_bad=skip_bad, progress=progress)
        return d["train"], d["val"]
    tr = load_splits(path, ("train",), skip_bad=skip_bad, progress=progress)["train"]
    rng = np.random.default_rng(seed)
    val_idx = []
    for c in range(NUM_CLASSES):
        idx = np.flatnonzero(tr.labels == c)
        rng.shuffle(idx)
        val_idx.extend(idx[: int(round(len(idx) * val_fraction))])
    mask = np.zeros(len(tr), bool)
    mask[val_idx] = True
    from .data import Split

    return (Split("train", tr.images[~mask], tr.labels[~mask], tr.sources[~mask], tr.skipped),
            Split("val", tr.images[mask], tr.labels[mask], tr.sources[mask], []))


# ----------------------------------------------------------------------------- augmentation


class BatchAugment:
    """Random shift/zoom/rotation/flip (one affine grid-sample per batch) and random erasing."""

    def __init__(self, shift=0.1, zoom=0.1, rotate=10.0, flip=True, erase=0.0):
        self.shift, self.zoom, self.rotate, self.flip, self.erase = shift, zoom, rotate, flip, erase

    def __call__(self, x, gen):
        import torch
        import torch.nn.functional as F

        n, dev = x.shape[0], x.device
        rand = lambda *shape: torch.rand(*shape, generator=gen, device=dev)  # noqa: E731
        u = lambda: rand(n) * 2 - 1  # noqa: E731  uniform in [-1, 1]
        ang = u() * math.radians(self.rotate)
        scale = 1 + u() * self.zoom
        tx, ty = u() * self.shift * 2, u() * self.shift * 2  # grid coords span 2 per side
        sx = torch.where(rand(n) < 0.5, -1.0, 1.0) if self.flip else torch.ones(n, device=dev)
        cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
        theta = torch.stack([torch.stack([cos * sx, -sin, tx], 1), torch.stack([sin * sx, cos, ty], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        if self.erase > 0:
            h, w = x.shape[-2:]
            area = (rand(n) * 0.18 + 0.02) * h * w
            ratio = torch.exp((rand(n) * 2 - 1) * math.log(3))
            eh = (area * ratio).sqrt().clamp(1, h)
            ew = (area / ratio).sqrt().clamp(1, w)
            y0 = rand(n) * (h - eh)
            x0 = rand(n) * (w - ew)
            ys = torch.arange(h, device=dev).view(1, h, 1)
            xs = torch.arange(w, device=dev).view(1, 1, w)
            m = ((ys >= y0.view(-1, 1, 1)) & (ys < (y0 + eh).view(-1, 1, 1)) &
                 (xs >= x0.view(-1, 1, 1)) & (xs < (x0 + ew).view(-1, 1, 1)))
            m &= (rand(n) < self.erase).view(-1, 1, 1)
            noise = rand(*x.shape) * 2 - 1
            x = torch.where(m.unsqueeze(1), noise, x)
        return x


def mix_batch(x, y_soft, args, gen):
    """Mixup or CutMix on a batch (soft targets)."""
    import torch

    dev = x.device
    use_cutmix = args.cutmix > 0 and (args.mixup <= 0 or torch.rand(1, generator=gen, device=dev).item() < 0.5)
    alpha = args.cutmix if use_cutmix else args.mixup
    seed = int(torch.randint(0, 2**31, (1,), generator=gen, device=dev))
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    perm = torch.randperm(x.shape[0], generator=gen, device=dev)
    if use_cutmix:
        h, w = x.shape[-2:]
        rh, rw = int(h * math.sqrt(1 - lam)), int(w * math.sqrt(1 - lam))
        cy = int(torch.randint(0, h, (1,), generator=gen, device=dev))
        cx = int(torch.randint(0, w, (1,), generator=gen, device=dev))
        y0, y1 = max(cy - rh // 2, 0), min(cy + rh // 2, h)
        x0, x1 = max(cx - rw // 2, 0), min(cx + rw // 2, w)
        x = x.clone()
        x[:, :, y0:y1, x0:x1] = x[perm, :, y0:y1, x0:x1]
        lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)
    else:
        x = lam * x + (1 - lam) * x[perm]
    return x, lam * y_soft + (1 - lam) * y_soft[perm]


# ----------------------------------------------------------------------------- EMA


class EMA:
    """Exponential moving average of weights; BatchNorm buffers are copied."""

    def __init__(self, model, decay):
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    def update(self, model, step):
        import torch

        # warm up the decay so early, poor weights are forgotten quickly
        d = min(self.decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(self.module.parameters(), model.parameters()):
                e.mul_(d).add_(p.detach(), alpha=1 - d)
            for e, b in zip(self.module.buffers(), model.buffers()):
                e.copy_(b)


# ----------------------------------------------------------------------------- loops


def loss_fn(logits, target_soft, class_weights=None):
    import torch

    logp = torch.log_softmax(logits.float(), 1)
    per = -(target_soft * logp)
    if class_weights is not None:
        per = per * class_weights
    return per.sum(1).mean()


def train_one_epoch(model, optimizer, scheduler, images, labels, args, epoch, *, ema=None, teachers=(),
                    teacher_targets=None, class_weights=None, augment=None, step=0):
    """One pass over the training images; returns (metrics dict, global step)."""
    import torch

    model.train()
    dev = images.device
    # seeded per epoch, so a resumed run sees the same batches it would have seen
    gen = torch.Generator(device=dev).manual_seed(args.seed * 1000 + epoch)
    perm = torch.randperm(len(labels), generator=gen, device=dev)
    amp = torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=args.amp == "bf16")
    nb = len(perm) // args.batch_size  # drop the ragged last batch: BatchNorm dislikes tiny ones
    bar = progress_bar(range(nb), desc=f"epoch {epoch}/{args.epochs}", unit="batch", disable=not args.progress)
    tot_loss = tot_correct = tot_n = 0.0
    t0 = time.perf_counter()
    for b in bar:
        idx = perm[b * args.batch_size:(b + 1) * args.batch_size]
        x = normalize(images[idx])
        y = labels[idx]
        if augment is not None:
            x = augment(x, gen)
        y_soft = torch.nn.functional.one_hot(y, NUM_CLASSES).float()
        if args.label_smoothing > 0:
            y_soft = y_soft * (1 - args.label_smoothing) + args.label_smoothing / NUM_CLASSES
        t_prob = teacher_targets[idx] if teacher_targets is not None else None
        if args.mixup > 0 or args.cutmix > 0:
            if t_prob is None:
                x, y_soft = mix_batch(x, y_soft, args, gen)
            else:  # mix label and teacher targets with the same pairs and weights
                x, both = mix_batch(x, torch.cat([y_soft, t_prob], 1), args, gen)
                y_soft, t_prob = both[:, :NUM_CLASSES], both[:, NUM_CLASSES:]
        x = x.contiguous(memory_format=torch.channels_last)
        with amp:
            logits = model(x).float()
            if teachers and t_prob is None:
                with torch.no_grad():
                    t_prob = torch.stack([torch.softmax(t(x).float() / args.kd_temp, 1) for t in teachers]).mean(0)
        loss = loss_fn(logits, y_soft, class_weights)
        if t_prob is not None:
            # Hinton et al.: soft targets at temperature T, scaled by T^2 to keep gradient size
            kd = torch.nn.functional.kl_div(torch.log_softmax(logits / args.kd_temp, 1), t_prob,
                                            reduction="batchmean") * args.kd_temp ** 2
            loss = (1 - args.kd_alpha) * loss + args.kd_alpha * kd
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None and args.sched in ("cosine", "onecycle"):
            scheduler.step()
        step += 1
        if ema is not None:
            ema.update(model, step)
        n = len(y)
        tot_loss += loss.item() * n
        tot_correct += (logits.argmax(1) == y).sum().item()
        tot_n += n
        if b % 10 == 0 or b == nb - 1:
            bar.set_postfix(loss=f"{tot_loss / tot_n:.3f}", acc=f"{tot_correct / tot_n:.3f}",
                            img_s=f"{tot_n / (time.perf_counter() - t0):.0f}")
    bar.close()
    dt = time.perf_counter() - t0
    return {"train_loss": tot_loss / max(tot_n, 1), "train_acc": tot_correct / max(tot_n, 1),
            "img_per_s": tot_n / dt, "train_time_s": dt}, step


class OnnxTeacher:
    """An exported facemotion ONNX file (or a shipped model, e.g. the ensemble) as a teacher.

    Its graph ends in ``softmax(z / T)`` with ``T`` in its metadata, so ``T * log p`` gives
    back its logits ``z`` up to a per-row constant, which a softmax ignores; for an ensemble
    graph ``z`` is the log of its members' mean probability. That lets a user distil from
    the model they pip-installed, without its training checkpoints (and without running
    ONNX Runtime on every augmented batch: ONNX teachers are offline only).
    """

    def __init__(self, spec: str):
        from .classify import OnnxClassifier, resolve_model

        path = resolve_model(spec)
        if path.suffix == ".pt":
            raise FacemotionError(f"{spec}: a checkpoint, not an ONNX teacher")
        self.classifier = OnnxClassifier(path)
        self.temperature = float(self.classifier.meta.get("temperature", 1.0))
        # an export made with --tta already averages the face and its mirror inside the graph
        self.flip_inside = self.classifier.meta.get("tta") == "flip"
        self.name = spec

    def __call__(self, x):
        import torch

        p = self.classifier.predict(x.detach().float().cpu().numpy())
        return torch.from_numpy(self.temperature * np.log(np.clip(p, 1e-12, None))).to(x.device)


def _file_digest(spec: str) -> str:
    """First 16 hex digits of the SHA-256 of the file a --teacher value names."""
    import hashlib

    from .classify import resolve_model

    path = Path(spec) if Path(spec).exists() else resolve_model(spec)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def load_teacher(spec: str, dev):
    """A --teacher value -> a callable from normalized N x 1 x 48 x 48 batches to logits."""
    import torch

    from .classify import shipped_models

    if str(spec).endswith(".onnx") or (spec in shipped_models() and not Path(spec).exists()):
        return OnnxTeacher(spec)
    tm, _ = model_from_checkpoint(spec)
    return tm.to(dev, memory_format=torch.channels_last).eval()


def offline_teacher_targets(teachers, images, temp, batch_size: int = 512, progress: bool = True):
    """Mean over teachers and over (image, mirror) of softmax(logits / temp), one row per image.

    Offline distillation: the targets are computed once on the un-augmented image. The
    training augmentation is mild (small shifts, rotations, flips) and the flip average
    makes the target mirror-invariant, so the target still describes the augmented view;
    with several teachers this makes ensemble distillation as cheap as plain training.
    (An ONNX teacher exported with flip TTA does the mirror average inside its graph, so it
    sees only the image.)
    """
    import torch

    out = []
    dev = images.device
    bar = progress_bar(range(0, len(images), batch_size), desc="teacher targets", unit="batch",
                       disable=not progress)
    with torch.no_grad():
        for i in bar:
            x = normalize(images[i:i + batch_size])
            views = [v.contiguous(memory_format=torch.channels_last) for v in tta_views(x, "flip")]
            p = 0
            for t in teachers:
                tv = views[:1] if getattr(t, "flip_inside", False) else views
                p = p + sum(torch.softmax(t(v).float() / temp, 1) for v in tv) / len(tv)
            out.append(p / len(teachers))
    bar.close()
    return torch.cat(out).to(dev) if out else torch.zeros(0, NUM_CLASSES, device=dev)


def tta_views(x, mode):
    """Test-time views of a batch: 'flip' = image + mirror; 'tencrop' = five 48 px crops of
    the image padded by 3 px (centre and corners, i.e. +-3 px shifts) and their mirrors."""
    import torch
    import torch.nn.functional as F

    if mode in (None, False, "none"):
        return [x]
    if mode in (True, "flip"):
        return [x, torch.flip(x, dims=[3])]
    if mode == "tencrop":
        h, w = x.shape[-2:]
        p = F.pad(x, (3, 3, 3, 3), mode="replicate")
        crops = [p[..., dy:dy + h, dx:dx + w] for dy, dx in ((3, 3), (0, 0), (0, 6), (6, 0), (6, 6))]
        return crops + [torch.flip(c, dims=[3]) for c in crops]
    raise ValueError(f"unknown TTA mode {mode!r}; use none, flip or tencrop")


def predict_logits(model, images, batch_size: int = 512, tta=False):
    """Logits for uint8 N x 1 x 48 x 48 images, averaged over the ``tta`` views (see tta_views)."""
    import torch

    model.eval()
    out = []
    dev = next(model.parameters()).device
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            x = normalize(images[i:i + batch_size].to(dev))
            views = tta_views(x, tta)
            z = sum(model(v.contiguous(memory_format=torch.channels_last)) for v in views) / len(views)
            out.append(z.float().cpu())
    return torch.cat(out) if out else torch.zeros(0, NUM_CLASSES)


def evaluate(model, images, labels, batch_size: int = 512, tta: bool = False) -> dict:
    import torch

    logits = predict_logits(model, images, batch_size, tta)
    labels = labels.cpu()
    loss = torch.nn.functional.cross_entropy(logits, labels).item()
    acc = (logits.argmax(1) == labels).float().mean().item()
    return {"val_loss": loss, "val_acc": acc}


# ----------------------------------------------------------------------------- main


def _to_tensors(split):
    import torch

    return torch.from_numpy(split.images).unsqueeze(1), torch.from_numpy(split.labels)


def _class_weights(labels, mode):
    import torch

    if mode == "none":
        return None
    counts = torch.bincount(labels, minlength=NUM_CLASSES).float().clamp(min=1)
    w = counts.sum() / (NUM_CLASSES * counts)
    if mode == "sqrt":
        w = w.sqrt()
    return w / (w * counts).sum() * counts.sum()  # keep the mean loss scale


def build_optimizer(model, args):
    import torch

    decay, no_decay = [], []
    for p in model.parameters():
        # no weight decay on BatchNorm and biases (standard; decaying them only hurts)
        (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if args.opt == "sgd":
        return torch.optim.SGD(groups, lr=args.lr, momentum=args.momentum, nesterov=True)
    if args.opt == "adam":
        return torch.optim.Adam(groups, lr=args.lr)
    return torch.optim.AdamW(groups, lr=args.lr)


def build_scheduler(optimizer, args, steps_per_epoch):
    import torch

    total = args.epochs * steps_per_epoch
    warm = int(args.warmup_epochs * steps_per_epoch)
    if args.sched == "cosine":
        def f(step):
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))
        return torch.optim.lr_scheduler.LambdaLR(optimizer, f)
    if args.sched == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=total)
    if args.sched == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=5)
    return None


def init_from(model, path, arch: str, arch_kwargs: dict, images=None) -> dict:
    """Load a checkpoint's weights into ``model`` (built for ``arch``), refusing a different network.

    EMA weights are preferred: they are the ones selection chose and the package ships. Only the
    weights come across; optimizer, schedule, epoch and history start fresh (use --resume for those).
    Returns the starting checkpoint's training compute, which the new run's checkpoints carry
    (``init_training``): the new weights cost that too, and the path alone may not resolve later
    (relative to another directory, or deleted).
    """
    ck = load_checkpoint(path)
    if ck.get("arch") != arch or (ck.get("arch_kwargs") or {}) != (arch_kwargs or {}):
        raise FacemotionError(f"{path}: --init checkpoint is {ck.get('arch')} {ck.get('arch_kwargs') or {}}, "
                              f"but --model is {arch} {arch_kwargs or {}}")
    state = ck.get("ema_state") or ck["model_state"]
    try:
        model.load_state_dict(state)
    except RuntimeError as e:  # e.g. a different number of classes
        raise FacemotionError(f"{path}: --init weights do not fit {arch}: {str(e).splitlines()[0]}") from None
    print(f"initialized {arch} from {path}", file=sys.stderr)
    if ck.get("recovered_from") and images is not None and len(images):
        # rebuilt from an ONNX graph (`facemotion import`): its BatchNorms are folded into the
        # convs, which train-mode BatchNorm would undo at the first step; give them statistics
        import torch

        from .export import restore_batchnorm_statistics

        pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:2048].to(images.device)
        n = restore_batchnorm_statistics(model, normalize(images[pick]).contiguous(memory_format=torch.channels_last))
        print(f"{path}: restored the statistics of {n} folded BatchNorm layers from {len(pick)} training images",
              file=sys.stderr)
    return checkpoint_compute(path)


def main(args) -> dict:
    import torch

    from .models import count_parameters, create_model
    from .plots import training_curves

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    train, val = load_training_data(args.data, val_fraction=args.val_fraction, seed=args.seed,
                                    skip_bad=args.skip_bad, progress=args.progress)
    if args.limit and args.limit < len(train):
        # a random (seeded) subset: the files are sorted by class, so a prefix would be one class
        keep = np.sort(np.random.default_rng(args.seed).permutation(len(train))[:args.limit])
        train.images, train.labels = train.images[keep], train.labels[keep]
    if train.skipped:
        print(f"skipped {len(train.skipped)} bad training samples (first: {train.skipped[0]})", file=sys.stderr)
    dev = torch.device(args.device)
    x_tr, y_tr = (t.to(dev) for t in _to_tensors(train))
    x_va, y_va = (t.to(dev) for t in _to_tensors(val))
    if len(y_tr) < args.batch_size:
        raise FacemotionError(f"{args.data}: only {len(y_tr)} training images, fewer than --batch-size {args.batch_size}")

    model_kwargs = json.loads(args.model_kwargs)
    model = create_model(args.model, **model_kwargs).to(dev, memory_format=torch.channels_last)
    resume = (out / "last.pt") if args.resume == "auto" else (Path(args.resume) if args.resume else None)
    resuming = resume is not None and resume.exists()
    # a resumed --init run takes its weights (and the init's compute) from last.pt: the
    # starting checkpoint is not needed again, and may be gone by then
    init_training = init_from(model, args.init, args.model, model_kwargs, x_tr) if args.init and not resuming else None
    optimizer = build_optimizer(model, args)
    steps_per_epoch = len(y_tr) // args.batch_size
    scheduler = build_scheduler(optimizer, args, steps_per_epoch)
    ema = EMA(model, args.ema) if args.ema > 0 else None
    teachers = [load_teacher(t, dev) for t in args.teacher]
    if any(isinstance(t, OnnxTeacher) for t in teachers) and not args.kd_offline:
        # ONNX Runtime on every augmented batch would be slow (and CPU-only): targets once per image
        print("an ONNX teacher distils offline: turning on --kd-offline", file=sys.stderr)
        args.kd_offline = True
    teacher_targets = None
    if teachers and args.kd_offline:
        cache = out / "teacher_targets.pt"
        # the teachers by name and content: a shipped name or a path can hold a newer model later
        key = {"teachers": [f"{t}@{_file_digest(t)}" for t in args.teacher], "kd_temp": args.kd_temp, "n": len(y_tr),
               "limit": args.limit, "seed": args.seed}
        if cache.exists():  # a resumed run reuses them (same teachers, temperature and images)
            ck = torch.load(cache, map_location=dev, weights_only=True)
            if ck.get("key") == key:
                teacher_targets = ck["targets"]
        if teacher_targets is None:
            teacher_targets = offline_teacher_targets(teachers, x_tr, args.kd_temp, progress=args.progress)
            atomic_torch_save({"key": key, "targets": teacher_targets.cpu()}, cache)
        teachers = []  # no longer needed: free their memory and skip them in the loop
    augment = BatchAugment(args.shift, args.zoom, args.rotate, args.flip, args.erase)
    cw = _class_weights(y_tr, args.class_weights)

    start_epoch, step, history = 1, 0, []
    best = {"val_loss": float("inf"), "val_acc": 0.0, "epoch": 0}
    if resuming:
        ck = load_checkpoint(resume, map_location=dev)
        model.load_state_dict(ck["model_state"])
        optimizer.load_state_dict(ck["optimizer_state"])
        if scheduler is not None and ck.get("scheduler_state"):
            scheduler.load_state_dict(ck["scheduler_state"])
        if ema is not None and ck.get("ema_state"):
            ema.module.load_state_dict(ck["ema_state"])
        start_epoch, step = ck["epoch"] + 1, ck["step"]
        history, best = ck["history"], ck["best"]
        init_training = ck.get("init_training", init_training)
        print(f"resumed from {resume} at epoch {ck['epoch']}", file=sys.stderr)
    elif args.resume not in (None, "auto"):
        raise FacemotionError(f"{resume}: no checkpoint to resume from")

    n_params = count_parameters(model)
    print(f"{args.model}: {n_params:,} parameters; train {len(y_tr):,} / val {len(y_va):,} images; "
          f"{steps_per_epoch} steps/epoch; threads {torch.get_num_threads()}", file=sys.stderr)
    run_args = {k: v for k, v in vars(args).items() if k != "func"}
    log_path = out / "log.csv"
    bad_epochs = 0 if not history else history[-1]["epoch"] - best["epoch"]
    for epoch in range(start_epoch, args.epochs + 1):
        tr_metrics, step = train_one_epoch(model, optimizer, scheduler, x_tr, y_tr, args, epoch, ema=ema,
                                           teachers=teachers, teacher_targets=teacher_targets, class_weights=cw,
                                           augment=augment, step=step)
        eval_model = ema.module if ema is not None else model
        t0 = time.perf_counter()
        va = evaluate(eval_model, x_va, y_va, tta=args.eval_tta)
        if args.sched == "plateau":
            scheduler.step(va["val_loss"])
        row = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], **tr_metrics, **va,
               "eval_time_s": time.perf_counter() - t0}
        history.append(row)
        improved = va["val_loss"] < best["val_loss"]
        if improved:
            best = {"val_loss": va["val_loss"], "val_acc": va["val_acc"], "epoch": epoch}
            bad_epochs = 0
        else:
            bad_epochs += 1
        meta = describe(model, epoch=epoch, step=step, parameters=n_params,
                        metrics={"val_loss": va["val_loss"], "val_acc": va["val_acc"], "val_split": "PublicTest"
                                 if "PublicTest" in str(val.sources[:1]) else "val"},
                        train_args=run_args, best=best, history=history,
                        **({"init_training": init_training} if init_training else {}))
        state = {**meta, "model_state": model.state_dict(), "optimizer_state": optimizer.state_dict(),
                 "scheduler_state": scheduler.state_dict() if scheduler is not None else None,
                 "ema_state": ema.module.state_dict() if ema is not None else None}
        if improved:
            # the design's naming: <model>.<epoch>-<val_acc>.pt, one file per improvement
            atomic_torch_save(state, out / f"{args.model}.{epoch:02d}-{va['val_acc']:.2f}.pt")
            atomic_torch_save(state, out / "best.pt")
        atomic_torch_save(state, out / "last.pt")
        new = not log_path.exists()
        with open(log_path, "a", newline="") as fh:  # appended per epoch: a kill loses nothing
            w = csv.DictWriter(fh, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)
        training_curves(history, out)
        print(f"epoch {epoch:3d}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}  "
              f"val loss {va['val_loss']:.4f} acc {va['val_acc']:.4f}  {row['img_per_s']:.0f} img/s"
              f"{'  *' if improved else ''}", file=sys.stderr, flush=True)
        if args.patience and bad_epochs >= args.patience:
            print(f"early stop: val loss has not improved for {bad_epochs} epochs", file=sys.stderr)
            break
    summary = {"model": args.model, "parameters": n_params, "epochs_run": len(history), "best": best,
               "out": str(out)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":  # pragma: no cover
    main(get_args_parser().parse_args())
