"""Result files that survive being killed at any moment and resume where they stopped.

- ``.csv`` / ``.jsonl``: rows are appended, one ``write`` per input, and a journal beside the
  file (``.<name>.progress``) records after each input its key, its place where that differs
  (:func:`.layout.place_of`: the same file named otherwise by a rerun is known), the file's
  length and its rows' CRC-32. A rerun checks the recorded rows (a file edited since is refused, not cut at
  offsets that no longer fall between rows), truncates the file to the last recorded length
  (dropping any rows of an input that was not recorded) and skips the recorded inputs. The
  file is readable at every moment: it only ever grows by whole inputs' rows.
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
refused instead of mixing rows of two models. A lock stops two runs writing one output. A
rerun with ``retry_failed`` takes the failed inputs' rows out first, to read them again
(:meth:`TextSink._drop_failed`, :meth:`.parquet.ParquetSink._drop_failed`)."""

from __future__ import annotations

import csv
import io
import json
import os
import zlib
from pathlib import Path

from ..errors import FacemotionError, UsageError
from ..fileio import write_bytes
from ..labels import EMOTIONS
from ..names import cell, uncell
from .layout import Layout, Resumable, lock, place_of, refuse_other_options, write_all
from .parquet import ParquetSink, read_parquet_rows
from .rows import Row

FORMATS = (".csv", ".jsonl", ".parquet")
FILE_COLUMNS = Layout().file_columns  # a FER2013 model's


def open_sink(path, signature: dict, *, overwrite: bool = False, labels=EMOTIONS, mesh: bool = False,
              retry_failed: bool = False):
    """The sink of ``path``'s format, whose probability columns are ``labels``'; ``retry_failed``:
    the inputs an earlier run recorded as failed are taken out, to be read again."""
    if not os.fspath(path):  # Path("") is ".": the message would name the current folder
        raise UsageError("--to '': give the table's file name")
    path = Path(path)
    suffix = path.suffix.lower()
    layout = Layout(labels, mesh)
    if suffix == ".csv":
        return CsvSink(path, signature, overwrite, layout, retry_failed)
    if suffix in (".jsonl", ".ndjson"):
        return JsonlSink(path, signature, overwrite, layout, retry_failed)
    if suffix == ".parquet":
        return ParquetSink(path, signature, overwrite, layout=layout, retry_failed=retry_failed)
    raise UsageError(f"--to {path}: unknown output format {suffix or '(no suffix)'!r}; use {', '.join(FORMATS)}")


