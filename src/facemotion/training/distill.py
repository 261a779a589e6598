"""Knowledge distillation: teachers (checkpoints, exported ONNX files, shipped models) and
their soft targets, online (every batch) or offline (once per training image, cached).

The loss itself is in :func:`.engine.train_one_epoch` (Hinton et al.'s KL at temperature T).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from .. import tta
from ..classify import OnnxClassifier
from ..errors import FacemotionError
from ..labels import EMOTIONS, FERPLUS_EMOTIONS, NUM_CLASSES
from ..preprocess import normalize
from ..progress import progress_bar
from ..zoo import RETIRED, no_checkpoint, resolve_model, shipped_models, shipped_name
from .checkpoint import atomic_torch_save, model_from_checkpoint


class OnnxTeacher:
    """An exported facemotion ONNX file (or a shipped model, e.g. the ensemble) as a teacher.

    Its graph ends in ``softmax(z / T)`` with ``T`` in its metadata, so ``T * log p`` gives
    back its logits ``z`` up to a per-row constant, which a softmax ignores; for an ensemble
    graph ``z`` is the log of its members' mean probability. That lets a user distil from
    the model they pip-installed, without its training checkpoints (and without running
    ONNX Runtime on every augmented batch: ONNX teachers are offline only).
    """

    def __init__(self, spec: str):
        path = resolve_model(spec)
        if path.suffix == ".pt":
            raise FacemotionError(f"{spec}: a checkpoint, not an ONNX teacher")
        self.classifier, self.name = OnnxClassifier(path), str(spec)
        self.temperature = float(self.classifier.card.temperature)
        # an export made with --tta already averages the face and its mirror inside the graph
        self.flip_inside = self.classifier.card.tta == "flip"
        self.name = spec

    def __call__(self, x):
        p = self.classifier.predict(x.detach().float().cpu().numpy())
        return torch.from_numpy(self.temperature * np.log(np.clip(p, 1e-12, None))).to(x.device)


def file_digest(spec: str) -> str:
    """First 16 hex digits of the SHA-256 of the file a --teacher value names."""
    if Path(spec).is_dir():
        raise FacemotionError(no_checkpoint(spec))
    path = Path(spec) if Path(spec).exists() else resolve_model(shipped_name(str(spec)))
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def load_teacher(spec: str, dev):
    """A --teacher value -> a callable from normalized N x 1 x 48 x 48 batches to logits."""
    if Path(spec).is_dir():
        raise FacemotionError(no_checkpoint(spec))
    if not Path(spec).exists():  # an old shipped name is the model's new one, as --model takes it
        spec = shipped_name(str(spec))
    if str(spec).endswith(".onnx") or (not Path(spec).exists() and (spec in shipped_models() or spec in RETIRED)):
        return OnnxTeacher(spec)
    tm, _ = model_from_checkpoint(spec)
    tm = tm.to(dev, memory_format=torch.channels_last).eval()
    tm.name = str(spec)  # what an error names it by (an nn.Module has no name; its repr is the network)
    return tm


def fit_targets(p, classes: int, where: str):
    """Teacher probabilities (N x C) for a run of ``classes`` emotions: as they are, or FER+'s
    eight folded into FER2013's seven (contempt added to disgust, as ``--fold-contempt`` does);
    a teacher of seven cannot teach an eighth emotion, which is refused in one line."""
    if p.shape[1] == classes:
        return p
    if p.shape[1] == len(FERPLUS_EMOTIONS) and classes == len(EMOTIONS):
        out = p[:, :classes].clone()
        out[:, EMOTIONS.index("disgust")] += p[:, FERPLUS_EMOTIONS.index("contempt")]
        return out
    raise FacemotionError(f"{where}: gives {p.shape[1]} emotions, the run learns {classes}; a teacher of FER2013's "
                          "seven has no contempt to teach: give a FER+ teacher, or leave --labels ferplus out")


class FoldedTeacher:
    """An online teacher of FER+'s eight emotions for a run of FER2013's seven: logits whose
    softmax at ``temp`` (the run's --kd-temp) is its probabilities at ``temp``, folded
    (:func:`fit_targets`): what offline targets of the same teacher are."""

    def __init__(self, teacher, where: str, temp: float = 1.0):
        self.teacher, self.where, self.temp = teacher, where, float(temp)
        self.flip_inside = getattr(teacher, "flip_inside", False)

    def __call__(self, x):
        folded = fit_targets(torch.softmax(self.teacher(x).float() / self.temp, 1), len(EMOTIONS), self.where)
        return self.temp * torch.log(folded + 1e-12)


def offline_teacher_targets(teachers, images, temp, batch_size: int = 512, progress: bool = True,
                            classes: int | None = None):
    """Mean over teachers and over (image, mirror) of softmax(logits / temp), one row per image.

    Offline distillation: the targets are computed once on the un-augmented image. The
    training augmentation is mild (small shifts, rotations, flips) and the flip average
    makes the target mirror-invariant, so the target still describes the augmented view;
    with several teachers this makes ensemble distillation as cheap as plain training.
    (An ONNX teacher exported with flip TTA does the mirror average inside its graph, so it
    sees only the image.) ``classes``: the run's emotions, each teacher's fitted to them
    (:func:`fit_targets`); None: the teachers' own, alike.
    """
    out = []
    dev = images.device
    bar = progress_bar(range(0, len(images), batch_size), desc="teacher targets", unit="batch",
                       disable=not progress)
    with torch.no_grad():
        for i in bar:
            x = normalize(images[i:i + batch_size])
            views = [v.contiguous(memory_format=torch.channels_last) for v in tta.views(x, "flip")]
            p = 0
            for t in teachers:
                tv = views[:1] if getattr(t, "flip_inside", False) else views
                q = sum(torch.softmax(t(v).float() / temp, 1) for v in tv) / len(tv)
                who = f"--teacher {getattr(t, 'name', type(t).__name__)}"
                p = p + (q if classes is None else fit_targets(q, classes, who))
            out.append(p / len(teachers))
    bar.close()
    return torch.cat(out).to(dev) if out else torch.zeros(0, NUM_CLASSES, device=dev)


def images_digest(images) -> str:
    """SHA-1 of the uint8 training images (in order): what a targets file is tied to."""
    return hashlib.sha1(np.ascontiguousarray(images.cpu().numpy()).tobytes()).hexdigest()[:20]


def targets_key(specs, images, *, kd_temp: float, limit: int, seed: int) -> dict:
    """What a targets file is tied to: the teachers (by name and content: a shipped name or a
    path can hold a newer model later), the temperature and the images."""
    return {"teachers": [f"{t}@{file_digest(t)}" for t in specs], "kd_temp": kd_temp, "n": len(images),
            "limit": limit, "seed": seed, "images": images_digest(images)}


def read_cached_targets(cache: Path, key: dict, device):
    """The targets ``cache`` holds if it was made under ``key``, else None (also for a file that
    is not a targets file: the caller writes this one over it)."""
    try:
        ck = torch.load(cache, map_location=device, weights_only=True)
    except Exception:  # noqa: BLE001  (missing, or any other file: not these targets)
        return None
    return ck["targets"] if isinstance(ck, dict) and ck.get("key") == key else None


def cached_teacher_targets(load_teachers, specs, images, cache: Path, *, kd_temp: float, limit: int, seed: int,
                           progress: bool = True, classes: int | None = None):
    """:func:`offline_teacher_targets`, cached in ``cache`` (a run's ``teacher_targets.pt``, or
    the file of ``--teacher-targets``) under :func:`targets_key`, so a resumed run does not
    compute them again. ``load_teachers()`` gives the teachers, called only when the cache is
    not current. Returns (targets, whether the cache already held them)."""
    key = targets_key(specs, images, kd_temp=kd_temp, limit=limit, seed=seed)
    targets = read_cached_targets(cache, key, images.device)
    if targets is not None:
        return targets, True
    targets = offline_teacher_targets(load_teachers(), images, kd_temp, progress=progress, classes=classes)
    atomic_torch_save({"key": key, "targets": targets.cpu()}, Path(cache))
    return targets, False


def load_teacher_targets(path, images, *, kd_temp: float, limit: int = 0, seed: int = 0):
    """Targets made beforehand (``facemotion teacher-targets``, or a run's cache), checked
    against the images they will be paired with and the temperature they were made at: the
    teachers themselves need not be present (a GPU machine holds only the data)."""
    made_by = "written by facemotion teacher-targets --to FILE"
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (a torn or foreign file: say which, in one line)
        from .checkpoint import unloadable

        why = unloadable(Path(path), e, made_by)
        raise FacemotionError(f"{path}: not a teacher-targets file: {why}") from None
    if not isinstance(ck, dict) or not {"key", "targets"} <= set(ck):
        what = " (a model checkpoint)" if isinstance(ck, dict) and "model_state" in ck else ""
        raise FacemotionError(f"{path}: not a teacher-targets file{what}; those are {made_by}")
    key, targets = ck["key"], ck["targets"]
    if key.get("kd_temp") != kd_temp:
        raise FacemotionError(f"{path}: made at --kd-temp {key.get('kd_temp')}, not {kd_temp}")
    if key.get("n") != len(images) or key.get("images") != images_digest(images):
        raise FacemotionError(f"{path}: made for other training images ({key.get('n')} images, limit "
                              f"{key.get('limit')}, seed {key.get('seed')}), not these {len(images)} "
                              f"(limit {limit}, seed {seed}); --data, --labels, --limit, --seed and "
                              "--val-fraction must be those `teacher-targets` was given")
    if targets.ndim != 2 or len(targets) != len(images):  # 7 or 8 columns: the teachers' label set
        raise FacemotionError(f"{path}: targets of shape {tuple(targets.shape)}, expected ({len(images)}, classes)")
    return targets.to(images.device)


def teacher_targets_main(args) -> dict:
    """``facemotion teacher-targets``: the offline soft targets of ``--teacher`` on the training
    images a run with the same --data/--limit/--seed/--val-fraction sees, written to ``--to`` for
    a later ``train --teacher-targets`` (on a machine that lacks the teachers' files)."""
    import torch

    from ..datasets.loading import check_label_options
    from ..errors import UsageError

    check_label_options(args)  # --votes beside FER2013's own labels is refused, not passed over
    from .data import load_train_val
    from .engine import to_tensors

    if not args.teacher:
        raise UsageError("--teacher: name at least one teacher")
    train, _ = load_train_val(args)
    x_tr, _ = to_tensors(train)
    targets, kept = cached_teacher_targets(lambda: [load_teacher(t, torch.device("cpu")) for t in args.teacher],
                                           args.teacher, x_tr, Path(args.out), kd_temp=args.kd_temp,
                                           limit=args.limit, seed=args.seed, progress=args.progress,
                                           classes=len(train.label_names))
    targets = fit_targets(targets, len(train.label_names), str(args.out))  # a file made before: its own width
    acc = float((targets.argmax(1) == torch.from_numpy(train.labels)).float().mean())
    return {"out": args.out, "images": len(x_tr), "teacher_train_acc": acc, "kept": kept}

