"""Starting a run from existing weights (``train --init``): a finished run's for a second
cosine cycle, a shipped model's to fine-tune, or one rebuilt from an ONNX graph by
``facemotion import``, whose folded BatchNorm layers first get statistics back."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import torch

from ..errors import FacemotionError, UsageError
from ..preprocess import normalize
from ..zoo import shipped_models
from .checkpoint import checkpoint_compute, load_checkpoint
from .prune import fit_to_state


def init_from(model, path, arch: str, arch_kwargs: dict, images=None) -> dict:
    """Load a checkpoint's weights into ``model`` (built for ``arch``), refusing a different network.

    EMA weights are preferred: they are the ones selection chose and the package ships. Only the
    weights come across; optimizer, schedule, epoch and history start fresh (use --resume for those).
    Returns the starting checkpoint's training compute, which the new run's checkpoints carry
    (``init_training``): the new weights cost that too, and the path alone may not resolve later
    (relative to another directory, or deleted).
    """
    if not Path(path).exists() and str(path) in shipped_models():
        raise FacemotionError(f"--init {path}: a shipped model's name; --init takes a checkpoint (.pt): facemotion's "
                              "repository keeps the shipped models' in models/ (docs/models.md names them), or "
                              f"`facemotion import {str(path).removesuffix('_int8')} -o DIR` rebuilds one from its ONNX file")
    ck = load_checkpoint(path)
    same_net = {k: v for k, v in (ck.get("arch_kwargs") or {}).items() if k != "num_classes"} == \
        {k: v for k, v in (arch_kwargs or {}).items() if k != "num_classes"}
    if ck.get("arch") != arch or not same_net:
        fix = (f"give --arch {ck.get('arch')}" if ck.get("arch") != arch else
               f"give --model-kwargs '{json.dumps(ck.get('arch_kwargs') or {})}'")
        raise UsageError(f"{path}: --init checkpoint is {ck.get('arch')} {ck.get('arch_kwargs') or {}}, "
                         f"but --arch is {arch} {arch_kwargs or {}}; {fix}")
    state = dict(ck.get("ema_state") or ck["model_state"])
    if ck.get("pruned"):  # a pruned run fine-tuned again: shrink the network to its channels first
        fit_to_state(model, state, ck["pruned"])
    state = _new_head(model, state, tuple(ck.get("labels") or ()), path)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:  # e.g. a different number of classes
        raise FacemotionError(f"{path}: --init weights do not fit {arch}: {str(e).splitlines()[0]}") from None
    print(f"initialized {arch} from {path}", file=sys.stderr)
    if ck.get("recovered_from") and images is not None and len(images):
        # rebuilt from an ONNX graph (`facemotion import`): its BatchNorms are folded into the
        # convs, which train-mode BatchNorm would undo at the first step; give them statistics
        pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:2048].to(images.device)
        n = restore_batchnorm_statistics(model, normalize(images[pick]).contiguous(memory_format=torch.channels_last))
        print(f"{path}: restored the statistics of {n} folded BatchNorm layers from {len(pick)} training images",
              file=sys.stderr)
    return checkpoint_compute(path)


def _new_head(model, state: dict, old_labels: tuple, path) -> dict:
    """Fit a checkpoint's output layer to a network with more labels (FER2013's seven -> FER+'s
    eight): the seven rows keep their weights, so the fine-tune starts from the old model's
    answers, and contempt's row starts as a copy of disgust's (FER2013 filed contempt under
    disgust, so that is where the features for it are) with its bias lowered by log 4, so it
    starts rarer than disgust rather than tied with it. Other shape differences are refused."""
    want = model.state_dict()
    for key, w in state.items():
        if key not in want or want[key].shape == w.shape:
            continue
        if w.shape[1:] != want[key].shape[1:] or w.shape[0] != len(old_labels) or want[key].shape[0] <= w.shape[0]:
            raise FacemotionError(f"{path}: --init weights do not fit: {key} is {tuple(w.shape)}, "
                                  f"the network's {tuple(want[key].shape)}")
        new = want[key].clone()
        new[:w.shape[0]] = w
        new[w.shape[0]:] = w[old_labels.index("disgust")]
        if key.endswith("bias"):
            new[w.shape[0]:] -= math.log(4.0)
        state[key] = new
    return state


def restore_batchnorm_statistics(model, images, batch_size: int = 512) -> int:
    """Make a rebuilt (BatchNorm-folded) network train like a normal one; returns how many
    BatchNorms it rewrote.

    A folded BatchNorm is the identity plus a bias ``b``: exact in eval mode, but in train mode
    it would normalize by the batch's statistics, which the identity form never expected, and
    every layer's scale would be lost at the first step. Measuring each such layer's input mean
    ``mu`` and variance ``var`` on ``images`` (normalized N x 1 x S x S) and setting running
    statistics (mu, var), weight sqrt(var + eps) and bias b + mu keeps the eval-mode function
    exactly (weight * (y - mu) / sqrt(var + eps) + bias = y + b), while a training batch, whose
    statistics are close to (mu, var), now sees nearly the same function too.
    """
    folded = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d) and m.running_var is not None
              and torch.all(m.weight == 1) and torch.all(m.running_mean == 0)
              and torch.allclose(m.running_var, torch.full_like(m.running_var, 1.0 - m.eps))]
    if not folded:
        return 0
    sums = {id(m): [0.0, 0.0, 0] for m in folded}

    def hook(mod, inputs):
        y = inputs[0].detach().float()
        acc = sums[id(mod)]
        acc[0] = acc[0] + y.sum((0, 2, 3))
        acc[1] = acc[1] + (y * y).sum((0, 2, 3))
        acc[2] += y.numel() // y.shape[1]

    handles = [m.register_forward_pre_hook(hook) for m in folded]
    was_training = model.training
    model.eval()  # the function being measured is the eval-mode one, which the rewrite keeps
    try:
        with torch.no_grad():
            for i in range(0, len(images), batch_size):
                model(images[i:i + batch_size])
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    with torch.no_grad():
        for m in folded:
            s, s2, n = sums[id(m)]
            mu = s / n
            var = (s2 / n - mu * mu).clamp_min(0)
            m.running_mean.copy_(mu)
            m.running_var.copy_(var)
            m.bias.add_(mu)
            m.weight.copy_(torch.sqrt(var + m.eps))
    return len(folded)