class TextSink(Resumable):
    """Appended rows + a journal of (key, length) per input; see the module docstring."""

    def __init__(self, path: Path, signature: dict, overwrite: bool = False, layout: Layout = Layout(),
                 retry_failed: bool = False):
        self.layout, self.columns = layout, layout.file_columns
        self.header, self.legacy_header = self.headers(layout)
        self.path, self.journal = path, path.with_name(f".{path.name}.progress")
        self.done: set[str] = set()
        self.failed: set[str] = set()  # the done inputs whose row is an error (a rerun still reports them)
        self.places: dict[str, str] = {}
        self.place_by_key: dict[str, str] = {}
        self.at: dict[str, str] = {}  # a key -> its place where not the key itself (kept by a rewrite)
        self.rows = 0
        if self.path.is_dir():
            raise UsageError(f"--to {path}: is a folder; name a {path.suffix or '.csv'} file")
        try:  # -o's folder is made, as every command's output folder is
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            if (file := next((p for p in self.path.parents if p.exists()), None)) is not None and not file.is_dir():
                raise UsageError(f"--to {path}: {file} is a file, not a folder") from None
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
            try:
                os.truncate(self.journal, 0)
                write_all(self.jfd, (json.dumps({"signature": signature}) + "\n").encode(), self.path)
                write_bytes(self.path, self.header)
            except BaseException:  # a full disk, or Ctrl-C: the lock goes with the files (a later
                self.close()       # run in this process may write the table)
                raise
            self.end = len(self.header)
        elif not had_journal:
            self.close()
            self.journal.unlink()
            raise FacemotionError(f"{self.path}: exists but was not written by `facemotion batch` (no "
                                  f"{self.journal.name} beside it); write to another --to, or pass --overwrite")
        else:
            try:
                self.end = self._recover(signature)
                if retry_failed and self.failed:
                    self.end = self._drop_failed(signature)
            except BaseException:  # a refusal, or Ctrl-C: the lock goes with the files
                self.close()
                raise
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def _open_journal(self) -> int:
        fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        lock(fd, self.path)
        return fd

    def _recover(self, signature: dict) -> int:
        """Read the journal, cut the output back to its last recorded input; returns that length."""
        raw = self.journal.read_bytes()
        lines = raw.split(b"\n")[:-1]  # a last line without its newline was cut by a kill: not recorded
        try:
            first = json.loads(lines[0])
            head = first["signature"]
        except (IndexError, ValueError, KeyError):
            raise FacemotionError(f"{self.journal}: unreadable progress record; pass --overwrite to start again") from None
        refuse_other_options(self.path, head, signature)
        self._finish_rewrite(first.get("rewrite"))
        with open(self.path, "rb") as fh:
            start = fh.readline() if self.header else b""
        if start == self.legacy_header and start:  # an older version's file: its rows keep its columns
            self.header, self.columns = start, self.layout.columns
        if start != self.header:
            raise FacemotionError(f"{self.path}: does not start with the expected header; pass --overwrite")
        # the rows start after the file's own header (an older version's is shorter)
        size, end, keep = self.path.stat().st_size, len(self.header), len(lines[0]) + 1
        self.spans = []  # (key, its rows' start and end, rows, failed, CRC-32 or None), for --retry-failed
        for line in lines[1:]:
            try:
                rec = json.loads(line)
            except ValueError:
                break
            if rec["end"] > size:  # recorded, but the rows never reached the disk (a machine crash)
                break
            self.spans.append((rec["key"], end, rec["end"], rec["rows"], bool(rec.get("failed")), rec.get("crc")))
            end, keep = rec["end"], keep + len(line) + 1
            if "at" in rec:
                self.at[rec["key"]] = rec["at"]
            key = rec["key"]  # no "at": an absolute key is its place; a relative one from before places
            place = rec.get("at", key if os.path.isabs(key) and "://" not in key else None)
            self._record(key, place, bool(rec.get("failed")))
            self.rows += rec["rows"]
        self._check_rows()
        os.truncate(self.path, end)
        os.truncate(self.journal, keep)
        return end

    def _check_rows(self) -> None:
        """The recorded inputs' rows as written: a table edited by hand since (a row deleted or
        changed) is refused before anything is cut, since the recorded lengths no longer fall
        between rows. Records from before the CRC was kept are checked for ending a line."""
        with open(self.path, "rb") as fh:
            for key, start, stop, _, _, crc in self.spans:
                fh.seek(start)
                data = fh.read(stop - start)
                if (zlib.crc32(data) != crc) if crc is not None else (data and not data.endswith(b"\n")):
                    raise FacemotionError(
                        f"{self.path}: changed since `facemotion batch` wrote it (the rows of {key} are not as written); "
                        "restore it, or pass --overwrite to start again")

    def _finish_rewrite(self, pending: str | None) -> None:
        """A rewrite (--retry-failed) whose journal was committed but whose table was not yet in
        place when the run was killed: the table it wrote takes the table's name now. A table
        left by one killed before its journal was committed is removed."""
        for f in self.path.parent.glob(f".{self.path.name}.rewrite-*"):
            if f.name == pending:
                os.replace(f, self.path)
            else:
                f.unlink(missing_ok=True)

    def _drop_failed(self, signature: dict) -> int:
        """The failed inputs' rows and records taken out, so that this run reads them again: the
        table without them is written beside it, then the journal that describes it (the commit:
        it names that file), then the table is renamed over the old one; a kill at any moment
        leaves either job whole (:meth:`_finish_rewrite`)."""
        keep = [sp for sp in self.spans if not sp[4]]
        fresh = self.path.with_name(f".{self.path.name}.rewrite-{os.urandom(4).hex()}")
        records, end = [], len(self.header)
        with open(self.path, "rb") as src, open(fresh, "wb") as dst:
            dst.write(self.header)
            for key, start, stop, rows, _, crc in keep:
                src.seek(start)
                dst.write(src.read(stop - start))
                end += stop - start
                records.append(json.dumps({"key": key, "end": end, "rows": rows, **({"crc": crc} if crc is not None else {}),
                                           **({"at": self.at[key]} if key in self.at else {})}))
            dst.flush()
            os.fsync(dst.fileno())
        journal = "\n".join([json.dumps({"signature": signature, "rewrite": fresh.name}), *records]) + "\n"
        write_bytes(self.journal, journal.encode())  # atomic: the commit
        os.close(self.jfd)
        self.jfd = self._open_journal()
        os.replace(fresh, self.path)
        self.done -= self.failed
        self.failed = set()
        self.rows = sum(sp[3] for sp in keep)
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
        write_all(self.fd, data, self.path)
        self.end += len(data)
        place = place_of(key)
        rec = {"key": key, "end": self.end, "rows": len(rows), "crc": zlib.crc32(data),
               **({"failed": True} if failed else {}), **({"at": place} if place not in (None, key) else {})}
        write_all(self.jfd, (json.dumps(rec) + "\n").encode(), self.path)  # the table named, not its journal
        if place not in (None, key):
            self.at[key] = place
        self._record(key, place, failed)
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
        fixed = self.layout.decimals
        for r in rows:
            cells = ["" if v is None else cell(v) if isinstance(v, str) else f"{v:.{fixed[i]}f}" if i in fixed else v
                     for i, v in enumerate(self.layout.file_row(r)[:len(self.columns)])]
            (quoted if any(isinstance(v, str) and "\r" in v for v in cells) else plain).writerow(cells)
        return buf.getvalue().encode()


class JsonlSink(TextSink):
    def encode(self, rows):
        return "".join(json.dumps(dict(zip(self.columns, self.layout.file_row(r)))) + "\n" for r in rows).encode()


def read_rows(path) -> list[Row]:
    """A batch output (any format) -> its rows, typed, in file order (the probability columns
    of the model that wrote it: :func:`columns` of its labels)."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        return read_parquet_rows(path)
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
