"""The ``facemotion`` command: a thin layer over the public API, one module per family of
commands (:mod:`.infer`: image, demo, explain, video, webcam, serve, models; :mod:`.batch`; :mod:`.data`;
:mod:`.training`: train, evaluate, export, import).

Errors that users can fix (a missing file, a broken image, a bad checkpoint) are printed
as one ``error:`` line naming the file; the exit code says whether anything failed.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import sys

from .. import __version__
from ..decoding import pixel_limit
from ..errors import FacemotionError, UsageError
from ..validate import HelpFormatter
from . import batch, data, infer, training, web
from .process import STDOUT, STOPS, NamedStdout, quiet_stdout, restore_signals, signals_as_interrupt

EPILOG = """examples:
  facemotion demo                               the bundled sample photo, end to end
  facemotion image photo.jpg -o out/            annotated image + JSON per input
  facemotion image photos/ --json               JSON lines on stdout
  facemotion explain photo.jpg -o out/          saliency maps: which part of each face made the prediction
  facemotion video clip.mp4 -o out/ --every 3   annotated MP4, per-frame CSV, summary, timelines
  facemotion batch photos/ --to results.csv     a collection -> one table, resumable (--engine ray)
  facemotion webcam                             live window (or headless outputs)
  facemotion serve                              web page (photos, webcam) and API on localhost:8000
  facemotion web-export site/                   the page as a static site: the models run in the browser
  facemotion data stats fer2013.zip             class counts and distribution plots
  facemotion data crops photos/ --out faces/    <emotion>/<photo> -> the face crops train reads
  facemotion train --data fer2013.zip --arch mini_xception --out runs/mx
  facemotion evaluate runs/mx/best.pt --data fer2013.zip --split test --tta
  facemotion export runs/mx/best.pt --to model.onnx
"""


class _Version(argparse.Action):
    """``--version``: the version and the CPU's instruction sets (which decide ONNX Runtime's kernels)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from ..cpu import cpu_summary

        try:
            print(f"facemotion {__version__}\ncpu: {cpu_summary()}", flush=True)
        except BrokenPipeError:  # `facemotion --version | head -1`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        parser.exit()


class _Parser(argparse.ArgumentParser):
    """argparse's, whose refusal of an option is one ``error:`` line, as every other error is,
    rather than the command's whole usage before it (31 lines for ``train``)."""

    def error(self, message: str):
        import re

        from ..names import one_line

        message = _choices(message.removeprefix("argument "))
        # a required group of one shown option (--to, whose old -o is hidden): said as one option
        message = re.sub(r"^one of the arguments (--?[\w-]+) is required$", r"\1 is required", message)
        what = "its options" if " " in self.prog else "the commands"
        self.exit(2, f"error: {one_line(message)} ({self.prog} --help lists {what})\n")


def _choices(message: str) -> str:
    """argparse's "invalid choice" line with the choices as help shows them (not the old names
    still taken, such as the detector "dnn") and the nearest one: a misspelt command (imgae) or
    value gets "did you mean image?"."""
    import difflib
    import re

    from ..detect import list_detectors

    m = re.search(r"invalid choice: '?([^']*?)'? \(choose from (.*)\)$", message)
    if not m:
        return message
    hidden = set(list_detectors(aliases=True)) - set(list_detectors())
    shown = [c for c in (c.strip().strip("'") for c in m[2].split(",")) if c not in hidden]
    near = difflib.get_close_matches(m[1], shown, n=1)
    return (message[:m.start()] + f"invalid choice: {m[1]!r} (choose from {', '.join(shown)})"
            + (f"; did you mean {near[0]}?" if near else ""))


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="facemotion", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Find every face in photos, videos or a webcam and tell which emotion it shows "
                    "(angry, disgust, fear, happy, sad, surprise, neutral and, for the FER+ models such as the "
                    "default, contempt); train, evaluate and export models.")
    p.add_argument("--version", action=_Version, help="show the version and the CPU's instruction sets, then exit")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show the libraries' own warnings (OpenCV, FFmpeg, PIL), which are hidden otherwise")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    fmt = HelpFormatter

    infer.add_commands(sub, fmt)
    batch.add_commands(sub, fmt)
    data.add_commands(sub, fmt)
    training.add_commands(sub, fmt)
    web.add_commands(sub, fmt)
    p.commands = sub.choices  # an Action's choices: each command's name and parser
    return p


