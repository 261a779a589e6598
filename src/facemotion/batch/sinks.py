"""Result files that survive being killed at any moment and resume where they stopped.

- ``.csv`` / ``.jsonl``: rows are appended, one ``write`` per input, and a journal beside the
  file (``.<name>.progress``) records after each input its key and the file's length. A
  rerun truncates the file to the last recorded length (dropping any rows of an input that
  was not recorded) and skips the recorded inputs. The file is readable at every moment:
  it only ever grows by whole inputs' rows.
- ``.parquet``: a folder of parts (``part-000000.parquet``, ...), each written atomically
  (under a hidden name, then renamed) with the keys of the inputs it holds in its metadata;
  inputs are gathered into a part every ``part_inputs`` inputs or ``part_seconds`` seconds,
  so a kill loses at most that much work. Readers (pandas, pyarrow, Spark, Ray) read the
  folder as one table and ignore the hidden and ``_``-prefixed files.

Names are written by the rule of :mod:`facemotion.names`: ``path`` (and ``error``) as valid
UTF-8, a name that is not UTF-8 with its bytes as ``\\xNN``, and the file column ``path_bytes``
(after ``error``) holding such a name's exact bytes in hex; :func:`read_rows` gives the name
back exactly. CSV text cells that a spreadsheet would run as a formula start with ``'``.

Both remember the job's options (:meth:`JobSpec.signature`): a rerun with other options is
refused instead of mixing rows of two models. A lock stops two runs writing one output."""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import time
from pathlib import Path

from ..errors import FacemotionError
from ..fileio import atomic_path, write_bytes, write_text
from ..labels import EMOTIONS, LABEL_SETS
from ..names import cell, from_columns, name_bytes, text, uncell
from .rows import INT_COLUMNS, Row, columns, float_columns, typed

FORMATS = (".csv", ".jsonl", ".parquet")


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


FILE_COLUMNS = Layout().file_columns  # a FER2013 model's


def open_sink(path, signature: dict, *, overwrite: bool = False, labels=EMOTIONS, mesh: bool = False):
    """The sink of ``path``'s format, whose probability columns are ``labels``'."""
    path = Path(path)
    suffix = path.suffix.lower()
    layout = Layout(labels, mesh)
    if suffix == ".csv":
        return CsvSink(path, signature, overwrite, layout)
    if suffix in (".jsonl", ".ndjson"):
        return JsonlSink(path, signature, overwrite, layout)
    if suffix == ".parquet":
        return ParquetSink(path, signature, overwrite, layout=layout)
    raise FacemotionError(f"--to {path}: unknown output format {suffix or '(no suffix)'!r}; use {', '.join(FORMATS)}")


def _differences(old: dict, new: dict) -> str:  # an option a signature leaves out (at its default) reads so
    said = {k: [repr(d[k]) if k in d else "'float32'" if k == "precision" else "default" for d in (old, new)]
            for k in sorted(set(old) | set(new))}
    return ", ".join(f"{k} {' -> '.join(v)}" for k, v in said.items() if old.get(k) != new.get(k))


def _refuse_other_options(path: Path, old: dict, new: dict) -> None:
    if old != new:
        raise FacemotionError(f"{path}: was written with other options ({_differences(old, new)}); "
                              "rerun with the same options, write to another --to, or pass --overwrite")


