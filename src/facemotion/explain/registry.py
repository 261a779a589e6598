"""The explanation methods by name, and :func:`explain_faces`, the call everything goes through.

Methods that need torch live in the training wing and register themselves through the
``facemotion.explainers`` entry point (as the ``.pt`` classifier backend does through
``facemotion.backends``), so nothing here imports torch.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .. import validate
from ..errors import ModelError, UsageError
from ..labels import EMOTIONS, FERPLUS_EMOTIONS
from ..registry import Registry
from .base import Explainer, unit_maps
from .perturb import Occlusion, Rise

# the one registry idiom (facemotion.registry); the torch methods come by entry point
METHODS = Registry("explanation method", group="facemotion.explainers", sort=True, error=ModelError,
                   unknown="unknown explanation method {name!r}; available: {names}")
METHODS.register("occlusion", Occlusion)
METHODS.register("rise", Rise)


def register_explainer(name: str, factory: Callable[..., Explainer]) -> None:
    """Make ``get_explainer(name, classifier, **options)`` call ``factory(classifier, **options)``."""
    METHODS.register(name, factory)


def list_methods() -> list[str]:
    """Every method's name, those of the entry points included (not imported: that would pull
    torch into a run that explains an ONNX model)."""
    return METHODS.names()


def default_method(classifier) -> str:
    """Grad-CAM for a torch checkpoint (one backward pass per view), occlusion for anything else."""
    return "gradcam" if getattr(classifier, "backend", None) == "torch" else "occlusion"


def get_explainer(method: str | None, classifier, **options) -> Explainer:
    import inspect

    method = method or default_method(classifier)
    if method in ("gradcam", "gradcam++") and getattr(classifier, "backend", None) != "torch":
        from ..errors import ModelOptionError  # said before the [train] extra is looked for: it would not help

        raise ModelOptionError(f"model {getattr(classifier, 'name', '?')}: {method} needs a torch checkpoint (.pt); "
                               "other models are explained with occlusion or rise")
    factory = METHODS.get(method, who=f"{method} needs")
    takes = [n for n in inspect.signature(factory).parameters if n not in ("classifier", "self", "batch_size")]
    wrong = [k for k in options if k not in takes]
    if wrong:  # an option of another method (--layer is Grad-CAM's): one line, not a TypeError
        mine = f"it takes {', '.join(takes)}" if takes else "it takes none"
        why = "; layer is Grad-CAM's (--method gradcam, a .pt model)" if "layer" in wrong else ""
        flags = [f"{k} (--{k})" if k == "layer" else k for k in wrong]  # (--layer is the one the command has)
        raise UsageError(f"{', '.join(flags)}: not an option of the {method} method ({mine}){why}")
    return factory(classifier, **options)


def target_indices(target, probs: np.ndarray, labels=None) -> np.ndarray:
    """The class to explain per face: the predicted one (``target`` None), or the emotion given
    by name or index for every face. ``labels``: the classifier's (None: FER2013's seven, or
    FER+'s eight for eight columns of ``probs``)."""
    if labels is None:
        labels = FERPLUS_EMOTIONS if probs.ndim == 2 and probs.shape[1] == len(FERPLUS_EMOTIONS) else EMOTIONS
    target = target_index(target, labels)
    return probs.argmax(1) if target is None else np.full(len(probs), target)


def target_index(target, labels) -> int | None:
    """The class ``target`` names among ``labels`` (an emotion's name or its index), or None for
    each face's predicted one; a wrong one is one line, with faces or without."""
    labels = tuple(labels)
    if target is None:
        return None
    if isinstance(target, str):
        if target not in labels:
            raise UsageError(f"target: unknown emotion {target!r}; use one of {', '.join(labels)}")
        return labels.index(target)
    # an index is a whole number (True or 2.7 named disgust and fear)
    return validate.integer("target", target, 0, len(labels) - 1)


def explain_faces(explainer: Explainer, batch: np.ndarray, target=None, probs: np.ndarray | None = None,
                  labels=None):
    """Normalized N x 1 x S x S faces -> (probabilities N x L, targets N, maps N x S x S in [0, 1]);
    ``labels``: the classifier's (None: its ``labels``, as :func:`target_indices` reads them)."""
    if probs is None:
        probs = explainer.classifier.predict(batch)
    if labels is None:
        labels = getattr(explainer.classifier, "labels", None)
    targets = target_indices(target, probs, labels)
    if len(batch) == 0:
        return probs, targets, np.zeros((0, *batch.shape[-2:]), np.float32)
    maps = np.asarray(explainer.explain(batch, targets), dtype=np.float32)
    if maps.shape != (len(batch), *batch.shape[-2:]) or not np.isfinite(maps).all():  # one of the caller's
        from ..errors import ModelError

        raise ModelError(f"explanation method {getattr(explainer, 'name', None) or type(explainer).__name__}: "
                         f"explain gave maps of shape {maps.shape}{'' if np.isfinite(maps).all() else ', not finite'} "
                         f"for {len(batch)} faces; expected finite maps of ({len(batch)}, {', '.join(map(str, batch.shape[-2:]))})")
    return probs, targets, unit_maps(maps)
