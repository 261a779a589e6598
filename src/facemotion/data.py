"""FER2013 and user datasets -> uint8 arrays of 48x48 faces and canonical labels.

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

Split names are canonical: ``train`` (Training), ``val`` (PublicTest), ``test``
(PrivateTest). Only the splits asked for are decoded, so training code that asks for
``("train", "val")`` never reads a PrivateTest image.

Decoded splits are cached as ``.npy`` files (keyed by the source's path, size and mtime)
so a second load of the full set takes well under a second.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import io
import lzma
import os
import re
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from .errors import DataError
from .labels import EMOTIONS, UnknownLabelError, label_index
from .preprocess import INPUT_SIZE, to_face48

SPLITS = ("train", "val", "test")
USAGE_TO_SPLIT = {"training": "train", "publictest": "val", "privatetest": "test"}
SPLIT_DIRS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
              "test": "test", "testing": "test"}
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm"}
CACHE_VERSION = "1"


@dataclass
class Split:
    """One split: ``images`` N x 48 x 48 uint8, ``labels`` N int64, ``sources`` N names."""

    name: str
    images: np.ndarray
    labels: np.ndarray
    sources: np.ndarray
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(EMOTIONS))


# ----------------------------------------------------------------------------- helpers


def _cache_dir() -> Path:
    root = os.environ.get("FACEMOTION_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "facemotion")
    return Path(root)


def _cache_key(path: Path, split: str, skip_bad: bool) -> str:
    st = path.stat()
    raw = f"{CACHE_VERSION}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{split}|{skip_bad}|{INPUT_SIZE}"
    if path.is_dir():  # a folder's mtime misses edits inside class folders: hash the listing too
        listing = sorted(str(p.relative_to(path)) + str(p.stat().st_size) for p in path.rglob("*") if p.is_file())
        raw += "|" + hashlib.sha1("\n".join(listing).encode()).hexdigest()
    return hashlib.sha1(raw.encode()).hexdigest()[:20]


def _cache_load(key: str, name: str) -> Split | None:
    d = _cache_dir() / key
    try:
        images = np.load(d / "images.npy", mmap_mode=None)
        labels = np.load(d / "labels.npy")
        sources = np.load(d / "sources.npy")
        skipped = (d / "skipped.txt").read_text().splitlines() if (d / "skipped.txt").exists() else []
    except (OSError, ValueError):
        return None
    return Split(name, images, labels, sources, skipped)


def _cache_save(key: str, split: Split) -> None:
    d = _cache_dir() / key
    tmp = d.with_name(d.name + f".tmp{os.getpid()}")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        np.save(tmp / "images.npy", split.images)
        np.save(tmp / "labels.npy", split.labels)
        np.save(tmp / "sources.npy", split.sources)
        (tmp / "skipped.txt").write_text("\n".join(split.skipped))
        if d.exists():
            return
        os.replace(tmp, d)  # atomic: a half-written cache is never picked up
    except OSError:
        pass  # caching is an optimisation; a read-only home must not break loading
    finally:
        if tmp.exists():
            for f in tmp.iterdir():
                f.unlink()
            tmp.rmdir()


def decode_image(data: bytes, where: str) -> np.ndarray:
    """Encoded image bytes -> 48x48 uint8 gray, or DataError naming ``where``."""
    if not data:
        raise DataError(f"{where}: empty file")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DataError(f"{where}: not a readable image")
    return to_face48(img)


# ----------------------------------------------------------------------------- CSV


@contextlib.contextmanager
def _open_csv(path: Path):
    """Yield (name for messages, text stream) of fer2013.csv: the file, the one in a folder, or
    the one inside a tar (Kaggle's original ``fer2013.tar.gz`` holds ``fer2013/fer2013.csv``)."""
    if path.is_dir():
        path = path / "fer2013.csv"
    if _tar_compression(path) is None:
        with open(path, newline="") as fh:
            yield str(path), fh
        return
    member = _tar_csv_member(path)
    try:
        with tarfile.open(path) as tf, io.TextIOWrapper(tf.extractfile(member), newline="") as fh:
            yield f"{path}::{member}", fh
    except _TAR_ERRORS as e:
        raise DataError(f"{path}: not a readable tar archive ({e})") from None


def _load_csv(path: Path, splits: Sequence[str], skip_bad: bool, progress: bool) -> dict[str, Split]:
    want = set(splits)
    rows: dict[str, tuple[list, list, list]] = {s: ([], [], []) for s in want}
    skipped: dict[str, list[str]] = {s: [] for s in want}
    n_side = INPUT_SIZE
    with _open_csv(path) as (path, fh):
        reader = csv.reader(fh)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise DataError(f"{path}: empty CSV file") from None
        for col in ("emotion", "pixels"):
            if col not in header:
                raise DataError(f"{path}: missing column {col!r} (header is {','.join(header)})")
        ie, ip = header.index("emotion"), header.index("pixels")
        iu = header.index("usage") if "usage" in header else None
        if iu is None and want != {"train"}:
            raise DataError(f"{path}: no 'Usage' column, so there is no {'/'.join(sorted(want - {'train'}))} split")
        for rowno, row in enumerate(reader, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            where = f"{path}: row {rowno}"
            try:
                if len(row) <= max(ie, ip, iu or 0):
                    raise DataError(f"{where}: expected {len(header)} columns, got {len(row)}")
                usage = row[iu].strip().lower() if iu is not None else "training"
                if usage not in USAGE_TO_SPLIT:
                    raise DataError(f"{where}: unknown Usage {row[iu]!r} (expected Training, PublicTest or PrivateTest)")
                split = USAGE_TO_SPLIT[usage]
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
                if pixels.min() < 0 or pixels.max() > 255:
                    raise DataError(f"{where}: pixel values must lie in 0..255")
                face = pixels.astype(np.uint8).reshape(side, side)
                if side != n_side:
                    face = to_face48(face)
            except DataError as e:
                if not skip_bad:
                    raise DataError(f"{e} (use --skip-bad to skip and count bad rows)") from None
                for s in skipped:
                    skipped[s].append(str(e))
                continue
            imgs, labs, srcs = rows[split]
            imgs.append(face)
            labs.append(label)
            srcs.append(f"row {rowno}")
    out = {}
    for s in splits:
        imgs, labs, srcs = rows[s]
        if not imgs:
            raise DataError(f"{path}: no rows for split {s!r} (Usage {_split_usage(s)})")
        out[s] = Split(s, np.stack(imgs), np.array(labs, np.int64), np.array(srcs), skipped[s])
    return out


def _split_usage(split: str) -> str:
    return {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}[split]


# ----------------------------------------------------------------------------- folders and archives

TAR_SUFFIXES = {".tar": "", ".tar.gz": "gz", ".tgz": "gz", ".tar.bz2": "bz2", ".tbz2": "bz2", ".tar.xz": "xz",
                ".txz": "xz"}
# what a damaged tar archive can raise while it is read (a truncated .tar.gz ends in EOFError)
_TAR_ERRORS = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError)


def _tar_compression(path: Path) -> str | None:
    """'gz', 'bz2', 'xz' or '' for a tar file name, None for anything else."""
    name = path.name.lower()
    return next((c for suf, c in TAR_SUFFIXES.items() if name.endswith(suf)), None)


def _classify_member(rel: str) -> tuple[str, str] | None:
    """'train/happy/Training_1.jpg' -> ('train', 'happy'); '<class>/x.jpg' -> ('train', class)."""
    parts = [p for p in rel.replace("\\", "/").split("/") if p]
    if len(parts) < 2 or Path(parts[-1]).suffix.lower() not in IMAGE_EXTS or parts[-1].startswith("."):
        return None
    if len(parts) >= 3 and parts[-3].lower() in SPLIT_DIRS:
        split = SPLIT_DIRS[parts[-3].lower()]
        fname = parts[-1]
        # Kaggle's test/ folder mixes the two FER2013 test sets; the file prefix says which.
        if fname.startswith("PublicTest_"):
            split = "val"
        elif fname.startswith("PrivateTest_"):
            split = "test"
        return split, parts[-2]
    return "train", parts[-2]


def _tar_names(path: Path) -> list[str]:
    """The files in a tar. Listing a compressed tar decompresses all of it, and one load asks
    several times (CSV or images? which splits?), so the listing is kept per file version."""
    st = path.stat()
    try:
        return list(_tar_names_of(str(path.resolve()), st.st_size, st.st_mtime_ns))
    except _TAR_ERRORS as e:
        raise DataError(f"{path}: not a readable tar archive ({e})") from None


@functools.lru_cache(maxsize=8)
def _tar_names_of(path: str, size: int, mtime_ns: int) -> tuple[str, ...]:
    with tarfile.open(path) as tf:
        return tuple(sorted(m.name for m in tf if m.isfile()))


def _list_members(path: Path) -> list[str]:
    """Every file of a folder, zip or tar, as sorted '/'-separated relative names."""
    if path.is_dir():
        return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
    if _tar_compression(path) is not None:
        return _tar_names(path)
    try:
        with zipfile.ZipFile(path) as zf:
            return sorted(n for n in zf.namelist() if not n.endswith("/") and "__MACOSX" not in n)
    except zipfile.BadZipFile:
        raise DataError(f"{path}: not a valid zip file") from None


def _read_members(path: Path, names: Sequence[str]):
    """Yield (name, bytes) for ``names`` in that order, from a folder, zip or tar; a member that
    cannot be read comes as (name, DataError), so ``--skip-bad`` can skip just that file.

    A compressed tar cannot seek, so it is read in one pass: a member is handed out as soon as
    every name before it has been, and only members that come early (a tar not in sorted
    order) wait in memory; the tars ``write_subset`` makes are sorted, so nothing waits.
    """
    if path.is_dir():
        for n in names:
            try:
                data = (path / n).read_bytes()
            except OSError as e:
                data = DataError(f"{path / n}: cannot read ({e.strerror or e})")
            yield n, data
    elif _tar_compression(path) is not None:
        want, early, i = set(names), {}, 0
        try:
            with tarfile.open(path) as tf:
                for m in tf:
                    if m.isfile() and m.name in want:
                        early[m.name] = tf.extractfile(m).read()
                        while i < len(names) and names[i] in early:
                            yield names[i], early.pop(names[i])
                            i += 1
        except _TAR_ERRORS as e:
            raise DataError(f"{path}: not a readable tar archive ({e})") from None
        for n in names[i:]:  # not in the archive after all: decoding names it as an empty file
            yield n, early.pop(n, b"")
    else:
        with zipfile.ZipFile(path) as zf:
            for n in names:
                try:
                    data = zf.read(n)
                except (zipfile.BadZipFile, zlib.error, OSError) as e:  # a bad CRC: that file only
                    data = DataError(f"{path}::{n}: unreadable zip member ({e})")
                yield n, data


def _tar_csv_member(path: Path) -> str | None:
    """The fer2013.csv inside a tar (Kaggle's original ``fer2013.tar.gz`` holds ``fer2013/fer2013.csv``)."""
    csvs = [n for n in _tar_names(path) if n.lower().endswith(".csv") and not Path(n).name.startswith(".")]
    named = [n for n in csvs if Path(n).name.lower() == "fer2013.csv"]
    return (named or csvs or [None])[0]


def _load_tree(path: Path, splits: Sequence[str], skip_bad: bool, progress: bool) -> dict[str, Split]:
    members = _list_members(path)
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
    stream = _read_members(path, wanted)
    if progress:
        from .progress import progress_bar
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


def _load_tar(path: Path, splits: Sequence[str], skip_bad: bool, progress: bool) -> dict[str, Split]:
    """A tar of the image tree, or of fer2013.csv."""
    loader = _load_tree if _tar_csv_member(path) is None else _load_csv
    return loader(path, splits, skip_bad, progress)


# ----------------------------------------------------------------------------- public


def detect_format(path: Path) -> str:
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_file() and path.suffix.lower() == ".csv":
        return "csv"
    if path.is_dir() and (path / "fer2013.csv").is_file():
        return "csv"
    if path.is_file() and _tar_compression(path) is not None:
        return "tar"
    if path.is_file() and zipfile.is_zipfile(path):
        return "tree"
    if path.is_dir():
        return "tree"
    raise DataError(f"{path}: not a FER2013 CSV, a zip or tar archive, or a folder of <class>/<images>")


def load_splits(path: str | os.PathLike, splits: Iterable[str] = SPLITS, *, skip_bad: bool = False,
                cache: bool = True, progress: bool = False) -> dict[str, Split]:
    """Load the requested splits of a dataset. Only those splits are read."""
    path = Path(path)
    splits = tuple(dict.fromkeys(splits))
    for s in splits:
        if s not in SPLITS:
            raise DataError(f"unknown split {s!r}; expected one of {', '.join(SPLITS)}")
    fmt = detect_format(path)
    if fmt == "csv" and path.is_dir():
        path = path / "fer2013.csv"
    out: dict[str, Split] = {}
    todo = []
    for s in splits:
        key = _cache_key(path, s, skip_bad) if cache else None
        hit = _cache_load(key, s) if key else None
        if hit is not None:
            out[s] = hit
        else:
            todo.append((s, key))
    if todo:
        loader = {"csv": _load_csv, "tar": _load_tar}.get(fmt, _load_tree)
        fresh = loader(path, [s for s, _ in todo], skip_bad, progress)
        for s, key in todo:
            out[s] = fresh[s]
            if key:
                _cache_save(key, fresh[s])
    return {s: out[s] for s in splits}


def write_subset(path: str | os.PathLike, out: str | os.PathLike, splits: Iterable[str] = ("train", "val"),
                 *, progress: bool = False) -> dict[str, int]:
    """Copy only some splits of a dataset to a new file; return the number of images per split.

    An image tree (Kaggle's zip or folder, or a tar of it) becomes a ``.zip`` or a ``.tar.gz``
    / ``.tar.xz`` holding the same members, byte for byte (nothing is re-encoded, so the subset
    decodes to exactly the same arrays); a CSV (or a tar holding one) becomes a CSV of those
    rows. The default, ``train`` + ``val``, is everything training reads and not one PrivateTest
    image. For FER2013 the zip is 61 MiB; a ``.tar.gz`` is 47 MiB, because it is compressed as
    one stream and the ~600 bytes of JPEG tables that every small file repeats compress away.
    The file is written under a temporary name and renamed at the end, so an interrupted copy
    never leaves a truncated dataset behind.
    """
    path, out = Path(path), Path(out)
    splits = tuple(dict.fromkeys(splits))
    bad = [s for s in splits if s not in SPLITS]
    if bad or not splits:
        raise DataError(f"unknown split(s) {', '.join(bad) or '(none)'}; expected some of {', '.join(SPLITS)}")
    fmt = detect_format(path)
    is_csv = fmt == "csv" or (fmt == "tar" and _tar_csv_member(path) is not None)
    out_tar = _tar_compression(out)
    if is_csv and out.suffix.lower() != ".csv":
        raise DataError(f"{out}: {path} holds a CSV, so its subset is a CSV; name the output *.csv")
    if not is_csv and out_tar is None and out.suffix.lower() != ".zip":
        raise DataError(f"{out}: name the output *.zip, *.tar.gz or *.tar.xz")
    src = path / "fer2013.csv" if fmt == "csv" and path.is_dir() else path
    if out.resolve() == src.resolve():
        raise DataError(f"{out}: the subset would overwrite its own source")
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    counts = dict.fromkeys(splits, 0)
    try:
        if is_csv:
            with _open_csv(path) as (_, fh), open(part, "w", newline="") as fo:
                reader, writer = csv.reader(fh), csv.writer(fo)
                header = next(reader, [])
                writer.writerow(header)
                names = [h.strip().lower() for h in header]
                iu = names.index("usage") if "usage" in names else None
                for row in reader:
                    if not row or all(not c.strip() for c in row):
                        continue
                    split = USAGE_TO_SPLIT.get(row[iu].strip().lower()) if iu is not None and len(row) > iu else "train"
                    if split in counts:
                        writer.writerow(row)
                        counts[split] += 1
            # the one pass over the CSV also tells which splits it lacks (the .part goes below)
            if missing := [s for s, n in counts.items() if n == 0]:
                raise DataError(f"{path}: missing split(s) {', '.join(missing)} (no rows with Usage "
                                f"{' / '.join(_split_usage(s) for s in missing)})")
        else:
            classified = [(m, c[0]) for m in _list_members(path) if (c := _classify_member(m))]
            if missing := [s for s in splits if not any(sp == s for _, sp in classified)]:
                found = sorted({sp for _, sp in classified})
                raise DataError(f"{path}: missing split(s) {', '.join(missing)} (found: {', '.join(found) or 'none'})")
            members = [(m, sp) for m, sp in classified if sp in counts]
            stream = _read_members(path, [m for m, _ in members])
            if progress:
                from .progress import progress_bar
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
        os.replace(part, out)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return counts


def available_splits(path: str | os.PathLike) -> list[str]:
    """Which of train/val/test a dataset holds, without decoding images."""
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "csv" or (fmt == "tar" and _tar_csv_member(path) is not None):
        found = set()
        with _open_csv(path) as (_, fh):
            reader = csv.reader(fh)
            header = [h.strip().lower() for h in next(reader, [])]
            if "usage" not in header:
                return ["train"]
            iu = header.index("usage")
            for row in reader:
                if len(row) > iu and row[iu].strip().lower() in USAGE_TO_SPLIT:
                    found.add(USAGE_TO_SPLIT[row[iu].strip().lower()])
        return [s for s in SPLITS if s in found]
    found = {c[0] for m in _list_members(path) if (c := _classify_member(m))}
    return [s for s in SPLITS if s in found]