TRAIN_EXTRA = ("torch", "onnx", "onnxscript")


def quiet_libraries() -> None:
    """Hide what OpenCV, FFmpeg and PIL print on their own ("[ WARN:0] cap_v4l.cpp ...",
    "moov atom not found"): facemotion says what went wrong in its own error line."""
    import warnings

    import cv2

    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # read when the FFmpeg backend opens a file
    # Ray's notices (batch --engine ray): its token notice and the note that our bar replaces its
    # own; a failing job still raises, in our words
    for name in ("ray._private.authentication.authentication_token_setup", "ray.data._internal.progress"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # and its warning that a one-photo job starts fewer actors than asked
    warnings.filterwarnings("ignore", module=r"ray(\..*)?$")
    # matplotlib's notice that it cannot make its config folder (a read-only home): it uses a
    # temporary one, and the figures are the same
    logging.getLogger("matplotlib").setLevel(logging.ERROR)
    # its errors too: a decoder's complaint about a damaged file ("[ERROR:0@1.4] global
    # grfmt_png.cpp:297 readHeader IHDR chunk shall be first") comes before our line naming the file
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_FATAL)
    warnings.filterwarnings("ignore", module=r"PIL(\..*)?$")
    try:  # ONNX Runtime's "[W:onnxruntime:...]" lines: a session that cannot run raises, in our words
        import onnxruntime

        onnxruntime.set_default_logger_severity(3)
    except ImportError:  # pragma: no cover - a core dependency
        pass


def _error(message: str) -> None:
    from ..progress import close_all

    close_all()
    from ..names import one_line

    # under torchrun rank 0 speaks for all (every process meets the same error; torchrun names a
    # rank that fails alone), as it does for the run's other lines
    if os.environ.get("LOCAL_RANK") is not None and os.environ.get("RANK", "0") != "0":
        return
    print(f"error: {one_line(message)}", file=sys.stderr)  # a name's newline cannot forge another line


