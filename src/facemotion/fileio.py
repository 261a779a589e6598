"""Writing files so that nobody ever reads half of one.

Every output facemotion writes whole (JSON, images, plots, checkpoints, ONNX files, dataset
subsets, the dataset cache) goes through :func:`atomic_path`: the data is written to a
hidden temporary name beside the target and renamed over it at the end. ``os.replace`` is
atomic, so a reader (or a rerun after a kill) sees the old file or the new one, never a
truncated one, and a failed write leaves no temporary file behind.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
from pathlib import Path
from typing import Iterator


def temp_path(path: str | os.PathLike) -> Path:
    """The hidden temporary name :func:`atomic_path` writes ``path`` under (same folder, same
    suffix, so writers that choose the format by extension still work)."""
    path = Path(path)
    stem = path.stem
    try:
        fits = len(stem.encode("utf-8")) <= 200
    except UnicodeEncodeError:  # a name that is not UTF-8: encoders (OpenCV, FFmpeg) cannot open it
        fits = False
    if not fits:  # nor one that, lengthened, would pass the 255-byte limit of a name
        stem = "facemotion-" + hashlib.sha1(stem.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return path.with_name(f".{stem}.tmp{os.getpid()}{path.suffix}")


class PendingFile:
    """A file (or folder) being written under :func:`temp_path` that becomes ``path`` on
    :meth:`commit` or disappears on :meth:`discard`; for writers that outlive one ``with``
    block (a video encoder). :func:`atomic_path` is the usual way in."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = temp_path(self.path)
        self.discard()  # a leftover (or a planted link) under the temporary name is never written through

    def commit(self, replace: bool = True) -> Path:
        if replace or not self.path.exists():
            os.replace(self.tmp, self.path)
        self.discard()  # a copy that was not needed (replace=False) goes
        return self.path

    def discard(self) -> None:
        if self.tmp.is_dir():
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            self.tmp.unlink(missing_ok=True)


