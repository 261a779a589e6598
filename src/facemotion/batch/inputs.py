"""A batch job's inputs: command-line arguments -> the ordered list of :class:`Item` to process.

An argument is a file, a folder (its images and videos, recursively), a glob (``**``
allowed), or a text file listing paths (``.txt`` / ``.lst``: one per line, ``#`` comments;
relative lines are taken from the list file's folder, and a line may itself be a folder or
a glob). Every input is kept under the path string it was found as: that string is the key
a resumed run skips done inputs by (with the place each was at, :func:`.layout.place_of`, so a
rerun that names the same files otherwise skips them too).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import FacemotionError
from ..inputs import IMAGE_SUFFIXES, VIDEO_SUFFIXES, animated, expand_inputs, linked_note, unique, web_names
from ..names import fit_stems, shown
from ..writers import output_stems

LIST_SUFFIXES = {".txt", ".lst"}
MEDIA_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES


@dataclass(frozen=True)
class Item:
    index: int
    path: str
    kind: str  # "image" or "video" (by suffix, and an animated GIF; anything else is tried as an image)
    stem: str  # unique output stem among the job's inputs (annotated images)


def kind_of(path: str) -> str:
    suffix = Path(path).suffix.lower()
    return "video" if suffix in VIDEO_SUFFIXES or suffix == ".gif" and animated(path) else "image"


def read_list(path: Path) -> list[str]:
    """The entries of a list file, relative ones joined to its folder."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise FacemotionError(f"{path}: cannot read the list of inputs ({e})") from None
    out = []
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):  # a web address as it is: its row names it so
            out.append(line if Path(line).is_absolute() or "://" in line else str(path.parent / line))
    return out


def expand(args, skip=(), notes: bool = True) -> list[Item]:
    """Arguments -> items in argument order (folders sorted), each path once; a folder's files
    under a folder in ``skip`` left out (:func:`~facemotion.inputs.expand_inputs`). ``notes``:
    say a pattern that matches nothing and the links to folders not followed (False: a count
    made before the run, which says them)."""
    paths: list[str] = []
    linked: list = []
    for a in args:
        a = str(a)
        if Path(a).suffix.lower() in LIST_SUFFIXES and Path(a).is_file():
            listed = read_list(Path(a))
            named = web_names(listed)
            paths += [named.get(p, str(p)) for p in expand_inputs(listed, MEDIA_SUFFIXES, skip)]
        else:
            found = expand_inputs([a], MEDIA_SUFFIXES, skip, linked)
            if any(c in a for c in "*?[") and found == [Path(a)] and not Path(a).exists():
                # a pattern that matches nothing is no input: said, not kept as a failed row of the table
                if notes:
                    print(f"note: {shown(a)} matches no file", file=sys.stderr)
                continue
            named = web_names([a])  # a web address fails in its row, named as given (not https:/x)
            paths += [named.get(p, str(p)) for p in found]
    if notes and (note := linked_note(linked)):
        print(f"note: {note}", file=sys.stderr)
    # an input named twice (a path listed twice, ./a.jpg and a.jpg, a link to it) would be processed
    # (and written) twice: the first name is kept
    once = unique(paths)
    return [Item(i, p, kind_of(p), s) for i, (p, s) in enumerate(zip(once, fit_stems(output_stems(once))))]
