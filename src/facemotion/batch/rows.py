"""The row schema of ``facemotion batch``, defined once: every engine builds rows here and
every output format (CSV, JSON lines, Parquet) writes and reads them through it.

One row per face (per sampled frame for videos) and one row per input that failed:

    path, frame, time_s, face_id, x, y, w, h, confidence, angry ... neutral, dominant_emotion, model, error

``frame`` and ``time_s`` are empty for photos; ``face_id`` is the face's rank in a photo (0 =
the largest) and a track id that follows a face across a video's sampled frames. A failed
input has its ``path``, ``model`` and ``error``; the other columns are empty. Probabilities
and confidence are rounded to 6 decimals, times to 4.
"""

from __future__ import annotations

from ..labels import EMOTIONS
from ..results import probabilities
from ..writers import FACE_CSV_COLUMNS

COLUMNS = ("path", *FACE_CSV_COLUMNS, "model", "error")
INT_COLUMNS = frozenset({"frame", "face_id", "x", "y", "w", "h"})
FLOAT_COLUMNS = frozenset({"time_s", "confidence", *EMOTIONS})
DIGITS = 6

Row = tuple  # values in COLUMNS order; None where empty


def face_row(path: str, result: dict, model: str, *, face_id: int, frame: int | None = None,
             time_s: float | None = None) -> Row:
    """A :func:`facemotion.results.make_result` record (what ``detect_emotions`` returns) -> a row."""
    x, y, w, h = (int(v) for v in result["box"])
    return (path, frame, None if time_s is None else round(float(time_s), 4), int(face_id), x, y, w, h,
            round(result["confidence"], DIGITS), *(round(p, DIGITS) for p in probabilities(result)),
            result["dominant_emotion"], model, None)


def error_row(path: str, error: str, model: str) -> Row:
    return (path, *([None] * (len(COLUMNS) - 3)), model, error)


def typed(values) -> Row:
    """Strings (a CSV row) or JSON values -> a row with the schema's types."""
    out = []
    for name, v in zip(COLUMNS, values):
        if v is None or v == "":
            out.append(None)
        elif name in INT_COLUMNS:
            out.append(int(v))
        elif name in FLOAT_COLUMNS:
            out.append(float(v))
        else:
            out.append(str(v))
    return tuple(out)
