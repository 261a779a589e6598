"""Datasets: FER2013 in any of its layouts, or a user's <class>/<images> folder, as uint8
48x48 faces with canonical labels (no torch needed).

    >>> from facemotion.datasets import load_splits
    >>> d = load_splits("fer2013.zip", ("train", "val"))   # doctest: +SKIP
"""

from .fer2013 import available_splits, detect_format
from .loading import hold_out, load_splits, load_training_data
from .splits import SPLIT_USAGE, SPLITS, Split, split_title
from .subsets import write_subset

__all__ = ["SPLITS", "SPLIT_USAGE", "Split", "available_splits", "detect_format", "hold_out", "load_splits",
           "load_training_data", "split_title", "write_subset"]
