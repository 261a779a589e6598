"""Classification: 48x48 faces -> N x L emotion probabilities (L: the model's labels), in one batched call.

The core backend is ONNX Runtime, so the core install needs no torch. An ONNX model carries
its :class:`~facemotion.card.ModelCard` in its metadata (labels, input size, normalization,
temperature, architecture, metrics), checked against the graph when it is loaded, and the
graph already ends in a temperature-scaled softmax.

Other file types come from backends registered by suffix: the training wing registers
``.pt`` (a torch checkpoint) through the ``facemotion.backends`` entry point, so a
checkpoint works wherever a model is accepted once ``facemotion[train]`` is installed, while
nothing here imports torch.

A FER+ model's eighth output, contempt, can be folded into disgust (:func:`fold_classifier`)
for users who need FER2013's seven emotions.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from .card import ModelCard
from .errors import ModelError, UsageError
from .images import load_image
from .labels import EMOTIONS, FERPLUS_EMOTIONS, UnknownLabelError, canonical_emotion
from .preprocess import faces_to_batch
from .registry import Registry
from .zoo import check_entry, resolve

# Larger inputs run in chunks of this many faces: a whole test split in one call would make
# a backend hold every activation of every face at once (tens of GB for an ensemble), and
# throughput stops growing well before this size anyway.
MAX_BATCH = 256


class Classifier:
    """What every backend provides: ``predict`` (normalized N x 1 x S x S -> N x L, one column
    per label) and the model's card; ``classify_faces``, ``labels`` and ``name`` come with it."""

    backend = "?"
    card: ModelCard
    path: Path

    @property
    def input_size(self) -> int:
        return self.card.input_size

    @property
    def name(self) -> str:
        """The card's name; else the file's stem, with its folder for a run's ``best``/``last``
        (``mx/best``: every run's is ``best``)."""
        stem = self.path.stem
        return self.card.name or (f"{self.path.parent.name}/{stem}" if stem in ("best", "last") and
                                  self.path.parent.name else stem)

    @property
    def labels(self) -> tuple[str, ...]:
        """What each output column is, in order: the card's labels."""
        return tuple(self.card.labels)

    def predict(self, batch: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def classify_faces(self, faces) -> np.ndarray:
        """Face crops (list or N x H x W array, any size, gray or colour; PIL images too) -> N x L,
        one batch."""
        return self.predict(faces_to_batch(pil_as_arrays(faces), self.input_size))


def pil_as_arrays(faces):
    """PIL images among ``faces`` (or one alone) as the BGR arrays the rest of facemotion reads
    them as (:func:`facemotion.images.load_image`: RGB turned BGR, a palette's colours, alpha
    on white); ``np.asarray`` of them read RGB as BGR and a palette's indices as gray levels."""
    def is_pil(f):
        return type(f).__module__.startswith("PIL.")

    if is_pil(faces):
        return load_image(faces)
    if isinstance(faces, (list, tuple)) and any(is_pil(f) for f in faces):
        return [load_image(f) if is_pil(f) else f for f in faces]
    return faces


class OnnxClassifier(Classifier):
    """An exported facemotion model run by ONNX Runtime."""

    backend = "onnxruntime"

    def __init__(self, path: str | os.PathLike, threads: int | None = None):
        self.path = Path(path)
        self._threads = threads
        # A few faces (the usual photo or video frame) run fastest on one thread: waking a
        # pool costs more than the work. Large batches get a multi-threaded session, made on
        # first use.
        self.session = self._session(1)
        self._pool_session = None
        meta = self.session.get_modelmeta().custom_metadata_map
        try:
            meta = {k: json.loads(v) for k, v in meta.items()}
        except ValueError:
            raise ModelError(f"{self.path}: ONNX metadata is not facemotion's (re-export with `facemotion export`)") from None
        self.card = ModelCard.from_dict(meta, str(self.path))
        ins, out = self.session.get_inputs(), self.session.get_outputs()[0]
        if len(ins) != 1:
            raise ModelError(f"{self.path}: the graph takes {len(ins)} inputs ({', '.join(i.name for i in ins)}); "
                             "facemotion gives it one, the faces")
        inp = ins[0]
        self.card.check_io(inp.shape, out.shape, str(self.path))
        self.input_name = inp.name
        self._dtype = {"tensor(float)": np.float32, "tensor(float16)": np.float16}.get(inp.type)
        if self._dtype is None:
            raise ModelError(f"{self.path}: the graph's input is {inp.type}; facemotion gives faces as float32")
        # a graph exported for a fixed number of faces at a time (often 1) takes them so, padded
        self._batch = inp.shape[0] if isinstance(inp.shape[0], int) and inp.shape[0] > 0 else None
        self._probe()

    def odd_input(self) -> str | None:
        """What keeps this graph from the paths that feed it batches of float32 faces themselves
        (quantization's calibration, the GPU's conversion): a fixed batch or float16 faces."""
        if self._batch is not None:
            return f"it takes {self._batch} face{'s' if self._batch > 1 else ''} at a time"
        return "it takes float16 faces" if self._dtype != np.float32 else None

    def _probe(self) -> None:
        """One grey face through the graph at load: a graph that does not run on faces, or gives
        no probabilities (logits, say: its softmax left out of the export), is refused now, in
        one line, not in the middle of a collection with wrong numbers."""
        s = self.card.input_size
        try:
            out = self._run(self.session, np.zeros((1, self.card.channels, s, s), self._dtype))
        except Exception as e:  # noqa: BLE001 - ONNX Runtime's own errors: the file's problem
            why = str(e).splitlines()[0][:200]
            raise ModelError(f"{self.path}: the graph does not run on a face ({why})") from None
        if not np.isfinite(out).all() or out.min() < -1e-6 or not np.allclose(out.sum(1), 1, atol=1e-3):
            raise ModelError(f"{self.path}: the graph's outputs are not probabilities (each 0-1, summing to 1; it gave "
                             f"{[round(float(v), 3) for v in out[0]]}): export it with its softmax")

    def _run(self, sess, x: np.ndarray) -> np.ndarray:
        n = len(x)
        if self._batch is not None and n < self._batch:  # padded with grey faces, their answers dropped
            x = np.concatenate([x, np.zeros((self._batch - n, *x.shape[1:]), x.dtype)])
        return np.asarray(sess.run(None, {self.input_name: x})[0][:n], np.float32)

    def _session(self, threads: int):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        # Don't let idle worker threads spin after a run: in a pipeline the next thing on the
        # CPU is the face detector, and spinning threads cost it ~10 ms per image on 2 cores.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            return ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise ModelError(f"{self.path}: not a loadable ONNX model ({str(e).splitlines()[0][:200]})") from None

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """N x 1 x S x S float32 in [-1, 1] -> N x L probabilities (one call per 256 faces)."""
        if len(batch) == 0:
            return np.zeros((0, len(self.card.labels)), np.float32)
        sess = self.session
        if len(batch) > 16 and self._threads != 1:
            if self._pool_session is None:
                self._pool_session = self._session(self._threads or 0)  # 0 = one thread per core
            sess = self._pool_session
        batch = np.ascontiguousarray(batch, self._dtype)
        step = self._batch or MAX_BATCH
        if len(batch) <= step:  # a photo's or a frame's faces: one call, no copy
            return self._run(sess, batch)
        return np.concatenate([self._run(sess, batch[i:i + step]) for i in range(0, len(batch), step)])


def classifier_labels(classifier) -> tuple[str, ...]:
    """A classifier's output names: its ``labels``, else its card's; FER2013's seven for an
    object with neither (a classifier object made before models had other labels)."""
    labels = getattr(classifier, "labels", None)
    if labels is None:
        labels = getattr(getattr(classifier, "card", None), "labels", None)
    return tuple(labels) if labels else EMOTIONS


# FER2013 filed contempt under disgust (FER+ relabelled those faces), so that is where it goes back
FOLD_FROM, FOLD_INTO = "contempt", canonical_emotion("contempt", EMOTIONS)


def fold_contempt(probs: np.ndarray, labels) -> tuple[np.ndarray, tuple[str, ...]]:
    """N x L probabilities in ``labels`` order -> (the same without contempt, its probability
    added to disgust's; the labels without contempt). Without contempt: unchanged."""
    labels = tuple(labels)
    if FOLD_FROM not in labels:
        return probs, labels
    src, dst = labels.index(FOLD_FROM), labels.index(FOLD_INTO)
    keep = [k for k in range(len(labels)) if k != src]
    out = np.array(probs[:, keep], dtype=probs.dtype)
    out[:, keep.index(dst)] += probs[:, src]
    return out, tuple(labels[k] for k in keep)


class Wrapping(Classifier):
    """A classifier around another (``inner``): what it does not define itself is the inner one's."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):  # only for what this class does not define itself
        if name == "inner":  # not set yet (copy, pickle): no recursion through __getattr__
            raise AttributeError(name)
        return getattr(self.inner, name)


class ContemptFolded(Wrapping):
    """A classifier whose contempt column is folded into disgust (:func:`fold_contempt`): it
    answers FER2013's seven emotions. Everything else (``card``, ``path``, ``backend``, a torch
    backend's network for Grad-CAM) is the wrapped classifier's: the card still describes the
    model file, whose graph has the contempt output."""

    def __init__(self, inner):
        super().__init__(inner)
        self.backend = getattr(inner, "backend", "?")
        self._labels = tuple(e for e in classifier_labels(inner) if e != FOLD_FROM)

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return fold_contempt(self.inner.predict(batch), classifier_labels(self.inner))[0]

    def classify_faces(self, faces) -> np.ndarray:  # the wrapped one's own (a backend may override it)
        return fold_contempt(self.inner.classify_faces(faces), classifier_labels(self.inner))[0]


class ObjectClassifier(Wrapping):
    """A classifier object of the caller's (anything with ``predict``, normalized N x 1 x S x S ->
    N x L), given what the stages read: ``input_size`` (its own, else FER2013's 48), ``labels``
    (its own or its card's, else FER2013's seven), ``name``; every answer checked to be one row
    of probabilities per face, one column per label, or refused in one line naming it."""

    backend = "object"

    def __init__(self, inner):
        super().__init__(inner)
        said = classifier_labels(inner)
        try:  # as people write them ("Angry", "happiness"): the names records use
            self._labels = tuple(canonical_emotion(str(e), FERPLUS_EMOTIONS) for e in said)
        except UnknownLabelError:
            self._labels = ()
        if len(set(self._labels)) != len(said):
            raise UsageError(f"model: {self.name}'s labels {', '.join(map(str, said))} are not distinct emotions "
                             f"of {', '.join(FERPLUS_EMOTIONS)}")

    card = property(lambda self: getattr(self.inner, "card", None))
    path = property(lambda self: getattr(self.inner, "path", None))
    labels = property(lambda self: self._labels)
    name = property(lambda self: str(getattr(self.inner, "name", None) or type(self.inner).__name__))

    @property
    def input_size(self) -> int:
        size = getattr(self.inner, "input_size", None) or getattr(self.card, "input_size", None) or 48
        return int(size)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self._checked(self.inner.predict(batch), len(batch), "predict")

    def classify_faces(self, faces) -> np.ndarray:
        own = getattr(self.inner, "classify_faces", None)
        if not callable(own):
            return super().classify_faces(faces)
        n = len(faces_to_batch(pil_as_arrays(faces), 8))  # counted as facemotion counts them (one crop alone: 1)
        return self._checked(own(faces), n, "classify_faces")

    def _checked(self, probs, n: int, method: str) -> np.ndarray:
        said = f"model {self.name}: {method} gave"
        try:
            probs = np.asarray(probs, dtype=np.float32)
        except (TypeError, ValueError):
            raise ModelError(f"{said} {type(probs).__name__}, not an array of probabilities") from None
        if probs.shape != (n, len(self.labels)):
            raise ModelError(f"{said} shape {probs.shape} for {n} face{'s' if n != 1 else ''}; expected "
                             f"({n}, {len(self.labels)}): a column for each of its labels ({', '.join(self.labels)})")
        sums = probs.sum(1)
        why = ("a value that is no number" if not np.isfinite(probs).all() else "a negative value" if n and
               probs.min() < 0 else f"a row summing to {sums[np.argmax(np.abs(sums - 1))]:.3g}"
               if not np.allclose(sums, 1, atol=1e-3) else None)
        if why:
            raise ModelError(f"{said} {why}, not probabilities (each row 0-1, summing to 1: a softmax of its outputs)")
        return probs


def fold_classifier(classifier):
    """``classifier`` with contempt folded into disgust where it has contempt; as is otherwise
    (a FER2013 model: nothing changes)."""
    if FOLD_FROM not in classifier_labels(classifier) or isinstance(classifier, ContemptFolded):
        return classifier
    return ContemptFolded(classifier)


# model files by suffix (the one registry idiom, facemotion.registry): ONNX here, .pt from the
# [train] extra's entry point
BACKENDS = Registry("model format", group="facemotion.backends", sort=True, error=ModelError)
BACKENDS.register("onnx", OnnxClassifier)


def register_backend(suffix: str, factory: Callable[..., Classifier]) -> None:
    """Make ``load_classifier`` open files ending in ``suffix`` with ``factory(path, threads=...)``."""
    BACKENDS.register(suffix.lower().lstrip("."), factory)


def _backend(path: Path) -> Callable[..., Classifier]:
    suffix = path.suffix.lower()
    return BACKENDS.get(suffix[1:], who=f"{path}: {suffix} models need",
                        unknown=f"{path}: no backend reads {suffix or 'extension-less'} files (known: {{names}}; "
                                ".pt needs facemotion installed with the [train] extra)")


def load_classifier(model=None, threads: int | None = None, precision: str | None = None,
                    fold: bool = False) -> Classifier:
    """None / shipped name / model file -> a classifier (an object with ``.predict`` is returned
    as is); ``precision="int8"``: a shipped model's int8 variant; ``fold``: contempt folded into
    disgust (:func:`fold_classifier`)."""
    clf = _load(model, threads, precision)
    return fold_classifier(clf) if fold else clf


def _load(model, threads, precision) -> Classifier:
    if model is not None and not isinstance(model, (str, os.PathLike)):
        if not callable(getattr(model, "predict", None)):
            raise UsageError(f"model: expected None, a shipped name, a model file or a classifier object, "
                             f"got {type(model).__name__}")
        return model if isinstance(model, Classifier) else ObjectClassifier(model)
    path, entry = resolve(model, precision)
    clf = _backend(path)(path, threads=threads)
    if entry is not None:
        check_entry(entry, clf.card)
        if clf.card.name != entry.name:  # the index names shipped models (a file may predate a rename)
            clf.card = dataclasses.replace(clf.card, name=entry.name)
    return clf