def _lock(fd: int, path: Path) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FacemotionError(f"{path}: another `facemotion batch` is writing it") from None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class TextSink:
    """Appended rows + a journal of (key, length) per input; see the module docstring."""

    def __init__(self, path: Path, signature: dict, overwrite: bool = False, layout: Layout = Layout()):
        self.layout, self.columns = layout, layout.file_columns
        self.header, self.legacy_header = self.headers(layout)
        self.path, self.journal = path, path.with_name(f".{path.name}.progress")
        self.done: set[str] = set()
        self.failed: set[str] = set()  # the done inputs whose row is an error (a rerun still reports them)
        self.rows = 0
        if self.path.is_dir():
            raise FacemotionError(f"--to {path}: is a folder; name a {path.suffix or '.csv'} file")
        try:  # -o's folder is made, as every command's output folder is
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise FacemotionError(f"--to {path}: cannot make its folder ({e.strerror or e})") from None
        had_journal = self.journal.exists()
        try:  # locked before anything is cut or removed: a running job keeps its files
            self.jfd = self._open_journal()
        except OSError as e:  # the journal is ours: the user named the table
            raise FacemotionError(f"--to {path}: cannot write there ({e.strerror or e})") from None
        if overwrite:
            self.path.unlink(missing_ok=True)
        if not self.path.exists():
            # journal first: a kill between the two leaves a journal without output, which is redone
            os.truncate(self.journal, 0)
            _write_all(self.jfd, (json.dumps({"signature": signature}) + "\n").encode())
            write_bytes(self.path, self.header)
            self.end = len(self.header)
        elif not had_journal:
            self.close()
            self.journal.unlink()
            raise FacemotionError(f"{self.path}: exists but was not written by `facemotion batch` (no "
                                  f"{self.journal.name} beside it); write to another --to, or pass --overwrite")
        else:
            try:
                self.end = self._recover(signature)
            except FacemotionError:
                self.close()
                raise
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def _open_journal(self) -> int:
        fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        _lock(fd, self.path)
        return fd

    def _recover(self, signature: dict) -> int:
        """Read the journal, cut the output back to its last recorded input; returns that length."""
        raw = self.journal.read_bytes()
        lines = raw.split(b"\n")[:-1]  # a last line without its newline was cut by a kill: not recorded
        try:
            head = json.loads(lines[0])["signature"]
        except (IndexError, ValueError, KeyError):
            raise FacemotionError(f"{self.journal}: unreadable progress record; pass --overwrite to start again") from None
        _refuse_other_options(self.path, head, signature)
        size, end, keep = self.path.stat().st_size, len(self.header), len(lines[0]) + 1
        for line in lines[1:]:
            try:
                rec = json.loads(line)
            except ValueError:
                break
            if rec["end"] > size:  # recorded, but the rows never reached the disk (a machine crash)
                break
            end, keep = rec["end"], keep + len(line) + 1
            self.done.add(rec["key"])
            if rec.get("failed"):
                self.failed.add(rec["key"])
            self.rows += rec["rows"]
        with open(self.path, "rb") as fh:
            start = fh.readline() if self.header else b""
        if start == self.legacy_header and start:  # an older version's file: its rows keep its columns
            self.header, self.columns = start, self.layout.columns
        if start != self.header:
            raise FacemotionError(f"{self.path}: does not start with the expected header; pass --overwrite")
        os.truncate(self.path, end)
        os.truncate(self.journal, keep)
        return end

    @staticmethod
    def headers(layout: Layout) -> tuple[bytes, bytes]:
        """(the file's first bytes, those of a file an older version wrote)."""
        return b"", b""

    def encode(self, rows: list[Row]) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError

    def write(self, key: str, rows: list[Row], failed: bool = False) -> None:
        """Append one input's rows (a single write), then record it (and whether it failed)."""
        data = self.encode(rows)
        _write_all(self.fd, data)
        self.end += len(data)
        rec = {"key": key, "end": self.end, "rows": len(rows), **({"failed": True} if failed else {})}
        _write_all(self.jfd, (json.dumps(rec) + "\n").encode())
        self.done.add(key)
        if failed:
            self.failed.add(key)
        self.rows += len(rows)

    def close(self) -> None:
        for fd in ("fd", "jfd"):
            if getattr(self, fd, None) is not None:
                os.close(getattr(self, fd))
                setattr(self, fd, None)


class CsvSink(TextSink):
    @staticmethod
    def headers(layout):
        return (",".join(layout.file_columns) + "\n").encode(), (",".join(layout.columns) + "\n").encode()

    def encode(self, rows):
        buf = io.StringIO()
        plain = csv.writer(buf, lineterminator="\n")  # quotes cells with commas, quotes and "\n"
        quoted = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)  # and "\r", which plain does not
        for r in rows:
            cells = ["" if v is None else cell(v) if isinstance(v, str) else v
                     for v in self.layout.file_row(r)[:len(self.columns)]]
            (quoted if any(isinstance(v, str) and "\r" in v for v in cells) else plain).writerow(cells)
        return buf.getvalue().encode()


class JsonlSink(TextSink):
    def encode(self, rows):
        return "".join(json.dumps(dict(zip(self.columns, self.layout.file_row(r)))) + "\n" for r in rows).encode()


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise FacemotionError(".parquet output needs pyarrow: pip install 'facemotion[batch]' "
                              "(or write .csv / .jsonl)") from None
    return pa, pq


def parquet_schema(pa, layout: Layout = Layout()):
    return pa.schema([(c, pa.int64() if c in INT_COLUMNS else pa.float64() if c in layout.floats else pa.string())
                      for c in layout.file_columns])


