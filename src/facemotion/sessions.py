"""ONNX Runtime sessions of the networks facemotion ships besides the classifiers (the face
detector, the face mesh): made one way, checked one way."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import ModelError


def checked_session(path: str | Path, threads: int, task: str, what: str):
    """A CPU session of ``path`` with ``threads`` intra-op threads, whose metadata names ``task``;
    a missing, damaged or other file is a :class:`ModelError` naming it as ``what``."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    # idle worker threads sleep at once, as the classifier's: spinning ones keep the other core
    # from whatever runs next (the crops, the classifier, another program)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        found = json.loads(session.get_modelmeta().custom_metadata_map.get("task", "null"))
    except Exception as e:  # noqa: BLE001  (a missing or damaged file: one line naming it)
        why = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ModelError(f"{path}: not a loadable {what} ({why}); reinstall facemotion") from None
    if found != task:
        raise ModelError(f"{path}: not facemotion's {what} (its metadata says task={found!r})")
    return session
