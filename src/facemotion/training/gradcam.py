"""Grad-CAM and Grad-CAM++ for torch checkpoints, on Captum's layer attributions.

Registered with the core's explanation methods through the ``facemotion.explainers`` entry
point (``facemotion explain --method gradcam``; the default for a ``.pt`` model), so the core
never imports this module. A map is the class-weighted sum of one layer's activation maps
(Selvaraju et al. 2017; Grad-CAM++: Chattopadhyay et al. 2018 weighs each spatial position
by higher-order gradient terms), upsampled from the layer's grid to 48x48.

A checkpoint whose card averages its mirror image (``tta: flip``, all shipped models) is
explained the same way: the map of the mirror, mirrored back, is averaged in.
"""

from __future__ import annotations

import numpy as np
import torch
from captum.attr import LayerActivation, LayerAttribution, LayerGradCam, LayerGradientXActivation

from ..classify import MAX_BATCH
from ..errors import ModelError, ModelOptionError
from ..explain.base import Explainer

# A layer's map is only as fine as its grid: below 6x6 it hardly tells the eyes from the
# mouth, and layers before the last see less of what the class means.
MIN_SIDE = 6
# Where PublicTest said otherwise (benchmarks/explain.py, docs/explain.md): mini_xception's 3x3
# last block explains its predictions better than its 6x6 third block (deletion AUC 0.223 vs
# 0.333 on 500 faces; random order 0.265).
DEFAULT_LAYERS = {"mini_xception": "blocks.3"}


def default_layer(model, size: int = 48) -> str:
    """The last module to finish in a forward pass whose output is still at least
    :data:`MIN_SIDE` pixels on a side (VGG: ``features``, ResNet: ``layers``)."""
    if getattr(model, "arch", None) in DEFAULT_LAYERS:
        return DEFAULT_LAYERS[model.arch]
    for name, out in reversed(layer_outputs(model, size)):
        if isinstance(out, torch.Tensor) and out.ndim == 4 and min(out.shape[-2:]) >= MIN_SIDE:
            return name
    raise ModelError(f"{type(model).__name__}: no layer with a spatial output of at least {MIN_SIDE}x{MIN_SIDE}")


def layer_outputs(model, size: int = 48) -> list[tuple[str, object]]:
    """(name, output) of every named module, in the order they finish on one blank face."""
    done = []
    hooks = [m.register_forward_hook(lambda _m, _i, out, name=name: done.append((name, out)))
             for name, m in model.named_modules() if name]
    training = model.training
    try:
        with torch.no_grad():
            model.eval()  # one probe image: train-mode BatchNorm would refuse it
            model(torch.zeros(1, 1, size, size))
    finally:
        model.train(training)
        for h in hooks:
            h.remove()
    return done


class GradCam(Explainer):
    """Grad-CAM at ``layer`` (a module name such as ``features`` or ``blocks.2``; default
    :func:`default_layer`)."""

    name = "gradcam"

    def __init__(self, classifier, layer: str | None = None):
        super().__init__(classifier)
        if getattr(classifier, "backend", None) != "torch":
            where = getattr(classifier, "path", None) or getattr(classifier, "name", "this model")
            raise ModelError(f"{where}: {self.name} needs a torch checkpoint (.pt); other models are explained "
                             "with occlusion or rise")
        self.model = classifier.model
        self.layer_name = default_layer(self.model, classifier.input_size) if layer is None else str(layer).strip()
        try:
            self.layer = self.model.get_submodule(self.layer_name) if self.layer_name else None
        except AttributeError:
            self.layer = None
        if self.layer is None:
            names = [n for n, _ in self.model.named_children()]
            raise ModelOptionError(f"layer (--layer): no layer {self.layer_name!r} in {self.model.arch} of "
                                   f"{classifier.path} (top-level layers: {', '.join(names)}; nested ones as blocks.2)")
        if layer is not None:  # a map is made of a layer's activation maps: N x C x H x W
            out = dict(layer_outputs(self.model, classifier.input_size)).get(self.layer_name)
            if not (isinstance(out, torch.Tensor) and out.ndim == 4):
                shape = "x".join(map(str, out.shape[1:])) if isinstance(out, torch.Tensor) else "no tensor"
                raise ModelOptionError(f"layer (--layer): {self.layer_name!r} of {self.model.arch} gives {shape}, "
                                       "not maps of a grid (channels x height x width) to draw a map from")
        self.mirror = getattr(classifier, "tta", "none") != "none"

    def _cam(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return LayerGradCam(self.model, self.layer).attribute(x, target=t, relu_attributions=True)

    def explain(self, batch: np.ndarray, targets) -> np.ndarray:
        out = []
        for i in range(0, len(batch), MAX_BATCH):
            x = torch.from_numpy(np.ascontiguousarray(batch[i:i + MAX_BATCH], np.float32))
            t = torch.as_tensor(np.asarray(targets[i:i + MAX_BATCH]), dtype=torch.long)
            maps = LayerAttribution.interpolate(self._cam(x, t), x.shape[-2:], "bilinear")
            if self.mirror:
                back = LayerAttribution.interpolate(self._cam(torch.flip(x, [-1]), t), x.shape[-2:], "bilinear")
                maps = (maps + torch.flip(back, [-1])) / 2
            out.append(maps[:, 0].detach().numpy())
        return np.concatenate(out)


class GradCamPlusPlus(GradCam):
    """Grad-CAM++: each position's gradient weighted by
    alpha = g^2 / (2 g^2 + sum(A) g^3), which lets several separate regions of the same class
    count (Grad-CAM's global-average weights favour the largest one)."""

    name = "gradcam++"

    def _cam(self, x, t):
        acts = LayerActivation(self.model, self.layer).attribute(x).detach()
        grads = LayerGradientXActivation(self.model, self.layer, multiply_by_inputs=False).attribute(x, target=t)
        g2 = grads.pow(2)
        denom = 2 * g2 + acts.sum((2, 3), keepdim=True) * grads.pow(3)
        alpha = g2 / torch.where(denom != 0, denom, torch.ones_like(denom))
        weights = (alpha * torch.relu(grads)).sum((2, 3), keepdim=True)
        return torch.relu((weights * acts).sum(1, keepdim=True))
