"""Frame sources: a video file, a camera, or any iterable of images -> (index, time_s, BGR frame)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .errors import VideoError
from .images import as_bgr


@dataclass
class SourceInfo:
    name: str
    fps: float
    width: int
    height: int
    frame_count: int  # 0 when unknown (cameras, iterables)
    live: bool


class FrameSource:
    """Iterate ``(index, time_s, frame)``; ``info`` describes the stream. Use as a context manager."""

    def __init__(self, source, *, camera_size: tuple[int, int] | None = None):
        self._cap = None
        self._iter = None
        self._t0 = None
        if isinstance(source, (str, os.PathLike)) and not str(source).isdigit():
            self._open_file(Path(source))
        elif isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
            self._open_camera(int(source), camera_size)
        else:
            self._iter = iter(source)
            self.info = SourceInfo("<frames>", 30.0, 0, 0, 0, False)

    def _open_file(self, path: Path) -> None:
        if not path.exists():
            raise VideoError(f"{path}: no such file")
        if path.is_dir():
            raise VideoError(f"{path}: is a folder, not a video")
        if path.stat().st_size == 0:
            raise VideoError(f"{path}: empty file (0 bytes)")
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            cap.release()
            raise VideoError(f"{path}: not a readable video (unknown container or codec, or not a video file)")
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise VideoError(f"{path}: no decodable frames (corrupt video or unsupported codec)")
        fps = cap.get(cv2.CAP_PROP_FPS)
        if not fps or fps != fps or fps <= 0 or fps > 1000:
            fps = 30.0  # some containers carry no rate; 30 is the common default
        self._first = first
        self._cap = cap
        self.info = SourceInfo(str(path), float(fps), first.shape[1], first.shape[0],
                               max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT))), False)

    def _open_camera(self, index: int, size) -> None:
        cap = cv2.VideoCapture(index)
        if size:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        ok, first = (cap.read() if cap.isOpened() else (False, None))
        if not ok or first is None:
            cap.release()
            raise VideoError(f"camera {index}: cannot be opened (no such device, in use by another program, "
                             "or no permission); try --device with another index")
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        self._first = first
        self._cap = cap
        self.info = SourceInfo(f"camera {index}", float(fps), first.shape[1], first.shape[0], 0, True)

    def __iter__(self) -> Iterator[tuple[int, float, np.ndarray]]:
        if self._iter is not None:
            for i, frame in enumerate(self._iter):
                img = as_bgr(np.asarray(frame), f"frame {i}")
                if i == 0:
                    self.info.width, self.info.height = img.shape[1], img.shape[0]
                yield i, i / self.info.fps, img
            return
        cap, i = self._cap, 0
        frame = self._first
        self._t0 = time.perf_counter()
        while frame is not None:
            if self.info.live:
                t = time.perf_counter() - self._t0
            else:
                t = i / self.info.fps
            yield i, t, frame
            i += 1
            ok, frame = cap.read()
            if not ok:
                frame = None

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
