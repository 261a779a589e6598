"""``facemotion video`` (clips, and folders of them) and ``facemotion webcam``."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import FacemotionError, UsageError, VideoError
from ..fileio import check_writable, stream_address
from ..names import one_line, shown
from .lines import video_lines
from .options import explain_options


def cmd_video(args) -> int:
    from ..inputs import VIDEO_SUFFIXES, expand_inputs, unique
    from ..names import fit_stems
    from ..video import process_video
    from ..writers import output_stems

    # a folder gives its clips (a rerun into -o inside it does not read the annotated MP4s back);
    # a live stream's address (rtsp://...) and a camera's number that names no file are read as
    # they are; a clip named twice (a folder and a file in it) is read once
    paths = unique([x for p in args.paths for x in (
        [p] if stream_address(p) or (p.isdigit() and not Path(p).exists()) else
        expand_inputs([p], VIDEO_SUFFIXES, skip=[args.out]))])
    if not paths:
        raise VideoError(f"no videos found in {' '.join(map(shown, args.paths))} ({', '.join(sorted(VIDEO_SUFFIXES))})")
    check_writable(args.out, "-o")  # before a clip is read
    rec = _recognizer(args, _video_job(args, paths))
    explain = {"every": args.explain, **explain_options(args)} if args.explain else None
    if not explain and (args.explain_method or args.layer):  # not passed over in silence
        raise UsageError(f"{'--explain-method' if args.explain_method else '--layer'}: for the saliency maps of "
                         "--explain N; add --explain")
    if args.frame_step > 1 and args.every > 1:
        raise UsageError(f"--every {args.every} with --frame-step {args.frame_step}: give one (--frame-step keeps every "
                         "N-th frame and detects on each; --every detects on every N-th and analyses all)")
    if explain:
        rec.stages.explainer(**explain_options(args))  # an unusable method fails before the video is opened
    # clips that share a name are told apart by their folders, as photos are (output_stems); a
    # stream is named after its host (process_video)
    files = [p for p in paths if not isinstance(p, str)]
    named = dict(zip(files, fit_stems(output_stems(files)))) if len(paths) > 1 else {}
    stems = [named.get(p) for p in paths]
    codes = []
    for path, stem in zip(paths, stems):
        folder, _, name = (stem or "").rpartition("/")
        try:
            s = process_video(rec, path, Path(args.out) / folder, every=args.every, frame_step=args.frame_step,
                              smooth=args.smooth,
                              write_video=not args.no_video, progress=not args.no_progress, max_frames=args.max_frames,
                              bars=not args.no_bars, blur=args.blur, explain=explain, name=name or None)
        except FacemotionError as e:
            if len(paths) == 1:
                raise
            print(f"error: {one_line(str(e))}", file=sys.stderr)  # this clip fails alone: the next may be read
            codes.append(1)
            continue
        print(*video_lines(s), sep="\n")
        codes.append(_video_exit_code(s))
        if codes[-1] == 130:  # Ctrl-C stops the run, not only this clip
            break
    return _exit_code(codes, len(paths))


def _exit_code(codes: list[int], total: int) -> int:
    if 130 in codes:
        return 130
    failed = sum(c != 0 for c in codes)
    if failed and total > 1:
        print(f"{failed} of {total} videos failed", file=sys.stderr)
    return 1 if failed else 0


def _recognizer(args, job=None):
    """The recognizer of a video or webcam command line: without --detect-size, frames searched at 400 px (a
    video's at more where its frames need it: facemotion.video.scale), on every device."""
    from ..recognizer import RecognizerOptions

    return RecognizerOptions.from_args(args, job).build()


def _video_job(args, paths):
    """(the videos' frames, "frames") for ``--device auto`` to weigh; None otherwise or unknown."""
    if args.device != "auto":
        return None
    n = frames_in(paths, args.max_frames, args.frame_step)
    return (n, "frames") if n else None


def frames_in(paths, most: int | None = None, every: int = 1) -> int:
    """The frames the videos ``paths`` hold, every ``every``-th counted (each clip's at most ``most``):
    the work ``--device auto`` weighs (a file that cannot be read counts none: the command says
    what is wrong with it)."""
    from ..video.sources import FrameSource

    n = 0
    for path in paths:
        try:
            with FrameSource(path) as src:
                frames = src.info.frame_count
        except Exception:  # noqa: BLE001 - the command itself says what is wrong with the file
            continue
        frames = -(-frames // every)
        n += min(frames, most) if most else frames
    return n


def _video_exit_code(s: dict) -> int:
    """0 for a whole video, 1 when frames could not be decoded or a stream stopped sending, 130
    when interrupted: a script can tell a partial result from a complete one."""
    if s["status"].startswith("interrupted"):
        return 130
    if s["status"].startswith(("incomplete", "ended")):  # ended: a camera's stream that stopped for good
        print(f"error: {shown(s['source'])}: {s['status']}; the outputs cover the frames that could be read",
              file=sys.stderr)
        return 1
    return 0


def cmd_webcam(args) -> int:
    from ..video import has_display, process_video
    from ..video.outputs import live_name, session_name

    rec = _recognizer(args)
    display = has_display() and not args.headless
    if not display:
        why = "--headless given" if args.headless else (
            "no display, or an OpenCV build without windows (the default opencv-python-headless; "
            "`pip install 'opencv-python<5'` for a live window)")
        print(f"running headless ({why}); writing the outputs to {args.out}"
              + (" - stop with Ctrl-C" if not args.max_frames else ""), file=sys.stderr)
    # each session's own outputs (a live source cannot be read again): a camera's, a stream's by its host
    base = f"webcam{args.camera}" if isinstance(args.camera, int) else live_name(args.camera)
    s = process_video(rec, args.camera, args.out, every=args.every, smooth=args.smooth, write_video=not args.no_video,
                      progress=not display, display=display, max_frames=args.max_frames,
                      bars=not args.no_bars, blur=args.blur, name=session_name(base, args.out))
    print(*video_lines(s), sep="\n")
    return _video_exit_code(s)
