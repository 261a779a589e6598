"""What a training run reads: the training and validation splits its arguments name (``--data``,
``--labels``, ``--extra-data``, ``--limit``), as tensors on the training device. The test split
(PrivateTest) is never loaded here."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..datasets import SPLIT_USAGE, load_training_data
from ..errors import FacemotionError, UsageError
from ..labels import EMOTIONS, FERPLUS_EMOTIONS


@dataclass
class TrainingData:
    x_tr: object
    y_tr: object
    x_va: object
    y_va: object
    val_split: str  # what the validation split is called in the records ("PublicTest" for FER2013)
    labels: tuple = ()     # the label set the network learns (the card's labels)
    t_tr: object = None    # soft targets (FER+ vote distributions), or None: one-hot labels
    t_va: object = None
    x_unl: object = None   # unlabelled faces (--unlabelled), N x 1 x 48 x 48 uint8, or None
    extra_tr: object = None  # N bool: which training faces came from --extra-data
    w_tr: object = None      # N float: each training face's weight in the loss (--balance-groups), or None


def load_data(cfg, dist, say) -> TrainingData:
    """The training and validation images, uint8, on the training device (a GPU holds them all)."""
    import torch

    from .engine import to_tensors

    train, val = load_train_val(cfg)
    if train.skipped:
        say(f"skipped {len(train.skipped)} bad training samples (first: {train.skipped[0]})", file=sys.stderr)
    dev = torch.device(cfg.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device: {cfg.device} asked for, but this torch sees no CUDA GPU")
    if getattr(train, "val_copies", 0):
        say(f"--extra-data: left out {train.val_copies:,} faces that are validation faces (pixel for pixel)",
            file=sys.stderr)
    x_tr, y_tr = (t.to(dev) for t in to_tensors(train))
    x_va, y_va = (t.to(dev) for t in to_tensors(val))
    t_tr, t_va = ((torch.from_numpy(sp.targets).to(dev) if sp.targets is not None else None) for sp in (train, val))
    if train.dropped or val.dropped:
        say(f"--labels {cfg.labels}: left out {train.dropped} training and {val.dropped} validation faces "
            "(no FER+ votes, or mostly 'unknown' / 'not a face')", file=sys.stderr)
    _check_splits(cfg, dist, train, val, say)
    name = SPLIT_USAGE["val"] if SPLIT_USAGE["val"] in str(val.sources[:1]) else "val"
    x_unl = None
    if getattr(cfg, "unlabelled", None):
        from .consistency import load_unlabelled

        x_unl = torch.from_numpy(load_unlabelled(cfg.unlabelled, skip_bad=cfg.skip_bad, progress=cfg.progress))
        x_unl = x_unl.unsqueeze(1).to(dev)
        say(f"--unlabelled: {len(x_unl):,} faces from {cfg.unlabelled}", file=sys.stderr)
    extra_tr = torch.from_numpy(train.from_extra if train.from_extra is not None else np.zeros(len(train), bool)).to(dev)
    w_tr = None
    if getattr(cfg, "balance_groups", None):
        from .groups import read_groups, reweigh

        w, summary = reweigh(train.sources, train.labels, read_groups(cfg.balance_groups))
        say(f"--balance-groups: {summary['matched']:,} of {summary['faces']:,} training faces in a group; "
            + "; ".join(f"{g} {v['faces']:,} faces, weights {v['min_weight']:.2f}-{v['max_weight']:.2f}"
                        for g, v in summary["groups"].items()), file=sys.stderr)
        w_tr = torch.from_numpy(w).to(dev)
    return TrainingData(x_tr, y_tr, x_va, y_va, name, tuple(train.label_names), t_tr, t_va, x_unl, extra_tr, w_tr)


def _check_splits(cfg, dist, train, val, say) -> None:
    """What a run cannot train on (too few faces for a batch, one emotion, no validation face),
    refused; what it would waste (faces an epoch's whole batches leave out), said."""
    n_train = len(train)
    if n_train // dist.world < cfg.batch_size:
        raise FacemotionError(f"{cfg.data}: only {n_train} training images, fewer than --batch-size "
                              f"{cfg.batch_size}{f' for each of {dist.world} processes' if dist.enabled else ''}")
    present = np.flatnonzero(train.class_counts())
    if len(present) < 2:
        raise FacemotionError(f"{cfg.data}: its training faces show one emotion only "
                              f"({', '.join(train.label_names[i] for i in present) or 'none'}); a classifier needs "
                              "faces of two or more")
    if not len(val):  # no checkpoint could be chosen, and the run's numbers would be NaN
        raise FacemotionError(f"{cfg.data}: no validation faces (its val part is empty, or --val-fraction "
                              f"{cfg.val_fraction} of its {len(train):,} faces holds out none); a run needs some")
    used = n_train // dist.world // cfg.batch_size * cfg.batch_size
    if used < 0.9 * (n_train // dist.world):  # an epoch is whole batches, drawn anew each epoch
        say(f"--batch-size {cfg.batch_size}: an epoch takes {used:,} of the {n_train // dist.world:,} training "
            "faces (whole batches, drawn anew each epoch); a smaller --batch-size takes more", file=sys.stderr)


def load_train_val(args):
    """The training and validation splits a run with these arguments sees (``--limit`` applied)."""
    train, val = load_training_data(args.data, val_fraction=args.val_fraction, seed=args.seed,
                                    skip_bad=args.skip_bad, progress=args.progress,
                                    labels=getattr(args, "labels", "fer2013"), votes=getattr(args, "votes", None),
                                    target=getattr(args, "target", "probability"),
                                    intent=getattr(args, "intent_weight", 0.0))
    if _init_labels(args) == FERPLUS_EMOTIONS and train.label_names == EMOTIONS and train.targets is None:
        # a FER+ network fine-tuned on faces labelled by folder (or by FER2013's CSV): its eight
        # emotions, contempt/ its own class, where FER2013's seven read it as disgust
        train, val = (with_eight_labels(sp) for sp in (train, val))
    if args.limit and args.limit >= len(train):  # said, as evaluate says it: the run is not the size asked for
        print(f"--limit {args.limit}: --data has {len(train):,} training faces, all of them used", file=sys.stderr)
    if args.limit and args.limit < len(train):  # of --data's faces: --extra-data's are added whole
        # a random (seeded) subset: the files are sorted by class, so a prefix would be one class
        keep = np.sort(np.random.default_rng(args.seed).permutation(len(train))[:args.limit])
        dropped = train.dropped
        train = train.subset(keep)
        train.dropped = dropped
    copies = 0
    for extra in getattr(args, "extra_data", None) or ():  # (one named twice: its faces weigh twice)
        if _same_path(extra, args.data):  # its held-out faces would be trained on
            raise UsageError(f"--extra-data {extra}: is --data too; its faces are read once, with a part held out")
        train = with_extra_faces(train, extra, skip_bad=args.skip_bad, progress=args.progress, val=val)
        copies += train.val_copies
    if getattr(args, "unlabelled", None) and _same_path(args.unlabelled, args.data):
        raise UsageError(f"--unlabelled {args.unlabelled}: is --data too: its held-out faces would train the "
                         "consistency loss; give photos the run does not validate on")
    train.val_copies = copies
    return train, val


def _same_path(a, b) -> bool:
    import os

    return os.path.realpath(str(a)) == os.path.realpath(str(b))


def _init_labels(args) -> tuple | None:
    """The label set of the --init checkpoint (None without one, or one that cannot be read:
    the run says why when it loads it)."""
    if not getattr(args, "init", None):
        return None
    from .checkpoint import load_checkpoint

    try:
        return tuple(load_checkpoint(args.init).get("labels") or ())
    except FacemotionError:
        return None


def with_eight_labels(split):
    """``split`` (FER2013's seven) under FER+'s eight, whose first seven are the same: a face from
    a folder naming contempt becomes contempt (by its source's folder, as the loader read it)."""
    from ..datasets.fer2013 import folder_class
    from ..labels import canonical_emotion

    out = split.subset(np.arange(len(split)))
    for i, src in enumerate(split.sources):
        if (name := folder_class(str(src))) is not None and canonical_emotion(name, FERPLUS_EMOTIONS) == "contempt":
            out.labels[i] = FERPLUS_EMOTIONS.index("contempt")
    out.label_names = FERPLUS_EMOTIONS
    return out


def with_extra_faces(train, folder, *, skip_bad: bool = False, progress: bool = True, val=None):
    """``train`` with the faces of an <emotion>/<image> folder appended, their labels mapped by
    name into ``train``'s label set and, where ``train`` has soft targets (FER+ votes), one-hot
    targets: a student's single label is a crowd of one. The vote records stay FER2013's
    alone (``votes`` is dropped for the mixed split; nothing in training reads it). Its faces that
    are ``val``'s, pixel for pixel, are left out (counted in the result's ``val_copies``)."""
    from ..datasets import Split, load_splits
    from ..datasets.duplicates import duplicates_of
    from ..labels import EMOTIONS, canonical_emotion

    extra = load_splits(folder, ("train",), skip_bad=skip_bad, progress=progress)["train"]
    copies = duplicates_of(extra.images, val.images) if val is not None and len(extra) else np.zeros(len(extra), bool)
    if copies.any():
        extra = extra.subset(np.flatnonzero(~copies))
    names = tuple(train.label_names)
    try:  # by folder name, so a contempt folder stays contempt where the run has FER+'s eight labels
        y = np.array([names.index(canonical_emotion(Path(str(src)).parent.name or EMOTIONS[k], names))
                      for src, k in zip(extra.sources, extra.labels)], np.int64)
    except ValueError as e:
        raise FacemotionError(f"--extra-data {folder}: {e}") from None
    targets = None
    if train.targets is not None:
        targets = np.concatenate([train.targets, np.eye(len(names), dtype=train.targets.dtype)[y]])
    was_extra = train.from_extra if train.from_extra is not None else np.zeros(len(train), bool)
    out = Split(train.name, np.concatenate([train.images, extra.images]), np.concatenate([train.labels, y]),
                np.concatenate([train.sources.astype(str), extra.sources.astype(str)]),
                train.skipped + extra.skipped, targets, None, names, train.dropped,
                np.concatenate([was_extra, np.ones(len(y), bool)]))
    out.val_copies = int(copies.sum())
    return out

