"""The robustness suite, in three parts:

- :mod:`.corruptions`: seeded, vectorised corruptions of 48x48 face crops (lighting, blur,
  noise, compression, resolution, rotation, detector jitter, occlusion); also the operations
  training augments with;
- :mod:`.suite`: their registry (three severities each), the command line's choice of them,
  and the seeded ways to apply them;
- :mod:`.report`: a model's accuracy under every corruption x severity, per family and per
  class, with the emotions that collapse, on a stratified subset of faces.

Everything is importable from here (``from facemotion import robustness as rb``).
"""

from .corruptions import FAMILIES, SEVERITIES, Corruption, check_faces
from .report import (
                    COLLAPSE_RATIO,
                    condition_metrics,
                    condition_predictions,
                    conditions,
                    format_report,
                    robustness_report,
                    stratified_subset,
                    summarize,
)
from .suite import (
                    CORRUPTIONS,
                    apply,
                    check_corruptions,
                    check_severities,
                    corrupt,
                    get,
                    interpolate,
                    names,
                    random_corruptions,
                    rng_for,
                    severities,
                    suite,
)

__all__ = ["CORRUPTIONS", "FAMILIES", "SEVERITIES", "COLLAPSE_RATIO", "Corruption", "apply", "check_corruptions",
           "check_faces", "check_severities", "corrupt", "get", "interpolate", "names", "random_corruptions", "rng_for",
           "severities", "suite", "condition_metrics", "condition_predictions", "conditions", "format_report",
           "robustness_report", "stratified_subset", "summarize"]
