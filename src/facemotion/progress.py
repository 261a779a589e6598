"""Progress bars for long jobs (tqdm when installed, silent passthrough otherwise)."""

from __future__ import annotations

import sys


def progress_bar(iterable=None, **kwargs):
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a core dependency
        return iterable
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("file", sys.stderr)
    # a console bar is for a person at a terminal: into a log file or a pipe its redraws are noise,
    # and a line printed after it would start on the bar's line (a notebook's bars are widgets)
    if not tqdm.__module__.startswith("tqdm.notebook") and not kwargs.get("disable"):
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
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return
    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()
