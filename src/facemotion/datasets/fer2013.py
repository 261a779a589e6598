"""FER2013's layouts -> uint8 arrays of 48x48 faces and canonical labels.

Supported layouts (detected automatically):

1. ``fer2013.csv`` with columns ``emotion,pixels,Usage`` (Usage: Training / PublicTest /
   PrivateTest), a folder containing it, or a tar holding it (the 2013 challenge's
   ``fer2013.tar.gz``).
2. Kaggle's folder layout ``train/<emotion>/*.jpg`` and ``test/<emotion>/*.jpg``, extracted
   or inside a ``.zip`` or a ``.tar(.gz|.bz2|.xz)``. Files named ``PublicTest_*`` /
   ``PrivateTest_*`` split ``test/`` into the validation and test splits of the FER2013
   protocol.
3. Any folder (or zip or tar) of ``<class>/<images>`` -- a user's own data, all in ``train``
   (training then holds out a validation fraction).

Only the splits asked for are decoded, so training code that asks for ``("train", "val")``
never reads a PrivateTest image. :func:`write_subset` copies some splits to a new file.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import struct
import tarfile
import zipfile
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from ..errors import DataError
from ..fileio import atomic_path
from ..images import IMAGE_SUFFIXES
from ..labels import UnknownLabelError, label_index
from ..preprocess import INPUT_SIZE, to_face48
from ..progress import progress_bar
from .archives import (
    TAR_ERRORS,
    list_members,
    read_members,
    tar_compression,
    tar_names,
    unsafe_name,
)
from .splits import SPLIT_DIRS, SPLIT_USAGE, SPLITS, USAGE_TO_SPLIT, Split, check_splits

# A dataset image is a face for a 48 px model: anything near this size is a mistake or a
# decompression bomb (a 109 KB PNG can declare 30,000 x 20,000 pixels), refused from its header.
MAX_MEMBER_PIXELS = 16_000_000


def decode_image(data: bytes, where: str) -> np.ndarray:
    """Encoded image bytes -> 48x48 uint8 gray, or DataError naming ``where``."""
    if not data:
        raise DataError(f"{where}: empty file")
    w, h = _header_size(data)
    if w * h > MAX_MEMBER_PIXELS:
        raise DataError(f"{where}: declares {w}x{h} pixels, over the {MAX_MEMBER_PIXELS / 1e6:.0f} MP a dataset image "
                        "may have (not decoded)")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DataError(f"{where}: not a readable image")
    return to_face48(img)


def _header_size(data: bytes) -> tuple[int, int]:
    """Width and height from an image's header, without decoding it; (0, 0) when unknown (the
    decoder then has the last word). JPEG and PNG, what datasets hold, are read here directly
    (PIL's parser costs more than OpenCV's decode of a 48 px face); other formats through PIL."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 <= len(data) and data[i] == 0xFF:
            marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start-of-frame segment
                h, w = struct.unpack(">HH", data[i + 5:i + 9])
                return w, h
            i += 2 + length
        return 0, 0
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Exception:  # unknown or broken header
        return 0, 0


@contextlib.contextmanager
def _open_csv(path: Path):
    """Yield (name for messages, text stream) of fer2013.csv: the file, the one in a folder, or
    the one inside a tar (Kaggle's original ``fer2013.tar.gz`` holds ``fer2013/fer2013.csv``)."""
    if path.is_dir():
        path = path / "fer2013.csv"
    # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") is not part of the first column's name
    if tar_compression(path) is None:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            yield str(path), fh
        return
    member = _tar_csv_member(path)
    try:
        with tarfile.open(path) as tf, io.TextIOWrapper(tf.extractfile(member), newline="", encoding="utf-8-sig") as fh:
            yield f"{path}::{member}", fh
    except TAR_ERRORS as e:
        raise DataError(f"{path}: not a readable tar archive ({e})") from None


def _csv_rows(fh, name: str):
    """(row number, fields) of a CSV stream from row 1 (the header); what the csv module or
    the text decoding cannot read becomes one DataError naming the row."""
    reader = csv.reader(fh)
    rowno = 0
    try:
        for rowno, row in enumerate(reader, start=1):
            yield rowno, row
    except UnicodeDecodeError as e:
        raise DataError(f"{name}: not UTF-8 text after row {rowno} (byte 0x{e.object[e.start]:02x}); "
                        "save it as UTF-8") from None
    except csv.Error as e:
        hint = " (a binary file?)" if "NUL" in str(e) else " (not a FER2013 CSV?)" if "field limit" in str(e) else ""
        raise DataError(f"{name}: row {rowno + 1}: not readable as CSV ({e}){hint}") from None


def _csv_header(rows, name: str) -> list[str]:
    try:
        return next(rows)[1]
    except StopIteration:
        raise DataError(f"{name}: empty CSV file") from None


