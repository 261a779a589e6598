"""The ``facemotion`` command: a thin layer over the public API, one module per family of
commands (:mod:`.infer`: image, demo, video, webcam, serve, models; :mod:`.data`;
:mod:`.training`: train, evaluate, export, import).

Errors that users can fix (a missing file, a broken image, a bad checkpoint) are printed
as one ``error:`` line naming the file; the exit code says whether anything failed.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import FacemotionError
from . import data, infer, training

EPILOG = """examples:
  facemotion demo                               the bundled sample photo, end to end
  facemotion image photo.jpg -o out/            annotated image + JSON per input
  facemotion image photos/ --json               JSON lines on stdout
  facemotion video clip.mp4 -o out/ --every 3   annotated MP4, per-frame CSV, summary, timelines
  facemotion webcam                             live window (or headless outputs)
  facemotion serve                              web page (photos, webcam) and API on localhost:8000
  facemotion data stats fer2013.zip             class counts and distribution plots
  facemotion train --data fer2013.zip --model mini_xception --out runs/mx
  facemotion evaluate runs/mx/best.pt --data fer2013.zip --split test --tta
  facemotion export runs/mx/best.pt -o model.onnx
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="facemotion", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Find every face in photos, videos or a webcam and tell which of 7 emotions it shows "
                    "(angry, disgust, fear, happy, sad, surprise, neutral); train, evaluate and export models.")
    p.add_argument("--version", action="version", version=f"facemotion {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    fmt = argparse.ArgumentDefaultsHelpFormatter

    infer.add_commands(sub, fmt)
    data.add_commands(sub, fmt)
    training.add_commands(sub, fmt)
    return p


TRAIN_EXTRA = ("torch", "onnx", "onnxscript")


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except FacemotionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`facemotion image ... --json | head`): stop quietly, as Unix tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
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