class ParquetSink:
    """A folder of atomically written parts, each naming the inputs it holds; see the module docstring."""

    JOB_FILE = "_facemotion_batch.json"
    KEYS = b"facemotion.inputs"
    FAILED = b"facemotion.failed"

    def __init__(self, path: Path, signature: dict, overwrite: bool = False, *, part_inputs: int = 1000,
                 part_seconds: float = 60.0, layout: Layout = Layout()):
        self.pa, self.pq = _pyarrow()
        self.layout = layout
        self.path, self.part_inputs, self.part_seconds = path, part_inputs, part_seconds
        self.done: set[str] = set()
        self.failed: set[str] = set()
        self.rows, self._rows, self._keys, self._since = 0, [], [], time.monotonic()
        self._failed: list[str] = []
        job = path / self.JOB_FILE
        if path.exists() and not path.is_dir():
            raise FacemotionError(f"--to {path}: exists and is a file; .parquet output is a folder of parts")
        if path.is_dir() and any(path.iterdir()) and not job.exists():
            raise FacemotionError(f"{path}: a folder not written by `facemotion batch` (no {self.JOB_FILE}); "
                                  "write to another --to")
        path.mkdir(parents=True, exist_ok=True)
        self.lock = os.open(path, os.O_RDONLY)
        _lock(self.lock, path)  # before anything is removed: a running job keeps its parts
        if overwrite:
            for old in [job, *path.glob("part-*.parquet"), *path.glob(".part-*")]:
                old.unlink(missing_ok=True)
        if not job.exists():
            write_text(job, json.dumps({"signature": signature}) + "\n")
        try:
            _refuse_other_options(path, json.loads(job.read_text())["signature"], signature)
        except FacemotionError:
            os.close(self.lock)
            raise
        for stale in path.glob(".part-*"):  # a part a kill interrupted before its rename
            stale.unlink()
        self.next = 0
        for part in sorted(path.glob("part-*.parquet")):
            meta = self.pq.read_schema(part).metadata or {}
            self.done.update(json.loads(meta.get(self.KEYS, b"[]")))
            self.failed.update(json.loads(meta.get(self.FAILED, b"[]")))
            self.rows += self.pq.read_metadata(part).num_rows
            self.next = max(self.next, int(part.stem.split("-")[1]) + 1)

    def write(self, key: str, rows: list[Row], failed: bool = False) -> None:
        self._rows += rows
        self._keys.append(key)
        self.done.add(key)
        if failed:
            self.failed.add(key)
            self._failed.append(key)
        if len(self._keys) >= self.part_inputs or time.monotonic() - self._since >= self.part_seconds:
            self.flush()

    def flush(self) -> None:
        if self._keys:
            pa = self.pa
            schema = parquet_schema(pa, self.layout).with_metadata({self.KEYS: json.dumps(self._keys).encode(),
                                                                    self.FAILED: json.dumps(self._failed).encode()})
            cols = (list(zip(*map(self.layout.file_row, self._rows))) if self._rows
                    else [()] * len(self.layout.file_columns))
            table = pa.table([pa.array(c, type=f.type) for c, f in zip(cols, schema)], schema=schema)
            with atomic_path(self.path / f"part-{self.next:06d}.parquet") as tmp:
                self.pq.write_table(table, tmp)
            self.next += 1
            self.rows += len(self._rows)
        self._rows, self._keys, self._failed, self._since = [], [], [], time.monotonic()

    def close(self) -> None:
        if self.lock is not None:
            self.flush()
            os.close(self.lock)
            self.lock = None


def read_rows(path) -> list[Row]:
    """A batch output (any format) -> its rows, typed, in file order (the probability columns
    of the model that wrote it: :func:`columns` of its labels)."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        pa, pq = _pyarrow()
        parts = sorted(path.glob("part-*.parquet"))
        lay = Layout.of_header(pq.read_schema(parts[0]).names) if parts else Layout()
        if lay is None:
            raise FacemotionError(f"{path}: not a facemotion batch output (unexpected columns)")
        table = pq.read_table(path, schema=parquet_schema(pa, lay))
        return [lay.from_file([r[c] for c in lay.file_columns]) for r in table.to_pylist()]
    with open(path, newline="", encoding="utf-8") as fh:
        if path.suffix.lower() == ".csv":
            reader = csv.reader(fh)
            lay = Layout.of_header(next(reader, ()))
            if lay is None:
                raise FacemotionError(f"{path}: not a facemotion batch CSV (unexpected header)")
            return [lay.from_file([uncell(v) for v in r]) for r in reader]
        records = [json.loads(line) for line in fh if line.strip()]
        lay = Layout.of_header([k for k in records[0] if k != "path_bytes"]) if records else Layout()
        if lay is None:
            raise FacemotionError(f"{path}: not a facemotion batch output (unexpected keys)")
        return [lay.from_file([d.get(c) for c in lay.file_columns]) for d in records]