def csv_columns(header: Sequence[str], where: str, need: Sequence[str] = ()) -> dict[str, int | None]:
    """Column indices of ``emotion``, ``pixels`` and ``usage`` in a FER2013 CSV header (case and
    spaces ignored; None where absent); a column in ``need`` that is absent is a DataError."""
    names = [h.strip().lower() for h in header]
    for col in need:
        if col not in names:
            raise DataError(f"{where}: missing column {col!r} (header is {','.join(names)})")
    return {c: names.index(c) if c in names else None for c in ("emotion", "pixels", "usage")}


def row_split(row: Sequence[str], usage_col: int | None) -> str | None:
    """The split of a CSV row by its Usage value (no Usage column: train); None when unknown."""
    if usage_col is None:
        return "train"
    return USAGE_TO_SPLIT.get(row[usage_col].strip().lower()) if len(row) > usage_col else None


def _load_csv(path: Path, splits: Sequence[str], skip_bad: bool, progress: bool) -> dict[str, Split]:
    want = set(splits)
    rows: dict[str, tuple[list, list, list]] = {s: ([], [], []) for s in want}
    skipped: dict[str, list[str]] = {s: [] for s in want}
    n_side = INPUT_SIZE
    with _open_csv(path) as (path, fh):
        reader = _csv_rows(fh, path)
        header = _csv_header(reader, path)
        cols = csv_columns(header, path, need=("emotion", "pixels"))
        ie, ip, iu = cols["emotion"], cols["pixels"], cols["usage"]
        if iu is None and want != {"train"}:
            raise DataError(f"{path}: no 'Usage' column, so there is no {'/'.join(sorted(want - {'train'}))} split")
        for rowno, row in reader:
            if not row or all(not c.strip() for c in row):
                continue
            where = f"{path}: row {rowno}"
            split = None
            try:
                if len(row) <= max(ie, ip, iu or 0):
                    raise DataError(f"{where}: expected {len(header)} columns, got {len(row)}")
                split = row_split(row, iu)
                if split is None:
                    raise DataError(f"{where}: unknown Usage {row[iu]!r} (expected {', '.join(SPLIT_USAGE.values())})")
                if split not in want:
                    continue  # never parse rows of splits nobody asked for
                try:
                    label = label_index(row[ie])
                except UnknownLabelError as e:
                    raise DataError(f"{where}: {e}") from None
                pix_text = row[ip].split()
                try:
                    pixels = np.array(pix_text, dtype=np.float32)
                except ValueError:
                    bad = next(t for t in pix_text if not re.fullmatch(r"[0-9.]+", t))
                    raise DataError(f"{where}: non-numeric pixel value {bad[:20]!r}") from None
                side = int(round(np.sqrt(pixels.size)))
                if pixels.size == 0 or side * side != pixels.size:
                    raise DataError(f"{where}: {pixels.size} pixel values, expected {n_side * n_side} (a square image)")
                if not np.isfinite(pixels).all():  # nan slips past the range test below (nan < 0 is False)
                    bad = next(t for t, v in zip(pix_text, pixels) if not np.isfinite(v))
                    raise DataError(f"{where}: pixel value {bad[:20]!r} is not a number in 0..255")
                if pixels.min() < 0 or pixels.max() > 255:
                    raise DataError(f"{where}: pixel values must lie in 0..255")
                face = pixels.astype(np.uint8).reshape(side, side)
                if side != n_side:
                    face = to_face48(face)
            except DataError as e:
                if not skip_bad:
                    raise DataError(f"{e} (use --skip-bad to skip and count bad rows)") from None
                # counted once: in its split, or (split unknown) in the first one asked for
                skipped[split if split in want else splits[0]].append(str(e))
                continue
            imgs, labs, srcs = rows[split]
            imgs.append(face)
            labs.append(label)
            srcs.append(f"row {rowno}")
    out = {}
    for s in splits:
        imgs, labs, srcs = rows[s]
        if not imgs:
            raise DataError(f"{path}: no rows for split {s!r} (Usage {SPLIT_USAGE[s]})")
        out[s] = Split(s, np.stack(imgs), np.array(labs, np.int64), np.array(srcs), skipped[s])
    return out


def _classify_member(rel: str) -> tuple[str, str] | None:
    """'train/happy/Training_1.jpg' -> ('train', 'happy'); '<class>/x.jpg' -> ('train', class)."""
    parts = [p for p in rel.replace("\\", "/").split("/") if p]
    if len(parts) < 2 or Path(parts[-1]).suffix.lower() not in IMAGE_SUFFIXES or parts[-1].startswith("."):
        return None
    if len(parts) >= 3 and parts[-3].lower() in SPLIT_DIRS:
        split = SPLIT_DIRS[parts[-3].lower()]
        fname = parts[-1]
        # Kaggle's test/ folder mixes the two FER2013 test sets; the file prefix says which.
        for candidate in ("val", "test"):
            if fname.startswith(SPLIT_USAGE[candidate] + "_"):
                split = candidate
        return split, parts[-2]
    return "train", parts[-2]


def _tar_csv_member(path: Path) -> str | None:
    """The fer2013.csv inside a tar (Kaggle's original ``fer2013.tar.gz`` holds ``fer2013/fer2013.csv``)."""
    csvs = [n for n in tar_names(path) if n.lower().endswith(".csv") and not Path(n).name.startswith(".")]
    named = [n for n in csvs if Path(n).name.lower() == "fer2013.csv"]
    return (named or csvs or [None])[0]


