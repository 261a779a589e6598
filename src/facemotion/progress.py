"""Progress bars for long jobs (tqdm when installed, silent passthrough otherwise)."""

from __future__ import annotations

import sys
import warnings


def _tqdm():
    """tqdm.auto's bar class: a widget in a notebook, else the console's. In a notebook without
    ipywidgets tqdm warns once, when tqdm.auto is first imported, that widgets are missing and
    falls back to the console's bar, which a kernel's stderr (no terminal) turns off here: the
    warning would name a bar never shown."""
    if "tqdm.auto" not in sys.modules:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="IProgress not found")
            import tqdm.auto  # noqa: F401
    return sys.modules["tqdm.auto"].tqdm


def in_notebook(bar_class) -> bool:
    """Whether ``bar_class`` draws a notebook's widget (tqdm.auto's class is defined in
    ``tqdm.auto`` and derives from ``tqdm.notebook``'s there)."""
    return any(c.__module__ == "tqdm.notebook" for c in bar_class.__mro__)


def progress_bar(iterable=None, **kwargs):
    try:
        tqdm = _tqdm()
    except ImportError:  # pragma: no cover - tqdm is a core dependency
        return iterable
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("file", sys.stderr)
    # a console bar is for a person at a terminal: into a log file or a pipe its redraws are noise,
    # and a line printed after it would start on the bar's line (a notebook's bars are widgets)
    if not in_notebook(tqdm) and not kwargs.get("disable"):
        try:
            kwargs["disable"] = not kwargs["file"].isatty()
        except (AttributeError, ValueError):  # no isatty, or a closed stream
            kwargs["disable"] = True
    kwargs.setdefault("leave", False)
    kwargs.setdefault("mininterval", 0.5)
    return tqdm(iterable, **kwargs)


def close_all() -> None:
    """Close every open progress bar, so a message printed next starts on a line of its own
    (an error raised mid-loop would otherwise be glued to the bar's line)."""
    try:
        tqdm = _tqdm()
    except ImportError:  # pragma: no cover
        return
    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()
