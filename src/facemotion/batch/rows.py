"""The row schema of ``facemotion batch``, defined once: every engine builds rows here and
every output format (CSV, JSON lines, Parquet) writes and reads them through it.

One row per face (per sampled frame for videos) and one row per input that failed:

    path, frame, time_s, face_id, x, y, w, h, confidence, angry ... neutral, dominant_emotion, model, error

with a probability column per label of the model, in its order (FER2013's seven, angry ...
neutral; a FER+ model adds contempt after neutral): :func:`columns` of its labels.

``frame`` and ``time_s`` are empty for photos; ``face_id`` is the face's rank in a photo (0 =
the largest) and a track id that follows a face across a video's sampled frames. A failed
input has its ``path``, ``model`` and ``error``; the other columns are empty. Probabilities
and confidence are rounded to 6 decimals, times to 4.
"""

from __future__ import annotations

from ..labels import EMOTIONS
from ..results import probabilities
from ..writers import face_csv_columns


def columns(labels=EMOTIONS) -> tuple[str, ...]:
    """The row's columns for a model with ``labels``."""
    return ("path", *face_csv_columns(labels), "model", "error")


def float_columns(labels=EMOTIONS) -> frozenset:
    return frozenset({"time_s", "confidence", *labels})


# a FER2013 model's: the columns the sinks write (JobSpec.recognizer refuses other labels)
COLUMNS = columns(EMOTIONS)
INT_COLUMNS = frozenset({"frame", "face_id", "x", "y", "w", "h"})
FLOAT_COLUMNS = float_columns(EMOTIONS)
DIGITS = 6

Row = tuple  # values in columns(labels) order; None where empty


def face_row(path: str, result: dict, model: str, *, face_id: int, frame: int | None = None,
             time_s: float | None = None) -> Row:
    """A :func:`facemotion.results.make_result` record (what ``detect_emotions`` returns) -> a row."""
    x, y, w, h = (int(v) for v in result["box"])
    return (path, frame, None if time_s is None else round(float(time_s), 4), int(face_id), x, y, w, h,
            round(result["confidence"], DIGITS), *(round(p, DIGITS) for p in probabilities(result)),  # the model's order
            result["dominant_emotion"], model, None)


def error_row(path: str, error: str, model: str, labels=EMOTIONS) -> Row:
    return (path, *([None] * (len(columns(labels)) - 3)), model, error)


def typed(values, labels=EMOTIONS) -> Row:
    """Strings (a CSV row) or JSON values -> a row with the schema's types."""
    out = []
    floats = FLOAT_COLUMNS if labels is EMOTIONS else float_columns(labels)
    for name, v in zip(columns(labels), values):
        if v is None or v == "":
            out.append(None)
        elif name in INT_COLUMNS:
            out.append(int(v))
        elif name in floats:
            out.append(float(v))
        else:
            out.append(str(v))
    return tuple(out)
