"""The training engine, shaped like torchvision's reference scripts: :func:`train_one_epoch`,
:func:`evaluate`, and the optimizer and schedule builders. ``train.py`` wires them together.

Everything per image happens on whole batches (see :mod:`.augment`); the network runs
channels-last, which is what oneDNN's CPU kernels like.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from .. import tta as _tta
from ..labels import NUM_CLASSES
from ..preprocess import normalize
from ..progress import progress_bar
from .augment import mix_batch
from .distributed import Dist

# The faces of this many batches are augmented in one pass (then split): the augmentation's
# operators (the geometry, erasing, about fifteen corruption families) cost the host the same for
# 512 faces as for 2,048, and on a GPU a small network's step is bound by what the host dispatches,
# of which the augmentation was two thirds (engine.HostDispatches: ~700 of ~1,000 a step for
# resnet_fer_s). The mixing stays per batch.
AUGMENT_BATCHES = 4


def loss_fn(logits, target_soft, class_weights=None):
    return _cross_entropy(logits, target_soft, class_weights).mean()


def _cross_entropy(logits, target_soft, class_weights=None):
    """Per image: the cross-entropy of the soft target, each class weighted."""
    per = -(target_soft * torch.log_softmax(logits.float(), 1))
    if class_weights is not None:
        per = per * class_weights
    return per.sum(1)


def train_one_epoch(model, optimizer, schedule, images, labels, args, epoch, *, targets=None, ema=None, teachers=(),
                    teacher_targets=None, class_weights=None, augment=None, step=0, dist: Dist = Dist(),
                    forward=None, num_classes: int = NUM_CLASSES, unlabelled=None, kd_weight=None, sample_weight=None):
    """One pass over the training images (with ``dist``, this process's shard of it; ``model``
    is then the DistributedDataParallel wrapper); returns (metrics over all processes, global step).

    ``targets`` (N x classes, rows summing to 1) replaces the one-hot of ``labels`` as what the
    network learns: FER+'s crowd vote distributions. ``labels`` still scores the accuracy.

    ``forward`` is what runs the network on a batch (``model`` itself, or a ``torch.compile``
    of it). The loop never waits for the device: the loss and accuracy are summed on the
    device and read once per epoch (and every 50 batches for the progress bar), the random
    draws that decide shapes come from a host generator, so on a GPU the host queues the next
    step while the device still computes this one. ``unlabelled`` (:class:`.consistency.Consistency`)
    adds unlabelled faces to every batch (FixMatch); per image, ``kd_weight`` (N, 0-1) scales
    distillation and ``sample_weight`` (N) the whole loss (``--balance-groups``)."""
    model.train()
    forward = model if forward is None else forward
    dev = images.device
    perm, gen, host_rng = _epoch_order(args.seed, epoch, len(labels), dev, dist)
    amp = torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=args.amp == "bf16")
    nb = len(perm) // args.batch_size  # drop the ragged last batch: BatchNorm dislikes tiny ones
    bar = progress_bar(range(nb), desc=f"epoch {epoch}/{args.epochs}", unit="batch",
                       disable=not args.progress or not dist.main)
    sums = torch.zeros(2, device=dev, dtype=torch.float64)  # loss x n, correct
    if targets is None:  # the labels as one-hot targets, so every batch indexes one table
        targets = torch.eye(num_classes, device=dev)[labels]
    t0 = time.perf_counter()
    batches = _batches(images, labels, perm, nb, args, augment, gen, host_rng, targets, teacher_targets, kd_weight,
                       sample_weight)
    for b, (y, x, y_soft, t_prob, w, sw) in zip(bar, batches):
        with amp:
            logits, extra_loss = _forward(forward, x, unlabelled, gen, model)
            if teachers and t_prob is None:
                with torch.no_grad():
                    t_prob = torch.stack([torch.softmax(t(x).float() / args.kd_temp, 1) for t in teachers]).mean(0)
        loss = _loss(logits, y_soft, t_prob, args, class_weights, w, sw) + extra_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.after_step()
        step += 1
        if ema is not None:
            ema.update(getattr(model, "module", model), step)
        with torch.no_grad():
            sums += torch.stack([loss.detach().double() * len(y), (logits.argmax(1) == y).sum().double()])
        if args.progress and (b % 50 == 0 or b == nb - 1):  # the only reads of the device in the loop
            n = (b + 1) * args.batch_size
            tot_loss, tot_correct = sums.tolist()
            bar.set_postfix(loss=f"{tot_loss / n:.3f}", acc=f"{tot_correct / n:.3f}",
                            img_s=f"{n / (time.perf_counter() - t0):.0f}")
    bar.close()
    tot_loss, tot_correct = sums.tolist()  # waits for the epoch's last step
    dt = time.perf_counter() - t0
    tot_n = nb * args.batch_size
    tot_loss, tot_correct, tot_n = dist.sum([tot_loss, tot_correct, tot_n], dev)
    return {"train_loss": tot_loss / max(tot_n, 1), "train_acc": tot_correct / max(tot_n, 1),
            "img_per_s": tot_n / dt, "train_time_s": dt}, step


def _forward(forward, x, unlabelled, gen, model):
    """(the labelled batch's logits, the consistency loss or 0). The unlabelled faces' strong
    views share the labelled batch's forward pass: BatchNorm sees one batch of both kinds."""
    if unlabelled is None:
        return forward(x).float(), 0.0
    strong, answer, sure = unlabelled.views(forward, len(x), gen, model)
    both = forward(torch.cat([x, strong]).contiguous(memory_format=torch.channels_last)).float()
    return both[:len(x)], unlabelled.loss(both[len(x):], answer, sure)


def _epoch_order(seed: int, epoch: int, n: int, dev, dist: Dist):
    """(this process's order of the ``n`` training images, its augmentation generator on the
    device, its host generator), all seeded per epoch: a resumed run sees the batches it
    would have seen."""
    seed = seed * 1000 + epoch
    gen = torch.Generator(device=dev).manual_seed(seed)
    perm = dist.shard(torch.randperm(n, generator=gen, device=dev))
    if dist.enabled:  # the same permutation everywhere, but each process its own augmentation draws
        seed = seed * 1009 + dist.rank
        gen = torch.Generator(device=dev).manual_seed(seed)
    return perm, gen, np.random.default_rng(seed)  # host: mixup's weight and CutMix's box


def _pick(per_image, idx):
    return None if per_image is None else per_image[idx]


def _batches(images, labels, perm, nb, args, augment, gen, host_rng, targets, teacher_targets, kd_weight,
             sample_weight):
    """The epoch's ``nb`` training batches in ``perm``'s order: (labels, faces, targets, teacher
    targets, distillation weights, loss weights), each as :func:`_batch` makes it; the faces of
    AUGMENT_BATCHES batches augmented in one pass."""
    bs, faces = args.batch_size, None
    for b in range(nb):
        j = b % AUGMENT_BATCHES
        if j == 0:  # the next batches' faces, augmented together
            faces = _augmented(images[perm[b * bs:min(b + AUGMENT_BATCHES, nb) * bs]], augment, gen)
        idx = perm[b * bs:(b + 1) * bs]
        y = labels[idx]
        yield (y, *_batch(faces[j * bs:(j + 1) * bs], targets[idx],
                          None if teacher_targets is None else teacher_targets[idx], args, gen, host_rng,
                          _pick(kd_weight, idx), _pick(sample_weight, idx)))


def _augmented(images, augment, gen):
    """uint8 faces -> normalized and augmented (``augment`` None: normalized only)."""
    x = normalize(images)
    return x if augment is None else augment(x, gen)


def _batch(x, y_onehot, t_prob, args, gen, host_rng, kd_w=None, sample_w=None):
    """Augmented faces and their one-hot labels or soft targets (and teacher targets, per-image
    distillation weights and loss weights) -> the training batch: label-smoothed, mixed (labels,
    teacher targets and weights with the same pairs and weights), channels-last."""
    y_soft = y_onehot
    n = y_soft.shape[1]
    if args.label_smoothing > 0:
        y_soft = y_soft * (1 - args.label_smoothing) + args.label_smoothing / n
    if args.mixup > 0 or args.cutmix > 0:  # one mix for all: a pair's targets and weights mix as its faces do
        cols = [c for c in (y_soft, t_prob, None if kd_w is None else kd_w[:, None],
                            None if sample_w is None else sample_w[:, None]) if c is not None]
        x, mixed = mix_batch(x, torch.cat(cols, 1), args, gen, host_rng)
        mixed = iter(mixed.split([c.shape[1] for c in cols], 1))
        y_soft = next(mixed)
        t_prob = None if t_prob is None else next(mixed)
        kd_w = None if kd_w is None else next(mixed)[:, 0]
        sample_w = None if sample_w is None else next(mixed)[:, 0]
    return x.contiguous(memory_format=torch.channels_last), y_soft, t_prob, kd_w, sample_w


def _loss(logits, y_soft, t_prob, args, class_weights, kd_w=None, sample_w=None):
    """Cross-entropy to the target, mixed per image with distillation: (1 - a w) CE + a w KD, a =
    --kd-alpha, w = the image's weight (1 without ``kd_w``; 0 learns its own target alone); each
    image's sum scaled by ``sample_w`` where given."""
    per = _cross_entropy(logits, y_soft, class_weights)
    if t_prob is not None:
        # Hinton et al.: soft targets at temperature T, scaled by T^2 to keep gradient size
        kd = torch.nn.functional.kl_div(torch.log_softmax(logits.float() / args.kd_temp, 1), t_prob,
                                        reduction="none").sum(1) * args.kd_temp ** 2
        a = args.kd_alpha if kd_w is None else args.kd_alpha * kd_w
        per = (1 - a) * per + a * kd
    return (per if sample_w is None else per * sample_w).mean()


class HostDispatches:
    """Counts, inside a ``with`` block, the operators dispatched on the host (``ops``) and those
    among them that read a value back from the device (``reads``: ``.item()``, ``bool()`` of a
    tensor, ``nonzero``, ``unique``, ...). On a GPU each read stalls the host until the device has
    finished everything queued, and each dispatch costs host time whatever the batch: for a small
    network the two, not the arithmetic, bound a step. Both counts are the same on any device, so
    the CPU measures what a GPU step will cost the host (``benchmarks/train_speed.py``)."""

    READS = frozenset({"_local_scalar_dense", "item", "is_nonzero", "nonzero", "unique", "_unique", "_unique2",
                       "unique_consecutive", "masked_select", "equal"})

    def __init__(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        counts = self

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                name = func.overloadpacket.__name__
                counts.ops += 1
                if name in HostDispatches.READS:
                    counts.reads[name] = counts.reads.get(name, 0) + 1
                return func(*args, **(kwargs or {}))

        self.ops, self.reads, self._mode = 0, {}, _Mode()

    def __enter__(self):
        self._mode.__enter__()
        return self

    def __exit__(self, *exc):
        return self._mode.__exit__(*exc)


def predict_logits(model, images, batch_size: int = 512, tta="none"):
    """Logits for uint8 N x 1 x 48 x 48 images, averaged over the ``tta`` views (:mod:`facemotion.tta`)."""
    model.eval()
    out = []
    dev = next(model.parameters()).device
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            x = normalize(images[i:i + batch_size].to(dev))
            z = _tta.apply(lambda v: model(v.contiguous(memory_format=torch.channels_last)), x, tta)
            out.append(z.float().cpu())
    return torch.cat(out) if out else torch.zeros(0, NUM_CLASSES)


def evaluate(model, images, labels, batch_size: int = 512, tta="none", dist: Dist = Dist(), targets=None) -> dict:
    """Mean loss and accuracy; with ``dist``, each process predicts its shard and the sums are shared.
    With ``targets`` (soft, e.g. FER+'s vote distributions) the loss is the cross-entropy to them,
    which is what selection by the lowest loss then minimizes."""
    images, labels = images[dist.rank::dist.world], labels[dist.rank::dist.world]
    logits = predict_logits(model, images, batch_size, tta)
    labels = labels.cpu()
    if targets is None:
        loss = torch.nn.functional.cross_entropy(logits, labels, reduction="sum").item()
    else:
        t = targets[dist.rank::dist.world].cpu().float()
        loss = -(t * torch.log_softmax(logits, 1)).sum().item()
    correct = (logits.argmax(1) == labels).sum().item()
    loss, correct, n = dist.sum([loss, correct, len(labels)], next(model.parameters()).device)
    return {"val_loss": loss / n if n else float("nan"), "val_acc": correct / n if n else float("nan")}


def to_tensors(split):
    return torch.from_numpy(split.images).unsqueeze(1), torch.from_numpy(split.labels)


def class_weights(labels, mode, num_classes: int = NUM_CLASSES):
    if mode == "none":
        return None
    counts = torch.bincount(labels, minlength=num_classes).float().clamp(min=1)
    w = counts.sum() / (num_classes * counts)
    if mode == "sqrt":
        w = w.sqrt()
    return w / (w * counts).sum() * counts.sum()  # keep the mean loss scale


def build_optimizer(model, args):
    decay, no_decay = [], []
    for p in model.parameters():
        # no weight decay on BatchNorm and biases (standard; decaying them only hurts)
        (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # on a GPU one fused kernel updates every tensor (the per-tensor loop is ~3 launches each)
    fused = {"fused": True} if next(model.parameters()).is_cuda else {}
    if args.opt == "sgd":
        return torch.optim.SGD(groups, lr=args.lr, momentum=args.momentum, nesterov=True, **fused)
    if args.opt == "adam":
        return torch.optim.Adam(groups, lr=args.lr, **fused)
    return torch.optim.AdamW(groups, lr=args.lr, **fused)


class Schedule:
    """A learning-rate schedule with one interface for the loop: ``after_step`` after every
    optimizer step, ``after_epoch`` with the epoch's validation loss. Per-step schedules
    (cosine with warm-up, one-cycle) move in the first; plateau in the second; the loop never
    asks which kind it has."""

    def __init__(self, scheduler=None, per_step: bool = True):
        self.scheduler, self.per_step = scheduler, per_step

    def after_step(self) -> None:
        if self.scheduler is not None and self.per_step:
            self.scheduler.step()

    def after_epoch(self, val_loss: float) -> None:
        if self.scheduler is not None and not self.per_step:
            self.scheduler.step(val_loss)

    def state_dict(self):
        return self.scheduler.state_dict() if self.scheduler is not None else None

    def load_state_dict(self, state) -> None:
        if self.scheduler is not None and state:
            self.scheduler.load_state_dict(state)

    def move_to(self, step: int) -> None:
        """A per-step schedule at ``step`` (its rate set as there). A one-cycle schedule keeps the
        length it was made with and is not moved (a resume refuses to change its steps)."""
        if self.per_step and isinstance(self.scheduler, torch.optim.lr_scheduler.LambdaLR):
            self.scheduler.last_epoch = step - 1
            self.scheduler.step()


def build_scheduler(optimizer, args, steps_per_epoch) -> Schedule:
    total = args.epochs * steps_per_epoch
    warm = int(args.warmup_epochs * steps_per_epoch)
    if args.sched == "cosine":
        def f(step):
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))
        return Schedule(torch.optim.lr_scheduler.LambdaLR(optimizer, f))
    if args.sched == "onecycle":
        return Schedule(torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=total))
    if args.sched == "plateau":
        return Schedule(torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=5), per_step=False)
    return Schedule()
