"""The two records every path carries: :class:`Face`, one per face (the API's dicts, JSON, CSV
rows and drawings), and :class:`Analysis`, one per analysed picture or video frame.

A face's ``emotions`` hold the model's labels in the model's order (FER2013's seven, or
FER+'s eight with contempt last), so every writer follows the model by reading the record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import UsageError
from .labels import labels_of_size
from .names import json_fields

if TYPE_CHECKING:
    import pandas


class Face(dict[str, Any]):
    """One face: ``box`` (x, y, w, h in the picture's pixels), ``confidence`` (the detector's),
    ``emotions`` ({label: probability}, the model's order), ``dominant_emotion``, and what a
    path adds (a video's ``face_id``, an explanation's ``target``, ``saliency`` and ``regions``).

    A dict, so JSON, pickling and every consumer of the API's dicts see exactly what they saw,
    whose keys also read and set as attributes (``face.dominant_emotion``), as insightface's
    ``Face``."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"this face has no {name!r} (it has {', '.join(self)})") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(f"this face has no {name!r} (it has {', '.join(self)})") from None

    def probabilities(self, labels=None) -> np.ndarray:
        """The probabilities in ``labels`` order (None: the model's)."""
        return np.asarray(probabilities(self, labels), np.float64)

    def to_dict(self) -> dict:
        """A plain dict that ``json.dumps`` takes: arrays (an explanation's ``saliency``, the mesh's
        ``landmarks``) as lists, numpy numbers as Python's."""
        return {k: plain(v) for k, v in self.items()}


def plain(value):
    """``value`` with numpy's arrays and numbers made Python's lists and numbers, in dicts, lists
    and tuples too (tuples stay tuples)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value) if type(value) in (list, tuple) else value
    return value


@dataclass(repr=False)
class Analysis:
    """One analysed picture or video frame and its faces (:class:`Face`, boxes in its full
    pixels). ``to_dict()`` is the per-photo JSON record; ``to_pandas()`` a row per face (a
    notebook shows that table)."""

    faces: list[Face] = field(default_factory=list)
    width: int | None = None
    height: int | None = None
    file: str | None = None      # the photo's path, or the video's
    detector: str | None = None
    index: int | None = None     # a video frame's number
    time_s: float | None = None  # ... and its time
    detected: bool = True        # False: a video frame whose boxes were carried forward (tracking)
    # a video frame's pixels (BGR); not compared: two readings of a frame are equal as records
    frame: np.ndarray | None = field(default=None, repr=False, compare=False)
    labels: tuple | None = field(default=None, repr=False)  # the model's emotions: a table's columns without faces
    mesh: bool = field(default=False, repr=False)  # made with the mesh: its columns too, faces or not
    model: str | None = None  # the emotion model's name (a shipped name, else its file's stem)

    def __repr__(self) -> str:
        # a line, not every probability and landmark: a mesh's faces made a repr of 30,000 characters
        where = f"file={self.file!r}, " + (f"frame={self.index}, time_s={self.time_s}" if self.index is not None
                                           else f"width={self.width}, height={self.height}")
        faces = ", ".join(f"{f['dominant_emotion']} {f['emotions'][f['dominant_emotion']]:.2f} at {tuple(f['box'])}"
                          for f in self.faces)
        return f"Analysis({where}, detector={self.detector!r}, faces=[{faces}])"

    def _repr_html_(self) -> str:
        return self.to_pandas()._repr_html_()

    def to_dict(self) -> dict:
        """``{file, width, height, detector, model, faces}`` for a photo (what ``facemotion image``
        writes as ``<stem>.json``); ``{frame, time_s, faces}`` for a video frame."""
        faces = [plain(dict(f)) for f in self.faces]
        if self.index is not None:
            return {"frame": self.index, "time_s": self.time_s, "faces": faces}
        return {**json_fields("file", self.file), "width": self.width, "height": self.height,
                "detector": self.detector, "model": self.model, "faces": faces}

    def to_pandas(self, labels=None) -> pandas.DataFrame:
        """A pandas DataFrame, a row per face: the picture (file or frame), the box's x, y, w, h,
        the confidence, each emotion's probability (``labels``: those, in that order) and the
        dominant emotion. A picture without faces gives no rows and the same columns."""
        import pandas as pd

        # a video frame's faces carry their track (face_id, as video's CSV); a photo's name is text
        # (bytes that are not UTF-8 as \xNN, as the JSON's, and their exact bytes in file_bytes)
        video = self.index is not None
        where = {"frame": self.index, "time_s": self.time_s} if video else json_fields("file", self.file)
        rows = []
        for f in self.faces:
            x, y, w, h = f["box"]
            emotions = dict(zip(labels, probabilities(f, labels))) if labels is not None else f["emotions"]
            rows.append({**where, **({"face_id": f.get("face_id")} if video else {}), "x": x, "y": y, "w": w, "h": h,
                         "confidence": f["confidence"], **emotions, "dominant_emotion": f["dominant_emotion"],
                         **mesh_columns(f)})
        columns = [*where, *(["face_id"] if video else []), "x", "y", "w", "h", "confidence",
                   *(labels or self.labels or ()), "dominant_emotion", *(MESH_COLUMNS if self.mesh else ())]
        table = pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)  # rows: every key they hold
        # the same types with faces or without, with a mesh or without one (None: NaN), so that
        # pictures' tables concatenate into numeric columns
        types = {"file": object, "file_bytes": object, "frame": "int64", "face_id": "Int64", "x": "int64",
                 "y": "int64", "w": "int64", "h": "int64", "dominant_emotion": object}
        return table.astype({c: types.get(c, "float64") for c in table.columns})


def mesh_columns(face: dict) -> dict:
    """A face's mesh as table columns (what CSV files and ``to_pandas()`` carry: the pose and the
    measures, not 1,404 coordinates): ``mesh_presence``, ``yaw``, ``pitch``, ``roll`` and each
    measure, None where the face has no mesh; nothing for a record made without the mesh."""
    if "pose" not in face:
        return {}
    pose, measures = face.get("pose") or {}, face.get("measures") or {}
    values = {"mesh_presence": face.get("mesh_presence"), **pose, **measures}
    return {k: values.get(k) for k in MESH_COLUMNS}


def labels_for(probs) -> tuple[str, ...]:
    """The label set whose size is the length of ``probs`` (one face's probabilities), or ``probs``
    itself when it is a number of classes (:func:`facemotion.labels.labels_of_size`)."""
    return labels_of_size(probs if isinstance(probs, (int, np.integer)) else len(probs))


def make_result(box, confidence: float, probs, labels=None) -> Face:
    """``{box, confidence, emotions, dominant_emotion}`` for one face (``probs``: one value per
    label, in ``labels`` order; ``labels`` None: the label set of that size)."""
    probs = np.asarray(probs, np.float64)
    labels = labels_for(probs) if labels is None else labels
    emotions = {e: float(p) for e, p in zip(labels, probs)}
    return Face(box=tuple(int(v) for v in box), confidence=float(confidence), emotions=emotions,
                dominant_emotion=labels[int(probs.argmax())])


MESH_FIELDS = ("landmarks", "mesh_presence", "pose", "measures")
# the facial action measures of a mesh (facemotion.mesh.measures defines each), in column order
MESH_MEASURES = ("smile", "mouth_open", "left_eye_open", "right_eye_open", "brow_raise", "brow_furrow",
                 "lip_press", "nose_wrinkle")
# a face's mesh in tables (CSV, pandas, batch rows): presence, pose, measures
MESH_COLUMNS = ("mesh_presence", "yaw", "pitch", "roll", *MESH_MEASURES)
# the decimals each mesh field is rounded to in a record (the page's engine rounds as many)
MESH_DECIMALS = {"landmarks": 1, "mesh_presence": 3, "pose": 1, "measures": 3}


def mesh_fields(mesh) -> dict:
    """A face's mesh (:class:`facemotion.mesh.MeshResult`, or None where the face was too small
    or cut for it) as its record's fields: ``landmarks`` (468 [x, y, z] in the picture's pixels,
    0.1 px), ``mesh_presence`` (the mesh network's face probability), ``pose`` ({yaw, pitch, roll}
    degrees) and ``measures`` (docs/mesh.md; one reading points beyond the picture None); all None
    without a mesh. Under the presence threshold (0.5: the mesh sees no face there, and its points
    mean nothing) only ``mesh_presence`` is given, the rest None."""
    if mesh is None:
        return dict.fromkeys(MESH_FIELDS)
    d = MESH_DECIMALS
    presence = round(float(mesh.presence), d["mesh_presence"])
    if not mesh.present:
        return {**dict.fromkeys(MESH_FIELDS), "mesh_presence": presence}
    return {"landmarks": np.round(np.asarray(mesh.landmarks, np.float64), d["landmarks"]).tolist(),
            "mesh_presence": presence,
            "pose": {k: round(float(v), d["pose"]) for k, v in mesh.pose.items()},
            "measures": {k: None if v is None else round(float(v), d["measures"]) for k, v in mesh.measures.items()}}


def add_mesh(records: list, meshes) -> list:
    """``records`` (one per face) with their faces' :func:`mesh_fields`, where ``meshes`` is not
    None (the stages ran the mesh); returned for chaining."""
    if meshes is not None:
        for r, m in zip(records, meshes):
            r.update(mesh_fields(m))
    return records


def probabilities(result: dict, labels=None) -> list[float]:
    """A result's probabilities in ``labels`` order (None: the record's own, the model's)."""
    emotions = result["emotions"]
    if labels is not None and (unknown := [e for e in labels if e not in emotions]):
        raise UsageError(f"labels: no {', '.join(map(repr, unknown))} among this model's emotions "
                         f"({', '.join(emotions)})")
    return [emotions[e] for e in (emotions if labels is None else labels)]


def face_records(faces) -> list:
    """Faces given back to be drawn (``annotate``'s), checked: records as analyze gives them, each
    with a box of numbers; a record without ``dominant_emotion`` (the fer package's) gets its
    top emotion."""
    if isinstance(faces, dict):
        raise UsageError("faces: one face's record; pass a list of them (or the picture's Analysis)")
    faces = list(faces)
    for k, f in enumerate(faces):
        if not isinstance(f, dict) or not {"box", "emotions"} <= set(f) or not isinstance(f["emotions"], dict) \
                or not f["emotions"]:
            raise UsageError(f"faces[{k}]: not a face record (box, emotions, dominant_emotion) as analyze gives")
        if len(f["box"]) != 4 or not np.isfinite(np.asarray(f["box"], float)).all():
            raise UsageError(f"faces[{k}]: box {f['box']!r} is not four finite numbers (x, y, w, h)")
        if "dominant_emotion" not in f:
            if not all(isinstance(v, (int, float, np.number)) and np.isfinite(v) for v in f["emotions"].values()):
                raise UsageError(f"faces[{k}]: emotions {f['emotions']!r:.120} are not all numbers")
            faces[k] = {**f, "dominant_emotion": max(f["emotions"], key=f["emotions"].get)}
    return faces