def _load_tree(path: Path, splits: Sequence[str], skip_bad: bool, progress: bool) -> dict[str, Split]:
    members = list_members(path)
    by_split: dict[str, list[tuple[str, str]]] = {}
    for m in members:
        c = _classify_member(m)
        if c is not None:
            by_split.setdefault(c[0], []).append((m, c[1]))
    missing = [s for s in splits if s not in by_split]
    if missing:
        found = ", ".join(sorted(by_split)) or "no images in <class>/ folders"
        raise DataError(f"{path}: missing split(s) {', '.join(missing)} (found: {found})")
    # check class names before decoding anything
    classes: dict[str, int] = {}
    for s in splits:
        for _, cname in by_split[s]:
            if cname not in classes:
                try:
                    classes[cname] = label_index(cname)
                except UnknownLabelError as e:
                    raise DataError(f"{path}: folder {cname!r}: {e}") from None
    wanted = [m for s in splits for m, _ in by_split[s]]
    stream = read_members(path, wanted)
    if progress:
        stream = iter(progress_bar(stream, total=len(wanted), desc=f"decoding {'+'.join(splits)}", unit="img"))
    archive = not path.is_dir()
    out: dict[str, Split] = {}
    for s in splits:
        items = by_split[s]
        imgs = np.empty((len(items), INPUT_SIZE, INPUT_SIZE), np.uint8)
        labs = np.empty(len(items), np.int64)
        keep = np.zeros(len(items), bool)
        skipped = []
        for i, (m, cname) in enumerate(items):
            _, data = next(stream)
            where = f"{path}::{m}" if archive else str(path / m)
            try:
                if isinstance(data, DataError):
                    raise data
                imgs[i] = decode_image(data, where)
            except DataError as e:
                if not skip_bad:
                    raise DataError(f"{e} (use --skip-bad to skip and count bad files)") from None
                skipped.append(str(e))
                continue
            labs[i] = classes[cname]
            keep[i] = True
        srcs = np.array([m for m, _ in items])
        out[s] = Split(s, imgs[keep], labs[keep], srcs[keep], skipped)
    return out


LOADERS = {}  # detect_format's answer -> the loader of that layout (filled below)


def _load_tar(path: Path, splits: Sequence[str], skip_bad: bool, progress: bool) -> dict[str, Split]:
    """A tar of the image tree, or of fer2013.csv."""
    loader = _load_tree if _tar_csv_member(path) is None else _load_csv
    return loader(path, splits, skip_bad, progress)


def detect_format(path: Path) -> str:
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_file() and path.suffix.lower() == ".csv":
        return "csv"
    if path.is_dir() and (path / "fer2013.csv").is_file():
        return "csv"
    if path.is_file() and tar_compression(path) is not None:
        return "tar"
    if path.is_file() and zipfile.is_zipfile(path):
        return "tree"
    if path.is_dir():
        return "tree"
    raise DataError(f"{path}: not a FER2013 CSV, a zip or tar archive, or a folder of <class>/<images>")


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
        raise DataError(f"{out}: {path} holds a CSV, so its subset is a CSV; name the output *.csv")
    if not is_csv and out_tar is None and out.suffix.lower() != ".zip":
        raise DataError(f"{out}: name the output *.zip, *.tar.gz or *.tar.xz")
    src = path / "fer2013.csv" if fmt == "csv" and path.is_dir() else path
    if out.resolve() == src.resolve():
        raise DataError(f"{out}: the subset would overwrite its own source")
    counts = dict.fromkeys(splits, 0)
    with atomic_path(out) as part:
        if is_csv:
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
        else:
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
            with (tarfile.open(part, f"w:{out_tar}" if out_tar else "w") if out_tar is not None
                  else zipfile.ZipFile(part, "w", zipfile.ZIP_STORED)) as arc:
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
    return counts


def _ferplus_members(members, votes, where):
    """The members FER+ trains and scores on (its votes mostly name an emotion)."""
    from .ferplus import read_votes, trainable, votes_for

    v = votes_for([m for m, _ in members], read_votes(votes), str(where))
    keep = trainable(v)
    return [m for m, k in zip(members, keep) if k]


def available_splits(path) -> list[str]:
    """Which of train/val/test a dataset holds, without decoding images."""
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "csv" or (fmt == "tar" and _tar_csv_member(path) is not None):
        found = set()
        with _open_csv(path) as (name, fh):
            reader = _csv_rows(fh, name)
            iu = csv_columns(_csv_header(reader, name), name)["usage"]
            if iu is None:
                return ["train"]
            for _, row in reader:
                found.add(row_split(row, iu))
        return [s for s in SPLITS if s in found]
    found = {c[0] for m in list_members(path) if (c := _classify_member(m))}
    return [s for s in SPLITS if s in found]


LOADERS.update(csv=_load_csv, tar=_load_tar, tree=_load_tree)
