"""One validation layer for every API argument and CLI option.

Each check returns the value converted to its type or raises :class:`UsageError` with one
line naming the argument and what it accepts. The API calls them directly; the CLI uses the
same checks as argparse ``type=`` functions (:func:`option`), so ``--every 0`` and
``stream(every=0)`` are refused by the same rule with the same words.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from .errors import UsageError


def integer(name: str, value, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an int within [lo, hi] (bools and fractions are refused)."""
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        v = int(str(value).strip()) if isinstance(value, str) else int(value)
    except (TypeError, ValueError, OverflowError):
        raise UsageError(f"{name}: expected an integer, got {value!r}") from None
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise UsageError(f"{name}: must be {_range(lo, hi)}, got {v}")
    return v


def flag(name: str, value) -> bool:
    """``value`` as a bool: True/False (numpy's too) or 1/0; a string ("no") is refused, not read as True."""
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1)):
        return bool(value)
    raise UsageError(f"{name}: expected True or False, got {value!r}")


def number(name: str, value, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
           hi_open: bool = False) -> float:
    """``value`` as a finite float within the range (``lo_open``/``hi_open`` exclude the ends)."""
    try:
        if isinstance(value, bool):
            raise ValueError
        v = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{name}: expected a number, got {value!r}") from None
    if not math.isfinite(v):
        raise UsageError(f"{name}: must be a finite number, got {value!r}")
    if ((lo is not None and (v < lo or (lo_open and v == lo))) or
            (hi is not None and (v > hi or (hi_open and v == hi)))):
        raise UsageError(f"{name}: must be {_range(lo, hi, lo_open, hi_open)}, got {v:g}")
    return v


def numbers(name: str, value, count: int | None = None) -> list[float]:
    """``value`` ("0.485,0.456,0.406") as a list of finite floats (``count`` of them, where set)."""
    try:
        values = [float(v) for v in str(value).split(",")]
    except ValueError:
        values = []
    if not values or not all(math.isfinite(v) for v in values) or (count and len(values) != count):
        raise UsageError(f"{name}: expected {f'{count} ' if count else ''}comma-separated numbers, got {value!r}")
    return values


def json_object(name: str, value) -> dict:
    """A JSON object given as text (or already a dict)."""
    import json

    if isinstance(value, dict):
        return value
    try:
        obj = json.loads(value)
    except (TypeError, ValueError) as e:
        raise UsageError(f"{name}: not valid JSON ({e}): {str(value)[:80]!r}") from None
    if not isinstance(obj, dict):
        raise UsageError(f"{name}: expected a JSON object like '{{\"key\": 1}}', got {str(value)[:80]!r}")
    return obj


def device(name: str, value) -> str:
    """A compute device: cpu, cuda, cuda:N or auto (a GPU where torch sees one, else the CPU);
    whether it exists is checked where it is used (:func:`facemotion.cuda.resolve_device`)."""
    import re

    text = str(value).strip().lower()
    if text.isdigit():  # `webcam --device N` once chose the camera
        raise UsageError(f"{name}: {value!r} is not a compute device (cpu, cuda, cuda:N, auto); "
                         f"a camera is chosen with --camera {text}")
    if text == "mps":
        raise UsageError(f"{name}: mps (Apple's GPUs) is not supported; use cpu, cuda, cuda:N or auto")
    if not re.fullmatch(r"cpu|auto|cuda(:\d+)?", text):
        raise UsageError(f"{name}: {value!r} is not a device; use cpu, cuda, cuda:N or auto")
    return text


def listen_address(name: str, value) -> str:
    """An IP address to listen on (``localhost``: 127.0.0.1). Names are not looked up: what a
    server binds to must not depend on what a resolver answers when it starts."""
    import ipaddress

    text = str(value).strip()
    if text.lower() == "localhost":
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(text.removeprefix("[").removesuffix("]")))
    except ValueError:
        raise UsageError(f"{name}: {value!r} is not an IP address; give the address to listen on (127.0.0.1, "
                         "0.0.0.0 for every interface, ::1, or one of this machine's); names are not looked up") from None


def output_folder(name: str, value) -> str:
    """A folder to write into: it may not exist yet (it is made), but must not be a file."""
    import os

    text = os.fspath(value)
    if not text.strip():  # `-o ""` names no folder: every command refuses it alike
        raise UsageError(f"{name}: an empty name; give a folder (. for this one)")
    if os.path.exists(text) and not os.path.isdir(text):
        raise UsageError(f"{name}: {text} is a file; this option names an output folder (give a new or existing "
                         "folder)")
    return text


