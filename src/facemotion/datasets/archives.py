"""Reading files out of a folder, a zip or a tar, whatever the dataset inside.

Names are '/'-separated paths relative to the archive's root. Nothing here knows FER2013.
"""

from __future__ import annotations

import functools
import lzma
import os
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import Sequence

from ..errors import DataError

# the largest member read from a folder, zip or tar (a dataset's image, or its CSV): what a
# member says it holds is checked before it is decompressed, and the reading stops past it, so
# a few highly compressed members cannot take gigabytes of memory (override:
# FACEMOTION_MAX_MEMBER_MB)
MAX_MEMBER_BYTES = int(float(os.environ.get("FACEMOTION_MAX_MEMBER_MB", "512")) * 2**20)
IMAGE_MEMBER_BYTES = 32 * 2**20  # an image member of a dataset: far larger than any face photo


def _too_large(where: str, size: int | None, limit: int) -> DataError:
    """``size``: the member's size, or None where reading stopped at the limit (size unknown)."""
    cap = f"the {limit / 2**20:.0f} MiB a dataset member may hold"
    said = f"more than {cap}" if size is None else f"{size / 2**20:.0f} MiB uncompressed, over {cap}"
    return DataError(f"{where}: {said} (a decompression bomb, or not a face dataset)")


def _read_capped(fh, where: str, limit: int) -> bytes:
    """Read a member's stream, stopping past ``limit`` bytes (its header may understate it)."""
    data = fh.read(limit + 1)
    if len(data) > limit:  # how much more there is, reading would not tell without reading it
        raise _too_large(where, None, limit)
    return data


TAR_SUFFIXES = {".tar": "", ".tar.gz": "gz", ".tgz": "gz", ".tar.bz2": "bz2", ".tbz2": "bz2", ".tar.xz": "xz",
                ".txz": "xz"}
# what a damaged tar archive can raise while it is read (a truncated .tar.gz ends in EOFError)
TAR_ERRORS = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError)


def tar_compression(path: Path) -> str | None:
    """'gz', 'bz2', 'xz' or '' for a tar file name, None for anything else, and None for a file
    that is a zip whatever its name (a zip saved as ``.tar.gz`` is read as the zip it is)."""
    name = path.name.lower()
    found = next((c for suf, c in TAR_SUFFIXES.items() if name.endswith(suf)), None)
    if found is not None and path.is_file() and zipfile.is_zipfile(path):
        return None
    return found


def tar_error(path: Path, e: Exception) -> DataError:
    """A tar that cannot be read, in one line (tarfile lists each method it tried on its own line)."""
    why = str(e)
    if "could not be opened successfully" in why:
        why = "not a gzip, bzip2, xz or plain tar file"
    return DataError(f"{path}: not a readable tar archive ({' '.join(why.split())})")


def tar_names(path: Path) -> list[str]:
    """The files in a tar. Listing a compressed tar decompresses all of it, and one load asks
    several times (CSV or images? which splits?), so the listing is kept per file version."""
    st = path.stat()
    try:
        return list(_tar_names_of(str(path.resolve()), st.st_size, st.st_mtime_ns))
    except TAR_ERRORS as e:
        raise tar_error(path, e) from None


@functools.lru_cache(maxsize=8)
def _tar_names_of(path: str, size: int, mtime_ns: int) -> tuple[str, ...]:
    with tarfile.open(path) as tf:
        return tuple(sorted(m.name for m in tf if m.isfile()))


def list_members(path: Path) -> list[str]:
    """Every file of a folder, zip or tar, as sorted '/'-separated relative names."""
    if path.is_dir():
        return _walk(path)
    if tar_compression(path) is not None:
        return tar_names(path)
    try:
        st = path.stat()
        return list(_zip_names_of(str(path), st.st_size, st.st_mtime_ns))
    except zipfile.BadZipFile:
        raise DataError(f"{path}: not a valid zip file") from None


