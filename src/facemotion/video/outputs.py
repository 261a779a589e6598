"""A video's outputs in their folder: their common name, and what a run does before writing
them (holds them against another run, clears what an earlier run left)."""

from __future__ import annotations

import glob
import json
import os
import re
import sys
import time
from pathlib import Path

from ..errors import FacemotionError
from ..fileio import hold_lock, release_lock
from ..inputs import Stream
from ..names import fit_stems, shown


def live_name(source) -> str:
    """The outputs' name for a camera (``camera0``) or a stream (``stream_<host>_<port>``)."""
    if isinstance(source, (Stream, str)) and not str(source).isdigit():
        url = source.url if isinstance(source, Stream) else str(source)
        host = url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
        return "stream_" + ("".join(c if c.isalnum() or c in "-." else "_" for c in host) or "live")
    return f"camera{source}"


class Claim:
    """``stem``'s outputs in ``out_dir`` held for this run (a second run writing them at once is
    refused: its start would clear this run's files), an earlier run's cleared; :meth:`release`
    once they are written."""

    def __init__(self, out_dir: Path, stem: str, write_video: bool = True):
        self.path = out_dir / f".{stem}.lock"
        self.fd = hold_lock(self.path, "video", shown(str(out_dir / f"{stem}_faces.csv")))
        try:
            _restart_note(out_dir, stem, write_video)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        if self.fd is not None:
            release_lock(self.path, self.fd)
            self.fd = None


def _output_stem(name: str) -> str:
    """The outputs' name: one file name inside the output folder, short enough for its longest
    suffix (``_timeline_face<ID>.png``)."""
    if not name or name in (".", "..") or "/" in name or os.sep in name or "\0" in name:
        raise FacemotionError(f"name {shown(name)}: the outputs' name must be one file name (no folder, "
                              "no '..')")
    return fit_stems([name])[0]


def _restart_note(out_dir: Path, stem: str, write_video: bool = True) -> None:
    """A rerun starts over: say so where the earlier run did not finish, and clear what the
    earlier run left (its summary, figures and, where this run writes one, its MP4), so that a
    run killed in its turn leaves no summary of another run beside its rows."""
    for leftover in out_dir.glob(f".{glob.escape(stem)}_annotated.tmp*"):  # '*' in a name matches itself only
        leftover.unlink(missing_ok=True)
    # an earlier run's rows that stopped on an error: this run starts over and replaces them
    (out_dir / f"{stem}_faces.incomplete.csv").unlink(missing_ok=True)
    csv_path, summary = out_dir / f"{stem}_faces.csv", out_dir / f"{stem}_summary.json"
    if csv_path.exists():
        try:
            done = json.loads(summary.read_text()).get("status") == "complete"
        except (OSError, ValueError):
            done = False
        if not done:
            print(f"note: {shown(str(csv_path))} is from an earlier run that did not finish; starting this video over",
                  file=sys.stderr)
    figure = re.compile(rf"{re.escape(stem)}_(timeline|measures)_face\d+\.png")
    stale = [summary, out_dir / f"{stem}_overview.png",
             *(p for p in out_dir.glob(f"{glob.escape(stem)}_*_face*.png") if figure.fullmatch(p.name))]
    if (video := out_dir / f"{stem}_annotated.mp4").exists() and not write_video:
        print(f"note: {shown(str(video))} is an earlier run's (this one writes no video)", file=sys.stderr)
    for path in stale + [video] * write_video:
        path.unlink(missing_ok=True)


def session_name(base: str, out_dir) -> str:
    """``base`` with the local time a live session starts (``camera0_20261128-113806``, then
    ``-2``, ``-3`` where a session of that second has written to ``out_dir``): a live source
    cannot be read again, so each session's outputs are its own, never replaced by the next's."""
    name = first = f"{base}_{time.strftime('%Y%m%d-%H%M%S')}"
    out = Path(out_dir)
    # a session's files, and the hidden ones of one under way (its lock, its MP4 being written)
    taken = {p.name.lstrip(".") for p in out.glob(f"*{glob.escape(first)}*")} if out.is_dir() else set()
    k = 1
    while any(t.startswith((f"{name}_", f"{name}.")) for t in taken):
        k += 1
        name = f"{first}-{k}"
    return name
