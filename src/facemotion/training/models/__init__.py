"""The architectures and their registry (needs the ``[train]`` extra: torch).

    >>> from facemotion.training.models import create_model, list_models
    >>> model = create_model("mini_xception")

Architectures register themselves with :func:`register_model`; a checkpoint stores the
registry name and its keyword arguments, so :func:`model_from_checkpoint` can rebuild
exactly the network that was trained.
"""

from __future__ import annotations

from . import attention, cnn, mobile, repvgg, resnet, vgg  # noqa: F401  (importing them registers the architectures)
from .registry import count_parameters, create_model, list_models, mflops_per_face, register_model

__all__ = ["count_parameters", "create_model", "list_models", "mflops_per_face", "register_model"]
