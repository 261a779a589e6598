"""FER2013's layouts -> uint8 arrays of 48x48 faces and canonical labels.

Supported layouts (detected automatically):

1. ``fer2013.csv`` with columns ``emotion,pixels,Usage`` (Training / PublicTest / PrivateTest),
   a folder containing it, or a tar holding it (the 2013 challenge's ``fer2013.tar.gz``).
2. Kaggle's folder layout ``train/<emotion>/*.jpg`` and ``test/<emotion>/*.jpg``, extracted or
   in a ``.zip`` or ``.tar(.gz|.bz2|.xz)``; ``PublicTest_*`` / ``PrivateTest_*`` split ``test/``.
3. Any folder (or zip or tar) of ``<class>/<images>`` -- a user's own data, all in ``train``
   (training then holds out a validation fraction); what is hidden is not read.

Only the splits asked for are decoded: training's ``("train", "val")`` never reads a PrivateTest
image. :func:`facemotion.datasets.subsets.write_subset` copies some splits to a new file.
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
from typing import Sequence

import cv2
import numpy as np

from ..errors import DataError
from ..formats import MAX_JPEG_SCANS, jpeg_scans, pil_formats, refusal, sniff
from ..inputs import IMAGE_SUFFIXES, unfinished_crops
from ..labels import UnknownLabelError, label_index
from ..preprocess import INPUT_SIZE, to_face48
from ..progress import progress_bar
from .archives import (
    TAR_ERRORS,
    list_members,
    read_members,
    tar_compression,
    tar_error,
    tar_names,
)
from .splits import SPLIT_DIRS, SPLIT_USAGE, SPLITS, USAGE_TO_SPLIT, Split

# A dataset image is a face for a 48 px model: anything near this size is a mistake or a
# decompression bomb (a 109 KB PNG can declare 30,000 x 20,000 pixels), refused from its header.
MAX_MEMBER_PIXELS = 16_000_000


def decode_image(data: bytes, where: str) -> np.ndarray:
    """Encoded image bytes -> 48x48 uint8 gray, or DataError naming ``where``."""
    if not data:
        raise DataError(f"{where}: empty file")
    if sniff(data[:16]) is None:  # the one allow-list (formats.py), here ahead of OpenCV's decoders
        raise DataError(refusal(where, data[:64]))
    w, h = _header_size(data)
    if w * h > MAX_MEMBER_PIXELS:
        raise DataError(f"{where}: declares {w}x{h} pixels, over the {MAX_MEMBER_PIXELS / 1e6:.0f} MP a dataset image "
                        "may have (not decoded)")
    if jpeg_scans(data) > MAX_JPEG_SCANS:  # each scan a pass over the picture (formats.py): not decoded
        raise DataError(f"{where}: a JPEG of more than {MAX_JPEG_SCANS} scans (encoders write a few dozen; not decoded)")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:  # a JPEG without its end marker, a PNG without IEND: cut short, as load_image says
        cut = b"\xff\xd9" not in data[-64:] if data[:2] == b"\xff\xd8" else data[:4] == b"\x89PNG" and b"IEND" not in data[-12:]
        raise DataError(f"{where}: {'image file is truncated (incomplete download?)' if cut else 'not a readable image'}")
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
        with Image.open(io.BytesIO(data), formats=pil_formats()) as im:
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
        raise tar_error(path, e) from None


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


def _row_face(text: str, where: str) -> np.ndarray:
    """A CSV row's space-separated pixel values -> the face, uint8 on the network's grid."""
    pix_text = text.split()
    try:
        pixels = np.array(pix_text, dtype=np.float32)
    except ValueError:
        bad = next(t for t in pix_text if not re.fullmatch(r"[0-9.]+", t))
        raise DataError(f"{where}: non-numeric pixel value {bad[:20]!r}") from None
    side = int(round(np.sqrt(pixels.size)))
    if pixels.size == 0 or side * side != pixels.size:
        raise DataError(f"{where}: {pixels.size} pixel values, expected {INPUT_SIZE * INPUT_SIZE} (a square image)")
    if not np.isfinite(pixels).all():  # nan slips past the range test below (nan < 0 is False)
        bad = next(t for t, v in zip(pix_text, pixels) if not np.isfinite(v))
        raise DataError(f"{where}: pixel value {bad[:20]!r} is not a number in 0..255")
    if pixels.min() < 0 or pixels.max() > 255:
        raise DataError(f"{where}: pixel values must lie in 0..255")
    face = pixels.astype(np.uint8).reshape(side, side)
    return face if side == INPUT_SIZE else to_face48(face)


def _load_csv(path: Path, splits: Sequence[str], skip_bad: bool, progress: bool) -> dict[str, Split]:
    want = set(splits)
    rows: dict[str, tuple[list, list, list]] = {s: ([], [], []) for s in want}
    skipped: dict[str, list[str]] = {s: [] for s in want}
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
                face = _row_face(row[ip], where)
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
    if len(parts) < 2 or Path(parts[-1]).suffix.lower() not in IMAGE_SUFFIXES or any(
            p.startswith(".") and p not in (".", "..") for p in parts):  # (hidden; ".." is refused later)
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


def folder_class(member: str) -> str | None:
    """The class folder an image was read from ('train/contempt/x.png' -> 'contempt'); None: a CSV's."""
    c = _classify_member(member)
    return None if c is None else c[1]


