"""The converted graphs' checks, kept on disk: a graph converted to torch is checked against ONNX
Runtime's answer once (:func:`.runtime.check_graph`), and the verdict is kept under
``$FACEMOTION_CACHE/torch-graphs`` (default ``~/.cache/facemotion``), keyed by the ONNX file's
SHA-256, torch's version and the kind of device. The next process that converts the same file
with the same torch on the same kind of device takes the verdict and skips the check.

The conversion itself costs milliseconds (:class:`.graph.OnnxModule` reads the file); the check
is what cost a job's start: an ONNX Runtime session and a run on each side for every graph, and
on a GPU the check's own run at a shape the batched path never uses (cuDNN builds its plans once
per shape). ``FACEMOTION_GRAPH_CACHE=0`` checks every time.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from ..fileio import write_text


def cache_dir() -> Path:
    root = os.environ.get("FACEMOTION_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "facemotion")
    return Path(root) / "torch-graphs"


def graph_key(path, device: torch.device) -> str:
    """The file's SHA-256, torch's version and the device's kind: what a verdict holds for."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return f"{digest[:32]}-torch{torch.__version__.replace('+', '_')}-{device.type}"


def checked(module, device: torch.device, check) -> float:
    """``check(module, device)`` (the largest difference from ONNX Runtime's answer; it raises
    on a graph that drifts), or the verdict kept from an earlier process for the same file,
    torch and kind of device. A verdict is kept only for a graph that passed."""
    if os.environ.get("FACEMOTION_GRAPH_CACHE", "1") == "0":
        return check(module, device)
    entry = cache_dir() / f"{graph_key(module.path, device)}.json"
    try:
        kept = json.loads(entry.read_text())
        if kept.get("graph") == module.path.name:
            return float(kept["worst"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    worst = check(module, device)
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        write_text(entry, json.dumps({"graph": module.path.name, "worst": worst, "torch": torch.__version__,
                                      "device": device.type}))
    except OSError:  # a read-only home: checked again next time
        pass
    return worst
