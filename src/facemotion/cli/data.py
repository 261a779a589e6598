"""Dataset commands: ``facemotion data stats`` and ``facemotion data subset``."""

from __future__ import annotations

import sys
from pathlib import Path

from ..datasets.loading import add_label_options
from ..datasets.splits import SPLITS
from ..errors import DataError
from ..validate import add_file_output, option, output_folder

DATA_HELP = "fer2013.csv (or fer2013.tar.gz), the Kaggle folder, zip or tar, or a <class>/<images> folder"


def cmd_data_stats(args) -> int:
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
    from ..datasets import write_subset

    counts = write_subset(args.path, args.out, args.splits, progress=True, labels=args.labels, votes=args.votes)
    size = Path(args.out).stat().st_size / 2**20
    print(f"wrote {args.out} ({size:.1f} MiB): " + ", ".join(f"{s} {n:,}" for s, n in counts.items()))
    return 0




def add_commands(sub, fmt) -> None:
    s = sub.add_parser("data", help="dataset tools")
    dsub = s.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    st = dsub.add_parser("stats", help="per-split class counts and distribution plots", formatter_class=fmt)
    st.add_argument("path", help=DATA_HELP)
    st.add_argument("-o", "--out", type=option(output_folder), default="facemotion-stats")
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
    su.add_argument("path", help=DATA_HELP)
    add_file_output(su, "the new file: .zip, .tar.gz or .tar.xz for images, .csv for a CSV")
    su.add_argument("--splits", nargs="+", default=["train", "val"], choices=SPLITS)
    add_label_options(su)
    su.set_defaults(func=cmd_data_subset)
    s.set_defaults(func=lambda a: (s.print_help(), 2)[1])