def shown_choices(names) -> str:
    """An option's choices as its help shows them (``{a,b,c}``): the current names, not the
    older ones it still takes."""
    return "{" + ",".join(names) + "}"


def choice(name: str, value, choices) -> str:
    choices = list(choices)
    if value not in choices:
        raise UsageError(f"{name}: {value!r} is not one of {', '.join(map(str, choices))}")
    return value


def _range(lo, hi, lo_open=False, hi_open=False) -> str:
    def f(x):  # an integer bound as written (2147483647, not 2.14748e+09)
        return str(x) if isinstance(x, int) else f"{x:g}"

    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{f(lo)}, {f(hi)}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {f(lo)}"
    return f"{'<' if hi_open else '<='} {f(hi)}"


def camera(name: str, value):
    """A camera's index (0-255; ``/dev/videoN`` is N), or a live stream's address (``rtsp://``, an
    MJPEG ``http://``...) as a :class:`~facemotion.inputs.Stream`."""
    from .fileio import STREAM_SCHEMES, stream_address
    from .inputs import Stream

    text = str(value).strip().removeprefix("/dev/video")  # Linux's name of camera N
    if text.lstrip("+-").isdigit():
        return integer(name, text, 0, 255)
    url = stream_address(text, (*STREAM_SCHEMES, "http", "https"))
    if url is None:
        import os

        clip = f"; a video file is read by facemotion video {value}" if os.path.isfile(text) else ""
        raise UsageError(f"{name}: expected a camera index (0, 1, ...) or a stream's address (rtsp://..., "
                         f"http://...), got {value!r}{clip}")
    return Stream(url)


def option(check, *args, **kwargs):
    """An argparse ``type=`` from a check: ``type=option(integer, lo=1)``. argparse names the
    option itself in its message ("argument --every: must be >= 1, got 0") and exits 2."""
    def convert(text):
        try:
            return check("value", text, *args, **kwargs)
        except UsageError as e:
            raise argparse.ArgumentTypeError(str(e).removeprefix("value: ")) from None
    convert.__name__ = check.__name__  # argparse shows it in "invalid <name> value" messages
    # what the option accepts (the check and its bounds): one option name, one meaning across
    # commands (tests/test_option_names.py compares these)
    convert.meaning = (check.__name__, args, tuple(sorted(kwargs.items())))
    return convert


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every command's help: each option's default, except where a default says nothing or the
    opposite of what happens: a flag's (``--no-flip (default: True)`` reads as "flips are off"
    while the flag turns them off) and None's (the help says what None means)."""

    def _get_help_string(self, action):
        if action.nargs == 0 or action.default is None:
            return action.help
        return super()._get_help_string(action)


def deprecated_alias(new: str, why: str = ""):
    """An argparse action for an option's old name: it sets the new option's value and says,
    on stderr, to use ``new`` (the old name keeps working), and ``why`` where the name means
    something else in another command."""

    class Alias(argparse.Action):
        noted = None  # the command line (namespace) it was noted for: an option given twice is noted once

        def __call__(self, parser, namespace, values, option_string=None):
            import sys

            if self.noted is not namespace:
                print(f"note: {option_string} is deprecated here; use {new}" + (f" ({why})" if why else ""),
                      file=sys.stderr)
                self.noted = namespace
            setattr(namespace, self.dest, values)

    return Alias


def add_file_output(parser, help: str) -> None:
    """The option of a command that writes one file: ``--to FILE`` (``-o``/``--out`` name an
    output *folder* in every command; here they keep working for a release, with a note)."""
    g = parser.add_mutually_exclusive_group(required=True)
    g.add_argument("--to", dest="out", metavar="FILE", help=help)
    g.add_argument("-o", "--out", dest="out", action=deprecated_alias("--to"), help=argparse.SUPPRESS)


# the most threads asked for by number: more than any machine's cores gains nothing, and each
# costs its stack (--threads 99999 took 16 GB before the first photo)
MAX_THREADS = 256


def threads(name: str, value) -> int | str:
    """A thread count (0: one per core; at most :data:`MAX_THREADS`) or ``"auto"`` (decided at
    start from the machine's load)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        integer(name, value)
    except UsageError:
        raise UsageError(f"{name}: expected a number of threads (0: one per core) or 'auto', got {value!r}") from None
    return integer(name, value, 0, MAX_THREADS)  # a whole number: only its range can be wrong
