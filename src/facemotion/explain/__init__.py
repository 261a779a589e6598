"""Explanations: which part of each face made the prediction.

A method turns normalized N x 1 x 48 x 48 faces and the class to explain for each into
N x 48 x 48 saliency maps in [0, 1] (1: where the evidence for that class is):

- ``occlusion`` and ``rise`` (:mod:`.perturb`) only call the classifier's ``predict``, so they
  work on every model, ONNX included, without torch;
- ``gradcam`` and ``gradcam++`` come from the training wing (torch checkpoints), found through
  the ``facemotion.explainers`` entry point, as ``.pt`` models are.

:func:`explain_faces` is the one call the recognizer, the video pipeline and the benchmark use;
:mod:`.regions` names the facial areas a map falls on, :mod:`.faithfulness` measures whether
maps mean anything, :mod:`.figures` draws them.
"""

from .base import Explainer
from .regions import REGIONS, region_shares
from .registry import default_method, explain_faces, get_explainer, list_methods, register_explainer, target_index

__all__ = ["REGIONS", "Explainer", "default_method", "explain_faces", "get_explainer", "list_methods",
           "region_shares", "register_explainer", "target_index"]
