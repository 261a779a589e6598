"""Training-wing commands (the [train] extra): train, evaluate, export, quantize, import, adopt.

Their parsers are built on the core install too (``facemotion train --help`` works without
torch); running one without the extra ends in one line naming what is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..datasets.loading import add_label_options
from ..errors import ModelError, UsageError
from ..fileio import check_writable
from ..tta import MODES
from ..validate import add_file_output, integer, number, numbers, option, output_folder


def cmd_train(args) -> int:
    from ..training.train import main

    refuse_photos([("--data", args.data)] + [("--extra-data", f) for f in args.extra_data]
                  + ([("--unlabelled", args.unlabelled)] if args.unlabelled else []))
    main(args)
    return 0


def refuse_photos(folders) -> None:
    """Stop in one line before training if a folder, zip or tar of face crops (``(option, path)``
    pairs) holds whole photos: each of its images would be read as one face."""
    from pathlib import Path

    from ..datasets.archives import read_sample, tar_compression
    from ..errors import DataError
    from ..facecrops import SAMPLE, refuse_whole_photos, spread
    from ..inputs import IMAGE_SUFFIXES
    from ..recognizer import EmotionRecognizer

    rec = None
    for option_name, path in folders:
        path = Path(path)
        sources = None  # a folder is sampled by refuse_whole_photos
        if path.is_file() and path.suffix.lower() != ".csv":  # FER2013's CSV holds pixels, not images
            def pick(names, tar=tar_compression(path) is not None):
                images = [n for n in names if os.path.splitext(n)[1].lower() in IMAGE_SUFFIXES]
                return images[:SAMPLE] if tar else spread(images)  # a compressed tar is read from its start

            try:
                sources = read_sample(path, pick)
            except DataError:
                continue  # the loader names what is wrong with the file
        elif not path.is_dir():
            continue  # a missing path: the loader's to name
        rec = rec or EmotionRecognizer()
        refuse_whole_photos(path, option_name, rec, sources)


def cmd_teacher_targets(args) -> int:
    from ..training.checkpoint import refuse_other_kind
    from ..training.distill import teacher_targets_main

    check_writable(args.out, "--to", folder=False, suffix=".pt", inputs=[args.data])  # before the work
    refuse_other_kind(args.out, "--to", "teacher targets")
    refuse_photos([("--data", args.data)] + [("--extra-data", f) for f in getattr(args, "extra_data", None) or []])
    r = teacher_targets_main(args)
    done = "kept" if r["kept"] else "wrote"  # a file made by the same teachers for the same images is not redone
    whose = "the teachers'" if len(args.teacher) > 1 else "the teacher's"
    print(f"{done} {r['out']}: soft targets of {r['images']:,} training images ({whose} top-1 agrees "
          f"with the label on {r['teacher_train_acc']:.2%})")
    return 0


def cmd_evaluate(args) -> int:
    from .photo_eval import evaluate_photos, is_photo_folder

    if args.out:  # before the scoring, whose result would be lost
        check_writable(args.out, "-o", reads=[("--data", args.data)])
    if args.crops:
        if args.detector is not None:
            raise UsageError("--detector: --crops reads each image as one face, found by no detector; give one of them")
        if Path(args.data).exists() and not Path(args.data).is_dir():  # (a missing one: said as any missing file)
            raise UsageError(f"--crops: {args.data} is not a folder of <emotion>/<image> face crops")
        refuse_photos([("--data", args.data)])
    if args.crops or is_photo_folder(args.data):
        return evaluate_photos(args)
    for flag, value in (("--detector", args.detector), ("--groups", args.groups), ("--control", args.control)):
        if value is not None:
            raise UsageError(f"{flag}: {args.data} is a dataset of faces; {flag} is for a folder of <emotion>/<photo>")
    refuse_photos([("--data", args.data)])  # an archive of whole photos would be scored as one face each
    from ..training.evaluate import main

    main(args)
    return 0


def cmd_export(args) -> int:
    from pathlib import Path

    from ..zoo import no_checkpoint

    for ckpt in args.checkpoint:  # before the [train] extra is looked for: it would not make the file
        if not Path(ckpt).is_file():
            raise ModelError(no_checkpoint(ckpt))
    from ..training.export import export_onnx

    check_writable(args.out, "--to", folder=False, suffix=".onnx", inputs=args.checkpoint)  # before the work
    from ..training.checkpoint import refuse_non_onnx

    refuse_non_onnx(args.out, "--to")
    ckpts = args.checkpoint if len(args.checkpoint) > 1 else args.checkpoint[0]
    if args.tta == "tencrop":  # one meaning of --tta on both commands: the choice is said, not hidden
        raise UsageError("--tta tencrop: an exported graph bakes flip only (evaluate runs tencrop)")
    r = export_onnx(ckpts, args.out, temperature=args.temperature, name=args.name, tta=args.tta, weights=args.weights)
    kind = f"ensemble of {len(args.checkpoint)}, " if len(args.checkpoint) > 1 else ""
    print(f"wrote {r['path']} ({kind}{r['bytes'] / 1024:.0f} KiB, {args.weights} weights, test-time views: "
          f"{r['metadata']['tta']}); ONNX Runtime vs torch "
          f"max |dp| = {r['max_abs_diff']:.1e} on {r['checked_inputs']} inputs")
    if "fp16_max_abs_diff" in r:
        print(f"float16 storage changes the probabilities by at most {r['fp16_max_abs_diff']:.1e}; top-1 unchanged "
              f"on {r['fp16_argmax_agreement'] * 100:.1f}% of those inputs")
    return 0


def cmd_quantize(args) -> int:
    from ..training.quantize import quantize_model

    check_writable(args.out, "--to", folder=False, suffix=".onnx", inputs=[args.model])  # before the work
    from ..training.checkpoint import refuse_non_onnx

    refuse_non_onnx(args.out, "--to")
    refuse_photos([("--data", args.data)])  # each image calibrates and checks as one face
    r = quantize_model(args.model, args.out, data=args.data, calibration=args.calibration, seed=args.seed,
                       name=args.name, scheme=args.scheme, labels=args.labels, votes=args.votes)
    crowd = (f"FER+ majority (7 classes, {r['ferplus_faces']:,} faces) {r['int8_ferplus_val'] * 100:.2f}% int8 vs "
             f"{r['float_ferplus_val'] * 100:.2f}% float, FER2013 labels ") if "ferplus_faces" in r else ""
    print(f"wrote {r['file']} ({r['scheme']}, {r['bytes'] / 1024:.0f} KiB, float {r['float_bytes'] / 1024:.0f} KiB); {r['split']}: "
          f"{crowd}{r['int8_public_test'] * 100:.2f}% int8 vs {r['float_public_test'] * 100:.2f}% float, top-1 agreement "
          f"{r['top1_agreement'] * 100:.1f}%, max |dp| {r['max_abs_prob_diff']:.3f} (also in {r['file']}.check.json)")
    return 0


def cmd_interpolate(args) -> int:
    from ..training.checkpoint import refuse_other_kind
    from ..training.interpolate import interpolate_checkpoints

    check_writable(args.out, "--to", folder=False, suffix=".pt", inputs=[args.base, args.tuned])  # before the work
    refuse_other_kind(args.out, "--to", "checkpoint")
    ck = interpolate_checkpoints(args.base, args.tuned, args.alpha, args.out, name=args.name,
                                 temperature=args.temperature)
    print(f"wrote {args.out} ({ck['arch']}, {1 - args.alpha:g} x {args.base} + {args.alpha:g} x {args.tuned}, "
          f"temperature {ck['temperature']:.3f})")
    return 0


def cmd_import(args) -> int:
    from ..training.importing import import_checkpoints

    check_writable(args.out, "-o")  # before the work
    written, info = import_checkpoints(args.model, args.out)
    for i, (dest, ck) in enumerate(written):
        print(f"wrote {dest} ({ck['arch']}, {ck['parameters']:,} parameters, {ck['recovered_from']['weights_dtype']} "
              f"weights{f', member {i} of {len(written)}' if len(written) > 1 else ''})")
    print(f"rebuilt {info['file']} from {'these checkpoints' if len(written) > 1 else 'this checkpoint'}: "
          f"max |dp| = {info['max_abs_diff']:.1e} vs ONNX Runtime")
    return 0


def cmd_adopt(args) -> int:
    from ..training.adopt import adopt

    check_writable(args.out, "--to", folder=False, suffix=".onnx", inputs=[args.source])  # before the work
    r = adopt(args.source, args.out, outputs=args.outputs.split(","), value_range=args.range, mean=args.mean,
              std=args.std, size=args.size, scores=args.scores, temperature=args.temperature, name=args.name)
    i = r["input"]
    shown = (f"{i['size']} x {i['size']} {'gray' if i['channels'] == 1 else 'colour'}, "
             f"{i['range'][0]:g}..{i['range'][1]:g}")
    print(f"wrote {r['path']}: {args.source} adopted ({shown}; {len(r['labels'])} {r['scores']} in its order) "
          f"-> facemotion's {len(r['labels'])} emotions")
    sample = r["sample"]
    print(f"the bundled sample photo's face (a smile) reads {sample['emotion']} ({sample['probability']:.2f})"
          + ("" if sample["emotion"] == "happy" else ": check --outputs, --range, --mean and --std"))
    print(f"score it as the shipped models are: facemotion evaluate {r['path']} --data fer2013.zip")
    return 0


def add_commands(sub, fmt) -> None:
    from ..training.train import get_args_parser as train_parser
    s = sub.add_parser("train", parents=[train_parser(add_help=False)], help="train a model (needs [train] extra)",
                       formatter_class=fmt, description=train_parser().description)
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("teacher-targets", formatter_class=fmt,
                       help="the teachers' soft targets on the training images, for train --teacher-targets",
                       description="Compute the (flip-averaged) soft targets of --teacher on the training images "
                                   "that `facemotion train` with the same --data, --labels, --votes, --extra-data, "
                                   "--limit, --seed and --val-fraction sees, and write them to --to. `train "
                                   "--teacher-targets FILE` then distils from them without the teachers' files: "
                                   "e.g. targets of the shipped ensemble made here, carried to a GPU machine with "
                                   "the data subset.")
    tp = train_parser(add_help=False)
    # the options that decide which training images a run sees (and in which order): the targets
    # file is tied to exactly those images
    for a in tp._actions:
        if a.dest == "teacher":  # train's is optional; here the teachers are the point
            a.required, a.default = True, None
            a.help = "teacher(s): .pt checkpoints, exported .onnx files or shipped model names; their averaged soft targets"
        if a.dest in ("data", "labels", "votes", "extra_data", "teacher", "kd_temp", "limit", "seed", "val_fraction",
                      "skip_bad", "progress"):
            s._add_action(a)
    add_file_output(s, "the targets file to write (.pt)")
    s.set_defaults(func=cmd_teacher_targets)

    from ..training.evaluate import get_args_parser as eval_parser
    s = sub.add_parser("evaluate", parents=[eval_parser(add_help=False)], help="accuracy, F1, confusion, calibration",
                       formatter_class=fmt, description=eval_parser().description)
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("export", help="checkpoint(s) -> ONNX (checked against torch)", formatter_class=fmt,
                       description="Export a checkpoint, or several as one softmax-averaged ensemble, to ONNX "
                                   "with its metadata; fails unless ONNX Runtime matches torch.")
    s.add_argument("checkpoint", nargs="+", help="facemotion .pt checkpoint(s); several = one ensemble model")
    add_file_output(s, "output .onnx file")
    s.add_argument("--temperature", type=option(number, 0, lo_open=True), default=None,
                   help="softmax temperature (default: the checkpoint's; 1.0 for an ensemble: fit one with "
                        "`facemotion evaluate ... --calibrate`)")
    s.add_argument("--tta", nargs="?", const="flip", default=None, choices=MODES,
                   help="test-time views baked into the graph: flip (image + mirror; --tta alone), none "
                        "(default: the checkpoint's own, which its accuracy was measured with; tencrop is "
                        "evaluate's only)")
    s.add_argument("--weights", choices=("float32", "float16"), default="float32",
                   help="storage precision of the weights (float16: half the file; ONNX Runtime still computes "
                        "in float32, and the export reports what it changes)")
    s.add_argument("--name", default=None, help="model name stored in the metadata")
    s.set_defaults(func=cmd_export)

    from ..training.schemes import DEFAULT_SCHEME, LEGACY_SCHEME, SCHEMES
    s = sub.add_parser("quantize", help="ONNX model -> int8 (static, calibrated on Training faces)", formatter_class=fmt,
                       description="Quantize a shipped or exported ONNX model to int8 with ONNX Runtime (QDQ, "
                                   "7-bit weights per channel, uint8 activations calibrated on Training faces: the "
                                   "same integers on x86 with or without VNNI and on ARM64), checked against the "
                                   "float model on PublicTest before it is written; the scheme goes into its card.")
    s.add_argument("model", help="a shipped model name (see `facemotion models`) or an exported .onnx file")
    add_file_output(s, "output .onnx file")
    s.add_argument("--data", required=True, help="the dataset whose Training split calibrates (e.g. fer2013.zip)")
    s.add_argument("--calibration", type=option(integer, 16), default=2000, help="Training faces to calibrate on")
    add_label_options(s, default=None)
    s.add_argument("--seed", type=option(integer, 0, 2**31 - 1), default=0, help="which Training faces")
    s.add_argument("--name", default=None, help="model name stored in the card (default: <name>_int8)")
    s.add_argument("--scheme", choices=list(SCHEMES), default=DEFAULT_SCHEME, metavar="SCHEME",
                   help=f"quantization scheme: {DEFAULT_SCHEME} computes the same on every CPU; {LEGACY_SCHEME} is "
                        "the scheme of earlier versions (full-range int8 weights: other answers on x86 CPUs "
                        f"without VNNI); the others are the candidates of benchmarks/int8.py ({', '.join(SCHEMES)})")
    s.set_defaults(func=cmd_quantize)

    s = sub.add_parser("interpolate", help="mix a model and its fine-tune in weight space (WiSE-FT)",
                       formatter_class=fmt,
                       description="Write (1 - alpha) x BASE + alpha x TUNED, tensor by tensor: a robust "
                                   "fine-tune and the model it started from often have a point between them that "
                                   "keeps most of both's accuracy (clean and corrupted). Choose alpha on PublicTest "
                                   "(`facemotion evaluate OUT.pt --data fer2013.zip --split val [--robustness]`).")
    s.add_argument("base", help="the checkpoint the fine-tune started from (.pt)")
    s.add_argument("tuned", help="its fine-tune (.pt), same architecture")
    s.add_argument("--alpha", type=option(number, 0, 1), required=True, help="0 = BASE, 1 = TUNED")
    add_file_output(s, "the checkpoint to write (.pt)")
    s.add_argument("--temperature", type=option(number, 0, lo_open=True), default=None,
                   help="softmax temperature to record (default: the two temperatures mixed by alpha)")
    s.add_argument("--name", default=None, help="model name stored in the card")
    s.set_defaults(func=cmd_interpolate)

    s = sub.add_parser("import", help="ONNX model -> checkpoint(s) to fine-tune, distil or re-ensemble",
                       formatter_class=fmt,
                       description="Rebuild the PyTorch checkpoint of a shipped or exported ONNX model (one per "
                                   "member of an ensemble), checked against ONNX Runtime. BatchNorm comes back "
                                   "folded into the convs; float16-stored weights come back rounded to it.")
    s.add_argument("model", help="a shipped model name (see `facemotion models`) or an exported .onnx file")
    s.add_argument("-o", "--out", type=option(output_folder), required=True, help="output folder for the .pt file(s)")
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("adopt", help="an ONNX emotion model from elsewhere -> a facemotion model",
                       formatter_class=fmt,
                       description="Write a copy of an ONNX emotion classifier made elsewhere that takes facemotion's "
                                   "faces (48 x 48 gray crops, turned into the input it expects: its size, channels, "
                                   "pixel range, mean and deviation) and answers in facemotion's order, with a model "
                                   "card. It then runs wherever facemotion's models run: --model, the page, "
                                   "`facemotion evaluate`.",
                       epilog="example: facemotion adopt emotion-ferplus-8.onnx --to ferplus_zoo.onnx --range 0,255 "
                              "--outputs neutral,happiness,surprise,sadness,anger,disgust,fear,contempt")
    s.add_argument("source", help="the .onnx file")
    add_file_output(s, "the adopted .onnx file to write")
    s.add_argument("--outputs", required=True, metavar="NAMES",
                   help="its scores' emotions, in its order, comma-separated (seven, or eight with contempt; "
                        "aliases such as happiness or anger are read)")
    s.add_argument("--range", type=option(numbers, 2), required=True, metavar="BLACK,WHITE",
                   help="the values it takes for a black and a white pixel: 0,255 or 0,1 (--range=-1,1: an equals "
                        "sign before a negative number)")
    s.add_argument("--mean", type=option(numbers), default=None,
                   help="subtracted after --range, per channel in its order (e.g. ImageNet's 0.485,0.456,0.406)")
    s.add_argument("--std", type=option(numbers), default=None, help="divided by after --mean, per channel in its order")
    s.add_argument("--size", type=option(integer, 8, 1024), default=None,
                   help="its input's side in pixels, where the graph does not fix it")
    s.add_argument("--scores", choices=("auto", "logits", "probabilities"), default="auto",
                   help="what its outputs are (auto: probabilities where every face's sum to 1)")
    s.add_argument("--temperature", type=option(number, 0, lo_open=True), default=1.0,
                   help="softmax temperature (fit one with `facemotion evaluate OUT --data fer2013.zip --split val "
                        "--calibrate`)")
    s.add_argument("--name", default=None, help="model name stored in the card (default: the output's file name)")
    s.set_defaults(func=cmd_adopt)