def _tar_csv_member(path: Path) -> str | None:
    """The fer2013.csv inside a tar (Kaggle's original ``fer2013.tar.gz`` holds ``fer2013/fer2013.csv``)."""
    csvs = [n for n in tar_names(path) if n.lower().endswith(".csv") and not Path(n).name.startswith(".")]
    named = [n for n in csvs if Path(n).name.lower() == "fer2013.csv"]
    return (named or csvs or [None])[0]


def _load_tree(path: Path, splits: Sequence[str], skip_bad: bool, progress: bool) -> dict[str, Split]:
    if path.is_dir() and (cut := unfinished_crops(path)):
        raise DataError(cut)
    by_split: dict[str, list[tuple[str, str]]] = {}
    where: dict[str, str] = {}  # a class folder's name -> the first folder of that name (for a message)
    for m in list_members(path):
        c = _classify_member(m)
        if c is not None:
            by_split.setdefault(c[0], []).append((m, c[1]))
            where.setdefault(c[1], m.rsplit("/", 1)[0])
    if not by_split:
        raise DataError(f"{path}: no images in <emotion>/ folders (nor a FER2013 dataset's train/val/test parts)")
    missing = [s for s in splits if s not in by_split]
    if missing:
        raise DataError(f"{path}: missing split(s) {', '.join(missing)} (found: {', '.join(sorted(by_split))})")
    # check class names before decoding anything
    classes: dict[str, int] = {}
    for s in splits:
        for _, cname in by_split[s]:
            if cname not in classes:
                try:
                    classes[cname] = label_index(cname)
                except UnknownLabelError as e:
                    raise DataError(f"{path}: folder {where[cname]!r}: {e}") from None
    wanted = [m for s in splits for m, _ in by_split[s]]
    imgs, errors = decode_members(path, wanted, skip_bad=skip_bad,
                                  desc=f"decoding {'+'.join(splits)}" if progress else None)
    out: dict[str, Split] = {}
    start = 0
    for s in splits:
        items = by_split[s]
        span = slice(start, start + len(items))
        start += len(items)
        keep = np.array([e is None for e in errors[span]], bool)
        labs = np.array([classes[cname] for _, cname in items], np.int64)
        srcs = np.array([m for m, _ in items])
        out[s] = Split(s, imgs[span][keep], labs[keep], srcs[keep], [e for e in errors[span] if e is not None])
    return out


def decode_members(path: Path, names: Sequence[str], *, skip_bad: bool = False,
                   desc: str | None = None) -> tuple[np.ndarray, list[str | None]]:
    """The images ``names`` of a folder, zip or tar decoded as the training faces are: (N x 48 x
    48 uint8, one error per name: None where it decoded). A bad file stops the read with its
    one-line error unless ``skip_bad`` (then its slot is left blank and its error kept);
    ``desc`` titles a progress bar."""
    stream = read_members(path, names)
    if desc is not None:
        stream = iter(progress_bar(stream, total=len(names), desc=desc, unit="img"))
    archive = not path.is_dir()
    imgs = np.zeros((len(names), INPUT_SIZE, INPUT_SIZE), np.uint8)
    errors: list[str | None] = []
    for i, (m, data) in enumerate(stream):
        where = f"{path}::{m}" if archive else str(path / m)
        try:
            if isinstance(data, DataError):
                raise data
            imgs[i] = decode_image(data, where)
            errors.append(None)
        except DataError as e:
            if not skip_bad:
                raise DataError(f"{e} (use --skip-bad to skip and count bad files)") from None
            errors.append(str(e))
    return imgs, errors


LOADERS = {}  # detect_format's answer -> the loader of that layout (filled below)


def _load_tar(path: Path, splits: Sequence[str], skip_bad: bool, progress: bool) -> dict[str, Split]:
    """A tar of the image tree, or of fer2013.csv."""
    loader = _load_tree if _tar_csv_member(path) is None else _load_csv
    return loader(path, splits, skip_bad, progress)


def detect_format(path: Path) -> str:
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if (path.is_file() and path.suffix.lower() == ".csv") or (path.is_dir() and (path / "fer2013.csv").is_file()):
        return "csv"
    if path.is_file() and tar_compression(path) is not None:
        return "tar"
    if path.is_dir() or zipfile.is_zipfile(path):
        return "tree"
    with path.open("rb") as fh:  # a zip cut short (a download stopped): its end is missing
        if fh.read(4) == b"PK\x03\x04":
            raise DataError(f"{path}: a zip archive cut short or damaged (no directory at its end); copy it again")
    raise DataError(f"{path}: not a FER2013 CSV, a zip or tar archive, or a folder of <class>/<images>")


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
