"""The row schema of ``facemotion batch``, defined once: every engine builds rows here and
every output format (CSV, JSON lines, Parquet) writes and reads them through it.

One row per face (per sampled frame for videos), one row per input in which no face was found,
and one row per input that failed:

    path, frame, time_s, face_id, x, y, w, h, confidence, angry ... neutral, dominant_emotion, model, error

with a probability column per label of the model, in its order (FER2013's seven, angry ...
neutral; a FER+ model adds contempt after neutral): :func:`columns` of its labels.

``frame`` and ``time_s`` are empty for photos; ``face_id`` is the face's rank in a photo (0 =
the largest) and a track id that follows a face across a video's sampled frames. An input
without a face (a photo, or a video none of whose sampled frames holds one) has its ``path``
and ``model`` and nothing else, so that every input read is in the table; a failed input has
its ``path``, ``model`` and ``error``; the other columns are empty. Probabilities
and confidence are rounded to 6 decimals, times to 4.
"""

from __future__ import annotations

from ..labels import EMOTIONS
from ..results import MESH_COLUMNS, mesh_columns, probabilities
from ..writers import PROBABILITY_DIGITS, TIME_DIGITS, face_csv_columns


def columns(labels=EMOTIONS, mesh: bool = False) -> tuple[str, ...]:
    """The row's columns for a model with ``labels`` (and, with ``mesh``, the mesh's)."""
    return ("path", *face_csv_columns(labels, mesh), "model", "error")


def float_columns(labels=EMOTIONS, mesh: bool = False) -> frozenset:
    return frozenset({"time_s", "confidence", *labels, *(MESH_COLUMNS if mesh else ())})


# a FER2013 model's: the columns the sinks write (JobSpec.recognizer refuses other labels)
COLUMNS = columns(EMOTIONS)
INT_COLUMNS = frozenset({"frame", "face_id", "x", "y", "w", "h"})
FLOAT_COLUMNS = float_columns(EMOTIONS)
DIGITS = PROBABILITY_DIGITS  # the tables' decimals: the video CSV's (facemotion.writers)

Row = tuple  # values in columns(labels) order; None where empty


def face_row(path: str, result: dict, model: str, *, face_id: int, frame: int | None = None,
             time_s: float | None = None, mesh: bool = False) -> Row:
    """A :func:`facemotion.results.make_result` record (what ``detect_emotions`` returns) -> a row
    (``mesh``: with the mesh's columns, None where the face has no mesh)."""
    x, y, w, h = (int(v) for v in result["box"])
    extra = tuple(mesh_columns({"pose": None, **result}).values()) if mesh else ()
    return (path, frame, None if time_s is None else round(float(time_s), TIME_DIGITS), int(face_id), x, y, w, h,
            round(result["confidence"], DIGITS), *(round(p, DIGITS) for p in probabilities(result)),  # the model's order
            result["dominant_emotion"], *extra, model, None)


def error_row(path: str, error: str | None, model: str, labels=EMOTIONS, mesh: bool = False) -> Row:
    """The row of an input that failed (``error``), or, with ``error`` None, of one without a face."""
    return (path, *([None] * (len(columns(labels, mesh)) - 3)), model, error)


def typed(values, labels=EMOTIONS, mesh: bool = False) -> Row:
    """Strings (a CSV row) or JSON values -> a row with the schema's types."""
    out = []
    floats = FLOAT_COLUMNS if labels is EMOTIONS and not mesh else float_columns(labels, mesh)
    for name, v in zip(columns(labels, mesh), values):
        if v is None or v == "":
            out.append(None)
        elif name in INT_COLUMNS:
            out.append(int(v))
        elif name in floats:
            out.append(float(v))
        else:
            out.append(str(v))
    return tuple(out)
