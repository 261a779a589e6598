"""Writing results: atomic JSON and images, appended (flushed) CSV rows."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import cv2
import numpy as np

from .labels import EMOTIONS


def atomic_write_text(path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=_jsonable) + "\n")


def _jsonable(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def to_json_line(obj) -> str:
    return json.dumps(obj, default=_jsonable)


def write_image(path, image: np.ndarray) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = path.suffix or ".jpg"
    ok, buf = cv2.imencode(ext, image, [cv2.IMWRITE_JPEG_QUALITY, 92] if ext.lower() in (".jpg", ".jpeg") else [])
    if not ok:
        raise OSError(f"{path}: cannot encode image as {ext}")
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{ext}")
    tmp.write_bytes(buf.tobytes())
    os.replace(tmp, path)


FACE_CSV_COLUMNS = ["frame", "time_s", "face_id", "x", "y", "w", "h", "confidence", *EMOTIONS, "dominant_emotion"]


class FaceCSVWriter:
    """Long-format CSV, one row per face per frame; every row is flushed as written."""

    def __init__(self, path, columns=FACE_CSV_COLUMNS):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "w", newline="")
        self.w = csv.writer(self.fh)
        self.w.writerow(columns)
        self.fh.flush()
        self.rows = 0

    def write(self, frame: int, time_s: float, face_id, box, confidence: float, emotions: dict, dominant: str):
        x, y, w, h = box
        self.w.writerow([frame, f"{time_s:.4f}", face_id, x, y, w, h, f"{confidence:.4f}",
                         *(f"{emotions[e]:.5f}" for e in EMOTIONS), dominant])
        self.rows += 1

    def flush(self):
        self.fh.flush()

    def close(self):
        if not self.fh.closed:
            self.fh.flush()
            self.fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
