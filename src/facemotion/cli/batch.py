"""``facemotion batch``: a collection of photos and videos -> one table of rows (a thin layer
over :func:`facemotion.batch.run_batch`)."""

from __future__ import annotations

import sys
from pathlib import Path

from ..names import count
from ..validate import add_file_output, deprecated_alias, integer, number, option
from .options import BLUR_HELP, add_recognizer_args

DESCRIPTION = """\
Emotions of every face in a collection -> one table: a row per face (per sampled frame for
videos), a row with no face for an input where none was found, and a row per input that
failed (the run goes on). Inputs: files, folders
(recursive), globs, and .txt/.lst files listing paths. Killed or interrupted? Run the same
command again: it continues where it stopped, no row lost or repeated."""

EPILOG = """examples:
  facemotion batch photos/ --to results.csv
  facemotion batch photos/ clips/*.mp4 --frame-step 10 --to results.parquet
  facemotion batch paths.txt --to results.jsonl --annotate annotated/
  facemotion batch /mnt/shared/photos --to /mnt/shared/results.csv --engine ray
"""


def cmd_batch(args) -> int:
    from ..batch import JobSpec, run_batch
    from ..errors import UsageError
    from ..recognizer import RecognizerOptions

    if "-" in args.inputs:  # a table's rows name files, and a rerun resumes by them
        raise UsageError("-: facemotion batch reads photos and videos from files; save what is piped in first "
                         "(facemotion image - reads one photo piped in)")

    # --device auto weighs the job: photos stay on the CPU, videos' frames by their number
    job = _job(args) if args.device == "auto" else None
    spec = JobSpec(RecognizerOptions.from_args(args, job), every=args.every, smooth=args.smooth)
    try:
        s = run_batch(args.inputs, args.out, spec=spec, engine=args.engine, workers=args.workers,
                      actors=args.actors, ray_address=args.ray_address, annotate_dir=args.annotate, blur=args.blur,
                      overwrite=args.overwrite, retry_failed=args.retry_failed, progress=not args.no_progress)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: what is kept, and how to go on
        if not Path(args.out).exists():
            print("interrupted before the table was started", file=sys.stderr)
        else:  # run again with --overwrite, the command would empty the table it kept
            again = "the same command without --overwrite" if args.overwrite else "the same command"
            print(f"interrupted: {args.out} keeps the rows of every input finished; {again} continues from there",
                  file=sys.stderr)
        return 130
    # the table's rows are every run's; the inputs and faces, this run's
    done = f"; {count(s['skipped'], 'input')} done before" if s["skipped"] else ""
    none = f" ({count(s['faceless'], 'input')} without one)" if s.get("faceless") else ""
    print(f"{s['out']}: {count(s['rows'], 'row')}; {count(s['processed'], 'input')} processed "
          f"({s['inputs_per_s']:.1f}/s), {count(s['faces'], 'face')}{none}{done}; model {s['model']}")
    failed, of = s["failed"] + s["failed_before"], s["processed"] + s["skipped"]
    if failed:  # a rerun that finishes an interrupted job reports the failures of every run
        first = f"; the first: {s['first_error']}" if s.get("first_error") else ""
        print(f"error: {failed} of {of} input{'s' if of != 1 else ''} failed (see the error column){first}"
              + (f"; once mended, --retry-failed reads {'them' if failed > 1 else 'it'} again" if s["failed_before"]
                 else ""), file=sys.stderr)
        return 1  # as every command with several inputs: the table is whole, but not every input made it
    return 0


def _job(args) -> tuple[int, str]:
    """What ``--device auto`` weighs: the photos, or where there are videos, the frames used."""
    from ..batch import expand
    from .video import frames_in

    items = expand(args.inputs, notes=False)
    videos = [it.path for it in items if it.kind == "video"]
    return (frames_in(videos, every=args.every), "frames") if videos else (len(items), "photos")


def add_commands(sub, fmt) -> None:
    import argparse

    class Formatter(argparse.RawDescriptionHelpFormatter, fmt):
        pass

    s = sub.add_parser("batch", help="a collection of photos and videos -> one CSV/JSONL/Parquet table (resumable)",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=Formatter)
    s.add_argument("inputs", nargs="+", help="image/video files, folders, globs, or .txt/.lst files listing paths")
    add_file_output(s, "results.csv, results.jsonl, or results.parquet (a folder of parts)")
    s.add_argument("--frame-step", dest="every", type=option(integer, 1), default=1, metavar="N",
                   help="videos: use every N-th frame (a row per face in it)")
    s.add_argument("--every", dest="every", type=option(integer, 1), action=deprecated_alias(
                   "--frame-step", "here it keeps every N-th frame; `video --every N` detects every N-th frame and "
                   "writes every frame"), help=argparse.SUPPRESS)
    s.add_argument("--smooth", type=option(number, 0, 1, hi_open=True), default=0.5,
                   help="videos: EMA weight of a face's past probabilities, over the frames used (0 = off), "
                        "as video's")
    s.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local: threads on this machine; ray: Ray Data on a cluster (the [ray] extra)")
    s.add_argument("--detect-workers", dest="workers", type=option(integer, 1), default=None, metavar="N",
                   help="local engine: threads that decode and detect (default: one per core)")
    s.add_argument("--workers", dest="workers", type=option(integer, 1), action=deprecated_alias(
                   "--detect-workers", "`serve --workers` counts inference threads"), help=argparse.SUPPRESS)
    s.add_argument("--actors", type=option(integer, 1), default=None, help="ray engine: recognizer actors (default: the cluster's CPUs)")
    s.add_argument("--ray-address", default=None,
                   help="ray engine: cluster address (default: RAY_ADDRESS, as under `ray job submit`, else a local Ray)")
    s.add_argument("--annotate", default=None, metavar="DIR", help="also write an annotated copy of each photo here")
    s.add_argument("--blur", action="store_true", help=BLUR_HELP.format(what="copies (--annotate's)"))
    s.add_argument("--overwrite", action="store_true", help="start again instead of continuing an existing output")
    s.add_argument("--retry-failed", action="store_true",
                   help="read again the inputs an earlier run of this output could not read (their error rows "
                        "are taken out first); without it they stay done")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_recognizer_args(s, detect_size=None)  # photos at 640, clips at 400: as image and video read them
    s.set_defaults(func=cmd_batch)
