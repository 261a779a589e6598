"""Test faces that duplicate a training face (FER2013's known train/test overlap).

FER2013 holds the same photograph in several rows: 280 PublicTest and 288 PrivateTest faces are
pixel for pixel a Training face. A model may have learnt those faces' labels by heart, so
:mod:`facemotion.protocol` also reports accuracy without them. Equality is decided on the
decoded 48 x 48 pixels (a digest of each image's bytes), so it holds in every layout
(Kaggle JPEGs, ``fer2013.csv``) and never confuses near-duplicates with copies.
"""

from __future__ import annotations

import hashlib

import numpy as np


def image_digests(images) -> list[bytes]:
    """One digest per face of ``images`` (N x H x W uint8): equal digests = equal pixels."""
    images = np.asarray(images)
    return [hashlib.blake2b(np.ascontiguousarray(im).tobytes(), digest_size=16).digest() for im in images]


def duplicates_of(images, reference) -> np.ndarray:
    """Mask over ``images``: True where a face's pixels equal some face of ``reference``."""
    ref = set(image_digests(reference))
    images = np.asarray(images)
    if images.size == 0:
        return np.zeros(len(images), bool)
    if np.asarray(reference).shape[1:] != images.shape[1:]:
        return np.zeros(len(images), bool)  # faces of another size are never the same image
    return np.fromiter((d in ref for d in image_digests(images)), bool, len(images))


def training_duplicates(split, train_split) -> np.ndarray:
    """Mask over ``split``'s faces (a :class:`~facemotion.datasets.Split`): True for a face whose
    decoded pixels equal those of a face of ``train_split`` (FER2013's Training split)."""
    return duplicates_of(split.images, train_split.images)


__all__ = ["image_digests", "duplicates_of", "training_duplicates"]
