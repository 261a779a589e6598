"""The networks on a GPU: ``device="cuda"`` (``--device cuda``) runs the face detector, the face
mesh, the roll network and the emotion classifier as PyTorch modules on the GPU, converted from
the shipped ONNX graphs (:mod:`.graph`) and swapped into the same stages (:mod:`.runtime`).

Only this package imports torch for inference, and only when a device other than the CPU is asked
for: ``device="cpu"`` (the default) is ONNX Runtime on the CPU, as always, and the core runs
without torch. :func:`resolve_device` is the one rule for what ``cpu``, ``cuda``, ``cuda:N`` and
``auto`` mean, shared by the inference commands and ``facemotion train``.
"""

from __future__ import annotations

import os
import sys

from ..errors import UsageError
from ..names import count as _count
from ..validate import device as _check_device

__all__ = ["resolve_device", "torch_runtime"]

_said: set[str] = set()  # what `auto` chose, said once per process


def _say_once(line: str) -> None:
    if line not in _said:
        _said.add(line)
        print(line, file=sys.stderr, flush=True)


# the least work ``auto`` gives a GPU: below it the GPU's start (torch's import, CUDA, cuDNN's plans:
# 12 s more than the CPU's on an H200's host) costs more than its speed saves (docs/gpu.md, "What
# --device auto chooses"; benchmarks/gpu.py measures both). None: never, the CPU path being the
# faster at any size: on photos a GPU ran 82.9 photos/s against the CPU path's 172.7 on the same
# 16-core host; on video 86.8 frames/s against 81.8, so 12 s are won back after about 17,500 frames
AUTO_LEAST = {"photos": None, "frames": 20_000}


def resolve_device(device, name: str = "device", *, job: tuple[int, str] | None = None) -> str:
    """``device`` (cpu, cuda, cuda:N, auto) -> the device the networks run on: "cpu" or "cuda[:N]".

    ``auto`` takes CUDA where torch sees a GPU, else the CPU, and says which on stderr (once a
    process); ``cuda`` where torch sees none (or is not installed) is a one-line
    :class:`~facemotion.errors.UsageError` naming ``name``. ``job``: (how many, "photos" or
    "frames") where the command knows its work: ``auto`` keeps a job under :data:`AUTO_LEAST` (or
    every job of a kind it holds None for) on the CPU, without importing torch."""
    device = _check_device(name, device)
    if device == "cpu":
        return "cpu"
    if device == "auto" and job is not None and (least := AUTO_LEAST.get(job[1], 0)) is None:
        _say_once(f"{name} auto: cpu (on {job[1]} the CPU path is the faster, GPU or not: docs/gpu.md; "
                  f"{name} cuda runs them on a GPU)")
        return "cpu"
    if device == "auto" and job is not None and job[0] < least:
        _say_once(f"{name} auto: cpu ({_count(job[0], job[1].removesuffix('s'))}: fewer than {least:,}, "
                  "where the GPU's start would cost more than it saves)")
        return "cpu"
    if _standing_in():
        return "cuda" if device == "auto" else device
    try:
        import torch
    except ImportError:
        if device == "auto":
            _say_once(f"{name} auto: cpu (torch is not installed, so no GPU is used)")
            return "cpu"
        raise UsageError(f"{name}: {device} needs PyTorch with CUDA and onnx (torch is not installed): "
                         "pip install 'facemotion[train]', or use cpu") from None
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if device == "auto":
        if not count:
            _say_once(f"{name} auto: cpu (torch {torch.__version__} sees no CUDA GPU)")
            return "cpu"
        _say_once(f"{name} auto: cuda ({torch.cuda.get_device_name(0)})")
        return "cuda"
    if not count:
        raise UsageError(f"{name}: {device} asked for, but torch {torch.__version__} sees no CUDA GPU here "
                         "(use cpu, or auto to use a GPU only where there is one)")
    index = int(device.partition(":")[2] or 0)
    if index >= count:
        raise UsageError(f"{name}: {device} asked for, but torch sees {count} CUDA GPU{'s' if count > 1 else ''} "
                         f"(cuda:0{f' to cuda:{count - 1}' if count > 1 else ''})")
    return device


def _standing_in() -> bool:
    """FACEMOTION_CUDA_ON_CPU=1: ``cuda`` runs the GPU path's code on torch's CPU device, for a dry
    run of the GPU loan's script where there is no GPU (scripts/gpu_run.sh ``GPU_RUN_DRY=1``); no
    figure measured so is a GPU's."""
    return os.environ.get("FACEMOTION_CUDA_ON_CPU") == "1"


def torch_runtime(device: str, *, autocast: bool = True, graphs: bool = True):
    """The torch runtime on ``device`` (a torch device name: "cuda", "cuda:1"; "cpu" runs torch on
    the CPU, which the tests compare with ONNX Runtime); ``autocast``: the float classifiers in
    :data:`~.runtime.CLASSIFIER_AUTOCAST` on a GPU (``precision="auto"``), float32 otherwise;
    ``graphs``: the detector recorded as a CUDA graph on a GPU (False: step by step)."""
    from .runtime import TorchRuntime

    if _standing_in() and device.startswith("cuda"):
        device = "cpu"
    return TorchRuntime(device, autocast=autocast, graphs=graphs)
