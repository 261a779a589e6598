"""The process around a command: its stdout, whose failures are said as stdout's, and the
signals that stop it (Ctrl-C, SIGTERM), put back as they were for a caller in Python."""

from __future__ import annotations

import os
import signal

STDOUT = "standard output"


class NamedStdout:
    """stdout, whose failures (OSError but a closed pipe's) name it, as a file's name the file."""

    def __init__(self, inner):
        self._inner, self.failed = inner, None

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def write(self, text):
        return self._named(self._inner.write, text)

    def flush(self):
        return self._named(self._inner.flush)

    def _named(self, call, *args):
        try:
            return call(*args)
        except BrokenPipeError:
            raise
        except OSError as e:
            self.failed = OSError(e.errno, e.strerror, STDOUT)
            raise self.failed from None


def quiet_stdout(stream) -> None:
    """stdout pointed at the null device: what it holds unwritten is not tried again at exit."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    except (OSError, ValueError):  # (a stream with no descriptor: a test's capture)
        pass


STOPS: list = []  # the signals that stopped the command (SIGINT, SIGTERM), in order
_SAVED: dict = {}  # the handlers main() found, put back when it returns (a notebook's, a host app's)


def signals_as_interrupt(sigint: bool = True) -> None:
    """SIGTERM (what `kill` and service managers send) stops a command the way Ctrl-C does: the
    video is finalised, the summary written; the exit code is 143 (128 + SIGTERM), as Ctrl-C's is
    130. A second one while the first is being wound up stops it at once, in one line (it came in
    the middle of the first's message, or of the libraries' exit, as a traceback). ``sigint``:
    False leaves Ctrl-C to the command (the service's server has its own)."""
    import threading

    def interrupt(signum, frame):
        if STOPS:
            os.write(2, b"interrupted again: stopped at once\n")
            os._exit(143 if signal.SIGTERM in (*STOPS, signum) else 130)
        STOPS.append(signum)
        raise KeyboardInterrupt

    STOPS.clear()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT) if sigint else (signal.SIGTERM,):
            _SAVED.setdefault(sig, signal.getsignal(sig))
            signal.signal(sig, interrupt)


def restore_signals() -> None:
    while _SAVED:
        sig, handler = _SAVED.popitem()
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
