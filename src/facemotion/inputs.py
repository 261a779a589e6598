"""The inputs a command is given: files, folders and globs -> the files to read, in a stable order."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError
from .fileio import check_input_file

# what a folder's files count as images and videos (by name, to list them; each is then read by its content:
# facemotion.formats)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".jfif",
                  ".avif", ".heic", ".heif"}
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp",
                  ".ts", ".mts", ".m2ts"}  # MPEG transport streams: broadcasts, camcorders (AVCHD)


# what `facemotion data crops` writes first in its folder ("complete": false) and completes last
CROPS_MARKER = ".facemotion-crops.json"


def unfinished_crops(folder) -> str | None:
    """The one line for a folder of crops whose `facemotion data crops` run was cut short (its
    marker says so): reading it would train or score on part of the photos; None otherwise."""
    import json
    import shlex

    try:
        marker = json.loads((Path(folder) / CROPS_MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("complete", True):
        return None
    detector = f" --detector {shlex.quote(str(marker['detector']))}" if marker.get("detector") else ""
    again = (f"facemotion data crops {shlex.quote(str(marker.get('photos_from') or 'PHOTOS'))} --out "
             f"{shlex.quote(str(folder))}{detector}")
    return f"{folder}: its `facemotion data crops` run was cut short, so it holds part of the faces: finish it ({again})"


def _is(path: Path, test: str) -> bool:
    """``path.exists()``/``is_dir()``/``is_file()`` that say False where the OS refuses the
    question (a name too long for the file system): load_image then names the problem."""
    try:
        return getattr(path, test)()
    except OSError:
        return False


def _input_entry(path: Path) -> bool:
    """Whether a folder's or a glob's entry is an input: anything but a folder, and a ``.ts`` file
    only as an MPEG transport stream (its sync byte 0x47 first, or fifth), not TypeScript source. A broken or
    looping link, a FIFO, a device are inputs too, so that reading them reports them (one error
    each), rather than the run passing over them in silence."""
    if _is(path, "is_dir"):
        return False
    if path.suffix.lower() == ".ts" and _is(path, "is_file"):
        try:
            with open(path, "rb") as f:  # (192-byte packets: after a 4-byte time code)
                head = f.read(5)
            return head[:1] == b"\x47" or head[4:5] == b"\x47"
        except OSError:  # unreadable: an input, whose reading says why
            return True
    return True


def unique(paths) -> list:
    """``paths`` without the later names of a path named before: ``./a.jpg``, ``a.jpg``,
    ``x/../a.jpg`` and its absolute path are one input. Links keep their own names (a folder of
    links to shared files is that many inputs, each under its name)."""
    first: dict = {}
    for p in paths:
        first.setdefault(os.path.abspath(p), p)
    return list(first.values())


def _loop_free(matches: list[str]) -> list[str]:
    """A glob's matches less those reached through a link to a folder that holds the link
    (``**`` follows links: through ``a/up -> ..`` it finds ``a/up/a/up/a/x.jpg``, ..., level after
    level, until the system refuses the name)."""
    loops: dict[str, bool] = {}

    def looping(folder: str) -> bool:
        if folder in ("", os.sep, ".") or folder in loops:
            return loops.get(folder, False)
        parent = os.path.dirname(folder)
        loops[folder] = looping(parent) or (os.path.islink(folder) and _within(os.path.realpath(parent or "."),
                                                                               os.path.realpath(folder)))
        return loops[folder]

    return [m for m in matches if not looping(os.path.dirname(m))]


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def expand_inputs(paths, suffixes=IMAGE_SUFFIXES, skip=(), linked: list | None = None) -> list[Path]:
    """CLI arguments (files, folders, globs) -> files, in a stable order, each once
    (:func:`unique`). A folder (named, or matched by a glob) contributes its files (recursively) whose suffix is in
    ``suffixes``, but not hidden ones (``.git/``, macOS's ``._photo.jpg``); a folder's or a glob's
    files under a folder in ``skip`` (the command's own output folder, so that a rerun does not
    read its outputs back) are left out, unless the folder named lies in it. A file named as such
    is always an input. ``linked``: a list to which the links to folders found inside a folder
    are added (they are not followed: a link to ``/`` or back up the tree would walk forever),
    for the command to say so. A folder that cannot be listed (permissions, a name too long
    for the system) is an input itself, so that reading it says why its files are not read."""
    skip = [os.path.realpath(s) for s in skip if s is not None]  # a link to it, or through one, is it
    real = functools.lru_cache(maxsize=None)(os.path.realpath)  # a folder's, once for all its files
    out: list[Path] = []
    for p in paths:
        p = str(p)
        if not p:  # Path("") is ".": an empty name would read the current folder
            raise UsageError("'': an empty name among the inputs (. is the current folder)")
        if p.lower().startswith("file://"):  # Path() would fold it to "file:/x", which names nothing
            check_input_file(p, UsageError, "an input")  # its one line: give the path
        if any(ch in p for ch in "*?[") and not _is(Path(p), "exists"):
            matches = sorted(_glob(p))
            out.extend(_glob_inputs(_loop_free(matches), suffixes, skip, real))
            if not matches:
                out.append(Path(p))  # reported later as "no such file"
        elif _is(Path(p), "is_dir"):
            inside = [s for s in skip if not _within(os.path.realpath(p), s)]  # unless the folder named is in it
            out.extend(sorted(_walk(p, suffixes, inside, real, linked)))
        else:
            out.append(Path(p))
    # a file named twice (a folder and a glob over it) is one input with one set of outputs
    return unique(out)


def _glob(pattern: str) -> list[str]:
    """``glob.glob(pattern, recursive=True)``, but ``**`` does not enter a link to a folder it is
    already in: glob's own follows it, and two such links make the list grow level after level,
    for minutes, until the system refuses the name. Links elsewhere are followed, as glob does."""
    import glob

    parts = pattern.replace(os.altsep, os.sep).split(os.sep) if os.altsep else pattern.split(os.sep)
    if "**" not in parts:
        return glob.glob(pattern)
    at = parts.index("**")
    head, rest = os.sep.join(parts[:at]) or (os.sep if at else ""), os.sep.join(parts[at + 1:])
    out: list[str] = []
    for top in glob.glob(head) if glob.has_magic(head) else [head]:
        if top and not _is(Path(top), "is_dir"):
            continue
        stack = [(top, frozenset())]  # (a folder's name, the real places of the folders it lies in)
        while stack:
            name, above = stack.pop()
            real = os.path.realpath(name or os.curdir)
            if real in above:  # a link back into a folder it lies in
                continue
            try:
                with os.scandir(name or os.curdir) as it:
                    entries = [(e.name, _entry_is_dir(e)) for e in it if not e.name.startswith(".")]
            except OSError:  # a folder that cannot be listed: an input, whose reading says why
                out.append(name)
                continue
            sub = os.path.join(name, "") if name else ""
            if rest:  # the rest of the pattern, in this folder (its own name read as it is, "[2019]" too)
                out.extend(_glob(glob.escape(sub) + rest))
            else:  # "x/**": x/ and everything below it; "x/**/": the folders only; "**": below "."
                if name:
                    out.append(name if name != top and parts[-1] else sub)
                if parts[-1]:
                    out.extend(sub + n for n, is_dir in entries if not is_dir)
            stack.extend((sub + n, above | {real}) for n, is_dir in entries if is_dir)
    return out


def _entry_is_dir(entry) -> bool:
    try:
        return entry.is_dir()  # through a link, as glob
    except OSError:
        return False


def _glob_inputs(matches: list[str], suffixes, skip: list, real) -> list[Path]:
    """A glob's matches as inputs: a file as it is, a folder as its files (as a folder named is
    read), each folder walked once (``**`` also matches the folders inside one)."""
    out, walked = [], set()
    for m in matches:
        if _skipped(m, skip, real):
            continue
        if not _is(Path(m), "is_dir"):
            out.append(Path(m))
        # a link to a folder is not followed, as in a folder's walk (it may lead back up)
        elif not os.path.islink(m.rstrip(os.sep)) and not any(str(up) in walked for up in Path(m).parents) \
                and not any(_within(real(m.rstrip(os.sep) or os.sep), s) for s in skip):  # the output folder: not read
            walked.add(str(Path(m)))
            out.extend(sorted(_walk(m, suffixes, skip, real)))
    return out


def _walk(folder: str, suffixes, skip: list, real, linked: list | None = None):
    """The files below ``folder`` with a suffix in ``suffixes``, leaving out hidden entries and the
    folders of ``skip`` without listing them (a ``.git/`` of 100,000 objects costs nothing).
    Links to folders are not followed, as ``Path.rglob`` does not follow them (added to
    ``linked``, where given)."""
    unlisted: list = []  # a folder os.walk cannot list: an input, whose reading says why
    for top, folders, files in os.walk(folder, onerror=unlisted.append):
        while unlisted:
            yield Path(unlisted.pop().filename)
        folders[:] = [d for d in folders if not d.startswith(".")
                      and not (skip and any(_within(real(os.path.join(top, d)), s) for s in skip))]
        if linked is not None:
            linked.extend(Path(top, d) for d in folders if os.path.islink(os.path.join(top, d)))
        for name in files:
            f = Path(top, name)
            if not name.startswith(".") and f.suffix.lower() in suffixes and _input_entry(f):
                yield f
    yield from (Path(e.filename) for e in unlisted)


def _skipped(path, skip: list, real) -> bool:
    """Whether ``path`` lies in a folder of ``skip`` (its folder's real path: ``real``, cached)."""
    return bool(skip) and any(_within(real(os.path.dirname(os.path.abspath(path))), s) for s in skip)


def web_names(paths) -> dict:
    """The web addresses among ``paths`` (arguments), by the ``Path`` an input list holds them as
    (which folds ``https://x`` to ``https:/x``): the name a record and a message give them."""
    return {Path(p): str(p) for p in paths if "://" in str(p) and not _is(Path(p), "exists")}


def linked_note(linked: list) -> str | None:
    """The note on the links to folders an input folder holds (:func:`expand_inputs`' ``linked``),
    which are not read; None where there are none."""
    from .names import count, shown

    if not linked:
        return None
    them = "them" if len(linked) > 1 else "it"
    return (f"{count(len(linked), 'linked folder')} ({shown(str(linked[0]))}{', ...' if len(linked) > 1 else ''}) "
            f"not read: links to folders are not followed; name {them} among the inputs to read {them}")


def animated(path: str) -> bool:
    """Whether the GIF at ``path`` holds more than one frame: read as a clip (a row per face per
    frame, as ``facemotion video`` reads it) by batch, not as its first frame alone. Pillow looks for a
    second frame without decoding the first; a file it cannot open is left to the reader to
    refuse, as a photo."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return bool(getattr(im, "is_animated", False))
    except Exception:  # noqa: BLE001 - read later as a photo, and its error row says what is wrong
        return False


def left_out_videos(paths, for_videos: str) -> str | None:
    """The clips in the folders among ``paths``, which a photo command does not read, named in a
    note with ``for_videos`` (the command that reads them); None when there are none."""
    from .names import shown

    clips = [c for c in expand_inputs([p for p in paths if _is(Path(p), "is_dir")], VIDEO_SUFFIXES)
             if not _is(c, "is_dir")]  # (a folder that cannot be listed is no clip)
    if not clips:
        return None
    s = "s" if len(clips) > 1 else ""
    return f"{len(clips)} video{s} ({shown(str(clips[0]))}{', ...' if s else ''}) left out; {for_videos}"


def animated_note(paths) -> str | None:
    """The animated GIFs among ``paths``, of which a photo command reads the first frame, named in
    a note; None when there are none."""
    from .names import shown

    gifs = [p for p in paths if Path(p).suffix.lower() == ".gif" and animated(p)]
    if not gifs:
        return None
    s = "s" if len(gifs) > 1 else ""
    return (f"{len(gifs)} animated GIF{s} ({shown(str(gifs[0]))}{', ...' if s else ''}) read as {'their' if s else 'its'} "
            "first frame; facemotion video and facemotion batch read every frame")


@dataclass(frozen=True)
class Stream:
    """A live stream read as a camera is: an IP camera's ``rtsp://...``, an MJPEG ``http://...``
    (a string with a live scheme, ``rtsp://`` and the like, is one already)."""

    url: str
