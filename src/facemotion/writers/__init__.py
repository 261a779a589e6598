"""Writing results: atomic JSON and images, appended (flushed) CSV rows."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import zlib
from pathlib import Path

import cv2
import numpy as np

from .. import names
from ..fileio import open_text, write_bytes, write_text
from ..labels import EMOTIONS
from ..results import MESH_COLUMNS, mesh_columns, plain


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, default=_jsonable) + "\n")


def _jsonable(o):
    if isinstance(o, (np.generic, np.ndarray)):  # numpy as Python's, as a record's to_dict gives it
        return plain(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def to_json_line(obj) -> str:
    return json.dumps(obj, default=_jsonable)


# the comment an annotated JPEG carries, first after its start: a folder read again (`image
# photos/ -o photos/`) leaves out the copies facemotion drew, and only those
ANNOTATED_MARK = b"facemotion: an annotated copy"


def write_image(path, image: np.ndarray, *, annotated: bool = False) -> None:
    """``image`` encoded by ``path``'s suffix and written atomically; ``annotated``: a JPEG marked
    as a copy facemotion drew (:func:`annotated_copy`)."""
    path = Path(path)
    ext = path.suffix or ".jpg"
    jpeg = ext.lower() in (".jpg", ".jpeg")
    ok, buf = cv2.imencode(ext, image, [cv2.IMWRITE_JPEG_QUALITY, 92] if jpeg else [])
    if not ok:
        raise OSError(f"{path}: cannot encode image as {ext}")
    data = buf.tobytes()
    write_bytes(path, marked(data) if annotated else data)


_MARK_SEGMENT = b"\xff\xfe" + (len(ANNOTATED_MARK) + 2).to_bytes(2, "big") + ANNOTATED_MARK
_PNG = b"\x89PNG\r\n\x1a\n"


def marked(data: bytes) -> bytes:
    """A JPEG's or PNG's bytes marked as a picture facemotion drew: a JPEG comment after JFIF's
    APP0 (which comes first), a PNG text chunk after IHDR; readers pass over both, the pixels
    are the same. Other formats as they are."""
    if data[:2] == b"\xff\xd8":
        at = 4 + int.from_bytes(data[4:6], "big") if data[2:4] == b"\xff\xe0" else 2
        return data[:at] + _MARK_SEGMENT + data[at:]
    if data[:8] == _PNG:
        body = b"tEXt" + b"Software\x00" + ANNOTATED_MARK
        chunk = (len(body) - 4).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")
        return data[:33] + chunk + data[33:]  # the signature and IHDR (8 + 25 bytes) come first
    return data


# the names facemotion gives what it draws: image's and batch's copies, explain's figure, crops and maps
DRAWN_NAME = re.compile(r".+_(annotated\.jpg|explain\.png|face\d+_(crop|saliency)\.png)", re.IGNORECASE)


def drawn_copies(paths, named) -> list:
    """Those of ``paths`` (found in folders) that are copies facemotion drew (named as it names
    them, and marked: :func:`annotated_copy`; only those names are opened), to be left out of a
    run's inputs; none where they are all such copies (the output folder named as the input:
    read as asked) or where one was named (``named``: the command line's)."""
    named = {os.path.abspath(p) for p in named}
    drawn = [p for p in paths if DRAWN_NAME.fullmatch(Path(p).name) and annotated_copy(p)
             and os.path.abspath(p) not in named]
    return drawn if len(drawn) < len(paths) else []


def drawn_note(drawn) -> str:
    """The note for the copies :func:`drawn_copies` left out."""
    first = f" ({names.shown(str(drawn[0]))}{', ...' if len(drawn) > 1 else ''})" if drawn else ""
    return f"left out {names.count(len(drawn), 'annotated copy', 'annotated copies')} facemotion drew{first}; " \
           "name one to read it"


def annotated_copy(path) -> bool:
    """Whether ``path`` is a JPEG or PNG facemotion drew (:func:`marked`): its mark among its
    first segments."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(128)
    except OSError:
        return False
    return (head[:2] == b"\xff\xd8" and _MARK_SEGMENT in head) or (head[:8] == _PNG and ANNOTATED_MARK in head)


def foreign_file(path) -> bool:
    """Whether ``path``, where facemotion would write an output, holds a file it did not write: a
    JPEG or PNG without its mark (:func:`marked`), a JSON file that is not one of its records (an
    object with ``file`` and ``faces``). False where there is none; other kinds are not opened."""
    p = Path(path)
    if not p.is_file():
        return False
    suffix = p.suffix.lower()
    if suffix in (".jpg", ".jpeg", ".png"):
        return not annotated_copy(p)
    if suffix == ".json":
        try:
            record = json.loads(p.read_bytes())
        except (OSError, ValueError):  # (UnicodeDecodeError is a ValueError)
            return True
        return not (isinstance(record, dict) and "file" in record and "faces" in record)
    return False


def face_csv_columns(labels=EMOTIONS, mesh: bool = False) -> list[str]:
    """The face CSV's header: a probability column per label of the model, in its order; with
    ``mesh``, the mesh's columns after them (:data:`facemotion.results.MESH_COLUMNS`: presence,
    pose and measures; the landmarks themselves go to JSON, not to 1,404 columns)."""
    return ["frame", "time_s", "face_id", "x", "y", "w", "h", "confidence", *labels, "dominant_emotion",
            *(MESH_COLUMNS if mesh else ())]


FACE_CSV_COLUMNS = face_csv_columns(EMOTIONS)  # a FER2013 model's
# the decimals of every table (this CSV, batch's): probabilities and confidence, times in seconds
PROBABILITY_DIGITS, TIME_DIGITS = 6, 4


class FaceCSVWriter:
    """Long-format CSV, one row per face per frame; every row is flushed as written.
    ``labels``: the model's (:attr:`EmotionRecognizer.labels`), a column each."""

    def __init__(self, path, labels=EMOTIONS, mesh: bool = False):
        self.labels, self.mesh = tuple(labels), bool(mesh)
        columns = face_csv_columns(self.labels, self.mesh)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open_text(self.path, "w")
        self.w = csv.writer(self.fh, lineterminator="\n")  # as batch's tables end their lines
        self.w.writerow(columns)
        self.fh.flush()
        self.rows = 0

    def write(self, frame: int, time_s: float, face_id, box, confidence: float, emotions: dict, dominant: str,
              face: dict | None = None):
        """One face's row; ``face``: its record, for the mesh's columns (with ``mesh``)."""
        x, y, w, h = box
        extra = []
        if self.mesh:
            extra = ["" if v is None else v for v in mesh_columns(face or {"pose": None}).values()]
        p = PROBABILITY_DIGITS
        with self._named():
            self.w.writerow([frame, f"{time_s:.{TIME_DIGITS}f}", face_id, x, y, w, h, f"{confidence:.{p}f}",
                             *(f"{emotions[e]:.{p}f}" for e in self.labels), dominant, *extra])
        self.rows += 1

    @contextlib.contextmanager
    def _named(self):
        """A write's error (a full disk) naming this file: the buffered write's own names none."""
        try:
            yield
        except OSError as e:
            if e.filename is not None:
                raise
            raise OSError(e.errno, e.strerror or str(e), str(self.path)) from None

    def flush(self):
        with self._named():
            self.fh.flush()

    def close(self):
        if not self.fh.closed:
            try:
                self.fh.flush()  # a full disk refuses the last rows here: the caller hears of it
            finally:
                with contextlib.suppress(OSError):  # and the file is closed all the same
                    self.fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def output_stems(paths, keep=()) -> list[str]:
    """Output names (without suffix) for input ``paths``: each file's stem, and where inputs
    share one, enough of their folders to tell them apart, counted from the folder they share:
    ``a/x.jpg`` and ``b/x.jpg`` become ``a/x`` and ``b/x`` (the output tree mirrors the input
    tree where it must), ``/photos/2019/x.jpg`` and ``/backup/x.jpg`` ``2019/x`` and
    ``backup/x``; inputs that differ only in their suffix (``x.jpg``, ``x.png``) keep it
    (``x_jpg``, ``x_png``). The other inputs keep their bare stems. A path in ``keep`` (a photo
    piped in, kept in a temporary folder) keeps its bare stem whatever it shares it with."""
    paths = [Path(os.path.abspath(p)) for p in paths]
    keep = {Path(os.path.abspath(p)) for p in keep}
    out = [p.stem for p in paths]
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(paths):
        groups.setdefault(p.stem, []).append(i)
    for group in groups.values():
        if len(group) < 2:
            continue
        root = Path(os.path.commonpath([paths[i].parent for i in group]))
        dirs = [paths[i].parent.relative_to(root).parts for i in group]
        # the fewest trailing folders that tell apart the inputs the whole folders tell apart
        k = next(k for k in range(max(map(len, dirs)) + 1)
                 if len({d[max(0, len(d) - k):] for d in dirs}) == len(set(dirs)))
        tails = [d[max(0, len(d) - k):] for d in dirs]
        named = ["/".join((*t, paths[i].stem)) for i, t in zip(group, tails)]
        for i, t, name in zip(group, tails, named):
            if paths[i] not in keep:  # in one folder, the suffix tells them apart
                out[i] = name if named.count(name) == 1 else "/".join((*t, paths[i].name.replace(".", "_")))
    # a name made here that is another input's own (x.jpg's x_jpg beside a file x_jpg.png) goes to
    # the made one as x_jpg~2: the other inputs keep their bare stems
    taken = {o.casefold() for o, p in zip(out, paths) if o == p.stem}
    for i, p in enumerate(paths):
        if out[i] != p.stem and out[i].casefold() in taken:
            n = 2
            while f"{out[i]}~{n}".casefold() in taken:
                n += 1
            out[i] = f"{out[i]}~{n}"
            taken.add(out[i].casefold())
    return out
