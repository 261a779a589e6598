"""What the machine around a video run offers: a display for the live window, and the
signals a run shields its last writes from (a Ctrl-C while the summary is written)."""

from __future__ import annotations

import os
import sys

import cv2


def has_display() -> bool:
    """True when OpenCV can open a window (a GUI build and a display)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        cv2.namedWindow("facemotion-probe", cv2.WINDOW_AUTOSIZE)
        cv2.destroyWindow("facemotion-probe")
        return True
    except cv2.error:
        return False


class SignalShield:
    """Ignore SIGINT/SIGTERM until :meth:`release` (the main thread only; elsewhere a no-op)."""

    def __init__(self):
        import signal
        import threading

        self._saved = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._saved[sig] = signal.signal(sig, signal.SIG_IGN)

    def release(self) -> None:
        import signal

        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        self._saved = {}