@functools.lru_cache(maxsize=8)
def _zip_names_of(path: str, size: int, mtime_ns: int) -> tuple[str, ...]:
    # listed once per file and version: FER2013's zip holds 35,887 names, 0.7 s to list
    with zipfile.ZipFile(path) as zf:
        return tuple(sorted(n for n in zf.namelist() if not n.endswith("/") and "__MACOSX" not in n))


def _walk(root: Path) -> list[str]:
    """The files under ``root``; a folder that cannot be listed is an error, not a silent gap
    in the dataset."""
    def fail(e: OSError):
        raise DataError(f"{e.filename}: cannot list this folder ({e.strerror or e}); fix its permissions or "
                        "move it out of the dataset")

    out = []
    for folder, _, files in os.walk(root, onerror=fail):
        base = Path(folder).relative_to(root)
        out += [(base / f).as_posix() for f in files]
    return sorted(out)


def unsafe_name(name: str) -> bool:
    """A member name that would leave the archive's root when extracted (absolute, or '..')."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":")


def read_members(path: Path, names: Sequence[str], limit: int = IMAGE_MEMBER_BYTES):
    """Yield (name, bytes) for ``names`` in that order, from a folder, zip or tar; a member that
    cannot be read comes as (name, DataError), so ``--skip-bad`` can skip just that file.

    A compressed tar cannot seek, so it is read in one pass: a member is handed out as soon as
    every name before it has been, and only members that come early (a tar not in sorted
    order) wait in memory; the tars ``write_subset`` makes are sorted, so nothing waits.
    """
    if path.is_dir():
        for n in names:
            try:
                with open(path / n, "rb") as fh:
                    size = os.fstat(fh.fileno()).st_size
                    if size > limit:
                        raise _too_large(str(path / n), size, limit)
                    data = _read_capped(fh, str(path / n), limit)  # a file that grows meanwhile
            except OSError as e:
                data = DataError(f"{path / n}: cannot read ({e.strerror or e})")
            except DataError as e:
                data = e
            yield n, data
    elif tar_compression(path) is not None:
        want, early, i = set(names), {}, 0
        try:
            with tarfile.open(path) as tf:
                for m in tf:
                    if m.isfile() and m.name in want:
                        early[m.name] = (_too_large(f"{path}::{m.name}", m.size, limit) if m.size > limit
                                         else tf.extractfile(m).read())
                        while i < len(names) and names[i] in early:
                            yield names[i], early.pop(names[i])
                            i += 1
        except TAR_ERRORS as e:
            raise tar_error(path, e) from None
        for n in names[i:]:  # not in the archive after all: decoding names it as an empty file
            yield n, early.pop(n, b"")
    else:
        with zipfile.ZipFile(path) as zf:
            yield from _zip_members(zf, path, names, limit)


def _zip_members(zf, path: Path, names: Sequence[str], limit: int):
    for n in names:
        where = f"{path}::{n}"
        try:
            info = zf.getinfo(n)
            if info.file_size > limit:
                raise _too_large(where, info.file_size, limit)
            with zf.open(info) as fh:
                data = _read_capped(fh, where, limit)
        except (zipfile.BadZipFile, zlib.error, OSError, KeyError) as e:  # a bad CRC: that file only
            data = DataError(f"{where}: unreadable zip member ({e})")
        except DataError as e:
            data = e
        yield n, data


def read_sample(path: Path, pick) -> list[bytes]:
    """The bytes of the members ``pick(names)`` chooses from a folder's, zip's or tar's sorted
    names (those that can be read): a zip opened once for both (FER2013's, 0.7 s an opening)."""
    if path.is_file() and tar_compression(path) is None:
        try:
            with zipfile.ZipFile(path) as zf:
                names = pick(sorted(n for n in zf.namelist() if not n.endswith("/") and "__MACOSX" not in n))
                return [d for _, d in _zip_members(zf, path, names, IMAGE_MEMBER_BYTES) if isinstance(d, bytes)]
        except zipfile.BadZipFile:
            raise DataError(f"{path}: not a valid zip file") from None
    return [d for _, d in read_members(path, pick(list_members(path))) if isinstance(d, bytes)]
