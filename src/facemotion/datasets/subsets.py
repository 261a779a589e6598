"""Subsets of a dataset: some of its splits copied to a new file (``facemotion data subset``),
byte for byte for an image tree, row for row for a CSV."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import tarfile
import zipfile
from pathlib import Path
from typing import Iterable

from ..errors import DataError, UsageError
from ..fileio import atomic_path, remove_stale_temps
from ..progress import progress_bar
from .archives import list_members, read_members, tar_compression, unsafe_name
from .fer2013 import (
    _classify_member,
    _csv_header,
    _csv_rows,
    _open_csv,
    _tar_csv_member,
    csv_columns,
    detect_format,
    row_split,
)
from .splits import SPLIT_USAGE, check_splits


def write_subset(path, out, splits: Iterable[str] = ("train", "val"),
                 *, progress: bool = False, labels: str = "fer2013", votes=None) -> dict[str, int]:
    """Copy only some splits of a dataset to a new file; return the number of images per split.

    An image tree (Kaggle's zip or folder, or a tar of it) becomes a ``.zip`` or a ``.tar.gz``
    / ``.tar.xz`` holding the same members, byte for byte (nothing is re-encoded, so the subset
    decodes to exactly the same arrays); a CSV (or a tar holding one) becomes a CSV of those
    rows. The default, ``train`` + ``val``, is everything training reads and not one PrivateTest
    image. For FER2013 the zip is 61 MiB; a ``.tar.gz`` is 47 MiB, because it is compressed as
    one stream and the ~600 bytes of JPEG tables that every small file repeats compress away.
    The file is written under a temporary name and renamed at the end, so an interrupted copy
    never leaves a truncated dataset behind. With ``labels="ferplus"`` only the faces FER+ labels
    are copied (an image tree only: FER+ votes are keyed by its paths).
    """
    path, out = Path(path), Path(out)
    splits = check_splits(splits)
    fmt = detect_format(path)
    is_csv = fmt == "csv" or (fmt == "tar" and _tar_csv_member(path) is not None)
    out_tar = tar_compression(out)
    if labels == "ferplus" and is_csv:
        raise DataError(f"{path}: --labels ferplus subsets an image tree (the Kaggle layout); keep the whole CSV "
                        "and train on it with --labels ferplus")
    if is_csv and out.suffix.lower() != ".csv":
        raise UsageError(f"--to {out}: {path} holds a CSV, so its subset is a CSV; name the output *.csv")
    if not is_csv and out_tar is None and out.suffix.lower() != ".zip":
        raise UsageError(f"--to {out}: name the output *.zip, *.tar.gz (*.tgz), *.tar.xz, *.tar.bz2 or *.tar")
    src = path / "fer2013.csv" if fmt == "csv" and path.is_dir() else path
    if out.resolve() == src.resolve():
        raise DataError(f"{out}: the subset would overwrite its own source")
    counts = dict.fromkeys(splits, 0)
    remove_stale_temps(out)  # what a killed run of the same subset left
    with atomic_path(out) as part:
        if is_csv:
            _copy_rows(path, part, counts)
        else:
            _copy_members(path, part, counts, out_tar, progress=progress, labels=labels, votes=votes)
    return counts


def _tar_to(part, compression: str, stack) -> tarfile.TarFile:
    """A tar written to ``part``; gzip's header is given no file name and no time (it held the
    temporary file's name and the clock's, so one subset made twice differed), as xz's and
    bzip2's have none: the same subset is the same bytes."""
    if compression != "gz":
        return tarfile.open(part, f"w:{compression}" if compression else "w")
    raw = stack.enter_context(open(part, "wb"))
    return tarfile.open(fileobj=stack.enter_context(gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)),
                        mode="w")


def _ferplus_members(members, votes, where):
    """The members FER+ trains and scores on (its votes mostly name an emotion)."""
    from .ferplus import read_votes, trainable, votes_for

    v = votes_for([m for m, _ in members], read_votes(votes), str(where))
    keep = trainable(v)
    return [m for m, k in zip(members, keep) if k]


def _copy_rows(path: Path, part, counts: dict) -> None:
    """The rows of ``counts``' splits of a CSV (or a tar holding one) into ``part``, counted."""
    with _open_csv(path) as (name, fh), open(part, "w", newline="") as fo:
        reader, writer = _csv_rows(fh, name), csv.writer(fo)
        header = _csv_header(reader, name)
        writer.writerow(header)
        iu = csv_columns(header, name)["usage"]
        for _, row in reader:
            if not row or all(not c.strip() for c in row):
                continue
            split = row_split(row, iu)
            if split in counts:
                writer.writerow(row)
                counts[split] += 1
    # the one pass over the CSV also tells which splits it lacks (the partial file goes)
    if missing := [s for s, n in counts.items() if n == 0]:
        raise DataError(f"{path}: missing split(s) {', '.join(missing)} (no rows with Usage "
                        f"{' / '.join(SPLIT_USAGE[s] for s in missing)})")


def _copy_members(path: Path, part, counts: dict, out_tar, *, progress: bool, labels: str, votes) -> None:
    """The members of ``counts``' splits of an image tree into ``part`` (a zip, or a tar
    compressed as ``out_tar``), byte for byte, counted."""
    splits = list(counts)
    classified = [(m, c[0]) for m in list_members(path) if (c := _classify_member(m))]
    if bad := next((m for m, _ in classified if unsafe_name(m)), None):
        raise DataError(f"{path}::{bad}: a member name that leaves the archive's root; refusing to copy it")
    if missing := [s for s in splits if not any(sp == s for _, sp in classified)]:
        found = sorted({sp for _, sp in classified})
        raise DataError(f"{path}: missing split(s) {', '.join(missing)} (found: {', '.join(found) or 'none'})")
    members = [(m, sp) for m, sp in classified if sp in counts]
    if labels == "ferplus":
        members = _ferplus_members(members, votes, path)
    stream = read_members(path, [m for m, _ in members])
    if progress:
        stream = progress_bar(stream, total=len(members), desc=f"copying {'+'.join(splits)}", unit="file")
    # JPEGs do not deflate: a zip stores them; a tar is compressed as one stream instead
    with contextlib.ExitStack() as stack:
        arc = stack.enter_context(_tar_to(part, out_tar, stack) if out_tar is not None
                                  else zipfile.ZipFile(part, "w", zipfile.ZIP_STORED))
        for (m, split), (_, data) in zip(members, stream):
            if isinstance(data, DataError):
                raise data
            if out_tar is not None:
                info = tarfile.TarInfo(m)
                info.size, info.mtime = len(data), 0  # file dates are not data: none are kept
                arc.addfile(info, io.BytesIO(data))
            else:
                arc.writestr(zipfile.ZipInfo(m, (1980, 1, 1, 0, 0, 0)), data)
            counts[split] += 1