def remove_stale_temps(path) -> None:
    """The temporary copies of ``path`` that killed processes left (``.name.tmp<pid>.xz``, the
    process gone from this machine), which a rerun kept beside the finished file; one whose
    process runs is left. For a long job's one output (its folder is listed once): not run on
    every write, where a large folder would be listed for each file, nor for folders other
    machines write to (their processes are not seen here)."""
    tmp = temp_path(path)
    head, _, rest = tmp.name.rpartition(".tmp")
    suffix = rest[len(str(os.getpid())):]
    with contextlib.suppress(OSError):
        for p in [p for p in tmp.parent.iterdir() if p.name.startswith(head + ".tmp") and p.name.endswith(suffix)]:
            pid = p.name[len(head) + 4:len(p.name) - len(suffix)]
            if not pid.isdigit() or int(pid) == os.getpid() or int(pid) > 2**22:  # (Linux's largest number)
                continue
            try:
                os.kill(int(pid), 0)
                continue  # the process lives (a write under way, or another under a reused number)
            except ProcessLookupError:
                pass
            except OSError:  # another user's process: alive
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to (a file, or a folder for
    ``mkdir``); it becomes ``path`` when the block ends normally, and is removed when it
    raises (a KeyboardInterrupt too).

    ``replace=False`` keeps an existing ``path`` (another process finished it first: the
    dataset cache, whose content is the same either way) and drops the new copy.
    """
    pending = PendingFile(path)
    try:
        yield pending.tmp
        pending.commit(replace)
    except OSError as e:
        # a failed write is ``path``'s failure: name it, not its temporary name (which open()
        # gives, and which is gone), nor nothing (write() names no file)
        named = e.filename is not None and str(e.filename) == str(pending.tmp)
        if named or (e.filename is None and e.errno in _WRITE_ERRORS):
            raise OSError(e.errno, e.strerror or str(e), str(pending.path)) from None
        raise
    finally:
        pending.discard()


_WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS}


def same_file(path) -> str:
    """The file a path names, however it is named (through links, in any case a file system
    folds): two paths of one key write one file. An output never replaces an input by it."""
    return os.path.normcase(os.path.realpath(path))


def refuse_inside(path: str | os.PathLike, option: str, reads) -> None:
    """Refuse an output folder ``path`` that lies in a folder the job reads (``reads``: (what, folder)
    pairs): the next run would read what this one writes as its data."""
    from .errors import UsageError
    from .names import shown

    for what, folder in reads:  # (a folder read through its fer2013.csv reads no folder in it)
        if folder and Path(folder).is_dir() and not (Path(folder) / "fer2013.csv").is_file():
            r, o = Path(folder).resolve(), Path(path).resolve()
            if o == r or r in o.parents:
                raise UsageError(f"{option} {shown(path)}: inside {what} {shown(folder)}; the next run would read what "
                                 "this one writes there as its data: write it to a folder of its own")


def check_writable(path: str | os.PathLike, option: str, *, folder: bool = True, suffix: str | None = None,
                   inputs=(), reads=()) -> None:
    """Fail now, in one line naming ``option`` and ``path``, where an output folder (or, with
    ``folder=False``, the folder of an output file) could not be written at the end of a long job,
    whose result would then be lost. A file is made and removed in the nearest folder that exists
    (nothing is left behind; what the system refuses, root's immutable folders too, shows). An
    output file must be a file name (ending in ``suffix``, where given), not a folder, a device or
    a pipe (which the atomic write would replace), nor one of the job's ``inputs``; an output folder
    not inside a folder the job reads (``reads``: :func:`refuse_inside`)."""
    import tempfile

    from .errors import FacemotionError

    if not folder:
        _check_output_file(path, option, suffix, inputs)
    elif Path(path).exists() and not Path(path).is_dir():  # the option's value is wrong, as -o photo.jpg's is
        from .errors import UsageError

        raise UsageError(f"{option} {path}: is a file, not a folder")
    if folder:
        refuse_inside(path, option, reads)
    where = Path(path) if folder else Path(path).parent
    where = next((p for p in (where, *where.parents) if p.exists()), Path("."))
    if not where.is_dir():  # the option names a path no folder can be made at, as -o photo.jpg does (exit 2)
        from .errors import UsageError

        raise UsageError(f"{option} {path}: {where} is a file, not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=where, prefix=".facemotion-check-"):
            pass
    except OSError as e:
        raise FacemotionError(f"{option} {path}: cannot write there ({e.strerror or e})") from None


def _check_output_file(path, option: str, suffix: str | None, inputs) -> None:
    from .errors import UsageError

    p = Path(path)
    if not os.fspath(path) or p.name in ("", ".", ".."):
        raise UsageError(f"{option} {os.fspath(path)!r}: give a file name")
    if p.is_dir():
        raise UsageError(f"{option} {path}: is a folder; give a file name")
    if p.exists() and not p.is_file():
        raise UsageError(f"{option} {path}: not a regular file (a device or a pipe); give a file name")
    if suffix and p.suffix.lower() != suffix:
        raise UsageError(f"{option} {path}: the file's name must end in {suffix}")
    for i in inputs:
        if p.exists() and Path(i).exists() and os.path.samefile(p, i):
            raise UsageError(f"{option} {path}: is the input {i}; write to another file")


@contextlib.contextmanager
def made_folders_kept_on_success(path: str | os.PathLike, *, empty: bool = True):
    """The folders of ``path`` (itself and its parents) that do not exist yet and that the block
    makes are removed again, where empty, when the block fails: a command refused or stopped
    before its result leaves no empty folder where one would be looked for. ``empty=False``: also
    when it succeeds (a folder for copies that no input gave)."""
    made = [p for p in (Path(path), *Path(path).parents) if not p.exists()]
    try:
        yield
    except BaseException:
        _remove_empty(made)
        raise
    if not empty:
        _remove_empty(made)


def _remove_empty(folders) -> None:
    for folder in folders:  # the deepest first: a parent is empty once its made child is gone
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def open_text(path: str | os.PathLike, mode: str = "a"):
    """Open a text file that is written as it goes (a CSV log, appended or flushed row by row)
    without following a symbolic link at ``path``: a link planted in an output folder must not
    send our rows to a file outside it. ``mode``: "a" (append, create) or "w" (truncate, create)."""
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as e:
        if path.is_symlink():
            raise OSError(e.errno, "is a symbolic link; refusing to write through it", str(path)) from None
        raise
    return os.fdopen(fd, mode, newline="", encoding="utf-8")


def web_address(path: str | os.PathLike) -> str | None:
    """``path`` as the web address it names (``https://...``, also after a Path folded its
    ``//`` into ``/``), or None."""
    import re

    m = re.match(r"(?i)(https?|ftp|s3|gs):/+(.*)", os.fspath(path))
    return f"{m[1]}://{m[2]}" if m else None


# the schemes of live streams (an IP camera's RTSP, a broadcaster's RTMP or SRT): never a file
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "srt", "udp", "tcp", "rtp")


def stream_address(path: str | os.PathLike, schemes=STREAM_SCHEMES) -> str | None:
    """``path`` as the address of a live stream it names (``rtsp://...``, also after a Path
    folded its ``//``), or None; ``schemes`` the ones that count."""
    import re

    m = re.match(rf"(?i)({'|'.join(schemes)}):/+(.*)", os.fspath(path))
    return f"{m[1].lower()}://{m[2]}" if m else None


def without_password(url: str) -> str:
    """A stream's address as it may be printed and written: a password in it masked
    (``rtsp://admin:***@cam/...``)."""
    import re

    return re.sub(r"^([a-z]+://[^/@:]*:)[^/@]*@", r"\1***@", url)


def check_input_file(path: str | os.PathLike, error: type[Exception], kind: str) -> Path:
    """``path`` as an input that exists, is a file and is not empty, or ``error`` with one line
    naming it ("is a folder, not <kind>"), also for what the OS refuses (permissions, a name too
    long for the file system)."""
    import errno
    import stat

    raw = os.fsdecode(path)
    if not raw:  # Path("") is "." (the current folder): an empty name would read a folder
        raise error(f"'': an empty name, not {kind} file")
    if raw.lower().startswith("file://"):  # Path() folds "file:///x" to "file:/x", which names nothing
        from urllib.parse import unquote, urlsplit

        raise error(f"{raw}: a file URL; give its path ({unquote(urlsplit(raw).path)})")
    path = Path(path)
    try:
        try:
            st = path.stat()
        except FileNotFoundError:
            if path.is_symlink():
                raise error(f"{path}: broken symbolic link (to {os.readlink(path)}, which does not exist)") from None
            if url := web_address(path):
                url = without_password(url)  # a message may end up in a log
                pipe = f", or pipe it in (curl -s {url} | facemotion image -)" if kind == "an image" else ""
                live = (f"; a camera's live stream: facemotion webcam --camera {url} (in Python: "
                        "facemotion.inputs.Stream(url))") if kind == "a video" else ""
                raise error(f"{url}: a web address; facemotion reads files on this machine (it works offline): "
                            f"download it first (curl -sO {url}){pipe}{live}") from None
            if url := stream_address(path):
                url = without_password(url)
                raise error(f"{url}: a live stream, not {kind} file: facemotion webcam --camera {url} reads it") from None
            if raw == "-" and kind == "a video":  # as image and batch read stdin, video does not
                raise error("-: a video is read from its file (facemotion video CLIP.mp4), not from stdin") from None
            raise error(f"{path}: no such file") from None
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise error(f"{path}: symbolic link loop (the link leads back to itself)") from None
            raise
        if stat.S_ISDIR(st.st_mode):
            try:  # a folder among a folder's files is one that could not be listed (facemotion.inputs)
                os.scandir(path).close()
            except OSError as e:
                raise error(f"{path}: a folder that cannot be read ({e.strerror or e}): its files are left out") from None
            raise error(f"{path}: is a folder, not {kind}")
        if not stat.S_ISREG(st.st_mode):
            what = ("a named pipe (FIFO)" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode)
                    or stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
            piped = "; a photo piped in is read as - (cat photo.jpg | facemotion image -)" if \
                stat.S_ISFIFO(st.st_mode) and kind == "an image" else ""
            raise error(f"{path}: is {what}, not {kind} (give a regular file{piped})")
        if st.st_size == 0:
            raise error(f"{path}: empty file (0 bytes)")
    except OSError as e:  # a name past the file system's limit is shown cut (a pasted blob of text)
        named = path if len(raw) <= 200 else f"{raw[:80]}... ({len(raw)} characters)"
        raise error(f"{named}: cannot read ({e.strerror or e})") from None
    return path


def lock(fd: int, shown, command: str) -> None:
    """An exclusive lock on the open file ``fd`` for as long as it stays open (closing it, or the
    process ending, releases it); held by another, ``fd`` is closed and the run refused:
    ``<shown>: another `facemotion <command>` is writing it``."""
    import fcntl

    from .errors import FacemotionError

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FacemotionError(f"{shown}: another `facemotion {command}` is writing it") from None
    except OSError as e:
        if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP):  # a file system without locks
            return  # (some network and FUSE mounts): the run goes on, unguarded, as before locks
        os.close(fd)
        raise


def hold_lock(path: str | os.PathLike, command: str, shown) -> int:
    """:func:`lock` on ``path``, a hidden file beside the outputs it guards, made for the run and
    removed by :func:`release_lock`; returns its descriptor."""
    while True:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        lock(fd, shown, command)
        try:  # the file locked must still be the one named: a run releasing it may have removed it
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def release_lock(path: str | os.PathLike, fd: int) -> None:
    """The lock of :func:`hold_lock` given up, its file removed (while still held, so that no
    run that opened it meanwhile takes a file nobody else will see)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    os.close(fd)
