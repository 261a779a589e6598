"""``.parquet`` output: a folder of parts (``part-000000.parquet``, ...), each written atomically
(under a hidden name, then renamed) with the keys of the inputs it holds, and of those that
failed, in its metadata (the module docstring of :mod:`.sinks` says how a job resumes)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..errors import FacemotionError
from ..fileio import atomic_path, write_text
from ..names import text
from .layout import Layout, Resumable, lock, place_of, refuse_other_options
from .rows import INT_COLUMNS, Row


def pyarrow_modules():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise FacemotionError("a .parquet table needs pyarrow, to write or read it: pip install 'facemotion[batch]' "
                              "(or use .csv / .jsonl)") from None
    return pa, pq


def parquet_schema(pa, layout: Layout = Layout()):
    return pa.schema([(c, pa.int64() if c in INT_COLUMNS else pa.float64() if c in layout.floats else pa.string())
                      for c in layout.file_columns])


def _places(recorded: bytes | None, keys: list) -> list:
    """A part's inputs' places: as recorded; a part written before places were (its keys alone)
    has an absolute key's, and None for a relative one (where it was run from is not known)."""
    if recorded is not None:
        return json.loads(recorded)
    return [k if os.path.isabs(k) and "://" not in k else None for k in keys]


class ParquetSink(Resumable):
    """A folder of atomically written parts, each naming the inputs it holds; see the module docstring."""

    JOB_FILE = "_facemotion_batch.json"
    KEYS = b"facemotion.inputs"
    FAILED = b"facemotion.failed"
    PLACES = b"facemotion.places"  # each input's place when written (layout.place_of), beside KEYS

    def __init__(self, path: Path, signature: dict, overwrite: bool = False, *, part_inputs: int = 1000,
                 part_seconds: float = 60.0, layout: Layout = Layout(), retry_failed: bool = False):
        self.pa, self.pq = pyarrow_modules()
        self.layout = layout
        self.path, self.part_inputs, self.part_seconds = path, part_inputs, part_seconds
        self.done: set[str] = set()
        self.failed: set[str] = set()
        self.places: dict[str, str] = {}
        self.place_by_key: dict[str, str] = {}
        self.rows, self._rows, self._keys, self._places, self._since = 0, [], [], [], time.monotonic()
        self._failed: list[str] = []
        job = path / self.JOB_FILE
        if path.exists() and not path.is_dir():
            raise FacemotionError(f"--to {path}: exists and is a file; .parquet output is a folder of parts")
        if path.is_dir() and any(path.iterdir()) and not job.exists():
            raise FacemotionError(f"{path}: a folder not written by `facemotion batch` (no {self.JOB_FILE}); "
                                  "write to another --to")
        path.mkdir(parents=True, exist_ok=True)
        self.lock = os.open(path, os.O_RDONLY)
        lock(self.lock, path)  # before anything is removed: a running job keeps its parts (refused: closed)
        try:  # a refusal, a full disk or Ctrl-C while opening: the lock goes (a later run may write here)
            self._open(job, signature, overwrite, retry_failed)
        except BaseException:
            os.close(self.lock)
            self.lock = None
            raise

    def _open(self, job: Path, signature: dict, overwrite: bool, retry_failed: bool) -> None:
        path = self.path
        if overwrite:
            for old in [job, *path.glob("part-*.parquet"), *path.glob(".part-*")]:
                old.unlink(missing_ok=True)
        if not job.exists():
            write_text(job, json.dumps({"signature": signature}) + "\n")
        refuse_other_options(path, json.loads(job.read_text())["signature"], signature)
        for stale in path.glob(".part-*"):  # a part a kill interrupted before its rename
            stale.unlink()
        self.next = 0
        for part in sorted(path.glob("part-*.parquet")):
            try:
                meta = self.pq.read_schema(part).metadata or {}
            except (self.pa.ArrowException, OSError) as e:  # parts are renamed in whole: damaged since
                raise FacemotionError(f"{part}: not a readable Parquet part ({(str(e) or type(e).__name__).splitlines()[0][:120]}); "
                                      "remove it to read its inputs again, or pass --overwrite") from None
            failed = set(json.loads(meta.get(self.FAILED, b"[]")))
            if retry_failed and failed:
                meta = self._drop_failed(part, meta, failed)
                failed = set()
            if meta is None:  # a part of failed inputs only: gone
                continue
            keys = json.loads(meta.get(self.KEYS, b"[]"))
            places = _places(meta.get(self.PLACES), keys)
            for key, place in zip(keys, places):
                self._record(key, place, key in failed)
            self.rows += self.pq.read_metadata(part).num_rows
            self.next = max(self.next, int(part.stem.split("-")[1]) + 1)

    def _drop_failed(self, part: Path, meta: dict, failed: set) -> dict | None:
        """``part`` rewritten (atomically, as every part is written) without the rows and keys of
        its ``failed`` inputs, to be read again; removed where nothing else is in it. Returns its
        new metadata (None: removed). A kill leaves the part as it was, or as it is now."""
        every = json.loads(meta.get(self.KEYS, b"[]"))
        places = _places(meta.get(self.PLACES), every)
        kept_places = [p for k, p in zip(every, places) if k not in failed]
        keys = [k for k in every if k not in failed]
        if not keys:
            part.unlink()
            return None
        import pyarrow.compute as pc

        table = self.pq.read_table(part)
        names = {text(k) for k in failed}  # the rows' path as the files hold it (Layout.file_row)
        kept = table.filter(pc.invert(pc.is_in(table["path"], value_set=self.pa.array(sorted(names)))))
        meta = {**meta, self.KEYS: json.dumps(keys).encode(), self.PLACES: json.dumps(kept_places).encode(),
                self.FAILED: b"[]"}
        with atomic_path(part) as tmp:
            self.pq.write_table(kept.replace_schema_metadata(meta), tmp)
        return meta

    def write(self, key: str, rows: list[Row], failed: bool = False) -> None:
        self._rows += rows
        self._keys.append(key)
        place = place_of(key)
        self._places.append(place)
        self._record(key, place, failed)
        if failed:
            self._failed.append(key)
        if len(self._keys) >= self.part_inputs or time.monotonic() - self._since >= self.part_seconds:
            self.flush()

    def flush(self) -> None:
        if self._keys:
            pa = self.pa
            schema = parquet_schema(pa, self.layout).with_metadata({self.KEYS: json.dumps(self._keys).encode(),
                                                                    self.PLACES: json.dumps(self._places).encode(),
                                                                    self.FAILED: json.dumps(self._failed).encode()})
            cols = (list(zip(*map(self.layout.file_row, self._rows))) if self._rows
                    else [()] * len(self.layout.file_columns))
            table = pa.table([pa.array(c, type=f.type) for c, f in zip(cols, schema)], schema=schema)
            with atomic_path(self.path / f"part-{self.next:06d}.parquet") as tmp:
                self.pq.write_table(table, tmp)
            self.next += 1
            self.rows += len(self._rows)
        self._rows, self._keys, self._places, self._failed, self._since = [], [], [], [], time.monotonic()

    def close(self) -> None:
        if self.lock is not None:
            self.flush()
            os.close(self.lock)
            self.lock = None


def read_parquet_rows(path: Path) -> list[Row]:
    """A ``.parquet`` output folder -> its rows, typed, in part order."""
    pa, pq = pyarrow_modules()
    parts = sorted(path.glob("part-*.parquet"))
    lay = Layout.of_header(pq.read_schema(parts[0]).names) if parts else Layout()
    if lay is None:
        raise FacemotionError(f"{path}: not a facemotion batch output (unexpected columns)")
    table = pq.read_table(path, schema=parquet_schema(pa, lay))
    return [lay.from_file([r[c] for c in lay.file_columns]) for r in table.to_pylist()]