def _path_for_a_command(parser, argv) -> str | None:
    """The first argument when it names a file or folder rather than a command: `facemotion
    photo.jpg` gets the command that reads it, not argparse's list of choices."""
    argv = sys.argv[1:] if argv is None else list(argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    if not first or first in parser.commands:
        return None
    from ..batch.inputs import MEDIA_SUFFIXES

    looks = os.path.exists(first) or os.sep in first or "/" in first
    return first if looks or os.path.splitext(first)[1].lower() in MEDIA_SUFFIXES else None


def _taken_elsewhere(parser, args, extra: list[str]) -> str:
    """`` (--to is an option of batch, ...)`` for the options in ``extra`` that other commands
    take (`video clip.mp4 --to x.csv`), or ''."""
    hints = []
    if any(a in ("-v", "--verbose") for a in extra):  # the one global option: it goes before the command
        hints.append(f"-v is facemotion's own: facemotion -v {getattr(args, 'command', None) or 'COMMAND'} ...")
    for opt in dict.fromkeys(a.split("=")[0] for a in extra if a.startswith("--") and a != "--verbose"):
        # an old spelling kept hidden (train's --model, for --arch) means something else: not named
        owners = [n for n, s in parser.commands.items() if n != getattr(args, "command", None)
                  and opt in s._option_string_actions and s._option_string_actions[opt].help != argparse.SUPPRESS]
        hints += [f"{opt} is an option of {', '.join(owners)}"] if owners else []
    return f" ({'; '.join(hints)})" if hints else ""


def _not_a_command(path: str) -> str:
    """The line for a path where the command goes: the command that reads it, or how to fetch a
    web address (facemotion reads files on this machine)."""
    from ..fileio import web_address
    from ..inputs import VIDEO_SUFFIXES

    q, clip = shlex.quote(path), os.path.splitext(path)[1].lower() in VIDEO_SUFFIXES
    if os.path.isdir(path):
        return (f"{path}: a folder, not a command: facemotion image {q} (its photos), facemotion batch {q} "
                "(photos and videos, one table)")
    if os.path.exists(path):
        return f"{path}: a file, not a command: facemotion {'video' if clip else 'image'} {q}"
    if web_address(path):
        fetch = f"curl -sO {q}, then facemotion video FILE" if clip else f"curl -s {q} | facemotion image -"
        return f"{path}: a web address, not a command: {fetch} (facemotion works offline)"
    return f"{path}: no such file, and not a command (facemotion --help lists them)"


def main(argv=None) -> int:
    """The command line: its exit code (0; 1 where an input or an output failed; 2 for a bad
    option; 130 interrupted, 143 stopped by SIGTERM). A failure to write stdout (a full disk, ``>&-``) is said as
    stdout's, and what was written there flushed before it returns, not lost at exit."""
    if sys.stdout is None:  # started with stdout closed (>&-): its results would go nowhere
        _error("standard output is closed: facemotion writes its results there (give it a file: > out.txt)")
        return 1
    try:
        os.getcwd()
    except OSError as e:  # the folder it was started in was removed: every relative name would fail
        _error(f"the current folder cannot be read ({e.strerror or e}); change to another one")
        return 1
    real, sys.stdout = sys.stdout, NamedStdout(sys.stdout)
    try:
        try:
            code = _main(argv)
        except SystemExit:  # argparse's --help, --version or refusal: what they wrote, flushed too
            sys.stdout.flush()
            if sys.stdout.failed:  # (argparse passes over a failed write)
                raise sys.stdout.failed from None
            raise
        sys.stdout.flush()
        return 143 if code == 130 and STOPS and STOPS[0] == signal.SIGTERM else code
    except BrokenPipeError:  # the reader went away before the last lines: as Unix tools do
        quiet_stdout(real)
        return 141
    except OSError as e:  # stdout's, while the options were read (--version's line) or at the end
        if e.filename != STDOUT:
            raise
        _error(f"{STDOUT}: {e.strerror or e}")
        quiet_stdout(real)
        return 1
    finally:
        sys.stdout = real
        if argv is not None:  # called from Python (a notebook, a host app): its handlers back; the
            restore_signals()  # command line's process keeps ours to its exit (a late second Ctrl-C)


def _main(argv=None) -> int:
    parser = build_parser()
    if (path := _path_for_a_command(parser, argv)) is not None:
        _error(_not_a_command(path))
        return 2
    words = list(sys.argv[1:] if argv is None else argv)
    words = words[:words.index("--")] if "--" in words else words
    if dashed := [w for w in words[1:] if w.startswith("-") and w != "-" and os.path.isfile(w)]:
        _error(f"{dashed[0]}: a file whose name begins with '-', which reads as an option: put -- before it "
               f"(facemotion {words[0]} ... -- {shlex.quote(dashed[0])})")
        return 2
    args, extra = parser.parse_known_args(argv)
    if extra:  # parse_args' refusal, naming the commands that take such an option
        owner = parser.commands.get(getattr(args, "command", None)) or parser
        owner.error(f"unrecognized arguments: {' '.join(extra)}{_taken_elsewhere(parser, args, extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if not args.verbose:
        quiet_libraries()
    signals_as_interrupt(sigint=args.command != "serve")
    for stream in (sys.stdout, sys.stderr):  # file names that are not valid text still print
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        pixel_limit()  # a FACEMOTION_MAX_PIXELS that is no number: said once, before any input
        return int(args.func(args) or 0)
    except UsageError as e:  # an option outside what it accepts, found past argparse
        _error(str(e))
        return 2
    except FacemotionError as e:
        _error(str(e))
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`facemotion image ... --json | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as e:  # a full disk, a read-only or missing output folder, a planted link
        _error(f"{e.filename + ': ' if e.filename else ''}{e.strerror or e}")
        if e.filename == STDOUT:
            quiet_stdout(sys.stdout)
        return 1
    except ImportError as e:
        # train/evaluate/export/import need the [train] extra (torch, and onnx to read or write graphs)
        missing = (getattr(e, "name", None) or "").split(".")[0]
        if missing in TRAIN_EXTRA or (not missing and "torch" in str(e)):
            print(f"error: this command needs the [train] extra ({missing or 'torch'} is not installed): "
                  "pip install 'facemotion[train]'", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
